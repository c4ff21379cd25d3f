//! The listener under abuse, from real clients over TLS: slow headers from a thousand
//! connections, idle HTTP/2 connections, oversized and slow bodies (curl over HTTP/1.1 and
//! HTTP/2, and hand-written requests), and errors from every layer in the JSON shape.

use crate::support::*;
use coffer::http::listener::ListenerSettings;
use reqwest::Method;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

async fn server_with(listener: ListenerSettings) -> anyhow::Result<TestServer> {
    TestServer::start_with(move |config| config.listener = listener).await
}

fn tight_limits() -> ListenerSettings {
    ListenerSettings {
        handshake_timeout: Duration::from_secs(2),
        header_read_timeout: Duration::from_secs(2),
        body_read_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        max_connections_per_source: 50,
        max_connections: 8_192,
    }
}

/// A TLS connection to the test server from `source`, offering `alpn`.
async fn tls_connect(
    s: &TestServer,
    source: &str,
    alpn: &[&[u8]],
) -> anyhow::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    for cert in CertificateDer::pem_file_iter(s.ca_cert())? {
        roots.add(cert?)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind(format!("{source}:0").parse()?)?;
    let tcp = socket
        .connect(s.running.as_ref().expect("running").local_addr)
        .await?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    Ok(connector
        .connect(rustls::pki_types::ServerName::try_from("localhost")?, tcp)
        .await?)
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(stream: &mut TlsStream<TcpStream>) -> String {
    let mut received = Vec::new();
    let _ = stream.read_to_end(&mut received).await;
    String::from_utf8_lossy(&received).into_owned()
}

fn client_from(s: &TestServer, source: &str) -> anyhow::Result<reqwest::Client> {
    let pem = std::fs::read(s.ca_cert())?;
    Ok(reqwest::Client::builder()
        .use_rustls_tls()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&pem)?)
        .local_address(source.parse::<std::net::IpAddr>()?)
        .timeout(Duration::from_secs(5))
        .build()?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_slow_clients_cannot_lock_anyone_else_out() -> TestResult {
    let s = server_with(tight_limits()).await?;

    // A thousand connections from one address, each sending one header byte every 500 ms.
    let started = Instant::now();
    let mut dribblers = Vec::new();
    for _ in 0..1_000 {
        let Ok(mut stream) = tls_connect(&s, "127.0.0.1", &[b"http/1.1"]).await else {
            continue; // refused at accept: over the per-source cap
        };
        dribblers.push(tokio::spawn(async move {
            let opened = Instant::now();
            for byte in b"GET /v1/health HTTP/1.1\r\nHost: x\r\n" {
                if stream.write_all(&[*byte]).await.is_err() {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            let _ = read_to_close(&mut stream).await;
            opened.elapsed()
        }));
    }
    assert!(
        dribblers.len() <= 50,
        "{} slow connections admitted from one address; the cap is 50",
        dribblers.len()
    );

    // Someone else is served at once while the flood goes on.
    let other = client_from(&s, "127.0.0.2")?;
    let asked = Instant::now();
    let health = other.get(format!("{}/v1/health", s.url)).send().await?;
    assert_eq!(health.status(), 200);
    assert!(asked.elapsed() < Duration::from_secs(2));

    // Every slow connection is closed by the header timeout (2 s), long before it could
    // finish its request line at this pace (18 s).
    for dribbler in dribblers {
        let lasted = dribbler.await?;
        assert!(
            lasted < Duration::from_secs(6),
            "a slow client was kept for {lasted:?}"
        );
    }
    // And the address that flooded gets its share back.
    let again = client_from(&s, "127.0.0.1")?;
    assert_eq!(
        again
            .get(format!("{}/v1/health", s.url))
            .send()
            .await?
            .status(),
        200
    );
    let metrics = s
        .anonymous(Method::GET, "/metrics")
        .await?
        .body
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let refused = metrics
        .lines()
        .find_map(|l| l.strip_prefix("coffer_connections_refused_total "))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    assert!(refused >= 900, "refused connections counted: {refused}");
    assert!(started.elapsed() < Duration::from_secs(60));
    Ok(())
}

#[tokio::test]
async fn an_idle_http2_connection_is_closed() -> TestResult {
    let s = server_with(tight_limits()).await?;
    let mut stream = tls_connect(&s, "127.0.0.1", &[b"h2"]).await?;
    // The HTTP/2 preface and an empty SETTINGS frame, then nothing.
    stream
        .write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .await?;
    let opened = Instant::now();
    let closed = tokio::time::timeout(Duration::from_secs(10), read_to_close(&mut stream)).await;
    assert!(closed.is_ok(), "an idle HTTP/2 connection stayed open");
    let lasted = opened.elapsed();
    assert!(
        lasted >= Duration::from_millis(1_500) && lasted < Duration::from_secs(5),
        "closed after {lasted:?}, the idle timeout is 2 s"
    );
    Ok(())
}

#[tokio::test]
async fn the_open_file_limit_is_raised_at_start() -> TestResult {
    // Start from the usual default soft limit of 1,024.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain calls on a struct owned by this frame.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit), 0);
        let lowered = libc::rlimit {
            rlim_cur: 1_024.min(limit.rlim_max),
            rlim_max: limit.rlim_max,
        };
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lowered), 0);
    }
    let _s = TestServer::start().await?;
    let mut now = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above.
    unsafe { assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut now), 0) };
    assert_eq!(
        now.rlim_cur, now.rlim_max,
        "the soft limit is raised to the hard one"
    );
    Ok(())
}

