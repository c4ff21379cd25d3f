//! Automatic rotation: a policy per secret (interval, length, charset, which fields), values
//! from the operating system's CSPRNG, rotations asked for now or made by the schedule.
//!
//! The schedule is exactly once per due time across nodes and restarts without a lease: a
//! rotation's version and the move of `next_rotation_at` commit together, only if the
//! secret's latest version is still the one the rotation read. Two nodes that find the
//! same due secret race on that condition and one loses; a node that dies before its commit
//! leaves the secret due, and the next pass makes the rotation.

use super::*;
use crate::audit::AuditEvent;
use crate::crypto::generate::{self, Charset};
use crate::service::Ctx;
use crate::store::NewVersion;
use serde::{Deserialize, Serialize};

/// Shortest interval between rotations.
pub const MIN_INTERVAL_SECONDS: u32 = 300;
/// Longest: ten years.
const MAX_INTERVAL_SECONDS: u32 = 315_360_000;
const DEFAULT_LENGTH: u32 = 32;
/// A managed secret rotates daily unless told otherwise.
const MANAGED_DEFAULT_INTERVAL: u32 = 86_400;
/// The audit action of a rotation the schedule made.
const SCHEDULED_ROTATION_ACTION: &str = "secret.rotate.scheduled";

/// How a secret's values are rotated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RotationPolicy {
    pub interval_seconds: u32,
    pub length: u32,
    pub charset: String,
    /// Structured secrets: the fields that rotate (the others keep their value).
    #[serde(default)]
    pub fields: Vec<String>,
}

impl RotationPolicy {
    /// A policy from a request; `length` and `charset` take their defaults when absent.
    pub fn requested(
        interval_seconds: u32,
        length: Option<u32>,
        charset: Option<String>,
        fields: Vec<String>,
    ) -> Self {
        Self {
            interval_seconds,
            length: length.unwrap_or(DEFAULT_LENGTH),
            charset: charset.unwrap_or_else(|| Charset::Symbols.as_str().to_owned()),
            fields,
        }
    }

    /// What a managed secret gets when it names no policy: daily, 32 alphanumerics (safe in
    /// any connection string).
    pub(super) fn managed_default() -> Self {
        Self {
            interval_seconds: MANAGED_DEFAULT_INTERVAL,
            length: DEFAULT_LENGTH,
            charset: Charset::Alphanumeric.as_str().to_owned(),
            fields: vec![managed::PASSWORD.to_owned()],
        }
    }

    pub(super) fn stored(text: Option<&str>) -> Result<Option<Self>, Error> {
        text.map(|t| {
            serde_json::from_str(t)
                .map_err(|_| Error::Internal("a stored rotation policy does not decode".into()))
        })
        .transpose()
    }

    pub(super) fn to_stored(&self) -> String {
        serde_json::to_string(self).expect("a policy serializes")
    }

    /// When the rotation after one at `now` is due.
    pub(super) fn next_due(&self, now: i64) -> i64 {
        now.saturating_add(i64::from(self.interval_seconds) * 1_000_000)
    }

    fn charset(&self) -> Charset {
        Charset::parse(&self.charset).unwrap_or(Charset::Symbols)
    }

    /// A new value by this policy.
    pub(super) fn generate(&self) -> Zeroizing<String> {
        generate::generate(self.length as usize, self.charset())
    }

    /// Checks the policy for a secret of `kind` whose value is `content` (if known).
    pub(super) fn validate_for(
        &self,
        kind: SecretKind,
        content: Option<&SecretContent>,
    ) -> Result<(), Error> {
        if !(MIN_INTERVAL_SECONDS..=MAX_INTERVAL_SECONDS).contains(&self.interval_seconds) {
            return Err(Error::InvalidInput(format!(
                "interval_seconds must be {MIN_INTERVAL_SECONDS}-{MAX_INTERVAL_SECONDS} (at least 5 minutes)"
            )));
        }
        if Charset::parse(&self.charset).is_none() {
            return Err(Error::InvalidInput(format!(
                "charset must be \"symbols\", \"alphanumeric\", \"numbers\" or \"uuid\", not {:?}",
                self.charset
            )));
        }
        let lengths = generate::LENGTHS;
        if !lengths.contains(&(self.length as usize)) {
            return Err(Error::InvalidInput(format!(
                "length must be {}-{}",
                lengths.start(),
                lengths.end()
            )));
        }
        self.validate_fields(kind, content)
    }

