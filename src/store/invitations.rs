//! Rows and persistence of invitations into an account: how a person who has no Coffer user
//! yet becomes a member with a password only they chose. The invitation's token is a
//! [`Credential`]: only its HSM digest is stored.

use super::{AuditEvent, Credential, MemberRow, StoreError, UserRecord};
use crate::authz::Role;
use crate::ids::{AccountId, InvitationId};
use async_trait::async_trait;

/// An invitation of `email` into `account_id` with `role`. Pending while neither accepted
/// nor revoked and not expired.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvitationRow {
    pub id: InvitationId,
    pub account_id: AccountId,
    pub email: String,
    pub role: Role,
    /// The principal who invited.
    pub created_by: String,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl InvitationRow {
    /// Whether the invitation can still be accepted at `now`.
    pub fn is_pending(&self, now: i64) -> bool {
        self.accepted_at.is_none() && self.revoked_at.is_none() && self.expires_at > now
    }
}

#[async_trait]
pub trait InvitationStore: Send + Sync {
    async fn create_invitation(
        &self,
        invitation: &Credential<InvitationRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError>;
    /// The account's invitations still pending at `now`, oldest first.
    async fn pending_invitations(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> Result<Vec<InvitationRow>, StoreError>;
    /// An invitation and its token digest, whatever its state.
    async fn invitation(
        &self,
        id: &InvitationId,
    ) -> Result<Option<Credential<InvitationRow>>, StoreError>;
    /// Revokes the invitation if it is the account's and pending at `now`; answers whether
    /// it did (the event is recorded only then).
    async fn revoke_invitation(
        &self,
        account_id: &AccountId,
        id: &InvitationId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
    /// Marks the invitation accepted, creates `user` and `member`, in one transaction, only
    /// if it is pending at `now`; answers whether it was.
    async fn accept_invitation(
        &self,
        id: &InvitationId,
        now: i64,
        user: &UserRecord,
        member: &MemberRow,
        event: &AuditEvent,
    ) -> Result<bool, StoreError>;
}
