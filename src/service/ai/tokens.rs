//! Bootstrap tokens: a user issues one (shown once, single use, 1 h by default, 24 h at
//! most); the agent's host presents it with the public key it generated locally.

use super::*;
use crate::audit::Identity;
use crate::auth::AiBootstrapToken;
use crate::store::{Conflict, StoreError};
use secrecy::SecretString;

/// A token as issued: its row and its text, which is never stored.
pub struct CreatedAgentToken {
    pub row: AiTokenRow,
    pub token: SecretString,
}

fn checked_ttl(ttl: Option<i64>) -> Result<i64, Error> {
    let ttl = ttl.unwrap_or(DEFAULT_TOKEN_TTL_SECS);
    if (60..=MAX_TOKEN_TTL_SECS).contains(&ttl) {
        Ok(ttl)
    } else {
        Err(Error::InvalidInput(format!(
            "ttl_secs must be between 60 and {MAX_TOKEN_TTL_SECS}"
        )))
    }
}

impl Service {
    /// `POST /v1/ai/bootstrap-tokens` (users only).
    pub async fn create_agent_token(
        &self,
        ctx: &Ctx<'_>,
        spec: AgentTokenSpec,
    ) -> Result<CreatedAgentToken, Error> {
        let id: AiTokenId = new_id("aibt");
        let object = format!("ai-token/{id}");
        self.mutation(
            ctx,
            &catalogue::CREATE_AI_TOKEN,
            "",
            Some(&object),
            |event| async move {
                let account = &ctx.caller.account_id;
                let name = checked_name(&spec.name)?;
                let scopes = checked_scopes(&spec.scopes)?;
                let groups = self.checked_groups(account, &spec.groups).await?;
                let ttl = checked_ttl(spec.ttl_secs)?;
                let now = self.now();
                let token = AiBootstrapToken::generate(&id);
                let row = AiTokenRow {
                    id: id.clone(),
                    account_id: account.clone(),
                    name,
                    scopes,
                    groups,
                    created_by: ctx.caller.principal_id.clone(),
                    created_at: now,
                    expires_at: now
                        .saturating_add(ttl.saturating_mul(super::super::machines::MICROS)),
                    used_at: None,
                    agent_id: None,
                };
                let stored = self.credential(row.clone(), token.digest_input()).await?;
                self.store.create_ai_token(&stored, &event).await?;
                Ok(CreatedAgentToken {
                    row,
                    token: SecretString::from(token.reveal().to_owned()),
                })
            },
        )
        .await
    }

    pub async fn list_agent_tokens(&self, ctx: &Ctx<'_>) -> Result<Vec<AiTokenRow>, Error> {
        self.read(ctx, &catalogue::LIST_AI_TOKENS, "", None, async {
            Ok(self.store.ai_tokens(&ctx.caller.account_id).await?)
        })
        .await
    }

    pub async fn delete_agent_token(&self, ctx: &Ctx<'_>, id: &AiTokenId) -> Result<(), Error> {
        let object = format!("ai-token/{id}");
        self.mutation(
            ctx,
            &catalogue::DELETE_AI_TOKEN,
            "",
            Some(&object),
            |event| async move {
                if self
                    .store
                    .delete_ai_token(&ctx.caller.account_id, id, &event)
                    .await?
                {
                    Ok(())
                } else {
                    Err(Error::NotFound(format!("agent token {id}")))
                }
            },
        )
        .await
    }

    /// `POST /v1/ai/agents/register`: the token is the credential. Name, scopes and groups
    /// come from the token; the public key from the agent's host.
    pub async fn register_agent(
        &self,
        meta: &RequestMeta,
        token_text: &str,
        public_key: &str,
    ) -> Result<AiAgentRow, Error> {
        let action = catalogue::REGISTER_AI_AGENT.audit_action();
        let token = match self.presented_agent_token(token_text).await {
            Ok(token) => token,
            Err(e) => return self.register_refused(meta, action, None, e).await,
        };
        let account = token.account_id.clone();
        match self.enroll_agent(meta, &token, public_key).await {
            Ok(agent) => Ok(agent),
            Err(e) => self.register_refused(meta, action, Some(account), e).await,
        }
    }

    async fn register_refused<T>(
        &self,
        meta: &RequestMeta,
        action: &str,
        account: Option<AccountId>,
        error: Error,
    ) -> Result<T, Error> {
        let mut event = self.event(meta, None, action, Some("ai-agent"), Err(&error));
        event.account_id = account;
        self.record(meta, event).await?;
        Err(error)
    }

    async fn presented_agent_token(&self, text: &str) -> Result<AiTokenRow, Error> {
        let token = AiBootstrapToken::parse(text.trim()).ok_or(Error::Unauthenticated)?;
        let id = AiTokenId::from(token.key_id());
        self.verified(self.store.ai_token(&id), token.digest_input())
            .await?
            .ok_or(Error::Unauthenticated)
    }

    async fn enroll_agent(
        &self,
        meta: &RequestMeta,
        token: &AiTokenRow,
        public_key: &str,
    ) -> Result<AiAgentRow, Error> {
        let now = self.now();
        if token.used_at.is_some() || token.expires_at <= now {
            return Err(Error::Unauthenticated);
        }
        let agent = AiAgentRow {
            id: new_id("aia"),
            account_id: token.account_id.clone(),
            name: token.name.clone(),
            status: AgentStatus::Active,
            scopes: token.scopes.clone(),
            groups: token.groups.clone(),
            public_key: crate::service::machines::parse_public_key(public_key)?,
            created_at: now,
            created_by: token.created_by.clone(),
            last_used_at: None,
        };
        let action = catalogue::REGISTER_AI_AGENT.audit_action();
        let object = format!("ai-agent/{}", agent.id);
        let mut event = self.event(meta, None, action, Some(&object), Ok(()));
        event.account_id = Some(agent.account_id.clone());
        event.principal = Some(agent.id.to_string());
        event.credential = Some(agent.name.clone());
        event.auth_method = AuthMethod::AiAgent;
        event.identity = Some(Identity::Verified);
        self.store
            .register_ai_agent(&token.id, &agent, &event)
            .await
            .map_err(|e| match e {
                // Used or expired meanwhile: the same as an unusable token.
                StoreError::Conflict(Conflict::TokenUnusable) => Error::Unauthenticated,
                other => other.into(),
            })?;
        meta.mark_audited();
        Ok(agent)
    }
}
