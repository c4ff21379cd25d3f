//! Symmetric use through the AWS face: `Encrypt`, `Decrypt`, `ReEncrypt`, the data-key
//! operations and `GenerateRandom`. A `CiphertextBlob` is the UTF-8 bytes of the native
//! ciphertext string (`coffer:v1:…`), so a blob decrypts through the native route and a
//! native ciphertext decrypts here. Plaintexts stay in zeroizing buffers while held.

use super::shapes::{
    Blob, Context, DataKeyRequest, DecryptRequest, EncryptRequest, RandomRequest, ReEncryptRequest,
    b64, parse,
};
use super::targets::Target;
use super::{Answer, AwsCall, AwsErrorType, AwsFault};
use crate::catalogue;
use crate::crypto::{self, Envelope};
use crate::service::{Ctx, Service};
use serde_json::json;
use zeroize::Zeroizing;

/// The only encryption algorithm of a symmetric key.
const SYMMETRIC_DEFAULT: &str = "SYMMETRIC_DEFAULT";
/// AWS's bounds of a plaintext to `Encrypt`, in bytes.
const MAX_PLAINTEXT: usize = 4096;
/// AWS's bounds of `NumberOfBytes` (data keys and random bytes).
const NUMBER_OF_BYTES: std::ops::RangeInclusive<u32> = 1..=1024;
/// The sizes the native data-key operation makes; other sizes are sealed as an encrypt.
const NATIVE_DATAKEY_BYTES: std::ops::RangeInclusive<u32> = 16..=64;

/// `GenerateRandom`: authorized by its own flag (`random.generate`, an app's) and audited
/// as `random.generate`; it touches no object, so it has no group operation.
const GENERATE_RANDOM: catalogue::Operation = catalogue::Operation {
    action: Some("random.generate"),
    flags: &["random.generate"],
    group: &[],
    ..catalogue::LIST_KEYRINGS
};

/// Refuses an encryption algorithm other than a symmetric key's.
fn check_symmetric_algorithm(member: &str, value: Option<&str>) -> Result<(), AwsFault> {
    match value {
        None | Some(SYMMETRIC_DEFAULT) => Ok(()),
        Some(other) => Err(AwsFault::new(
            AwsErrorType::InvalidKeyUsage,
            format!("{member} {other} is not supported by symmetric keys; use SYMMETRIC_DEFAULT"),
        )),
    }
}

/// The native ciphertext in a blob, with its parsed envelope; anything else is a blob
/// this service never made.
fn envelope_of(blob: &[u8]) -> Result<(&str, Envelope), AwsFault> {
    let invalid = || {
        AwsFault::new(
            AwsErrorType::InvalidCiphertext,
            "the ciphertext is not one this service made, or it was changed",
        )
    };
    let text = std::str::from_utf8(blob).map_err(|_| invalid())?;
    let envelope = Envelope::parse(text).map_err(|_| invalid())?;
    Ok((text, envelope))
}

/// The data-key size a request asks for: `KeySpec` or `NumberOfBytes`, exactly one.
fn data_key_bytes(req: &DataKeyRequest) -> Result<u32, AwsFault> {
    match (req.key_spec.as_deref(), req.number_of_bytes) {
        (Some("AES_256"), None) => Ok(32),
        (Some("AES_128"), None) => Ok(16),
        (Some(other), None) => Err(AwsFault::validation(format!(
            "KeySpec {other} is not valid; use AES_256 or AES_128"
        ))),
        (None, Some(n)) if NUMBER_OF_BYTES.contains(&n) => Ok(n),
        (None, Some(_)) => Err(AwsFault::validation(
            "NumberOfBytes must be between 1 and 1024",
        )),
        _ => Err(AwsFault::validation(
            "send exactly one of KeySpec and NumberOfBytes",
        )),
    }
}

impl Service {
    pub(super) async fn aws_encrypt(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: EncryptRequest = parse(call.body)?;
        if !(1..=MAX_PLAINTEXT).contains(&req.plaintext.0.len()) {
            return Err(AwsFault::validation("Plaintext must be 1-4096 bytes"));
        }
        check_symmetric_algorithm("EncryptionAlgorithm", req.encryption_algorithm.as_deref())?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let ring = target.keyring("Encrypt")?;
        let sealed = self
            .encrypt(ctx, &ring.name, &req.plaintext.0, &req.encryption_context)
            .await?;
        Ok(json!({
            "CiphertextBlob": b64(sealed.ciphertext.as_bytes()),
            "KeyId": target.arn(call.region),
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        }))
    }

