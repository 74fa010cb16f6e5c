#!/usr/bin/env bash
# The checkpoint tool: inspect the fixture, export it, inspect the export,
# and fail clearly on bad input.
set -euo pipefail
bin="$TEST_SRCDIR/sam2_train_cpp/sam2/checkpoint/checkpoint_main"
fixture="$TEST_SRCDIR/sam2_train_cpp/tests/testdata/parity/parity_small_model.pt"

"$bin" inspect "$fixture" > "$TEST_TMPDIR/inspect.txt"
grep -q "model: OrderedDict (347 entries)" "$TEST_TMPDIR/inspect.txt"
grep -q "image_encoder.trunk.pos_embed *\[1, 16, 7, 7\] *Float" "$TEST_TMPDIR/inspect.txt"
grep -q "total: 1497298 values" "$TEST_TMPDIR/inspect.txt"

"$bin" export --input="$fixture" --output="$TEST_TMPDIR/exported.pt"
"$bin" inspect "$TEST_TMPDIR/exported.pt" > "$TEST_TMPDIR/inspect2.txt"
grep -q "total: 1497298 values" "$TEST_TMPDIR/inspect2.txt"

if "$bin" inspect "$TEST_TMPDIR/inspect.txt" 2> "$TEST_TMPDIR/err.txt"; then
  echo "expected failure on a text file"; exit 1
fi
grep -q "inspect.txt" "$TEST_TMPDIR/err.txt"
if "$bin" export --input="$fixture" --bogus=1 2> /dev/null; then
  echo "expected failure on an unknown flag"; exit 1
fi
echo PASS
