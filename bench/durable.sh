#!/usr/bin/env bash
# Durable enqueue: POST /enqueue with --fsync=always against the same server
# in memory (--fsync=none), and Redis with appendonly yes + appendfsync
# always (redis-benchmark LPUSH), all in one run, alternating rounds.
# 64 connections, 100-byte messages. Then: disk bytes per message, and disk
# use after an enqueue/ack run.
#
#   bench/durable.sh [BUILD_DIR]     (default: build)
#   env: DURATION=10 (s per round)  CONNECTIONS=64  ROUNDS=3
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
redis_port=18102
command -v redis-server >/dev/null || "$here/../scripts/deps" redis-server redis-tools
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
# bare_port: in memory; mq_port: durable (the default --fsync=always).
"$build/actormq" --host=127.0.0.1 --port="$bare_port" --fsync=none \
  --consumers=0 --log-level=warning & pids+=($!)
"$build/actormq" --host=127.0.0.1 --port="$mq_port" --data-dir="$data/mq" \
  --consumers=0 --log-level=warning & pids+=($!)
mkdir -p "$data/redis"
redis-server --port "$redis_port" --dir "$data/redis" --save "" \
  --appendonly yes --appendfsync always --loglevel warning & pids+=($!)
wait_port "$bare_port"
wait_port "$mq_port"
until redis-cli -p "$redis_port" ping >/dev/null 2>&1; do sleep 0.05; done

redis_round() {
  local n=$((duration * 20000))
  redis-benchmark -p "$redis_port" -c "$connections" -d 100 -n "$n" -t lpush \
    -q --csv | awk -F'"' '/LPUSH/ { printf "%.0f\n", $4 }'
}

best_mem=0; best_dur=0; best_dur_p99=0; best_redis=0
for i in $(seq "$rounds"); do
  read -r m _ _ < <(wrk_post "$bare_port")
  read -r d dp de < <(wrk_post "$mq_port")
  r=$(redis_round)
  printf 'round %d: in memory %7d req/s | durable %7d req/s p99 %6d us (%d errors) | redis %7d req/s\n' \
    "$i" "$m" "$d" "$dp" "$de" "$r"
  if (( m > best_mem )); then best_mem=$m; fi
  if (( d > best_dur )); then best_dur=$d; best_dur_p99=$dp; fi
  if (( r > best_redis )); then best_redis=$r; fi
done
count=$(curl -s http://127.0.0.1:$mq_port/queues/default \
  | sed 's/.*"ready":\([0-9]*\).*/\1/')
bytes=$(du -sb "$data/mq" | cut -f1)
# Churn: CHURN messages enqueued and acked in batches of 10 on another queue;
# the store should stay near what the live messages need.
churn=${CHURN:-2000000}
cycled=$("$build/cycle_client" "$mq_port" churn "$churn" 10)
sleep 2
churn_bytes=$(du -sb "$data/mq" | cut -f1)
awk -v r="$rounds" -v c="$connections" -v d="$duration" -v m="$best_mem" \
    -v du="$best_dur" -v dp="$best_dur_p99" -v rd="$best_redis" \
    -v n="$count" -v b="$bytes" -v ch="$churn" -v cy="$cycled" \
    -v cb="$churn_bytes" 'BEGIN {
  printf "\nbest of %d rounds, %d connections, %ds each:\n", r, c, d
  printf "  in memory       %7d req/s\n", m
  printf "  durable         %7d req/s  p99 %6.2f ms\n", du, dp / 1000
  printf "  redis LPUSH     %7d req/s  (appendfsync always)\n", rd
  printf "  durable/in-memory: %.2f (target >= 0.50)\n", du / m
  printf "  durable/redis:     %.2f (goal > 1)\n", du / rd
  printf "  disk: %d messages in %d bytes = %.0f bytes per message\n", n, b, b / n
  printf "  churn: %d messages enqueued+acked (%s msg/s), then %d bytes on disk (%.2fx the bytes before)\n", ch, cy, cb, cb / b
}'
