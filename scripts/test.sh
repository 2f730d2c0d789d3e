#!/usr/bin/env bash
# The whole test suite (every test of `cargo test --workspace --locked`, the doc tests
# included), with independent test binaries run side by side.
#
# Why: most system tests wait on real nodes, timers and a browser, so one binary at a
# time (what `cargo test` does) leaves the machine idle. Each test binary is its own
# process with its own scratch directories (named by process id) and ports (asked of
# the OS), so binaries do not share files or ports; tests that must not overlap share
# a binary and its `serial()` lock.
#
# Usage: scripts/test.sh [TEST-NAME-FILTER]
#   TEST_JOBS=N   binaries at a time (default 4)
# Exit status: 0 when every binary passed; each failing binary's whole output is
# printed after the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

jobs="${TEST_JOBS:-4}"
filter="${1:-}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

echo "== building the tests"
# The binaries the system tests run, then every test binary; the list is cargo's own.
cargo build --locked --workspace --bins
cargo test --workspace --locked --no-run --message-format=json-render-diagnostics \
  | python3 -c '
import json, os, sys
found = []
for line in sys.stdin:
    try:
        m = json.loads(line)
    except ValueError:
        continue
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        # cargo test runs each binary in its package directory.
        dir = os.path.dirname(m["manifest_path"])
        # The slow binaries first (the whole-system tests with real nodes and
        # browsers, then other integration tests), so the quick ones fill the gaps
        # instead of trailing.
        rank = 0 if dir == os.path.abspath("tests") else 1 if "test" in m["target"]["kind"] else 2
        found.append((rank, dir, m["executable"], m["target"]["name"]))
found.sort(key=lambda f: f[0])
for _, dir, exe, name in found:
    print(dir + "\t" + exe + "\t" + name)
' > "$out/list"

echo "== running $(wc -l < "$out/list") test binaries, $jobs at a time"
started=$(date +%s)
run_one() {
  local dir="$1" exe="$2" name="$3" log
  log="$OUT/$(basename "$exe").log"
  if (cd "$dir" && "$exe" ${FILTER:+"$FILTER"}) > "$log" 2>&1; then
    echo "ok      $name: $(grep -E '^test result' "$log" | tail -1)"
  else
    echo "FAILED  $name" | tee -a "$OUT/failed"
    echo "$log" >> "$OUT/failed-logs"
  fi
}
export -f run_one
export OUT="$out" FILTER="$filter"
tr '\t' '\n' < "$out/list" | xargs -d '\n' -n 3 -P "$jobs" bash -c 'run_one "$@"' _

echo "== doc tests"
if ! cargo test --workspace --locked --doc ${filter:+"$filter"} > "$out/doc.log" 2>&1; then
  echo "FAILED  doc tests" | tee -a "$out/failed"
  echo "$out/doc.log" >> "$out/failed-logs"
fi

echo "== $(( $(date +%s) - started )) s after the build"
if [ -s "$out/failed" ]; then
  while read -r log; do
    echo
    echo "==== $log"
    cat "$log"
  done < "$out/failed-logs"
  echo
  echo "failed:"
  cat "$out/failed"
  exit 1
fi
echo "every test binary passed"
