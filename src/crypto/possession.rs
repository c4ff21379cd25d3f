//! Proof of possession of a certificate's private key, for client-certificate credentials.
//!
//! A certificate is public: every TLS handshake sends it, so anyone can learn it or its
//! fingerprint. Binding it proves nothing. A **proof** is a signature, made with the
//! certificate's private key, over the ASCII message
//! `coffer-possession-proof:v1:<account id>:<SHA-256 fingerprint of the certificate, lower-case hex>`.
//! The account id in the message keeps a proof made for one account from being replayed in
//! another. Accepted signatures, by the certificate's key type:
//!
//! | key | signature |
//! |---|---|
//! | EC P-256 | ECDSA with SHA-256, DER (what `openssl dgst -sha256 -sign` writes) or raw r‖s |
//! | EC P-384 | ECDSA with SHA-384, DER or raw r‖s |
//! | RSA 2048/3072/4096 | PKCS#1 v1.5 with SHA-256 |
//! | Ed25519 | pure Ed25519 over the message |
//!
//! [`verify`] runs in the server on public data. [`KeyHolder`] is the key holder's side (the
//! CLI): the server never sees a private key.

use super::asym::{Curve, EcdsaEncoding, HashAlg, PublicKey, SignatureScheme};
use super::x509::CertificateInfo;

/// What every proof message starts with; `v1` names this format.
pub const MESSAGE_PREFIX: &str = "coffer-possession-proof:v1";

/// The exact message a proof for `account_id` signs; `fingerprint` is the certificate's
/// SHA-256 in lower-case hex, as [`CertificateInfo::fingerprint`] holds it.
pub fn message(account_id: &str, fingerprint: &str) -> String {
    format!("{MESSAGE_PREFIX}:{account_id}:{fingerprint}")
}

/// The certificate's public key, or why a proof cannot be checked against it.
fn certified_key(certificate: &CertificateInfo) -> Result<&PublicKey, String> {
    certificate.public_key.as_ref().ok_or_else(|| {
        "the certificate's public key is not one a proof can be checked with \
         (EC P-256 or P-384, RSA 2048/3072/4096, Ed25519)"
            .to_owned()
    })
}

/// Checks that `proof` is a signature by `certificate`'s key over [`message`] for
/// `account_id`. The error says what is wrong, for a 400; it holds no secret.
pub fn verify(certificate: &CertificateInfo, account_id: &str, proof: &[u8]) -> Result<(), String> {
    let key = certified_key(certificate)?;
    let text = message(account_id, &certificate.fingerprint);
    let ok = match key {
        PublicKey::P256(_) => verify_ecdsa(key, Curve::P256, text.as_bytes(), proof),
        PublicKey::P384(_) => verify_ecdsa(key, Curve::P384, text.as_bytes(), proof),
        PublicKey::Rsa(_) => {
            let hash = HashAlg::Sha256;
            key.verify(
                SignatureScheme::RsaPkcs1(hash),
                &hash.digest(text.as_bytes()),
                proof,
                EcdsaEncoding::Der,
            )
        }
        PublicKey::Ed25519(_) => key.verify(
            SignatureScheme::Ed25519,
            text.as_bytes(),
            proof,
            EcdsaEncoding::Der,
        ),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "it is not a signature by the certificate's private key over \"{text}\" ({}); \
             a proof made for another account or another certificate does not verify",
            expected_signature(key)
        ))
    }
}

/// ECDSA with the curve's hash, DER first, then raw r‖s of the right length.
fn verify_ecdsa(key: &PublicKey, curve: Curve, message: &[u8], proof: &[u8]) -> bool {
    let digest = curve.hash().digest(message);
    let scheme = SignatureScheme::Ecdsa(curve);
    key.verify(scheme, &digest, proof, EcdsaEncoding::Der)
        || (proof.len() == 2 * curve.scalar_len()
            && key.verify(scheme, &digest, proof, EcdsaEncoding::Raw))
}

