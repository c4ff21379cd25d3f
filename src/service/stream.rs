//! The live activity stream: the audit trail of the caller's account as it grows.
//!
//! Each open stream has a producer task that reads the trail forward from its position
//! (`AuditLog::events_after`, polled) and hands events to a bounded queue with `try_send`:
//! the producer never waits for its client, so a slow client costs the service nothing.
//! When the queue is full the producer leaves the rest in the database and reads it again
//! later (a burst costs no memory); a client whose queue stays full for `stream_stall` gets
//! a last `Overflow` item (the queue keeps one slot for it) naming the position to resume
//! after, and the stream ends: it reconnects from there. Opening a stream is audited once, as a read; the events it
//! carries are not audited again.

use super::*;
use crate::store::{Severity, position};
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::AtomicBool;
use tokio::sync::mpsc;

/// Events read from the store per poll.
const STREAM_BATCH: u32 = 500;

/// What an open stream carries.
#[derive(Debug)]
pub enum StreamItem {
    Event(Box<StoredEvent>),
    /// The client did not keep up: the stream ends after this; resume after `last`.
    Overflow {
        last: i64,
    },
}

/// What the caller asked to follow.
#[derive(Debug, Clone, Default)]
pub struct StreamSpec {
    /// The feed's filters (its `before_seq` and `limit` do not apply).
    pub filter: ActivityFilter,
    /// The outcome filter's word (`success` or an error code).
    pub outcome: Option<String>,
    /// `info`, `warning` or `critical`: events below it are left out.
    pub min_severity: Option<String>,
    /// Resume strictly after this position; `None` starts at the current end.
    pub after: Option<i64>,
}

/// An open stream: the queue its producer fills.
pub struct ActivityStream {
    pub events: mpsc::Receiver<StreamItem>,
}

/// The streams open on this node, per account, and whether the node is shutting down.
#[derive(Default)]
pub(in crate::service) struct Streams {
    open: Mutex<HashMap<AccountId, usize>>,
    closing: AtomicBool,
}

/// One account's place among its open streams, given back when the producer ends.
struct StreamSlot {
    streams: Arc<Streams>,
    account: AccountId,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.account) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.account);
            }
        }
    }
}

impl Streams {
    /// Takes a place for a stream of `account`, unless it has `limit` open already.
    fn take(self: &Arc<Self>, account: &AccountId, limit: usize) -> Result<StreamSlot, Error> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(account.clone()).or_default();
        if *count >= limit {
            return Err(Error::RateLimited {
                retry_after_secs: 5,
            });
        }
        *count += 1;
        Ok(StreamSlot {
            streams: Arc::clone(self),
            account: account.clone(),
        })
    }
}

/// A severity word of a request (`min_severity`).
pub(in crate::service) fn severity_word(word: &str) -> Result<Severity, Error> {
    Severity::parse(word).ok_or_else(|| {
        let known: Vec<&str> = Severity::ALL.iter().map(|s| s.as_str()).collect();
        Error::InvalidInput(format!(
            "min_severity must be one of {}, not {word:?}",
            known.join(", ")
        ))
    })
}

impl Service {
    /// Opens a live stream of the caller's account trail (audited once, as a read).
    pub async fn open_stream(
        self: &Arc<Self>,
        ctx: &Ctx<'_>,
        spec: StreamSpec,
    ) -> Result<ActivityStream, Error> {
        self.read(ctx, &catalogue::ACTIVITY_STREAM, "", None, async {
            let mut filter = spec.filter;
            filter.outcome = spec.outcome.as_deref().map(outcome_word).transpose()?;
            let floor = spec
                .min_severity
                .as_deref()
                .map(severity_word)
                .transpose()?;
            let account = ctx.caller.account_id.clone();
            let watch = self.settings.watch;
            let slot = self.streams.take(&account, watch.streams_per_account)?;
            let start = match spec.after {
                Some(after) => after,
                None => self.store.latest_position(&account).await?,
            };
            // One slot more than the buffer, kept for the overflow notice.
            let (sender, events) = mpsc::channel(watch.stream_buffer + 1);
            let producer = Producer {
                account,
                filter,
                floor: floor.unwrap_or(Severity::Info),
                cursor: start,
                sender,
                full_since: None,
                _slot: slot,
            };
            let service = Arc::clone(self);
            tokio::spawn(async move { service.produce(producer).await });
            Ok(ActivityStream { events })
        })
        .await
    }

