//! [`SecretStore`] on SQL.

use super::{
    SqlStore, commit, commit_audited, db_error, exec, json_column, json_text, must_change, named,
    u32_column,
};
use crate::ids::{AccountId, AppId, GroupId, SecretId};
use crate::store::{
    AuditEvent, Conflict, NewVersion, SecretGrantRow, SecretKind, SecretRow, SecretStore,
    SecretVersionRow, StoreError, VersionOrigin, VersionState,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

/// The secret columns, as a literal so queries stay `&'static str`.
macro_rules! secret_columns {
    () => {
        "id, account_id, group_id, name, kind, current_version, latest_version, retention,
         rotation, next_rotation_at, managed, canary_cascade, created_at, updated_at, deleted_at"
    };
}

macro_rules! select_secrets {
    ($rest:literal) => {
        concat!("SELECT ", secret_columns!(), " FROM secrets ", $rest)
    };
}

impl FromRow<'_, AnyRow> for SecretRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(SecretRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            group_id: r.get("group_id"),
            name: r.get("name"),
            kind: named(r, "kind", SecretKind::parse)?,
            current_version: u32_column(r, "current_version")?,
            latest_version: u32_column(r, "latest_version")?,
            retention: u32_column(r, "retention")?,
            rotation: r.get("rotation"),
            next_rotation_at: r.get("next_rotation_at"),
            managed: r.get("managed"),
            canary_cascade: json_column(r, "canary_cascade", "canary cascade")?,
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
            deleted_at: r.get("deleted_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for SecretVersionRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(SecretVersionRow {
            secret_id: r.get("secret_id"),
            version: u32_column(r, "version")?,
            fields: json_column(r, "fields", "secret field names")?,
            wrapped_key: r.get("wrapped_key"),
            wrapping_key: r.get("wrapping_key"),
            nonce: r.get("nonce"),
            sealed: r.get("sealed"),
            origin: named(r, "origin", VersionOrigin::parse)?,
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
            state: named(r, "state", VersionState::parse)?,
            applied_at: r.get("applied_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for SecretGrantRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(SecretGrantRow {
            secret_id: r.get("secret_id"),
            app_id: r.get("app_id"),
            created_at: r.get("created_at"),
        })
    }
}

/// A version may be wrapped only by its group's current master key: one wrapped under a
/// master that a rotation replaced meanwhile would be missed by the rotation's re-wrap.
/// Checked under the writer lock, like the rotation's start.
async fn require_current_master(
    tx: &mut Transaction<'_, Any>,
    v: &SecretVersionRow,
) -> Result<(), StoreError> {
    let current: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM secrets s JOIN security_groups g ON g.id = s.group_id
         WHERE s.id = $1 AND 'mk/' || g.id || '/v' || CAST(g.master_version AS TEXT) = $2",
    )
    .bind(&v.secret_id)
    .bind(&v.wrapping_key)
    .fetch_one(&mut **tx)
    .await
    .map_err(db_error)?;
    must_change(current as u64, Conflict::MasterRotated)
}

async fn insert_version(
    tx: &mut Transaction<'_, Any>,
    v: &SecretVersionRow,
) -> Result<(), StoreError> {
    require_current_master(tx, v).await?;
    let insert = sqlx::query(
        "INSERT INTO secret_versions (secret_id, version, fields, wrapped_key, wrapping_key,
            nonce, sealed, origin, created_by, created_at, state, applied_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
    )
    .bind(&v.secret_id)
    .bind(i64::from(v.version))
    .bind(json_text(&v.fields))
    .bind(v.wrapped_key.clone())
    .bind(&v.wrapping_key)
    .bind(v.nonce.clone())
    .bind(v.sealed.clone())
    .bind(v.origin.as_str())
    .bind(&v.created_by)
    .bind(v.created_at)
    .bind(v.state.as_str())
    .bind(v.applied_at);
    exec(tx, insert).await?;
    Ok(())
}

/// Deletes the versions beyond the secret's retention, oldest first, never the current one
/// nor one still pending.
async fn enforce_retention(
    tx: &mut Transaction<'_, Any>,
    secret_id: &SecretId,
) -> Result<(), StoreError> {
    let prune = sqlx::query(
        "DELETE FROM secret_versions WHERE secret_id = $1 AND state <> 'pending'
           AND version <> (SELECT current_version FROM secrets WHERE id = $1)
           AND version <= (SELECT latest_version - retention FROM secrets WHERE id = $1)",
    )
    .bind(secret_id);
    exec(tx, prune).await?;
    Ok(())
}

