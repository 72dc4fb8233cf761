//! `alphamoon-sandbox healthcheck`: asks a running sandbox's readiness
//! probe, for a container's `HEALTHCHECK`; an image built from scratch has
//! no curl. The call goes through the generated control client.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use alphamoon_sandbox::control_client::Client;
use clap::Args;

use crate::args::DEFAULT_LISTEN;
use crate::ctl::{failed, http_client};

/// Which sandbox to ask, and for how long.
#[derive(Debug, Args)]
pub(crate) struct HealthcheckArgs {
    /// The address the sandbox listens on, as given to its --listen; an
    /// unspecified address (0.0.0.0 or [::]) is asked on loopback. In a
    /// container it comes from the same variable the server reads.
    #[arg(long, env = "ALPHAMOON_SANDBOX_LISTEN", value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    listen: SocketAddr,

    /// Give up after this long (1 to 60).
    #[arg(long, value_name = "SECONDS", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=60))]
    timeout_secs: u64,
}

/// Succeeds if the sandbox answers its readiness probe with 200.
pub(crate) async fn run(args: HealthcheckArgs) -> Result<(), String> {
    let mut address = args.listen;
    if address.ip().is_unspecified() {
        address.set_ip(match address.ip() {
            IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
        });
    }
    let http = http_client(
        reqwest::header::HeaderMap::new(),
        Duration::from_secs(args.timeout_secs),
    )?;
    let client = Client::new_with_client(&format!("http://{address}"), http);
    match client.check_readiness().send().await {
        Ok(_) => {
            println!("ready: http://{address}/_sandbox/readyz answered 200");
            Ok(())
        }
        Err(error) => Err(format!(
            "not ready: http://{address}/_sandbox/readyz: {}",
            failed(error).await
        )),
    }
}
