//! In-process AES-256-GCM, the ciphertext format, and key check values.
//!
//! Ciphertext string: `coffer:v<version>:<base64(header || ciphertext || tag)>` where
//!
//! | bytes | field |
//! |---|---|
//! | 1 | format, `0x01` |
//! | 16 | key reference ("hash"): first 16 bytes of SHA-256(`keyring id` `:` `version`) |
//! | 12 | GCM nonce, random |
//!
//! The AAD is the 29-byte header followed by the canonical encoding of the caller's
//! context (see [`canonical_context`]), so any change to any byte, to the version prefix or
//! to the context fails authentication.

pub mod asym;
pub mod bundle;
pub mod generate;
mod oaep;
pub mod possession;
mod public_key;
pub mod shares;
pub mod x509;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use zeroize::{Zeroize, Zeroizing};

/// Format byte of the ciphertext header.
pub const FORMAT_V1: u8 = 0x01;
/// Length of the key reference carried in every ciphertext.
pub const KEY_REF_LEN: usize = 16;
/// Length of the header: format, key reference, nonce.
pub const HEADER_LEN: usize = 1 + KEY_REF_LEN + 12;
const TAG_LEN: usize = 16;

/// A 256-bit plaintext key. No `Debug`, `Clone` or `Serialize`; zeroized on drop.
pub struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    /// Copies exactly 32 bytes into a data key.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let array: [u8; 32] = bytes.try_into().ok()?;
        Some(Self(Zeroizing::new(array)))
    }

    /// The key bytes, for the AEAD only.
    fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    fn aead(&self) -> LessSafeKey {
        LessSafeKey::new(UnboundKey::new(&AES_256_GCM, self.expose()).expect("32-byte AES-256 key"))
    }
}

/// An AWS secret access key's text, from a data key the HSM generated: standard base64 of its
/// first 30 bytes, 40 characters like AWS's own (240 bits of the HSM's randomness).
pub fn aws_secret_text(key: &DataKey) -> Zeroizing<String> {
    Zeroizing::new(B64.encode(&key.expose()[..30]))
}

/// Cryptographically secure random bytes from the operating system.
pub fn random_bytes(len: usize) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(vec![0u8; len]);
    SystemRandom::new()
        .fill(&mut out)
        .expect("the OS random generator does not fail on Linux");
    out
}

/// A fresh 96-bit GCM nonce. Never the all-zero nonce, which key check values use.
pub fn random_nonce() -> [u8; 12] {
    loop {
        let mut nonce = [0u8; 12];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the OS random generator does not fail on Linux");
        if nonce != [0u8; 12] {
            return nonce;
        }
    }
}

/// The key reference of a keyring version: what a ciphertext says it was made with.
pub fn key_ref(keyring_id: &str, version: u32) -> [u8; KEY_REF_LEN] {
    let digest = Sha256::digest(format!("{keyring_id}:{version}").as_bytes());
    digest[..KEY_REF_LEN]
        .try_into()
        .expect("SHA-256 is longer than 16 bytes")
}

/// Canonical, unambiguous encoding of an encryption context: entries sorted by key (the
/// `BTreeMap` order, bytewise), as `u32 count` then for each entry `u32 len || key ||
/// u32 len || value`, all lengths big-endian. The empty context encodes as `00000000`.
pub fn canonical_context(context: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::with_capacity(4 + context.len() * 16);
    out.extend_from_slice(&(context.len() as u32).to_be_bytes());
    for (key, value) in context {
        for part in [key, value] {
            out.extend_from_slice(&(part.len() as u32).to_be_bytes());
            out.extend_from_slice(part.as_bytes());
        }
    }
    out
}

/// The parts of a ciphertext string, before it is authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    pub version: u32,
    pub key_ref: [u8; KEY_REF_LEN],
    pub nonce: [u8; 12],
    /// Ciphertext followed by the 16-byte tag.
    pub sealed: Vec<u8>,
}

/// Why a ciphertext string could not even be parsed. All of these are "does not
/// authenticate" to a caller: the distinction only helps the server log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    #[error("not a coffer ciphertext")]
    Prefix,
    #[error("bad key version in ciphertext")]
    Version,
    #[error("ciphertext is not base64")]
    Base64,
    #[error("ciphertext too short")]
    Truncated,
    #[error("unknown ciphertext format")]
    Format,
}

impl Envelope {
    /// Builds the header (also the first part of the AAD).
    pub fn header(&self) -> [u8; HEADER_LEN] {
        let mut header = [0u8; HEADER_LEN];
        header[0] = FORMAT_V1;
        header[1..1 + KEY_REF_LEN].copy_from_slice(&self.key_ref);
        header[1 + KEY_REF_LEN..].copy_from_slice(&self.nonce);
        header
    }