impl SqlStore {
    async fn secret_named(
        &self,
        select: &'static str,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<SecretRow>, StoreError> {
        self.fetch_optional(sqlx::query_as(select).bind(account_id).bind(name))
            .await
    }
}

#[async_trait]
impl SecretStore for SqlStore {
    async fn create_secret(
        &self,
        s: &SecretRow,
        first: &SecretVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let insert = sqlx::query(concat!(
            "INSERT INTO secrets (",
            secret_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, NULL)"
        ))
        .bind(&s.id)
        .bind(&s.account_id)
        .bind(&s.group_id)
        .bind(&s.name)
        .bind(s.kind.as_str())
        .bind(i64::from(s.current_version))
        .bind(i64::from(s.latest_version))
        .bind(i64::from(s.retention))
        .bind(&s.rotation)
        .bind(s.next_rotation_at)
        .bind(&s.managed)
        .bind(json_text(&s.canary_cascade))
        .bind(s.created_at)
        .bind(s.updated_at);
        exec(&mut tx, insert).await?;
        insert_version(&mut tx, first).await?;
        commit_audited(tx, event).await
    }

    async fn secret(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<SecretRow>, StoreError> {
        self.secret_named(
            select_secrets!("WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL"),
            account_id,
            name,
        )
        .await
    }

    async fn secrets(&self, account_id: &AccountId) -> Result<Vec<SecretRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(select_secrets!(
                "WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name"
            ))
            .bind(account_id),
        )
        .await
    }

    async fn secret_versions(
        &self,
        secret_id: &SecretId,
    ) -> Result<Vec<SecretVersionRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM secret_versions WHERE secret_id = $1 ORDER BY version")
                .bind(secret_id),
        )
        .await
    }

    async fn add_secret_version(
        &self,
        next: &SecretVersionRow,
        becomes: NewVersion,
        next_rotation_at: Option<i64>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let statement = match becomes {
            NewVersion::Current => {
                "UPDATE secrets SET latest_version = $1, current_version = $1, updated_at = $2,
                   next_rotation_at = $3
                 WHERE id = $4 AND latest_version = $5 AND deleted_at IS NULL"
            }
            NewVersion::Pending => {
                "UPDATE secrets SET latest_version = $1, updated_at = $2, next_rotation_at = $3
                 WHERE id = $4 AND latest_version = $5 AND deleted_at IS NULL"
            }
        };
        let moved = sqlx::query(statement)
            .bind(i64::from(next.version))
            .bind(next.created_at)
            .bind(next_rotation_at)
            .bind(&next.secret_id)
            .bind(i64::from(next.version) - 1);
        must_change(exec(&mut tx, moved).await?, Conflict::SecretChanged)?;
        if becomes == NewVersion::Pending {
            // A newer rotation replaces a pending one its agent never confirmed.
            let abandon = sqlx::query(
                "UPDATE secret_versions SET state = 'abandoned'
                 WHERE secret_id = $1 AND state = 'pending'",
            )
            .bind(&next.secret_id);
            exec(&mut tx, abandon).await?;
        }
        insert_version(&mut tx, next).await?;
        enforce_retention(&mut tx, &next.secret_id).await?;
        commit_audited(tx, event).await
    }

    async fn apply_secret_version(
        &self,
        secret_id: &SecretId,
        version: u32,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let applied = sqlx::query(
            "UPDATE secret_versions SET state = 'ready', applied_at = $1
             WHERE secret_id = $2 AND version = $3 AND state = 'pending'",
        )
        .bind(at)
        .bind(secret_id)
        .bind(i64::from(version));
        must_change(exec(&mut tx, applied).await?, Conflict::VersionNotPending)?;
        let current = sqlx::query(
            "UPDATE secrets SET current_version = $1, updated_at = $2
             WHERE id = $3 AND deleted_at IS NULL",
        )
        .bind(i64::from(version))
        .bind(at)
        .bind(secret_id);
        must_change(exec(&mut tx, current).await?, Conflict::SecretChanged)?;
        enforce_retention(&mut tx, secret_id).await?;
        commit_audited(tx, event).await
    }

    async fn set_secret_rotation(
        &self,
        secret_id: &SecretId,
        rotation: Option<&str>,
        next_rotation_at: Option<i64>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE secrets SET rotation = $1, next_rotation_at = $2
                 WHERE id = $3 AND deleted_at IS NULL",
            )
            .bind(rotation.map(str::to_owned))
            .bind(next_rotation_at)
            .bind(secret_id),
            Conflict::SecretChanged,
            event,
        )
        .await
    }

    async fn secrets_due_for_rotation(&self, now: i64) -> Result<Vec<SecretRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(select_secrets!(
                "WHERE deleted_at IS NULL AND next_rotation_at IS NOT NULL
                   AND next_rotation_at <= $1 ORDER BY next_rotation_at"
            ))
            .bind(now),
        )
        .await
    }

    async fn secret_grants(&self, secret_id: &SecretId) -> Result<Vec<SecretGrantRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM secret_grants WHERE secret_id = $1 ORDER BY app_id")
                .bind(secret_id),
        )
        .await
    }

    async fn grant_secret(&self, g: &SecretGrantRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO secret_grants (secret_id, app_id, created_at) VALUES ($1, $2, $3)
                 ON CONFLICT DO NOTHING",
            )
            .bind(&g.secret_id)
            .bind(&g.app_id)
            .bind(g.created_at),
            event,
        )
        .await
    }

    async fn revoke_secret(
        &self,
        secret_id: &SecretId,
        app_id: &AppId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM secret_grants WHERE secret_id = $1 AND app_id = $2")
                .bind(secret_id)
                .bind(app_id),
            event,
        )
        .await
    }

    async fn trash_secret(
        &self,
        secret_id: &SecretId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let trash = sqlx::query(
            "UPDATE secrets SET deleted_at = $1, next_rotation_at = NULL, rotation = NULL
             WHERE id = $2 AND deleted_at IS NULL",
        )
        .bind(at)
        .bind(secret_id);
        must_change(exec(&mut tx, trash).await?, Conflict::SecretChanged)?;
        let grants = sqlx::query("DELETE FROM secret_grants WHERE secret_id = $1").bind(secret_id);
        exec(&mut tx, grants).await?;
        commit_audited(tx, event).await
    }

    async fn trashed_secret(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<SecretRow>, StoreError> {
        self.secret_named(
            select_secrets!(
                "WHERE account_id = $1 AND name = $2 AND deleted_at IS NOT NULL
                 ORDER BY deleted_at DESC LIMIT 1"
            ),
            account_id,
            name,
        )
        .await
    }

    async fn restore_secret(
        &self,
        secret_id: &SecretId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE secrets SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL",
            )
            .bind(secret_id),
            Conflict::SecretLeftTrash,
            event,
        )
        .await
    }

    async fn purge_trashed_secrets(&self, cutoff: i64) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut purged = 0;
        for statement in [
            "DELETE FROM secret_versions WHERE secret_id IN
             (SELECT id FROM secrets WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
            "DELETE FROM secret_grants WHERE secret_id IN
             (SELECT id FROM secrets WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
            "DELETE FROM secrets WHERE deleted_at IS NOT NULL AND deleted_at < $1",
        ] {
            purged = exec(&mut tx, sqlx::query(statement).bind(cutoff)).await?;
        }
        commit(tx).await?;
        Ok(purged)
    }

    async fn freeze_group(
        &self,
        group_id: &GroupId,
        at: i64,
        reason: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "UPDATE security_groups SET frozen_at = $1, frozen_reason = $2
                 WHERE id = $3 AND frozen_at IS NULL AND deleted_at IS NULL",
            )
            .bind(at)
            .bind(reason.to_owned())
            .bind(group_id),
            event,
        )
        .await
    }

    async fn unfreeze_group(
        &self,
        group_id: &GroupId,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "UPDATE security_groups SET frozen_at = NULL, frozen_reason = NULL
                 WHERE id = $1 AND frozen_at IS NOT NULL",
            )
            .bind(group_id),
            event,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::testing::{account_and_group, event, temporary_store};

    const MASTER: &str = "mk/grp_g/v1";

    fn secret(retention: u32) -> SecretRow {
        SecretRow {
            id: "sec_s".into(),
            account_id: "acct_a".into(),
            group_id: "grp_g".into(),
            name: "s".into(),
            kind: SecretKind::Single,
            current_version: 1,
            latest_version: 1,
            retention,
            rotation: None,
            next_rotation_at: Some(10),
            managed: None,
            canary_cascade: Vec::new(),
            created_at: 0,
            updated_at: 0,
            deleted_at: None,
        }
    }

    fn version(n: u32, state: VersionState) -> SecretVersionRow {
        SecretVersionRow {
            secret_id: "sec_s".into(),
            version: n,
            fields: Vec::new(),
            wrapped_key: vec![n as u8; 40],
            wrapping_key: MASTER.into(),
            nonce: vec![0; 12],
            sealed: vec![1; 20],
            origin: VersionOrigin::Set,
            created_by: "usr_u".into(),
            created_at: i64::from(n),
            state,
            applied_at: None,
        }
    }

    async fn store_with_secret(retention: u32) -> (tempfile::TempDir, SqlStore) {
        let (dir, store) = temporary_store().await;
        account_and_group(&store).await;
        let first = version(1, VersionState::Ready);
        store
            .create_secret(&secret(retention), &first, &event("secret.create", 201))
            .await
            .expect("created");
        (dir, store)
    }

    fn numbers(versions: &[SecretVersionRow]) -> Vec<u32> {
        versions.iter().map(|v| v.version).collect()
    }

    /// Two rotations that read the same latest version (two nodes on one due time): one
    /// commits, the other is refused, so the due time gives exactly one version.
    #[tokio::test]
    async fn two_writers_of_the_same_next_version_make_one() {
        let (_dir, store) = store_with_secret(20).await;
        let next = version(2, VersionState::Ready);
        let scheduled = event("secret.rotate.scheduled", 200);
        let add = || store.add_secret_version(&next, NewVersion::Current, Some(20), &scheduled);
        add().await.expect("the first writer");
        let second = add().await;
        assert!(
            matches!(second, Err(StoreError::Conflict(Conflict::SecretChanged))),
            "{second:?}"
        );
        let row = store.secret(&"acct_a".into(), "s").await.unwrap().unwrap();
        assert_eq!((row.current_version, row.latest_version), (2, 2));
        assert_eq!(
            row.next_rotation_at,
            Some(20),
            "the due time moved with the version"
        );
    }

    /// Retention drops the oldest versions, never the current one or a pending one.
    #[tokio::test]
    async fn retention_keeps_the_newest_and_the_ones_in_use() {
        let (_dir, store) = store_with_secret(2).await;
        for n in 2..=4 {
            store
                .add_secret_version(
                    &version(n, VersionState::Ready),
                    NewVersion::Current,
                    None,
                    &event("secret.write", 200),
                )
                .await
                .expect("added");
        }
        let kept = store.secret_versions(&"sec_s".into()).await.unwrap();
        assert_eq!(numbers(&kept), [3, 4]);
        // A pending version (a managed secret's rotation) beyond retention: the current one
        // stays however old it is.
        for n in 5..=6 {
            store
                .add_secret_version(
                    &version(n, VersionState::Pending),
                    NewVersion::Pending,
                    None,
                    &event("secret.rotate", 200),
                )
                .await
                .expect("added");
        }
        let kept = store.secret_versions(&"sec_s".into()).await.unwrap();
        assert_eq!(
            numbers(&kept),
            [4, 5, 6],
            "current 4 kept; 5 abandoned by 6"
        );
        assert_eq!(kept[1].state, VersionState::Abandoned);
        assert_eq!(kept[2].state, VersionState::Pending);
        let abandoned = store
            .apply_secret_version(&"sec_s".into(), 5, 7, &event("secret.version.applied", 200))
            .await;
        assert!(
            matches!(
                abandoned,
                Err(StoreError::Conflict(Conflict::VersionNotPending))
            ),
            "{abandoned:?}"
        );
        store
            .apply_secret_version(&"sec_s".into(), 6, 7, &event("secret.version.applied", 200))
            .await
            .expect("applied");
        let row = store.secret(&"acct_a".into(), "s").await.unwrap().unwrap();
        assert_eq!(row.current_version, 6);
    }

    /// A version wrapped by a master key that is no longer the group's current one is
    /// refused: a master-key rotation's re-wrap would miss it.
    #[tokio::test]
    async fn a_version_under_a_replaced_master_is_refused() {
        let (_dir, store) = store_with_secret(20).await;
        sqlx::raw_sql("UPDATE security_groups SET master_version = 2")
            .execute(&store.pool)
            .await
            .expect("bumped");
        let stale = store
            .add_secret_version(
                &version(2, VersionState::Ready),
                NewVersion::Current,
                None,
                &event("secret.write", 200),
            )
            .await;
        assert!(
            matches!(stale, Err(StoreError::Conflict(Conflict::MasterRotated))),
            "{stale:?}"
        );
    }
}
