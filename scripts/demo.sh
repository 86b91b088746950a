#!/usr/bin/env bash
# A pull request's whole life on the local AWS emulator, printed as it happens: the action
# binary run as the GitHub runner runs it, on real opened → synchronize → closed payloads,
# against the emulator and a local GitHub stand-in; the PR comment as a reviewer sees it.
# The emulator is stopped at the end (whatever the outcome) if this script started it; one
# already running (scripts/emulator.sh start, scripts/test.sh) is used and left running.
set -euo pipefail
cd "$(dirname "$0")/.."
started=""
pidfile=target/emulator/pid
if ! { [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; }; then
  started=1
fi
# Stop it and wait (up to 10 s) until it has exited, so nothing of the demo outlives it.
cleanup() {
  if [ -z "$started" ] || [ ! -f "$pidfile" ]; then return; fi
  local pid
  pid=$(cat "$pidfile")
  scripts/emulator.sh stop
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  echo "the emulator (pid $pid) is still exiting" >&2
}
trap cleanup EXIT
url=$(scripts/emulator.sh start)
export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-northeast-1
export EDEN_PYTHON="$PWD/.venv-moto/bin/python"
cargo build -q --bin eden
EDEN_BIN="$PWD/target/debug/eden" cargo run -q --example pr_demo
