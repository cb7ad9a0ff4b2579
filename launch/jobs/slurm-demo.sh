#!/bin/bash
# Slurm job template: the hpcml demo on one node.  Copy, then edit the
# #SBATCH lines and module names for your site.
#SBATCH --job-name=hpcml-demo
#SBATCH --nodes=1
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=1
#SBATCH --time=00:15:00

set -euo pipefail
module load openmpi hdf5/parallel python/3.11 2>/dev/null || true
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
source .venv/bin/activate
srun hpcml demo
