//! AWS access key pairs of apps: the credential of the AWS KMS face (docs/aws-kms.md).
//!
//! The HSM generates the secret as a data key wrapped by the master key of one of the app's
//! groups; the caller sees its text once, and the database keeps only the wrapped key (a
//! SigV4 check needs the secret itself, so a digest would not do). A master-key rotation
//! re-wraps it like a keyring version. Who may mint one, and with which flags, is as for
//! an app's API key.

use super::api_keys::check_key_name;
use super::*;
use crate::crypto;
use crate::ids::{AppId, AwsAccessKeyId};
use crate::service::Forget;
use crate::store::{AppRow, AwsCredentialRow, WrappedAwsSecret};
use secrecy::SecretString;

/// What a caller asks for when creating an access key pair.
#[derive(Debug, Clone)]
pub struct AwsCredentialSpec {
    pub name: String,
    pub flags: BTreeMap<String, bool>,
    /// The group whose master key wraps the secret; `None` for an app in one group only.
    pub group: Option<GroupId>,
}

/// A new access key pair: its metadata and the secret access key, shown once.
pub struct CreatedAwsCredential {
    pub row: AwsCredentialRow,
    pub secret_access_key: SecretString,
}

/// The prefix of Coffer's access key ids (AWS's own start `AKIA` or `ASIA`).
const ACCESS_KEY_PREFIX: &str = "CFKA";

/// A new access key id: the prefix and 16 characters of RFC 4648 base32 (80 random bits),
/// 20 characters in all, like AWS's.
fn new_access_key_id() -> AwsAccessKeyId {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let random = crypto::random_bytes(10);
    let mut bits: u128 = 0;
    for b in random.iter() {
        bits = (bits << 8) | u128::from(*b);
    }
    let suffix: String = (0..16)
        .rev()
        .map(|i| char::from(ALPHABET[((bits >> (i * 5)) & 31) as usize]))
        .collect();
    AwsAccessKeyId::from(format!("{ACCESS_KEY_PREFIX}{suffix}"))
}

/// The group that wraps the secret: the one asked for, which must be one of the app's, or
/// the app's only group.
fn wrapping_group(app: &AppRow, asked: Option<&GroupId>) -> Result<GroupId, Error> {
    match (asked, app.groups.as_slice()) {
        (Some(group), groups) if groups.contains(group) => Ok(group.clone()),
        (Some(group), _) => Err(Error::InvalidInput(format!(
            "app {} is not in group {group}: name one of its groups",
            app.id
        ))),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(Error::InvalidInput(format!(
            "app {} is in no group: add it to a group first (its master key wraps the secret)",
            app.id
        ))),
        (None, _) => Err(Error::InvalidInput(format!(
            "app {} is in several groups: name the one whose master key wraps the secret in `group`",
            app.id
        ))),
    }
}

fn object(app_id: &AppId) -> String {
    format!("app/{app_id}")
}

impl Service {
    /// Creates an access key pair for an app; the secret is in the answer only.
    pub async fn create_aws_credential(
        &self,
        ctx: &Ctx<'_>,
        app_id: &AppId,
        spec: AwsCredentialSpec,
    ) -> Result<CreatedAwsCredential, Error> {
        self.mutation(
            ctx,
            &catalogue::CREATE_AWS_CREDENTIAL,
            "",
            Some(&object(app_id)),
            |event| async move {
                let app = self.own_app(ctx.caller, app_id).await?;
                check_key_name(&spec.name)?;
                let group_id = wrapping_group(&app, spec.group.as_ref())?;
                let flags = Flags::parse(spec.flags, PrincipalKind::App)
                    .map_err(|e| Error::InvalidInput(e.to_string()))?;
                let group = self
                    .store
                    .group(&ctx.caller.account_id, &group_id)
                    .await?
                    .ok_or_else(|| Error::NotFound(format!("group {group_id}")))?;
                let master = master_label(&group_id, group.master_version);
                let (key, wrapped) = self.hsm.generate_wrapped_data_key(&master).await?;
                let row = AwsCredentialRow {
                    id: new_access_key_id(),
                    account_id: ctx.caller.account_id.clone(),
                    app_id: app.id,
                    group_id,
                    name: spec.name,
                    flags: flags.as_map().clone(),
                    created_at: self.now(),
                    disabled: false,
                };
                let secret = WrappedAwsSecret {
                    wrapping_key: master,
                    wrapped_secret: wrapped,
                };
                self.store
                    .create_aws_credential(&row, &secret, &event)
                    .await?;
                let text = crypto::aws_secret_text(&key);
                Ok(CreatedAwsCredential {
                    row,
                    secret_access_key: SecretString::from(text.as_str()),
                })
            },
        )
        .await
    }

