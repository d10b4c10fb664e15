#!/usr/bin/env bash
# Runs the whole stack in the foreground (CONTRACT §1): queue, concert, payment, reservation and
# gateway, each its own process. A process that crashes (non-zero exit or a signal) is restarted
# after 1 second. Ctrl-C or SIGTERM stops them all gracefully (each has a bounded shutdown).
#
# Usage: deploy/local/run-stack.sh [BIN_DIR]    BIN_DIR defaults to .build/release
# Configuration is the environment of CONTRACT §2 (DATA_DIR, GATEWAY_PORT, ...).
set -u

bin=${1:-.build/release}
services=(queue concert payment reservation gateway)
for name in "${services[@]}"; do
  if [ ! -x "$bin/$name" ]; then
    echo "run-stack: $bin/$name is missing; build first (make run does both)" >&2
    exit 1
  fi
done
mkdir -p "${DATA_DIR:-./data}"

# Keeps one service running until told to stop. SIGTERM goes on to the service, which then has
# its own bounded graceful shutdown; the supervisor waits for it before leaving.
supervise() {
  local name=$1 child=0 status stopping=0
  trap 'stopping=1; [ "$child" -ne 0 ] && kill -TERM "$child" 2>/dev/null' TERM
  while [ "$stopping" -eq 0 ]; do
    "$bin/$name" serve &
    child=$!
    wait "$child"
    status=$?
    if [ "$stopping" -eq 1 ]; then
      wait "$child" 2>/dev/null
      break
    fi
    # Exit 0 is a graceful stop someone asked for (Ctrl-C reaches every process of the
    # terminal's group, services included): like systemd's Restart=on-failure, only a crash
    # (a non-zero status or a signal) is restarted.
    if [ "$status" -eq 0 ]; then
      echo "run-stack: $name stopped" >&2
      break
    fi
    echo "run-stack: $name exited with status $status; restarting in 1s" >&2
    child=0
    sleep 1 &
    wait $! 2>/dev/null
  done
}

supervisors=()
for name in "${services[@]}"; do
  supervise "$name" &
  supervisors+=($!)
done

stop_all() {
  trap '' INT TERM
  echo "run-stack: stopping" >&2
  kill "$announcer" 2>/dev/null
  kill -TERM "${supervisors[@]}" 2>/dev/null
  wait "${supervisors[@]}" 2>/dev/null
  echo "run-stack: stopped" >&2
  exit 0
}
trap stop_all INT TERM

# Say when the stack is ready, as /readyz sees it.
(
  for _ in $(seq 1 300); do
    if "$bin/gateway" probe ping >/dev/null 2>&1; then
      echo "run-stack: ready: open http://${GATEWAY_HOST:-127.0.0.1}:${GATEWAY_PORT:-8080}/ in a browser to book (Ctrl-C stops)" >&2
      exit 0
    fi
    sleep 1
  done
) &
announcer=$!

wait "${supervisors[@]}"
kill "$announcer" 2>/dev/null
echo "run-stack: stopped" >&2
