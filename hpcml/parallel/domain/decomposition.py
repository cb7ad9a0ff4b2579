"""The :class:`Domain`: owned atoms, staged ghost exchange, forward and reverse communication."""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from hpcml.parallel.domain.atoms import GhostPlan, LocalAtoms, _Swap
from hpcml.parallel.domain.geometry import (
    AXES,
    DomainError,
    _fmt,
    cell_heights,
    check_grid,
    choose_grid,
)

if TYPE_CHECKING:
    from hpcml.parallel.context import Context

logger = logging.getLogger(__name__)

#: Fractional slack for owned atoms on the cell faces (wrapping round-off).
_FACE_SLACK = 1e-9


class Domain:
    """Decomposition of one periodic cell over the ranks of a Context.

    Parameters
    ----------
    ctx
        Context whose ranks share the system; every method marked collective
        must be called by all of them.
    cell
        (3, 3) A, rows are the lattice vectors (any triclinic cell).
    ghost_cutoff
        A, usually ``rcut + skin``: ghosts fill this shell around each sub-domain.
    grid
        ``(px, py, pz)`` ranks per axis, or None to choose (:func:`choose_grid`).
        Rank ``r`` has coords ``(r // (py * pz), r // pz % py, r % pz)``.

    Attributes
    ----------
    grid, coords
        Ranks per axis and this rank's position in the grid.
    heights
        (3,) A face-to-face heights of the cell.
    delta
        (3,) ghost shell thickness in fractional units, ``ghost_cutoff / heights``.

    Examples
    --------
    >>> from hpcml.parallel import Context
    >>> d = Domain(Context.create(serial=True), np.eye(3) * 20.0, 9.0)
    >>> d.grid, d.coords
    ((1, 1, 1), (0, 0, 0))
    """

    def __init__(self, ctx: Context, cell: np.ndarray, ghost_cutoff: float,
                 grid: tuple[int, int, int] | None = None) -> None:
        cell = np.asarray(cell, dtype=np.float64)
        if cell.shape != (3, 3) or abs(np.linalg.det(cell)) < 1e-12:
            raise DomainError(f"cell must be a (3, 3) matrix of lattice vectors with a "
                              f"non-zero volume, got {cell.tolist()}")
        if not ghost_cutoff > 0:
            raise DomainError(f"ghost_cutoff must be positive, got {ghost_cutoff}")
        if grid is None:
            grid = choose_grid(cell, ghost_cutoff, ctx.size)
        check_grid(cell, ghost_cutoff, grid, ctx.size)
        self.ctx, self.cell, self.ghost_cutoff = ctx, cell, float(ghost_cutoff)
        self.grid = tuple(int(p) for p in grid)
        self.inverse = np.linalg.inv(cell)
        self.heights = cell_heights(cell)
        self.delta = self.ghost_cutoff / self.heights
        self.coords = self.coords_of(ctx.rank)
        logger.info("domain grid %s for %d ranks: sub-domains %s A thick, ghost cutoff %.4g A",
                    self.grid, ctx.size, _fmt(self.heights / self.grid), self.ghost_cutoff)

    # -- geometry -------------------------------------------------------------

    def coords_of(self, rank: int) -> tuple[int, int, int]:
        """Grid coordinates of ``rank``."""
        _, py, pz = self.grid
        return (rank // (py * pz), rank // pz % py, rank % pz)

    def rank_of(self, coords: Any) -> np.ndarray | int:
        """Rank(s) at grid ``coords`` ((3,) or (n, 3), taken modulo the grid)."""
        c = np.asarray(coords) % np.asarray(self.grid)
        _, py, pz = self.grid
        rank = (c[..., 0] * py + c[..., 1]) * pz + c[..., 2]
        return int(rank) if np.ndim(rank) == 0 else rank

    def fractional(self, positions: np.ndarray) -> np.ndarray:
        """Fractional coordinates (n, 3) of ``positions`` (n, 3) A.

        Computed element-wise (no BLAS), so a row gives bit-identical results
        on every rank whatever the array it sits in.
        """
        x, inv = positions, self.inverse
        return x[:, 0:1] * inv[0] + x[:, 1:2] * inv[1] + x[:, 2:3] * inv[2]

    def cartesian(self, fractional: np.ndarray) -> np.ndarray:
        """Positions (n, 3) A of ``fractional`` coordinates (n, 3) (element-wise)."""
        s, h = fractional, self.cell
        return s[:, 0:1] * h[0] + s[:, 1:2] * h[1] + s[:, 2:3] * h[2]

    def wrap(self, positions: np.ndarray) -> np.ndarray:
        """``positions`` (n, 3) A mapped into the cell (fractional in [0, 1))."""
        s = self.fractional(np.asarray(positions, dtype=np.float64).reshape(-1, 3))
        s -= np.floor(s)
        s[s >= 1.0] = 0.0
        return self.cartesian(s)

    def owner_coords(self, fractional: np.ndarray) -> np.ndarray:
        """Grid coordinates (n, 3) of the sub-domain holding each fractional point.

        Points outside [0, 1) go to the first or last slab (no wrapping).
        """
        out = np.empty(fractional.shape, dtype=np.int64)
        for k, p in enumerate(self.grid):
            edges = np.arange(1, p) / p
            out[:, k] = np.searchsorted(edges, fractional[:, k], side="right")
        return out

    def owner(self, positions: np.ndarray) -> np.ndarray:
        """Rank (n,) that owns each of ``positions`` (n, 3) A, after wrapping."""
        coords = self.owner_coords(self.fractional(self.wrap(positions)))
        return np.asarray(self.rank_of(coords), dtype=np.int64).reshape(-1)

    def extended_bounds(self, coords: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Fractional ``(lo, hi)`` (3,) of a sub-domain plus its ghost shell.

        Parameters
        ----------
        coords
            Grid coordinates; default this rank's.  A ghost image with
            fractional ``s`` satisfies ``lo <= s < hi`` on every axis.
        """
        c = np.asarray(self.coords if coords is None else coords)
        p = np.asarray(self.grid)
        return c / p - self.delta, (c + 1) / p + self.delta

    # -- collectives ------------------------------------------------------------

    def allsum(self, x: Any) -> Any:
        """Sum of a float or array over the ranks, added in rank order (collective).

        Every rank gets the bit-identical result.
        """
        if self.ctx.size == 1:
            return x
        parts = self.ctx.comm.allgather(x)
        total = parts[0]
        for part in parts[1:]:
            total = total + part
        return total

    def _raise_if_any(self, message: str | None) -> None:
        """Raise :class:`DomainError` on every rank if any rank has a ``message``."""
        messages = self.ctx.comm.allgather(message) if self.ctx.size > 1 else [message]
        failed = [(rank, m) for rank, m in enumerate(messages) if m is not None]
        if failed:
            rank, first = failed[0]
            more = f" (and {len(failed) - 1} more rank(s))" if len(failed) > 1 else ""
            raise DomainError(f"on rank {rank}: {first}{more}")

    def _neighbours(self, k: int, direction: int) -> tuple[int, int]:
        """Ranks ``(to, from)`` for a message going ``direction`` (+-1) along axis ``k``."""
        step = np.zeros(3, dtype=np.int64)
        step[k] = direction
        return (self.rank_of(np.asarray(self.coords) + step),
                self.rank_of(np.asarray(self.coords) - step))

    def _sendrecv(self, obj: Any, to: int, source: int, tag: int) -> Any:
        """Pickled exchange with neighbours; a local copy when the neighbour is this rank."""
        if to == self.ctx.rank:
            return obj
        return self.ctx.comm.sendrecv(obj, dest=to, sendtag=tag, source=source, recvtag=tag)

    def _exchange(self, send: np.ndarray, recv: np.ndarray, to: int, source: int,
                  tag: int) -> None:
        """Buffer exchange of ``send`` into ``recv`` (sizes known from the plan)."""
        if to == self.ctx.rank:
            recv[...] = send
            return
        self.ctx.comm.Sendrecv(np.ascontiguousarray(send), dest=to, sendtag=tag,
                               recvbuf=recv, source=source, recvtag=tag)

    # -- owned atoms ------------------------------------------------------------

    def scatter(self, positions: np.ndarray, ids: np.ndarray,
                arrays: dict[str, np.ndarray] | None = None) -> LocalAtoms:
        """The atoms this rank owns, from the global system (not collective).

        Parameters
        ----------
        positions
            (N, 3) A, the same on every rank; wrapped into the cell.
        ids
            (N,) global atom ids.
        arrays
            Per-atom data (N, ...) that moves with the atoms.

        Returns
        -------
        LocalAtoms
            Owned atoms sorted by id.
        """
        positions = np.asarray(positions, dtype=np.float64)
        ids = np.asarray(ids, dtype=np.int64)
        arrays = dict(arrays or {})
        n = len(ids)
        if positions.shape != (n, 3) or any(len(v) != n for v in arrays.values()):
            shapes = {k: np.shape(v) for k, v in arrays.items()}
            raise ValueError(f"scatter needs positions (N, 3), ids (N,) and arrays (N, ...); "
                             f"got {positions.shape}, {ids.shape}, {shapes}")
        wrapped = self.wrap(positions)
        coords = self.owner_coords(self.fractional(wrapped))
        mine = np.nonzero(np.all(coords == np.asarray(self.coords), axis=1))[0]
        mine = mine[np.argsort(ids[mine], kind="stable")]
        local = LocalAtoms(wrapped, ids, {k: np.asarray(v) for k, v in arrays.items()})
        local = local.take(mine)
        return replace(local, origin=local.positions.copy())

    def _migration_problem(self, local: LocalAtoms, wrapped: np.ndarray) -> str | None:
        """Why ``migrate`` cannot move these atoms in single hops, or None."""
        grid = np.asarray(self.grid)
        target = self.owner_coords(self.fractional(wrapped))
        hops = (target - np.asarray(self.coords)) % grid
        far = (hops > 1) & (hops < grid - 1)
        if local.origin is not None and len(local):
            moved = np.abs(self.fractional(local.positions - local.origin))
            far |= (moved >= 1.0 / grid) & (grid > 1)
        if not far.any():
            return None
        i, k = np.argwhere(far)[0]
        moved = np.linalg.norm(local.positions[i] - local.origin[i]) if (
            local.origin is not None) else float("nan")
        return (f"{int(far.any(axis=1).sum())} atom(s) moved more than a sub-domain width "
                f"({self.heights[k] / grid[k]:.4g} A along {AXES[k]}) since the last "
                f"migrate, e.g. atom id {int(local.ids[i])} ({moved:.4g} A): migrate more "
                "often (fewer steps between rebuilds), use fewer ranks along that axis, "
                "or check the time step and the forces")

    def migrate(self, local: LocalAtoms) -> LocalAtoms:
        """Wrap atoms into the cell and send them to their owners (collective).

        Staged over the x, y and z neighbours, so each atom may have moved at
        most one sub-domain width since the last migrate (checked: otherwise
        :class:`DomainError` on every rank).

        Returns
        -------
        LocalAtoms
            Owned atoms sorted by id, ``origin`` set to their positions.
        """
        wrapped = self.wrap(local.positions)
        self._raise_if_any(self._migration_problem(local, wrapped))
        atoms = LocalAtoms(wrapped, np.asarray(local.ids, dtype=np.int64), dict(local.arrays))
        for k, p in enumerate(self.grid):
            if p > 1:
                atoms = self._migrate_axis(atoms, k, p)
        atoms = atoms.take(np.argsort(atoms.ids, kind="stable"))
        return replace(atoms, origin=atoms.positions.copy())

    def _migrate_axis(self, atoms: LocalAtoms, k: int, p: int) -> LocalAtoms:
        """Send the atoms whose owner lies one slab down or up axis ``k``."""
        target = self.owner_coords(self.fractional(atoms.positions))[:, k]
        hop = (target - self.coords[k]) % p
        up = hop == 1
        down = (hop == p - 1) & ~up
        kept = [atoms.take(np.nonzero(~(up | down))[0])]
        for direction, mask in ((-1, down), (1, up)):
            to, source = self._neighbours(k, direction)
            kept.append(self._sendrecv(atoms.take(np.nonzero(mask)[0]), to, source,
                                       tag=100 + 2 * k + (direction > 0)))
        return LocalAtoms.concat(kept)

    # -- ghosts -------------------------------------------------------------------

    def ghosts(self, local: LocalAtoms, payload: tuple[str, ...] = ("types",),
               ) -> tuple[GhostPlan, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Build the ghost atoms of this rank (collective).

        Call right after :meth:`scatter` or :meth:`migrate`: the owned atoms
        must lie in this rank's sub-domain.

        Parameters
        ----------
        local
            Owned atoms.
        payload
            Keys of ``local.arrays`` to copy to the ghosts (e.g. types).

        Returns
        -------
        plan : GhostPlan
            For :meth:`forward` and :meth:`reverse`.
        positions : np.ndarray
            (n_ghost, 3) A, already shifted to the image.
        ids : np.ndarray
            (n_ghost,) int64 global ids.
        arrays : dict of np.ndarray
            The ``payload`` arrays of the ghosts, (n_ghost, ...) each.
        """
        missing = [key for key in payload if key not in local.arrays]
        if missing:
            raise ValueError(f"payload {missing} not in the atoms' arrays "
                             f"{sorted(local.arrays)}")
        frac = self.fractional(local.positions)
        self._raise_if_any(self._outside(local, frac))
        n = len(local)
        cols = {"s": frac, "x": local.positions, "ids": local.ids,
                "images": np.zeros((n, 3), dtype=np.int64),
                **{f"p:{key}": local.arrays[key] for key in payload}}
        parts = {name: [value] for name, value in cols.items()}
        swaps, count = [], n
        for k in range(3):
            ext = {name: np.concatenate(chunks) for name, chunks in parts.items()}
            for direction in (-1, 1):
                swap, received = self._ghost_swap(ext, k, direction, count)
                swaps.append(swap)
                count += swap.count
                for name in parts:
                    parts[name].append(received[name])
        ext = {name: np.concatenate(chunks)[n:] for name, chunks in parts.items()}
        plan = GhostPlan(n, count - n, ext["ids"].astype(np.int64),
                         ext["images"].astype(np.int64), tuple(swaps))
        extra = {key: ext[f"p:{key}"] for key in payload}
        return plan, ext["x"].reshape(-1, 3), plan.ids, extra

    def _outside(self, local: LocalAtoms, frac: np.ndarray) -> str | None:
        """Why the owned atoms cannot seed the ghost exchange, or None."""
        coords = self.owner_coords(frac)
        bad = np.any(coords != np.asarray(self.coords), axis=1)
        bad |= np.any((frac < -_FACE_SLACK) | (frac >= 1.0 + _FACE_SLACK), axis=1)
        if not bad.any():
            return None
        return (f"{int(bad.sum())} owned atom(s) lie outside this rank's sub-domain "
                f"(e.g. id {int(local.ids[np.argmax(bad)])}): call migrate() before ghosts()")

    def _ghost_swap(self, ext: dict[str, np.ndarray], k: int, direction: int,
                    start: int) -> tuple[_Swap, dict[str, np.ndarray]]:
        """Send the atoms that are ghosts of the neighbour ``direction`` along ``k``."""
        p, c = self.grid[k], self.coords[k]
        image = 1 if (direction < 0 and c == 0) else -1 if (direction > 0 and c == p - 1) else 0
        receiver = list(self.coords)
        receiver[k] = (c + direction) % p
        lo, hi = self.extended_bounds(receiver)
        value = ext["s"][:, k] + image
        index = np.nonzero((value >= lo[k]) & (value < hi[k]))[0]
        shift = image * self.cell[k]
        sent = {name: col[index] for name, col in ext.items()}
        sent["s"][:, k] += image
        sent["x"] = sent["x"] + shift
        sent["images"][:, k] += image
        to, source = self._neighbours(k, direction)
        tag = 200 + 2 * k + (direction > 0)
        received = self._sendrecv(sent, to, source, tag)
        swap = _Swap(to, source, index, shift, start, len(received["ids"]), tag)
        return swap, received

    def forward(self, plan: GhostPlan, local_positions: np.ndarray) -> np.ndarray:
        """Ghost positions (n_ghost, 3) A for new owned positions (collective).

        Uses the images of ``plan``: call between rebuilds, while atoms have
        moved less than half the skin.

        Parameters
        ----------
        plan
            From :meth:`ghosts`.
        local_positions
            (n_local, 3) A, owned atoms in the order of the plan.
        """
        local_positions = np.asarray(local_positions, dtype=np.float64)
        if local_positions.shape != (plan.n_local, 3):
            raise ValueError(f"forward needs positions ({plan.n_local}, 3), "
                             f"got {local_positions.shape}")
        ext = np.empty((plan.n_local + plan.n_ghost, 3))
        ext[:plan.n_local] = local_positions
        for swap in plan.swaps:
            self._exchange(ext[swap.send_index] + swap.shift,
                           ext[swap.start:swap.start + swap.count],
                           swap.send_to, swap.recv_from, swap.tag)
        return ext[plan.n_local:]

    def reverse(self, plan: GhostPlan, ghost_values: np.ndarray) -> np.ndarray:
        """Sum ghost values (forces) into their owners' rows (collective).

        Parameters
        ----------
        plan
            From :meth:`ghosts`.
        ghost_values
            (n_ghost, ...) float, e.g. forces on the ghosts in eV/A.

        Returns
        -------
        np.ndarray
            (n_local, ...): for each owned atom, the sum over all its ghost
            images on all ranks (add the owned atoms' own values to it).
        """
        values = np.asarray(ghost_values, dtype=np.float64)
        if values.shape[:1] != (plan.n_ghost,):
            raise ValueError(f"reverse needs ({plan.n_ghost}, ...) ghost values, "
                             f"got {values.shape}")
        tail = values.shape[1:]
        ext = np.zeros((plan.n_local + plan.n_ghost, *tail))
        ext[plan.n_local:] = values
        for swap in reversed(plan.swaps):
            back = np.empty((len(swap.send_index), *tail))
            self._exchange(ext[swap.start:swap.start + swap.count], back,
                           swap.recv_from, swap.send_to, swap.tag)
            ext[swap.send_index] += back
        return ext[:plan.n_local]
