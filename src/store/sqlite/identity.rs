//! [`IdentityStore`] on SQLite.

use super::{SqliteStore, commit, group_row, insert_event, to_u32, unavailable};
use crate::audit::AuditEvent;
use crate::store::identity::*;
use crate::store::{GroupRow, StoreError};
use async_trait::async_trait;
use sqlx::sqlite::SqliteRow;
use sqlx::{Row, Sqlite, Transaction};

/// A password-reset (or bootstrap setup) token's row.
pub(super) const INSERT_RESET: &str =
    "INSERT INTO password_resets (id, user_id, account_id, digest, created_at, expires_at)
     VALUES (?, ?, ?, ?, ?, ?)";

fn account_state(r: &SqliteRow) -> AccountState {
    AccountState {
        id: r.get("id"),
        name: r.get("name"),
        created_at: r.get("created_at"),
        deletion_requested_at: r.get("deletion_requested_at"),
        deletion_due_at: r.get("deletion_due_at"),
        closed_at: r.get("closed_at"),
    }
}

fn user_record(r: &SqliteRow) -> UserRecord {
    UserRecord {
        id: r.get("id"),
        email: r.get("email"),
        password_hash: r.get("password_hash"),
        created_at: r.get("created_at"),
    }
}

fn member_row(r: &SqliteRow) -> MemberRow {
    MemberRow {
        account_id: r.get("account_id"),
        user_id: r.get("user_id"),
        email: r.get("email"),
        role: r.get("role"),
        suspended: r.get::<i64, _>("suspended") != 0,
        created_at: r.get("created_at"),
    }
}

fn session_row(r: &SqliteRow) -> SessionRow {
    SessionRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        user_id: r.get("user_id"),
        digest: r.get("digest"),
        created_at: r.get("created_at"),
        expires_at: r.get("expires_at"),
        revoked_at: r.get("revoked_at"),
        source_ip: r.get("source_ip"),
    }
}

fn trusted_ca_row(r: &SqliteRow) -> TrustedCaRow {
    TrustedCaRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        name: r.get("name"),
        der: r.get("der"),
        subject: r.get("subject"),
        fingerprint: r.get("fingerprint"),
        proven: r.get::<i64, _>("proven") != 0,
        created_at: r.get("created_at"),
    }
}

fn app_certificate_row(r: &SqliteRow) -> AppCertificateRow {
    AppCertificateRow {
        id: r.get("id"),
        account_id: r.get("account_id"),
        app_id: r.get("app_id"),
        kind: r.get("kind"),
        fingerprint: r.get("fingerprint"),
        ca_id: r.get("ca_id"),
        subject: r.get("subject"),
        san: r.get("san"),
        not_after: r.get("not_after"),
        proven: r.get::<i64, _>("proven") != 0,
        created_at: r.get("created_at"),
    }
}

/// Whether `sql` (selecting proven rows with `fingerprint` outside `account_id`) finds one:
/// inside the write transaction, so no other write comes between the check and the insert.
async fn proven_elsewhere(
    tx: &mut Transaction<'_, Sqlite>,
    sql: &'static str,
    fingerprint: &str,
    account_id: &str,
) -> Result<bool, StoreError> {
    let found: Option<i64> = sqlx::query_scalar(sql)
        .bind(fingerprint)
        .bind(account_id)
        .fetch_optional(&mut **tx)
        .await
        .map_err(unavailable)?;
    Ok(found.is_some())
}

/// The membership columns, as a literal so queries stay `&'static str`.
macro_rules! member_select {
    () => {
        "SELECT m.account_id, m.user_id, u.email, m.role, m.suspended, m.created_at
         FROM memberships m JOIN users u ON u.id = m.user_id"
    };
}

/// Deletes an app: its API keys stop, its certificates and group places go, its name is
/// freed. Returns 0 if it was already deleted.
pub(super) async fn delete_app_rows(
    tx: &mut Transaction<'_, Sqlite>,
    id: &str,
    at: i64,
) -> Result<u64, StoreError> {
    run(
        tx,
        "UPDATE api_keys SET disabled = 1 WHERE principal_id = ?",
        &[&id],
    )
    .await?;
    run(tx, "DELETE FROM app_certificates WHERE app_id = ?", &[&id]).await?;
    run(tx, "DELETE FROM app_groups WHERE app_id = ?", &[&id]).await?;
    run(
        tx,
        "UPDATE apps SET deleted_at = ?, enabled = 0, name = '~' || id WHERE id = ? AND deleted_at IS NULL",
        &[&at, &id],
    )
    .await
}

