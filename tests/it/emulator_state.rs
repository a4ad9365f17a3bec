//! `convcheck serve` as a real process on real sockets: the `--state` database (refused when
//! it cannot be written or is not a valid state, nothing acknowledged that is not committed,
//! nothing acknowledged lost to `kill -9`) and the connection bounds (header timeout, idle
//! timeout, connection cap).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use convcheck::emulator;
use serde_json::Value;

const S2: &str = emulator::SECOND_SERVICE_SID;

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> TempDir {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let dir = std::env::temp_dir().join(format!(
            "convcheck-state-{tag}-{}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn convcheck(args: &[OsString]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_convcheck"));
    cmd.arg("serve")
        .args(["--port", "0"])
        .args(args)
        .env_remove("TWILIO_ACCOUNT_SID")
        .env_remove("TWILIO_AUTH_TOKEN")
        .env_remove("TWILIO_API_KEY")
        .env_remove("TWILIO_API_SECRET")
        .stdin(Stdio::null());
    cmd
}

fn state_args(path: &Path, extra: &[&str]) -> Vec<OsString> {
    let mut args: Vec<OsString> = vec!["--state".into(), path.into()];
    args.extend(extra.iter().map(OsString::from));
    args
}

/// A running `convcheck serve`, killed on drop.
struct Server {
    child: Child,
    /// Kept open so the process can still print when it stops.
    _stdout: BufReader<ChildStdout>,
    /// `127.0.0.1:port`.
    addr: String,
}

