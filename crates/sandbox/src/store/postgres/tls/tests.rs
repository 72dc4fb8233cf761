//! Unit tests of the parent module.
#![allow(clippy::unwrap_used)] // a failed step in a test is a failed test
use super::*;

fn split(url: &str) -> (String, TlsParams) {
    let (rest, params) = TlsParams::take_from(url).unwrap();
    (rest.into_owned(), params)
}

fn error(url: &str) -> String {
    let (_, params) = match TlsParams::take_from(url) {
        Ok(split) => split,
        Err(e) => return e.to_string(),
    };
    let mut config = tokio_postgres::Config::new();
    match params.connector(&mut config) {
        Ok(_) => panic!("{url} was accepted"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn the_tls_parameters_leave_the_query_and_the_rest_stays() {
    let (rest, params) = split(
        "postgres://u:p@h:5432/db?application_name=x&sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
    );
    assert_eq!(
        rest,
        "postgres://u:p@h:5432/db?application_name=x&connect_timeout=3"
    );
    assert_eq!(params.mode, Some(Mode::VerifyFull));
    assert_eq!(params.root_cert, Some(RootCert::File("/etc/ca.pem".into())));

    let (rest, params) = split("postgresql://h/db?sslmode=require");
    assert_eq!(rest, "postgresql://h/db");
    assert_eq!(params.mode, Some(Mode::Require));

    let (rest, params) = split("postgres://h/db?sslrootcert=system");
    assert_eq!(rest, "postgres://h/db");
    assert_eq!(params.root_cert, Some(RootCert::System));
}

#[test]
fn a_question_mark_in_the_password_is_not_the_query() {
    let url = "postgres://u:pa?sslmode=disable@h/db";
    let (rest, params) = split(url);
    assert_eq!(rest, url);
    assert_eq!(params, TlsParams::default());
}

#[test]
fn other_connection_strings_are_left_to_tokio_postgres() {
    let (rest, params) = split("host=h sslmode=require");
    assert_eq!(rest, "host=h sslmode=require");
    assert_eq!(params, TlsParams::default());
    let mut config: tokio_postgres::Config = rest.parse().unwrap();
    params.connector(&mut config).unwrap();
    assert_eq!(config.get_ssl_mode(), SslMode::Require);
}

#[test]
fn each_mode_sets_the_drivers_mode() {
    for (query, expected) in [
        ("", SslMode::Prefer),
        ("?sslmode=disable", SslMode::Disable),
        ("?sslmode=prefer", SslMode::Prefer),
        ("?sslmode=require", SslMode::Require),
        ("?sslrootcert=system", SslMode::Require),
        ("?sslmode=verify-full&sslrootcert=system", SslMode::Require),
    ] {
        let url = format!("postgres://h/db{query}");
        let (rest, params) = split(&url);
        let mut config: tokio_postgres::Config = rest.parse().unwrap();
        params.connector(&mut config).unwrap();
        assert_eq!(config.get_ssl_mode(), expected, "{url}");
    }
}

#[test]
fn bad_parameters_are_named_and_the_url_is_not_repeated() {
    let secret = "s3cret";
    let cases = [
        (
            "sslmode=verify-everything",
            "invalid sslmode `verify-everything`",
        ),
        ("sslmode=allow", "sslmode=allow is not supported"),
        ("sslmode=verify-ca", "sslmode=verify-ca needs sslrootcert"),
        (
            "sslmode=verify-full",
            "sslmode=verify-full needs sslrootcert",
        ),
        (
            "sslmode=require&sslrootcert=system",
            "sslrootcert=system needs sslmode=verify-full",
        ),
        (
            "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem",
            "cannot read the sslrootcert file /nonexistent/ca.pem",
        ),
        ("sslmode=%FF", "sslmode is not UTF-8"),
    ];
    for (query, expected) in cases {
        let message = error(&format!("postgres://u:{secret}@h/db?{query}"));
        assert!(message.contains(expected), "{query}: {message}");
        assert!(!message.contains(secret), "{query}: {message}");
    }
}

#[test]
fn a_file_without_certificates_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    std::fs::write(&path, "not a certificate\n").unwrap();
    let message = error(&format!(
        "postgres://h/db?sslmode=verify-ca&sslrootcert={}",
        path.display()
    ));
    assert!(message.contains("holds no PEM certificate"), "{message}");
}
