//! The background duties of policies, run by every node's maintenance: destroying objects
//! whose TTL time passed even if nobody uses them, working the rotations rotate-after axes
//! queued (each claimed by one node), and forgetting counters no check reads any more.

use super::rules::MAX_COSIGN_SECONDS;
use crate::audit::Severity;
use crate::catalogue;
use crate::ids::{AccountId, KeyId, KeyringId, SecretId};
use crate::service::{Ctx, Error, Forget, RequestMeta, Service, new_event_id};
use crate::store::{PolicyRow, QueuedRotation};

/// Rotations claimed per maintenance pass.
const ROTATIONS_PER_PASS: i64 = 100;

/// An object a policy's TTL ended.
pub(super) struct Doomed<'a> {
    pub account: &'a AccountId,
    pub kind: &'a str,
    pub id: &'a str,
    pub name: &'a str,
    pub policy: &'a PolicyRow,
}

impl Service {
    pub(in crate::service) async fn maintain_policies(&self) -> Result<(), Error> {
        let now = self.now();
        for binding in self.store.expired_policy_bindings(now).await? {
            let Some(policy) = self
                .store
                .policy(&binding.account_id, &binding.policy_id)
                .await?
            else {
                continue;
            };
            let doomed = Doomed {
                account: &binding.account_id,
                kind: &binding.object_kind,
                id: &binding.object_id,
                name: &binding.object_name,
                policy: &policy,
            };
            self.destroy_by_policy(&doomed).await;
        }
        for queued in self
            .store
            .claim_policy_rotations(ROTATIONS_PER_PASS)
            .await?
        {
            self.rotate_for_policy(&queued).await;
        }
        let cosign = i64::try_from(MAX_COSIGN_SECONDS).unwrap_or(0) * 1_000_000;
        self.store
            .prune_policy_counters(now - 2 * 60_000_000, now - 2 * 86_400_000_000, now - cosign)
            .await?;
        self.policy_bindings.sweep();
        Ok(())
    }

    /// Moves the object to the trash as its DELETE route does (audited as that deletion by
    /// Coffer, naming the policy), and unbinds the policy, whose TTL is spent. Failures are
    /// logged: the use is refused anyway, and the sweep tries again.
    pub(super) async fn destroy_by_policy(&self, doomed: &Doomed<'_>) {
        let caller = Self::system_caller(doomed.account);
        let meta = RequestMeta::new(new_event_id("sys"), None);
        let action = match doomed.kind {
            "secret" => catalogue::DELETE_SECRET.audit_action(),
            "keyring" => catalogue::DELETE_KEYRING.audit_action(),
            _ => catalogue::DELETE_KEY.audit_action(),
        };
        let target = format!("{}/{}", doomed.kind, doomed.name);
        let mut event = self.event(&meta, Some(&caller), action, Some(&target), Ok(()));
        event.detail = Some(format!("policy {}: axis ttl", doomed.policy.id));
        event.severity = Severity::Warning;
        let now = self.now();
        let id = doomed.id.to_owned();
        let trashed = match doomed.kind {
            "secret" => {
                self.store
                    .trash_secret(&SecretId::from(id), now, &event)
                    .await
            }
            "keyring" => {
                self.store
                    .trash_keyring(&KeyringId::from(id), now, &event)
                    .await
            }
            _ => self.store.trash_key(&KeyId::from(id), now, &event).await,
        };
        if let Err(error) = trashed {
            tracing::warn!(object = %target, error = %error, "a policy's TTL ended but the object could not be trashed (already gone?)");
        }
        self.forget_destroyed(doomed).await;
        let unbound = self
            .store
            .unbind_policy(&doomed.policy.id, doomed.kind, doomed.id, None)
            .await;
        if let Err(error) = unbound {
            tracing::warn!(object = %target, error = %error, "cannot unbind a spent policy");
        }
        self.forget(Forget::Policies {
            account: doomed.account.clone(),
        })
        .await;
    }

    async fn forget_destroyed(&self, doomed: &Doomed<'_>) {
        let (account, name) = (doomed.account.clone(), doomed.name.to_owned());
        match doomed.kind {
            "secret" => self.forget(Forget::Secret { account, name }).await,
            "keyring" => {
                self.forget(Forget::Keyring { account, name }).await;
                let keyring = KeyringId::from(doomed.id.to_owned());
                self.forget(Forget::DataKeys { keyring }).await;
            }
            _ => self.forget(Forget::Key { account, name }).await,
        }
    }

    /// Rotates the object of a queued rotation through its own rotate operation, on behalf
    /// of Coffer (audited as that rotation). A failure is logged; the queue entry is spent.
    async fn rotate_for_policy(&self, queued: &QueuedRotation) {
        let caller = Self::system_caller(&queued.account_id);
        let meta = RequestMeta::new(new_event_id("sys"), None);
        let ctx = Ctx {
            meta: &meta,
            caller: &caller,
        };
        let name = &queued.object_name;
        let rotated = match queued.object_kind.as_str() {
            "keyring" => self.rotate(&ctx, name).await.map(|_| ()),
            "key" => self.rotate_key(&ctx, name).await.map(|_| ()),
            _ => self.rotate_secret(&ctx, name).await.map(|_| ()),
        };
        match rotated {
            Ok(()) => {
                tracing::info!(object = %queued.object_id, version = queued.version, "rotated after the uses a policy allows")
            }
            Err(error) => {
                tracing::warn!(object = %queued.object_id, error = %error, "a policy's rotation failed")
            }
        }
    }
}
