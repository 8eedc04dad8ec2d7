#!/usr/bin/env bash
# Builds a release: the binaries, the dashboard, the Debian and RPM
# packages, the container images, an SBOM and the checksums of all of them.
#
#   scripts/release.sh VERSION [OUT_DIR]     # OUT_DIR defaults to dist/VERSION
#
# VERSION is the workspace's version (Cargo.toml), with or without a
# leading v (a tag: v0.1.0). Needs Rust, Node.js and npm, dpkg-deb,
# rpmbuild (RELEASE_RPMS=0 leaves the RPMs out), and for the images a
# Docker engine (RELEASE_IMAGES=0 leaves them out). CI runs it
# (scripts/test.sh) and checks SHA256SUMS.
#
# OUT_DIR receives:
#   monitor-VERSION-linux-ARCH.tar.gz      both binaries, units, configuration examples, docs
#   monitor-dashboard-VERSION.tar.gz       the dashboard's dist/ (MONITOR_WEB_DIST for builds without Node.js)
#   monitor-server_VERSION_ARCH.deb, monitor-agent_VERSION_ARCH.deb
#   monitor-server-VERSION-1.ARCH.rpm, monitor-agent-VERSION-1.ARCH.rpm   (RELEASE_RPMS=0: none)
#   monitor-server-VERSION.image.tar.gz, monitor-agent-VERSION.image.tar.gz   (docker load < …)
#   monitor-VERSION.cdx.json               the SBOM (CycloneDX 1.5)
#   SHA256SUMS
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    echo "usage: $0 VERSION [OUT_DIR]" >&2
    exit 2
fi
version=${1#v}
workspace=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)
if [ "$version" != "$workspace" ]; then
    echo "$0: VERSION $version is not the workspace's version $workspace (Cargo.toml)" >&2
    exit 2
fi
out=${2:-dist/$version}
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
arch=$(dpkg --print-architecture 2>/dev/null || uname -m)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
step() { echo "== release: $*" >&2; }

step "dashboard"
(cd monitor-server/web && npm ci --no-audit --no-fund --loglevel=error && npm run build >/dev/null)
tar -C monitor-server/web -czf "$out/monitor-dashboard-$version.tar.gz" dist

step "binaries (release profile, commit $commit)"
MONITOR_BUILD_COMMIT=$commit MONITOR_WEB_DIST=$PWD/monitor-server/web/dist \
    cargo build --release --locked -p monitor-server -p monitor-agent
server=target/release/monitor-server
agent=target/release/monitor-agent
for bin in "$server" "$agent"; do
    "$bin" --version | grep -q "$version (commit $commit)" \
        || { echo "$0: $bin --version does not say $version (commit $commit)" >&2; exit 1; }
done

step "archive"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
tree="$stage/monitor-$version"
install -d "$tree/systemd" "$tree/nginx" "$tree/docs"
install -m 0755 "$server" "$agent" "$tree/"
install -m 0644 deploy/systemd/*.service "$tree/systemd/"
install -m 0644 deploy/nginx/monitor.conf "$tree/nginx/"
install -m 0644 deploy/debian/server.toml deploy/debian/agent.toml "$tree/"
install -m 0644 README.md "$tree/"
install -m 0644 docs/*.md "$tree/docs/"
tar -C "$stage" -czf "$out/monitor-$version-linux-$arch.tar.gz" "monitor-$version"

step "Debian packages"
deploy/debian/build.sh "$version" "$out" "$server" "$agent" >/dev/null

if [ "${RELEASE_RPMS:-1}" != 0 ]; then
    step "RPM packages"
    deploy/rpm/build.sh "$version" "$out" "$server" "$agent" >/dev/null
fi

if [ "${RELEASE_IMAGES:-1}" != 0 ]; then
    step "container images"
    for image in $(deploy/container/build.sh "$version" "$server" "$agent"); do
        docker save "$image" | gzip -n >"$out/${image%%:*}-$version.image.tar.gz"
    done
fi

step "SBOM"
python3 scripts/sbom.py "$version" >"$out/monitor-$version.cdx.json"

step "checksums"
(cd "$out" && sha256sum -- * | grep -v ' SHA256SUMS$' >SHA256SUMS)
ls -l "$out" >&2
echo "$out"
