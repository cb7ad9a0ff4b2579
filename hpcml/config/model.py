"""The top-level config: one attribute per section.

A new section is one module defining a :class:`~hpcml.config.base.Section`
and one line here.
"""

from __future__ import annotations

from pydantic import Field

from hpcml.config.base import Section
from hpcml.config.data import DataSection
from hpcml.config.kinetic import KineticSection
from hpcml.config.label import LabelSection
from hpcml.config.loop import LoopSection
from hpcml.config.md import MdSection
from hpcml.config.model_section import ModelSection
from hpcml.config.moments import MomentsSection
from hpcml.config.parallel import ParallelSection
from hpcml.config.run import RunSection
from hpcml.config.train import TrainSection


class HpcmlConfig(Section):
    """An hpcml job configuration (YAML or JSON)."""

    run: RunSection = Field(default_factory=RunSection, description="outputs, seed, logging")
    parallel: ParallelSection = Field(
        default_factory=ParallelSection, description="threads, device, HDF5 writer")
    data: DataSection | None = Field(None, description="labeled systems to read")
    model: ModelSection = Field(default_factory=ModelSection,
                                description="DeepPot-SE hyper-parameters")
    train: TrainSection = Field(default_factory=TrainSection,
                                description="ensemble training")
    md: MdSection = Field(default_factory=MdSection, description="DPMD exploration")
    label: LabelSection = Field(default_factory=LabelSection, description="CP2K labeling")
    kinetic: KineticSection = Field(default_factory=KineticSection,
                                    description="kinetic solver (hpcml kinetic)")
    moments: MomentsSection = Field(default_factory=MomentsSection,
                                    description="moment-system solver (hpcml moments solve)")
    loop: LoopSection = Field(default_factory=LoopSection,
                              description="the concurrent-learning loop (hpcml run)")
