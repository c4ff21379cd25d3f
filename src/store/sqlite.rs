//! [`Store`] on SQLite (WAL), the embedded default.

mod identity;
mod keys;
mod machines;

use super::*;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteRow, SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// SQLite-backed store. One file; WAL so readers never block the writer.
pub struct SqliteStore {
    pool: SqlitePool,
    path: std::path::PathBuf,
}

fn unavailable(e: sqlx::Error) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict("name taken"),
        _ => StoreError::Unavailable(Box::new(e)),
    }
}

fn to_u32(v: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{what} out of range")))
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and applies the migrations. A write
    /// waits at most `busy_timeout` for another writer's lock before it fails: the service
    /// passes its audit bound, so a locked database costs a request one bounded wait.
    pub async fn open(path: &Path, busy_timeout: Duration) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite://{}", path.display()))
            .map_err(unavailable)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // Durable at every commit: the audit guarantee depends on it.
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(busy_timeout)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .after_release(|connection, _| Box::pin(still_usable(connection)))
            .connect_with(options)
            .await
            .map_err(unavailable)?;
        sqlx::migrate!("./migrations/sqlite")
            .run(&pool)
            .await
            .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
        Ok(Self {
            pool,
            path: path.to_path_buf(),
        })
    }

    /// A write transaction. IMMEDIATE takes the write lock up front: a deferred transaction
    /// that reads and then writes can fail at once with "database is locked" when another
    /// writer (the audit committer) got in between.
    async fn begin(&self) -> Result<Transaction<'static, Sqlite>, StoreError> {
        self.pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(unavailable)
    }
}

/// Whether a connection coming back to the pool can serve the next caller. A transaction
/// whose COMMIT failed (disk full, file made read-only) may already have been rolled back by
/// SQLite itself; sqlx's own ROLLBACK then fails and the connection believes it is still
/// inside a transaction, refusing every later BEGIN. Such a connection is closed instead
/// of being reused, so writes recover as soon as the storage does.
async fn still_usable(connection: &mut sqlx::SqliteConnection) -> Result<bool, sqlx::Error> {
    use sqlx::Connection;
    if !connection.is_in_transaction() {
        return Ok(true);
    }
    // A dropped transaction queued its ROLLBACK; a round trip lets the worker run it first.
    connection.ping().await?;
    Ok(!connection.is_in_transaction())
}

async fn insert_event(tx: &mut Transaction<'_, Sqlite>, e: &AuditEvent) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO audit_events (id, time, account_id, principal, auth_method, action, object, outcome, status, source_ip, request_id, credential, detail, identity)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(&e.id)
    .bind(e.time)
    .bind(&e.account_id)
    .bind(&e.principal)
    .bind(&e.auth_method)
    .bind(&e.action)
    .bind(&e.object)
    .bind(&e.outcome)
    .bind(i64::from(e.status))
    .bind(&e.source_ip)
    .bind(&e.request_id)
    .bind(&e.credential)
    .bind(&e.detail)
    .bind(e.identity.map(crate::audit::Identity::as_str))
    .execute(&mut **tx)
    .await
    .map_err(|e| StoreError::Unavailable(Box::new(e)))?;
    Ok(())
}

/// Inserts an app and its group places (with their operations).
async fn insert_app(tx: &mut Transaction<'_, Sqlite>, app: &AppRow) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO apps (id, account_id, name, created_at) VALUES (?, ?, ?, ?)")
        .bind(&app.id)
        .bind(&app.account_id)
        .bind(&app.name)
        .bind(app.created_at)
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?;
    for group in &app.groups {
        let operations = app.operations.get(group).cloned().unwrap_or_default();
        let operations = serde_json::to_string(&operations)
            .map_err(|_| StoreError::Corrupt("app operations".into()))?;
        sqlx::query("INSERT INTO app_groups (app_id, group_id, operations) VALUES (?, ?, ?)")
            .bind(&app.id)
            .bind(group)
            .bind(operations)
            .execute(&mut **tx)
            .await
            .map_err(unavailable)?;
    }
    Ok(())
}

async fn commit(tx: Transaction<'_, Sqlite>) -> Result<(), StoreError> {
    tx.commit().await.map_err(unavailable)
}

fn group_row(r: &SqliteRow) -> Result<GroupRow, StoreError> {
    Ok(GroupRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        name: r.get("name"),
        master_version: to_u32(r.get("master_version"), "master_version")?,
        created_at: r.get("created_at"),
    })
}

