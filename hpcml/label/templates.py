"""The built-in CP2K template (GFN1-xTB), identical to ``inputs/cp2k/xtb.inp``.

It is embedded here so that an installed hpcml (without the ``inputs/``
directory) labels with xTB by default; a test keeps the two copies equal.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

XTB_TEMPLATE = """\
! GFN1-xTB energies and forces (the fast default of hpcml label).
! hpcml fills in GLOBAL/PROJECT_NAME, RUN_TYPE, SUBSYS/CELL, SUBSYS/COORD and
! FORCE_EVAL/PRINT/FORCES (and STRESS_TENSOR when label.virial is true).
&GLOBAL
  PRINT_LEVEL MEDIUM
&END GLOBAL
&FORCE_EVAL
  METHOD QUICKSTEP
  &DFT
    CHARGE 0
    &QS
      METHOD xTB
      &xTB
        DO_EWALD T
        CHECK_ATOMIC_CHARGES F
      &END xTB
    &END QS
    &SCF
      SCF_GUESS MOPAC
      EPS_SCF 1.0E-7
      MAX_SCF 100
      &MIXING
        METHOD BROYDEN_MIXING
        ALPHA 0.3
      &END MIXING
    &END SCF
  &END DFT
&END FORCE_EVAL
"""


def builtin_template_path() -> Path:
    """Path of the built-in xTB template (written once under ``$HPCML_CACHE``)."""
    digest = hashlib.sha256(XTB_TEMPLATE.encode()).hexdigest()[:12]
    cache = Path(os.environ.get("HPCML_CACHE", Path.home() / ".cache" / "hpcml"))
    path = cache / f"xtb-{digest}.inp"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(XTB_TEMPLATE)
        os.replace(tmp, path)
    return path
