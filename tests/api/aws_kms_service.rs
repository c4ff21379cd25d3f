//! The AWS KMS operations on the real service (SoftHSM, the test database), called in
//! process through `Service::aws_kms` with an app's authenticated caller: the HTTP face
//! (SigV4, `POST /`) is tested with the AWS clients once it exists.

use crate::support::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use coffer::service::{AwsCall, AwsErrorType, AwsFault, Ctx, RequestMeta};
use serde_json::{Value, json};

const REGION: &str = "eu-west-1";

/// An app of one group holding every flag, and its API key.
async fn app(server: &TestServer) -> anyhow::Result<String> {
    let group = server.group("aws").await?;
    let (_, key) = server
        .app_with_key("aws-app", &[&group], json!({"*.*.*.*": true}))
        .await?;
    Ok(key)
}

/// One AWS call as the app whose key is `key`.
async fn call(
    server: &TestServer,
    key: &str,
    operation: &str,
    body: Value,
) -> anyhow::Result<Result<Value, AwsFault>> {
    let service = server.service();
    let caller = service
        .authenticate(key)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let meta = RequestMeta::new("req_aws_test".into(), None);
    let ctx = Ctx {
        meta: &meta,
        caller: &caller,
    };
    let body = serde_json::to_vec(&body)?;
    let call = AwsCall {
        operation,
        region: REGION,
        body: &body,
    };
    Ok(service.aws_kms(&ctx, call).await)
}

fn fault(result: Result<Value, AwsFault>) -> AwsErrorType {
    match result {
        Ok(value) => panic!("expected a fault, got {value}"),
        Err(fault) => fault.error,
    }
}

