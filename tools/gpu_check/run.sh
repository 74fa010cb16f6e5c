#!/usr/bin/env bash
# The training step on a GPU, ours against the reference, for a machine with
# a CUDA PyTorch 2.x, CUDA, a compiler and ninja but no Bazel and no network
# (the GPU machines this project is lent). Prepare on a Bazel machine:
#
#   tools/export_build.py --out=gpu_export --pack --cuda //jobs:train \
#     //jobs:vos_inference //sam2/inference:png_diff //tools:parity_dump  # < 64 MB
#   mkdir -p ref/sam2 && cp -rL <sam2 checkout>/{sam2,training,tools} ref/sam2/ &&
#     cp -rL <harness> ref/harness     # (the whole checkout, 32 MB, would not fit)
#   mkdir -p ref/pylib && cp -rL /usr/lib/python3/dist-packages/{omegaconf,antlr4} ref/pylib/
#   (the reference's config loading needs omegaconf, which a bare PyTorch
#   installation lacks; PyYAML usually comes with PyTorch)
#
# then, in the repository root on the GPU machine (carry gpu_export and ref):
#
#   tools/gpu_check/run.sh [STEPS]
#
# It builds the export against that machine's PyTorch (its LibTorch, C++ ABI
# and CUDA) and prints:
#   - the parity-small scenarios (forward, losses, gradients, AdamW step) in
#     float32 on the GPU (//tools:parity_dump --device=cuda, TF32 off) against
#     the reference's CPU fixture at the README's tolerances
#     (compare_parity.py; on this CPU: 780 keys, 0 out of tolerance);
# and for SAM 2.1 b+ at 1024 px, 8 frames, 2 objects, bf16 autocast, batch 1,
# fixed prompting (tools/step_bench):
#   - ours: //jobs:train --benchmark_steps (median step, peak GPU memory);
#   - the reference's training step on the same GPU (ref_train_step.py);
#   - ours again on the 1-rank NCCL path (distributed.backend "nccl");
#   - VOS inference on the GPU (//jobs:vos_inference --device=cuda) on the
#     reference's CPU goldens (sam2/inference/testdata/vos, parity-small and
#     its objscore_shift variant):
#     float32 (--autocast=off) and bfloat16 autocast as the reference's
#     script, each mode: pixels differing from the goldens (the CPU build
#     here, DRY_RUN=cpu: 0/0/0 with parity_small, 4/0/22 with objscore_shift
#     for davis/per_obj/appearing_later, all in may_differ), and its speed.
# Set DRY_RUN=cpu to try the flow on a CPU machine (parity-small at 256 px,
# the Bazel-built binary).
set -euo pipefail
cd "$(dirname "$0")/../.."
steps="${1:-6}"
out="${OUT:-$(mktemp -d)}"
mkdir -p "$out"
say() { echo "== $*" | tee -a "$out/summary.txt"; }

if [[ "${DRY_RUN:-}" == cpu ]]; then
  train=bazel-bin/jobs/train
  model=small res=256 frames=4 device=cpu
  ours_cfg=(--config=parity_small)
  accel='trainer { accelerator: "cpu" }'
  python=/usr/bin/python3
else
  python="${PYTHON:-python3}"
  torch_dir="$("$python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')"
  abi="$("$python" -c 'import torch; print(int(torch.compiled_with_cxx11_abi()))')"
  say "PyTorch $("$python" -c 'import torch; print(torch.__version__, torch.version.cuda)') at $torch_dir, C++11 ABI $abi"
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee -a "$out/summary.txt"
  (cd gpu_export && ./configure.sh --libtorch="$torch_dir" \
      --cuda_home="${CUDA_HOME:-/usr/local/cuda}" --cxx11_abi="$abi" &&
    ninja -j"$(nproc)") > "$out/build.log" 2>&1 || {
    tail -40 "$out/build.log"; say "build failed (log: $out/build.log)"; exit 1; }
  train=gpu_export/bazel-out/k8-opt/bin/jobs/train
  model=b+ res=1024 frames=8 device=cuda
  ours_cfg=(--config=tools/step_bench/bplus_256.pbtxt --set='model { image_size: 1024
    memory_attention { layer { self_attention { feat_sizes: [64, 64] }
    cross_attention { feat_sizes: [64, 64] } } } }')
  accel='trainer { accelerator: "cuda" } optim { amp_enabled: true amp_dtype: "bfloat16" }'
fi

if [[ "$device" == cuda ]]; then
  parity_dump=gpu_export/bazel-out/k8-opt/bin/tools/parity_dump
else
  parity_dump=bazel-bin/tools/parity_dump
fi
say "parity-small scenarios in float32 on $device vs the reference's fixture"
"$parity_dump" --config=parity_small \
  --checkpoint=tests/testdata/parity/parity_small_model.pt \
  --inputs=tests/testdata/parity/parity_small_io.pt \
  --output="$out/parity_$device.pt" --device="$device" \
  > "$out/parity.log" 2>&1 || { tail -20 "$out/parity.log"; say "parity_dump failed"; }
[[ -f "$out/parity_$device.pt" ]] &&
  { "$python" tools/gpu_check/compare_parity.py "$out/parity_$device.pt" \
      tests/testdata/parity/parity_small_io.pt || true; } | tee -a "$out/summary.txt"