/// Runs curl against the server; returns (HTTP status, body, curl's exit status).
async fn curl(s: &TestServer, args: &[&str], stdin: Vec<u8>) -> anyhow::Result<(u16, String, i32)> {
    let mut child = tokio::process::Command::new("curl")
        .args(["--silent", "--show-error", "--max-time", "20", "--cacert"])
        .arg(s.ca_cert())
        .args(["--write-out", "\n%{http_code}"])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()?;
    let mut input = child.stdin.take().expect("piped");
    let feeder = tokio::spawn(async move {
        let _ = input.write_all(&stdin).await;
    });
    let out = child.wait_with_output().await?;
    let _ = feeder.await;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", "0"));
    if !out.status.success() {
        eprintln!("curl: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok((
        status.trim().parse().unwrap_or(0),
        body.to_owned(),
        out.status.code().unwrap_or(-1),
    ))
}

fn assert_json_error(body: &str, code: &str) -> TestResult {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| anyhow::anyhow!("not JSON ({e}): {body:?}"))?;
    assert_eq!(value["error"]["code"], code, "{body}");
    assert!(value["error"]["request_id"].is_string(), "{body}");
    Ok(())
}

#[tokio::test]
async fn an_oversized_body_is_a_prompt_413_over_http1_and_http2() -> TestResult {
    let s = TestServer::start().await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let auth = format!("Authorization: Bearer {key}");
    let url = format!("{}/v1/keyrings/ring/encrypt", s.url);
    let body = vec![b'a'; 2 << 20];
    let json_post = ["-H", auth.as_str(), "-H", "content-type: application/json"];
    let announced = ["--data-binary", "@-", url.as_str()];
    let chunked = [
        "-H",
        "Transfer-Encoding: chunked",
        "-X",
        "POST",
        "-T",
        "-",
        url.as_str(),
    ];
    for protocol in ["--http1.1", "--http2"] {
        // With its length announced (curl's default for a file).
        let args = [&[protocol][..], &json_post, &announced].concat();
        let (status, reply, exit) = curl(&s, &args, body.clone()).await?;
        assert_eq!((status, exit), (413, 0), "{protocol}: {reply}");
        assert_json_error(&reply, "payload_too_large")?;
        // Streamed without a length (chunked over HTTP/1.1, plain DATA frames over HTTP/2).
        let args = [&[protocol][..], &json_post, &chunked].concat();
        let (status, reply, exit) = curl(&s, &args, body.clone()).await?;
        assert_eq!((status, exit), (413, 0), "{protocol}, streamed: {reply}");
        assert_json_error(&reply, "payload_too_large")?;
    }

    // A length announced in the header is refused from the header alone.
    let mut stream = tls_connect(&s, "127.0.0.1", &[b"http/1.1"]).await?;
    let head = format!(
        "POST /v1/keyrings/ring/encrypt HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        2 << 20
    );
    stream.write_all(head.as_bytes()).await?;
    let mut answer = vec![0u8; 4096];
    let read = tokio::time::timeout(Duration::from_secs(2), stream.read(&mut answer)).await;
    let answer = match read {
        Ok(Ok(n)) => String::from_utf8_lossy(&answer[..n]).into_owned(),
        _ => String::new(),
    };
    assert!(
        answer.starts_with("HTTP/1.1 413"),
        "no prompt 413 for an announced 2 MiB body: {answer:?}"
    );
    Ok(())
}

#[tokio::test]
async fn a_body_that_arrives_too_slowly_is_a_408() -> TestResult {
    let s = server_with(tight_limits()).await?;
    let key = s.ready_keyring("ring", "envelope").await?;
    let mut stream = tls_connect(&s, "127.0.0.1", &[b"http/1.1"]).await?;
    let head = format!(
        "POST /v1/keyrings/ring/encrypt HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"plaintext\""
    );
    stream.write_all(head.as_bytes()).await?;
    let started = Instant::now();
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut answer)).await??;
    let answer = String::from_utf8_lossy(&answer[..n]).into_owned();
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    assert!(answer.contains("\"request_timeout\""), "{answer:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
    Ok(())
}

#[tokio::test]
async fn errors_from_every_layer_have_the_json_shape() -> TestResult {
    let s = TestServer::start().await?;
    for (path, status, code) in [
        // A path parameter that is not UTF-8 (axum's extractor rejects it).
        ("/v1/auth/apikey/%ff%fe", 400, "invalid_input"),
        // A query value of the wrong type.
        ("/v1/activity?limit=many", 400, "invalid_input"),
        ("/v1/no-such-route", 404, "not_found"),
    ] {
        let reply = s
            .client
            .get(format!("{}{path}", s.url))
            .bearer_auth(&s.owner_key)
            .send()
            .await?;
        assert_eq!(reply.status().as_u16(), status, "{path}");
        let content_type = reply
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "application/json", "{path}");
        let body = reply.text().await?;
        assert_json_error(&body, code)?;
    }
    Ok(())
}
