#!/bin/bash
# Plain mpirun job: the hpcml demo on N ranks of this machine.
# Usage: launch/jobs/mpirun-demo.sh [N]
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${1:-2}
export OMP_NUM_THREADS=1 OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
exec timeout 900 mpirun --oversubscribe -n "$N" .venv/bin/hpcml demo
