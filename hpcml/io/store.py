"""The frame store API (the public names of :mod:`hpcml.io.hdf5`).

>>> from hpcml.io.store import create_store, append_frames, read_frames
"""

from hpcml.io import hdf5 as _hdf5
from hpcml.io.hdf5 import *  # noqa: F403

__all__ = list(_hdf5.__all__)
