//! Provisioning: a machine whose key pair is made here, handed over once in a sealed bundle.

use super::*;

impl Service {
    /// `POST /v1/machines`: an approved machine whose key pair is made here, once; the
    /// private key leaves only in the bundle, sealed under the download token.
    pub async fn provision_machine(
        &self,
        ctx: &Ctx<'_>,
        spec: ProvisionSpec,
    ) -> Result<Provisioned, Error> {
        let object = format!("machine/{}", spec.name);
        self.mutation(
            ctx,
            &catalogue::PROVISION_MACHINE,
            "",
            Some(&object),
            |event| async move {
                check_display_name("machine", &spec.name)?;
                let flags = Self::machine_flags(spec.flags.clone())?;
                let grants = self.checked_grants(ctx.caller, &spec.grants).await?;
                let now = self.now();
                let expires_at = spec
                    .expires_at
                    .as_deref()
                    .map(|text| Self::requested_expiry(text, now))
                    .transpose()?;
                let (private_pem, public_key) = crate::crypto::generate_ed25519();
                let id = new_id("mch");
                let token_id = new_id("mtk");
                let bundle_token = MachineToken::generate(&token_id);
                let bundle = serde_json::json!({
                    "machine_id": id,
                    "account_id": ctx.caller.account_id,
                    "private_key_pem": private_pem.as_str(),
                });
                let plaintext = Zeroizing::new(
                    serde_json::to_vec(&bundle).map_err(|e| Error::Internal(Box::new(e)))?,
                );
                drop(bundle);
                let key = crate::crypto::bundle_key(&bundle_token.digest_input());
                let nonce = crate::crypto::random_nonce();
                let mut sealed = nonce.to_vec();
                sealed.extend(crate::crypto::seal(
                    &key,
                    nonce,
                    token_id.as_bytes(),
                    &plaintext,
                ));
                let digest = self
                    .hsm
                    .hmac_sha256(APIKEY_PEPPER_LABEL, bundle_token.digest_input())
                    .await?;
                let bundle_expires_at = now + micros(self.settings.bundle_ttl);
                let token_row = MachineTokenRow {
                    id: token_id,
                    account_id: ctx.caller.account_id.clone(),
                    kind: "bundle".into(),
                    name: spec.name.clone(),
                    digest: digest.to_vec(),
                    created_by: ctx.caller.principal_id.clone(),
                    created_at: now,
                    expires_at: bundle_expires_at,
                    max_uses: 1,
                    uses: 0,
                    flags_json: "{}".into(),
                    grants_json: "{}".into(),
                    machine_lifetime_seconds: None,
                    guardrails_json: None,
                    machine_id: Some(id.clone()),
                    sealed_bundle: Some(sealed),
                    disabled_at: None,
                };
                let machine = MachineRow {
                    id: id.clone(),
                    account_id: ctx.caller.account_id.clone(),
                    name: spec.name.clone(),
                    public_key: public_key.to_vec(),
                    origin: "provisioned".into(),
                    status: "approved".into(),
                    enabled: true,
                    flags_json: flags_json(&flags)?,
                    created_at: now,
                    approved_at: Some(now),
                    lifetime_seconds: None,
                    expires_at,
                    previous_expires_at: None,
                    guardrails_json: None,
                    token_id: None,
                    disabled_at: None,
                };
                let app = AppRow {
                    id,
                    account_id: ctx.caller.account_id.clone(),
                    name: spec.name.clone(),
                    groups: grants.keys().cloned().collect(),
                    operations: grants,
                    enabled: true,
                    created_at: now,
                };
                let enrollment = MachineEnrollment::Provisioned { bundle: &token_row };
                self.store
                    .create_machine(&app, &machine, enrollment, &event)
                    .await?;
                Ok(Provisioned {
                    machine,
                    bundle_token,
                    bundle_expires_at,
                })
            },
        )
        .await
    }
}
