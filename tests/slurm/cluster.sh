# A one-node SLURM on this machine for tests: munged, slurmctld and slurmd
# from Debian's munge and slurm-wlm, on loopback ports, with every file
# (config, keys, state, logs, sockets) under one directory. Source it, then
#   slurm_up DIR CPUS     starts the daemons (bounded waits), exports SLURM_CONF
#   slurm_down DIR        stops what slurm_up started
# Measured on Debian 12 (SLURM 22.05): MpiDefault=pmix is needed for Open MPI
# ranks under srun; proctrack/linuxproc and task/none avoid cgroups;
# SlurmdParameters=config_overrides lets the node offer more CPUs than it has.

# The daemons live in /usr/sbin, outside Bazel's strict test PATH.
export PATH="$PATH:/usr/sbin:/sbin"

_slurm_port() {  # a free TCP port on loopback
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

slurm_up() {
  local dir=$1 cpus=${2:-4}
  mkdir -p "$dir"/{state,spool,munge}
  chmod 755 "$dir" "$dir/munge"  # munged's socket directory must be world-executable
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 600 "$dir/munge/munge.key"
  munged --force --key-file="$dir/munge/munge.key" \
    --socket="$dir/munge/munge.sock" --pid-file="$dir/munge/munged.pid" \
    --log-file="$dir/munge/munged.log" --seed-file="$dir/munge/munged.seed" \
    || { echo "slurm_up: munged failed"; cat "$dir/munge/munged.log"; return 1; }
  local ctl_port slurmd_port
  ctl_port=$(_slurm_port)
  slurmd_port=$(_slurm_port)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=sam2test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctl_port
SlurmdPort=$slurmd_port
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.sock
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
JobRequeue=1
KillWait=2
MinJobAge=600
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF
  export SLURM_CONF="$dir/slurm.conf"
  slurmctld -i -f "$SLURM_CONF" || { echo "slurm_up: slurmctld failed"; cat "$dir/slurmctld.log"; return 1; }
  slurmd -N localhost -f "$SLURM_CONF" || { echo "slurm_up: slurmd failed"; cat "$dir/slurmd.log"; return 1; }
  local i
  for i in $(seq 1 60); do
    if sinfo -h -o "%T" 2> /dev/null | grep -qE "^idle"; then return 0; fi
    sleep 0.5
  done
  echo "slurm_up: the node did not become idle in 30 s"
  sinfo; tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log"
  return 1
}

slurm_down() {
  local dir=$1 f pid
  for f in slurmd.pid slurmctld.pid munge/munged.pid; do
    [[ -f "$dir/$f" ]] || continue
    pid=$(cat "$dir/$f")
    kill "$pid" 2> /dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2> /dev/null || true
  done
}
