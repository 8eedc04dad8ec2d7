# The agent's image: its spool in a volume. Mount the host's /proc, /sys
# and / and pass --host-proc, --host-sys and --host-root (docker-compose.yml).
ENV MONITOR_SPOOL_DIR=/var/lib/monitor-agent/spool
VOLUME /var/lib/monitor-agent
