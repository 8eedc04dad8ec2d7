# The server's image: HTTPS on 8443 with a local CA made at the first start
# in the data volume (its tls/ca.pem is what agents verify). Any setting can
# be given as MONITOR_<KEY> (docs/configuration.md).
ENV MONITOR_LISTEN=0.0.0.0:8443 MONITOR_DATA_DIR=/var/lib/monitor-server MONITOR_TLS_SELF_SIGNED=true
EXPOSE 8443
VOLUME /var/lib/monitor-server