    /// The keyring that made `envelope`: the one `key_id` names (a blob of another key is
    /// `IncorrectKeyException`), else the one its key reference names.
    async fn aws_source(
        &self,
        ctx: &Ctx<'_>,
        region: &str,
        key_id: Option<&str>,
        envelope: &Envelope,
    ) -> Result<Target, AwsFault> {
        if let Some(key_id) = key_id {
            let target = self.aws_live_target(ctx, region, key_id).await?;
            let ring = target.keyring("Decrypt")?;
            if crypto::key_ref(&ring.id, envelope.version) != envelope.key_ref {
                return Err(AwsFault::new(
                    AwsErrorType::IncorrectKey,
                    "the ciphertext was not made by the key KeyId names",
                ));
            }
            return Ok(target);
        }
        let row = self
            .store
            .keyring_by_key_ref(&ctx.caller.account_id, &envelope.key_ref)
            .await?
            .filter(|r| ctx.caller.sees_group(&r.group_id))
            .ok_or_else(|| {
                AwsFault::new(
                    AwsErrorType::InvalidCiphertext,
                    "the ciphertext names no key this caller has",
                )
            })?;
        let target = Target::Keyring(row);
        if target.deleted_at().is_some() {
            return Err(AwsFault::new(
                AwsErrorType::InvalidState,
                format!("{} is pending deletion.", target.arn(region)),
            ));
        }
        Ok(target)
    }

    /// Opens a blob with its keyring: the plaintext and the keyring.
    async fn aws_open(
        &self,
        ctx: &Ctx<'_>,
        region: &str,
        (blob, key_id): (&Blob, Option<&str>),
        context: &Context,
    ) -> Result<(Zeroizing<Vec<u8>>, Target), AwsFault> {
        let (text, envelope) = envelope_of(&blob.0)?;
        let target = self.aws_source(ctx, region, key_id, &envelope).await?;
        let opened = self.decrypt(ctx, target.name(), text, context).await?;
        Ok((opened.plaintext, target))
    }

    pub(super) async fn aws_decrypt(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: DecryptRequest = parse(call.body)?;
        check_symmetric_algorithm("EncryptionAlgorithm", req.encryption_algorithm.as_deref())?;
        let source = (&req.ciphertext_blob, req.key_id.as_deref());
        let (plaintext, target) = self
            .aws_open(ctx, call.region, source, &req.encryption_context)
            .await?;
        Ok(json!({
            "KeyId": target.arn(call.region),
            "Plaintext": b64(&plaintext),
            "EncryptionAlgorithm": SYMMETRIC_DEFAULT,
        }))
    }

    /// Decrypts and encrypts again under the destination key, inside the service: the
    /// plaintext never leaves. The destination is checked first, so a request that cannot
    /// finish decrypts nothing.
    pub(super) async fn aws_reencrypt(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: ReEncryptRequest = parse(call.body)?;
        let source_algorithm = req.source_encryption_algorithm.as_deref();
        check_symmetric_algorithm("SourceEncryptionAlgorithm", source_algorithm)?;
        let destination_algorithm = req.destination_encryption_algorithm.as_deref();
        check_symmetric_algorithm("DestinationEncryptionAlgorithm", destination_algorithm)?;
        let destination = self
            .aws_live_target(ctx, call.region, &req.destination_key_id)
            .await?;
        let ring = destination.keyring("ReEncrypt")?;
        let source = (&req.ciphertext_blob, req.source_key_id.as_deref());
        let (plaintext, source) = self
            .aws_open(ctx, call.region, source, &req.source_encryption_context)
            .await?;
        let context = &req.destination_encryption_context;
        let sealed = self.encrypt(ctx, &ring.name, &plaintext, context).await?;
        Ok(json!({
            "CiphertextBlob": b64(sealed.ciphertext.as_bytes()),
            "SourceKeyId": source.arn(call.region),
            "KeyId": destination.arn(call.region),
            "SourceEncryptionAlgorithm": SYMMETRIC_DEFAULT,
            "DestinationEncryptionAlgorithm": SYMMETRIC_DEFAULT,
        }))
    }

