#!/bin/bash
# Slurm job: concurrent learning of liquid water with PBE-D3 labels
# (inputs/water-pbe.yaml).  Copy, then edit the #SBATCH lines and modules for
# your site.  Submit it again (or let it requeue) after a time-out: the run
# resumes at the first unfinished stage from the journal in runs/water-pbe.
#
# Layout: 4 nodes x 32 cores.  hpcml runs 16 ranks (4 per node): training splits
# them into 4 groups (one per ensemble member, data-parallel over 4 ranks),
# exploration into 16 walkers' worth of ranks, and labeling starts each CP2K
# frame as its own `srun --exact` step of label.ranks_per_task = 32 ranks, so
# CP2K gets the cores hpcml's ranks leave idle while they wait.
#SBATCH --job-name=hpcml-water-pbe
#SBATCH --nodes=4
#SBATCH --ntasks-per-node=4
#SBATCH --cpus-per-task=8
#SBATCH --time=24:00:00
#SBATCH --requeue
#SBATCH --signal=B:TERM@300

set -euo pipefail
module load openmpi hdf5/parallel cp2k python/3.11 2>/dev/null || true
cd "${SLURM_SUBMIT_DIR:-.}"
source .venv/bin/activate
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMP_WAIT_POLICY=PASSIVE        # waiting ranks must not spin on the cores CP2K uses
export OMPI_MCA_mpi_yield_when_idle=1
# hpcml's own ranks: `--overlap` leaves the allocation's cores usable by the CP2K steps
srun --overlap --ntasks=$((SLURM_NNODES * 4)) hpcml run inputs/water-pbe.yaml
hpcml report runs/water-pbe