/// Runs one statement with string binds inside a transaction; returns rows affected.
pub(super) async fn run(
    tx: &mut Transaction<'_, Sqlite>,
    sql: &'static str,
    binds: &[&dyn BindValue],
) -> Result<u64, StoreError> {
    let mut query = sqlx::query(sql);
    for b in binds {
        query = b.bind_to(query);
    }
    Ok(query
        .execute(&mut **tx)
        .await
        .map_err(unavailable)?
        .rows_affected())
}

type Query<'q> = sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>;

/// A value `run` can bind: text, optional text, integers.
pub(super) trait BindValue: Sync {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q>;
}

impl BindValue for &str {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        query.bind(self.to_string())
    }
}

impl BindValue for Option<&str> {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        query.bind(self.map(str::to_owned))
    }
}

impl BindValue for i64 {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        query.bind(*self)
    }
}

impl BindValue for Option<i64> {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        query.bind(*self)
    }
}

impl BindValue for &[u8] {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        query.bind(self.to_vec())
    }
}

impl BindValue for Option<&[u8]> {
    fn bind_to<'q>(&self, query: Query<'q>) -> Query<'q> {
        query.bind(self.map(<[u8]>::to_vec))
    }
}

impl SqliteStore {
    /// One transaction: `statements` then the audit event. A statement that must change a
    /// row (`true` in the tuple) and changed none makes the whole thing a conflict.
    pub(super) async fn write(
        &self,
        statements: &[(&'static str, &[&dyn BindValue], bool)],
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        for (sql, binds, must_change) in statements {
            let changed = run(&mut tx, sql, binds).await?;
            if *must_change && changed == 0 {
                return Err(StoreError::Conflict("the object changed meanwhile"));
            }
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }
}

#[async_trait]
impl IdentityStore for SqliteStore {
    async fn account(&self, id: &str) -> Result<Option<AccountState>, StoreError> {
        Ok(sqlx::query("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(account_state))
    }

    async fn accounts_of_user(
        &self,
        user_id: &str,
    ) -> Result<Vec<(AccountState, String)>, StoreError> {
        Ok(sqlx::query(
            "SELECT a.*, m.role FROM accounts a JOIN memberships m ON m.account_id = a.id
             WHERE m.user_id = ? AND a.closed_at IS NULL ORDER BY a.created_at, a.id",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(|r| (account_state(r), r.get("role")))
        .collect())
    }

    async fn create_account(
        &self,
        account: &AccountState,
        owner_id: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[
                (
                    "INSERT INTO accounts (id, name, created_at) VALUES (?, ?, ?)",
                    &[&account.id.as_str(), &account.name.as_str(), &account.created_at],
                    true,
                ),
                (
                    "INSERT INTO memberships (account_id, user_id, role, created_at) VALUES (?, ?, 'owner', ?)",
                    &[&account.id.as_str(), &owner_id, &account.created_at],
                    true,
                ),
            ],
            event,
        )
        .await
    }

    async fn rename_account(
        &self,
        id: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "UPDATE accounts SET name = ? WHERE id = ? AND closed_at IS NULL",
                &[&name, &id],
                true,
            )],
            event,
        )
        .await
    }

    async fn schedule_account_deletion(
        &self,
        id: &str,
        requested_due: Option<(i64, i64)>,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let (requested, due) = match requested_due {
            Some((r, d)) => (Some(r), Some(d)),
            None => (None, None),
        };
        self.write(
            &[(
                "UPDATE accounts SET deletion_requested_at = ?, deletion_due_at = ?
                 WHERE id = ? AND closed_at IS NULL",
                &[&requested, &due, &id],
                true,
            )],
            event,
        )
        .await
    }

    async fn close_account(
        &self,
        id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<Vec<String>, StoreError> {
        let mut tx = self.begin().await?;
        let changed = run(
            &mut tx,
            "UPDATE accounts SET closed_at = ? WHERE id = ? AND closed_at IS NULL
             AND deletion_due_at IS NOT NULL AND deletion_due_at <= ?",
            &[&at, &id, &at],
        )
        .await?;
        if changed == 0 {
            return Err(StoreError::Conflict("the account deletion is not due"));
        }
        run(
            &mut tx,
            "UPDATE api_keys SET disabled = 1 WHERE account_id = ?",
            &[&id],
        )
        .await?;
        run(
            &mut tx,
            "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND revoked_at IS NULL",
            &[&at, &id],
        )
        .await?;
        run(
            &mut tx,
            "DELETE FROM app_certificates WHERE account_id = ?",
            &[&id],
        )
        .await?;
        let mut labels: Vec<String> = Vec::new();
        let groups =
            sqlx::query("SELECT id, master_version FROM security_groups WHERE account_id = ?")
                .bind(id)
                .fetch_all(&mut *tx)
                .await
                .map_err(unavailable)?;
        for g in &groups {
            let group_id: String = g.get("id");
            let versions = to_u32(g.get("master_version"), "master_version")?;
            labels.extend((1..=versions).map(|v| format!("mk/{group_id}/v{v}")));
        }
        let token_keys: Vec<Option<String>> = sqlx::query_scalar(
            "SELECT kv.token_label FROM key_versions kv JOIN keys k ON k.id = kv.key_id
             WHERE k.account_id = ?
             UNION ALL
             SELECT v.token_key FROM keyring_versions v JOIN keyrings r ON r.id = v.keyring_id
             WHERE r.account_id = ?",
        )
        .bind(id)
        .bind(id)
        .fetch_all(&mut *tx)
        .await
        .map_err(unavailable)?;
        labels.extend(token_keys.into_iter().flatten());
        run(
            &mut tx,
            "UPDATE keyrings SET enabled = 0, deleted_at = COALESCE(deleted_at, ?) WHERE account_id = ?",
            &[&at, &id],
        )
        .await?;
        run(
            &mut tx,
            "UPDATE keys SET enabled = 0, deleted_at = COALESCE(deleted_at, ?) WHERE account_id = ?",
            &[&at, &id],
        )
        .await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await?;
        Ok(labels)
    }

    async fn user(&self, id: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query("SELECT * FROM users WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(user_record))
    }

    async fn user_by_email(&self, email: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(sqlx::query("SELECT * FROM users WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(user_record))
    }

    async fn member(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Option<MemberRow>, StoreError> {
        Ok(sqlx::query(concat!(
            member_select!(),
            " WHERE m.account_id = ? AND m.user_id = ?"
        ))
        .bind(account_id)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?
        .as_ref()
        .map(member_row))
    }

    async fn members(&self, account_id: &str) -> Result<Vec<MemberRow>, StoreError> {
        Ok(sqlx::query(concat!(
            member_select!(),
            " WHERE m.account_id = ? ORDER BY u.email"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(member_row)
        .collect())
    }

    async fn add_member(
        &self,
        new_user: Option<&UserRecord>,
        member: &MemberRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let Some(user) = new_user {
            run(
                &mut tx,
                "INSERT INTO users (id, email, created_at, password_hash) VALUES (?, ?, ?, ?)",
                &[
                    &user.id.as_str(),
                    &user.email.as_str(),
                    &user.created_at,
                    &user.password_hash.as_deref(),
                ],
            )
            .await?;
        }
        run(
            &mut tx,
            "INSERT INTO memberships (account_id, user_id, role, suspended, created_at) VALUES (?, ?, ?, 0, ?)",
            &[
                &member.account_id.as_str(),
                &member.user_id.as_str(),
                &member.role.as_str(),
                &member.created_at,
            ],
        )
        .await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn update_member(
        &self,
        account_id: &str,
        user_id: &str,
        role: &str,
        suspended: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "UPDATE memberships SET role = ?, suspended = ? WHERE account_id = ? AND user_id = ?",
                &[&role, &i64::from(suspended), &account_id, &user_id],
                true,
            )],
            event,
        )
        .await
    }

    async fn remove_member(
        &self,
        account_id: &str,
        user_id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[
                (
                    "DELETE FROM memberships WHERE account_id = ? AND user_id = ?",
                    &[&account_id, &user_id],
                    true,
                ),
                (
                    "DELETE FROM group_users WHERE user_id = ? AND group_id IN
                     (SELECT id FROM security_groups WHERE account_id = ?)",
                    &[&user_id, &account_id],
                    false,
                ),
                (
                    "UPDATE sessions SET revoked_at = ? WHERE account_id = ? AND user_id = ? AND revoked_at IS NULL",
                    &[&at, &account_id, &user_id],
                    false,
                ),
                (
                    "UPDATE api_keys SET disabled = 1 WHERE account_id = ? AND principal_id = ?",
                    &[&account_id, &user_id],
                    false,
                ),
            ],
            event,
        )
        .await
    }

    async fn set_password(
        &self,
        user_id: &str,
        hash: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[
                (
                    "UPDATE users SET password_hash = ? WHERE id = ?",
                    &[&hash, &user_id],
                    true,
                ),
                (
                    "UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL",
                    &[&at, &user_id],
                    false,
                ),
            ],
            event,
        )
        .await
    }

    async fn create_session(&self, row: &SessionRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.write(
            &[(
                "INSERT INTO sessions (id, account_id, user_id, digest, created_at, expires_at, source_ip)
                 VALUES (?, ?, ?, ?, ?, ?, ?)",
                &[
                    &row.id.as_str(),
                    &row.account_id.as_str(),
                    &row.user_id.as_str(),
                    &row.digest.as_slice(),
                    &row.created_at,
                    &row.expires_at,
                    &row.source_ip.as_deref(),
                ],
                true,
            )],
            event,
        )
        .await
    }

    async fn session(&self, id: &str) -> Result<Option<SessionRow>, StoreError> {
        Ok(sqlx::query("SELECT * FROM sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(session_row))
    }

    async fn sessions(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Vec<SessionRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT * FROM sessions WHERE account_id = ? AND user_id = ? ORDER BY created_at DESC, id",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(session_row)
        .collect())
    }

    async fn revoke_session(
        &self,
        id: &str,
        at: i64,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "UPDATE sessions SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?",
                &[&at, &id],
                true,
            )],
            event,
        )
        .await
    }

    async fn login_failures(&self, source: &str) -> Result<Option<LoginFailures>, StoreError> {
        let row = sqlx::query("SELECT * FROM login_failures WHERE source = ?")
            .bind(source)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?;
        row.map(|r| {
            Ok(LoginFailures {
                failures: to_u32(r.get("failures"), "failures")?,
                window_start: r.get("window_start"),
                locked_until: r.get("locked_until"),
            })
        })
        .transpose()
    }

    async fn record_login_failure(
        &self,
        source: &str,
        rule: LockoutRule,
    ) -> Result<LoginFailures, StoreError> {
        let mut tx = self.begin().await?;
        // A failure outside the window (or after a lock ran out) starts a new count.
        run(
            &mut tx,
            "INSERT INTO login_failures (source, failures, window_start, locked_until) VALUES (?, 1, ?, NULL)
             ON CONFLICT (source) DO UPDATE SET
               failures = CASE WHEN window_start + ? <= ? OR locked_until <= ? THEN 1 ELSE failures + 1 END,
               window_start = CASE WHEN window_start + ? <= ? OR locked_until <= ? THEN ? ELSE window_start END,
               locked_until = CASE WHEN locked_until <= ? THEN NULL ELSE locked_until END",
            &[
                &source,
                &rule.now,
                &rule.window_micros,
                &rule.now,
                &rule.now,
                &rule.window_micros,
                &rule.now,
                &rule.now,
                &rule.now,
                &rule.now,
            ],
        )
        .await?;
        run(
            &mut tx,
            "UPDATE login_failures SET locked_until = ? WHERE source = ? AND failures >= ? AND locked_until IS NULL",
            &[&(rule.now + rule.lock_micros), &source, &i64::from(rule.threshold)],
        )
        .await?;
        let r = sqlx::query("SELECT * FROM login_failures WHERE source = ?")
            .bind(source)
            .fetch_one(&mut *tx)
            .await
            .map_err(unavailable)?;
        let state = LoginFailures {
            failures: to_u32(r.get("failures"), "failures")?,
            window_start: r.get("window_start"),
            locked_until: r.get("locked_until"),
        };
        commit(tx).await?;
        Ok(state)
    }

    async fn clear_login_failures(&self, source: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM login_failures WHERE source = ?")
            .bind(source)
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn prune_login_failures(&self, now: i64, window_cutoff: i64) -> Result<u64, StoreError> {
        let done = sqlx::query(
            "DELETE FROM login_failures
             WHERE (locked_until IS NULL OR locked_until <= ?) AND window_start < ?",
        )
        .bind(now)
        .bind(window_cutoff)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(done.rows_affected())
    }

    async fn create_reset(&self, row: &ResetRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.write(
            &[(
                INSERT_RESET,
                &[
                    &row.id.as_str(),
                    &row.user_id.as_str(),
                    &row.account_id.as_str(),
                    &row.digest.as_slice(),
                    &row.created_at,
                    &row.expires_at,
                ],
                true,
            )],
            event,
        )
        .await
    }

    async fn reset(&self, id: &str) -> Result<Option<ResetRow>, StoreError> {
        Ok(sqlx::query("SELECT * FROM password_resets WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(unavailable)?
            .map(|r| ResetRow {
                id: r.get("id"),
                user_id: r.get("user_id"),
                account_id: r.get("account_id"),
                digest: r.get("digest"),
                created_at: r.get("created_at"),
                expires_at: r.get("expires_at"),
                used_at: r.get("used_at"),
            }))
    }

    async fn consume_reset(
        &self,
        id: &str,
        now: i64,
        hash: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let used = run(
            &mut tx,
            "UPDATE password_resets SET used_at = ? WHERE id = ? AND used_at IS NULL AND expires_at > ?",
            &[&now, &id, &now],
        )
        .await?;
        if used == 0 {
            return Ok(false);
        }
        run(
            &mut tx,
            "UPDATE users SET password_hash = ? WHERE id = (SELECT user_id FROM password_resets WHERE id = ?)",
            &[&hash, &id],
        )
        .await?;
        run(
            &mut tx,
            "UPDATE sessions SET revoked_at = ? WHERE revoked_at IS NULL
             AND user_id = (SELECT user_id FROM password_resets WHERE id = ?)",
            &[&now, &id],
        )
        .await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn rename_group(
        &self,
        id: &str,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "UPDATE security_groups SET name = ? WHERE id = ? AND deleted_at IS NULL",
                &[&name, &id],
                true,
            )],
            event,
        )
        .await
    }

    async fn group_object_count(&self, group_id: &str) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM keyrings WHERE group_id = ? AND deleted_at IS NULL)
                  + (SELECT COUNT(*) FROM keys WHERE group_id = ? AND deleted_at IS NULL)",
        )
        .bind(group_id)
        .bind(group_id)
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(count.max(0) as u64)
    }