    /// `GenerateDataKey` (`with_plaintext`) and `GenerateDataKeyWithoutPlaintext`. Sizes
    /// the native data key makes (16-64 bytes) go through it (`keyring.datakey`); other
    /// sizes are random bytes sealed by the native encrypt (`keyring.encrypt`), which needs
    /// the same flag and group operation.
    pub(super) async fn aws_data_key(
        &self,
        ctx: &Ctx<'_>,
        call: &AwsCall<'_>,
        with_plaintext: bool,
    ) -> Answer {
        let req: DataKeyRequest = parse(call.body)?;
        let bytes = data_key_bytes(&req)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let ring = target.keyring("GenerateDataKey")?;
        let context = &req.encryption_context;
        let (plaintext, ciphertext) = if NATIVE_DATAKEY_BYTES.contains(&bytes) {
            let made = self.datakey(ctx, &ring.name, bytes, context).await?;
            (made.plaintext, made.ciphertext)
        } else {
            let plaintext = crypto::random_bytes(bytes as usize);
            let sealed = self.encrypt(ctx, &ring.name, &plaintext, context).await?;
            (plaintext, sealed.ciphertext)
        };
        let mut answer = json!({
            "CiphertextBlob": b64(ciphertext.as_bytes()),
            "KeyId": target.arn(call.region),
        });
        if with_plaintext {
            answer["Plaintext"] = json!(b64(&plaintext));
        }
        Ok(answer)
    }

    pub(super) async fn aws_random(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: RandomRequest = parse(call.body)?;
        if req.custom_key_store_id.is_some() {
            return Err(AwsFault::unsupported("custom key stores are not supported"));
        }
        let bytes = req
            .number_of_bytes
            .filter(|n| NUMBER_OF_BYTES.contains(n))
            .ok_or_else(|| AwsFault::validation("NumberOfBytes must be between 1 and 1024"))?;
        let random = self
            .read(ctx, &GENERATE_RANDOM, "", None, async {
                Ok(crypto::random_bytes(bytes as usize))
            })
            .await?;
        Ok(json!({ "Plaintext": b64(&random) }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(body: &str) -> DataKeyRequest {
        parse(body.as_bytes()).expect("parsed")
    }

    #[test]
    fn a_data_key_size_is_a_key_spec_or_a_number_of_bytes() {
        assert_eq!(
            data_key_bytes(&request(r#"{"KeyId":"k","KeySpec":"AES_256"}"#)).unwrap(),
            32
        );
        assert_eq!(
            data_key_bytes(&request(r#"{"KeyId":"k","KeySpec":"AES_128"}"#)).unwrap(),
            16
        );
        assert_eq!(
            data_key_bytes(&request(r#"{"KeyId":"k","NumberOfBytes":1024}"#)).unwrap(),
            1024
        );
        for body in [
            r#"{"KeyId":"k"}"#,
            r#"{"KeyId":"k","KeySpec":"AES_256","NumberOfBytes":32}"#,
            r#"{"KeyId":"k","NumberOfBytes":0}"#,
            r#"{"KeyId":"k","NumberOfBytes":1025}"#,
            r#"{"KeyId":"k","KeySpec":"RSA_2048"}"#,
        ] {
            assert_eq!(
                data_key_bytes(&request(body)).unwrap_err().error,
                AwsErrorType::Validation,
                "{body}"
            );
        }
    }

    #[test]
    fn a_blob_is_a_native_ciphertext_or_invalid() {
        let envelope = Envelope {
            version: 3,
            key_ref: [7; crypto::KEY_REF_LEN],
            nonce: [1; 12],
            sealed: vec![0; 20],
        };
        let text = envelope.encode();
        let (parsed_text, parsed) = envelope_of(text.as_bytes()).unwrap();
        assert_eq!((parsed_text, parsed), (text.as_str(), envelope));
        for garbage in [&b"\xff\xfe"[..], b"hello", b"coffer:v1:!!!"] {
            let fault = envelope_of(garbage).unwrap_err();
            assert_eq!(fault.error, AwsErrorType::InvalidCiphertext);
        }
    }

    #[test]
    fn only_symmetric_default_encrypts_with_a_symmetric_key() {
        assert!(check_symmetric_algorithm("EncryptionAlgorithm", None).is_ok());
        assert!(check_symmetric_algorithm("EncryptionAlgorithm", Some(SYMMETRIC_DEFAULT)).is_ok());
        let fault = check_symmetric_algorithm("EncryptionAlgorithm", Some("RSAES_OAEP_SHA_256"));
        assert_eq!(fault.unwrap_err().error, AwsErrorType::InvalidKeyUsage);
    }
}
