#!/usr/bin/env bash
# Faults: a rank killed mid-run (SIGKILL, as the OOM killer or a lost node
# would) ends the whole job with a non-zero exit within a bound, and the
# surviving rank does not wait forever; an error on the ranks (here a
# missing resume_from) ends every rank non-zero with a message naming the
# rank.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
train="$root/jobs/train"
tmp="$TEST_TMPDIR"
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
mpi=(mpirun --oversubscribe --bind-to none --mca btl self,vader
  --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo)
head -4 "$root/configs/assets/demo_vos/file_list.txt" > "$tmp/four.txt"
args=(--config=demo
  --set="launcher { experiment_log_dir: \"$tmp/run\" gpus_per_node: 2 }"
  --set="data { train { num_workers: 1 datasets { concat { png { file_list_txt: \"$tmp/four.txt\" } } } } }"
  --set='trainer { max_epochs: 1000 } logging { log_freq: 1 }')

"${mpi[@]}" -np 2 "$train" "${args[@]}" > "$tmp/killed.out" 2>&1 &
job=$!
# Wait (bounded) until the ranks train.
for _ in $(seq 1 600); do
  grep -q "step 3 " "$tmp/run/logs/log.txt" 2> /dev/null && break
  sleep 0.1
done
grep -q "step 3 " "$tmp/run/logs/log.txt" || { cat "$tmp/killed.out"; echo "FAIL: no training"; exit 1; }
ranks=($(pgrep -P "$job" -f jobs/train))
[[ ${#ranks[@]} == 2 ]] || { echo "FAIL: expected 2 rank processes, got ${ranks[*]}"; exit 1; }
start=$(date +%s%N)
kill -9 "${ranks[1]}"
ended=0
for _ in $(seq 1 600); do
  if ! kill -0 "$job" 2> /dev/null; then ended=1; break; fi
  sleep 0.1
done
if [[ $ended == 0 ]]; then
  kill -9 "$job" 2> /dev/null || true
  echo "FAIL: the job still runs 60 s after a rank was killed"; exit 1
fi
set +e
wait "$job"
code=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $code != 0 ]] || { cat "$tmp/killed.out"; echo "FAIL: exit 0 after a killed rank"; exit 1; }
pgrep -f "$tmp/run" > /dev/null && { echo "FAIL: a rank survived"; exit 1; }
grep -q "exited on signal 9" "$tmp/killed.out" || { cat "$tmp/killed.out"; exit 1; }
echo "killed rank: the job ended with exit $code ${elapsed_ms} ms after the kill"

# A rank that hangs (SIGSTOP) makes the other time out in its collective
# (distributed.timeout_mins: 0.1 = 6 s), naming the collective, its sequence
# number and the rank that did not arrive, with a trace under the log dir.
hung="$tmp/hung"
"${mpi[@]}" -np 2 "$train" "${args[@]}" \
  --set="launcher { experiment_log_dir: \"$hung\" }" \
  --set='distributed { timeout_mins: 0.1 }' > "$tmp/hung.out" 2>&1 &
job=$!
for _ in $(seq 1 600); do
  grep -q "step 3 " "$hung/logs/log.txt" 2> /dev/null && break
  sleep 0.1
done
ranks=($(pgrep -P "$job" -f jobs/train))
[[ ${#ranks[@]} == 2 ]] || { echo "FAIL: expected 2 rank processes"; exit 1; }
start=$(date +%s%N)
kill -STOP "${ranks[1]}"
ended=0
for _ in $(seq 1 600); do
  if ! kill -0 "$job" 2> /dev/null; then ended=1; break; fi
  sleep 0.1
done
[[ $ended == 1 ]] || { kill -9 "$job" "${ranks[@]}" 2> /dev/null; echo "FAIL: no timeout in 60 s"; exit 1; }
set +e
wait "$job"
code=$?
set -e
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $code != 0 ]] || { cat "$tmp/hung.out"; echo "FAIL: exit 0 after a hung rank"; exit 1; }
line=$(grep -E "^rank [01]: MPI_[A-Za-z]+ #[0-9]+ has waited [0-9]+ s for the other ranks \(timeout 6 s" "$tmp/hung.out" || true)
[[ -n $line ]] || { cat "$tmp/hung.out"; echo "FAIL: no timeout message"; exit 1; }
echo "$line" | grep -qE "ranks that did not arrive: [01] \(last at #[0-9]+" || {
  echo "$line"; echo "FAIL: the missing rank is not named"; exit 1; }
waiting=$(echo "$line" | sed -E 's/^rank ([01]):.*/\1/')
grep -q "waiting" "$hung/logs/collectives/rank$waiting.trace"
echo "hung rank: the job ended with exit $code ${elapsed_ms} ms after SIGSTOP:"
echo "  $line"

# An error on the ranks ends every rank, naming it.
set +e
timeout 120 "${mpi[@]}" -np 2 "$train" "${args[@]}" \
  --set="launcher { experiment_log_dir: \"$tmp/bad\" }" \
  --set="checkpoint { resume_from: \"$tmp/missing.pt\" }" > "$tmp/bad.out" 2>&1
code=$?
set -e
[[ $code != 0 && $code != 124 ]] || { cat "$tmp/bad.out"; echo "FAIL: exit $code"; exit 1; }
grep -q "train: rank [01] of 2: checkpoint.resume_from: $tmp/missing.pt does not exist" "$tmp/bad.out" || {
  cat "$tmp/bad.out"; exit 1; }
grep -q "train: ending every rank" "$tmp/bad.out"
echo PASS
