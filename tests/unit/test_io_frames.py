"""The Frames container (hpcml.io.frames)."""

import numpy as np
import pytest

from hpcml.io.frames import Frames, assert_frames_equal
from hpcml.io.synthetic import synthetic_frames


def water_like(nf=2, nat=3):
    return {
        "natoms": np.full(nf, nat),
        "cell": np.tile(np.eye(3) * 10, (nf, 1, 1)),
        "coord": np.arange(nf * nat * 3, dtype=float).reshape(-1, 3),
        "atype": np.tile([0, 1, 1][:nat] + [1] * max(0, nat - 3), nf),
        "energy": np.arange(nf, dtype=float),
    }


def test_basic_properties():
    fr = Frames(["O", "H"], water_like(2, 3))
    assert (fr.n_frames, fr.n_atoms, len(fr)) == (2, 6, 2)
    assert fr.keys == ("natoms", "cell", "energy", "coord", "atype")
    assert fr.atom_slices == [slice(0, 3), slice(3, 6)]
    assert fr["atype"].dtype == np.int32 and fr["cell"].dtype == np.float64
    assert "energy" in fr and "force" not in fr
    one = fr.frame(1)
    np.testing.assert_array_equal(one["coord"], fr["coord"][3:6])
    assert one["energy"] == 1.0 and one["cell"].shape == (3, 3)
    assert fr.frame(-1)["energy"] == 1.0


def test_float32_input_is_widened_exactly():
    arrays = water_like()
    arrays["coord"] = arrays["coord"].astype(np.float32) + np.float32(0.1)
    fr = Frames(["O", "H"], arrays)
    assert fr["coord"].dtype == np.float64
    np.testing.assert_array_equal(fr["coord"], arrays["coord"].astype(np.float64))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda a: a.update(coord=a["coord"][:-1]), r"'coord': shape \(5, 3\), expected \(6, 3\)"),
        (lambda a: a.update(energy=np.zeros(3)), r"'energy': shape \(3,\), expected \(2,\)"),
        (lambda a: a.update(cell=np.zeros((2, 9))), r"'cell'.*expected \(2, 3, 3\)"),
        (lambda a: a.pop("atype"), "needs keys"),
        (lambda a: a.update(forces=np.zeros((6, 3))), "did you mean 'force'"),
        (lambda a: a.update(atype=a["atype"] + 0.5), "cannot become int32"),
        (lambda a: a.update(atype=a["atype"] + 1), "must index type_map"),
        (lambda a: a.update(natoms=np.array([6, 0])), "at least one atom"),
        (lambda a: a.update(natoms=np.array([[3, 3]])), "must be 1-D"),
    ],
)
def test_invalid_arrays_raise_value_error(change, message):
    arrays = water_like()
    change(arrays)
    with pytest.raises(ValueError, match=message):
        Frames(["O", "H"], arrays)


def test_repeated_type_names_rejected():
    with pytest.raises(ValueError, match="repeated"):
        Frames(["O", "O"], water_like())


def test_select_keeps_order_repeats_and_ragged_atoms():
    fr = synthetic_frames(6)
    sub = fr.select([4, 1, 1, -1])
    assert sub.n_frames == 4
    slices = fr.atom_slices
    expected = np.concatenate([fr["coord"][slices[i]] for i in (4, 1, 1, 5)])
    np.testing.assert_array_equal(sub["coord"], expected)
    np.testing.assert_array_equal(sub["frame_id"], [4, 1, 1, 5])
    assert_frames_equal(fr.select(slice(2, 4)), fr.select([2, 3]))
    mask = np.array([True, False] * 3)
    assert_frames_equal(fr.select(mask), fr.select([0, 2, 4]))
    assert fr.select([]).n_frames == 0 and fr.select([]).keys == fr.keys
    with pytest.raises(IndexError):
        fr.select([6])


def test_concat_and_select_are_inverse():
    fr = synthetic_frames(7)
    parts = [fr.select(slice(0, 3)), fr.select([]), fr.select(slice(3, 7))]
    assert_frames_equal(Frames.concat(parts), fr)
    with pytest.raises(ValueError, match="at least one"):
        Frames.concat([])
    with pytest.raises(ValueError, match="keys"):
        Frames.concat([fr, synthetic_frames(2, keys=["energy"])])


def test_concat_merges_type_maps():
    a = synthetic_frames(2, type_map=["O", "H"])
    b = synthetic_frames(range(2, 4), type_map=["H", "C"])
    both = Frames.concat([a, b])
    assert both.type_map == ["O", "H", "C"]
    names = np.array(both.type_map)[both["atype"]]
    expected = np.concatenate([np.array(a.type_map)[a["atype"]],
                               np.array(b.type_map)[b["atype"]]])
    np.testing.assert_array_equal(names, expected)


def test_with_type_map_reindexes_and_rejects_missing_elements():
    fr = synthetic_frames(3)
    swapped = fr.with_type_map(["H", "X", "O"])
    np.testing.assert_array_equal(np.array(swapped.type_map)[swapped["atype"]],
                                  np.array(fr.type_map)[fr["atype"]])
    with pytest.raises(ValueError, match=r"\['H'\] are not in type_map"):
        fr.with_type_map(["O"])
    assert fr.select([]).with_type_map(["C"]).type_map == ["C"]  # no atoms at all
    oxygen = Frames(["O", "H"], {"natoms": [1], "cell": np.eye(3)[None],
                                 "coord": np.zeros((1, 3)), "atype": [0]})
    assert oxygen.with_type_map(["C", "O"])["atype"].tolist() == [1]


def test_equality_helper_names_the_difference():
    fr = synthetic_frames(3)
    same = Frames(list(fr.type_map), {k: v.copy() for k, v in fr.arrays.items()})
    assert fr.equals(same)
    assert_frames_equal(fr, same)
    changed = {k: v.copy() for k, v in fr.arrays.items()}
    changed["force"][-1, 2] += 1e-12
    assert fr.difference(Frames(fr.type_map, changed)) == "array 'force' differs"
    with pytest.raises(AssertionError, match="'force' differs"):
        assert_frames_equal(Frames(fr.type_map, changed), fr)
    assert "type_map" in fr.difference(fr.with_type_map(["H", "O"]))
    nan = dict(fr.arrays, energy=np.full(3, np.nan))
    assert Frames(fr.type_map, nan).equals(Frames(fr.type_map, dict(nan)))


def test_empty_frames():
    fr = Frames.empty(["O"], ["force"])
    assert (fr.n_frames, fr.n_atoms) == (0, 0)
    assert fr["force"].shape == (0, 3) and fr.atom_slices == []
    assert repr(fr).startswith("Frames(n_frames=0")


def test_synthetic_frames_depend_only_on_index():
    a = synthetic_frames(range(10), seed=3)
    assert_frames_equal(synthetic_frames([7, 2], seed=3), a.select([7, 2]))
    assert not synthetic_frames(3, seed=4).equals(a.select([0, 1, 2]))
