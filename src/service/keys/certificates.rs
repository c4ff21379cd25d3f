//! A key's certificates: signing requests made in the HSM, imported certificates.

use super::usage::{finish_signature, token_input};
use super::*;
use crate::ids::{AccountId, CertificateId, KeyId};

/// PEM of one DER certificate.
pub fn certificate_pem(der: &[u8]) -> String {
    use base64::Engine;
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for line in body.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    pem
}

fn certificate_row(
    account_id: &AccountId,
    key_id: &KeyId,
    key_version: u32,
    leaf: &CertificateInfo,
    chain_pem: String,
    now: i64,
) -> CertificateRow {
    CertificateRow {
        id: new_id("crt"),
        account_id: account_id.to_owned(),
        key_id: key_id.to_owned(),
        key_version,
        der: leaf.der.clone(),
        chain_pem,
        subject: leaf.subject.clone(),
        issuer: leaf.issuer.clone(),
        serial: leaf.serial.clone(),
        not_before: leaf.not_before,
        not_after: leaf.not_after,
        subject_alt_names: leaf.subject_alt_names.clone(),
        key_usage: leaf.key_usage.clone(),
        is_ca: leaf.is_ca,
        fingerprint: leaf.fingerprint.clone(),
        created_at: now,
    }
}

impl Service {
    /// A PKCS#10 request for the key's current version, signed inside the HSM.
    pub async fn csr(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        subject: CsrSubject,
    ) -> Result<(String, u32), Error> {
        self.read(ctx, &catalogue::CSR, name, Some(&object(name)), async {
            let state = self.load_key(ctx.caller, name, &catalogue::CSR).await?;
            state.usable()?;
            if !state.row.can_sign {
                return Err(Error::UsageNotAllowed(format!(
                    "key {name} cannot sign, so it cannot sign a certificate request"
                )));
            }
            subject.validate().map_err(Error::InvalidInput)?;
            let (version, public) = state.current()?;
            let pem = self
                .build_csr(&state, version, public.clone(), subject)
                .await?;
            Ok((pem, version.version))
        })
        .await
    }

    /// rcgen asks for the signature synchronously, so the request is built on a blocking
    /// thread that waits for the HSM through the runtime.
    async fn build_csr(
        &self,
        state: &KeyState,
        version: &KeyVersionRow,
        public: PublicKey,
        subject: CsrSubject,
    ) -> Result<String, Error> {
        let scheme = x509::csr_scheme(state.algorithm);
        let label = token_label(version)?.to_owned();
        let hsm = Arc::clone(&self.hsm);
        let runtime = tokio::runtime::Handle::current();
        let built = tokio::task::spawn_blocking(move || {
            let sign = |tbs: &[u8]| -> Result<Vec<u8>, String> {
                let data = SignedData::Message(tbs.to_vec()).digest_for(scheme)?;
                let mechanism = SignMechanism::for_scheme(scheme);
                let raw = runtime
                    .block_on(hsm.sign(&label, mechanism, token_input(scheme, data)))
                    .map_err(|e| {
                        tracing::warn!(error = %e, "HSM signing of a CSR failed");
                        e.to_string()
                    })?;
                finish_signature(scheme, raw, EcdsaEncoding::Der)
            };
            x509::build_csr(&public, &subject, &sign)
        })
        .await
        .map_err(|e| Error::Internal(Box::new(e)))?;
        built.map_err(|e| Error::InvalidInput(format!("the request could not be built: {e}")))
    }

    /// Imports a certificate (with its chain) for one of the key's versions.
    pub async fn import_certificate(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        bundle: Result<Vec<u8>, Error>,
    ) -> Result<CertificateRow, Error> {
        self.mutation(
            ctx,
            &catalogue::IMPORT_CERTIFICATE,
            name,
            Some(&object(name)),
            |event| async move {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::IMPORT_CERTIFICATE)
                    .await?;
                // Decoding errors surface only after authorization, like every body error.
                let bundle = bundle?;
                let certificates = x509::parse_certificates(&bundle)
                    .map_err(|e| Error::InvalidInput(format!("certificate: {e}")))?;
                let linked = certificates.iter().enumerate().find_map(|(i, cert)| {
                    let fingerprint = cert.public_key.as_ref()?.fingerprint();
                    let (version, _) = state
                        .versions
                        .iter()
                        .find(|(v, _)| v.fingerprint == fingerprint)?;
                    Some((i, version.version))
                });
                let Some((leaf_index, key_version)) = linked else {
                    return Err(Error::Conflict(format!(
                        "no certificate in the bundle certifies a public key of key {name}; \
                     a certificate can only be imported for the key it was issued to"
                    )));
                };
                let chain_pem: String = certificates
                    .iter()
                    .enumerate()
                    .filter(|(i, _)| *i != leaf_index)
                    .map(|(_, c)| certificate_pem(&c.der))
                    .collect();
                let row = certificate_row(
                    &ctx.caller.account_id,
                    &state.row.id,
                    key_version,
                    &certificates[leaf_index],
                    chain_pem,
                    self.now(),
                );
                self.store.add_certificate(&row, &event).await?;
                Ok(row)
            },
        )
        .await
    }

    pub async fn key_certificates(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
    ) -> Result<Vec<CertificateRow>, Error> {
        self.read(
            ctx,
            &catalogue::KEY_CERTIFICATES,
            name,
            Some(&object(name)),
            async {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::KEY_CERTIFICATES)
                    .await?;
                Ok(self.store.certificates(&state.row.id).await?)
            },
        )
        .await
    }

    pub async fn delete_certificate(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        id: &CertificateId,
    ) -> Result<(), Error> {
        self.mutation(
            ctx,
            &catalogue::DELETE_KEY_CERTIFICATE,
            name,
            Some(&object(name)),
            |event| async move {
                let state = self
                    .load_key(ctx.caller, name, &catalogue::DELETE_KEY_CERTIFICATE)
                    .await?;
                if self
                    .store
                    .delete_certificate(&state.row.id, id, &event)
                    .await?
                {
                    Ok(())
                } else {
                    Err(Error::NotFound(format!("certificate {id} of key {name}")))
                }
            },
        )
        .await
    }
}
