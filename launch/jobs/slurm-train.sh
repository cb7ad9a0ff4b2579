#!/bin/bash
# Slurm job: train an ensemble (hpcml train), members data-parallel over the ranks.
#   cd HPCML_CHECKOUT && sbatch launch/jobs/slurm-train.sh CONFIG [hpcml train options]
# e.g. `inputs/water-train.yaml --steps 100000`.  With n_models members and N
# tasks each member trains on N / n_models ranks; a time-out requeues the job
# and training resumes from each member's checkpoint.pt.
#SBATCH --job-name=hpcml-train
#SBATCH --nodes=1
#SBATCH --ntasks=4
#SBATCH --cpus-per-task=2
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@300
#SBATCH --open-mode=append

set -euo pipefail
# shellcheck disable=SC1091
source "${HPCML_HOME:-${SLURM_SUBMIT_DIR:-.}}/launch/jobs/slurm-lib.sh"
hpcml_srun -- hpcml train "$@"
