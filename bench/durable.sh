#!/usr/bin/env bash
# Durable enqueue: POST /enqueue with --fsync=always against the same server
# in memory (--fsync=none), and Redis with appendonly yes + appendfsync
# always (redis-benchmark LPUSH), all in one run, alternating rounds.
# 64 connections, 100-byte messages. Then: disk bytes per message, disk use
# during and after a long enqueue/ack run, and RocksDB's write stalls.
#
#   bench/durable.sh [BUILD_DIR]     (default: build)
#   env: DURATION=10 (s per round)  CONNECTIONS=64  ROUNDS=3
#        CHURN=2000000 (messages)  SETTLE=10 (s)
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
# At debug level our log carries RocksDB's own (its stall counter below).
"$build/actormq" --host=127.0.0.1 --port="$mq_port" --data-dir="$data/mq" \
  --consumers=0 --log-level=debug >"$data/mq.out" 2>&1 & pids+=($!)
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
# Messages the durable server holds (ready, delayed or leased), and the
# bytes of its store.
live() {
  curl -s "http://127.0.0.1:$mq_port/queues" \
    | grep -o '"\(ready\|delayed\|in_flight\)":[0-9]*' \
    | awk -F: '{ n += $2 } END { print n + 0 }'
}
disk() { du -sb "$data/mq" | cut -f1; }
count=$(live)
bytes=$(disk)
# Churn: CHURN messages enqueued and acked in batches of 10 on another queue
# (8 producers, 8 consumers). Every 2 s: the store's bytes per live message
# against a fresh store's (the rounds above); the peak, and the figure once
# compaction has had SETTLE seconds after the run.
churn=${CHURN:-2000000}
settle=${SETTLE:-10}
"$build/cycle_client" "$mq_port" churn "$churn" 10 >"$data/cycled" &
churner=$!
peak=0
while kill -0 "$churner" 2>/dev/null; do
  sleep 2
  peak=$(awk -v p="$peak" -v d="$(disk)" -v n="$(live)" -v b="$bytes" \
             -v c="$count" 'BEGIN { x = (d / n) / (b / c); print (x > p ? x : p) }')
done
wait "$churner"
cycled=$(cat "$data/cycled")
sleep "$settle"
end_count=$(live)
end_bytes=$(disk)
# RocksDB logs how long it held writes back (stalls) since the start.
stall=$(grep -o 'Cumulative stall: [0-9:.]* H:M:S, [0-9.]* percent' \
          "$data/mq.out" | tail -1 || true)
awk -v r="$rounds" -v c="$connections" -v d="$duration" -v m="$best_mem" \
    -v du="$best_dur" -v dp="$best_dur_p99" -v rd="$best_redis" \
    -v n="$count" -v b="$bytes" -v ch="$churn" -v cy="$cycled" \
    -v pk="$peak" -v st="$settle" -v en="$end_count" -v eb="$end_bytes" \
    -v stall="${stall:-none logged}" 'BEGIN {
  printf "\nbest of %d rounds, %d connections, %ds each:\n", r, c, d
  printf "  in memory       %7d req/s\n", m
  printf "  durable         %7d req/s  p99 %6.2f ms\n", du, dp / 1000
  printf "  redis LPUSH     %7d req/s  (appendfsync always)\n", rd
  printf "  durable/in-memory: %.2f (target >= 0.60)\n", du / m
  printf "  durable/redis:     %.2f (goal > 1)\n", du / rd
  printf "  disk: %d messages in %d bytes = %.0f bytes per message\n", n, b, b / n
  printf "  churn: %d messages enqueued+acked (%s msg/s)\n", ch, cy
  printf "    bytes per live message vs a fresh store: peak %.2fx during the run, %.2fx %ds after it (%d messages in %d bytes)\n", pk, (eb / en) / (b / n), st, en, eb
  printf "    RocksDB write stalls: %s\n", stall
}'
