#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for trying hydra/launcher=slurm and for the tests.
#   sudo bash scripts/slurm_cluster.sh up      # munged, MariaDB, slurmdbd, slurmctld, slurmd; waits for an idle node
#   sudo bash scripts/slurm_cluster.sh down    # stops what `up` started (by the pids in the state folder)
#   sudo bash scripts/slurm_cluster.sh status  # exit 0 when the node answers
# Needs root and Debian's packages (installed with apt-get when missing): slurm-wlm slurmdbd munge mariadb-server.
# The configuration goes to SLURM's default path (/etc/slurm/slurm.conf), so plain sinfo, sbatch, squeue, scontrol,
# scancel and sacct work in any shell of the machine. Everything else (state, spool, logs, the accounting database)
# lives in $RESLAB_SLURM_DIR (default /tmp/reslab-slurm). One node (this host, all its cores and most of its
# memory), one partition `debug`, proctrack/linuxproc and task/none (no cgroups), accounting through slurmdbd on a
# private MariaDB (submitit reads job states with sacct).
set -euo pipefail

STATE=${RESLAB_SLURM_DIR:-/tmp/reslab-slurm}
CLUSTER=reslab
PARTITION=debug
DB_PORT=${RESLAB_SLURM_DB_PORT:-3316}
CONF=/etc/slurm
NODE=$(hostname -s)
PACKAGES=(slurm-wlm slurmdbd munge mariadb-server)

log() { echo "[slurm_cluster] $*" >&2; }

install_packages() {
    local missing=()
    for cmd in slurmctld slurmd slurmdbd munged mariadbd; do
        command -v "$cmd" >/dev/null || PATH=$PATH:/usr/sbin command -v "$cmd" >/dev/null || missing+=("$cmd")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    command -v apt-get >/dev/null || { log "missing ${missing[*]} and no apt-get"; exit 3; }
    log "installing ${PACKAGES[*]} (missing: ${missing[*]})"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${PACKAGES[@]}" >/dev/null
}

node_state() { sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1; }

wait_for() {  # wait_for <seconds> <what> <command...>
    local seconds=$1 what=$2; shift 2
    for _ in $(seq $((seconds * 5))); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    log "timed out waiting for $what (logs in $STATE)"; exit 4
}

write_configs() {
    local cpus mem_mb
    cpus=$(nproc)
    mem_mb=$(( $(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 * 9 / 10 ))  # leave the system a tenth
    mkdir -p "$CONF" "$STATE"/{ctld,spool,log}
    cat >"$CONF/slurm.conf" <<EOF
# Written by reslab scripts/slurm_cluster.sh: a one-node cluster on $NODE (state in $STATE).
ClusterName=$CLUSTER
SlurmctldHost=$NODE(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/spool
SlurmctldPidFile=$STATE/slurmctld.pid
SlurmdPidFile=$STATE/slurmd.pid
SlurmctldLogFile=$STATE/log/slurmctld.log
SlurmdLogFile=$STATE/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU_Memory
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=2
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
JobRequeue=1
ReturnToService=2
KillWait=5
MinJobAge=300
SlurmctldTimeout=30
SlurmdTimeout=30
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=$PARTITION Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    cat >"$CONF/slurmdbd.conf" <<EOF
# Written by reslab scripts/slurm_cluster.sh: accounting for the one-node cluster, on a private MariaDB.
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
SlurmUser=root
PidFile=$STATE/slurmdbd.pid
LogFile=$STATE/log/slurmdbd.log
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
EOF
    chmod 600 "$CONF/slurmdbd.conf"
}

start_munge() {
    [ -s /etc/munge/munge.key ] || { dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 2>/dev/null; }
    chown munge:munge /etc/munge/munge.key && chmod 400 /etc/munge/munge.key
    mkdir -p /run/munge /var/log/munge /var/lib/munge && chown munge:munge /run/munge /var/log/munge /var/lib/munge
    if ! munge -n </dev/null >/dev/null 2>&1; then
        runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
        cp /run/munge/munged.pid "$STATE/munged.pid" 2>/dev/null || true
    fi
    wait_for 10 munged bash -c 'munge -n | unmunge'
}

start_database() {
    local data=$STATE/mysql
    if [ ! -d "$data/mysql" ]; then
        mariadb-install-db --user=root --datadir="$data" --auth-root-authentication-method=socket \
            --skip-test-db >"$STATE/log/mariadb-install.log" 2>&1
    fi
    mariadbd --user=root --datadir="$data" --socket="$STATE/mysqld.sock" --pid-file="$STATE/mysqld.pid" \
        --bind-address=127.0.0.1 --port="$DB_PORT" --log-error="$STATE/log/mariadb.log" \
        --innodb-buffer-pool-size=64M >/dev/null 2>&1 &
    wait_for 30 MariaDB mariadb --socket="$STATE/mysqld.sock" -e 'select 1'
    mariadb --socket="$STATE/mysqld.sock" <<'EOF'
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY 'slurm';
CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';
EOF
}

up() {
    [ "$(id -u)" -eq 0 ] || { log "needs root (the daemons run as root on this one-node cluster)"; exit 3; }
    if [ "$(node_state)" = idle ] || [ "$(node_state)" = mixed ] || [ "$(node_state)" = allocated ]; then
        log "already up: $(sinfo -h -o '%P %D %T %N')"; return 0
    fi
    install_packages
    PATH=$PATH:/usr/sbin
    write_configs
    start_munge
    start_database
    slurmdbd
    wait_for 30 slurmdbd sacctmgr -n list cluster
    sacctmgr -i add cluster "$CLUSTER" >/dev/null 2>&1 || true  # already there when the database is kept
    slurmctld
    wait_for 30 slurmctld scontrol ping
    slurmd
    wait_for 60 "node $NODE idle" bash -c "[ \"\$(sinfo -h -n $NODE -o %T)\" = idle ]"
    log "up: $(sinfo -h -o '%P %D %T %N %c CPUs %m MB'); state and logs in $STATE"
}

stop_pid() {  # stop_pid <pid file> <name>: TERM, then KILL after 10 s
    local file=$1 pid
    [ -s "$file" ] || return 0
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid"
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
        kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
    fi
    rm -f "$file"
}

down() {
    [ "$(id -u)" -eq 0 ] || { log "needs root"; exit 3; }
    PATH=$PATH:/usr/sbin
    scancel --user=root >/dev/null 2>&1 || true
    stop_pid "$STATE/slurmd.pid"
    stop_pid "$STATE/slurmctld.pid"
    stop_pid "$STATE/slurmdbd.pid"
    stop_pid "$STATE/mysqld.pid"
    stop_pid "$STATE/munged.pid"
    # the state folder stays: job ids go on from where they stopped (the accounting database remembers the old ones)
    log "down"
}

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) state=$(node_state); [ -n "$state" ] && echo "$state" || exit 1 ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
