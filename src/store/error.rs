//! What the store can fail with. Conflicts are typed so that callers decide by the reason,
//! never by the wording; the wording is the message the caller of the API sees (409).

/// Why the store could not answer.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken (name taken) or an expected state had moved on.
    #[error("conflict: {0}")]
    Conflict(Conflict),
    /// The database cannot be reached or refused the write: retryable.
    #[error("database unavailable")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A row does not decode: a bug or a damaged database.
    #[error("corrupt row: {0}")]
    Corrupt(String),
}

/// Why a write was refused because of what is stored. The display text is the message
/// of the `conflict` reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Conflict {
    /// A uniqueness rule was broken: the name (or email, or membership) exists already.
    #[error("name taken")]
    NameTaken,
    /// The key already has a certificate with this fingerprint.
    #[error("this certificate is already imported for this key")]
    CertificateImported,
    /// The row an update or deletion had to change was changed or removed by another write.
    #[error("the object changed meanwhile")]
    Changed,
    /// Another rotation (or a deletion) moved the keyring's current version first.
    #[error("the keyring was rotated or deleted concurrently")]
    KeyringRotated,
    /// Another request restored (or purged) the trashed keyring first.
    #[error("the keyring left the trash concurrently")]
    KeyringLeftTrash,
    /// Another rotation (or a deletion) moved the key's current version first.
    #[error("the key was rotated or deleted concurrently")]
    KeyRotated,
    /// Another request restored (or purged) the trashed key first.
    #[error("the key left the trash concurrently")]
    KeyLeftTrash,
    /// The account is not scheduled for deletion, or not yet due, or already closed.
    #[error("the account deletion is not due")]
    DeletionNotDue,
    /// A machine token was used up, expired or disabled before this use could be taken.
    #[error("the token is used up, expired or disabled")]
    TokenUnusable,
    /// A proven binding or trusted CA is refused: the same certificate is already proven in
    /// another account (not closed). Only its key holder could have done that; the other
    /// account is not named.
    #[error(
        "this certificate is already registered with a proof of possession in another \
         account; only the holder of its private key could have done that, and a \
         certificate is proven in one account at a time"
    )]
    ProvenElsewhere,
    /// A group deletion without `force` found objects in the group (created meanwhile).
    #[error(
        "the group holds objects; delete them first, or pass force=true to move them to the trash"
    )]
    GroupHoldsObjects,
    /// A master-key rotation of the group is still running.
    #[error("a master-key rotation of this group is still running; wait for its job to finish")]
    RotationRunning,
    /// The group's master key was rotated while a key was being wrapped under the old one.
    #[error("the group's master key was rotated meanwhile; retry")]
    MasterRotated,
    /// Another writer added a version of the secret first (or trashed it).
    #[error("the secret was changed or deleted concurrently; read it again and retry")]
    SecretChanged,
    /// Another request restored (or purged) the trashed secret first.
    #[error("the secret left the trash concurrently")]
    SecretLeftTrash,
    /// The version is not a pending one (confirmed already, abandoned, or never made).
    #[error("this version is not waiting to be applied")]
    VersionNotPending,
    /// Another node took over the job (this node's lease expired).
    #[error("the job's lease was lost to another node")]
    LeaseLost,
}
