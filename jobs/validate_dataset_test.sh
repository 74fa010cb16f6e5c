#!/usr/bin/env bash
# //jobs:validate_dataset: the demo config's datasets are clean (exit 0); a
# broken copy of the demo videos gets one line per problem naming the file,
# counts (all 15 folders: the 12 training and 3 validation videos), and
# exit 1; 2 ranks under mpirun split the videos and report the
# same totals.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
job="$root/jobs/validate_dataset"
tmp="$TEST_TMPDIR"
"$job" --help | grep -q -- "--layout=davis|sa1b|sav"
"$job" --config=demo > "$tmp/demo.out" 2>&1 || { cat "$tmp/demo.out"; exit 1; }
grep -q "data.train.datasets\[0\].concat\[0\]: 12 videos, .* videos/s): 0 problem(s)" "$tmp/demo.out" || {
  cat "$tmp/demo.out"; exit 1; }

# -L: the runfiles are symlinks to the sources, which must not be touched.
cp -rL "$root/configs/assets/demo_vos" "$tmp/broken"
chmod -R u+w "$tmp/broken"
truncate -s 100 "$tmp/broken/JPEGImages/synth_0002/00003.jpg"
echo "not a png" > "$tmp/broken/Annotations/synth_0005/00001.png"
args=(--layout=davis --img_folder="$tmp/broken/JPEGImages"
  --gt_folder="$tmp/broken/Annotations" --min_frames=4)
set +e
"$job" "${args[@]}" > "$tmp/broken.out" 2>&1
code=$?
set -e
[[ $code == 1 ]] || { cat "$tmp/broken.out"; echo "FAIL: exit $code"; exit 1; }
grep -q "video 'synth_0002', frame 3: unreadable image: .*synth_0002/00003.jpg" "$tmp/broken.out"
grep -q "video 'synth_0005', frame 1: unreadable annotation: .*synth_0005/00001.png" "$tmp/broken.out"
grep -q ": 15 videos, .* 2 problem(s) (1 unreadable annotation, 1 unreadable image)" "$tmp/broken.out" || {
  cat "$tmp/broken.out"; exit 1; }

export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
set +e
timeout 120 mpirun --oversubscribe --bind-to none --mca btl self,vader \
  --mca btl_vader_single_copy_mechanism none -np 2 "$job" "${args[@]}" > "$tmp/ranks.out" 2>&1
code=$?
set -e
[[ $code != 0 ]] || { cat "$tmp/ranks.out"; exit 1; }
grep -q ": 15 videos, .* 2 problem(s)" "$tmp/ranks.out" || { cat "$tmp/ranks.out"; exit 1; }
grep -q "^rank [01]: .*synth_0002/00003.jpg" "$tmp/ranks.out"
echo PASS
