//! `coffer job` and `coffer group rotate-master`: background jobs, and waiting for one with
//! a progress bar.

use super::{Client, print};
use clap::Subcommand;
use serde_json::{Value, json};
use std::io::Write;
use std::time::Duration;

#[derive(Subcommand)]
pub enum JobCommand {
    /// A background job's state and progress.
    Show { id: String },
}

pub async fn job(client: &Client, command: JobCommand) -> anyhow::Result<()> {
    match command {
        JobCommand::Show { id } => client.show(&format!("/v1/jobs/{id}")).await,
    }
}

/// How often `--wait` asks for the job's progress.
const POLL: Duration = Duration::from_millis(500);

/// Width of the progress bar, in characters.
const BAR_WIDTH: u64 = 40;

/// Starts the rotation of a group's master key; with `wait`, follows its job to the end
/// with a progress bar on stderr, then prints the job.
pub async fn rotate_master(client: &Client, group: &str, wait: bool) -> anyhow::Result<()> {
    let job = client
        .post(&format!("/v1/groups/{group}/rotate-master"), json!({}))
        .await?;
    if !wait || super::approvals::say_if_pending(&job) {
        return print(&job);
    }
    let path = format!("/v1/jobs/{}", job["id"].as_str().unwrap_or_default());
    let mut job = job;
    while job["state"] == "running" {
        draw(&job);
        tokio::time::sleep(POLL).await;
        job = client.get(&path).await?;
    }
    draw(&job);
    eprintln!();
    print(&job)?;
    anyhow::ensure!(
        job["state"] == "done",
        "the rotation failed: {}",
        job["error"]
    );
    Ok(())
}

/// One line, redrawn in place: `[#####.....] done/total state`.
fn draw(job: &Value) {
    let done = job["done"].as_u64().unwrap_or(0);
    let total = job["total"].as_u64().unwrap_or(0);
    let filled = (done * BAR_WIDTH).checked_div(total).unwrap_or(BAR_WIDTH);
    let bar: String = (0..BAR_WIDTH)
        .map(|i| if i < filled { '#' } else { '.' })
        .collect();
    let state = job["state"].as_str().unwrap_or("?");
    let mut stderr = std::io::stderr();
    let _ = write!(stderr, "\r[{bar}] {done}/{total} {state}");
    let _ = stderr.flush();
}
