#!/usr/bin/env bash
# test_twin_dp: data-parallel strata-twin-train under real mpirun, on /usr/share/common-licenses.
#   - bitwise: `mpirun -np 2 strata-twin-train --batch 4` prints the same loss lines and writes
#     a byte-identical checkpoint as twin_dp_ref (tests/collective/twin_dp_ref.c), which runs
#     the two ranks' slices in one process and averages their gradients as the MPI backend
#     does for two ranks: (g0 + g1) / 2, the same bits whatever the reduction order. The run
#     inherits STRATA_RANK=0 / STRATA_WORLD_SIZE=2, as under a Strata mpirun launch: were
#     that rank used, both ranks would read the same slice and the bits would differ;
#   - within tolerance: 1 rank with batch 2B gives the same update as 2 ranks with batch B
#     (and 3 ranks with B as 1 with 3B): every step's loss within 1e-5 relative, the final
#     parameters within 1e-3 in relative L2 norm (docs/twin-internals.md, "Data parallelism", says why
#     not bitwise and why these bounds);
#   - the comparisons can fail: twin_dp_ref with the allreduce skipped (rank 0's own
#     gradient) and with a sum instead of an average breaks both the bitwise and the
#     tolerance check;
#   - rank 0 alone prints and checkpoints (rank 1's own --checkpoint-dir stays absent);
#   - SIGTERM to rank 1 alone: both ranks stop after the same step, rank 0 checkpoints it,
#     mpirun exits 75, and `--resume` on 2 ranks continues line for line like an
#     uninterrupted 2-rank run;
#   - `--backend nccl` without a GPU exits 2 with "nccl backend: no CUDA device visible
#     (cudaGetDeviceCount: ...)"; STRATA_WORLD_SIZE=2 without mpirun exits 2.
# Needs no database. STRATA_BIN_DIR names the folder with strata-twin-train and twin_dp_ref.
# Sanitizer builds: leak checking stays on under mpirun too; Open MPI's own allocations are
# kept out of it by libstrata-collective (task/collective/lsan_mpi.c), and any sanitizer
# report fails the test.
. "$(dirname "$0")/lite.sh"
TRAIN=$ST_BIN/strata-twin-train
REF=$ST_BIN/twin_dp_ref
DATA=/usr/share/common-licenses
MPIRUN_PID=""

# A run still in the background (a failed check): mpirun and its ranks, by pid.
LITE_CLEANUP () {
    if [ -n "$MPIRUN_PID" ]; then
        kill -KILL "$MPIRUN_PID" $(pgrep -P "$MPIRUN_PID") 2>/dev/null
    fi
}

for b in "$TRAIN" "$REF"; do [ -x "$b" ] || fail "$b not built"; done
[ -d "$DATA" ] || fail "$DATA missing (package base-files)"
command -v mpirun >/dev/null || fail "mpirun missing (openmpi-bin; scripts/install-deps.sh)"

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
unset STRATA_RANK STRATA_WORLD_SIZE STRATA_LOCAL_RANK STRATA_RENDEZVOUS STRATA_CHECKPOINT_DIR RANK WORLD_SIZE

# A small model, and enough steps (16) that the gradient norm falls below the clipping
# threshold (1.0) for the last steps: while every step is clipped, a gradient scaled by a
# power of two (a sum instead of an average over 2 ranks) clips to the very same bits.
MODEL=(--data "$DATA" --seq 32 --layers 1 --dim 32 --heads 4 --lr 0.01 --seed 3)
STEPS=16
LOSS_TOL=1e-5
PARAM_TOL=1e-3

run () {
    local name=$1; shift
    set +e
    "$@" > "$T/$name.out" 2> "$T/$name.err"
    rc=$?
    set -e
}
expect_rc () {
    [ "$rc" -eq "$2" ] || { tail -n 20 "$T/$1.out" "$T/$1.err" >&2; fail "$1: exit $rc, want $2"; }
}
ckpt () { ls "$T/$1"/ckpt-*.bin 2>/dev/null | tail -n 1; }
losses () { awk '$1 == "step" { print $1, $2, $3, $4 } $1 == "val_loss"' "$T/$1.out"; }

