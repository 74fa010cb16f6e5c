#!/bin/bash
# The command line writes the requested formats and rejects unknown ones.
set -euo pipefail
tool="$1"
out="${TEST_TMPDIR}/cli"
"$tool" --output_dir="$out" --num_videos=3 --num_frames=4 --height=64 --width=64 \
  --formats=davis,sav --seed=2 > /dev/null
test "$(ls "$out/davis/JPEGImages" | wc -l)" -eq 3
test "$(ls "$out/davis/Annotations/synth_0003" | wc -l)" -eq 4
test -f "$out/sav/sav_train/sav_000002_manual.json"
test ! -e "$out/sa1b"
if "$tool" --output_dir="$out" --formats=davis,coco 2> "$TEST_TMPDIR/err"; then
  echo "unknown format accepted"; exit 1
fi
grep -q "unknown format 'coco'" "$TEST_TMPDIR/err"
if "$tool" 2> "$TEST_TMPDIR/err2"; then echo "missing --output_dir accepted"; exit 1; fi
grep -q "output_dir" "$TEST_TMPDIR/err2"
echo PASS