    fn validate_fields(
        &self,
        kind: SecretKind,
        content: Option<&SecretContent>,
    ) -> Result<(), Error> {
        match kind {
            SecretKind::Structured => {
                if self.fields.is_empty() {
                    return Err(Error::InvalidInput(
                        "a structured secret's rotation names the \"fields\" that rotate".into(),
                    ));
                }
                if let Some(bad) = self.fields.iter().find(|f| !is_valid_name(f)) {
                    return Err(Error::InvalidInput(format!(
                        "field name {bad:?} must be 1-64 chars of [A-Za-z0-9_-]"
                    )));
                }
                if let Some(SecretContent::Fields(fields)) = content
                    && let Some(missing) = self.fields.iter().find(|f| !fields.contains_key(*f))
                {
                    return Err(Error::InvalidInput(format!(
                        "rotation names field {missing:?}, which the secret does not have"
                    )));
                }
                Ok(())
            }
            SecretKind::Managed if self.fields != [managed::PASSWORD] => Err(Error::InvalidInput(
                "a managed secret rotates its \"password\" field only".into(),
            )),
            SecretKind::Single | SecretKind::Canary if !self.fields.is_empty() => Err(
                Error::InvalidInput("only structured secrets name \"fields\" to rotate".into()),
            ),
            _ => Ok(()),
        }
    }
}

