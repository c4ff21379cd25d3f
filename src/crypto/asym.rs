//! Asymmetric algorithms outside the token: algorithm names, signature schemes, the data
//! a signature covers, and ECDSA signature encodings. Public keys live in `public_key`,
//! RSA-OAEP decoding in `oaep`; both are re-exported here, the one place callers name.
//!
//! Private keys never appear here: signing and the RSA private operation happen in the HSM.

use sha2::Digest;

pub use super::oaep::oaep_decode;
pub use super::public_key::{PublicKey, PublicKeyError, TokenPublicKey};

/// The key types Coffer generates in the token or imports as public keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EcP256,
    EcP384,
    Ed25519,
}

/// The elliptic curves supported for ECDSA.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Curve {
    P256,
    P384,
}

impl KeyAlgorithm {
    /// Every supported algorithm, in the order documented.
    pub const ALL: [KeyAlgorithm; 6] = [
        Self::Rsa2048,
        Self::Rsa3072,
        Self::Rsa4096,
        Self::EcP256,
        Self::EcP384,
        Self::Ed25519,
    ];

    /// The API name: `rsa-2048`, `ec-p256`, `ed25519`, ...
    pub fn name(self) -> &'static str {
        match self {
            Self::Rsa2048 => "rsa-2048",
            Self::Rsa3072 => "rsa-3072",
            Self::Rsa4096 => "rsa-4096",
            Self::EcP256 => "ec-p256",
            Self::EcP384 => "ec-p384",
            Self::Ed25519 => "ed25519",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Modulus size for RSA keys.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            Self::Rsa2048 => Some(2048),
            Self::Rsa3072 => Some(3072),
            Self::Rsa4096 => Some(4096),
            _ => None,
        }
    }

    pub fn curve(self) -> Option<Curve> {
        match self {
            Self::EcP256 => Some(Curve::P256),
            Self::EcP384 => Some(Curve::P384),
            _ => None,
        }
    }

    /// Only RSA keys can decrypt; every algorithm can sign.
    pub fn can_decrypt(self) -> bool {
        self.rsa_bits().is_some()
    }

    /// The scheme used when a sign or verify request names none.
    pub fn default_scheme(self) -> SignatureScheme {
        match self {
            Self::Rsa2048 | Self::Rsa3072 | Self::Rsa4096 => {
                SignatureScheme::RsaPss(HashAlg::Sha256)
            }
            Self::EcP256 => SignatureScheme::Ecdsa(Curve::P256),
            Self::EcP384 => SignatureScheme::Ecdsa(Curve::P384),
            Self::Ed25519 => SignatureScheme::Ed25519,
        }
    }

    /// The schemes a key of this algorithm may use.
    pub fn schemes(self) -> Vec<SignatureScheme> {
        match self {
            Self::EcP256 | Self::EcP384 | Self::Ed25519 => vec![self.default_scheme()],
            _ => HashAlg::ALL
                .into_iter()
                .flat_map(|h| [SignatureScheme::RsaPss(h), SignatureScheme::RsaPkcs1(h)])
                .collect(),
        }
    }
}

impl Curve {
    /// ECDSA in Coffer always uses the curve's own hash.
    pub fn hash(self) -> HashAlg {
        match self {
            Self::P256 => HashAlg::Sha256,
            Self::P384 => HashAlg::Sha384,
        }
    }

    /// Length of one scalar: raw signatures are twice this.
    pub fn scalar_len(self) -> usize {
        match self {
            Self::P256 => 32,
            Self::P384 => 48,
        }
    }
}

/// Message digests used by signature schemes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlg {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlg {
    pub const ALL: [HashAlg; 3] = [Self::Sha256, Self::Sha384, Self::Sha512];

    pub fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "sha256",
            Self::Sha384 => "sha384",
            Self::Sha512 => "sha512",
        }
    }

    pub fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }

    pub fn digest(self, message: &[u8]) -> Vec<u8> {
        match self {
            Self::Sha256 => sha2::Sha256::digest(message).to_vec(),
            Self::Sha384 => sha2::Sha384::digest(message).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(message).to_vec(),
        }
    }

    /// The DER `DigestInfo` prefix that PKCS#1 v1.5 signatures put before the digest
    /// (RFC 8017, section 9.2, note 1). `CKM_RSA_PKCS` signs prefix || digest.
    pub fn digest_info_prefix(self) -> &'static [u8] {
        match self {
            Self::Sha256 => &[
                0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x01, 0x05, 0x00, 0x04, 0x20,
            ],
            Self::Sha384 => &[
                0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x02, 0x05, 0x00, 0x04, 0x30,
            ],
            Self::Sha512 => &[
                0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
                0x03, 0x05, 0x00, 0x04, 0x40,
            ],
        }
    }
}

/// A signature scheme: how a digest or message becomes a signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// RSASSA-PSS, MGF1 with the same hash, salt as long as the hash.
    RsaPss(HashAlg),
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(HashAlg),
    /// ECDSA with the curve's hash.
    Ecdsa(Curve),
    /// Pure Ed25519 (RFC 8032): signs the message itself, never a digest.
    Ed25519,
}

