#!/usr/bin/env bash
# Idempotent set-up of hpcml on Debian 12 (run as root), used by `make demo`
# and `make test`.  A second run finds everything in place and takes seconds.
#
#   1. Debian packages (MPI, mpi4py, PETSc/petsc4py, parallel HDF5/h5py, CP2K,
#      compilers, Slurm and munge for the job-template tests); skipped when all
#      are installed.
#   2. .venv made from Debian's interpreter with --system-site-packages, so
#      the Debian-built mpi4py/petsc4py/h5py are visible inside it.
#   3. `pip install -e .[EXTRAS]` with numpy, mpi4py and h5py pinned to the
#      system versions (constraints file); skipped while pyproject.toml and
#      the extras are unchanged (stamp file in .venv).
#
# Environment: HPCML_EXTRAS (default "test,all"), HPCML_VENV (default .venv),
# HPCML_SKIP_APT=1 to leave system packages alone (clusters: use modules).
set -euo pipefail
cd "$(dirname "$0")/.."

EXTRAS=${HPCML_EXTRAS:-test,all}
# Horovod has no usable PyPI wheel: launch/build-horovod.sh builds it once torch is installed.
PIP_EXTRAS=$(tr ',' '\n' <<< "$EXTRAS" | grep -vx horovod | paste -sd, - || true)
VENV=${HPCML_VENV:-.venv}
PY=/usr/bin/python3
# slurm-wlm + munge: the one-node Slurm that tests/slurm starts in a scratch folder
# (hpcml.testing.slurm; no service is started or configured system-wide).
APT_PACKAGES="openmpi-bin libopenmpi-dev python3-mpi4py python3-petsc4py petsc-dev
python3-h5py-mpi cp2k python3-venv python3-dev build-essential cmake python3-ase
slurm-wlm munge"

say() { printf '[install] %s\n' "$*"; }

install_apt() {
    [ "${HPCML_SKIP_APT:-0}" = 1 ] && { say "apt: skipped (HPCML_SKIP_APT=1)"; return; }
    local missing=()
    for p in $APT_PACKAGES; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
            || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        say "apt: all system packages present"
        return
    fi
    if [ "$(id -u)" != 0 ]; then
        say "apt: missing ${missing[*]}; run as root or install them (see docs/install.md)"
        exit 1
    fi
    say "apt: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
}

make_venv() {
    if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import mpi4py, h5py" 2>/dev/null; then
        say "venv: $VENV present"
        return
    fi
    say "venv: creating $VENV from $PY (--system-site-packages)"
    rm -rf "$VENV"
    "$PY" -m venv --system-site-packages "$VENV"
}

write_constraints() {
    # Pin the packages that Debian's compiled modules were built against.
    "$PY" - <<'PYEOF' > "$VENV/constraints.txt"
import importlib
for name in ("numpy", "mpi4py"):
    print(f"{name}=={importlib.import_module(name).__version__}")
PYEOF
    # The CPU build of torch when a local wheel is offered (pip find-links);
    # an unpinned torch would pull the newest CUDA build from PyPI.
    echo "torch==${HPCML_TORCH_VERSION:-2.13.0}" >> "$VENV/constraints.txt"
}

pip_install() {
    local stamp="$VENV/.hpcml-install-stamp"
    local want
    want="$(cat pyproject.toml setup.py launch/install.sh | sha256sum | cut -c1-16) extras=$EXTRAS"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
        && "$VENV/bin/python" -c "import hpcml" 2>/dev/null; then
        say "pip: hpcml[$EXTRAS] already installed"
        return
    fi
    write_constraints
    say "pip: installing -e .[$EXTRAS] (constraints: $(tr '\n' ' ' < "$VENV/constraints.txt"))"
    # (the grep drops pip's notes about absent local index folders of some images)
    PIP_CONSTRAINT="$PWD/$VENV/constraints.txt" "$VENV/bin/pip" install -q \
        --disable-pip-version-check -e ".${PIP_EXTRAS:+[$PIP_EXTRAS]}" 2> >(grep -v "is ignored: it is neither" >&2)
    check_system_modules
    echo "$want" > "$stamp"
}

check_system_modules() {
    # numpy and h5py must still be Debian's, or mpi4py/petsc4py/h5py break.
    "$VENV/bin/python" - <<'PYEOF'
import sys
import h5py, numpy
bad = [m.__name__ for m in (numpy, h5py) if not m.__file__.startswith("/usr/lib/python3/")]
if bad:
    sys.exit(f"[install] {bad} shadowed by a venv copy; remove it: .venv/bin/pip uninstall {' '.join(bad)}")
print(f"[install] numpy {numpy.__version__} and h5py {h5py.__version__} are the system builds")
PYEOF
}

install_horovod() {
    case ",$EXTRAS," in *,horovod,*) bash launch/build-horovod.sh ;; esac
}

install_apt
make_venv
pip_install
install_horovod
