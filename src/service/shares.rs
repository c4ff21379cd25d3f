//! One-time shares: a user seals a value (pasted or generated) for a recipient without an
//! account, who opens it once with a generated passphrase. Opening it, a wrong passphrase,
//! expiry and a deletion all destroy it; each is one transaction with its audit event.
//!
//! The value's key needs both the HSM (the data key, wrapped by the group master key) and
//! the passphrase (stretched with Argon2id): see `crypto::shares`. Only users create and
//! open shares; apps and machines are refused (by the flag's audience when creating, here
//! when opening).

use super::keyrings::master_label;
use super::{Caller, Ctx, Error, RequestMeta, Service, new_id};
use crate::authz::PrincipalKind;
use crate::catalogue;
use crate::crypto::generate::{self, Charset};
use crate::crypto::shares as sealing;
use crate::crypto::{self, DataKey};
use crate::ids::{GroupId, ShareId};
use crate::store::{AuthMethod, SealedShareRow, ShareRow};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

/// The timer's bounds, in seconds: one minute to one day.
pub const SHARE_LIFETIMES: std::ops::RangeInclusive<u64> = 60..=86_400;
/// The largest value a share holds, in bytes.
pub const MAX_SHARE_VALUE_BYTES: usize = 64 * 1024;

/// How to generate a share's value.
#[derive(Debug, Clone, Default)]
pub struct GenerateSpec {
    pub length: Option<usize>,
    pub charset: Option<String>,
}

/// What a user asks for: exactly one of `value` and `generate`, checked by the service so
/// that a refusal is audited like any other.
pub struct ShareSpec {
    pub group: GroupId,
    pub value: Option<Zeroizing<String>>,
    pub generate: Option<GenerateSpec>,
    pub expires_in_seconds: u64,
}

/// A new share, with the passphrase shown this once.
pub struct CreatedShare {
    pub row: ShareRow,
    pub passphrase: Zeroizing<String>,
}

fn object(id: &ShareId) -> String {
    format!("share/{id}")
}

/// The value to seal: the one given, or one generated as asked.
fn share_value(spec: &ShareSpec) -> Result<Zeroizing<String>, Error> {
    match (&spec.value, &spec.generate) {
        (Some(value), None) => {
            if value.is_empty() || value.len() > MAX_SHARE_VALUE_BYTES {
                return Err(Error::InvalidInput(format!(
                    "value must be 1-{MAX_SHARE_VALUE_BYTES} bytes"
                )));
            }
            Ok(value.clone())
        }
        (None, Some(asked)) => generated(asked),
        _ => Err(Error::InvalidInput(
            "give exactly one of value and generate".into(),
        )),
    }
}

fn generated(asked: &GenerateSpec) -> Result<Zeroizing<String>, Error> {
    let length = asked.length.unwrap_or(generate::DEFAULT_LENGTH);
    if !generate::LENGTHS.contains(&length) {
        return Err(Error::InvalidInput(format!(
            "generate.length must be {}-{}",
            generate::LENGTHS.start(),
            generate::LENGTHS.end()
        )));
    }
    let name = asked.charset.as_deref().unwrap_or("symbols");
    let charset = Charset::parse(name).ok_or_else(|| {
        let known: Vec<&str> = Charset::ALL.iter().map(|c| c.as_str()).collect();
        Error::InvalidInput(format!(
            "generate.charset must be one of {}, not {name:?}",
            known.join(", ")
        ))
    })?;
    Ok(generate::generate(length, charset))
}

fn check_lifetime(seconds: u64) -> Result<(), Error> {
    if SHARE_LIFETIMES.contains(&seconds) {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "expires_in_seconds must be {}-{} (one minute to 24 hours)",
        SHARE_LIFETIMES.start(),
        SHARE_LIFETIMES.end()
    )))
}

/// Seals `value` for share `id` under the data key and a fresh passphrase (Argon2id, on a
/// blocking thread): the parts of the row that open it, and the passphrase to show.
async fn seal_share(
    id: &ShareId,
    data_key: DataKey,
    value: Zeroizing<String>,
) -> Result<(SealedParts, Zeroizing<String>), Error> {
    let id = id.to_string();
    tokio::task::spawn_blocking(move || {
        let shown = sealing::new_passphrase();
        let passphrase = sealing::normalize_passphrase(&shown);
        let kdf_salt = crypto::random_bytes(sealing::KDF_SALT_LEN).to_vec();
        let key = sealing::passphrase_key(&passphrase, &kdf_salt);
        let value_key = sealing::value_key(&data_key, &key, &id);
        let sealed = sealing::seal_value(&value_key, &id, value.as_bytes());
        let parts = SealedParts {
            passphrase_hash: sealing::hash_passphrase(&passphrase),
            kdf_salt,
            nonce: sealed.nonce.to_vec(),
            ciphertext: sealed.sealed,
        };
        (parts, shown)
    })
    .await
    .map_err(|e| Error::Internal(Box::new(e)))
}

/// What sealing adds to a share's row.
struct SealedParts {
    passphrase_hash: String,
    kdf_salt: Vec<u8>,
    nonce: Vec<u8>,
    ciphertext: Vec<u8>,
}

