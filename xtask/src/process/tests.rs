//! Unit tests of the parent module.
#![allow(clippy::unwrap_used)] // a failed step in a test is a failed test
use super::*;

/// Generous: these children start in milliseconds.
const TIMEOUT: Duration = Duration::from_secs(30);

fn sh(script: &str) -> Command {
    let mut command = Command::new("sh");
    command.args(["-c", script]);
    command
}

/// The error from starting `script`, which must fail.
fn failure(script: &str, timeout: Duration) -> String {
    match Server::start(&mut sh(script), timeout) {
        Ok(server) => panic!("`{script}` started on {}", server.url),
        Err(e) => e,
    }
}

#[test]
fn a_server_that_exits_shows_how_and_its_stderr() {
    let err = failure("echo oops >&2; exit 3", TIMEOUT);
    assert!(err.contains("closed its stdout"), "{err}");
    assert!(err.contains("exit status: 3"), "{err}");
    assert!(err.ends_with("its stderr:\noops"), "{err}");
}

#[test]
fn a_server_that_prints_something_else_shows_it_and_its_stderr() {
    let err = failure("echo no port >&2; echo starting up; exec sleep 30", TIMEOUT);
    assert!(err.contains("printed \"starting up\" instead of"), "{err}");
    assert!(err.ends_with("its stderr:\nno port"), "{err}");
}

#[test]
fn a_server_that_never_announces_itself_times_out() {
    let err = failure("exec sleep 30", Duration::from_millis(200));
    assert!(
        err.contains("did not print `listening on http://…` within 200ms"),
        "{err}"
    );
    assert!(err.ends_with("its stderr:\n(nothing)"), "{err}");
}

#[test]
fn output_after_the_listening_line_is_drained() {
    // A megabyte on each stream, far more than a pipe holds: unread, it
    // would block the writer, and a closed pipe would kill it.
    let mut server = Server::start(
        &mut sh("echo listening on http://127.0.0.1:1 \
             && head -c 1000000 /dev/zero >&2 \
             && head -c 1000000 /dev/zero"),
        TIMEOUT,
    )
    .unwrap();
    assert_eq!(server.url, "http://127.0.0.1:1");
    let deadline = Instant::now() + TIMEOUT;
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the child is stuck writing");
        thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "{status}");
}

#[test]
fn probing_waits_for_the_port_and_reports_an_early_exit() {
    // Nothing listens when the probe starts; a thread opens the port a
    // moment later, and the probe must have waited for it.
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let url = format!("http://{addr}");
    let opened = thread::spawn(move || {
        thread::sleep(Duration::from_millis(300));
        let listener = std::net::TcpListener::bind(addr).unwrap();
        (listener, Instant::now())
    });
    let server = Server::start_and_probe(&mut sh("exec sleep 30"), url.clone(), TIMEOUT);
    let probed = Instant::now();
    let (listener, opened_at) = opened.join().unwrap();
    assert_eq!(server.unwrap().url, url);
    assert!(
        probed >= opened_at,
        "the probe returned before the port opened"
    );

    drop(listener);
    let err = Server::start_and_probe(&mut sh("echo bad flag >&2; exit 2"), url, TIMEOUT)
        .err()
        .unwrap();
    assert!(err.contains("exited (exit status: 2)"), "{err}");
    assert!(err.ends_with("its stderr:\nbad flag"), "{err}");
}
