//! [`GroupStore`] on SQLite: security groups and their user and app members.

use super::{
    SqlStore, commit_audited, db_error, exec, json_column, must_change, named, u32_column,
};
use crate::authz::GroupRole;
use crate::ids::{AccountId, AppId, GroupId, UserId};
use crate::store::{
    AuditEvent, Conflict, GroupMember, GroupMembers, GroupRow, GroupStore, StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, AnyRow> for GroupRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(GroupRow {
            id: r.get("id"),
            account_id: r.get("account_id"),
            name: r.get("name"),
            master_version: u32_column(r, "master_version")?,
            created_at: r.get("created_at"),
            frozen_at: r.get("frozen_at"),
            frozen_reason: r.get("frozen_reason"),
        })
    }
}

/// An app's place in a group: the app (or group) id and the operations it may perform.
pub(super) struct AppPlace(pub String, pub Vec<String>);

impl FromRow<'_, AnyRow> for AppPlace {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        let operations = json_column(r, "operations", "app_groups operations")?;
        Ok(AppPlace(r.get(0), operations))
    }
}

/// A user's place in a group: the user (or group) id and the user's group role.
struct UserPlace(String, GroupRole);

impl FromRow<'_, AnyRow> for UserPlace {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(UserPlace(r.get(0), named(r, "role", GroupRole::parse)?))
    }
}

impl<Id: From<String>> From<UserPlace> for (Id, GroupRole) {
    fn from(UserPlace(id, role): UserPlace) -> Self {
        (id.into(), role)
    }
}

