"""Fused C kernels of the kinetic solver, compiled at first use and loaded with ctypes.

``kernels.c`` (pure C, no Python API) holds one-sweep versions of the hot
kernels: the transport stage of :func:`hpcml.kinetic.transport.transport_step`
(MC and minmod limiters, full and Chu layouts; bit-identical to numpy's),
the moments and the relaxation of the full-mode BGK step (the Newton solve
for the Maxwellian stays numpy's, :func:`hpcml.kinetic.bgk.full_coefficients`)
and the whole Chu-mode BGK step per cell (moments, Newton with the
exponentials by recurrence on the uniform grid, update).  The numpy kernels
stay the reference; these agree with them to round-off.

Build: :mod:`hpcml.native` (the system C compiler with :data:`FLAGS`, or
:data:`FALLBACK_FLAGS` when those fail, into the kernel cache).  Without a
compiler, or when the build fails, :func:`load` logs one warning and returns
None, and the solver uses the numpy kernels (``-kinetic_kernels auto``).
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import numpy as np

from hpcml.kinetic.grid import CellLayout
from hpcml.native import Loader, NativeUnavailable

SOURCE = Path(__file__).with_name("kernels.c")
#: compiler flags; no FMA contraction, so the transport stage is bit-identical to numpy's
FLAGS = ("-O3", "-march=native", "-ffp-contract=off", "-fopenmp-simd", "-fPIC", "-shared")
#: flags tried when :data:`FLAGS` fail (a compiler without -march=native or -fopenmp-simd)
FALLBACK_FLAGS = ("-O3", "-ffp-contract=off", "-fPIC", "-shared")
#: the values of ``-kinetic_kernels``
CHOICES = ("auto", "native", "numpy")
_LIMITERS = {"mc": 0, "minmod": 1}
#: Newton tolerance (scaled residual) of the C Chu-mode Maxwellian.  Looser than numpy's
#: 1e-14 because the accepted iterate gets one linearized Newton correction
#: ``E (1 - d . phi)`` (kernels.c): its moments are then exact to round-off whatever the
#: residual, and it differs from the exact exponential by O(|d . phi|**2), below 1e-16 of
#: the peak of M for residuals under 1e-9; so most cells need one exp evaluation, not two.
CHU_NEWTON_TOL = 1e-9


class NativeKernelsUnavailable(NativeUnavailable):
    """``-kinetic_kernels native`` was asked for but the C kernels could not be built."""


def build(cc: str | None = None, directory: Path | None = None) -> Path:
    """Compile ``kernels.c`` (or find it in the cache); the path of the shared library.

    Raises
    ------
    NativeKernelsUnavailable
        Without a C compiler, or when both flag sets fail.
    """
    return _LOADER.build(cc, directory)


def load(cc: str | None = None, directory: Path | None = None) -> NativeKernels | None:
    """The native kernels, built and loaded once per (compiler, cache directory); None if not.

    When they cannot be built, logs one warning (per compiler and directory)
    and returns None; :func:`last_error` says why.
    """
    return _LOADER.load(cc, directory)


def last_error(cc: str | None = None, directory: Path | None = None) -> str | None:
    """Why :func:`load` returned None for this compiler and directory (None if it did not)."""
    return _LOADER.last_error(cc, directory)


def select(choice: str) -> NativeKernels | None:
    """The kernels for ``-kinetic_kernels choice``: native ones, or None for numpy.

    Raises
    ------
    ValueError
        For a choice outside :data:`CHOICES`.
    NativeKernelsUnavailable
        For ``native`` when they cannot be built.
    """
    if choice not in CHOICES:
        raise ValueError(f"kernels {choice!r}: choose one of {CHOICES}")
    if choice == "numpy":
        return None
    lib = load()
    if lib is None and choice == "native":
        raise NativeKernelsUnavailable(
            f"-kinetic_kernels native: the C kernels cannot be built ({last_error()}); "
            "install a C compiler or set CC, or use -kinetic_kernels auto (falls back to "
            "numpy) or numpy")
    return lib


def _ptr(a: np.ndarray) -> int:
    """Address of the data of a C-contiguous float64 (or int32) array."""
    return a.ctypes.data


def _contiguous(*arrays: np.ndarray) -> bool:
    """True when all are C-contiguous float64 arrays."""
    return all(a.dtype == np.float64 and a.flags.c_contiguous for a in arrays)


class TransportPlan:
    """The row structure of one layout for the native transport stage, and its scratch."""

    def __init__(self, layout: CellLayout):
        n, v = layout.grid.n, layout.grid.v
        if layout.mode == "full":          # rows: v_x index, n*n values of one velocity each
            self.v, self.per_value, self.rows, self.inner = np.ascontiguousarray(v), 0, n, n * n
        elif n % 2 == 0:                   # rows: the sign-constant halves of g and h
            self.v, self.per_value, self.rows, self.inner = np.tile(v, 2), 1, 4, n // 2
        else:                              # odd n: v = 0 in the middle; one value per row
            self.v, self.per_value, self.rows, self.inner = np.tile(v, 2), 1, 2 * n, 1
        self.layout = layout
        self.flux = np.empty((2, layout.dof))


class NativeKernels:
    """The loaded library: the transport stage and the BGK step, numpy-like signatures."""

    name = "native"

    def __init__(self, lib: ctypes.CDLL):
        self.lib = lib
        p, i, d = ctypes.c_void_p, ctypes.c_int, ctypes.c_double
        lib.hpcml_transport.argtypes = [p, p, i, i, i, i, d, i, p, p, p]
        lib.hpcml_transport.restype = None
        lib.hpcml_moments_full.argtypes = [p, p, i, i, d, p]
        lib.hpcml_moments_full.restype = None
        lib.hpcml_relax_full.argtypes = [p, p, p, p, p, i, i, d, p]
        lib.hpcml_relax_full.restype = None
        lib.hpcml_bgk_chu.argtypes = [p, p, i, i, d, d, d, p, p, p]
        lib.hpcml_bgk_chu.restype = ctypes.c_int

    def transport_step(self, f_ghosted: np.ndarray, layout: CellLayout, dt_over_dx: float,
                       limiter: str = "mc", out: np.ndarray | None = None,
                       edge_flux: np.ndarray | None = None,
                       plan: TransportPlan | None = None) -> np.ndarray:
        """One transport stage, as :func:`hpcml.kinetic.transport.transport_step`.

        ``f_ghosted`` ``(nx + 4, *layout.shape)``, ``out`` ``(nx, *layout.shape)``
        and ``edge_flux`` ``(2, *layout.shape)`` are C-contiguous float64
        (others go to the numpy kernel); ``plan`` reuses the row structure.
        """
        from hpcml.kinetic.transport import GHOSTS, transport_step

        if limiter not in _LIMITERS:
            raise ValueError(f"unknown limiter {limiter!r}; choose one of {sorted(_LIMITERS)}")
        nx = f_ghosted.shape[0] - 2 * GHOSTS
        out = np.empty((nx, *layout.shape)) if out is None else out
        if f_ghosted.shape[1:] != layout.shape or out.shape != (nx, *layout.shape):
            raise ValueError(f"transport: f_ghosted {f_ghosted.shape} and out {out.shape} do "
                             f"not fit the layout {layout.shape}")
        arrays = (f_ghosted, out) if edge_flux is None else (f_ghosted, out, edge_flux)
        if not _contiguous(*arrays):
            return transport_step(f_ghosted, layout.vx, dt_over_dx, limiter, out=out,
                                  edge_flux=edge_flux)
        plan = TransportPlan(layout) if plan is None or plan.layout is not layout else plan
        self.lib.hpcml_transport(_ptr(f_ghosted), _ptr(plan.v), plan.per_value, plan.rows,
                                 plan.inner, nx, float(dt_over_dx), _LIMITERS[limiter],
                                 _ptr(out), _ptr(plan.flux),
                                 None if edge_flux is None else _ptr(edge_flux))
        return out

    def bgk_step(self, f: np.ndarray, layout: CellLayout, eps: float, dt: float,
                 relax: str = "implicit", out: np.ndarray | None = None,
                 work: dict | None = None) -> np.ndarray:
        """Relax ``f`` ``(..., *layout.shape)`` over ``dt``, as :func:`hpcml.kinetic.bgk.bgk_step`.

        ``out`` may be ``f``; non-contiguous arrays go to the numpy kernel.

        Raises
        ------
        ValueError
            For a cell with non-positive density or temperature, or when
            Newton diverges (the messages of the numpy kernel).
        """
        from hpcml.kinetic import bgk

        keep = bgk.relax_factor(eps, dt, relax)
        out = np.empty_like(f) if out is None else out
        if not _contiguous(f, out) or out.shape != f.shape:
            return bgk.bgk_step(f, layout, eps, dt, relax=relax, out=out, work=work)
        work = {} if work is None else work
        nd = len(layout.shape)
        nc = int(np.prod(f.shape[:f.ndim - nd]))
        grid = layout.grid
        v = np.ascontiguousarray(grid.v)
        if layout.mode == "chu":
            scratch = work.get("native_chu")
            if scratch is None or scratch.shape != (5 * grid.n,):
                scratch = work["native_chu"] = np.empty(5 * grid.n)
            info = np.zeros(2, dtype=np.int32)
            self.lib.hpcml_bgk_chu(_ptr(f), _ptr(v), grid.n, nc, grid.h, keep, CHU_NEWTON_TOL,
                                   _ptr(out),
                                   _ptr(scratch), _ptr(info))
            if info[1]:
                _raise_bad_cell(f.reshape(nc, *layout.shape), layout, int(info[0]),
                                int(info[1]))
            return out
        cons = np.empty((nc, 5))
        self.lib.hpcml_moments_full(_ptr(f), _ptr(v), grid.n, nc, grid.weight, _ptr(cons))
        a, (ex, ey, ez) = bgk.full_coefficients(cons, layout)
        ea, ex, ey, ez = (np.ascontiguousarray(x, dtype=np.float64)
                          for x in (np.exp(a), ex, ey, ez))
        self.lib.hpcml_relax_full(_ptr(f), _ptr(ea), _ptr(ex), _ptr(ey), _ptr(ez), grid.n,
                                  nc, keep, _ptr(out))
        return out


def _raise_bad_cell(f: np.ndarray, layout: CellLayout, k: int, kind: int) -> None:
    """The numpy kernel's error for cell ``k`` of ``f`` ``(nc, *shape)``."""
    from hpcml.kinetic.moments import conserved, primitive

    if kind == 2:
        raise ValueError("discrete Maxwellian: Newton iteration diverged (velocity grid "
                         "too coarse or box too small for the temperature)")
    rho, _, T = primitive(conserved(f[k], layout))
    raise ValueError(f"cell(s) with non-positive density or temperature (first: flat cell "
                     f"{k}, rho={float(rho):.6g}, T={float(T):.6g})")


_LOADER = Loader(SOURCE, (FLAGS, FALLBACK_FLAGS), NativeKernels, "the numpy kernels",
                 NativeKernelsUnavailable)
