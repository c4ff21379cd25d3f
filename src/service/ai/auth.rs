//! An agent's signed request: the same canonical message, headers, skew and nonce store as
//! a machine's (see [`crate::auth::signed`]), but the signer is named by `X-Agent-Id` and
//! looked up among agents only. Every refusal is a 401 audited under `ai.auth` with the
//! check that failed; a request naming an agent of an account is recorded in that account.

use super::*;
use crate::audit::{Identity, NonceClaim};
use crate::auth::signed as signed_form;
use crate::ids::MachineId;

/// A request carrying an agent's signature, as the HTTP layer saw it (the claimed id is the
/// `X-Agent-Id` header).
pub use super::super::SignedRequest as AgentRequest;

/// The action of the events of refused agent credentials: they reach no route's operation.
const AGENT_AUTH_ACTION: &str = "ai.auth";

impl Service {
    /// Authenticates an agent's signed request, for an agent-facing route.
    pub async fn authenticate_agent(
        &self,
        meta: &RequestMeta,
        request: AgentRequest,
    ) -> Result<std::sync::Arc<Caller>, Error> {
        match self.verify_agent(&request).await {
            Ok(caller) => Ok(std::sync::Arc::new(caller)),
            Err((reason, agent)) => {
                let detail = reason.to_owned();
                self.refuse_agent_request(meta, &request.target, &detail, agent.as_ref())
                    .await
            }
        }
    }

    /// A credential refused because of where it was presented: an agent's signature off
    /// the agent-facing routes, or any other credential on them. Audited, 401.
    pub async fn refuse_misplaced_credential(
        &self,
        meta: &RequestMeta,
        target: &str,
        detail: &str,
    ) -> Error {
        match self
            .refuse_agent_request::<()>(meta, target, detail, None)
            .await
        {
            Err(e) => e,
            Ok(()) => Error::Unauthenticated,
        }
    }

    async fn refuse_agent_request<T>(
        &self,
        meta: &RequestMeta,
        target: &str,
        detail: &str,
        agent: Option<&AiAgentRow>,
    ) -> Result<T, Error> {
        let error = Error::Unauthenticated;
        let mut event = self.event(meta, None, AGENT_AUTH_ACTION, Some(target), Err(&error));
        event.detail = Some(detail.to_owned());
        if let Some(agent) = agent {
            event.account_id = Some(agent.account_id.clone());
            event.principal = Some(agent.id.to_string());
            event.credential = Some(agent.name.clone());
            event.auth_method = AuthMethod::AiAgent;
            event.identity = Some(Identity::Claimed);
        }
        self.record(meta, event).await?;
        Err(error)
    }

    /// The checks in order; a refusal names the failed check and the agent if one was named.
    async fn verify_agent(
        &self,
        request: &AgentRequest,
    ) -> Result<Caller, (&'static str, Option<AiAgentRow>)> {
        let headers = request
            .headers
            .as_ref()
            .map_err(|_| ("malformed_headers", None))?;
        let id = AiAgentId::from(headers.machine_id.as_str());
        let agent = match self.store.ai_agent(&id).await {
            Ok(Some(agent)) => agent,
            Ok(None) => return Err(("unknown_agent", None)),
            Err(_) => return Err(("store_unavailable", None)),
        };
        let refuse = |reason: &'static str| (reason, Some(agent.clone()));
        if agent.status != AgentStatus::Active {
            return Err(refuse("agent_disabled"));
        }
        let now = self.now();
        let public_key: [u8; 32] = agent
            .public_key
            .as_slice()
            .try_into()
            .map_err(|_| refuse("bad_stored_key"))?;
        let message = signed_form::canonical_message_for(
            &request.method,
            &request.target,
            headers.timestamp,
            &headers.nonce,
            &request.body_sha256,
        );
        if !signed_form::verifies(&public_key, message.as_bytes(), &headers.signature) {
            return Err(refuse("bad_signature"));
        }
        if !headers.is_fresh(now / 1_000_000) {
            return Err(refuse("stale_timestamp"));
        }
        let claim = NonceClaim {
            // The nonce store is keyed by signer id; agent ids never equal machine ids.
            machine_id: MachineId::from(agent.id.as_str()),
            nonce: headers.nonce.clone(),
            expires_at: (headers.timestamp + 2 * signed_form::MAX_SKEW_SECS)
                .saturating_mul(1_000_000),
        };
        if !self.audit.claim_nonce(claim).await.unwrap_or(false) {
            return Err(refuse("nonce_reused"));
        }
        if self.active_account(&agent.account_id).await.is_err() {
            return Err(refuse("account_inactive"));
        }
        // Best effort: the last use is shown to the owners, never a reason to refuse.
        let _ = self.store.touch_ai_agent(&agent.id, now).await;
        agent_caller(&agent).map_err(|_| refuse("agent_unusable"))
    }
}
