//! One-time tokens presented instead of a credential: machine tokens (registration,
//! bundle download) and password-reset tokens.

use super::*;
use crate::auth::ResetToken;
use crate::ids::{MachineTokenId, ResetId};
use crate::store::ResetRow;

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
        let id = MachineTokenId::from(token.key_id());
        self.verified(self.store.machine_token(&id), token.digest_input())
            .await?
            .ok_or(Error::Unauthenticated)
    }

    /// The stored reset token a presented token text stands for, whatever its state; every
    /// mismatch is `Unauthenticated`, after the same HSM round trip.
    pub(in crate::service) async fn presented_reset_token(
        &self,
        text: &str,
    ) -> Result<ResetRow, Error> {
        let token = ResetToken::parse(text).ok_or(Error::Unauthenticated)?;
        let id = ResetId::from(token.key_id());
        self.verified(self.store.reset(&id), token.digest_input())
            .await?
            .ok_or(Error::Unauthenticated)
    }
}

impl Service {
    /// The stored invitation a presented token text stands for, whatever its state; every
    /// mismatch is `Unauthenticated`, after the same HSM round trip.
    pub(in crate::service) async fn presented_invitation(
        &self,
        text: &str,
    ) -> Result<crate::store::InvitationRow, Error> {
        let token =
            crate::auth::InvitationToken::parse(text.trim()).ok_or(Error::Unauthenticated)?;
        let id = crate::ids::InvitationId::from(token.key_id());
        self.verified(self.store.invitation(&id), token.digest_input())
            .await?
            .ok_or(Error::Unauthenticated)
    }
}
