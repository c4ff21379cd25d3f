//! Managed database credentials: Coffer rotates them, an agent next to the database applies
//! each new version (`ALTER ROLE … PASSWORD`) and confirms it; only a confirmed version
//! becomes current.
//!
//! Two models, as production secret managers offer them:
//! * **alternating** (default): two roles with the same grants; each rotation sets the
//!   password of the role that is not current and then makes that role current, so the
//!   credential readers hold keeps working until the rotation after;
//! * **single**: one role; between the agent's `ALTER ROLE` and its confirmation a reader may
//!   still hold the old password, which no longer logs in.

use super::*;
use crate::service::Ctx;
use serde::{Deserialize, Serialize};

pub(super) const PASSWORD: &str = "password";
const USERNAME: &str = "username";
/// Longest a long poll for a pending version may wait.
pub const MAX_PENDING_WAIT: Duration = Duration::from_secs(30);
/// How often a waiting long poll looks for a new pending version (one small read).
const PENDING_POLL: Duration = Duration::from_millis(250);

/// How the roles of a managed secret take turns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ManagedMode {
    Alternating,
    Single,
}

/// Where a managed credential applies: the roles, and the connection fields readers get.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedTarget {
    pub mode: ManagedMode,
    /// Two roles for `alternating`, one for `single`.
    pub usernames: Vec<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
}

/// A version waiting for its agent, with its value.
pub struct PendingVersion {
    pub version: u32,
    pub content: SecretContent,
}

/// A PostgreSQL role name Coffer accepts: it is quoted by the agent anyway, but a plain
/// name keeps mistakes visible.
fn is_role_name(name: &str) -> bool {
    (1..=63).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

impl ManagedTarget {
    pub fn validate(&self) -> Result<(), Error> {
        let wanted = match self.mode {
            ManagedMode::Alternating => 2,
            ManagedMode::Single => 1,
        };
        if self.usernames.len() != wanted {
            return Err(Error::InvalidInput(format!(
                "mode {:?} manages {wanted} role(s): give {wanted} usernames",
                self.mode
            )));
        }
        if let Some(bad) = self.usernames.iter().find(|u| !is_role_name(u)) {
            return Err(Error::InvalidInput(format!(
                "username {bad:?} must be 1-63 chars of [A-Za-z0-9_-]"
            )));
        }
        if self.usernames.len() == 2 && self.usernames[0] == self.usernames[1] {
            return Err(Error::InvalidInput(
                "alternating users need two different roles".into(),
            ));
        }
        if self.host.is_empty() || self.host.len() > 255 || self.database.is_empty() {
            return Err(Error::InvalidInput(
                "host and database must be given (host at most 255 chars)".into(),
            ));
        }
        Ok(())
    }

    pub(super) fn stored(text: Option<&str>) -> Result<Option<Self>, Error> {
        text.map(|t| {
            serde_json::from_str(t)
                .map_err(|_| Error::Internal("a stored managed target does not decode".into()))
        })
        .transpose()
    }

    pub(super) fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a target serializes")
    }

    /// The first version: the first role with a generated password.
    pub(super) fn first_content(&self, policy: &RotationPolicy) -> SecretContent {
        let mut fields = BTreeMap::new();
        fields.insert(
            USERNAME.to_owned(),
            Zeroizing::new(self.usernames[0].clone()),
        );
        fields.insert(PASSWORD.to_owned(), policy.generate());
        fields.insert("host".to_owned(), Zeroizing::new(self.host.clone()));
        fields.insert("port".to_owned(), Zeroizing::new(self.port.to_string()));
        fields.insert("database".to_owned(), Zeroizing::new(self.database.clone()));
        SecretContent::Fields(fields)
    }

    /// Alternating users: the rotation after a version of one role is for the other.
    pub(super) fn next_role(&self, fields: &mut BTreeMap<String, Zeroizing<String>>) {
        if self.mode != ManagedMode::Alternating {
            return;
        }
        let now = fields.get(USERNAME).map(|u| u.as_str().to_owned());
        let next = if now.as_deref() == Some(self.usernames[0].as_str()) {
            &self.usernames[1]
        } else {
            &self.usernames[0]
        };
        fields.insert(USERNAME.to_owned(), Zeroizing::new(next.clone()));
    }
}

