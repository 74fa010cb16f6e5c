#!/usr/bin/env bash
# The MPI world at 2 and 3 real ranks (mpirun, oversubscribing the cores):
# every collective equals the canonical pairwise sum over ranks, bitwise, on
# every rank (at 4 ranks that tree differs from a left-to-right sum).
set -euo pipefail
driver="$TEST_SRCDIR/sam2_train_cpp/distributed/mpi_world_ranks_main"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Shared-memory and loopback transports only; no CMA (not allowed in every
# container), no binding (more ranks than cores).
mpi=(mpirun --oversubscribe --bind-to none --mca btl self,vader
  --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo)
for n in 2 3 4; do
  out="$TEST_TMPDIR/ranks_$n.log"
  if ! EXPECTED_WORLD_SIZE=$n timeout 120 "${mpi[@]}" -x EXPECTED_WORLD_SIZE \
      -np "$n" "$driver" > "$out" 2>&1; then
    cat "$out"; echo "FAIL at $n ranks"; exit 1
  fi
  for r in $(seq 0 $((n - 1))); do
    grep -q "rank $r of $n: ok" "$out" || { cat "$out"; exit 1; }
  done
done
echo PASS
