//! The AWS description and tags of a key (`TagResource`, `UntagResource`,
//! `ListResourceTags`, and `CreateKey`'s own). Coffer's objects carry neither, so they live
//! in the AWS store; each write is authorized as a change of the object (its configuration
//! flag and group operation) and audited in the same transaction.

use super::shapes::{ListRequest, Tag, TagResourceRequest, UntagResourceRequest, parse};
use super::targets::Target;
use super::{Answer, AwsCall, AwsFault, page, with_marker};
use crate::catalogue::{self, Operation};
use crate::service::{Ctx, Error, Service};
use crate::store::AwsKeyMetadata;
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// AWS's bounds: tag keys 1-128 characters, values 0-256, 50 tags a key, descriptions
/// 8192 characters.
const MAX_TAG_KEY: usize = 128;
const MAX_TAG_VALUE: usize = 256;
const MAX_TAGS: usize = 50;
const MAX_DESCRIPTION: usize = 8192;

/// The metadata `CreateKey` writes, authorized by the creation's own flag.
const KEYRING_METADATA_AT_CREATION: Operation = Operation {
    action: Some("keyring.metadata.write"),
    ..catalogue::CREATE_KEYRING
};
const KEY_METADATA_AT_CREATION: Operation = Operation {
    action: Some("key.metadata.write"),
    ..catalogue::CREATE_KEY
};
const TAG_KEYRING: Operation = Operation {
    action: Some("keyring.tag"),
    ..catalogue::UPDATE_KEYRING_CONFIG
};
const TAG_KEY: Operation = Operation {
    action: Some("key.tag"),
    ..catalogue::UPDATE_KEY
};
const UNTAG_KEYRING: Operation = Operation {
    action: Some("keyring.untag"),
    ..catalogue::UPDATE_KEYRING_CONFIG
};
const UNTAG_KEY: Operation = Operation {
    action: Some("key.untag"),
    ..catalogue::UPDATE_KEY
};
const READ_KEYRING_TAGS: Operation = Operation {
    action: Some("keyring.tags.read"),
    ..catalogue::GET_KEYRING
};
const READ_KEY_TAGS: Operation = Operation {
    action: Some("key.tags.read"),
    ..catalogue::GET_KEY
};

/// Checks a `Tags` member; the tags as a map (a key given twice keeps its last value).
pub(super) fn checked_tags(tags: &[Tag]) -> Result<BTreeMap<String, String>, AwsFault> {
    let mut map = BTreeMap::new();
    for tag in tags {
        let key_len = tag.tag_key.chars().count();
        if !(1..=MAX_TAG_KEY).contains(&key_len) {
            return Err(AwsFault::validation("a TagKey must be 1-128 characters"));
        }
        if tag.tag_value.chars().count() > MAX_TAG_VALUE {
            return Err(AwsFault::validation(
                "a TagValue must be at most 256 characters",
            ));
        }
        if tag.tag_key.starts_with("aws:") {
            return Err(AwsFault::validation(
                "tag keys beginning with aws: are reserved",
            ));
        }
        map.insert(tag.tag_key.clone(), tag.tag_value.clone());
    }
    if map.len() > MAX_TAGS {
        return Err(AwsFault::validation("a key has at most 50 tags"));
    }
    Ok(map)
}

pub(super) fn checked_description(description: String) -> Result<String, AwsFault> {
    if description.chars().count() > MAX_DESCRIPTION {
        return Err(AwsFault::validation(
            "Description must be at most 8192 characters",
        ));
    }
    Ok(description)
}

/// `{"TagKey": …, "TagValue": …}` of every tag, by key.
fn tag_list(tags: &BTreeMap<String, String>) -> Vec<Value> {
    tags.iter()
        .map(|(k, v)| json!({ "TagKey": k, "TagValue": v }))
        .collect()
}

impl Service {
    /// Records the description and tags `CreateKey` was given, authorized by the creation's
    /// flag (the caller just made the key) and audited as its own change.
    pub(super) async fn aws_store_created_metadata(
        &self,
        ctx: &Ctx<'_>,
        target: &Target,
        metadata: AwsKeyMetadata,
    ) -> Result<(), AwsFault> {
        let op = match target {
            Target::Keyring(_) => &KEYRING_METADATA_AT_CREATION,
            Target::Key(_) => &KEY_METADATA_AT_CREATION,
        };
        self.aws_change_metadata(ctx, target, op, "", |stored| {
            *stored = metadata;
            Ok(())
        })
        .await?;
        Ok(())
    }