impl Server {
    fn start(args: &[OsString]) -> Server {
        let mut child = convcheck(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let addr = first
            .trim()
            .strip_prefix("convcheck emulator listening on http://")
            .unwrap_or_else(|| panic!("no listening line: {first:?}"))
            .to_owned();
        Server {
            child,
            _stdout: stdout,
            addr,
        }
    }

    fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGTERM, and the exit status.
    fn stop(mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `convcheck serve` expecting it to refuse to start: its exit code and stderr.
fn refused(args: &[OsString]) -> (Option<i32>, String) {
    let mut child = convcheck(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("convcheck serve {args:?} did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    (status.code(), stderr)
}

/// Refused with exit code 2 and exactly one line of stderr containing `phrase`; the file, if
/// there was one, is left byte for byte as it was.
fn assert_refused(path: &Path, extra: &[&str], phrase: &str) {
    let before = std::fs::read(path).ok();
    let (code, stderr) = refused(&state_args(path, extra));
    assert_eq!(code, Some(2), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && stderr.contains(phrase),
        "expected `{phrase}` in {stderr}"
    );
    assert_eq!(
        std::fs::read(path).ok(),
        before,
        "a refused file was changed"
    );
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// A request with the emulator's default credentials: status and JSON body.
async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: &str,
) -> reqwest::Result<(u16, Value)> {
    let res = http
        .request(method, url)
        .basic_auth(
            emulator::DEFAULT_ACCOUNT_SID,
            Some(emulator::DEFAULT_AUTH_TOKEN),
        )
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body.to_owned())
        .send()
        .await?;
    let status = res.status().as_u16();
    let text = res.text().await?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

async fn create(http: &reqwest::Client, base: &str, identity: &str) -> (u16, Value) {
    send(
        http,
        reqwest::Method::POST,
        format!("{base}/v1/Users"),
        &format!("Identity={identity}"),
    )
    .await
    .unwrap()
}

/// Every identity on the default service, walking the pages.
async fn identities(http: &reqwest::Client, base: &str) -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    let mut url = format!("{base}/v1/Users?PageSize=1000");
    loop {
        let (status, page) = send(http, reqwest::Method::GET, url, "").await.unwrap();
        assert_eq!(status, 200, "{page}");
        for u in page["users"].as_array().unwrap() {
            all.insert(u["identity"].as_str().unwrap().to_owned());
        }
        match page["meta"]["next_page_url"].as_str() {
            Some(next) => url = next.to_owned(),
            None => return all,
        }
    }
}

fn assert_twilio_error(body: &Value, status: u16) {
    assert_eq!(body["status"], status, "{body}");
    assert!(body["code"].is_i64(), "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    assert!(
        body["more_info"]
            .as_str()
            .is_some_and(|m| m.starts_with("https://")),
        "{body}"
    );
}

// ---- point 8: writes that cannot be kept ----

#[test]
fn a_state_path_that_cannot_be_written_is_refused_at_start() {
    let dir = TempDir::new("unwritable");
    // Tests run as root, which ignores file modes: a path under a regular file, or under a
    // directory that does not exist, cannot be created by anyone.
    let file = dir.join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    assert_refused(&file.join("state.db"), &[], "cannot open state file");
    assert_refused(&dir.join("missing/state.db"), &[], "cannot open state file");
    assert_refused(&dir.0, &[], "cannot open state file");
}

#[test]
fn a_write_that_cannot_be_committed_is_answered_500_and_not_made() {
    let dir = TempDir::new("locked");
    let path = dir.join("state.db");
    let server = Server::start(&state_args(&path, &[]));
    let base = server.base();
    let rt = runtime();
    let http = convcheck::client::http_builder().build().unwrap();
    let kept = rt.block_on(create(&http, &base, "kept"));
    assert_eq!(kept.0, 201);
    let sid = kept.1["sid"].as_str().unwrap().to_owned();

    // Another process holds the write lock past the emulator's busy timeout.
    let other = rusqlite::Connection::open(&path).unwrap();
    other.execute_batch("BEGIN EXCLUSIVE").unwrap();
    rt.block_on(async {
        let (status, body) = create(&http, &base, "lost").await;
        assert_eq!(status, 500, "{body}");
        assert_twilio_error(&body, 500);
        let item = format!("{base}/v1/Users/{sid}");
        let (status, body) = send(&http, reqwest::Method::POST, item.clone(), "FriendlyName=x")
            .await
            .unwrap();
        assert_eq!(status, 500, "{body}");
        assert_twilio_error(&body, 500);
        let (status, body) = send(&http, reqwest::Method::DELETE, item, "")
            .await
            .unwrap();
        assert_eq!(status, 500, "{body}");
        assert_twilio_error(&body, 500);
    });
    other.execute_batch("ROLLBACK").unwrap();
    drop(other);

    // Nothing refused was made, in memory or in the file; the emulator serves on.
    let check = |base: String| {
        rt.block_on(async {
            assert_eq!(
                identities(&http, &base).await,
                BTreeSet::from(["kept".into()])
            );
            let (status, user) = send(
                &http,
                reqwest::Method::GET,
                format!("{base}/v1/Users/kept"),
                "",
            )
            .await
            .unwrap();
            assert_eq!((status, &user["friendly_name"]), (200, &Value::Null));
        })
    };
    check(base.clone());
    assert_eq!(rt.block_on(create(&http, &base, "later")).0, 201);
    assert!(server.stop().success());
    let again = Server::start(&state_args(&path, &[]));
    let base = again.base();
    rt.block_on(async {
        let (status, _) = send(
            &http,
            reqwest::Method::DELETE,
            format!("{base}/v1/Users/later"),
            "",
        )
        .await
        .unwrap();
        assert_eq!(status, 204);
    });
    check(base);
}

// ---- point 9: the database ----

#[test]
fn kill_9_loses_no_acknowledged_create() {
    let dir = TempDir::new("kill9");
    let path = dir.join("state.db");
    let mut server = Server::start(&state_args(&path, &[]));
    let base = server.base();
    let rt = runtime();
    let acked = Arc::new(Mutex::new(BTreeSet::<String>::new()));
    let http = convcheck::client::http_builder().build().unwrap();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (http, base, acked) = (http.clone(), base.clone(), Arc::clone(&acked));
            rt.spawn(async move {
                for i in 0.. {
                    let identity = format!("k{w}-{i}");
                    let sent = send(
                        &http,
                        reqwest::Method::POST,
                        format!("{base}/v1/Users"),
                        &format!("Identity={identity}"),
                    )
                    .await;
                    match sent {
                        Ok((201, _)) => {
                            acked.lock().unwrap().insert(identity);
                        }
                        Ok((status, body)) => panic!("create answered {status}: {body}"),
                        Err(_) => return,
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    while acked.lock().unwrap().len() < 300 {
        assert!(Instant::now() < deadline, "too few creates were answered");
        std::thread::sleep(Duration::from_millis(5));
    }
    // SIGKILL mid-stream: no handler runs, nothing is flushed on the way out.
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    rt.block_on(async {
        for w in writers {
            w.await.unwrap();
        }
    });
    let acked = acked.lock().unwrap().clone();
    let again = Server::start(&state_args(&path, &[]));
    let kept = rt.block_on(identities(&http, &again.base()));
    let lost: Vec<&String> = acked.difference(&kept).collect();
    assert!(lost.is_empty(), "acknowledged but lost: {lost:?}");
    assert!(acked.len() >= 300 && kept.len() >= acked.len());
}

/// A state made by the real binary: one user on the default service and one on `second`.
fn made_state(path: &Path, second: &str) {
    let server = Server::start(&state_args(path, &["--service", second]));
    let rt = runtime();
    let http = convcheck::client::http_builder().build().unwrap();
    let base = server.base();
    rt.block_on(async {
        assert_eq!(create(&http, &base, "one").await.0, 201);
        let (status, _) = send(
            &http,
            reqwest::Method::POST,
            format!("{base}/v1/Services/{second}/Users"),
            "Identity=two",
        )
        .await
        .unwrap();
        assert_eq!(status, 201);
    });
    assert!(server.stop().success());
}

#[test]
fn a_file_that_is_not_sqlite_is_refused() {
    let dir = TempDir::new("garbage");
    let path = dir.join("state.db");
    std::fs::write(&path, b"\x00\x01 certainly not a database \xff\xfe").unwrap();
    assert_refused(&path, &[], "not an SQLite database");
}

#[test]
fn the_old_json_state_is_refused_with_what_to_do() {
    let dir = TempDir::new("legacy");
    let path = dir.join("state.json");
    let legacy = serde_json::json!({
        "version": 1,
        "next_seq": 1,
        "services": {
            emulator::DEFAULT_SERVICE_SID: [{
                "seq": 1,
                "sid": "US00000000000000000000000000000001",
                "service_sid": emulator::DEFAULT_SERVICE_SID,
                "role_sid": "RL00000000000000000000000000000011",
                "identity": "old",
                "friendly_name": null,
                "attributes": null,
                "online": null,
                "notifiable": null,
                "date_created": 1,
                "date_updated": 1
            }]
        }
    });
    std::fs::write(&path, serde_json::to_vec_pretty(&legacy).unwrap()).unwrap();
    assert_refused(&path, &[], "JSON format");
    assert_refused(&path, &[], "move it aside");
}

#[test]
fn another_schema_version_is_refused() {
    let dir = TempDir::new("version");
    let path = dir.join("state.db");
    made_state(&path, S2);
    rusqlite::Connection::open(&path)
        .unwrap()
        .pragma_update(None, "user_version", 2)
        .unwrap();
    assert_refused(&path, &[], "schema version 2");
}

#[test]
fn another_applications_database_is_refused() {
    let dir = TempDir::new("foreign");
    let path = dir.join("state.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch("CREATE TABLE notes (body TEXT); INSERT INTO notes VALUES ('hi');")
        .unwrap();
    assert_refused(&path, &[], "another application");
}

/// A file with convcheck's id and version whose `users` table lacks the constraints, so it can
/// hold what a real state never does.
fn crafted(path: &Path, rows: &[(i64, &str, &str)]) {
    let db = rusqlite::Connection::open(path).unwrap();
    db.execute_batch(&format!(
        "PRAGMA application_id = {}; PRAGMA user_version = {};
         CREATE TABLE users (seq INTEGER, service_key TEXT, sid TEXT, service_sid TEXT,
             role_sid TEXT, identity TEXT, friendly_name TEXT, attributes TEXT, online INTEGER,
             notifiable INTEGER, date_created INTEGER, date_updated INTEGER);",
        emulator::store::APPLICATION_ID,
        emulator::store::SCHEMA_VERSION
    ))
    .unwrap();
    for (seq, sid, identity) in rows {
        db.execute(
            "INSERT INTO users VALUES (?1, ?2, ?3, ?2, 'RL00000000000000000000000000000011', \
             ?4, NULL, NULL, NULL, NULL, 1, 1)",
            rusqlite::params![seq, emulator::DEFAULT_SERVICE_SID, sid, identity],
        )
        .unwrap();
    }
}

#[test]
fn a_sequence_number_used_twice_is_refused() {
    let dir = TempDir::new("dupseq");
    let path = dir.join("state.db");
    crafted(
        &path,
        &[
            (1, "US00000000000000000000000000000001", "a"),
            (1, "US00000000000000000000000000000002", "b"),
        ],
    );
    assert_refused(&path, &[], "sequence number 1 is used twice");
}

#[test]
fn a_sid_used_twice_is_refused() {
    let dir = TempDir::new("dupsid");
    let path = dir.join("state.db");
    crafted(
        &path,
        &[
            (1, "US00000000000000000000000000000001", "a"),
            (2, "US00000000000000000000000000000001", "b"),
        ],
    );
    assert_refused(
        &path,
        &[],
        "user sid `US00000000000000000000000000000001` is used twice",
    );
}

#[test]
fn a_user_of_a_service_not_configured_is_refused() {
    let dir = TempDir::new("service");
    let path = dir.join("state.db");
    let other = "IS00000000000000000000000000000009";
    made_state(&path, other);
    // Restarted with the default services, the user of `other` has nowhere to be.
    assert_refused(
        &path,
        &[],
        &format!("service `{other}`, which is not configured"),
    );
    // With the same services the file is taken.
    let server = Server::start(&state_args(&path, &["--service", other]));
    assert!(server.stop().success());
}

// ---- point 10: connection bounds ----

/// Reads one HTTP/1.1 answer (head and `content-length` body) from `stream`.
fn read_answer(stream: &mut TcpStream) -> (String, String) {
    let mut bytes = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(end) = bytes.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&bytes[..end]).to_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .map_or(0, |v| v.trim().parse().unwrap());
            if bytes.len() >= end + 4 + len {
                let body = String::from_utf8_lossy(&bytes[end + 4..end + 4 + len]).into_owned();
                return (head, body);
            }
        }
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "closed before a whole answer: {bytes:?}");
        bytes.extend_from_slice(&buf[..n]);
    }
}

/// How long until the server closes `stream` (EOF or reset); `None` if it is still open
/// after `within`.
fn closed_after(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let start = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return Some(start.elapsed()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return None;
            }
            Err(_) => return Some(start.elapsed()),
        }
    }
}

fn get_request(addr: &str) -> String {
    let auth = base64::Engine::encode(
        &base64::engine::general_purpose::STANDARD,
        format!(
            "{}:{}",
            emulator::DEFAULT_ACCOUNT_SID,
            emulator::DEFAULT_AUTH_TOKEN
        ),
    );
    format!("GET /v1/Users HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\r\n")
}

#[test]
fn a_half_sent_request_is_closed_after_the_header_timeout_and_idle_after_the_idle_timeout() {
    let server = Server::start(&[
        "--header-timeout-ms".into(),
        "400".into(),
        "--idle-timeout-ms".into(),
        "1500".into(),
    ]);
    // Half a request head: closed once the header timeout has passed.
    let mut half = TcpStream::connect(&server.addr).unwrap();
    half.write_all(b"POST /v1/Users HTTP/1.1\r\nHost: x\r\nContent-Le")
        .unwrap();
    let closed = closed_after(&mut half, Duration::from_secs(10)).expect("half request kept");
    assert!(closed >= Duration::from_millis(300), "{closed:?}");

    // A connection that says nothing at all is a half-sent request too.
    let mut silent = TcpStream::connect(&server.addr).unwrap();
    assert!(closed_after(&mut silent, Duration::from_secs(10)).is_some());

    // A keep-alive connection that was answered may idle longer than the header timeout,
    // then it is closed as well.
    let mut kept = TcpStream::connect(&server.addr).unwrap();
    kept.write_all(get_request(&server.addr).as_bytes())
        .unwrap();
    let (head, _) = read_answer(&mut kept);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    assert_eq!(closed_after(&mut kept, Duration::from_millis(800)), None);
    kept.write_all(get_request(&server.addr).as_bytes())
        .unwrap();
    let (head, _) = read_answer(&mut kept);
    assert!(head.starts_with("http/1.1 200"), "{head}");
    let idle = closed_after(&mut kept, Duration::from_secs(10)).expect("idle connection kept");
    assert!(idle >= Duration::from_millis(1000), "{idle:?}");
}

#[test]
fn past_the_connection_cap_a_connection_is_told_so_and_service_resumes() {
    let server = Server::start(&[
        "--max-connections".into(),
        "3".into(),
        "--header-timeout-ms".into(),
        "20000".into(),
    ]);
    let held: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(&server.addr).unwrap();
            s.write_all(b"GET /v1/Users HTTP/1.1\r\n").unwrap();
            s
        })
        .collect();
    // Until the accept loop has taken all three, a fourth connection may still be served.
    let deadline = Instant::now() + Duration::from_secs(10);
    let (mut extra, head, body) = loop {
        let mut extra = TcpStream::connect(&server.addr).unwrap();
        extra
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        extra
            .write_all(get_request(&server.addr).as_bytes())
            .unwrap();
        let (head, body) = read_answer(&mut extra);
        if !head.starts_with("http/1.1 200") || Instant::now() > deadline {
            break (extra, head, body);
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(head.starts_with("http/1.1 503"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_twilio_error(&body, 503);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("`3` connections"),
        "{body}"
    );
    assert!(closed_after(&mut extra, Duration::from_secs(5)).is_some());

    drop(held);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut s = TcpStream::connect(&server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(get_request(&server.addr).as_bytes()).unwrap();
        let (head, _) = read_answer(&mut s);
        if head.starts_with("http/1.1 200") {
            break;
        }
        assert!(Instant::now() < deadline, "service did not resume: {head}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_an_open_request_finish() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let running = emulator::spawn(emulator::Config {
        latency: Duration::from_millis(1500),
        ..emulator::Config::default()
    })
    .await
    .unwrap();
    let addr = running.addr().to_string();
    // The whole request is sent before shutdown starts; the latency keeps it open meanwhile.
    let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
    stream
        .write_all(get_request(&addr).as_bytes())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    running.shutdown().await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
