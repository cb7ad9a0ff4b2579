"""Output guards: an existing output file, and the inputs record of output directories."""

import json

import pytest

from hpcml.cli.outputs import RECORD, check_output_file, claim_output_dir
from hpcml.errors import ConfigError

OUTPUTS = ("walker_*", "candidates.h5")


def claim(out, **kw):
    inputs = {"steps": 10, "atoms": 192, "walkers": [{"structure": "a.xyz"}], **kw.pop("i", {})}
    return claim_output_dir(out, inputs, "hpcml md", outputs=OUTPUTS,
                            fixed=("atoms", "structure"), **kw)


def test_existing_output_file_needs_force(tmp_path):
    out = tmp_path / "m.h5"
    check_output_file(out, "--out", False, "hpcml kinetic")
    out.write_text("earlier results")
    with pytest.raises(ConfigError, match="--out .*m.h5: already exists.*--force"):
        check_output_file(out, "--out", False, "hpcml kinetic")
    check_output_file(out, "--out", True, "hpcml kinetic")
    with pytest.raises(ConfigError, match="is a directory; give a file name"):
        check_output_file(tmp_path, "--out", True, "hpcml kinetic")


def test_same_inputs_resume_and_other_inputs_are_named(tmp_path):
    out = tmp_path / "md"
    assert claim(out) == "new"
    assert json.loads((out / RECORD).read_text())["inputs"]["steps"] == 10
    (out / "walker_0").mkdir()
    assert claim(out) == "same"
    with pytest.raises(ConfigError) as exc:
        claim(out, i={"steps": 600})
    assert "steps: 10 -> 600" in str(exc.value) and "--continue-changed" in str(exc.value)
    assert claim(out, i={"steps": 600}, continue_changed=True) == "changed"
    record = json.loads((out / RECORD).read_text())
    assert record["inputs"]["steps"] == 600 and record["previous"][0]["steps"] == 10
    assert (out / "walker_0").is_dir()


def test_fixed_inputs_cannot_continue_but_force_starts_afresh(tmp_path):
    out = tmp_path / "md"
    claim(out)
    (out / "walker_0").mkdir()
    (out / "notes.txt").write_text("mine")
    for change in ({"atoms": 1536}, {"walkers": [{"structure": "b.xyz"}]}):
        with pytest.raises(ConfigError, match="cannot change in a continued run"):
            claim(out, i=change, continue_changed=True)
    assert claim(out, i={"atoms": 1536}, force=True) == "forced"
    assert not (out / "walker_0").exists() and (out / "notes.txt").exists()
    assert json.loads((out / RECORD).read_text())["inputs"]["atoms"] == 1536


def test_outputs_without_a_record_are_refused(tmp_path):
    out = tmp_path / "md"
    (out / "walker_0").mkdir(parents=True)
    with pytest.raises(ConfigError, match="no inputs.json"):
        claim(out)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is a file, not a directory"):
        claim(tmp_path / "file")
