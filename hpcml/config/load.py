"""Read a YAML or JSON config into a validated, frozen :class:`HpcmlConfig`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hpcml.config.errors import format_validation_error, key_path
from hpcml.config.model import HpcmlConfig
from hpcml.errors import ConfigError

SUFFIXES = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def strip_comments(value: Any) -> Any:
    """Drop mapping keys that start with ``_`` (comments), at any depth."""
    if isinstance(value, dict):
        return {k: strip_comments(v) for k, v in value.items()
                if not (isinstance(k, str) and k.startswith("_"))}
    if isinstance(value, list):
        return [strip_comments(v) for v in value]
    return value


def read_mapping(path: Path) -> dict:
    """Parse ``path`` as YAML or JSON (by suffix) and return its top-level mapping."""
    kind = SUFFIXES.get(path.suffix.lower())
    if kind is None:
        raise ConfigError(f"{path}: unknown config suffix {path.suffix!r}; "
                          f"use one of {', '.join(SUFFIXES)}")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory; give the config file (YAML or JSON)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found") from None
    except UnicodeDecodeError as exc:
        line = path.read_bytes()[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{exc.object[exc.start]:02x} at "
                          f"line {line}); save the config as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None
    data = _parse_yaml(text, path) if kind == "yaml" else _parse_json(text, path)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the top level must be a mapping of sections "
                          f"(run, parallel, data, ...), not a {type(data).__name__}")
    return data


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping key given twice in a YAML file."""


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (YAML lets the last win)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        """Build the mapping; a repeated key is an error naming both lines."""
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                first = seen.setdefault(key, line)
            except TypeError:       # unhashable key: let SafeLoader report it
                continue
            if first != line:
                raise DuplicateKeyError(None, None, f"key {key!r} appears twice (lines "
                                        f"{first} and {line}); keep one", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, path: Path) -> Any:
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader)
    except DuplicateKeyError as exc:
        raise ConfigError(f"{path}: {exc.problem}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict:
    """``object_pairs_hook`` refusing a key given twice in one JSON object."""
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise ValueError(f"key {key!r} appears twice in one object; keep one")
        out[key] = value
    return out


def _parse_json(text: str, path: Path) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_unique_pairs)
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):
            raise ConfigError(f"{path}: {exc}") from None
        raise ConfigError(f"{path}: JSON syntax error at line {exc.lineno}, "
                          f"column {exc.colno}: {exc.msg}") from None


def parse_config(data: dict, source: str = "<dict>",
                 base_dir: str | os.PathLike | None = None) -> HpcmlConfig:
    """Validate a mapping; relative input paths are resolved against ``base_dir``.

    Raises
    ------
    ConfigError
        Listing every problem with its key path (and a "did you mean" for
        unknown keys).
    """
    context = {"base_dir": Path(base_dir) if base_dir is not None else None}
    try:
        config = HpcmlConfig.model_validate(strip_comments(data), context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, HpcmlConfig, source)) from None
    return normalize(config, source)


def load_config(path: str | os.PathLike) -> HpcmlConfig:
    """Read, validate and normalize the config file ``path`` (YAML or JSON)."""
    path = Path(path)
    return parse_config(read_mapping(path), source=str(path), base_dir=path.parent)


def normalize(config: HpcmlConfig, source: str) -> HpcmlConfig:
    """Cross-section checks; for now, that every input path exists."""
    missing = missing_paths(config)
    if missing:
        lines = [f"{source}: {key}: no such file or directory: {path}" for key, path in missing]
        raise ConfigError("\n".join(lines))
    return config


def input_paths(config: HpcmlConfig) -> list[tuple[str, Path]]:
    """``(key path, path)`` of every input path the config names (data, structures, ...)."""
    found: list[tuple[tuple, Path]] = []
    if config.data is not None:
        found += [(("data", "systems", i), p) for i, p in enumerate(config.data.systems)]
    md, label, loop = config.md, config.label, config.loop
    found += [(("md", "model"), md.model), (("md", "structure"), md.structure),
              (("label", "candidates"), label.candidates), (("label", "template"), label.template)]
    found += [(("md", "walkers", k, "structure"), w.structure) for k, w in enumerate(md.walkers)]
    if loop.init is not None:
        for key in ("structures", "heldout_structures"):
            found += [(("loop", "init", key, i), p)
                      for i, p in enumerate(getattr(loop.init, key))]
    for s, stage in enumerate(loop.schedule):
        found += [(("loop", "schedule", s, "structures", i), p)
                  for i, p in enumerate(stage.structures)]
    return [(key_path(key), Path(p)) for key, p in found if p is not None]


def _names_something(path: Path) -> bool:
    """Whether an input path names something that exists.

    A file or directory, the file of ``FILE.h5#/GROUP`` (DeePMD-kit's HDF5
    system), or a glob pattern with matches (DP-GEN's ``iter.*/02.fp/data.*``).
    """
    import glob

    text = str(path).split("#", 1)[0]
    return bool(glob.glob(text)) if glob.has_magic(text) else Path(text).exists()


def missing_paths(config: HpcmlConfig) -> list[tuple[str, Path]]:
    """``(key path, path)`` of every input path that names nothing (:func:`_names_something`)."""
    return [(key, p) for key, p in input_paths(config) if not _names_something(p)]