/// The signature a proof must be for this key, in words.
fn expected_signature(key: &PublicKey) -> &'static str {
    match key {
        PublicKey::P256(_) => "ECDSA P-256 with SHA-256, DER or raw r||s",
        PublicKey::P384(_) => "ECDSA P-384 with SHA-384, DER or raw r||s",
        PublicKey::Rsa(_) => "RSA PKCS#1 v1.5 with SHA-256",
        PublicKey::Ed25519(_) => "pure Ed25519",
    }
}

/// The key holder's side (the CLI): a certificate's private key, checked to be the
/// certificate's, ready to sign proofs. No `Debug`; the keys zeroize on drop.
pub struct KeyHolder {
    key: HeldKey,
    fingerprint: String,
}

enum HeldKey {
    P256(p256::SecretKey),
    P384(p384::SecretKey),
    Rsa(Box<rsa::RsaPrivateKey>),
    Ed25519(ed25519_dalek::SigningKey),
}

/// Reads an EC private key of one curve's crate (`p256`, `p384`): PKCS#8 or SEC1 PEM.
macro_rules! read_ec_key {
    ($curve:ident, $held:ident, $key_pem:expr, $what:expr) => {{
        use $curve::pkcs8::DecodePrivateKey;
        let secret = $curve::SecretKey::from_pkcs8_pem($key_pem)
            .or_else(|_| $curve::SecretKey::from_sec1_pem($key_pem))
            .map_err(|_| unreadable($what))?;
        let public = PublicKey::$held(secret.public_key());
        (HeldKey::$held(secret), public)
    }};
}

/// Signs with an EC key of one curve's crate (`p256`, `p384`); the signature is DER.
macro_rules! sign_ecdsa_der {
    ($curve:ident, $secret:expr, $message:expr) => {{
        use $curve::ecdsa::signature::Signer;
        let signature: $curve::ecdsa::Signature =
            $curve::ecdsa::SigningKey::from($secret).sign($message);
        signature.to_der().as_bytes().to_vec()
    }};
}

/// What a key file that does not parse as the expected kind of key is told; never the key.
fn unreadable(what: &str) -> String {
    format!("the key file does not hold a {what} private key in PEM")
}

/// Reads `key_pem` as a private key of `expected`'s algorithm, with its public key (for the
/// caller to compare with `expected`).
fn read_private_key(expected: &PublicKey, key_pem: &str) -> Result<(HeldKey, PublicKey), String> {
    Ok(match expected {
        PublicKey::P256(_) => read_ec_key!(p256, P256, key_pem, "EC P-256"),
        PublicKey::P384(_) => read_ec_key!(p384, P384, key_pem, "EC P-384"),
        PublicKey::Rsa(_) => {
            use rsa::pkcs1::DecodeRsaPrivateKey;
            use rsa::pkcs8::DecodePrivateKey;
            let private = rsa::RsaPrivateKey::from_pkcs8_pem(key_pem)
                .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(key_pem))
                .map_err(|_| unreadable("RSA"))?;
            let public = PublicKey::Rsa(private.to_public_key());
            (HeldKey::Rsa(Box::new(private)), public)
        }
        PublicKey::Ed25519(_) => {
            use ed25519_dalek::pkcs8::DecodePrivateKey;
            let secret = ed25519_dalek::SigningKey::from_pkcs8_pem(key_pem)
                .map_err(|_| unreadable("PKCS#8 Ed25519"))?;
            let public = PublicKey::Ed25519(secret.verifying_key());
            (HeldKey::Ed25519(secret), public)
        }
    })
}

impl KeyHolder {
    /// Reads `key_pem` (PKCS#8 `PRIVATE KEY`, SEC1 `EC PRIVATE KEY` or PKCS#1 `RSA PRIVATE
    /// KEY`, unencrypted) as the private key of `certificate`; refuses a key that is not
    /// the certificate's. Errors never quote the key.
    pub fn new(certificate: &CertificateInfo, key_pem: &str) -> Result<Self, String> {
        if key_pem.contains("ENCRYPTED PRIVATE KEY") {
            return Err(
                "the key file is encrypted; write an unencrypted copy first (openssl pkey -in KEY -out PLAIN)"
                    .to_owned(),
            );
        }
        let expected = certified_key(certificate)?;
        let (key, public) = read_private_key(expected, key_pem)?;
        if public.to_spki_der() != expected.to_spki_der() {
            return Err("the key does not match the certificate".to_owned());
        }
        Ok(Self {
            key,
            fingerprint: certificate.fingerprint.clone(),
        })
    }

