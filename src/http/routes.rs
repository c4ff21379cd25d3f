//! The binding of every catalogue operation to its handler. Routes are registered only
//! through [`Routes::at`], which takes the method, path and status of success from the
//! catalogue, and [`Routes::finish`] refuses to build a router that leaves a catalogue
//! operation without a handler: what is served and what is documented cannot drift.

use super::ai;
use super::aws;
use super::handlers::*;
use super::templates;
use super::{AppState, identity, keys, machines, policies, secrets, shares, trail};
use super::{alerts, approvals, stream};
use crate::catalogue::{self as op, Method, Operation};
use crate::service::RequestMeta;
use axum::Router;
use axum::extract::Request;
use axum::handler::Handler;
use axum::middleware::{Next, from_fn};
use axum::routing::{MethodFilter, MethodRouter, on};

/// Every operation of the catalogue with its handler.
pub(super) fn served() -> Router<AppState> {
    let routes = Routes::default();
    let routes = machines_routes(keys_routes(keyrings_routes(identity_routes(
        tenancy_routes(operations_routes(routes)),
    ))));
    let routes = secrets_routes(routes);
    let routes = shares_routes(routes);
    let routes = policies_routes(routes);
    let routes = watch_routes(routes);
    let routes = approvals_routes(routes);
    let routes = ai_routes(routes);
    let routes = templates_routes(routes);
    routes.finish()
}

/// The operations routes, which carry no credential.
fn operations_routes(routes: Routes) -> Routes {
    routes
        .at(&op::HEALTH, health)
        .at(&op::READY, ready)
        .at(&op::METRICS, metrics)
        .at(&op::OPENAPI, openapi_document)
}

/// API keys, groups and apps.
fn tenancy_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_API_KEY, create_api_key)
        .at(&op::LIST_API_KEYS, list_api_keys)
        .at(&op::GET_API_KEY, get_api_key)
        .at(&op::UPDATE_API_KEY, update_api_key)
        .at(&op::CREATE_GROUP, create_group)
        .at(&op::LIST_GROUPS, list_groups)
        .at(&op::GET_GROUP, get_group)
        .at(&op::ROTATE_MASTER, rotate_master)
        .at(&op::GET_JOB, get_job)
        .at(&op::CREATE_APP, create_app)
        .at(&op::LIST_APPS, list_apps)
        .at(&op::GET_APP, get_app)
}

/// Log-in, sessions, accounts, users, group membership and app certificates.
fn identity_routes(routes: Routes) -> Routes {
    routes
        .at(&op::LOGIN, identity::login)
        .at(&op::LOGOUT, identity::logout)
        .at(&op::LIST_SESSIONS, identity::list_sessions)
        .at(&op::REVOKE_SESSION, identity::revoke_session)
        .at(&op::CHANGE_PASSWORD, identity::change_password)
        .at(
            &op::COMPLETE_PASSWORD_RESET,
            identity::complete_password_reset,
        )
        .at(&op::CREATE_ACCOUNT, identity::create_account)
        .at(&op::LIST_ACCOUNTS, identity::list_accounts)
        .at(&op::GET_ACCOUNT, identity::get_account)
        .at(&op::UPDATE_ACCOUNT, identity::update_account)
        .at(&op::DELETE_ACCOUNT, identity::delete_account)
        .at(
            &op::REQUEST_ACCOUNT_DELETION,
            identity::request_account_deletion,
        )
        .at(
            &op::CANCEL_ACCOUNT_DELETION,
            identity::cancel_account_deletion,
        )
        .at(&op::CREATE_USER, identity::create_user)
        .at(&op::LIST_USERS, identity::list_users)
        .at(&op::GET_USER, identity::get_user)
        .at(&op::UPDATE_USER, identity::update_user)
        .at(&op::REMOVE_USER, identity::remove_user)
        .at(&op::CREATE_PASSWORD_RESET, identity::create_password_reset)
        .at(&op::UPDATE_GROUP, identity::update_group)
        .at(&op::DELETE_GROUP, identity::delete_group)
        .at(&op::GROUP_MEMBERS, identity::group_members)
        .at(&op::SET_GROUP_USER, identity::set_group_user)
        .at(&op::REMOVE_GROUP_USER, identity::remove_group_user)
        .at(&op::SET_GROUP_APP, identity::set_group_app)
        .at(&op::REMOVE_GROUP_APP, identity::remove_group_app)
        .at(&op::UPDATE_APP, identity::update_app)
        .at(&op::DELETE_APP, identity::delete_app)
        .at(&op::APP_CREDENTIALS, identity::app_credentials)
        .at(&op::BIND_CERTIFICATE, identity::bind_certificate)
        .at(&op::UNBIND_CERTIFICATE, identity::unbind_certificate)
        .at(&op::CREATE_AWS_CREDENTIAL, aws::create_credential)
        .at(&op::LIST_AWS_CREDENTIALS, aws::list_credentials)
        .at(&op::UPDATE_AWS_CREDENTIAL, aws::update_credential)
        .at(&op::DELETE_AWS_CREDENTIAL, aws::delete_credential)
        .at(&op::ADD_TRUSTED_CA, identity::add_trusted_ca)
        .at(&op::LIST_TRUSTED_CAS, identity::list_trusted_cas)
        .at(&op::REVOKE_CERTIFICATE, identity::revoke_certificate)
        .at(&op::LIST_REVOCATIONS, identity::list_revocations)
        .at(&op::LIST_INVITATIONS, identity::list_invitations)
        .at(&op::REVOKE_INVITATION, identity::revoke_invitation)
        .at(&op::ACCEPT_INVITATION, identity::accept_invitation)
}

