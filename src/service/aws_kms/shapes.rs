//! The AWS KMS request shapes (JSON 1.1, member names in PascalCase as botocore's service
//! model writes them), parsed leniently: unknown members are ignored, since SDKs add new
//! ones. Blobs are base64 strings; a blob that may be a plaintext is held in a zeroizing
//! buffer from the moment it is decoded.

use super::AwsFault;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use zeroize::Zeroizing;

/// An encryption context: AWS's `map<string,string>`, Coffer's additional data.
pub(super) type Context = BTreeMap<String, String>;

/// A base64 blob member, decoded into a zeroizing buffer. No `Debug`: it may be a plaintext.
pub(super) struct Blob(pub Zeroizing<Vec<u8>>);

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Zeroizing::new(String::deserialize(deserializer)?);
        STANDARD
            .decode(text.as_bytes())
            .map(|bytes| Blob(Zeroizing::new(bytes)))
            .map_err(|_| serde::de::Error::custom("a blob member is not valid base64"))
    }
}

/// A blob of an answer, as JSON 1.1 writes it.
pub(super) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Parses a request body: unparseable JSON is a `SerializationException`; a missing
/// member or a member of the wrong type a `ValidationException` naming it. An empty body
/// is `{}` (awscli sends none for operations without members).
pub(super) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsFault> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        &b"{}"[..]
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| match e.classify() {
        serde_json::error::Category::Data => AwsFault::validation(e.to_string()),
        _ => AwsFault::new(
            super::AwsErrorType::Serialization,
            format!("the request body is not valid JSON: {e}"),
        ),
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct KeyIdRequest {
    pub key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct Tag {
    pub tag_key: String,
    pub tag_value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateKeyRequest {
    #[serde(default)]
    pub description: String,
    pub key_usage: Option<String>,
    pub key_spec: Option<String>,
    pub customer_master_key_spec: Option<String>,
    #[serde(default)]
    pub tags: Vec<Tag>,
    pub origin: Option<String>,
    #[serde(default)]
    pub multi_region: bool,
    pub policy: Option<String>,
    pub custom_key_store_id: Option<String>,
}

/// `ListKeys`, `ListAliases` and `ListResourceTags`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ListRequest {
    pub key_id: Option<String>,
    pub limit: Option<u32>,
    pub marker: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct CreateAliasRequest {
    pub alias_name: String,
    pub target_key_id: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct AliasRequest {
    pub alias_name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct EncryptRequest {
    pub key_id: String,
    pub plaintext: Blob,
    #[serde(default)]
    pub encryption_context: Context,
    pub encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DecryptRequest {
    pub ciphertext_blob: Blob,
    #[serde(default)]
    pub encryption_context: Context,
    pub key_id: Option<String>,
    pub encryption_algorithm: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ReEncryptRequest {
    pub ciphertext_blob: Blob,
    #[serde(default)]
    pub source_encryption_context: Context,
    pub source_key_id: Option<String>,
    pub destination_key_id: String,
    #[serde(default)]
    pub destination_encryption_context: Context,
    pub source_encryption_algorithm: Option<String>,
    pub destination_encryption_algorithm: Option<String>,
}

/// `GenerateDataKey` and `GenerateDataKeyWithoutPlaintext`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct DataKeyRequest {
    pub key_id: String,
    pub key_spec: Option<String>,
    pub number_of_bytes: Option<u32>,
    #[serde(default)]
    pub encryption_context: Context,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RandomRequest {
    pub number_of_bytes: Option<u32>,
    pub custom_key_store_id: Option<String>,
}

/// `Sign` (no `Signature`) and `Verify`.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct SignatureRequest {
    pub key_id: String,
    pub message: Blob,
    pub message_type: Option<String>,
    pub signing_algorithm: String,
    pub signature: Option<Blob>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RotationRequest {
    pub key_id: String,
    pub rotation_period_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct ScheduleDeletionRequest {
    pub key_id: String,
    pub pending_window_in_days: Option<u32>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct TagResourceRequest {
    pub key_id: String,
    pub tags: Vec<Tag>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct UntagResourceRequest {
    pub key_id: String,
    pub tag_keys: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::super::AwsErrorType;
    use super::*;

    #[test]
    fn members_are_pascal_case_and_unknown_ones_are_ignored() {
        let body = br#"{"KeyId":"kr_1","Plaintext":"aGk=","EncryptionContext":{"a":"b"},"GrantTokens":[],"DryRun":false}"#;
        let request: EncryptRequest = parse(body).expect("parsed");
        assert_eq!(request.key_id, "kr_1");
        assert_eq!(&request.plaintext.0[..], b"hi");
        assert_eq!(request.encryption_context["a"], "b");
    }

    #[test]
    fn broken_json_is_a_serialization_fault_and_a_bad_member_a_validation_fault() {
        let broken = parse::<KeyIdRequest>(b"{\"KeyId\":").err().unwrap();
        assert_eq!(broken.error, AwsErrorType::Serialization);
        let missing = parse::<KeyIdRequest>(b"{}").err().unwrap();
        assert_eq!(missing.error, AwsErrorType::Validation);
        assert!(missing.message.contains("KeyId"), "{}", missing.message);
        let wrong_type = parse::<KeyIdRequest>(b"{\"KeyId\":5}").err().unwrap();
        assert_eq!(wrong_type.error, AwsErrorType::Validation);
        let bad_blob = parse::<EncryptRequest>(br#"{"KeyId":"k","Plaintext":"***"}"#)
            .err()
            .unwrap();
        assert_eq!(bad_blob.error, AwsErrorType::Validation);
        assert!(bad_blob.message.contains("base64"));
    }

    #[test]
    fn an_empty_body_is_an_empty_object() {
        let request: ListRequest = parse(b"").expect("parsed");
        assert!(request.limit.is_none() && request.marker.is_none());
    }
}
