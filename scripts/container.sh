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
if ldd dist/eden >/dev/null 2>&1; then echo "dist/eden is not static" >&2; exit 1; fi
bud=(buildah --storage-driver vfs)
"${bud[@]}" bud --pull=never --isolation chroot --target local -t eden:local -f Dockerfile . >&2
size=$("${bud[@]}" inspect --format '{{.Size}}' eden:local 2>/dev/null || echo "?")
echo "image eden:local: $(du -h dist/eden | cut -f1) binary; inspect size $size"
ctr=$("${bud[@]}" from eden:local)
"${bud[@]}" run --isolation chroot "$ctr" -- /eden --version
"${bud[@]}" rm "$ctr" >/dev/null
