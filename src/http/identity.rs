//! Handlers of identity routes: login and sessions, passwords, accounts, users, group
//! members, apps' lifecycle and client-certificate credentials.

use super::dto;
use super::handlers::{Created, Reply, all, created, no_content, ok, query};
use super::{Anonymous, AppState, Authed, JsonBody};
use crate::clock::rfc3339;
use crate::ids::{AccountId, AppCertificateId, AppId, GroupId, InvitationId, SessionId, UserId};
use crate::service::GroupMember;
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

pub async fn login(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::Login>,
) -> Reply<Created<dto::Session>> {
    created(
        &s.service
            .login(&anon.meta, &body.email, body.password, &body.account.into())
            .await?,
    )
}

pub async fn logout(auth: Authed, State(s): State<AppState>) -> Reply<StatusCode> {
    no_content(s.service.logout(&auth.ctx()).await)
}

pub async fn list_sessions(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::SessionInfo>>> {
    let rows = s.service.list_sessions(&auth.ctx()).await?;
    let current = auth.caller.credential.as_deref();
    Ok(Json(
        rows.iter()
            .map(|r| dto::SessionInfo {
                id: r.id.to_string(),
                created_at: rfc3339(r.created_at),
                expires_at: rfc3339(r.expires_at),
                revoked: r.revoked_at.is_some(),
                current: current == Some(r.id.as_str()),
                source_ip: r.source_ip.clone(),
            })
            .collect(),
    ))
}

pub async fn revoke_session(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<SessionId>,
) -> Reply<StatusCode> {
    no_content(s.service.revoke_session(&auth.ctx(), &id).await)
}

pub async fn change_password(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::ChangePassword>,
) -> Reply<StatusCode> {
    no_content(
        s.service
            .change_password(&auth.ctx(), body.current_password, body.new_password)
            .await,
    )
}

pub async fn complete_password_reset(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CompleteReset>,
) -> Reply<StatusCode> {
    no_content(
        s.service
            .complete_password_reset(&anon.meta, &body.token, body.new_password)
            .await,
    )
}

pub async fn create_account(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::NamedOnly>,
) -> Reply<Created<dto::Account>> {
    let account = s.service.create_account(&auth.ctx(), &body.name).await?;
    created(dto::Account::from_state(&account, Some("owner".into())))
}

pub async fn list_accounts(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Account>>> {
    let rows = s.service.list_accounts(&auth.ctx()).await?;
    Ok(Json(
        rows.iter()
            .map(|(a, role)| dto::Account::from_state(a, Some(role.as_str().to_owned())))
            .collect(),
    ))
}

pub async fn get_account(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<Json<dto::Account>> {
    ok(&s.service.get_account(&auth.ctx(), &id).await?)
}

pub async fn update_account(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
    JsonBody(body): JsonBody<dto::NamedOnly>,
) -> Reply<Json<dto::Account>> {
    ok(&s
        .service
        .rename_account(&auth.ctx(), &id, &body.name)
        .await?)
}

pub async fn request_account_deletion(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<(StatusCode, Json<dto::Account>)> {
    let account = s.service.request_account_deletion(&auth.ctx(), &id).await?;
    Ok((StatusCode::ACCEPTED, Json(dto::Account::from(&account))))
}

pub async fn cancel_account_deletion(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<Json<dto::Account>> {
    ok(&s.service.cancel_account_deletion(&auth.ctx(), &id).await?)
}

pub async fn delete_account(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<StatusCode> {
    no_content(s.service.confirm_account_deletion(&auth.ctx(), &id).await)
}

pub async fn create_user(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateUser>,
) -> Reply<Created<dto::UserAdded>> {
    created(s.service.add_user(&auth.ctx(), body.into()).await?)
}

pub async fn list_invitations(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Invitation>>> {
    all(&s.service.list_invitations(&auth.ctx()).await?)
}

pub async fn revoke_invitation(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<InvitationId>,
) -> Reply<StatusCode> {
    no_content(s.service.revoke_invitation(&auth.ctx(), &id).await)
}

pub async fn accept_invitation(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::AcceptInvitation>,
) -> Reply<Created<dto::User>> {
    created(
        &s.service
            .accept_invitation(&anon.meta, &body.token, body.password)
            .await?,
    )
}

pub async fn list_users(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::User>>> {
    all(&s.service.list_users(&auth.ctx()).await?)
}

pub async fn get_user(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> Reply<Json<dto::User>> {
    ok(&s.service.get_user(&auth.ctx(), &id).await?)
}

pub async fn update_user(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    JsonBody(body): JsonBody<dto::PatchUser>,
) -> Reply<Json<dto::User>> {
    ok(&s.service.update_user(&auth.ctx(), &id, body.into()).await?)
}

pub async fn remove_user(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> Reply<StatusCode> {
    no_content(s.service.remove_user(&auth.ctx(), &id).await)
}

pub async fn create_password_reset(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> Reply<Created<dto::ResetIssued>> {
    created(&s.service.create_password_reset(&auth.ctx(), &id).await?)
}

pub async fn update_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
    JsonBody(body): JsonBody<dto::CreateGroup>,
) -> Reply<Json<dto::Group>> {
    ok(&s.service.rename_group(&auth.ctx(), &id, &body.name).await?)
}

pub async fn delete_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
    q: Result<Query<dto::DeleteGroupQuery>, QueryRejection>,
) -> Reply<StatusCode> {
    let force = query(q)?.force;
    no_content(s.service.delete_group(&auth.ctx(), &id, force).await)
}

pub async fn group_members(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<Json<dto::GroupMembers>> {
    ok(s.service.group_members(&auth.ctx(), &id).await?)
}

pub async fn set_group_user(
    auth: Authed,
    State(s): State<AppState>,
    Path((group, user)): Path<(GroupId, UserId)>,
    JsonBody(body): JsonBody<dto::GroupUserRole>,
) -> Reply<Json<dto::GroupUser>> {
    s.service
        .set_group_user(&auth.ctx(), &group, &user, &body.role)
        .await?;
    Ok(Json(dto::GroupUser {
        id: user.into(),
        role: body.role,
    }))
}

pub async fn set_group_app(
    auth: Authed,
    State(s): State<AppState>,
    Path((group, app)): Path<(GroupId, AppId)>,
    JsonBody(body): JsonBody<dto::GroupAppOperations>,
) -> Reply<Json<dto::GroupApp>> {
    let operations = s
        .service
        .set_group_app(&auth.ctx(), &group, &app, &body.operations)
        .await?;
    Ok(Json(dto::GroupApp {
        id: app.into(),
        operations,
    }))
}

pub async fn remove_group_user(
    auth: Authed,
    State(s): State<AppState>,
    Path((group, user)): Path<(GroupId, UserId)>,
) -> Reply<StatusCode> {
    let member = GroupMember::User(&user);
    no_content(
        s.service
            .remove_group_member(&auth.ctx(), &group, member)
            .await,
    )
}

pub async fn remove_group_app(
    auth: Authed,
    State(s): State<AppState>,
    Path((group, app)): Path<(GroupId, AppId)>,
) -> Reply<StatusCode> {
    let member = GroupMember::App(&app);
    no_content(
        s.service
            .remove_group_member(&auth.ctx(), &group, member)
            .await,
    )
}

pub async fn update_app(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
    JsonBody(body): JsonBody<dto::PatchApp>,
) -> Reply<Json<dto::App>> {
    ok(&s.service.update_app(&auth.ctx(), &id, body.into()).await?)
}

pub async fn delete_app(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_app(&auth.ctx(), &id).await)
}

pub async fn app_credentials(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
) -> Reply<Json<dto::AppCredentials>> {
    let (keys, certificates) = s.service.app_credentials(&auth.ctx(), &id).await?;
    Ok(Json(dto::AppCredentials {
        api_keys: keys.iter().map(dto::ApiKey::from).collect(),
        certificates: certificates.iter().map(dto::AppCertificate::from).collect(),
    }))
}

pub async fn bind_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
    JsonBody(body): JsonBody<dto::BindCertificate>,
) -> Reply<Created<dto::AppCertificate>> {
    let binding = body.try_into()?;
    created(
        &s.service
            .bind_certificate(&auth.ctx(), &id, binding)
            .await?,
    )
}

pub async fn unbind_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path((app, id)): Path<(AppId, AppCertificateId)>,
) -> Reply<StatusCode> {
    no_content(s.service.unbind_certificate(&auth.ctx(), &app, &id).await)
}

pub async fn add_trusted_ca(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateTrustedCa>,
) -> Reply<Created<dto::TrustedCa>> {
    let proof = dto::possession_proof(body.proof)?;
    created(
        &s.service
            .add_trusted_ca(&auth.ctx(), &body.name, body.certificate.as_bytes(), proof)
            .await?,
    )
}

pub async fn list_trusted_cas(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::TrustedCa>>> {
    all(&s.service.list_trusted_cas(&auth.ctx()).await?)
}

pub async fn revoke_certificate(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::Revoke>,
) -> Reply<Created<dto::Revocation>> {
    let (target, reason) = body.into_target()?;
    created(
        &s.service
            .revoke_certificate(&auth.ctx(), target, reason)
            .await?,
    )
}

pub async fn list_revocations(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Revocation>>> {
    all(&s.service.list_revocations(&auth.ctx()).await?)
}
