#!/usr/bin/env bash
# Build the action image here without a Docker engine (buildah, `FROM scratch`), run it on a
# fixture as the runner would, and lint the Dockerfile. Needs: apt-get install buildah.
#   scripts/container.sh            -> builds eden:local, prints its size, runs `eden --version`
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --bin eden --target "$target"
mkdir -p dist
cp "target/$target/release/eden" dist/eden
cp /etc/ssl/certs/ca-certificates.crt dist/ca-certificates.crt
if ! ldd dist/eden 2>&1 | grep -q "statically linked"; then echo "dist/eden is not static" >&2; exit 1; fi
bud=(buildah --storage-driver vfs)
"${bud[@]}" bud --pull=never --isolation chroot --target local -t eden:local -f Dockerfile . >&2
size=$("${bud[@]}" images --format '{{.Size}}' eden:local | head -n1)
echo "image eden:local: $size (limit 25 MB)"
ctr=$("${bud[@]}" from eden:local)
trap '"${bud[@]}" rm "$ctr" >/dev/null' EXIT
"${bud[@]}" run --isolation chroot "$ctr" -- /eden --version
# As the runner runs a container action: root, /github/* mounts, INPUT_* variables.
fc=$(mktemp -d)
"${bud[@]}" run --isolation chroot \
  -v "$fc:/github/file_commands" \
  -v "$PWD/tests/fixtures/github/pull_request.opened.fork.json:/github/workflow/event.json:ro" \
  -v "$PWD:/github/workspace:ro" --workingdir /github/workspace \
  --env GITHUB_EVENT_PATH=/github/workflow/event.json --env GITHUB_OUTPUT=/github/file_commands/output \
  --env GITHUB_STEP_SUMMARY=/github/file_commands/summary --env GITHUB_WORKSPACE=/github/workspace \
  --env GITHUB_REPOSITORY=Codertocat/Hello-World --env INPUT_PROFILE=api \
  --env INPUT_CONFIG-PATH=tests/fixtures/action/eden.ini --env AWS_REGION=ap-northeast-1 \
  "$ctr" -- /eden action
grep -A1 '^action<<' "$fc/output" | grep -qx skipped
echo "container run on the fork fixture: action=skipped, summary: $(head -n1 "$fc/summary")"
rm -rf "$fc"