# close_losses A B: every step's loss within LOSS_TOL relative, same number of steps.
close_losses () {
    paste <(losses "$1") <(losses "$2") | awk -v tol="$LOSS_TOL" -v n="$STEPS" '
        $1 == "step" { k++; if ($2 != $6) bad = 1; d = $4 - $8; if (d < 0) d = -d; r = d / $4; if (r > m) m = r }
        END { printf "max relative loss difference %.2e over %d steps\n", m, k; exit (bad || k != n || m > tol) }'
}
# close_params A B: relative L2 distance of the final parameters within PARAM_TOL.
close_params () {
    local line
    line=$("$REF" diff "$(ckpt "$1")" "$(ckpt "$2")") || return 2
    echo "$line"
    awk -v tol="$PARAM_TOL" '{ for (i = 1; i < NF; i++) if ($i == "l2_rel") exit ($(i + 1) > tol) }' <<< "$line"
}
same_bits () { cmp -s "$(ckpt "$1")" "$(ckpt "$2")" && [ "$(losses "$1")" = "$(losses "$2")" ]; }

# -- bitwise: 2 ranks against the one-process emulation ----------------------------------

run two env STRATA_RANK=0 STRATA_WORLD_SIZE=2 mpirun -np 2 "$TRAIN" "${MODEL[@]}" --steps $STEPS --batch 4 \
    --checkpoint-dir "$T/two"
expect_rc two 0
grep -q '2 ranks (mpi), batch 4 per rank, 8 in all' "$T/two.err" || fail "two: $(cat "$T/two.err")"
run ref "$REF" train "${MODEL[@]}" --steps $STEPS --world 2 --batch 4 --checkpoint-dir "$T/ref"
expect_rc ref 0
[ "$(losses two | grep -c '^step')" -eq $STEPS ] || fail "two: $(losses two | grep -c '^step') step lines, want $STEPS"
same_bits two ref || { diff <(losses two) <(losses ref) >&2 || true; fail "2 ranks differ from the emulation"; }
ok "mpirun -np 2 --batch 4 == one-process emulation, bit for bit ($STEPS loss lines and the checkpoint file)"

# -- within tolerance: 1 rank with batch 2B (3B) against 2 (3) ranks with batch B ----------

run one "$TRAIN" "${MODEL[@]}" --steps $STEPS --batch 8 --checkpoint-dir "$T/one"
expect_rc one 0
msg=$(close_losses one two) || fail "1 rank --batch 8 vs 2 ranks --batch 4: $msg"
ok "1 rank --batch 8 vs 2 ranks --batch 4: $msg (tolerance $LOSS_TOL)"
msg=$(close_params one two) || fail "1 rank --batch 8 vs 2 ranks --batch 4: $msg"
ok "1 rank --batch 8 vs 2 ranks --batch 4: final parameters $msg (tolerance l2_rel $PARAM_TOL)"

run three mpirun -np 3 "$TRAIN" "${MODEL[@]}" --steps $STEPS --batch 2 --checkpoint-dir "$T/three"
expect_rc three 0
run one6 "$TRAIN" "${MODEL[@]}" --steps $STEPS --batch 6 --checkpoint-dir "$T/one6"
expect_rc one6 0
msg=$(close_losses one6 three) || fail "1 rank --batch 6 vs 3 ranks --batch 2: $msg"
msg2=$(close_params one6 three) || fail "1 rank --batch 6 vs 3 ranks --batch 2: $msg2"
ok "1 rank --batch 6 vs 3 ranks --batch 2: $msg; $msg2"

# -- the comparisons see a broken reduction ---------------------------------------------

for bad in rank0 sum; do
    run "bad-$bad" "$REF" train "${MODEL[@]}" --steps $STEPS --world 2 --batch 4 --reduce "$bad" \
        --checkpoint-dir "$T/bad-$bad"
    expect_rc "bad-$bad" 0
    ! same_bits two "bad-$bad" || fail "--reduce $bad gives the same bits as the real run"
    ! msg=$(close_losses one "bad-$bad") || fail "--reduce $bad passes the loss tolerance: $msg"
    ! msg2=$(close_params one "bad-$bad") || fail "--reduce $bad passes the parameter tolerance: $msg2"
    ok "a reduction that $([ $bad = sum ] && echo 'sums instead of averaging' || echo 'is skipped') fails all three checks ($msg; $msg2)"
done

# -- SIGTERM to rank 1 alone; rank 0 alone writes -------------------------------------------

# Each rank gets its own --checkpoint-dir (DIR.RANK): rank 1's must never appear.
per_rank () {
    local dir=$1; shift
    exec mpirun -np 2 sh -c 'exec "$@" --checkpoint-dir "'"$dir"'.$OMPI_COMM_WORLD_RANK"' sh "$TRAIN" "$@"
}
(per_rank "$T/sig" "${MODEL[@]}" --steps 1000000 --batch 2) > "$T/sig.out" 2> "$T/sig.err" &
MPIRUN_PID=$!                           # mpirun itself (exec); the ranks are its children
# Waits below are bounded liveness guards (a hung run fails the test), not timing checks.
for _ in $(seq 3000); do
    grep -q '^step 5 ' "$T/sig.out" && break
    kill -0 "$MPIRUN_PID" 2>/dev/null || break
    sleep 0.01