    /// AAD = header || canonical context.
    pub fn aad(&self, context: &BTreeMap<String, String>) -> Vec<u8> {
        let mut aad = self.header().to_vec();
        aad.extend_from_slice(&canonical_context(context));
        aad
    }

    /// The ciphertext string.
    pub fn encode(&self) -> String {
        let mut body = self.header().to_vec();
        body.extend_from_slice(&self.sealed);
        format!("coffer:v{}:{}", self.version, B64.encode(body))
    }

    /// Parses a ciphertext string. The version in the prefix must be canonical decimal.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        let rest = text.strip_prefix("coffer:v").ok_or(FormatError::Prefix)?;
        let (version, body) = rest.split_once(':').ok_or(FormatError::Prefix)?;
        let canonical = !version.is_empty() && !version.starts_with('0');
        let version: u32 = version
            .parse()
            .ok()
            .filter(|_| canonical)
            .ok_or(FormatError::Version)?;
        let body = B64.decode(body).map_err(|_| FormatError::Base64)?;
        if body.len() < HEADER_LEN + TAG_LEN {
            return Err(FormatError::Truncated);
        }
        if body[0] != FORMAT_V1 {
            return Err(FormatError::Format);
        }
        Ok(Self {
            version,
            key_ref: body[1..1 + KEY_REF_LEN]
                .try_into()
                .expect("sliced to length"),
            nonce: body[1 + KEY_REF_LEN..HEADER_LEN]
                .try_into()
                .expect("sliced to length"),
            sealed: body[HEADER_LEN..].to_vec(),
        })
    }
}

/// The AEAD did not authenticate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("ciphertext does not authenticate")]
pub struct Unauthentic;

/// AES-256-GCM seal in process: returns ciphertext || tag.
pub fn seal(key: &DataKey, nonce: [u8; 12], aad: &[u8], plaintext: &[u8]) -> Vec<u8> {
    let mut buffer = Vec::with_capacity(plaintext.len() + TAG_LEN);
    buffer.extend_from_slice(plaintext);
    key.aead()
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buffer,
        )
        .expect("GCM seal fails only for inputs over 64 GiB");
    buffer
}

/// AES-256-GCM open in process.
pub fn open(
    key: &DataKey,
    nonce: [u8; 12],
    aad: &[u8],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, Unauthentic> {
    let mut buffer = Zeroizing::new(sealed.to_vec());
    let len = key
        .aead()
        .open_in_place(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut buffer,
        )
        .map_err(|_| Unauthentic)?
        .len();
    buffer[len..].zeroize();
    buffer.truncate(len);
    Ok(buffer)
}

/// Input of a key check value: AES-256-GCM under the all-zero nonce (which real
/// encryptions never use, see [`random_nonce`]) of 16 zero bytes with no AAD.
pub const KCV_NONCE: [u8; 12] = [0u8; 12];
/// See [`KCV_NONCE`].
pub const KCV_PLAINTEXT: [u8; 16] = [0u8; 16];

/// Key check value from the output of the KCV encryption: its first 8 bytes, hex. It
/// identifies a key without revealing it, and is computed the same way in the token.
pub fn kcv_from_output(output: &[u8]) -> String {
    hex::encode(&output[..8])
}

/// Key check value of an in-process key.
pub fn key_check_value(key: &DataKey) -> String {
    kcv_from_output(&seal(key, KCV_NONCE, &[], &KCV_PLAINTEXT))
}

/// The key that seals a provisioned machine's bundle: derived from the download token's
/// text, so the server cannot open a stored bundle without the link it handed out.
pub fn bundle_key(token_text: &[u8]) -> DataKey {
    let mut hasher = Sha256::new();
    hasher.update(b"coffer machine bundle v1\0");
    hasher.update(token_text);
    let digest = Zeroizing::new(<[u8; 32]>::from(hasher.finalize()));
    DataKey::from_slice(&digest[..]).expect("SHA-256 is 32 bytes")
}

/// A fresh Ed25519 key pair for a machine: the private key as PKCS#8 v1 PEM (to hand over
/// once, or to write on the machine) and the raw 32-byte public key (to keep).
pub fn generate_ed25519() -> (Zeroizing<String>, [u8; 32]) {
    let seed = random_bytes(32);
    let seed: &[u8; 32] = seed[..].try_into().expect("32 bytes");
    let key = ed25519_dalek::SigningKey::from_bytes(seed);
    (ed25519_pkcs8_v1_pem(seed), key.verifying_key().to_bytes())
}

/// DER of an RFC 5208 PrivateKeyInfo (version 0) for Ed25519 (RFC 8410), up to the 32-byte
/// seed: SEQUENCE { INTEGER 0, SEQUENCE { OID 1.3.101.112 }, OCTET STRING { OCTET STRING
/// (32) } }.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] = [
    0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
];

