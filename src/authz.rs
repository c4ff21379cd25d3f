//! Flags: the grammar, the catalogue and the matching rule of `api.md`. Pure functions.
//!
//! A pattern matches a required flag when it has at least as many segments, every segment
//! is `*` or equal to the flag's segment at that position, and every extra segment is `*`.
//! A `false` entry denies and beats any `true`.

use std::collections::BTreeMap;

/// Who a principal is, as far as authorization cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    /// A human: manages, never performs cryptographic operations.
    User,
    /// A non-human client: performs cryptographic operations, never manages principals.
    App,
    /// An AI coding client (docs/ai-agents.md): a management-plane identity whose flags are
    /// built by Coffer from its scopes, never parsed from a key.
    Agent,
}

impl PrincipalKind {
    /// The word that names the kind in API-key rows and on the wire (as serde writes it).
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::User => "user",
            PrincipalKind::App => "app",
            PrincipalKind::Agent => "agent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [PrincipalKind::User, PrincipalKind::App]
            .into_iter()
            .find(|kind| kind.as_str() == text)
    }
}

/// Which kinds of principal a flag can ever take effect for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// Management of accounts, principals, credentials and the audit log.
    UsersOnly,
    /// Cryptographic operations.
    AppsOnly,
    /// Object management both may do.
    Both,
    /// The agent-facing routes (`ai.*`): only an AI agent holds them, from its scopes.
    AgentsOnly,
}

impl Audience {
    pub fn admits(self, kind: PrincipalKind) -> bool {
        match self {
            Audience::Both => true,
            Audience::UsersOnly if kind == PrincipalKind::Agent => true,
            Audience::UsersOnly => kind == PrincipalKind::User,
            Audience::AppsOnly => kind == PrincipalKind::App,
            // An agent's flags come from its fixed scopes only (never from a key), so it may
            // hold the management-plane flags those scopes name; never the crypto ones.
            Audience::AgentsOnly => kind == PrincipalKind::Agent,
        }
    }
}

/// Placeholder segments in the catalogue (`<ring>`, `<key>`) stand for any object name.
fn is_placeholder(segment: &str) -> bool {
    segment.starts_with('<') && segment.ends_with('>')
}

