//! Cache changes across nodes. Every node caches verified callers and keyring and key
//! metadata; when a node changes one of them it forgets its own copy and appends the same
//! [`Forget`] to the store's change log, and every node applies the entries it has not
//! seen ([`Service::follow_changes`]). The entry is written before the node answers, so a
//! change acknowledged by one node is in force on every other node within one poll
//! interval (PostgreSQL wakes them at once with a notification).

use super::Service;
use crate::ids::{AccountId, ApiKeyId, GroupId, KeyringId};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// Longest a node goes without reading the change log: the bound on how long another
/// node's change can take to be in force here. PostgreSQL nodes are woken sooner.
pub const CHANGE_POLL: Duration = Duration::from_millis(250);

/// How long change-log entries are kept: far longer than any node takes to read them.
const CHANGE_RETENTION: Duration = Duration::from_secs(3600);

/// What a change makes every node forget.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "forget", rename_all = "snake_case")]
pub(super) enum Forget {
    /// Every verified caller of an account (group structure changed, account closed).
    AccountCallers { account: AccountId },
    /// The verified callers of one principal (an app changed, deleted or regrouped).
    Principal { id: String },
    /// The verifications of one API key (disabled or re-flagged).
    ApiKey { id: ApiKeyId },
    /// The signer of one AWS access key (disabled or deleted).
    AwsCredential { id: crate::ids::AwsAccessKeyId },
    /// A keyring's metadata and versions.
    Keyring { account: AccountId, name: String },
    /// A keyring's unwrapped data keys.
    DataKeys { keyring: KeyringId },
    /// An asymmetric key's metadata.
    Key { account: AccountId, name: String },
    /// A secret's metadata, versions and grants.
    Secret { account: AccountId, name: String },
    /// Whether a group is frozen.
    Group { id: GroupId },
    /// The access policies bound to the account's objects.
    Policies { account: AccountId },
}

impl Service {
    /// Forgets `what` here and records it for the other nodes. A failure to record is
    /// logged, not returned: the change itself is already committed, and the other nodes'
    /// copies still expire with their time to live.
    pub(super) async fn forget(&self, what: Forget) {
        self.apply_forget(&what);
        let entry = serde_json::to_string(&what).expect("ids and names serialize");
        if let Err(error) = self.store.publish_change(self.now(), &entry).await {
            tracing::warn!(
                error = %error,
                "cannot record a cache change for the other nodes; their copies expire with their time to live"
            );
        }
    }

    /// Drops from this node's caches what `what` names.
    fn apply_forget(&self, what: &Forget) {
        match what {
            Forget::AccountCallers { account } => {
                self.callers
                    .retain(|_, caller| caller.account_id != *account);
                self.machines
                    .retain(|_, machine| machine.account_id != *account);
                self.aws_signers
                    .retain(|_, signer| signer.caller.account_id != *account);
            }
            Forget::Principal { id } => {
                self.callers.retain(|_, caller| caller.principal_id != *id);
                // A machine is its app's principal.
                self.machines.remove(id.as_str());
                self.aws_signers
                    .retain(|_, signer| signer.caller.principal_id != *id);
            }
            Forget::AwsCredential { id } => self.aws_signers.retain(|(key, _), _| key != id),
            Forget::ApiKey { id } => self
                .callers
                .retain(|_, caller| caller.api_key_id.as_ref() != Some(id)),
            Forget::Keyring { account, name } => {
                self.keyrings.remove(&(account.clone(), name.clone()))
            }
            Forget::DataKeys { keyring } => self.data_keys.retain(|(id, _), _| id != keyring),
            Forget::Key { account, name } => self.keys.remove(&(account.clone(), name.clone())),
            Forget::Secret { account, name } => {
                self.secrets.remove(&(account.clone(), name.clone()))
            }
            Forget::Group { id } => self.frozen_groups.remove(id),
            Forget::Policies { account } => self
                .policy_bindings
                .retain(|(owner, _, _), _| owner != account),
        }
    }

    /// Applies the change log's new entries, for as long as the node runs: after each
    /// wake-up (a notification, or [`CHANGE_POLL`] at the latest) it reads what it has not
    /// seen. A node that cannot read the log keeps trying; until it can, nothing can be
    /// changed in the database either.
    pub async fn follow_changes(&self) {
        let mut seen = loop {
            match self.store.last_change().await {
                Ok(seq) => break seq,
                Err(error) => {
                    tracing::warn!(error = %error, "cannot read the change log; retrying");
                    tokio::time::sleep(CHANGE_POLL).await;
                }
            }
        };
        loop {
            self.store.wait_for_changes(CHANGE_POLL).await;
            match self.store.changes_after(seen).await {
                Ok(entries) => {
                    for entry in entries {
                        seen = entry.seq;
                        self.apply_entry(&entry.change);
                    }
                }
                Err(error) => tracing::warn!(error = %error, "cannot read the change log"),
            }
        }
    }

    /// One entry of the log; one this version does not know clears every cache, which is
    /// always safe.
    fn apply_entry(&self, entry: &str) {
        match serde_json::from_str::<Forget>(entry) {
            Ok(what) => self.apply_forget(&what),
            Err(_) => {
                self.callers.retain(|_, _| false);
                self.machines.retain(|_, _| false);
                self.keyrings.retain(|_, _| false);
                self.data_keys.retain(|_, _| false);
                self.keys.retain(|_, _| false);
            }
        }
    }

    /// Forgets change-log entries every node has long read.
    pub(super) async fn prune_changes(&self) -> Result<(), super::Error> {
        let cutoff = self.now().saturating_sub(super::micros(CHANGE_RETENTION));
        self.store.prune_changes(cutoff).await?;
        Ok(())
    }
}
