#!/bin/bash
# //jobs:vos_inference end to end on the reference goldens
# (sam2/inference/testdata/vos, parity_small weights): every output mask of
# the three modes equals the reference's pixel for pixel, palette included
# (the objscore_shift variant, whose outputs may differ where the reference
# decides by rounding noise, and the tensors are checked by
# //sam2/inference:video_predictor_test), the same with --apply_postprocessing
# (goldens in sam2/inference/testdata/vos_postproc), a progress line per video
# and a speed summary, and failures that name the file, skip only the bad
# video and set the exit code; --device and --autocast; two ranks under
# mpirun splitting the videos.
set -euo pipefail

bin="$PWD/jobs/vos_inference"
png_diff="$PWD/sam2/inference/png_diff"
data="$PWD/sam2/inference/testdata/vos"
post="$PWD/sam2/inference/testdata/vos_postproc"
weights="$PWD/tests/testdata/parity/parity_small_model.pt"
work="${TEST_TMPDIR:-/tmp}/vos_inference_test"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

run() {  # run OUT ARGS...: the job on the goldens' frames, model parity_small
  local out=$1
  shift
  "$bin" --config=parity_small --checkpoint="$weights" \
    --base_video_dir="$data/input/JPEGImages" --output_mask_dir="$out" "$@"
}

same_masks() {  # same_masks REF OURS: same pixels and palette colours
  "$png_diff" "$1" "$2" >/dev/null || fail "masks differ from $1 in $2"
}

echo synth_0001 >"$work/list_0001.txt"
echo synth_0002 >"$work/list_0002.txt"
ref="$data/output/parity_small"

# (a) DAVIS layout, on the CPU in float32 (what --device=auto picks here).
run "$work/davis" --input_mask_dir="$data/input/Annotations" \
  --video_list_file="$work/list_0001.txt" >"$work/davis.out"
grep -Eq '^1/1 synth_0001: 8 frames, 3 objects, [0-9.]+ s \([0-9.]+ frames/s, [0-9.]+ object-frames/s\) \| ETA 0 s$' \
  "$work/davis.out" || fail "progress line: $(cat "$work/davis.out")"
grep -Eq '^speed: 8 frames, 24 object-frames in [0-9.]+ s: [0-9.]+ frames/s, [0-9.]+ object-frames/s$' \
  "$work/davis.out" || fail "speed summary: $(cat "$work/davis.out")"
same_masks "$ref/davis" "$work/davis"
grep -q "on cpu$" "$work/davis.out" || fail "device line: $(head -1 "$work/davis.out")"
# (b) per-object PNGs.
run "$work/per_obj" --input_mask_dir="$data/input/Annotations_per_obj" \
  --video_list_file="$work/list_0001.txt" --per_obj_png_file >/dev/null
[[ -f "$work/per_obj/synth_0001/003/00007.png" ]] || fail "per-object layout"
same_masks "$ref/per_obj" "$work/per_obj"

# --use_all_masks (no reference goldens): every annotated frame becomes a
# conditioning frame; the run must succeed and write every frame.
run "$work/all_masks" --input_mask_dir="$data/input/Annotations" \
  --video_list_file="$work/list_0001.txt" --use_all_masks >"$work/all.out"
grep -q "all available masks as inputs" "$work/all.out" || fail "--use_all_masks"
[[ $(ls "$work/all_masks/synth_0001" | wc -l) -eq 8 ]] || fail "all_masks frames"

# (c) objects appearing later.
run "$work/later" --input_mask_dir="$data/input/Annotations_appearing_later" \
  --video_list_file="$work/list_0002.txt" \
  --track_object_appearing_later_in_video >/dev/null
same_masks "$ref/appearing_later" "$work/later"

# --apply_postprocessing, against the reference built with
# apply_postprocessing=True (hole filling as on CUDA). With parity_small the
# tracked frames are NO_OBJ_SCORE, so the hole filling shows on the prompted
# frame: Annotations_hole has a 3x3 hole in object 2 (filled) and an 8x8 one
# (kept).
run "$work/post_davis" --input_mask_dir="$data/input/Annotations" \
  --video_list_file="$work/list_0001.txt" --apply_postprocessing >/dev/null
