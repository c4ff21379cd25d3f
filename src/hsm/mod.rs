//! The hardware security module, seen through one trait.
//!
//! Everything above this module talks to [`Hsm`]; only `app` names the concrete
//! [`Pkcs11Hsm`]. Keys are addressed by label (`mk/<group>/v<n>`, `kr/<keyring>/v<n>`,
//! `sys/...`); handles are a cache detail of the implementation.

mod pkcs11;
mod workers;

pub use pkcs11::{HsmSettings, Pkcs11Hsm, TokenAdmin};

use crate::crypto::DataKey;
use crate::crypto::asym::{HashAlg, KeyAlgorithm, SignatureScheme, TokenPublicKey};
use async_trait::async_trait;

/// What went wrong in the HSM, in terms a caller can act on.
#[derive(Debug, thiserror::Error)]
pub enum HsmError {
    /// The token, its session or its login is gone; the layer is reconnecting by itself.
    #[error("the HSM is unavailable")]
    Unavailable(#[source] Option<cryptoki::error::Error>),
    /// Every HSM worker is busy and the queue is full: back-pressure, retry later.
    #[error("the HSM queue is full")]
    Busy,
    /// The call did not finish within its deadline; the worker running it is suspect.
    #[error("the HSM did not answer within {0:?}")]
    Timeout(std::time::Duration),
    /// Every worker is stuck in a call past its deadline: refused at once, not queued.
    #[error("every HSM worker is stuck in a call past its deadline")]
    Stalled,
    /// No key with this label exists in the token, although Coffer created it: the token
    /// went away or lost track of it. The layer re-initialises the library to recover.
    #[error("no key labelled {0} in the token")]
    KeyNotFound(String),
    /// An authenticated decryption did not authenticate (GCM tag or AAD mismatch).
    #[error("ciphertext did not authenticate")]
    AuthenticationFailed,
    /// Any other PKCS#11 failure: a bug or a misconfigured token.
    #[error("PKCS#11 call failed")]
    Internal(#[source] cryptoki::error::Error),
}

/// The operations Coffer needs from a token. Every call may block on the device, so the
/// implementation runs them on its own threads; callers just `.await`.
#[async_trait]
pub trait Hsm: Send + Sync + 'static {
    /// Creates an AES-256 master key usable only to wrap and unwrap keys.
    async fn create_master_key(&self, label: &str) -> Result<(), HsmError>;
    /// Creates an AES-256 key usable only to encrypt and decrypt inside the token
    /// (keyrings with protection `hsm`).
    async fn create_token_aes_key(&self, label: &str) -> Result<(), HsmError>;
    /// Creates the HMAC key that turns API-key secrets into stored digests, if missing.
    async fn ensure_hmac_key(&self, label: &str) -> Result<(), HsmError>;
    /// Destroys a token key (trash purge, failed creation clean-up). Missing is success.
    async fn destroy_key(&self, label: &str) -> Result<(), HsmError>;
    /// Generates a fresh 256-bit data key inside the token and returns it together with its
    /// RFC 5649 wrapping under the master key `master`.
    async fn generate_wrapped_data_key(&self, master: &str)
    -> Result<(DataKey, Vec<u8>), HsmError>;
    /// Unwraps a data key previously wrapped under `master`.
    async fn unwrap_data_key(&self, master: &str, wrapped: &[u8]) -> Result<DataKey, HsmError>;
    /// Wraps again, under the master key `new_master`, a data key wrapped under `old_master`
    /// (a group's master-key rotation). The key never leaves the token in plaintext: it is
    /// unwrapped into a sensitive session object, wrapped, and the object destroyed.
    async fn rewrap_data_key(
        &self,
        old_master: &str,
        new_master: &str,
        wrapped: &[u8],
    ) -> Result<Vec<u8>, HsmError>;
    /// AES-256-GCM encryption inside the token; returns ciphertext || 16-byte tag.
    async fn gcm_encrypt(
        &self,
        key: &str,
        nonce: [u8; 12],
        aad: Vec<u8>,
        plaintext: Vec<u8>,
    ) -> Result<Vec<u8>, HsmError>;
    /// AES-256-GCM decryption inside the token of ciphertext || tag.
    async fn gcm_decrypt(
        &self,
        key: &str,
        nonce: [u8; 12],
        aad: Vec<u8>,
        ciphertext: Vec<u8>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, HsmError>;
    /// HMAC-SHA-256 with a token key.
    async fn hmac_sha256(&self, key: &str, data: Vec<u8>) -> Result<[u8; 32], HsmError>;
    /// Generates a key pair whose private half is a sealed token object labelled `label`
    /// with exactly the usages in `usage`; returns the public half (not kept in the token).
    async fn generate_key_pair(
        &self,
        label: &str,
        algorithm: KeyAlgorithm,
        usage: KeyPairUsage,
    ) -> Result<TokenPublicKey, HsmError>;
    /// Signs `input` with the private key `label` (see [`SignMechanism`] for what `input` is).
    async fn sign(
        &self,
        label: &str,
        mechanism: SignMechanism,
        input: Vec<u8>,
    ) -> Result<Vec<u8>, HsmError>;
    /// The raw RSA private operation (`CKM_RSA_X_509`) of the decrypt-capable key `label`;
    /// the caller removes the OAEP padding. [`HsmError::AuthenticationFailed`] when the
    /// ciphertext is not a valid input (too long, out of range).
    async fn rsa_decrypt_raw(
        &self,
        label: &str,
        ciphertext: Vec<u8>,
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, HsmError>;
}

/// What a key pair's private half may do. Verification happens outside the token, with the
/// public key Coffer stores, so the token never needs a verify or encrypt object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KeyPairUsage {
    pub sign: bool,
    pub decrypt: bool,
}

/// A signature mechanism and what its input is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignMechanism {
    /// `CKM_RSA_PKCS` over `DigestInfo || digest`.
    RsaPkcs1,
    /// `CKM_RSA_PKCS_PSS` over the digest, MGF1 with the same hash, salt = hash length.
    RsaPss(HashAlg),
    /// `CKM_ECDSA` over the digest; returns raw r || s.
    Ecdsa,
    /// `CKM_EDDSA`, pure Ed25519, over the message.
    Ed25519,
}

impl SignMechanism {
    pub fn for_scheme(scheme: SignatureScheme) -> Self {
        match scheme {
            SignatureScheme::RsaPkcs1(_) => Self::RsaPkcs1,
            SignatureScheme::RsaPss(hash) => Self::RsaPss(hash),
            SignatureScheme::Ecdsa(_) => Self::Ecdsa,
            SignatureScheme::Ed25519 => Self::Ed25519,
        }
    }
}
