//! SQLite persistence of machines and machine tokens.

use super::apps::{delete_app_rows, insert_app};
use super::{
    SqlStore, commit, commit_audited, db_error, exec, flag, json_column, json_or_null, json_text,
    must_change, named,
};
use crate::ids::{AccountId, MachineId, MachineTokenId};
use crate::store::{
    AppRow, AuditEvent, Conflict, Credential, MachineEnrollment, MachineOrigin, MachineRow,
    MachineStatus, MachineStore, MachineTokenKind, MachineTokenRow, StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for MachineRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(MachineRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            public_key: r.get("public_key"),
            origin: named(r, "origin", MachineOrigin::parse)?,
            status: named(r, "status", MachineStatus::parse)?,
            enabled: flag(r, "enabled"),
            flags: json_column(r, "flags", "machines flags")?,
            created_at: r.get("created_at"),
            approved_at: r.get("approved_at"),
            lifetime_seconds: r.get("lifetime_seconds"),
            expires_at: r.get("expires_at"),
            previous_expires_at: r.get("previous_expires_at"),
            guardrails: json_or_null(r, "guardrails", "guardrails")?,
            token_id: r.get("token_id"),
            disabled_at: r.get("disabled_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for MachineTokenRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(MachineTokenRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            kind: named(r, "kind", MachineTokenKind::parse)?,
            name: r.get("name"),
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            expires_at: r.get("expires_at"),
            max_uses: r.get("max_uses"),
            uses: r.get("uses"),
            flags: json_column(r, "flags", "machine_tokens flags")?,
            grants: json_column(r, "grants", "machine_tokens grants")?,
            machine_lifetime_seconds: r.get("machine_lifetime_seconds"),
            guardrails: json_or_null(r, "guardrails", "guardrails")?,
            machine_id: r.get("machine_id"),
            sealed_bundle: r.get("sealed_bundle"),
            disabled_at: r.get("disabled_at"),
        })
    }
}

async fn insert_token(
    tx: &mut Transaction<'_, Any>,
    token: &Credential<MachineTokenRow>,
) -> Result<(), StoreError> {
    let t = &token.record;
    let insert = sqlx::query(
        "INSERT INTO machine_tokens (id, account_id, kind, name, digest, created_by, created_at,
            expires_at, max_uses, flags, grants, machine_lifetime_seconds, guardrails,
            machine_id, sealed_bundle, disabled_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
    )
    .bind(&t.id)
    .bind(&t.account_id)
    .bind(t.kind.as_str())
    .bind(&t.name)
    .bind(&token.digest)
    .bind(&t.created_by)
    .bind(t.created_at)
    .bind(t.expires_at)
    .bind(t.max_uses)
    .bind(json_text(&t.flags))
    .bind(json_text(&t.grants))
    .bind(t.machine_lifetime_seconds)
    .bind(t.guardrails.as_ref().map(json_text))
    .bind(&t.machine_id)
    .bind(&t.sealed_bundle)
    .bind(t.disabled_at);
    exec(tx, insert).await?;
    Ok(())
}

async fn insert_machine(tx: &mut Transaction<'_, Any>, m: &MachineRow) -> Result<(), StoreError> {
    let insert = sqlx::query(
        "INSERT INTO machines (id, account_id, public_key, origin, status, enabled, flags, created_at,
            approved_at, lifetime_seconds, expires_at, guardrails, token_id)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
    )
    .bind(&m.id)
    .bind(&m.account_id)
    .bind(&m.public_key)
    .bind(m.origin.as_str())
    .bind(m.status.as_str())
    .bind(i64::from(m.enabled))
    .bind(json_text(&m.flags))
    .bind(m.created_at)
    .bind(m.approved_at)
    .bind(m.lifetime_seconds)
    .bind(m.expires_at)
    .bind(m.guardrails.as_ref().map(json_text))
    .bind(&m.token_id);
    exec(tx, insert).await?;
    Ok(())
}

/// Live machines: neither the machine nor its app deleted.
macro_rules! machine_select {
    () => {
        "SELECT m.*, a.name AS name FROM machines m JOIN apps a ON a.id = m.id
         WHERE m.deleted_at IS NULL AND a.deleted_at IS NULL"
    };
}