/// Keyrings and envelope encryption.
fn keyrings_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_KEYRING, create_keyring)
        .at(&op::LIST_KEYRINGS, list_keyrings)
        .at(&op::GET_KEYRING, get_keyring)
        .at(&op::DELETE_KEYRING, delete_keyring)
        .at(&op::ENCRYPT, encrypt)
        .at(&op::DECRYPT, decrypt)
        .at(&op::REWRAP, rewrap)
        .at(&op::DATAKEY, datakey)
        .at(&op::ROTATE_KEYRING, rotate)
        .at(&op::RESTORE_KEYRING, restore_keyring)
        .at(&op::GET_KEYRING_CONFIG, get_config)
        .at(&op::UPDATE_KEYRING_CONFIG, update_config)
        .at(&op::KEYRING_KEYS, keys)
        .at(&op::LOOKUP_HASH, lookup_hash)
}

/// Secrets, their values, versions, rotation and grants; frozen groups.
fn secrets_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_SECRET, secrets::create_secret)
        .at(&op::LIST_SECRETS, secrets::list_secrets)
        .at(&op::GET_SECRET, secrets::get_secret)
        .at(&op::READ_SECRET_VALUE, secrets::read_value)
        .at(&op::READ_SECRET_FIELD, secrets::read_field)
        .at(&op::REVEAL_SECRET, secrets::reveal)
        .at(&op::SET_SECRET_VALUE, secrets::set_value)
        .at(&op::SECRET_VERSIONS, secrets::versions)
        .at(&op::ROLLBACK_SECRET, secrets::rollback)
        .at(&op::SET_SECRET_ROTATION, secrets::set_rotation)
        .at(&op::DELETE_SECRET_ROTATION, secrets::delete_rotation)
        .at(&op::ROTATE_SECRET, secrets::rotate)
        .at(&op::LIST_SECRET_GRANTS, secrets::grants)
        .at(&op::GRANT_SECRET, secrets::grant)
        .at(&op::REVOKE_SECRET, secrets::revoke)
        .at(&op::DELETE_SECRET, secrets::delete_secret)
        .at(&op::RESTORE_SECRET, secrets::restore_secret)
        .at(&op::PENDING_SECRET_VERSION, secrets::pending)
        .at(&op::APPLIED_SECRET_VERSION, secrets::applied)
        .at(&op::FAILED_SECRET_VERSION, secrets::failed)
        .at(&op::FREEZE_GROUP, secrets::freeze_group)
        .at(&op::UNFREEZE_GROUP, secrets::unfreeze_group)
}

/// Asymmetric keys, their certificates, and the cross-object reads.
fn keys_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_KEY, keys::create_key)
        .at(&op::LIST_KEYS, keys::list_keys)
        .at(&op::GET_KEY, keys::get_key)
        .at(&op::UPDATE_KEY, keys::update_key)
        .at(&op::DELETE_KEY, keys::delete_key)
        .at(&op::PUBLIC_KEY, keys::public_key)
        .at(&op::SIGN, keys::sign)
        .at(&op::VERIFY, keys::verify)
        .at(&op::KEY_DECRYPT, keys::decrypt)
        .at(&op::ROTATE_KEY, keys::rotate_key)
        .at(&op::RESTORE_KEY, keys::restore_key)
        .at(&op::CSR, keys::csr)
        .at(&op::IMPORT_CERTIFICATE, keys::import_certificate)
        .at(&op::KEY_CERTIFICATES, keys::list_certificates)
        .at(&op::DELETE_KEY_CERTIFICATE, keys::delete_certificate)
        .at(&op::OBJECTS, keys::objects)
        .at(&op::ACTIVITY, activity)
        .at(&op::EXPORT_ACTIVITY, trail::export)
        .at(&op::CREATE_CHECKPOINT, trail::create_checkpoint)
        .at(&op::LIST_CHECKPOINTS, trail::list_checkpoints)
        .at(&op::TRAIL_SIGNING_KEY, trail::signing_key)
}

