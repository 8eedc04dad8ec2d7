#!/usr/bin/env bash
# Installs and starts the real services the test suite uses, idempotently:
# quick when they are already there. Needs root (or sudo) for apt-get and dockerd.
#
#   scripts/services.sh            # everything
#   scripts/services.sh docker     # only what is named
set -euo pipefail

want=("$@")
[ ${#want[@]} -eq 0 ] && want=(docker postgres prometheus chromium nginx packages)

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

apt_updated=0
apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ $apt_updated -eq 0 ]; then
    as_root apt-get update -qq
    apt_updated=1
  fi
  echo "services: installing ${missing[*]}"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

start_docker() {
  apt_install docker.io busybox-static docker-compose
  if docker info >/dev/null 2>&1; then
    return 0
  fi
  echo "services: starting dockerd"
  as_root sh -c 'nohup dockerd >/tmp/monitor-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do
    docker info >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "services: dockerd did not start; see /tmp/monitor-dockerd.log" >&2
  tail -n 20 /tmp/monitor-dockerd.log >&2 || true
  return 1
}

for service in "${want[@]}"; do
  case "$service" in
    docker) start_docker ;;
    node-exporter) apt_install prometheus-node-exporter ;;
    # promtool and the prometheus binary; the tests start their own
    # Prometheus on loopback with a generated configuration.
    prometheus) apt_install prometheus ;;
    # Debian's Chromium, which the dashboard's browser tests drive with
    # playwright-core (its own browser download is not available here).
    chromium) apt_install chromium ;;
    # nginx for the test of the deployment guide's configuration (the test
    # starts its own instance on loopback ports).
    nginx) apt_install nginx-light || apt_install nginx ;;
    # The tests start their own throwaway cluster from these binaries
    # (initdb/pg_ctl, run as the postgres user the package creates).
    postgres) apt_install postgresql ;;
    # What the package tests use: systemd-analyze and systemd-sysusers
    # (systemd), deb-systemd-helper, man-db for the pages, and rpm
    # (rpmbuild) for the RPMs.
    packages) apt_install systemd init-system-helpers man-db rpm ;;
    *) echo "services: unknown service $service" >&2; exit 2 ;;
  esac
done