#[tokio::test]
async fn a_symmetric_key_encrypts_decrypts_and_answers_aws_faults() -> TestResult {
    let server = TestServer::start().await?;
    let key = app(&server).await?;
    let created = call(&server, &key, "CreateKey", json!({"Description": "d"})).await?;
    let created = created.map_err(|f| anyhow::anyhow!("{f}"))?;
    let metadata = &created["KeyMetadata"];
    assert_eq!(metadata["KeySpec"], "SYMMETRIC_DEFAULT");
    assert_eq!(metadata["KeyState"], "Enabled");
    let arn = metadata["Arn"].as_str().unwrap_or_default().to_owned();
    let plaintext = STANDARD.encode(b"hello aws");
    let context = json!({"tenant": "acme"});
    let sealed = call(
        &server,
        &key,
        "Encrypt",
        json!({"KeyId": arn, "Plaintext": plaintext, "EncryptionContext": context}),
    )
    .await?;
    let sealed = sealed.map_err(|f| anyhow::anyhow!("{f}"))?;
    assert_eq!(sealed["KeyId"], arn.as_str());
    let blob = sealed["CiphertextBlob"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let native = String::from_utf8(STANDARD.decode(&blob)?)?;
    assert!(native.starts_with("coffer:v1:"), "{native}");
    let opened = call(
        &server,
        &key,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": context}),
    )
    .await?;
    let opened = opened.map_err(|f| anyhow::anyhow!("{f}"))?;
    assert_eq!(opened["Plaintext"], plaintext.as_str());
    assert_eq!(opened["KeyId"], arn.as_str());
    let wrong_context = call(&server, &key, "Decrypt", json!({"CiphertextBlob": blob})).await?;
    assert_eq!(fault(wrong_context), AwsErrorType::InvalidCiphertext);
    let alias = call(
        &server,
        &key,
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": arn}),
    )
    .await?;
    alias.map_err(|f| anyhow::anyhow!("{f}"))?;
    let again = call(
        &server,
        &key,
        "CreateAlias",
        json!({"AliasName": "alias/app", "TargetKeyId": arn}),
    )
    .await?;
    assert_eq!(fault(again), AwsErrorType::AlreadyExists);
    let by_alias = call(
        &server,
        &key,
        "GenerateDataKey",
        json!({"KeyId": "alias/app", "KeySpec": "AES_256"}),
    )
    .await?;
    let by_alias = by_alias.map_err(|f| anyhow::anyhow!("{f}"))?;
    assert_eq!(
        STANDARD
            .decode(by_alias["Plaintext"].as_str().unwrap_or_default())?
            .len(),
        32
    );
    let disabled = call(&server, &key, "DisableKey", json!({"KeyId": arn})).await?;
    disabled.map_err(|f| anyhow::anyhow!("{f}"))?;
    let refused = call(
        &server,
        &key,
        "Encrypt",
        json!({"KeyId": arn, "Plaintext": plaintext}),
    )
    .await?;
    assert_eq!(fault(refused), AwsErrorType::Disabled);
    let unknown = call(
        &server,
        &key,
        "Encrypt",
        json!({"KeyId": "kr_nope", "Plaintext": plaintext}),
    )
    .await?;
    assert_eq!(fault(unknown), AwsErrorType::NotFound);
    let broken = call(&server, &key, "Encrypt", json!({"Plaintext": plaintext})).await?;
    assert_eq!(fault(broken), AwsErrorType::Validation);
    let scheduled = call(
        &server,
        &key,
        "ScheduleKeyDeletion",
        json!({"KeyId": arn, "PendingWindowInDays": 7}),
    )
    .await?;
    let scheduled = scheduled.map_err(|f| anyhow::anyhow!("{f}"))?;
    assert_eq!(scheduled["KeyState"], "PendingDeletion");
    let pending = call(
        &server,
        &key,
        "Decrypt",
        json!({"CiphertextBlob": blob, "EncryptionContext": context}),
    )
    .await?;
    assert_eq!(fault(pending), AwsErrorType::InvalidState);
    let described = call(&server, &key, "DescribeKey", json!({"KeyId": arn})).await?;
    let described = described.map_err(|f| anyhow::anyhow!("{f}"))?;
    assert_eq!(described["KeyMetadata"]["KeyState"], "PendingDeletion");
    Ok(())
}

#[tokio::test]
async fn an_asymmetric_key_signs_and_verifies_like_aws() -> TestResult {
    let server = TestServer::start().await?;
    let key = app(&server).await?;
    let created = call(
        &server,
        &key,
        "CreateKey",
        json!({"KeyUsage": "SIGN_VERIFY", "KeySpec": "ECC_NIST_P256"}),
    )
    .await?;
    let created = created.map_err(|f| anyhow::anyhow!("{f}"))?;
    let key_id = created["KeyMetadata"]["KeyId"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let message = STANDARD.encode(b"sign me");
    let request = json!({"KeyId": key_id, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256"});
    let signed = call(&server, &key, "Sign", request).await?;
    let signed = signed.map_err(|f| anyhow::anyhow!("{f}"))?;
    let signature = signed["Signature"].as_str().unwrap_or_default().to_owned();
    let verify = json!({"KeyId": key_id, "Message": message, "SigningAlgorithm": "ECDSA_SHA_256", "Signature": signature});
    let verified = call(&server, &key, "Verify", verify).await?;
    assert_eq!(
        verified.map_err(|f| anyhow::anyhow!("{f}"))?["SignatureValid"],
        true
    );
    let other = STANDARD.encode(b"other message");
    let forged = json!({"KeyId": key_id, "Message": other, "SigningAlgorithm": "ECDSA_SHA_256", "Signature": signature});
    let forged = call(&server, &key, "Verify", forged).await?;
    assert_eq!(fault(forged), AwsErrorType::KmsInvalidSignature);
    let public = call(&server, &key, "GetPublicKey", json!({"KeyId": key_id})).await?;
    let public = public.map_err(|f| anyhow::anyhow!("{f}"))?;
    assert_eq!(public["SigningAlgorithms"], json!(["ECDSA_SHA_256"]));
    let rotation = call(&server, &key, "EnableKeyRotation", json!({"KeyId": key_id})).await?;
    assert_eq!(fault(rotation), AwsErrorType::UnsupportedOperation);
    Ok(())
}