impl Service {
    /// Turns automatic rotation on, or changes its policy; the next rotation is one interval
    /// from now.
    pub async fn set_secret_rotation(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        policy: RotationPolicy,
    ) -> Result<SecretView, Error> {
        let op = &catalogue::SET_SECRET_ROTATION;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            let current = match state.version(state.row.current_version) {
                Some(v) if state.row.kind == SecretKind::Structured => {
                    Some(self.open_version(&state.row, v).await?)
                }
                _ => None,
            };
            policy.validate_for(state.row.kind, current.as_ref())?;
            let stored = policy.to_stored();
            self.store
                .set_secret_rotation(
                    &state.row.id,
                    Some(&stored),
                    Some(policy.next_due(self.now())),
                    &event,
                )
                .await?;
            self.reloaded_view(&state.row).await
        })
        .await
    }

    /// Turns automatic rotation off (a managed secret always rotates).
    pub async fn delete_secret_rotation(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<SecretView, Error> {
        let op = &catalogue::DELETE_SECRET_ROTATION;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            if state.row.kind == SecretKind::Managed {
                return Err(Error::Conflict(format!(
                    "secret {name} is managed: its rotation cannot be turned off (change its interval instead)"
                )));
            }
            self.store
                .set_secret_rotation(&state.row.id, None, None, &event)
                .await?;
            self.reloaded_view(&state.row).await
        })
        .await
    }

    /// Rotates now, by the secret's policy.
    pub async fn rotate_secret(&self, ctx: &Ctx<'_>, name: &str) -> Result<SecretView, Error> {
        let op = &catalogue::ROTATE_SECRET;
        self.mutation(ctx, op, name, Some(&object(name)), |event| async move {
            let state = self.load_secret(ctx.caller, name, op).await?;
            let row = self.fresh_secret(&state.row).await?;
            let policy = RotationPolicy::stored(row.rotation.as_deref())?.ok_or_else(|| {
                Error::Conflict(format!(
                    "secret {name} has no rotation policy: set one with PUT /v1/secrets/{name}/rotation"
                ))
            })?;
            self.rotate_secret_row(&row, &policy, &ctx.caller.principal_id, event)
                .await?;
            self.reloaded_view(&row).await
        })
        .await
    }

    /// Makes the next version of `row` by `policy` (pending for a managed secret) and moves
    /// the next due time one interval on, in one transaction.
    async fn rotate_secret_row(
        &self,
        row: &SecretRow,
        policy: &RotationPolicy,
        by: &str,
        event: AuditEvent,
    ) -> Result<(), Error> {
        let versions = self.store.secret_versions(&row.id).await?;
        let content = self.rotated_content(row, &versions, policy).await?;
        let mut next = self
            .seal_version(
                row,
                row.latest_version + 1,
                &content,
                VersionOrigin::Rotation,
                by,
            )
            .await?;
        let becomes = if row.kind == SecretKind::Managed {
            next.state = VersionState::Pending;
            NewVersion::Pending
        } else {
            NewVersion::Current
        };
        let stored = self
            .store
            .add_secret_version(&next, becomes, Some(policy.next_due(self.now())), &event)
            .await;
        self.forget_secret(&row.account_id, &row.name).await;
        Ok(stored?)
    }

    /// The content after a rotation: new values for the rotating fields (a managed secret's
    /// next role too), the other fields as they are now.
    async fn rotated_content(
        &self,
        row: &SecretRow,
        versions: &[SecretVersionRow],
        policy: &RotationPolicy,
    ) -> Result<SecretContent, Error> {
        if !row.kind.is_structured() {
            return Ok(SecretContent::Single(policy.generate()));
        }
        // The base is the current version: for alternating users the next role must be the
        // one readers do not hold. A pending version this rotation abandons may name the
        // other role already (and its agent may have set it): alternating from it would
        // change the password of the role readers hold. Before any confirmation there is
        // no current version; the latest one serves.
        let base = versions
            .iter()
            .find(|v| v.version == row.current_version)
            .or_else(|| {
                versions
                    .iter()
                    .filter(|v| v.state != VersionState::Abandoned)
                    .max_by_key(|v| v.version)
            })
            .ok_or_else(|| Error::Internal("a secret without versions".into()))?;
        let SecretContent::Fields(mut fields) = self.open_version(row, base).await? else {
            return Err(Error::Internal(
                "a structured secret holds one value".into(),
            ));
        };
        for field in &policy.fields {
            fields.insert(field.clone(), policy.generate());
        }
        if let Some(target) = ManagedTarget::stored(row.managed.as_deref())? {
            target.next_role(&mut fields);
        }
        Ok(SecretContent::Fields(fields))
    }

    async fn reloaded_view(&self, row: &SecretRow) -> Result<SecretView, Error> {
        self.forget_secret(&row.account_id, &row.name).await;
        self.secret_state(&row.account_id, &row.name).await?.view()
    }

    /// Rotates every secret whose rotation is due (a background duty of every node).
    pub(in crate::service) async fn rotate_due_secrets(&self) -> Result<(), Error> {
        for row in self.store.secrets_due_for_rotation(self.now()).await? {
            if let Err(e) = self.rotate_scheduled(&row).await {
                tracing::warn!(secret = %row.id, error = %e, "scheduled secret rotation failed; retried on the next pass");
            }
        }
        Ok(())
    }

    async fn rotate_scheduled(&self, row: &SecretRow) -> Result<(), Error> {
        let Some(policy) = RotationPolicy::stored(row.rotation.as_deref())? else {
            return Ok(());
        };
        let caller = Self::system_caller(&row.account_id);
        let meta = crate::service::RequestMeta::new(new_event_id("sys"), None);
        let event = self.event(
            &meta,
            Some(&caller),
            SCHEDULED_ROTATION_ACTION,
            Some(&object(&row.name)),
            Ok(()),
        );
        match self.rotate_secret_row(row, &policy, "system", event).await {
            // Another node (or a request) made a version first: this due time is served.
            Err(Error::Conflict(_)) => Ok(()),
            other => other,
        }
    }
}

use crate::service::new_event_id;
