//! The agent-facing routes' own checks. Each route first checks the scope its catalogue
//! entry names (a refusal is a 403 naming the scope, audited with the route's action); the
//! work itself is the existing operation's, run with the agent's caller, which audits it.

use super::*;

/// The scope whose flag is `flag` (`ai.secrets.write` → `secrets.write`).
fn scope_named(flag: &str) -> &str {
    flag.strip_prefix("ai.").unwrap_or(flag)
}

impl Service {
    /// Refuses an agent that lacks the scope of the agent-facing route `op` (403, audited).
    pub async fn require_agent_scope(
        &self,
        ctx: &Ctx<'_>,
        op: &catalogue::Operation,
    ) -> Result<(), Error> {
        let missing = op
            .flags
            .iter()
            .find(|flag| ctx.caller.kind != PrincipalKind::Agent || !ctx.caller.flags.allows(flag));
        let Some(flag) = missing else {
            return Ok(());
        };
        let error = Error::Forbidden(format!(
            "this agent does not hold the scope {}",
            scope_named(flag)
        ));
        let event = self.event(
            ctx.meta,
            Some(ctx.caller),
            op.audit_action(),
            None,
            Err(&error),
        );
        self.record(ctx.meta, event).await?;
        Err(error)
    }

    /// `GET /v1/ai/whoami`: the agent itself.
    pub async fn agent_whoami(&self, ctx: &Ctx<'_>) -> Result<AiAgentRow, Error> {
        let object = format!("ai-agent/{}", ctx.caller.principal_id);
        self.read(ctx, &catalogue::AI_WHOAMI, "", Some(&object), async {
            let id = AiAgentId::from(ctx.caller.principal_id.as_str());
            self.account_agent(&ctx.caller.account_id, &id).await
        })
        .await
    }

    /// A group the agent just created joins its own allowlist (when the list is not empty,
    /// which already means every group).
    pub async fn agent_created_group(&self, ctx: &Ctx<'_>, group: &GroupId) -> Result<(), Error> {
        let id = AiAgentId::from(ctx.caller.principal_id.as_str());
        Ok(self.store.add_ai_agent_group(&id, group).await?)
    }
}