impl Service {
    pub async fn create_share(
        &self,
        ctx: &Ctx<'_>,
        spec: ShareSpec,
    ) -> Result<CreatedShare, Error> {
        let id: ShareId = new_id("shr");
        self.mutation(
            ctx,
            &catalogue::CREATE_SHARE,
            "",
            Some(&object(&id)),
            |event| async move {
                check_lifetime(spec.expires_in_seconds)?;
                let value = share_value(&spec)?;
                let group = self.visible_group(ctx.caller, &spec.group).await?;
                Self::require_in_group(ctx.caller, &catalogue::CREATE_SHARE, &group.id)?;
                let master = master_label(&group.id, group.master_version);
                let (data_key, wrapped_key) = self.hsm.generate_wrapped_data_key(&master).await?;
                let (parts, passphrase) = seal_share(&id, data_key, value).await?;
                let now = self.now();
                let row = ShareRow {
                    id: id.clone(),
                    account_id: ctx.caller.account_id.clone(),
                    group_id: group.id.clone(),
                    created_by: ctx.caller.principal_id.clone(),
                    created_at: now,
                    expires_at: now.saturating_add(super::micros(std::time::Duration::from_secs(
                        spec.expires_in_seconds,
                    ))),
                };
                let share = SealedShareRow {
                    row: row.clone(),
                    wrapped_key,
                    wrapping_key: master,
                    passphrase_hash: parts.passphrase_hash,
                    kdf_salt: parts.kdf_salt,
                    nonce: parts.nonce,
                    ciphertext: parts.ciphertext,
                };
                self.store.create_share(&share, &event).await?;
                Ok(CreatedShare { row, passphrase })
            },
        )
        .await
    }

    pub async fn list_shares(&self, ctx: &Ctx<'_>) -> Result<Vec<ShareRow>, Error> {
        self.read(ctx, &catalogue::LIST_SHARES, "", None, async {
            let rows = self
                .store
                .shares(&ctx.caller.account_id, self.now())
                .await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .collect())
        })
        .await
    }

    pub async fn delete_share(&self, ctx: &Ctx<'_>, id: &ShareId) -> Result<(), Error> {
        self.mutation(
            ctx,
            &catalogue::DELETE_SHARE,
            "",
            Some(&object(id)),
            |event| async move {
                let gone = || Error::NotFound(format!("share {id}"));
                let share = self.store.share(id).await?.ok_or_else(gone)?.row;
                let now = self.now();
                if share.account_id != ctx.caller.account_id
                    || !ctx.caller.sees_group(&share.group_id)
                    || share.expires_at <= now
                {
                    return Err(gone());
                }
                Self::require_in_group(ctx.caller, &catalogue::DELETE_SHARE, &share.group_id)?;
                if !self.store.destroy_share(id, &event).await? {
                    return Err(gone());
                }
                Ok(())
            },
        )
        .await
    }

    /// Audits a view of the recipient's page (which shows nothing of the share) and answers
    /// whether the share is still there to be opened, so the page can say at once that it
    /// is gone. Anyone holding the id may learn that much; the id is 96 random bits.
    pub async fn share_page(&self, meta: &RequestMeta, id: &str) -> Result<bool, Error> {
        let object = format!("share/{id}");
        let action = catalogue::SHARE_PAGE.audit_action();
        let live = match self.store.share(&ShareId::from(id)).await {
            Ok(share) => Ok(share.is_some_and(|s| s.row.expires_at > self.now())),
            Err(e) => Err(Error::from(e)),
        };
        let mut event = self.event(meta, None, action, Some(&object), live.as_ref().map(|_| ()));
        event.identity = None;
        self.record(meta, event).await?;
        live
    }

    /// Deletes the shares whose timer ran out (they are refused at open time already).
    pub(in crate::service) async fn purge_expired_shares(&self) -> Result<(), Error> {
        let purged = self.store.purge_expired_shares(self.now()).await?;
        if purged > 0 {
            tracing::info!(purged, "expired shares destroyed");
        }
        Ok(())
    }
}

/// Opening, in its own file: the one path where a share's value leaves the server.
mod open;

/// The caller on whose behalf an event about a share is written: the share's account (so
/// its owners see what became of it), and whoever opened it, or "anonymous".
fn share_event_caller(share: &ShareRow, caller: Option<&Caller>) -> Caller {
    let mut on_behalf = Service::system_caller(&share.account_id);
    on_behalf.principal_id =
        caller.map_or_else(|| "anonymous".to_owned(), |c| c.principal_id.clone());
    on_behalf.method = caller.map_or(AuthMethod::None, |c| c.method);
    on_behalf.credential = caller.and_then(|c| c.credential.clone());
    on_behalf.api_key_id = caller.and_then(|c| c.api_key_id.clone());
    on_behalf
}

/// Apps and machines may not open shares, even with a credential that could.
fn refuse_non_users(caller: Option<&Caller>) -> Result<(), Error> {
    match caller {
        Some(c) if c.kind == PrincipalKind::App => Err(Error::Forbidden(
            "apps and machines may not open shares".into(),
        )),
        _ => Ok(()),
    }
}

/// The passphrase as typed, normalized.
fn typed_passphrase(passphrase: &SecretString) -> Zeroizing<String> {
    sealing::normalize_passphrase(passphrase.expose_secret())
}
