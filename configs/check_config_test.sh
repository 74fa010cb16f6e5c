#!/usr/bin/env bash
# End-to-end: the check_config binary finds configs in its runfiles, accepts
# a valid config, and rejects a bad one with the file and line.
set -euo pipefail
bin="$TEST_SRCDIR/sam2_train_cpp/configs/check_config"

"$bin" --config=parity_small --model_only 2>"$TEST_TMPDIR/ok.err"
grep -q "parity_small.pbtxt: valid" "$TEST_TMPDIR/ok.err"

"$bin" --config=parity_small --print_config --model_only >"$TEST_TMPDIR/printed.pbtxt" 2>/dev/null
grep -q "num_maskmem: 7" "$TEST_TMPDIR/printed.pbtxt"
# The printed config is itself a loadable config.
"$bin" --config="$TEST_TMPDIR/printed.pbtxt" --model_only 2>/dev/null

if "$bin" --config=parity_small --model_only --set='model { image_size: 320 }' 2>"$TEST_TMPDIR/bad.err"; then
  echo "expected a validation failure"; exit 1
fi
grep -q "feat_sizes: is \[16, 16\] but must equal" "$TEST_TMPDIR/bad.err"

if "$bin" --config=mose 2>"$TEST_TMPDIR/mose.err"; then
  echo "expected missing paths"; exit 1
fi
grep -q "mose.pbtxt:[0-9]*:[0-9]*: data.train.datasets\[0\].concat\[0\].png.img_folder: is not set" "$TEST_TMPDIR/mose.err"

if "$bin" --config=parity_small --bogus 2>"$TEST_TMPDIR/flag.err"; then
  echo "expected an unknown flag error"; exit 1
fi
grep -q "unknown flag --bogus" "$TEST_TMPDIR/flag.err"
echo PASS