/// Every flag a route can require, with its audience. The list grows with new routes.
pub const CATALOGUE: &[(&str, Audience)] = &[
    ("account.create", Audience::UsersOnly),
    ("account.read", Audience::UsersOnly),
    ("account.write", Audience::UsersOnly),
    ("account.delete", Audience::UsersOnly),
    ("activity.read", Audience::UsersOnly),
    ("apikey.read", Audience::UsersOnly),
    ("apikey.write", Audience::UsersOnly),
    ("user.read", Audience::UsersOnly),
    ("user.write", Audience::UsersOnly),
    ("user.password-reset", Audience::UsersOnly),
    ("group.read", Audience::UsersOnly),
    ("group.write", Audience::UsersOnly),
    ("app.read", Audience::UsersOnly),
    ("app.write", Audience::UsersOnly),
    ("keyring.create", Audience::Both),
    ("keyring.read", Audience::Both),
    ("keyring.delete", Audience::Both),
    ("keyring.<ring>.read", Audience::Both),
    ("keyring.<ring>.delete", Audience::Both),
    ("keyring.<ring>.restore", Audience::Both),
    ("keyring.<ring>.encrypt", Audience::AppsOnly),
    ("keyring.<ring>.decrypt", Audience::AppsOnly),
    ("keyring.<ring>.rotate", Audience::Both),
    ("keyring.<ring>.config.read", Audience::Both),
    ("keyring.<ring>.config.write", Audience::Both),
    ("keyring.<ring>.hash.read", Audience::Both),
    ("keyring.<ring>.keys.read", Audience::Both),
    ("key.create", Audience::Both),
    ("key.read", Audience::Both),
    ("key.<key>.read", Audience::Both),
    ("key.<key>.write", Audience::Both),
    ("key.<key>.sign", Audience::AppsOnly),
    ("key.<key>.verify", Audience::AppsOnly),
    ("key.<key>.decrypt", Audience::AppsOnly),
    ("key.<key>.rotate", Audience::Both),
    ("key.<key>.csr", Audience::Both),
    ("key.<key>.certificate.write", Audience::Both),
    ("key.<key>.delete", Audience::Both),
    ("key.<key>.restore", Audience::Both),
    ("object.read", Audience::Both),
    ("session.read", Audience::UsersOnly),
    ("session.write", Audience::UsersOnly),
    ("password.write", Audience::UsersOnly),
    ("machine.read", Audience::UsersOnly),
    ("machine.write", Audience::UsersOnly),
    ("secret.create", Audience::Both),
    ("secret.read", Audience::Both),
    ("secret.<name>.read", Audience::AppsOnly),
    ("secret.<name>.reveal", Audience::UsersOnly),
    ("secret.<name>.write", Audience::Both),
    ("secret.<name>.rotate", Audience::Both),
    ("secret.<name>.grant", Audience::UsersOnly),
    ("secret.<name>.delete", Audience::Both),
    ("secret.<name>.restore", Audience::Both),
    ("secret.<name>.apply", Audience::AppsOnly),
    ("share.create", Audience::UsersOnly),
    ("share.read", Audience::UsersOnly),
    ("share.delete", Audience::UsersOnly),
    ("policy.read", Audience::UsersOnly),
    ("policy.write", Audience::UsersOnly),
    ("alert.read", Audience::UsersOnly),
    ("alert.write", Audience::UsersOnly),
    ("approval.read", Audience::UsersOnly),
    ("approval.decide", Audience::UsersOnly),
    ("ai-agent.read", Audience::UsersOnly),
    ("ai-agent.write", Audience::UsersOnly),
    ("ai.whoami", Audience::AgentsOnly),
    ("ai.groups.read", Audience::AgentsOnly),
    ("ai.groups.write", Audience::AgentsOnly),
    ("ai.secrets.metadata.read", Audience::AgentsOnly),
    ("ai.secrets.write", Audience::AgentsOnly),
    ("ai.keyrings.manage", Audience::AgentsOnly),
    ("ai.machines.read", Audience::AgentsOnly),
    ("ai.audit.read", Audience::AgentsOnly),
    ("ai.alerts.write", Audience::AgentsOnly),
    ("ai.shares.create", Audience::AgentsOnly),
    ("template.read", Audience::UsersOnly),
    ("template.write", Audience::UsersOnly),
    ("random.generate", Audience::AppsOnly),
];

/// True for a name usable inside a flag (keyring names and the like): 1–64 chars of
/// `[A-Za-z0-9_-]`.
pub fn is_valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Why a flags object was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FlagsError {
    #[error("flag pattern {0:?} is malformed: segments are '*' or 1-64 chars of [A-Za-z0-9_-]")]
    Malformed(String),
    #[error("flag pattern {0:?} matches no flag of the catalogue")]
    Unknown(String),
    #[error("flag {flag:?} can never take effect for a {kind:?} principal")]
    WrongAudience { flag: String, kind: PrincipalKind },
    #[error("flags may only be narrowed: {0:?} would grant something the key cannot do now")]
    Widening(String),
    #[error("at least one flag is required")]
    Empty,
}

/// A validated flags object: pattern → grant (`true`) or deny (`false`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct Flags(BTreeMap<String, bool>);

fn segments(pattern: &str) -> Vec<&str> {
    pattern.split('.').collect()
}

/// Walks `pattern` and `target` segment by segment (no allocation: this runs on every
/// request): every pattern segment must be `*` or accepted by `segment_ok`, the pattern may
/// be longer only by `*` segments, and never shorter.
fn matches_with(pattern: &str, target: &str, segment_ok: impl Fn(&str, &str) -> bool) -> bool {
    let mut p = pattern.split('.');
    let mut t = target.split('.');
    loop {
        match (p.next(), t.next()) {
            (Some(ps), Some(ts)) if ps == "*" || segment_ok(ps, ts) => continue,
            (Some(_), Some(_)) | (None, Some(_)) => return false,
            (Some(ps), None) => return ps == "*" && p.all(|s| s == "*"),
            (None, None) => return true,
        }
    }
}

/// The matching rule of `api.md`.
pub fn pattern_matches(pattern: &str, flag: &str) -> bool {
    matches_with(pattern, flag, |ps, fs| ps == fs)
}

