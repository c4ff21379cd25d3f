//! `coffer policy …`: access policies of a group (time window, source allowlist, rate cap,
//! co-sign, TTL, rotate-after) and their bindings to secrets, keyrings and keys. Each axis
//! is set by its own options; `update --clear AXIS` removes one.

use super::{Client, PATCH, POST, given};
use anyhow::bail;
use clap::{Args, Subcommand};
use serde_json::{Map, Value, json};

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Create a policy in a group.
    Create {
        #[arg(long)]
        group: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        axes: AxisArgs,
    },
    /// The account's policies (of one group with --group).
    List {
        #[arg(long)]
        group: Option<String>,
    },
    Show {
        id: String,
    },
    /// Change a policy: the axes given replace theirs; --clear removes one.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        description: Option<String>,
        #[command(flatten)]
        axes: AxisArgs,
        /// Remove an axis: time_window, sources, rate, cosign, ttl or rotate_after_uses.
        #[arg(long, value_name = "AXIS")]
        clear: Vec<String>,
    },
    Delete {
        id: String,
    },
    /// Bind a policy to an object of its group: KIND is secret, keyring or key.
    Bind {
        id: String,
        kind: String,
        object: String,
    },
    Unbind {
        id: String,
        kind: String,
        object: String,
    },
    /// The objects a policy is bound to.
    Bindings {
        id: String,
    },
}

/// One option (or a few) per axis; an axis none of whose options is given is left out.
#[derive(Args)]
pub struct AxisArgs {
    /// Time window days, comma-separated: mon,tue,wed,thu,fri.
    #[arg(long, value_delimiter = ',', requires_all = ["from", "to", "time_zone"])]
    days: Vec<String>,
    /// Time window start, HH:MM.
    #[arg(long)]
    from: Option<String>,
    /// Time window end, HH:MM (before --from: the window crosses midnight).
    #[arg(long)]
    to: Option<String>,
    /// Time window zone (IANA), e.g. Europe/Paris.
    #[arg(long)]
    time_zone: Option<String>,
    /// An IP address or CIDR network uses may come from (repeat for more).
    #[arg(long = "source")]
    sources: Vec<String>,
    #[arg(long)]
    per_minute: Option<u64>,
    #[arg(long)]
    per_day: Option<u64>,
    /// An app or machine id that must have used the object first (repeat for more).
    #[arg(long = "cosign", requires = "cosign_within")]
    cosigners: Vec<String>,
    /// Seconds within which the co-signer's use must precede.
    #[arg(long)]
    cosign_within: Option<u64>,
    /// The object is destroyed at this RFC 3339 time.
    #[arg(long)]
    expires_at: Option<String>,
    /// The object is destroyed after this many uses.
    #[arg(long)]
    max_uses: Option<u64>,
    /// Queue a rotation when the current version has been used this many times.
    #[arg(long)]
    rotate_after_uses: Option<u64>,
}

impl AxisArgs {
    /// The axes as the API's body fields.
    fn body(self) -> Map<String, Value> {
        let mut axes = Map::new();
        if !self.days.is_empty() {
            axes.insert(
                "time_window".into(),
                json!({"days": self.days, "from": self.from, "to": self.to, "time_zone": self.time_zone}),
            );
        }
        if !self.sources.is_empty() {
            axes.insert("sources".into(), json!(self.sources));
        }
        if self.per_minute.is_some() || self.per_day.is_some() {
            let rate = json!({"per_minute": self.per_minute, "per_day": self.per_day});
            axes.insert("rate".into(), given(rate));
        }
        if !self.cosigners.is_empty() {
            let cosign =
                json!({"principals": self.cosigners, "within_seconds": self.cosign_within});
            axes.insert("cosign".into(), cosign);
        }
        if self.expires_at.is_some() || self.max_uses.is_some() {
            let ttl = json!({"expires_at": self.expires_at, "max_uses": self.max_uses});
            axes.insert("ttl".into(), given(ttl));
        }
        if let Some(n) = self.rotate_after_uses {
            axes.insert("rotate_after_uses".into(), json!(n));
        }
        axes
    }
}

const AXES: [&str; 6] = [
    "time_window",
    "sources",
    "rate",
    "cosign",
    "ttl",
    "rotate_after_uses",
];

pub(super) async fn run(client: &Client, command: PolicyCommand) -> anyhow::Result<()> {
    match command {
        PolicyCommand::Create {
            group,
            name,
            description,
            axes,
        } => {
            let mut body = axes.body();
            body.insert("group".into(), json!(group));
            body.insert("name".into(), json!(name));
            if let Some(text) = description {
                body.insert("description".into(), json!(text));
            }
            client.send(POST, "/v1/policies", Value::Object(body)).await
        }
        PolicyCommand::List { group } => {
            let query: Vec<(&str, String)> = group.into_iter().map(|g| ("group", g)).collect();
            client
                .show(&super::with_query("/v1/policies", &query))
                .await
        }
        PolicyCommand::Show { id } => client.show(&format!("/v1/policies/{id}")).await,
        PolicyCommand::Update {
            id,
            name,
            description,
            axes,
            clear,
        } => {
            let body = update_body(name, description, axes, &clear)?;
            client
                .send(PATCH, &format!("/v1/policies/{id}"), body)
                .await
        }
        PolicyCommand::Delete { id } => {
            super::delete_then_say(client, &format!("/v1/policies/{id}"), "policy deleted").await
        }
        PolicyCommand::Bind { id, kind, object } => {
            let reply = client
                .put(&format!("/v1/policies/{id}/bindings/{kind}/{object}"))
                .await?;
            println!("{}", serde_json::to_string_pretty(&reply)?);
            Ok(())
        }
        PolicyCommand::Unbind { id, kind, object } => {
            let path = format!("/v1/policies/{id}/bindings/{kind}/{object}");
            super::delete_then_say(client, &path, "policy unbound").await
        }
        PolicyCommand::Bindings { id } => client.show(&format!("/v1/policies/{id}/bindings")).await,
    }
}

fn update_body(
    name: Option<String>,
    description: Option<String>,
    axes: AxisArgs,
    clear: &[String],
) -> anyhow::Result<Value> {
    let mut body = axes.body();
    for axis in clear {
        if !AXES.contains(&axis.as_str()) {
            bail!("--clear {axis}: the axes are {}", AXES.join(", "));
        }
        if body.contains_key(axis) {
            bail!("--clear {axis} and options of the same axis: choose one");
        }
        body.insert(axis.clone(), Value::Null);
    }
    if let Some(name) = name {
        body.insert("name".into(), json!(name));
    }
    if let Some(text) = description {
        body.insert("description".into(), json!(text));
    }
    if body.is_empty() {
        bail!("nothing to change: give an axis option, --clear, --name or --description");
    }
    Ok(Value::Object(body))
}
