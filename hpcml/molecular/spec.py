"""Hyper-parameters of a DeepPot-SE (``se_e2_a``) energy model.

The defaults are DeePMD-kit's water example: rcut 6 A, rcut_smth 0.5 A,
sel [46, 92], embedding [25, 50, 100], axis 16, fitting [240, 240, 240].
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(frozen=True)
class DeepPotSpec:
    """Everything that fixes the shape of a DeepPot-SE model.

    Attributes
    ----------
    type_map
        Element symbol of each atom type.
    rcut, rcut_smth
        Cutoff and start of the smooth switch, Angstrom.
    sel
        Largest number of neighbours of each type (capacity of the list).
    neuron
        Widths of the embedding net layers (input is the scalar ``s(r)``).
    axis_neuron
        Columns of the embedding matrix used as ``G2``.
    fitting_neuron
        Widths of the fitting net hidden layers.
    type_one_side
        One embedding net per neighbour type, shared by all centre types
        (DeePMD-kit's water example sets it); False: one per (centre,
        neighbour) type pair.
    precision
        ``"float64"`` or ``"float32"``.
    seed
        Seed of the parameter initialisation.
    """

    type_map: tuple[str, ...] = ("O", "H")
    rcut: float = 6.0
    rcut_smth: float = 0.5
    sel: tuple[int, ...] = (46, 92)
    neuron: tuple[int, ...] = (25, 50, 100)
    axis_neuron: int = 16
    fitting_neuron: tuple[int, ...] = (240, 240, 240)
    type_one_side: bool = True
    precision: str = "float64"
    seed: int = 1
    extra: dict = field(default_factory=dict, compare=False)

    def __post_init__(self) -> None:
        for name in ("type_map", "sel", "neuron", "fitting_neuron"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if len(self.sel) != len(self.type_map):
            raise ValueError(f"sel {list(self.sel)} needs one entry per type of "
                             f"type_map {list(self.type_map)}")
        if not 0 <= self.rcut_smth < self.rcut:
            raise ValueError(f"need 0 <= rcut_smth < rcut, got {self.rcut_smth}, {self.rcut}")
        if self.axis_neuron > self.neuron[-1]:
            raise ValueError(f"axis_neuron {self.axis_neuron} exceeds the embedding "
                             f"width {self.neuron[-1]}")
        if self.precision not in ("float64", "float32"):
            raise ValueError(f"precision {self.precision!r}: use 'float64' or 'float32'")

    @property
    def ntypes(self) -> int:
        """Number of atom types."""
        return len(self.type_map)

    @property
    def nnei(self) -> int:
        """Total neighbour capacity ``sum(sel)``."""
        return int(sum(self.sel))

    @property
    def dim_descrpt(self) -> int:
        """Length of the descriptor of one atom: ``neuron[-1] * axis_neuron``."""
        return self.neuron[-1] * self.axis_neuron

    def to_dict(self) -> dict:
        """Plain-data form (lists, not tuples), for files."""
        out = asdict(self)
        out.pop("extra")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: dict) -> DeepPotSpec:
        """Inverse of :meth:`to_dict` (files without ``type_one_side`` had pair nets)."""
        return cls(**{"type_one_side": False, **data})
