//! The cryptography of one-time shares: the passphrase (generated, hashed, stretched into a
//! key) and the sealing of the value under a key that needs both the HSM and the passphrase.
//!
//! Two keys, combined: a fresh 256-bit data key, stored only wrapped by the group's master
//! key in the HSM, and a 256-bit key stretched from the passphrase with Argon2id (its own
//! salt). The value's key is HKDF-SHA256 over `data key || passphrase key` (salt: the share
//! id; info: a fixed label), so the database alone (no HSM to unwrap the data key) and the
//! HSM alone (no passphrase, which is stored only as an Argon2id hash) cannot open it. One
//! derivation rather than sealing twice: one AEAD pass, one nonce, one tag, and a key that
//! depends on both secrets equally. AES-256-GCM binds the share id as AAD, so a sealed value
//! moved to another share's row does not open.
//!
//! Argon2id costs 19 MiB and two passes (the password baseline of `service::identity`): the
//! callers run these functions on a blocking thread.

use super::DataKey;
use zeroize::Zeroizing;

/// Argon2id cost: memory in KiB, passes, lanes (the OWASP baseline, as for passwords).
const ARGON2_MEMORY_KIB: u32 = 19_456;
const ARGON2_PASSES: u32 = 2;
const ARGON2_LANES: u32 = 1;

/// Length of the salt of the passphrase key.
pub const KDF_SALT_LEN: usize = 16;

/// The passphrase's alphabet: lowercase letters and digits without the look-alikes
/// (0/o, 1/l/i), so it can be read aloud or copied by hand.
const PASSPHRASE_ALPHABET: &[u8] = b"23456789abcdefghjkmnpqrstuvwxyz";
/// 24 characters of 31: 24 × log2(31) ≈ 119 bits.
const PASSPHRASE_CHARS: usize = 24;
/// Characters between the dashes of the shown passphrase.
const PASSPHRASE_GROUP: usize = 4;

const HKDF_INFO: &[u8] = b"coffer share v1";

fn argon2() -> argon2::Argon2<'static> {
    let params = argon2::Params::new(ARGON2_MEMORY_KIB, ARGON2_PASSES, ARGON2_LANES, Some(32))
        .expect("constant Argon2 parameters are valid");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
}

/// A new passphrase as it is shown: six dash-separated groups of four characters.
pub fn new_passphrase() -> Zeroizing<String> {
    let raw = super::generate::from_alphabet(PASSPHRASE_ALPHABET, PASSPHRASE_CHARS);
    let groups: Vec<&str> = raw
        .as_bytes()
        .chunks(PASSPHRASE_GROUP)
        .map(|chunk| std::str::from_utf8(chunk).expect("ASCII"))
        .collect();
    Zeroizing::new(groups.join("-"))
}

/// The passphrase as hashed and stretched: without dashes and white space, lowercase, so a
/// recipient who types it in capitals or without dashes is not turned away (which would
/// destroy the share).
pub fn normalize_passphrase(typed: &str) -> Zeroizing<String> {
    Zeroizing::new(
        typed
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .flat_map(char::to_lowercase)
            .collect(),
    )
}

/// The Argon2id hash (PHC string, random salt) of a normalized passphrase.
pub fn hash_passphrase(passphrase: &str) -> String {
    use argon2::PasswordHasher;
    let salt = argon2::password_hash::SaltString::encode_b64(&super::random_bytes(16)[..])
        .expect("16 bytes make a valid salt");
    argon2()
        .hash_password(passphrase.as_bytes(), &salt)
        .expect("Argon2id hashes any passphrase with constant parameters")
        .to_string()
}

