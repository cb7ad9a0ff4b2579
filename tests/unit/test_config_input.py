"""Config files and command-line overrides: duplicate keys, encodings, non-finite values,
input paths named by key, and overrides validated in the words of config errors."""

import pytest

from hpcml.cli.overrides import apply_overrides
from hpcml.config import load_config, parse_config
from hpcml.errors import ConfigError


def test_duplicate_yaml_key_names_both_lines(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("kinetic:\n  nx: 10\n  t_end: 1\n  nx: 20\n")
    with pytest.raises(ConfigError, match=r"c.yaml: key 'nx' appears twice \(lines 2 and 4\)"):
        load_config(path)


def test_duplicate_yaml_section_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("md:\n  steps: 5\nkinetic:\n  nx: 10\nmd:\n  steps: 6\n")
    with pytest.raises(ConfigError, match=r"key 'md' appears twice \(lines 1 and 5\)"):
        load_config(path)


def test_duplicate_json_key(tmp_path):
    path = tmp_path / "c.json"
    path.write_text('{"md": {"steps": 1, "steps": 2}}')
    with pytest.raises(ConfigError, match="c.json: key 'steps' appears twice"):
        load_config(path)


def test_non_utf8_config_names_file_and_line(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"run:\n  log_level: INFO\n# caf\xe9\n")
    with pytest.raises(ConfigError, match=r"c.yaml: not UTF-8 text \(byte 0xe9 at line 3\)"):
        load_config(path)


@pytest.mark.parametrize("value", ["inf", ".inf", ".nan"])
def test_t_end_must_be_finite(tmp_path, value):
    path = tmp_path / "c.yaml"
    path.write_text(f"kinetic:\n  t_end: {value}\n")
    with pytest.raises(ConfigError, match="kinetic.t_end: input should be a finite number"):
        load_config(path)


def test_missing_input_paths_are_named_by_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loop:\n  init:\n    structures: [nothere.xyz]\n"
                    "label:\n  candidates: nope.h5\nmd:\n  model: no.pt\n")
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    text = str(exc.value)
    for key in ("loop.init.structures[0]", "label.candidates", "md.model"):
        assert f"c.yaml: {key}: no such file or directory" in text


def test_zero_override_is_applied_then_validated():
    config = parse_config({})
    assert apply_overrides(config, "c.yaml", {"--seed": (("run", "seed"), 0)}).run.seed == 0
    with pytest.raises(ConfigError) as exc:
        apply_overrides(config, "c.yaml", {"--nx": (("kinetic", "nx"), 0)})
    assert str(exc.value) == ("c.yaml with --nx 0: kinetic.nx: input should be greater than "
                              "or equal to 2 (got 0)")


def test_negative_override_in_config_words():
    with pytest.raises(ConfigError) as exc:
        apply_overrides(parse_config({}), "c.yaml", {"--steps": (("md", "steps"), -5),
                                                     "--out": (("md", "out"), None)})
    text = str(exc.value)
    assert text.startswith("c.yaml with --steps -5: md.steps: input should be greater")
    assert "http" not in text and "pydantic" not in text
