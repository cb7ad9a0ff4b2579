"""Command-line overrides of config keys, validated exactly as the config file is.

Every subcommand applies its options through :func:`apply_overrides`, so
``--steps -5`` fails with the same words as ``steps: -5`` in the file
(``FILE with --steps -5: md.steps: input should be greater than or equal
to 1``), and an option given as ``0`` is applied (then validated), never
mistaken for "not given".

>>> from hpcml.config import parse_config
>>> cfg = apply_overrides(parse_config({}), "c.yaml", {"--steps": (("md", "steps"), 7)})
>>> cfg.md.steps
7
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from hpcml.config.model import HpcmlConfig

#: stands for the source in messages until the options at fault are known
_MARK = "\x00overrides\x00"

#: option name -> (key path in the config, value or None when not given)
Overrides = dict[str, tuple[tuple[str, ...], Any]]


def _json_value(value: Any) -> Any:
    """A value as it would appear in a config file."""
    return str(value) if isinstance(value, Path) else value


def describe(overrides: Overrides) -> str:
    """``--steps 5 --out x`` for the options that were given."""
    return " ".join(f"{name} {_json_value(value)}" for name, (_, value) in overrides.items()
                    if value is not None)


def apply_overrides(config: HpcmlConfig, source: str, overrides: Overrides) -> HpcmlConfig:
    """Return ``config`` with every given option applied and the whole config validated again.

    Parameters
    ----------
    config
        The loaded config.
    source
        Name of the config file, for messages.
    overrides
        ``{"--steps": (("md", "steps"), value), ...}``; a value of None means
        the option was not given (0, False and "" are applied).

    Raises
    ------
    ConfigError
        Naming the file, the options at fault and each invalid key, as for a
        config file.
    """
    from hpcml.config import parse_config
    from hpcml.config.errors import key_path
    from hpcml.errors import ConfigError

    given = {name: item for name, item in overrides.items() if item[1] is not None}
    if not given:
        return config
    data = config.model_dump(mode="json")
    for keys, value in given.values():
        node = data
        for key in keys[:-1]:
            if node.get(key) is None:
                node[key] = {}
            node = node[key]
        node[keys[-1]] = _json_value(value)
    try:
        return parse_config(data, source=_MARK)
    except ConfigError as exc:
        text = str(exc)
        named = {name: item for name, item in given.items()
                 if f"{_MARK}: {key_path(item[0])}" in text} or given
        raise ConfigError(text.replace(_MARK, f"{source} with {describe(named)}")) from None
