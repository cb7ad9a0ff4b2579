#!/usr/bin/env bash
# Idempotent build and install of Horovod 0.28.1 (PyTorch + MPI) into the venv.
#
# Horovod 0.28.1 is the last release and has no wheels on PyPI: it must be
# built from the sdist against the venv's torch.  With torch >= 2.x its CMake
# files still ask for C++14, which torch's headers reject, so the build here
#   1. downloads the sdist (`pip download --no-deps --no-binary :all:`) into
#      the cache (offline sites: put horovod-0.28.1.tar.gz there by hand),
#   2. raises every `CMAKE_CXX_STANDARD 14` in its CMake files to 17,
#   3. builds a wheel with `pip wheel --no-build-isolation --no-deps` (so it
#      compiles against the torch and mpi4py already in the venv) into a cache
#      keyed by the Horovod, torch and Python versions,
#   4. installs that wheel with --no-deps, plus Horovod's small pure-Python
#      dependencies (cloudpickle, psutil; pyyaml and packaging are already
#      there), and checks that numpy and h5py are still the system builds.
# The build takes 2-5 minutes on 2 cores; a second run finds Horovod
# installed (about 3 s) or reinstalls the cached wheel (about 7 s).
#
# Environment: HPCML_VENV (default .venv), HPCML_WHEEL_CACHE (default
# ~/.cache/hpcml/wheels), HOROVOD_BUILD_JOBS (make -j, default: number of
# cores, at most 8), HPCML_HOROVOD_REBUILD=1 to ignore the cached wheel.
set -euo pipefail
cd "$(dirname "$0")/.."

HVD_VERSION=0.28.1
VENV=${HPCML_VENV:-.venv}
CACHE=${HPCML_WHEEL_CACHE:-$HOME/.cache/hpcml/wheels}
PY="$VENV/bin/python"
PIP=("$VENV/bin/pip" --disable-pip-version-check)
# nproc --all: plain nproc honours OMP_NUM_THREADS, which the Makefile sets to 1
JOBS=${HOROVOD_BUILD_JOBS:-$(( $(nproc --all) < 8 ? $(nproc --all) : 8 ))}

say() { printf '[horovod] %s\n' "$*"; }
# pip, without its notes about absent local index folders of some images
pip_() { "${PIP[@]}" "$@" 2> >(grep -v "is ignored: it is neither" >&2); }

[ -x "$PY" ] || { say "no venv at $VENV: run launch/install.sh first"; exit 1; }

horovod_works() {
    # mpi4py.MPI must be loaded before horovod.torch (shared MPI library).
    "$PY" - "$HVD_VERSION" <<'PYEOF' 2>/dev/null
import sys
import mpi4py.MPI  # noqa: F401
import horovod
import horovod.torch  # noqa: F401
sys.exit(0 if horovod.__version__ == sys.argv[1] else 1)
PYEOF
}

# The wheel holds a compiled torch extension: key it by torch and Python.
TORCH_VERSION=$("$PY" -c "import torch; print(torch.__version__)")
PY_TAG=$("$PY" -c "import sys; print(f'cp{sys.version_info[0]}{sys.version_info[1]}')")
WHEEL_DIR="$CACHE/horovod-$HVD_VERSION-torch$TORCH_VERSION-$PY_TAG"

if [ "${HPCML_HOROVOD_REBUILD:-0}" != 1 ] && horovod_works; then
    say "horovod $HVD_VERSION already installed in $VENV (torch $TORCH_VERSION)"
    exit 0
fi

build_wheel() {
    work=$(mktemp -d "${TMPDIR:-/tmp}/hpcml-horovod.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    local sdist="$CACHE/horovod-$HVD_VERSION.tar.gz"
    if [ ! -f "$sdist" ]; then
        say "downloading the horovod $HVD_VERSION sdist into $CACHE"
        mkdir -p "$CACHE"
        pip_ download -q --no-deps --no-binary :all: "horovod==$HVD_VERSION" -d "$CACHE"
    fi
    tar -xzf "$sdist" -C "$work"
    local src="$work/horovod-$HVD_VERSION"
    # torch >= 2.1 headers need C++17; the sdist sets 14 in two places
    # (top-level CMakeLists.txt and horovod/torch/CMakeLists.txt).
    grep -rl --include=CMakeLists.txt 'CMAKE_CXX_STANDARD 14' "$src" \
        | xargs sed -i 's/CMAKE_CXX_STANDARD 14/CMAKE_CXX_STANDARD 17/'
    if grep -rq --include=CMakeLists.txt 'CMAKE_CXX_STANDARD 14' "$src"; then
        say "patch failed: CMAKE_CXX_STANDARD 14 still set in $src"
        exit 1
    fi
    say "building the wheel (make -j$JOBS; 2-5 minutes)"
    local start=$SECONDS
    mkdir -p "$WHEEL_DIR"
    HOROVOD_WITH_PYTORCH=1 HOROVOD_WITH_MPI=1 HOROVOD_WITHOUT_TENSORFLOW=1 \
    HOROVOD_WITHOUT_MXNET=1 HOROVOD_WITHOUT_GLOO=1 HOROVOD_CPU_OPERATIONS=MPI \
    MAKEFLAGS="-j$JOBS" \
        pip_ wheel -q --no-build-isolation --no-deps "$src" -w "$WHEEL_DIR"
    say "built $(basename "$(ls "$WHEEL_DIR"/horovod-*.whl)") in $((SECONDS - start)) s"
}

WHEEL=$(ls "$WHEEL_DIR"/horovod-"$HVD_VERSION"-*.whl 2>/dev/null | head -n 1 || true)
if [ -z "$WHEEL" ] || [ "${HPCML_HOROVOD_REBUILD:-0}" = 1 ]; then
    rm -f "$WHEEL_DIR"/horovod-*.whl
    build_wheel
    WHEEL=$(ls "$WHEEL_DIR"/horovod-"$HVD_VERSION"-*.whl | head -n 1)
else
    say "using the cached wheel $WHEEL"
fi

say "installing $(basename "$WHEEL") and its pure-Python dependencies"
pip_ install -q --no-deps --force-reinstall "$WHEEL"
# horovod's install_requires: cloudpickle, psutil, pyyaml, packaging.  None
# of them depends on numpy; --no-deps keeps it that way.
for dep in cloudpickle psutil pyyaml packaging; do
    "${PIP[@]}" show -q "$dep" >/dev/null 2>&1 || pip_ install -q --no-deps "$dep"
done

"$PY" - <<'PYEOF'
import sys
import h5py, numpy
bad = [m.__name__ for m in (numpy, h5py) if not m.__file__.startswith("/usr/lib/python3/")]
if bad:
    sys.exit(f"[horovod] {bad} shadowed by a venv copy; remove it: pip uninstall {' '.join(bad)}")
PYEOF
horovod_works || { say "horovod installed but 'import horovod.torch' fails"; exit 1; }
say "horovod $HVD_VERSION ready (torch $TORCH_VERSION, MPI, no Gloo)"
