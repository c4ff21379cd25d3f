//! Opening a share: the passphrase is checked against its hash first, and a wrong one, like
//! an expired timer, destroys the share (deleted with the refusal's audit event) before the
//! answer. A right one unwraps the data key in the HSM, opens the value, and deletes the
//! share with the success event; only the request whose deletion took the row shows the
//! value, so two concurrent opens cannot both see it.

use super::*;
use crate::audit::AuditEvent;

/// Whether the typed passphrase matches the hash (Argon2id, on a blocking thread).
async fn passphrase_matches(hash: String, typed: Zeroizing<String>) -> Result<bool, Error> {
    tokio::task::spawn_blocking(move || sealing::passphrase_matches(&hash, &typed))
        .await
        .map_err(|e| Error::Internal(Box::new(e)))
}

/// The value of `share` under the data key and the typed passphrase; `None` if it does not
/// authenticate (a damaged row: the passphrase already matched its hash).
async fn open_value(
    share: &SealedShareRow,
    data_key: DataKey,
    typed: Zeroizing<String>,
) -> Result<Option<Zeroizing<String>>, Error> {
    let id = share.row.id.to_string();
    let salt = share.kdf_salt.clone();
    let sealed = share.ciphertext.clone();
    let Ok(nonce) = <[u8; 12]>::try_from(&share.nonce[..]) else {
        return Ok(None);
    };
    let opened = tokio::task::spawn_blocking(move || {
        let key = sealing::passphrase_key(&typed, &salt);
        let value_key = sealing::value_key(&data_key, &key, &id);
        sealing::open_value(&value_key, &id, nonce, &sealed).ok()
    })
    .await
    .map_err(|e| Error::Internal(Box::new(e)))?;
    match opened {
        None => Ok(None),
        Some(bytes) => String::from_utf8(bytes.to_vec())
            .map(|text| Some(Zeroizing::new(text)))
            .map_err(|_| Error::Internal("a share's value is not UTF-8".into())),
    }
}

impl Service {
    /// Opens share `id` once with `passphrase`, for whoever holds it (`caller` is the
    /// credential presented, if any: apps and machines are refused). Every outcome is
    /// audited; every refusal is the same [`Error::ShareGone`].
    pub async fn open_share(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        id: &ShareId,
        passphrase: &SecretString,
    ) -> Result<Zeroizing<String>, Error> {
        let result = self.try_open_share(meta, caller, id, passphrase).await;
        if let Err(error) = &result
            && !meta.is_audited()
        {
            let action = catalogue::OPEN_SHARE.audit_action();
            let mut event = self.event(meta, caller, action, Some(&object(id)), Err(error));
            if caller.is_none() {
                event.identity = None;
            }
            self.record(meta, event).await?;
        }
        result
    }

    async fn try_open_share(
        &self,
        meta: &RequestMeta,
        caller: Option<&Caller>,
        id: &ShareId,
        passphrase: &SecretString,
    ) -> Result<Zeroizing<String>, Error> {
        refuse_non_users(caller)?;
        let share = self.store.share(id).await?.ok_or(Error::ShareGone)?;
        let on_behalf = share_event_caller(&share.row, caller);
        let anonymous = caller.is_none();
        let event = |outcome: Result<(), &Error>| {
            let action = catalogue::OPEN_SHARE.audit_action();
            let mut event = self.event(meta, Some(&on_behalf), action, Some(&object(id)), outcome);
            if anonymous {
                event.identity = None;
            }
            event
        };
        // The plaintext boundary (docs/ai-agents.md): an AI agent's credential never sees
        // a share's value; its attempt destroys the share, for everyone.
        let by_agent = caller.is_some_and(|c| c.kind == PrincipalKind::Agent);
        if by_agent || share.row.expires_at <= self.now() {
            return self
                .destroy_refused(meta, id, event(Err(&Error::ShareGone)))
                .await;
        }
        let typed = typed_passphrase(passphrase);
        if !passphrase_matches(share.passphrase_hash.clone(), typed.clone()).await? {
            return self
                .destroy_refused(meta, id, event(Err(&Error::ShareGone)))
                .await;
        }
        let data_key = self
            .hsm
            .unwrap_data_key(&share.wrapping_key, &share.wrapped_key)
            .await?;
        let Some(value) = open_value(&share, data_key, typed).await? else {
            tracing::warn!(share = %id, "a share's value did not authenticate; destroyed");
            return self
                .destroy_refused(meta, id, event(Err(&Error::ShareGone)))
                .await;
        };
        if !self.store.destroy_share(id, &event(Ok(()))).await? {
            // Another request opened or destroyed it first: it showed the value, not this one.
            return Err(Error::ShareGone);
        }
        meta.mark_audited();
        Ok(value)
    }

    /// Destroys the share with the refusal's `event` (unless it is gone already), then
    /// answers that it is gone.
    async fn destroy_refused(
        &self,
        meta: &RequestMeta,
        id: &ShareId,
        event: AuditEvent,
    ) -> Result<Zeroizing<String>, Error> {
        if self.store.destroy_share(id, &event).await? {
            meta.mark_audited();
        }
        Err(Error::ShareGone)
    }
}
