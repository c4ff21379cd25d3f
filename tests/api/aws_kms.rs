//! The AWS KMS face driven by the real AWS clients, unmodified: boto3 over every operation
//! and its errors, hand-signed bad requests, the AWS CLI, the AWS Encryption SDK and sops
//! (all from the client venv `scripts/test.sh` makes; the programs live in `tests/aws/`).
//! Plus what only Coffer can tell: AWS and native ciphertexts are one format, and AWS calls
//! are audited under the access key with the AWS operation's name.

use crate::aws_support::*;
use crate::keyring_support::{decrypt, encrypt};
use crate::support::*;
use reqwest::Method;
use serde_json::{Value, json};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn boto3_covers_every_operation_and_its_errors() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "boto").await?;
    let limited = json!({"keyring.*.encrypt": true});
    let narrow = aws_credential(&s, &aws.app, &aws.group, limited).await?;
    let extra = [
        ("COFFER_GROUP", aws.group.as_str()),
        ("COFFER_LIMITED_ACCESS_KEY_ID", narrow.id.as_str()),
        ("COFFER_LIMITED_SECRET_ACCESS_KEY", narrow.secret.as_str()),
    ];
    let run = run_script(&s, &aws.credential, "boto3_ops.py", &extra).await?;
    run.ensure_ok("boto3_ops.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_get_aws_errors() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "raw").await?;
    let run = run_script(&s, &aws.credential, "raw_requests.py", &[]).await?;
    run.ensure_ok("raw_requests.py")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encryption_sdk_round_trip() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "esdk").await?;
    let run = run_script(&s, &aws.credential, "encryption_sdk.py", &[]).await?;
    run.ensure_ok("encryption_sdk.py")
}

/// Runs `aws kms <args>` (AWS CLI from the venv, endpoint and CA given on the command line
/// as a CLI user would); returns stdout, failing with the CLI's stderr.
async fn aws_cli(s: &TestServer, aws: &AwsApp, args: &[&str]) -> anyhow::Result<String> {
    let ca = s.ca_cert().display().to_string();
    let mut full = vec![
        "--endpoint-url",
        &s.url,
        "--ca-bundle",
        &ca,
        "--region",
        REGION,
    ];
    full.extend(["--output", "text", "kms"]);
    full.extend(args);
    let cwd = s.dir.path().to_owned();
    let run = run_client(s, &aws.credential, &venv_bin("aws"), &full, &[], &cwd).await?;
    run.ensure_ok(&format!("aws kms {}", args.first().unwrap_or(&"")))?;
    Ok(run.stdout.trim().to_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_cli_round_trips() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "cli").await?;
    let ring = s.keyring("cli-ring", &aws.group, json!({})).await?;
    let key = ring.str("id");
    let plain = s.dir.path().join("plain.bin");
    std::fs::write(&plain, b"from the aws cli")?;
    let listed = aws_cli(&s, &aws, &["list-keys", "--query", "Keys[].KeyId"]).await?;
    assert!(listed.split_whitespace().any(|k| k == key), "{listed}");
    let plain_arg = format!("fileb://{}", plain.display());
    let blob = aws_cli(
        &s,
        &aws,
        &[
            "encrypt",
            "--key-id",
            &key,
            "--plaintext",
            &plain_arg,
            "--encryption-context",
            "purpose=cli",
            "--query",
            "CiphertextBlob",
        ],
    )
    .await?;
    let blob_file = s.dir.path().join("blob.bin");
    std::fs::write(&blob_file, unb64(&blob))?;
    let blob_arg = format!("fileb://{}", blob_file.display());
    let back = aws_cli(
        &s,
        &aws,
        &[
            "decrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--encryption-context",
            "purpose=cli",
            "--query",
            "Plaintext",
        ],
    )
    .await?;
    assert_eq!(unb64(&back), b"from the aws cli");
    // The CLI's blob is the native ciphertext text.
    let text = String::from_utf8(unb64(&blob))?;
    let native = decrypt(
        &s,
        &aws.api_key,
        "cli-ring",
        &text,
        json!({"purpose": "cli"}),
    )
    .await?;
    assert_eq!(native.status, 200, "{}", native.body);
    assert_eq!(unb64(&native.str("plaintext")), b"from the aws cli");
    let data_key = aws_cli(
        &s,
        &aws,
        &[
            "generate-data-key",
            "--key-id",
            &key,
            "--key-spec",
            "AES_256",
            "--query",
            "[Plaintext,CiphertextBlob]",
        ],
    )
    .await?;
    let [dk_plain, dk_blob] = data_key.split_whitespace().collect::<Vec<_>>()[..] else {
        anyhow::bail!("generate-data-key printed {data_key}");
    };
    assert_eq!(unb64(dk_plain).len(), 32);
    std::fs::write(&blob_file, unb64(dk_blob))?;
    let dk_back = aws_cli(
        &s,
        &aws,
        &[
            "decrypt",
            "--ciphertext-blob",
            &blob_arg,
            "--query",
            "Plaintext",
        ],
    )
    .await?;
    assert_eq!(dk_back, dk_plain, "the data key decrypted to another key");
    Ok(())
}

