//! Handlers of `/v1/keys` and `/v1/objects`: decode, call the service, encode.

use super::dto;
use super::{ApiError, AppState, Authed, JsonBody};
use crate::crypto::asym::SignedData;
use crate::crypto::x509::CsrSubject;
use crate::ids::CertificateId;
use crate::service::{
    Error, KeyPatch, KeySpec, ObjectFilter, PublicKeyImport, SignInput, VerifyInput,
};
use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

type Reply<T> = Result<T, ApiError>;

fn decode_b64(field: &str, text: &str) -> Result<Vec<u8>, Error> {
    B64.decode(text).map_err(|_| {
        Error::InvalidInput(format!(
            "{field} is not valid standard base64 (with padding)"
        ))
    })
}

/// PEM text as is, anything else as base64 of DER.
fn pem_or_b64(field: &str, text: &str) -> Result<Vec<u8>, Error> {
    if text.trim_start().starts_with("-----") {
        Ok(text.trim_start().as_bytes().to_vec())
    } else {
        decode_b64(field, text.trim())
    }
}

/// Exactly one of `message` and `digest`.
fn signed_data(message: Option<&str>, digest: Option<&str>) -> Result<SignedData, Error> {
    match (message, digest) {
        (Some(m), None) => Ok(SignedData::Message(decode_b64("message", m)?)),
        (None, Some(d)) => Ok(SignedData::Digest(decode_b64("digest", d)?)),
        _ => Err(Error::InvalidInput(
            "send exactly one of `message` and `digest` (base64)".into(),
        )),
    }
}

fn query<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, Error> {
    query
        .map(|Query(q)| q)
        .map_err(|e| Error::InvalidInput(format!("bad query string: {e}")))
}

pub async fn create_key(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateKey>,
) -> Reply<Response> {
    let ctx = auth.ctx();
    let result = match (body.algorithm, body.public_key) {
        (Some(algorithm), None) => {
            let spec = KeySpec {
                name: body.name,
                group: body.group.into(),
                algorithm,
                usages: body.usages,
            };
            s.service.create_key(&ctx, spec).await
        }
        (None, Some(public_key)) if body.usages.is_none() => {
            let spec = PublicKeyImport {
                name: body.name,
                group: body.group.into(),
                public_key: pem_or_b64("public_key", &public_key)?,
            };
            s.service.import_public_key(&ctx, spec).await
        }
        (None, Some(_)) => Err(Error::InvalidInput(
            "an imported public key only verifies: `usages` does not apply".into(),
        )),
        _ => Err(Error::InvalidInput(
            "send `algorithm` to generate a key pair in the HSM, or `public_key` to import one, not both"
                .into(),
        )),
    };
    let key = result?;
    Ok((StatusCode::CREATED, Json(dto::Key::from(&key))).into_response())
}

pub async fn list_keys(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Key>>> {
    let keys = s.service.list_keys(&auth.ctx()).await?;
    Ok(Json(keys.iter().map(dto::Key::from).collect()))
}

pub async fn get_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Key>> {
    let key = s.service.get_key(&auth.ctx(), &name).await?;
    Ok(Json(dto::Key::from(&key)))
}

pub async fn update_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::PatchKey>,
) -> Reply<Json<dto::Key>> {
    let patch = KeyPatch {
        enabled: body.enabled,
        min_version: body.min_version,
    };
    let key = s.service.update_key(&auth.ctx(), &name, patch).await?;
    Ok(Json(dto::Key::from(&key)))
}

