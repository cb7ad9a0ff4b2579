#!/bin/bash
# Slurm job: the concurrent-learning loop, by default liquid water with PBE-D3 labels
# (inputs/water-pbe.yaml).
#   cd HPCML_CHECKOUT && sbatch launch/jobs/slurm-water-pbe.sh [CONFIG [hpcml run options]]
# Edit the #SBATCH lines (or override them on the sbatch command line); see
# slurm-lib.sh for HPCML_* settings.  Ten minutes before the time limit Slurm
# sends TERM; the script ends hpcml's step and requeues the job, which resumes
# at the first unfinished stage from the journal in run.workdir (also after a
# plain re-submission).
#
# Layout: 4 nodes x 32 cores.  hpcml runs 16 ranks (4 per node) of 8 CPUs each
# (OMP_NUM_THREADS=8, matching parallel.threads_per_rank: 8 in the config):
# training splits them into 4 groups (one per ensemble member, data-parallel over
# 4 ranks), exploration deals the walkers over them.  Labeling starts each CP2K
# frame as its own `srun --exact` step of label.ranks_per_task = 32 ranks
# (launch/profiles/slurm.yaml); hpcml's own step is `--overlap`, so those steps
# get the cores its waiting ranks leave idle, and hpcml starts at most
# 128 / 32 = 4 steps at once (more would queue while label.timeout runs).
#SBATCH --job-name=hpcml-water-pbe
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@600
#SBATCH --open-mode=append

set -euo pipefail
# shellcheck disable=SC1091
source "${HPCML_HOME:-${SLURM_SUBMIT_DIR:-.}}/launch/jobs/slurm-lib.sh"
CONFIG=${1:-inputs/water-pbe.yaml}
[ $# -gt 0 ] && shift
hpcml_srun --overlap -- hpcml run "$CONFIG" "$@"
