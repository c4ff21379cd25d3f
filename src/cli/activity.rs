//! `coffer activity`: the audit trail, filtered on the server.

use super::{Client, with_query};
use clap::Args;

#[derive(Args)]
pub struct ActivityArgs {
    #[arg(long)]
    since: Option<String>,
    #[arg(long)]
    until: Option<String>,
    #[arg(long)]
    principal: Option<String>,
    #[arg(long)]
    object: Option<String>,
    #[arg(long)]
    action: Option<String>,
    #[arg(long)]
    outcome: Option<String>,
    #[arg(long)]
    before: Option<i64>,
    #[arg(long)]
    limit: Option<u32>,
}

pub(super) async fn activity(client: &Client, f: ActivityArgs) -> anyhow::Result<()> {
    let mut query: Vec<(&str, String)> = Vec::new();
    let text_filters = [
        ("since", f.since),
        ("until", f.until),
        ("principal", f.principal),
        ("object", f.object),
        ("action", f.action),
        ("outcome", f.outcome),
    ];
    for (name, value) in text_filters {
        if let Some(v) = value {
            query.push((name, v));
        }
    }
    if let Some(v) = f.before {
        query.push(("before", v.to_string()));
    }
    if let Some(v) = f.limit {
        query.push(("limit", v.to_string()));
    }
    client.show(&with_query("/v1/activity", &query)).await
}
