//! AI agents (docs/ai-agents.md): the users' management routes (`ai-agent.*`), the
//! registration with a bootstrap token, and the agent-facing routes, each naming the scope
//! (`ai.<scope>`) an agent needs. Only an agent holds `ai.*` flags, built from its scopes;
//! the work of an agent-facing route is the existing operation's, audited under its action.

use super::{Operation, delete, get, patch, post, put};

pub const CREATE_AI_TOKEN: Operation = post("/v1/ai/bootstrap-tokens")
    .summary("Issue a one-time bootstrap token that registers an AI agent (shown once)")
    .needs(&["ai-agent.write"], "ai.token.create")
    .takes("CreateAgentToken")
    .created("IssuedAgentToken");

pub const LIST_AI_TOKENS: Operation = get("/v1/ai/bootstrap-tokens")
    .summary("List the account's AI agent bootstrap tokens (never their text)")
    .needs(&["ai-agent.read"], "ai.token.list")
    .gives("AgentTokenList");

pub const DELETE_AI_TOKEN: Operation = delete("/v1/ai/bootstrap-tokens/{id}")
    .summary("Revoke an AI agent bootstrap token")
    .needs(&["ai-agent.write"], "ai.token.delete")
    .status(204);

pub const REGISTER_AI_AGENT: Operation = post("/v1/ai/agents/register")
    .summary("Register an AI agent's public key with a bootstrap token (no other credential)")
    .audited_as("ai.agent.register")
    .takes("RegisterAgent")
    .created("Agent");

pub const LIST_AI_AGENTS: Operation = get("/v1/ai/agents")
    .summary("List AI agents")
    .needs(&["ai-agent.read"], "ai.agent.list")
    .gives("AgentList");

pub const GET_AI_AGENT: Operation = get("/v1/ai/agents/{id}")
    .summary("An AI agent")
    .needs(&["ai-agent.read"], "ai.agent.read")
    .gives("Agent");

pub const UPDATE_AI_AGENT: Operation = patch("/v1/ai/agents/{id}")
    .summary("Change an AI agent's name, scopes or group allowlist (users only)")
    .needs(&["ai-agent.write"], "ai.agent.update")
    .exchanges("UpdateAgent", "Agent");

pub const DISABLE_AI_AGENT: Operation = post("/v1/ai/agents/{id}/disable")
    .summary("Disable an AI agent (effective on its next request)")
    .needs(&["ai-agent.write"], "ai.agent.disable")
    .gives("Agent");

pub const ENABLE_AI_AGENT: Operation = post("/v1/ai/agents/{id}/enable")
    .summary("Enable an AI agent")
    .needs(&["ai-agent.write"], "ai.agent.enable")
    .gives("Agent");

pub const DELETE_AI_AGENT: Operation = delete("/v1/ai/agents/{id}")
    .summary("Delete an AI agent")
    .needs(&["ai-agent.write"], "ai.agent.delete")
    .status(204);

pub const AI_WHOAMI: Operation = get("/v1/ai/whoami")
    .summary("Agent: the calling AI agent itself")
    .needs(&["ai.whoami"], "ai.whoami")
    .gives("Agent");

pub const AI_LIST_GROUPS: Operation = get("/v1/ai/groups")
    .summary("Agent (groups.read): the groups of its allowlist")
    .needs(&["ai.groups.read"], "ai.group.list")
    .gives("GroupList");

pub const AI_CREATE_GROUP: Operation = post("/v1/ai/groups")
    .summary("Agent (groups.write): create a group; it joins the agent's allowlist")
    .needs(&["ai.groups.write"], "ai.group.create")
    .takes("CreateGroup")
    .created("Group");

pub const AI_LIST_SECRETS: Operation = get("/v1/ai/secrets")
    .summary("Agent (secrets.metadata.read): secrets' metadata, never a value")
    .needs(&["ai.secrets.metadata.read"], "ai.secret.list")
    .gives("SecretList");

pub const AI_GET_SECRET: Operation = get("/v1/ai/secrets/{name}")
    .summary("Agent (secrets.metadata.read): a secret's metadata, never its value")
    .needs(&["ai.secrets.metadata.read"], "ai.secret.read")
    .gives("Secret");

pub const AI_CREATE_SECRET: Operation = post("/v1/ai/secrets")
    .summary("Agent (secrets.write): create a secret; answers its metadata only")
    .needs(&["ai.secrets.write"], "ai.secret.create")
    .takes("CreateSecret")
    .created("Secret");

pub const AI_SET_SECRET_VALUE: Operation = put("/v1/ai/secrets/{name}/value")
    .summary("Agent (secrets.write): write a secret's new version; answers metadata only")
    .needs(&["ai.secrets.write"], "ai.secret.write")
    .exchanges("SetSecretValue", "Secret");

pub const AI_ROTATE_SECRET: Operation = post("/v1/ai/secrets/{name}/rotate")
    .summary("Agent (secrets.write): rotate a secret now; the new value is not returned")
    .needs(&["ai.secrets.write"], "ai.secret.rotate")
    .gives("Secret");

pub const AI_LIST_KEYRINGS: Operation = get("/v1/ai/keyrings")
    .summary("Agent (keyrings.manage): the keyrings of its groups")
    .needs(&["ai.keyrings.manage"], "ai.keyring.list")
    .gives("KeyringList");

pub const AI_CREATE_KEYRING: Operation = post("/v1/ai/keyrings")
    .summary("Agent (keyrings.manage): create a keyring")
    .needs(&["ai.keyrings.manage"], "ai.keyring.create")
    .takes("CreateKeyring")
    .created("Keyring");

pub const AI_LIST_MACHINES: Operation = get("/v1/ai/machines")
    .summary("Agent (machines.read): the account's machines")
    .needs(&["ai.machines.read"], "ai.machine.list")
    .gives("MachineList");

pub const AI_ACTIVITY: Operation = get("/v1/ai/activity")
    .summary("Agent (audit.read): the audit trail, as GET /v1/activity")
    .needs(&["ai.audit.read"], "ai.activity.read")
    .gives("Activity");

pub const AI_LIST_ALERTS: Operation = get("/v1/ai/alerts")
    .summary("Agent (alerts.write): the alert rules")
    .needs(&["ai.alerts.write"], "ai.alert.list")
    .gives("AlertList");

pub const AI_CREATE_ALERT: Operation = post("/v1/ai/alerts")
    .summary("Agent (alerts.write): create an alert rule")
    .needs(&["ai.alerts.write"], "ai.alert.create")
    .takes("CreateAlert")
    .created("CreatedAlert");

pub const AI_CREATE_SHARE: Operation = post("/v1/ai/shares")
    .summary("Agent (shares.create): create a one-time share; answers its link and passphrase")
    .needs(&["ai.shares.create"], "ai.share.create")
    .takes("CreateShare")
    .created("CreatedShare");

/// The agent-facing routes: only an agent's signature is accepted there, and an agent's
/// signature nowhere else.
pub const AGENT_FACING: &[&Operation] = &[
    &AI_WHOAMI,
    &AI_LIST_GROUPS,
    &AI_CREATE_GROUP,
    &AI_LIST_SECRETS,
    &AI_GET_SECRET,
    &AI_CREATE_SECRET,
    &AI_SET_SECRET_VALUE,
    &AI_ROTATE_SECRET,
    &AI_LIST_KEYRINGS,
    &AI_CREATE_KEYRING,
    &AI_LIST_MACHINES,
    &AI_ACTIVITY,
    &AI_LIST_ALERTS,
    &AI_CREATE_ALERT,
    &AI_CREATE_SHARE,
];
