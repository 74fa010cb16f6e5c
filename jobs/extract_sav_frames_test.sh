#!/usr/bin/env bash
# //jobs:extract_sav_frames on the test videos: every 4th frame written as
# <video>/<index:05d>.jpg, byte-identical to cv2.imwrite of cv2.VideoCapture's
# frames (data/video/testdata/cv2_goldens.txt); a truncated video is reported
# and leaves no folder; a rerun skips finished videos; 2 ranks under mpirun
# write the same files.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
job="$root/jobs/extract_sav_frames"
data="$root/data/video/testdata"
tmp="$TEST_TMPDIR"
mkdir -p "$tmp/videos/sav_000" "$tmp/videos/sav_001"
for v in x264_420_66x44 x264_444_66x44 mpeg4_64x48; do
  cp "$data/$v.mp4" "$tmp/videos/sav_000/"
done
cp "$data/truncated_faststart.mp4" "$tmp/videos/sav_001/"
"$job" --help | grep -q -- "--sav_frame_sample_rate=N"

check_output() {  # DIR: every kept frame equals OpenCV's JPEG
  local out=$1 n=0
  while read -r video frame rgb jpeg; do
    [[ $video == \#* || $frame == frames ]] && continue
    [[ $video == truncated* ]] && continue
    if (( frame % 4 == 0 )); then
      f="$out/${video%.mp4}/$(printf %05d "$frame").jpg"
      [[ $(md5sum < "$f" | cut -d' ' -f1) == "$jpeg" ]] || { echo "FAIL: $f differs from cv2.imwrite"; exit 1; }
      n=$((n + 1))
    else
      [[ ! -e "$out/${video%.mp4}/$(printf %05d "$frame").jpg" ]] || { echo "FAIL: frame $frame of $video kept"; exit 1; }
    fi
  done < "$data/cv2_goldens.txt"
  [[ $n == 8 ]] || { echo "FAIL: checked $n frames"; exit 1; }
  [[ ! -e "$out/truncated_faststart" ]] || { echo "FAIL: a folder for the broken video"; exit 1; }
  if ls -a "$out" | grep -q partial; then echo "FAIL: a partial folder was left"; exit 1; fi
}

# What an interrupted run left of a video is removed when the video is redone.
mkdir -p "$tmp/out/.x264_420_66x44.partial" && touch "$tmp/out/.x264_420_66x44.partial/00000.jpg"
set +e
"$job" --sav_vid_dir="$tmp/videos" --output_dir="$tmp/out" > "$tmp/first.log" 2>&1
code=$?
set -e
[[ $code == 1 ]] || { cat "$tmp/first.log"; echo "FAIL: exit $code"; exit 1; }
grep -q "truncated_faststart.mp4: " "$tmp/first.log"
grep -q "4 videos: 3 extracted (8 frames), 0 already done, 1 failed" "$tmp/first.log" || { cat "$tmp/first.log"; exit 1; }
check_output "$tmp/out"

set +e
"$job" --sav_vid_dir="$tmp/videos" --output_dir="$tmp/out" > "$tmp/rerun.log" 2>&1
set -e
grep -q "4 videos: 0 extracted (0 frames), 3 already done, 1 failed" "$tmp/rerun.log" || { cat "$tmp/rerun.log"; exit 1; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
set +e
timeout 120 mpirun --oversubscribe --bind-to none --mca btl self,vader \
  --mca btl_vader_single_copy_mechanism none -np 2 "$job" \
  --sav_vid_dir="$tmp/videos" --output_dir="$tmp/out2" > "$tmp/ranks.log" 2>&1
set -e
grep -q "4 videos: 3 extracted (8 frames), 0 already done, 1 failed" "$tmp/ranks.log" || { cat "$tmp/ranks.log"; exit 1; }
grep -q "^rank 0: \[" "$tmp/ranks.log" && grep -q "^rank 1: " "$tmp/ranks.log"
check_output "$tmp/out2"
echo PASS
