"""``data``: the labeled systems a job reads and the element order."""

from __future__ import annotations

import difflib
from typing import Literal

from pydantic import Field, field_validator

from hpcml.config.base import InputPath, Section
from hpcml.config.elements import ELEMENTS


class DataSection(Section):
    """Labeled systems (deepmd/npy directories, HDF5 frame stores, extxyz files)."""

    type_map: list[str] = Field(
        ..., min_length=1, description="element symbol of each atom type, e.g. [O, H]")
    systems: list[InputPath] = Field(
        default_factory=list, description="data paths, relative to the config file "
        "(may be empty for `hpcml run` with loop.init)")
    format: Literal["auto", "deepmd/npy", "hdf5", "extxyz"] = Field(
        "auto", description="format of the systems; auto detects it from each path")

    @field_validator("type_map")
    @classmethod
    def _known_unique_elements(cls, names: list[str]) -> list[str]:
        unknown = [name for name in names if name not in ELEMENTS]
        if unknown:
            hints = [f"{n!r} (nearest: {_nearest(n)})" for n in unknown]
            raise ValueError(f"unknown element symbol {', '.join(hints)}")
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"repeated element symbol {repeated}; list each type once")
        return names


def _nearest(name: str) -> str:
    """The element symbol closest to ``name``, ignoring case first."""
    for symbol in ELEMENTS:
        if symbol.lower() == name.lower():
            return symbol
    close = difflib.get_close_matches(name, ELEMENTS, n=1, cutoff=0.0)
    return close[0] if close else "?"
