#!/usr/bin/env bash
# An embedder's lockfile is not ours: the library crates must build without
# warnings against the newest versions of their dependencies that their
# Cargo.toml files allow, not only against this workspace's Cargo.lock.
# This copies the tracked sources, updates the copy's lockfile (the changes
# are printed), and checks the libraries with warnings denied; cargo caps
# the dependencies' own lints, so only our code can fail it.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
work="${CARGO_TARGET_DIR:-$root/target}/updated-deps"
rm -rf "$work/src"
mkdir -p "$work/src"
git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$work/src"
cd "$work/src"
cargo update 2>&1 | grep -E '^\s+(Updating|Adding|Removing)' || echo "every dependency is at its newest compatible version already"
export RUSTFLAGS="-D warnings" CARGO_TARGET_DIR="$work/target"
cargo check --lib --all-features -p monitor-core -p monitor-collectors -p monitor-store -p monitor-agent
# The server's library without the embedded dashboard (which needs npm).
cargo check --lib -p monitor-server --no-default-features --features postgres,otlp-grpc
