//! The cross-object reads: the security-objects view and the activity feed.

use super::*;
use crate::store::ObjectRow;

/// Filters of the security-objects view.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub group: Option<String>,
    pub kind: Option<String>,
}

/// The kinds of security object the view lists.
pub const OBJECT_KINDS: [&str; 4] = ["keyring", "key_pair", "public_key", "certificate"];

impl Service {
    /// Every security object the caller can see, optionally of one group and one kind.
    pub async fn objects(
        &self,
        ctx: &Ctx<'_>,
        filter: ObjectFilter,
    ) -> Result<Vec<ObjectRow>, Error> {
        self.read(ctx, &catalogue::OBJECTS, "", None, async {
            if let Some(kind) = &filter.kind
                && !OBJECT_KINDS.contains(&kind.as_str())
            {
                return Err(Error::InvalidInput(format!(
                    "type must be one of {}",
                    OBJECT_KINDS.join(", ")
                )));
            }
            let rows = self.store.objects(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .filter(|r| filter.group.as_ref().is_none_or(|g| *g == r.group_id))
                .filter(|r| filter.kind.as_ref().is_none_or(|k| *k == r.kind))
                .collect())
        })
        .await
    }
}

impl Service {
    /// The activity feed of the caller's account, newest first.
    pub async fn activity(
        &self,
        ctx: &Ctx<'_>,
        filter: ActivityFilter,
    ) -> Result<Vec<StoredEvent>, Error> {
        self.read(ctx, &catalogue::ACTIVITY, "", None, async {
            if !(1..=1000).contains(&filter.limit) {
                return Err(Error::InvalidInput(
                    "limit must be between 1 and 1000".into(),
                ));
            }
            Ok(self.store.events(&ctx.caller.account_id, &filter).await?)
        })
        .await
    }
}
