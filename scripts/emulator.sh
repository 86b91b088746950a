#!/usr/bin/env bash
# Install (once) and start the AWS emulator (moto server) on a free loopback port.
#
#   scripts/emulator.sh start   -> prints the endpoint URL; state in target/emulator/
#   scripts/emulator.sh stop
#   scripts/emulator.sh env     -> prints `export AWS_ENDPOINT_URL=...` lines for eval
#
# The virtualenv lives in .venv-moto/ (git-ignored). Nothing listens beyond 127.0.0.1.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-moto"
state="$root/target/emulator"
MOTO_VERSION=${MOTO_VERSION:-5.2.5}

install() {
  if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing moto[server]==$MOTO_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "moto[server]==$MOTO_VERSION" >&2
  fi
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

running() {
  [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null
}

start() {
  install
  mkdir -p "$state"
  if running; then cat "$state/url"; return; fi
  port=$(free_port)
  # scripts/moto_server.py: moto's server with atomic DynamoDB conditional writes (as AWS)
  MOTO_ALLOW_NONEXISTENT_REGION=true nohup "$venv/bin/python" "$root/scripts/moto_server.py" -H 127.0.0.1 -p "$port" \
    >"$state/log" 2>&1 &
  echo $! >"$state/pid"
  url="http://127.0.0.1:$port"
  for _ in $(seq 1 100); do
    if python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=1)' "$url/moto-api/" >/dev/null 2>&1; then
      echo "$url" >"$state/url"
      echo "$url"
      return
    fi
    sleep 0.1
  done
  echo "moto server did not start; see $state/log" >&2
  exit 1
}

stop() {
  if running; then kill "$(cat "$state/pid")" && rm -f "$state/pid" "$state/url"; fi
}

case "${1:-start}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  env)
    url=$(start)
    echo "export AWS_ENDPOINT_URL=$url"
    echo "export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing"
    echo "export AWS_REGION=\${AWS_REGION:-ap-northeast-1}"
    echo "export EDEN_PYTHON=$venv/bin/python"
    ;;
  *) echo "usage: $0 install|start|stop|env" >&2; exit 2 ;;
esac
