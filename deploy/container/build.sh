#!/usr/bin/env bash
# Builds the container images monitor-server and monitor-agent from built
# binaries, FROM scratch: nothing is downloaded, no base image. Each image
# holds its binary, the shared libraries it links (from this machine, by
# ldd: the C library and its loader), the CA bundle, and a passwd entry for
# the user it runs as (nobody, 65534).
#
#   deploy/container/build.sh TAG [SERVER_BINARY] [AGENT_BINARY]
#
# The binaries default to target/release/. Prints the two image names.
# Tested by e2e/tests/container.rs (with docker-compose.yml beside this).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -lt 1 ]; then
    echo "usage: $0 TAG [SERVER_BINARY] [AGENT_BINARY]" >&2
    exit 2
fi
tag=$1
server_bin=${2:-$root/target/release/monitor-server}
agent_bin=${3:-$root/target/release/monitor-agent}
for bin in "$server_bin" "$agent_bin"; do
    [ -x "$bin" ] || { echo "$0: $bin is not an executable: build it first (cargo build --release)" >&2; exit 1; }
done
command -v docker >/dev/null || { echo "$0: docker is not installed" >&2; exit 1; }

# image NAME BINARY STATE_DIR
image() {
    local name=$1 bin=$2 state=$3
    local stage
    stage=$(mktemp -d)
    trap 'rm -rf "$stage"' RETURN
    local rootfs="$stage/rootfs"
    install -d "$rootfs/usr/bin" "$rootfs/etc/ssl/certs" "$rootfs/tmp" "$stage/state"
    install -m 0755 "$bin" "$rootfs/usr/bin/$name"
    # The libraries the binary loads, at the paths it looks for them.
    ldd "$bin" | grep -o '/[^ ]*' | while read -r lib; do
        install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
    done
    if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
        install -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/"
    fi
    printf 'root:x:0:0:root:/:/nonexistent\nnobody:x:65534:65534:nobody:/nonexistent:/nonexistent\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
    chmod 1777 "$rootfs/tmp"
    cat >"$stage/Dockerfile" <<DOCKERFILE
FROM scratch
COPY rootfs/ /
COPY --chown=65534:65534 state/ $state/
USER 65534:65534
ENV MONITOR_CONFIG="" MONITOR_AGENT_CONFIG=""
$(cat "$here/$name.dockerfile")
ENTRYPOINT ["/usr/bin/$name"]
DOCKERFILE
    docker build --quiet --tag "$name:$tag" \
        --label "org.opencontainers.image.version=$tag" \
        --label "org.opencontainers.image.revision=$("$bin" --version | sed -n 's/.*(commit \(.*\))/\1/p')" \
        "$stage" >/dev/null
    echo "$name:$tag"
}

image monitor-server "$server_bin" /var/lib/monitor-server
image monitor-agent "$agent_bin" /var/lib/monitor-agent
