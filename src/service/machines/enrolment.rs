//! Enrolment: a machine registers its public key with a token; a provisioned machine's
//! bundle is downloaded once.

use super::*;

impl Service {
    /// Records the outcome of a request made with a machine token instead of a credential
    /// (registration, bundle download), in the token's account when it is known.
    pub(in crate::service) async fn token_request_outcome<T>(
        &self,
        meta: &RequestMeta,
        action: &str,
        account: Option<&str>,
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
        event.account_id = account.map(str::to_owned);
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
                    .token_request_outcome(meta, "machine.register", None, "machine", Err(e))
                    .await;
            }
        };
        let account = token.account_id.clone();
        let object = format!("machine-token/{}", token.id);
        let result = self.enroll(meta, &token, public_key, name).await;
        self.token_request_outcome(meta, "machine.register", Some(&account), &object, result)
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
        let kind = MachineTokenKind::parse(&token.kind).ok_or(Error::Unauthenticated)?;
        let usable =
            token.disabled_at.is_none() && token.expires_at > now && token.uses < token.max_uses;
        if !usable {
            return Err(Error::Unauthenticated);
        }
        let public_key = parse_public_key(public_key)?;
        let id = new_id("mch");
        let name = match name {
            Some(name) => name.to_owned(),
            None => format!("{}-{}", token.name, &id[id.len() - 8..]),
        };
        check_display_name("machine", &name)?;
        let grants: BTreeMap<String, Vec<String>> =
            serde_json::from_str(&token.grants_json).map_err(|e| Error::Internal(Box::new(e)))?;
        let lifetime = token.machine_lifetime_seconds;
        let approved = kind == MachineTokenKind::Enrollment;
        let machine = MachineRow {
            id: id.clone(),
            account_id: token.account_id.clone(),
            name: name.clone(),
            public_key,
            origin: kind.as_str().to_owned(),
            status: if approved { "approved" } else { "pending" }.to_owned(),
            enabled: true,
            flags_json: token.flags_json.clone(),
            created_at: now,
            approved_at: approved.then_some(now),
            lifetime_seconds: lifetime.filter(|_| kind == MachineTokenKind::Temporary),
            expires_at: lifetime
                .filter(|_| approved)
                .map(|secs| now + secs_to_micros(secs)),
            previous_expires_at: None,
            guardrails_json: token.guardrails_json.clone(),
            token_id: Some(token.id.clone()),
            disabled_at: None,
        };
        let app = AppRow {
            id,
            account_id: token.account_id.clone(),
            name,
            groups: grants.keys().cloned().collect(),
            operations: grants,
            enabled: true,
            created_at: now,
        };
        let mut event = self.event(
            meta,
            None,
            "machine.register",
            Some(&format!("machine/{}", machine.id)),
            Ok(()),
        );
        event.account_id = Some(token.account_id.clone());
        event.principal = Some(machine.id.clone());
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
                crate::store::StoreError::Conflict(what) if what.starts_with("the token") => {
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
            Ok(row) if row.kind == "bundle" => row,
            Ok(_) | Err(Error::Unauthenticated) => {
                return self
                    .token_request_outcome(
                        meta,
                        "machine.bundle.download",
                        None,
                        "machine",
                        Err(Error::Unauthenticated),
                    )
                    .await;
            }
            Err(e) => return Err(e),
        };
        let machine_id = token.machine_id.clone().unwrap_or_default();
        let object = format!("machine/{machine_id}");
        let result = self.take_bundle(meta, &token, token_text, &object).await;
        self.token_request_outcome(
            meta,
            "machine.bundle.download",
            Some(&token.account_id),
            &object,
            result,
        )
        .await
    }

    pub(in crate::service) async fn take_bundle(
        &self,
        meta: &RequestMeta,
        token: &MachineTokenRow,
        token_text: &str,
        object: &str,
    ) -> Result<MachineBundle, Error> {
        let mut event = self.event(meta, None, "machine.bundle.download", Some(object), Ok(()));
        event.account_id = Some(token.account_id.clone());
        let sealed = self
            .store
            .take_bundle(&token.id, self.now(), &event)
            .await?
            .ok_or(Error::Unauthenticated)?;
        meta.mark_audited();
        let unreadable = || Error::Internal("a stored machine bundle does not open".into());
        if sealed.len() < 12 {
            return Err(unreadable());
        }
        let (nonce, ciphertext) = sealed.split_at(12);
        let key = crate::crypto::bundle_key(token_text.trim().as_bytes());
        let plaintext = crate::crypto::open(
            &key,
            nonce.try_into().expect("12 bytes"),
            token.id.as_bytes(),
            ciphertext,
        )
        .map_err(|_| unreadable())?;
        #[derive(serde::Deserialize)]
        struct Stored {
            machine_id: String,
            account_id: String,
            private_key_pem: SecretString,
        }
        let stored: Stored = serde_json::from_slice(&plaintext).map_err(|_| unreadable())?;
        Ok(MachineBundle {
            machine_id: stored.machine_id,
            account_id: stored.account_id,
            private_key_pem: stored.private_key_pem,
        })
    }
}
