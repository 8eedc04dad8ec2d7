#!/usr/bin/env bash
# What both package builds share, sourced by deploy/debian/build.sh and
# deploy/rpm/build.sh: their arguments, and the files both formats ship,
# staged under a root.
#
#   package_args "$@"    # sets version, out, server_bin, agent_bin
#
#   stage_files NAME BINARY USER STATE_DIR CONFIG STAGE UNIT_DIR ZSH_DIR
#
# NAME's binary, its hardened systemd unit (from deploy/systemd, reading
# /etc/monitor/CONFIG) in UNIT_DIR, a sysusers.d entry for USER, the
# configuration file, the man page, bash/zsh/fish completions and the docs
# (with the Prometheus migration rules as an example).

stage_files() {
    local name=$1 bin=$2 user=$3 state=$4 config=$5 stage=$6 unit_dir=$7 zsh_dir=$8
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    install -d "$stage/usr/bin" "$stage$unit_dir" "$stage/usr/lib/sysusers.d" "$stage/etc/monitor" \
        "$stage/usr/share/man/man1" "$stage/usr/share/bash-completion/completions" "$stage$zsh_dir" \
        "$stage/usr/share/fish/vendor_completions.d" "$stage/usr/share/doc/$name/examples"
    install -m 0755 "$bin" "$stage/usr/bin/$name"
    install -m 0644 "$root/deploy/debian/$config" "$stage/etc/monitor/$config"

    # The unit of deploy/systemd, with the packaged paths: settings come
    # from /etc/monitor/$config, the environment file is optional, and the
    # agent joins the docker group at install only where there is one.
    sed -e '/^# /d' \
        -e "s|^ExecStart=.*|ExecStart=/usr/bin/$name|" \
        -e 's|^EnvironmentFile=/etc|EnvironmentFile=-/etc|' \
        -e '/^SupplementaryGroups=docker$/d' \
        "$root/deploy/systemd/$name.service" >"$stage$unit_dir/$name.service"
    sed -i "1i # Installed by the $name package: settings in /etc/monitor/$config\n# (man $name). Override with systemctl edit $name." \
        "$stage$unit_dir/$name.service"
    chmod 0644 "$stage$unit_dir/$name.service"

    printf 'u %s - "%s" %s\n' "$user" "${name/-/ }" "$state" >"$stage/usr/lib/sysusers.d/$name.conf"

    "$bin" --man | gzip -9n >"$stage/usr/share/man/man1/$name.1.gz"
    "$bin" --completions bash >"$stage/usr/share/bash-completion/completions/$name"
    "$bin" --completions zsh >"$stage$zsh_dir/_$name"
    "$bin" --completions fish >"$stage/usr/share/fish/vendor_completions.d/$name.fish"
    install -m 0644 "$root/docs/configuration.md" "$root/docs/deploy.md" "$root/docs/metrics.md" \
        "$stage/usr/share/doc/$name/"
    install -m 0644 "$root/deploy/prometheus/monitor-legacy-names.rules.yml" \
        "$stage/usr/share/doc/$name/examples/"
}

package_args() {
    local root
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
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
    local bin
    for bin in "$server_bin" "$agent_bin"; do
        [ -x "$bin" ] || { echo "$0: $bin is not an executable: build it first (cargo build --release)" >&2; exit 1; }
    done
}
