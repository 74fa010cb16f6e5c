#!/usr/bin/env bash
# The gradient sync's share of a training step on 2 CPU ranks (mpirun), for
# the parity-small model on the bundled demo videos at 256 px, next to the
# same step in one process. Run on an otherwise idle machine:
#
#   bazel build //jobs:train && tools/sync_bench.sh [STEPS]
#
# Prints median_step_s for 1 process, then median_step_s, median_sync_s and
# sync_share for 2 ranks (sync included in the step; rank 0's timings).
set -euo pipefail
cd "$(dirname "$0")/.."
steps="${1:-12}"
train=bazel-bin/jobs/train
data="$(python3 tools/step_bench/demo_data.py 256)"
common=(--config=parity_small --set="$data"
  --set='trainer { mode: "train_only" } distributed { find_unused_parameters: true }'
  --benchmark_steps="$steps")
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "== 1 process"
"$train" "${common[@]}" --set="launcher { experiment_log_dir: \"$tmp/one\" }" 2> /dev/null | grep -E "median_step_s"
echo "== 2 ranks"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpirun --oversubscribe --bind-to none --mca btl self,vader \
  --mca btl_vader_single_copy_mechanism none -np 2 "$train" "${common[@]}" \
  --set="launcher { experiment_log_dir: \"$tmp/two\" gpus_per_node: 2 }" 2> /dev/null |
  grep -E "median_step_s|median_sync_s|sync_share"
