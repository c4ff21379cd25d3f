//! Public keys of the supported algorithms: built from what the token returns after
//! generation or from an imported SubjectPublicKeyInfo, encoded as SPKI DER, PEM or JWK,
//! fingerprinted, and used to verify signatures.

use super::asym::{Curve, EcdsaEncoding, HashAlg, KeyAlgorithm, SignatureScheme, SignedData};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use ed25519_dalek::pkcs8::{DecodePublicKey as _, EncodePublicKey as _};
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::LineEnding;
use p256::pkcs8::der::Decode;
use p256::pkcs8::der::asn1::OctetStringRef;
use rsa::traits::PublicKeyParts;
use sha2::Digest;

/// A public key as read from the token right after generation.
pub enum TokenPublicKey {
    Rsa {
        modulus: Vec<u8>,
        exponent: Vec<u8>,
    },
    /// `CKA_EC_POINT`: a DER OCTET STRING around the SEC1 point (or the Ed25519 key).
    Ec {
        curve: Curve,
        ec_point: Vec<u8>,
    },
    Ed25519 {
        ec_point: Vec<u8>,
    },
}

/// Why a public key could not be used.
#[derive(Debug, thiserror::Error)]
pub enum PublicKeyError {
    #[error("not a SubjectPublicKeyInfo (PEM `PUBLIC KEY` or its DER): {0}")]
    Malformed(String),
    #[error("unsupported public key: {0}")]
    Unsupported(String),
}

/// A validated public key of one of the supported algorithms.
#[derive(Clone)]
pub enum PublicKey {
    Rsa(rsa::RsaPublicKey),
    P256(p256::PublicKey),
    P384(p384::PublicKey),
    Ed25519(ed25519_dalek::VerifyingKey),
}

fn strip_octet_string(ec_point: &[u8]) -> Result<&[u8], PublicKeyError> {
    OctetStringRef::from_der(ec_point)
        .map(|o| o.as_bytes())
        .map_err(|e| PublicKeyError::Malformed(format!("CKA_EC_POINT: {e}")))
}

fn malformed(e: impl std::fmt::Display) -> PublicKeyError {
    PublicKeyError::Malformed(e.to_string())
}

/// ECDSA verification of a digest: the same steps for each curve's crate (`p256`, `p384`);
/// one generic function over the curve would need a page of trait bounds.
macro_rules! verify_prehashed_ecdsa {
    ($curve:ident, $key:expr, $digest:expr, $signature:expr, $encoding:expr) => {{
        let signature = match $encoding {
            EcdsaEncoding::Der => $curve::ecdsa::Signature::from_der($signature),
            EcdsaEncoding::Raw => $curve::ecdsa::Signature::from_slice($signature),
        };
        signature.is_ok_and(|signature| {
            $curve::ecdsa::VerifyingKey::from($key)
                .verify_prehash($digest, &signature)
                .is_ok()
        })
    }};
}

impl PublicKey {
    /// Builds the public key from the attributes the token returned.
    pub fn from_token(material: &TokenPublicKey) -> Result<Self, PublicKeyError> {
        match material {
            TokenPublicKey::Rsa { modulus, exponent } => rsa::RsaPublicKey::new(
                rsa::BigUint::from_bytes_be(modulus),
                rsa::BigUint::from_bytes_be(exponent),
            )
            .map(Self::Rsa)
            .map_err(malformed),
            TokenPublicKey::Ec { curve, ec_point } => {
                let point = strip_octet_string(ec_point)?;
                match curve {
                    Curve::P256 => p256::PublicKey::from_sec1_bytes(point)
                        .map(Self::P256)
                        .map_err(malformed),
                    Curve::P384 => p384::PublicKey::from_sec1_bytes(point)
                        .map(Self::P384)
                        .map_err(malformed),
                }
            }
            TokenPublicKey::Ed25519 { ec_point } => {
                let bytes: [u8; 32] = strip_octet_string(ec_point)?
                    .try_into()
                    .map_err(|_| malformed("an Ed25519 public key is 32 bytes"))?;
                ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                    .map(Self::Ed25519)
                    .map_err(malformed)
            }
        }
    }

