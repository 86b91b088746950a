#!/usr/bin/env bash
# Run every test: unit tests and the integration tests against the AWS emulator (moto), which
# this script installs into .venv-moto/ and starts on a free loopback port.
#   scripts/test.sh [cargo test args…]   e.g. --test lease (only that file), --lib
set -euo pipefail
cd "$(dirname "$0")/.."
started=""
if [ -z "${AWS_ENDPOINT_URL:-}" ]; then
  AWS_ENDPOINT_URL=$(scripts/emulator.sh start)
  export AWS_ENDPOINT_URL
  started=1
fi
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-northeast-1
export EDEN_PYTHON="${EDEN_PYTHON:-$PWD/.venv-moto/bin/python}"
cleanup() { if [ -n "$started" ]; then scripts/emulator.sh stop; fi; }
trap cleanup EXIT
echo "AWS emulator: $AWS_ENDPOINT_URL" >&2
# Every target, unless the arguments name some (`--test lease`, `--lib`): cargo adds
# --all-targets to those instead of narrowing it.
targets=(--all-targets)
for a in "$@"; do
  case "$a" in --test|--lib|--bin|--bins|--tests|--doc|--example|--examples|--bench|--benches) targets=() ;; esac
done
# The test machinery (fault injection, injected AWS answers, the proxy) is the `testing` feature;
# the crate's dev-dependency on itself turns it on anyway, the flag says so (docs/testing.md).
cargo test --features testing "${targets[@]}" "$@"
