//! [`ClientCertStore`] on SQLite: trusted CAs, app certificate bindings and revocations.
//! A proven registration checks, inside its own write transaction, that no other open
//! account holds the same certificate proven, so two accounts cannot both win.

use super::{SqlStore, commit_audited, db_error, exec, flag, named};
use crate::ids::{AccountId, AppCertificateId, AppId, CaId};
use crate::store::{
    AppCertificateKind, AppCertificateRow, AuditEvent, ClientCertStore, Conflict, RevocationRow,
    StoreError, TrustedCaRow,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for TrustedCaRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(TrustedCaRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            der: r.get("der"),
            subject: r.get("subject"),
            fingerprint: r.get("fingerprint"),
            proven: flag(r, "proven"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for AppCertificateRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AppCertificateRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            app_id: r.get("app_id"),
            kind: named(r, "kind", AppCertificateKind::parse)?,
            fingerprint: r.get("fingerprint"),
            ca_id: r.get("ca_id"),
            subject: r.get("subject"),
            san: r.get("san"),
            not_after: r.get("not_after"),
            proven: flag(r, "proven"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for RevocationRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(RevocationRow {
            account_id: r.get("account_id"),
            fingerprint: r.get("fingerprint"),
            reason: r.get("reason"),
            revoked_at: r.get("revoked_at"),
        })
    }
}

/// Refuses with [`Conflict::ProvenElsewhere`] if `sql` (selecting proven rows with
/// `fingerprint` outside `account_id`) finds one: inside the write transaction, so no
/// other write comes between the check and the insert.
async fn refuse_if_proven_elsewhere(
    tx: &mut Transaction<'_, Any>,
    sql: &'static str,
    fingerprint: &str,
    account_id: &AccountId,
) -> Result<(), StoreError> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(fingerprint)
        .bind(account_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(db_error)?;
    match found {
        Some(_) => Err(StoreError::Conflict(Conflict::ProvenElsewhere)),
        None => Ok(()),
    }
}

async fn insert_trusted_ca(
    tx: &mut Transaction<'_, Any>,
    row: &TrustedCaRow,
) -> Result<(), StoreError> {
    let insert = sqlx::query(
        "INSERT INTO trusted_cas (id, account_id, name, der, subject, fingerprint, proven, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(&row.id)
    .bind(&row.account_id)
    .bind(&row.name)
    .bind(&row.der)
    .bind(&row.subject)
    .bind(&row.fingerprint)
    .bind(i64::from(row.proven))
    .bind(row.created_at);
    exec(tx, insert).await?;
    Ok(())
}

async fn insert_app_certificate(
    tx: &mut Transaction<'_, Any>,
    row: &AppCertificateRow,
) -> Result<(), StoreError> {
    let insert = sqlx::query(
        "INSERT INTO app_certificates (id, account_id, app_id, kind, fingerprint, ca_id, subject, san, not_after, proven, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
    )
    .bind(&row.id)
    .bind(&row.account_id)
    .bind(&row.app_id)
    .bind(row.kind.as_str())
    .bind(&row.fingerprint)
    .bind(&row.ca_id)
    .bind(&row.subject)
    .bind(&row.san)
    .bind(row.not_after)
    .bind(i64::from(row.proven))
    .bind(row.created_at);
    exec(tx, insert).await?;
    Ok(())
}

#[async_trait]
impl ClientCertStore for SqlStore {
    async fn add_trusted_ca(
        &self,
        row: &TrustedCaRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if row.proven {
            refuse_if_proven_elsewhere(
                &mut tx,
                "SELECT 1 FROM trusted_cas t JOIN accounts a ON a.id = t.account_id
                 WHERE t.fingerprint = $1 AND t.account_id <> $2 AND t.proven = 1 AND a.closed_at IS NULL",
                &row.fingerprint,
                &row.account_id,
            )
            .await?;
        }
        insert_trusted_ca(&mut tx, row).await?;
        commit_audited(tx, event).await
    }

    async fn trusted_cas(&self, account_id: &AccountId) -> Result<Vec<TrustedCaRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM trusted_cas WHERE account_id = $1 ORDER BY created_at, id",
            )
            .bind(account_id),
        )
        .await
    }

    async fn trusted_cas_by_subject(&self, subject: &str) -> Result<Vec<TrustedCaRow>, StoreError> {
        self.fetch_all(sqlx::query_as("SELECT * FROM trusted_cas WHERE subject = $1").bind(subject))
            .await
    }

    async fn add_app_certificate(
        &self,
        row: &AppCertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let (true, AppCertificateKind::Pinned, Some(fingerprint)) =
            (row.proven, row.kind, row.fingerprint.as_deref())
        {
            refuse_if_proven_elsewhere(
                &mut tx,
                "SELECT 1 FROM app_certificates c JOIN accounts a ON a.id = c.account_id
                 WHERE c.kind = 'pinned' AND c.fingerprint = $1 AND c.account_id <> $2 AND c.proven = 1
                   AND a.closed_at IS NULL",
                fingerprint,
                &row.account_id,
            )
            .await?;
        }
        insert_app_certificate(&mut tx, row).await?;
        commit_audited(tx, event).await
    }

    async fn app_certificates(&self, app_id: &AppId) -> Result<Vec<AppCertificateRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM app_certificates WHERE app_id = $1 ORDER BY created_at, id",
            )
            .bind(app_id),
        )
        .await
    }

    async fn delete_app_certificate(
        &self,
        app_id: &AppId,
        id: &AppCertificateId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM app_certificates WHERE app_id = $1 AND id = $2")
                .bind(app_id)
                .bind(id),
            event,
        )
        .await
    }

    async fn certificate_bindings(
        &self,
        fingerprint: &str,
        ca_ids: &[CaId],
    ) -> Result<Vec<AppCertificateRow>, StoreError> {
        let mut rows = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT * FROM app_certificates WHERE kind = 'pinned' AND fingerprint = $1",
                )
                .bind(fingerprint),
            )
            .await?;
        for ca in ca_ids {
            rows.extend(
                self.fetch_all(
                    sqlx::query_as(
                        "SELECT * FROM app_certificates WHERE kind = 'ca' AND ca_id = $1",
                    )
                    .bind(ca),
                )
                .await?,
            );
        }
        Ok(rows)
    }

    async fn revoke_certificate(
        &self,
        row: &RevocationRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO revoked_certificates (account_id, fingerprint, reason, revoked_at) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, fingerprint) DO NOTHING",
            )
            .bind(&row.account_id)
            .bind(&row.fingerprint)
            .bind(&row.reason)
            .bind(row.revoked_at),
            event,
        )
        .await
    }

    async fn revocations(&self, account_id: &AccountId) -> Result<Vec<RevocationRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM revoked_certificates WHERE account_id = $1
                 ORDER BY revoked_at, fingerprint",
            )
            .bind(account_id),
        )
        .await
    }

    async fn is_revoked(
        &self,
        account_id: &AccountId,
        fingerprint: &str,
    ) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM revoked_certificates WHERE account_id = $1 AND fingerprint = $2",
        )
        .bind(account_id)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(found.is_some())
    }
}