fn api_key_row(r: &SqliteRow) -> ApiKeyRow {
    ApiKeyRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        principal_kind: r.get("principal_kind"),
        principal_id: r.get("principal_id"),
        name: r.get("name"),
        flags_json: r.get("flags"),
        digest: r.get("digest"),
        created_at: r.get("created_at"),
        last_used_at: r.get("last_used_at"),
        disabled: r.get::<i64, _>("disabled") != 0,
    }
}

fn keyring_row(r: &SqliteRow) -> Result<KeyringRow, StoreError> {
    let opt_u32 = |v: Option<i64>, what| v.map(|v| to_u32(v, what)).transpose();
    Ok(KeyringRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        group_id: r.get("group_id"),
        name: r.get("name"),
        protection: r.get("protection"),
        current_version: to_u32(r.get("current_version"), "current_version")?,
        min_decryption_version: to_u32(r.get("min_decryption_version"), "min_decryption_version")?,
        enabled: r.get::<i64, _>("enabled") != 0,
        rotation_period_days: opt_u32(r.get("rotation_period_days"), "rotation_period_days")?,
        max_encrypt_count: r
            .get::<Option<i64>, _>("max_encrypt_count")
            .map(|v| v.max(0) as u64),
        cache_ttl_seconds: to_u32(r.get("cache_ttl_seconds"), "cache_ttl_seconds")?,
        created_at: r.get("created_at"),
        rotated_at: r.get("rotated_at"),
        deleted_at: r.get("deleted_at"),
    })
}

fn version_row(r: &SqliteRow) -> Result<VersionRow, StoreError> {
    Ok(VersionRow {
        keyring_id: r.get("keyring_id"),
        version: to_u32(r.get("version"), "version")?,
        key_ref: r.get("key_ref"),
        wrapped_key: r.get("wrapped_key"),
        wrapping_key: r.get("wrapping_key"),
        token_key: r.get("token_key"),
        kcv: r.get("kcv"),
        created_at: r.get("created_at"),
        encrypt_count: r.get::<i64, _>("encrypt_count").max(0) as u64,
    })
}

fn event_row(r: &SqliteRow) -> Result<StoredEvent, StoreError> {
    Ok(StoredEvent {
        seq: r.get("seq"),
        event: AuditEvent {
            id: r.get("id"),
            time: r.get("time"),
            account_id: r.get("account_id"),
            principal: r.get("principal"),
            auth_method: r.get("auth_method"),
            action: r.get("action"),
            object: r.get("object"),
            outcome: r.get("outcome"),
            status: u16::try_from(r.get::<i64, _>("status"))
                .map_err(|_| StoreError::Corrupt("status".into()))?,
            source_ip: r.get("source_ip"),
            request_id: r.get("request_id"),
            credential: r.get("credential"),
            detail: r.get("detail"),
            identity: r
                .get::<Option<String>, _>("identity")
                .as_deref()
                .and_then(crate::audit::Identity::parse),
            encrypt_usage: None,
            api_key_id: None,
        },
    })
}

/// The keyring columns, as a literal so queries stay `&'static str` (no dynamic SQL).
macro_rules! keyring_columns {
    () => {
        "id, account_id, group_id, name, protection, current_version, min_decryption_version, enabled,
         rotation_period_days, max_encrypt_count, cache_ttl_seconds, created_at, rotated_at, deleted_at"
    };
}

