#!/usr/bin/env bash
# jobs/slurm/train.sbatch on a real one-node SLURM started by this test
# (tests/slurm/cluster.sh: munged, slurmctld, slurmd on loopback):
#  1. `sbatch -n 2` of the template trains bitwise the same demo model as
#     `mpirun -np 2`;
#  2. `scancel --signal=USR1` mid-run: every rank checkpoints at the next step
#     boundary, rank 0 requeues the job, the requeued job (restart 1) resumes
#     and ends with the same weights as an uninterrupted run;
#  3. one rank killed with -9 fails the job within a bound, no hang.
set -euo pipefail
root="$TEST_SRCDIR/sam2_train_cpp"
train="$root/jobs/train"
ckpt_tool="$root/sam2/checkpoint/checkpoint_main"
sbatch_file="$root/jobs/slurm/train.sbatch"
source "$root/tests/slurm/cluster.sh"
# A short directory: munged's socket path must fit in 108 bytes.
cluster="$(mktemp -d /tmp/sam2-slurm.XXXXXX)"
trap 'slurm_down "$cluster"; rm -rf "$cluster"' EXIT
slurm_up "$cluster" 4
tmp="$TEST_TMPDIR"
head -4 "$root/configs/assets/demo_vos/file_list.txt" > "$tmp/four.txt"
export SAM2_TRAIN="$train" OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
args() {  # args DIR EPOCHS
  echo "--config=demo"
  echo "--set=launcher { experiment_log_dir: \"$1\" gpus_per_node: 2 }"
  echo "--set=data { train { num_workers: 1 datasets { concat { png { file_list_txt: \"$tmp/four.txt\" } } } } }"
  echo "--set=trainer { max_epochs: $2 } logging { log_freq: 1 }"
}
mapfile -t short < <(args "$tmp/mpi" 2)
mapfile -t long < <(args "$tmp/mpi_long" 10)
state() { scontrol show job "$1" | grep -o "JobState=[A-Z_]*" | cut -d= -f2; }
wait_state() {  # wait_state JOB SECONDS STATE... : until the job is in one
  local job=$1 seconds=$2; shift 2
  local s
  for _ in $(seq 1 $((seconds * 5))); do
    s=$(state "$job")
    for want in "$@"; do [[ $s == "$want" ]] && return 0; done
    sleep 0.2
  done
  echo "FAIL: job $job is $s after $seconds s (wanted $*)"
  cat "$tmp"/*.out 2> /dev/null | tail -40
  return 1
}
export_model() {
  "$ckpt_tool" export --input="$1/checkpoints/checkpoint.pt" --output="$2" > /dev/null
}
mpi=(timeout 300 mpirun --oversubscribe --bind-to none --mca btl self,vader
  --mca btl_vader_single_copy_mechanism none --mca oob_tcp_if_include lo -np 2)

# 1. sbatch == mpirun.
"${mpi[@]}" "$train" "${short[@]}" > "$tmp/mpi.log" 2>&1 || { cat "$tmp/mpi.log"; exit 1; }
mapfile -t short_sb < <(args "$tmp/sbatch" 2)
job=$(sbatch --parsable -n 2 --cpus-per-task=1 --output="$tmp/sbatch.out" \
  "$sbatch_file" "${short_sb[@]}")
wait_state "$job" 120 COMPLETED FAILED CANCELLED
[[ $(state "$job") == COMPLETED ]] || { cat "$tmp/sbatch.out"; exit 1; }
grep -q "SLURM job $job (restart 0): 2 tasks on 1 node (localhost)" "$tmp/sbatch/logs/log.txt"
export_model "$tmp/mpi" "$tmp/mpi.pt"
export_model "$tmp/sbatch" "$tmp/sbatch.pt"
cmp "$tmp/mpi.pt" "$tmp/sbatch.pt" || { echo "FAIL: sbatch and mpirun trained different weights"; exit 1; }
echo "sbatch == mpirun: md5 $(md5sum < "$tmp/sbatch.pt" | cut -c1-12)"

# 2. Preempted with SIGUSR1, requeued, resumed: the uninterrupted weights.
"${mpi[@]}" "$train" "${long[@]}" > "$tmp/mpi_long.log" 2>&1 || { cat "$tmp/mpi_long.log"; exit 1; }
mapfile -t long_sb < <(args "$tmp/preempted" 10)
job=$(sbatch --parsable -n 2 --cpus-per-task=1 --output="$tmp/preempted.out" \
  "$sbatch_file" "${long_sb[@]}")
for _ in $(seq 1 600); do
  grep -q "step 5 " "$tmp/preempted/logs/log.txt" 2> /dev/null && break
  sleep 0.1
done
grep -q "step 5 " "$tmp/preempted/logs/log.txt" || { cat "$tmp/preempted.out"; echo "FAIL: no training"; exit 1; }
scancel --signal=USR1 "$job"
# Requeueing passes through states (REQUEUED, and briefly others while the
# old step is cancelled) before the job is PENDING again.
wait_state "$job" 60 PENDING
# A requeued job waits ~120 s for its begin time; this test starts it at once,
# but only after the first run is gone from the node and the clock has moved
# past the second slurmd revoked its credential: slurmd refuses a job
# credential issued in the same second as the revocation (a whole-second
# comparison; the job then ends FAILED at once with no output, as it did
# twice in this test's history when started early). The revocation comes
# before the first run's step daemons exit.
for _ in $(seq 1 100); do
  pgrep -f "slurmstepd: \[$job\." > /dev/null || break
  sleep 0.1
done
gone_at=$(date +%s)
while (( $(date +%s) <= gone_at )); do sleep 0.1; done
scontrol update JobId="$job" StartTime=now
wait_state "$job" 180 COMPLETED FAILED
[[ $(state "$job") == COMPLETED ]] || {
  echo "FAIL: the requeued job ended $(state "$job")"
  scontrol show job "$job"; cat "$tmp/preempted.out"
  tail -n 40 "$cluster/slurmctld.log" "$cluster/slurmd.log"; exit 1; }
log="$tmp/preempted/logs/log.txt"
grep -E "SLURM job|Stopping|Resuming|Done" "$log"
# Every rank gets the signal; rank 0 logs it as its own or, when another
# rank's request reached the agreement first, as that one.
grep -qE "Stopping (at step [0-9]+|after epoch [0-9]+) \((signal 10 |a stop request on another rank)" "$log"
grep -q "SLURM job $job (restart 1)" "$log"
grep -q "Resuming from $tmp/preempted/checkpoints/checkpoint.pt" "$log"
grep -q "SLURM job $job requeued" "$tmp/preempted.out"
export_model "$tmp/mpi_long" "$tmp/mpi_long.pt"
export_model "$tmp/preempted" "$tmp/preempted.pt"
cmp "$tmp/mpi_long.pt" "$tmp/preempted.pt" || {
  echo "FAIL: the preempted and requeued job ended with other weights"; exit 1; }
echo "preempted + requeued == uninterrupted: md5 $(md5sum < "$tmp/preempted.pt" | cut -c1-12)"

# 3. A rank killed with -9 fails the job, bounded.
mapfile -t kill_sb < <(args "$tmp/killed" 1000)
job=$(sbatch --parsable -n 2 --cpus-per-task=1 --output="$tmp/killed.out" \
  "$sbatch_file" "${kill_sb[@]}")
for _ in $(seq 1 600); do
  grep -q "step 3 " "$tmp/killed/logs/log.txt" 2> /dev/null && break
  sleep 0.1
done
ranks=($(pgrep -f "^$train .*$tmp/killed"))
[[ ${#ranks[@]} == 2 ]] || { echo "FAIL: expected 2 ranks, found ${ranks[*]:-none}"; exit 1; }
start=$(date +%s%N)
kill -9 "${ranks[1]}"
wait_state "$job" 60 FAILED CANCELLED COMPLETED
elapsed_ms=$(( ($(date +%s%N) - start) / 1000000 ))
[[ $(state "$job") == FAILED ]] || { cat "$tmp/killed.out"; echo "FAIL: job $(state "$job")"; exit 1; }
pgrep -f "^$train .*$tmp/killed" > /dev/null && { echo "FAIL: a rank survived"; exit 1; }
echo "killed rank: job $job FAILED ${elapsed_ms} ms after the kill; it printed:"
grep -vE "^INFO|^WARNING" "$tmp/killed.out" | tail -5
echo PASS
