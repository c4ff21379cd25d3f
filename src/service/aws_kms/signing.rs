//! Asymmetric use through the AWS face: `Sign`, `Verify` and `GetPublicKey` on Coffer keys,
//! with AWS's signing algorithm names mapped to Coffer's signature schemes. ECDSA signatures
//! are DER, as AWS answers them; RSA-PSS salts are as long as the digest, as AWS's.

use super::shapes::{SignatureRequest, b64, parse};
use super::{Answer, AwsCall, AwsErrorType, AwsFault};
use crate::crypto::asym::{KeyAlgorithm, PublicKey, SignedData};
use crate::service::{Ctx, Service, SignInput, VerifyInput};
use serde_json::json;

/// AWS's bound of a message or digest to sign, in bytes.
const MAX_MESSAGE: usize = 4096;

/// AWS signing algorithm names and the Coffer schemes they are.
const SIGNING_ALGORITHMS: &[(&str, &str)] = &[
    ("RSASSA_PSS_SHA_256", "rsa-pss-sha256"),
    ("RSASSA_PSS_SHA_384", "rsa-pss-sha384"),
    ("RSASSA_PSS_SHA_512", "rsa-pss-sha512"),
    ("RSASSA_PKCS1_V1_5_SHA_256", "rsa-pkcs1-sha256"),
    ("RSASSA_PKCS1_V1_5_SHA_384", "rsa-pkcs1-sha384"),
    ("RSASSA_PKCS1_V1_5_SHA_512", "rsa-pkcs1-sha512"),
    ("ECDSA_SHA_256", "ecdsa-sha256"),
    ("ECDSA_SHA_384", "ecdsa-sha384"),
];

/// The AWS signing algorithms a key of `algorithm` supports (none for Ed25519, which the
/// AWS face does not sign with).
pub(super) fn aws_signing_algorithms(algorithm: KeyAlgorithm) -> Vec<&'static str> {
    let schemes: Vec<String> = match algorithm {
        KeyAlgorithm::Ed25519 => Vec::new(),
        other => other.schemes().into_iter().map(|s| s.name()).collect(),
    };
    SIGNING_ALGORITHMS
        .iter()
        .filter(|(_, scheme)| schemes.iter().any(|s| s == scheme))
        .map(|(aws, _)| *aws)
        .collect()
}

/// The Coffer scheme of an AWS signing algorithm the key supports.
fn scheme_for(algorithm: KeyAlgorithm, aws: &str) -> Result<&'static str, AwsFault> {
    if !aws_signing_algorithms(algorithm).contains(&aws) {
        return Err(AwsFault::new(
            AwsErrorType::InvalidKeyUsage,
            format!(
                "SigningAlgorithm {aws} is not supported by this key; it supports {}",
                aws_signing_algorithms(algorithm).join(", ")
            ),
        ));
    }
    let (_, scheme) = SIGNING_ALGORITHMS
        .iter()
        .find(|(name, _)| *name == aws)
        .expect("listed above");
    Ok(scheme)
}

/// What the signature covers: the message (`RAW`, the default) or its digest (`DIGEST`).
fn signed_data(req: &SignatureRequest) -> Result<SignedData, AwsFault> {
    let message = req.message.0.to_vec();
    if !(1..=MAX_MESSAGE).contains(&message.len()) {
        return Err(AwsFault::validation("Message must be 1-4096 bytes"));
    }
    match req.message_type.as_deref() {
        None | Some("RAW") => Ok(SignedData::Message(message)),
        Some("DIGEST") => Ok(SignedData::Digest(message)),
        Some(other) => Err(AwsFault::validation(format!(
            "MessageType {other} is not valid; use RAW or DIGEST"
        ))),
    }
}

