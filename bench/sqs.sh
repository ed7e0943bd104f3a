#!/usr/bin/env bash
# The SQS API against the native API on the same server, in the same run
# (in memory: --fsync=none), alternating rounds so the ratios hold on a
# noisy machine:
#   - one message per request, 64 connections (wrk): SendMessage in AWS JSON
#     and in Query against POST /queues/bench/messages;
#   - the batch cycle (bench/cycle_client, 8 producers and 8 consumers):
#     SendMessageBatch(10) + ReceiveMessage(10) + DeleteMessageBatch(10) in
#     AWS JSON and in Query against the native batch enqueue, receive and ack
#     of 10.
#
#   bench/sqs.sh [BUILD_DIR]     (default: build)
#   env: DURATION=10 (s per wrk round)  CONNECTIONS=64  ROUNDS=3
#        MESSAGES=200000 (per cycle round)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
messages=${MESSAGES:-200000}
bare_port=${bare_port:-18120}
mq_port=${mq_port:-18121}
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
start_servers --fsync=none --consumers=0

# One wrk round of single sends in mode $1; prints "req_per_s p99_us errors".
wrk_send() {
  wrk -t2 -c"$connections" -d"${duration}s" -s "$here/post.lua" \
    "http://127.0.0.1:$mq_port/" -- "$1" \
    | awk '/^RESULT/ {
        split($2, r, "="); split($3, s, "="); split($4, e, "=");
        split($6, p, "=");
        printf "%.0f %d %d\n", r[2] / s[2], p[2], e[2] }'
}

best() { if (( $2 > $1 )); then echo "$2"; else echo "$1"; fi; }

n=0; j=0; q=0; cn=0; cj=0; cq=0
for i in $(seq "$rounds"); do
  # Each round starts from empty queues: sends pile up otherwise.
  curl -s -o /dev/null -X DELETE "http://127.0.0.1:$mq_port/queues/bench"
  curl -s -o /dev/null -X PUT "http://127.0.0.1:$mq_port/queues/bench"
  read -r rn pn en < <(wrk_send native)
  curl -s -o /dev/null -X POST "http://127.0.0.1:$mq_port/queues/bench/purge"
  read -r rj pj ej < <(wrk_send json)
  curl -s -o /dev/null -X POST "http://127.0.0.1:$mq_port/queues/bench/purge"
  read -r rq pq eq < <(wrk_send query)
  curl -s -o /dev/null -X POST "http://127.0.0.1:$mq_port/queues/bench/purge"
  ccn=$("$build/cycle_client" "$mq_port" bench "$messages" 10 8 8 native)
  ccj=$("$build/cycle_client" "$mq_port" bench "$messages" 10 8 8 json)
  ccq=$("$build/cycle_client" "$mq_port" bench "$messages" 10 8 8 query)
  printf 'round %d: send native %7d req/s p99 %6d us (%d errors) | json %7d req/s p99 %6d us (%d errors) | query %7d req/s p99 %6d us (%d errors) | cycle of 10: native %7d msg/s, json %7d msg/s, query %7d msg/s\n' \
    "$i" "$rn" "$pn" "$en" "$rj" "$pj" "$ej" "$rq" "$pq" "$eq" "$ccn" "$ccj" "$ccq"
  n=$(best "$n" "$rn"); j=$(best "$j" "$rj"); q=$(best "$q" "$rq")
  cn=$(best "$cn" "$ccn"); cj=$(best "$cj" "$ccj"); cq=$(best "$cq" "$ccq")
done
awk -v r="$rounds" -v c="$connections" -v n="$n" -v j="$j" -v q="$q" \
    -v cn="$cn" -v cj="$cj" -v cq="$cq" 'BEGIN {
  printf "\nbest of %d rounds:\n", r
  printf "  one message a request, %d connections:\n", c
  printf "    native POST /queues/bench/messages  %7d req/s\n", n
  printf "    SQS SendMessage, AWS JSON           %7d req/s  %.2fx native (target >= 0.7)\n", j, j / n
  printf "    SQS SendMessage, Query              %7d req/s  %.2fx native\n", q, q / n
  printf "  batch cycle of 10 (send, receive, delete), 8+8 connections:\n"
  printf "    native                              %7d msg/s\n", cn
  printf "    SQS, AWS JSON                       %7d msg/s  %.2fx native (target >= 0.7)\n", cj, cj / cn
  printf "    SQS, Query                          %7d msg/s  %.2fx native\n", cq, cq / cn
}'
