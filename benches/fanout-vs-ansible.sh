#!/usr/bin/env bash
# The fan-out benchmark: the same rolling upgrade run by runbook and by Ansible, beside
# the physical floor measured in the same run.
#
#   bash benches/fanout-vs-ansible.sh [REPEATS]      # REPEATS: 3 unless given
#
# It prints a Markdown report on standard output (progress on standard error): machine,
# versions, then per mode and size the wall times (least to most of REPEATS runs), the
# ratios of their medians, the peak memory, and the raw measurements.
#
# The rollout: one `true` per host over 100 and then 1,000 hosts, in four waves (stages
# 1%, 10%, 30%, 100%: 1, 9, 20, 70 and 10, 90, 200, 700 hosts), no pause, at most 10
# hosts at a time (FANOUT_PARALLEL). 10 rather than Ansible's default of 5 forks: a
# usual production setting, the `parallel 10` of docs/language.md, and on this 2-core
# machine more would not run `true` or Ansible's modules any faster, only queue them.
#   runbook  `waves` over a TOML inventory, `parallel 10`, one step `readonly` (it
#            observes; a step that changes something would need a rollback) running
#            `run "true"` (a shell builtin, so run as `sh -c true`: one exec, as the
#            floor's `true`); `runbook run FILE --state-dir DIR --no-wait`, default
#            output (plain lines) to a file, a fresh state folder each run.
#   Ansible  ansible-core from PyPI (the newest pip gives this Python) in a venv:
#            `hosts: all`, `gather_facts: false`, `forks = 10`, one task
#            `ansible.builtin.command: "true"` (what playbooks use to run a command on
#            a host; `raw` is meant for hosts without Python). `serial` is the runbook's
#            waves as host counts, [1, 9, 20, 70]: Ansible reads "10%" as each batch's
#            share of the inventory, not a cumulative one, so ["1%", "10%", "30%",
#            "100%"] would be other batches (1, 10, 30, 59). Defaults otherwise (no
#            pipelining, retry files off as by default, facts cached in memory), except
#            `ansible_python_interpreter` set to the venv's Python (no discovery per
#            host) and its home and temporary folders in the work folder.
# Two modes, each with all three contestants:
#   local  runbook's default executor runs the command on this machine (hosts are
#          names); Ansible with `ansible_connection=local` for every host.
#   ssh    one sshd of our own on a free loopback port (key-only, keys generated in the
#          work folder, root login by key), every host an alias of 127.0.0.1 on it,
#          known_hosts holding its key and host key checking on. Ansible over its ssh
#          connection with its default ControlMaster=auto/ControlPersist=60s, one
#          master per host (`ansible_control_path` per inventory name: the default path
#          hashes address, port and user, which would put every alias on one
#          connection, as no real fleet is). runbook over its SSH executor, from the
#          inventory's `[defaults.ssh]` (OpenSSH too, one master per host, held by the
#          engine until the run ends); where `runbook run` fails on that inventory (a
#          build without the executor), runbook's row says why and the rest runs. Root's
#          login shell sources ~/.bashrc on every ssh command, and this machine's runs
#          `pyenv init` (0.25 s): sshd runs in a mount namespace of its own where that
#          file is empty, as on a fresh host.
# The floors: a plain loop (benches/fanout/benchtool.rs `floor`, one thread: spawn,
# append, reap) spawning the same commands in the same waves at the same parallelism,
# `true` locally, `ssh -i KEY -p PORT ... root@127.0.0.1 true` over ssh (a new
# connection each time, the same options, no multiplexing), plus synced appends
# (write + fdatasync): the first floor makes one per event the runbook run of that
# repetition logged (the lines of its events.jsonl); the second (local mode only) as
# many as runbook itself synced, counted by strace in an untimed run, since runbook
# commits several events with one sync.
# Every run is measured by benchtool `measure`: the wall time, the peak of the summed
# PSS of its whole process tree (sampled; ssh's daemonized masters included) and
# ru_maxrss as GNU time's %M reports it, and the CPU time (user + system) of the whole
# tree once it is reaped: the controller's side. Over ssh, the growth of sshd's CPU time
# over the run (its own and its reaped connections') is the hosts' side: on loopback the
# two share this machine's cores. Untimed warm-up runs of 10 hosts come first.
#
# Needs: the Rust toolchain, python3 with venv and pip, root for the ssh mode (sshd,
# a mount namespace), OpenSSH and strace, installed with apt-get when missing.
# ansible-core goes into $CARGO_TARGET_DIR/bench-venv (target/ by default), once.
# From the environment: FANOUT_SIZES ("100 1000"), FANOUT_MODES ("local ssh"),
# FANOUT_PARALLEL (10), ANSIBLE_CORE (a pip requirement, "ansible-core" by default).
# Everything is made in a temporary folder under /tmp, removed at the end with sshd
# stopped and every ssh master closed. With 3 repeats it takes about an hour on 2
# cores, nearly all of it Ansible's.
set -euo pipefail

