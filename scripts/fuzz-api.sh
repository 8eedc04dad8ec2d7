#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis
# (from PyPI, pinned, in a virtualenv kept under ~/.cache/monitor): a
# server started on a free loopback port with a fresh SQLite data
# directory must answer every generated request without a 5xx, with a
# documented status code and content type, and with a body that matches
# its schema. The server's log must hold no panic.
#
#   scripts/fuzz-api.sh                       # bounded: 25 examples per operation
#   MONITOR_FUZZ_EXAMPLES=500 scripts/fuzz-api.sh   # longer
#
# Uses target/debug/monitor-server (built when missing). The rate limits on
# failed authentication and on ingest are raised for the run: the fuzzer
# sends thousands of requests a minute, some with wrong tokens on purpose,
# and those limits have tests of their own.
set -euo pipefail
cd "$(dirname "$0")/.."

version=4.32.5
venv="${XDG_CACHE_HOME:-$HOME/.cache}/monitor/schemathesis-$version"
if [ ! -x "$venv/bin/st" ]; then
  echo "fuzz-api: installing schemathesis $version into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

server="${CARGO_TARGET_DIR:-target}/debug/monitor-server"
if [ ! -x "$server" ]; then
  cargo build --quiet -p monitor-server --bin monitor-server
fi

work=$(mktemp -d /tmp/monitor-fuzz.XXXXXX)
admin="fuzz-admin-$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/config.toml" <<EOF
[limits]
failed_auth_per_minute = 1000000
ingest_per_token_per_second = 100000.0
ingest_burst = 100000
EOF

MONITOR_ADMIN_TOKEN="$admin" "$server" --config "$work/config.toml" \
  --listen "127.0.0.1:$port" --data-dir "$work/data" >"$work/server.log" 2>&1 &
pid=$!
cleanup() {
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

base="http://127.0.0.1:$port"
# Once it answers: an agent token, so that ingest is fuzzed past
# authentication.
token=$(BASE="$base" ADMIN="$admin" PID="$pid" python3 - <<'PY'
import json, os, time, urllib.request
base = os.environ["BASE"]
for _ in range(300):
    try:
        urllib.request.urlopen(base + "/api/health", timeout=2)
        break
    except OSError:
        os.kill(int(os.environ["PID"]), 0)  # raises when the server is gone
        time.sleep(0.1)
request = urllib.request.Request(
    base + "/api/register", data=b'{"server_id": "fuzz-01"}', method="POST",
    headers={"X-Admin-Token": os.environ["ADMIN"], "Content-Type": "application/json"})
print(json.load(urllib.request.urlopen(request, timeout=10))["token"])
PY
) || { echo "fuzz-api: the server did not start:" >&2; cat "$work/server.log" >&2; exit 1; }

status=0
# (From the scratch directory: schemathesis keeps a cache of what failed
# in its working directory.)
cd "$work"
"$venv/bin/st" run "$base/api/openapi.json" --no-color \
  --header "X-Admin-Token: $admin" --header "X-Auth-Token: $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,response_headers_conformance \
  --max-examples "${MONITOR_FUZZ_EXAMPLES:-25}" --request-timeout 10 || status=$?

if grep -q "panicked" "$work/server.log"; then
  echo "fuzz-api: the server panicked:" >&2
  grep -B2 -A10 "panicked" "$work/server.log" >&2
  status=1
fi
if ! kill -0 "$pid" 2>/dev/null; then
  echo "fuzz-api: the server is gone:" >&2
  tail -n 30 "$work/server.log" >&2
  status=1
fi
exit "$status"
