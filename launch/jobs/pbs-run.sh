#!/bin/bash
# PBS Pro job: the concurrent-learning loop (hpcml run).  Checked by reading only
# (no PBS in the tests; the Slurm templates are tested: docs/slurm.md).
#   cd HPCML_CHECKOUT && qsub -v CONFIG=inputs/water-pbe.yaml launch/jobs/pbs-run.sh
# Layout as slurm-water-pbe.sh: 4 nodes x 32 cores, 4 hpcml ranks per node with 8
# threads each; CP2K tasks with label.profile: pbs (launch/profiles/pbs.yaml).
# PBS sends no signal before the walltime: after a time-out submit the same job
# again and the run resumes from its journal.  The mpiexec options are Cray PALS'
# (--ppn, --depth, --cpu-bind); with Open MPI use
#   mpirun -n $NRANKS --map-by ppr:4:node:PE=8 hpcml run "$CONFIG"
#PBS -N hpcml-run
#PBS -l select=4:ncpus=32:mpiprocs=4:ompthreads=8
#PBS -l walltime=24:00:00
#PBS -r y
#PBS -j oe

set -euo pipefail
cd "$PBS_O_WORKDIR"
# shellcheck disable=SC1091
source "${HPCML_VENV:-.venv}/bin/activate"
CONFIG=${CONFIG:-inputs/water-pbe.yaml}
NRANKS=$(wc -l < "$PBS_NODEFILE")         # one line per MPI process (mpiprocs)
export OMP_NUM_THREADS=8 OMP_WAIT_POLICY=PASSIVE
mpiexec -n "$NRANKS" --ppn 4 --depth 8 --cpu-bind depth hpcml run "$CONFIG"
