//! [`KeyStore`] on SQLite.

use super::{
    SqlStore, commit_audited, exec, flag, json_column, json_text, must_change, named, u32_column,
};
use crate::crypto::asym::KeyAlgorithm;
use crate::ids::{AccountId, CertificateId, KeyId};
use crate::store::{
    AuditEvent, CertificateRow, Conflict, KeyKind, KeyRow, KeyStore, KeyVersionRow, ObjectKind,
    ObjectRow, StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

/// The key columns, as a literal so queries stay `&'static str`.
macro_rules! key_columns {
    () => {
        "id, account_id, group_id, name, kind, algorithm, can_sign, can_decrypt, enabled,
         current_version, min_version, canary, created_at, deleted_at"
    };
}

impl FromRow<'_, AnyRow> for KeyRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(KeyRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            group_id: r.get("group_id"),
            name: r.get("name"),
            kind: named(r, "kind", KeyKind::parse)?,
            algorithm: named(r, "algorithm", KeyAlgorithm::parse)?,
            can_sign: flag(r, "can_sign"),
            can_decrypt: flag(r, "can_decrypt"),
            enabled: flag(r, "enabled"),
            current_version: u32_column(r, "current_version")?,
            min_version: u32_column(r, "min_version")?,
            canary: flag(r, "canary"),
            created_at: r.get("created_at"),
            deleted_at: r.get("deleted_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for KeyVersionRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(KeyVersionRow {
            key_id: r.get("key_id"),
            version: u32_column(r, "version")?,
            public_key: r.get("public_key"),
            fingerprint: r.get("fingerprint"),
            token_label: r.get("token_label"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for CertificateRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(CertificateRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            key_id: r.get("key_id"),
            key_version: u32_column(r, "key_version")?,
            der: r.get("der"),
            chain_pem: r.get("chain_pem"),
            subject: r.get("subject"),
            issuer: r.get("issuer"),
            serial: r.get("serial"),
            not_before: r.get("not_before"),
            not_after: r.get("not_after"),
            subject_alt_names: json_column(
                r,
                "subject_alt_names",
                "certificate subject_alt_names",
            )?,
            key_usage: json_column(r, "key_usage", "certificate key_usage")?,
            is_ca: flag(r, "is_ca"),
            fingerprint: r.get("fingerprint"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for ObjectRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(ObjectRow {
            id: r.get("id"),
            kind: named(r, "kind", ObjectKind::parse)?,
            name: r.get("name"),
            group_id: r.get("group_id"),
            detail: r.get("detail"),
            enabled: flag(r, "enabled"),
            created_at: r.get("created_at"),
        })
    }
}

async fn insert_key_version(
    tx: &mut Transaction<'_, Any>,
    v: &KeyVersionRow,
) -> Result<(), StoreError> {
    exec(
        tx,
        sqlx::query(
            "INSERT INTO key_versions (key_id, version, public_key, fingerprint, token_label, created_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&v.key_id)
        .bind(i64::from(v.version))
        .bind(&v.public_key)
        .bind(&v.fingerprint)
        .bind(&v.token_label)
        .bind(v.created_at),
    )
    .await?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqlStore {
    async fn create_key(
        &self,
        k: &KeyRow,
        first: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let insert = sqlx::query(concat!(
            "INSERT INTO keys (",
            key_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)"
        ))
        .bind(&k.id)
        .bind(&k.account_id)
        .bind(&k.group_id)
        .bind(&k.name)
        .bind(k.kind.as_str())
        .bind(k.algorithm.name())
        .bind(i64::from(k.can_sign))
        .bind(i64::from(k.can_decrypt))
        .bind(i64::from(k.enabled))
        .bind(i64::from(k.current_version))
        .bind(i64::from(k.min_version))
        .bind(i64::from(k.canary))
        .bind(k.created_at);
        exec(&mut tx, insert).await?;
        insert_key_version(&mut tx, first).await?;
        commit_audited(tx, event).await
    }

    async fn key(&self, account_id: &AccountId, name: &str) -> Result<Option<KeyRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as(concat!(
                "SELECT ",
                key_columns!(),
                " FROM keys WHERE account_id = $1 AND name = $2 AND deleted_at IS NULL"
            ))
            .bind(account_id)
            .bind(name),
        )
        .await
    }

    async fn keys(&self, account_id: &AccountId) -> Result<Vec<KeyRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(concat!(
                "SELECT ",
                key_columns!(),
                " FROM keys WHERE account_id = $1 AND deleted_at IS NULL ORDER BY name"
            ))
            .bind(account_id),
        )
        .await
    }

    async fn key_versions(&self, key_id: &KeyId) -> Result<Vec<KeyVersionRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM key_versions WHERE key_id = $1 ORDER BY version")
                .bind(key_id),
        )
        .await
    }

    async fn add_key_version(
        &self,
        next: &KeyVersionRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let moved = sqlx::query(
            "UPDATE keys SET current_version = $1
             WHERE id = $2 AND current_version = $3 AND deleted_at IS NULL",
        )
        .bind(i64::from(next.version))
        .bind(&next.key_id)
        .bind(i64::from(next.version) - 1);
        must_change(exec(&mut tx, moved).await?, Conflict::KeyRotated)?;
        insert_key_version(&mut tx, next).await?;
        commit_audited(tx, event).await
    }

    async fn update_key(
        &self,
        key_id: &KeyId,
        enabled: bool,
        min_version: u32,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "UPDATE keys SET enabled = $1, min_version = $2 WHERE id = $3 AND deleted_at IS NULL",
            )
            .bind(i64::from(enabled))
            .bind(i64::from(min_version))
            .bind(key_id),
            event,
        )
        .await
    }

    async fn trash_key(
        &self,
        key_id: &KeyId,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query("UPDATE keys SET deleted_at = $1 WHERE id = $2 AND deleted_at IS NULL")
                .bind(at)
                .bind(key_id),
            event,
        )
        .await
    }

    async fn trashed_key(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<KeyRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as(concat!(
                "SELECT ",
                key_columns!(),
                " FROM keys WHERE account_id = $1 AND name = $2 AND deleted_at IS NOT NULL
                 ORDER BY deleted_at DESC LIMIT 1"
            ))
            .bind(account_id)
            .bind(name),
        )
        .await
    }

    async fn restore_key(&self, key_id: &KeyId, event: &AuditEvent) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE keys SET deleted_at = NULL WHERE id = $1 AND deleted_at IS NOT NULL",
            )
            .bind(key_id),
            Conflict::KeyLeftTrash,
            event,
        )
        .await
    }

    async fn purge_trashed_keys(&self, cutoff: i64) -> Result<Vec<String>, StoreError> {
        self.purge(
            "SELECT v.token_label FROM key_versions v JOIN keys k ON k.id = v.key_id
             WHERE k.deleted_at IS NOT NULL AND k.deleted_at < $1 AND v.token_label IS NOT NULL",
            &[
                "DELETE FROM certificates WHERE key_id IN
                 (SELECT id FROM keys WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
                "DELETE FROM key_versions WHERE key_id IN
                 (SELECT id FROM keys WHERE deleted_at IS NOT NULL AND deleted_at < $1)",
                "DELETE FROM keys WHERE deleted_at IS NOT NULL AND deleted_at < $1",
            ],
            cutoff,
        )
        .await
    }

    async fn add_certificate(
        &self,
        c: &CertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        // A second import of the same certificate for the key breaks `certificates_once`:
        // the error mapping makes that `Conflict::CertificateImported`.
        self.write_audited(
            sqlx::query(
                "INSERT INTO certificates (id, account_id, key_id, key_version, der, chain_pem, subject, issuer, serial,
                 not_before, not_after, subject_alt_names, key_usage, is_ca, fingerprint, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
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
            .bind(json_text(&c.subject_alt_names))
            .bind(json_text(&c.key_usage))
            .bind(i64::from(c.is_ca))
            .bind(&c.fingerprint)
            .bind(c.created_at),
            event,
        )
        .await
    }

    async fn certificates(&self, key_id: &KeyId) -> Result<Vec<CertificateRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM certificates WHERE key_id = $1 ORDER BY created_at, id")
                .bind(key_id),
        )
        .await
    }

    async fn delete_certificate(
        &self,
        key_id: &KeyId,
        certificate_id: &CertificateId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM certificates WHERE key_id = $1 AND id = $2")
                .bind(key_id)
                .bind(certificate_id),
            event,
        )
        .await
    }

    async fn objects(&self, account_id: &AccountId) -> Result<Vec<ObjectRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT id, 'keyring' AS kind, name, group_id, protection AS detail, enabled, created_at
                   FROM keyrings WHERE account_id = $1 AND deleted_at IS NULL
                 UNION ALL
                 SELECT id, kind, name, group_id, algorithm, enabled, created_at
                   FROM keys WHERE account_id = $1 AND deleted_at IS NULL
                 UNION ALL
                 SELECT c.id, 'certificate', k.name, k.group_id, c.subject, k.enabled, c.created_at
                   FROM certificates c JOIN keys k ON k.id = c.key_id
                  WHERE c.account_id = $1 AND k.deleted_at IS NULL
                 ORDER BY kind, name, id",
            )
            .bind(account_id),
        )
        .await
    }
}