same_masks "$post/output/parity_small/davis" "$work/post_davis"
run "$work/post_later" --input_mask_dir="$data/input/Annotations_appearing_later" \
  --video_list_file="$work/list_0002.txt" \
  --track_object_appearing_later_in_video --apply_postprocessing >/dev/null
same_masks "$post/output/parity_small/appearing_later" "$work/post_later"
run "$work/post_hole" --input_mask_dir="$post/input/Annotations_hole" \
  --video_list_file="$work/list_0001.txt" --apply_postprocessing >/dev/null
same_masks "$post/output/parity_small/davis_hole" "$work/post_hole"
# Without the flag the small hole stays: the outputs differ.
run "$work/hole" --input_mask_dir="$post/input/Annotations_hole" \
  --video_list_file="$work/list_0001.txt" >/dev/null
if "$png_diff" "$post/output/parity_small/davis_hole" "$work/hole" \
  >/dev/null 2>&1; then
  fail "without --apply_postprocessing the hole must not be filled"
fi

# A bad video is reported by name, the others still run, exit code 1:
# synth_0002 has no masks under Annotations, "broken" has a corrupt JPEG.
mkdir -p "$work/videos" "$work/masks"
cp -rL "$data/input/JPEGImages/synth_0001" "$data/input/JPEGImages/synth_0002" \
  "$work/videos/"
mkdir -p "$work/videos/broken" "$work/masks/broken"
head -c 300 "$data/input/JPEGImages/synth_0001/00000.jpg" \
  >"$work/videos/broken/00000.jpg"
cp -rL "$data/input/Annotations/synth_0001" "$work/masks/"
cp "$data/input/Annotations/synth_0001/00000.png" "$work/masks/broken/"
rc=0
"$bin" --config=parity_small --checkpoint="$weights" \
  --base_video_dir="$work/videos" --input_mask_dir="$work/masks" \
  --output_mask_dir="$work/mixed" >"$work/mixed.out" 2>"$work/mixed.err" ||
  rc=$?
[[ $rc -eq 1 ]] || fail "a failed video must exit 1, got $rc"
grep -q "broken/00000.jpg" "$work/mixed.err" ||
  fail "corrupt frame not named: $(cat "$work/mixed.err")"
grep -q "synth_0002/00000.png" "$work/mixed.err" ||
  fail "missing mask not named: $(cat "$work/mixed.err")"
grep -q "synth_0001: 8 frames" "$work/mixed.out" || fail "good video not run"
same_masks "$ref/davis" "$work/mixed"

# A mask whose size is not the video's.
mkdir -p "$work/small/synth_0001"
cp "$data/bad/mask_64x64.png" "$work/small/synth_0001/00000.png"
rc=0
run "$work/small_out" --input_mask_dir="$work/small" \
  --video_list_file="$work/list_0001.txt" >/dev/null 2>"$work/small.err" ||
  rc=$?
[[ $rc -eq 1 ]] || fail "size mismatch must exit 1, got $rc"
grep -q "synth_0001/00000.png: mask is 64x64 but the video is 128x128" \
  "$work/small.err" || fail "size mismatch: $(cat "$work/small.err")"

# --device=cuda on a machine (or a build) without a GPU: a clear error.
# (The GPU path itself, bfloat16 autocast as the reference, runs in
# tools/gpu_check/run.sh on a GPU machine.)
if [[ "${SAM2_TEST_HAS_GPU:-0}" != 1 ]]; then
  rc=0
  run "$work/cuda" --input_mask_dir="$data/input/Annotations" \
    --video_list_file="$work/list_0001.txt" --device=cuda \
    >/dev/null 2>"$work/cuda.err" || rc=$?
  [[ $rc -eq 1 ]] || fail "--device=cuda without a GPU must exit 1, got $rc"
  grep -q -- "--device=cuda but no GPU is usable" "$work/cuda.err" ||
    fail "--device=cuda: $(cat "$work/cuda.err")"
fi
# --autocast=off is float32 everywhere: on the CPU the same as the default.
run "$work/fp32" --input_mask_dir="$data/input/Annotations" \
  --video_list_file="$work/list_0001.txt" --device=cpu --autocast=off \
  >/dev/null
same_masks "$ref/davis" "$work/fp32"

