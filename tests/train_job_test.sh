#!/usr/bin/env bash
# End to end: //jobs:train on the bundled demo data (4 videos, 1 then 2
# epochs): logs, TensorBoard, config, checkpoint in the documented layout;
# the checkpoint's model part is an official-format state_dict; a second run
# resumes from it; bad input fails with a clear message.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
train="$root/jobs/train"
ckpt_tool="$root/sam2/checkpoint/checkpoint_main"
run="$TEST_TMPDIR/run"
head -4 "$root/configs/assets/demo_vos/file_list.txt" > "$TEST_TMPDIR/four.txt"
common=(--config=demo
  --set="launcher { experiment_log_dir: \"$run\" }"
  --set="data { train { num_workers: 1 datasets { concat { png { file_list_txt: \"$TEST_TMPDIR/four.txt\" } } } } }"
  --set='logging { log_freq: 1 log_scalar_frequency: 1 }')

"$train" --help | grep -q -- "--benchmark_steps=N"
"$train" "${common[@]}" --set='trainer { max_epochs: 1 }' > "$TEST_TMPDIR/first.log" 2>&1 || {
  cat "$TEST_TMPDIR/first.log"; exit 1; }
test -f "$run/config.pbtxt"
grep -q "max_epochs: 1" "$run/config.pbtxt"
grep -q "Train Epoch: \[0\]\[4/4\]" "$run/logs/log.txt"
test "$(wc -l < "$run/logs/train_stats.json")" -eq 1
ls "$run"/tensorboard/events.out.tfevents.* > /dev/null
test -f "$run/checkpoints/checkpoint.pt"
"$ckpt_tool" inspect "$run/checkpoints/checkpoint.pt" > "$TEST_TMPDIR/inspect.txt"
grep -q "model: OrderedDict" "$TEST_TMPDIR/inspect.txt"
grep -q "optimizer: OrderedDict" "$TEST_TMPDIR/inspect.txt"
grep -q "image_encoder.trunk.pos_embed" "$TEST_TMPDIR/inspect.txt"

# A longer run resumes after epoch 1.
"$train" "${common[@]}" --set='trainer { max_epochs: 2 }' > "$TEST_TMPDIR/second.log" 2>&1 || {
  cat "$TEST_TMPDIR/second.log"; exit 1; }
grep -q "Resuming from $run/checkpoints/checkpoint.pt at epoch 1, batch 0, step 4" "$run/logs/log.txt"
test "$(wc -l < "$run/logs/train_stats.json")" -eq 2

# Errors are reported before any work.
if "$train" --config=demo --set='model { image_size: 96 }' 2> "$TEST_TMPDIR/bad.log"; then
  echo "expected a validation error"; exit 1
fi
grep -q "feat_sizes: is \[8, 8\] but must equal" "$TEST_TMPDIR/bad.log"
echo PASS
