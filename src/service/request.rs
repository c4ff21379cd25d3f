//! The facts of one request that every audit event carries, and where its audit stands.

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
    audit: Arc<AtomicU8>,
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
            audit: Arc::new(AtomicU8::new(AUDIT_PENDING)),
        }
    }

    /// Whether the service recorded this request's event.
    pub fn is_audited(&self) -> bool {
        self.audit.load(Ordering::SeqCst) == AUDIT_RECORDED
    }

    /// Whether nobody tried to record this request's event yet.
    pub fn audit_pending(&self) -> bool {
        self.audit.load(Ordering::SeqCst) == AUDIT_PENDING
    }

    pub(in crate::service) fn mark_audited(&self) {
        self.audit.store(AUDIT_RECORDED, Ordering::SeqCst);
    }

    pub(in crate::service) fn mark_audit_failed(&self) {
        self.audit.store(AUDIT_FAILED, Ordering::SeqCst);
    }
}

/// A request as the service sees it: who (if anyone) and the request facts.
pub struct Ctx<'a> {
    pub meta: &'a RequestMeta,
    pub caller: &'a Caller,
}
