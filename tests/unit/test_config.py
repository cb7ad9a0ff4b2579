"""Strict config loading: valid files, every kind of error, schema and docs."""

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from hpcml.cli.main import main
from hpcml.config import json_schema, load_config, markdown_reference, parse_config
from hpcml.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path, text, name="c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def error_of(tmp_path, text, name="c.yaml"):
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text, name))
    return str(info.value)


def test_defaults_from_empty_file(tmp_path):
    config = load_config(write(tmp_path, ""))
    assert config.parallel.hdf5_writer == "auto"
    assert config.parallel.threads_per_rank == 1
    assert config.run.log_level == "INFO" and config.data is None


def test_yaml_and_json_agree(tmp_path):
    data = {"parallel": {"threads_per_rank": 2}, "loop": {"max_iterations": 5}}
    from_json = load_config(write(tmp_path, json.dumps(data), "c.json"))
    text = "parallel: {threads_per_rank: 2}\nloop: {max_iterations: 5}\n"
    from_yaml = load_config(write(tmp_path, text))
    assert from_json == from_yaml
    assert from_yaml.loop.max_iterations == 5


def test_shipped_configs_are_valid():
    for path in [ROOT / "inputs" / "demo.yaml", ROOT / "hpcml" / "data" / "demo.yaml"]:
        config = load_config(path)
        assert config.data.type_map == ["O", "H"]
        assert all(p.exists() for p in config.loop.init.structures)


def test_unknown_nested_key_did_you_mean(tmp_path):
    text = error_of(tmp_path, "parallel:\n  hdf5_writter: mpio\n")
    assert text == f"{tmp_path / 'c.yaml'}: parallel.hdf5_writter: unknown key; " \
                   "did you mean 'hdf5_writer'?"


def test_unknown_top_level_key_did_you_mean(tmp_path):
    assert "runn: unknown key; did you mean 'run'?" in error_of(tmp_path, "runn: {}\n")


def test_unknown_key_without_close_match_lists_valid_keys(tmp_path):
    text = error_of(tmp_path, "loop: {init: {zzz: 1}}\n")
    assert "valid keys here: mode, structures, replicate, temperatures" in text


def test_literal_lists_allowed_values(tmp_path):
    text = error_of(tmp_path, "parallel: {hdf5_writer: fast}\n")
    assert "parallel.hdf5_writer: got 'fast'; allowed values: 'auto', 'mpio' or 'gather'" in text


def test_wrong_type_and_bound(tmp_path):
    text = error_of(tmp_path, "loop: {max_iterations: many, check_frames: -1}\n")
    assert "2 problem(s)" in text
    assert "loop.max_iterations: input should be a valid integer" in text
    assert "loop.check_frames: input should be greater than or equal to 0 (got -1)" in text


def test_unknown_element_names_nearest(tmp_path):
    (tmp_path / "sys").mkdir()
    text = error_of(tmp_path, "data: {type_map: [O, Hh, cl], systems: [sys]}\n")
    assert "data.type_map: unknown element symbol 'Hh' (nearest: H), 'cl' (nearest: Cl)" in text


def test_repeated_element(tmp_path):
    (tmp_path / "sys").mkdir()
    assert "repeated element symbol ['O']" in error_of(
        tmp_path, "data: {type_map: [O, H, O], systems: [sys]}\n")


def test_missing_required_key(tmp_path):
    assert "data.type_map: required key is missing" in error_of(tmp_path, "data: {systems: []}\n")


def test_relative_input_paths_resolve_against_config_dir(tmp_path):
    (tmp_path / "sys").mkdir()
    config = load_config(write(tmp_path, "data: {type_map: [O], systems: [sys]}\n"))
    assert config.data.systems == [tmp_path / "sys"]
    assert config.run.workdir == Path("runs/hpcml")  # outputs stay relative to the cwd


def test_missing_input_path_names_key(tmp_path):
    (tmp_path / "a").mkdir()
    text = error_of(tmp_path, "data: {type_map: [O], systems: [a, b]}\n")
    assert f"data.systems[1]: no such file or directory: {tmp_path / 'b'}" in text


def test_comment_keys_dropped_at_any_depth(tmp_path):
    config = load_config(write(tmp_path, "_note: x\nparallel: {_why: y, threads_per_rank: 3}\n"))
    assert config.parallel.threads_per_rank == 3


def test_file_errors(tmp_path):
    assert "config file not found" in error_of_missing(tmp_path / "none.yaml")
    assert "unknown config suffix '.toml'" in error_of(tmp_path, "a = 1", "c.toml")
    text = error_of(tmp_path, "a: 1\nb: c: d\n")
    assert "YAML syntax error at line 2, column 5: mapping values" in text
    assert "JSON syntax error at line 1" in error_of(tmp_path, "{", "c.json")
    assert "top level must be a mapping" in error_of(tmp_path, "- 1\n- 2\n")


def error_of_missing(path):
    with pytest.raises(ConfigError) as info:
        load_config(path)
    return str(info.value)


def test_frozen_config_rejects_assignment():
    config = parse_config({})
    with pytest.raises(ValidationError):
        config.parallel.threads_per_rank = 4


def test_json_schema_is_strict():
    schema = json.loads(json.dumps(json_schema()))
    sections = schema["$defs"]
    assert schema["additionalProperties"] is False
    assert all(s["additionalProperties"] is False for s in sections.values())
    assert {"run", "parallel", "data", "model", "train", "md", "label",
            "loop"} <= set(schema["properties"])


def test_docs_are_up_to_date():
    assert (ROOT / "docs" / "config.md").read_text() == markdown_reference() + "\n"


def test_cli_check_ok_and_error(tmp_path, capsys):
    good = write(tmp_path, "loop: {max_iterations: 2}\n", "good.yaml")
    assert main(["config", "check", str(good)]) == 0
    assert "good.yaml: OK (sections: loop)" in capsys.readouterr().out
    bad = write(tmp_path, "parallel: {hdf5_writter: mpio}\n", "bad.yaml")
    assert main(["config", "check", str(bad)]) == 2
    assert "did you mean 'hdf5_writer'?" in capsys.readouterr().err


def test_cli_schema_to_file(tmp_path):
    out = tmp_path / "schema.json"
    assert main(["config", "schema", "--out", str(out)]) == 0
    assert json.loads(out.read_text())["title"] == "hpcml configuration"