    /// The proof for `account_id`: ECDSA proofs are DER, RSA is PKCS#1 v1.5 with SHA-256.
    pub fn prove(&self, account_id: &str) -> Result<Vec<u8>, String> {
        let text = message(account_id, &self.fingerprint);
        Ok(match &self.key {
            HeldKey::P256(secret) => sign_ecdsa_der!(p256, secret, text.as_bytes()),
            HeldKey::P384(secret) => sign_ecdsa_der!(p384, secret, text.as_bytes()),
            HeldKey::Rsa(private) => private
                .sign(
                    rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
                    &HashAlg::Sha256.digest(text.as_bytes()),
                )
                .map_err(|e| format!("RSA signing failed: {e}"))?,
            HeldKey::Ed25519(secret) => {
                use ed25519_dalek::Signer;
                secret.sign(text.as_bytes()).to_bytes().to_vec()
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::x509::parse_certificates;

    fn self_signed(algorithm: &'static rcgen::SignatureAlgorithm) -> (CertificateInfo, String) {
        let key = rcgen::KeyPair::generate_for(algorithm).expect("key");
        let params = rcgen::CertificateParams::new(vec!["proof.test".to_owned()]).expect("params");
        let cert = params.self_signed(&key).expect("certificate");
        let info = parse_certificates(cert.pem().as_bytes())
            .expect("parses")
            .remove(0);
        (info, key.serialize_pem())
    }

    #[test]
    fn the_message_names_the_version_the_account_and_the_fingerprint() {
        assert_eq!(
            message("acct_1", "ab01"),
            "coffer-possession-proof:v1:acct_1:ab01"
        );
    }

    #[test]
    fn a_proof_verifies_for_its_account_and_certificate_only() {
        for algorithm in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let (cert, key) = self_signed(algorithm);
            let proof = KeyHolder::new(&cert, &key)
                .and_then(|k| k.prove("acct_a"))
                .expect("signs");
            assert_eq!(verify(&cert, "acct_a", &proof), Ok(()), "{algorithm:?}");
            let replayed = verify(&cert, "acct_b", &proof).unwrap_err();
            assert!(replayed.contains("acct_b"), "{replayed}");
            let (other, _) = self_signed(algorithm);
            assert!(verify(&other, "acct_a", &proof).is_err(), "{algorithm:?}");
        }
    }

    #[test]
    fn ecdsa_proofs_may_be_raw_r_and_s() {
        use p256::ecdsa::signature::Signer;
        use p256::pkcs8::DecodePrivateKey;
        let (cert, key) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let secret = p256::SecretKey::from_pkcs8_pem(&key).expect("PKCS#8");
        let signature: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(&secret)
            .sign(message("acct_a", &cert.fingerprint).as_bytes());
        assert_eq!(
            verify(&cert, "acct_a", &signature.to_bytes()),
            Ok(()),
            "raw r||s"
        );
        let mut truncated = signature.to_bytes().to_vec();
        truncated.pop();
        assert!(verify(&cert, "acct_a", &truncated).is_err());
    }

    #[test]
    fn a_key_that_is_not_the_certificates_signs_nothing() {
        let (cert, _) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let (_, other_key) = self_signed(&rcgen::PKCS_ECDSA_P256_SHA256);
        let err = |key: &str| KeyHolder::new(&cert, key).err().unwrap_or_default();
        assert_eq!(err(&other_key), "the key does not match the certificate");
        let (_, ed_key) = self_signed(&rcgen::PKCS_ED25519);
        let err = err(&ed_key);
        assert!(err.contains("P-256"), "{err}");
        assert!(!err.contains("PRIVATE KEY-----"), "no key in errors: {err}");
    }
}
