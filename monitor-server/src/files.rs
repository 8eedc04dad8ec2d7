//! Files the server writes for itself (the generated admin token, the
//! quickstart agent's token, the self-signed TLS files): written whole or
//! not at all, and durable before they are used.
//!
//! A file is written to a temporary name in the same directory (created
//! with its final mode, so a secret is never readable by others, not even
//! for an instant), synced, then moved into place, and the directory is
//! synced. A crash or a full disk leaves either the old file, no file, or
//! the complete new one: never an empty or cut-off token that a later
//! start would take for the real one.

use std::io::Write;
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably, with `mode` (Unix
/// permission bits). With `replace` false the call fails with
/// [`std::io::ErrorKind::AlreadyExists`] when `path` exists (it is never
/// overwritten, even by a concurrent writer).
///
/// # Errors
/// The I/O error of the step that failed (the temporary file is removed).
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, replace: bool) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut nonce = [0u8; 6];
    let _ = getrandom::fill(&mut nonce);
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        nonce.iter().map(|b| format!("{b:02x}")).collect::<String>()
    ));
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        if replace {
            std::fs::rename(&tmp, path)?;
        } else {
            // A link fails when the name exists: never a silent overwrite.
            std::fs::hard_link(&tmp, path)?;
            std::fs::remove_file(&tmp)?;
        }
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Makes a directory's entries (a rename, a new name) durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::fs::File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_is_whole_private_and_never_overwritten() {
        let dir = std::env::temp_dir().join(format!("monitor-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{e}"));
        let path = dir.join("admin.token");
        write_atomic(&path, b"first\n", 0o600, false).unwrap_or_else(|e| panic!("{e}"));
        let again = write_atomic(&path, b"second\n", 0o600, false);
        assert_eq!(
            again.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::AlreadyExists)
        );
        assert_eq!(std::fs::read(&path).ok(), Some(b"first\n".to_vec()));
        write_atomic(&path, b"third\n", 0o600, true).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read(&path).ok(), Some(b"third\n".to_vec()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
            assert_eq!(mode.ok(), Some(0o600));
        }
        let leftovers: Vec<_> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .filter_map(Result::ok)
            .filter(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
