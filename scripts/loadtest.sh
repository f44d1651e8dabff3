#!/usr/bin/env bash
# `make loadtest` / `make loadtest-pg`: starts the release binary (dev seed data, limits off,
# quiet logs; Postgres when LOADTEST_DATABASE_URL is set), measures the time to its first
# /health answer and its idle RSS, runs the selected workloads LOADTEST_RUNS times (RSS is
# read after W1–W4 of each run), stops it, and prints every run's JSON lines and a table of
# the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${LOADTEST_PORT:-8099}"
seconds="${LOADTEST_SECONDS:-10}"
concurrency="${LOADTEST_CONCURRENCY:-32}"
workloads="${LOADTEST_WORKLOADS:-W1,W2,W3,W4,W5}"
runs="${LOADTEST_RUNS:-3}"
# Another build of the server (say, an older commit's) to compare with this one.
server="${LOADTEST_SERVER_BIN:-./target/release/auth-service}"
base="http://127.0.0.1:$port"

cargo build --release --locked --bin auth-service --example loadtest

started=$(date +%s%N)
APP_ENV=dev LOG_LEVEL=warning RATE_LIMIT_ENABLED=false PORT="$port" \
  DATABASE_URL="${LOADTEST_DATABASE_URL:-}" REDIS_URL= "$server" &
pid=$!
trap 'kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
until curl -sf -o /dev/null "$base/health"; do
  kill -0 "$pid" 2>/dev/null || { echo "the server exited" >&2; exit 1; }
  sleep 0.002
done
first_answer_ms=$(( ($(date +%s%N) - started) / 1000000 ))
rss_mb() { awk '/^VmRSS/ { printf "%.1f", $2 / 1024 }' "/proc/$pid/status"; }
idle_rss=$(rss_mb)

before_w5=$(printf %s "$workloads" | tr ',' '\n' | grep -v '^W5$' | paste -sd, || true)
lines=$(mktemp)
trap 'rm -f "$lines"; kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true' EXIT
loaded_rss=""
for run in $(seq "$runs"); do
  echo "run $run of $runs" >&2
  if [ -n "$before_w5" ]; then
    ./target/release/examples/loadtest "$base" "$seconds" "$concurrency" "$before_w5" | tee -a "$lines"
    loaded_rss=$(rss_mb)
  fi
  if printf %s "$workloads" | tr ',' '\n' | grep -qx W5; then
    ./target/release/examples/loadtest "$base" "$seconds" "$concurrency" W5 | tee -a "$lines"
  fi
done

python3 - "$lines" "$runs" "$first_answer_ms" "$idle_rss" "${loaded_rss:-n/a}" <<'PY'
import json, statistics, sys
path, runs, first_ms, idle, loaded = sys.argv[1:]
by = {}
for line in open(path):
    row = json.loads(line)
    by.setdefault(row["workload"], []).append(row)
print(f"\nmedian of {runs} run(s), one line per workload:\n")
print("| workload | per s | p50 ms | p90 ms | p99 ms | errors |")
print("|---|---|---|---|---|---|")
for name, rows in by.items():
    med = lambda key: statistics.median(r[key] for r in rows)
    print(f"| {name} | {med('per_s'):,.0f} | {med('p50_ms'):.2f} | {med('p90_ms'):.2f} "
          f"| {med('p99_ms'):.2f} | {sum(r['errors'] for r in rows)} |")
print(f"\nfirst /health answer {first_ms} ms after start; RSS idle {idle} MB, "
      f"after W1–W4 {loaded} MB")
PY
