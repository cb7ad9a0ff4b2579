#!/bin/bash
# Slurm job: a PETSc-distributed kinetic solve (hpcml kinetic).
#   cd HPCML_CHECKOUT && sbatch launch/jobs/slurm-kinetic.sh CONFIG [options] [-kinetic_* PETSc options]
# e.g. `inputs/sod-bgk.yaml --nx 100000 --out sod.h5`.  The cells are split over
# the ranks; the solve does not resume (a time-out ends it: ask for enough time).
#SBATCH --job-name=hpcml-kinetic
#SBATCH --nodes=1
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=1
#SBATCH --time=01:00:00

set -euo pipefail
# shellcheck disable=SC1091
source "${HPCML_HOME:-${SLURM_SUBMIT_DIR:-.}}/launch/jobs/slurm-lib.sh"
hpcml_srun -- hpcml kinetic "$@"
