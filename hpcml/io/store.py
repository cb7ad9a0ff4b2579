"""The frame store API (re-exported from :mod:`hpcml.io.hdf5`).

>>> from hpcml.io.store import create_store, append_frames, read_frames
"""

from hpcml.io.hdf5 import (
    FORMAT,
    SCHEMA_VERSION,
    WRITERS,
    StoreInfo,
    append_frames,
    create_store,
    read_frames,
    register_writer,
    resolve_writer,
    store_info,
    write_frames,
)

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
