//! What the identity test files share: the users' password and a server on a clock the
//! test moves (sessions, lockouts and deletion grace periods run on time).

use crate::support::TestServer;
use coffer::clock::ManualClock;
use std::sync::Arc;

/// The password the tests give their users.
pub const PASSWORD: &str = "correct horse battery staple";

/// A server on a clock the test moves.
pub async fn server_with_clock() -> anyhow::Result<(TestServer, Arc<ManualClock>)> {
    let clock = Arc::new(ManualClock::starting_now());
    let shared = Arc::clone(&clock);
    let s = TestServer::start_with(move |c| c.clock = shared).await?;
    Ok((s, clock))
}