    /// Changes the stored metadata of `target` with `change`, as operation `op` on the
    /// object named `flag_name` (empty for creation flags, which name no object).
    async fn aws_change_metadata<F>(
        &self,
        ctx: &Ctx<'_>,
        target: &Target,
        op: &Operation,
        flag_name: &str,
        change: F,
    ) -> Result<AwsKeyMetadata, Error>
    where
        F: FnOnce(&mut AwsKeyMetadata) -> Result<(), Error>,
    {
        let object = target.object();
        self.mutation(ctx, op, flag_name, Some(&object), |event| async move {
            Self::require_in_group(ctx.caller, op, target.group_id())?;
            let account = &ctx.caller.account_id;
            let mut metadata = self
                .store
                .aws_key_metadata(account, target.id())
                .await?
                .unwrap_or_default();
            change(&mut metadata)?;
            self.store
                .put_aws_key_metadata(account, target.id(), &metadata, &event)
                .await?;
            Ok(metadata)
        })
        .await
    }

    pub(super) async fn aws_tag(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: TagResourceRequest = parse(call.body)?;
        let tags = checked_tags(&req.tags)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let op = match target {
            Target::Keyring(_) => &TAG_KEYRING,
            Target::Key(_) => &TAG_KEY,
        };
        self.aws_change_metadata(ctx, &target, op, target.name(), |stored| {
            stored.tags.extend(tags);
            if stored.tags.len() > MAX_TAGS {
                return Err(Error::InvalidInput("a key has at most 50 tags".into()));
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn aws_untag(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: UntagResourceRequest = parse(call.body)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let op = match target {
            Target::Keyring(_) => &UNTAG_KEYRING,
            Target::Key(_) => &UNTAG_KEY,
        };
        self.aws_change_metadata(ctx, &target, op, target.name(), |stored| {
            for key in &req.tag_keys {
                stored.tags.remove(key);
            }
            Ok(())
        })
        .await?;
        Ok(json!({}))
    }

    pub(super) async fn aws_list_tags(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: ListRequest = parse(call.body)?;
        let key_id = req
            .key_id
            .as_deref()
            .ok_or_else(|| AwsFault::validation("missing field `KeyId`"))?;
        let target = self.aws_target(ctx, call.region, key_id).await?;
        let op = match target {
            Target::Keyring(_) => &READ_KEYRING_TAGS,
            Target::Key(_) => &READ_KEY_TAGS,
        };
        let object = target.object();
        let metadata = self
            .read(ctx, op, target.name(), Some(&object), async {
                Self::require_in_group(ctx.caller, op, target.group_id())?;
                let stored = self
                    .store
                    .aws_key_metadata(&ctx.caller.account_id, target.id())
                    .await?;
                Ok(stored.unwrap_or_default())
            })
            .await?;
        let (tags, next) = page(tag_list(&metadata.tags), req.limit, req.marker.as_deref())?;
        Ok(with_marker(json!({ "Tags": tags }), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &str, value: &str) -> Tag {
        Tag {
            tag_key: key.into(),
            tag_value: value.into(),
        }
    }

    #[test]
    fn tags_follow_aws_bounds() {
        let tags = checked_tags(&[tag("team", "core"), tag("team", "edge"), tag("e", "")]).unwrap();
        assert_eq!(tags.len(), 2);
        assert_eq!(tags["team"], "edge");
        for bad in [
            tag("", "v"),
            tag(&"k".repeat(129), "v"),
            tag("k", &"v".repeat(257)),
            tag("aws:owner", "v"),
        ] {
            assert!(checked_tags(&[bad]).is_err());
        }
        let many: Vec<Tag> = (0..51).map(|i| tag(&format!("k{i}"), "v")).collect();
        assert!(checked_tags(&many).is_err());
    }

    #[test]
    fn tags_are_listed_as_aws_writes_them() {
        let tags = checked_tags(&[tag("b", "2"), tag("a", "1")]).unwrap();
        assert_eq!(
            tag_list(&tags),
            vec![
                json!({"TagKey": "a", "TagValue": "1"}),
                json!({"TagKey": "b", "TagValue": "2"})
            ]
        );
        assert!(checked_description("x".repeat(8193)).is_err());
    }
}
