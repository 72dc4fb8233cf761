//! Which API key the command uses, when more than one place offers one.
//!
//! The rule, also in `--help` and the README: `--api-key-file` or
//! `--api-key`, whichever is given, then the `ALPHAMOON_API_KEY`
//! environment variable. A flag is a choice made for this one command,
//! while the environment is often set once for a whole shell, so the flag
//! wins. Both flags at once is a usage error: neither is more explicit than
//! the other. clap reads no key from the environment itself: it would count
//! an exported variable as a given `--api-key` and refuse it beside
//! `--api-key-file`.
//!
//! No message here includes a key, only where it came from.

use std::ffi::OsString;
use std::path::Path;

/// The environment variable that holds the key when no flag gives one.
pub(crate) const API_KEY_ENV: &str = "ALPHAMOON_API_KEY";

/// The key from the first source that gives one: the file or the flag
/// (not both), else `env`, the value of [`API_KEY_ENV`]. Surrounding
/// whitespace is dropped, so a file written with a final newline works; an
/// empty environment value counts as unset, as it does for clap's own
/// environment variables.
pub(crate) fn api_key(
    flag: Option<&str>,
    file: Option<&Path>,
    env: Option<OsString>,
) -> Result<String, String> {
    if flag.is_some() && file.is_some() {
        return Err("--api-key and --api-key-file cannot be used together; give one".to_owned());
    }
    let (key, source) = if let Some(path) = file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the API key file {}: {e}", path.display()))?;
        (text, format!("the API key file {}", path.display()))
    } else if let Some(key) = flag {
        (key.to_owned(), "--api-key".to_owned())
    } else {
        match env.filter(|value| !value.is_empty()) {
            Some(value) => {
                let key = value
                    .into_string()
                    .map_err(|_| format!("{API_KEY_ENV} is not valid UTF-8"))?;
                (key, API_KEY_ENV.to_owned())
            }
            None => {
                return Err(format!(
                    "no API key: pass --api-key-file PATH or set {API_KEY_ENV} \
                     (--api-key also works but stays in shell history)"
                ));
            }
        }
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("{source} holds no API key"));
    }
    Ok(key.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A key file holding `text`, kept alive by the returned directory.
    fn key_file(text: &str) -> (tempfile::TempDir, std::path::PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("key");
        std::fs::write(&path, text).expect("write");
        (dir, path)
    }

    fn env(value: &str) -> Option<OsString> {
        Some(value.into())
    }

    #[test]
    fn a_flag_beats_the_environment() {
        let (_dir, file) = key_file("from-file\n");
        assert_eq!(
            api_key(None, Some(&file), env("from-env")),
            Ok("from-file".to_owned())
        );
        assert_eq!(
            api_key(Some("from-flag"), None, env("from-env")),
            Ok("from-flag".to_owned())
        );
        assert_eq!(
            api_key(None, None, env(" from-env\n")),
            Ok("from-env".to_owned())
        );
        assert_eq!(api_key(None, Some(&file), None), Ok("from-file".to_owned()));
        assert_eq!(
            api_key(Some("from-flag"), None, None),
            Ok("from-flag".to_owned())
        );
    }

    #[test]
    fn two_key_flags_are_refused_whatever_the_environment() {
        let (_dir, file) = key_file("from-file");
        for env in [None, env("from-env")] {
            let err = api_key(Some("from-flag"), Some(&file), env).expect_err("two flags");
            assert_eq!(
                err,
                "--api-key and --api-key-file cannot be used together; give one"
            );
        }
    }

    #[test]
    fn a_missing_or_empty_key_names_its_source_but_never_a_key() {
        let missing = api_key(None, None, None).expect_err("no key");
        assert!(
            missing.contains(API_KEY_ENV) && missing.contains("--api-key-file"),
            "{missing}"
        );
        assert_eq!(
            api_key(None, None, env("")),
            Err(missing),
            "an empty variable is unset"
        );

        let (_dir, blank) = key_file(" \n");
        let err = api_key(None, Some(&blank), env("from-env")).expect_err("blank file");
        assert!(err.contains("holds no API key"), "{err}");
        assert!(!err.contains("from-env"), "{err}");
        let err = api_key(Some(" "), None, env("from-env")).expect_err("blank flag");
        assert_eq!(err, "--api-key holds no API key");
        let err = api_key(None, None, env("\n")).expect_err("blank variable");
        assert_eq!(err, "ALPHAMOON_API_KEY holds no API key");

        let absent = blank.with_file_name("absent");
        let err = api_key(None, Some(&absent), env("from-env")).expect_err("no file");
        assert!(err.starts_with("cannot read the API key file"), "{err}");
    }

    #[cfg(unix)]
    #[test]
    fn a_variable_that_is_not_utf8_is_refused_without_showing_it() {
        use std::os::unix::ffi::OsStringExt as _;
        let err = api_key(None, None, Some(OsString::from_vec(b"amk_\xff".to_vec())))
            .expect_err("not UTF-8");
        assert_eq!(err, "ALPHAMOON_API_KEY is not valid UTF-8");
    }
}
