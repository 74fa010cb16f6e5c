#!/usr/bin/env bash
# Checks tools/export_build.py end to end on this machine: exports
# //jobs:train (with the Debian libraries packed), builds the export with
# ninja against Debian's LibTorch, trains the demo for 2 epochs with both
# binaries and compares the exported weights byte for byte.
#
#   bazel build //jobs:train //sam2/checkpoint:checkpoint_main
#   tools/export_build_check.sh [EXPORT_DIR]     (about 4 minutes on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-$(mktemp -d)/sam2-export}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 tools/export_build.py --out="$out" --pack
(cd "$out" && ./configure.sh && ninja -j"$(nproc)")
head -4 configs/assets/demo_vos/file_list.txt > "$tmp/four.txt"
args=(--config=demo --set="data { train { num_workers: 1 datasets { concat { png { file_list_txt: \"$tmp/four.txt\" } } } } }"
  --set='trainer { max_epochs: 2 }')
(cd "$out" && ./bazel-out/k8-opt/bin/jobs/train "${args[@]}" \
  --set="launcher { experiment_log_dir: \"$tmp/exported\" }" > "$tmp/exported.log" 2>&1)
bazel-bin/jobs/train "${args[@]}" --set="launcher { experiment_log_dir: \"$tmp/bazel\" }" > "$tmp/bazel.log" 2>&1
for run in exported bazel; do
  bazel-bin/sam2/checkpoint/checkpoint_main export --input="$tmp/$run/checkpoints/checkpoint.pt" \
    --output="$tmp/$run.pt" > /dev/null
done
cmp "$tmp/exported.pt" "$tmp/bazel.pt"
echo "export_build_check: the exported build trains the same weights as Bazel's (md5 $(md5sum < "$tmp/bazel.pt" | cut -c1-12)); export: $out ($(du -sh "$out" | cut -f1))"
