//! The release `bootstrap` as Lambda runs it: a process that asks a Runtime API for events.
//!
//! The step timings above run the library in the bench's own process; what a user pays for the
//! binary itself is measured here. This module is a small Runtime API on loopback (the three
//! calls the runtime makes: the next invocation, its response, its error), starts the binary
//! against it, and drives one whole rotation of a real secret through it. It reports:
//!
//! - **cold start**: from the process's start to its first request for an invocation, which is
//!   when Lambda's init phase ends (the binary has read its settings and built its clients);
//! - **peak RSS**: the kernel's high-water mark of the process's resident memory
//!   (`VmHWM` in `/proc/PID/status`) after the rotation, so it includes the TLS handshakes, the
//!   database login and the Secrets Manager calls;
//! - the binary's size.
//!
//! Each figure is the median of a few fresh processes, since one start is noisy.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use std::sync::Arc;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Mutex, mpsc};

use crate::common::{Harness, Kind, unique};

/// The function ARN the events carry: the one the test harness's RotateSecret records.
const FUNCTION_ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:not-deployed";

/// What one process cost.
#[derive(Debug, Clone, Copy)]
pub struct ProcessSample {
    pub cold_start: Duration,
    pub peak_rss_kib: u64,
    /// After the rotation: resident pages of files (the binary's code and data) and anonymous
    /// ones (heap and stacks), in KiB: where the peak comes from.
    pub rss_file_kib: u64,
    pub rss_anon_kib: u64,
    pub rotation: Duration,
}

/// A request the runtime made, as the Runtime API saw it.
enum Request {
    /// `GET .../invocation/next`: answered with the next event from the channel.
    Next,
    /// `POST .../invocation/ID/response` or `/error`, with its body.
    Done { error: bool, body: String },
}

/// Runs one fresh process through one rotation of `arn` (the secret of a user of `kind`).
pub async fn sample(binary: &Path, h: &Harness, arn: &str) -> ProcessSample {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().unwrap();
    let (events_tx, events_rx) = mpsc::unbounded_channel::<Value>();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(Request, Instant)>();
    let events_rx = Arc::new(Mutex::new(events_rx));
    let server = tokio::spawn(async move {
        // A task per connection: the runtime's HTTP client may open a new one at any request.
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(serve(stream, events_rx.clone(), seen_tx.clone()));
        }
    });

    let token = h.start_rotation(arn).await;
    let started = Instant::now();
    let child = KillOnDrop(
        std::process::Command::new(binary)
            .env_clear()
            .envs(function_environment(address.to_string()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display())),
    );
    let pid = child.0.id();

    let mut cold_start = None;
    let mut rotation_started = None;
    for step in ["createSecret", "setSecret", "testSecret", "finishSecret"] {
        let (request, at) = seen_rx.recv().await.expect("the runtime asks for an event");
        assert!(
            matches!(request, Request::Next),
            "expected a request for the next event"
        );
        cold_start.get_or_insert(at - started);
        rotation_started.get_or_insert_with(Instant::now);
        events_tx
            .send(json!({"SecretId": arn, "ClientRequestToken": token, "Step": step}))
            .unwrap();
        let (request, _) = seen_rx.recv().await.expect("the runtime answers");
        match request {
            Request::Done { error: false, .. } => {}
            Request::Done { error: true, body } => panic!("{step} failed in the process: {body}"),
            Request::Next => panic!("{step}: the runtime asked again before answering"),
        }
    }
    let rotation = rotation_started.unwrap().elapsed();
    // The process waits for its next event now: its high-water mark covers the whole rotation.
    let _ = seen_rx.recv().await;
    let peak_rss_kib = status_kib(pid, "VmHWM").expect("VmHWM of the process");
    let rss_file_kib = status_kib(pid, "RssFile").unwrap_or(0);
    let rss_anon_kib = status_kib(pid, "RssAnon").unwrap_or(0);
    drop(child);
    server.abort();
    h.end_rotation(arn, &token).await;
    ProcessSample {
        cold_start: cold_start.unwrap(),
        peak_rss_kib,
        rss_file_kib,
        rss_anon_kib,
        rotation,
    }
}

/// A user of `kind` with a secret, for [`sample`].
pub async fn secret(h: &Harness, kind: Kind) -> String {
    let user = unique("proc");
    kind.create_user(&user, "initial-Pa55").await;
    h.create_secret(&kind.secret(&user, "initial-Pa55")).await
}

/// The environment Lambda gives the function, and the stack's variables as the tests set them.
fn function_environment(runtime_api: String) -> Vec<(String, String)> {
    let mut env = vec![
        ("AWS_LAMBDA_RUNTIME_API".to_owned(), runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), "not-deployed".into()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), "256".into()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), "$LATEST".into()),
        ("AWS_LAMBDA_LOG_STREAM_NAME".into(), "bench".into()),
        ("AWS_LAMBDA_LOG_GROUP_NAME".into(), "bench".into()),
        ("ROTATION_SETTINGS".into(), "from-secrets".into()),
        ("DB_TLS".into(), "verify-full".into()),
        ("RUST_LOG".into(), "info".into()),
    ];
    for (from, to) in [
        ("ROTATION_TEST_SM_ENDPOINT", "SECRETS_MANAGER_ENDPOINT"),
        ("ROTATION_TEST_CA", "DB_CA_BUNDLE"),
        ("AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
        ("AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
        ("AWS_REGION", "AWS_REGION"),
        ("AWS_EC2_METADATA_DISABLED", "AWS_EC2_METADATA_DISABLED"),
    ] {
        if let Ok(value) = std::env::var(from) {
            env.push((to.to_owned(), value));
        }
    }
    env
}

/// Serves the requests of one connection until it closes.
async fn serve(
    stream: TcpStream,
    events: Arc<Mutex<mpsc::UnboundedReceiver<Value>>>,
    seen: mpsc::UnboundedSender<(Request, Instant)>,
) -> std::io::Result<()> {
    let mut stream = BufReader::new(stream);
    loop {
        let mut line = String::new();
        if stream.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let (method, path) = (
            parts.next().unwrap_or("").to_owned(),
            parts.next().unwrap_or("").to_owned(),
        );
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            stream.read_line(&mut header).await?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        stream.read_exact(&mut body).await?;
        let at = Instant::now();
        if method == "GET" && path.ends_with("/invocation/next") {
            let _ = seen.send((Request::Next, at));
            let Some(event) = events.lock().await.recv().await else {
                return Ok(());
            };
            let body = event.to_string();
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 60_000;
            let head = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n\
                 lambda-runtime-aws-request-id: {}\r\nlambda-runtime-deadline-ms: {deadline}\r\n\
                 lambda-runtime-invoked-function-arn: {FUNCTION_ARN}\r\n\
                 lambda-runtime-trace-id: Root=1-00000000-000000000000000000000000\r\n\
                 content-length: {}\r\n\r\n",
                unique("request"),
                body.len()
            );
            stream.get_mut().write_all(head.as_bytes()).await?;
            stream.get_mut().write_all(body.as_bytes()).await?;
        } else {
            let error = path.ends_with("/error");
            let _ = seen.send((
                Request::Done {
                    error,
                    body: String::from_utf8_lossy(&body).into_owned(),
                },
                at,
            ));
            stream
                .get_mut()
                .write_all(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
                .await?;
        }
    }
}

/// A figure of `/proc/PID/status` in KiB, such as the peak resident set (`VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The function's process, stopped however the sample ends (a failed step panics).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
