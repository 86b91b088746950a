#!/usr/bin/env bash
# A pull request's whole life on the local AWS emulator, printed as it happens: the action
# binary run as the GitHub runner runs it, on real opened → synchronize → closed payloads,
# against the emulator and a local GitHub stand-in; the PR comment as a reviewer sees it.
set -euo pipefail
cd "$(dirname "$0")/.."
url=$(scripts/emulator.sh start)
export AWS_ENDPOINT_URL=$url AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=ap-northeast-1
export EDEN_PYTHON="$PWD/.venv-moto/bin/python"
cargo build -q --bin eden
EDEN_BIN="$PWD/target/debug/eden" cargo run -q --example pr_demo
