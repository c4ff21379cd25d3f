//! Permission templates: named bundles of capabilities that say what a user may ever do,
//! finer than the four roles (docs/templates.md). Pure data and functions.
//!
//! A capability grants flags by name (a whole namespace such as every `secret.` flag, the
//! reads of a namespace, or one exact flag), so flags added later to a namespace are covered
//! without touching this list. Each is account-wide or group-scoped: a group-scoped one
//! applies only in the groups the holder's assignment names. The four roles are the
//! built-in templates; a unit test proves their capabilities give exactly [`role_allows`].

use super::{Operation, Operations, Role, role_allows};

/// How a capability names the flags it grants.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grant {
    /// Every flag whose first segment is this (`secret` → `secret.create`, `secret.x.reveal`).
    Namespace(&'static str),
    /// Every flag of the namespace that ends in `.read`.
    Reads(&'static str),
    /// One flag.
    Exact(&'static str),
}

impl Grant {
    fn covers(self, flag: &str) -> bool {
        let namespace = flag.split('.').next().unwrap_or_default();
        match self {
            Grant::Namespace(ns) => namespace == ns,
            Grant::Reads(ns) => namespace == ns && flag.ends_with(".read"),
            Grant::Exact(exact) => flag == exact,
        }
    }

    /// How docs and the API show it: `secret.*`, `secret.*.read`, `account.create`.
    pub fn describe(self) -> String {
        match self {
            Grant::Namespace(ns) => format!("{ns}.*"),
            Grant::Reads(ns) => format!("{ns}.*.read"),
            Grant::Exact(flag) => flag.to_owned(),
        }
    }
}

/// Where a capability applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// The whole account.
    Account,
    /// The objects of the groups the assignment names.
    Group,
}

/// One capability of the fixed list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capability {
    pub name: &'static str,
    pub summary: &'static str,
    pub grants: &'static [Grant],
    pub reach: Reach,
}

use Grant::{Exact, Namespace, Reads};

/// Every capability a template can hold. Names are stable API words.
pub const CAPABILITIES: &[Capability] = &[
    cap(
        "read-objects",
        "Read keyrings, keys, secrets, shares and the object list",
        Reach::Group,
        &[
            Reads("keyring"),
            Reads("key"),
            Reads("secret"),
            Reads("share"),
            Reads("object"),
        ],
    ),
    cap(
        "read-directory",
        "Read the account, its users, groups, apps and approvals",
        Reach::Account,
        &[
            Reads("account"),
            Reads("user"),
            Reads("group"),
            Reads("app"),
            Reads("approval"),
            Reads("template"),
        ],
    ),
    cap(
        "read-audit",
        "Read the audit trail, API keys, machines and alert rules",
        Reach::Account,
        &[
            Namespace("activity"),
            Reads("apikey"),
            Reads("machine"),
            Reads("alert"),
        ],
    ),
    cap(
        "create-accounts",
        "Create new accounts (the creator owns them)",
        Reach::Account,
        &[Exact("account.create")],
    ),
    cap(
        "manage-account",
        "Change and close the account",
        Reach::Account,
        &[Exact("account.write"), Exact("account.delete")],
    ),
    cap(
        "manage-keys",
        "Create, rotate, configure and delete keyrings and keys",
        Reach::Group,
        &[Namespace("keyring"), Namespace("key")],
    ),
    cap(
        "manage-secrets",
        "Create, change, reveal, grant and delete secrets",
        Reach::Group,
        &[Namespace("secret")],
    ),
    cap(
        "manage-shares",
        "Create and delete one-time shares",
        Reach::Group,
        &[Namespace("share")],
    ),
    cap(
        "manage-machines",
        "Enrol, approve, disable and delete machines",
        Reach::Account,
        &[Namespace("machine")],
    ),
    cap(
        "manage-policies",
        "Read, write and bind access policies",
        Reach::Account,
        &[Namespace("policy")],
    ),
    cap(
        "manage-alerts",
        "Create and change alert rules",
        Reach::Account,
        &[Namespace("alert")],
    ),
    cap(
        "manage-groups",
        "Create, change and delete groups and their members",
        Reach::Account,
        &[Namespace("group")],
    ),
    cap(
        "manage-users",
        "Invite, change, suspend and remove users, reset passwords",
        Reach::Account,
        &[Namespace("user"), Namespace("template")],
    ),
    cap(
        "manage-apps",
        "Create and change apps and API keys",
        Reach::Account,
        &[Namespace("app"), Namespace("apikey")],
    ),
    cap(
        "manage-ai-agents",
        "Create and change AI agents",
        Reach::Account,
        &[Namespace("ai-agent")],
    ),
    cap(
        "decide-approvals",
        "Approve or deny requests that need a quorum",
        Reach::Account,
        &[Namespace("approval")],
    ),
];

/// What every template grants: the holder's own sessions and password.
const OWN_CREDENTIALS: &[Grant] = &[Namespace("session"), Exact("password.write")];

const fn cap(
    name: &'static str,
    summary: &'static str,
    reach: Reach,
    grants: &'static [Grant],
) -> Capability {
    Capability {
        name,
        summary,
        grants,
        reach,
    }
}

/// The capability called `name`.
pub fn capability(name: &str) -> Option<&'static Capability> {
    CAPABILITIES.iter().find(|c| c.name == name)
}

/// A checked set of capabilities (names of [`CAPABILITIES`], sorted, no repeats).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities(Vec<&'static Capability>);