/// Machine tokens and machines.
fn machines_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_MACHINE_TOKEN, machines::create_token)
        .at(&op::LIST_MACHINE_TOKENS, machines::list_tokens)
        .at(&op::DISABLE_MACHINE_TOKEN, machines::disable_token)
        .at(&op::PROVISION_MACHINE, machines::provision)
        .at(&op::LIST_MACHINES, machines::list)
        .at(&op::REGISTER_MACHINE, machines::register)
        .at(&op::DOWNLOAD_BUNDLE, machines::download_bundle)
        .at(&op::GET_MACHINE, machines::get)
        .at(&op::DELETE_MACHINE, machines::delete)
        .at(&op::APPROVE_MACHINE, machines::approve)
        .at(&op::DISABLE_MACHINE, machines::disable)
        .at(&op::ENABLE_MACHINE, machines::enable)
        .at(&op::EXTEND_MACHINE, machines::extend)
        .at(&op::REVERT_MACHINE_EXTENSION, machines::revert_extension)
}

/// One-time shares and the recipient's page.
fn shares_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_SHARE, shares::create)
        .at(&op::LIST_SHARES, shares::list)
        .at(&op::DELETE_SHARE, shares::delete)
        .at(&op::OPEN_SHARE, shares::open)
        .at(&op::SHARE_PAGE, shares::page_view)
}

/// Access policies and their bindings.
fn policies_routes(routes: Routes) -> Routes {
    routes
        .at(&op::CREATE_POLICY, policies::create)
        .at(&op::LIST_POLICIES, policies::list)
        .at(&op::GET_POLICY, policies::get)
        .at(&op::UPDATE_POLICY, policies::update)
        .at(&op::DELETE_POLICY, policies::delete)
        .at(&op::LIST_POLICY_BINDINGS, policies::bindings)
        .at(&op::BIND_POLICY, policies::bind)
        .at(&op::UNBIND_POLICY, policies::unbind)
}

/// The live activity stream, alert rules and their deliveries.
fn watch_routes(routes: Routes) -> Routes {
    routes
        .at(&op::ACTIVITY_STREAM, stream::stream)
        .at(&op::CREATE_ALERT, alerts::create)
        .at(&op::LIST_ALERTS, alerts::list)
        .at(&op::GET_ALERT, alerts::get)
        .at(&op::UPDATE_ALERT, alerts::update)
        .at(&op::DELETE_ALERT, alerts::delete)
        .at(&op::ROTATE_ALERT_SECRET, alerts::rotate_secret)
        .at(&op::TEST_ALERT, alerts::test)
        .at(&op::ALERT_DELIVERIES, alerts::deliveries)
        .at(&op::RETRY_DELIVERY, alerts::retry)
}

/// Quorums and the approvals of dangerous operations.
fn approvals_routes(routes: Routes) -> Routes {
    routes
        .at(&op::SET_GROUP_QUORUM, approvals::set_group_quorum)
        .at(&op::GET_GROUP_QUORUM, approvals::get_group_quorum)
        .at(&op::CLEAR_GROUP_QUORUM, approvals::clear_group_quorum)
        .at(&op::SET_ACCOUNT_QUORUM, approvals::set_account_quorum)
        .at(&op::GET_ACCOUNT_QUORUM, approvals::get_account_quorum)
        .at(&op::CLEAR_ACCOUNT_QUORUM, approvals::clear_account_quorum)
        .at(&op::LIST_APPROVALS, approvals::list)
        .at(&op::GET_APPROVAL, approvals::get)
        .at(&op::APPROVE, approvals::approve)
        .at(&op::DENY, approvals::deny)
}

