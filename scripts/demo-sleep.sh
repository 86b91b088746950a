#!/usr/bin/env bash
# A preview going to sleep and waking on a request, printed as it happens: a whole `eden serve`
# (webhooks, queue, runner, the waker) in one process against the local AWS emulator and a
# local GitHub stand-in (examples/sleep_demo.rs). The emulator runs no containers, so what ECS
# and ELB say about the woken task is injected as in the tests; everything else is the
# emulator's. The emulator is stopped at the end if this script started it.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/demo-emulator.sh
source scripts/demo-emulator.sh
cargo run -q --example sleep_demo