# Two ranks under mpirun: each takes one video (two copies of synth_0001),
# prints its own progress, rank 0 the totals; a third, broken video fails on
# its rank and every rank exits 1.
mkdir -p "$work/mpi_videos" "$work/mpi_masks"
for v in a b; do
  cp -rL "$data/input/JPEGImages/synth_0001" "$work/mpi_videos/$v"
  cp -rL "$data/input/Annotations/synth_0001" "$work/mpi_masks/$v"
done
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi() {  # mpi OUT LOG: the job on 2 ranks over mpi_videos
  timeout 300 mpirun --oversubscribe --bind-to none --mca btl self,vader \
    --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo \
    -np 2 "$bin" --config=parity_small --checkpoint="$weights" \
    --base_video_dir="$work/mpi_videos" --input_mask_dir="$work/mpi_masks" \
    --output_mask_dir="$1" >"$2" 2>&1
}
mpi "$work/mpi_out" "$work/mpi.log" || fail "2 ranks: $(cat "$work/mpi.log")"
grep -q "split over 2 ranks" "$work/mpi.log" || fail "2 ranks: $(cat "$work/mpi.log")"
grep -Eq '^rank [01]: 1/1 a: 8 frames, 3 objects' "$work/mpi.log" &&
  grep -Eq '^rank [01]: 1/1 b: 8 frames, 3 objects' "$work/mpi.log" ||
  fail "one video per rank: $(cat "$work/mpi.log")"
[[ $(grep -Ec '^rank 0: ' "$work/mpi.log") -eq 1 &&
   $(grep -Ec '^rank 1: ' "$work/mpi.log") -eq 1 ]] ||
  fail "each rank runs its own video: $(cat "$work/mpi.log")"
grep -Eq '^speed: 16 frames, 48 object-frames in ' "$work/mpi.log" ||
  fail "totals over ranks: $(cat "$work/mpi.log")"
same_masks "$ref/davis/synth_0001" "$work/mpi_out/a"
same_masks "$ref/davis/synth_0001" "$work/mpi_out/b"
mkdir -p "$work/mpi_videos/c_broken" "$work/mpi_masks/c_broken"
head -c 300 "$data/input/JPEGImages/synth_0001/00000.jpg" \
  >"$work/mpi_videos/c_broken/00000.jpg"
cp "$data/input/Annotations/synth_0001/00000.png" "$work/mpi_masks/c_broken/"
if mpi "$work/mpi_out2" "$work/mpi2.log"; then
  fail "a failed video on one rank must fail the job"
fi
grep -q "completed VOS prediction on 2 videos (1 failed)" "$work/mpi2.log" ||
  fail "failure over ranks: $(cat "$work/mpi2.log")"
grep -q "c_broken/00000.jpg" "$work/mpi2.log" ||
  fail "broken frame not named: $(cat "$work/mpi2.log")"
same_masks "$ref/davis/synth_0001" "$work/mpi_out2/a"

expect_error() {  # expect_error CODE TEXT ARGS...
  local code=$1 text=$2 rc=0
  shift 2
  "$bin" "$@" >/dev/null 2>"$work/err.txt" || rc=$?
  [[ $rc -eq $code ]] || fail "exit $rc, expected $code for $*"
  grep -q -- "$text" "$work/err.txt" ||
    fail "expected '$text' for $*, got: $(cat "$work/err.txt")"
}
expect_error 2 "--checkpoint is required" --config=parity_small \
  --base_video_dir=a --input_mask_dir=b --output_mask_dir=c
expect_error 2 "nonsense" --nonsense
expect_error 2 "--device must be one of auto, cpu, cuda" --device=tpu \
  --config=parity_small --checkpoint=x --base_video_dir=a \
  --input_mask_dir=b --output_mask_dir=c
expect_error 2 "--autocast must be one of auto, off" --autocast=bf16 \
  --config=parity_small --checkpoint=x --base_video_dir=a \
  --input_mask_dir=b --output_mask_dir=c
expect_error 1 "no_such.pt" --config=parity_small --checkpoint=no_such.pt \
  --base_video_dir=a --input_mask_dir=b --output_mask_dir=c
"$bin" --help | grep -q -- "--track_object_appearing_later_in_video" ||
  fail "--help"
echo PASS
