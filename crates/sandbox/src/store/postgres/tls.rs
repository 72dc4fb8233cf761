//! TLS to PostgreSQL: libpq's `sslmode` and `sslrootcert` URL parameters,
//! on rustls with the *ring* provider.
//!
//! tokio-postgres parses `sslmode` itself but knows only `disable`,
//! `prefer` and `require`, and refuses `sslrootcert` as an unknown option.
//! So both are taken out of the URL's query before tokio-postgres reads it,
//! and turned here into its `SslMode` and a rustls configuration that
//! verifies what the mode asks for:
//!
//! | `sslmode` | TLS | certificate chain | host name |
//! |---|---|---|---|
//! | `disable` | never | - | - |
//! | `prefer` (the default) | if the server offers it | only with `sslrootcert` | no |
//! | `require` | always | only with `sslrootcert` | no |
//! | `verify-ca` | always | against `sslrootcert` | no |
//! | `verify-full` | always | against `sslrootcert` | yes |
//!
//! `sslrootcert=system` verifies against the platform's roots, and as in
//! libpq only with `verify-full` (its default when no mode is given).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

use crate::store::error::StoreError;

/// libpq's `sslmode` values that the sandbox supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    const NAMES: &str = "disable, prefer, require, verify-ca or verify-full";

    fn parse(value: &str) -> Result<Self, StoreError> {
        Ok(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            // tokio-postgres cannot try plain text first and TLS second.
            "allow" => {
                return Err(invalid(
                    "sslmode=allow is not supported; use prefer or disable",
                ));
            }
            other => {
                return Err(invalid(format!(
                    "invalid sslmode `{other}`: expected {}",
                    Self::NAMES
                )));
            }
        })
    }
}

/// Where `sslrootcert` says the trusted certificates are.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RootCert {
    /// A PEM file of one or more CA certificates.
    File(PathBuf),
    /// `sslrootcert=system`: the platform's own roots.
    System,
}

/// The TLS parameters of a database URL.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsParams {
    mode: Option<Mode>,
    root_cert: Option<RootCert>,
}

fn invalid(message: impl Into<String>) -> StoreError {
    StoreError::Failed(format!("invalid database URL: {}", message.into()))
}

impl TlsParams {
    /// Takes `sslmode` and `sslrootcert` out of the query of a
    /// `postgres://` URL, returning the rest for tokio-postgres. Any other
    /// form of connection string is returned as it is. No error repeats
    /// the URL, which may hold a password.
    pub(crate) fn take_from(url: &str) -> Result<(Cow<'_, str>, Self), StoreError> {
        let mut params = Self::default();
        // Found as tokio-postgres finds it: after the first `@`, if any, so
        // that a `?` in a password is not taken for the query.
        let Some(rest) = ["postgres://", "postgresql://"]
            .iter()
            .find_map(|prefix| url.strip_prefix(prefix))
        else {
            return Ok((Cow::Borrowed(url), params));
        };
        let authority_start = url.len() - rest.len();
        let after_credentials = rest
            .find('@')
            .map_or(authority_start, |at| authority_start + at + 1);
        let Some(question) = url[after_credentials..].find('?') else {
            return Ok((Cow::Borrowed(url), params));
        };
        let query_start = after_credentials + question + 1;
        let mut kept: Vec<&str> = Vec::new();
        for pair in url[query_start..].split('&') {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match decode(key, "a query parameter's name")?.as_ref() {
                "sslmode" => params.mode = Some(Mode::parse(&decode(value, "sslmode")?)?),
                "sslrootcert" => {
                    let value = decode(value, "sslrootcert")?;
                    params.root_cert = match value.as_ref() {
                        "" => None,
                        "system" => Some(RootCert::System),
                        path => Some(RootCert::File(PathBuf::from(path))),
                    };
                }
                _ => kept.push(pair),
            }
        }
        let mut stripped = url[..query_start].to_owned();
        if kept.is_empty() {
            stripped.pop();
        } else {
            stripped.push_str(&kept.join("&"));
        }
        Ok((Cow::Owned(stripped), params))
    }

