# Sourced by the Slurm templates in this folder (not a job itself).
#
#   HPCML_HOME       the hpcml checkout (default: the directory sbatch ran in)
#   HPCML_VENV       its virtual environment (default $HPCML_HOME/.venv)
#   HPCML_SRUN_MPI   srun --mpi plugin for hpcml's ranks (default pmix: Open MPI 4/5;
#                    pmi2 for MPICH, cray_shasta on HPE/Cray; `srun --mpi=list`)
#   HPCML_MODULES    modules to load first (e.g. "openmpi hdf5/parallel python/3.11")
#   HPCML_MAX_REQUEUE  requeues after a time-out before the job gives up (default 20)
#
# Threads: OMP_NUM_THREADS = the CPUs per task (sbatch -c), which hpcml takes
# over parallel.threads_per_rank (docs/parallel.md#threads).  Time limit: with
# `--signal=B:TERM@SECONDS` Slurm sends TERM to this script SECONDS before the
# limit; hpcml_srun ends its step, then `scontrol requeue` puts the job back in
# the queue, and the next start resumes (hpcml run: from the journal; train,
# md, label: from their checkpoints and completion markers).

: "${HPCML_HOME:=${SLURM_SUBMIT_DIR:-$PWD}}"
: "${HPCML_VENV:=$HPCML_HOME/.venv}"
: "${HPCML_SRUN_MPI:=pmix}"
if [ -n "${HPCML_MODULES:-}" ]; then
    # shellcheck disable=SC2086
    module load $HPCML_MODULES
fi
# shellcheck disable=SC1091
source "$HPCML_VENV/bin/activate"
export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}
export OMP_WAIT_POLICY=PASSIVE           # waiting ranks must not spin on cores others use
export OMPI_MCA_mpi_yield_when_idle=1
export PYTHONUNBUFFERED=1
HPCML_STEP_PID=

hpcml_say() { echo "[hpcml job ${SLURM_JOB_ID:-?} $(date +%T)] $*"; }

# On the time-limit signal: end the running step, then requeue (once per signal).
hpcml_requeue() {
    trap '' TERM
    hpcml_say "TERM: time limit near; ending the step and requeueing" \
        "(restart ${SLURM_RESTART_COUNT:-0})"
    if [ -n "$HPCML_STEP_PID" ]; then
        kill -TERM "$HPCML_STEP_PID" 2>/dev/null || true   # srun ends its tasks
        wait "$HPCML_STEP_PID" 2>/dev/null || true
    fi
    if [ "${SLURM_RESTART_COUNT:-0}" -lt "${HPCML_MAX_REQUEUE:-20}" ]; then
        scontrol requeue "$SLURM_JOB_ID"
    else
        hpcml_say "requeued ${SLURM_RESTART_COUNT} times already: not again"
    fi
    exit 143
}
trap hpcml_requeue TERM

# hpcml_srun [SRUN OPTIONS] -- COMMAND...: one job step over the job's tasks, each
# with SLURM_CPUS_PER_TASK CPUs, wired by $HPCML_SRUN_MPI; run in the background so
# that the TERM trap fires while it runs.
hpcml_srun() {
    local opts=()
    while [ $# -gt 0 ] && [ "$1" != -- ]; do opts+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    srun --mpi="$HPCML_SRUN_MPI" --ntasks="${SLURM_NTASKS:-1}" \
        --cpus-per-task="${SLURM_CPUS_PER_TASK:-1}" --kill-on-bad-exit=1 \
        "${opts[@]}" "$@" &
    HPCML_STEP_PID=$!
    local rc=0
    wait "$HPCML_STEP_PID" || rc=$?
    HPCML_STEP_PID=
    return "$rc"
}

hpcml_say "$(hpcml --version 2>&1 | head -1) on ${SLURM_JOB_NUM_NODES:-1} node(s)," \
    "${SLURM_NTASKS:-1} task(s) x ${SLURM_CPUS_PER_TASK:-1} CPU(s), restart" \
    "${SLURM_RESTART_COUNT:-0}, in $PWD"
