#!/usr/bin/env bash
# The full test suite: the README's second command, and what CI runs.
# Starts the real services the tests need (scripts/services.sh), then checks
# formatting, lints, docs, each optional feature alone, and runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/services.sh docker postgres prometheus chromium nginx packages
# With the services just installed and started, a test that cannot reach
# one fails instead of printing "skipped".
export MONITOR_REQUIRE_DOCKER=1 MONITOR_REQUIRE_POSTGRES=1 MONITOR_REQUIRE_PROMETHEUS=1 MONITOR_REQUIRE_CHROMIUM=1 MONITOR_REQUIRE_NGINX=1 MONITOR_REQUIRE_PACKAGES=1

locked=()
[ -n "${CI:-}" ] && locked=(--locked)

step() { echo; echo "== $*"; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy "${locked[@]}" --workspace --all-targets --all-features -- -D warnings

step "features build alone"
cargo check "${locked[@]}" -p monitor-collectors --no-default-features
cargo check "${locked[@]}" -p monitor-collectors --no-default-features --features prometheus
cargo check "${locked[@]}" -p monitor-collectors --no-default-features --features otlp
cargo check "${locked[@]}" -p monitor-collectors --no-default-features --features opentelemetry
cargo check "${locked[@]}" -p monitor-collectors --no-default-features --features remote-write
cargo check "${locked[@]}" -p monitor-collectors --no-default-features --features probe
cargo check "${locked[@]}" -p monitor-agent --no-default-features
cargo check "${locked[@]}" -p monitor-agent --no-default-features --features otlp
cargo check "${locked[@]}" -p monitor-agent --no-default-features --features prometheus
cargo check "${locked[@]}" -p monitor-agent --no-default-features --features cli
cargo check "${locked[@]}" -p monitor-store --no-default-features --features postgres
cargo check "${locked[@]}" -p monitor-server --no-default-features --features postgres

step "library crates on the newest compatible dependencies"
scripts/check-updated-deps.sh

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc "${locked[@]}" --workspace --all-features --no-deps --quiet

step "examples run"
cargo run "${locked[@]}" -q -p example-embed-collectors >/dev/null
cargo run "${locked[@]}" -q -p example-custom-collector >/dev/null
cargo run "${locked[@]}" -q -p example-otel-meter >/dev/null

step "web dashboard: npm ci, unit tests, build"
(cd monitor-server/web && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run build)

step "cargo test"
out="${CARGO_TARGET_DIR:-target}/test-output.txt"
mkdir -p "$(dirname "$out")"
cargo test "${locked[@]}" --workspace --all-features 2>&1 | tee "$out"
passed=$(grep -Eo '^test result: ok\. [0-9]+ passed' "$out" | awk '{s+=$4} END {print s+0}')
failed=$(grep -Eo '[0-9]+ failed' "$out" | awk '{s+=$1} END {print s+0}')
echo
echo "tests: $passed passed, $failed failed"

step "API fuzz: schemathesis from the OpenAPI document (bounded)"
scripts/fuzz-api.sh

step "release: packages, images, SBOM and checksums (scripts/release.sh)"
release_out="${CARGO_TARGET_DIR:-target}/release-check"
scripts/release.sh "$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)" "$release_out" >/dev/null
(cd "$release_out" && sha256sum --quiet -c SHA256SUMS)
rm -rf "$release_out"