impl Capabilities {
    /// Parses capability names; the first unknown one is the error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut caps = Vec::new();
        for name in names {
            let found = capability(name.as_ref()).ok_or_else(|| name.as_ref().to_owned())?;
            if !caps.iter().any(|c: &&Capability| c.name == found.name) {
                caps.push(found);
            }
        }
        caps.sort_by_key(|c| position(c.name));
        Ok(Self(caps))
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|c| c.name.to_owned()).collect()
    }

    pub fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|c| c.name == name)
    }

    /// Whether a holder may ever be granted `flag` (their credential's flags must too).
    pub fn allows(&self, flag: &str) -> bool {
        OWN_CREDENTIALS.iter().any(|g| g.covers(flag))
            || self
                .0
                .iter()
                .any(|c| c.grants.iter().any(|g| g.covers(flag)))
    }

    /// What a holder may do to the objects of a group in its scope: manage them if any
    /// group-scoped capability writes, otherwise only read them.
    pub fn group_operations(&self) -> Operations {
        let writes = self
            .0
            .iter()
            .any(|c| c.reach == Reach::Group && c.name.starts_with("manage-"));
        if writes {
            Operations::only(&[Operation::ManageObjects])
        } else {
            Operations::default()
        }
    }
}

fn position(name: &str) -> usize {
    CAPABILITIES
        .iter()
        .position(|c| c.name == name)
        .unwrap_or(usize::MAX)
}

/// The capabilities of a role's built-in template (its id is the role's name).
pub fn builtin_capabilities(role: Role) -> Capabilities {
    let names: &[&str] = match role {
        Role::Owner => return Capabilities(CAPABILITIES.iter().collect()),
        Role::Admin => &[
            "read-objects",
            "read-directory",
            "read-audit",
            "create-accounts",
            "manage-keys",
            "manage-secrets",
            "manage-shares",
            "manage-policies",
            "manage-alerts",
            "manage-groups",
            "manage-users",
            "manage-apps",
            "manage-ai-agents",
            "decide-approvals",
        ],
        Role::Member => &[
            "read-objects",
            "read-directory",
            "create-accounts",
            "manage-keys",
            "manage-secrets",
            "manage-shares",
        ],
        Role::Auditor => &["read-objects", "read-directory", "read-audit"],
    };
    Capabilities::parse(names).expect("built-in capabilities exist")
}

/// The template a user holds, as authorization evaluates it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Held {
    /// A built-in: the role table itself decides, so the roles keep their exact meaning
    /// (a test proves the capabilities above say the same).
    Builtin(Role),
    /// A template of the account.
    Custom(Capabilities),
}

impl Held {
    pub fn allows(&self, flag: &str) -> bool {
        match self {
            Held::Builtin(role) => role_allows(*role, flag),
            Held::Custom(caps) => caps.allows(flag),
        }
    }

    pub fn capabilities(&self) -> Capabilities {
        match self {
            Held::Builtin(role) => builtin_capabilities(*role),
            Held::Custom(caps) => caps.clone(),
        }
    }

    pub fn has(&self, capability: &str) -> bool {
        self.capabilities().contains(capability)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::authz::{CATALOGUE, PrincipalKind, kind_may_use};

    fn user_flags() -> impl Iterator<Item = String> {
        CATALOGUE
            .iter()
            .map(|(template, _)| {
                template
                    .replace("<ring>", "payments")
                    .replace("<key>", "payments")
                    .replace("<name>", "payments")
            })
            .filter(|flag| kind_may_use(PrincipalKind::User, flag))
    }

    #[test]
    fn builtin_templates_give_exactly_the_role_table() {
        for role in Role::ALL {
            let caps = builtin_capabilities(role);
            for flag in user_flags() {
                assert_eq!(
                    caps.allows(&flag),
                    role_allows(role, &flag),
                    "{} on {flag}",
                    role.as_str()
                );
            }
        }
    }

    #[test]
    fn every_catalogue_flag_a_user_can_hold_has_a_capability() {
        let all = builtin_capabilities(Role::Owner);
        for flag in user_flags() {
            assert!(all.allows(&flag), "{flag}");
        }
    }

    #[test]
    fn capabilities_cover_later_flags_of_their_namespace_by_name() {
        let agents = Capabilities::parse(&["manage-ai-agents"]).expect("known");
        assert!(agents.allows("ai-agent.read"));
        assert!(agents.allows("ai-agent.write"));
        assert!(!agents.allows("secret.create"));
        assert!(agents.allows("session.write"), "own credentials always");
    }

    #[test]
    fn unknown_names_are_refused_and_repeats_dropped() {
        assert_eq!(
            Capabilities::parse(&["manage-secrets", "fly"]),
            Err("fly".to_owned())
        );
        let caps = Capabilities::parse(&["manage-users", "manage-secrets", "manage-users"])
            .expect("known");
        assert_eq!(caps.names(), ["manage-secrets", "manage-users"]);
    }

    #[test]
    fn only_group_scoped_writers_manage_objects_in_their_groups() {
        let writer = Capabilities::parse(&["manage-secrets"]).expect("known");
        assert!(writer.group_operations().contains(Operation::ManageObjects));
        let reader = Capabilities::parse(&["read-objects", "manage-users"]).expect("known");
        assert_eq!(reader.group_operations(), Operations::default());
    }

    #[test]
    fn capability_names_are_unique_words() {
        for (i, c) in CAPABILITIES.iter().enumerate() {
            assert_eq!(position(c.name), i, "{} twice", c.name);
            assert!(crate::authz::is_valid_name(c.name));
        }
    }
}
