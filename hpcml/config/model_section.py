"""``model``: hyper-parameters of the DeepPot-SE (``se_e2_a``) models.

Defaults are DeePMD-kit's water example (rcut 6 A, sel [46, 92], embedding
[25, 50, 100], axis 16, fitting [240, 240, 240]).  The element order comes
from ``data.type_map``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from hpcml.config.base import Section


class ModelSection(Section):
    """DeepPot-SE descriptor and fitting-net sizes, and the float precision."""

    rcut: float = Field(6.0, gt=0, description="cutoff radius, Angstrom")
    rcut_smth: float = Field(0.5, ge=0, description="start of the smooth switch, Angstrom")
    sel: list[int] = Field([46, 92], min_length=1,
                           description="largest number of neighbours of each type within rcut")
    neuron: list[int] = Field([25, 50, 100], min_length=1,
                              description="embedding net widths")
    axis_neuron: int = Field(16, ge=1, description="columns of G used as G2 (descriptor axis)")
    fitting_neuron: list[int] = Field([240, 240, 240], min_length=1,
                                      description="fitting net hidden widths")
    type_one_side: bool = Field(True, description="one embedding net per neighbour type "
                                "(false: one per centre/neighbour type pair)")
    precision: Literal["float64", "float32"] = Field("float64", description="float precision")

    @model_validator(mode="after")
    def _consistent(self) -> ModelSection:
        if self.rcut_smth >= self.rcut:
            raise ValueError(f"rcut_smth ({self.rcut_smth}) must be below rcut ({self.rcut})")
        if self.axis_neuron > self.neuron[-1]:
            raise ValueError(f"axis_neuron ({self.axis_neuron}) must not exceed the last "
                             f"embedding width neuron[-1] ({self.neuron[-1]})")
        return self