done
grep -q '^step 5 ' "$T/sig.out" || fail "the 2-rank run never printed step 5: $(tail -n 5 "$T/sig.err")"
rank1=""
for p in $(pgrep -P "$MPIRUN_PID"); do
    tr '\0' '\n' < "/proc/$p/environ" 2>/dev/null | grep -qx 'OMPI_COMM_WORLD_RANK=1' && rank1=$p
done
[ -n "$rank1" ] || fail "cannot find rank 1 among mpirun's children"
kill -TERM "$rank1"
for _ in $(seq 600); do kill -0 "$MPIRUN_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$MPIRUN_PID" 2>/dev/null && fail "SIGTERM to rank 1: the ranks did not stop within 60 s"
set +e; wait "$MPIRUN_PID"; rc=$?; set -e
MPIRUN_PID=""
expect_rc sig 75
last=$(awk '$1 == "step" { n = $2 } END { print n }' "$T/sig.out")
grep -q "stopped by signal at step $last (every rank); exit 75" "$T/sig.err" \
    || fail "sig: no 'stopped by signal at step $last' line: $(tail -n 3 "$T/sig.err")"
[ -e "$T/sig.1" ] && fail "rank 1 created its checkpoint directory"
saved=$(ckpt sig.0)
[ "$(basename "$saved")" = "$(printf 'ckpt-%012d.bin' "$last")" ] \
    || fail "rank 0's checkpoint is $(basename "${saved:-none}"), the last step printed $last"
ok "SIGTERM to rank 1 alone: both ranks stopped after step $last, rank 0 checkpointed it, rank 1 wrote nothing, exit 75"

total=$((last + 4))
run resumed bash -c "$(declare -f per_rank); TRAIN='$TRAIN'; per_rank \"\$@\"" sh "$T/sig" "${MODEL[@]}" \
    --steps $total --batch 2 --resume
expect_rc resumed 0
[ -e "$T/sig.1" ] && fail "rank 1 created its checkpoint directory on resume"
run straight mpirun -np 2 "$TRAIN" "${MODEL[@]}" --steps $total --batch 2 --checkpoint-dir "$T/straight"
expect_rc straight 0
want=$(losses straight | awk -v l="$last" '$1 != "step" || $2 > l')
[ "$(losses resumed)" = "$want" ] || { diff <(losses resumed) <(echo "$want") >&2 || true; fail "resumed 2-rank run differs"; }
cmp -s "$(ckpt sig.0)" "$(ckpt straight)" || fail "resumed and uninterrupted checkpoints differ"
ok "--resume on 2 ranks: steps $((last + 1))..$total and val_loss as an uninterrupted 2-rank run, checkpoint bit for bit"

# -- refusals -------------------------------------------------------------------------------

run nccl "$TRAIN" "${MODEL[@]}" --steps 2 --batch 2 --checkpoint-dir "$T/nccl" --backend nccl
expect_rc nccl 2
if grep -q 'nccl backend: not built' "$T/nccl.err"; then
    ok "--backend nccl in a build without NCCL: exit 2, $(cat "$T/nccl.err")"
elif grep -q 'this trainer runs on the CPU' "$T/nccl.err"; then
    ok "--backend nccl with a GPU: exit 2, the CPU trainer refuses device buffers"
else
    grep -q '^strata-twin-train: nccl backend: no CUDA device visible (cudaGetDeviceCount: ' "$T/nccl.err" \
        || fail "--backend nccl: $(cat "$T/nccl.err")"
    [ "$(grep -c . "$T/nccl.err")" -eq 1 ] || fail "--backend nccl: more than one line: $(cat "$T/nccl.err")"
    ok "--backend nccl without a GPU: exit 2, $(cat "$T/nccl.err")"
fi
[ -e "$T/nccl" ] && fail "--backend nccl created the checkpoint directory"

run lonely env STRATA_RANK=0 STRATA_WORLD_SIZE=2 "$TRAIN" "${MODEL[@]}" --steps 2 --checkpoint-dir "$T/lonely"
expect_rc lonely 2
grep -q 'no backend for rank 0 of 2' "$T/lonely.err" || fail "lonely: $(cat "$T/lonely.err")"
ok "STRATA_WORLD_SIZE=2 without mpirun: exit 2, $(cat "$T/lonely.err")"
