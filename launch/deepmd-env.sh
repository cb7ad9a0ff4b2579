#!/usr/bin/env bash
# Idempotent side environment with DeePMD-kit 3.2.0 (PyTorch backend, CPU),
# used to check hpcml's DeePMD-kit export/import against DeePMD-kit itself.
#
# It is NOT the project venv: it is made without system site packages, so
# its numpy/h5py (PyPI's) never meet Debian's MPI builds in .venv.
#   1. `python3 -m venv` at HPCML_DEEPMD_ENV (default ~/.cache/hpcml/deepmd-env),
#   2. the local CPU torch wheel (/opt/wheels/torch-*+cpu-*.whl, or
#      HPCML_TORCH_WHEEL), so pip does not fetch PyPI's CUDA torch,
#   3. deepmd-kit==3.2.0 from PyPI, plus PyPI's `mpich`: the wheel is a
#      cibuildwheel build whose `import deepmd.pt` loads libmpi.so from the
#      `mpich` distribution's files and fails when it is absent, and `e3nn`,
#      which DeePMD-kit's PyTorch descriptors import (`dp convert-backend`
#      to .pth fails without it),
#   4. moves deepmd/lib/libdeepmd_op_pt.so aside: DeePMD-kit 3.2.0's wheel
#      builds its custom torch ops for torch 2.11, and loading them into
#      torch 2.13 fails; without them the Python side (dp convert-backend,
#      dp --pt test, DeepPot) runs on plain torch operators,
#   5. checks that DeePMD-kit's PyTorch side and `from deepmd.infer import
#      DeepPot` import.
# A second run finds the environment ready in about 5 s.  Tests that need it
# (tests/unit/test_interop_deepmd.py) skip, with this script named, when it
# is absent.
#
# Environment: HPCML_DEEPMD_ENV, HPCML_TORCH_WHEEL, HPCML_DEEPMD_REBUILD=1.
set -euo pipefail

DP_VERSION=3.2.0
ENV=${HPCML_DEEPMD_ENV:-$HOME/.cache/hpcml/deepmd-env}
PYTHON=${HPCML_DEEPMD_PYTHON:-/usr/bin/python3}
WHEEL=${HPCML_TORCH_WHEEL:-$(ls /opt/wheels/torch-*+cpu-*.whl 2>/dev/null | sort | tail -n 1 || true)}

say() { printf '[deepmd-env] %s\n' "$*"; }

env_works() {
    [ -x "$ENV/bin/dp" ] && "$ENV/bin/python" - "$DP_VERSION" <<'PYEOF' 2>/dev/null
import sys
import deepmd
from deepmd.infer import DeepPot  # noqa: F401
import deepmd.pt.model.descriptor  # noqa: F401 (needs mpich's libmpi and e3nn)
sys.exit(0 if deepmd.__version__.startswith(sys.argv[1]) else 1)
PYEOF
}

if [ "${HPCML_DEEPMD_REBUILD:-0}" != 1 ] && env_works; then
    say "deepmd-kit $DP_VERSION ready in $ENV"
    exit 0
fi

[ "${HPCML_DEEPMD_REBUILD:-0}" = 1 ] && rm -rf "$ENV"
[ -x "$ENV/bin/python" ] || { say "creating $ENV"; "$PYTHON" -m venv "$ENV"; }
PIP=("$ENV/bin/pip" --disable-pip-version-check -q)
# pip, without its notes about absent local index folders of some images
pip_() { "${PIP[@]}" "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

if ! "$ENV/bin/python" -c "import torch" 2>/dev/null; then
    if [ -n "$WHEEL" ]; then
        say "installing $(basename "$WHEEL")"
        pip_ install "$WHEEL"
    else
        say "no local torch wheel: installing torch from the CPU index"
        pip_ install torch --index-url https://download.pytorch.org/whl/cpu
    fi
fi
say "installing deepmd-kit==$DP_VERSION, mpich and e3nn"
pip_ install "deepmd-kit==$DP_VERSION" mpich e3nn

# Custom ops built for another torch: move them aside (kept, renamed).
LIB=$("$ENV/bin/python" -c "import deepmd, os; print(os.path.join(os.path.dirname(deepmd.__file__), 'lib'))")
for so in "$LIB"/libdeepmd_op_pt.so; do
    [ -f "$so" ] && { mv "$so" "$so.torch-mismatch"; say "moved $(basename "$so") aside"; }
done

env_works || { say "deepmd-kit installed but 'from deepmd.infer import DeepPot' fails"; exit 1; }
say "deepmd-kit $DP_VERSION ready in $ENV (torch $("$ENV/bin/python" -c 'import torch; print(torch.__version__)'))"
