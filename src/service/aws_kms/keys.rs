//! Creating, describing and listing AWS keys: `CreateKey` makes a keyring (symmetric) or a
//! key (asymmetric) through the native creation, `DescribeKey` reads one natively (or, when
//! it is pending deletion, through the trash), `ListKeys` lists what the caller sees.

use super::shapes::{CreateKeyRequest, KeyIdRequest, ListRequest, parse};
use super::signing::aws_signing_algorithms;
use super::targets::Target;
use super::{Answer, AwsCall, AwsFault, aws_account_number, epoch_seconds, page, with_marker};
use crate::catalogue;
use crate::crypto::asym::KeyAlgorithm;
use crate::ids::GroupId;
use crate::service::{Caller, Ctx, GroupScope, KeySpec, KeyringSpec, Protection, Service};
use crate::store::AwsKeyMetadata;
use serde_json::{Value, json};

/// The tag whose value names the group of a new key.
pub(super) const GROUP_TAG: &str = "coffer:group";

/// What `CreateKey` asks for, in Coffer's terms.
#[derive(Debug, PartialEq, Eq)]
enum NewKey {
    Keyring,
    Key(KeyAlgorithm),
}

/// The object `KeyUsage` and `KeySpec` (or the older `CustomerMasterKeySpec`) ask for.
fn requested_kind(req: &CreateKeyRequest) -> Result<NewKey, AwsFault> {
    if req.origin.as_deref().is_some_and(|o| o != "AWS_KMS") {
        return Err(AwsFault::unsupported(
            "only Origin AWS_KMS is supported: Coffer generates every key in its HSM",
        ));
    }
    if req.multi_region {
        return Err(AwsFault::unsupported("multi-Region keys are not supported"));
    }
    if req.custom_key_store_id.is_some() {
        return Err(AwsFault::unsupported("custom key stores are not supported"));
    }
    if req.policy.is_some() {
        return Err(AwsFault::unsupported(
            "key policies are not supported: Coffer's flags and groups decide who uses a key; \
             leave Policy out",
        ));
    }
    let spec = match (
        req.key_spec.as_deref(),
        req.customer_master_key_spec.as_deref(),
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(AwsFault::validation(
                "KeySpec and CustomerMasterKeySpec disagree; send KeySpec only",
            ));
        }
        (Some(spec), _) | (None, Some(spec)) => spec,
        (None, None) => "SYMMETRIC_DEFAULT",
    };
    kind_for(req.key_usage.as_deref().unwrap_or("ENCRYPT_DECRYPT"), spec)
}

/// The object for a `KeyUsage` and a `KeySpec`.
fn kind_for(usage: &str, spec: &str) -> Result<NewKey, AwsFault> {
    let algorithm = match spec {
        "SYMMETRIC_DEFAULT" => None,
        "RSA_2048" => Some(KeyAlgorithm::Rsa2048),
        "RSA_3072" => Some(KeyAlgorithm::Rsa3072),
        "RSA_4096" => Some(KeyAlgorithm::Rsa4096),
        "ECC_NIST_P256" => Some(KeyAlgorithm::EcP256),
        "ECC_NIST_P384" => Some(KeyAlgorithm::EcP384),
        other => {
            return Err(AwsFault::unsupported(format!(
                "KeySpec {other} is not supported; use SYMMETRIC_DEFAULT, RSA_2048, RSA_3072, \
                 RSA_4096, ECC_NIST_P256 or ECC_NIST_P384"
            )));
        }
    };
    match (usage, algorithm) {
        ("ENCRYPT_DECRYPT", None) => Ok(NewKey::Keyring),
        ("SIGN_VERIFY", Some(algorithm)) => Ok(NewKey::Key(algorithm)),
        ("ENCRYPT_DECRYPT", Some(a)) if a.can_decrypt() => Err(AwsFault::unsupported(
            "RSA keys for encryption are not supported; use a SYMMETRIC_DEFAULT key to encrypt",
        )),
        ("ENCRYPT_DECRYPT" | "SIGN_VERIFY", _) => Err(AwsFault::validation(format!(
            "KeySpec {spec} does not support KeyUsage {usage}"
        ))),
        (other, _) => Err(AwsFault::unsupported(format!(
            "KeyUsage {other} is not supported; use ENCRYPT_DECRYPT or SIGN_VERIFY"
        ))),
    }
}

