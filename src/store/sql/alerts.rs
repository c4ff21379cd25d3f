//! [`AlertStore`] on SQLite and PostgreSQL.

use super::{SqlStore, commit, commit_audited, exec, must_change};
use crate::ids::{AccountId, AlertId, DeliveryId};
use crate::store::{
    AlertRow, AlertStore, AttemptResult, AuditEvent, Conflict, DeliveryRow, DeliveryStatus,
    Severity, StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for AlertRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AlertRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            url: r.get("url"),
            actions: super::json_column(r, "actions", "alert actions")?,
            min_severity: super::named(r, "min_severity", Severity::parse)?,
            enabled: super::flag(r, "enabled"),
            salt: r.get("salt"),
            created_by: r.get("created_by"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for DeliveryRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let attempts = u32::try_from(r.get::<i64, _>("attempts"))
            .map_err(|_| super::corrupt("attempts".into()))?;
        Ok(DeliveryRow {
            id: r.get("id"),
            alert_id: r.get("alert_id"),
            account_id: r.get("account_id"),
            position: r.get("position"),
            payload: r.get("payload"),
            status: super::named(r, "status", DeliveryStatus::parse)?,
            attempts,
            next_at: r.get("next_at"),
            lease_until: r.get("lease_until"),
            last_error: r.get("last_error"),
            created_at: r.get("created_at"),
            delivered_at: r.get("delivered_at"),
        })
    }
}

/// The deliveries due at `$1` (= `$2`): pending ones whose time came, and claimed ones
/// whose claim expired (their node stopped), as a literal so queries stay `&'static str`.
macro_rules! due_deliveries {
    () => {
        "FROM alert_deliveries
         WHERE (status = 'pending' AND next_at <= $1)
            OR (status = 'sending' AND lease_until <= $2)"
    };
}

async fn insert_delivery(tx: &mut Transaction<'_, Any>, d: &DeliveryRow) -> Result<(), StoreError> {
    let insert = sqlx::query(
        "INSERT INTO alert_deliveries (id, alert_id, account_id, position, payload, status,
            attempts, next_at, created_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         ON CONFLICT (alert_id, position) DO NOTHING",
    )
    .bind(&d.id)
    .bind(&d.alert_id)
    .bind(&d.account_id)
    .bind(d.position)
    .bind(&d.payload)
    .bind(d.status.as_str())
    .bind(i64::from(d.attempts))
    .bind(d.next_at)
    .bind(d.created_at);
    exec(tx, insert).await?;
    Ok(())
}

/// Moves the account's cursor from `from` to `to`; false if it was not at `from`.
async fn move_cursor(
    tx: &mut Transaction<'_, Any>,
    account_id: &AccountId,
    from: i64,
    to: i64,
) -> Result<bool, StoreError> {
    let moved = exec(
        tx,
        sqlx::query(
            "UPDATE alert_cursors SET position = $1 WHERE account_id = $2 AND position = $3",
        )
        .bind(to)
        .bind(account_id)
        .bind(from),
    )
    .await?;
    Ok(moved == 1)
}

