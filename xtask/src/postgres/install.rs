//! Finding PostgreSQL's programs, and installing Debian's package when
//! they are missing.

use std::fs;
use std::path::{Path, PathBuf};

use crate::process::apt_install;

/// Where Debian's packages put each major version's programs, which are
/// not on PATH.
const VERSIONS_DIR: &str = "/usr/lib/postgresql";

/// The programs a cluster needs from a version's `bin` directory.
pub(super) const PROGRAMS: [&str; 4] = ["initdb", "pg_ctl", "postgres", "createdb"];

/// Finds PostgreSQL's programs, installing Debian's `postgresql` package
/// when none are there, like `wrk` for the bench. Returns their directory.
pub(super) fn ensure_installed() -> Result<PathBuf, String> {
    if let Some(bin) = newest_bin_dir(Path::new(VERSIONS_DIR)) {
        return Ok(bin);
    }
    eprintln!("PostgreSQL is missing from {VERSIONS_DIR}");
    apt_install(&["postgresql"])?;
    newest_bin_dir(Path::new(VERSIONS_DIR)).ok_or_else(|| {
        format!(
            "apt-get installed postgresql, yet no {VERSIONS_DIR}/<version>/bin holds {}",
            PROGRAMS.join(", ")
        )
    })
}

/// The `bin` directory of the newest version under `versions` that has
/// every program a cluster needs: a half-removed older version may leave
/// its directory behind.
pub(super) fn newest_bin_dir(versions: &Path) -> Option<PathBuf> {
    fs::read_dir(versions)
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let version = version(entry.file_name().to_str()?)?;
            let bin = entry.path().join("bin");
            PROGRAMS
                .iter()
                .all(|program| bin.join(program).is_file())
                .then_some((version, bin))
        })
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, bin)| bin)
}

/// `15` or `9.6` as numbers, so that 15 sorts above 9.6; `None` for
/// anything else found there.
fn version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}