    /// Parses a DER SubjectPublicKeyInfo of a supported algorithm and size.
    pub fn from_spki_der(der: &[u8]) -> Result<Self, PublicKeyError> {
        use x509_parser::prelude::FromDer;
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| malformed(format!("{e}")))?;
        if !rest.is_empty() {
            return Err(malformed("trailing bytes after the key"));
        }
        let oid = spki.algorithm.algorithm.to_id_string();
        let key = match oid.as_str() {
            "1.2.840.113549.1.1.1" => {
                use rsa::pkcs8::DecodePublicKey;
                Self::Rsa(rsa::RsaPublicKey::from_public_key_der(der).map_err(malformed)?)
            }
            "1.2.840.10045.2.1" => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string())
                    .unwrap_or_default();
                match curve.as_str() {
                    "1.2.840.10045.3.1.7" => {
                        use p256::pkcs8::DecodePublicKey;
                        Self::P256(p256::PublicKey::from_public_key_der(der).map_err(malformed)?)
                    }
                    "1.3.132.0.34" => {
                        use p384::pkcs8::DecodePublicKey;
                        Self::P384(p384::PublicKey::from_public_key_der(der).map_err(malformed)?)
                    }
                    other => {
                        return Err(PublicKeyError::Unsupported(format!(
                            "EC curve {other}; Coffer supports P-256 and P-384"
                        )));
                    }
                }
            }
            "1.3.101.112" => Self::Ed25519(
                ed25519_dalek::VerifyingKey::from_public_key_der(der).map_err(malformed)?,
            ),
            other => {
                return Err(PublicKeyError::Unsupported(format!(
                    "algorithm {other}; Coffer supports RSA, EC P-256/P-384 and Ed25519"
                )));
            }
        };
        key.algorithm()?;
        Ok(key)
    }

    /// Parses PEM (`PUBLIC KEY`) or, failing that, DER.
    pub fn from_pem_or_der(input: &[u8]) -> Result<Self, PublicKeyError> {
        if input.starts_with(b"-----") {
            let (_, pem) = x509_parser::pem::parse_x509_pem(input)
                .map_err(|e| malformed(format!("bad PEM: {e}")))?;
            if pem.label != "PUBLIC KEY" {
                return Err(malformed(format!(
                    "expected a `PUBLIC KEY` PEM block, found `{}`",
                    pem.label
                )));
            }
            return Self::from_spki_der(&pem.contents);
        }
        Self::from_spki_der(input)
    }

    /// The algorithm, refusing RSA sizes Coffer does not support.
    pub fn algorithm(&self) -> Result<KeyAlgorithm, PublicKeyError> {
        Ok(match self {
            Self::Rsa(k) => match k.n().bits() {
                2048 => KeyAlgorithm::Rsa2048,
                3072 => KeyAlgorithm::Rsa3072,
                4096 => KeyAlgorithm::Rsa4096,
                bits => {
                    return Err(PublicKeyError::Unsupported(format!(
                        "RSA-{bits}; Coffer supports RSA 2048, 3072 and 4096"
                    )));
                }
            },
            Self::P256(_) => KeyAlgorithm::EcP256,
            Self::P384(_) => KeyAlgorithm::EcP384,
            Self::Ed25519(_) => KeyAlgorithm::Ed25519,
        })
    }

    /// DER SubjectPublicKeyInfo.
    pub fn to_spki_der(&self) -> Vec<u8> {
        let encoded = match self {
            Self::Rsa(k) => rsa::pkcs8::EncodePublicKey::to_public_key_der(k),
            Self::P256(k) => p256::pkcs8::EncodePublicKey::to_public_key_der(k),
            Self::P384(k) => p384::pkcs8::EncodePublicKey::to_public_key_der(k),
            Self::Ed25519(k) => k.to_public_key_der(),
        };
        encoded
            .expect("a validated public key always encodes")
            .as_bytes()
            .to_vec()
    }

    /// PEM `PUBLIC KEY` (SPKI), LF line endings.
    pub fn to_pem(&self) -> String {
        let encoded = match self {
            Self::Rsa(k) => rsa::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF),
            Self::P256(k) => p256::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF),
            Self::P384(k) => p384::pkcs8::EncodePublicKey::to_public_key_pem(k, LineEnding::LF),
            Self::Ed25519(k) => k.to_public_key_pem(LineEnding::LF),
        };
        encoded.expect("a validated public key always encodes")
    }

    /// The public key as a JWK (RFC 7517/7518/8037), with `kid` set by the caller.
    pub fn to_jwk(&self, kid: &str) -> serde_json::Value {
        let b64 = |bytes: &[u8]| B64URL.encode(bytes);
        match self {
            Self::Rsa(k) => serde_json::json!({
                "kty": "RSA", "kid": kid,
                "n": b64(&k.n().to_bytes_be()), "e": b64(&k.e().to_bytes_be()),
            }),
            Self::P256(k) => {
                let point = k.to_encoded_point(false);
                serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
                    "x": b64(point.x().expect("uncompressed")), "y": b64(point.y().expect("uncompressed"))})
            }
            Self::P384(k) => {
                let point = k.to_encoded_point(false);
                serde_json::json!({"kty": "EC", "crv": "P-384", "kid": kid,
                    "x": b64(point.x().expect("uncompressed")), "y": b64(point.y().expect("uncompressed"))})
            }
            Self::Ed25519(k) => serde_json::json!({
                "kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(k.as_bytes()),
            }),
        }
    }

    /// SHA-256 of the DER SPKI, hex: how certificates are matched to keys.
    pub fn fingerprint(&self) -> String {
        hex::encode(sha2::Sha256::digest(self.to_spki_der()))
    }

    /// Checks a signature. `data` is the digest for hashed schemes, the message for Ed25519
    /// (see [`SignedData::digest_for`](super::asym::SignedData::digest_for)). Any malformed signature is simply invalid.
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        data: &[u8],
        signature: &[u8],
        encoding: EcdsaEncoding,
    ) -> bool {
        match (self, scheme) {
            (Self::Rsa(k), SignatureScheme::RsaPkcs1(h)) => {
                k.verify(pkcs1(h), data, signature).is_ok()
            }
            (Self::Rsa(k), SignatureScheme::RsaPss(h)) => k.verify(pss(h), data, signature).is_ok(),
            (Self::P256(k), SignatureScheme::Ecdsa(Curve::P256)) => {
                verify_prehashed_ecdsa!(p256, k, data, signature, encoding)
            }
            (Self::P384(k), SignatureScheme::Ecdsa(Curve::P384)) => {
                verify_prehashed_ecdsa!(p384, k, data, signature, encoding)
            }
            (Self::Ed25519(k), SignatureScheme::Ed25519) => {
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|sig| k.verify_strict(data, &sig).is_ok())
            }
            _ => false,
        }
    }

    /// Checks a signature over `input`: a whole message or the digest of one. ECDSA over a
    /// whole message goes through ring, whose P-256 and P-384 verification is several times
    /// faster than the RustCrypto curves' (it hashes the message itself, so it cannot take
    /// a digest); everything else through [`verify`](Self::verify) on the digest.
    pub fn verify_signed(
        &self,
        scheme: SignatureScheme,
        input: &SignedData,
        signature: &[u8],
        encoding: EcdsaEncoding,
    ) -> Result<bool, String> {
        if let (SignedData::Message(message), Some((algorithm, point))) =
            (input, self.ring_ecdsa(scheme, encoding))
        {
            return Ok(ring::signature::UnparsedPublicKey::new(algorithm, point)
                .verify(message, signature)
                .is_ok());
        }
        let data = input.digest_for(scheme)?;
        Ok(self.verify(scheme, &data, signature, encoding))
    }

    /// ring's verification algorithm for this key's ECDSA scheme (P-256 with SHA-256,
    /// P-384 with SHA-384, the only pairs Coffer signs with) and the key's SEC1
    /// uncompressed point, which ring takes as the public key.
    fn ring_ecdsa(
        &self,
        scheme: SignatureScheme,
        encoding: EcdsaEncoding,
    ) -> Option<(
        &'static ring::signature::EcdsaVerificationAlgorithm,
        Vec<u8>,
    )> {
        use ring::signature as alg;
        let der = encoding == EcdsaEncoding::Der;
        match (self, scheme) {
            (Self::P256(k), SignatureScheme::Ecdsa(Curve::P256)) => Some((
                if der {
                    &alg::ECDSA_P256_SHA256_ASN1
                } else {
                    &alg::ECDSA_P256_SHA256_FIXED
                },
                k.to_encoded_point(false).as_bytes().to_vec(),
            )),
            (Self::P384(k), SignatureScheme::Ecdsa(Curve::P384)) => Some((
                if der {
                    &alg::ECDSA_P384_SHA384_ASN1
                } else {
                    &alg::ECDSA_P384_SHA384_FIXED
                },
                k.to_encoded_point(false).as_bytes().to_vec(),
            )),
            _ => None,
        }
    }

    /// The modulus length in bytes for RSA keys.
    pub fn rsa_len(&self) -> Option<usize> {
        match self {
            Self::Rsa(k) => Some(k.size()),
            _ => None,
        }
    }

    /// The subjectPublicKey bits (what rcgen calls the key's DER bytes).
    pub fn subject_public_key_bits(&self) -> Vec<u8> {
        use x509_parser::prelude::FromDer;
        let der = self.to_spki_der();
        let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der)
            .expect("Coffer's own SPKI encoding parses");
        spki.subject_public_key.data.to_vec()
    }
}

fn pkcs1(hash: HashAlg) -> rsa::Pkcs1v15Sign {
    match hash {
        HashAlg::Sha256 => rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        HashAlg::Sha384 => rsa::Pkcs1v15Sign::new::<sha2::Sha384>(),
        HashAlg::Sha512 => rsa::Pkcs1v15Sign::new::<sha2::Sha512>(),
    }
}

fn pss(hash: HashAlg) -> rsa::Pss {
    match hash {
        HashAlg::Sha256 => rsa::Pss::new::<sha2::Sha256>(),
        HashAlg::Sha384 => rsa::Pss::new::<sha2::Sha384>(),
        HashAlg::Sha512 => rsa::Pss::new::<sha2::Sha512>(),
    }
}
