#!/bin/bash
# Slurm job: label candidate frames with CP2K (hpcml label), each frame its own
# `srun --exact` step inside this allocation (label.profile: slurm,
# launch/profiles/slurm.yaml).
#   cd HPCML_CHECKOUT && sbatch launch/jobs/slurm-label.sh CONFIG [hpcml label options]
# e.g. `inputs/label-pbe.yaml --candidates c.h5 --profile slurm`.  hpcml itself
# runs HPCML_RANKS (default 1) tasks in an `--overlap` step: it only hands out
# frames; CP2K runs of label.ranks_per_task x threads_per_task CPUs fill the
# allocation (at most CPUs / (ranks x threads) at once).  A time-out requeues
# the job; frames with a completion marker are not run again.
#SBATCH --job-name=hpcml-label
#SBATCH --nodes=2
#SBATCH --ntasks-per-node=32
#SBATCH --cpus-per-task=1
#SBATCH --time=04:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@300
#SBATCH --open-mode=append

set -euo pipefail
# shellcheck disable=SC1091
source "${HPCML_HOME:-${SLURM_SUBMIT_DIR:-.}}/launch/jobs/slurm-lib.sh"
hpcml_srun --overlap --ntasks="${HPCML_RANKS:-1}" --cpus-per-task=1 -- hpcml label "$@"
