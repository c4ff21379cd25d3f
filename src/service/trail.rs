//! The tamper-evident trail: the checkpoint signing key in the HSM, checkpoints signed on a
//! schedule and on demand, the export that a verifier checks offline with only the public
//! key, and retention pruning that never leaves the oldest kept event unanchored.
//!
//! The chain itself is made by the audit committer (see `crate::store::chain`): requests
//! pay nothing for it. This module only reads chains and signs their heads.

use super::{Ctx, Error, Service, micros, new_id};
use crate::catalogue;
use crate::crypto::asym::{KeyAlgorithm, PublicKey};
use crate::hsm::{KeyPairUsage, SignMechanism};
use crate::store::chain::checkpoint_message;
use crate::store::{ChainHead, CheckpointRow, SigningKeyRow, StoredEvent};

/// The only signing algorithm of checkpoints: pure Ed25519, made and used in the token.
pub const CHECKPOINT_ALGORITHM: &str = "ed25519";

/// Events and checkpoints read per page of an export.
pub const EXPORT_PAGE: u32 = 500;

/// What an export covers, decided when it starts: everything up to a checkpoint signed for
/// it, from the oldest kept event (anchored by `anchor` when older ones were pruned).
pub struct ExportPlan {
    pub key: SigningKeyRow,
    pub chain: String,
    /// The checkpoint whose head is the `prev_hash` of the first exported event; `None`
    /// when the export starts at the chain's first event.
    pub anchor: Option<CheckpointRow>,
    /// The checkpoint signed for this export: its position is the last exported event.
    pub end: CheckpointRow,
    /// The first exported event's position minus one.
    pub after: i64,
}

/// One page of an export: events after a position, with the checkpoints among them.
pub struct ExportPage {
    pub events: Vec<StoredEvent>,
    pub checkpoints: Vec<CheckpointRow>,
}

impl Service {
    /// Makes the checkpoint key pair in the HSM, unless the database names one already.
    /// Two nodes starting together may both make one: the first recorded wins and the other
    /// destroys its own.
    pub(super) async fn prepare_trail(&self) -> Result<(), Error> {
        if self.store.signing_key().await?.is_some() {
            return Ok(());
        }
        let id: String = new_id("ack");
        let label = format!("sys/audit-checkpoints/{id}");
        let usage = KeyPairUsage {
            sign: true,
            decrypt: false,
        };
        let material = self
            .hsm
            .generate_key_pair(&label, KeyAlgorithm::Ed25519, usage)
            .await?;
        let public_key = PublicKey::from_token(&material)
            .map_err(|e| Error::Internal(Box::new(e)))?
            .to_pem();
        let row = SigningKeyRow {
            id,
            label: label.clone(),
            algorithm: CHECKPOINT_ALGORITHM.to_owned(),
            public_key,
            created_at: self.now(),
        };
        if !self.store.insert_signing_key(&row).await? {
            self.hsm.destroy_key(&label).await?;
        }
        Ok(())
    }

    /// Chains pending events and signs checkpoints on their schedules; runs for the life of
    /// the service (one per node: checkpoints of the same head are stored once).
    pub async fn keep_trail(&self) {
        let mut seal = tokio::time::interval(self.settings.seal_every);
        let mut sign = tokio::time::interval(self.settings.checkpoint_every);
        for tick in [&mut seal, &mut sign] {
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        }
        loop {
            tokio::select! {
                _ = seal.tick() => {
                    if let Err(e) = self.audit.seal().await {
                        tracing::warn!(error = %e, "could not chain the pending audit events; will retry");
                    }
                }
                _ = sign.tick() => {
                    if let Err(e) = self.sign_moved_chains().await {
                        tracing::warn!(error = %e, "could not sign audit checkpoints; will retry");
                    }
                }
            }
        }
    }

    /// Waits until every event committed so far is chained.
    async fn seal_trail(&self) -> Result<(), Error> {
        self.audit
            .seal()
            .await
            .map_err(|e| Error::Unavailable(Box::new(e)))
    }

    /// A checkpoint for every chain whose head moved since its last one.
    pub async fn sign_moved_chains(&self) -> Result<(), Error> {
        self.seal_trail().await?;
        for head in self.store.unsigned_heads().await? {
            self.sign_head(&head).await?;
        }
        Ok(())
    }

