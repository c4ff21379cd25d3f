//! Handlers of identity routes: login and sessions, passwords, accounts, users, group
//! members, apps' lifecycle and client-certificate credentials.

use super::dto;
use super::{Anonymous, ApiError, AppState, Authed, JsonBody};
use crate::clock::rfc3339;
use crate::ids::{AccountId, AppCertificateId, AppId, GroupId, SessionId, UserId};
use crate::service::{
    AppPatch, CertificateBinding, Error, MemberPatch, PossessionProof, RevocationTarget,
};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

type Reply<T> = Result<T, ApiError>;

fn created<T: serde::Serialize>(body: T) -> Response {
    (StatusCode::CREATED, Json(body)).into_response()
}

/// A `proof` field: standard base64 of the signature.
fn possession_proof(text: Option<String>) -> Result<Option<PossessionProof>, Error> {
    use base64::Engine;
    text.map(|text| {
        base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map(PossessionProof)
            .map_err(|_| {
                Error::InvalidInput("proof is not valid standard base64 (with padding)".into())
            })
    })
    .transpose()
}

pub async fn login(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::Login>,
) -> Reply<Response> {
    let out = s
        .service
        .login(&anon.meta, &body.email, body.password, &body.account.into())
        .await?;
    Ok(created(dto::Session {
        session_token: out.token.reveal().to_owned(),
        session_id: out.session.id.to_string(),
        account_id: out.session.account_id.to_string(),
        user_id: out.session.user_id.to_string(),
        role: out.role.as_str().to_owned(),
        expires_at: rfc3339(out.session.expires_at),
    }))
}