/// Whether `passphrase` (normalized) is the one `hash` was made of. The comparison inside
/// the verifier is constant-time.
pub fn passphrase_matches(hash: &str, passphrase: &str) -> bool {
    use argon2::PasswordVerifier;
    argon2::PasswordHash::new(hash).is_ok_and(|parsed| {
        argon2()
            .verify_password(passphrase.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The 256-bit key stretched from a normalized passphrase with `salt`.
pub fn passphrase_key(passphrase: &str, salt: &[u8]) -> Zeroizing<[u8; 32]> {
    let mut key = Zeroizing::new([0u8; 32]);
    argon2()
        .hash_password_into(passphrase.as_bytes(), salt, &mut key[..])
        .expect("a 16-byte salt and a 32-byte output are within Argon2's bounds");
    key
}

/// The value's key: HKDF-SHA256 over `data key || passphrase key`, salted with the share id.
pub fn value_key(data_key: &DataKey, passphrase_key: &[u8; 32], share_id: &str) -> DataKey {
    use ring::hkdf::{HKDF_SHA256, Salt};
    let mut input = Zeroizing::new([0u8; 64]);
    input[..32].copy_from_slice(data_key.expose());
    input[32..].copy_from_slice(passphrase_key);
    let mut out = Zeroizing::new([0u8; 32]);
    Salt::new(HKDF_SHA256, share_id.as_bytes())
        .extract(&input[..])
        .expand(&[HKDF_INFO], HKDF_SHA256)
        .and_then(|okm| okm.fill(&mut out[..]))
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    DataKey::from_slice(&out[..]).expect("32 bytes")
}

/// A sealed value: the nonce, and the ciphertext with its tag.
pub struct SealedValue {
    pub nonce: [u8; 12],
    pub sealed: Vec<u8>,
}

/// AES-256-GCM of `value` under `key`, with the share id as AAD.
pub fn seal_value(key: &DataKey, share_id: &str, value: &[u8]) -> SealedValue {
    let nonce = super::random_nonce();
    SealedValue {
        nonce,
        sealed: super::seal(key, nonce, share_id.as_bytes(), value),
    }
}

/// Opens a value sealed by [`seal_value`] for `share_id`.
pub fn open_value(
    key: &DataKey,
    share_id: &str,
    nonce: [u8; 12],
    sealed: &[u8],
) -> Result<Zeroizing<Vec<u8>>, super::Unauthentic> {
    super::open(key, nonce, share_id.as_bytes(), sealed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> DataKey {
        DataKey::from_slice(&[byte; 32]).expect("32 bytes")
    }

    #[test]
    fn a_passphrase_has_over_100_bits_and_reads_back_normalized() {
        let shown = new_passphrase();
        assert_eq!(
            shown.len(),
            PASSPHRASE_CHARS + PASSPHRASE_CHARS / PASSPHRASE_GROUP - 1
        );
        let bits = PASSPHRASE_CHARS as f64 * (PASSPHRASE_ALPHABET.len() as f64).log2();
        assert!(bits >= 100.0, "{bits}");
        let typed = format!(" {} ", shown.to_uppercase().replace('-', ""));
        assert_eq!(*normalize_passphrase(&typed), shown.replace('-', ""));
    }

    #[test]
    fn the_hash_accepts_the_passphrase_only() {
        let hash = hash_passphrase("abcd");
        assert!(hash.starts_with("$argon2id$"));
        assert!(passphrase_matches(&hash, "abcd"));
        assert!(!passphrase_matches(&hash, "abce"));
        assert!(!passphrase_matches("not a hash", "abcd"));
    }

    #[test]
    fn the_value_opens_only_with_both_keys_and_its_share_id() {
        let salt = [7u8; KDF_SALT_LEN];
        let right = value_key(&key(1), &passphrase_key("pass", &salt), "shr_a");
        let sealed = seal_value(&right, "shr_a", b"the value");
        let opened = open_value(&right, "shr_a", sealed.nonce, &sealed.sealed).expect("opens");
        assert_eq!(&opened[..], b"the value");
        assert!(open_value(&right, "shr_b", sealed.nonce, &sealed.sealed).is_err());
        for wrong in [
            value_key(&key(2), &passphrase_key("pass", &salt), "shr_a"),
            value_key(&key(1), &passphrase_key("past", &salt), "shr_a"),
            value_key(
                &key(1),
                &passphrase_key("pass", &[8u8; KDF_SALT_LEN]),
                "shr_a",
            ),
        ] {
            assert!(open_value(&wrong, "shr_a", sealed.nonce, &sealed.sealed).is_err());
        }
    }
}
