#!/usr/bin/env bash
# A trajectory that does not depend on the world size: //jobs:train on 8 demo
# videos, 4 micro-batch slots per step, trains bitwise the same model as
#   1 process x 4 accumulation steps, 2 ranks x 2, 4 ranks x 1;
# a checkpoint of 2 ranks x 2 resumes on 1 process x 4 and ends bitwise where
# the uninterrupted run ends; a resume that changes ranks x accumulation is
# refused; ranks started with different configs stop with a message naming
# the difference; a lone process started for 2 GPUs gets the mpirun command.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
train="$root/jobs/train"
ckpt_tool="$root/sam2/checkpoint/checkpoint_main"
tmp="$TEST_TMPDIR"
head -8 "$root/configs/assets/demo_vos/file_list.txt" > "$tmp/eight.txt"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(timeout 300 mpirun --oversubscribe --bind-to none --mca btl self,vader
  --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo)
common=(--config=demo
  --set="data { train { num_workers: 1 datasets { concat { png { file_list_txt: \"$tmp/eight.txt\" } } } } }"
  --set='trainer { max_epochs: 2 } logging { log_freq: 1 }')

# run NAME RANKS ACCUMULATION [extra args...]
run() {
  local name=$1 ranks=$2 acc=$3; shift 3
  local args=("${common[@]}"
    --set="launcher { experiment_log_dir: \"$tmp/$name\" gpus_per_node: $ranks }"
    --set="optim { gradient_accumulation_steps: $acc }" "$@")
  if [[ $ranks == 1 ]]; then
    "$train" "${args[@]}" > "$tmp/$name.out" 2>&1
  else
    "${mpi[@]}" -np "$ranks" "$train" "${args[@]}" > "$tmp/$name.out" 2>&1
  fi
}
export_model() {
  "$ckpt_tool" export --input="$tmp/$1/checkpoints/checkpoint.pt" \
    --output="$tmp/$1.model.pt" > /dev/null
}
same() {
  cmp "$tmp/$1.model.pt" "$tmp/$2.model.pt" || {
    echo "FAIL: $2 trained other weights than $1"; exit 1; }
  echo "same weights: $1 == $2 (md5 $(md5sum < "$tmp/$1.model.pt" | cut -c1-12))"
}
must() { "$@" || { echo "FAIL: $*"; cat "$tmp"/*.out; exit 1; }; }

must run w1a4 1 4
must run w2a2 2 2
must run w4a1 4 1
for r in w1a4 w2a2 w4a1; do export_model "$r"; done
grep -q "Train Epoch: \[1\]\[2/2\] step 4" "$tmp/w1a4/logs/log.txt"
grep -q "World: 4 ranks (1 node, MPI)" "$tmp/w4a1/logs/log.txt"
grep -q "4 x 1 = 4 micro-batch slots per step" "$tmp/w4a1/logs/log.txt"
same w1a4 w2a2
same w1a4 w4a1

# 2 ranks == 1 process with accumulation 2; and the test can fail: another
# number of slots trains another model.
must run w1a2 1 2
must run w2a1 2 1
export_model w1a2
export_model w2a1
same w1a2 w2a1
if cmp -s "$tmp/w1a4.model.pt" "$tmp/w1a2.model.pt"; then
  echo "FAIL: 2 and 4 slots per step trained the same weights"; exit 1
fi

# Preempted after 3 steps (mid-epoch) on 2 ranks x 2, resumed on 1 process
# x 4.
must run moved 2 2 --set='checkpoint { save_every_steps: 1 }' --stop_after_steps=3
grep -q "Saved .*step 3" "$tmp/moved/logs/log.txt"
cp "$tmp/moved/checkpoints/checkpoint.pt" "$tmp/moved/checkpoints/checkpoint_moved_at_3.pt"
must run moved 1 4 --set='checkpoint { save_every_steps: 1 }'
grep -q "was written by 2 rank(s) x 2 accumulation step(s); continuing on 1 rank(s) x 4" \
  "$tmp/moved/logs/log.txt"
export_model moved
same w1a4 moved

# Changing ranks x accumulation on resume is refused (the checkpoint recorded
# the world that wrote it) ...
if run moved_again 1 1 --set="checkpoint { resume_from: \"$tmp/w2a2/checkpoints/checkpoint.pt\" }"; then
  echo "FAIL: a resume from 4 to 1 slots per step was accepted"; exit 1
fi
grep -q "4 micro-batch slots per step, a global batch of 4), this run has 1 rank(s) x 1" "$tmp/moved_again.out"
grep -q "allow_global_batch_change" "$tmp/moved_again.out"
# ... unless allowed (the position in the epoch is rescaled).
must run moved_again 1 1 --set="checkpoint { resume_from: \"$tmp/moved/checkpoints/checkpoint_moved_at_3.pt\" allow_global_batch_change: true }"
grep -q "allowed by checkpoint.allow_global_batch_change); position in epoch 1: step 1 of 4 slots -> step 4 of 1" "$tmp/moved_again/logs/log.txt"
grep -q "Train Epoch: \[1\]\[5/8\]" "$tmp/moved_again/logs/log.txt"

# Ranks with different configs stop before training, every one of them.
set +e
"${mpi[@]}" -np 1 "$train" "${common[@]}" \
    --set="launcher { experiment_log_dir: \"$tmp/differ\" gpus_per_node: 2 }" : \
  -np 1 "$train" "${common[@]}" \
    --set="launcher { experiment_log_dir: \"$tmp/differ\" gpus_per_node: 2 }" \
    --set='trainer { seed_value: 7 }' > "$tmp/differ.out" 2>&1
code=$?
set -e
[[ $code != 0 ]] || { cat "$tmp/differ.out"; echo "FAIL: disagreeing ranks trained"; exit 1; }
grep -q "train: rank [01] of 2: the ranks disagree before training on resolved config (1 rank(s) differ from rank 0; line [0-9]*: rank 0 has '  seed_value: 123', rank 1 '  seed_value: 7')" "$tmp/differ.out" || {
  cat "$tmp/differ.out"; exit 1; }
if grep -q "Train Epoch" "$tmp/differ/logs/log.txt" 2> /dev/null; then
  echo "FAIL: disagreeing ranks took a step"; exit 1
fi

# A lone process for a 2-GPU recipe is told how to start it.
if "$train" "${common[@]}" --set='launcher { gpus_per_node: 2 }' > "$tmp/alone.out" 2>&1; then
  echo "FAIL: a 2-rank recipe trained in one process"; exit 1
fi
grep -q "but this process was started alone. Start the ranks with" "$tmp/alone.out"
grep -q "mpirun -np 2 .*jobs/train --config=demo" "$tmp/alone.out"
grep -q "gradient_accumulation_steps: 2 }" "$tmp/alone.out"
echo PASS