#[async_trait]
impl MachineStore for SqlStore {
    async fn machine(&self, id: &MachineId) -> Result<Option<MachineRow>, StoreError> {
        self.fetch_optional(sqlx::query_as(concat!(machine_select!(), " AND m.id = $1")).bind(id))
            .await
    }

    async fn machine_account(&self, id: &MachineId) -> Result<Option<AccountId>, StoreError> {
        sqlx::query_scalar("SELECT account_id FROM machines WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(db_error)
    }

    async fn machines(&self, account_id: &AccountId) -> Result<Vec<MachineRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(concat!(
                machine_select!(),
                " AND m.account_id = $1 ORDER BY m.created_at, m.id"
            ))
            .bind(account_id),
        )
        .await
    }

    async fn create_machine(
        &self,
        app: &AppRow,
        machine: &MachineRow,
        enrollment: MachineEnrollment<'_>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let MachineEnrollment::WithToken { token_id, now } = enrollment {
            let take = sqlx::query(
                "UPDATE machine_tokens SET uses = uses + 1
                 WHERE id = $1 AND uses < max_uses AND disabled_at IS NULL AND expires_at > $2",
            );
            let taken = exec(&mut tx, take.bind(token_id).bind(now)).await?;
            must_change(taken, Conflict::TokenUnusable)?;
        }
        insert_app(&mut tx, app).await?;
        insert_machine(&mut tx, machine).await?;
        if let MachineEnrollment::Provisioned { bundle } = enrollment {
            insert_token(&mut tx, bundle).await?;
        }
        commit_audited(tx, event).await
    }

    async fn update_machine(&self, m: &MachineRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE machines SET status = $1, enabled = $2, approved_at = $3, expires_at = $4,
                    previous_expires_at = $5, disabled_at = $6
                 WHERE id = $7 AND deleted_at IS NULL",
            )
            .bind(m.status.as_str())
            .bind(i64::from(m.enabled))
            .bind(m.approved_at)
            .bind(m.expires_at)
            .bind(m.previous_expires_at)
            .bind(m.disabled_at)
            .bind(&m.id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn delete_machine(
        &self,
        id: &MachineId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let delete = sqlx::query(
            "UPDATE machines SET deleted_at = $1, enabled = 0 WHERE id = $2 AND deleted_at IS NULL",
        );
        let deleted = exec(&mut tx, delete.bind(at).bind(id)).await?;
        must_change(deleted, Conflict::Changed)?;
        delete_app_rows(&mut tx, &id.app_id(), at).await?;
        commit_audited(tx, event).await
    }

    async fn create_machine_token(
        &self,
        token: &Credential<MachineTokenRow>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_token(&mut tx, token).await?;
        commit_audited(tx, event).await
    }

    async fn machine_token(
        &self,
        id: &MachineTokenId,
    ) -> Result<Option<Credential<MachineTokenRow>>, StoreError> {
        self.fetch_optional(sqlx::query_as("SELECT * FROM machine_tokens WHERE id = $1").bind(id))
            .await
    }

    async fn machine_tokens(
        &self,
        account_id: &AccountId,
    ) -> Result<Vec<MachineTokenRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM machine_tokens WHERE account_id = $1 ORDER BY created_at, id",
            )
            .bind(account_id),
        )
        .await
    }

    async fn disable_machine_token(
        &self,
        id: &MachineTokenId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query(
                "UPDATE machine_tokens SET disabled_at = $1, sealed_bundle = NULL
                 WHERE id = $2 AND disabled_at IS NULL",
            )
            .bind(at)
            .bind(id),
            event,
        )
        .await
    }

    async fn take_bundle(
        &self,
        token_id: &MachineTokenId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let mut tx = self.begin().await?;
        let sealed: Option<Option<Vec<u8>>> = sqlx::query_scalar(
            "SELECT sealed_bundle FROM machine_tokens
             WHERE id = $1 AND kind = 'bundle' AND uses < max_uses AND disabled_at IS NULL AND expires_at > $2",
        )
        .bind(token_id)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        let Some(Some(sealed)) = sealed else {
            return Ok(None);
        };
        let take = sqlx::query(
            "UPDATE machine_tokens SET uses = uses + 1, sealed_bundle = NULL WHERE id = $1",
        );
        exec(&mut tx, take.bind(token_id)).await?;
        commit_audited(tx, event).await?;
        Ok(Some(sealed))
    }

    async fn disable_expired_machines(&self, now: i64) -> Result<Vec<MachineId>, StoreError> {
        sqlx::query_scalar(
            "UPDATE machines SET enabled = 0, disabled_at = $1
             WHERE origin = 'enrollment' AND enabled = 1 AND deleted_at IS NULL AND expires_at <= $2
             RETURNING id",
        )
        .bind(now)
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(db_error)
    }

    async fn purge_disabled_machines(
        &self,
        now: i64,
        cutoff: i64,
    ) -> Result<Vec<MachineId>, StoreError> {
        let mut tx = self.begin().await?;
        let ids: Vec<MachineId> = sqlx::query_scalar(
            "UPDATE machines SET deleted_at = $1
             WHERE origin = 'enrollment' AND enabled = 0 AND deleted_at IS NULL AND disabled_at <= $2
             RETURNING id",
        )
        .bind(now)
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(db_error)?;
        for id in &ids {
            delete_app_rows(&mut tx, &id.app_id(), now).await?;
        }
        commit(tx).await?;
        Ok(ids)
    }

    async fn retire_machine_tokens(&self, now: i64, cutoff: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let disable = sqlx::query(
            "UPDATE machine_tokens SET disabled_at = expires_at, sealed_bundle = NULL
             WHERE disabled_at IS NULL AND expires_at <= $1",
        );
        exec(&mut tx, disable.bind(now)).await?;
        let delete = sqlx::query(
            "DELETE FROM machine_tokens WHERE disabled_at IS NOT NULL AND disabled_at <= $1",
        );
        exec(&mut tx, delete.bind(cutoff)).await?;
        commit(tx).await
    }

    async fn prune_nonces(&self, now: i64) -> Result<u64, StoreError> {
        Ok(
            sqlx::query("DELETE FROM machine_nonces WHERE expires_at < $1")
                .bind(now)
                .execute(&self.pool)
                .await
                .map_err(db_error)?
                .rows_affected(),
        )
    }
}

