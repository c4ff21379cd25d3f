//! A rule's signing secret and the signature of a delivery.
//!
//! The secret is never stored: it is `HMAC-SHA256(token key, "coffer-alert-signing-v1" ‖
//! rule id ‖ salt)`, computed in the HSM with the API-key pepper, so a copy of the database
//! (which holds only the salt) cannot forge a delivery. It is shown once (hex) and kept in
//! memory only in zeroizing form, per rule and salt. A delivery is signed with the secret's
//! text as HMAC key: `Coffer-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret,
//! "<t>." ‖ body)>`.

use super::super::*;
use crate::ids::AlertId;
use crate::store::AlertRow;
use std::collections::HashMap;
use std::sync::Mutex;
use zeroize::Zeroizing;

/// The derivation's domain separation.
const CONTEXT: &[u8] = b"coffer-alert-signing-v1";

/// A derived secret with the salt it was derived from.
type Derived = (Vec<u8>, Arc<Zeroizing<String>>);

/// Derived secrets by rule.
#[derive(Default)]
pub(in crate::service) struct AlertSecrets {
    cache: Mutex<HashMap<AlertId, Derived>>,
}

impl AlertSecrets {
    /// The rule's secret, from memory or derived in the HSM.
    pub(in crate::service) async fn secret(
        &self,
        service: &Service,
        alert: &AlertRow,
    ) -> Result<Arc<Zeroizing<String>>, Error> {
        if let Some(secret) = self.cached(alert) {
            return Ok(secret);
        }
        let mut input = CONTEXT.to_vec();
        input.extend_from_slice(alert.id.as_bytes());
        input.extend_from_slice(&alert.salt);
        let derived = Zeroizing::new(service.hsm.hmac_sha256(APIKEY_PEPPER_LABEL, input).await?);
        let secret = Arc::new(Zeroizing::new(hex::encode(&derived[..])));
        self.lock()
            .insert(alert.id.clone(), (alert.salt.clone(), Arc::clone(&secret)));
        Ok(secret)
    }

    /// The secret as text to show the caller once.
    pub(in crate::service) async fn reveal(
        &self,
        service: &Service,
        alert: &AlertRow,
    ) -> Result<Zeroizing<String>, Error> {
        let secret = self.secret(service, alert).await?;
        Ok(Zeroizing::new(secret.as_str().to_owned()))
    }

    fn cached(&self, alert: &AlertRow) -> Option<Arc<Zeroizing<String>>> {
        self.lock()
            .get(&alert.id)
            .filter(|(salt, _)| *salt == alert.salt)
            .map(|(_, secret)| Arc::clone(secret))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<AlertId, Derived>> {
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The `Coffer-Signature` header of `body` sent at `unix_seconds`.
pub fn signature_header(secret: &str, unix_seconds: i64, body: &[u8]) -> String {
    let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret.as_bytes());
    let mut signed = format!("{unix_seconds}.").into_bytes();
    signed.extend_from_slice(body);
    let tag = ring::hmac::sign(&key, &signed);
    format!("t={unix_seconds},v1={}", hex::encode(tag.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_hmac_sha256_of_time_dot_body() {
        // Known answer from Python: hmac.new(b"k", b"1700000000.{}", hashlib.sha256).
        assert_eq!(
            signature_header("k", 1_700_000_000, b"{}"),
            "t=1700000000,v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
        );
    }
}
