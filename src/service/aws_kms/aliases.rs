//! Aliases (`alias/<name>`): a second name of a keyring or key, usable wherever a `KeyId`
//! is. Creating or deleting one is a change of its target (the target's configuration flag
//! and group operation); listing shows only aliases whose target the caller sees. An alias
//! outlives a purged target, as in AWS: it is listed, and answers NotFound when used.

use super::ids::{KeyName, alias_arn, check_alias_name, parse_key_name};
use super::shapes::{AliasRequest, CreateAliasRequest, ListRequest, parse};
use super::targets::Target;
use super::{Answer, AwsCall, AwsErrorType, AwsFault, epoch_seconds, page, with_marker};
use crate::catalogue::{self, Operation};
use crate::service::{Ctx, Error, GroupScope, Service};
use crate::store::AwsAliasRow;
use serde_json::{Value, json};
use std::collections::HashMap;

const ALIAS_KEYRING: Operation = Operation {
    action: Some("keyring.alias.create"),
    ..catalogue::UPDATE_KEYRING_CONFIG
};
const ALIAS_KEY: Operation = Operation {
    action: Some("key.alias.create"),
    ..catalogue::UPDATE_KEY
};
const UNALIAS_KEYRING: Operation = Operation {
    action: Some("keyring.alias.delete"),
    ..catalogue::UPDATE_KEYRING_CONFIG
};
const UNALIAS_KEY: Operation = Operation {
    action: Some("key.alias.delete"),
    ..catalogue::UPDATE_KEY
};
/// Removing an alias whose target was purged: a change only a caller who sees every group
/// may make, with the creation flag (no object is left to name).
const UNALIAS_PURGED: Operation = Operation {
    action: Some("keyring.alias.delete"),
    ..catalogue::CREATE_KEYRING
};
const LIST_ALIASES: Operation = Operation {
    action: Some("keyring.aliases.read"),
    ..catalogue::LIST_KEYRINGS
};

impl Service {
    pub(super) async fn aws_create_alias(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: CreateAliasRequest = parse(call.body)?;
        check_alias_name(&req.alias_name)?;
        let account = &ctx.caller.account_id;
        if let KeyName::Alias(_) = parse_key_name(&req.target_key_id, call.region, account)? {
            return Err(AwsFault::validation(
                "TargetKeyId must be a key id or a key ARN, not an alias",
            ));
        }
        let target = self
            .aws_live_target(ctx, call.region, &req.target_key_id)
            .await?;
        let op = match target {
            Target::Keyring(_) => &ALIAS_KEYRING,
            Target::Key(_) => &ALIAS_KEY,
        };
        let alias = AwsAliasRow {
            account_id: account.clone(),
            name: req.alias_name.clone(),
            target_id: target.id().to_owned(),
            created_at: self.now(),
        };
        let object = target.object();
        let (target, alias) = (&target, &alias);
        let created = self
            .mutation(ctx, op, target.name(), Some(&object), |event| async move {
                Self::require_in_group(ctx.caller, op, target.group_id())?;
                if self.store.aws_alias(account, &alias.name).await?.is_some() {
                    return Err(Error::Conflict(format!(
                        "an alias named {} already exists",
                        alias.name
                    )));
                }
                Ok(self.store.create_aws_alias(alias, &event).await?)
            })
            .await;
        // Every conflict here is the name taken (checked above, or by a concurrent create).
        created.map_err(|e| match e {
            Error::Conflict(_) => AwsFault::new(
                AwsErrorType::AlreadyExists,
                format!("an alias named {} already exists", req.alias_name),
            ),
            other => other.into(),
        })?;
        Ok(json!({}))
    }

    pub(super) async fn aws_delete_alias(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: AliasRequest = parse(call.body)?;
        check_alias_name(&req.alias_name)?;
        let account = &ctx.caller.account_id;
        let missing = || AwsFault::not_found(format!("Alias '{}' is not found", req.alias_name));
        let alias = self
            .store
            .aws_alias(account, &req.alias_name)
            .await?
            .ok_or_else(missing)?;
        let target = self.aws_target_by_id(ctx.caller, &alias.target_id).await?;
        let (op, flag_name, object) = match &target {
            Some(t @ Target::Keyring(_)) => (&UNALIAS_KEYRING, t.name(), t.object()),
            Some(t @ Target::Key(_)) => (&UNALIAS_KEY, t.name(), t.object()),
            None if matches!(ctx.caller.scope, GroupScope::All) => {
                (&UNALIAS_PURGED, "", alias.target_id.clone())
            }
            // The target exists in a group the caller does not see: so does the alias.
            None => return Err(missing()),
        };
        let (target, alias) = (&target, &alias);
        self.mutation(ctx, op, flag_name, Some(&object), |event| async move {
            if let Some(t) = target {
                Self::require_in_group(ctx.caller, op, t.group_id())?;
            }
            match self
                .store
                .delete_aws_alias(account, &alias.name, &event)
                .await?
            {
                true => Ok(()),
                false => Err(Error::NotFound(format!("alias {}", alias.name))),
            }
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn aws_list_aliases(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: ListRequest = parse(call.body)?;
        let only = match req.key_id.as_deref() {
            Some(key_id) => Some(self.aws_target(ctx, call.region, key_id).await?),
            None => None,
        };
        let account = &ctx.caller.account_id;
        let rows = self
            .read(ctx, &LIST_ALIASES, "", None, async {
                Ok(self.store.aws_aliases(account).await?)
            })
            .await?;
        let mut visible = Vec::new();
        let mut seen: HashMap<String, bool> = HashMap::new();
        for row in rows {
            if only.as_ref().is_some_and(|t| t.id() != row.target_id) {
                continue;
            }
            if !seen.contains_key(&row.target_id) {
                let shown = self.aws_alias_shown(ctx, &row.target_id).await?;
                seen.insert(row.target_id.clone(), shown);
            }
            if seen[&row.target_id] {
                visible.push(alias_entry(call.region, &row));
            }
        }
        let (aliases, next) = page(visible, req.limit, req.marker.as_deref())?;
        Ok(with_marker(json!({ "Aliases": aliases }), next))
    }

    /// Whether an alias of `target_id` is listed to the caller: its target is visible, or
    /// it was purged and the caller sees every group.
    async fn aws_alias_shown(&self, ctx: &Ctx<'_>, target_id: &str) -> Result<bool, AwsFault> {
        let visible = self
            .aws_target_by_id(ctx.caller, target_id)
            .await?
            .is_some();
        Ok(visible || matches!(ctx.caller.scope, GroupScope::All))
    }
}

/// One entry of `ListAliases`.
fn alias_entry(region: &str, row: &AwsAliasRow) -> Value {
    json!({
        "AliasName": row.name,
        "AliasArn": alias_arn(region, &row.account_id, &row.name),
        "TargetKeyId": row.target_id,
        "CreationDate": epoch_seconds(row.created_at),
        "LastUpdatedDate": epoch_seconds(row.created_at),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_alias_entry_has_the_aws_members() {
        let row = AwsAliasRow {
            account_id: "acct_1".into(),
            name: "alias/app".into(),
            target_id: "kr_1".into(),
            created_at: 5_000_000,
        };
        let entry = alias_entry("eu-west-1", &row);
        assert_eq!(entry["AliasName"], "alias/app");
        assert_eq!(entry["TargetKeyId"], "kr_1");
        assert_eq!(entry["CreationDate"], 5);
        let arn = entry["AliasArn"].as_str().unwrap();
        assert!(arn.starts_with("arn:aws:kms:eu-west-1:") && arn.ends_with(":alias/app"));
    }
}
