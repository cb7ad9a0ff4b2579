"""Turn pydantic validation errors into one message naming file, key and fix."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError


def key_path(loc: Sequence[str | int]) -> str:
    """Dotted key path of a pydantic location: ``('data', 'systems', 1)`` -> ``data.systems[1]``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The pydantic model inside ``annotation`` (unwrapping Optional and list)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def valid_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Keys allowed at ``loc`` below ``model`` (empty when not a section)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if isinstance(part, str):
            field = current.model_fields.get(part)
            current = _model_in(field.annotation) if field else None
    return list(current.model_fields) if current else []


def _unknown_key(model: type[BaseModel], loc: Sequence[str | int]) -> str:
    """Message for a key that the section does not have."""
    allowed = valid_keys(model, loc[:-1])
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
    if close:
        return f"unknown key; did you mean '{close[0]}'?"
    return f"unknown key; valid keys here: {', '.join(allowed) or '(none)'}"


def _describe(model: type[BaseModel], error: dict) -> str:
    """Explain one pydantic error in words, with the allowed values where known."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return _unknown_key(model, error["loc"])
    if kind == "missing":
        return "required key is missing"
    if kind == "literal_error":
        return f"got {error['input']!r}; allowed values: {ctx.get('expected')}"
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    return f"{error['msg'][0].lower()}{error['msg'][1:]} (got {error['input']!r})"


def format_validation_error(exc: ValidationError, model: type[BaseModel], source: str) -> str:
    """One line per problem: ``source: key.path: what is wrong``."""
    lines = [f"{source}: {key_path(e['loc'])}: {_describe(model, e)}" for e in exc.errors()]
    head = f"{source}: {len(lines)} problem(s) in the configuration"
    return "\n".join([head, *lines]) if len(lines) > 1 else lines[0]