    /// Sets `config`'s TLS mode from these parameters (or, with no
    /// `sslmode` in the URL, from what tokio-postgres parsed, whose default
    /// is `prefer` as libpq's is) and builds the connector that verifies
    /// what the mode asks for. Reads the `sslrootcert` file now, so that a
    /// missing or unreadable one stops the start with a clear message.
    pub(crate) fn connector(
        self,
        config: &mut tokio_postgres::Config,
    ) -> Result<MakeRustlsConnect, StoreError> {
        let mode = match (self.mode, &self.root_cert) {
            (Some(mode), _) => mode,
            // libpq's choice: naming the platform's roots asks for full
            // verification.
            (None, Some(RootCert::System)) => Mode::VerifyFull,
            (None, _) => match config.get_ssl_mode() {
                SslMode::Disable => Mode::Disable,
                SslMode::Require => Mode::Require,
                _ => Mode::Prefer,
            },
        };
        config.ssl_mode(match mode {
            Mode::Disable => SslMode::Disable,
            Mode::Prefer => SslMode::Prefer,
            Mode::Require | Mode::VerifyCa | Mode::VerifyFull => SslMode::Require,
        });
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| StoreError::Failed(format!("cannot set up TLS: {e}")))?;
        let config = match (mode, self.root_cert) {
            (Mode::Disable, _) | (Mode::Prefer | Mode::Require, None) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(
                    provider.signature_verification_algorithms,
                ))),
            (Mode::VerifyCa | Mode::VerifyFull, None) => {
                return Err(invalid(format!(
                    "sslmode={} needs sslrootcert: the CA certificate file to verify the \
                     server with, or `system` for the platform's roots",
                    if mode == Mode::VerifyCa {
                        "verify-ca"
                    } else {
                        "verify-full"
                    }
                )));
            }
            (Mode::VerifyFull, Some(RootCert::System)) => {
                use rustls_platform_verifier::BuilderVerifierExt as _;
                builder.with_platform_verifier().map_err(|e| {
                    StoreError::Failed(format!("cannot load the platform's certificate roots: {e}"))
                })?
            }
            (_, Some(RootCert::System)) => {
                return Err(invalid(
                    "sslrootcert=system needs sslmode=verify-full (or no sslmode)",
                ));
            }
            (Mode::VerifyFull, Some(RootCert::File(path))) => {
                builder.with_webpki_verifier(chain_verifier(&path, provider)?)
            }
            // libpq, too, verifies the chain in these modes once it has a
            // root certificate; only verify-full checks the name.
            (Mode::Prefer | Mode::Require | Mode::VerifyCa, Some(RootCert::File(path))) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(ChainOnly(chain_verifier(
                    &path, provider,
                )?))),
        };
        Ok(MakeRustlsConnect::new(config.with_no_client_auth()))
    }
}

fn decode<'a>(text: &'a str, what: &str) -> Result<Cow<'a, str>, StoreError> {
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map_err(|_| invalid(format!("{what} is not UTF-8 once percent-decoded")))
}

/// A verifier of chain and name against the CA certificates in `path`.
fn chain_verifier(
    path: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<WebPkiServerVerifier>, StoreError> {
    let shown = path.display();
    let unreadable = |e: &dyn std::fmt::Display| {
        StoreError::Failed(format!("cannot read the sslrootcert file {shown}: {e}"))
    };
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| unreadable(&e))? {
        roots
            .add(cert.map_err(|e| unreadable(&e))?)
            .map_err(|e| unreadable(&e))?;
    }
    if roots.is_empty() {
        return Err(unreadable(&"it holds no PEM certificate"));
    }
    WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| unreadable(&e))
}

/// `verify-ca`: the chain must lead to a trusted root, whatever names the
/// server's certificate holds.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            // webpki checks the name only after the chain has verified, so
            // this error means everything but the name was fine.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// `prefer` and `require` without a root certificate: encryption without
/// authentication, as libpq gives. The handshake's signatures are still
/// checked, so the server holds the key of the certificate it sent.
#[derive(Debug)]
struct AnyCertificate(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.supported_schemes()
    }
}

#[cfg(test)]
mod tests;