#[async_trait]
impl GroupStore for SqlStore {
    async fn create_group(&self, group: &GroupRow, event: &AuditEvent) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO security_groups (id, account_id, name, master_version, created_at)
                 VALUES ($1, $2, $3, $4, $5)",
            )
            .bind(&group.id)
            .bind(&group.account_id)
            .bind(&group.name)
            .bind(i64::from(group.master_version))
            .bind(group.created_at),
            event,
        )
        .await
    }

    async fn group(
        &self,
        account_id: &AccountId,
        id: &GroupId,
    ) -> Result<Option<GroupRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as(
                "SELECT * FROM security_groups WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL",
            )
            .bind(account_id)
            .bind(id),
        )
        .await
    }

    async fn groups(&self, account_id: &AccountId) -> Result<Vec<GroupRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM security_groups WHERE account_id = $1 AND deleted_at IS NULL
                 ORDER BY created_at, id",
            )
            .bind(account_id),
        )
        .await
    }

    async fn rename_group(
        &self,
        id: &GroupId,
        name: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "UPDATE security_groups SET name = $1 WHERE id = $2 AND deleted_at IS NULL",
            )
            .bind(name)
            .bind(id),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn group_object_count(&self, group_id: &GroupId) -> Result<u64, StoreError> {
        let count: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM keyrings WHERE group_id = $1 AND deleted_at IS NULL)
                  + (SELECT COUNT(*) FROM keys WHERE group_id = $2 AND deleted_at IS NULL)
                  + (SELECT COUNT(*) FROM secrets WHERE group_id = $3 AND deleted_at IS NULL)",
        )
        .bind(group_id)
        .bind(group_id)
        .bind(group_id)
        .fetch_one(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(count.max(0) as u64)
    }

    async fn delete_group(
        &self,
        id: &GroupId,
        at: i64,
        force: bool,
        event: &AuditEvent,
    ) -> Result<u64, StoreError> {
        let mut tx = self.begin().await?;
        let mut trashed = 0;
        for trash in [
            "UPDATE keyrings SET deleted_at = $1 WHERE group_id = $2 AND deleted_at IS NULL",
            "UPDATE keys SET deleted_at = $1 WHERE group_id = $2 AND deleted_at IS NULL",
            "UPDATE secrets SET deleted_at = $1, rotation = NULL, next_rotation_at = NULL
             WHERE group_id = $2 AND deleted_at IS NULL",
        ] {
            trashed += exec(&mut tx, sqlx::query(trash).bind(at).bind(id)).await?;
        }
        if trashed > 0 && !force {
            return Err(StoreError::Conflict(Conflict::GroupHoldsObjects));
        }
        for members in [
            "DELETE FROM group_users WHERE group_id = $1",
            "DELETE FROM app_groups WHERE group_id = $1",
            "DELETE FROM secret_grants WHERE secret_id IN (SELECT id FROM secrets WHERE group_id = $1)",
        ] {
            exec(&mut tx, sqlx::query(members).bind(id)).await?;
        }
        // The name is freed for reuse; the id stays for the trashed objects.
        let group = sqlx::query(
            "UPDATE security_groups SET deleted_at = $1, name = '~' || id
             WHERE id = $2 AND deleted_at IS NULL",
        );
        let deleted = exec(&mut tx, group.bind(at).bind(id)).await?;
        must_change(deleted, Conflict::Changed)?;
        commit_audited(tx, event).await?;
        Ok(trashed)
    }

    async fn group_members(&self, group_id: &GroupId) -> Result<GroupMembers, StoreError> {
        let users: Vec<UserPlace> = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT user_id, role FROM group_users WHERE group_id = $1 ORDER BY user_id",
                )
                .bind(group_id),
            )
            .await?;
        let users = users.into_iter().map(Into::into).collect();
        let apps: Vec<AppPlace> = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT app_id, operations FROM app_groups WHERE group_id = $1 ORDER BY app_id",
                )
                .bind(group_id),
            )
            .await?;
        let apps = apps
            .into_iter()
            .map(|AppPlace(app, ops)| (app.into(), ops))
            .collect();
        Ok(GroupMembers { users, apps })
    }

    async fn groups_to_purge(&self, cutoff: i64) -> Result<Vec<GroupRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as(
                "SELECT * FROM security_groups
                 WHERE deleted_at IS NOT NULL AND deleted_at < $1 AND master_version > 0",
            )
            .bind(cutoff),
        )
        .await
    }

    async fn mark_group_purged(&self, id: &GroupId) -> Result<(), StoreError> {
        sqlx::query(
            "UPDATE security_groups SET master_version = 0 WHERE id = $1 AND deleted_at IS NOT NULL",
        )
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(db_error)?;
        Ok(())
    }

    async fn user_groups(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
    ) -> Result<Vec<(GroupId, GroupRole)>, StoreError> {
        let places: Vec<UserPlace> = self
            .fetch_all(
                sqlx::query_as(
                    "SELECT gu.group_id, gu.role FROM group_users gu JOIN security_groups g ON g.id = gu.group_id
                     WHERE g.account_id = $1 AND gu.user_id = $2 AND g.deleted_at IS NULL ORDER BY gu.group_id",
                )
                .bind(account_id)
                .bind(user_id),
            )
            .await?;
        Ok(places.into_iter().map(Into::into).collect())
    }

    async fn set_group_user(
        &self,
        group_id: &GroupId,
        user_id: &UserId,
        role: GroupRole,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "INSERT INTO group_users (group_id, user_id, role) VALUES ($1, $2, $3)
                 ON CONFLICT (group_id, user_id) DO UPDATE SET role = excluded.role",
            )
            .bind(group_id)
            .bind(user_id)
            .bind(role.as_str()),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn set_group_app(
        &self,
        group_id: &GroupId,
        app_id: &AppId,
        operations_json: &str,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.change_audited(
            sqlx::query(
                "INSERT INTO app_groups (app_id, group_id, operations) VALUES ($1, $2, $3)
                 ON CONFLICT (app_id, group_id) DO UPDATE SET operations = excluded.operations",
            )
            .bind(app_id)
            .bind(group_id)
            .bind(operations_json),
            Conflict::Changed,
            event,
        )
        .await
    }

    async fn remove_group_member(
        &self,
        group_id: &GroupId,
        member: GroupMember<'_>,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let statement = match member {
            GroupMember::User(_) => "DELETE FROM group_users WHERE group_id = $1 AND user_id = $2",
            GroupMember::App(_) => "DELETE FROM app_groups WHERE group_id = $1 AND app_id = $2",
        };
        let mut tx = self.begin().await?;
        let removed = exec(
            &mut tx,
            sqlx::query(statement).bind(group_id).bind(member.id()),
        )
        .await?;
        if removed == 0 {
            return Ok(false);
        }
        if let GroupMember::App(_) = member {
            // An app's read grants go with its place in the group: added back later, it
            // reads nothing until granted again.
            let grants = sqlx::query(
                "DELETE FROM secret_grants WHERE app_id = $1
                 AND secret_id IN (SELECT id FROM secrets WHERE group_id = $2)",
            );
            exec(&mut tx, grants.bind(member.id()).bind(group_id)).await?;
        }
        commit_audited(tx, event).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sql::testing::{event, temporary_store};

    /// The deletion counts the group's objects in its own transaction: one that appeared
    /// after the service's count stops a deletion without force instead of being trashed
    /// with a master key about to be destroyed.
    #[tokio::test]
    async fn a_group_deletion_without_force_refuses_objects_it_finds_itself() {
        let (_dir, store) = temporary_store().await;
        sqlx::raw_sql(
            "INSERT INTO accounts (id, name, created_at) VALUES ('acct_a', 'a', 0);
             INSERT INTO security_groups (id, account_id, name, master_version, created_at)
                 VALUES ('grp_g', 'acct_a', 'g', 1, 0);
             INSERT INTO keyrings (id, account_id, group_id, name, protection, current_version,
                 min_decryption_version, enabled, cache_ttl_seconds, created_at, rotated_at)
                 VALUES ('kr_k', 'acct_a', 'grp_g', 'k', 'envelope', 1, 1, 1, 0, 0, 0);",
        )
        .execute(&store.pool)
        .await
        .expect("rows");
        let group = GroupId::from("grp_g");
        let refused = store
            .delete_group(&group, 5, false, &event("group.delete", 204))
            .await;
        assert!(
            matches!(
                refused,
                Err(StoreError::Conflict(Conflict::GroupHoldsObjects))
            ),
            "{refused:?}"
        );
        let live: i64 =
            sqlx::query_scalar("SELECT count(*) FROM keyrings WHERE deleted_at IS NULL")
                .fetch_one(&store.pool)
                .await
                .expect("count");
        assert_eq!(live, 1, "the refusal changed nothing");
        let trashed = store
            .delete_group(&group, 5, true, &event("group.delete", 204))
            .await;
        assert_eq!(trashed.expect("forced deletion"), 1);
    }
}
