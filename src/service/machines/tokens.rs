//! Machine tokens: bootstrap, enrollment and temporary tokens, their terms by kind.

use super::*;
use crate::ids::MachineTokenId;

fn in_range(what: &str, value: i64, min: i64, max: i64) -> Result<i64, Error> {
    if (min..=max).contains(&value) {
        Ok(value)
    } else {
        Err(Error::InvalidInput(format!(
            "{what} must be between {min} and {max}"
        )))
    }
}

fn refuse_field(kind: MachineTokenKind, field: &str, given: bool) -> Result<(), Error> {
    if given {
        Err(Error::InvalidInput(format!(
            "{field} does not apply to {} tokens",
            kind.as_str()
        )))
    } else {
        Ok(())
    }
}

pub(in crate::service) fn required(
    kind: MachineTokenKind,
    field: &str,
    value: Option<i64>,
) -> Result<i64, Error> {
    value.ok_or_else(|| {
        Error::InvalidInput(format!("{field} is required for {} tokens", kind.as_str()))
    })
}

/// A required field of `kind` within `min..=max`.
fn required_in_range(
    kind: MachineTokenKind,
    field: &str,
    value: Option<i64>,
    min: i64,
    max: i64,
) -> Result<i64, Error> {
    in_range(field, required(kind, field, value)?, min, max)
}

/// A bootstrap token's terms are fixed: every field that would set them is refused.
fn refuse_bootstrap_fields(spec: &MachineTokenSpec) -> Result<(), Error> {
    let kind = spec.kind;
    refuse_field(kind, "lifetime_seconds", spec.lifetime_seconds.is_some())?;
    refuse_field(kind, "max_uses", spec.max_uses.is_some())?;
    refuse_field(
        kind,
        "machine_lifetime_seconds",
        spec.machine_lifetime_seconds.is_some(),
    )?;
    refuse_field(kind, "guardrails", spec.guardrails.is_some())
}

/// An enrollment token's (lifetime, uses, machine lifetime), all required.
fn enrollment_terms(spec: &MachineTokenSpec) -> Result<(i64, i64, i64), Error> {
    let kind = spec.kind;
    refuse_field(kind, "guardrails", spec.guardrails.is_some())?;
    let lifetime = required_in_range(
        kind,
        "lifetime_seconds",
        spec.lifetime_seconds,
        MIN_LIFETIME_SECS,
        MAX_LIFETIME_SECS,
    )?;
    let uses = required_in_range(kind, "max_uses", spec.max_uses, 1, MAX_ENROLLMENT_USES)?;
    let machine = required_in_range(
        kind,
        "machine_lifetime_seconds",
        spec.machine_lifetime_seconds,
        MIN_LIFETIME_SECS,
        MAX_LIFETIME_SECS,
    )?;
    Ok((lifetime, uses, machine))
}

/// A temporary token's (lifetime, machine lifetime); it enrolls one machine, and its
/// guardrails must be valid.
fn temporary_terms(spec: &MachineTokenSpec) -> Result<(i64, i64), Error> {
    let kind = spec.kind;
    if spec.max_uses.is_some_and(|n| n != 1) {
        return Err(Error::InvalidInput(
            "a temporary token enrolls exactly one machine (max_uses 1)".into(),
        ));
    }
    let lifetime = spec
        .lifetime_seconds
        .unwrap_or(DEFAULT_TEMPORARY_TOKEN_SECS);
    let lifetime = in_range(
        "lifetime_seconds",
        lifetime,
        MIN_LIFETIME_SECS,
        MAX_LIFETIME_SECS,
    )?;
    let machine = required_in_range(
        kind,
        "machine_lifetime_seconds",
        spec.machine_lifetime_seconds,
        MIN_TEMPORARY_LIFETIME_SECS,
        MAX_LIFETIME_SECS,
    )?;
    if let Some(guardrails) = &spec.guardrails {
        guardrails.validate().map_err(Error::InvalidInput)?;
    }
    Ok((lifetime, machine))
}

