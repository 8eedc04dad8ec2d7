//! The commit a binary is built from, for `--version`: shared by the build
//! scripts of `monitor-server` and `monitor-agent` (`#[path]` module).
//!
//! In order: `MONITOR_BUILD_COMMIT` (release builds from a tarball set it),
//! the git checkout the crate is in, cargo's `.cargo_vcs_info.json` in a
//! published crate, else `unknown`. Sets the `MONITOR_COMMIT` environment
//! variable of the crate's compilation.

use std::path::Path;
use std::process::Command;

/// Prints the `cargo:` lines that give the crate `MONITOR_COMMIT`.
pub(crate) fn emit(manifest_dir: &Path) {
    println!("cargo:rerun-if-env-changed=MONITOR_BUILD_COMMIT");
    let commit = std::env::var("MONITOR_BUILD_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .map(|c| c.trim().to_owned())
        .or_else(|| from_git(manifest_dir))
        .or_else(|| from_vcs_info(manifest_dir))
        .unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=MONITOR_COMMIT={commit}");
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The checkout's commit (12 digits), taken again when HEAD moves. Edits
/// not committed are not told apart: release builds come from a tag.
fn from_git(dir: &Path) -> Option<String> {
    let commit = git(dir, &["rev-parse", "--short=12", "HEAD"])?;
    if let Some(path) = git(dir, &["rev-parse", "--git-path", "HEAD"]) {
        println!("cargo:rerun-if-changed={}", dir.join(path).display());
    }
    if let Some(reference) = git(dir, &["symbolic-ref", "-q", "HEAD"])
        && let Some(path) = git(dir, &["rev-parse", "--git-path", &reference])
    {
        println!("cargo:rerun-if-changed={}", dir.join(path).display());
    }
    Some(commit)
}

/// `git.sha1` of the `.cargo_vcs_info.json` that `cargo package` writes.
fn from_vcs_info(dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(".cargo_vcs_info.json")).ok()?;
    let at = text.find("\"sha1\"")?;
    let rest = &text[at + 6..];
    let start = rest.find('"')? + 1;
    let len = rest[start..].find('"')?;
    Some(rest[start..start + len.min(12)].to_owned())
}
