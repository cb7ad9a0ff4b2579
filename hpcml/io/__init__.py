"""Frames, their key table, and readers/writers (HDF5 store, DeePMD npy, extxyz).

Importing this package imports numpy only; h5py is imported by
:mod:`hpcml.io.hdf5` on first use.

>>> from hpcml.io import Frames, KEYS, read_any
"""

from hpcml.io.formats import READERS, detect_format, read_any
from hpcml.io.frames import Frames, assert_frames_equal
from hpcml.io.keys import KEYS, REQUIRED_KEYS, KeySpec, normalize_keys

__all__ = [
    "KEYS",
    "READERS",
    "REQUIRED_KEYS",
    "Frames",
    "KeySpec",
    "assert_frames_equal",
    "detect_format",
    "normalize_keys",
    "read_any",
]
