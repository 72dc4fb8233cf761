//! Files that hold a secret: written whole under a name of their own,
//! synced, readable by the owner only, then moved or linked into place.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use alphamoon_sandbox::ControlToken;

/// The control token in the file at `path`, which is made first, with a
/// fresh random token, if it does not exist. The token is written in full
/// under a name of its own and then linked into place, which fails rather
/// than overwrite: of several replicas started together, one writes it and
/// every one reads the same token.
pub(crate) fn control_token(path: &Path) -> Result<ControlToken, String> {
    if !path.exists() {
        let token = format!(
            "amc_{}",
            alphamoon_sandbox::keys::random_hex(32).map_err(|e| e.to_string())?
        );
        let linked = write_pending(path, &token).and_then(|pending| {
            let linked = match std::fs::hard_link(&pending, path) {
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
                linked => linked.and_then(|()| sync_parent(path)),
            };
            let _ = std::fs::remove_file(&pending);
            linked
        });
        linked.map_err(|e| format!("cannot write a control token to {}: {e}", path.display()))?;
    }
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the control token from {}: {e}", path.display()))?;
    let token = text.trim();
    if token.is_empty() {
        return Err(format!(
            "the control token file {} is empty",
            path.display()
        ));
    }
    #[cfg(unix)]
    warn_if_shared(path);
    Ok(ControlToken::new(token))
}

/// Warns, naming the fix, when the token file at `path` lets its group or
/// others in: whoever can read the token can wipe and rewrite the sandbox.
/// It only warns, since a file shared on purpose (a CI runner's group, say)
/// must keep working; the token itself is never shown.
#[cfg(unix)]
pub(crate) fn warn_if_shared(path: &Path) {
    use std::os::unix::fs::PermissionsExt as _;

    let Ok(metadata) = std::fs::metadata(path) else {
        return;
    };
    let mode = metadata.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        eprintln!(
            "warning: the control token file {} has mode {mode:03o}, so users other than its \
             owner may read or change it; run `chmod 600 {}`",
            path.display(),
            path.display()
        );
    }
}

/// Syncs the directory holding `path`, so that a rename into it survives
/// a power loss as the database's commit does.
pub(crate) fn sync_parent(path: &Path) -> std::io::Result<()> {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(parent)?.sync_all()
}

/// Writes `secret` to a new file of its own beside `path` (so that moving
/// it to `path` stays within one directory), and returns that file's path;
/// nothing is left behind if writing fails.
pub(crate) fn write_pending(path: &Path, secret: &str) -> std::io::Result<PathBuf> {
    let suffix =
        alphamoon_sandbox::keys::random_hex(6).map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut pending = path.as_os_str().to_owned();
    pending.push(format!(".{suffix}.tmp"));
    let pending = PathBuf::from(pending);
    write_secret_file(&pending, secret).inspect_err(|_| {
        let _ = std::fs::remove_file(&pending);
    })?;
    Ok(pending)
}

/// Writes `secret` to a new file at `path`, readable by the owner only and
/// synced to disk before this returns.
pub(crate) fn write_secret_file(path: &Path, secret: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    // A new file only: the name is random, and anything already there is
    // not ours to overwrite.
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    // No trailing newline: `base64 < FILE` must encode the key alone.
    file.write_all(secret.as_bytes())?;
    file.sync_all()
}
