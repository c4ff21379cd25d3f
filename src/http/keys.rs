//! Handlers of `/v1/keys` and `/v1/objects`: decode, call the service, encode.

use super::dto;
use super::handlers::{Created, Reply, all, created, no_content, ok, query};
use super::{AppState, Authed, JsonBody};
use crate::ids::CertificateId;
use crate::service::{Error, KeySpec, PublicKeyImport};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;

pub async fn create_key(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateKey>,
) -> Reply<Created<dto::Key>> {
    let ctx = auth.ctx();
    let result = match (body.algorithm, body.public_key) {
        (Some(algorithm), None) => {
            let spec = KeySpec {
                name: body.name,
                group: body.group.into(),
                algorithm,
                usages: body.usages,
                canary: body.canary.unwrap_or(false),
            };
            s.service.create_key(&ctx, spec).await
        }
        (None, Some(public_key)) if body.usages.is_none() && body.canary.is_none() => {
            let spec = PublicKeyImport {
                name: body.name,
                group: body.group.into(),
                public_key: dto::pem_or_b64("public_key", &public_key)?,
            };
            s.service.import_public_key(&ctx, spec).await
        }
        (None, Some(_)) => Err(Error::InvalidInput(
            "an imported public key only verifies: `usages` and `canary` do not apply".into(),
        )),
        _ => Err(Error::InvalidInput(
            "send `algorithm` to generate a key pair in the HSM, or `public_key` to import one, not both"
                .into(),
        )),
    };
    created(&result?)
}

pub async fn list_keys(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Key>>> {
    all(&s.service.list_keys(&auth.ctx()).await?)
}

pub async fn get_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Key>> {
    ok(&s.service.get_key(&auth.ctx(), &name).await?)
}

pub async fn update_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::PatchKey>,
) -> Reply<Json<dto::Key>> {
    ok(&s
        .service
        .update_key(&auth.ctx(), &name, body.into())
        .await?)
}

pub async fn delete_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_key(&auth.ctx(), &name).await)
}

pub async fn restore_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Key>> {
    ok(&s.service.restore_key(&auth.ctx(), &name).await?)
}

pub async fn rotate_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Key>> {
    ok(&s.service.rotate_key(&auth.ctx(), &name).await?)
}

pub async fn public_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<dto::PublicKeyQuery>, QueryRejection>,
) -> Reply<Json<dto::PublicKeyOut>> {
    let version = query(q)?.version;
    ok(s.service.public_key(&auth.ctx(), &name, version).await?)
}

pub async fn sign(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::Sign>,
) -> Reply<Json<dto::Signed>> {
    let input = body.try_into()?;
    ok(s.service.sign(&auth.ctx(), &name, input).await?)
}

pub async fn verify(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::Verify>,
) -> Reply<Json<dto::Verified>> {
    let input = body.try_into()?;
    ok(s.service.verify(&auth.ctx(), &name, input).await?)
}

pub async fn decrypt(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::KeyDecrypt>,
) -> Reply<Json<dto::Decrypted>> {
    let ciphertext = dto::decode_b64("ciphertext", &body.ciphertext)?;
    ok(s.service
        .decrypt_with_key(&auth.ctx(), &name, ciphertext, body.version)
        .await?)
}

pub async fn csr(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::CsrRequest>,
) -> Reply<Json<dto::Csr>> {
    let (csr, key_version) = s.service.csr(&auth.ctx(), &name, body.into()).await?;
    Ok(Json(dto::Csr { csr, key_version }))
}

pub async fn import_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::ImportCertificate>,
) -> Reply<Created<dto::Certificate>> {
    let bundle = dto::pem_or_b64("certificate", &body.certificate);
    created(
        &s.service
            .import_certificate(&auth.ctx(), &name, bundle)
            .await?,
    )
}

pub async fn list_certificates(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<Vec<dto::Certificate>>> {
    all(&s.service.key_certificates(&auth.ctx(), &name).await?)
}

pub async fn delete_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, id)): Path<(String, CertificateId)>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_certificate(&auth.ctx(), &name, &id).await)
}

pub async fn objects(
    auth: Authed,
    State(s): State<AppState>,
    q: Result<Query<dto::ObjectQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::SecurityObject>>> {
    let filter = query(q)?.into();
    all(&s.service.objects(&auth.ctx(), filter).await?)
}
