#!/usr/bin/env bash
# Recovery time: a store holding N (default 1000000) ready 100-byte
# messages, then actormq started on it; prints the time from start until
# it answers, its own "recovered" log line, the store's bytes per message,
# and the time of a start on an empty store in the same run (the baseline).
#
#   bench/recovery.sh [BUILD_DIR] [N]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
n=${2:-1000000}
mq_port=18103
data=$(mktemp -d)
trap 'kill %1 2>/dev/null || true; wait; rm -rf "$data"' EXIT

# Starts actormq on $1, prints seconds until it answers, then stops it.
timed_start() {
  local t0 t1
  t0=$(date +%s.%N)
  "$build/actormq" --host=127.0.0.1 --port="$mq_port" --data-dir="$1" \
    --consumers=0 > "$data/log" 2>&1 &
  until curl -s -o /dev/null "http://127.0.0.1:$mq_port/healthz"; do
    sleep 0.01
  done
  t1=$(date +%s.%N)
  kill -TERM %1
  wait %1
  awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }'
}

empty=$(timed_start "$data/empty")
"$build/inprocess" fill "$n" "$data/full" >/dev/null
bytes=$(du -sb "$data/full" | cut -f1)
full=$(timed_start "$data/full")
grep -o 'recovered.*' "$data/log"
awk -v n="$n" -v b="$bytes" -v e="$empty" -v f="$full" 'BEGIN {
  printf "start on an empty store: %.2f s\n", e
  printf "start on %d messages:  %.2f s (target < 3 s), %.1fx the empty start\n", n, f, f / e
  printf "store: %d bytes, %.0f bytes per message\n", b, b / n
}'
