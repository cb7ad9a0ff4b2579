"""Cell heights and the choice and check of the rank grid (no communication)."""

from __future__ import annotations

import numpy as np

from hpcml.errors import UserError

AXES = "xyz"


class DomainError(UserError):
    """A cell, grid or atom motion that the domain decomposition cannot handle."""


def cell_heights(cell: np.ndarray) -> np.ndarray:
    """Face-to-face heights (3,) A of the cell: ``h_k = V / |a_i x a_j|``."""
    return 1.0 / np.linalg.norm(np.linalg.inv(cell), axis=0)


def _grids(size: int) -> list[tuple[int, int, int]]:
    """All ``(px, py, pz)`` with ``px * py * pz == size``."""
    divisors = [d for d in range(1, size + 1) if size % d == 0]
    return [(px, py, size // (px * py)) for px in divisors for py in divisors
            if (size // px) % py == 0]


def _thin_axes(heights: np.ndarray, ghost_cutoff: float,
               grid: tuple[int, ...]) -> list[int]:
    """Axes along which a sub-domain is thinner than the ghost cutoff."""
    return [k for k in range(3) if heights[k] / grid[k] < ghost_cutoff]


def _ghost_volume(heights: np.ndarray, ghost_cutoff: float, grid: tuple[int, ...]) -> float:
    """Extended sub-domain volume as a fraction of the cell (what ghosts cost)."""
    return float(np.prod(1.0 / np.asarray(grid) + 2.0 * ghost_cutoff / heights))


def choose_grid(cell: np.ndarray, ghost_cutoff: float, size: int) -> tuple[int, int, int]:
    """The grid of ``size`` ranks with the fewest ghosts whose sub-domains are thick enough.

    Minimises the volume of the extended sub-domain (owned slab plus the
    ghost shell), which accounts for the cell's shape; ties go to the grid
    that splits x most, then y.

    Raises
    ------
    DomainError
        When no grid leaves every sub-domain at least ``ghost_cutoff`` thick.
    """
    heights = cell_heights(cell)
    fits = np.floor(heights / ghost_cutoff).astype(int)
    for k in range(3):
        if fits[k] == 0:
            raise DomainError(_too_thin(heights, ghost_cutoff, (1, 1, 1), k, size))
    feasible = [g for g in _grids(size) if not _thin_axes(heights, ghost_cutoff, g)]
    if not feasible:
        most = int(np.prod(fits))
        raise DomainError(
            f"cannot split the cell over {size} ranks: every sub-domain must be at least "
            f"ghost_cutoff = {ghost_cutoff:.4g} A (rcut + skin) thick, and the cell heights "
            f"{_fmt(heights)} A allow at most {fits[0]} x {fits[1]} x {fits[2]} = {most} "
            f"ranks; run at most {most} ranks (or a count that factors into that grid), "
            "use a larger cell (replicate the system), or reduce rcut or skin"
        )
    return min(feasible, key=lambda g: (round(_ghost_volume(heights, ghost_cutoff, g) * size,
                                              9), tuple(-p for p in g)))


def rank_counts(cell: np.ndarray, ghost_cutoff: float, size: int) -> list[int]:
    """Rank counts ``n <= size`` over which the cell can be decomposed (ascending).

    Empty when the cell is thinner than ``ghost_cutoff`` along some axis.
    """
    heights = cell_heights(cell)
    return [n for n in range(1, size + 1)
            if any(not _thin_axes(heights, ghost_cutoff, g) for g in _grids(n))]


def _fmt(values: np.ndarray) -> str:
    return "(" + ", ".join(f"{v:.4g}" for v in values) + ")"


def _too_thin(heights: np.ndarray, ghost_cutoff: float, grid: tuple[int, ...], k: int,
              size: int) -> str:
    """Message for a sub-domain thinner than the ghost cutoff along axis ``k``."""
    axis, h, p = AXES[k], heights[k], grid[k]
    fits = int(h // ghost_cutoff)
    if fits == 0:
        fix = (f"replicate the cell along {axis} (at least {int(np.ceil(ghost_cutoff / h))}x)"
               " or reduce rcut or skin; periodic images must come from the next cell only")
    else:
        fix = (f"use at most {fits} rank(s) along {axis}, a larger cell, "
               "or a smaller rcut or skin")
    return (f"sub-domain too thin along {axis}: cell height {h:.4g} A / {p} rank(s) = "
            f"{h / p:.4g} A < ghost_cutoff {ghost_cutoff:.4g} A (grid {tuple(grid)}, "
            f"{size} ranks); {fix}")


def check_grid(cell: np.ndarray, ghost_cutoff: float, grid: tuple[int, ...], size: int) -> None:
    """Raise :class:`DomainError` unless ``grid`` fits ``size`` ranks and the cell."""
    if len(grid) != 3 or any(int(p) != p or p < 1 for p in grid):
        raise DomainError(f"grid {grid} must be three positive integers (px, py, pz)")
    if int(np.prod(grid)) != size:
        raise DomainError(f"grid {tuple(grid)} has {int(np.prod(grid))} sub-domains but the "
                          f"job has {size} ranks: make px * py * pz equal the rank count, "
                          "or leave grid unset to choose one")
    heights = cell_heights(cell)
    thin = _thin_axes(heights, ghost_cutoff, grid)
    if thin:
        raise DomainError(_too_thin(heights, ghost_cutoff, grid, thin[0], size))