repeats=${1:-3}
sizes=${FANOUT_SIZES:-100 1000}
modes=${FANOUT_MODES:-local ssh}
parallel=${FANOUT_PARALLEL:-10}
stages=(1 10 30 100)
[[ $repeats =~ ^[1-9][0-9]*$ ]] || { echo "usage: $0 [REPEATS]" >&2; exit 2; }

repo=$(cd "$(dirname "$0")/.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
say() { printf '%s\n' "$*" >&2; }

# ---------------------------------------------------------------- tools
say "building runbook (release) and the measuring helper"
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
runbook="$target/release/runbook"
mkdir -p "$target/bench-tools"
benchtool="$target/bench-tools/benchtool"
if [[ ! -x $benchtool || $repo/benches/fanout/benchtool.rs -nt $benchtool ]]; then
  rustc -O --edition 2021 -o "$benchtool" "$repo/benches/fanout/benchtool.rs"
fi

venv="$target/bench-venv"
if [[ ! -x $venv/bin/ansible-playbook ]]; then
  say "installing ${ANSIBLE_CORE:-ansible-core} into $venv"
  if ! python3 -m venv "$venv"; then
    rm -rf "$venv"
    apt-get update -qq && apt-get install -y -qq python3-venv
    python3 -m venv "$venv"
  fi
  "$venv/bin/pip" install --quiet "${ANSIBLE_CORE:-ansible-core}"
fi
ansible_version=$("$venv/bin/ansible-playbook" --version | sed -n 1p)

if [[ " $modes " == *" ssh "* ]] && { [[ ! -x /usr/sbin/sshd ]] || ! command -v ssh > /dev/null; }; then
  say "installing OpenSSH (server and client)"
  apt-get update -qq && apt-get install -y -qq openssh-server openssh-client
fi
if ! command -v strace > /dev/null; then
  say "installing strace (to count the syncs of a runbook run)"
  apt-get update -qq && apt-get install -y -qq strace || say "no strace: the floor per sync is left out"
fi

# ---------------------------------------------------------------- the work folder
work=$(mktemp -d /tmp/fanout-bench.XXXXXX)
sshd_pid=
cleanup() {
  # Ansible's ControlPersist masters (one per host) outlive it by 60 s: close them.
  close_masters
  if [[ -n $sshd_pid ]]; then
    kill "$sshd_pid" 2> /dev/null || true
    wait "$sshd_pid" 2> /dev/null || true
  fi
  rm -rf "$work"
}
close_masters() {
  local socket
  for socket in "$work"/cp/*; do
    [[ -S $socket ]] && ssh -o ControlPath="$socket" -O exit fanout-master > /dev/null 2>&1 || true
  done
}
trap cleanup EXIT
trap 'exit 130' INT TERM
mkdir -p "$work/cp" "$work/results" "$work/ansible-home" "$work/remote-tmp"

# The hosts each wave takes, as runbook plans them (docs/waves.md: the cumulative
# share rounded up, at least one host a wave), e.g. 1,9,20,70 for 100 hosts.
waves_of() {
  local hosts=$1 done=0 stage end size out=()
  for stage in "${stages[@]}"; do
    ((done < hosts)) || break
    end=$(((stage * hosts + 99) / 100))
    size=$((end - done))
    ((size >= 1)) || size=1
    ((done + size <= hosts)) || size=$((hosts - done))
    out+=("$size")
    done=$((done + size))
  done
  local IFS=,
  echo "${out[*]}"
}
host_name() { printf 'h%04d' "$1"; }

# ---------------------------------------------------------------- sshd on loopback
port=
ssh_opts=()
start_sshd() {
  local dir="$work/ssh"
  mkdir -p "$dir"
  ssh-keygen -q -t ed25519 -N '' -C fanout-host -f "$dir/host_key"
  ssh-keygen -q -t ed25519 -N '' -C fanout-client -f "$dir/id_ed25519"
  cp "$dir/id_ed25519.pub" "$dir/authorized_keys"
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$dir/host_key.pub")" > "$dir/known_hosts"
  cat > "$dir/sshd_config" <<EOF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host_key
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
# The work folder is under /tmp, which StrictModes would refuse.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
UseDNS no
PrintMotd no
PrintLastLog no
LogLevel ERROR
MaxStartups 200:30:400
MaxSessions 200
Subsystem sftp internal-sftp
EOF
  mkdir -p /run/sshd
  /usr/sbin/sshd -t -f "$dir/sshd_config"
  # The remote login shell is bash, which sources ~/.bashrc for a command over ssh.
  # This machine's root .bashrc runs `pyenv init` (a quarter of a second): a host's
  # own start-up files are not what is measured, so sshd and its sessions see an
  # empty one, bind-mounted in a mount namespace of their own.
  : > "$dir/empty_bashrc"
  if unshare --mount --propagation private true 2> /dev/null; then
    unshare --mount --propagation private sh -c \
      'if [ -f "$2" ]; then mount --bind "$1" "$2"; fi; shift 2; exec "$@"' \
      sh "$dir/empty_bashrc" "$(getent passwd root | cut -d: -f6)/.bashrc" /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>> "$dir/sshd.log" &
  else
    say "warning: no private mount namespace; remote commands source root's .bashrc"
    /usr/sbin/sshd -D -e -f "$dir/sshd_config" 2>> "$dir/sshd.log" &
  fi
  sshd_pid=$!
  ssh_opts=(-n -o BatchMode=yes -o IdentitiesOnly=yes -i "$dir/id_ed25519" -p "$port"
    -o UserKnownHostsFile="$dir/known_hosts" -o StrictHostKeyChecking=yes
    -o ConnectTimeout=10 -l root)
  local tries=0
  until ssh "${ssh_opts[@]}" 127.0.0.1 true 2> /dev/null; do
    ((++tries < 100)) || { cat "$dir/sshd.log" >&2; say "sshd did not answer on port $port"; exit 1; }
    sleep 0.1
  done
}

# ---------------------------------------------------------------- the contestants
# runbook: a runbook and its inventory for MODE over N hosts, in $work/MODE-N/.
write_runbook() {
  local mode=$1 hosts=$2 dir="$work/${3:-$1-$2}" n
  mkdir -p "$dir"
  {
    echo "# $hosts hosts, $mode"
    if [[ $mode == ssh ]]; then
      printf '[defaults]\nconnection = "ssh"\n\n[defaults.ssh]\nuser = "root"\nport = %s\n' "$port"
      printf 'identity = "%s"\nknown_hosts = "%s"\nconnect_timeout = "10s"\n' \
        "$work/ssh/id_ed25519" "$work/ssh/known_hosts"
    fi
    for ((n = 1; n <= hosts; n++)); do
      printf '\n[[hosts]]\nname = "%s"\n' "$(host_name "$n")"
      [[ $mode == ssh ]] && echo 'address = "127.0.0.1"'
    done
  } > "$dir/hosts.toml"
  cat > "$dir/fanout.rbk" <<EOF
runbook "fanout" {
  title "Fan-out: one true per host, in four waves"
}

role ops "Operations"

inventory fleet from "hosts.toml"

waves rollout {
  over fleet
  stages [1%, 10%, 30%, 100%]
  parallel $parallel

  step noop {
    owner ops
    readonly
    run "true"
  }
}
EOF
}

# Ansible: an INI inventory per mode and size, one playbook per size (its serial list
# is the runbook's waves as host counts, so both roll out the same batches: Ansible
# reads "10%" as a share of the inventory per batch, not cumulatively), one ansible.cfg.
write_ansible() {
  local mode=$1 hosts=$2 dir="$work/${3:-$1-$2}" n
  {
    echo "[fleet]"
    for ((n = 1; n <= hosts; n++)); do host_name "$n"; echo; done
    echo
    echo "[fleet:vars]"
    echo "ansible_python_interpreter=$venv/bin/python3"
    if [[ $mode == local ]]; then
      echo "ansible_connection=local"
    else
      echo "ansible_connection=ssh"
      echo "ansible_host=127.0.0.1"
      echo "ansible_port=$port"
      echo "ansible_user=root"
      echo "ansible_ssh_private_key_file=$work/ssh/id_ed25519"
      echo "ansible_ssh_common_args='-o UserKnownHostsFile=$work/ssh/known_hosts -o IdentitiesOnly=yes'"
      # One master connection per host, as with real hosts: the default control path
      # hashes address, port and user, which would put every alias of 127.0.0.1 on
      # one connection.
      echo "ansible_control_path=%(directory)s/{{inventory_hostname}}"
    fi
  } > "$dir/inventory.ini"
  cat > "$dir/playbook.yml" <<EOF
- name: fan-out, one true per host
  hosts: all
  gather_facts: false
  serial: [$(waves_of "$hosts" | sed 's/,/, /g')]
  tasks:
    - name: true on the host
      ansible.builtin.command: "true"
EOF
}

cat > "$work/ansible.cfg" <<EOF
[defaults]
forks = $parallel
retry_files_enabled = False
fact_caching = memory
host_key_checking = True
EOF
export ANSIBLE_CONFIG="$work/ansible.cfg" ANSIBLE_HOME="$work/ansible-home"
export ANSIBLE_LOCAL_TEMP="$work/ansible-home/tmp" ANSIBLE_REMOTE_TEMP="$work/remote-tmp"
export ANSIBLE_SSH_CONTROL_PATH_DIR="$work/cp" ANSIBLE_NOCOLOR=1

# ---------------------------------------------------------------- measuring
# measure NAME CMD...: one measured run, its line kept in results/NAME; output in
# NAME.out. Once the line is written, ssh masters the command left are closed, and the
# helper (their subreaper) reaps them.
measure() {
  local name=$1 tool sshd_before
  shift
  rm -f "$work/results/$name" "$work/results/$name.cpu"
  sshd_before=$(sshd_ticks)
  "$benchtool" measure "$work/results/$name" -- "$@" > "$work/results/$name.out" 2>&1 &
  tool=$!
  while [[ ! -f $work/results/$name ]] && kill -0 "$tool" 2> /dev/null; do sleep 0.2; done
  if [[ -f $work/results/$name ]]; then
    # How many ssh masters were left open (one per host for Ansible over ssh).
    sed -i "s/\$/ masters=$(find "$work/cp" -type s | wc -l)/" "$work/results/$name"
  fi
  close_masters
  wait "$tool" || { say "the measuring helper failed on $*"; exit 1; }
  [[ -n $sshd_pid ]] && settle_sshd
  if [[ -f $work/results/$name ]]; then
    sed -i "s/\$/ $(cat "$work/results/$name.cpu")/" "$work/results/$name"
    if [[ -n $sshd_pid ]]; then
      sed -i "s/\$/ sshd_cpu_s=$(awk -v a="$sshd_before" -v b="$(sshd_ticks)" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {printf "%.2f", (b - a) / hz}')/" "$work/results/$name"
    fi
  fi
  cat "$work/results/$name"
}
# The CPU time, in clock ticks, of our sshd and of every connection it has reaped (each
# connection's processes are reaped within its tree, the last by the listener): its
# growth over a run is the server side of that run's connections.
sshd_ticks() {
  if [[ -n $sshd_pid && -r /proc/$sshd_pid/stat ]]; then
    sed 's/.*) //' "/proc/$sshd_pid/stat" | awk '{print $12 + $13 + $14 + $15}'
  elif [[ -n $sshd_pid ]]; then
    say "sshd (pid $sshd_pid) is gone: see $work/ssh/sshd.log"
    exit 1
  else
    echo 0
  fi
}
# Until sshd has no connection left (each ends shortly after its client), at most 20 s.
settle_sshd() {
  local tries=0
  while [[ -n $(ps -o pid= --ppid "$sshd_pid") ]]; do
    if ((tries++ >= 200)); then
      say "warning: sshd still has connections 20 s after the run; its CPU figure misses theirs"
      return
    fi
    sleep 0.1
  done
}
field() { sed -n "s/.*\\b$2=\\([^ ]*\\).*/\\1/p" "$work/results/$1"; }

run_runbook() { # MODE HOSTS TAG: one run in a fresh state folder
  local dir="$work/$1-$2"
  rm -rf "$dir/state"
  measure "$3" "$runbook" run "$dir/fanout.rbk" --state-dir "$dir/state" --no-wait
}
events_of() { # MODE HOSTS: lines and average line length of the last run's log
  local log
  log=$(echo "$work/$1-$2"/state/runs/*/events.jsonl)
  [[ -f $log ]] || return 1
  echo "$(wc -l < "$log") $(($(wc -c < "$log") / $(wc -l < "$log")))"
}
# The syncs of one untimed runbook run, counted by strace (fdatasync and fsync, every
# thread); empty when strace cannot trace here.
count_syncs() { # MODE HOSTS
  local dir="$work/$1-$2"
  rm -rf "$dir/state"
  if strace -f --seccomp-bpf -e trace=fdatasync,fsync -c -o "$dir/strace.txt" \
    "$runbook" run "$dir/fanout.rbk" --state-dir "$dir/state" --no-wait > /dev/null 2>&1; then
    awk '$NF == "fdatasync" || $NF == "fsync" {n += $4} END {print n + 0}' "$dir/strace.txt"
  fi
}
run_floor() { # MODE HOSTS APPENDS BYTES TAG
  local command=(true)
  [[ $1 == ssh ]] && command=(ssh "${ssh_opts[@]}" 127.0.0.1 true)
  rm -f "$work/floor.log"
  measure "$5" "$benchtool" floor "$(waves_of "$2")" "$parallel" "$3" "$4" "$work/floor.log" -- "${command[@]}"
}
run_ansible() { # MODE HOSTS TAG
  local dir="$work/$1-$2"
  measure "$3" "$venv/bin/ansible-playbook" -i "$dir/inventory.ini" "$dir/playbook.yml"
}
failures=0
check_ok() { # TAG WHAT: a failed run is reported (and left out of the times), not fatal
  if [[ $(field "$1" exit) != 0 ]]; then
    say "$2 failed (exit $(field "$1" exit)); the end of its output:"
    tail -20 "$work/results/$1.out" >&2
    failures=$((failures + 1))
  fi
}

# ---------------------------------------------------------------- machine
echo "## Fan-out: runbook against Ansible, beside the physical floor"
echo
echo "- machine: $(nproc) CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)," \
  "$(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo); kernel $(uname -r);" \
  "$(df -T "$work" | awk 'NR == 2 {print $2}') under $work"
echo "- runbook: $("$runbook" --version 2>/dev/null || echo runbook) at $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- src || echo ' (modified)'), release build"
echo "- Ansible: $ansible_version, $("$venv/bin/python3" --version)"
echo "- OpenSSH: $(ssh -V 2>&1)"
echo "- load average at the start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "- repeats: $repeats; waves: $(for n in $sizes; do printf '%s hosts: %s; ' "$n" "$(waves_of "$n")"; done)parallel $parallel (Ansible forks $parallel)"
echo

if [[ " $modes " == *" ssh "* ]]; then
  start_sshd
fi

runbook_ssh_ok=yes
for mode in $modes; do
  for hosts in $sizes; do
    write_runbook "$mode" "$hosts"
    write_ansible "$mode" "$hosts"
  done
  # Warm up, untimed: page cache, Python's bytecode, the first connection.
  write_runbook "$mode" 10 "$mode-warmup"
  write_ansible "$mode" 10 "$mode-warmup"
  "$runbook" run "$work/$mode-warmup/fanout.rbk" --state-dir "$work/$mode-warmup/state" --no-wait \
    > "$work/warmup-$mode.out" 2>&1 || {
    if [[ $mode == ssh ]]; then
      runbook_ssh_ok=no
      say "runbook over SSH: skipped, the run fails (the SSH executor is not on this branch yet?):"
      grep -m3 -E 'error|×|rbk::' "$work/warmup-$mode.out" >&2 || tail -3 "$work/warmup-$mode.out" >&2
      echo "- runbook over SSH: not measured, \`runbook run\` fails on the SSH inventory: $(grep -m1 -oE 'rbk::[a-z_:]+' "$work/warmup-$mode.out" || echo 'see its output')"
      echo
    else
      cat "$work/warmup-$mode.out" >&2
      exit 1
    fi
  }
  "$venv/bin/ansible-playbook" -i "$work/$mode-warmup/inventory.ini" "$work/$mode-warmup/playbook.yml" \
    > "$work/warmup-ansible-$mode.out" 2>&1 || { cat "$work/warmup-ansible-$mode.out" >&2; exit 1; }
  close_masters

  for hosts in $sizes; do
    syncs=
    if [[ $mode == local || $runbook_ssh_ok == yes ]] && command -v strace > /dev/null; then
      syncs=$(count_syncs "$mode" "$hosts")
    fi
    echo "${syncs:-}" > "$work/results/$mode-$hosts-syncs"
    for ((r = 1; r <= repeats; r++)); do
      say "$mode, $hosts hosts, run $r of $repeats"
      if [[ $mode == local || $runbook_ssh_ok == yes ]]; then
        run_runbook "$mode" "$hosts" "$mode-$hosts-runbook-$r" >&2
        check_ok "$mode-$hosts-runbook-$r" "runbook ($mode, $hosts hosts)"
        events_of "$mode" "$hosts" > "$work/results/$mode-$hosts-events"
        read -r events bytes < "$work/results/$mode-$hosts-events"
      else
        # No runbook run over SSH: the floor takes the events of the local run.
        if [[ ! -f $work/results/local-$hosts-events ]]; then
          write_runbook local "$hosts"
          run_runbook local "$hosts" "local-$hosts-untimed" > /dev/null
          events_of local "$hosts" > "$work/results/local-$hosts-events"
        fi
        read -r events bytes < "$work/results/local-$hosts-events"
      fi
      run_floor "$mode" "$hosts" "$events" "$bytes" "$mode-$hosts-floor-$r" >&2
      check_ok "$mode-$hosts-floor-$r" "the floor ($mode, $hosts hosts)"
      # Over ssh the appends are a small part of the floor; one floor is enough there.
      if [[ $mode == local && -n $syncs ]]; then
        run_floor "$mode" "$hosts" "$syncs" "$((bytes * events / syncs))" "$mode-$hosts-floorsync-$r" >&2
        check_ok "$mode-$hosts-floorsync-$r" "the floor per sync ($mode, $hosts hosts)"
      fi
      run_ansible "$mode" "$hosts" "$mode-$hosts-ansible-$r" >&2
      check_ok "$mode-$hosts-ansible-$r" "Ansible ($mode, $hosts hosts)"
      echo "$events" > "$work/results/$mode-$hosts-floor-events"
    done
  done
done

# ---------------------------------------------------------------- report
echo "- load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
python3 - "$work/results" "$repeats" "$modes" "$sizes" <<'EOF'
import os, statistics, sys

results, repeats, modes, sizes = sys.argv[1], int(sys.argv[2]), sys.argv[3].split(), sys.argv[4].split()

def runs(mode, hosts, who):
    out = []
    for r in range(1, repeats + 1):
        path = os.path.join(results, f"{mode}-{hosts}-{who}-{r}")
        if os.path.exists(path):
            out.append(dict(kv.split("=") for kv in open(path).read().split()))
    return out

def read(name):
    path = os.path.join(results, name)
    return open(path).read().split() if os.path.exists(path) else []

def span(values, fmt):
    if not values:
        return "n/a"
    lo, hi = fmt(min(values)), fmt(max(values))
    return lo if lo == hi else f"{lo}–{hi}"

secs = lambda v: f"{v:.2f} s" if v < 10 else f"{v:.1f} s"
mb = lambda kb: f"{kb / 1024:.0f} MiB" if kb >= 10240 else f"{kb / 1024:.1f} MiB"
ok = lambda rs: [r for r in rs if r["exit"] == "0"]
wall = lambda rs: [float(r["wall_s"]) for r in ok(rs)]
# A run over before the first sample that caught it has no PSS figure.
pss = lambda rs: [int(r["tree_pss_kb"]) for r in ok(rs) if int(r["tree_pss_kb"]) > 0]
maxrss = lambda rs: [int(r["maxrss_kb"]) for r in ok(rs)]
memory = lambda rs: f"{span(pss(rs), mb) if pss(rs) else 'too short'}; {span(maxrss(rs), mb)}" if ok(rs) else "n/a"

def times(rs):
    failed = len(rs) - len(ok(rs))
    return span(wall(rs), secs) + (f" ({failed} of {len(rs)} failed)" if failed else "")

def ratio(a, b):
    if not a or not b:
        return "n/a"
    x = statistics.median(a) / statistics.median(b)
    return f"{x:.2f}x" if x < 10 else f"{x:.0f}x"

print("| mode | hosts | events, syncs | floor: a sync per event | floor: runbook's syncs | runbook | Ansible "
      "| runbook / floor (per event) | runbook / floor (its syncs) | Ansible / runbook | Ansible / floor (per event) "
      "| memory: floor (PSS; %M) | memory: runbook (PSS; %M) | memory: Ansible (PSS; %M) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
raw = []
for mode in modes:
    for hosts in sizes:
        f, fs, rb, an = (runs(mode, hosts, w) for w in ("floor", "floorsync", "runbook", "ansible"))
        events = (read(f"{mode}-{hosts}-floor-events") or ["?"])[0]
        syncs = (read(f"{mode}-{hosts}-syncs") or ["n/a"])[0]
        print(f"| {mode} | {hosts} | {events}, {syncs} | {times(f)} | {times(fs)} "
              f"| {times(rb)} | {times(an)} "
              f"| {ratio(wall(rb), wall(f))} | {ratio(wall(rb), wall(fs))} | {ratio(wall(an), wall(rb))} "
              f"| {ratio(wall(an), wall(f))} | {memory(f)} | {memory(rb)} | {memory(an)} |")
        for who, rs in (("floor", f), ("floorsync", fs), ("runbook", rb), ("ansible", an)):
            for i, r in enumerate(rs, 1):
                raw.append(f"{mode} {hosts} {who} {i}: " + " ".join(f"{k}={v}" for k, v in r.items()))
# CPU seconds (user + system): the measured command's whole tree, which is the controller
# side, and over ssh the growth of sshd's, the hosts' side.
cpu = lambda rs: [float(r["cpu_s"]) for r in ok(rs) if "cpu_s" in r]
sshd = lambda rs: [float(r["sshd_cpu_s"]) for r in ok(rs) if "sshd_cpu_s" in r]
both = lambda rs: [float(r["cpu_s"]) + float(r["sshd_cpu_s"]) for r in ok(rs) if "sshd_cpu_s" in r]
cpus = lambda rs, mode: span(cpu(rs), secs) + (f"; sshd {span(sshd(rs), secs)}" if mode == "ssh" and sshd(rs) else "")
print()
print("| mode | hosts | CPU: floor | CPU: runbook | CPU: Ansible | Ansible / runbook (controller CPU) "
      "| Ansible / runbook (controller + sshd CPU) | runbook / floor (controller CPU) |")
print("|---|---:|---:|---:|---:|---:|---:|---:|")
for mode in modes:
    for hosts in sizes:
        f, rb, an = (runs(mode, hosts, w) for w in ("floor", "runbook", "ansible"))
        print(f"| {mode} | {hosts} | {cpus(f, mode)} | {cpus(rb, mode)} | {cpus(an, mode)} | {ratio(cpu(an), cpu(rb))} "
              f"| {ratio(both(an), both(rb)) if mode == 'ssh' else '–'} | {ratio(cpu(rb), cpu(f))} |")
print("""
- Times: the fastest and the slowest run, wall clock from spawn to exit; a failed run (exit not
  0) is left out and counted. Ratios: of the medians.
- events, syncs: the lines of the runbook run's events.jsonl (the first floor makes one synced
  append per event: write + fdatasync), and the fdatasync and fsync calls of one more runbook run,
  untimed, under `strace -f -c` (the second floor makes that many synced appends, each the log's
  size divided by their number). Over ssh without a runbook run: the events of the local run. The
  second floor runs locally only: over ssh the appends are a small part of the floor.
- Memory, two figures, each the least and the most over the runs. PSS: the peak of the summed
  proportional set size (a page shared by n processes counts 1/n in each) of every process in the
  measured command's tree, sampled from /proc/PID/smaps_rollup (at most 5% of a core, every 5 ms or
  more; the helper is a child subreaper, so ssh's daemonized ControlPersist masters stay in the
  tree); a run of a few samples (runbook over 100 hosts) may miss its peak. %M: ru_maxrss from wait4
  on the command, what GNU time prints as %M: exact, but the largest single process of the tree
  that was waited for, never a sum. runbook is one process, so its %M is its peak; Ansible is a
  controller, its forks and the modules they start, so its PSS sum is its footprint. The sshd side
  of the connections is counted for nobody.
- CPU, the least and the most over the runs: user + system seconds of the measured command's whole
  tree (getrusage of the helper's children once every process of the tree, daemonized masters
  included, has been reaped), which is all the controller spends; over ssh, after "sshd", the
  growth of our sshd's own and reaped children's CPU time over the run, which is what the hosts
  spend. On loopback both sides share this machine's cores, so the wall times over ssh are bound
  by their sum; on a real network the hosts' side runs on the hosts.
""")
print("Raw lines (benchtool measure; floorsync is the floor with runbook's syncs):")
print()
print("```")
print("\n".join(raw))
print("```")
EOF
if ((failures > 0)); then
  say "$failures runs failed: see the report"
  exit 1
fi
