//! Group master-key rotation: a new master key in the token, then a background job that
//! re-wraps every key of the group under it, in batches, and destroys the old master key
//! once nothing names it.
//!
//! Requests keep working throughout: each keyring version names the master key that wraps
//! it, so a version not yet re-wrapped is still opened with the old key, and new versions
//! take the new one from the moment the rotation starts. The job is resumable: any node
//! claims a job whose lease has expired (its node died or stalled) and carries on from
//! what the database still shows under the old key.

use super::changes::{CHANGE_POLL, Forget};
use super::keyrings::master_label;
use super::{Ctx, Error, Service, new_id};
use crate::catalogue;
use crate::ids::{GroupId, JobId};
use crate::store::{
    Conflict, JobKind, JobRow, JobState, Lease, Rewrapped, StoreError, WrappedHolder,
    WrappedVersion,
};
use std::collections::BTreeSet;
use std::time::Duration;

/// Why a rotation job that never got past its start is ended.
const NEVER_STARTED: &str = "the rotation did not start: the request that began it failed";

/// How long, beyond the lease, a reserved rotation is left to its request: the token's key
/// generation deadline (30 s by default) with room to spare. No node takes the job over
/// meanwhile, so no node undoes a start that is still under way.
const KEYGEN_GRACE: Duration = Duration::from_secs(60);

/// Why a job is ended after a failure that retrying will not mend.
const REWRAP_FAILED: &str = "re-wrapping stopped on an internal error; see the server log";

impl Service {
    /// Starts the rotation of a group's master key: makes `mk/<group>/v<n+1>` in the token
    /// and a job that re-wraps the group's keys under it in the background.
    pub async fn rotate_master(&self, ctx: &Ctx<'_>, group_id: &GroupId) -> Result<JobRow, Error> {
        let group = group_id.clone();
        self.gate(
            ctx,
            crate::service::PendingOperation::RotateMaster { group },
        )
        .await?;
        let object = format!("group/{group_id}");
        self.mutation(
            ctx,
            &catalogue::ROTATE_MASTER,
            "",
            Some(&object),
            |event| async move {
                let group = self.visible_group(ctx.caller, group_id).await?;
                let job = JobRow {
                    id: new_id("job"),
                    account_id: ctx.caller.account_id.clone(),
                    kind: JobKind::RotateMaster,
                    group_id: group_id.clone(),
                    from_version: group.master_version,
                    to_version: group.master_version + 1,
                    state: JobState::Running,
                    total: 0,
                    done: 0,
                    created_at: self.now(),
                    finished_at: None,
                    error: None,
                };
                // Held under its own name: not even this node's worker takes the job before
                // it has started.
                let reservation = Lease {
                    owner: format!("{}/starting", self.node),
                    until: self.now() + super::micros(self.settings.job_lease + KEYGEN_GRACE),
                };
                self.store.reserve_rotation(&job, &reservation).await?;
                let started = self.start_reserved(&job, &reservation.owner, &event).await;
                if started.is_err() {
                    self.abandon(&job, &reservation.owner).await;
                }
                let job = started?;
                self.jobs_wake.notify_one();
                Ok(job)
            },
        )
        .await
    }

    /// Makes the new master key of a reserved rotation and moves the group onto it.
    async fn start_reserved(
        &self,
        job: &JobRow,
        reserved_by: &str,
        event: &crate::audit::AuditEvent,
    ) -> Result<JobRow, Error> {
        let new_label = master_label(&job.group_id, job.to_version);
        self.hsm.create_master_key(&new_label).await?;
        let old_label = master_label(&job.group_id, job.from_version);
        Ok(self
            .store
            .start_rotation(job, &old_label, reserved_by, &self.lease(), event)
            .await?)
    }

    /// Ends a rotation whose start failed: its new master key (if made) wraps nothing yet.
    /// The reservation makes this job the only one that could have made that label.
    async fn abandon(&self, job: &JobRow, owner: &str) {
        self.destroy_quietly(&master_label(&job.group_id, job.to_version))
            .await;
        let ended = self
            .end_job(job, owner, JobState::Failed, Some(NEVER_STARTED))
            .await;
        if let Err(error) = ended {
            tracing::warn!(job = %job.id, error = %error, "cannot end a rotation that did not start");
        }
    }

    /// A job of the caller's account, in a group the caller sees.
    pub async fn get_job(&self, ctx: &Ctx<'_>, id: &JobId) -> Result<JobRow, Error> {
        let object = format!("job/{id}");
        self.read(ctx, &catalogue::GET_JOB, "", Some(&object), async {
            self.store
                .job(&ctx.caller.account_id, id)
                .await?
                .filter(|job| ctx.caller.sees_group(&job.group_id))
                .ok_or_else(|| Error::NotFound(format!("job {id}")))
        })
        .await
    }

