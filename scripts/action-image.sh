#!/usr/bin/env bash
# The image line of action.yml (`runs.image`), checked and pinned.
#
#   scripts/action-image.sh check [--release] [FILE]  exit 1 unless the rule holds
#   scripts/action-image.sh pin IMAGE@sha256:DIGEST [FILE]  rewrite the line (the release does)
#
# Rule: a release commit (`--release`) names the image by digest only:
#   docker://ghcr.io/<owner>/eden@sha256:<64 hex>
# Elsewhere (main) the line is either that, or the placeholder the release rewrites:
#   docker://ghcr.io/eden-previews/eden:unreleased
# A tag (`:v1`, `:latest`) is never accepted: a tag moves, so pinning the action to a commit
# would not pin the image.
set -euo pipefail
PLACEHOLDER="docker://ghcr.io/eden-previews/eden:unreleased"
PINNED='^docker://ghcr\.io/[a-z0-9][a-z0-9-]*/eden@sha256:[0-9a-f]{64}$'

image_line() { grep -E '^  image:' "$1" | head -n 1 | sed -E 's/^  image:[[:space:]]*//; s/^"(.*)"$/\1/'; }

cmd=${1:-}; shift || true
case "$cmd" in
  check)
    release=""
    if [ "${1:-}" = "--release" ]; then release=1; shift; fi
    file=${1:-action.yml}
    image=$(image_line "$file")
    if [[ "$image" =~ $PINNED ]]; then echo "action.yml image pinned: $image"; exit 0; fi
    if [ -z "$release" ] && [ "$image" = "$PLACEHOLDER" ]; then
      echo "action.yml image is the placeholder (a release pins it by digest)"; exit 0
    fi
    if [ -n "$release" ]; then
      echo "error: $file on a release must name the image by digest (docker://ghcr.io/<owner>/eden@sha256:…), not ${image:-nothing}" >&2
    else
      echo "error: $file must name the image by digest or be the placeholder $PLACEHOLDER, not ${image:-nothing} (a tag moves)" >&2
    fi
    exit 1
    ;;
  pin)
    ref=${1:?usage: pin IMAGE@sha256:DIGEST [FILE]}; file=${2:-action.yml}
    if ! [[ "docker://$ref" =~ $PINNED ]]; then
      echo "error: $ref is not ghcr.io/<owner>/eden@sha256:<64 hex>" >&2; exit 1
    fi
    sed -i -E "s|^  image:.*$|  image: docker://$ref|" "$file"
    "$0" check --release "$file"
    ;;
  *) echo "usage: $0 check [--release] [FILE] | pin IMAGE@sha256:DIGEST [FILE]" >&2; exit 2 ;;
esac
