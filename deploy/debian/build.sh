#!/usr/bin/env bash
# Builds the Debian packages monitor-server and monitor-agent from built
# binaries, with dpkg-deb (no debhelper needed):
#
#   deploy/debian/build.sh VERSION OUT_DIR [SERVER_BINARY] [AGENT_BINARY]
#
# The binaries default to target/release/. DEB_COMPRESSION=none (or gzip)
# builds faster than the default xz, for tests. Each package holds the files
# of deploy/stage.sh (binary, hardened systemd unit, sysusers.d entry,
# configuration file as a conffile kept on upgrade, man page, completions,
# docs) and the maintainer scripts of this folder.
# Tested by e2e/tests/debian.rs: install, run, upgrade, purge.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/stage.sh
. "$root/deploy/stage.sh"
package_args "$@"
arch=$(dpkg --print-architecture)

# package NAME BINARY USER STATE_DIR ENABLE CONFIG DESCRIPTION
package() {
    local name=$1 bin=$2 user=$3 state=$4 enable=$5 config=$6 description=$7
    local stage="$out/$name"
    rm -rf "$stage"
    install -d "$stage/DEBIAN"
    stage_files "$name" "$bin" "$user" "$state" "$config" "$stage" /lib/systemd/system \
        /usr/share/zsh/vendor-completions
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