const YAML: &str =
    "database:\n  user: app\n  password: SOPS-CANARY-5f2a9c\napi_token: SOPS-TOKEN-81be\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sops_encrypts_and_decrypts_a_yaml_file() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "sops").await?;
    let ring = s.keyring("sops-ring", &aws.group, json!({})).await?;
    let arn = aws_cli(
        &s,
        &aws,
        &[
            "describe-key",
            "--key-id",
            &ring.str("id"),
            "--query",
            "KeyMetadata.Arn",
        ],
    )
    .await?;
    let work = s.dir.path().join("sops");
    std::fs::create_dir_all(&work)?;
    std::fs::write(work.join("secrets.yaml"), YAML)?;
    let sops = venv_bin("sops");
    let encrypt_args = ["--encrypt", "--kms", arn.as_str(), "secrets.yaml"];
    let sealed = run_client(&s, &aws.credential, &sops, &encrypt_args, &[], &work).await?;
    sealed.ensure_ok("sops --encrypt")?;
    assert!(!sealed.stdout.contains("SOPS-CANARY") && !sealed.stdout.contains("SOPS-TOKEN"));
    assert!(
        sealed.stdout.contains(&arn),
        "sops did not record the key: {}",
        sealed.stdout
    );
    std::fs::write(work.join("sealed.yaml"), &sealed.stdout)?;
    let decrypt_args = ["--decrypt", "sealed.yaml"];
    let opened = run_client(&s, &aws.credential, &sops, &decrypt_args, &[], &work).await?;
    opened.ensure_ok("sops --decrypt")?;
    assert_eq!(
        yaml_lines(&opened.stdout),
        yaml_lines(YAML),
        "{}",
        opened.stdout
    );
    Ok(())
}

/// The document's `key: value` lines without indentation: sops re-indents what it writes,
/// and this document has no two keys of one name.
fn yaml_lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_and_native_ciphertexts_interoperate() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "interop").await?;
    let ring = s.keyring("interop-ring", &aws.group, json!({})).await?;
    let context = json!({"tenant": "acme", "purpose": "interop"});
    let plaintext = "native and aws, one format";
    let native = encrypt(
        &s,
        &aws.api_key,
        "interop-ring",
        plaintext.as_bytes(),
        context.clone(),
    )
    .await?;
    assert_eq!(native.status, 200, "{}", native.body);
    let context_text = context.to_string();
    let extra = [
        ("COFFER_KEY_ID", ring.str("id")),
        ("COFFER_NATIVE_CIPHERTEXT", native.str("ciphertext")),
        ("COFFER_CONTEXT", context_text),
        ("COFFER_PLAINTEXT", plaintext.to_owned()),
    ];
    let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let run = run_script(&s, &aws.credential, "interop.py", &extra).await?;
    run.ensure_ok("interop.py")?;
    let blob = run
        .stdout
        .lines()
        .find_map(|l| l.strip_prefix("BLOB "))
        .unwrap_or_default();
    let back = decrypt(&s, &aws.api_key, "interop-ring", blob, context.clone()).await?;
    assert_eq!(
        back.status, 200,
        "native decrypt of boto3's blob: {}",
        back.body
    );
    assert_eq!(unb64(&back.str("plaintext")), plaintext.as_bytes());
    let other = decrypt(
        &s,
        &aws.api_key,
        "interop-ring",
        blob,
        json!({"tenant": "x"}),
    )
    .await?;
    assert_eq!(other.status, 422, "{}", other.body);
    Ok(())
}

