#!/usr/bin/env bash
# Load test of POST /enqueue (in memory: --fsync=none) against a bare
# Pistache handler, the same with access control on (--auth-file, a valid
# token on every request), and the same over HTTPS (--tls-cert), all
# measured in the same run, alternating, so the ratios hold on a noisy
# machine. bench/durable.sh measures --fsync=always.
#
#   bench/enqueue.sh [BUILD_DIR]     (default: build)
#   env: DURATION=10 (s per round)  CONNECTIONS=64  ROUNDS=3
#
# Prints each round, then the best round of each server and the ratios.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "${1:-$here/../build}" && pwd)
# shellcheck source=bench/servers.sh
. "$here/servers.sh"
start_servers --fsync=none
# A token that may send to "default" (POST /enqueue), minted as a user would.
auth_port=${auth_port:-18102}
{ read -r token; read -r line; } \
  < <("$build/actormq" --new-token=bench 2>/dev/null)
echo "$line send:default" > "$data/tokens"
start_actormq "$auth_port" --fsync=none --auth-file="$data/tokens"
wait_port "$auth_port"
# HTTPS with a self-signed certificate (wrk does not verify it).
command -v openssl >/dev/null \
  || { echo "openssl is missing: apt-get install -y openssl" >&2; exit 1; }
tls_port=${tls_port:-18103}
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -days 1 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 \
  -keyout "$data/tls.key" -out "$data/tls.pem" 2>/dev/null
start_actormq "$tls_port" --fsync=none --tls-cert="$data/tls.pem" \
  --tls-key="$data/tls.key"
wait_port "$tls_port" https

best_bare=0; best_bare_p99=0; best_mq=0; best_mq_p99=0
best_auth=0; best_auth_p99=0; best_tls=0; best_tls_p99=0
for i in $(seq "$rounds"); do
  read -r b bp be < <(wrk_post "$bare_port")
  read -r m mp me < <(wrk_post "$mq_port")
  read -r a ap ae < <(wrk_post "$auth_port" "Authorization: Bearer $token")
  read -r t tp te < <(wrk_post "$tls_port" "" https)
  printf 'round %d: bare %7d req/s p99 %6d us (%d errors) | enqueue %7d req/s p99 %6d us (%d errors) | with token %7d req/s p99 %6d us (%d errors) | https %7d req/s p99 %6d us (%d errors)\n' \
    "$i" "$b" "$bp" "$be" "$m" "$mp" "$me" "$a" "$ap" "$ae" "$t" "$tp" "$te"
  if (( b > best_bare )); then best_bare=$b; best_bare_p99=$bp; fi
  if (( m > best_mq )); then best_mq=$m; best_mq_p99=$mp; fi
  if (( a > best_auth )); then best_auth=$a; best_auth_p99=$ap; fi
  if (( t > best_tls )); then best_tls=$t; best_tls_p99=$tp; fi
done
awk -v r="$rounds" -v c="$connections" -v d="$duration" \
    -v b="$best_bare" -v bp="$best_bare_p99" -v m="$best_mq" -v mp="$best_mq_p99" \
    -v a="$best_auth" -v ap="$best_auth_p99" \
    -v t="$best_tls" -v tp="$best_tls_p99" 'BEGIN {
  printf "\nbest of %d rounds, %d connections, %ds each:\n", r, c, d
  printf "  bare handler    %7d req/s  p99 %6.2f ms\n", b, bp / 1000
  printf "  POST /enqueue   %7d req/s  p99 %6.2f ms\n", m, mp / 1000
  printf "  with a token    %7d req/s  p99 %6.2f ms  (--auth-file)\n", a, ap / 1000
  printf "  over HTTPS      %7d req/s  p99 %6.2f ms  (--tls-cert)\n", t, tp / 1000
  printf "  ratio enqueue/bare: %.2f (target >= 1.00; p99 target < 5 ms)\n", m / b
  printf "  ratio with token/without: %.2f (target >= 0.90)\n", a / m
  printf "  ratio HTTPS/HTTP: %.2f (target >= 0.60)\n", t / m
}'
