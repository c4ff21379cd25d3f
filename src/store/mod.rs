//! Persistent state behind one trait. Rows hold wrapped keys and metadata, never plaintext
//! key material. Every mutation is written in the same transaction as its audit event, so
//! a change that cannot be audited does not happen.
//!
//! [`Store`] gathers one trait per domain (accounts, users, sessions, groups, apps,
//! client certificates, keyrings, keys, machines, background jobs, the audit log); each domain module holds
//! its rows and its trait. The SQL implementation ([`SqlStore`], SQLite or PostgreSQL)
//! mirrors that layout.

#[macro_use]
mod names;

mod accounts;
mod ai_agents;
mod alerts;
mod approvals;
mod apps;
mod audit;
mod aws_credentials;
pub mod chain;
mod changes;
mod client_certs;
mod credential;
mod database;
mod error;
mod groups;
mod invitations;
mod jobs;
mod keyrings;
mod keys;
mod machines;
mod policies;
mod secrets;
mod sessions;
mod shares;
mod sql;
mod sql_ids;
mod templates;
mod trail;
mod users;

mod aws_kms;

pub use accounts::*;
pub use ai_agents::*;
pub use alerts::*;
pub use approvals::*;
pub use apps::*;
pub use audit::*;
pub use aws_credentials::*;
pub use changes::{ChangeLog, ChangeRow};
pub use client_certs::*;
pub use credential::Credential;
pub use database::{Database, PostgresUrl};
pub use error::*;
pub use groups::*;
pub use invitations::*;
pub use jobs::*;
pub use keyrings::*;
pub use keys::*;
pub use machines::*;
pub use policies::*;
pub use secrets::*;
pub use sessions::*;
pub use shares::*;
pub use sql::SqlStore;
pub use templates::*;
pub use trail::*;
pub use users::*;

pub use aws_kms::*;

use async_trait::async_trait;

/// Everything the service needs to persist.
#[async_trait]
pub trait Store:
    AccountStore
    + UserStore
    + SessionStore
    + GroupStore
    + JobStore
    + AppStore
    + ClientCertStore
    + KeyringStore
    + KeyStore
    + MachineStore
    + SecretStore
    + AuditLog
    + ChangeLog
    + ShareStore
    + TrailStore
    + PolicyStore
    + AlertStore
    + ApprovalStore
    + AiAgentStore
    + InvitationStore
    + TemplateStore
    + AwsCredentialStore
    + AwsKmsStore
    + Send
    + Sync
    + 'static
{
    /// Whether the database takes a durable write now (readiness).
    async fn probe_write(&self, now: i64) -> Result<(), StoreError>;

    /// Closes every connection once the ones in use come back: when it returns, the node
    /// holds the database no longer (SQLite has checkpointed and removed its journal).
    async fn close(&self);
}
