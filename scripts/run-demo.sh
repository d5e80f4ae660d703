#!/usr/bin/env bash
# `make run`: the Light Node on embedded defaults. Three simulated meters (household consumption,
# PV production, heat pump) on loopback, the agent reading them every 4 s into its certified
# ledger under run/. Stops on Ctrl-C (or after RUN_SECONDS), then verifies the ledger.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=.build/release
RUN=run
INTERVAL_MS=${INTERVAL_MS:-4000}
mkdir -p "$RUN"
pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

[ -f "$RUN/node.key" ] || "$BIN/lightnode" keygen --out "$RUN/node.key" >/dev/null
meters=""
start_meter() {  # name map profile
  local name=$1 map=$2 profile=$3
  "$BIN/meter-sim" --map "firmware-config/registers/$map.toml" --profile "$profile" \
      > "$RUN/$name-sim.out" 2>&1 < <(tail -f /dev/null) &
  pids+=($!)
  for _ in $(seq 100); do grep -q listening "$RUN/$name-sim.out" && break; sleep 0.1; done
  local port
  port=$(sed -n 's/listening tcp 127.0.0.1://p' "$RUN/$name-sim.out")
  [ -n "$port" ] || { echo "run: the $name simulator did not start:" >&2; cat "$RUN/$name-sim.out" >&2; exit 1; }
  meters+="
[[meters]]
name = \"$name\"
transport = \"tcp\"
host = \"127.0.0.1\"
port = $port
register_map = \"../firmware-config/registers/$map.toml\"
timeout_ms = 300   # loopback simulators answer in well under a millisecond
retries = 1
"
}
start_meter main eastron-sdm630 "sine:1800:900:600"
start_meter pv eastron-sdm120 "sine:-2500:1500:1200"
start_meter heatpump abb-b23 "sine:1200:800:300"

# A platform broker on loopback, and a subscriber standing in for the platform (run/mqtt.log).
mqtt=""
if [ -x /usr/sbin/mosquitto ]; then
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n' "$port" > "$RUN/mosquitto.conf"
  /usr/sbin/mosquitto -c "$RUN/mosquitto.conf" > "$RUN/mosquitto.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  mosquitto_sub -p "$port" -v -q 1 -t 'lightnode/v1/#' > "$RUN/mqtt.log" 2>&1 &
  pids+=($!)
  mqtt="
[mqtt]
host = \"127.0.0.1\"
port = $port
reconnect_jitter_s = 0
"
  echo "platform broker: mosquitto on 127.0.0.1:$port; what it receives goes to $RUN/mqtt.log"
fi

cat > "$RUN/lightnode.toml" <<TOML
# Written by scripts/run-demo.sh (make run): the demo node on loopback simulators.
[node]
id = "ln-demo"
pod = "IT001E00000001"
data_dir = "data"
key_file = "node.key"

[acquisition]
interval_ms = $INTERVAL_MS
$meters
$mqtt
TOML

"$BIN/lightnode" check-config --config "$RUN/lightnode.toml"
echo "node public key: $("$BIN/lightnode" pubkey --key-file "$RUN/node.key")"
"$BIN/lightnode" probe --config "$RUN/lightnode.toml"
echo
echo "Running the agent (Ctrl-C to stop${RUN_SECONDS:+, or after $RUN_SECONDS s}); ledger: $RUN/data/ledger.sqlite"
"$BIN/lightnode" run --config "$RUN/lightnode.toml" &
agent=$!
if [ -n "${RUN_SECONDS:-}" ]; then
  ( sleep "$RUN_SECONDS"; kill -TERM $agent 2>/dev/null ) &
fi
trap 'kill -TERM $agent 2>/dev/null || true' INT TERM
wait $agent || true
trap cleanup EXIT
echo
"$BIN/lightnode" status --config "$RUN/lightnode.toml"
"$BIN/lightnode" ledger verify --db "$RUN/data/ledger.sqlite"
if [ -n "$mqtt" ]; then
  echo "the broker delivered $(grep -c '/readings ' "$RUN/mqtt.log" || true) readings message(s); last status: $(grep '/status ' "$RUN/mqtt.log" | tail -1 | cut -d' ' -f2-)"
fi
