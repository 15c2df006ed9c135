#!/usr/bin/env bash
# test_collective: libstrata-collective with real processes and real Open MPI.
#   - under `mpirun -np 1`, `2` and `3` (tests/collective/collective_check.c): allreduce sum and
#     average of rank-dependent data of 0, 1, 7, 4097 and 1 Mi floats, compared exactly on
#     every rank; broadcast of 0, 1, 4097 and 1 MiB + 3 bytes from root 0 and from the last
#     rank; sc_agree_max; a barrier that no rank passes before every rank reached it (the last
#     rank arrives 200 ms late; after the barrier each rank must see every rank's `before`
#     line in a shared file, and no `after` line may precede a `before` line);
#   - ranks: MPI's rank and size win over an inherited STRATA_RANK/STRATA_WORLD_SIZE under
#     mpirun; alone, STRATA_RANK/STRATA_WORLD_SIZE, or a world of one (backend self, and the
#     checks pass there too); `--backend mpi` alone is MPI's singleton world; bad or
#     contradictory variables fail with one line;
#   - backend choice: auto falls back to mpi on this GPU-less machine, saying so on stderr
#     once (rank 0) only with --verbose; `--backend nccl` exits non-zero with
#     "nccl backend: no CUDA device visible (cudaGetDeviceCount: ...)" (or "not built" in a
#     build without NCCL), alone and under mpirun.
# The NCCL data path needs a GPU: this test says SKIP for it where none is visible.
# Needs no database. STRATA_BIN_DIR names the folder with collective_check.
#
# Sanitizer builds: leak checking stays on, under mpirun too. Open MPI keeps what MPI_Init
# allocates until exit, in components it unloads before LeakSanitizer looks ("<unknown
# module>"), so libstrata-collective keeps those allocations out of leak checking itself
# (task/collective/lsan_mpi.c and collective.c say how); a leak of ours is still reported,
# and any sanitizer report fails the test.
. "$(dirname "$0")/lite.sh"
CHECK=$ST_BIN/collective_check

[ -x "$CHECK" ] || fail "$CHECK not built"
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin; scripts/install-deps.sh)"

# As root, Open MPI wants both variables; --oversubscribe lets 3 ranks share 2 cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Keep the caller's rank variables out of the cases that do not set them on purpose.
unset STRATA_RANK STRATA_WORLD_SIZE STRATA_LOCAL_RANK STRATA_RENDEZVOUS RANK WORLD_SIZE

# run NAME CMD...: CMD > $T/NAME.out 2> $T/NAME.err; sets $rc (never exits on failure).
run () {
    local name=$1; shift
    set +e
    "$@" > "$T/$name.out" 2> "$T/$name.err"
    rc=$?
    set -e
}
mpi () { local np=$1; shift; mpirun --oversubscribe -np "$np" "$@"; }
expect_rc () {
    [ "$rc" -eq "$2" ] || { cat "$T/$1.out" "$T/$1.err" >&2; fail "$1: exit $rc, want $2"; }
}

# -- the data operations, exactly, on 1, 2 and 3 ranks -------------------------------

for np in 1 2 3; do
    run "np$np" mpi "$np" "$CHECK" all "$T/barrier$np.txt"
    expect_rc "np$np" 0
    for what in "allreduce ok" "broadcast ok" "agree ok" "barrier ok"; do
        n=$(grep -c "^rank [0-9]*: $what" "$T/np$np.out" || true)
        [ "$n" -eq "$np" ] || { cat "$T/np$np.out" "$T/np$np.err" >&2; fail "np $np: $n ranks say '$what', want $np"; }
    done
    n=$(grep -c "size $np backend mpi\$" "$T/np$np.out" || true)
    [ "$n" -eq "$np" ] || fail "np $np: $n ranks report 'size $np backend mpi'"
    for r in $(seq 0 $((np - 1))); do
        grep -q "^rank $r size $np " "$T/np$np.out" || fail "np $np: no rank $r"
    done
    # Every `before` line precedes every `after` line, and each rank wrote one of each.
    order=$(awk '{ print $1 }' "$T/barrier$np.txt" | uniq | tr '\n' ' ')
    [ "$order" = "before after " ] || fail "np $np: barrier file out of order: $(tr '\n' '|' < "$T/barrier$np.txt")"
    [ "$(wc -l < "$T/barrier$np.txt")" -eq $((2 * np)) ] || fail "np $np: barrier file has $(wc -l < "$T/barrier$np.txt") lines"
    ok "mpirun -np $np: allreduce sum/avg (0, 1, 7, 4097, 1 Mi floats), broadcast (roots 0 and $((np - 1))), agree, barrier order"
done

# -- who the ranks are ------------------------------------------------------------------

# A Strata mpirun launch: every process inherits rank 0's STRATA_RANK; MPI's rank wins.
run inherit env STRATA_RANK=0 STRATA_WORLD_SIZE=3 mpirun -np 3 "$CHECK" agree
expect_rc inherit 0
[ "$(grep -c '^rank [012] size 3 backend mpi$' "$T/inherit.out")" -eq 3 ] \
    && [ "$(grep '^rank [012] size' "$T/inherit.out" | sort -u | wc -l)" -eq 3 ] \
    || { cat "$T/inherit.out" >&2; fail "under mpirun the ranks are not MPI's (STRATA_RANK=0 inherited)"; }
ok "under mpirun MPI's ranks 0, 1, 2 win over an inherited STRATA_RANK=0"