/// AI agents: the users' management routes, registration, and the agent-facing routes.
fn ai_routes(routes: Routes) -> Routes {
    use ai::facing as agent;
    routes
        .at(&op::CREATE_AI_TOKEN, ai::create_token)
        .at(&op::LIST_AI_TOKENS, ai::list_tokens)
        .at(&op::DELETE_AI_TOKEN, ai::delete_token)
        .at(&op::REGISTER_AI_AGENT, ai::register)
        .at(&op::LIST_AI_AGENTS, ai::list)
        .at(&op::GET_AI_AGENT, ai::get)
        .at(&op::UPDATE_AI_AGENT, ai::update)
        .at(&op::DISABLE_AI_AGENT, ai::disable)
        .at(&op::ENABLE_AI_AGENT, ai::enable)
        .at(&op::DELETE_AI_AGENT, ai::delete)
        .at(&op::AI_WHOAMI, agent::whoami)
        .at(&op::AI_LIST_GROUPS, agent::list_groups)
        .at(&op::AI_CREATE_GROUP, agent::create_group)
        .at(&op::AI_LIST_SECRETS, agent::list_secrets)
        .at(&op::AI_GET_SECRET, agent::get_secret)
        .at(&op::AI_CREATE_SECRET, agent::create_secret)
        .at(&op::AI_SET_SECRET_VALUE, agent::set_secret_value)
        .at(&op::AI_ROTATE_SECRET, agent::rotate_secret)
        .at(&op::AI_LIST_KEYRINGS, agent::list_keyrings)
        .at(&op::AI_CREATE_KEYRING, agent::create_keyring)
        .at(&op::AI_LIST_MACHINES, agent::list_machines)
        .at(&op::AI_ACTIVITY, agent::activity)
        .at(&op::AI_LIST_ALERTS, agent::list_alerts)
        .at(&op::AI_CREATE_ALERT, agent::create_alert)
        .at(&op::AI_CREATE_SHARE, agent::create_share)
}

/// Permission templates and their assignment.
fn templates_routes(routes: Routes) -> Routes {
    routes
        .at(&op::LIST_TEMPLATES, templates::list)
        .at(&op::CREATE_TEMPLATE, templates::create)
        .at(&op::GET_TEMPLATE, templates::get)
        .at(&op::UPDATE_TEMPLATE, templates::update)
        .at(&op::DELETE_TEMPLATE, templates::delete)
        .at(&op::ASSIGN_TEMPLATE, templates::assign)
}

/// A router under construction, with the operations bound so far.
#[derive(Default)]
struct Routes {
    router: Router<AppState>,
    bound: Vec<&'static Operation>,
}

impl Routes {
    /// Serves `operation` with `handler`.
    fn at<H, T>(mut self, operation: &'static Operation, handler: H) -> Self
    where
        H: Handler<T, AppState>,
        T: 'static,
    {
        let mut route = answering(operation.status, on(filter(operation.method), handler));
        if operation.answers_only {
            route = route.route_layer(axum::Extension(super::extract::AnswersOnly));
        }
        self.router = self.router.route(operation.path, route);
        self.bound.push(operation);
        self
    }

    /// The router, once every catalogue operation has a handler (checked at start-up, so
    /// every test that starts a server fails on a forgotten binding).
    fn finish(self) -> Router<AppState> {
        let unbound: Vec<String> = op::ALL
            .iter()
            .filter(|entry| !self.bound.iter().any(|b| same_route(b, entry)))
            .map(|entry| format!("{} {}", entry.method.as_str(), entry.path))
            .collect();
        assert!(
            unbound.is_empty(),
            "catalogue operations without a handler: {unbound:?}"
        );
        self.router
    }
}

fn same_route(a: &Operation, b: &Operation) -> bool {
    a.method == b.method && a.path == b.path
}

fn filter(method: Method) -> MethodFilter {
    match method {
        Method::Get => MethodFilter::GET,
        Method::Post => MethodFilter::POST,
        Method::Put => MethodFilter::PUT,
        Method::Patch => MethodFilter::PATCH,
        Method::Delete => MethodFilter::DELETE,
    }
}

/// A route whose success is `status`: its audit event (written before the answer, often
/// in the same transaction as the change) records the status the client gets.
fn answering(status: u16, route: MethodRouter<AppState>) -> MethodRouter<AppState> {
    if status == 200 {
        return route;
    }
    route.route_layer(from_fn(
        move |mut request: Request, next: Next| async move {
            if let Some(meta) = request.extensions_mut().get_mut::<RequestMeta>() {
                meta.success_status = status;
            }
            next.run(request).await
        },
    ))
}