    /// The stream and alert tunables (the HTTP layer paces heartbeats with them).
    pub fn watch_settings(&self) -> WatchSettings {
        self.settings.watch
    }

    /// How many streams are open on this node (exposed for tests and operators).
    pub fn open_streams(&self) -> usize {
        let open = self.streams.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values().sum()
    }

    /// Ends every open stream of this node (at shutdown: an open stream would hold the
    /// graceful shutdown for its whole bound).
    pub fn close_streams(&self) {
        self.streams.closing.store(true, Ordering::SeqCst);
    }

    /// Feeds one stream until its client leaves, stalls, or the node shuts down.
    async fn produce(&self, mut producer: Producer) {
        let watch = self.settings.watch;
        let mut tick = tokio::time::interval(watch.stream_poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if producer.sender.is_closed() || self.streams.closing.load(Ordering::SeqCst) {
                return;
            }
            if producer.is_full() {
                if producer.stalled_for(watch.stream_stall) {
                    producer.overflow();
                    return;
                }
                continue;
            }
            if !self.catch_up(&mut producer).await {
                return;
            }
        }
    }

    /// Reads batches until the trail is read to its end or the client's queue is full, so a
    /// client that keeps reading is never limited to one batch per poll; false once the
    /// client left.
    async fn catch_up(&self, producer: &mut Producer) -> bool {
        loop {
            let batch = match self.store_batch(producer).await {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = ?e, "activity stream: cannot read the trail");
                    return true;
                }
            };
            let more = batch.len() == STREAM_BATCH as usize;
            if !producer.offer(batch) {
                return false;
            }
            if !more || producer.is_full() {
                return true;
            }
        }
    }

    async fn store_batch(&self, p: &Producer) -> Result<Vec<StoredEvent>, Error> {
        Ok(self
            .store
            .events_after(&p.account, p.cursor, &p.filter, STREAM_BATCH)
            .await?)
    }
}

/// The state of one stream's producer.
struct Producer {
    account: AccountId,
    filter: ActivityFilter,
    /// The quietest severity delivered.
    floor: Severity,
    /// The position of the last event read (delivered or left out by the severity floor).
    cursor: i64,
    sender: mpsc::Sender<StreamItem>,
    /// Since when the client's queue is full, if it is.
    full_since: Option<std::time::Instant>,
    /// The stream's place among its account's open streams, given back when it ends.
    _slot: StreamSlot,
}

impl Producer {
    /// Whether the client's queue is full (one slot stays for the overflow notice); notes
    /// since when.
    fn is_full(&mut self) -> bool {
        let full = self.sender.capacity() <= 1;
        if !full {
            self.full_since = None;
        } else if self.full_since.is_none() {
            self.full_since = Some(std::time::Instant::now());
        }
        full
    }

    /// Whether the queue has been full for `grace`: the client does not keep up.
    fn stalled_for(&self, grace: Duration) -> bool {
        self.full_since
            .is_some_and(|since| since.elapsed() >= grace)
    }

    /// The last item: where the client should resume.
    fn overflow(&self) {
        let _ = self
            .sender
            .try_send(StreamItem::Overflow { last: self.cursor });
    }

    /// Queues what the client gets of `batch`, up to a full queue (the rest is read again
    /// on the next poll); false once the client left.
    fn offer(&mut self, batch: Vec<StoredEvent>) -> bool {
        for event in batch {
            let at = position(&event);
            if event.event.severity.at_least(self.floor) {
                if self.is_full() {
                    return true;
                }
                if self
                    .sender
                    .try_send(StreamItem::Event(Box::new(event)))
                    .is_err()
                {
                    return false;
                }
            }
            self.cursor = at;
        }
        true
    }
}

/// The outcome filter's word: `success` or an error code.
fn outcome_word(word: &str) -> Result<Outcome, Error> {
    Outcome::parse(word).ok_or_else(|| {
        Error::InvalidInput(format!(
            "outcome must be success or an error code (forbidden, not_found, ...), not {word:?}"
        ))
    })
}
