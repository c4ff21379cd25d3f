-- Permission templates (docs/templates.md): an account's named bundles of capabilities,
-- and which member holds which. The built-in templates (owner, admin, member, auditor)
-- are the roles of `memberships` and are not stored here.
CREATE TABLE permission_templates (
    id            TEXT COLLATE "C" PRIMARY KEY,
    account_id    TEXT COLLATE "C" NOT NULL REFERENCES accounts(id),
    name          TEXT COLLATE "C" NOT NULL,
    capabilities  TEXT COLLATE "C" NOT NULL,
    created_by    TEXT COLLATE "C" NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    UNIQUE (account_id, name)
);

-- A member holding a custom template instead of their role's built-in one. `groups` is
-- the JSON list of group ids the group-scoped capabilities apply to; NULL is every group.
CREATE TABLE member_templates (
    account_id   TEXT COLLATE "C" NOT NULL,
    user_id      TEXT COLLATE "C" NOT NULL,
    template_id  TEXT COLLATE "C" NOT NULL REFERENCES permission_templates(id),
    groups       TEXT COLLATE "C",
    assigned_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, user_id)
);
CREATE INDEX member_templates_template ON member_templates(template_id);

-- Setting a member's role assigns that built-in template, and a member who leaves holds
-- nothing: whichever code path changes the membership, the custom assignment goes with it.
CREATE FUNCTION member_templates_forget() RETURNS trigger AS $$
BEGIN
    DELETE FROM member_templates WHERE account_id = OLD.account_id AND user_id = OLD.user_id;
    RETURN NULL;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER member_templates_role_changed AFTER UPDATE OF role ON memberships
FOR EACH ROW WHEN (OLD.role IS DISTINCT FROM NEW.role)
EXECUTE FUNCTION member_templates_forget();

CREATE TRIGGER member_templates_member_removed AFTER DELETE ON memberships
FOR EACH ROW EXECUTE FUNCTION member_templates_forget();
