# epochfsd container image: build with Debian's Rust, run on a slim Debian.
#
#   buildah bud --isolation chroot --storage-driver vfs -t epochfsd .      (or docker build)
#
# Build arguments:
#   BASE_IMAGE   the Debian bookworm image both stages start from (default
#                debian:bookworm-slim from a registry). Where no registry is
#                reachable, make one locally and pass its name; scripts/container-test.sh
#                debootstraps bookworm (minbase) and imports it as
#                localhost/epochfsd-base:bookworm.
#   DEBIAN_MIRROR  apt mirror for the build stage (default http://deb.debian.org).
#
# Crates: if the build context has vendor/ (`cargo vendor --locked vendor` on the
# host, as scripts/container-test.sh does), the build is offline from it; without
# vendor/ cargo fetches from crates.io, which needs TLS (and so CA certificates)
# inside the build container.
#
# The image holds only the binary (/usr/libexec/epochfsd, the path the vhost-user
# descriptor names) and the descriptor (/usr/share/qemu/vhost-user/60-epochfsd.json).
# Run it with the share and the socket directory bind-mounted, e.g.
#   podman run --rm --network none -v /srv/share:/share -v /run/vfs:/run/vfs \
#       epochfsd --socket-path /run/vfs/vhost-fs.sock --shared-dir /share --sandbox none
# The default --sandbox namespace needs CAP_SYS_ADMIN in the container; see
# docs/deploy-container.md.

ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
ARG DEBIAN_MIRROR=http://deb.debian.org
# rustc-web/cargo-web come from bookworm-security (Rust 1.9x; bookworm's own rustc
# is 1.63, and rustc-web in bookworm itself is 1.85, below the crate's
# rust-version 1.89), their newest version, so no -t (a -t bookworm-security
# would also drag libc6-dev back to an older security build). A debootstrapped
# base has only bookworm in its sources. The build fails at `cargo build` with
# "requires rustc 1.89" if an older Rust is installed.
RUN set -eux; \
    . /etc/os-release; [ "$VERSION_CODENAME" = bookworm ]; \
    if ! grep -rqs 'bookworm-security' /etc/apt/sources.list /etc/apt/sources.list.d/; then \
        echo "deb $DEBIAN_MIRROR/debian-security bookworm-security main" > /etc/apt/sources.list.d/security.list; \
    fi; \
    apt-get update; \
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
        rustc-web cargo-web gcc libc6-dev binutils; \
    rm -rf /var/lib/apt/lists/*; \
    rustc --version; cargo --version
WORKDIR /src
COPY . .
RUN set -eux; \
    if [ -d vendor ]; then \
        mkdir -p .cargo; \
        printf '[source.crates-io]\nreplace-with = "vendored"\n[source.vendored]\ndirectory = "vendor"\n' > .cargo/config.toml; \
        offline=--offline; \
    else offline=; fi; \
    CARGO_HOME=/tmp/cargo-home cargo build --release --locked $offline --bin epochfsd; \
    strip -o /epochfsd target/release/epochfsd; \
    /epochfsd --print-capabilities

FROM ${BASE_IMAGE}
COPY --from=build /epochfsd /usr/libexec/epochfsd
COPY vmm-configs/60-epochfsd.json /usr/share/qemu/vhost-user/60-epochfsd.json
ENTRYPOINT ["/usr/libexec/epochfsd"]
CMD ["--help"]
