#!/usr/bin/env bash
# A real single-node Slurm cluster on this machine, for tests/test_slurm.py (run as root).
#
#   tests/cluster/slurm_up.sh        install (apt, if missing), configure, start, wait until idle
#   tests/cluster/slurm_up.sh down   stop every daemon this script started
#
# Debian's slurm-wlm (slurmctld + slurmd) with munge, and job accounting through slurmdbd on
# MariaDB: the Snakemake executor plugin reads job states with `sacct`, which needs accounting
# storage ("Slurm accounting storage is disabled" otherwise), and checks the account with sacctmgr.
# The node gets this machine's CPUs and (90 % of its) memory, two partitions (`cpu`, the default,
# and `gpu`, the names profiles/slurm uses) and a count-only GPU gres (no device behind it), so
# that the profile's `--gpus=1` requests are scheduled exactly as on a real GPU partition.
# Everything lives under $SLURM_TEST_STATE (default /var/lib/jazz-slurm); the daemons run as root.
set -euo pipefail

STATE=${SLURM_TEST_STATE:-/var/lib/jazz-slurm}
ACCOUNT=${SLURM_TEST_ACCOUNT:-jazz}
CLUSTER=jazzsolo
NODE=$(hostname -s)
FAKE_GPUS=${SLURM_TEST_GPUS:-2}

log() { echo "slurm_up: $*" >&2; }

stop_pidfile() {  # stop the daemon whose pid is in $1, wait for it to go
    local pidfile=$1 pid
    [[ -s $pidfile ]] || return 0
    pid=$(cat "$pidfile")
    if kill "$pid" 2>/dev/null; then
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    fi
    rm -f "$pidfile"
}

down() {
    stop_pidfile "$STATE/run/slurmd.pid"
    stop_pidfile "$STATE/run/slurmctld.pid"
    stop_pidfile "$STATE/run/slurmdbd.pid"
    if [[ -S $STATE/run/mysqld.sock ]]; then
        mysqladmin --socket="$STATE/run/mysqld.sock" -uroot shutdown 2>/dev/null || true
    fi
    stop_pidfile "$STATE/run/mysqld.pid"
    stop_pidfile "$STATE/run/munged.pid"
    log "stopped"
}

if [[ ${1:-up} == down ]]; then down; exit 0; fi
[[ $(id -u) == 0 ]] || { log "must run as root"; exit 1; }

# --- packages -------------------------------------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmdbd >/dev/null \
   || ! command -v munged >/dev/null || ! command -v mariadbd >/dev/null; then
    log "installing slurm-wlm, slurmdbd, munge, mariadb-server (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends slurm-wlm slurmdbd munge mariadb-server >/dev/null
fi

down >/dev/null 2>&1 || true   # idempotent: a second `up` restarts cleanly
mkdir -p "$STATE"/{run,log,ctld,spool,mysql}
chown mysql:mysql "$STATE/mysql"

# --- munge (authentication between the daemons and the commands) -----------------------------
[[ -s /etc/munge/munge.key ]] || { mungekey --create --force 2>/dev/null || create-munge-key -f; }
mkdir -p /run/munge && chown munge:munge /run/munge
chmod 1777 "$STATE/run"   # munged (as munge) and mariadbd (as mysql) write pid files here
runuser -u munge -- /usr/sbin/munged --pid-file="$STATE/run/munged.pid" --force </dev/null >/dev/null 2>&1
munge -n | unmunge >/dev/null || { log "munge does not work"; exit 1; }

# --- MariaDB for slurmdbd ---------------------------------------------------------------------
if [[ ! -d $STATE/mysql/mysql ]]; then
    mariadb-install-db --user=mysql --datadir="$STATE/mysql" --auth-root-authentication-method=socket >/dev/null
fi
mariadbd --user=mysql --datadir="$STATE/mysql" --socket="$STATE/run/mysqld.sock" \
    --pid-file="$STATE/run/mysqld.pid" --skip-networking=0 --bind-address=127.0.0.1 --port=3306 \
    --innodb-buffer-pool-size=64M --log-error="$STATE/log/mysqld.log" </dev/null >/dev/null 2>&1 &
for _ in $(seq 100); do [[ -S $STATE/run/mysqld.sock ]] && break; sleep 0.2; done
DBPASS=jazz-slurm-test
mariadb --socket="$STATE/run/mysqld.sock" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DBPASS';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
SQL

# --- Slurm configuration ----------------------------------------------------------------------
CPUS=$(nproc)
MEM_MB=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))
mkdir -p /etc/slurm
cat > /etc/slurm/slurm.conf <<CONF
# Written by tests/cluster/slurm_up.sh: a one-node test cluster.
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/run/slurmctld.pid
SlurmdPidFile=$STATE/run/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
ReturnToService=2
SlurmdParameters=config_overrides
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
GresTypes=gpu
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageEnforce=associations
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
MinJobAge=300
KillWait=5
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB Gres=gpu:$FAKE_GPUS State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE MaxTime=INFINITE State=UP
CONF
# Stand-ins for /dev/nvidia* (character devices like /dev/null): --gpus requests are scheduled
# and counted, nothing is bound.
for i in $(seq 0 $((FAKE_GPUS - 1))); do
    [[ -c $STATE/fakegpu$i ]] || { rm -f "$STATE/fakegpu$i"; mknod "$STATE/fakegpu$i" c 1 3; }
done
cat > /etc/slurm/gres.conf <<CONF
NodeName=$NODE Name=gpu File=$STATE/fakegpu[0-$((FAKE_GPUS - 1))]
CONF
cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$STATE/run/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=3306
StorageUser=slurm
StoragePass=$DBPASS
StorageLoc=slurm_acct_db
CONF
chmod 600 /etc/slurm/slurmdbd.conf

# --- daemons ----------------------------------------------------------------------------------
daemon() { "$@" </dev/null >/dev/null 2>&1; }   # the daemons fork; keep them off our stdout
daemon slurmdbd
for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.3; done
sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true
sacctmgr -i add account "$ACCOUNT" Cluster="$CLUSTER" Description="jazz-solo tests" >/dev/null 2>&1 || true
sacctmgr -i add user root Account="$ACCOUNT" DefaultAccount="$ACCOUNT" >/dev/null 2>&1 || true
daemon slurmctld
daemon slurmd
sleep 1
# A node drained by an earlier start (state is kept in $STATE/ctld) comes back.
scontrol update NodeName="$NODE" State=RESUME >/dev/null 2>&1 || true
for _ in $(seq 150); do
    state=$(sinfo -h -N -o %T 2>/dev/null | head -1)
    [[ $state == idle ]] && break
    sleep 0.2
done
if [[ ${state:-} != idle ]]; then
    log "node state is '${state:-none}', not idle; logs in $STATE/log"
    tail -n 5 "$STATE"/log/*.log >&2 || true
    exit 1
fi
sacct -n -X -S now-1minute >/dev/null || { log "sacct does not work"; exit 1; }
log "up: node $NODE, $CPUS CPUs, $MEM_MB MB, gpu:$FAKE_GPUS (count only), partitions cpu+gpu, account $ACCOUNT"
sinfo
