#!/usr/bin/env bash
# A pull request's whole life on the local AWS emulator, printed as it happens: the action
# binary run as the GitHub runner runs it, on real opened → synchronize → closed payloads,
# against the emulator and a local GitHub stand-in; the PR comment as a reviewer sees it.
# The emulator is stopped at the end (whatever the outcome) if this script started it; one
# already running (scripts/emulator.sh start, scripts/test.sh) is used and left running.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo-emulator.sh
source scripts/demo-emulator.sh
cargo build -q --bin eden
EDEN_BIN="$PWD/target/debug/eden" cargo run -q --example pr_demo
