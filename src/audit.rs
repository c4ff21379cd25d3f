//! The audit trail: one event per request, durable before the request is answered.
//!
//! Events of read-only and cryptographic requests go through [`AuditSink`], which commits
//! them in groups: while one transaction is being written, the next requests' events queue
//! up and go into the following one. A caller waits for its own event to be durable, for a
//! bounded time; past it, or on a write error, the request fails with 503. Mutations write
//! their event in their own transaction instead (see `store`).

pub mod export;
pub mod severity;
pub mod verify;

// The event and claim types live with their storage (`store::audit`), so that the store
// never depends on this module; they are re-exported here, where callers look for them.
pub use crate::store::{AuditEvent, Identity, NonceClaim, Severity};
use crate::store::{AuditWriter, Store};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The audit trail could not take the event in time.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("audit sink did not confirm the event within {0:?}")]
    Timeout(Duration),
    #[error("audit sink is closed")]
    Closed,
    #[error("audit write failed")]
    WriteFailed,
    #[error("the audit committer could not start")]
    Start(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Tuning for the group committer.
#[derive(Debug, Clone, Copy)]
pub struct AuditSettings {
    /// Longest a request waits for its event to be durable.
    pub timeout: Duration,
    /// Most events in one transaction.
    pub max_batch: usize,
    /// Events that may wait for the committer.
    pub queue_depth: usize,
}

impl Default for AuditSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            max_batch: 512,
            queue_depth: 16_384,
        }
    }
}

/// What the committer writes: an event, a nonce claim (answered fresh or replayed), or both
/// in one transaction.
// Events are most items; boxing them would add an allocation per request on the hot path.
#[allow(clippy::large_enum_variant)]
enum Item {
    Event(AuditEvent),
    Nonce(NonceClaim),
    /// The event of a request whose nonce is claimed in the same transaction: written if
    /// the nonce is fresh, else `replayed` (the request's refusal) is written instead.
    ClaimedEvent {
        claim: NonceClaim,
        event: AuditEvent,
        replayed: Box<AuditEvent>,
    },
    /// Nothing to write: asks for a batch anyway, which chains the events mutations wrote
    /// since the last one.
    Seal,
}

/// The committer's answer to one item: not written, written, or (claims) already used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Written {
    Failed,
    Done,
    AlreadyClaimed,
}

type Pending = (Item, oneshot::Sender<Written>);

/// The committer's thread; it ends after every [`AuditSink`] is dropped and the queue drained.
pub struct AuditCommitter(std::thread::JoinHandle<()>);

impl AuditCommitter {
    /// Waits (blocking) until the committer has written everything queued and stopped.
    pub fn join(self) {
        if self.0.join().is_err() {
            tracing::error!("the audit committer panicked");
        }
    }
}

/// Handle to the group committer. Cloning shares the same committer.
#[derive(Clone)]
pub struct AuditSink {
    queue: mpsc::Sender<Pending>,
    timeout: Duration,
    stats: Arc<AuditStats>,
}

/// Counters of the group committer, for `/metrics`.
#[derive(Debug, Default)]
pub struct AuditStats {
    pub batches: AtomicU64,
    pub events: AtomicU64,
    pub failed_batches: AtomicU64,
    pub commit_micros: AtomicU64,
}