impl Service {
    pub(super) async fn aws_sign(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: SignatureRequest = parse(call.body)?;
        let data = signed_data(&req)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let key = target.key("Sign")?;
        let scheme = scheme_for(key.algorithm, &req.signing_algorithm)?;
        let input = SignInput {
            data,
            algorithm: Some(scheme.to_owned()),
            signature_format: Some("der".to_owned()),
        };
        let signed = self.sign(ctx, &key.name, input).await?;
        Ok(json!({
            "KeyId": target.arn(call.region),
            "Signature": b64(&signed.signature),
            "SigningAlgorithm": req.signing_algorithm,
        }))
    }

    /// An invalid signature is `KMSInvalidSignatureException`, as AWS answers it (the
    /// native route answers `valid: false`, and audits the verification as such).
    pub(super) async fn aws_verify(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: SignatureRequest = parse(call.body)?;
        let data = signed_data(&req)?;
        let signature = match &req.signature {
            Some(signature) => signature.0.to_vec(),
            None => return Err(AwsFault::validation("missing field `Signature`")),
        };
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let key = target.key("Verify")?;
        let scheme = scheme_for(key.algorithm, &req.signing_algorithm)?;
        let input = VerifyInput {
            data,
            signature,
            algorithm: Some(scheme.to_owned()),
            signature_format: Some("der".to_owned()),
            version: None,
        };
        if !self.verify(ctx, &key.name, input).await?.valid {
            return Err(AwsFault::new(
                AwsErrorType::KmsInvalidSignature,
                "the signature does not verify with this key, algorithm and message",
            ));
        }
        Ok(json!({
            "KeyId": target.arn(call.region),
            "SignatureValid": true,
            "SigningAlgorithm": req.signing_algorithm,
        }))
    }

    pub(super) async fn aws_public_key(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: super::shapes::KeyIdRequest = parse(call.body)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let key = target.key("GetPublicKey")?;
        let public = self.public_key(ctx, &key.name, None).await?;
        let der = PublicKey::from_pem_or_der(public.pem.as_bytes())
            .map_err(|e| AwsFault::from(crate::service::Error::Internal(Box::new(e))))?
            .to_spki_der();
        let mut answer = json!({
            "KeyId": target.arn(call.region),
            "PublicKey": b64(&der),
            "CustomerMasterKeySpec": target.key_spec(),
            "KeySpec": target.key_spec(),
            "KeyUsage": target.key_usage(),
        });
        if key.can_sign {
            answer["SigningAlgorithms"] = json!(aws_signing_algorithms(key.algorithm));
        } else {
            answer["EncryptionAlgorithms"] = json!(["RSAES_OAEP_SHA_256"]);
        }
        Ok(answer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_key_type_lists_the_aws_algorithms_it_signs_with() {
        let rsa = aws_signing_algorithms(KeyAlgorithm::Rsa2048);
        assert_eq!(rsa.len(), 6);
        assert!(rsa.contains(&"RSASSA_PSS_SHA_512"));
        assert_eq!(
            aws_signing_algorithms(KeyAlgorithm::EcP256),
            ["ECDSA_SHA_256"]
        );
        assert_eq!(
            aws_signing_algorithms(KeyAlgorithm::EcP384),
            ["ECDSA_SHA_384"]
        );
        assert!(aws_signing_algorithms(KeyAlgorithm::Ed25519).is_empty());
    }

    #[test]
    fn aws_names_map_to_coffer_schemes() {
        assert_eq!(
            scheme_for(KeyAlgorithm::Rsa4096, "RSASSA_PKCS1_V1_5_SHA_384").unwrap(),
            "rsa-pkcs1-sha384"
        );
        assert_eq!(
            scheme_for(KeyAlgorithm::EcP384, "ECDSA_SHA_384").unwrap(),
            "ecdsa-sha384"
        );
        let fault = scheme_for(KeyAlgorithm::EcP384, "ECDSA_SHA_256").unwrap_err();
        assert_eq!(fault.error, AwsErrorType::InvalidKeyUsage);
    }
}
