#!/usr/bin/env bash
# Coverage-guided fuzzing of backchannel on the stable toolchain.
#
#   scripts/fuzz.sh [TARGET[,TARGET...]|all] [SECONDS]   (defaults: all, 60 s per target)
#
# Installs cargo-fuzz if missing, refreshes the seed corpora from the test vectors,
# builds every target and runs the chosen ones one after another, each for SECONDS,
# then prints executions per second, coverage and any crash found. Exit 1 if a target
# crashed or broke one of the protocol's claims (the input is saved under
# fuzz/artifacts/TARGET/; copy it into fuzz/regressions/TARGET/ to keep it as a test).
#
# FUZZ_SANITIZER=address runs with AddressSanitizer (the code forbids unsafe; ASan
# mostly watches the dependencies), default none: about twice the executions.
set -euo pipefail
cd "$(dirname "$0")/.."

all=(frame_decode envelope_verify channel_sequence broker_session transcript_verify config_load adversarial_broker)
which=${1:-all}
seconds=${2:-60}
sanitizer=${FUZZ_SANITIZER:-none}

if [ "$which" = all ]; then
  targets=("${all[@]}")
else
  IFS=',' read -ra targets <<<"$which"
  for t in "${targets[@]}"; do
    case " ${all[*]} " in
      *" $t "*) ;;
      *) echo "fuzz.sh: unknown target '$t'; targets: ${all[*]}" >&2; exit 2 ;;
    esac
  done
fi
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS must be a whole number" >&2; exit 2 ;;
esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

echo "== seed corpora from proto-spec/test-vectors"
cargo run --quiet --locked -p backchannel-fuzz-targets --bin make-seeds
# make-seeds is deterministic and its output is committed: a difference means the
# committed seeds are stale (commit what it wrote), never a dirty checkout after CI.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
  && [ -n "$(git status --porcelain -- fuzz/seeds)" ]; then
  echo "fuzz.sh: fuzz/seeds differs from what make-seeds writes; commit its output:" >&2
  git status --short -- fuzz/seeds >&2
  exit 1
fi

cd fuzz
export RUSTC_BOOTSTRAP=1
# cargo fuzz has no --locked: check fuzz/Cargo.lock is current the way cargo would.
cargo metadata --locked --format-version 1 >/dev/null
echo "== building the targets (sanitizer: $sanitizer)"
cargo fuzz build -s "$sanitizer"

mkdir -p logs
failed=()
printf '\n%-20s %10s %10s %8s %s\n' target execs execs/s cov result
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log="logs/$t.log"
  status=0
  cargo fuzz run -s "$sanitizer" "$t" "corpus/$t" "seeds/$t" -- \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -dict=dict/backchannel.dict -print_final_stats=1 \
    -artifact_prefix="artifacts/$t/" >"$log" 2>&1 || status=$?
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' | tail -1 || true)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || true)
  rate=$(( ${execs:-0} / (seconds > 0 ? seconds : 1) ))
  if [ "$status" -eq 0 ]; then
    result=ok
  else
    result="FAILED: see fuzz/$log and fuzz/artifacts/$t/"
    failed+=("$t")
    grep -E "panicked|ERROR|SUMMARY|Test unit written" "$log" | head -5 || true
  fi
  printf '%-20s %10s %10s %8s %s\n' "$t" "${execs:-?}" "$rate" "${cov:-?}" "$result"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "fuzz.sh: ${failed[*]} failed" >&2
  exit 1
fi
echo "fuzz.sh: all targets ran ${seconds} s without failure"