/// Like [`pattern_matches`], against a catalogue entry whose `<ring>` segment stands for any
/// valid name.
fn pattern_matches_template(pattern: &str, template: &str) -> bool {
    matches_with(pattern, template, |ps, ts| {
        ps == ts || (is_placeholder(ts) && is_valid_name(ps))
    })
}

fn segment_count(text: &str) -> usize {
    text.bytes().filter(|b| *b == b'.').count() + 1
}

/// The audience of a concrete flag, `None` if the flag is not in the catalogue.
pub fn audience_of(flag: &str) -> Option<Audience> {
    let length = segment_count(flag);
    CATALOGUE
        .iter()
        .find(|(template, _)| {
            segment_count(template) == length && pattern_matches_template(flag, template)
        })
        .map(|(_, audience)| *audience)
}

impl Flags {
    /// Validates patterns for a key held by a principal of `kind`.
    pub fn parse(raw: BTreeMap<String, bool>, kind: PrincipalKind) -> Result<Self, FlagsError> {
        if raw.is_empty() {
            return Err(FlagsError::Empty);
        }
        for (pattern, grant) in &raw {
            if !segments(pattern)
                .iter()
                .all(|s| *s == "*" || is_valid_name(s))
            {
                return Err(FlagsError::Malformed(pattern.clone()));
            }
            let matched: Vec<Audience> = CATALOGUE
                .iter()
                .filter(|(template, _)| pattern_matches_template(pattern, template))
                .map(|(_, audience)| *audience)
                .collect();
            if matched.is_empty() {
                return Err(FlagsError::Unknown(pattern.clone()));
            }
            let explicit = !pattern.contains('*');
            if *grant && explicit && !matched.iter().any(|a| a.admits(kind)) {
                return Err(FlagsError::WrongAudience {
                    flag: pattern.clone(),
                    kind,
                });
            }
        }
        Ok(Self(raw))
    }

    /// Whether these flags grant `flag` (deny beats grant).
    pub fn allows(&self, flag: &str) -> bool {
        let mut granted = false;
        for (pattern, grant) in &self.0 {
            if pattern_matches(pattern, flag) {
                if !grant {
                    return false;
                }
                granted = true;
            }
        }
        granted
    }

    /// Whether `self` grants nothing that `current` does not: every catalogue flag (with a
    /// probe name for `<ring>` and `<key>`, plus every object name either mentions) allowed by `self` must
    /// be allowed by `current`.
    pub fn narrows(&self, current: &Flags) -> Result<(), FlagsError> {
        let mut rings: Vec<String> = vec!["\u{0}probe".to_owned()];
        for pattern in self.0.keys().chain(current.0.keys()) {
            let s = segments(pattern);
            if s.len() > 1 && matches!(s[0], "keyring" | "key" | "secret") && s[1] != "*" {
                rings.push(s[1].to_owned());
            }
        }
        for (template, _) in CATALOGUE {
            for ring in &rings {
                let flag = template
                    .replace("<ring>", ring)
                    .replace("<key>", ring)
                    .replace("<name>", ring);
                if self.allows(&flag) && !current.allows(&flag) {
                    let shown = if ring.starts_with('\u{0}') {
                        template.to_string()
                    } else {
                        flag
                    };
                    return Err(FlagsError::Widening(shown));
                }
            }
        }
        Ok(())
    }

    /// The raw patterns, for storage and display.
    pub fn as_map(&self) -> &BTreeMap<String, bool> {
        &self.0
    }

    /// Flags that grant everything (the owner's bootstrap key).
    pub fn everything() -> Self {
        Self(BTreeMap::from([("*.*.*.*".to_owned(), true)]))
    }
}

/// A principal may use `flag` only if its kind is in the flag's audience.
pub fn kind_may_use(kind: PrincipalKind, flag: &str) -> bool {
    audience_of(flag).is_some_and(|a| a.admits(kind))
}

/// A user's role in an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Everything, including closing the account and managing other owners.
    Owner,
    /// Everything but changing or closing the account and managing owners.
    Admin,
    /// Reads, and manages the objects of the groups they belong to.
    Member,
    /// Reads everything, including the audit log; changes nothing.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Owner, Role::Admin, Role::Member, Role::Auditor];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
            Role::Auditor => "auditor",
        }
    }

    /// Whether the role sees every group of the account (members see only their own).
    pub fn sees_all_groups(self) -> bool {
        self != Role::Member
    }
}