    async fn delete_group(&self, id: &str, at: i64, event: &AuditEvent) -> Result<(), StoreError> {
        self.write(
            &[
                (
                    "UPDATE keyrings SET deleted_at = ? WHERE group_id = ? AND deleted_at IS NULL",
                    &[&at, &id],
                    false,
                ),
                (
                    "UPDATE keys SET deleted_at = ? WHERE group_id = ? AND deleted_at IS NULL",
                    &[&at, &id],
                    false,
                ),
                ("DELETE FROM group_users WHERE group_id = ?", &[&id], false),
                ("DELETE FROM app_groups WHERE group_id = ?", &[&id], false),
                // The name is freed for reuse; the id stays for the trashed objects.
                (
                    "UPDATE security_groups SET deleted_at = ?, name = '~' || id WHERE id = ? AND deleted_at IS NULL",
                    &[&at, &id],
                    true,
                ),
            ],
            event,
        )
        .await
    }

    async fn group_members(&self, group_id: &str) -> Result<GroupMembers, StoreError> {
        let users = sqlx::query(
            "SELECT user_id, role FROM group_users WHERE group_id = ? ORDER BY user_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(|r| (r.get("user_id"), r.get("role")))
        .collect();
        let mut apps = Vec::new();
        for r in sqlx::query(
            "SELECT app_id, operations FROM app_groups WHERE group_id = ? ORDER BY app_id",
        )
        .bind(group_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        {
            let ops: String = r.get("operations");
            let ops = serde_json::from_str(&ops)
                .map_err(|_| StoreError::Corrupt("app_groups operations".into()))?;
            apps.push((r.get("app_id"), ops));
        }
        Ok(GroupMembers { users, apps })
    }

    async fn groups_to_purge(&self, cutoff: i64) -> Result<Vec<GroupRow>, StoreError> {
        sqlx::query(
            "SELECT * FROM security_groups WHERE deleted_at IS NOT NULL AND deleted_at < ? AND master_version > 0",
        )
        .bind(cutoff)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(group_row)
        .collect()
    }

    async fn mark_group_purged(&self, id: &str) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE security_groups SET master_version = 0 WHERE id = ? AND deleted_at IS NOT NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn user_groups(
        &self,
        account_id: &str,
        user_id: &str,
    ) -> Result<Vec<(String, String)>, StoreError> {
        Ok(sqlx::query(
            "SELECT gu.group_id, gu.role FROM group_users gu JOIN security_groups g ON g.id = gu.group_id
             WHERE g.account_id = ? AND gu.user_id = ? AND g.deleted_at IS NULL ORDER BY gu.group_id",
        )
        .bind(account_id)
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(|r| (r.get("group_id"), r.get("role")))
        .collect())
    }

    async fn set_group_user(
        &self,
        group_id: &str,
        user_id: &str,
        role: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "INSERT INTO group_users (group_id, user_id, role) VALUES (?, ?, ?)
                 ON CONFLICT (group_id, user_id) DO UPDATE SET role = excluded.role",
                &[&group_id, &user_id, &role],
                true,
            )],
            event,
        )
        .await
    }

    async fn set_group_app(
        &self,
        group_id: &str,
        app_id: &str,
        operations_json: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "INSERT INTO app_groups (app_id, group_id, operations) VALUES (?, ?, ?)
                 ON CONFLICT (app_id, group_id) DO UPDATE SET operations = excluded.operations",
                &[&app_id, &group_id, &operations_json],
                true,
            )],
            event,
        )
        .await
    }

    async fn remove_group_member(
        &self,
        group_id: &str,
        member_id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let users = run(
            &mut tx,
            "DELETE FROM group_users WHERE group_id = ? AND user_id = ?",
            &[&group_id, &member_id],
        )
        .await?;
        let apps = run(
            &mut tx,
            "DELETE FROM app_groups WHERE group_id = ? AND app_id = ?",
            &[&group_id, &member_id],
        )
        .await?;
        if users + apps == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn update_app(
        &self,
        id: &str,
        name: &str,
        enabled: bool,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "UPDATE apps SET name = ?, enabled = ? WHERE id = ? AND deleted_at IS NULL",
                &[&name, &i64::from(enabled), &id],
                true,
            )],
            event,
        )
        .await
    }

    async fn delete_app(&self, id: &str, at: i64, event: &AuditEvent) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if delete_app_rows(&mut tx, id, at).await? == 0 {
            return Err(StoreError::Conflict("the object changed meanwhile"));
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn add_trusted_ca(
        &self,
        row: &TrustedCaRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if row.proven
            && proven_elsewhere(
                &mut tx,
                "SELECT 1 FROM trusted_cas t JOIN accounts a ON a.id = t.account_id
                 WHERE t.fingerprint = ? AND t.account_id <> ? AND t.proven = 1 AND a.closed_at IS NULL",
                &row.fingerprint,
                &row.account_id,
            )
            .await?
        {
            return Err(StoreError::Conflict(PROVEN_ELSEWHERE));
        }
        run(
            &mut tx,
            "INSERT INTO trusted_cas (id, account_id, name, der, subject, fingerprint, proven, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                &row.id.as_str(),
                &row.account_id.as_str(),
                &row.name.as_str(),
                &row.der.as_slice(),
                &row.subject.as_str(),
                &row.fingerprint.as_str(),
                &i64::from(row.proven),
                &row.created_at,
            ],
        )
        .await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn trusted_cas(&self, account_id: &str) -> Result<Vec<TrustedCaRow>, StoreError> {
        Ok(
            sqlx::query("SELECT * FROM trusted_cas WHERE account_id = ? ORDER BY created_at, id")
                .bind(account_id)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?
                .iter()
                .map(trusted_ca_row)
                .collect(),
        )
    }

    async fn trusted_cas_by_subject(&self, subject: &str) -> Result<Vec<TrustedCaRow>, StoreError> {
        Ok(sqlx::query("SELECT * FROM trusted_cas WHERE subject = ?")
            .bind(subject)
            .fetch_all(&self.pool)
            .await
            .map_err(unavailable)?
            .iter()
            .map(trusted_ca_row)
            .collect())
    }

    async fn add_app_certificate(
        &self,
        row: &AppCertificateRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        let mut tx = self.begin().await?;
        if let (true, "pinned", Some(fingerprint)) =
            (row.proven, row.kind.as_str(), row.fingerprint.as_deref())
            && proven_elsewhere(
                &mut tx,
                "SELECT 1 FROM app_certificates c JOIN accounts a ON a.id = c.account_id
                 WHERE c.kind = 'pinned' AND c.fingerprint = ? AND c.account_id <> ? AND c.proven = 1
                   AND a.closed_at IS NULL",
                fingerprint,
                &row.account_id,
            )
            .await?
        {
            return Err(StoreError::Conflict(PROVEN_ELSEWHERE));
        }
        run(
            &mut tx,
            "INSERT INTO app_certificates (id, account_id, app_id, kind, fingerprint, ca_id, subject, san, not_after, proven, created_at)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            &[
                &row.id.as_str(),
                &row.account_id.as_str(),
                &row.app_id.as_str(),
                &row.kind.as_str(),
                &row.fingerprint.as_deref(),
                &row.ca_id.as_deref(),
                &row.subject.as_deref(),
                &row.san.as_deref(),
                &row.not_after,
                &i64::from(row.proven),
                &row.created_at,
            ],
        )
        .await?;
        insert_event(&mut tx, event).await?;
        commit(tx).await
    }

    async fn app_certificates(&self, app_id: &str) -> Result<Vec<AppCertificateRow>, StoreError> {
        Ok(
            sqlx::query("SELECT * FROM app_certificates WHERE app_id = ? ORDER BY created_at, id")
                .bind(app_id)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?
                .iter()
                .map(app_certificate_row)
                .collect(),
        )
    }

    async fn delete_app_certificate(
        &self,
        app_id: &str,
        id: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let mut tx = self.begin().await?;
        let deleted = run(
            &mut tx,
            "DELETE FROM app_certificates WHERE app_id = ? AND id = ?",
            &[&app_id, &id],
        )
        .await?;
        if deleted == 0 {
            return Ok(false);
        }
        insert_event(&mut tx, event).await?;
        commit(tx).await?;
        Ok(true)
    }

    async fn certificate_bindings(
        &self,
        fingerprint: &str,
        ca_ids: &[String],
    ) -> Result<Vec<AppCertificateRow>, StoreError> {
        let mut rows: Vec<AppCertificateRow> =
            sqlx::query("SELECT * FROM app_certificates WHERE kind = 'pinned' AND fingerprint = ?")
                .bind(fingerprint)
                .fetch_all(&self.pool)
                .await
                .map_err(unavailable)?
                .iter()
                .map(app_certificate_row)
                .collect();
        for ca in ca_ids {
            rows.extend(
                sqlx::query("SELECT * FROM app_certificates WHERE kind = 'ca' AND ca_id = ?")
                    .bind(ca)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(unavailable)?
                    .iter()
                    .map(app_certificate_row),
            );
        }
        Ok(rows)
    }

    async fn revoke_certificate(
        &self,
        row: &RevocationRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write(
            &[(
                "INSERT INTO revoked_certificates (account_id, fingerprint, reason, revoked_at) VALUES (?, ?, ?, ?)
                 ON CONFLICT (account_id, fingerprint) DO NOTHING",
                &[
                    &row.account_id.as_str(),
                    &row.fingerprint.as_str(),
                    &row.reason.as_deref(),
                    &row.revoked_at,
                ],
                false,
            )],
            event,
        )
        .await
    }

    async fn revocations(&self, account_id: &str) -> Result<Vec<RevocationRow>, StoreError> {
        Ok(sqlx::query(
            "SELECT * FROM revoked_certificates WHERE account_id = ? ORDER BY revoked_at, fingerprint",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await
        .map_err(unavailable)?
        .iter()
        .map(|r| RevocationRow {
            account_id: r.get("account_id"),
            fingerprint: r.get("fingerprint"),
            reason: r.get("reason"),
            revoked_at: r.get("revoked_at"),
        })
        .collect())
    }

    async fn is_revoked(&self, account_id: &str, fingerprint: &str) -> Result<bool, StoreError> {
        let found: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM revoked_certificates WHERE account_id = ? AND fingerprint = ?",
        )
        .bind(account_id)
        .bind(fingerprint)
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        Ok(found.is_some())
    }
}
