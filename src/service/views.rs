//! The cross-object reads: the security-objects view and the activity feed.

use super::*;
use crate::ids::GroupId;
use crate::store::{ObjectKind, ObjectRow};

/// Filters of the security-objects view.
#[derive(Debug, Clone, Default)]
pub struct ObjectFilter {
    pub group: Option<GroupId>,
    pub kind: Option<String>,
}

/// The kinds of security object the view lists, as the API names them.
pub const OBJECT_KINDS: [&str; 4] = [
    ObjectKind::Keyring.as_str(),
    ObjectKind::KeyPair.as_str(),
    ObjectKind::PublicKey.as_str(),
    ObjectKind::Certificate.as_str(),
];

impl Service {
    /// Every security object the caller can see, optionally of one group and one kind.
    pub async fn objects(
        &self,
        ctx: &Ctx<'_>,
        filter: ObjectFilter,
    ) -> Result<Vec<ObjectRow>, Error> {
        self.read(ctx, &catalogue::OBJECTS, "", None, async {
            let kind = filter
                .kind
                .as_deref()
                .map(|kind| {
                    ObjectKind::parse(kind).ok_or_else(|| {
                        Error::InvalidInput(format!(
                            "type must be one of {}",
                            OBJECT_KINDS.join(", ")
                        ))
                    })
                })
                .transpose()?;
            let rows = self.store.objects(&ctx.caller.account_id).await?;
            Ok(rows
                .into_iter()
                .filter(|r| ctx.caller.sees_group(&r.group_id))
                .filter(|r| filter.group.as_ref().is_none_or(|g| *g == r.group_id))
                .filter(|r| kind.is_none_or(|k| k == r.kind))
                .collect())
        })
        .await
    }
}

impl Service {
    /// The activity feed of the caller's account, newest first; `outcome` is the word of
    /// the outcome filter (`success` or an error code), checked once the caller may read.
    pub async fn activity(
        &self,
        ctx: &Ctx<'_>,
        mut filter: ActivityFilter,
        outcome: Option<&str>,
    ) -> Result<Vec<StoredEvent>, Error> {
        self.read(ctx, &catalogue::ACTIVITY, "", None, async {
            if !(1..=1000).contains(&filter.limit) {
                return Err(Error::InvalidInput(
                    "limit must be between 1 and 1000".into(),
                ));
            }
            filter.outcome = outcome.map(outcome_filter).transpose()?;
            Ok(self.store.events(&ctx.caller.account_id, &filter).await?)
        })
        .await
    }
}

/// The activity feed's `outcome` filter: `success` or an error code.
fn outcome_filter(word: &str) -> Result<Outcome, Error> {
    Outcome::parse(word).ok_or_else(|| {
        Error::InvalidInput(format!(
            "outcome must be success or an error code (forbidden, not_found, ...), not {word:?}"
        ))
    })
}
