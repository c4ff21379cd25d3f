//! The facts of one request that every audit event carries, and where its audit stands.

use super::auth::DeferredNonce;
use super::*;

/// Facts about one request that every audit event carries, and where its audit stands:
/// the HTTP layer records a safety-net event only for requests the service did not audit,
/// and never retries one whose audit already failed (the request is a 503 by then, and a
/// second wait would double the bound).
#[derive(Debug, Clone)]
pub struct RequestMeta {
    pub request_id: String,
    pub source_ip: Option<String>,
    /// The status a successful answer carries (201 for creations, 204 for deletions), for
    /// the audit event, which is written before the answer.
    pub success_status: u16,
    /// The face the request came through when it is not the native API (`aws-kms:Encrypt`):
    /// every event of the request names it in its `detail`.
    pub via: Option<String>,
    audit: Arc<AuditProgress>,
}

/// Where a request's audit stands, shared by every copy of its [`RequestMeta`].
#[derive(Debug, Default)]
struct AuditProgress {
    state: AtomicU8,
    /// A signed request's nonce not claimed yet: claimed with the request's first event
    /// (one commit instead of two), or before anything the request changes.
    nonce: std::sync::Mutex<Option<DeferredNonce>>,
}

const AUDIT_PENDING: u8 = 0;

const AUDIT_RECORDED: u8 = 1;

const AUDIT_FAILED: u8 = 2;

impl RequestMeta {
    pub fn new(request_id: String, source_ip: Option<String>) -> Self {
        Self {
            request_id,
            source_ip,
            success_status: 200,
            via: None,
            audit: Arc::new(AuditProgress::default()),
        }
    }

    /// Whether the service recorded this request's event.
    pub fn is_audited(&self) -> bool {
        self.audit.state.load(Ordering::SeqCst) == AUDIT_RECORDED
    }

    /// Whether nobody tried to record this request's event yet.
    pub fn audit_pending(&self) -> bool {
        self.audit.state.load(Ordering::SeqCst) == AUDIT_PENDING
    }

    pub(in crate::service) fn mark_audited(&self) {
        self.audit.state.store(AUDIT_RECORDED, Ordering::SeqCst);
    }

    pub(in crate::service) fn mark_audit_failed(&self) {
        self.audit.state.store(AUDIT_FAILED, Ordering::SeqCst);
    }

    /// Leaves the request's nonce to be claimed with its first event.
    pub(in crate::service) fn defer_nonce(&self, nonce: DeferredNonce) {
        *self.nonce_slot() = Some(nonce);
    }

    /// The nonce still to claim, if any; whoever takes it claims it.
    pub(in crate::service) fn take_deferred_nonce(&self) -> Option<DeferredNonce> {
        self.nonce_slot().take()
    }

    fn nonce_slot(&self) -> std::sync::MutexGuard<'_, Option<DeferredNonce>> {
        self.audit.nonce.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A request as the service sees it: who (if anyone) and the request facts.
pub struct Ctx<'a> {
    pub meta: &'a RequestMeta,
    pub caller: &'a Caller,
}
