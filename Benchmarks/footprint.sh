#!/usr/bin/env bash
# Footprint of `lightnode run`: 4 meters (simulators on loopback) at interval 4 s for DURATION
# seconds (default 600). Reports CPU per cycle (user+system, all meters, ledger append and
# signatures included), resident memory, binary sizes and cadence lateness from the agent's log.
# Uses the static-stdlib build (the form deployed on boards); `make bench` runs it.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-600}
STATIC=.build-static
swift build -c release --static-swift-stdlib --product lightnode --scratch-path "$STATIC" >/dev/null
swift build -c release --product meter-sim >/dev/null
swift build -c release --product lightnode >/dev/null
BIN="$STATIC/release/lightnode"
WORK=$(mktemp -d)
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

maps=(eastron-sdm630 eastron-sdm120 abb-b23 schneider-iem3155)
profiles=("sine:2500:1500:900" "constant:-3200" "sine:800:300:120" "constant:450")
meters=""
for i in 0 1 2 3; do
  .build/release/meter-sim --map "firmware-config/registers/${maps[$i]}.toml" --profile "${profiles[$i]}" \
      > "$WORK/sim$i.out" 2>&1 < <(sleep $((DURATION + 60))) &
  pids+=($!)
  until grep -q listening "$WORK/sim$i.out"; do sleep 0.1; done
  port=$(sed -n 's/listening tcp 127.0.0.1://p' "$WORK/sim$i.out")
  meters+="[[meters]]
name = \"m$i\"
transport = \"tcp\"
host = \"127.0.0.1\"
port = $port
register_map = \"$PWD/firmware-config/registers/${maps[$i]}.toml\"
timeout_ms = 300
retries = 1
"
done
"$BIN" keygen --out "$WORK/node.key" >/dev/null
cat > "$WORK/lightnode.toml" <<TOML
[node]
id = "ln-bench"
pod = "IT001E00000001"
data_dir = "data"
key_file = "node.key"
[acquisition]
interval_ms = 4000
$meters
TOML
"$BIN" run --config "$WORK/lightnode.toml" 2> "$WORK/agent.log" &
agent=$!
pids+=($agent)
sleep 10   # past start-up, so the figures are the steady state
kill -0 "$agent" 2>/dev/null || { echo "footprint: the agent exited:" >&2; cat "$WORK/agent.log" >&2; exit 1; }
ticks() { awk '{print $14 + $15}' "/proc/$agent/stat"; }
t0=$(ticks); s0=$(date +%s.%N)
sleep "$DURATION"
t1=$(ticks); s1=$(date +%s.%N)
rss=$(awk '/VmRSS/ {print $2}' "/proc/$agent/status"); hwm=$(awk '/VmHWM/ {print $2}' "/proc/$agent/status")
kill -TERM "$agent"; wait "$agent" || true
hz=$(getconf CLK_TCK)
cycles=$(awk -v a="$s0" -v b="$s1" 'BEGIN {printf "%d", (b - a) / 4}')
cpu_ms=$(awk -v t="$((t1 - t0))" -v hz="$hz" -v c="$cycles" 'BEGIN {printf "%.3f", t * 1000 / hz / c}')
echo "Machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(nproc) cores; $DURATION s, 4 meters at 4 s ($cycles cycles)"
echo
echo "| measure | value |"
echo "|---|---|"
echo "| CPU per cycle (4 meters, read + decode + ledger append + 4 signatures + fsync) | $cpu_ms ms ($((t1 - t0)) ticks of 1/$hz s over $cycles cycles) |"
echo "| resident memory (VmRSS at end / peak VmHWM) | $((rss / 1024)).$(( (rss % 1024) * 10 / 1024 )) MB / $((hwm / 1024)).$(( (hwm % 1024) * 10 / 1024 )) MB |"
echo "| binary size, static stdlib (\`--static-swift-stdlib\`) | $(( $(stat -c %s "$BIN") / 1024 / 1024 )) MB ($(stat -c %s "$BIN") B) |"
echo "| binary size, dynamic stdlib | $(( $(stat -c %s .build/release/lightnode) / 1024 / 1024 )) MB |"
echo "| cadence lateness at 4 s | $(grep 'acquisition stopped' "$WORK/agent.log" | grep -o 'lateness_p50_ms=[0-9.]*\|lateness_p99_ms=[0-9.]*\|lateness_max_ms=[0-9.]*\|missed_cycles=[0-9]*' | tr '\n' ' ') |"
"$BIN" ledger verify --db "$WORK/data/ledger.sqlite" >/dev/null && echo "| ledger after the run | intact |"