#[async_trait]
impl AlertStore for SqlStore {
    async fn create_alert(
        &self,
        a: &AlertRow,
        start: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        // The cursor starts at `start`, or moves there when the account had no rule left
        // (nothing to catch up on).
        let cursor = sqlx::query(
            "INSERT INTO alert_cursors (account_id, position) VALUES ($1, $2)
             ON CONFLICT (account_id) DO UPDATE SET position = excluded.position
             WHERE alert_cursors.position < excluded.position
               AND NOT EXISTS (SELECT 1 FROM alerts WHERE account_id = excluded.account_id)",
        )
        .bind(&a.account_id)
        .bind(start);
        exec(&mut tx, cursor).await?;
        let insert = sqlx::query(
            "INSERT INTO alerts (id, account_id, name, url, actions, min_severity, enabled,
                salt, created_by, created_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(&a.id)
        .bind(&a.account_id)
        .bind(&a.name)
        .bind(&a.url)
        .bind(super::json_text(&a.actions))
        .bind(a.min_severity.as_str())
        .bind(i64::from(a.enabled))
        .bind(&a.salt)
        .bind(&a.created_by)
        .bind(a.created_at);
        exec(&mut tx, insert).await?;
        commit_audited(tx, event).await
    }

    async fn alerts(&self, account_id: &AccountId) -> Result<Vec<AlertRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM alerts WHERE account_id = $1 ORDER BY name")
                .bind(account_id),
        )
        .await
    }

    async fn alert(
        &self,
        account_id: &AccountId,
        id: &AlertId,
    ) -> Result<Option<AlertRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM alerts WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await
    }

    async fn update_alert(&self, a: &AlertRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE alerts SET name = $1, url = $2, actions = $3, min_severity = $4,
                    enabled = $5, salt = $6
                 WHERE account_id = $7 AND id = $8",
            )
            .bind(&a.name)
            .bind(&a.url)
            .bind(super::json_text(&a.actions))
            .bind(a.min_severity.as_str())
            .bind(i64::from(a.enabled))
            .bind(&a.salt)
            .bind(&a.account_id)
            .bind(&a.id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn delete_alert(
        &self,
        account_id: &AccountId,
        id: &AlertId,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = exec(
            &mut tx,
            sqlx::query("DELETE FROM alerts WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await?;
        if deleted == 0 {
            return Ok(false);
        }
        let deliveries = sqlx::query("DELETE FROM alert_deliveries WHERE alert_id = $1").bind(id);
        exec(&mut tx, deliveries).await?;
        commit_audited(tx, event).await?;
        Ok(true)
    }

    async fn alert_cursors(&self) -> Result<Vec<(AccountId, i64)>, StoreError> {
        sqlx::query(
            "SELECT c.account_id, c.position FROM alert_cursors c
             WHERE EXISTS (SELECT 1 FROM alerts a WHERE a.account_id = c.account_id)
             ORDER BY c.account_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(super::db_error)?
        .iter()
        .map(|r| Ok((r.get("account_id"), r.get("position"))))
        .collect()
    }

    async fn enqueue_deliveries(
        &self,
        account_id: &AccountId,
        from: i64,
        to: i64,
        deliveries: &[DeliveryRow],
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        if !move_cursor(&mut tx, account_id, from, to).await? {
            return Ok(false);
        }
        for delivery in deliveries {
            insert_delivery(&mut tx, delivery).await?;
        }
        commit(tx).await?;
        Ok(true)
    }

    async fn claim_deliveries(
        &self,
        now: i64,
        lease_until: i64,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        // A read first: the writer lock is taken only when something is due, so an idle
        // sender costs the hot path's writes nothing.
        let any_due: Option<i64> =
            sqlx::query_scalar(concat!("SELECT 1 ", due_deliveries!(), " LIMIT 1"))
                .bind(now)
                .bind(now)
                .fetch_optional(&self.pool)
                .await
                .map_err(super::db_error)?;
        if any_due.is_none() {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let due: Vec<DeliveryRow> = sqlx::query_as(concat!(
            "SELECT * ",
            due_deliveries!(),
            " ORDER BY next_at, id LIMIT $3"
        ))
        .bind(now)
        .bind(now)
        .bind(i64::from(limit))
        .fetch_all(&mut *tx)
        .await
        .map_err(super::db_error)?;
        let mut claimed = Vec::with_capacity(due.len());
        for mut d in due {
            let claim = sqlx::query(
                "UPDATE alert_deliveries SET status = 'sending', lease_until = $1,
                    attempts = attempts + 1
                 WHERE id = $2",
            )
            .bind(lease_until)
            .bind(&d.id);
            exec(&mut tx, claim).await?;
            d.status = DeliveryStatus::Sending;
            d.lease_until = Some(lease_until);
            d.attempts += 1;
            claimed.push(d);
        }
        commit(tx).await?;
        Ok(claimed)
    }

    async fn finish_attempt(
        &self,
        id: &DeliveryId,
        lease_until: i64,
        result: &AttemptResult,
        event: Option<&AuditEvent>,
    ) -> Result<(), StoreError> {
        let (status, next_at, delivered_at, error) = match result {
            AttemptResult::Delivered { at } => (DeliveryStatus::Delivered, None, Some(*at), None),
            AttemptResult::Retry { next_at, error } => {
                (DeliveryStatus::Pending, Some(*next_at), None, Some(error))
            }
            AttemptResult::Dead { error } => (DeliveryStatus::Dead, None, None, Some(error)),
        };
        let mut tx = self.begin().await?;
        let update = sqlx::query(
            "UPDATE alert_deliveries SET status = $1, next_at = COALESCE($2, next_at),
                delivered_at = $3, last_error = $4, lease_until = NULL
             WHERE id = $5 AND status = 'sending' AND lease_until = $6",
        )
        .bind(status.as_str())
        .bind(next_at)
        .bind(delivered_at)
        .bind(error)
        .bind(id)
        .bind(lease_until);
        must_change(exec(&mut tx, update).await?, Conflict::LeaseLost)?;
        match event {
            Some(event) => commit_audited(tx, event).await,
            None => commit(tx).await,
        }
    }

    async fn deliveries(
        &self,
        account_id: &AccountId,
        alert_id: &AlertId,
        status: Option<DeliveryStatus>,
        limit: u32,
    ) -> Result<Vec<DeliveryRow>, StoreError> {
        let status = status.map(DeliveryStatus::as_str);
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM alert_deliveries
                 WHERE account_id = $1 AND alert_id = $2 AND ($3 IS NULL OR status = $4)
                 ORDER BY created_at DESC, id DESC LIMIT $5",
            )
            .bind(account_id)
            .bind(alert_id)
            .bind(status)
            .bind(status)
            .bind(i64::from(limit)),
        )
        .await
    }

    async fn delivery(
        &self,
        account_id: &AccountId,
        id: &DeliveryId,
    ) -> Result<Option<DeliveryRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM alert_deliveries WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await
    }

    async fn retry_delivery(
        &self,
        account_id: &AccountId,
        id: &DeliveryId,
        now: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE alert_deliveries SET status = 'pending', attempts = 0, next_at = $1
                 WHERE account_id = $2 AND id = $3 AND status = 'dead'",
            )
            .bind(now)
            .bind(account_id)
            .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }
}
