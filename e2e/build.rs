//! Gives the e2e copies of the binaries `MONITOR_COMMIT`, as their own
//! crates' build scripts do.

#[path = "../build/commit.rs"]
mod commit;

fn main() {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    commit::emit(std::path::Path::new(&manifest));
}
