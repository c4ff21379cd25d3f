//! The README's machine-side Python example, run as the README shows it: a machine with a
//! grant reads a secret over signed requests, with Python's standard library and
//! `cryptography` (which scripts/test.sh installs).

use crate::support::{TestResult, TestServer};
use reqwest::Method;
use serde_json::json;

/// The first ```python block after the README's "A machine reads a secret".
fn readme_example() -> anyhow::Result<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))?;
    let section = readme
        .find("**A machine reads a secret**")
        .ok_or_else(|| anyhow::anyhow!("the README has no machine example"))?;
    let rest = &readme[section..];
    let start = rest
        .find("```python\n")
        .ok_or_else(|| anyhow::anyhow!("no python block"))?
        + "```python\n".len();
    let end = rest[start..]
        .find("```")
        .ok_or_else(|| anyhow::anyhow!("an unclosed python block"))?;
    Ok(rest[start..start + end].to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_python_example_reads_a_secret_as_a_machine() -> TestResult {
    let s = TestServer::start().await?;
    let group = s.group("G").await?;
    let machine = s
        .approved_machine(&[&group], json!({"secret.*.read": true}))
        .await?;
    let created = s
        .owner_post(
            "/v1/secrets",
            json!({"name": "db-url", "group": group, "value": "postgres://app:pw@db/app"}),
        )
        .await?;
    assert_eq!(created.status, 201, "{}", created.body);
    let grant = format!("/v1/secrets/db-url/grants/{}", machine.id);
    let granted = s
        .call(Method::PUT, &grant, Some(&s.owner_key), None)
        .await?;
    assert_eq!(granted.status, 204, "{}", granted.body);
    let identity = crate::machine_support::write_identity(&s, &machine, "readme").await?;

    let script = s.dir.path().join("readme_example.py");
    std::fs::write(&script, readme_example()?)?;
    let out = tokio::process::Command::new("python3")
        .arg(&script)
        .env("COFFER_MACHINE_IDENTITY", &identity)
        .env("COFFER_URL", &s.url)
        .env("COFFER_CA_CERT", s.ca_cert())
        .output()
        .await?;
    assert!(
        out.status.success(),
        "the README example failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        "postgres://app:pw@db/app"
    );
    Ok(())
}
