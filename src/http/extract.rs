//! Extractors: who is calling (a verified credential, or none), and the JSON body.

use super::body::BodyDigest;
use super::errors::ApiError;
use super::{AppState, CallerSlot, tls};
use crate::service::{Caller, Error, RequestMeta};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::{StatusCode, header, request::Parts};
use std::sync::Arc;

/// Marks the routes of operations that only answer (see `Operation::answers_only`): a
/// signed request's nonce is claimed there with the request's audit event.
#[derive(Clone, Copy)]
pub(super) struct AnswersOnly;

/// What the service needs to check a signed request.
fn signed_request(parts: &Parts) -> crate::service::SignedRequest {
    use crate::auth::signed;
    crate::service::SignedRequest {
        headers: signed::SignedHeaders::parse(&parts.headers),
        claimed_machine_id: parts
            .headers
            .get(signed::MACHINE_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.as_str().to_owned()),
        body_sha256: parts.extensions.get::<BodyDigest>().map_or_else(
            || <sha2::Sha256 as sha2::Digest>::digest(b"").into(),
            |d| d.0,
        ),
        claim_with_event: parts.extensions.get::<AnswersOnly>().is_some(),
    }
}

fn meta_of(parts: &Parts) -> RequestMeta {
    parts
        .extensions
        .get::<RequestMeta>()
        .cloned()
        .unwrap_or_else(|| RequestMeta::new(crate::service::new_event_id("req"), None))
}

/// An authenticated request: the caller and the request facts.
pub struct Authed {
    pub caller: Arc<Caller>,
    pub meta: RequestMeta,
}

impl Authed {
    pub fn ctx(&self) -> crate::service::Ctx<'_> {
        crate::service::Ctx {
            meta: &self.meta,
            caller: &self.caller,
        }
    }
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let meta = meta_of(parts);
        // An agent's signature is accepted on the agent-facing routes only (ai.rs).
        if parts.headers.contains_key(crate::auth::signed::AGENT_ID) {
            let target = parts.uri.path().to_owned();
            return Err(state
                .service
                .refuse_misplaced_credential(&meta, &target, "agent_off_agent_routes")
                .await
                .into());
        }
        let peer_chain = parts
            .extensions
            .get::<tls::PeerCertificates>()
            .map(|c| Arc::clone(&c.0))
            .filter(|chain| !chain.is_empty());
        // The first credential present decides: a bearer token, else a signed request,
        // else a client certificate.
        let signed = crate::auth::signed::is_signed(&parts.headers);
        let caller = match (parts.headers.get(header::AUTHORIZATION), peer_chain) {
            (None, _) if signed => {
                state
                    .service
                    .authenticate_signed(&meta, signed_request(parts))
                    .await?
            }
            (Some(header), _) => {
                let token = header
                    .to_str()
                    .ok()
                    .and_then(|v| v.strip_prefix("Bearer "))
                    .ok_or(Error::Unauthenticated)?;
                state.service.authenticate(token.trim()).await?
            }
            (None, Some(chain)) => Arc::new(state.service.authenticate_certificate(&chain).await?),
            (None, None) => return Err(Error::Unauthenticated.into()),
        };
        if let Some(slot) = parts.extensions.get::<CallerSlot>() {
            *slot.0.lock().expect("caller slot poisoned") = Some(Arc::clone(&caller));
        }
        // The request's span (opened by the request frame) names the principal from here on.
        tracing::Span::current().record("principal", caller.principal_id.as_str());
        Ok(Self { caller, meta })
    }
}

/// A JSON body, with api.md's errors for bodies that are too large or malformed.
pub struct JsonBody<T>(pub T);

impl<T: serde::de::DeserializeOwned, S: Send + Sync> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        let reject = ApiError::from;
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    reject(Error::PayloadTooLarge)
                } else {
                    reject(Error::InvalidInput(
                        "the request body could not be read".into(),
                    ))
                }
            })?;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|e| reject(Error::InvalidInput(format!("malformed JSON body: {e}"))))
    }
}

/// A request that carries no credential (login, password reset): only the request facts.
pub struct Anonymous {
    pub meta: RequestMeta,
}

impl<S: Send + Sync> FromRequestParts<S> for Anonymous {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        Ok(Self {
            meta: meta_of(parts),
        })
    }
}
