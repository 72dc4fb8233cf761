//! What a connection may take from the server: slow clients are cut off,
//! the number of open connections is capped, and the answers the HTTP layer
//! gives on its own (to requests it cannot parse) are the only ones without
//! a problem body.

use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use crate::support::{KEYS, basic, call, sandbox_with};
use alphamoon_sandbox::{ConnectionLimits, Settings};

fn settings(limits: ConnectionLimits) -> Settings {
    Settings {
        rate_limit: None,
        org_rate_limit: None,
        connections: limits,
        ..Settings::default()
    }
}

/// Reads until the server closes the connection; the bytes it sent.
fn read_to_close(stream: &mut TcpStream, within: Duration) -> Vec<u8> {
    stream.set_read_timeout(Some(within)).expect("timeout");
    let mut answer = Vec::new();
    match stream.read_to_end(&mut answer) {
        Ok(_) => answer,
        Err(e) => panic!("the server kept the connection open for {within:?}: {e}"),
    }
}

/// Reads one answer whose length is in `content-length`, leaving the
/// connection open.
fn read_answer(stream: &mut TcpStream) -> String {
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .expect("timeout");
    let mut bytes = Vec::new();
    let mut byte = [0_u8; 1];
    while !bytes.ends_with(b"\r\n\r\n") {
        let read = stream.read(&mut byte).expect("the answer's head");
        assert_eq!(
            read,
            1,
            "closed mid-answer: {}",
            String::from_utf8_lossy(&bytes)
        );
        bytes.push(byte[0]);
    }
    let head = String::from_utf8(bytes).expect("utf8 head");
    let length: usize = head
        .lines()
        .find_map(|line| line.strip_prefix("content-length: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no content-length in {head}"));
    let mut body = vec![0_u8; length];
    stream.read_exact(&mut body).expect("the answer's body");
    head + &String::from_utf8_lossy(&body)
}

