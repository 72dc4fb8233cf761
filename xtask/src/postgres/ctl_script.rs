//! The `ctl` script that starts and stops the cluster's server with its
//! settings, for the xtask and for tests alike.

use std::path::Path;

use super::layout::Layout;

/// The server's settings beyond its port and socket directory. Commits are
/// asynchronous by default here, so that the sandbox's own per-connection
/// `synchronous_commit = on` is what the crash test checks (fsync stays at
/// its default: on). Tests running in parallel each hold a pool of
/// connections, more in total than the default 100.
pub(super) const SETTINGS: &str =
    "-c listen_addresses=127.0.0.1 -c max_connections=200 -c synchronous_commit=off";

/// How long, in seconds, `pg_ctl` waits for a start or a stop. Each takes
/// about a second; a loaded 2-core machine gets the rest as a margin.
pub(super) const WAIT_SECONDS: &str = "30";

/// The text of the `ctl` script. It changes to the cluster's directory
/// first: as root, `pg_ctl` runs as `postgres`, which may not be allowed to
/// read the caller's working directory.
pub(super) fn ctl_script(pg_ctl: &Path, layout: &Layout, port: u16, as_postgres: bool) -> String {
    let quote = |path: &Path| sh_quote(&path.to_string_lossy());
    let server_options = format!("-p {port} -k {} {SETTINGS}", quote(&layout.socket));
    let runuser = if as_postgres {
        "runuser -u postgres -- "
    } else {
        ""
    };
    format!(
        "#!/bin/sh\n\
         # Runs pg_ctl on the throw-away PostgreSQL cluster that `cargo xtask` started,\n\
         # with its settings, passing its arguments on: `ctl stop -m fast`, `ctl start`.\n\
         # Written by xtask/src/postgres/ctl_script.rs; each start of a cluster rewrites it.\n\
         cd {dir} || exit\n\
         exec {runuser}{pg_ctl} -D {data} -l {log} -w -t {WAIT_SECONDS} -o {options} \"$@\"\n",
        dir = quote(&layout.dir),
        pg_ctl = quote(pg_ctl),
        data = quote(&layout.data),
        log = quote(&layout.log),
        options = sh_quote(&server_options),
    )
}

/// `text` as one shell word.
pub(super) fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}
