# gitfleet: the CLI and the in-cluster reconciler (`gitfleet agent`, the default command) in one
# image, e.g. ghcr.io/gitfleet/gitfleet:v0.1.0 as templates/reconciler/install.yaml.j2 runs it.
#
#   docker build -t gitfleet --build-arg REVISION="$(git rev-parse HEAD)" .
#   docker run --rm gitfleet --help
#
# The image is built without the cloud providers (cargo features `aws` and `azure`): the agent
# never calls a cloud, and their SDKs are about a third of its resident memory. It is built with
# Cargo.toml's `agent` profile (optimised for size, one codegen unit, fat LTO): fewer code pages
# stay resident in a long-running agent. Its CLI does all but create, delete or adopt EKS and AKS
# clusters (and `gitfleet token eks`). For a CLI image with them: --build-arg FEATURES=aws,azure
#
# Runtime libraries: libgit2 and libssh2 are compiled by their -sys crates and link the system
# OpenSSL (libssl.so.3, libcrypto.so.3) and zlib. The runtime image (distroless cc-debian12, the
# same Debian 12 as the builder) ships glibc, libgcc_s, libssl3 and CA certificates but no zlib, so
# zlib is linked statically (LIBZ_SYS_STATIC=1) while OpenSSL stays the base image's shared one,
# which its security updates reach. The build fails if the binary needs any other shared library.

ARG RUST_VERSION=1.95
ARG FEATURES=""

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
ARG FEATURES
# The image has gcc, make, pkg-config, libssl-dev and zlib1g-dev (buildpack-deps); aws-lc-sys
# builds with cc, so no cmake is needed.
ENV LIBZ_SYS_STATIC=1 \
    CARGO_PROFILE_RELEASE_STRIP=symbols \
    CARGO_TERM_COLOR=never
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
WORKDIR /src

# 1. The dependencies alone, in a layer kept until Cargo.toml or Cargo.lock change: built against
#    stub targets (each [[bench]] Cargo.toml declares must exist for the manifest to load).
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && sed -n '/^\[\[bench\]\]/,/^name/ s/^name *= *"\(.*\)"/\1/p' Cargo.toml \
    | while read -r bench; do echo 'fn main() {}' > "benches/${bench}.rs"; done \
 && cargo build --profile agent --locked --bin gitfleet --no-default-features ${FEATURES:+--features "$FEATURES"} \
 && rm -rf src target/agent/gitfleet target/agent/deps/gitfleet-* \
        target/agent/deps/libgitfleet-* target/agent/.fingerprint/gitfleet-*

# 2. The crate itself (the built-in templates are embedded at compile time).
COPY src ./src
COPY templates ./templates
RUN cargo build --profile agent --locked --bin gitfleet --no-default-features ${FEATURES:+--features "$FEATURES"} \
 && ldd target/agent/gitfleet \
 && if ldd target/agent/gitfleet | awk '{print $1}' \
        | grep -Ev '^(linux-vdso\.so\.1|.*/?ld-linux[^ ]*|lib(c|m|dl|rt|pthread)\.so\.[0-9]+|libgcc_s\.so\.1|libssl\.so\.3|libcrypto\.so\.3)$'; then \
        echo "gitfleet needs a shared library the runtime image lacks (above)" >&2; exit 1; \
    fi \
 && install -D -m 0755 target/agent/gitfleet /out/bin/gitfleet \
 && mkdir -p /out/cache/gitfleet

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="gitfleet" \
      org.opencontainers.image.description="GitOps for Kubernetes clusters: cluster definitions in Git rendered into EKS/AKS/kind/existing clusters, and the in-cluster reconciler (gitfleet agent)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/gitfleet/gitfleet" \
      org.opencontainers.image.base.name="gcr.io/distroless/cc-debian12:nonroot"

COPY --from=builder /out/bin/gitfleet /usr/local/bin/gitfleet
# Where the agent caches repositories (the Deployment mounts an emptyDir over it; without one,
# e.g. under `docker run`, the directory itself must be writable by the user).
COPY --from=builder --chown=65532:65532 /out/cache/ /var/cache/
ENV GITFLEET_CACHE_DIR=/var/cache/gitfleet \
    SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt

# distroless' `nonroot` user, numeric so that runAsNonRoot can check it.
USER 65532:65532
# /metrics, /healthz, /readyz and the push webhooks.
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/gitfleet"]
CMD ["agent"]
