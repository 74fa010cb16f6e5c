#!/usr/bin/env bash
# End to end: //jobs:train on the bundled demo data (4 videos, 1 then 2
# epochs, J&F on the 3 held-out videos): logs, TensorBoard, config,
# checkpoints (the best one too), val pictures in the documented layout;
# the checkpoint's model part is an official-format state_dict; a second run
# resumes from it; two fresh runs of one config train bitwise the same model;
# bad input fails with a clear message.
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

# Validation by J&F on the demo's 3 held-out videos (data.val_vos) after the
# last epoch: the log, val_stats.json, best_stats.json, checkpoint_best.pt
# and the overlay pictures of the first two videos.
grep -q "VOS validation after epoch 0: J&F [0-9.]* (J [0-9.]*, F [0-9.]*) on 3 videos" "$run/logs/log.txt" || {
  cat "$run/logs/log.txt"; exit 1; }
grep -q "Val epoch 0 | Meters_val/vos/F [0-9.]* | Meters_val/vos/J [0-9.]* | Meters_val/vos/J&F [0-9.]*" "$run/logs/log.txt"
grep -q '"Meters_val/vos/J&F": [0-9]' "$run/logs/val_stats.json"
grep -q '"Trainer/epoch": 0' "$run/logs/val_stats.json"
test "$(wc -l < "$run/logs/best_stats.json")" -eq 1
grep -q '"Meters_val/vos/J&F": [0-9].*"Trainer/epoch": 0' "$run/logs/best_stats.json"
grep -q "New best Meters_val/vos/J&F .* after epoch 0 (previous none)" "$run/logs/log.txt"
"$ckpt_tool" inspect "$run/checkpoints/checkpoint_best.pt" > "$TEST_TMPDIR/inspect_best.txt"
grep -q "image_encoder.trunk.pos_embed" "$TEST_TMPDIR/inspect_best.txt"
test -f "$run/logs/val_pictures/epoch_0/synth_0013.png"
test -f "$run/logs/val_pictures/epoch_0/synth_0014.png"
test ! -e "$run/logs/val_pictures/epoch_0/synth_0015.png"

# A second fresh run of the same config and seed trains the same weights, bit
# for bit (model initialisation, prompts, dropout and data are all seeded).
fresh="$TEST_TMPDIR/fresh"
"$train" "${common[@]}" --set="launcher { experiment_log_dir: \"$fresh\" }" \
  --set='trainer { max_epochs: 1 }' > "$TEST_TMPDIR/fresh.log" 2>&1 || {
  cat "$TEST_TMPDIR/fresh.log"; exit 1; }
"$ckpt_tool" export --input="$run/checkpoints/checkpoint.pt" --output="$TEST_TMPDIR/a.pt"
"$ckpt_tool" export --input="$fresh/checkpoints/checkpoint.pt" --output="$TEST_TMPDIR/b.pt"
cmp "$TEST_TMPDIR/a.pt" "$TEST_TMPDIR/b.pt" || {
  echo "two fresh runs of one config trained different weights"; exit 1; }
# ... and a different seed does not.
other="$TEST_TMPDIR/other_seed"
"$train" "${common[@]}" --set="launcher { experiment_log_dir: \"$other\" }" \
  --set='trainer { max_epochs: 1 seed_value: 124 }' > "$TEST_TMPDIR/other.log" 2>&1 || {
  cat "$TEST_TMPDIR/other.log"; exit 1; }
"$ckpt_tool" export --input="$other/checkpoints/checkpoint.pt" --output="$TEST_TMPDIR/c.pt"
if cmp -s "$TEST_TMPDIR/a.pt" "$TEST_TMPDIR/c.pt"; then
  echo "seed_value has no effect on the trained weights"; exit 1
fi

# A longer run resumes after epoch 1.
"$train" "${common[@]}" --set='trainer { max_epochs: 2 }' > "$TEST_TMPDIR/second.log" 2>&1 || {
  cat "$TEST_TMPDIR/second.log"; exit 1; }
grep -q "Resuming from $run/checkpoints/checkpoint.pt at epoch 1, batch 0, step 4" "$run/logs/log.txt"
test "$(wc -l < "$run/logs/train_stats.json")" -eq 2
# The resumed run knows the best J&F of the first one, and validated again.
grep -q "Best Meters_val/vos/J&F so far: [0-9.]* (best_stats.json)" "$run/logs/log.txt"
grep -q "VOS validation after epoch 1: J&F" "$run/logs/log.txt"
grep -Eq "(New best Meters_val/vos/J&F .* after epoch 1 \(previous [0-9.]+\)|Meters_val/vos/J&F .* after epoch 1; the best is)" "$run/logs/log.txt"
test "$(wc -l < "$run/logs/val_stats.json")" -eq 2
test -f "$run/logs/val_pictures/epoch_1/synth_0013.png"

# skip_saving_parameters: refused for trainable parameters; with the image
# encoder frozen, its keys are left out of the checkpoint.
set +e
"$train" "${common[@]}" --set="launcher { experiment_log_dir: \"$TEST_TMPDIR/skip_bad\" }" \
  --set='checkpoint { skip_saving_parameters: "image_encoder.*" }' > "$TEST_TMPDIR/skip_bad.log" 2>&1
rc=$?
set -e
test "$rc" -eq 1 || { cat "$TEST_TMPDIR/skip_bad.log"; exit 1; }
grep -q "skip_saving_parameters: parameters left out of checkpoints must be frozen" \
  "$TEST_TMPDIR/skip_bad.log" || { cat "$TEST_TMPDIR/skip_bad.log"; exit 1; }
skip="$TEST_TMPDIR/skip_ok"
"$train" "${common[@]}" --set="launcher { experiment_log_dir: \"$skip\" }" \
  --set='trainer { max_epochs: 1 } model { freeze_image_encoder: true }' \
  --set='checkpoint { skip_saving_parameters: "image_encoder.*" }' > "$TEST_TMPDIR/skip_ok.log" 2>&1 || {
  cat "$TEST_TMPDIR/skip_ok.log"; exit 1; }
"$ckpt_tool" inspect "$skip/checkpoints/checkpoint.pt" > "$TEST_TMPDIR/skip_inspect.txt"
if grep -q "image_encoder\." "$TEST_TMPDIR/skip_inspect.txt"; then
  echo "skipped parameters were saved"; exit 1
fi
grep -q "memory_attention\." "$TEST_TMPDIR/skip_inspect.txt"

# A corrupt checkpoint ends the run with a message naming it, not a crash.
broken="$TEST_TMPDIR/broken"
mkdir -p "$broken/checkpoints"
head -c 100000 "$run/checkpoints/checkpoint.pt" > "$broken/checkpoints/checkpoint.pt"
set +e
"$train" "${common[@]}" --set="launcher { experiment_log_dir: \"$broken\" }" \
  > "$TEST_TMPDIR/broken.log" 2>&1
rc=$?
set -e
test "$rc" -eq 1 || { cat "$TEST_TMPDIR/broken.log"; echo "exit code $rc"; exit 1; }
grep -q "^train: cannot resume from: $broken/checkpoints/checkpoint.pt: no zip end-of-central-directory" "$TEST_TMPDIR/broken.log" || {
  cat "$TEST_TMPDIR/broken.log"; exit 1; }

# Errors are reported before any work.
if "$train" --config=demo --set='model { image_size: 96 }' 2> "$TEST_TMPDIR/bad.log"; then
  echo "expected a validation error"; exit 1
fi
grep -q "feat_sizes: is \[8, 8\] but must equal" "$TEST_TMPDIR/bad.log"
echo PASS
