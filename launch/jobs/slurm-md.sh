#!/bin/bash
# Slurm job: DPMD exploration (hpcml md) with a trained ensemble.
#   cd HPCML_CHECKOUT && sbatch launch/jobs/slurm-md.sh CONFIG [hpcml md options]
# e.g. `inputs/water-md.yaml --model runs/x/ensemble.pt --atoms 12288`.  Each
# walker's atoms are domain-decomposed over its share of the ranks; a
# time-out requeues the job and the walkers resume from their checkpoints.
#SBATCH --job-name=hpcml-md
#SBATCH --nodes=1
#SBATCH --ntasks=8
#SBATCH --cpus-per-task=1
#SBATCH --time=02:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@300
#SBATCH --open-mode=append

set -euo pipefail
# shellcheck disable=SC1091
source "${HPCML_HOME:-${SLURM_SUBMIT_DIR:-.}}/launch/jobs/slurm-lib.sh"
hpcml_srun -- hpcml md "$@"
