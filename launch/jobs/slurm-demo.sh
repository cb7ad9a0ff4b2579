#!/bin/bash
# Slurm job: the hpcml demo (the whole concurrent-learning loop, small) on one node.
#   cd HPCML_CHECKOUT && sbatch launch/jobs/slurm-demo.sh [hpcml demo options]
# e.g. `--config my.yaml --workdir runs/x`.  Edit the #SBATCH lines (or override
# them on the sbatch command line) and see slurm-lib.sh for HPCML_* settings.
# A time-out requeues the job and the demo resumes from its journal.
#SBATCH --job-name=hpcml-demo
#SBATCH --nodes=1
#SBATCH --ntasks=2
#SBATCH --cpus-per-task=1
#SBATCH --time=00:30:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@120
#SBATCH --open-mode=append

set -euo pipefail
# shellcheck disable=SC1091
source "${HPCML_HOME:-${SLURM_SUBMIT_DIR:-.}}/launch/jobs/slurm-lib.sh"
hpcml_srun -- hpcml demo "$@"
