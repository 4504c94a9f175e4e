#!/usr/bin/env bash
# Runs a program on N MPI ranks of this machine: `mpi_run.sh N PROGRAM ARGS...`, or, sourced, defines mpi_launch
# (an array: the launcher and its options) for the other MPI test scripts. Open MPI needs --oversubscribe for more
# ranks than cores, and as root its two opt-in variables; MPICH's mpiexec needs neither. With no launcher on
# PATH the test is skipped (77): the build found MPI's headers, but the machine cannot run a job.
mpi_setup() {
    local launcher
    launcher=$(command -v mpirun || command -v mpiexec || true)
    if [[ -z $launcher ]]; then
        echo "SKIPPED: no mpirun or mpiexec on PATH (Debian: apt-get install openmpi-bin)"
        exit 77
    fi
    mpi_launch=("$launcher")
    # Open MPI never frees much of what MPI_Init allocates (some of it in components it has unloaded by then),
    # so under AddressSanitizer (scripts/test.sh's sanitizer stage) LeakSanitizer would fail every MPI program.
    # Leaks stay off for these processes only; the reduction's code is leak-checked without MPI (test_reduce).
    export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"
    if "$launcher" --version 2>&1 | grep -q "Open MPI"; then
        mpi_launch+=(--oversubscribe)
        export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
        # One rank per core at most here; the shared-memory transport alone, so no network is touched.
        export OMPI_MCA_btl=self,vader OMPI_MCA_btl_vader_single_copy_mechanism=none
    fi
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    set -euo pipefail
    mpi_setup
    n=$1
    shift
    exec "${mpi_launch[@]}" -np "$n" "$@"
fi
