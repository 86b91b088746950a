# syntax=docker/dockerfile:1
# The eden container action image: a static binary on an empty base (no shell).
#
#   release (default):  docker buildx build --platform linux/amd64,linux/arm64 .
#   local (no registry): scripts/container.sh   (buildah, target `local`, a host-built binary)
#
# No USER instruction: container actions must run as root to write GITHUB_OUTPUT.

FROM docker.io/library/rust:1.95-slim-bookworm AS build
ARG TARGETARCH
WORKDIR /src
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates=20230311* \
    && rm -rf /var/lib/apt/lists/*
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY tests ./tests
RUN case "$TARGETARCH" in \
      amd64) echo x86_64-unknown-linux-gnu > /target ;; \
      arm64) echo aarch64-unknown-linux-gnu > /target ;; \
      *) echo "unsupported architecture $TARGETARCH" >&2; exit 1 ;; \
    esac \
    && RUSTFLAGS='-C target-feature=+crt-static' cargo build --release --locked --bin eden --target "$(cat /target)" \
    && mkdir -p /out \
    && cp "target/$(cat /target)/release/eden" /out/eden

FROM scratch AS local
COPY dist/eden /eden
COPY dist/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/eden"]

FROM scratch AS release
LABEL org.opencontainers.image.source="https://github.com/eden-previews/eden" \
      org.opencontainers.image.description="eden: preview environments on Amazon ECS"
COPY --from=build /out/eden /eden
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
ENTRYPOINT ["/eden"]
