//! Invitations: how a person without a Coffer user joins an account. The inviter names an
//! email and a role; the person accepts with the one-time token and a password only they
//! choose, so nobody ever sets another person's password. The token is shown once and
//! stored only as its HSM digest, like every other one-time token.

use super::*;
use crate::auth::InvitationToken;
use crate::ids::{InvitationId, UserId};
use crate::store::{Credential, InvitationRow};
use std::time::Duration;

/// How long an invitation stays acceptable when the inviter does not say.
const DEFAULT_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// The longest an invitation may stay acceptable.
const MAX_TTL: Duration = Duration::from_secs(30 * 24 * 3600);

/// The lifetime asked for (`ttl_secs`), or the default; 1 second to 30 days.
pub(super) fn invitation_ttl(ttl_secs: Option<u64>) -> Result<Duration, Error> {
    let ttl = ttl_secs.map_or(DEFAULT_TTL, Duration::from_secs);
    if ttl.is_zero() || ttl > MAX_TTL {
        return Err(Error::InvalidInput(format!(
            "ttl_secs must be 1 to {} (30 days)",
            MAX_TTL.as_secs()
        )));
    }
    Ok(ttl)
}

/// A new invitation: its token, shown once, and its row.
pub struct InvitationIssued {
    pub token: InvitationToken,
    pub row: InvitationRow,
}

/// What adding a person to an account did: an existing user became a member at once, or
/// a person without a user was invited.
pub enum UserAdded {
    Member(MemberRow),
    Invited(InvitationIssued),
}

/// Who an accepted invitation creates: the user, with the hash of the password they chose,
/// and their membership.
fn invited_user(row: &InvitationRow, hash: String, now: i64) -> (UserRecord, MemberRow) {
    let user = UserRecord {
        id: new_id("usr"),
        email: row.email.clone(),
        password_hash: Some(hash),
        created_at: now,
    };
    let member = MemberRow {
        account_id: row.account_id.clone(),
        user_id: user.id.clone(),
        email: row.email.clone(),
        role: row.role,
        suspended: false,
        created_at: now,
    };
    (user, member)
}

impl Service {
    /// Invites `email` (who has no user) into the caller's account with `role`; a second
    /// pending invitation of the same email is a conflict.
    pub(super) async fn invite(
        &self,
        ctx: &Ctx<'_>,
        email: String,
        role: Role,
        ttl: Duration,
        mut event: crate::store::AuditEvent,
    ) -> Result<InvitationIssued, Error> {
        let account_id = &ctx.caller.account_id;
        let now = self.now();
        let pending = self.store.pending_invitations(account_id, now).await?;
        if pending.iter().any(|i| i.email == email) {
            return Err(Error::Conflict(format!(
                "{email} has a pending invitation already: revoke it to invite again"
            )));
        }
        let id: InvitationId = new_id("inv");
        let token = InvitationToken::generate(&id);
        let row = InvitationRow {
            id,
            account_id: account_id.clone(),
            email,
            role,
            created_by: ctx.caller.principal_id.clone(),
            created_at: now,
            expires_at: now + micros(ttl),
            accepted_at: None,
            revoked_at: None,
        };
        let stored: Credential<InvitationRow> = self.credential(row, token.digest_input()).await?;
        event.object = Some(format!("invitation/{}", stored.record.id));
        self.store.create_invitation(&stored, &event).await?;
        Ok(InvitationIssued {
            token,
            row: stored.record,
        })
    }

    /// The account's pending invitations (never their tokens).
    pub async fn list_invitations(&self, ctx: &Ctx<'_>) -> Result<Vec<InvitationRow>, Error> {
        self.read(ctx, &catalogue::LIST_INVITATIONS, "", None, async {
            let account_id = &ctx.caller.account_id;
            Ok(self
                .store
                .pending_invitations(account_id, self.now())
                .await?)
        })
        .await
    }

    /// Revokes a pending invitation of the caller's account; only owners revoke the
    /// invitation of an owner. Anything else is a 404.
    pub async fn revoke_invitation(&self, ctx: &Ctx<'_>, id: &InvitationId) -> Result<(), Error> {
        let object = format!("invitation/{id}");
        let op = &catalogue::REVOKE_INVITATION;
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            let account_id = &ctx.caller.account_id;
            let now = self.now();
            let missing = || Error::NotFound(format!("invitation {id}"));
            let row = self
                .store
                .invitation(id)
                .await?
                .map(|stored| stored.record)
                .filter(|row| &row.account_id == account_id && row.is_pending(now))
                .ok_or_else(missing)?;
            if row.role == Role::Owner && ctx.caller.role != Some(Role::Owner) {
                return Err(Error::Forbidden(
                    "only an owner may revoke an owner's invitation".into(),
                ));
            }
            if !self
                .store
                .revoke_invitation(account_id, id, now, &event)
                .await?
            {
                return Err(missing());
            }
            Ok(())
        })
        .await
    }

    /// Accepts an invitation with its token: creates the user with the password they chose
    /// and their membership. Unknown, used, revoked and expired tokens are the same 401; a
    /// weak password is a 400 that leaves the invitation usable.
    pub async fn accept_invitation(
        &self,
        meta: &RequestMeta,
        token: &str,
        password: SecretString,
    ) -> Result<MemberRow, Error> {
        let result = self.consume_invitation(meta, token, password).await;
        if let Err(error) = &result {
            let action = catalogue::ACCEPT_INVITATION.audit_action();
            let event = self.event(meta, None, action, None, Err(error));
            self.record(meta, event).await?;
        }
        result
    }

    async fn consume_invitation(
        &self,
        meta: &RequestMeta,
        token: &str,
        password: SecretString,
    ) -> Result<MemberRow, Error> {
        check_password(&password)?;
        let row = self.presented_invitation(token).await?;
        let now = self.now();
        if !row.is_pending(now) {
            return Err(Error::Unauthenticated);
        }
        if self.store.user_by_email(&row.email).await?.is_some() {
            return Err(Error::Conflict(format!(
                "{} has a Coffer user now: log in with it and ask to be added to the account",
                row.email
            )));
        }
        let hash = hash_password(password).await?;
        let (user, member) = invited_user(&row, hash, now);
        let event = self.acceptance_event(meta, &row, &user.id);
        if !self
            .store
            .accept_invitation(&row.id, now, &user, &member, &event)
            .await?
        {
            return Err(Error::Unauthenticated);
        }
        meta.mark_audited();
        Ok(member)
    }

    /// The audit event of an acceptance: the new user acts, with the invitation as the
    /// credential.
    fn acceptance_event(
        &self,
        meta: &RequestMeta,
        row: &InvitationRow,
        user_id: &UserId,
    ) -> crate::store::AuditEvent {
        let mut caller = Self::system_caller(&row.account_id);
        caller.principal_id = user_id.to_string();
        caller.method = AuthMethod::None;
        caller.role = Some(row.role);
        caller.credential = Some(row.id.to_string());
        self.event(
            meta,
            Some(&caller),
            catalogue::ACCEPT_INVITATION.audit_action(),
            Some(&format!("user/{user_id}")),
            Ok(()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invitation_lifetimes_are_bounded() {
        assert_eq!(invitation_ttl(None).ok(), Some(DEFAULT_TTL));
        assert_eq!(invitation_ttl(Some(60)).ok(), Some(Duration::from_secs(60)));
        assert_eq!(invitation_ttl(Some(MAX_TTL.as_secs())).ok(), Some(MAX_TTL));
        assert!(invitation_ttl(Some(0)).is_err());
        assert!(invitation_ttl(Some(MAX_TTL.as_secs() + 1)).is_err());
    }
}