# Alone: a world of one without any library, and every check still holds.
run alone "$CHECK" all "$T/barrier-alone.txt"
expect_rc alone 0
grep -q '^rank 0 size 1 backend self$' "$T/alone.out" || fail "alone: $(head -1 "$T/alone.out")"
[ "$(grep -c ': .* ok' "$T/alone.out")" -eq 4 ] || fail "alone: not every check passed"
ok "alone: a world of one (backend self), all checks pass"

run alone-env env STRATA_RANK=0 STRATA_WORLD_SIZE=1 "$CHECK" info
expect_rc alone-env 0
grep -q '^rank 0 size 1 backend self$' "$T/alone-env.out" || fail "STRATA_WORLD_SIZE=1: $(cat "$T/alone-env.out")"

run singleton env "$CHECK" --backend mpi all "$T/barrier-singleton.txt"
expect_rc singleton 0
grep -q '^rank 0 size 1 backend mpi$' "$T/singleton.out" || fail "--backend mpi alone: $(head -1 "$T/singleton.out")"
ok "--backend mpi alone: MPI's singleton world, all checks pass"

# expect_error NAME WANT CMD...: CMD exits 3 with exactly one stderr line containing WANT.
expect_error () {
    local name=$1 want=$2; shift 2
    run "$name" "$@"
    expect_rc "$name" 3
    grep -qF -- "$want" "$T/$name.err" || { cat "$T/$name.err" >&2; fail "$name: stderr lacks '$want'"; }
    [ "$(grep -c . "$T/$name.err")" -eq 1 ] || { cat "$T/$name.err" >&2; fail "$name: more than one line on stderr"; }
    ok "$name: $(cat "$T/$name.err")"
}
expect_error world-no-launcher "no backend for rank 1 of 2: mpi needs the ranks started by mpirun" \
    env STRATA_RANK=1 STRATA_WORLD_SIZE=2 "$CHECK" info
expect_error mpi-no-launcher "mpi backend: STRATA_WORLD_SIZE is 2 but this process was not started by mpirun" \
    env STRATA_RANK=1 STRATA_WORLD_SIZE=2 "$CHECK" --backend mpi info
expect_error rank-missing "STRATA_WORLD_SIZE is 2 but STRATA_RANK is not set" env STRATA_WORLD_SIZE=2 "$CHECK" info
expect_error rank-bad "STRATA_RANK 2 is not below STRATA_WORLD_SIZE 2" env STRATA_RANK=2 STRATA_WORLD_SIZE=2 "$CHECK" info
expect_error rank-junk "STRATA_RANK='x' is not an integer" env STRATA_RANK=x STRATA_WORLD_SIZE=2 "$CHECK" info

# -- backend choice and NCCL -------------------------------------------------------------

run features "$CHECK" features
expect_rc features 0
nccl_built=0
grep -q '^nccl built$' "$T/features.out" && nccl_built=1
info "$(cat "$T/features.out")"

# Is a GPU visible? Only then may nccl work; the probe is the library's own answer.
run probe "$CHECK" --backend nccl info
gpu=0
[ "$rc" -eq 0 ] && gpu=1

if [ $gpu -eq 0 ]; then
    if [ $nccl_built -eq 1 ]; then
        want="nccl backend: no CUDA device visible (cudaGetDeviceCount: "
    else
        want="nccl backend: not built into this libstrata-collective"
    fi
    expect_error nccl-alone "$want" "$CHECK" --backend nccl info
    run nccl-mpi mpi 2 "$CHECK" --backend nccl info
    [ "$rc" -ne 0 ] || fail "--backend nccl under mpirun -np 2 succeeded without a GPU"
    # mpirun kills the other ranks once one exits non-zero, so not every rank may get to say it.
    grep -qF "collective_check: $want" "$T/nccl-mpi.err" \
        || { cat "$T/nccl-mpi.err" >&2; fail "--backend nccl under mpirun: nobody said '$want'"; }
    ! grep -q backend "$T/nccl-mpi.out" || fail "--backend nccl under mpirun: a rank got a communicator"
    ok "--backend nccl under mpirun -np 2: refused with the same line, no rank got a communicator, exit $rc"

    # auto falls back to mpi: one line from rank 0 with --verbose, nothing without.
    run auto-verbose mpi 2 "$CHECK" --verbose info
    expect_rc auto-verbose 0
    [ "$(grep -c 'backend mpi$' "$T/auto-verbose.out")" -eq 2 ] || fail "auto did not pick mpi"
    n=$(grep -c '^collective: auto: nccl: .*; using mpi$' "$T/auto-verbose.err" || true)
    [ "$n" -eq 1 ] || { cat "$T/auto-verbose.err" >&2; fail "auto --verbose said the fallback $n times, want once"; }
    run auto-quiet mpi 2 "$CHECK" info
    expect_rc auto-quiet 0
    ! grep -q '^collective:' "$T/auto-quiet.err" || { cat "$T/auto-quiet.err" >&2; fail "auto without --verbose spoke"; }
    ok "auto: falls back to mpi; says so once with --verbose ($(cat "$T/auto-verbose.err")), silent without"
    echo "SKIP: no GPU: NCCL allreduce not exercised"
else
    # A GPU: the same exact checks through device buffers on one rank (NCCL refuses two
    # ranks on one GPU, so -np 2 needs two).
    run nccl-np1 mpi 1 "$CHECK" --backend nccl all "$T/barrier-nccl.txt"
    expect_rc nccl-np1 0
    grep -q 'backend nccl$' "$T/nccl-np1.out" || fail "nccl: $(head -1 "$T/nccl-np1.out")"
    ok "nccl on one GPU: allreduce, broadcast, agree, barrier through device memory"
fi
