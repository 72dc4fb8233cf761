//! The image's build context: the release binary, exactly the shared
//! libraries it loads, the loader, and the CA bundle, at the paths they
//! have on this machine, so that the dynamic binary runs unchanged.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::podman::output_of;

/// Where the binary sits in the image; the Containerfile names it too.
const BINARY_IN_IMAGE: &str = "usr/local/bin/alphamoon-sandbox";

/// Debian's bundle of CA certificates, which the sandbox reads for
/// `sslrootcert=system` connections to PostgreSQL.
const CA_BUNDLE: &str = "etc/ssl/certs/ca-certificates.crt";

/// Fills `context` afresh, and returns it.
pub(super) fn assemble(binary: &Path, context: &Path) -> Result<PathBuf, String> {
    let fail = |what: &Path, e: std::io::Error| format!("cannot prepare {}: {e}", what.display());
    if context.exists() {
        fs::remove_dir_all(context).map_err(|e| fail(context, e))?;
    }
    let rootfs = context.join("rootfs");
    let data = context.join("data");
    fs::create_dir_all(&data).map_err(|e| fail(&data, e))?;

    let mut files = vec![(binary.to_path_buf(), PathBuf::from(BINARY_IN_IMAGE))];
    let ldd = output_of(Command::new("ldd").arg(binary))?;
    for library in libraries(&ldd)? {
        let inside = library
            .strip_prefix("/")
            .map_err(|_| format!("ldd named a relative path: {}", library.display()))?
            .to_path_buf();
        files.push((library, inside));
    }
    let bundle = Path::new("/").join(CA_BUNDLE);
    if bundle.is_file() {
        files.push((bundle, PathBuf::from(CA_BUNDLE)));
    } else {
        eprintln!(
            "note: no {} here (Debian: ca-certificates); the image cannot verify \
             PostgreSQL servers with sslrootcert=system",
            bundle.display()
        );
    }
    for (from, inside) in files {
        let to = rootfs.join(&inside);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(|e| fail(parent, e))?;
        }
        // `copy` follows symlinks: `libc.so.6` arrives as the file it
        // points at, under the name the loader looks for.
        fs::copy(&from, &to)
            .map_err(|e| format!("cannot copy {} into the image: {e}", from.display()))?;
    }
    Ok(context.to_path_buf())
}

/// The absolute paths in `ldd`'s report: each library it resolved, and the
/// loader. The vDSO has no file. A library ldd cannot find fails the build.
fn libraries(ldd: &str) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for line in ldd.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if line.contains("not found") {
            return Err(format!(
                "the sandbox needs a library ldd cannot find: {line}"
            ));
        }
        let path = match line.split_once(" => ") {
            Some((_, rest)) => rest.split_whitespace().next(),
            None => line.split_whitespace().next(),
        };
        if let Some(path) = path.filter(|p| p.starts_with('/')) {
            found.push(PathBuf::from(path));
        }
    }
    if found.is_empty() {
        return Err(format!("ldd listed no libraries:\n{ldd}"));
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::libraries;
    use std::path::PathBuf;

    #[test]
    fn reads_libraries_and_the_loader_from_ldd_and_skips_the_vdso() {
        let report = "\tlinux-vdso.so.1 (0x00007ffd)\n\
             \tlibgcc_s.so.1 => /lib/x86_64-linux-gnu/libgcc_s.so.1 (0x00007f1d)\n\
             \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f1d)\n\
             \t/lib64/ld-linux-x86-64.so.2 (0x00007f1d)\n";
        assert_eq!(
            libraries(report).expect("a report"),
            [
                "/lib/x86_64-linux-gnu/libgcc_s.so.1",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn a_missing_library_fails_the_build() {
        let report = "\tlibfoo.so.1 => not found\n\t/lib64/ld-linux-x86-64.so.2 (0x1)\n";
        assert!(libraries(report).expect_err("refused").contains("libfoo"));
    }
}