impl AuditStats {
    fn record(&self, events: usize, took: Duration, ok: bool) {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.events.fetch_add(events as u64, Ordering::Relaxed);
        self.commit_micros
            .fetch_add(took.as_micros() as u64, Ordering::Relaxed);
        if !ok {
            self.failed_batches.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl AuditSink {
    /// Starts the committer task; it ends after every sink handle is dropped and the queue
    /// is drained, so dropping the service flushes the audit trail.
    ///
    /// The committer runs on its own thread with a synchronous database connection: it is
    /// the one serial step every request waits for, so it must not wait for a runtime.
    pub fn start(
        store: &dyn Store,
        settings: AuditSettings,
    ) -> Result<(Self, AuditCommitter), AuditError> {
        let (queue, receiver) = mpsc::channel(settings.queue_depth.max(1));
        let stats = Arc::new(AuditStats::default());
        let writer = store
            .audit_writer()
            .map_err(|e| AuditError::Start(Box::new(e)))?;
        let thread = std::thread::Builder::new()
            .name("audit-commit".into())
            .spawn({
                let stats = Arc::clone(&stats);
                move || commit_loop(writer, receiver, settings.max_batch.max(1), stats)
            })
            .map_err(|e| AuditError::Start(Box::new(e)))?;
        Ok((
            Self {
                queue,
                timeout: settings.timeout,
                stats,
            },
            AuditCommitter(thread),
        ))
    }

    /// The committer's counters.
    pub fn stats(&self) -> &AuditStats {
        &self.stats
    }

    /// Records `event` and returns once it is durable.
    pub async fn record(&self, event: AuditEvent) -> Result<(), AuditError> {
        self.record_within(event, None).await
    }

    /// Records `event`, waiting at most `wait` (the configured bound when `None`, and never
    /// longer than it). On a timeout the event stays queued and is still written if the
    /// committer gets to it.
    pub async fn record_within(
        &self,
        event: AuditEvent,
        wait: Option<Duration>,
    ) -> Result<(), AuditError> {
        let wait = wait.map_or(self.timeout, |w| w.min(self.timeout));
        self.submit(Item::Event(event), wait).await.map(|_| ())
    }

    /// Claims a nonce durably: `Ok(true)` if it was fresh, `Ok(false)` if a request already
    /// used it (on this node or any other sharing the database).
    pub async fn claim_nonce(&self, claim: NonceClaim) -> Result<bool, AuditError> {
        self.submit(Item::Nonce(claim), self.timeout)
            .await
            .map(|written| written == Written::Done)
    }

    /// Claims a nonce and records the event of the request that carried it, in one
    /// transaction: `Ok(true)` once the claim and `event` are durable, `Ok(false)` if a
    /// request already used the nonce, in which case `replayed` was recorded instead.
    /// `wait` bounds the wait as in [`AuditSink::record_within`].
    pub async fn record_claimed(
        &self,
        claim: NonceClaim,
        event: AuditEvent,
        replayed: AuditEvent,
        wait: Option<Duration>,
    ) -> Result<bool, AuditError> {
        let item = Item::ClaimedEvent {
            claim,
            event,
            replayed: Box::new(replayed),
        };
        let wait = wait.map_or(self.timeout, |w| w.min(self.timeout));
        self.submit(item, wait)
            .await
            .map(|written| written == Written::Done)
    }

    /// Returns once every event committed before the call is linked into its chain: the
    /// committer's batches chain the events mutations write in their own transactions, and
    /// this asks for a batch even when no request is waiting.
    pub async fn seal(&self) -> Result<(), AuditError> {
        self.submit(Item::Seal, self.timeout).await.map(|_| ())
    }

    async fn submit(&self, item: Item, timeout: Duration) -> Result<Written, AuditError> {
        let (done, confirmed) = oneshot::channel();
        let wait = async {
            self.queue
                .send((item, done))
                .await
                .map_err(|_| AuditError::Closed)?;
            match confirmed.await {
                Ok(Written::Failed) => Err(AuditError::WriteFailed),
                Ok(written) => Ok(written),
                Err(_) => Err(AuditError::Closed),
            }
        };
        tokio::time::timeout(timeout, wait)
            .await
            .map_err(|_| AuditError::Timeout(timeout))?
    }
}

/// Takes whatever is queued (up to `max_batch`), writes it in one transaction, answers
/// every waiter, repeats. Ends when every sink is dropped and the queue is empty.
fn commit_loop(
    mut writer: Box<dyn AuditWriter>,
    mut receiver: mpsc::Receiver<Pending>,
    max_batch: usize,
    stats: Arc<AuditStats>,
) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    while let Some(first) = receiver.blocking_recv() {
        batch.push(first);
        while batch.len() < max_batch {
            match receiver.try_recv() {
                Ok(next) => batch.push(next),
                Err(_) => break,
            }
        }
        let (items, waiters): (Vec<Item>, Vec<_>) = batch.drain(..).unzip();
        let Plan {
            claims,
            mut entries,
            answers,
        } = Plan::of(items);
        let mut written_events = 0;
        let started = std::time::Instant::now();
        let fresh = match writer.append(&claims, &mut |fresh| {
            let events = entries.events_given(fresh);
            written_events = events.len();
            events
        }) {
            Ok(fresh) => Some(fresh),
            Err(e) => {
                tracing::error!(error = %e, items = waiters.len(), "audit batch could not be written");
                None
            }
        };
        stats.record(written_events, started.elapsed(), fresh.is_some());
        for (answer, done) in answers.iter().zip(waiters) {
            let _ = done.send(answer.written(fresh.as_deref()));
        }
    }
}

/// A batch taken apart for the writer: the claims, the events (some chosen by their
/// claim's answer), and how each waiter's answer is read from the writer's.
struct Plan {
    claims: Vec<NonceClaim>,
    entries: Entries,
    answers: Vec<Answer>,
}

/// The events of a batch, before the claims are answered.
struct Entries(Vec<Entry>);

/// An event to write once the claims are answered.
enum Entry {
    Always(AuditEvent),
    /// `event` if claim number `claim` was fresh, else `replayed`.
    IfFresh {
        claim: usize,
        event: AuditEvent,
        replayed: Box<AuditEvent>,
    },
}

/// How one waiter's answer follows from the batch's.
enum Answer {
    /// Done once the batch is written.
    Written,
    /// Done if claim number `n` was fresh, already claimed if not.
    Claim(usize),
}

impl Answer {
    /// The answer, given the claims' answers (`None` when the batch failed).
    fn written(&self, fresh: Option<&[bool]>) -> Written {
        match (self, fresh) {
            (_, None) => Written::Failed,
            (Answer::Written, Some(_)) => Written::Done,
            (Answer::Claim(n), Some(fresh)) => match fresh.get(*n) {
                Some(true) => Written::Done,
                Some(false) => Written::AlreadyClaimed,
                None => Written::Failed,
            },
        }
    }
}

impl Plan {
    fn of(items: Vec<Item>) -> Self {
        let mut plan = Plan {
            claims: Vec::new(),
            entries: Entries(Vec::with_capacity(items.len())),
            answers: Vec::with_capacity(items.len()),
        };
        for item in items {
            let answer = match item {
                Item::Event(event) => {
                    plan.entries.0.push(Entry::Always(event));
                    Answer::Written
                }
                Item::Seal => Answer::Written,
                Item::Nonce(claim) => plan.claim(claim),
                Item::ClaimedEvent {
                    claim,
                    event,
                    replayed,
                } => {
                    let answer = plan.claim(claim);
                    plan.entries.0.push(Entry::IfFresh {
                        claim: plan.claims.len() - 1,
                        event,
                        replayed,
                    });
                    answer
                }
            };
            plan.answers.push(answer);
        }
        plan
    }

    fn claim(&mut self, claim: NonceClaim) -> Answer {
        self.claims.push(claim);
        Answer::Claim(self.claims.len() - 1)
    }
}

impl Entries {
    /// The events to write, given the claims' answers; called once per batch.
    fn events_given(&mut self, fresh: &[bool]) -> Vec<AuditEvent> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|entry| match entry {
                Entry::Always(event) => event,
                Entry::IfFresh {
                    claim,
                    event,
                    replayed,
                } => match fresh.get(claim) {
                    Some(true) => event,
                    _ => *replayed,
                },
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{AuthMethod, Outcome};

    fn event(action: &str) -> AuditEvent {
        AuditEvent {
            id: format!("evt_{action}"),
            time: 1,
            account_id: None,
            principal: None,
            auth_method: AuthMethod::None,
            action: action.into(),
            object: None,
            outcome: Outcome::Success,
            status: 200,
            source_ip: None,
            request_id: "req_test".into(),
            credential: None,
            detail: None,
            identity: None,
            severity: Severity::Info,
            encrypt_usage: None,
            api_key_id: None,
        }
    }

    fn claim(nonce: &str) -> NonceClaim {
        NonceClaim {
            machine_id: "app_m".into(),
            nonce: nonce.into(),
            expires_at: 1,
        }
    }

    fn claimed(nonce: &str, action: &str) -> Item {
        Item::ClaimedEvent {
            claim: claim(nonce),
            event: event(action),
            replayed: Box::new(event(&format!("{action}.replayed"))),
        }
    }

    #[test]
    fn a_batch_writes_each_claimed_event_or_its_replay_refusal_and_answers_in_order() {
        let Plan {
            claims,
            mut entries,
            answers,
        } = Plan::of(vec![
            Item::Event(event("plain")),
            claimed("n1", "first"),
            Item::Nonce(claim("n2")),
            Item::Seal,
            claimed("n3", "third"),
        ]);
        let nonces: Vec<&str> = claims.iter().map(|c| c.nonce.as_str()).collect();
        assert_eq!(nonces, ["n1", "n2", "n3"]);

        // n1 fresh, n2 used, n3 used.
        let fresh = [true, false, false];
        let written: Vec<String> = entries
            .events_given(&fresh)
            .into_iter()
            .map(|e| e.action)
            .collect();
        assert_eq!(written, ["plain", "first", "third.replayed"]);
        let told: Vec<Written> = answers.iter().map(|a| a.written(Some(&fresh))).collect();
        assert_eq!(
            told,
            [
                Written::Done,
                Written::Done,
                Written::AlreadyClaimed,
                Written::Done,
                Written::AlreadyClaimed
            ]
        );
        // A failed batch fails every waiter, claims included.
        assert!(answers.iter().all(|a| a.written(None) == Written::Failed));
    }
}