pub async fn logout(auth: Authed, State(s): State<AppState>) -> Reply<StatusCode> {
    s.service.logout(&auth.ctx()).await?;
    Ok(StatusCode::NO_CONTENT)
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
    s.service.revoke_session(&auth.ctx(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn change_password(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::ChangePassword>,
) -> Reply<StatusCode> {
    s.service
        .change_password(&auth.ctx(), body.current_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn complete_password_reset(
    anon: Anonymous,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CompleteReset>,
) -> Reply<StatusCode> {
    s.service
        .complete_password_reset(&anon.meta, &body.token, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_account(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::NamedOnly>,
) -> Reply<Response> {
    let account = s.service.create_account(&auth.ctx(), &body.name).await?;
    Ok(created(dto::Account::from_state(
        &account,
        Some("owner".into()),
    )))
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
    let account = s.service.get_account(&auth.ctx(), &id).await?;
    Ok(Json(dto::Account::from_state(&account, None)))
}

pub async fn update_account(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
    JsonBody(body): JsonBody<dto::NamedOnly>,
) -> Reply<Json<dto::Account>> {
    let account = s
        .service
        .rename_account(&auth.ctx(), &id, &body.name)
        .await?;
    Ok(Json(dto::Account::from_state(&account, None)))
}

pub async fn request_account_deletion(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<Response> {
    let account = s.service.request_account_deletion(&auth.ctx(), &id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(dto::Account::from_state(&account, None)),
    )
        .into_response())
}

pub async fn cancel_account_deletion(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<Json<dto::Account>> {
    let account = s.service.cancel_account_deletion(&auth.ctx(), &id).await?;
    Ok(Json(dto::Account::from_state(&account, None)))
}

pub async fn delete_account(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AccountId>,
) -> Reply<StatusCode> {
    s.service.confirm_account_deletion(&auth.ctx(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_user(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateUser>,
) -> Reply<Response> {
    let member = s
        .service
        .add_user(&auth.ctx(), &body.email, &body.role, body.password)
        .await?;
    Ok(created(dto::User::from(&member)))
}

pub async fn list_users(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::User>>> {
    let rows = s.service.list_users(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(dto::User::from).collect()))
}

pub async fn get_user(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> Reply<Json<dto::User>> {
    let member = s.service.get_user(&auth.ctx(), &id).await?;
    Ok(Json(dto::User::from(&member)))
}

pub async fn update_user(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
    JsonBody(body): JsonBody<dto::PatchUser>,
) -> Reply<Json<dto::User>> {
    let patch = MemberPatch {
        role: body.role,
        suspended: body.suspended,
    };
    let member = s.service.update_user(&auth.ctx(), &id, patch).await?;
    Ok(Json(dto::User::from(&member)))
}

pub async fn remove_user(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> Reply<StatusCode> {
    s.service.remove_user(&auth.ctx(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn create_password_reset(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<UserId>,
) -> Reply<Response> {
    let out = s.service.create_password_reset(&auth.ctx(), &id).await?;
    Ok(created(dto::ResetIssued {
        id: out.row.id.to_string(),
        reset_token: out.token.reveal().to_owned(),
        expires_at: rfc3339(out.row.expires_at),
    }))
}

pub async fn update_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
    JsonBody(body): JsonBody<dto::NamedOnly>,
) -> Reply<Json<dto::Group>> {
    let group = s.service.rename_group(&auth.ctx(), &id, &body.name).await?;
    Ok(Json(dto::Group::from(&group)))
}

pub async fn delete_group(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
    query: Result<Query<dto::DeleteGroupQuery>, QueryRejection>,
) -> Reply<StatusCode> {
    let Query(query) = query.map_err(|e| Error::InvalidInput(format!("bad query string: {e}")))?;
    s.service
        .delete_group(&auth.ctx(), &id, query.force)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn group_members(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<GroupId>,
) -> Reply<Json<dto::GroupMembers>> {
    let members = s.service.group_members(&auth.ctx(), &id).await?;
    Ok(Json(dto::GroupMembers {
        users: members
            .users
            .into_iter()
            .map(|(id, role)| dto::GroupUser {
                id: id.into(),
                role: role.as_str().to_owned(),
            })
            .collect(),
        apps: members
            .apps
            .into_iter()
            .map(|(id, operations)| dto::GroupApp {
                id: id.into(),
                operations,
            })
            .collect(),
    }))
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

pub async fn remove_group_member(
    auth: Authed,
    State(s): State<AppState>,
    Path((group, member)): Path<(GroupId, String)>,
) -> Reply<StatusCode> {
    s.service
        .remove_group_member(&auth.ctx(), &group, &member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn update_app(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
    JsonBody(body): JsonBody<dto::PatchApp>,
) -> Reply<Json<dto::App>> {
    let patch = AppPatch {
        name: body.name,
        enabled: body.enabled,
    };
    let app = s.service.update_app(&auth.ctx(), &id, patch).await?;
    Ok(Json(dto::App::from(&app)))
}

pub async fn delete_app(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<AppId>,
) -> Reply<StatusCode> {
    s.service.delete_app(&auth.ctx(), &id).await?;
    Ok(StatusCode::NO_CONTENT)
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
) -> Reply<Response> {
    let rule = body.subject.is_some() || body.san.is_some();
    let proof = possession_proof(body.proof)?;
    let binding = match (body.certificate, body.fingerprint, body.ca) {
        (Some(pem), None, None) if !rule => CertificateBinding::Pinned {
            certificate: pem.into_bytes(),
            proof,
        },
        (None, Some(_), None) | (None, None, Some(_)) if proof.is_some() => {
            return Err(Error::InvalidInput(
                "a \"proof\" goes with a \"certificate\" only: a fingerprint has no public key to check it with, and a CA rule is proven by its trusted CA"
                    .into(),
            ).into());
        }
        (None, Some(fingerprint), None) if !rule => {
            CertificateBinding::PinnedFingerprint { fingerprint }
        }
        (None, None, Some(ca)) => CertificateBinding::Issued {
            ca,
            subject: body.subject,
            san: body.san,
        },
        _ => {
            return Err(Error::InvalidInput(
                "give either \"certificate\" (with an optional \"proof\") or \"fingerprint\" (pinned), or \"ca\" with \"subject\" and/or \"san\""
                    .into(),
            ).into());
        }
    };
    let row = s
        .service
        .bind_certificate(&auth.ctx(), &id, binding)
        .await?;
    Ok(created(dto::AppCertificate::from(&row)))
}

pub async fn unbind_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path((app, id)): Path<(AppId, AppCertificateId)>,
) -> Reply<StatusCode> {
    s.service.unbind_certificate(&auth.ctx(), &app, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn add_trusted_ca(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateTrustedCa>,
) -> Reply<Response> {
    let proof = possession_proof(body.proof)?;
    let row = s
        .service
        .add_trusted_ca(&auth.ctx(), &body.name, body.certificate.as_bytes(), proof)
        .await?;
    Ok(created(dto::TrustedCa::from(&row)))
}

pub async fn list_trusted_cas(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::TrustedCa>>> {
    let rows = s.service.list_trusted_cas(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(dto::TrustedCa::from).collect()))
}

pub async fn revoke_certificate(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::Revoke>,
) -> Reply<Response> {
    let target = match (body.certificate, body.fingerprint) {
        (Some(pem), None) => RevocationTarget::Certificate(pem.into_bytes()),
        (None, Some(fp)) => RevocationTarget::Fingerprint(fp),
        _ => {
            return Err(Error::InvalidInput(
                "give either \"certificate\" or \"fingerprint\"".into(),
            )
            .into());
        }
    };
    let row = s
        .service
        .revoke_certificate(&auth.ctx(), target, body.reason)
        .await?;
    Ok(created(dto::Revocation::from(&row)))
}

pub async fn list_revocations(
    auth: Authed,
    State(s): State<AppState>,
) -> Reply<Json<Vec<dto::Revocation>>> {
    let rows = s.service.list_revocations(&auth.ctx()).await?;
    Ok(Json(rows.iter().map(dto::Revocation::from).collect()))
}
