//! [`JobStore`] on SQL: background jobs, their leases, and the re-wrap of keyring versions
//! under a group's new master key.
//!
//! Every statement that claims, renews or ends a lease runs in a write transaction
//! (`begin()`, the single-writer lock on both engines), so "is the lease free?" and "take
//! it" are one step and exactly one node wins a job.

use super::{SqlStore, commit, commit_audited, db_error, exec, must_change, named, u32_column};
use crate::ids::{AccountId, GroupId, JobId};
use crate::store::{
    AuditEvent, Conflict, JobKind, JobRow, JobState, JobStore, Lease, Rewrapped, StoreError,
    WrappedHolder, WrappedVersion,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{Any, FromRow, Row, Transaction};

/// The job columns, as a literal so queries stay `&'static str`.
macro_rules! job_columns {
    () => {
        "id, account_id, kind, group_id, from_version, to_version, state, total, done,
         created_at, finished_at, error"
    };
}

/// How many data keys a master key (`$1`-`$4`: its label) wraps, in keyrings, secrets,
/// shares and AWS credentials.
const WRAPPED_BY: &str = "SELECT (SELECT COUNT(*) FROM keyring_versions WHERE wrapping_key = $1)
    + (SELECT COUNT(*) FROM secret_versions WHERE wrapping_key = $2)
    + (SELECT COUNT(*) FROM shares WHERE wrapping_key = $3)
    + (SELECT COUNT(*) FROM aws_credentials WHERE wrapping_key = $4)";

/// A count stored as a signed integer; a negative one reads as zero.
fn count(value: i64) -> u64 {
    value.max(0) as u64
}

impl FromRow<'_, AnyRow> for JobRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(JobRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            kind: named(r, "kind", JobKind::parse)?,
            group_id: r.get("group_id"),
            from_version: u32_column(r, "from_version")?,
            to_version: u32_column(r, "to_version")?,
            state: named(r, "state", JobState::parse)?,
            total: count(r.get("total")),
            done: count(r.get("done")),
            created_at: r.get("created_at"),
            finished_at: r.get("finished_at"),
            error: r.get("error"),
        })
    }
}

impl FromRow<'_, AnyRow> for WrappedVersion {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let wrapped_key: Option<Vec<u8>> = r.get("wrapped_key");
        Ok(WrappedVersion {
            holder: named(r, "holder", WrappedHolder::parse)?,
            object_id: r.get("object_id"),
            version: u32_column(r, "version")?,
            wrapped_key: wrapped_key
                .ok_or_else(|| super::corrupt("a wrapping key without a wrapped key".into()))?,
            account_id: r.get("account_id"),
            name: r.get("name"),
        })
    }
}

/// One integer the statement answers, inside a transaction.
async fn scalar(tx: &mut Transaction<'_, Any>, statement: Scalar<'_>) -> Result<i64, StoreError> {
    statement.fetch_one(&mut **tx).await.map_err(db_error)
}

type Scalar<'q> = sqlx::query::QueryScalar<'q, Any, i64, sqlx::any::AnyArguments>;

/// Refuses a second rotation of a group while one runs: its old master key would be the
/// first one's new key, still being filled.
async fn refuse_running_rotation(
    tx: &mut Transaction<'_, Any>,
    job: &JobRow,
) -> Result<(), StoreError> {
    let running =
        sqlx::query_scalar("SELECT COUNT(*) FROM jobs WHERE group_id = $1 AND state = $2")
            .bind(&job.group_id)
            .bind(JobState::Running.as_str());
    if scalar(tx, running).await? > 0 {
        return Err(StoreError::Conflict(Conflict::RotationRunning));
    }
    Ok(())
}