/// The activity feed's events made with the AWS face.
async fn aws_events(s: &TestServer) -> anyhow::Result<Vec<Value>> {
    let feed = s.get("/v1/activity?limit=1000", &s.owner_key).await?;
    anyhow::ensure!(feed.status == 200, "activity: {}", feed.body);
    Ok(feed.body["events"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["auth_method"] == "aws_sigv4")
        .cloned()
        .collect())
}

/// The AWS operation an event's detail names first (`aws-kms:Decrypt`); a refusal's reason
/// may follow after `; `.
fn aws_operation(event: &Value) -> &str {
    let detail = event["detail"].as_str().unwrap_or_default();
    detail.split(';').next().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_face_events_name_the_operation_and_access_key() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "audit").await?;
    let ring = s.keyring("audit-ring", &aws.group, json!({})).await?;
    let canary = b64(b"AUDIT-CANARY-PLAINTEXT-93d1");
    let sealed = kms_call(
        &s,
        &aws.credential,
        "Encrypt",
        json!({"KeyId": ring.str("id"), "Plaintext": canary}),
    )
    .await?;
    assert_eq!(sealed["ok"], true, "{sealed}");
    let narrow =
        aws_credential(&s, &aws.app, &aws.group, json!({"keyring.*.encrypt": true})).await?;
    let blob = sealed["reply"]["CiphertextBlob"].clone();
    let refused = kms_call(&s, &narrow, "Decrypt", json!({"CiphertextBlob": blob})).await?;
    assert_eq!(refused["code"], "AccessDeniedException", "{refused}");
    let events = aws_events(&s).await?;
    let find = |credential: &str, outcome: &str| {
        events
            .iter()
            .find(|e| e["credential"] == credential && e["outcome"] == outcome)
    };
    let allowed = find(&aws.credential.id, "success")
        .cloned()
        .unwrap_or_default();
    assert_eq!(aws_operation(&allowed), "aws-kms:Encrypt", "{events:?}");
    let denied = events
        .iter()
        .find(|e| e["credential"] == narrow.id.as_str() && e["outcome"] != "success")
        .cloned()
        .unwrap_or_default();
    assert_eq!(aws_operation(&denied), "aws-kms:Decrypt", "{events:?}");
    let feed = s
        .get("/v1/activity?limit=1000", &s.owner_key)
        .await?
        .body
        .to_string();
    for secret in [&aws.credential.secret, &narrow.secret, &canary] {
        assert!(
            !feed.contains(secret.as_str()),
            "the activity feed holds a secret"
        );
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_are_listed_disabled_and_deleted() -> TestResult {
    let s = TestServer::start().await?;
    let aws = aws_app(&s, "life").await?;
    let base = format!("/v1/apps/{}/aws-credentials", aws.app);
    let listed = s.get(&base, &s.owner_key).await?;
    assert_eq!(listed.status, 200, "{}", listed.body);
    let text = listed.body.to_string();
    assert!(text.contains(&aws.credential.id) && !text.contains(&aws.credential.secret));
    let first = kms_call(&s, &aws.credential, "ListKeys", json!({})).await?;
    assert_eq!(first["ok"], true, "{first}");
    let one = format!("{base}/{}", aws.credential.id);
    let disabled = s
        .patch(&one, &s.owner_key, json!({"disabled": true}))
        .await?;
    assert_eq!(disabled.status, 200, "{}", disabled.body);
    assert_eq!(disabled.body["disabled"], true, "{}", disabled.body);
    let refused = kms_call(&s, &aws.credential, "ListKeys", json!({})).await?;
    assert_eq!(refused["code"], "UnrecognizedClientException", "{refused}");
    assert_eq!(refused["status"], 400, "{refused}");
    let deleted = s
        .call(Method::DELETE, &one, Some(&s.owner_key), None)
        .await?;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    let gone = kms_call(&s, &aws.credential, "ListKeys", json!({})).await?;
    assert_eq!(gone["code"], "UnrecognizedClientException", "{gone}");
    let after = s.get(&base, &s.owner_key).await?.body.to_string();
    assert!(
        !after.contains(&aws.credential.id),
        "a deleted credential is still listed"
    );
    Ok(())
}