    /// This node's lease on a job, from now.
    fn lease(&self) -> Lease {
        Lease {
            owner: self.node.clone(),
            until: self.now() + super::micros(self.settings.job_lease),
        }
    }

    /// Works background jobs for as long as the node runs: one whenever a request starts
    /// one here, and every `job_poll` whatever lease has expired elsewhere.
    pub async fn work_jobs(&self) {
        loop {
            match self.work_one_job().await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(error) => {
                    tracing::warn!(error = %error, "a background job stopped; will retry")
                }
            }
            tokio::select! {
                _ = self.jobs_wake.notified() => {}
                _ = tokio::time::sleep(self.settings.job_poll) => {}
            }
        }
    }

    /// Claims one job and works it to its end; false if there was none to claim.
    async fn work_one_job(&self) -> Result<bool, Error> {
        let Some(job) = self.store.claim_job(&self.lease(), self.now()).await? else {
            return Ok(false);
        };
        tracing::info!(job = %job.id, group = %job.group_id, done = job.done, total = job.total,
            "working a master-key rotation");
        match self.run_rotation(&job).await {
            Err(Error::Internal(cause)) => {
                tracing::error!(job = %job.id, error = %cause, "master-key rotation failed");
                self.end_job(&job, &self.node, JobState::Failed, Some(REWRAP_FAILED))
                    .await?;
                Ok(true)
            }
            other => other.map(|()| true),
        }
    }

    /// Re-wraps what the old master key still wraps, batch by batch, then retires it.
    async fn run_rotation(&self, job: &JobRow) -> Result<(), Error> {
        if !self
            .store
            .rotation_started(&job.group_id, job.to_version)
            .await?
        {
            self.abandon(job, &self.node).await;
            return Ok(());
        }
        let old = master_label(&job.group_id, job.from_version);
        let new = master_label(&job.group_id, job.to_version);
        let mut done = job.done;
        loop {
            let batch = self
                .store
                .versions_wrapped_by(&old, self.settings.rewrap_batch)
                .await?;
            if batch.is_empty() {
                break;
            }
            done += self.rewrap_batch(job, &old, &new, &batch).await?;
            tracing::info!(job = %job.id, done, total = job.total, "re-wrapped a batch");
        }
        self.retire_master(job, &old).await
    }

    /// Re-wraps one batch inside the token and stores it (renewing the lease); every node
    /// then forgets its cached metadata of the batch's keyrings, which named the old key.
    async fn rewrap_batch(
        &self,
        job: &JobRow,
        old: &str,
        new: &str,
        batch: &[WrappedVersion],
    ) -> Result<u64, Error> {
        let mut rewrapped = Vec::with_capacity(batch.len());
        for version in batch {
            rewrapped.push(Rewrapped {
                holder: version.holder,
                object_id: version.object_id.clone(),
                version: version.version,
                wrapped_key: self
                    .hsm
                    .rewrap_data_key(old, new, &version.wrapped_key)
                    .await?,
            });
        }
        let changed = self
            .store
            .apply_rewrap(&job.id, &self.lease(), old, new, &rewrapped)
            .await?;
        let objects: BTreeSet<_> = batch
            .iter()
            .map(|v| (v.holder.as_str(), v.account_id.clone(), v.name.clone()))
            .collect();
        for (holder, account, name) in objects {
            let forget = match WrappedHolder::parse(holder) {
                Some(WrappedHolder::Secret) => Forget::Secret { account, name },
                // Nodes keep only the signing keys derived from the secret, which a re-wrap
                // does not change.
                Some(WrappedHolder::AwsCredential) => continue,
                _ => Forget::Keyring { account, name },
            };
            self.forget(forget).await;
        }
        Ok(changed)
    }

    /// Destroys the old master key once nothing names it, and ends the job. Nodes may still
    /// hold keyring metadata read just before the last batch: the key goes only after every
    /// such copy has expired or been forgotten.
    async fn retire_master(&self, job: &JobRow, old: &str) -> Result<(), Error> {
        tokio::time::sleep(self.settings.metadata_ttl + CHANGE_POLL).await;
        let references = self.store.references_to(old).await?;
        if references > 0 {
            return Err(Error::Unavailable(
                format!("{references} keys still name the old master key").into(),
            ));
        }
        self.hsm.destroy_key(old).await?;
        tracing::info!(job = %job.id, group = %job.group_id, "old master key destroyed");
        self.end_job(job, &self.node, JobState::Done, None).await
    }

    /// Ends a job this node holds; a job another node took over is that node's to end.
    async fn end_job(
        &self,
        job: &JobRow,
        owner: &str,
        state: JobState,
        error: Option<&str>,
    ) -> Result<(), Error> {
        match self
            .store
            .finish_job(&job.id, owner, state, error, self.now())
            .await
        {
            Err(StoreError::Conflict(Conflict::LeaseLost)) => {
                tracing::info!(job = %job.id, "another node took the job over");
                Ok(())
            }
            other => Ok(other?),
        }
    }
}
