-- Permission templates (docs/templates.md): an account's named bundles of capabilities,
-- and which member holds which. The built-in templates (owner, admin, member, auditor)
-- are the roles of `memberships` and are not stored here.
CREATE TABLE permission_templates (
    id            TEXT PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts(id),
    name          TEXT NOT NULL,
    capabilities  TEXT NOT NULL,
    created_by    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    UNIQUE (account_id, name)
);

-- A member holding a custom template instead of their role's built-in one. `groups` is
-- the JSON list of group ids the group-scoped capabilities apply to; NULL is every group.
CREATE TABLE member_templates (
    account_id   TEXT NOT NULL,
    user_id      TEXT NOT NULL,
    template_id  TEXT NOT NULL REFERENCES permission_templates(id),
    groups       TEXT,
    assigned_at  INTEGER NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX member_templates_template ON member_templates(template_id);

-- Setting a member's role assigns that built-in template, and a member who leaves holds
-- nothing: whichever code path changes the membership, the custom assignment goes with it.
CREATE TRIGGER member_templates_role_changed AFTER UPDATE OF role ON memberships
WHEN OLD.role <> NEW.role
BEGIN
    DELETE FROM member_templates WHERE account_id = NEW.account_id AND user_id = NEW.user_id;
END;

CREATE TRIGGER member_templates_member_removed AFTER DELETE ON memberships
BEGIN
    DELETE FROM member_templates WHERE account_id = OLD.account_id AND user_id = OLD.user_id;
END;
