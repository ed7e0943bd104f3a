# Sourced by the bench scripts: starts the bare Pistache handler on
# $bare_port and actormq on $mq_port (extra flags: $@ and $ACTORMQ_ARGS),
# waits until both answer, and stops them on exit. Needs $build and $here.
duration=${DURATION:-10}
connections=${CONNECTIONS:-64}
rounds=${ROUNDS:-3}
bare_port=${bare_port:-18100}
mq_port=${mq_port:-18101}
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install -y wrk" >&2; exit 1; }
data=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$data"
}
trap cleanup EXIT

# Waits until port $1 answers (scheme $2: http by default).
wait_port() {
  for _ in $(seq 100); do
    curl -sk -o /dev/null "${2:-http}://127.0.0.1:$1/" && return 0
    sleep 0.05
  done
  echo "server on port $1 did not start" >&2
  exit 1
}

# Starts actormq on 127.0.0.1:$1 with a data directory of its own (extra
# flags: the rest and $ACTORMQ_ARGS); wait_port waits for it.
start_actormq() {
  local port=$1
  shift
  # shellcheck disable=SC2086 # ACTORMQ_ARGS holds several flags
  "$build/actormq" --host=127.0.0.1 --port="$port" --data-dir="$data/$port" \
    --log-level=warning "$@" ${ACTORMQ_ARGS:-} & pids+=($!)
}

start_servers() {
  "$build/bare_server" "$bare_port" 2 & pids+=($!)
  start_actormq "$mq_port" "$@"
  wait_port "$bare_port"
  wait_port "$mq_port"
}

# One wrk round of POST /enqueue (bench/post.lua, 100-byte messages) against
# 127.0.0.1:$1 with $connections connections for $duration seconds, with
# the extra header $2 if given, over scheme $3 (http by default); prints
# "req_per_s p99_us errors".
wrk_post() {
  wrk -t2 -c"$connections" -d"${duration}s" -s "$here/post.lua" \
    ${2:+-H "$2"} "${3:-http}://127.0.0.1:$1/enqueue" \
    | awk '/^RESULT/ {
        split($2, r, "="); split($3, s, "="); split($4, e, "=");
        split($6, p, "=");
        printf "%.0f %d %d\n", r[2] / s[2], p[2], e[2] }'
}
