//! The bundle of a provisioned machine: its identity and private key, sealed (AES-256-GCM)
//! under a key derived from the single-use download token. The server keeps the sealed
//! bundle and only a digest of the token, so what it stores does not open without the token
//! the caller was shown once.
//!
//! Sealed form: `nonce (12 bytes) || ciphertext and tag`; the token's id is the associated
//! data, so a bundle does not open under another token row.

use super::{bundle_key, open as open_sealed, random_nonce, seal as seal_with};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

const NONCE_LEN: usize = 12;

/// What a provisioned machine needs: its identity and private key. No `Debug`.
pub struct MachineBundle {
    pub machine_id: String,
    pub account_id: String,
    pub private_key_pem: SecretString,
}

/// The stored form of a bundle, for the token whose text is `token_text` and id `token_id`.
pub fn seal(token_text: &[u8], token_id: &str, bundle: &MachineBundle) -> Vec<u8> {
    // Serialized straight from borrowed fields into a zeroizing buffer: no intermediate
    // JSON value holds a copy of the private key.
    #[derive(serde::Serialize)]
    struct Plain<'a> {
        machine_id: &'a str,
        account_id: &'a str,
        private_key_pem: &'a str,
    }
    let plain = Plain {
        machine_id: &bundle.machine_id,
        account_id: &bundle.account_id,
        private_key_pem: bundle.private_key_pem.expose_secret(),
    };
    // Sized up front so the buffer never reallocates (a reallocation would leave an
    // unzeroized copy behind).
    let capacity =
        64 + plain.machine_id.len() + plain.account_id.len() + 2 * plain.private_key_pem.len();
    let mut plaintext = Zeroizing::new(Vec::with_capacity(capacity));
    serde_json::to_writer(&mut *plaintext, &plain).expect("a struct of strings always serializes");
    let nonce = random_nonce();
    let mut sealed = nonce.to_vec();
    sealed.extend(seal_with(
        &bundle_key(token_text),
        nonce,
        token_id.as_bytes(),
        &plaintext,
    ));
    sealed
}

/// The bundle sealed by [`seal`] with the same token; `None` if it does not open.
pub fn open(token_text: &[u8], token_id: &str, sealed: &[u8]) -> Option<MachineBundle> {
    if sealed.len() < NONCE_LEN {
        return None;
    }
    let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
    let nonce: [u8; NONCE_LEN] = nonce.try_into().expect("split at the nonce length");
    let plaintext = open_sealed(
        &bundle_key(token_text),
        nonce,
        token_id.as_bytes(),
        ciphertext,
    )
    .ok()?;
    #[derive(serde::Deserialize)]
    struct Stored {
        machine_id: String,
        account_id: String,
        private_key_pem: SecretString,
    }
    let stored: Stored = serde_json::from_slice(&plaintext).ok()?;
    Some(MachineBundle {
        machine_id: stored.machine_id,
        account_id: stored.account_id,
        private_key_pem: stored.private_key_pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle() -> MachineBundle {
        MachineBundle {
            machine_id: "mch_1".into(),
            account_id: "acct_1".into(),
            private_key_pem: SecretString::from("-----BEGIN PRIVATE KEY-----"),
        }
    }

    #[test]
    fn a_bundle_opens_with_its_token_only() {
        let sealed = seal(b"cm_token", "mtk_1", &bundle());
        let opened = open(b"cm_token", "mtk_1", &sealed).expect("opens");
        assert_eq!(opened.machine_id, "mch_1");
        assert_eq!(opened.account_id, "acct_1");
        assert_eq!(
            opened.private_key_pem.expose_secret(),
            "-----BEGIN PRIVATE KEY-----"
        );
        assert!(open(b"cm_other", "mtk_1", &sealed).is_none());
        assert!(open(b"cm_token", "mtk_2", &sealed).is_none());
        assert!(open(b"cm_token", "mtk_1", &sealed[..8]).is_none());
    }
}
