#!/usr/bin/env bash
# Unused-parameter semantics and the finite vote on 2 real ranks (mpirun).
set -euo pipefail
driver="$TEST_SRCDIR/sam2_train_cpp/sam2/training/loop/trainer_ranks_main"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
out="$TEST_TMPDIR/ranks.log"
if ! timeout 120 mpirun --oversubscribe --bind-to none --mca btl self,vader \
    --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo \
    -np 2 "$driver" "$TEST_TMPDIR" > "$out" 2>&1; then
  cat "$out"; exit 1
fi
grep -q "rank 0: ok" "$out" && grep -q "rank 1: ok" "$out" || { cat "$out"; exit 1; }
grep -q "non-finite loss at step 1 .*videos on another rank" "$TEST_TMPDIR/rank0/log.txt" || {
  cat "$TEST_TMPDIR/rank0/log.txt"; exit 1; }
echo PASS
