#!/usr/bin/env bash
# Full cycle over HTTP (enqueue, receive, ack) with 8 producer and 8 consumer
# connections, single messages and batches of 10, against the bare Pistache
# handler's req/s measured with wrk in the same run.
#
#   bench/cycle.sh [BUILD_DIR]     env: MESSAGES=100000 BATCH_MESSAGES=500000
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
messages=${MESSAGES:-100000}
batch_messages=${BATCH_MESSAGES:-500000}
bare_port=18110
mq_port=18111
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
start_servers --consumers=0 --fsync=none
bare=$(wrk -t2 -c64 -d10s -s "$here/post.lua" "http://127.0.0.1:$bare_port/enqueue" \
  | awk '/^RESULT/ { split($2, r, "="); split($3, s, "="); printf "%.0f", r[2] / s[2] }')
single=$("$build/cycle_client" "$mq_port" single "$messages" 1)
batched=$("$build/cycle_client" "$mq_port" batched "$batch_messages" 10)
awk -v b="$bare" -v s="$single" -v m="$batched" 'BEGIN {
  printf "bare handler (wrk -c64):        %7d req/s\n", b
  printf "full cycle, single messages:    %7d msg/s  %.2fx bare (target >= 0.2)\n", s, s / b
  printf "full cycle, batches of 10:      %7d msg/s  %.2fx bare (target >= 1.0)\n", m, m / b
}'
