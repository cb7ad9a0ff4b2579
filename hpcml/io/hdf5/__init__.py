"""The HDF5 frame store: the only hpcml package (besides tests) importing h5py.

See :mod:`hpcml.io.hdf5.layout` for the file layout and
:mod:`hpcml.io.hdf5.writers` for the ``serial``/``gather``/``mpio`` writers.
h5py itself is imported on first use, not when this package is imported.
"""

from hpcml.io.hdf5.layout import FORMAT, SCHEMA_VERSION, StoreInfo
from hpcml.io.hdf5.reader import read_frames, store_info
from hpcml.io.hdf5.store import append_frames, create_store, write_frames
from hpcml.io.hdf5.writers import WRITERS, register_writer, resolve_writer

__all__ = [
    "FORMAT",
    "SCHEMA_VERSION",
    "WRITERS",
    "StoreInfo",
    "append_frames",
    "create_store",
    "read_frames",
    "register_writer",
    "resolve_writer",
    "store_info",
    "write_frames",
]
