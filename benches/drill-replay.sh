#!/usr/bin/env bash
# The drill and replay benchmarks of docs/performance.md ("Drills", "Replay"), by hand:
#
#   bash benches/drill-replay.sh [RUNS]
#
# Drill: the shipped high-risk runbook rehearsed over 1,000 generated hosts (the
# shipped functional-failure drill, with the failure 4 h in, after the three 1 h
# pauses). Replay: the same drill with the failure 6 h in, whose log holds over
# 100,000 events, replayed. Each is timed RUNS times (3 by default) with the release build;
# wall time, CPU and peak memory come from /usr/bin/time (GNU time).
set -euo pipefail

runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
runbook="$repo/target/release/runbook"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/runbooks" "$work/runbooks"
for at in 4h 6h; do
  sed "s/tx_success=0.95@70m/tx_success=0.95@$at/" \
    "$work/runbooks/drills/high-functional-wave2.drill.toml" \
    > "$work/runbooks/drills/high-$at.drill.toml"
done

# HOSTS hosts in the shipped file's proportions (60% payment servers, 20% container
# hosts, 10% signalling servers, 10% account databases), over three zones.
inventory() {
  local hosts=$1
  echo '[defaults]'
  echo 'labels = { cluster = "payment", env = "production" }'
  for n in $(seq 1 "$hosts"); do
    if ((n * 10 <= hosts * 6)); then tier=payment kind=linux
    elif ((n * 10 <= hosts * 8)); then tier=payment kind=container
    elif ((n * 10 <= hosts * 9)); then tier=signalling kind=linux
    else tier=account kind=database
    fi
    zones=(a b c)
    printf '\n[[hosts]]\nname = "pay-%04d"\nlabels = { tier = "%s", kind = "%s", az = "%s" }\n' \
      "$n" "$tier" "$kind" "${zones[$((n % 3))]}"
  done
}

# The drill exits 1 when it finds an objective breached: a finding, not a failure here.
time_it() {
  /usr/bin/time -f "  wall %e s, user %U s, sys %S s, max %M KB, exit %x" "$@" > /dev/null || true
}

drill() {
  rm -rf "$work/state"
  time_it "$runbook" drill "$work/runbooks/drills/high-$1.drill.toml" \
    --state-dir "$work/state" --output quiet
}

inventory 1000 > "$work/runbooks/inventory/payment.toml"
echo "drill of the high-risk runbook over 1,000 hosts ($runs runs):"
for _ in $(seq 1 "$runs"); do drill 4h; done
run=$(ls "$work/state/runs")
log="$work/state/runs/$run/events.jsonl"
echo "  the drill's log: $(wc -l < "$log") events, $(du -h "$log" | cut -f1)"

drill 6h 2> /dev/null
run=$(ls "$work/state/runs")
log="$work/state/runs/$run/events.jsonl"
echo "replay of the log of the same drill with the failure 6 h in: $(wc -l < "$log") events, $(du -h "$log" | cut -f1) ($runs runs):"
for _ in $(seq 1 "$runs"); do
  time_it "$runbook" replay "$run" --state-dir "$work/state"
done
"$runbook" replay "$run" --state-dir "$work/state" | tail -1
