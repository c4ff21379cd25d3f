//! TLS client certificates as app credentials: trusted CAs, bindings (a pinned certificate,
//! or a trusted CA plus a subject/SAN rule) and the revocation list. Authenticating with a
//! certificate is in [`super::auth`].
//!
//! A certificate is public (every handshake sends it), so binding one proves nothing about
//! who holds its key. A pinned binding or a trusted CA registered with a proof of
//! possession ([`crate::crypto::possession`]) is **proven**, and so is every CA rule under a
//! proven CA. When a certificate matches a proven binding, unproven ones do not count (and a
//! proven pin beats a rule under a proven CA): an account that binds someone else's
//! certificate without its key cannot take it over or lock its owner out.

use super::{Ctx, Error, Service, new_id};
use crate::catalogue;
use crate::crypto::possession;
use crate::crypto::x509::{CertificateInfo, parse_certificates};
use crate::ids::{AccountId, AppCertificateId, AppId};
use crate::store::{AppCertificateKind, AppCertificateRow, RevocationRow, TrustedCaRow};

/// A proof of possession: a signature by a certificate's private key over
/// [`possession::message`] for the caller's account. Not a secret, but kept out of `Debug`
/// all the same.
#[derive(Clone)]
pub struct PossessionProof(pub Vec<u8>);

impl std::fmt::Debug for PossessionProof {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PossessionProof({} bytes)", self.0.len())
    }
}

/// How an app is bound to client certificates.
#[derive(Debug, Clone)]
pub enum CertificateBinding {
    /// Exactly this certificate (PEM or DER); proven when `proof` verifies.
    Pinned {
        certificate: Vec<u8>,
        proof: Option<PossessionProof>,
    },
    /// Exactly the certificate with this SHA-256 fingerprint (hex, colons allowed). There is
    /// no public key to check a proof with, so it is always unproven.
    PinnedFingerprint { fingerprint: String },
    /// Any certificate issued under a trusted CA whose subject and/or SAN match.
    Issued {
        ca: String,
        subject: Option<String>,
        san: Option<String>,
    },
}

impl CertificateBinding {
    /// The kind of the binding row this makes.
    fn kind(&self) -> AppCertificateKind {
        match self {
            CertificateBinding::Pinned { .. } | CertificateBinding::PinnedFingerprint { .. } => {
                AppCertificateKind::Pinned
            }
            CertificateBinding::Issued { .. } => AppCertificateKind::Ca,
        }
    }
}

/// What to revoke: a certificate, or its SHA-256 fingerprint.
#[derive(Debug, Clone)]
pub enum RevocationTarget {
    Certificate(Vec<u8>),
    Fingerprint(String),
}

fn single_certificate(input: &[u8], what: &str) -> Result<CertificateInfo, Error> {
    let mut certs =
        parse_certificates(input).map_err(|e| Error::InvalidInput(format!("{what}: {e}")))?;
    if certs.len() != 1 {
        return Err(Error::InvalidInput(format!(
            "{what}: give exactly one certificate, not {}",
            certs.len()
        )));
    }
    Ok(certs.remove(0))
}

/// Checks a proof for `cert` in `account_id`: a 400 that names the problem when it does
/// not verify.
fn check_proof(
    cert: &CertificateInfo,
    account_id: &AccountId,
    proof: &PossessionProof,
) -> Result<(), Error> {
    possession::verify(cert, account_id, &proof.0)
        .map_err(|e| Error::InvalidInput(format!("proof: {e}")))
}

fn check_fingerprint(text: &str) -> Result<String, Error> {
    let hex: String = text
        .trim()
        .trim_start_matches("sha256:")
        .chars()
        .filter(|c| *c != ':')
        .collect::<String>()
        .to_lowercase();
    if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        Ok(hex)
    } else {
        Err(Error::InvalidInput(
            "fingerprint must be the SHA-256 of the certificate, 64 hex digits".into(),
        ))
    }
}

impl Service {
    /// Adds a CA whose certificates may authenticate apps bound to it; proven (and so are
    /// the CA rules under it) when `proof` verifies with the CA certificate's key.
    pub async fn add_trusted_ca(
        &self,
        ctx: &Ctx<'_>,
        name: &str,
        pem: &[u8],
        proof: Option<PossessionProof>,
    ) -> Result<TrustedCaRow, Error> {
        let object = format!("trusted-ca/{name}");
        self.mutation(
            ctx,
            &catalogue::ADD_TRUSTED_CA,
            "",
            Some(&object),
            |event| async move {
                super::tenancy::check_display_name("trusted CA", name)?;
                let cert = single_certificate(pem, "certificate")?;
                if !cert.is_ca {
                    return Err(Error::InvalidInput(
                        "this certificate is not a CA (basicConstraints CA:TRUE is missing)".into(),
                    ));
                }
                if let Some(proof) = &proof {
                    check_proof(&cert, &ctx.caller.account_id, proof)?;
                }
                let row = TrustedCaRow {
                    id: new_id("ca"),
                    account_id: ctx.caller.account_id.clone(),
                    name: name.to_owned(),
                    der: cert.der,
                    subject: cert.subject,
                    fingerprint: cert.fingerprint,
                    proven: proof.is_some(),
                    created_at: self.now(),
                };
                self.store.add_trusted_ca(&row, &event).await?;
                Ok(row)
            },
        )
        .await
    }

