//! The audit trail as stored: the event, a nonce claim that shares the committer's
//! transactions, and the storage side of the audit log. A leaf: it depends on nothing
//! else of the crate, so both the store and `crate::audit` (the group committer) use it
//! without depending on each other.

use super::StoreError;
use crate::ids::{AccountId, ApiKeyId, KeyringId, MachineId};
use async_trait::async_trait;

/// One decision: who did what to which object, how they authenticated, and the outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: String,
    /// Unix microseconds.
    pub time: i64,
    pub account_id: Option<AccountId>,
    pub principal: Option<String>,
    pub auth_method: AuthMethod,
    pub action: String,
    pub object: Option<String>,
    pub outcome: Outcome,
    pub status: u16,
    pub source_ip: Option<String>,
    pub request_id: String,
    /// The credential that authenticated the request (API key id, session id, or
    /// `sha256:<fingerprint>` of a client certificate).
    pub credential: Option<String>,
    /// Why the request was refused, when `outcome` alone does not say (which check of a
    /// signed request failed).
    pub detail: Option<String>,
    /// Whether `principal` and `credential` were proven or only named by a refused request;
    /// `None` when the event names no one.
    pub identity: Option<Identity>,
    /// How loud the event is: from the table in `crate::audit::severity`, raised where
    /// the request knows more (`warning` for a user revealing a secret, `critical` for a
    /// tripped canary).
    pub severity: Severity,
    /// Not stored as a column: a keyring version whose encrypt counter this event bumps.
    pub encrypt_usage: Option<(KeyringId, u32)>,
    /// Not stored as a column: the API key whose `last_used_at` this event refreshes.
    pub api_key_id: Option<ApiKeyId>,
}

stored_names! {
    /// How loud an audit event is, for whoever watches the trail (the rules are the table
    /// in `crate::audit::severity`).
    pub enum Severity {
        /// Reads and cryptographic use that succeeded.
        Info => "info",
        /// A change that succeeded, or a request refused for its input or its object.
        Notice => "notice",
        /// A deletion, a user seeing a secret, a refused credential or policy.
        Warning => "warning",
        /// A canary was used: the group froze.
        Critical => "critical",
    }
}

impl Severity {
    /// Quietest first: `info` < `notice` < `warning` < `critical`.
    pub fn rank(self) -> u8 {
        match self {
            Severity::Info => 0,
            Severity::Notice => 1,
            Severity::Warning => 2,
            Severity::Critical => 3,
        }
    }

    /// Whether the event is at least as loud as `minimum`.
    pub fn at_least(self, minimum: Severity) -> bool {
        self.rank() >= minimum.rank()
    }
}

stored_names! {
    /// How far an event's `principal` and `credential` can be trusted.
    pub enum Identity {
        /// Established by a credential the service checked.
        Verified => "verified",
        /// Named by the request (a signed request's `X-Machine-Id`) and not proven: the
        /// request was refused.
        Claimed => "claimed",
    }
}

stored_names! {
    /// How a request proved who it is.
    pub enum AuthMethod {
        None => "none",
        ApiKey => "api_key",
        /// A user's login session token.
        Session => "session",
        /// A TLS client certificate bound to an app.
        ClientCertificate => "client_certificate",
        /// An Ed25519-signed request of a machine.
        SignedRequest => "signed_request",
        /// Coffer itself (scheduled rotation, bootstrap).
        System => "system",
        /// An Ed25519-signed request of an AI agent (`X-Agent-Id`).
        AiAgent => "ai_agent",
        /// An AWS SigV4-signed request of the AWS KMS face, with an app's access key pair.
        AwsSigV4 => "aws_sigv4",
    }
}

stored_names! {
    /// The error codes of api.md: what a failed request answers, and what its event
    /// records as its outcome.
    pub enum ErrorCode {
        InvalidInput => "invalid_input",
        Unauthenticated => "unauthenticated",
        Forbidden => "forbidden",
        TempMachineBlocked => "temp_machine_blocked",
        GroupFrozen => "group_frozen",
        NotFound => "not_found",
        RequestTimeout => "request_timeout",
        Conflict => "conflict",
        KeyDisabled => "key_disabled",
        UsageNotAllowed => "usage_not_allowed",
        VersionRetired => "version_retired",
        PayloadTooLarge => "payload_too_large",
        DecryptFailed => "decrypt_failed",
        RateLimited => "rate_limited",
        Internal => "internal",
        Unavailable => "unavailable",
        /// An access policy bound to the object refused the use.
        PolicyDenied => "policy_denied",
    }
}