    async fn sign_head(&self, head: &ChainHead) -> Result<CheckpointRow, Error> {
        let key = self.signing_key().await?;
        let time = self.now();
        let message = checkpoint_message(&head.chain, head.length, &head.head, time);
        let signature = self
            .hsm
            .sign(&key.label, SignMechanism::Ed25519, message)
            .await?;
        let checkpoint = CheckpointRow {
            chain: head.chain.clone(),
            position: head.length,
            head: head.head,
            time,
            key_id: key.id,
            signature,
        };
        self.store.insert_checkpoint(&checkpoint).await?;
        Ok(checkpoint)
    }

    async fn signing_key(&self) -> Result<SigningKeyRow, Error> {
        self.store
            .signing_key()
            .await?
            .ok_or_else(|| Error::Unavailable("the audit checkpoint key is not made yet".into()))
    }

    /// Chains everything committed so far and signs the head of the caller's account.
    async fn checkpoint_account(&self, ctx: &Ctx<'_>) -> Result<CheckpointRow, Error> {
        self.seal_trail().await?;
        let chain = ctx.caller.account_id.to_string();
        match self.store.chain_head(&chain).await? {
            Some(head) => self.sign_head(&head).await,
            None => Err(Error::Conflict(
                "the account's trail has no event to sign yet".into(),
            )),
        }
    }

    /// `POST /v1/activity/checkpoints`: a checkpoint of the account's chain, now.
    pub async fn checkpoint_now(&self, ctx: &Ctx<'_>) -> Result<CheckpointRow, Error> {
        self.read(ctx, &catalogue::CREATE_CHECKPOINT, "", None, async {
            self.checkpoint_account(ctx).await
        })
        .await
    }

    /// `GET /v1/activity/checkpoints`: the account's checkpoints, oldest first.
    pub async fn list_checkpoints(&self, ctx: &Ctx<'_>) -> Result<Vec<CheckpointRow>, Error> {
        self.read(ctx, &catalogue::LIST_CHECKPOINTS, "", None, async {
            let chain = ctx.caller.account_id.to_string();
            Ok(self.store.checkpoints(&chain, 0, i64::MAX).await?)
        })
        .await
    }

    /// `GET /v1/activity/signing-key`: the public key that verifies checkpoints.
    pub async fn trail_signing_key(&self, ctx: &Ctx<'_>) -> Result<SigningKeyRow, Error> {
        self.read(ctx, &catalogue::TRAIL_SIGNING_KEY, "", None, async {
            self.signing_key().await
        })
        .await
    }

    /// Starts an export of the caller's account trail (audited once, here); the pages
    /// follow from [`Service::export_page`].
    pub async fn start_export(&self, ctx: &Ctx<'_>) -> Result<ExportPlan, Error> {
        self.read(ctx, &catalogue::EXPORT_ACTIVITY, "", None, async {
            let key = self.signing_key().await?;
            let end = self.checkpoint_account(ctx).await?;
            let first = self.store.first_position(&end.chain).await?.max(1);
            let after = first - 1;
            let anchor = match after {
                0 => None,
                _ => self
                    .store
                    .checkpoints(&end.chain, after, after)
                    .await?
                    .pop(),
            };
            Ok(ExportPlan {
                key,
                chain: end.chain.clone(),
                anchor,
                end,
                after,
            })
        })
        .await
    }

    /// The events of an export after position `after`, with the checkpoints among them.
    /// Not audited per page: [`Service::start_export`] recorded the export.
    pub async fn export_page(&self, plan: &ExportPlan, after: i64) -> Result<ExportPage, Error> {
        let events = self
            .store
            .chained_events(&plan.chain, after, plan.end.position, EXPORT_PAGE)
            .await?;
        let last = events
            .last()
            .and_then(|e| e.link)
            .map_or(after, |l| l.position);
        let checkpoints = match last > after {
            true => self.store.checkpoints(&plan.chain, after + 1, last).await?,
            false => Vec::new(),
        };
        Ok(ExportPage {
            events,
            checkpoints,
        })
    }

    /// Deletes events older than the retention, up to the newest checkpoint among them, so
    /// that checkpoint anchors the oldest event kept.
    pub(super) async fn prune_trail(&self) -> Result<(), Error> {
        let Some(retention) = self.settings.audit_retention else {
            return Ok(());
        };
        let cutoff = self.now().saturating_sub(micros(retention));
        for chain in self.store.chains().await? {
            let Some(position) = self.store.prunable_checkpoint(&chain, cutoff).await? else {
                continue;
            };
            let pruned = self.store.prune_chain(&chain, position).await?;
            if pruned > 0 {
                tracing::info!(
                    chain,
                    position,
                    pruned,
                    "pruned audit events past retention"
                );
            }
        }
        Ok(())
    }
}
