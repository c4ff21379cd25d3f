//! `components.schemas`: every request and reply schema the catalogue names, generated
//! from the DTO types (utoipa's `ToSchema`), so a schema cannot drift from the type that
//! (de)serializes it. The lists are the arrays of those types the list routes answer.

use crate::auth::guardrails::{Guardrails, TimeWindow};
use crate::http::ai::{
    Agent, AgentToken, CreateAgentToken, IssuedAgentToken, RegisterAgent, UpdateAgent,
};
use crate::http::dto::*;
use serde_json::Value;
use utoipa::openapi::schema::ArrayBuilder;
use utoipa::openapi::schema::Schema;
use utoipa::openapi::{ComponentsBuilder, Ref, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// `(name, schema)` of each type, under the name the type gives itself.
macro_rules! named {
    ($($ty:ty),* $(,)?) => {
        [$((<$ty as ToSchema>::name().into_owned(), <$ty as PartialSchema>::schema())),*]
    };
}

/// `(name, schema)` of an array of each type.
macro_rules! lists {
    ($($name:literal => $ty:ty),* $(,)?) => {
        [$(($name.to_owned(), list(&<$ty as ToSchema>::name()))),*]
    };
}

/// An array of the schema `item`, by reference.
fn list(item: &str) -> RefOr<Schema> {
    ArrayBuilder::new()
        .items(RefOr::Ref(Ref::from_schema_name(item)))
        .into()
}

/// A PATCH body: at least one of its (optional) fields. Said here rather than with
/// `#[schema(min_properties = 1)]`, which utoipa-gen 5.5 renders as `maxProperties`.
fn patch<T: ToSchema>() -> (String, RefOr<Schema>) {
    let mut schema = T::schema();
    if let RefOr::T(Schema::Object(object)) = &mut schema {
        object.min_properties = Some(1);
    }
    (T::name().into_owned(), schema)
}

/// Every object schema, by domain (the files of `dto`).
fn objects() -> Vec<(String, RefOr<Schema>)> {
    let mut all = Vec::new();
    all.extend(named! { ServiceStatus, ErrorReply });
    all.extend(
        named! { CreateApiKey, CreatedApiKey, ApiKey, AppCertificate, AppCredentials,
        BindCertificate, CreateTrustedCa, TrustedCa, Revoke, Revocation },
    );
    all.extend(
        named! { CreateGroup, Group, Job, CreateApp, App, GroupUserRole, GroupUser,
        GroupAppOperations, GroupApp, GroupMembers },
    );
    all.extend(
        named! { CreateKeyring, Keyring, Encrypt, Encrypted, Decrypt, Decrypted,
        DataKeyRequest, DataKey, Rotated, KeyringConfig, PatchKeyringConfig, KeyVersion, HashInfo },
    );
    all.extend(
        named! { CreateKey, PatchKey, KeyVersionOut, Key, PublicKeyOut, Sign, Signed,
        Verify, Verified, KeyDecrypt },
    );
    all.extend(named! { CsrRequest, Csr, ImportCertificate, ChainEntry, Certificate });
    all.extend(named! { Event, Activity, SecurityObject });
    all.extend(
        named! { Login, Session, SessionInfo, ChangePassword, CompleteReset, ResetIssued,
        NamedOnly, Account, CreateUser, User },
    );
    all.extend(
        named! { TimeWindow, Guardrails, CreateMachineToken, MachineTokenInfo,
        MachineTokenIssued, RegisterMachine, ProvisionMachine, BundleDownload, ExtendMachine,
        Machine, ProvisionedMachine, MachineBundle },
    );
    all.extend(
        named! { CreateSecret, SecretRotation, SecretRotationOut, Managed, Secret, SecretValue,
        SecretField, PendingSecretVersion, SetSecretValue, RevealSecret, RollbackSecret,
        SecretVersion, SecretGrant, ApplyFailure, FreezeGroup },
    );
    all.extend(named! { CreateShare, GenerateValue, CreatedShare, Share, OpenShare, OpenedShare });
    all.extend(named! { Checkpoint, CheckpointList, SigningKey });
    all.extend(
        named! { PolicyTimeWindow, PolicyRate, PolicyCosign, PolicyTtl, CreatePolicy, Policy,
        PolicyBinding },
    );
    all.extend([patch::<PatchPolicy>()]);
    all.extend(named! { CreateAlert, PatchAlert, Alert, CreatedAlert, AlertTest, Delivery });
    all.extend(named! { SetQuorum, Quorum, DenyApproval, ApprovalVote, Approval });
    all.extend(named! { CreateAgentToken, IssuedAgentToken, AgentToken, RegisterAgent, Agent });
    all.extend([patch::<UpdateAgent>()]);
    all.extend(named! { Invitation, InvitationIssued, UserAdded, AcceptInvitation });
    all.extend(named! { CreateTemplate, PatchTemplate, Template, TemplateReach, AssignTemplate, Assignment });
    all.extend(
        named! { CreateAwsCredential, PatchAwsCredential, AwsCredential, CreatedAwsCredential },
    );
    all.extend([
        patch::<PatchApiKey>(),
        patch::<PatchApp>(),
        patch::<PatchUser>(),
    ]);
    all
}

/// The lists the list routes answer, each an array of an object schema.
fn lists() -> Vec<(String, RefOr<Schema>)> {
    let mut all = Vec::new();
    all.extend(lists!("ApiKeyList" => ApiKey, "GroupList" => Group, "AppList" => App));
    all.extend(lists!("KeyringList" => Keyring, "KeyVersionList" => KeyVersion));
    all.extend(lists!("KeyList" => Key, "ObjectList" => SecurityObject));
    all.extend(lists!("CertificateList" => Certificate, "SessionList" => SessionInfo));
    all.extend(lists!("AccountList" => Account, "UserList" => User));
    all.extend(lists!("TrustedCaList" => TrustedCa, "RevocationList" => Revocation));
    all.extend(lists!("MachineTokenList" => MachineTokenInfo, "MachineList" => Machine));
    all.extend(
        lists!("SecretList" => Secret, "SecretVersionList" => SecretVersion,
        "SecretGrantList" => SecretGrant),
    );
    all.extend(lists!("ShareList" => Share));
    all.extend(lists!("PolicyList" => Policy, "PolicyBindingList" => PolicyBinding));
    all.extend(lists!("AlertList" => Alert, "DeliveryList" => Delivery));
    all.extend(lists!("ApprovalList" => Approval));
    all.extend(lists!("AgentList" => Agent, "AgentTokenList" => AgentToken));
    all.extend(lists!("InvitationList" => Invitation));
    all.extend(lists!("TemplateList" => Template));
    all.extend(lists!("AwsCredentialList" => AwsCredential));
    all
}

/// The `components.schemas` object of the document.
pub fn schemas() -> Value {
    let components = ComponentsBuilder::new()
        .schemas_from_iter(objects())
        .schemas_from_iter(lists())
        .build();
    serde_json::to_value(components.schemas).expect("schemas serialize to JSON")
}