impl Service {
    /// The newest version waiting for the agent, with its value; waits up to `wait` for
    /// one to appear (a long poll), `None` if none did.
    pub async fn pending_secret_version(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        wait: Duration,
    ) -> Result<Option<PendingVersion>, Error> {
        let op = &catalogue::PENDING_SECRET_VERSION;
        self.read(ctx, op, name, Some(&object(name)), async {
            let deadline = tokio::time::Instant::now() + wait.min(MAX_PENDING_WAIT);
            loop {
                if let Some(found) = self.find_pending(ctx, name).await? {
                    return Ok(Some(found));
                }
                if tokio::time::Instant::now() >= deadline {
                    return Ok(None);
                }
                tokio::time::sleep(PENDING_POLL).await;
            }
        })
        .await
    }

    async fn find_pending(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Option<PendingVersion>, Error> {
        // Fresh from the store: the rotation may have happened on another node.
        self.forget_secret_here(&ctx.caller.account_id, name);
        let state = self
            .load_agent_secret(ctx, name, &catalogue::PENDING_SECRET_VERSION)
            .await?;
        let Some(pending) = state
            .versions
            .iter()
            .filter(|v| v.state == VersionState::Pending)
            .max_by_key(|v| v.version)
        else {
            return Ok(None);
        };
        Ok(Some(PendingVersion {
            version: pending.version,
            content: self.open_version(&state.row, pending).await?,
        }))
    }

    /// A managed secret, for its agent: the agent reads values, so it needs a grant like any
    /// reader, and its group must not be frozen.
    async fn load_agent_secret(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        op: &catalogue::Operation,
    ) -> Result<Arc<SecretState>, Error> {
        let state = self.load_secret(ctx.caller, name, op).await?;
        if state.row.kind != SecretKind::Managed {
            return Err(Error::Conflict(format!(
                "secret {name} is not managed: it has no versions to apply"
            )));
        }
        self.require_read_grant(ctx.caller, &state).await?;
        Ok(state)
    }

    /// The agent confirms that `version` is applied: it becomes current.
    pub async fn applied_secret_version(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        version: u32,
    ) -> Result<SecretView, Error> {
        let op = &catalogue::APPLIED_SECRET_VERSION;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_agent_secret(ctx, name, op).await?;
            let stored = self
                .store
                .apply_secret_version(&state.row.id, version, self.now(), &event)
                .await;
            self.forget_secret(&state.row.account_id, name).await;
            stored?;
            self.secret_state(&state.row.account_id, name).await?.view()
        })
        .await
    }

    /// The agent reports that applying `version` failed: recorded in the audit trail (the
    /// reason as the event's detail); the version stays pending and the agent retries.
    pub async fn failed_secret_version(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        version: u32,
        reason: &str,
    ) -> Result<(), Error> {
        let op = &catalogue::FAILED_SECRET_VERSION;
        let result = Self::authorized(ctx.caller, op, name, async {
            let state = self.load_agent_secret(ctx, name, op).await?;
            match state.version(version) {
                Some(v) if v.state == VersionState::Pending => Ok(()),
                _ => Err(Error::Conflict(format!(
                    "version {version} of secret {name} is not waiting to be applied"
                ))),
            }
        })
        .await;
        let mut event = self.event(
            ctx.meta,
            Some(ctx.caller),
            op.audit_action(),
            Some(&object(name)),
            result.as_ref().map(|_| ()),
        );
        event.detail = Some(format!("version {version}: {}", one_line(reason, 500)));
        self.record(ctx.meta, event).await?;
        result
    }
}
