#!/usr/bin/env bash
# Builds the Debian packages monitor-server and monitor-agent from built
# binaries, with dpkg-deb (no debhelper needed):
#
#   deploy/debian/build.sh VERSION OUT_DIR [SERVER_BINARY] [AGENT_BINARY]
#
# The binaries default to target/release/. DEB_COMPRESSION=none (or gzip)
# builds faster than the default xz, for tests. Each package holds its binary,
# its hardened systemd unit (from deploy/systemd, reading /etc/monitor/*.toml),
# a sysusers.d entry for its user, its configuration file (a conffile: kept
# on upgrade), the man page, bash/zsh/fish completions and the docs.
# Tested by e2e/tests/debian.rs: install, run, upgrade, purge.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
if [ $# -lt 2 ]; then
    echo "usage: $0 VERSION OUT_DIR [SERVER_BINARY] [AGENT_BINARY]" >&2
    exit 2
fi
version=$1
out=$(mkdir -p "$2" && cd "$2" && pwd)
server_bin=${3:-$root/target/release/monitor-server}
agent_bin=${4:-$root/target/release/monitor-agent}
case $version in
    [0-9]*) ;;
    *) echo "$0: VERSION must start with a digit (0.1.0), not $version" >&2; exit 2 ;;
esac
for bin in "$server_bin" "$agent_bin"; do
    [ -x "$bin" ] || { echo "$0: $bin is not an executable: build it first (cargo build --release)" >&2; exit 1; }
done
arch=$(dpkg --print-architecture)

# package NAME BINARY USER STATE_DIR ENABLE CONFIG DESCRIPTION
package() {
    local name=$1 bin=$2 user=$3 state=$4 enable=$5 config=$6 description=$7
    local stage="$out/$name"
    rm -rf "$stage"
    install -d "$stage/DEBIAN" "$stage/usr/bin" "$stage/lib/systemd/system" \
        "$stage/usr/lib/sysusers.d" "$stage/etc/monitor" "$stage/usr/share/man/man1" \
        "$stage/usr/share/bash-completion/completions" "$stage/usr/share/zsh/vendor-completions" \
        "$stage/usr/share/fish/vendor_completions.d" "$stage/usr/share/doc/$name"
    install -m 0755 "$bin" "$stage/usr/bin/$name"
    install -m 0644 "$here/$config" "$stage/etc/monitor/$config"

    # The unit of deploy/systemd, with the packaged paths: settings come
    # from /etc/monitor/$config, the environment file is optional, and the
    # agent joins the docker group in postinst only where there is one.
    sed -e '/^# /d' \
        -e "s|^ExecStart=.*|ExecStart=/usr/bin/$name|" \
        -e 's|^EnvironmentFile=/etc|EnvironmentFile=-/etc|' \
        -e '/^SupplementaryGroups=docker$/d' \
        "$root/deploy/systemd/$name.service" >"$stage/lib/systemd/system/$name.service"
    sed -i "1i # Installed by the $name package: settings in /etc/monitor/$config\n# (man $name). Override with systemctl edit $name." \
        "$stage/lib/systemd/system/$name.service"
    chmod 0644 "$stage/lib/systemd/system/$name.service"

    printf 'u %s - "%s" %s\n' "$user" "${name/-/ }" "$state" >"$stage/usr/lib/sysusers.d/$name.conf"

    "$bin" --man | gzip -9n >"$stage/usr/share/man/man1/$name.1.gz"
    "$bin" --completions bash >"$stage/usr/share/bash-completion/completions/$name"
    "$bin" --completions zsh >"$stage/usr/share/zsh/vendor-completions/_$name"
    "$bin" --completions fish >"$stage/usr/share/fish/vendor_completions.d/$name.fish"
    install -m 0644 "$root/docs/configuration.md" "$root/docs/deploy.md" "$root/docs/metrics.md" \
        "$stage/usr/share/doc/$name/"
    install -D -m 0644 "$root/deploy/prometheus/monitor-legacy-names.rules.yml" \
        "$stage/usr/share/doc/$name/examples/monitor-legacy-names.rules.yml"
    cat >"$stage/usr/share/doc/$name/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: monitor
Source: https://example.invalid/monitor

Files: *
Copyright: the monitor developers
License: MIT or Apache-2.0
COPYRIGHT

    for script in postinst prerm postrm; do
        sed -e "s|@NAME@|$name|g" -e "s|@USER@|$user|g" -e "s|@STATE@|$state|g" \
            -e "s|@ENABLE@|$enable|g" "$here/$script" >"$stage/DEBIAN/$script"
        chmod 0755 "$stage/DEBIAN/$script"
    done
    echo "/etc/monitor/$config" >"$stage/DEBIAN/conffiles"
    local size
    size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
    cat >"$stage/DEBIAN/control" <<CONTROL
Package: $name
Version: $version
Architecture: $arch
Maintainer: the monitor developers <monitor@example.invalid>
Installed-Size: $size
Depends: libc6 (>= 2.34), adduser | systemd
Recommends: ca-certificates
Section: admin
Priority: optional
Homepage: https://example.invalid/monitor
Description: $description
 A light agent, a server with history and alerts, and a live dashboard
 for Linux servers. Settings in /etc/monitor/$config.
CONTROL
    dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$stage" "$out/${name}_${version}_${arch}.deb" >/dev/null
    rm -rf "$stage"
    echo "$out/${name}_${version}_${arch}.deb"
}

package monitor-server "$server_bin" monitor /var/lib/monitor-server yes server.toml \
    "monitor server: history, alerts and the dashboard"
package monitor-agent "$agent_bin" monitor-agent /var/lib/monitor-agent no agent.toml \
    "monitor agent: collects host and container metrics"
