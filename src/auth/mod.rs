//! Bearer credentials: their text form and what is digested. No I/O here.
//!
//! An API key reads `ck_<key-id>_<secret>`: the key id (`ak_` + 24 hex) finds the stored
//! row, the secret (64 hex) is checked against the stored HMAC digest. The whole key is
//! shown once, at creation. Session tokens (`cs_sess_…`) and password-reset tokens
//! (`cr_rst_…`) have the same shape.

pub mod guardrails;
pub mod signed;
pub mod sigv4;

use secrecy::{ExposeSecret, SecretString};

/// A token `<outer>_<id>_<secret>` where the id is `<id-prefix>_` + 24 lowercase hex and
/// the secret 64 lowercase hex. No `Debug`: the secret must not reach a log.
struct Token {
    id: String,
    full: SecretString,
}

fn is_lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

impl Token {
    fn parse(text: &str, outer: &str, id_prefix: &str) -> Option<Self> {
        let rest = text.strip_prefix(outer)?.strip_prefix('_')?;
        let (id, secret) = rest.rsplit_once('_')?;
        let hex = id.strip_prefix(id_prefix)?.strip_prefix('_')?;
        (is_lower_hex(hex, 24) && is_lower_hex(secret, 64)).then(|| Self {
            id: id.to_owned(),
            full: SecretString::from(text.to_owned()),
        })
    }

    fn generate(outer: &str, id: &str) -> Self {
        let secret = crate::crypto::random_bytes(32);
        let full = format!("{outer}_{id}_{}", hex::encode(&secret[..]));
        Self {
            id: id.to_owned(),
            full: SecretString::from(full),
        }
    }
}

macro_rules! bearer_token {
    ($(#[$doc:meta])* $name:ident, $outer:literal, $id_prefix:literal) => {
        $(#[$doc])*
        pub struct $name(Token);

        impl $name {
            /// Parses the token's text form; `None` for anything else.
            pub fn parse(text: &str) -> Option<Self> {
                Token::parse(text, $outer, $id_prefix).map(Self)
            }

            /// A new token for `id` with a random 256-bit secret.
            pub fn generate(id: &str) -> Self {
                Self(Token::generate($outer, id))
            }

            /// The id that finds the stored row.
            pub fn key_id(&self) -> &str {
                &self.0.id
            }

            /// What the HSM's HMAC key digests: the whole token text.
            pub fn digest_input(&self) -> Vec<u8> {
                self.0.full.expose_secret().as_bytes().to_vec()
            }

            /// A process-local cache key for this credential (SHA-256 of the token text).
            pub fn cache_key(&self) -> [u8; 32] {
                use sha2::Digest;
                sha2::Sha256::digest(self.0.full.expose_secret().as_bytes()).into()
            }

            /// The token text, to hand to its owner once.
            pub fn reveal(&self) -> &str {
                self.0.full.expose_secret()
            }
        }
    };
}

bearer_token!(
    /// A bearer API key, `ck_<ak_…>_<secret>`.
    ApiKeyToken,
    "ck",
    "ak"
);
bearer_token!(
    /// A user's login session token, `cs_<sess_…>_<secret>`, bound to one account.
    SessionToken,
    "cs",
    "sess"
);
bearer_token!(
    /// A one-time password-reset token, `cr_<rst_…>_<secret>`.
    ResetToken,
    "cr",
    "rst"
);

bearer_token!(
    /// A machine enrollment token (bootstrap, enrollment, temporary) or a bundle download
    /// token, `cm_<mtk_…>_<secret>`.
    MachineToken,
    "cm",
    "mtk"
);

bearer_token!(
    /// A one-time bootstrap token that registers an AI agent, `cai_<aibt_…>_<secret>`.
    AiBootstrapToken,
    "cai",
    "aibt"
);

bearer_token!(
    /// A one-time invitation token, `ci_<inv_…>_<secret>`: accepting it creates the
    /// invited user with the password they choose.
    InvitationToken,
    "ci",
    "inv"
);

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
    fn token_kinds_do_not_cross() {
        let session = super::SessionToken::generate("sess_0123456789abcdef01234567");
        assert!(super::SessionToken::parse(session.reveal()).is_some());
        assert!(ApiKeyToken::parse(session.reveal()).is_none());
        assert!(super::ResetToken::parse(session.reveal()).is_none());
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