    pub async fn list_trusted_cas(&self, ctx: &Ctx<'_>) -> Result<Vec<TrustedCaRow>, Error> {
        self.read(ctx, &catalogue::LIST_TRUSTED_CAS, "", None, async {
            Ok(self.store.trusted_cas(&ctx.caller.account_id).await?)
        })
        .await
    }

    /// Binds an app to a client certificate.
    pub async fn bind_certificate(
        &self,
        ctx: &Ctx<'_>,
        app_id: &AppId,
        binding: CertificateBinding,
    ) -> Result<AppCertificateRow, Error> {
        let object = format!("app/{app_id}");
        self.mutation(
            ctx,
            &catalogue::BIND_CERTIFICATE,
            "",
            Some(&object),
            |event| async move {
                self.own_app(ctx.caller, app_id).await?;
                let mut row = AppCertificateRow {
                    id: new_id("acrt"),
                    account_id: ctx.caller.account_id.clone(),
                    app_id: app_id.to_owned(),
                    kind: binding.kind(),
                    fingerprint: None,
                    ca_id: None,
                    subject: None,
                    san: None,
                    not_after: None,
                    proven: false,
                    created_at: self.now(),
                };
                self.describe_binding(&mut row, binding, &ctx.caller.account_id)
                    .await?;
                self.store.add_app_certificate(&row, &event).await?;
                Ok(row)
            },
        )
        .await
    }

    /// Fills in what `binding` binds `row` to, and whether it is proven.
    async fn describe_binding(
        &self,
        row: &mut AppCertificateRow,
        binding: CertificateBinding,
        account_id: &AccountId,
    ) -> Result<(), Error> {
        match binding {
            CertificateBinding::Pinned { certificate, proof } => {
                let cert = single_certificate(&certificate, "certificate")?;
                if let Some(proof) = &proof {
                    check_proof(&cert, account_id, proof)?;
                }
                row.proven = proof.is_some();
                row.fingerprint = Some(cert.fingerprint);
                row.subject = Some(cert.subject);
                row.not_after = Some(cert.not_after);
            }
            CertificateBinding::PinnedFingerprint { fingerprint } => {
                row.fingerprint = Some(check_fingerprint(&fingerprint)?);
            }
            CertificateBinding::Issued { ca, subject, san } => {
                if subject.is_none() && san.is_none() {
                    return Err(Error::InvalidInput(
                        "a CA binding needs \"subject\" and/or \"san\" to match".into(),
                    ));
                }
                let trusted = self
                    .store
                    .trusted_cas(account_id)
                    .await?
                    .into_iter()
                    .find(|c| c.id == ca.as_str())
                    .ok_or_else(|| Error::NotFound(format!("trusted CA {ca}")))?;
                row.proven = trusted.proven;
                row.ca_id = Some(ca.into());
                row.subject = subject;
                row.san = san;
            }
        }
        Ok(())
    }

    /// Unbinds a certificate: it stops authenticating on its next request.
    pub async fn unbind_certificate(
        &self,
        ctx: &Ctx<'_>,
        app_id: &AppId,
        id: &AppCertificateId,
    ) -> Result<(), Error> {
        let object = format!("app/{app_id}/certificate/{id}");
        self.mutation(
            ctx,
            &catalogue::UNBIND_CERTIFICATE,
            "",
            Some(&object),
            |event| async move {
                self.own_app(ctx.caller, app_id).await?;
                if !self
                    .store
                    .delete_app_certificate(app_id, id, &event)
                    .await?
                {
                    return Err(Error::NotFound(format!("certificate {id} of app {app_id}")));
                }
                Ok(())
            },
        )
        .await
    }

    /// Adds a certificate to the account's revocation list.
    pub async fn revoke_certificate(
        &self,
        ctx: &Ctx<'_>,
        target: RevocationTarget,
        reason: Option<String>,
    ) -> Result<RevocationRow, Error> {
        self.mutation(
            ctx,
            &catalogue::REVOKE_CERTIFICATE,
            "",
            None,
            |event| async move {
                let fingerprint = match target {
                    RevocationTarget::Certificate(pem) => {
                        single_certificate(&pem, "certificate")?.fingerprint
                    }
                    RevocationTarget::Fingerprint(text) => check_fingerprint(&text)?,
                };
                let row = RevocationRow {
                    account_id: ctx.caller.account_id.clone(),
                    fingerprint,
                    reason,
                    revoked_at: self.now(),
                };
                let mut event = event;
                event.object = Some(format!("certificate/sha256:{}", row.fingerprint));
                self.store.revoke_certificate(&row, &event).await?;
                Ok(row)
            },
        )
        .await
    }

    pub async fn list_revocations(&self, ctx: &Ctx<'_>) -> Result<Vec<RevocationRow>, Error> {
        self.read(ctx, &catalogue::LIST_REVOCATIONS, "", None, async {
            Ok(self.store.revocations(&ctx.caller.account_id).await?)
        })
        .await
    }
}
