#!/usr/bin/env bash
# A three-node cluster on this machine (the three processes share its cores:
# every figure here is a ratio within one run, never a cluster's capacity),
# in memory (--fsync=none), alternating rounds:
#   - one 100-byte message per request, 64 connections (wrk): POST
#     /queues/bench/messages through the node that owns the queue, and
#     through a node that does not (each request forwarded over BASP);
#   - the full cycle with long-poll receives (bench/cycle_client, 8
#     producers and 8 consumers, wait_seconds 1), single messages and
#     batches of 10, through the owner and through another node;
#   - where the time goes: the CPU seconds each node spent per 1,000
#     requests of each kind (from /proc: user + system).
#
#   bench/cluster.sh [BUILD_DIR]     (default: build)
#   env: DURATION=10 (s per wrk round)  CONNECTIONS=64  ROUNDS=3
#        MESSAGES=100000 (per cycle round)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
messages=${MESSAGES:-100000}
# shellcheck source=bench/servers.sh
. "$here/servers.sh"

http_ports=(18131 18132 18133)
members="n1@127.0.0.1:18141,n2@127.0.0.1:18142,n3@127.0.0.1:18143"
for i in 0 1 2; do
  start_actormq "${http_ports[$i]}" --fsync=none --consumers=0 \
    --node-name="n$((i + 1))" --cluster="$members"
done
for port in "${http_ports[@]}"; do wait_port "$port"; done
# Until every node serves every other's queues.
for _ in $(seq 100); do
  up=0
  for port in "${http_ports[@]}"; do
    up=$((up + $(curl -s "http://127.0.0.1:$port/metrics" \
                   | grep -c '^actormq_cluster_link_up{.*} 1$' || true)))
  done
  (( up == 6 )) && break
  sleep 0.1
done
curl -s -o /dev/null -X PUT "http://127.0.0.1:${http_ports[0]}/queues/bench"
owner=$(curl -s "http://127.0.0.1:${http_ports[0]}/queues/bench" \
          | sed -E 's/.*"node":"n([0-9])".*/\1/')
owner_port=${http_ports[$((owner - 1))]}
other_port=${http_ports[$((owner % 3))]}
echo "queue 'bench' lives on n$owner (port $owner_port); forwarded through port $other_port"

# CPU seconds (user + system) of each node so far, space separated.
cpu() {
  local tick out=""
  tick=$(getconf CLK_TCK)
  for pid in "${pids[@]}"; do
    out+=$(awk -v t="$tick" '{ printf "%.3f ", ($14 + $15) / t }' \
             "/proc/$pid/stat")
  done
  echo "$out"
}

# CPU milliseconds per 1,000 requests of each node between $1 and $2
# (outputs of cpu) over $3 requests.
cpu_per_k() {
  awk -v a="$1" -v b="$2" -v n="$3" 'BEGIN {
    split(a, x, " "); split(b, y, " ");
    for (i = 1; i <= 3; ++i)
      printf "n%d %.1f ", i, (y[i] - x[i]) * 1e6 / n
  }'
}

wrk_send() {
  wrk -t2 -c"$connections" -d"${duration}s" -s "$here/post.lua" \
    "http://127.0.0.1:$1/" -- native \
    | awk '/^RESULT/ {
        split($2, r, "="); split($3, s, "="); split($4, e, "=");
        split($6, p, "=");
        printf "%.0f %d %d %d\n", r[2] / s[2], p[2], e[2], r[2] }'
}

best() { if (( $2 > $1 )); then echo "$2"; else echo "$1"; fi; }
purge() {
  curl -s -o /dev/null -X POST "http://127.0.0.1:$owner_port/queues/bench/purge"
}

so=0; sf=0; c1o=0; c1f=0; c10o=0; c10f=0
for i in $(seq "$rounds"); do
  purge
  c0=$(cpu); read -r ro po eo no < <(wrk_send "$owner_port"); c1=$(cpu)
  purge
  read -r rf pf ef nf < <(wrk_send "$other_port"); c2=$(cpu)
  purge
  x1o=$("$build/cycle_client" "$owner_port" bench "$messages" 1 8 8)
  x1f=$("$build/cycle_client" "$other_port" bench "$messages" 1 8 8)
  x10o=$("$build/cycle_client" "$owner_port" bench "$messages" 10 8 8)
  x10f=$("$build/cycle_client" "$other_port" bench "$messages" 10 8 8)
  printf 'round %d: send via owner %7d req/s p99 %6d us (%d errors) [CPU ms per 1k: %s] | via another node %7d req/s p99 %6d us (%d errors) [CPU ms per 1k: %s] | cycle of 1: owner %6d msg/s, other %6d msg/s | cycle of 10: owner %6d msg/s, other %6d msg/s\n' \
    "$i" "$ro" "$po" "$eo" "$(cpu_per_k "$c0" "$c1" "$no")" \
    "$rf" "$pf" "$ef" "$(cpu_per_k "$c1" "$c2" "$nf")" \
    "$x1o" "$x1f" "$x10o" "$x10f"
  so=$(best "$so" "$ro"); sf=$(best "$sf" "$rf")
  c1o=$(best "$c1o" "$x1o"); c1f=$(best "$c1f" "$x1f")
  c10o=$(best "$c10o" "$x10o"); c10f=$(best "$c10f" "$x10f")
done
awk -v r="$rounds" -v c="$connections" -v so="$so" -v sf="$sf" \
    -v c1o="$c1o" -v c1f="$c1f" -v c10o="$c10o" -v c10f="$c10f" 'BEGIN {
  printf "\nbest of %d rounds (three nodes sharing this machine):\n", r
  printf "  one message a request, %d connections:\n", c
  printf "    via the owner          %7d req/s\n", so
  printf "    via another node       %7d req/s  %.2fx the owner (target >= 0.5)\n", sf, sf / so
  printf "  cycle with long-poll receives, 8+8 connections:\n"
  printf "    single, via the owner  %7d msg/s\n", c1o
  printf "    single, via another    %7d msg/s  %.2fx\n", c1f, c1f / c1o
  printf "    batch of 10, owner     %7d msg/s\n", c10o
  printf "    batch of 10, another   %7d msg/s  %.2fx\n", c10f, c10f / c10o
}'
