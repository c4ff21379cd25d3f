//! Provisioning: a machine whose key pair is made here, handed over once in a sealed bundle.

use super::*;
use crate::crypto::bundle;

impl Service {
    /// `POST /v1/machines`: an approved machine whose key pair is made here, once; the
    /// private key leaves only in the bundle, sealed under the download token.
    pub async fn provision_machine(
        &self,
        ctx: &Ctx<'_>,
        spec: ProvisionSpec,
    ) -> Result<Provisioned, Error> {
        let object = format!("machine/{}", spec.name);
        let op = &catalogue::PROVISION_MACHINE;
        self.mutation(ctx, op, "", Some(&object), |event| async move {
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
            let mut machine = new_machine(
                &ctx.caller.account_id,
                &spec.name,
                public_key.to_vec(),
                MachineOrigin::Provisioned,
                flags.as_map().clone(),
                now,
            );
            machine.expires_at = expires_at;
            let (bundle_token, token_row) = self
                .bundle_token(ctx.caller, &machine, &private_pem, now)
                .await?;
            let app = machine_app(&machine, grants);
            let enrollment = MachineEnrollment::Provisioned { bundle: &token_row };
            self.store
                .create_machine(&app, &machine, enrollment, &event)
                .await?;
            Ok(Provisioned {
                machine,
                bundle_token,
                bundle_expires_at: token_row.record.expires_at,
            })
        })
        .await
    }

    /// The single-use token that downloads `machine`'s bundle, and its row holding the
    /// bundle sealed under it.
    async fn bundle_token(
        &self,
        caller: &Caller,
        machine: &MachineRow,
        private_pem: &str,
        now: i64,
    ) -> Result<(MachineToken, crate::store::Credential<MachineTokenRow>), Error> {
        let expires_at = now + micros(self.settings.bundle_ttl);
        let (token, mut stored) = self
            .issue_machine_token(
                caller,
                MachineTokenKind::Bundle,
                &machine.name,
                expires_at,
                1,
                now,
            )
            .await?;
        let bundle = MachineBundle {
            machine_id: machine.id.to_string(),
            account_id: machine.account_id.to_string(),
            private_key_pem: SecretString::from(private_pem),
        };
        let row = &mut stored.record;
        row.machine_id = Some(machine.id.clone());
        row.sealed_bundle = Some(bundle::seal(&token.digest_input(), &row.id, &bundle));
        Ok((token, stored))
    }
}