async fn insert_job(
    tx: &mut Transaction<'_, Any>,
    job: &JobRow,
    lease: &Lease,
) -> Result<(), StoreError> {
    let insert = sqlx::query(concat!(
        "INSERT INTO jobs (",
        job_columns!(),
        ", lease_owner, lease_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11, $12)"
    ))
    .bind(&job.id)
    .bind(&job.account_id)
    .bind(job.kind.as_str())
    .bind(&job.group_id)
    .bind(i64::from(job.from_version))
    .bind(i64::from(job.to_version))
    .bind(job.state.as_str())
    .bind(job.total as i64)
    .bind(job.done as i64)
    .bind(job.created_at)
    .bind(&lease.owner)
    .bind(lease.until);
    exec(tx, insert).await?;
    Ok(())
}

#[async_trait]
impl JobStore for SqlStore {
    async fn reserve_rotation(&self, job: &JobRow, lease: &Lease) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        refuse_running_rotation(&mut tx, job).await?;
        let current = sqlx::query_scalar(
            "SELECT COUNT(*) FROM security_groups
             WHERE id = $1 AND master_version = $2 AND deleted_at IS NULL",
        )
        .bind(&job.group_id)
        .bind(i64::from(job.from_version));
        must_change(count(scalar(&mut tx, current).await?), Conflict::Changed)?;
        insert_job(&mut tx, job, lease).await?;
        commit(tx).await
    }

    async fn start_rotation(
        &self,
        job: &JobRow,
        from_label: &str,
        reserved_by: &str,
        lease: &Lease,
        event: &AuditEvent,
    ) -> Result<JobRow, StoreError> {
        let mut tx = self.begin().await?;
        let bump = sqlx::query(
            "UPDATE security_groups SET master_version = $1
             WHERE id = $2 AND master_version = $3 AND deleted_at IS NULL",
        )
        .bind(i64::from(job.to_version))
        .bind(&job.group_id)
        .bind(i64::from(job.from_version));
        must_change(exec(&mut tx, bump).await?, Conflict::Changed)?;
        // Counted after the bump, under the writer lock: no version is wrapped by the old
        // master from now on (see `require_current_master` in `keyrings.rs`).
        let total = sqlx::query_scalar(WRAPPED_BY)
            .bind(from_label)
            .bind(from_label)
            .bind(from_label)
            .bind(from_label);
        let total = count(scalar(&mut tx, total).await?);
        let started = sqlx::query(
            "UPDATE jobs SET total = $1, lease_owner = $2, lease_until = $3
             WHERE id = $4 AND lease_owner = $5 AND state = $6",
        )
        .bind(total as i64)
        .bind(&lease.owner)
        .bind(lease.until)
        .bind(&job.id)
        .bind(reserved_by)
        .bind(JobState::Running.as_str());
        must_change(exec(&mut tx, started).await?, Conflict::LeaseLost)?;
        commit_audited(tx, event).await?;
        Ok(JobRow {
            total,
            ..job.clone()
        })
    }

    async fn rotation_started(
        &self,
        group_id: &GroupId,
        to_version: u32,
    ) -> Result<bool, StoreError> {
        let started: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM security_groups WHERE id = $1 AND master_version >= $2",
        )
        .bind(group_id)
        .bind(i64::from(to_version))
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(started > 0)
    }

    async fn job(&self, account_id: &AccountId, id: &JobId) -> Result<Option<JobRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as(concat!(
                "SELECT ",
                job_columns!(),
                " FROM jobs WHERE account_id = $1 AND id = $2"
            ))
            .bind(account_id)
            .bind(id),
        )
        .await
    }

    async fn claim_job(&self, lease: &Lease, now: i64) -> Result<Option<JobRow>, StoreError> {
        // Every node asks every poll: without a job to claim, it does not take the writer
        // lock that requests wait for.
        let claimable: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs WHERE state = $1 AND (lease_until < $2 OR lease_owner = $3)",
        )
        .bind(JobState::Running.as_str())
        .bind(now)
        .bind(&lease.owner)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        if claimable == 0 {
            return Ok(None);
        }
        let mut tx = self.begin().await?;
        let claimed: Option<JobRow> = sqlx::query_as(concat!(
            "UPDATE jobs SET lease_owner = $1, lease_until = $2 WHERE id = (
                SELECT id FROM jobs WHERE state = $3 AND (lease_until < $4 OR lease_owner = $5)
                ORDER BY created_at, id LIMIT 1)
             RETURNING ",
            job_columns!()
        ))
        .bind(&lease.owner)
        .bind(lease.until)
        .bind(JobState::Running.as_str())
        .bind(now)
        .bind(&lease.owner)
        .fetch_optional(&mut *tx)
        .await
        .map_err(db_error)?;
        commit(tx).await?;
        Ok(claimed)
    }

    async fn versions_wrapped_by(
        &self,
        label: &str,
        limit: u32,
    ) -> Result<Vec<WrappedVersion>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT CAST('keyring' AS TEXT) AS holder, v.keyring_id AS object_id, v.version,
                        v.wrapped_key, k.account_id, k.name
                 FROM keyring_versions v JOIN keyrings k ON k.id = v.keyring_id
                 WHERE v.wrapping_key = $1
                 UNION ALL
                 SELECT CAST('secret' AS TEXT), v.secret_id, v.version, v.wrapped_key,
                        s.account_id, s.name
                 FROM secret_versions v JOIN secrets s ON s.id = v.secret_id
                 WHERE v.wrapping_key = $2
                 UNION ALL
                 SELECT CAST('share' AS TEXT), id, 0, wrapped_key, account_id, id
                 FROM shares WHERE wrapping_key = $3
                 UNION ALL
                 SELECT CAST('aws_credential' AS TEXT), id, 0, wrapped_secret, account_id, id
                 FROM aws_credentials WHERE wrapping_key = $4
                 ORDER BY holder, object_id, version LIMIT $5",
            )
            .bind(label)
            .bind(label)
            .bind(label)
            .bind(label)
            .bind(i64::from(limit)),
        )
        .await
    }

    async fn apply_rewrap(
        &self,
        job: &JobId,
        lease: &Lease,
        old_label: &str,
        new_label: &str,
        batch: &[Rewrapped],
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut changed = 0;
        for key in batch {
            // Only a version still under the old master: never undo a newer wrap.
            let update = sqlx::query(match key.holder {
                WrappedHolder::Keyring => {
                    "UPDATE keyring_versions SET wrapped_key = $1, wrapping_key = $2
                     WHERE keyring_id = $3 AND version = $4 AND wrapping_key = $5"
                }
                WrappedHolder::Secret => {
                    "UPDATE secret_versions SET wrapped_key = $1, wrapping_key = $2
                     WHERE secret_id = $3 AND version = $4 AND wrapping_key = $5"
                }
                WrappedHolder::Share => {
                    "UPDATE shares SET wrapped_key = $1, wrapping_key = $2
                     WHERE id = $3 AND $4 = 0 AND wrapping_key = $5"
                }
                WrappedHolder::AwsCredential => {
                    "UPDATE aws_credentials SET wrapped_secret = $1, wrapping_key = $2
                     WHERE id = $3 AND $4 = 0 AND wrapping_key = $5"
                }
            })
            .bind(key.wrapped_key.clone())
            .bind(new_label)
            .bind(&key.object_id)
            .bind(i64::from(key.version))
            .bind(old_label);
            changed += exec(&mut tx, update).await?;
        }
        let renew = sqlx::query(
            "UPDATE jobs SET done = done + $1, lease_until = $2
             WHERE id = $3 AND lease_owner = $4 AND state = $5",
        )
        .bind(changed as i64)
        .bind(lease.until)
        .bind(job)
        .bind(&lease.owner)
        .bind(JobState::Running.as_str());
        must_change(exec(&mut tx, renew).await?, Conflict::LeaseLost)?;
        commit(tx).await?;
        Ok(changed)
    }

    async fn references_to(&self, label: &str) -> Result<u64, StoreError> {
        let references: i64 = sqlx::query_scalar(WRAPPED_BY)
            .bind(label)
            .bind(label)
            .bind(label)
            .bind(label)
            .fetch_one(&self.pool)
            .await
            .map_err(db_error)?;
        Ok(count(references))
    }

    async fn finish_job(
        &self,
        job: &JobId,
        owner: &str,
        state: JobState,
        error: Option<&str>,
        at: i64,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        let end = sqlx::query(
            "UPDATE jobs SET state = $1, error = $2, finished_at = $3, lease_owner = NULL,
                lease_until = 0
             WHERE id = $4 AND lease_owner = $5 AND state = $6",
        )
        .bind(state.as_str())
        .bind(error.map(str::to_owned))
        .bind(at)
        .bind(job)
        .bind(owner)
        .bind(JobState::Running.as_str());
        must_change(exec(&mut tx, end).await?, Conflict::LeaseLost)?;
        commit(tx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::testing::{account_and_group, event, temporary_store};

    fn lease(owner: &str, until: i64) -> Lease {
        Lease {
            owner: owner.into(),
            until,
        }
    }

    /// A store with one group (master version 1) and one job reserving its rotation.
    async fn reserved() -> (tempfile::TempDir, SqlStore, JobRow) {
        let (dir, store) = temporary_store().await;
        account_and_group(&store).await;
        let job = JobRow {
            id: "job_j".into(),
            account_id: "acct_a".into(),
            kind: JobKind::RotateMaster,
            group_id: "grp_g".into(),
            from_version: 1,
            to_version: 2,
            state: JobState::Running,
            total: 0,
            done: 0,
            created_at: 0,
            finished_at: None,
            error: None,
        };
        let reservation = lease("a/starting", 100);
        store
            .reserve_rotation(&job, &reservation)
            .await
            .expect("reserved");
        (dir, store, job)
    }

    fn refused_with(result: Result<impl std::fmt::Debug, StoreError>, conflict: Conflict) {
        assert!(
            matches!(&result, Err(StoreError::Conflict(c)) if *c == conflict),
            "{result:?}"
        );
    }

    /// One rotation of a group at a time; a reserved job is nobody else's until it has
    /// started, and its lease goes to another node only once expired.
    #[tokio::test]
    async fn exactly_one_node_holds_a_job() {
        let (_dir, store, job) = reserved().await;
        let second = JobRow {
            id: "job_k".into(),
            ..job.clone()
        };
        refused_with(
            store.reserve_rotation(&second, &lease("b", 100)).await,
            Conflict::RotationRunning,
        );
        assert_eq!(
            store.claim_job(&lease("a", 200), 50).await.expect("claim"),
            None
        );
        let started = store
            .start_rotation(
                &job,
                "mk/grp_g/v1",
                "a/starting",
                &lease("a", 200),
                &event("group.master.rotate", 202),
            )
            .await
            .expect("started");
        assert_eq!(started.total, 0);
        assert!(
            store
                .rotation_started(&job.group_id, 2)
                .await
                .expect("read")
        );
        assert_eq!(
            store.claim_job(&lease("b", 300), 150).await.expect("claim"),
            None
        );
        let taken = store.claim_job(&lease("b", 400), 250).await.expect("claim");
        assert_eq!(
            taken.map(|j| j.id),
            Some(job.id.clone()),
            "expired: b takes it"
        );
        refused_with(
            store
                .apply_rewrap(&job.id, &lease("a", 500), "old", "new", &[])
                .await,
            Conflict::LeaseLost,
        );
        refused_with(
            store
                .finish_job(&job.id, "a", JobState::Done, None, 300)
                .await,
            Conflict::LeaseLost,
        );
        store
            .finish_job(&job.id, "b", JobState::Done, None, 300)
            .await
            .expect("b ends it");
        let row = store.job(&job.account_id, &job.id).await.expect("read");
        assert_eq!(row.map(|j| j.state), Some(JobState::Done));
    }
}
