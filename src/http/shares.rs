//! One-time shares over HTTP: the JSON routes, and the recipient's page at `/s/{id}`.
//!
//! The page is one static document (it does not even carry the share id: its script reads
//! it from the address) with a passphrase form; its inline script posts the passphrase to
//! `POST /v1/shares/{id}/open` and shows the value, or says the share is gone. The Content
//! Security Policy allows that one script and one style by their SHA-256 and nothing else
//! (no other origin, no framing, no form posts), and nothing is cached or sent as referrer.

use super::handlers::{Reply, all, no_content};
use super::{AppState, Authed, JsonBody, dto, tls};
use crate::ids::ShareId;
use crate::service::{Caller, RequestMeta};
use axum::Json;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::{HeaderName, StatusCode, header, request::Parts};
use axum::response::{Html, IntoResponse, Response};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};

const PAGE_STYLE: &str = "body{font-family:sans-serif;max-width:40em;margin:3em auto;padding:0 1em}\
pre{white-space:pre-wrap;word-break:break-all;background:#f4f4f4;padding:1em}";

const PAGE_SCRIPT: &str = r#"
const form = document.getElementById('open');
const show = (id) => { document.getElementById(id).hidden = false; };
form.addEventListener('submit', async (event) => {
  event.preventDefault();
  const id = location.pathname.split('/').pop();
  const passphrase = document.getElementById('passphrase').value;
  form.hidden = true;
  document.getElementById('retry').hidden = true;
  let reply = null;
  try {
    reply = await fetch('/v1/shares/' + encodeURIComponent(id) + '/open', {
      method: 'POST', cache: 'no-store', credentials: 'omit',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({passphrase: passphrase}),
    });
  } catch (e) { reply = null; }
  document.getElementById('passphrase').value = '';
  if (reply && reply.ok) {
    const answer = await reply.json();
    document.getElementById('value').textContent = answer.value;
    show('shown');
  } else if (reply && reply.status === 404) {
    show('gone');
  } else {
    show('retry');
    form.hidden = false;
  }
});
"#;

/// The page's body: the form, or (for a share already gone) only the "gone" notice.
fn page(live: bool) -> String {
    let (form_hidden, gone_hidden) = if live {
        ("", " hidden")
    } else {
        (" hidden", "")
    };
    format!(
        r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Coffer: a shared value</title><style>{PAGE_STYLE}</style></head>
<body><h1>A value was shared with you</h1>
<form id="open"{form_hidden}>
<p>It can be opened once. A wrong passphrase destroys it.</p>
<label for="passphrase">Passphrase</label>
<input id="passphrase" name="passphrase" type="password" autocomplete="off" required autofocus>
<button id="submit" type="submit">Open</button>
</form>
<div id="shown" hidden><p>This is the value. It is now destroyed on the server: copy it before you leave this page.</p>
<pre id="value"></pre></div>
<p id="gone"{gone_hidden}>This share is gone (opened, expired or a wrong passphrase).</p>
<p id="retry" hidden>The service could not answer; try again.</p>
<script>{PAGE_SCRIPT}</script>
</body></html>
"#
    )
}

/// `'sha256-…'` of an inline element's text, as CSP names it.
fn csp_hash(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    format!(
        "'sha256-{}'",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

fn content_security_policy() -> &'static str {
    static POLICY: OnceLock<String> = OnceLock::new();
    POLICY.get_or_init(|| {
        format!(
            "default-src 'none'; script-src {}; style-src {}; connect-src 'self'; \
             base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
            csp_hash(PAGE_SCRIPT),
            csp_hash(PAGE_STYLE)
        )
    })
}

/// Headers for an answer that carries a secret: never stored, never sent on as referrer.
fn private_headers() -> [(HeaderName, &'static str); 3] {
    [
        (header::CACHE_CONTROL, "no-store"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    ]
}

/// A request that may carry a credential: the caller if one is presented (and valid; a bad
/// one is a 401 as everywhere), `None` if none is.
pub struct MaybeAuthed {
    pub caller: Option<Arc<Caller>>,
    pub meta: RequestMeta,
}

impl FromRequestParts<AppState> for MaybeAuthed {
    type Rejection = super::ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let presented = parts.headers.contains_key(header::AUTHORIZATION)
            || crate::auth::signed::is_signed(&parts.headers)
            || parts
                .extensions
                .get::<tls::PeerCertificates>()
                .is_some_and(|chain| !chain.0.is_empty());
        // An AI agent's signature is checked as such: its open destroys the share.
        if parts.headers.contains_key(crate::auth::signed::AGENT_ID) {
            let agent = super::ai::facing::AgentAuthed::from_request_parts(parts, state).await?;
            return Ok(Self {
                caller: Some(agent.caller),
                meta: agent.meta,
            });
        }
        if presented {
            let authed = Authed::from_request_parts(parts, state).await?;
            return Ok(Self {
                caller: Some(authed.caller),
                meta: authed.meta,
            });
        }
        let super::Anonymous { meta } = super::Anonymous::from_request_parts(parts, state).await?;
        Ok(Self { caller: None, meta })
    }
}

pub async fn create(
    auth: Authed,
    State(s): State<AppState>,
    JsonBody(body): JsonBody<dto::CreateShare>,
) -> Reply<Response> {
    let created = s.service.create_share(&auth.ctx(), body.into()).await?;
    let reply = Json(dto::CreatedShare::from(created));
    Ok((StatusCode::CREATED, private_headers(), reply).into_response())
}

pub async fn list(auth: Authed, State(s): State<AppState>) -> Reply<Json<Vec<dto::Share>>> {
    all(&s.service.list_shares(&auth.ctx()).await?)
}

pub async fn delete(
    auth: Authed,
    State(s): State<AppState>,
    Path(id): Path<ShareId>,
) -> Reply<StatusCode> {
    no_content(s.service.delete_share(&auth.ctx(), &id).await)
}

pub async fn open(
    request: MaybeAuthed,
    State(s): State<AppState>,
    Path(id): Path<ShareId>,
    JsonBody(body): JsonBody<dto::OpenShare>,
) -> Reply<Response> {
    let caller = request.caller.as_deref();
    let value = s
        .service
        .open_share(&request.meta, caller, &id, &body.passphrase)
        .await?;
    let reply = Json(dto::OpenedShare { value });
    Ok((private_headers(), reply).into_response())
}

pub async fn page_view(
    request: super::Anonymous,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> Reply<Response> {
    let live = s.service.share_page(&request.meta, &id).await?;
    let headers = [
        (header::CONTENT_SECURITY_POLICY, content_security_policy()),
        (header::X_FRAME_OPTIONS, "DENY"),
    ];
    Ok((private_headers(), headers, Html(page(live))).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_allows_exactly_the_inline_script_and_style_of_the_page() {
        let policy = content_security_policy();
        let html = page(true);
        assert!(html.contains(&format!("<script>{PAGE_SCRIPT}</script>")));
        assert!(html.contains(&format!("<style>{PAGE_STYLE}</style>")));
        assert!(policy.contains(&csp_hash(PAGE_SCRIPT)));
        assert!(policy.contains(&csp_hash(PAGE_STYLE)));
        assert!(policy.starts_with("default-src 'none';"));
        assert!(!policy.contains("unsafe"));
    }

    #[test]
    fn a_gone_share_shows_no_form() {
        assert!(page(false).contains("<form id=\"open\" hidden>"));
        assert!(page(true).contains("<p id=\"gone\" hidden>"));
    }
}
