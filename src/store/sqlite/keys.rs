//! [`KeyStore`] on SQLite.

use super::{SqliteStore, commit, insert_event, to_u32, unavailable};
use crate::audit::AuditEvent;
use crate::store::{CertificateRow, KeyRow, KeyStore, KeyVersionRow, ObjectRow, StoreError};
use async_trait::async_trait;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;

/// The key columns, as a literal so queries stay `&'static str`.
macro_rules! key_columns {
    () => {
        "id, account_id, group_id, name, kind, algorithm, can_sign, can_decrypt, enabled,
         current_version, min_version, created_at, deleted_at"
    };
}

fn key_row(r: &SqliteRow) -> Result<KeyRow, StoreError> {
    Ok(KeyRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        group_id: r.get("group_id"),
        name: r.get("name"),
        kind: r.get("kind"),
        algorithm: r.get("algorithm"),
        can_sign: r.get::<i64, _>("can_sign") != 0,
        can_decrypt: r.get::<i64, _>("can_decrypt") != 0,
        enabled: r.get::<i64, _>("enabled") != 0,
        current_version: to_u32(r.get("current_version"), "current_version")?,
        min_version: to_u32(r.get("min_version"), "min_version")?,
        created_at: r.get("created_at"),
        deleted_at: r.get("deleted_at"),
    })
}

fn key_version_row(r: &SqliteRow) -> Result<KeyVersionRow, StoreError> {
    Ok(KeyVersionRow {
        key_id: r.get("key_id"),
        version: to_u32(r.get("version"), "version")?,
        public_key: r.get("public_key"),
        fingerprint: r.get("fingerprint"),
        token_label: r.get("token_label"),
        created_at: r.get("created_at"),
    })
}

fn json_list(text: &str, what: &str) -> Result<Vec<String>, StoreError> {
    serde_json::from_str(text).map_err(|_| StoreError::Corrupt(format!("certificate {what}")))
}

fn certificate_row(r: &SqliteRow) -> Result<CertificateRow, StoreError> {
    Ok(CertificateRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        key_id: r.get("key_id"),
        key_version: to_u32(r.get("key_version"), "key_version")?,
        der: r.get("der"),
        chain_pem: r.get("chain_pem"),
        subject: r.get("subject"),
        issuer: r.get("issuer"),
        serial: r.get("serial"),
        not_before: r.get("not_before"),
        not_after: r.get("not_after"),
        subject_alt_names: json_list(r.get("subject_alt_names"), "subject_alt_names")?,
        key_usage: json_list(r.get("key_usage"), "key_usage")?,
        is_ca: r.get::<i64, _>("is_ca") != 0,
        fingerprint: r.get("fingerprint"),
        created_at: r.get("created_at"),
    })
}

