"""The frame key table (hpcml.io.keys)."""

import numpy as np
import pytest

from hpcml.io.keys import (
    ATOM_KEYS,
    FRAME_KEYS,
    KEYS,
    REQUIRED_KEYS,
    key_spec,
    normalize_keys,
)


def test_table_matches_the_documented_keys():
    expected = {
        "cell": ("frame", (3, 3), "float64", "Angstrom"),
        "energy": ("frame", (), "float64", "eV"),
        "virial": ("frame", (3, 3), "float64", "eV"),
        "natoms": ("frame", (), "int64", "1"),
        "coord": ("atom", (3,), "float64", "Angstrom"),
        "atype": ("atom", (), "int32", "1"),
        "force": ("atom", (3,), "float64", "eV/Angstrom"),
        "iteration": ("frame", (), "int64", "1"),
        "deviation": ("frame", (), "float64", "eV/Angstrom"),
        "system": ("frame", (), "int64", "1"),
        "frame_id": ("frame", (), "int64", "1"),
    }
    assert set(KEYS) == set(expected)
    for name, (per, shape, dtype, unit) in expected.items():
        spec = KEYS[name]
        assert (spec.per, spec.shape, spec.dtype, spec.unit) == (per, shape, dtype, unit)
        assert spec.doc and spec.name == name
    assert set(REQUIRED_KEYS) == {"natoms", "cell", "coord", "atype"}
    assert set(FRAME_KEYS) | set(ATOM_KEYS) == set(KEYS)
    assert {k for k in KEYS if KEYS[k].meta} == {"iteration", "deviation", "system",
                                                 "frame_id"}


def test_full_shape_and_dtype():
    assert KEYS["cell"].full_shape(4) == (4, 3, 3)
    assert KEYS["energy"].full_shape(0) == (0,)
    assert KEYS["atype"].np_dtype == np.dtype(np.int32)


def test_normalize_keys_adds_required_and_orders_like_the_table():
    assert normalize_keys(["frame_id", "force", "force"]) == (
        "natoms", "cell", "coord", "atype", "force", "frame_id")
    assert normalize_keys([]) == REQUIRED_KEYS


def test_unknown_key_suggests_the_close_name():
    with pytest.raises(ValueError, match="did you mean 'force'"):
        normalize_keys(["forces"])
    with pytest.raises(KeyError, match="did you mean 'energy'"):
        key_spec("energie")
