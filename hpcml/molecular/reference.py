"""A small numpy reference of the DeepPot-SE energy, for testing the fast path.

Written for clarity, not speed: its own neighbour search over periodic
images, every atom padded to exactly ``sel`` slots (empty rows are zero, as
in DeePMD-kit), one atom at a time.  It reads the parameters from
:meth:`hpcml.molecular.model.DeepPot.serialize`.
"""

from __future__ import annotations

import itertools

import numpy as np


def switch(r: np.ndarray, rcut_smth: float, rcut: float) -> np.ndarray:
    """``s(r) = sw(r) / r``: ``sw = 1`` below ``rcut_smth``, ``0`` from ``rcut``.

    Between them ``sw = u^3 (-6u^2 + 15u - 10) + 1``, ``u = (r - rcut_smth) /
    (rcut - rcut_smth)``, which is C2 at both ends.
    """
    u = np.clip((r - rcut_smth) / (rcut - rcut_smth), 0.0, 1.0)
    return (u**3 * (-6 * u**2 + 15 * u - 10) + 1) / r


def env_rows(rij: np.ndarray, rcut_smth: float, rcut: float) -> np.ndarray:
    """Environment rows (m, 4) of displacements (m, 3) inside the cutoff."""
    r = np.linalg.norm(rij, axis=1, keepdims=True)
    s = switch(r, rcut_smth, rcut)
    return np.concatenate([s, s * rij / r], axis=1)


def _neighbours(coord: np.ndarray, cell: np.ndarray, i: int, rcut: float) -> list:
    """(distance, j, displacement) of every image within ``rcut`` of atom ``i``."""
    found = []
    frac = coord @ np.linalg.inv(cell)
    coord = (frac - np.floor(frac)) @ cell          # wrap into the cell
    reach = int(np.ceil(rcut / np.min(np.abs(np.linalg.det(cell)) / np.linalg.norm(
        np.cross(cell[[1, 2, 0]], cell[[2, 0, 1]]), axis=1)))) + 1
    for shift in itertools.product(range(-reach, reach + 1), repeat=3):
        d_all = coord + np.asarray(shift) @ cell - coord[i]
        for j, d in enumerate(d_all):
            r = np.linalg.norm(d)
            if 1e-10 < r < rcut:
                found.append((r, j, d))
    return sorted(found, key=lambda x: x[0])


def _embed(params: dict, prefix: str, s: np.ndarray) -> np.ndarray:
    """Embedding net ``prefix`` applied to ``s`` (m, 1)."""
    x, k = s, 0
    while f"{prefix}.weight.{k}" in params:
        w, b = params[f"{prefix}.weight.{k}"], params[f"{prefix}.bias.{k}"]
        y = np.tanh(x @ w + b)
        if w.shape[0] == w.shape[1]:
            y = y + x
        elif w.shape[1] == 2 * w.shape[0]:
            y = y + np.concatenate([x, x], axis=1)
        x, k = y, k + 1
    return x


def _fit(params: dict, prefix: str, d: np.ndarray) -> float:
    """Fitting net ``prefix`` applied to one descriptor (dim,)."""
    x, k, k_idt = d[None], 0, 0
    while f"{prefix}.weight.{k}" in params:
        w, b = params[f"{prefix}.weight.{k}"], params[f"{prefix}.bias.{k}"]
        y = np.tanh(x @ w + b)
        if w.shape[0] == w.shape[1]:
            y = x + params[f"{prefix}.idt.{k_idt}"] * y
            k_idt += 1
        x, k = y, k + 1
    return float((x @ params[f"{prefix}.out_weight"] + params[f"{prefix}.out_bias"])[0, 0])


def reference_energy(serialized: dict, coord: np.ndarray, cell: np.ndarray,
                     atype: np.ndarray) -> tuple[float, np.ndarray]:
    """Total energy (eV) and atomic energies (natoms,) of one periodic frame.

    Parameters
    ----------
    serialized
        Output of ``DeepPot.serialize()``.
    coord
        (natoms, 3) Angstrom.
    cell
        (3, 3) Angstrom, rows are lattice vectors.
    atype
        (natoms,) int.
    """
    spec, p = serialized["spec"], {k: np.asarray(v, np.float64)
                                   for k, v in serialized["state"].items()}
    sel, axis = spec["sel"], spec["axis_neuron"]
    nnei = sum(sel)
    atom_e = np.zeros(len(coord))
    for i in range(len(coord)):
        ti = int(atype[i])
        avg, std = p["descriptor.avg"][ti], p["descriptor.std"][ti]
        neigh = _neighbours(coord, cell, i, spec["rcut"])
        t_mat = 0.0
        for tj, cap in enumerate(sel):
            disp = [d for _, j, d in neigh if atype[j] == tj]
            if len(disp) > cap:
                raise ValueError(f"atom {i}: {len(disp)} neighbours of type {tj} > sel {cap}")
            rows = np.zeros((cap, 4))
            if disp:
                rows[: len(disp)] = env_rows(np.array(disp), spec["rcut_smth"], spec["rcut"])
            rows = (rows - avg) / std
            g = _embed(p, f"descriptor.nets.{ti}.{tj}", rows[:, :1])
            t_mat = t_mat + g.T @ rows
        t_mat = t_mat / nnei
        d = (t_mat @ t_mat[:axis].T).reshape(-1)
        atom_e[i] = _fit(p, f"fitting.{ti}", d) + p["bias_atom_e"][ti]
    return float(atom_e.sum()), atom_e
