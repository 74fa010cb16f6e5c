#!/bin/bash
# //jobs:sav_eval end to end: the reference's results.csv byte for byte, the
# same numbers on 1 and 4 threads, --help, and errors that name the file
# with a non-zero exit.
set -euo pipefail

bin="$PWD/jobs/sav_eval"
cases="$PWD/eval/testdata/jf"
work="${TEST_TMPDIR:-/tmp}/sav_eval_test"
rm -rf "$work" && mkdir -p "$work"
fail() { echo "FAIL: $*" >&2; exit 1; }

copy_case() {  # copy_case NAME -> $work/NAME without the golden results
  rm -rf "$work/$1" && cp -rL "$cases/$1" "$work/$1"
  rm -f "$work/$1"/pred/results*.csv
}

for name in i_sav_layout ii_davis_layout iii_odd_sizes; do
  for threads in 1 4; do
    copy_case "$name"
    (cd "$work/$name" && "$bin" --gt_root=gt --pred_root=pred \
      --num_processes="$threads" >out.txt) || fail "$name exited non-zero"
    cmp "$work/$name/pred/results.csv" "$cases/$name/pred/results.csv" ||
      fail "$name results.csv ($threads threads)"
  done
done

copy_case i_sav_layout
(cd "$work/i_sav_layout" && "$bin" --gt_root gt --pred_root pred --quiet \
  --do_not_skip_first_and_last_frame >out.txt)
cmp "$work/i_sav_layout/pred/results.csv" \
  "$cases/i_sav_layout/pred/results_do_not_skip.csv" || fail "do-not-skip csv"
[[ "$(cat "$work/i_sav_layout/out.txt")" == \
  "Saving the results to pred/results.csv" ]] || fail "--quiet output"

"$bin" --help | grep -q -- "--do_not_skip_first_and_last_frame" ||
  fail "--help"

expect_error() {  # expect_error CODE TEXT ARGS... : exit CODE, TEXT on stderr
  local code=$1 text=$2 rc=0
  shift 2
  "$bin" "$@" >/dev/null 2>"$work/err.txt" || rc=$?
  [[ $rc == "$code" ]] || fail "exit $rc instead of $code for $*"
  grep -qF -- "$text" "$work/err.txt" ||
    fail "'$text' not in: $(cat "$work/err.txt")"
}

copy_case ii_davis_layout
d="$work/ii_davis_layout"
rm -r "$d/pred/davis_b"
expect_error 1 "davis_b" --gt_root="$d/gt" --pred_root="$d/pred" --strict
printf 'not a png' >"$d/pred/davis_a/00004.png"
expect_error 1 "$d/pred/davis_a/00004.png" --gt_root="$d/gt" \
  --pred_root="$d/pred"
cp "$cases/i_sav_layout/pred/sav_a/000/00004.png" "$d/pred/davis_a/00004.png"
expect_error 1 "size mismatch" --gt_root="$d/gt" --pred_root="$d/pred"
expect_error 1 "$work/missing" --gt_root="$work/missing" --pred_root="$d/pred"
expect_error 2 "unknown flag --bogus" --bogus --gt_root=a --pred_root=b
expect_error 2 "required" --gt_root="$d/gt"
[[ ! -e "$d/pred/results.csv" ]] || fail "results.csv written on error"
echo PASS
