#!/usr/bin/env bash
# Install the Python eden (the tool eden replaces) into .venv-pyeden/, for the CLI-to-CLI
# benchmark only (`eden-bench --python-eden`, docs/testing.md). Not used by the tests or CI.
#
#   scripts/python-eden/setup.sh            -> prints the interpreter for --python-eden
#   scripts/python-eden/setup.sh SRC_DIR    -> the CLI from a checkout of baikonur-oss/aws-eden-cli
#
# Versions: aws-eden-core 0.2.0 (= bee5bd1, PyPI) with the boto3/botocore its requirements pin
# (1.15.16 / 1.18.16), and aws-eden-cli at c758b10 (its master; PyPI has only 0.1.5, which
# needs core 0.1.2 and an older config format). The CLI comes from GitHub unless SRC_DIR is given.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
venv="$root/.venv-pyeden"
cli=${1:-"git+https://github.com/baikonur-oss/aws-eden-cli@c758b10ae1d31e9106c505565b2a234a5c942cb0"}
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/pip" install -q --disable-pip-version-check \
  boto3==1.15.16 botocore==1.18.16 aws-eden-core==0.2.0 >&2
if [ $# -gt 0 ] || ! "$venv/bin/python" -c 'import aws_eden_cli' 2>/dev/null; then
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps "$cli" >&2
fi
echo "$venv/bin/python"