impl SignatureScheme {
    /// The API name: `rsa-pss-sha256`, `rsa-pkcs1-sha384`, `ecdsa-sha256`, `ed25519`.
    pub fn name(self) -> String {
        match self {
            Self::RsaPss(h) => format!("rsa-pss-{}", h.name()),
            Self::RsaPkcs1(h) => format!("rsa-pkcs1-{}", h.name()),
            Self::Ecdsa(c) => format!("ecdsa-{}", c.hash().name()),
            Self::Ed25519 => "ed25519".to_owned(),
        }
    }

    /// Resolves a requested scheme name for a key, or explains what the key accepts.
    pub fn for_key(algorithm: KeyAlgorithm, requested: Option<&str>) -> Result<Self, String> {
        let Some(requested) = requested else {
            return Ok(algorithm.default_scheme());
        };
        let allowed = algorithm.schemes();
        allowed
            .iter()
            .copied()
            .find(|s| s.name() == requested)
            .ok_or_else(|| {
                let names: Vec<String> = allowed.iter().map(|s| s.name()).collect();
                format!(
                    "{} keys sign with {}; `{requested}` is not one of them",
                    algorithm.name(),
                    names.join(", ")
                )
            })
    }

    /// The digest a caller must send instead of the message; `None` for Ed25519.
    pub fn hash(self) -> Option<HashAlg> {
        match self {
            Self::RsaPss(h) | Self::RsaPkcs1(h) => Some(h),
            Self::Ecdsa(c) => Some(c.hash()),
            Self::Ed25519 => None,
        }
    }
}

/// What a sign or verify request covers: the message, or a digest the caller computed.
pub enum SignedData {
    Message(Vec<u8>),
    Digest(Vec<u8>),
}

impl SignedData {
    /// The digest to sign or verify under `scheme`, checking a caller's digest length.
    /// Ed25519 has no pre-hashed form in Coffer: it signs the message itself.
    pub fn digest_for(&self, scheme: SignatureScheme) -> Result<Vec<u8>, String> {
        let Some(hash) = scheme.hash() else {
            return match self {
                Self::Message(m) => Ok(m.clone()),
                Self::Digest(_) => Err(
                    "ed25519 signs the message itself (pure Ed25519): send `message`, not `digest`"
                        .to_owned(),
                ),
            };
        };
        match self {
            Self::Message(m) => Ok(hash.digest(m)),
            Self::Digest(d) if d.len() == hash.output_len() => Ok(d.clone()),
            Self::Digest(d) => Err(format!(
                "a {} digest is {} bytes; got {}",
                hash.name(),
                hash.output_len(),
                d.len()
            )),
        }
    }
}

/// How ECDSA signatures are encoded on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EcdsaEncoding {
    /// ASN.1 DER `SEQUENCE { r INTEGER, s INTEGER }`, what OpenSSL and X.509 use (default).
    Der,
    /// Fixed-length r || s (IEEE P1363, JOSE), what PKCS#11 returns.
    Raw,
}

impl EcdsaEncoding {
    pub fn parse(name: Option<&str>) -> Result<Self, String> {
        match name {
            None | Some("der") => Ok(Self::Der),
            Some("raw") => Ok(Self::Raw),
            Some(other) => Err(format!(
                "signature_format must be `der` or `raw`, not `{other}`"
            )),
        }
    }
}

/// Converts the token's raw r || s into the requested encoding.
pub fn encode_ecdsa(curve: Curve, raw: &[u8], encoding: EcdsaEncoding) -> Option<Vec<u8>> {
    if encoding == EcdsaEncoding::Raw {
        return Some(raw.to_vec());
    }
    Some(match curve {
        Curve::P256 => p256::ecdsa::Signature::from_slice(raw)
            .ok()?
            .to_der()
            .as_bytes()
            .to_vec(),
        Curve::P384 => p384::ecdsa::Signature::from_slice(raw)
            .ok()?
            .to_der()
            .as_bytes()
            .to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_algorithm_name_round_trips() {
        for a in KeyAlgorithm::ALL {
            assert_eq!(KeyAlgorithm::parse(a.name()), Some(a));
        }
        assert_eq!(KeyAlgorithm::parse("rsa-1024"), None);
    }

    #[test]
    fn ecdsa_keys_only_accept_the_curves_hash() {
        assert!(SignatureScheme::for_key(KeyAlgorithm::EcP256, Some("ecdsa-sha256")).is_ok());
        let err = SignatureScheme::for_key(KeyAlgorithm::EcP256, Some("ecdsa-sha384")).unwrap_err();
        assert!(err.contains("ecdsa-sha256"), "{err}");
        assert!(SignatureScheme::for_key(KeyAlgorithm::Rsa2048, Some("ed25519")).is_err());
    }

    #[test]
    fn digests_of_the_wrong_length_are_refused() {
        let scheme = SignatureScheme::Ecdsa(Curve::P384);
        assert!(SignedData::Digest(vec![0; 32]).digest_for(scheme).is_err());
        assert_eq!(
            SignedData::Digest(vec![7; 48]).digest_for(scheme).unwrap(),
            vec![7; 48]
        );
        assert!(
            SignedData::Digest(vec![0; 64])
                .digest_for(SignatureScheme::Ed25519)
                .is_err()
        );
    }
}