    /// An app's access key pairs (metadata only).
    pub async fn list_aws_credentials(
        &self,
        ctx: &Ctx<'_>,
        app_id: &AppId,
    ) -> Result<Vec<AwsCredentialRow>, Error> {
        self.read(
            ctx,
            &catalogue::LIST_AWS_CREDENTIALS,
            "",
            Some(&object(app_id)),
            async {
                self.own_app(ctx.caller, app_id).await?;
                Ok(self
                    .store
                    .aws_credentials(&ctx.caller.account_id, app_id)
                    .await?)
            },
        )
        .await
    }

    /// The access key `id` of the caller's app `app_id`.
    async fn own_aws_credential(
        &self,
        caller: &Caller,
        app_id: &AppId,
        id: &AwsAccessKeyId,
    ) -> Result<AwsCredentialRow, Error> {
        self.own_app(caller, app_id).await?;
        self.store
            .aws_credential(id)
            .await?
            .map(|(row, _)| row)
            .filter(|row| row.account_id == caller.account_id && row.app_id == *app_id)
            .ok_or_else(|| Error::NotFound(format!("AWS access key {id}")))
    }

    /// Disables or re-enables an access key pair; effective on its next request, on every node.
    pub async fn set_aws_credential_disabled(
        &self,
        ctx: &Ctx<'_>,
        app_id: &AppId,
        id: &AwsAccessKeyId,
        disabled: bool,
    ) -> Result<AwsCredentialRow, Error> {
        let row = self
            .mutation(
                ctx,
                &catalogue::UPDATE_AWS_CREDENTIAL,
                "",
                Some(&object(app_id)),
                |event| async move {
                    let mut row = self.own_aws_credential(ctx.caller, app_id, id).await?;
                    self.store
                        .set_aws_credential_disabled(&row.account_id, id, disabled, &event)
                        .await?;
                    row.disabled = disabled;
                    Ok(row)
                },
            )
            .await?;
        self.forget(Forget::AwsCredential { id: id.clone() }).await;
        Ok(row)
    }

    /// Deletes an access key pair; requests signed with it fail from then on, on every node.
    pub async fn delete_aws_credential(
        &self,
        ctx: &Ctx<'_>,
        app_id: &AppId,
        id: &AwsAccessKeyId,
    ) -> Result<(), Error> {
        self.mutation(
            ctx,
            &catalogue::DELETE_AWS_CREDENTIAL,
            "",
            Some(&object(app_id)),
            |event| async move {
                self.own_aws_credential(ctx.caller, app_id, id).await?;
                let deleted = self
                    .store
                    .delete_aws_credential(&ctx.caller.account_id, id, &event)
                    .await?;
                if !deleted {
                    return Err(Error::NotFound(format!("AWS access key {id}")));
                }
                Ok(())
            },
        )
        .await?;
        self.forget(Forget::AwsCredential { id: id.clone() }).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn access_key_ids_look_like_aws_ones() {
        let a = new_access_key_id();
        let b = new_access_key_id();
        assert_ne!(a, b);
        assert_eq!(a.len(), 20);
        assert!(a.starts_with("CFKA"));
        assert!(
            a.bytes()
                .all(|c| c.is_ascii_uppercase() || (b'2'..=b'7').contains(&c))
        );
    }
}