/// The group of a new key: the `coffer:group` tag's value, else the caller's only group.
fn creation_group(caller: &Caller, metadata: &AwsKeyMetadata) -> Result<GroupId, AwsFault> {
    if let Some(group) = metadata.tags.get(GROUP_TAG) {
        return Ok(GroupId::from(group.as_str()));
    }
    match &caller.scope {
        GroupScope::Only(groups) if groups.len() == 1 => Ok(groups[0].0.clone()),
        _ => Err(AwsFault::validation(format!(
            "this caller may use several groups: name the new key's group with the tag \
             {GROUP_TAG} (its value a group id, grp_...)"
        ))),
    }
}

/// The Coffer name of a key made through the AWS face: AWS keys have no name of their own.
fn new_name() -> String {
    format!("aws-{}", hex::encode(&crate::crypto::random_bytes(6)[..]))
}

impl Service {
    pub(super) async fn aws_create_key(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: CreateKeyRequest = parse(call.body)?;
        let kind = requested_kind(&req)?;
        let metadata = AwsKeyMetadata {
            tags: super::tags::checked_tags(&req.tags)?,
            description: super::tags::checked_description(req.description)?,
        };
        let group = creation_group(ctx.caller, &metadata)?;
        let name = new_name();
        let target = match kind {
            NewKey::Keyring => {
                let spec = KeyringSpec {
                    name,
                    group,
                    protection: Protection::Envelope,
                    rotation_period_days: None,
                    max_encrypt_count: None,
                    cache_ttl_seconds: None,
                    canary: false,
                };
                Target::Keyring(self.create_keyring(ctx, spec).await?.row)
            }
            NewKey::Key(algorithm) => {
                let spec = KeySpec {
                    name,
                    group,
                    algorithm: algorithm.name().to_owned(),
                    usages: Some(vec!["sign".to_owned()]),
                    canary: false,
                };
                Target::Key(self.create_key(ctx, spec).await?.row)
            }
        };
        if metadata != AwsKeyMetadata::default() {
            self.aws_store_created_metadata(ctx, &target, metadata.clone())
                .await?;
        }
        let answer = self.aws_key_metadata(call.region, &target, &metadata);
        Ok(json!({ "KeyMetadata": answer }))
    }

    pub(super) async fn aws_describe_key(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: KeyIdRequest = parse(call.body)?;
        let target = self.aws_target(ctx, call.region, &req.key_id).await?;
        let target = self.aws_read_target(ctx, target).await?;
        let metadata = self
            .store
            .aws_key_metadata(&ctx.caller.account_id, target.id())
            .await?
            .unwrap_or_default();
        let answer = self.aws_key_metadata(call.region, &target, &metadata);
        Ok(json!({ "KeyMetadata": answer }))
    }

    /// Reads `target` as the caller, authorized and audited as the native read: a live
    /// object through the native method (its fresh row), one pending deletion from the trash.
    async fn aws_read_target(&self, ctx: &Ctx<'_>, target: Target) -> Result<Target, AwsFault> {
        if target.deleted_at().is_none() {
            return Ok(match &target {
                Target::Keyring(r) => Target::Keyring(self.get_keyring(ctx, &r.name).await?.row),
                Target::Key(r) => Target::Key(self.get_key(ctx, &r.name).await?.row),
            });
        }
        let op = match target {
            Target::Keyring(_) => &catalogue::GET_KEYRING,
            Target::Key(_) => &catalogue::GET_KEY,
        };
        let object = target.object();
        self.read(ctx, op, target.name(), Some(&object), async {
            Self::require_in_group(ctx.caller, op, target.group_id())
        })
        .await?;
        Ok(target)
    }

    /// AWS's `KeyMetadata` of `target`.
    pub(super) fn aws_key_metadata(
        &self,
        region: &str,
        target: &Target,
        metadata: &AwsKeyMetadata,
    ) -> Value {
        let account = aws_account_number(&self.aws_account_of(target));
        let mut answer = json!({
            "AWSAccountId": account,
            "KeyId": target.id(),
            "Arn": target.arn(region),
            "CreationDate": epoch_seconds(target.created_at()),
            "Enabled": target.state() == "Enabled",
            "Description": metadata.description,
            "KeyUsage": target.key_usage(),
            "KeyState": target.state(),
            "Origin": "AWS_KMS",
            "KeyManager": "CUSTOMER",
            "CustomerMasterKeySpec": target.key_spec(),
            "KeySpec": target.key_spec(),
            "MultiRegion": false,
        });
        match target {
            Target::Key(row) if row.can_sign => {
                answer["SigningAlgorithms"] = json!(aws_signing_algorithms(row.algorithm));
            }
            Target::Key(_) => answer["EncryptionAlgorithms"] = json!(["RSAES_OAEP_SHA_256"]),
            Target::Keyring(_) => answer["EncryptionAlgorithms"] = json!(["SYMMETRIC_DEFAULT"]),
        }
        if let Some(deleted_at) = target.deleted_at() {
            answer["DeletionDate"] = json!(self.aws_deletion_date(deleted_at));
            answer["PendingDeletionWindowInDays"] = json!(self.aws_deletion_window_days());
        }
        answer
    }

