//! The recipient's page of a one-time share in a real browser: headless Chromium driven by
//! Selenium (`tests/browser/share_page.py`, from the client venv `scripts/test.sh` makes), against
//! the real server. Also the page's headers, checked without a browser.

use crate::support::*;
use serde_json::json;
use std::path::PathBuf;
use std::process::Command;

/// Fails in one line when the browser or its driver is missing: this test never skips.
fn require_browser() -> PathBuf {
    let missing: Vec<&str> = [
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
    ]
    .into_iter()
    .filter(|(path, _)| !std::path::Path::new(path).exists())
    .map(|(_, package)| package)
    .collect();
    assert!(
        missing.is_empty(),
        "the share page test needs {}: run scripts/test.sh, or apt-get install -y chromium chromium-driver",
        missing.join(" and ")
    );
    let python = client_python();
    assert!(
        python.exists(),
        "the share page test needs Selenium in {}: run scripts/test.sh, which creates it",
        python.display()
    );
    python
}

// The child process calls this process's server: the server needs a runtime thread of
// its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_opens_a_share_once_then_sees_it_gone() -> TestResult {
    let python = require_browser();
    let s = TestServer::start().await?;
    let group = s.group("team").await?;
    let value = "a value <b>not markup</b> & \"quotes\"";
    let created = s
        .post(
            "/v1/shares",
            &s.owner_key,
            json!({"group": group, "value": value, "expires_in_seconds": 600}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/browser/share_page.py");
    let (id, passphrase) = (created.str("id"), created.str("passphrase"));
    let out = Command::new(&python)
        .arg(&script)
        .args([
            "--url",
            &s.url,
            "--id",
            &id,
            "--passphrase",
            &passphrase,
            "--value",
            value,
        ])
        .output()?;
    let said = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last_error = stderr.lines().rev().find(|l| !l.trim().is_empty());
    assert!(
        out.status.success(),
        "{said}{}",
        last_error.unwrap_or_default()
    );
    let again = s
        .call(
            reqwest::Method::POST,
            &format!("/v1/shares/{id}/open"),
            None,
            Some(json!({"passphrase": passphrase})),
        )
        .await?;
    assert_eq!(again.status, 404);
    Ok(())
}

#[tokio::test]
async fn the_page_is_never_cached_framed_or_referred_and_runs_only_its_own_script() -> TestResult {
    let s = TestServer::start().await?;
    let page = s
        .anonymous(reqwest::Method::GET, "/s/shr_000000000000000000000000")
        .await?;
    assert_eq!(page.status, 200);
    let header = |name: &str| {
        page.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    assert!(header("content-type").starts_with("text/html"));
    assert_eq!(header("cache-control"), "no-store");
    assert_eq!(header("referrer-policy"), "no-referrer");
    let policy = header("content-security-policy");
    assert!(
        policy.starts_with("default-src 'none'; script-src 'sha256-"),
        "{policy}"
    );
    assert!(
        policy.contains("frame-ancestors 'none'") && !policy.contains("unsafe"),
        "{policy}"
    );
    let html = page.body.as_str().unwrap_or_default();
    assert!(
        html.contains("<form id=\"open\" hidden>"),
        "an unknown share shows no form"
    );
    Ok(())
}
