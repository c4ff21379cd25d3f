//! A stored credential: the record that listings and answers show, and the HSM digest of its
//! secret, which only the credential check reads. The digest travels beside the record, never
//! inside it, so no row handed to the HTTP layer carries it.

/// An API key, session, password reset or machine token as stored: `record` is what callers
/// may see; `digest` is the HSM HMAC of the secret (never the secret).
#[derive(Clone, PartialEq, Eq)]
pub struct Credential<R> {
    pub record: R,
    pub digest: Vec<u8>,
}

impl<R: std::fmt::Debug> std::fmt::Debug for Credential<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("record", &self.record)
            .finish_non_exhaustive()
    }
}
