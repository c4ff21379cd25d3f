//! Managing agents (users only): list, show, change scopes and groups, disable, enable,
//! delete. An agent never reaches these: its credential is refused outside `/v1/ai/`'s
//! agent-facing routes, and the flags `ai-agent.*` are never among an agent's.

use super::*;

impl Service {
    pub async fn list_agents(&self, ctx: &Ctx<'_>) -> Result<Vec<AiAgentRow>, Error> {
        self.read(ctx, &catalogue::LIST_AI_AGENTS, "", None, async {
            Ok(self.store.ai_agents(&ctx.caller.account_id).await?)
        })
        .await
    }

    pub async fn get_agent(&self, ctx: &Ctx<'_>, id: &AiAgentId) -> Result<AiAgentRow, Error> {
        let object = format!("ai-agent/{id}");
        self.read(ctx, &catalogue::GET_AI_AGENT, "", Some(&object), async {
            self.account_agent(&ctx.caller.account_id, id).await
        })
        .await
    }

    /// `PATCH /v1/ai/agents/{id}`: a new name, scopes or group allowlist.
    pub async fn update_agent(
        &self,
        ctx: &Ctx<'_>,
        id: &AiAgentId,
        patch: AgentPatch,
    ) -> Result<AiAgentRow, Error> {
        self.change_agent(
            ctx,
            &catalogue::UPDATE_AI_AGENT,
            id,
            |service, mut agent| async move {
                if let Some(name) = &patch.name {
                    agent.name = checked_name(name)?;
                }
                if let Some(scopes) = &patch.scopes {
                    agent.scopes = checked_scopes(scopes)?;
                }
                if let Some(groups) = &patch.groups {
                    agent.groups = service.checked_groups(&agent.account_id, groups).await?;
                }
                Ok(agent)
            },
        )
        .await
    }

    /// Disables or enables an agent (effective on its next request).
    pub async fn set_agent_status(
        &self,
        ctx: &Ctx<'_>,
        id: &AiAgentId,
        status: AgentStatus,
    ) -> Result<AiAgentRow, Error> {
        let op = match status {
            AgentStatus::Active => &catalogue::ENABLE_AI_AGENT,
            AgentStatus::Disabled => &catalogue::DISABLE_AI_AGENT,
        };
        self.change_agent(ctx, op, id, |_, mut agent| async move {
            agent.status = status;
            Ok(agent)
        })
        .await
    }

    pub async fn delete_agent(&self, ctx: &Ctx<'_>, id: &AiAgentId) -> Result<(), Error> {
        let object = format!("ai-agent/{id}");
        self.mutation(
            ctx,
            &catalogue::DELETE_AI_AGENT,
            "",
            Some(&object),
            |event| async move {
                if self
                    .store
                    .delete_ai_agent(&ctx.caller.account_id, id, &event)
                    .await?
                {
                    Ok(())
                } else {
                    Err(Error::NotFound(format!("agent {id}")))
                }
            },
        )
        .await
    }

    /// Reads the agent, applies `change`, stores the result with the event of `op`.
    async fn change_agent<'s, F, Fut>(
        &'s self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
        id: &AiAgentId,
        change: F,
    ) -> Result<AiAgentRow, Error>
    where
        F: FnOnce(&'s Service, AiAgentRow) -> Fut,
        Fut: Future<Output = Result<AiAgentRow, Error>>,
    {
        let object = format!("ai-agent/{id}");
        self.mutation(ctx, op, "", Some(&object), |event| async move {
            let agent = self.account_agent(&ctx.caller.account_id, id).await?;
            let agent = change(self, agent).await?;
            self.store.update_ai_agent(&agent, &event).await?;
            Ok(agent)
        })
        .await
    }
}
