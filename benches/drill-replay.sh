#!/usr/bin/env bash
# The drill and replay benchmark of docs/performance.md ("Drills", "Replay"), by hand:
#
#   bash benches/drill-replay.sh [RUNS]
#
# Rehearses the shipped high-risk runbook over 1,000 generated hosts (the shipped
# functional-failure drill, with the failure 4 h in, after the three 1 h pauses), then
# replays the drill's log. Each is timed RUNS times (3 by default) with the release
# build; wall time, CPU and peak memory come from /usr/bin/time (GNU time).
set -euo pipefail

runs=${1:-3}
repo=$(cd "$(dirname "$0")/.." && pwd)
cargo build --release --quiet --manifest-path "$repo/Cargo.toml"
runbook="$repo/target/release/runbook"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r "$repo/runbooks" "$work/runbooks"

# 1,000 hosts in the shipped file's proportions: 600 payment servers, 200 container
# hosts, 100 signalling servers and 100 account databases, spread over three zones.
{
  echo '[defaults]'
  echo 'labels = { cluster = "payment", env = "production" }'
  for n in $(seq 1 1000); do
    if ((n <= 600)); then tier=payment kind=linux
    elif ((n <= 800)); then tier=payment kind=container
    elif ((n <= 900)); then tier=signalling kind=linux
    else tier=account kind=database
    fi
    zones=(a b c)
    printf '\n[[hosts]]\nname = "pay-%04d"\nlabels = { tier = "%s", kind = "%s", az = "%s" }\n' \
      "$n" "$tier" "$kind" "${zones[$((n % 3))]}"
  done
} > "$work/runbooks/inventory/payment.toml"
sed 's/tx_success=0.95@70m/tx_success=0.95@4h/' \
  "$work/runbooks/drills/high-functional-wave2.drill.toml" \
  > "$work/runbooks/drills/high-1k.drill.toml"

# The drill exits 1 when it finds an objective breached: a finding, not a failure here.
time_it() {
  /usr/bin/time -f "  wall %e s, user %U s, sys %S s, max %M KB, exit %x" "$@" > /dev/null || true
}

echo "drill of the high-risk runbook over 1,000 hosts ($runs runs):"
for _ in $(seq 1 "$runs"); do
  rm -rf "$work/state"
  time_it "$runbook" drill "$work/runbooks/drills/high-1k.drill.toml" \
    --state-dir "$work/state" --output quiet
done
run=$(ls "$work/state/runs")
log="$work/state/runs/$run/events.jsonl"
echo "  the drill's log: $(wc -l < "$log") events, $(du -h "$log" | cut -f1)"

echo "replay of that log ($runs runs):"
for _ in $(seq 1 "$runs"); do
  time_it "$runbook" replay "$run" --state-dir "$work/state"
done
"$runbook" replay "$run" --state-dir "$work/state" | tail -1