async fn insert_version(
    tx: &mut Transaction<'_, Sqlite>,
    v: &VersionRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO keyring_versions (keyring_id, version, key_ref, wrapped_key, wrapping_key, token_key, kcv, created_at, encrypt_count)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
    )
    .bind(&v.keyring_id)
    .bind(i64::from(v.version))
    .bind(&v.key_ref)
    .bind(&v.wrapped_key)
    .bind(&v.wrapping_key)
    .bind(&v.token_key)
    .bind(&v.kcv)
    .bind(v.created_at)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl Store for SqliteStore {
    async fn probe_write(&self, now: i64) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT OR REPLACE INTO readiness_probe (id, checked_at) VALUES (1, ?)")
            .bind(now)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        commit(tx).await
    }

    async fn first_account(&self) -> Result<Option<AccountRow>, StoreError> {
        let row =
            sqlx::query("SELECT id, name, created_at FROM accounts ORDER BY created_at LIMIT 1")
                .fetch_optional(&self.pool)
                .await
                .map_err(unavailable)?;
        Ok(row.map(|r| AccountRow {
            id: r.get("id"),
            name: r.get("name"),
            created_at: r.get("created_at"),
        }))
    }

    async fn create_account_with_owner(
        &self,
        account: &AccountRow,
        owner: &UserRow,
        key: &ApiKeyRow,
        setup: &ResetRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)")
            .bind(&account.id)
            .bind(&account.name)
            .bind(account.created_at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query("INSERT INTO users (id, email, created_at) VALUES (?, ?, ?)")
            .bind(&owner.id)
            .bind(&owner.email)
            .bind(owner.created_at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        sqlx::query(
            "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
        )
            .bind(&account.id)
            .bind(&owner.id)
            .bind(owner.created_at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_api_key(&mut tx, key).await?;
        sqlx::query(identity::INSERT_RESET)
            .bind(&setup.id)
            .bind(&setup.user_id)
            .bind(&setup.account_id)
            .bind(&setup.digest)
            .bind(setup.created_at)
            .bind(setup.expires_at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn membership_role(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<String>, StoreError> {
        sqlx::query_scalar("SELECT role FROM memberships WHERE account_id = ? AND user_id = ?")
            .bind(account_id)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)
    }

    async fn create_group(&self, group: &GroupRow, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("INSERT INTO security_groups (id, account_id, name, master_version, created_at) VALUES (?, ?, ?, ?, ?)")
            .bind(&group.id)
            .bind(&group.account_id)
            .bind(&group.name)
            .bind(i64::from(group.master_version))
            .bind(group.created_at)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn group(&self, account_id: &str, id: &str) -> Result<Option<GroupRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM security_groups WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(group_row)
        .transpose()
    }

    async fn groups(&self, account_id: &str) -> Result<Vec<GroupRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM security_groups WHERE account_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
        )
            .bind(account_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .iter()
            .map(group_row)
            .collect()
    }

    async fn create_app(&self, app: &AppRow, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_app(&mut tx, app).await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn app(&self, account_id: &str, id: &str) -> Result<Option<AppRow>, StoreError> {
        let Some(row) = sqlx::query(
            "SELECT * FROM apps WHERE account_id = ? AND id = ? AND deleted_at IS NULL",
        )
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        else {
            return Ok(None);
        };
        let mut operations = std::collections::BTreeMap::new();
        for r in sqlx::query(
            "SELECT group_id, operations FROM app_groups WHERE app_id = ? ORDER BY group_id",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        {
            let ops: String = r.get("operations");
            let ops: Vec<String> = serde_json::from_str(&ops)
                .map_err(|_| StoreError::Corrupt("app_groups operations".into()))?;
            operations.insert(r.get::<String, _>("group_id"), ops);
        }
        Ok(Some(AppRow {
            id: row.get("id"),
            account_id: row.get("account_id"),
            name: row.get("name"),
            groups: operations.keys().cloned().collect(),
            operations,
            enabled: row.get::<i64, _>("enabled") != 0,
            created_at: row.get("created_at"),
        }))
    }

    async fn apps(&self, account_id: &str) -> Result<Vec<AppRow>, StoreError> {
        let ids: Vec<String> =
            sqlx::query_scalar(
                "SELECT id FROM apps WHERE account_id = ? AND deleted_at IS NULL ORDER BY created_at, id",
            )
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?;
        let mut apps = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(app) = self.app(account_id, &id).await? {
                apps.push(app);
            }
        }
        Ok(apps)
    }

    async fn create_api_key(&self, key: &ApiKeyRow, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        insert_api_key(&mut tx, key).await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn api_key(&self, id: &str) -> Result<Option<ApiKeyRow>, StoreError> {
        Ok(sqlx::query("SELECT * FROM api_keys WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(api_key_row))
    }

    async fn api_keys(&self, account_id: &str) -> Result<Vec<ApiKeyRow>, StoreError> {
        Ok(
            sqlx::query("SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at, id")
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?
                .iter()
                .map(api_key_row)
                .collect(),
        )
    }

    async fn update_api_key(
        &self,
        id: &str,
        disabled: bool,
        flags_json: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE api_keys SET disabled = ?, flags = ? WHERE id = ?")
            .bind(i64::from(disabled))
            .bind(flags_json)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn create_keyring(
        &self,
        k: &KeyringRow,
        first: &VersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO keyrings (",
            keyring_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        ))
        .bind(&k.id)
        .bind(&k.account_id)
        .bind(&k.group_id)
        .bind(&k.name)
        .bind(&k.protection)
        .bind(i64::from(k.current_version))
        .bind(i64::from(k.min_decryption_version))
        .bind(i64::from(k.enabled))
        .bind(k.rotation_period_days.map(i64::from))
        .bind(k.max_encrypt_count.map(|v| v as i64))
        .bind(i64::from(k.cache_ttl_seconds))
        .bind(k.created_at)
        .bind(k.rotated_at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_version(&mut tx, first).await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn keyring(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            keyring_columns!(),
            " FROM keyrings WHERE account_id = ? AND name = ? AND deleted_at IS NULL"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(keyring_row)
        .transpose()
    }

    async fn keyrings(&self, account_id: &str) -> Result<Vec<KeyringRow>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            keyring_columns!(),
            " FROM keyrings WHERE account_id = ? AND deleted_at IS NULL ORDER BY name"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(keyring_row)
        .collect()
    }

    async fn versions(&self, keyring_id: &str) -> Result<Vec<VersionRow>, StoreError> {
        sqlx::query("SELECT * FROM keyring_versions WHERE keyring_id = ? ORDER BY version")
            .bind(keyring_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .iter()
            .map(version_row)
            .collect()
    }

    async fn add_version(
        &self,
        next: &VersionRow,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE keyrings SET current_version = ?, rotated_at = ? WHERE id = ? AND current_version = ? AND deleted_at IS NULL",
        )
        .bind(i64::from(next.version))
        .bind(at)
        .bind(&next.keyring_id)
        .bind(i64::from(next.version) - 1)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the keyring was rotated or deleted concurrently",
            ));
        }
        insert_version(&mut tx, next).await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn update_keyring_config(
        &self,
        keyring_id: &str,
        c: &KeyringConfig,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE keyrings SET enabled = ?, min_decryption_version = ?, rotation_period_days = ?, max_encrypt_count = ?,
             cache_ttl_seconds = ? WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(i64::from(c.enabled))
        .bind(i64::from(c.min_decryption_version))
        .bind(c.rotation_period_days.map(i64::from))
        .bind(c.max_encrypt_count.map(|v| v as i64))
        .bind(i64::from(c.cache_ttl_seconds))
        .bind(keyring_id)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn trash_keyring(
        &self,
        keyring_id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE keyrings SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")
            .bind(at)
            .bind(keyring_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn trashed_keyring(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<Option<KeyringRow>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            keyring_columns!(),
            " FROM keyrings WHERE account_id = ? AND name = ? AND deleted_at IS NOT NULL
             ORDER BY deleted_at DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(keyring_row)
        .transpose()
    }

    async fn restore_keyring(
        &self,
        keyring_id: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let restored = sqlx::query(
            "UPDATE keyrings SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL",
        )
        .bind(keyring_id)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if restored.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the keyring left the trash concurrently",
            ));
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn keyrings_due_for_rotation(&self, now: i64) -> Result<Vec<KeyringRow>, StoreError> {
        // 86400000000 = microseconds in a day.
        sqlx::query(concat!(
            "SELECT ", keyring_columns!(), " FROM keyrings k WHERE deleted_at IS NULL AND enabled = 1 AND (
                (rotation_period_days IS NOT NULL AND rotated_at + rotation_period_days * 86400000000 <= ?)
                OR (max_encrypt_count IS NOT NULL AND (SELECT encrypt_count FROM keyring_versions v
                    WHERE v.keyring_id = k.id AND v.version = k.current_version) >= max_encrypt_count))"
        ))
        .bind(now)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(keyring_row)
        .collect()
    }

    async fn purge_trash(&self, cutoff: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let labels: Vec<String> = sqlx::query_scalar(
            "SELECT v.token_key FROM keyring_versions v JOIN keyrings k ON k.id = v.keyring_id
             WHERE k.deleted_at IS NOT NULL AND k.deleted_at < ? AND v.token_key IS NOT NULL",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query(
            "DELETE FROM keyring_versions WHERE keyring_id IN (SELECT id FROM keyrings WHERE deleted_at IS NOT NULL AND deleted_at < ?)",
        )
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        sqlx::query("DELETE FROM keyrings WHERE deleted_at IS NOT NULL AND deleted_at < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        commit(tx).await?;
        Ok(labels)
    }

    fn audit_writer(&self) -> Result<Box<dyn AuditWriter>, StoreError> {
        Ok(Box::new(SqliteAuditWriter::open(&self.path)?))
    }

    async fn events(
        &self,
        account_id: &str,
        f: &ActivityFilter,
    ) -> Result<Vec<StoredEvent>, StoreError> {
        sqlx::query(
            "SELECT * FROM audit_events WHERE account_id = ?
               AND (? IS NULL OR time >= ?) AND (? IS NULL OR time < ?)
               AND (? IS NULL OR principal = ?) AND (? IS NULL OR object = ?)
               AND (? IS NULL OR action = ?) AND (? IS NULL OR outcome = ?)
               AND (? IS NULL OR seq < ?)
             ORDER BY seq DESC LIMIT ?",
        )
        .bind(account_id)
        .bind(f.since)
        .bind(f.since)
        .bind(f.until)
        .bind(f.until)
        .bind(&f.principal)
        .bind(&f.principal)
        .bind(&f.object)
        .bind(&f.object)
        .bind(&f.action)
        .bind(&f.action)
        .bind(&f.outcome)
        .bind(&f.outcome)
        .bind(f.before_seq)
        .bind(f.before_seq)
        .bind(i64::from(f.limit))
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(event_row)
        .collect()
    }
}

async fn insert_api_key(
    tx: &mut Transaction<'_, Sqlite>,
    key: &ApiKeyRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO api_keys (id, account_id, principal_kind, principal_id, name, flags, digest, created_at, last_used_at, disabled)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
    )
    .bind(&key.id)
    .bind(&key.account_id)
    .bind(&key.principal_kind)
    .bind(&key.principal_id)
    .bind(&key.name)
    .bind(&key.flags_json)
    .bind(&key.digest)
    .bind(key.created_at)
    .bind(i64::from(key.disabled))
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

/// The audit committer's own connection: synchronous, one prepared statement per row, one
/// fsync per batch.
struct SqliteAuditWriter {
    connection: rusqlite::Connection,
}

fn audit_unavailable(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(Box::new(e))
}

impl SqliteAuditWriter {
    fn open(path: &Path) -> Result<Self, StoreError> {
        let connection = rusqlite::Connection::open(path).map_err(audit_unavailable)?;
        connection
            .busy_timeout(Duration::from_secs(5))
            .map_err(audit_unavailable)?;
        // WAL is a property of the file (set by the pool); FULL makes every commit durable.
        connection
            .pragma_update(None, "synchronous", "FULL")
            .map_err(audit_unavailable)?;
        Ok(Self { connection })
    }
}

impl AuditWriter for SqliteAuditWriter {
    fn append(
        &mut self,
        events: &[AuditEvent],
        claims: &[crate::audit::NonceClaim],
    ) -> Result<Vec<bool>, StoreError> {
        let tx = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(audit_unavailable)?;
        let mut fresh = Vec::with_capacity(claims.len());
        {
            let mut claim = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO machine_nonces (machine_id, nonce, expires_at) VALUES (?, ?, ?)",
                )
                .map_err(audit_unavailable)?;
            for c in claims {
                let inserted = claim
                    .execute(rusqlite::params![c.machine_id, c.nonce, c.expires_at])
                    .map_err(audit_unavailable)?;
                fresh.push(inserted == 1);
            }
            let mut insert = tx
                .prepare_cached(
                    "INSERT INTO audit_events (id, time, account_id, principal, auth_method, action, object, outcome, status, source_ip, request_id, credential, detail, identity)
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                )
                .map_err(audit_unavailable)?;
            for e in events {
                insert
                    .execute(rusqlite::params![
                        e.id,
                        e.time,
                        e.account_id,
                        e.principal,
                        e.auth_method,
                        e.action,
                        e.object,
                        e.outcome,
                        i64::from(e.status),
                        e.source_ip,
                        e.request_id,
                        e.credential,
                        e.detail,
                        e.identity.map(crate::audit::Identity::as_str)
                    ])
                    .map_err(audit_unavailable)?;
            }
            let mut usage: std::collections::HashMap<(&str, u32), i64> =
                std::collections::HashMap::new();
            let mut used_keys: std::collections::HashMap<&str, i64> =
                std::collections::HashMap::new();
            for event in events {
                if let Some((keyring, version)) = &event.encrypt_usage {
                    *usage.entry((keyring.as_str(), *version)).or_default() += 1;
                }
                if let Some(key) = &event.api_key_id {
                    used_keys.insert(key.as_str(), event.time);
                }
            }
            let mut count = tx
                .prepare_cached("UPDATE keyring_versions SET encrypt_count = encrypt_count + ? WHERE keyring_id = ? AND version = ?")
                .map_err(audit_unavailable)?;
            for ((keyring, version), n) in usage {
                count
                    .execute(rusqlite::params![n, keyring, i64::from(version)])
                    .map_err(audit_unavailable)?;
            }
            let mut used = tx
                .prepare_cached("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
                .map_err(audit_unavailable)?;
            for (key, at) in used_keys {
                used.execute(rusqlite::params![at, key])
                    .map_err(audit_unavailable)?;
            }
        }
        tx.commit().map_err(audit_unavailable)?;
        Ok(fresh)
    }
}
