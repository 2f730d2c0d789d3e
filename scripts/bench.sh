#!/usr/bin/env bash
# Reproduces the table in docs/performance.md: backchannel bench in both modes, with the
# parties' files on disk and on tmpfs (one run each, same binary, same machine), window
# 256 and window 1, an open-loop run at half the closed-loop signed rate, and the broker
# with 1,000 connected idle parties.
# Usage: scripts/bench.sh [SECONDS]   (default 10 per measurement)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-10}
cargo build --release --locked --bin backchannel >&2
B=target/release/backchannel
disk=$(mktemp -d "${BENCH_DISK_DIR:-/var/tmp}/backchannel-bench-XXXXXX")
shm=$(mktemp -d /dev/shm/backchannel-bench-XXXXXX)
out=$(mktemp -d)
trap 'rm -rf "$disk" "$shm" "$out"' EXIT

run() { # name, then bench options
  local name=$1; shift
  echo "== $name" >&2
  "$B" bench --json --seconds "$secs" "$@" > "$out/$name.json"
}

run disk-w256 --files "$disk"
run tmpfs-w256 --files "$shm"
run disk-w1 --files "$disk" --window 1
run tmpfs-w1 --files "$shm" --window 1
half=$(python3 -c 'import json,sys; print(int(json.loads(open(sys.argv[1]).readline())["msgs_per_s"]/2))' "$out/disk-w256.json")
run disk-open-half --files "$disk" --mode signed --rate "$half" --window 4096
echo "== idle-1000" >&2
"$B" bench --json --mode signed --idle-parties 1000 --seconds 30 --files "$disk" > "$out/idle-1000.json"

python3 - "$out" <<'PY'
import json, os, sys
out = sys.argv[1]
def load(name):
    return {r["mode"]: r for r in map(json.loads, open(os.path.join(out, name + ".json")))}
runs = {n: load(n) for n in ["disk-w256", "tmpfs-w256", "disk-w1", "tmpfs-w1", "disk-open-half"]}
any_run = runs["disk-w256"]["signed"]
print(f"machine: {os.cpu_count()} cores; crypto per message: sign {any_run['crypto_us']['sign']:.1f} us, "
      f"verify {any_run['crypto_us']['verify']:.1f} us, batch verify {any_run['crypto_us']['batch_verify']:.1f} us, "
      f"verify_strict {any_run['crypto_us']['verify_strict']:.1f} us")
print()
print("| run | mode | msg/s | vs TLS relay | vs crypto limit (limit moved) | cores busy | p50 us | p99 us | p99.9 us | CPU us/msg alpha / broker / bravo | broker peak KiB |")
print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: |")
for name, modes in runs.items():
    for mode, r in modes.items():
        c = r["cpu_us_per_msg"]
        print(f"| {name} | {mode} | {r['msgs_per_s']:.0f} | {r['ratio_tls_relay']:.3f} | "
              f"{r['ratio_crypto_limit']:.3f} ({100 * r['crypto_limit_drift']:.0f} %) | {r['cores_busy']:.2f} | "
              f"{r['p50_us']} | {r['p99_us']} | {r['p999_us']} | {c['alpha']:.1f} / {c['broker']:.1f} / {c['bravo']:.1f} | {r['broker_peak_rss_kib']} |")
print()
for mode in ["signed", "deniable"]:
    d, t = runs["disk-w256"][mode], runs["tmpfs-w256"][mode]
    print(f"{mode}: disk / tmpfs throughput = {d['msgs_per_s'] / t['msgs_per_s']:.2f}")
idle = json.load(open(os.path.join(out, "idle-1000.json")))
print(f"idle: {idle['connected']} of {idle['idle_parties']} parties connected ({idle['channels_per_party']} channels each) "
      f"in {idle['connect_s']:.1f} s; broker {idle['broker_rss_kib']} KiB (peak {idle['broker_peak_rss_kib']}), "
      f"{idle['broker_cpu_ms_per_s']:.1f} ms CPU/s, {idle['envelopes_received_per_s']:.1f} envelopes/s over {idle['hold_s']:.0f} s")
PY