/// What a flag is about, for the role table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlagClass {
    /// The user's own sessions and password.
    OwnCredentials,
    Read,
    /// Creating and changing security objects.
    ObjectWrite,
    /// Accounts, users, groups, apps and credentials.
    Management,
}

fn flag_class(flag: &str) -> FlagClass {
    if flag.starts_with("session.") || flag == "password.write" {
        FlagClass::OwnCredentials
    } else if flag.starts_with("ai-agent.") {
        // AI agents hold account-wide scopes: managing them (and reading them) is account
        // management, for owners and admins only.
        FlagClass::Management
    } else if flag.starts_with("policy.") {
        // Access policies constrain every app of a group: account management, for owners
        // and admins only (members and auditors do not even read them).
        FlagClass::Management
    } else if flag.starts_with("secret.") && (flag.ends_with(".reveal") || flag.ends_with(".grant"))
    {
        // Users only, yet object work: a member who manages a group's objects may reveal
        // and grant its secrets (the group role is checked too); an auditor never may.
        FlagClass::ObjectWrite
    } else if flag.ends_with(".read") {
        FlagClass::Read
    } else if flag.starts_with("share.") {
        // Shares are objects of a group that only users make (UsersOnly), managed like
        // the group's other objects: members of the group may, auditors may not.
        FlagClass::ObjectWrite
    } else if audience_of(flag) == Some(Audience::Both) {
        FlagClass::ObjectWrite
    } else {
        FlagClass::Management
    }
}

/// The role table: whether a user with `role` may ever be granted `flag`.
pub fn role_allows(role: Role, flag: &str) -> bool {
    let class = flag_class(flag);
    match role {
        Role::Owner => true,
        // Machines are credentials of the whole account: only owners enroll and manage them.
        Role::Admin => !matches!(flag, "account.write" | "account.delete" | "machine.write"),
        Role::Member => match class {
            FlagClass::OwnCredentials | FlagClass::ObjectWrite => true,
            FlagClass::Read => !matches!(
                flag,
                "activity.read" | "apikey.read" | "machine.read" | "alert.read"
            ),
            FlagClass::Management => flag == "account.create",
        },
        Role::Auditor => matches!(class, FlagClass::OwnCredentials | FlagClass::Read),
    }
}

/// An operation an app may be allowed in a group (the SmartKey/Fortanix model).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Encrypt,
    Decrypt,
    Sign,
    Verify,
    Wrap,
    Unwrap,
    Mac,
    Export,
    ManageObjects,
}

impl Operation {
    pub const ALL: [Operation; 9] = [
        Operation::Encrypt,
        Operation::Decrypt,
        Operation::Sign,
        Operation::Verify,
        Operation::Wrap,
        Operation::Unwrap,
        Operation::Mac,
        Operation::Export,
        Operation::ManageObjects,
    ];

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.as_str() == text)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Encrypt => "encrypt",
            Operation::Decrypt => "decrypt",
            Operation::Sign => "sign",
            Operation::Verify => "verify",
            Operation::Wrap => "wrap",
            Operation::Unwrap => "unwrap",
            Operation::Mac => "mac",
            Operation::Export => "export",
            Operation::ManageObjects => "manage-objects",
        }
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Operations(u16);

impl Operations {
    pub fn all() -> Self {
        Self(Operation::ALL.iter().fold(0, |bits, op| bits | op.bit()))
    }

    pub fn only(ops: &[Operation]) -> Self {
        Self(ops.iter().fold(0, |bits, op| bits | op.bit()))
    }

    /// Parses operation names; the first unknown one is the error.
    pub fn parse<S: AsRef<str>>(names: &[S]) -> Result<Self, String> {
        let mut ops = Vec::new();
        for name in names {
            ops.push(Operation::parse(name.as_ref()).ok_or_else(|| name.as_ref().to_owned())?);
        }
        Ok(Self::only(&ops))
    }

    pub fn contains(self, op: Operation) -> bool {
        self.0 & op.bit() != 0
    }

    pub fn names(self) -> Vec<String> {
        Operation::ALL
            .iter()
            .filter(|op| self.contains(**op))
            .map(|op| op.as_str().to_owned())
            .collect()
    }
}

