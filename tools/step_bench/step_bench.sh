#!/usr/bin/env bash
# Side-by-side training-step benchmark on the CPU: //jobs:train
# --benchmark_steps against the reference's step (ref_train_step.py), same
# model, resolution, batch (1 video, 4 frames, 2 objects), fixed prompting,
# thread count, BLAS (OpenBLAS's OpenMP build) and allocator (TCMalloc).
# Our batches are built in the main thread before each timed step
# (num_workers: 0), as the reference script builds its batch between steps:
# a loader worker would prepare the next batch during the step and take a
# core from it. Runs the two sides alternately ROUNDS times and prints each run's
# median_step_s and peak_rss_mb, then the medians and ours/reference ratios,
# the ratio within each round and that of the fastest rounds.
#
#   bazel build //jobs:train
#   SAM2_REF=<sam2 checkout> SAM2_HARNESS=<folder with ref_harness.py> \
#     tools/step_bench/step_bench.sh [small|b+] [STEPS] [ROUNDS]
#
# Our float32 matrix products run on oneDNN (third_party/blas:onednn_sgemm),
# the reference's on OpenBLAS. REF_SGEMM=onednn gives the reference the same
# kernels (LD_PRELOAD of //third_party/blas:libsam2_onednn_sgemm.so, build it
# first), so that the ratio measures everything but the GEMM kernels; an
# OPENBLAS_CORETYPE in the environment reaches both sides.
#
# Run it on an otherwise idle machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
model="${1:-small}"
steps="${2:-8}"
rounds="${3:-2}"
threads="${THREADS:-2}"
: "${SAM2_REF:?set SAM2_REF to a facebookresearch/sam2 checkout}"
: "${SAM2_HARNESS:?set SAM2_HARNESS to the folder with ref_harness.py}"
train=bazel-bin/jobs/train
[[ -x "$train" ]] || { echo "build //jobs:train first" >&2; exit 1; }

# The demo videos at 256 px as training data (the step's cost does not depend
# on the pixels), and the reference script's fixed prompting.
data="$(python3 tools/step_bench/demo_data.py 256)"
prompting='model {
  prob_to_use_pt_input_for_train: 1.0 prob_to_use_box_input_for_train: 0.0
  prob_to_sample_from_gt_for_train: 0.0 num_frames_to_correct_for_train: 2
  rand_frames_to_correct_for_train: false num_init_cond_frames_for_train: 1
  rand_init_cond_frames_for_train: false num_correction_pt_per_frame: 7 }'
case "$model" in
  small) ours=(--config=parity_small) ;;
  b+) ours=(--config=tools/step_bench/bplus_256.pbtxt) ;;
  *) echo "model: small or b+" >&2; exit 2 ;;
esac
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
export OMP_NUM_THREADS="$threads"
tcmalloc=/usr/lib/x86_64-linux-gnu/libtcmalloc_minimal.so.4
openblas=/usr/lib/x86_64-linux-gnu/openblas-openmp
ref_preload="$tcmalloc"
case "${REF_SGEMM:-blas}" in
  blas) ;;
  onednn)
    so=bazel-bin/third_party/blas/libsam2_onednn_sgemm.so
    [[ -f "$so" ]] || {
      echo "bazel build //third_party/blas:libsam2_onednn_sgemm.so first" >&2
      exit 1; }
    ref_preload="$tcmalloc $PWD/$so" ;;
  *) echo "REF_SGEMM: blas or onednn" >&2; exit 2 ;;
esac

run_ours() {
  "$train" "${ours[@]}" --set="$data" --set="$prompting" \
    --set="trainer { mode: \"train_only\" num_threads: $threads }
           data { train { num_workers: 0 } }
           distributed { find_unused_parameters: true }
           launcher { experiment_log_dir: \"$tmp/ours$1\" }" \
    --benchmark_steps="$steps" ${PROFILE:+--profile_trace="$PROFILE.ours$1.json"} \
    2> "$tmp/ours$1.err" | grep -E "median_step_s|peak_rss_mb" || {
      cat "$tmp/ours$1.err" >&2; exit 1; }
}
run_reference() {
  LD_PRELOAD="$ref_preload" LD_LIBRARY_PATH="$openblas" /usr/bin/python3 \
    tools/step_bench/ref_train_step.py --model="$model" --steps="$steps" \
    --threads="$threads" 2> "$tmp/ref$1.err" |
    grep -E "median_step_s|peak_rss_mb" || { cat "$tmp/ref$1.err" >&2; exit 1; }
}
for round in $(seq "$rounds"); do
  run_ours "$round" | sed "s/^/ours $round: /"
  run_reference "$round" | sed "s/^/reference $round: /"
done | tee "$tmp/all"
python3 - "$tmp/all" <<'PY'
import statistics, sys
v = {}
for line in open(sys.argv[1]):
    who, _, key, value = line.split()
    v.setdefault((who, key), []).append(float(value))
for key in ("median_step_s", "peak_rss_mb"):
    o, r = statistics.median(v[("ours", key)]), statistics.median(v[("reference", key)])
    print(f"{key}: ours {o:.4g}  reference {r:.4g}  ratio {o / r:.3f}")
# On a shared machine both sides slow down together for minutes at a time:
# the ratios within each round, and the two sides' fastest rounds, say as
# much as the medians do.
ours, ref = v[("ours", "median_step_s")], v[("reference", "median_step_s")]
paired = sorted(o / r for o, r in zip(ours, ref))
print("step ratio per round: " + " ".join(f"{x:.3f}" for x in paired) +
      f"  median {statistics.median(paired):.3f}")
print(f"fastest rounds: ours {min(ours):.4g}  reference {min(ref):.4g}  "
      f"ratio {min(ours) / min(ref):.3f}")
PY
