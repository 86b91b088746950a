# Sourced by the demo scripts: start the AWS emulator (or use one already running), export its
# endpoint and test credentials, and stop it on exit (waiting until it has) if this started it.
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