fn list_request(admin: &str) -> String {
    format!(
        "GET {KEYS} HTTP/1.1\r\nhost: sandbox\r\nauthorization: {}\r\n\r\n",
        basic(admin)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_stops_mid_request_is_disconnected_and_others_are_served() {
    // The idle timeout stays long: only the header timer may cut these.
    let (sandbox, admin) = sandbox_with(settings(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(600),
        ..ConnectionLimits::default()
    }))
    .await;
    let addr = sandbox.addr();
    let mut stuck: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream
                .write_all(b"GET /api/v0.4/admin/api-keys HTTP/1.1\r\nhost: sandbox\r\n")
                .expect("half a request");
            stream
        })
        .collect();
    // A connection that never sends a byte is late with its first request,
    // not idle between two: the header timer bounds it too.
    stuck.push(TcpStream::connect(addr).expect("connect"));
    let served = call(&sandbox, "GET", KEYS, Some(&basic(&admin)), None).await;
    assert_eq!(served.status, 200, "served while slow clients hang on");
    let closed = tokio::task::spawn_blocking(move || {
        stuck
            .iter_mut()
            .map(|stream| read_to_close(stream, Duration::from_secs(20)))
            .collect::<Vec<_>>()
    })
    .await
    .expect("reader");
    for answer in closed {
        // Closed without an answer when the header timer fires.
        assert!(answer.is_empty(), "{}", String::from_utf8_lossy(&answer));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_keep_alive_connection_outlives_the_header_timeout_and_then_closes() {
    let (sandbox, admin) = sandbox_with(settings(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(3),
        ..ConnectionLimits::default()
    }))
    .await;
    let addr = sandbox.addr();
    let (second, rest) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(list_request(&admin).as_bytes())
            .expect("first request");
        let first = read_answer(&mut stream);
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        // Idle for twice the header timeout, well inside the idle one. The
        // spell is the thing under test, measured against the server's own
        // timers: no signal could stand in for it.
        std::thread::sleep(Duration::from_secs(2));
        stream
            .write_all(list_request(&admin).as_bytes())
            .expect("second request");
        let second = read_answer(&mut stream);
        let rest = read_to_close(&mut stream, Duration::from_secs(30));
        (second, rest)
    })
    .await
    .expect("client");
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the connection survived being idle past the header timeout: {second}"
    );
    assert!(
        rest.is_empty(),
        "closed without a word once idle: {}",
        String::from_utf8_lossy(&rest)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_head_after_an_idle_spell_is_cut_by_the_header_timeout() {
    let (sandbox, admin) = sandbox_with(settings(ConnectionLimits {
        header_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(600),
        ..ConnectionLimits::default()
    }))
    .await;
    let addr = sandbox.addr();
    let (rest, head_lasted) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(addr).expect("connect");
        stream
            .write_all(list_request(&admin).as_bytes())
            .expect("first request");
        let first = read_answer(&mut stream);
        assert!(first.starts_with("HTTP/1.1 200"), "{first}");
        // Idle for longer than the header timeout, on purpose and in real
        // time: a header clock wrongly started by the idle spell would have
        // run out before the head below begins.
        std::thread::sleep(Duration::from_secs(2));
        let began = std::time::Instant::now();
        stream
            .write_all(b"GET /api/v0.4/admin/api-keys HTTP/1.1\r\nhost: sandbox\r\n")
            .expect("half a request");
        let rest = read_to_close(&mut stream, Duration::from_secs(30));
        (rest, began.elapsed())
    })
    .await
    .expect("client");
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
    // The header clock starts with the head's first byte, not with the
    // idle spell before it, and the long idle timeout does not stretch it.
    assert!(
        head_lasted >= Duration::from_secs(1),
        "cut {head_lasted:?} after the head began"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_wait_until_one_closes() {
    let (sandbox, admin) = sandbox_with(settings(ConnectionLimits {
        header_read_timeout: Duration::from_secs(60),
        idle_timeout: Duration::from_secs(60),
        max_connections: 2,
    }))
    .await;
    let addr = sandbox.addr();
    let third = tokio::task::spawn_blocking(move || {
        // Each served once, and then left open: the server has taken both,
        // and they hold the two slots.
        let held: Vec<TcpStream> = (0..2)
            .map(|i| {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream
                    .write_all(list_request(&admin).as_bytes())
                    .expect("request");
                let answer = read_answer(&mut stream);
                assert!(answer.starts_with("HTTP/1.1 200"), "held {i}: {answer}");
                stream
            })
            .collect();
        // The kernel completes the third connection and takes its whole
        // request; only the server's accepting it is held back.
        let mut third = TcpStream::connect(addr).expect("connect");
        third
            .write_all(list_request(&admin).as_bytes())
            .expect("the third request");
        // No signal can show that an answer does not come: the test watches
        // for one, in real time, for this long.
        third
            .set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        let mut byte = [0_u8; 1];
        match third.read(&mut byte) {
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            other => panic!("a third connection was served at once: {other:?}"),
        }
        drop(held);
        read_answer(&mut third)
    })
    .await
    .expect("client");
    assert!(
        third.starts_with("HTTP/1.1 200"),
        "served once a slot was free: {third}"
    );
}

/// Sends `request` as raw bytes and returns the status and the rest.
fn raw(addr: std::net::SocketAddr, request: &[u8]) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    // The server may answer and close before reading all of a huge request.
    let _ = stream.write_all(request);
    let answer =
        String::from_utf8_lossy(&read_to_close(&mut stream, Duration::from_secs(10))).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    (status, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_requests_over_the_http_layers_own_limits_get_its_bare_answers() {
    // No spec check on this server: 414 and 431 are not operation statuses.
    let sandbox =
        alphamoon_sandbox::Sandbox::start_in_memory(settings(ConnectionLimits::default()))
            .await
            .expect("sandbox");
    let addr = sandbox.addr();
    let target = |bytes: usize| format!("{KEYS}?limit={}", "1".repeat(bytes - KEYS.len() - 7));
    let get = |target: &str, extra: &str| {
        format!("GET {target} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n{extra}\r\n").into_bytes()
    };
    let fields = |count: usize| {
        (0..count)
            .map(|i| format!("x-{i}: 1\r\n"))
            .collect::<String>()
    };
    let big_field = |bytes: usize| format!("x-filler: {}\r\n", "a".repeat(bytes));
    // (case, request, status, answered by hyper itself)
    let cases: Vec<(&str, Vec<u8>, u16, bool)> = vec![
        (
            "bad request line",
            b"NOT HTTP AT ALL\r\n\r\n".to_vec(),
            400,
            true,
        ),
        ("bad header", get(KEYS, "bad header\r\n"), 400, true),
        (
            "target over hyper's limit",
            get(&target(70_000), ""),
            414,
            true,
        ),
        (
            "more fields than hyper takes",
            get(KEYS, &fields(101)),
            431,
            true,
        ),
        (
            "header section over hyper's buffer",
            get(KEYS, &big_field(600_000)),
            431,
            true,
        ),
        ("long target", get(&target(8 * 1024 + 1), ""), 414, false),
        ("many fields", get(KEYS, &fields(70)), 431, false),
        (
            "large header section",
            get(KEYS, &big_field(20_000)),
            431,
            false,
        ),
        (
            "just inside",
            get(&target(8 * 1024), &fields(60)),
            401,
            false,
        ),
    ];
    let answers = tokio::task::spawn_blocking(move || {
        cases
            .into_iter()
            .map(|(case, request, status, bare)| (case, raw(addr, &request), status, bare))
            .collect::<Vec<_>>()
    })
    .await
    .expect("client");
    for (case, (status, answer), expected, bare) in answers {
        assert_eq!(status, expected, "{case}: {answer}");
        let head_only = answer.ends_with("\r\n\r\n");
        if bare {
            assert!(
                head_only,
                "{case}: hyper's own answer has no body: {answer}"
            );
        } else {
            assert!(
                answer.contains("content-type: application/problem+json")
                    && answer.contains("cache-control: no-store")
                    && !head_only,
                "{case}: a problem like every other error: {answer}"
            );
        }
    }
}
