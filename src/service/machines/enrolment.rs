//! Enrolment: a machine registers its public key with a token; a provisioned machine's
//! bundle is downloaded once.

use super::*;
use crate::ids::AccountId;

impl Service {
    /// Records the outcome of a request made with a machine token instead of a credential
    /// (registration, bundle download), in the token's account when it is known.
    async fn token_request_outcome<T>(
        &self,
        meta: &RequestMeta,
        action: &str,
        account: Option<&AccountId>,
        object: &str,
        result: Result<T, Error>,
    ) -> Result<T, Error> {
        if result.is_ok() && meta.is_audited() {
            return result;
        }
        let mut event = self.event(
            meta,
            None,
            action,
            Some(object),
            result.as_ref().map(|_| ()),
        );
        event.account_id = account.cloned();
        self.record(meta, event).await?;
        result
    }

    /// `POST /v1/machines/register`: a machine presents a bootstrap, enrollment or temporary
    /// token and its public key. Enrollment machines are approved at once; the others wait
    /// for an owner.
    pub async fn register_machine(
        &self,
        meta: &RequestMeta,
        token_text: &str,
        public_key: &str,
        name: Option<&str>,
    ) -> Result<MachineRow, Error> {
        let token = match self.presented_token(token_text).await {
            Ok(row) => row,
            Err(e) => {
                return self
                    .token_request_outcome(
                        meta,
                        catalogue::REGISTER_MACHINE.audit_action(),
                        None,
                        "machine",
                        Err(e),
                    )
                    .await;
            }
        };
        let account = token.account_id.clone();
        let object = format!("machine-token/{}", token.id);
        let result = self.enroll(meta, &token, public_key, name).await;
        self.token_request_outcome(
            meta,
            catalogue::REGISTER_MACHINE.audit_action(),
            Some(&account),
            &object,
            result,
        )
        .await
    }

    pub(in crate::service) async fn enroll(
        &self,
        meta: &RequestMeta,
        token: &MachineTokenRow,
        public_key: &str,
        name: Option<&str>,
    ) -> Result<MachineRow, Error> {
        let now = self.now();
        let origin = token.kind.enrolled_origin().ok_or(Error::Unauthenticated)?;
        let usable =
            token.disabled_at.is_none() && token.expires_at > now && token.uses < token.max_uses;
        if !usable {
            return Err(Error::Unauthenticated);
        }
        let public_key = parse_public_key(public_key)?;
        let machine = enrolled_machine(token, origin, public_key, name, now)?;
        let app = machine_app(&machine, token.grants.clone());
        let mut event = self.event(
            meta,
            None,
            catalogue::REGISTER_MACHINE.audit_action(),
            Some(&format!("machine/{}", machine.id)),
            Ok(()),
        );
        event.account_id = Some(token.account_id.clone());
        event.principal = Some(machine.id.to_string());
        event.identity = Some(Identity::Verified);
        let enrollment = MachineEnrollment::WithToken {
            token_id: &token.id,
            now,
        };
        self.store
            .create_machine(&app, &machine, enrollment, &event)
            .await
            .map_err(|e| match e {
                // The token was used up or disabled meanwhile: the same as an unusable token.
                crate::store::StoreError::Conflict(crate::store::Conflict::TokenUnusable) => {
                    Error::Unauthenticated
                }
                other => other.into(),
            })?;
        meta.mark_audited();
        Ok(machine)
    }

    /// `POST /v1/machines/bundle`: the single download of a provisioned machine's bundle.
    /// After it, the server holds only the public key.
    pub async fn download_bundle(
        &self,
        meta: &RequestMeta,
        token_text: &str,
    ) -> Result<MachineBundle, Error> {
        let token = match self.presented_token(token_text).await {
            Ok(row) if row.kind == MachineTokenKind::Bundle => row,
            Ok(_) | Err(Error::Unauthenticated) => {
                return self
                    .token_request_outcome(
                        meta,
                        catalogue::DOWNLOAD_BUNDLE.audit_action(),
                        None,
                        "machine",
                        Err(Error::Unauthenticated),
                    )
                    .await;
            }
            Err(e) => return Err(e),
        };
        let machine_id = token.machine_id.as_deref().unwrap_or_default();
        let object = format!("machine/{machine_id}");
        let result = self.take_bundle(meta, &token, token_text, &object).await;
        self.token_request_outcome(
            meta,
            catalogue::DOWNLOAD_BUNDLE.audit_action(),
            Some(&token.account_id),
            &object,
            result,
        )
        .await
    }

    async fn take_bundle(
        &self,
        meta: &RequestMeta,
        token: &MachineTokenRow,
        token_text: &str,
        object: &str,
    ) -> Result<MachineBundle, Error> {
        let mut event = self.event(
            meta,
            None,
            catalogue::DOWNLOAD_BUNDLE.audit_action(),
            Some(object),
            Ok(()),
        );
        event.account_id = Some(token.account_id.clone());
        let sealed = self
            .store
            .take_bundle(&token.id, self.now(), &event)
            .await?
            .ok_or(Error::Unauthenticated)?;
        meta.mark_audited();
        crate::crypto::bundle::open(token_text.trim().as_bytes(), &token.id, &sealed)
            .ok_or_else(|| Error::Internal("a stored machine bundle does not open".into()))
    }
}

/// The machine of `origin` a usable token enrolls: approved at once by an enrollment token
/// (its lifetime starting now), pending otherwise (a temporary machine's lifetime starts at
/// approval).
fn enrolled_machine(
    token: &MachineTokenRow,
    origin: MachineOrigin,
    public_key: Vec<u8>,
    name: Option<&str>,
    now: i64,
) -> Result<MachineRow, Error> {
    let mut machine = new_machine(
        &token.account_id,
        "",
        public_key,
        origin,
        token.flags.clone(),
        now,
    );
    let id = &machine.id;
    machine.name = match name {
        Some(name) => name.to_owned(),
        None => format!("{}-{}", token.name, &id[id.len() - 8..]),
    };
    check_display_name("machine", &machine.name)?;
    let lifetime = token.machine_lifetime_seconds;
    let approved = origin == MachineOrigin::Enrollment;
    if !approved {
        machine.status = MachineStatus::Pending;
        machine.approved_at = None;
    }
    machine.lifetime_seconds = lifetime.filter(|_| origin == MachineOrigin::Temporary);
    machine.expires_at = lifetime
        .filter(|_| approved)
        .map(|secs| now + secs_to_micros(secs));
    machine.guardrails = token.guardrails.clone();
    machine.token_id = Some(token.id.clone());
    Ok(machine)
}