pub async fn delete_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<StatusCode> {
    s.service.delete_key(&auth.ctx(), &name).await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn restore_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Key>> {
    let key = s.service.restore_key(&auth.ctx(), &name).await?;
    Ok(Json(dto::Key::from(&key)))
}

pub async fn rotate_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<dto::Key>> {
    let key = s.service.rotate_key(&auth.ctx(), &name).await?;
    Ok(Json(dto::Key::from(&key)))
}

pub async fn public_key(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    q: Result<Query<dto::PublicKeyQuery>, QueryRejection>,
) -> Reply<Json<dto::PublicKeyOut>> {
    let q = query(q)?;
    let out = s.service.public_key(&auth.ctx(), &name, q.version).await?;
    Ok(Json(dto::PublicKeyOut {
        key_version: out.key_version,
        algorithm: out.algorithm.name(),
        pem: out.pem,
        jwk: out.jwk,
    }))
}

pub async fn sign(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::Sign>,
) -> Reply<Json<dto::Signed>> {
    let input = SignInput {
        data: signed_data(body.message.as_deref(), body.digest.as_deref())?,
        algorithm: body.algorithm,
        signature_format: body.signature_format,
    };
    let out = s.service.sign(&auth.ctx(), &name, input).await?;
    Ok(Json(dto::Signed {
        signature: B64.encode(&out.signature),
        key_version: out.key_version,
        algorithm: out.algorithm,
    }))
}

pub async fn verify(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::Verify>,
) -> Reply<Json<dto::Verified>> {
    let input = signed_data(body.message.as_deref(), body.digest.as_deref()).and_then(|data| {
        Ok(VerifyInput {
            data,
            signature: decode_b64("signature", &body.signature)?,
            algorithm: body.algorithm,
            signature_format: body.signature_format,
            version: body.version,
        })
    });
    let input = input?;
    let out = s.service.verify(&auth.ctx(), &name, input).await?;
    Ok(Json(dto::Verified {
        valid: out.valid,
        key_version: out.key_version,
    }))
}

pub async fn decrypt(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::KeyDecrypt>,
) -> Reply<Json<dto::Decrypted>> {
    let ciphertext = decode_b64("ciphertext", &body.ciphertext)?;
    let out = s
        .service
        .decrypt_with_key(&auth.ctx(), &name, ciphertext, body.version)
        .await?;
    Ok(Json(dto::Decrypted {
        plaintext: B64.encode(&out.plaintext[..]),
        key_version: out.key_version,
    }))
}

pub async fn csr(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::CsrRequest>,
) -> Reply<Json<dto::Csr>> {
    let subject = CsrSubject {
        common_name: body.common_name,
        organization: body.organization,
        organizational_unit: body.organizational_unit,
        country: body.country,
        subject_alt_names: body.subject_alt_names,
    };
    let (csr, key_version) = s.service.csr(&auth.ctx(), &name, subject).await?;
    Ok(Json(dto::Csr { csr, key_version }))
}

pub async fn import_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
    JsonBody(body): JsonBody<dto::ImportCertificate>,
) -> Reply<Response> {
    let bundle = pem_or_b64("certificate", &body.certificate);
    let row = s
        .service
        .import_certificate(&auth.ctx(), &name, bundle)
        .await?;
    Ok((StatusCode::CREATED, Json(dto::Certificate::from(&row))).into_response())
}

pub async fn list_certificates(
    auth: Authed,
    State(s): State<AppState>,
    Path(name): Path<String>,
) -> Reply<Json<Vec<dto::Certificate>>> {
    let rows = s.service.key_certificates(&auth.ctx(), &name).await?;
    Ok(Json(rows.iter().map(dto::Certificate::from).collect()))
}

pub async fn delete_certificate(
    auth: Authed,
    State(s): State<AppState>,
    Path((name, id)): Path<(String, CertificateId)>,
) -> Reply<StatusCode> {
    s.service
        .delete_certificate(&auth.ctx(), &name, &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

pub async fn objects(
    auth: Authed,
    State(s): State<AppState>,
    q: Result<Query<dto::ObjectQuery>, QueryRejection>,
) -> Reply<Json<Vec<dto::SecurityObject>>> {
    let q = query(q)?;
    let filter = ObjectFilter {
        group: q.group.map(Into::into),
        kind: q.kind,
    };
    let rows = s.service.objects(&auth.ctx(), filter).await?;
    Ok(Json(rows.iter().map(dto::SecurityObject::from).collect()))
}
