"""Extended XYZ reader and writer (hpcml.io.extxyz)."""

import numpy as np
import pytest

from hpcml.errors import DataError
from hpcml.io.extxyz import parse_comment, read_extxyz, write_extxyz
from hpcml.io.frames import assert_frames_equal
from hpcml.io.synthetic import synthetic_frames

PROPS = "Properties=species:S:1:pos:R:3:charge:R:1:forces:R:3"
SAMPLE = f"""2
Lattice="5.0 0.0 0.0 0.0 6.0 0.0 0.5 0.0 7.0" {PROPS} energy=-3.25 pbc="T T T"
O 0.0 0.1 0.2 -0.8 1.0 2.0 3.0
H 1.0 1.1 1.2 0.4 -1.0 -2.0 -3.0

1
Lattice="5 0 0 0 6 0 0 0 7" {PROPS} energy=1e-3
H 2 2 2 0.4 0 0 1
"""


def test_read_sample(tmp_path):
    path = tmp_path / "s.xyz"
    path.write_text(SAMPLE)
    fr = read_extxyz(path)
    assert fr.type_map == ["O", "H"] and fr["natoms"].tolist() == [2, 1]
    np.testing.assert_array_equal(fr["cell"][0], [[5, 0, 0], [0, 6, 0], [0.5, 0, 7]])
    np.testing.assert_array_equal(fr["energy"], [-3.25, 1e-3])
    np.testing.assert_array_equal(fr["force"][1], [-1.0, -2.0, -3.0])
    np.testing.assert_array_equal(fr["coord"][2], [2, 2, 2])
    assert fr["atype"].tolist() == [0, 1, 1]
    assert read_extxyz(path, type_map=["C", "H", "O"])["atype"].tolist() == [2, 1, 1]


def test_round_trip_is_exact(tmp_path):
    fr = synthetic_frames(9)
    write_extxyz(fr, tmp_path / "a.extxyz")
    assert_frames_equal(read_extxyz(tmp_path / "a.extxyz", type_map=fr.type_map), fr)


def test_round_trip_minimal_keys(tmp_path):
    fr = synthetic_frames(4, keys=(), type_map=["Al", "Mg"])
    write_extxyz(fr, tmp_path / "a.xyz")
    first_comment = (tmp_path / "a.xyz").read_text().splitlines()[1]
    assert "Properties=species:S:1:pos:R:3 " in first_comment
    assert_frames_equal(read_extxyz(tmp_path / "a.xyz", type_map=fr.type_map), fr)


def test_parse_comment_handles_quotes_and_flags():
    assert parse_comment("a=1 B='x y' c={1 2} flag Lattice=\"1 2\"") == {
        "a": "1", "b": "x y", "c": "1 2", "flag": "T", "lattice": "1 2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (SAMPLE.replace("\nH 2 2 2", "\nXx 2 2 2"), r"unknown element names \['Xx'\]"),
        (SAMPLE.replace('Lattice="5 0 0 0 6 0 0 0 7" ', ""), "line 6: no Lattice"),
        (SAMPLE.replace("5.0 0.0 0.0 0.0 6.0", "5.0 0.0 0.0 6.0"), "Lattice=.*9 numbers"),
        (SAMPLE.replace("O 0.0 0.1 0.2 -0.8", "O 0.0 0.1 -0.8"),
         "line 1, atom 0: 7 columns, Properties declares 8"),
        (SAMPLE.replace("energy=1e-3", ""), "carries .* but the first frame"),
        (SAMPLE.replace("2\nLattice", "two\nLattice", 1), "expected an atom count"),
        (SAMPLE + "4\nLattice=\"1 0 0 0 1 0 0 0 1\"\nH 0 0 0\n", "empty or truncated"),
        (SAMPLE.replace("O 0.0 0.1", "O zero 0.1"), "column 'pos' is not numeric"),
        (SAMPLE.replace("pos:R:3:charge", "charge"), "lacks species or pos"),
        ("", "no frames"),
    ],
)
def test_bad_files_raise_data_error(tmp_path, text, message):
    path = tmp_path / "bad.xyz"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_extxyz(path)


def test_elements_missing_from_type_map(tmp_path):
    path = tmp_path / "s.xyz"
    path.write_text(SAMPLE)
    with pytest.raises(DataError, match=r"elements \['O'\] are not in type_map"):
        read_extxyz(path, type_map=["H"])
