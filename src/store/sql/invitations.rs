//! [`InvitationStore`] on SQL: the `invitations` table, and accepting one as the creation
//! of a user and a membership in the same transaction.

use super::users::{insert_membership, insert_user};
use super::{SqlStore, commit_audited, exec, named};
use crate::authz::Role;
use crate::ids::{AccountId, InvitationId};
use crate::store::{
    AuditEvent, Credential, InvitationRow, InvitationStore, MemberRow, StoreError, UserRecord,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, AnyRow> for InvitationRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(InvitationRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            email: r.get("email"),
            role: named(r, "role", Role::parse)?,
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            accepted_at: r.get("accepted_at"),
            revoked_at: r.get("revoked_at"),
        })
    }
}

#[async_trait]
impl InvitationStore for SqlStore {
    async fn create_invitation(
        &self,
        invitation: &Credential<InvitationRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let row = &invitation.record;
        let insert = sqlx::query(
            "INSERT INTO invitations
             (id, account_id, email, role, digest, created_by, created_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(&row.id)
        .bind(&row.account_id)
        .bind(row.email.clone())
        .bind(row.role.as_str())
        .bind(invitation.digest.clone())
        .bind(row.created_by.clone())
        .bind(row.created_at)
        .bind(row.expires_at);
        self.write_audited(insert, event).await
    }

    async fn pending_invitations(
        &self,
        account_id: &AccountId,
        now: i64,
    ) -> Result<Vec<InvitationRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM invitations WHERE account_id = $1 AND accepted_at IS NULL
                 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at, id",
            )
            .bind(account_id)
            .bind(now),
        )
        .await
    }

    async fn invitation(
        &self,
        id: &InvitationId,
    ) -> Result<Option<Credential<InvitationRow>>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM invitations WHERE id = $1").bind(id))
            .await
    }

    async fn revoke_invitation(
        &self,
        account_id: &AccountId,
        id: &InvitationId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query(
                "UPDATE invitations SET revoked_at = $1 WHERE id = $2 AND account_id = $3
                 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $4",
            )
            .bind(now)
            .bind(id)
            .bind(account_id)
            .bind(now),
            event,
        )
        .await
    }

    async fn accept_invitation(
        &self,
        id: &InvitationId,
        now: i64,
        user: &UserRecord,
        member: &MemberRow,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let accepted = sqlx::query(
            "UPDATE invitations SET accepted_at = $1 WHERE id = $2
             AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $3",
        )
        .bind(now)
        .bind(id)
        .bind(now);
        if exec(&mut tx, accepted).await? == 0 {
            return Ok(false);
        }
        let hash = user.password_hash.as_deref();
        insert_user(&mut tx, &user.id, &user.email, user.created_at, hash).await?;
        let m = member;
        insert_membership(&mut tx, &m.account_id, &m.user_id, m.role, m.created_at).await?;
        commit_audited(tx, event).await?;
        Ok(true)
    }
}
