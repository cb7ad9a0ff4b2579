"""Labeling: CP2K batches (atomistic) and reference kinetic solves.

>>> from hpcml.label import label_frames
"""

from hpcml.label.driver import FailureBudgetError, LabelSummary, label_frames
from hpcml.label.store import export_frames, read_provenance, save_labeled

__all__ = ["FailureBudgetError", "LabelSummary", "export_frames", "label_frames",
           "read_provenance", "save_labeled"]