#[cfg(test)]
mod tests {
    /// Events written before migration 0006 get their identity: a principal came from the
    /// authenticated caller, a lone credential from a refused signed request's X-Machine-Id.
    #[test]
    fn migration_0006_marks_earlier_events_verified_or_claimed() {
        let db = rusqlite::Connection::open_in_memory().expect("in-memory database");
        for earlier in [
            include_str!("../../../migrations/sqlite/0001_core.sql"),
            include_str!("../../../migrations/sqlite/0002_asymmetric_keys.sql"),
            include_str!("../../../migrations/sqlite/0003_identity.sql"),
            include_str!("../../../migrations/sqlite/0004_machines.sql"),
        ] {
            db.execute_batch(earlier).expect("earlier migration");
        }
        db.execute_batch(
            "INSERT INTO audit_events (id, time, principal, auth_method, action, outcome, status, request_id, credential)
             VALUES ('e1', 1, 'app_x', 'api_key', 'keyring.encrypt', 'success', 200, 'r1', 'ak_x'),
                    ('e2', 2, NULL, 'none', 'auth.signed', 'unauthenticated', 401, 'r2', 'mch_x'),
                    ('e3', 3, NULL, 'none', 'http.get', 'unauthenticated', 401, 'r3', NULL)",
        )
        .expect("events");
        db.execute_batch(include_str!(
            "../../../migrations/sqlite/0006_signed_refusals.sql"
        ))
        .expect("migration 0006");
        let identities: Vec<Option<String>> = db
            .prepare("SELECT identity FROM audit_events ORDER BY time")
            .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
            .expect("identities");
        assert_eq!(
            identities,
            [
                Some("verified".to_owned()),
                Some("claimed".to_owned()),
                None
            ]
        );
    }
}