/// The group operation a flag exercises on an object, `None` for reads: the rule that each
/// catalogue entry's group operations follow (a catalogue test checks every entry by it).
pub fn operation_for(flag: &str) -> Option<Operation> {
    match flag.rsplit('.').next() {
        Some("encrypt") => Some(Operation::Encrypt),
        Some("decrypt") => Some(Operation::Decrypt),
        Some("sign") => Some(Operation::Sign),
        Some("verify") => Some(Operation::Verify),
        Some("read") => None,
        _ => (flag_class(flag) == FlagClass::ObjectWrite).then_some(Operation::ManageObjects),
    }
}

/// A user's role inside one group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupRole {
    /// Manages the group's objects.
    Member,
    /// Reads the group's objects.
    Auditor,
}

impl GroupRole {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "member" => Some(GroupRole::Member),
            "auditor" => Some(GroupRole::Auditor),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupRole::Member => "member",
            GroupRole::Auditor => "auditor",
        }
    }

    /// What a user with this group role may do to the group's objects.
    pub fn operations(self) -> Operations {
        match self {
            GroupRole::Member => Operations::only(&[Operation::ManageObjects]),
            GroupRole::Auditor => Operations::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principal_kinds_are_stored_as_serde_names_them() {
        for kind in [PrincipalKind::User, PrincipalKind::App] {
            let serialized = serde_json::to_value(kind).expect("serializes");
            assert_eq!(serialized, kind.as_str());
            assert_eq!(PrincipalKind::parse(kind.as_str()), Some(kind));
        }
        assert_eq!(PrincipalKind::parse("machine"), None);
    }

    fn flags(pairs: &[(&str, bool)], kind: PrincipalKind) -> Result<Flags, FlagsError> {
        Flags::parse(
            pairs.iter().map(|(p, g)| (p.to_string(), *g)).collect(),
            kind,
        )
    }

    #[test]
    fn four_stars_grant_every_flag_of_the_catalogue() {
        for (template, _) in CATALOGUE {
            assert!(
                pattern_matches(
                    "*.*.*.*",
                    &template
                        .replace("<ring>", "payments")
                        .replace("<key>", "payments")
                ),
                "{template}"
            );
        }
    }

    #[test]
    fn config_wildcard_grants_config_read_of_any_ring() {
        assert!(pattern_matches(
            "keyring.*.config.*",
            "keyring.payments.config.read"
        ));
        assert!(!pattern_matches(
            "keyring.*.config.*",
            "keyring.payments.encrypt"
        ));
    }

    #[test]
    fn a_short_pattern_grants_short_flags_only() {
        assert!(pattern_matches("keyring.*", "keyring.read"));
        assert!(!pattern_matches("keyring.*", "keyring.payments.encrypt"));
    }

    #[test]
    fn extra_pattern_segments_must_be_stars() {
        assert!(pattern_matches("keyring.read.*", "keyring.read"));
        assert!(!pattern_matches("keyring.read.x", "keyring.read"));
        assert!(pattern_matches(
            "keyring.payments.encrypt",
            "keyring.payments.encrypt"
        ));
        assert!(!pattern_matches(
            "keyring.payments.encrypt",
            "keyring.orders.encrypt"
        ));
    }

    #[test]
    fn deny_beats_grant() {
        let f = flags(
            &[("keyring.*.*", true), ("keyring.payments.decrypt", false)],
            PrincipalKind::App,
        )
        .unwrap();
        assert!(f.allows("keyring.payments.encrypt"));
        assert!(!f.allows("keyring.payments.decrypt"));
        assert!(f.allows("keyring.orders.decrypt"));
    }

    #[test]
    fn nothing_is_granted_without_a_true_entry() {
        let f = flags(&[("keyring.payments.decrypt", false)], PrincipalKind::App).unwrap();
        assert!(!f.allows("keyring.payments.encrypt"));
    }

    #[test]
    fn a_pattern_matching_no_catalogue_flag_is_refused_by_name() {
        assert_eq!(
            flags(&[("keyring.payments.explode", true)], PrincipalKind::App),
            Err(FlagsError::Unknown("keyring.payments.explode".into()))
        );
        assert_eq!(
            flags(&[("nosuch.*", true)], PrincipalKind::User),
            Err(FlagsError::Unknown("nosuch.*".into()))
        );
        assert!(flags(&[("keyring.*", true)], PrincipalKind::App).is_ok());
    }

    #[test]
    fn malformed_patterns_are_refused() {
        assert!(matches!(
            flags(&[("keyring..read", true)], PrincipalKind::App),
            Err(FlagsError::Malformed(_))
        ));
        assert!(matches!(
            flags(&[("keyring.pay ments.encrypt", true)], PrincipalKind::App),
            Err(FlagsError::Malformed(_))
        ));
        assert_eq!(flags(&[], PrincipalKind::App), Err(FlagsError::Empty));
    }

    #[test]
    fn explicit_flags_that_cannot_apply_to_the_principal_are_refused() {
        assert!(matches!(
            flags(&[("keyring.payments.encrypt", true)], PrincipalKind::User),
            Err(FlagsError::WrongAudience { .. })
        ));
        assert!(matches!(
            flags(&[("group.write", true)], PrincipalKind::App),
            Err(FlagsError::WrongAudience { .. })
        ));
        // Wildcards simply match less for such a principal.
        assert!(flags(&[("*.*.*.*", true)], PrincipalKind::App).is_ok());
        assert!(!kind_may_use(
            PrincipalKind::User,
            "keyring.payments.encrypt"
        ));
        assert!(kind_may_use(PrincipalKind::User, "keyring.payments.rotate"));
        assert!(!kind_may_use(PrincipalKind::App, "group.write"));
    }

    #[test]
    fn narrowing_is_allowed_and_widening_is_not() {
        let current = flags(&[("keyring.payments.*", true)], PrincipalKind::App).unwrap();
        let narrower = flags(&[("keyring.payments.encrypt", true)], PrincipalKind::App).unwrap();
        let wider = flags(&[("keyring.*.encrypt", true)], PrincipalKind::App).unwrap();
        let other = flags(&[("keyring.orders.encrypt", true)], PrincipalKind::App).unwrap();
        assert!(narrower.narrows(&current).is_ok());
        assert!(matches!(
            wider.narrows(&current),
            Err(FlagsError::Widening(_))
        ));
        assert!(matches!(
            other.narrows(&current),
            Err(FlagsError::Widening(_))
        ));
    }

    #[test]
    fn names_follow_the_rule() {
        assert!(is_valid_name("payments_v2-eu"));
        assert!(!is_valid_name(""));
        assert!(!is_valid_name(&"a".repeat(65)));
        assert!(!is_valid_name("a.b"));
    }

    #[test]
    fn roles_follow_the_table() {
        assert!(role_allows(Role::Owner, "account.delete"));
        assert!(!role_allows(Role::Admin, "account.delete"));
        assert!(role_allows(Role::Admin, "user.write"));
        assert!(!role_allows(Role::Member, "user.write"));
        assert!(role_allows(Role::Member, "keyring.create"));
        assert!(!role_allows(Role::Member, "activity.read"));
        assert!(role_allows(Role::Auditor, "activity.read"));
        assert!(!role_allows(Role::Auditor, "keyring.create"));
        assert!(role_allows(Role::Auditor, "session.write"));
    }

    #[test]
    fn flags_map_to_group_operations() {
        assert_eq!(operation_for("keyring.a.encrypt"), Some(Operation::Encrypt));
        assert_eq!(operation_for("key.a.decrypt"), Some(Operation::Decrypt));
        assert_eq!(operation_for("key.a.sign"), Some(Operation::Sign));
        assert_eq!(
            operation_for("keyring.create"),
            Some(Operation::ManageObjects)
        );
        assert_eq!(
            operation_for("key.a.certificate.write"),
            Some(Operation::ManageObjects)
        );
        assert_eq!(operation_for("keyring.a.read"), None);
        assert_eq!(operation_for("user.write"), None);
        let ops = Operations::parse(&["encrypt", "sign"]).expect("known");
        assert!(ops.contains(Operation::Sign) && !ops.contains(Operation::Decrypt));
        assert_eq!(Operations::parse(&["fly"]), Err("fly".to_owned()));
        assert_eq!(Operations::all().names().len(), 9);
    }
}

pub mod templates;
