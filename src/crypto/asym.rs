//! Asymmetric keys outside the token: algorithm names, public keys (SPKI DER, PEM, JWK),
//! signature schemes and encodings, verification, and RSA-OAEP decoding.
//!
//! Private keys never appear here: signing and the RSA private operation happen in the HSM.
//! Everything in this module works on public data, except [`oaep_decode`], which turns the
//! token's raw RSA output into the plaintext (SoftHSM 2.6.1 only offers OAEP with SHA-1, so
//! Coffer runs `CKM_RSA_X_509` in the token and removes the SHA-256 OAEP padding here).

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
use subtle::{ConditionallySelectable, ConstantTimeEq};
use zeroize::Zeroizing;

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
    /// (see [`SignedData::digest_for`]). Any malformed signature is simply invalid.
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
                let sig = match encoding {
                    EcdsaEncoding::Der => p256::ecdsa::Signature::from_der(signature),
                    EcdsaEncoding::Raw => p256::ecdsa::Signature::from_slice(signature),
                };
                sig.is_ok_and(|sig| {
                    p256::ecdsa::VerifyingKey::from(k)
                        .verify_prehash(data, &sig)
                        .is_ok()
                })
            }
            (Self::P384(k), SignatureScheme::Ecdsa(Curve::P384)) => {
                let sig = match encoding {
                    EcdsaEncoding::Der => p384::ecdsa::Signature::from_der(signature),
                    EcdsaEncoding::Raw => p384::ecdsa::Signature::from_slice(signature),
                };
                sig.is_ok_and(|sig| {
                    p384::ecdsa::VerifyingKey::from(k)
                        .verify_prehash(data, &sig)
                        .is_ok()
                })
            }
            (Self::Ed25519(k), SignatureScheme::Ed25519) => {
                ed25519_dalek::Signature::from_slice(signature)
                    .is_ok_and(|sig| k.verify_strict(data, &sig).is_ok())
            }
            _ => false,
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

/// MGF1 with SHA-256 (RFC 8017, B.2.1), XORed into `out`.
fn mgf1_xor(seed: &[u8], out: &mut [u8]) {
    for (counter, chunk) in out.chunks_mut(32).enumerate() {
        let mut hasher = sha2::Sha256::new();
        hasher.update(seed);
        hasher.update((counter as u32).to_be_bytes());
        for (o, m) in chunk.iter_mut().zip(hasher.finalize()) {
            *o ^= m;
        }
    }
}

/// EME-OAEP decoding with SHA-256, MGF1-SHA-256 and an empty label (RFC 8017, 7.1.2,
/// steps 3a-3g), given the raw RSA output `em` of a `k`-byte modulus. Every check runs in
/// constant time and every failure is the same `None`, so a caller cannot learn which
/// check failed (Manger's attack).
pub fn oaep_decode(em: &[u8], k: usize) -> Option<Zeroizing<Vec<u8>>> {
    const H: usize = 32;
    if k < 2 * H + 2 || em.len() > k {
        return None;
    }
    // The token may drop leading zero bytes: restore the full k-byte block.
    let mut block = Zeroizing::new(vec![0u8; k]);
    block[k - em.len()..].copy_from_slice(em);
    let (y, rest) = block.split_first_mut().expect("k > 0");
    let (masked_seed, masked_db) = rest.split_at_mut(H);
    mgf1_xor(masked_db, masked_seed);
    mgf1_xor(masked_seed, masked_db);
    let db = masked_db;
    let label_hash = sha2::Sha256::digest([]);
    let mut good = y.ct_eq(&0) & db[..H].ct_eq(&label_hash[..]);
    let mut looking = subtle::Choice::from(1);
    let mut separator = 0u32;
    for (i, byte) in db[H..].iter().enumerate() {
        let is_one = byte.ct_eq(&1);
        let is_zero = byte.ct_eq(&0);
        separator.conditional_assign(&(i as u32), looking & is_one);
        good &= !(looking & !is_one & !is_zero);
        looking &= !is_one;
    }
    good &= !looking;
    if bool::from(good) {
        Some(Zeroizing::new(db[H + separator as usize + 1..].to_vec()))
    } else {
        None
    }
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

    #[test]
    fn oaep_decoding_inverts_the_rsa_crates_encoding() {
        use rsa::traits::{PrivateKeyParts, PublicKeyParts};
        // Encrypt with an independent implementation, then undo RSA with the private key
        // (raw, as the token's CKM_RSA_X_509 does) and decode here.
        let mut rng = rsa::rand_core::OsRng;
        let private = rsa::RsaPrivateKey::new(&mut rng, 2048).unwrap();
        let public = private.to_public_key();
        let ct = public
            .encrypt(
                &mut rng,
                rsa::Oaep::new::<sha2::Sha256>(),
                b"attack at dawn",
            )
            .unwrap();
        let c = rsa::BigUint::from_bytes_be(&ct);
        let em = c.modpow(private.d(), private.n()).to_bytes_be();
        let k = public.size();
        assert_eq!(&oaep_decode(&em, k).unwrap()[..], b"attack at dawn");
        let mut tampered = em.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert!(oaep_decode(&tampered, k).is_none());
    }
}