    fn aws_account_of(&self, target: &Target) -> crate::ids::AccountId {
        match target {
            Target::Keyring(r) => r.account_id.clone(),
            Target::Key(r) => r.account_id.clone(),
        }
    }

    /// When a key trashed at `deleted_at` is destroyed: the trash's retention later (the
    /// server's setting, whatever window the request asked for), in epoch seconds.
    pub(super) fn aws_deletion_date(&self, deleted_at: i64) -> i64 {
        let retention = crate::service::micros(self.settings.trash_retention);
        epoch_seconds(deleted_at.saturating_add(retention))
    }

    /// The trash's retention in whole days (rounded up), AWS's pending window.
    pub(super) fn aws_deletion_window_days(&self) -> u64 {
        self.settings.trash_retention.as_secs().div_ceil(86_400)
    }

    pub(super) async fn aws_list_keys(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: ListRequest = parse(call.body)?;
        let may = |op| async move {
            Self::authorized(ctx.caller, op, "", async { Ok(()) })
                .await
                .is_ok()
        };
        let (rings, keys) = (
            may(&catalogue::LIST_KEYRINGS).await,
            may(&catalogue::LIST_KEYS).await,
        );
        let mut entries = Vec::new();
        // A caller that may list neither gets the native refusal, audited.
        if rings || !keys {
            for view in self.list_keyrings(ctx).await? {
                entries.push(Target::Keyring(view.row));
            }
        }
        if keys {
            entries.extend(self.list_keys(ctx).await?.into_iter().map(Target::Key));
        }
        let (entries, next) = page(entries, req.limit, req.marker.as_deref())?;
        let listed: Vec<Value> = entries
            .iter()
            .map(|t| json!({ "KeyId": t.id(), "KeyArn": t.arn(call.region) }))
            .collect();
        Ok(with_marker(json!({ "Keys": listed }), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_and_spec_choose_a_keyring_or_a_key() {
        assert_eq!(
            kind_for("ENCRYPT_DECRYPT", "SYMMETRIC_DEFAULT").unwrap(),
            NewKey::Keyring
        );
        assert_eq!(
            kind_for("SIGN_VERIFY", "ECC_NIST_P256").unwrap(),
            NewKey::Key(KeyAlgorithm::EcP256)
        );
        assert_eq!(
            kind_for("SIGN_VERIFY", "RSA_3072").unwrap(),
            NewKey::Key(KeyAlgorithm::Rsa3072)
        );
        use super::super::AwsErrorType::{UnsupportedOperation, Validation};
        let cases = [
            ("ENCRYPT_DECRYPT", "RSA_2048", UnsupportedOperation),
            ("SIGN_VERIFY", "SYMMETRIC_DEFAULT", Validation),
            ("ENCRYPT_DECRYPT", "ECC_NIST_P256", Validation),
            ("GENERATE_VERIFY_MAC", "HMAC_256", UnsupportedOperation),
            ("SIGN_VERIFY", "ECC_SECG_P256K1", UnsupportedOperation),
        ];
        for (usage, spec, fault) in cases {
            assert_eq!(
                kind_for(usage, spec).unwrap_err().error,
                fault,
                "{usage} {spec}"
            );
        }
    }

    #[test]
    fn external_multi_region_and_policies_are_refused() {
        let request = |body: &str| parse::<CreateKeyRequest>(body.as_bytes()).unwrap();
        for body in [
            r#"{"Origin":"EXTERNAL"}"#,
            r#"{"MultiRegion":true}"#,
            r#"{"Policy":"{}"}"#,
            r#"{"CustomKeyStoreId":"cks-1"}"#,
        ] {
            let fault = requested_kind(&request(body)).unwrap_err();
            assert_eq!(
                fault.error,
                super::super::AwsErrorType::UnsupportedOperation
            );
        }
        assert_eq!(requested_kind(&request("{}")).unwrap(), NewKey::Keyring);
        let old_name = request(r#"{"CustomerMasterKeySpec":"RSA_4096","KeyUsage":"SIGN_VERIFY"}"#);
        assert_eq!(
            requested_kind(&old_name).unwrap(),
            NewKey::Key(KeyAlgorithm::Rsa4096)
        );
    }

    #[test]
    fn new_names_are_valid_coffer_names() {
        let name = new_name();
        assert!(crate::authz::is_valid_name(&name), "{name}");
        assert_ne!(name, new_name());
    }
}