async fn insert_key_version(
    tx: &mut sqlx::Transaction<'_, sqlx::Sqlite>,
    v: &KeyVersionRow,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO key_versions (key_id, version, public_key, fingerprint, token_label, created_at)
         VALUES (?, ?, ?, ?, ?, ?)",
    )
    .bind(&v.key_id)
    .bind(i64::from(v.version))
    .bind(&v.public_key)
    .bind(&v.fingerprint)
    .bind(&v.token_label)
    .bind(v.created_at)
    .execute(&mut **tx)
    .await
    .map_err(unavailable)?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn create_key(
        &self,
        k: &KeyRow,
        first: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(concat!(
            "INSERT INTO keys (",
            key_columns!(),
            ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)"
        ))
        .bind(&k.id)
        .bind(&k.account_id)
        .bind(&k.group_id)
        .bind(&k.name)
        .bind(&k.kind)
        .bind(&k.algorithm)
        .bind(i64::from(k.can_sign))
        .bind(i64::from(k.can_decrypt))
        .bind(i64::from(k.enabled))
        .bind(i64::from(k.current_version))
        .bind(i64::from(k.min_version))
        .bind(k.created_at)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_key_version(&mut tx, first).await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn key(&self, account_id: &str, name: &str) -> Result<Option<KeyRow>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE account_id = ? AND name = ? AND deleted_at IS NULL"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(key_row)
        .transpose()
    }

    async fn keys(&self, account_id: &str) -> Result<Vec<KeyRow>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE account_id = ? AND deleted_at IS NULL ORDER BY name"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(key_row)
        .collect()
    }

    async fn key_versions(&self, key_id: &str) -> Result<Vec<KeyVersionRow>, StoreError> {
        sqlx::query("SELECT * FROM key_versions WHERE key_id = ? ORDER BY version")
            .bind(key_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .iter()
            .map(key_version_row)
            .collect()
    }

    async fn add_key_version(
        &self,
        next: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE keys SET current_version = ? WHERE id = ? AND current_version = ? AND deleted_at IS NULL",
        )
        .bind(i64::from(next.version))
        .bind(&next.key_id)
        .bind(i64::from(next.version) - 1)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if moved.rows_affected() != 1 {
            return Err(StoreError::Conflict(
                "the key was rotated or deleted concurrently",
            ));
        }
        insert_key_version(&mut tx, next).await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn update_key(
        &self,
        key_id: &str,
        enabled: bool,
        min_version: u32,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "UPDATE keys SET enabled = ?, min_version = ? WHERE id = ? AND deleted_at IS NULL",
        )
        .bind(i64::from(enabled))
        .bind(i64::from(min_version))
        .bind(key_id)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn trash_key(&self, key_id: &str, at: i64, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query("UPDATE keys SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL")
            .bind(at)
            .bind(key_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn trashed_key(
        &self,
        account_id: &str,
        name: &str,
    ) -> Result<Option<KeyRow>, StoreError> {
        sqlx::query(concat!(
            "SELECT ",
            key_columns!(),
            " FROM keys WHERE account_id = ? AND name = ? AND deleted_at IS NOT NULL
             ORDER BY deleted_at DESC LIMIT 1"
        ))
        .bind(account_id)
        .bind(name)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(key_row)
        .transpose()
    }

    async fn restore_key(&self, key_id: &str, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let restored = sqlx::query(
            "UPDATE keys SET deleted_at = NULL WHERE id = ? AND deleted_at IS NOT NULL",
        )
        .bind(key_id)
        .execute(&mut *tx)
        .await
        .map_err(unavailable)?;
        if restored.rows_affected() != 1 {
            return Err(StoreError::Conflict("the key left the trash concurrently"));
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn purge_trashed_keys(&self, cutoff: i64) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let labels: Vec<String> = sqlx::query_scalar(
            "SELECT v.token_label FROM key_versions v JOIN keys k ON k.id = v.key_id
             WHERE k.deleted_at IS NOT NULL AND k.deleted_at < ? AND v.token_label IS NOT NULL",
        )
        .bind(cutoff)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        for statement in [
            "DELETE FROM certificates WHERE key_id IN
             (SELECT id FROM keys WHERE deleted_at IS NOT NULL AND deleted_at < ?)",
            "DELETE FROM key_versions WHERE key_id IN
             (SELECT id FROM keys WHERE deleted_at IS NOT NULL AND deleted_at < ?)",
        ] {
            sqlx::query(statement)
                .bind(cutoff)
                .execute(&mut *tx)
                .await
                .map_err(unavailable)?;
        }
        sqlx::query("DELETE FROM keys WHERE deleted_at IS NOT NULL AND deleted_at < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        commit(tx).await?;
        Ok(labels)
    }

    async fn add_certificate(
        &self,
        c: &CertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        sqlx::query(
            "INSERT INTO certificates (id, account_id, key_id, key_version, der, chain_pem, subject, issuer, serial,
             not_before, not_after, subject_alt_names, key_usage, is_ca, fingerprint, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&c.id)
        .bind(&c.account_id)
        .bind(&c.key_id)
        .bind(i64::from(c.key_version))
        .bind(&c.der)
        .bind(&c.chain_pem)
        .bind(&c.subject)
        .bind(&c.issuer)
        .bind(&c.serial)
        .bind(c.not_before)
        .bind(c.not_after)
        .bind(serde_json::to_string(&c.subject_alt_names).expect("strings serialize"))
        .bind(serde_json::to_string(&c.key_usage).expect("strings serialize"))
        .bind(i64::from(c.is_ca))
        .bind(&c.fingerprint)
        .bind(c.created_at)
        .execute(&mut *tx)
        .await
        .map_err(|e| match unavailable(e) {
            StoreError::Conflict(_) => {
                StoreError::Conflict("this certificate is already imported for this key")
            }
            other => other,
        })?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn certificates(&self, key_id: &str) -> Result<Vec<CertificateRow>, StoreError> {
        sqlx::query("SELECT * FROM certificates WHERE key_id = ? ORDER BY created_at, id")
            .bind(key_id)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .iter()
            .map(certificate_row)
            .collect()
    }

    async fn delete_certificate(
        &self,
        key_id: &str,
        certificate_id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = sqlx::query("DELETE FROM certificates WHERE key_id = ? AND id = ?")
            .bind(key_id)
            .bind(certificate_id)
            .execute(&mut *tx)
            .await
            .map_err(unavailable)?;
        if deleted.rows_affected() == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn objects(&self, account_id: &str) -> Result<Vec<ObjectRow>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, 'keyring' AS kind, name, group_id, protection AS detail, enabled, created_at
               FROM keyrings WHERE account_id = ?1 AND deleted_at IS NULL
             UNION ALL
             SELECT id, kind, name, group_id, algorithm, enabled, created_at
               FROM keys WHERE account_id = ?1 AND deleted_at IS NULL
             UNION ALL
             SELECT c.id, 'certificate', k.name, k.group_id, c.subject, k.enabled, c.created_at
               FROM certificates c JOIN keys k ON k.id = c.key_id
              WHERE c.account_id = ?1 AND k.deleted_at IS NULL
             ORDER BY kind, name, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(rows
            .iter()
            .map(|r| ObjectRow {
                id: r.get("id"),
                kind: r.get("kind"),
                name: r.get("name"),
                group_id: r.get("group_id"),
                detail: r.get("detail"),
                enabled: r.get::<i64, _>("enabled") != 0,
                created_at: r.get("created_at"),
            })
            .collect())
    }
}
