//! One-time tokens presented instead of a credential: machine tokens (registration,
//! bundle download) and password-reset tokens.

use super::*;

impl Service {
    /// The stored token a presented token text stands for, whatever its state; every
    /// mismatch is `Unauthenticated`, after the same HSM round trip.
    pub(in crate::service) async fn presented_token(
        &self,
        text: &str,
    ) -> Result<MachineTokenRow, Error> {
        let Some(token) = MachineToken::parse(text.trim()) else {
            return Err(Error::Unauthenticated);
        };
        let row = self.store.machine_token(token.key_id()).await?;
        let digest = self
            .hsm
            .hmac_sha256(APIKEY_PEPPER_LABEL, token.digest_input())
            .await?;
        let row = row.ok_or(Error::Unauthenticated)?;
        let matches: bool = subtle::ConstantTimeEq::ct_eq(&digest[..], &row.digest[..]).into();
        if matches {
            Ok(row)
        } else {
            Err(Error::Unauthenticated)
        }
    }
}
