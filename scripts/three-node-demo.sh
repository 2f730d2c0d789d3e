#!/usr/bin/env bash
# Three separate processes over TLS on loopback: a broker, bravo receiving, alpha
# sending. Every process it starts is stopped by pid; the whole run is bounded in time.
# Exit 0 when alpha got bravo's signed receipts and both transcripts verify.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${BACKCHANNEL_BIN:-}" ]; then
  bin=$BACKCHANNEL_BIN
else
  cargo build --locked --quiet -p backchannel-cli
  bin=target/debug/backchannel
fi

work=$(mktemp -d -t backchannel-three-node.XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

# A free port on 127.0.0.1.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null \
  || echo $((20000 + RANDOM % 20000)))

echo "== backchannel init $work/deploy --port $port"
"$bin" init "$work/deploy" --port "$port"

echo "== starting the broker"
BACKCHANNEL_LOG="info,broker::read=debug" "$bin" broker --config "$work/deploy/broker/broker.toml" >"$work/broker.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  sleep 0.1
done

echo "== bravo receives (two messages, at most 30 s)"
"$bin" receive --config "$work/deploy/bravo/bravo.toml" --count 2 --timeout 30 >"$work/bravo.out" 2>&1 &
receiver=$!
pids+=("$receiver")

echo "== alpha sends an assurance, then a risk-reduction message"
timeout 60 "$bin" send --config "$work/deploy/alpha/alpha.toml" --to bravo \
  --assurance A-1 --valid-days 30 --condition "absent provocation" "No preemptive strike"
timeout 60 "$bin" send --config "$work/deploy/alpha/alpha.toml" --to bravo \
  "Our aircraft will keep clear of the agreed corridor."

wait "$receiver"
echo "== what bravo printed"
cat "$work/bravo.out"

echo "== the judge, on bravo's transcript, with only the public keys"
"$bin" verify "$work/deploy/bravo/bravo.transcript" --keys "$work/deploy/bravo/parties.pub"

echo "== stopping the broker (SIGTERM)"
kill -TERM "${pids[0]}"
wait "${pids[0]}" || true
pids=()
echo "== what the broker read"
grep -E "Read|login" "$work/broker.log" || true
echo "three-node demo: ok"
