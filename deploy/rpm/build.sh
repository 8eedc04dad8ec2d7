#!/usr/bin/env bash
# Builds the RPM packages monitor-server and monitor-agent (Fedora, RHEL 9
# and later, openSUSE) from built binaries, with rpmbuild:
#
#   deploy/rpm/build.sh VERSION OUT_DIR [SERVER_BINARY] [AGENT_BINARY]
#
# The binaries default to target/release/. RPM_COMPRESSION=none (or gzip)
# builds faster than the default zstd, for tests. Each package holds the files of
# deploy/stage.sh (binary, hardened systemd unit, sysusers.d entry,
# configuration file kept on upgrade as %config(noreplace), man page,
# completions, docs). The scriptlets follow Fedora's systemd guidelines:
# the user is made at install, units follow the presets (so neither service
# starts by itself: `systemctl enable --now monitor-server`), an upgrade
# restarts a running service, a removal stops it. Checked by
# e2e/tests/rpm.rs: built, read back with rpm, unpacked and run.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
# shellcheck source=deploy/stage.sh
. "$root/deploy/stage.sh"
package_args "$@"
command -v rpmbuild >/dev/null || { echo "$0: rpmbuild not found: install rpm (apt-get install rpm, dnf install rpm-build)" >&2; exit 1; }
# RPM versions cannot hold '-': 0.2.0-rc1 becomes 0.2.0~rc1, sorted before 0.2.0.
rpm_version=${version//-/\~}
# RPM_COMPRESSION=none builds faster than the default zstd, for tests.
case ${RPM_COMPRESSION:-zstd} in
    none) payload=w.ufdio ;;
    gzip) payload=w9.gzdio ;;
    zstd) payload=w19.zstdio ;;
    *) echo "$0: RPM_COMPRESSION must be none, gzip or zstd" >&2; exit 2 ;;
esac

# package NAME BINARY USER STATE_DIR CONFIG SUMMARY
package() {
    local name=$1 bin=$2 user=$3 state=$4 config=$5 summary=$6
    local top="$out/rpmbuild-$name" docker_group=""
    if [ "$name" = monitor-agent ]; then
        # To read the Docker socket, where there is one.
        docker_group="getent group docker >/dev/null && usermod -a -G docker $user || :"
    fi
    rm -rf "$top"
    mkdir -p "$top/SPECS"
    stage_files "$name" "$bin" "$user" "$state" "$config" "$top/stage" /usr/lib/systemd/system \
        /usr/share/zsh/site-functions
    cat >"$top/SPECS/$name.spec" <<SPEC
Name:           $name
Version:        $rpm_version
Release:        1
Summary:        $summary
License:        MIT OR Apache-2.0
URL:            https://example.invalid/monitor
Requires:       glibc >= 2.34
Recommends:     ca-certificates
%global debug_package %{nil}
%global __os_install_post %{nil}
%global _build_id_links none

%description
A light agent, a server with history and alerts, and a live dashboard
for Linux servers. Settings in /etc/monitor/$config.

%install
cp -a "$top/stage/." %{buildroot}/

%pre
if command -v systemd-sysusers >/dev/null 2>&1; then
    echo 'u $user - "${name/-/ }" $state' | systemd-sysusers - || :
elif ! getent passwd $user >/dev/null; then
    useradd --system --user-group --no-create-home --home-dir $state --shell /sbin/nologin $user || :
fi

%post
$docker_group
if [ \$1 -eq 1 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload preset $name.service >/dev/null 2>&1 || :
fi

%preun
if [ \$1 -eq 0 ] && [ -d /run/systemd/system ]; then
    systemctl --no-reload disable --now $name.service >/dev/null 2>&1 || :
fi

%postun
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
    if [ \$1 -ge 1 ]; then
        systemctl try-restart $name.service >/dev/null 2>&1 || :
    fi
fi

%files
/usr/bin/$name
/usr/lib/systemd/system/$name.service
/usr/lib/sysusers.d/$name.conf
%dir /etc/monitor
%config(noreplace) /etc/monitor/$config
/usr/share/man/man1/$name.1.gz
/usr/share/bash-completion/completions/$name
/usr/share/zsh/site-functions/_$name
/usr/share/fish/vendor_completions.d/$name.fish
%doc /usr/share/doc/$name
SPEC
    rpmbuild -bb --quiet --define "_topdir $top" --define "_rpmdir $out" \
        --define "_binary_payload $payload" \
        --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
        "$top/SPECS/$name.spec" >/dev/null
    rm -rf "$top"
    ls "$out/$name-$rpm_version-1".*.rpm
}

package monitor-server "$server_bin" monitor /var/lib/monitor-server server.toml \
    "monitor server: history, alerts and the dashboard"
package monitor-agent "$agent_bin" monitor-agent /var/lib/monitor-agent agent.toml \
    "monitor agent: collects host and container metrics"