/// An Ed25519 private key as PKCS#8 v1 PEM: the seed only, no embedded public key.
/// ed25519-dalek's `to_pkcs8_pem` writes v2 (OneAsymmetricKey with the public key), which
/// OpenSSL 3.0 and Python `cryptography` refuse.
pub fn ed25519_pkcs8_v1_pem(seed: &[u8; 32]) -> Zeroizing<String> {
    let mut der = Zeroizing::new(Vec::with_capacity(48));
    der.extend_from_slice(&ED25519_PKCS8_V1_PREFIX);
    der.extend_from_slice(seed);
    let body = Zeroizing::new(B64.encode(&der[..]));
    // 48 bytes are 64 base64 characters: one line.
    Zeroizing::new(format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        body.as_str()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn context(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn ed25519_private_keys_are_pkcs8_v1_as_in_rfc_8410() {
        // RFC 8410, section 10.3: the example private key.
        let seed: [u8; 32] =
            hex::decode("d4ee72dbf913584ad5b6d8f1f769f8ad3afe7c28cbf1d4fbe097a88f44755842")
                .unwrap()
                .try_into()
                .unwrap();
        assert_eq!(
            ed25519_pkcs8_v1_pem(&seed).as_str(),
            "-----BEGIN PRIVATE KEY-----\n\
             MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n\
             -----END PRIVATE KEY-----\n"
        );
        // And the machine's own reader (the CLI) takes it back.
        use ed25519_dalek::pkcs8::DecodePrivateKey;
        let (pem, public) = generate_ed25519();
        let key = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).unwrap();
        assert_eq!(key.verifying_key().to_bytes(), public);
    }

    #[test]
    fn a_sealed_payload_opens_with_the_same_aad_only() {
        let key = DataKey::from_slice(&[7u8; 32]).unwrap();
        let nonce = random_nonce();
        let sealed = seal(&key, nonce, b"aad", b"hello");
        assert_eq!(&open(&key, nonce, b"aad", &sealed).unwrap()[..], b"hello");
        assert_eq!(open(&key, nonce, b"aae", &sealed), Err(Unauthentic));
    }

    #[test]
    fn canonical_context_is_order_independent_and_unambiguous() {
        let a = canonical_context(&context(&[("b", "2"), ("a", "1")]));
        let b = canonical_context(&context(&[("a", "1"), ("b", "2")]));
        assert_eq!(a, b);
        assert_ne!(
            canonical_context(&context(&[("ab", "c")])),
            canonical_context(&context(&[("a", "bc")]))
        );
        assert_eq!(canonical_context(&BTreeMap::new()), vec![0, 0, 0, 0]);
    }

    #[test]
    fn envelope_round_trips_and_rejects_noncanonical_versions() {
        let envelope = Envelope {
            version: 3,
            key_ref: [1; 16],
            nonce: [2; 12],
            sealed: vec![3; 20],
        };
        let text = envelope.encode();
        assert!(text.starts_with("coffer:v3:"));
        assert_eq!(Envelope::parse(&text).unwrap(), envelope);
        assert_eq!(
            Envelope::parse(&text.replace("coffer:v3:", "coffer:v03:")),
            Err(FormatError::Version)
        );
        assert_eq!(
            Envelope::parse("coffer:v1:AAAA"),
            Err(FormatError::Truncated)
        );
        assert_eq!(Envelope::parse("vault:v1:AAAA"), Err(FormatError::Prefix));
    }

    /// The test vector printed in the README; `tests/api/format.rs` checks the same bytes.
    #[test]
    fn readme_test_vector_decrypts() {
        let key = DataKey::from_slice(
            &hex::decode("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
                .unwrap(),
        )
        .unwrap();
        let keyring_id = "kr_00000000000000000000000000000000";
        let envelope = Envelope {
            version: 1,
            key_ref: key_ref(keyring_id, 1),
            nonce: [0x11; 12],
            sealed: vec![],
        };
        let ctx = context(&[("tenant", "acme")]);
        let sealed = seal(&key, envelope.nonce, &envelope.aad(&ctx), b"hello coffer");
        let text = Envelope { sealed, ..envelope }.encode();
        let parsed = Envelope::parse(&text).unwrap();
        assert_eq!(
            &open(&key, parsed.nonce, &parsed.aad(&ctx), &parsed.sealed).unwrap()[..],
            b"hello coffer"
        );
        assert_eq!(text, README_VECTOR_CIPHERTEXT, "README vector changed");
    }

    /// The README's test vector (also checked by Python `cryptography` in `tests/api/format.rs`).
    const README_VECTOR_CIPHERTEXT: &str =
        "coffer:v1:AXUuMub/Rd24ghFVpVUKDaURERERERERERERERHoBfjT1yBMwQ4ZQHAbGR5V7KQiUjDrjwDReQ21";
}