impl Service {
    /// The lifetimes and limits of a new token, by kind: (expires_at, max_uses,
    /// machine_lifetime_seconds).
    fn token_terms(&self, spec: &MachineTokenSpec) -> Result<(i64, i64, Option<i64>), Error> {
        let now = self.now();
        match spec.kind {
            MachineTokenKind::Bootstrap => {
                refuse_bootstrap_fields(spec)?;
                Ok((now + micros(self.settings.bootstrap_token_ttl), 1, None))
            }
            MachineTokenKind::Enrollment => {
                let (lifetime, uses, machine) = enrollment_terms(spec)?;
                Ok((now + secs_to_micros(lifetime), uses, Some(machine)))
            }
            MachineTokenKind::Temporary => {
                let (lifetime, machine) = temporary_terms(spec)?;
                Ok((now + secs_to_micros(lifetime), 1, Some(machine)))
            }
            // Bundle tokens are made by provisioning only, never asked for.
            MachineTokenKind::Bundle => Err(Error::InvalidInput(
                "kind must be bootstrap, enrollment or temporary".into(),
            )),
        }
    }

    /// `POST /v1/machine-tokens`: a bootstrap, enrollment or temporary token, shown once.
    pub async fn create_machine_token(
        &self,
        ctx: &Ctx<'_>,
        spec: MachineTokenSpec,
    ) -> Result<CreatedMachineToken, Error> {
        let object = format!("machine-token/{}", spec.name);
        self.mutation(
            ctx,
            &catalogue::CREATE_MACHINE_TOKEN,
            "",
            Some(&object),
            |event| async move {
                check_display_name("token", &spec.name)?;
                let (expires_at, max_uses, machine_lifetime) = self.token_terms(&spec)?;
                let flags = Self::machine_flags(spec.flags.clone())?;
                let grants = self.checked_grants(ctx.caller, &spec.grants).await?;
                let (token, mut stored) = self
                    .issue_machine_token(
                        ctx.caller,
                        spec.kind,
                        &spec.name,
                        expires_at,
                        max_uses,
                        self.now(),
                    )
                    .await?;
                let row = &mut stored.record;
                row.flags = flags.as_map().clone();
                row.grants = grants;
                row.machine_lifetime_seconds = machine_lifetime;
                row.guardrails = spec.guardrails.clone();
                self.store.create_machine_token(&stored, &event).await?;
                Ok(CreatedMachineToken {
                    row: stored.record,
                    token,
                })
            },
        )
        .await
    }

    /// `GET /v1/machine-tokens`: the account's enrollment tokens (bundle links excluded).
    pub async fn list_machine_tokens(&self, ctx: &Ctx<'_>) -> Result<Vec<MachineTokenRow>, Error> {
        self.read(ctx, &catalogue::LIST_MACHINE_TOKENS, "", None, async {
            let mut rows = self.store.machine_tokens(&ctx.caller.account_id).await?;
            rows.retain(|t| t.kind != MachineTokenKind::Bundle);
            Ok(rows)
        })
        .await
    }

    /// `DELETE /v1/machine-tokens/{id}`: the token stops enrolling at once.
    pub async fn disable_machine_token(
        &self,
        ctx: &Ctx<'_>,
        id: &MachineTokenId,
    ) -> Result<(), Error> {
        let object = format!("machine-token/{id}");
        self.mutation(
            ctx,
            &catalogue::DISABLE_MACHINE_TOKEN,
            "",
            Some(&object),
            |event| async move {
                let found = self
                    .store
                    .machine_token(id)
                    .await?
                    .map(|t| t.record)
                    .filter(|t| {
                        t.account_id == ctx.caller.account_id && t.kind != MachineTokenKind::Bundle
                    })
                    .ok_or_else(|| Error::NotFound(format!("machine token {id}")))?;
                if !self
                    .store
                    .disable_machine_token(&found.id, self.now(), &event)
                    .await?
                {
                    return Err(Error::Conflict(format!(
                        "machine token {id} is already disabled"
                    )));
                }
                Ok(())
            },
        )
        .await
    }
}