/// How a request ended: stored as `success` or as the error code it answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    Failure(ErrorCode),
}

impl Outcome {
    const SUCCESS: &'static str = "success";

    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Success => Self::SUCCESS,
            Outcome::Failure(code) => code.as_str(),
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            Self::SUCCESS => Some(Outcome::Success),
            code => ErrorCode::parse(code).map(Outcome::Failure),
        }
    }
}

/// A claim on a signed request's nonce: it succeeds only if no request of the machine used
/// the nonce before. Claims share the committer's transactions with the events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NonceClaim {
    pub machine_id: MachineId,
    pub nonce: String,
    /// Unix microseconds after which the nonce's timestamp is out of the window anyway, so
    /// the claim can be forgotten.
    pub expires_at: i64,
}

/// Filters for the activity feed. `before_seq` pages backwards from the newest.
#[derive(Debug, Clone, Default)]
pub struct ActivityFilter {
    pub since: Option<i64>,
    pub until: Option<i64>,
    pub principal: Option<String>,
    pub object: Option<String>,
    pub action: Option<String>,
    pub outcome: Option<Outcome>,
    pub before_seq: Option<i64>,
    pub limit: u32,
}

/// A stored audit event with its position in the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub seq: i64,
    pub event: AuditEvent,
    /// Its place in its account's hash chain; `None` for the moment between a mutation's
    /// commit and the committer's next batch.
    pub link: Option<super::chain::Link>,
}

/// The events of a batch, given whether each of its claims was fresh (in order): the
/// writer claims first, then asks, so a request whose nonce is claimed in the same
/// transaction as its event gets its refusal written instead when the nonce was used.
pub type EventsGiven<'a> = &'a mut dyn FnMut(&[bool]) -> Vec<AuditEvent>;

/// Appends audit events. Runs on the audit committer's dedicated thread, synchronously:
/// every request waits for it, so it must not wait for an async runtime's turn.
pub trait AuditWriter: Send {
    /// In one durable transaction: inserts the nonce claims, then appends the events
    /// `events` gives for their answers, with the usage counters (encrypt counts, API-key
    /// last use) they carry. Answers, for each claim in order, whether its nonce was fresh
    /// (the first claim of a nonce in the batch wins, as a claim in an earlier batch would).
    fn append(
        &mut self,
        claims: &[NonceClaim],
        events: EventsGiven<'_>,
    ) -> Result<Vec<bool>, StoreError>;
}

/// The audit log's storage: the committer's writer and the activity feed.
#[async_trait]
pub trait AuditLog: Send + Sync {
    /// A synchronous writer for the audit committer's own thread.
    fn audit_writer(&self) -> Result<Box<dyn AuditWriter>, StoreError>;
    async fn events(
        &self,
        account_id: &AccountId,
        filter: &ActivityFilter,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    // ---- Reading the trail forward (the live stream and the alert dispatcher) ----------
    // By chain position (`store::chain`): gapless and in commit order per account on
    // either engine and across nodes, so a reader that resumes after position p never
    // misses an event that committed later. Events not chained yet are not read until
    // the committer chains them (within 500 ms).

    /// The account's chained events strictly after position `after` that pass `filter` (its
    /// `before_seq` and `limit` are ignored), ascending by position, at most `limit`.
    async fn events_after(
        &self,
        account_id: &AccountId,
        after: i64,
        filter: &ActivityFilter,
        limit: u32,
    ) -> Result<Vec<StoredEvent>, StoreError>;

    /// The position of the account's newest event (0 when it has none): where a reader
    /// that wants only what comes next starts.
    async fn latest_position(&self, account_id: &AccountId) -> Result<i64, StoreError>;
}

/// An event's position in its account's chain, as [`AuditLog::events_after`] orders it
/// (0 for an event not chained yet, which `events_after` never returns).
pub fn position(event: &StoredEvent) -> i64 {
    event.link.map_or(0, |link| link.position)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_round_trip_through_their_words() {
        let outcomes = std::iter::once(Outcome::Success)
            .chain(ErrorCode::ALL.iter().copied().map(Outcome::Failure));
        for outcome in outcomes {
            assert_eq!(Outcome::parse(outcome.as_str()), Some(outcome));
        }
        assert_eq!(Outcome::parse("failure"), None);
        for method in AuthMethod::ALL {
            assert_eq!(AuthMethod::parse(method.as_str()), Some(*method));
        }
    }
}
