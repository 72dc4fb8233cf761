//! Building an authenticated [`Client`]: the API key, base URL, timeouts,
//! user agent and TLS set-up that the generated code leaves to us.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};

use crate::hooks::{ClientState, RetryPolicy};
use crate::{Client, DEFAULT_BASE_URL};

/// How long to wait for a TCP and TLS connection by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long one request may take by default, from sending it to reading the
/// whole response.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// The `User-Agent` every request carries: `alphamoon-client/<version>`.
pub const USER_AGENT: &str = concat!("alphamoon-client/", env!("CARGO_PKG_VERSION"));

impl Client {
    /// An authenticated client for the production API with default settings.
    ///
    /// ```no_run
    /// let client = alphamoon_client::Client::from_api_key("your_api_key_here")?;
    /// # Ok::<(), alphamoon_client::BuildError>(())
    /// ```
    pub fn from_api_key(api_key: &str) -> Result<Self, BuildError> {
        Self::builder(api_key).build()
    }

    /// A builder for a client authenticated with `api_key`, to change the
    /// base URL, the timeouts or the retry policy.
    ///
    /// ```no_run
    /// use std::time::Duration;
    ///
    /// let client = alphamoon_client::Client::builder("your_api_key_here")
    ///     .base_url("http://127.0.0.1:8080/")
    ///     .timeout(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok::<(), alphamoon_client::BuildError>(())
    /// ```
    pub fn builder(api_key: &str) -> ClientBuilder {
        ClientBuilder {
            api_key: api_key.to_owned(),
            base_url: DEFAULT_BASE_URL.to_owned(),
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            retry: RetryPolicy::default(),
        }
    }
}

/// Settings for an authenticated [`Client`]; made by [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    api_key: String,
    base_url: String,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("retry", &self.retry)
            .finish()
    }
}

impl ClientBuilder {
    /// Sends requests to `base_url` instead of [`DEFAULT_BASE_URL`], for a
    /// sandbox or a proxy. A trailing slash is ignored.
    pub fn base_url(mut self, base_url: &str) -> Self {
        base_url.clone_into(&mut self.base_url);
        self
    }

    /// Limits how long one attempt of a request may take in all, from
    /// sending to reading the whole response (default [`DEFAULT_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Limits how long connecting may take (default
    /// [`DEFAULT_CONNECT_TIMEOUT`]).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sets when idempotent requests are retried (default
    /// [`RetryPolicy::default`]; [`RetryPolicy::none`] turns retries off).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// Checks the settings and builds the client.
    pub fn build(self) -> Result<Client, BuildError> {
        if self.api_key.trim().is_empty() {
            return Err(BuildError::EmptyApiKey);
        }
        // The generated code joins paths as `{base}/api/...`; a trailing
        // slash would make that `//`.
        let base_url = self.base_url.trim_end_matches('/');
        match reqwest::Url::parse(base_url) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {}
            _ => return Err(BuildError::InvalidBaseUrl(base_url.to_owned())),
        }

        let credentials = base64::engine::general_purpose::STANDARD.encode(&self.api_key);
        let mut authorization = HeaderValue::try_from(format!("Basic {credentials}"))
            .expect("base64 is a valid header value");
        // Keeps the key out of reqwest's and hyper's debug output.
        authorization.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, authorization);

        let http = reqwest::Client::builder()
            .default_headers(headers)
            .user_agent(USER_AGENT)
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .tls_backend_preconfigured(tls_config()?)
            .build()
            .map_err(|e| BuildError::Http(e.to_string()))?;
        Ok(Client::new_with_client(
            base_url,
            http,
            ClientState { retry: self.retry },
        ))
    }
}

/// rustls with the *ring* provider and the platform's certificate roots.
///
/// Handing reqwest a finished config, rather than installing a process-wide
/// default provider, leaves the host application's own TLS choices alone.
fn tls_config() -> Result<rustls::ClientConfig, BuildError> {
    use rustls_platform_verifier::BuilderVerifierExt as _;

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .and_then(|builder| builder.with_platform_verifier())
        .map_err(|e| BuildError::Tls(e.to_string()))?
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Why [`ClientBuilder::build`] refused its settings. No variant ever holds
/// the API key.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The API key is empty or only whitespace.
    EmptyApiKey,
    /// The base URL is not an absolute `http` or `https` URL with a host.
    InvalidBaseUrl(String),
    /// The TLS configuration could not be built.
    Tls(String),
    /// The HTTP client could not be built.
    Http(String),
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EmptyApiKey => f.write_str("the API key is empty"),
            Self::InvalidBaseUrl(url) => {
                write!(f, "base URL `{url}` is not an absolute http(s) URL")
            }
            Self::Tls(e) => write!(f, "cannot set up TLS: {e}"),
            Self::Http(e) => write!(f, "cannot build the HTTP client: {e}"),
        }
    }
}

impl std::error::Error for BuildError {}
