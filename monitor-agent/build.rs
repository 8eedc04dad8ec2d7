//! Gives the crate `MONITOR_COMMIT`, the commit shown by `--version`.

#[path = "../build/commit.rs"]
mod commit;

fn main() {
    let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
    commit::emit(std::path::Path::new(&manifest));
}
