#!/usr/bin/env bash
# //jobs:train under `mpirun -np 2`: the job finds the MPI world (log line
# "World: 2 ranks"), each rank reads its half of the epoch (4 videos: 2 steps
# of 1 video per rank), gradients are averaged, rank 0 checkpoints.
# (The multi-process semantics of the trainer are still being built; this
# checks that the ranks start, agree and finish.)
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
train="$root/jobs/train"
run="$TEST_TMPDIR/run"
head -4 "$root/configs/assets/demo_vos/file_list.txt" > "$TEST_TMPDIR/four.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
if ! timeout 300 mpirun --oversubscribe --bind-to none --mca btl self,vader \
    --mca btl_vader_single_copy_mechanism none -np 2 "$train" --config=demo \
    --set="launcher { gpus_per_node: 2 }" \
    --set="launcher { experiment_log_dir: \"$run\" }" \
    --set='trainer { max_epochs: 1 }' \
    --set="data { train { num_workers: 1 datasets { concat { png { file_list_txt: \"$TEST_TMPDIR/four.txt\" } } } } }" \
    > "$TEST_TMPDIR/out.log" 2>&1; then
  cat "$TEST_TMPDIR/out.log"; echo "mpirun -np 2 train failed"; exit 1
fi
grep -q "World: 2 ranks (1 node, MPI)" "$run/logs/log.txt"
grep -q "Train Epoch: \[0\]\[2/2\]" "$run/logs/log.txt" || grep -q "over 2 steps" "$run/logs/log.txt"
test -f "$run/checkpoints/checkpoint.pt"
echo PASS
