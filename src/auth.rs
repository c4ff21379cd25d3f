//! API-key credentials: their text form and what is digested. No I/O here.
//!
//! An API key reads `ck_<key-id>_<secret>`: the key id (`ak_` + 24 hex) finds the stored
//! row, the secret (64 hex) is checked against the stored HMAC digest. The whole key is
//! shown once, at creation.

use secrecy::{ExposeSecret, SecretString};

/// A parsed bearer API key. No `Debug`: the secret must not reach a log.
pub struct ApiKeyToken {
    key_id: String,
    full: SecretString,
}

impl ApiKeyToken {
    /// Parses `ck_<key-id>_<secret>`; `None` for anything else.
    pub fn parse(text: &str) -> Option<Self> {
        let rest = text.strip_prefix("ck_")?;
        let (key_id, secret) = rest.rsplit_once('_')?;
        let id_ok = key_id.len() == 27
            && key_id.starts_with("ak_")
            && key_id[3..]
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        let secret_ok = secret.len() == 64
            && secret
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
        (id_ok && secret_ok).then(|| Self {
            key_id: key_id.to_owned(),
            full: SecretString::from(text.to_owned()),
        })
    }

    /// A new key for `key_id` with a random 256-bit secret.
    pub fn generate(key_id: &str) -> Self {
        let secret = crate::crypto::random_bytes(32);
        let full = format!("ck_{key_id}_{}", hex::encode(&secret[..]));
        Self {
            key_id: key_id.to_owned(),
            full: SecretString::from(full),
        }
    }

    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// What the HSM's HMAC key digests: the whole key text.
    pub fn digest_input(&self) -> Vec<u8> {
        self.full.expose_secret().as_bytes().to_vec()
    }

    /// A process-local cache key for this credential (SHA-256 of the key text).
    pub fn cache_key(&self) -> [u8; 32] {
        let digest =
            ring::digest::digest(&ring::digest::SHA256, self.full.expose_secret().as_bytes());
        digest.as_ref().try_into().expect("SHA-256 is 32 bytes")
    }

    /// The key text, to hand to its owner once.
    pub fn reveal(&self) -> &str {
        self.full.expose_secret()
    }
}

#[cfg(test)]
mod tests {
    use super::ApiKeyToken;

    #[test]
    fn generated_keys_parse_back() {
        let token = ApiKeyToken::generate("ak_0123456789abcdef01234567");
        let parsed = ApiKeyToken::parse(token.reveal()).expect("parses");
        assert_eq!(parsed.key_id(), "ak_0123456789abcdef01234567");
        assert_eq!(parsed.cache_key(), token.cache_key());
    }

    #[test]
    fn malformed_keys_do_not_parse() {
        for bad in [
            "",
            "ck_",
            "ck_ak_x_y",
            "Bearer ck_",
            &format!("ck_ak_0123456789abcdef01234567_{}", "A".repeat(64)),
        ] {
            assert!(ApiKeyToken::parse(bad).is_none(), "{bad}");
        }
    }
}
