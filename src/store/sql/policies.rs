//! [`PolicyStore`] on SQLite and PostgreSQL. A use's capped counters are conditional
//! upserts (`… DO UPDATE SET count = count + 1 WHERE count < cap RETURNING count`): no row
//! back means the cap is reached, and the transaction is rolled back so nothing counts.

use super::{SqlStore, commit, commit_audited, exec, must_change};
use crate::ids::{AccountId, GroupId};
use crate::store::{
    AuditEvent, Conflict, PolicyBindingRow, PolicyRow, PolicyStore, PolicyUse, QueuedRotation,
    StoreError, UseRecorded,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

impl FromRow<'_, AnyRow> for PolicyRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PolicyRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            group_id: r.get("group_id"),
            name: r.get("name"),
            description: r.get("description"),
            rules: r.get("rules"),
            expires_at: r.get("expires_at"),
            created_at: r.get("created_at"),
            updated_at: r.get("updated_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for PolicyBindingRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(PolicyBindingRow {
            policy_id: r.get("policy_id"),
            account_id: r.get("account_id"),
            object_kind: r.get("object_kind"),
            object_id: r.get("object_id"),
            object_name: r.get("object_name"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for QueuedRotation {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(QueuedRotation {
            object_kind: r.get("object_kind"),
            object_id: r.get("object_id"),
            version: super::u32_column(r, "version")?,
            account_id: r.get("account_id"),
            object_name: r.get("object_name"),
        })
    }
}

/// A stored count as the unsigned number it is.
fn count(value: i64) -> u64 {
    u64::try_from(value).unwrap_or(0)
}

/// A cap as a bind (caps are validated far below `i64::MAX`).
fn bound(cap: u64) -> i64 {
    i64::try_from(cap).unwrap_or(i64::MAX)
}

/// Adds one to a counter unless it is at `cap`; answers the new count, or `None` at the cap.
async fn count_capped(
    tx: &mut Transaction<'_, Any>,
    record: &PolicyUse,
    axis: &str,
    window_start: i64,
    cap: i64,
) -> Result<Option<i64>, StoreError> {
    sqlx::query_scalar(
        "INSERT INTO policy_counters (policy_id, object_id, axis, window_start, count)
         VALUES ($1, $2, $3, $4, 1)
         ON CONFLICT (policy_id, object_id, axis, window_start)
         DO UPDATE SET count = policy_counters.count + 1 WHERE policy_counters.count < $5
         RETURNING count",
    )
    .bind(&record.policy_id)
    .bind(&record.object_id)
    .bind(axis)
    .bind(window_start)
    .bind(cap)
    .fetch_optional(&mut **tx)
    .await
    .map_err(super::db_error)
}

/// Counts a use of the version; queues its rotation when this use is the one whose count
/// equals `after` (exactly one use sees that count, on whichever node).
async fn count_version(
    tx: &mut Transaction<'_, Any>,
    record: &PolicyUse,
    version: u32,
    after: u64,
) -> Result<bool, StoreError> {
    let reached = count_capped(tx, record, "version", i64::from(version), i64::MAX).await?;
    if reached != Some(bound(after)) {
        return Ok(false);
    }
    let queue = sqlx::query(
        "INSERT INTO policy_rotations
             (object_kind, object_id, version, account_id, object_name, queued_at)
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
    )
    .bind(record.object_kind.clone())
    .bind(record.object_id.clone())
    .bind(i64::from(version))
    .bind(record.account_id.clone())
    .bind(record.object_name.clone())
    .bind(record.now);
    Ok(exec(tx, queue).await? == 1)
}

async fn remember_principal(
    tx: &mut Transaction<'_, Any>,
    record: &PolicyUse,
) -> Result<(), StoreError> {
    let statement = sqlx::query(
        "INSERT INTO policy_uses (object_id, principal, used_at) VALUES ($1, $2, $3)
         ON CONFLICT (object_id, principal) DO UPDATE SET used_at = excluded.used_at",
    )
    .bind(record.object_id.clone())
    .bind(record.principal.clone())
    .bind(record.now);
    exec(tx, statement).await.map(|_| ())
}

#[async_trait]
impl PolicyStore for SqlStore {
    async fn create_policy(&self, row: &PolicyRow, event: &AuditEvent) -> Result<(), StoreError> {
        let insert = sqlx::query(
            "INSERT INTO policies (id, account_id, group_id, name, description, rules,
                 expires_at, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(row.id.clone())
        .bind(row.account_id.clone())
        .bind(row.group_id.clone())
        .bind(row.name.clone())
        .bind(row.description.clone())
        .bind(row.rules.clone())
        .bind(row.expires_at)
        .bind(row.created_at)
        .bind(row.updated_at);
        self.write_audited(insert, event).await
    }

    async fn policy(
        &self,
        account_id: &AccountId,
        id: &str,
    ) -> Result<Option<PolicyRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM policies WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await
    }

    async fn policies(
        &self,
        account_id: &AccountId,
        group_id: Option<&GroupId>,
    ) -> Result<Vec<PolicyRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM policies WHERE account_id = $1
                   AND ($2 IS NULL OR group_id = $2) ORDER BY name",
            )
            .bind(account_id)
            .bind(group_id.map(GroupId::as_str)),
        )
        .await
    }

    async fn update_policy(&self, row: &PolicyRow, event: &AuditEvent) -> Result<(), StoreError> {
        let update = sqlx::query(
            "UPDATE policies SET name = $1, description = $2, rules = $3, expires_at = $4,
                 updated_at = $5 WHERE id = $6",
        )
        .bind(row.name.clone())
        .bind(row.description.clone())
        .bind(row.rules.clone())
        .bind(row.expires_at)
        .bind(row.updated_at)
        .bind(row.id.clone());
        self.change_audited(update, Conflict::Changed, event).await
    }

    async fn delete_policy(&self, id: &str, event: &AuditEvent) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        for statement in [
            "DELETE FROM policy_bindings WHERE policy_id = $1",
            "DELETE FROM policy_counters WHERE policy_id = $1",
        ] {
            exec(&mut tx, sqlx::query(statement).bind(id.to_owned())).await?;
        }
        let deleted = exec(
            &mut tx,
            sqlx::query("DELETE FROM policies WHERE id = $1").bind(id.to_owned()),
        )
        .await?;
        if deleted == 0 {
            return Ok(false);
        }
        commit_audited(tx, event).await?;
        Ok(true)
    }

    async fn bind_policy(
        &self,
        binding: &PolicyBindingRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let exists: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policies WHERE id = $1")
            .bind(&binding.policy_id)
            .fetch_one(&mut *tx)
            .await
            .map_err(super::db_error)?;
        must_change(count(exists), Conflict::Changed)?;
        let insert = sqlx::query(
            "INSERT INTO policy_bindings
                 (policy_id, account_id, object_kind, object_id, object_name, created_at)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT DO NOTHING",
        )
        .bind(binding.policy_id.clone())
        .bind(binding.account_id.clone())
        .bind(binding.object_kind.clone())
        .bind(binding.object_id.clone())
        .bind(binding.object_name.clone())
        .bind(binding.created_at);
        exec(&mut tx, insert).await?;
        commit_audited(tx, event).await
    }

    async fn unbind_policy(
        &self,
        policy_id: &str,
        object_kind: &str,
        object_id: &str,
        event: Option<&AuditEvent>,
    ) -> Result<bool, StoreError> {
        let delete = sqlx::query(
            "DELETE FROM policy_bindings
             WHERE policy_id = $1 AND object_kind = $2 AND object_id = $3",
        )
        .bind(policy_id.to_owned())
        .bind(object_kind.to_owned())
        .bind(object_id.to_owned());
        match event {
            Some(event) => self.change_audited_if_any(delete, event).await,
            None => {
                let mut tx = self.begin().await?;
                let removed = exec(&mut tx, delete).await?;
                commit(tx).await?;
                Ok(removed > 0)
            }
        }
    }

    async fn policy_bindings(&self, policy_id: &str) -> Result<Vec<PolicyBindingRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM policy_bindings WHERE policy_id = $1
                 ORDER BY object_kind, object_name",
            )
            .bind(policy_id),
        )
        .await
    }

    async fn object_policies(
        &self,
        object_kind: &str,
        object_id: &str,
    ) -> Result<Vec<PolicyRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT p.* FROM policies p JOIN policy_bindings b ON b.policy_id = p.id
                 WHERE b.object_kind = $1 AND b.object_id = $2 ORDER BY p.name",
            )
            .bind(object_kind)
            .bind(object_id),
        )
        .await
    }

    async fn policy_count(
        &self,
        policy_id: &str,
        object_id: &str,
        axis: &str,
        window_start: i64,
    ) -> Result<u64, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT count FROM policy_counters
             WHERE policy_id = $1 AND object_id = $2 AND axis = $3 AND window_start = $4",
        )
        .bind(policy_id)
        .bind(object_id)
        .bind(axis)
        .bind(window_start)
        .fetch_optional(&self.pool)
        .await
        .map_err(super::db_error)?;
        Ok(found.map_or(0, count))
    }

    async fn used_since(
        &self,
        object_id: &str,
        principals: &[String],
        since: i64,
    ) -> Result<bool, StoreError> {
        for principal in principals {
            let found: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM policy_uses
                 WHERE object_id = $1 AND principal = $2 AND used_at >= $3",
            )
            .bind(object_id)
            .bind(principal)
            .bind(since)
            .fetch_one(&self.pool)
            .await
            .map_err(super::db_error)?;
            if found > 0 {
                return Ok(true);
            }
        }
        Ok(false)
    }

    async fn record_policy_use(&self, record: &PolicyUse) -> Result<UseRecorded, StoreError> {
        let mut tx = self.begin().await?;
        for (index, capped) in record.capped.iter().enumerate() {
            let counted = count_capped(
                &mut tx,
                record,
                capped.axis,
                capped.window_start,
                bound(capped.cap),
            )
            .await?;
            if counted.is_none() {
                // Dropping the transaction rolls back what this use counted before.
                return Ok(UseRecorded::Capped(index));
            }
        }
        let rotation_queued = match record.rotate_after {
            Some((version, after)) => count_version(&mut tx, record, version, after).await?,
            None => false,
        };
        if record.remember_principal {
            remember_principal(&mut tx, record).await?;
        }
        commit(tx).await?;
        Ok(UseRecorded::Counted { rotation_queued })
    }

    async fn claim_policy_rotations(&self, limit: i64) -> Result<Vec<QueuedRotation>, StoreError> {
        // Most passes find nothing: only then is the writer lock taken.
        let waiting: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM policy_rotations")
            .fetch_one(&self.pool)
            .await
            .map_err(super::db_error)?;
        if waiting == 0 {
            return Ok(Vec::new());
        }
        let mut tx = self.begin().await?;
        let queued: Vec<QueuedRotation> =
            sqlx::query_as("SELECT * FROM policy_rotations ORDER BY queued_at LIMIT $1")
                .bind(limit)
                .fetch_all(&mut *tx)
                .await
                .map_err(super::db_error)?;
        for rotation in &queued {
            let delete = sqlx::query(
                "DELETE FROM policy_rotations
                 WHERE object_kind = $1 AND object_id = $2 AND version = $3",
            )
            .bind(rotation.object_kind.clone())
            .bind(rotation.object_id.clone())
            .bind(i64::from(rotation.version));
            exec(&mut tx, delete).await?;
        }
        commit(tx).await?;
        Ok(queued)
    }

    async fn expired_policy_bindings(&self, now: i64) -> Result<Vec<PolicyBindingRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT b.* FROM policy_bindings b JOIN policies p ON p.id = b.policy_id
                 WHERE p.expires_at IS NOT NULL AND p.expires_at <= $1
                 ORDER BY b.object_kind, b.object_id",
            )
            .bind(now),
        )
        .await
    }

    async fn prune_policy_counters(
        &self,
        minute_before: i64,
        day_before: i64,
        uses_before: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for (statement, cutoff) in [
            (
                "DELETE FROM policy_counters WHERE axis = 'minute' AND window_start < $1",
                minute_before,
            ),
            (
                "DELETE FROM policy_counters WHERE axis = 'day' AND window_start < $1",
                day_before,
            ),
            ("DELETE FROM policy_uses WHERE used_at < $1", uses_before),
        ] {
            exec(&mut tx, sqlx::query(statement).bind(cutoff)).await?;
        }
        commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::temporary_store;
    use crate::store::{CappedCount, PolicyStore, PolicyUse, UseRecorded};

    fn a_use(capped: Vec<CappedCount>, rotate_after: Option<(u32, u64)>) -> PolicyUse {
        PolicyUse {
            policy_id: "pol_p".into(),
            account_id: "acct_a".into(),
            object_kind: "keyring".into(),
            object_id: "kr_k".into(),
            object_name: "k".into(),
            principal: "app_a".into(),
            now: 1,
            capped,
            rotate_after,
            remember_principal: true,
        }
    }

    fn cap(axis: &'static str, cap: u64) -> CappedCount {
        CappedCount {
            axis,
            window_start: 0,
            cap,
        }
    }

    /// A use refused by a later cap rolls back what the earlier caps counted.
    #[tokio::test]
    async fn a_refused_use_counts_nothing() {
        let (_dir, store) = temporary_store().await;
        let both = || a_use(vec![cap("minute", 5), cap("day", 1)], None);
        let first = store.record_policy_use(&both()).await.expect("first");
        assert_eq!(
            first,
            UseRecorded::Counted {
                rotation_queued: false
            }
        );
        let second = store.record_policy_use(&both()).await.expect("second");
        assert_eq!(second, UseRecorded::Capped(1));
        let minute = store.policy_count("pol_p", "kr_k", "minute", 0).await;
        assert_eq!(
            minute.expect("count"),
            1,
            "the refused use left the minute alone"
        );
        assert!(
            store
                .used_since("kr_k", &["app_a".into()], 1)
                .await
                .expect("uses")
        );
    }

    /// Exactly the use that reaches the count queues the rotation, and one claim takes it.
    #[tokio::test]
    async fn the_crossing_use_queues_one_rotation() {
        let (_dir, store) = temporary_store().await;
        let mut queued = Vec::new();
        for _ in 0..4 {
            let recorded = store
                .record_policy_use(&a_use(Vec::new(), Some((1, 2))))
                .await;
            queued.push(
                recorded.expect("recorded")
                    == UseRecorded::Counted {
                        rotation_queued: true,
                    },
            );
        }
        assert_eq!(queued, [false, true, false, false]);
        let claimed = store.claim_policy_rotations(10).await.expect("claim");
        assert_eq!(claimed.len(), 1);
        assert_eq!(
            (claimed[0].object_id.as_str(), claimed[0].version),
            ("kr_k", 1)
        );
        assert!(
            store
                .claim_policy_rotations(10)
                .await
                .expect("again")
                .is_empty()
        );
    }
}
