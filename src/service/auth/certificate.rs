//! TLS client certificates: the app bound to a certificate chain.

use super::*;
use crate::ids::{AccountId, AppId, CaId};

/// How strongly a binding ties a certificate to its app, weakest first. Only the strongest
/// matches of a certificate count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Evidence {
    /// Anyone who saw the certificate could have made the binding.
    Unproven,
    /// A rule under a CA whose key holder proved it: that holder issued the certificate.
    ProvenIssuer,
    /// The certificate itself, proven by the holder of its own key.
    ProvenCertificate,
}

/// Whether a CA-issued certificate satisfies a binding's subject and SAN rules (both, when
/// both are given; exact matches).
fn rule_matches(binding: &AppCertificateRow, cert: &CertificateInfo) -> bool {
    let subject_ok = binding.subject.as_ref().is_none_or(|s| *s == cert.subject);
    let san_ok = binding
        .san
        .as_ref()
        .is_none_or(|san| cert.subject_alt_names.iter().any(|n| n == san));
    subject_ok && san_ok
}

impl Service {
    /// A TLS client certificate chain (end entity first) → the app bound to it. Expired,
    /// not yet valid, revoked, unknown and ambiguous certificates are all `Unauthenticated`.
    ///
    /// Every binding that matches is collected, in every account, with its evidence;
    /// only the strongest count. So an unproven binding never competes with a proven one,
    /// and a rule under a proven CA never competes with a proven pin of the certificate
    /// itself (the CA's key holder issued the certificate but does not hold its key). A
    /// certificate, leaf or CA, can be proven in one account only, so proven matches of one
    /// strength are in one account, unless two accounts hold the keys of two CAs on the
    /// certificate's chain (its issuer and a CA above it). Without proven matches it is as
    /// before proofs existed: matches in more than one app are ambiguous.
    pub async fn authenticate_certificate(&self, chain: &[Vec<u8>]) -> Result<Caller, Error> {
        let end_entity = chain.first().ok_or(Error::Unauthenticated)?;
        let cert = parse_certificates(end_entity)
            .ok()
            .and_then(|mut certs| certs.pop())
            .ok_or(Error::Unauthenticated)?;
        let now_secs = self.now() / 1_000_000;
        if now_secs < cert.not_before || now_secs > cert.not_after {
            return Err(Error::Unauthenticated);
        }
        let issuers = self.store.trusted_cas_by_subject(&cert.issuer).await?;
        let now = u64::try_from(now_secs).unwrap_or_default();
        let verified: Vec<&TrustedCaRow> = issuers
            .iter()
            .filter(|ca| verifies_to(chain, &ca.der, now))
            .collect();
        let ca_ids: Vec<CaId> = verified.iter().map(|ca| ca.id.clone()).collect();
        let bindings = self
            .store
            .certificate_bindings(&cert.fingerprint, &ca_ids)
            .await?;
        let [(account_id, app_id)] = strongest_apps(&bindings, &cert, &verified)[..] else {
            return Err(Error::Unauthenticated);
        };
        if self.store.is_revoked(account_id, &cert.fingerprint).await? {
            return Err(Error::Unauthenticated);
        }
        let credential = Credential {
            method: AuthMethod::ClientCertificate,
            id: format!("sha256:{}", cert.fingerprint),
            flags: Flags::everything(),
        };
        self.app_caller(account_id, app_id, credential).await
    }
}

/// How strongly `binding` ties `cert` to its app; `None` if the certificate does not satisfy
/// it (another pinned certificate, a CA that did not verify the chain, a rule that fails).
fn evidence(
    binding: &AppCertificateRow,
    cert: &CertificateInfo,
    verified: &[&TrustedCaRow],
) -> Option<Evidence> {
    if binding.kind == AppCertificateKind::Pinned {
        if binding.fingerprint.as_deref() != Some(cert.fingerprint.as_str()) {
            return None;
        }
        return Some(if binding.proven {
            Evidence::ProvenCertificate
        } else {
            Evidence::Unproven
        });
    }
    let ca = verified
        .iter()
        .find(|ca| Some(&ca.id) == binding.ca_id.as_ref() && ca.account_id == binding.account_id)?;
    if !rule_matches(binding, cert) {
        return None;
    }
    Some(if ca.proven {
        Evidence::ProvenIssuer
    } else {
        Evidence::Unproven
    })
}

/// The distinct (account, app) pairs of the strongest bindings `cert` satisfies.
fn strongest_apps<'b>(
    bindings: &'b [AppCertificateRow],
    cert: &CertificateInfo,
    verified: &[&TrustedCaRow],
) -> Vec<(&'b AccountId, &'b AppId)> {
    let matches: Vec<(Evidence, &AccountId, &AppId)> = bindings
        .iter()
        .filter_map(|b| {
            let evidence = evidence(b, cert, verified)?;
            Some((evidence, &b.account_id, &b.app_id))
        })
        .collect();
    let strongest = matches.iter().map(|(evidence, _, _)| *evidence).max();
    let mut apps: Vec<(&AccountId, &AppId)> = matches
        .into_iter()
        .filter(|(evidence, _, _)| Some(*evidence) == strongest)
        .map(|(_, account, app)| (account, app))
        .collect();
    apps.sort_unstable();
    apps.dedup();
    apps
}
