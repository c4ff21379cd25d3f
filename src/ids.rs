//! Typed ids: one newtype per kind of stored object, so an account id cannot be passed where
//! a group id is expected and a signature says which object it names.
//!
//! Each id is the opaque text the database and the wire already carry (`grp_…`, `kr_…`):
//! serde sees it as a plain string (`#[serde(transparent)]`), so DTOs, path parameters and
//! JSON columns are unchanged, and it dereferences to `&str` wherever text is wanted
//! (messages, logs, audit object strings). A leaf: it depends on nothing else of the crate;
//! the store maps the ids to database columns, from the one list of `for_each_id`.

use std::borrow::Borrow;
use std::fmt;
use std::ops::Deref;

/// Declares each id newtype over `String` with its conversions to and from text.
macro_rules! ids {
    ($( $(#[$meta:meta])* $name:ident, )+) => {$(
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn as_str(&self) -> &str {
                &self.0
            }

            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Deref for $name {
            type Target = str;

            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl Borrow<str> for $name {
            fn borrow(&self) -> &str {
                &self.0
            }
        }

        impl From<String> for $name {
            fn from(id: String) -> Self {
                Self(id)
            }
        }

        impl From<&str> for $name {
            fn from(id: &str) -> Self {
                Self(id.to_owned())
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    )+};
}

/// Hands the list of id types, each with its doc comment, to the macro `$callback`: the
/// one place that lists them, so the types declared here and the database mapping the store
/// implements (`store::sql_ids`) cannot drift apart.
macro_rules! for_each_id {
    ($callback:ident) => {
        $callback! {
            /// An account (tenant).
            AccountId,
            /// A user: a human who can be a member of several accounts.
            UserId,
            /// A security group of an account.
            GroupId,
            /// An app: a non-human principal (machines are apps too).
            AppId,
            /// An API key, the credential of apps and users.
            ApiKeyId,
            /// An AWS-style access key id (`CFKA…`), an app's credential on the AWS KMS face.
            AwsAccessKeyId,
            /// A keyring (symmetric key with versions).
            KeyringId,
            /// An asymmetric key (key pair or public key).
            KeyId,
            /// A certificate linked to a key version.
            CertificateId,
            /// A trusted certificate authority for client certificates.
            CaId,
            /// A client-certificate credential bound to an app.
            AppCertificateId,
            /// A machine; also the id of the machine's app.
            MachineId,
            /// A bootstrap, enrollment, temporary or bundle token of machines.
            MachineTokenId,
            /// A login session.
            SessionId,
            /// A one-time password-reset (or setup) token.
            ResetId,
            /// A background job (a group master-key rotation).
            JobId,
            /// A secret (a stored value with versions).
            SecretId,
            /// A one-time, self-destructing share of a value.
            ShareId,
            /// An alert rule (a webhook for matching audit events).
            AlertId,
            /// One webhook delivery of an alert (a row of the outbox).
            DeliveryId,
            /// A pending (or decided) quorum approval of a dangerous operation.
            ApprovalId,
            /// An AI agent (an AI coding client's management-plane identity).
            AiAgentId,
            /// A one-time bootstrap token that registers an AI agent.
            AiTokenId,
            /// An invitation of a person into an account.
            InvitationId,
        }
    };
}
pub(crate) use for_each_id;

for_each_id!(ids);

impl MachineId {
    /// The id of the app this machine is: the schema gives a machine its app's id
    /// (`machines.id` references `apps(id)`), so group places and API keys of the machine
    /// name it as an app.
    pub fn app_id(&self) -> AppId {
        AppId(self.0.clone())
    }
}
