//! [`AwsKmsStore`] on SQLite and PostgreSQL.

use super::{SqlStore, json_column, json_text};
use crate::ids::{AccountId, KeyId, KeyringId};
use crate::store::{
    AuditEvent, AwsAliasRow, AwsKeyMetadata, AwsKmsStore, KeyRow, KeyringRow, StoreError,
};
use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{FromRow, Row};

impl FromRow<'_, AnyRow> for AwsAliasRow {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AwsAliasRow {
            account_id: r.get("account_id"),
            name: r.get("name"),
            target_id: r.get("target_id"),
            created_at: r.get("created_at"),
        })
    }
}

impl FromRow<'_, AnyRow> for AwsKeyMetadata {
    fn from_row(r: &AnyRow) -> Result<Self, sqlx::Error> {
        Ok(AwsKeyMetadata {
            description: r.get("description"),
            tags: json_column(r, "tags", "aws_key_metadata.tags")?,
        })
    }
}

#[async_trait]
impl AwsKmsStore for SqlStore {
    async fn keyring_by_id(
        &self,
        account_id: &AccountId,
        id: &KeyringId,
    ) -> Result<Option<KeyringRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM keyrings WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await
    }

    async fn key_by_id(
        &self,
        account_id: &AccountId,
        id: &KeyId,
    ) -> Result<Option<KeyRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM keys WHERE account_id = $1 AND id = $2")
                .bind(account_id)
                .bind(id),
        )
        .await
    }

    async fn keyring_by_key_ref(
        &self,
        account_id: &AccountId,
        key_ref: &[u8],
    ) -> Result<Option<KeyringRow>, StoreError> {
        // keyring_versions_ref makes this an index lookup; the account filter keeps another
        // account's keyring out even if two references ever collided.
        self.fetch_optional(
            sqlx::query_as(
                "SELECT k.* FROM keyrings k JOIN keyring_versions v ON v.keyring_id = k.id
                 WHERE v.key_ref = $1 AND k.account_id = $2 LIMIT 1",
            )
            .bind(key_ref)
            .bind(account_id),
        )
        .await
    }

    async fn aws_alias(
        &self,
        account_id: &AccountId,
        name: &str,
    ) -> Result<Option<AwsAliasRow>, StoreError> {
        self.fetch_optional(
            sqlx::query_as("SELECT * FROM aws_aliases WHERE account_id = $1 AND name = $2")
                .bind(account_id)
                .bind(name),
        )
        .await
    }

    async fn aws_aliases(&self, account_id: &AccountId) -> Result<Vec<AwsAliasRow>, StoreError> {
        self.fetch_all(
            sqlx::query_as("SELECT * FROM aws_aliases WHERE account_id = $1 ORDER BY name")
                .bind(account_id),
        )
        .await
    }

    async fn create_aws_alias(
        &self,
        alias: &AwsAliasRow,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO aws_aliases (account_id, name, target_id, created_at)
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(alias.account_id.clone())
            .bind(alias.name.clone())
            .bind(alias.target_id.clone())
            .bind(alias.created_at),
            event,
        )
        .await
    }

    async fn delete_aws_alias(
        &self,
        account_id: &AccountId,
        name: &str,
        event: &AuditEvent,
    ) -> Result<bool, StoreError> {
        self.change_audited_if_any(
            sqlx::query("DELETE FROM aws_aliases WHERE account_id = $1 AND name = $2")
                .bind(account_id.clone())
                .bind(name.to_owned()),
            event,
        )
        .await
    }

    async fn aws_key_metadata(
        &self,
        account_id: &AccountId,
        key_id: &str,
    ) -> Result<Option<AwsKeyMetadata>, StoreError> {
        self.fetch_optional(
            sqlx::query_as(
                "SELECT description, tags FROM aws_key_metadata
                 WHERE account_id = $1 AND key_id = $2",
            )
            .bind(account_id)
            .bind(key_id),
        )
        .await
    }

    async fn put_aws_key_metadata(
        &self,
        account_id: &AccountId,
        key_id: &str,
        metadata: &AwsKeyMetadata,
        event: &AuditEvent,
    ) -> Result<(), StoreError> {
        self.write_audited(
            sqlx::query(
                "INSERT INTO aws_key_metadata (account_id, key_id, description, tags)
                 VALUES ($1, $2, $3, $4)
                 ON CONFLICT (account_id, key_id)
                 DO UPDATE SET description = excluded.description, tags = excluded.tags",
            )
            .bind(account_id.clone())
            .bind(key_id.to_owned())
            .bind(metadata.description.clone())
            .bind(json_text(&metadata.tags)),
            event,
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{account_and_group, event, temporary_store};
    use super::*;

    fn alias(name: &str, target: &str) -> AwsAliasRow {
        AwsAliasRow {
            account_id: "acct_a".into(),
            name: name.into(),
            target_id: target.into(),
            created_at: 7,
        }
    }

    #[tokio::test]
    async fn an_alias_name_is_taken_once_and_deleted_once() {
        let (_dir, store) = temporary_store().await;
        account_and_group(&store).await;
        let account = AccountId::from("acct_a");
        let first = alias("alias/app", "kr_1");
        store
            .create_aws_alias(&first, &event("keyring.alias.create", 200))
            .await
            .expect("created");
        let again = store
            .create_aws_alias(&alias("alias/app", "kr_2"), &event("x", 200))
            .await;
        assert!(matches!(
            again,
            Err(StoreError::Conflict(crate::store::Conflict::NameTaken))
        ));
        assert_eq!(
            store.aws_alias(&account, "alias/app").await.unwrap(),
            Some(first)
        );
        assert_eq!(store.aws_aliases(&account).await.unwrap().len(), 1);
        let gone = store
            .delete_aws_alias(&account, "alias/app", &event("d", 200))
            .await
            .unwrap();
        assert!(gone);
        let twice = store
            .delete_aws_alias(&account, "alias/app", &event("d", 200))
            .await
            .unwrap();
        assert!(!twice);
        assert!(
            store
                .aws_alias(&account, "alias/app")
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn key_metadata_is_replaced_whole() {
        let (_dir, store) = temporary_store().await;
        account_and_group(&store).await;
        let account = AccountId::from("acct_a");
        assert!(
            store
                .aws_key_metadata(&account, "kr_1")
                .await
                .unwrap()
                .is_none()
        );
        let mut metadata = AwsKeyMetadata {
            description: "payments".into(),
            tags: [("team".to_owned(), "core".to_owned())].into(),
        };
        store
            .put_aws_key_metadata(&account, "kr_1", &metadata, &event("t", 200))
            .await
            .unwrap();
        metadata.tags.clear();
        metadata.description = "other".into();
        store
            .put_aws_key_metadata(&account, "kr_1", &metadata, &event("t", 200))
            .await
            .unwrap();
        let read = store.aws_key_metadata(&account, "kr_1").await.unwrap();
        assert_eq!(read, Some(metadata));
    }
}
