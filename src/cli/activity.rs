//! `coffer activity`: the audit trail, filtered on the server; with `--follow`, the live
//! stream (`GET /v1/activity/stream`), one event per line as it happens, reconnecting with
//! `Last-Event-ID` when the connection drops so that no event is missed or printed twice.

use super::{Client, with_query};
use clap::Args;
use std::time::Duration;

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
    #[arg(long, conflicts_with = "follow")]
    before: Option<i64>,
    #[arg(long, conflicts_with = "follow")]
    limit: Option<u32>,
    /// Print events as they happen (one JSON object a line) until interrupted.
    #[arg(long)]
    follow: bool,
    /// With --follow: only events at least this loud (info, warning, critical).
    #[arg(long, requires = "follow")]
    min_severity: Option<String>,
    /// With --follow: start after this event id instead of at the current end.
    #[arg(long, requires = "follow")]
    after: Option<i64>,
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
        ("min_severity", f.min_severity),
    ];
    for (name, value) in text_filters {
        if let Some(v) = value {
            query.push((name, v));
        }
    }
    if f.follow {
        return follow(client, &with_query("/v1/activity/stream", &query), f.after).await;
    }
    if let Some(v) = f.before {
        query.push(("before", v.to_string()));
    }
    if let Some(v) = f.limit {
        query.push(("limit", v.to_string()));
    }
    client.show(&with_query("/v1/activity", &query)).await
}

/// Longest wait between two reconnections.
const MAX_RECONNECT_WAIT: Duration = Duration::from_secs(30);

/// Prints the stream at `path` forever, reconnecting after the last event printed. A
/// refusal (4xx other than 429) ends the command: retrying would not change it.
async fn follow(client: &Client, path: &str, mut last: Option<i64>) -> anyhow::Result<()> {
    let mut wait = Duration::from_millis(500);
    loop {
        match client.open_stream(path, last).await {
            Ok(response) => {
                wait = Duration::from_millis(500);
                if let Err(e) = print_events(response, &mut last).await {
                    eprintln!("coffer: the stream broke ({e:#}); reconnecting");
                }
            }
            Err(e) if is_final(&e) => return Err(e),
            Err(e) => eprintln!("coffer: {e:#}; reconnecting in {wait:?}"),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(MAX_RECONNECT_WAIT);
    }
}

/// A refusal that a retry would get again.
fn is_final(error: &anyhow::Error) -> bool {
    let text = error.to_string();
    text.starts_with('4') && !text.starts_with("429")
}

/// Prints each `audit` event of one connection until it ends, recording its id in `last`.
async fn print_events(
    mut response: reqwest::Response,
    last: &mut Option<i64>,
) -> anyhow::Result<()> {
    let mut buffer = String::new();
    while let Some(chunk) = response.chunk().await? {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            match parse_block(&block) {
                Block::Audit { id, data } => {
                    println!("{data}");
                    *last = id.or(*last);
                }
                Block::Overflow => eprintln!("coffer: fell behind the stream; reconnecting"),
                Block::Other => {}
            }
        }
    }
    Ok(())
}

/// One block of server-sent events, as `--follow` cares about it.
#[derive(Debug, PartialEq)]
enum Block {
    Audit {
        id: Option<i64>,
        data: String,
    },
    Overflow,
    /// A heartbeat comment, or an event kind this version does not know.
    Other,
}

fn parse_block(block: &str) -> Block {
    let (mut id, mut event, mut data) = (None, "", String::new());
    for line in block.lines() {
        if let Some(value) = line.strip_prefix("id: ") {
            id = value.trim().parse().ok();
        } else if let Some(value) = line.strip_prefix("event: ") {
            event = value.trim();
        } else if let Some(value) = line.strip_prefix("data: ") {
            data.push_str(value);
        }
    }
    match event {
        "audit" => Block::Audit { id, data },
        "overflow" => Block::Overflow,
        _ => Block::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_of_the_stream_are_read_as_events_overflows_or_nothing() {
        assert_eq!(
            parse_block("id: 7\nevent: audit\ndata: {\"seq\":7}\n\n"),
            Block::Audit {
                id: Some(7),
                data: "{\"seq\":7}".into()
            }
        );
        assert_eq!(
            parse_block("event: overflow\ndata: {}\n\n"),
            Block::Overflow
        );
        assert_eq!(parse_block(": heartbeat\n\n"), Block::Other);
    }
}