# The demo videos at the resolution, 8 (4) frames, 2 objects; fixed prompting.
data="$("$python" tools/step_bench/demo_data.py "$res" "$frames")"
prompting='model {
  prob_to_use_pt_input_for_train: 1.0 prob_to_use_box_input_for_train: 0.0
  prob_to_sample_from_gt_for_train: 0.0 num_frames_to_correct_for_train: 2
  rand_frames_to_correct_for_train: false num_init_cond_frames_for_train: 1
  rand_init_cond_frames_for_train: false num_correction_pt_per_frame: 7 }
  data { train { num_workers: 2 } } distributed { find_unused_parameters: true }
  trainer { mode: "train_only" }'

run_ours() {  # NAME EXTRA_SET
  local extra=()
  [[ -n "$2" ]] && extra=(--set="$2")
  $train "${ours_cfg[@]}" --set="$data" --set="$prompting" --set="$accel" \
    "${extra[@]}" --set="launcher { experiment_log_dir: \"$out/$1\" }" \
    --benchmark_steps="$steps" > "$out/$1.out" 2> "$out/$1.err" || {
    tail -20 "$out/$1.err"; say "$1 failed"; return 1; }
  grep -E "median_step_s|peak_gpu_mb|peak_rss_mb" "$out/$1.out" | sed "s/^/$1 /" |
    tee -a "$out/summary.txt"
}

say "ours (one process, no launcher)"
run_ours ours '' || true
say "reference"
PYTHONPATH="$PWD/ref/pylib${PYTHONPATH:+:$PYTHONPATH}" SAM2_HARNESS="${SAM2_HARNESS:-ref/harness}" SAM2_REF="${SAM2_REF:-ref/sam2}" "$python" tools/step_bench/ref_train_step.py \
  --model="$model" --resolution="$res" --frames="$frames" --steps="$steps" \
  --device="$device" $([[ "$device" == cuda ]] && echo --bf16) \
  > "$out/reference.out" 2> "$out/reference.err" &&
  sed "s/^/reference /" "$out/reference.out" | tee -a "$out/summary.txt" ||
  { tail -20 "$out/reference.err"; say "reference failed"; }
if [[ "$device" == cuda ]]; then
  # NCCL needs a launched world (rank 0's unique id travels over MPI).
  if command -v mpirun > /dev/null; then
    say "ours, 1 rank under mpirun, NCCL"
    train_direct="$train"
    train="mpirun --allow-run-as-root -np 1 $train_direct"
    run_ours nccl 'distributed { backend: "nccl" }' || true
    train="$train_direct"
  else
    say "no mpirun here: the 1-rank NCCL path did not run"
  fi
fi
if [[ "$device" == cuda ]]; then
  bin_dir=gpu_export/bazel-out/k8-opt/bin
  vos_bin=$bin_dir/jobs/vos_inference png_diff=$bin_dir/sam2/inference/png_diff
else
  vos_bin=bazel-bin/jobs/vos_inference png_diff=bazel-bin/sam2/inference/png_diff
fi
vos_data=sam2/inference/testdata/vos
# The goldens' second weight variant, whose objects are present on tracked
# frames (parity_small's are NO_OBJ_SCORE there): one bias from the goldens.
"$python" - "$out/objscore_shift.pt" <<'PY'
import sys, torch
m = torch.load("tests/testdata/parity/parity_small_model.pt", map_location="cpu")
key = "sam_mask_decoder.pred_obj_score_head.layers.2.bias"
g = torch.load("sam2/inference/testdata/vos/vos_inference_ref.pt", map_location="cpu")
m["model"][key] = g["objscore_shift.override." + key]
torch.save(m, sys.argv[1])
PY
run_vos() {  # NAME WEIGHTS MASKS GOLDEN FLAGS...: one mode, pixels vs the CPU golden
  local name=$1 weights=$2 masks=$3 golden=$4
  shift 4
  local checkpoint=tests/testdata/parity/parity_small_model.pt
  [[ $weights == objscore_shift ]] && checkpoint="$out/objscore_shift.pt"
  "$vos_bin" --config=parity_small --checkpoint="$checkpoint" \
    --base_video_dir=$vos_data/input/JPEGImages \
    --input_mask_dir=$vos_data/input/$masks --output_mask_dir="$out/vos_$name" \
    --device="$device" "$@" > "$out/vos_$name.out" 2> "$out/vos_$name.err" || {
    tail -5 "$out/vos_$name.err"; say "vos $name failed"; return 0; }
  { "$png_diff" "$vos_data/output/$weights/$golden" "$out/vos_$name" \
      2>/dev/null || true; } | sed "s/^/vos $name: /" | tee -a "$out/summary.txt"
  { grep "^speed" "$out/vos_$name.out" || true; } | sed "s/^/vos $name /" |
    tee -a "$out/summary.txt"
}
say "VOS inference on $device vs the reference's CPU float32 goldens"
echo synth_0001 > "$out/vos_list1.txt"
echo synth_0002 > "$out/vos_list2.txt"
for weights in parity_small objscore_shift; do
  for precision in off auto; do
    run_vos "${weights}_davis_autocast_$precision" $weights Annotations davis \
      --video_list_file="$out/vos_list1.txt" --autocast=$precision
    run_vos "${weights}_per_obj_autocast_$precision" $weights \
      Annotations_per_obj per_obj \
      --video_list_file="$out/vos_list1.txt" --per_obj_png_file \
      --autocast=$precision
    run_vos "${weights}_later_autocast_$precision" $weights \
      Annotations_appearing_later appearing_later \
      --video_list_file="$out/vos_list2.txt" \
      --track_object_appearing_later_in_video --autocast=$precision
  done
done
say "summary in $out/summary.txt"
