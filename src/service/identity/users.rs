//! The members of an account: users and their roles.

use super::*;
use crate::ids::{AccountId, UserId};

/// A change to a membership.
#[derive(Debug, Clone, Default)]
pub struct MemberPatch {
    pub role: Option<String>,
    pub suspended: Option<bool>,
}

fn parse_role(text: &str) -> Result<Role, Error> {
    Role::parse(text).ok_or_else(|| {
        Error::InvalidInput(format!(
            "role {text:?} is not one of owner, admin, member, auditor"
        ))
    })
}

/// Lower-cases and checks an email address: one `@`, a local part of 1–64 visible
/// characters, a domain of dot-separated labels of letters, digits and hyphens.
pub fn normalize_email(email: &str) -> Result<String, Error> {
    let email = email.trim().to_lowercase();
    let bad = || Error::InvalidInput(format!("{email:?} is not a valid email address"));
    let (local, domain) = email.split_once('@').ok_or_else(bad)?;
    let local_ok = (1..=64).contains(&local.len())
        && local
            .chars()
            .all(|c| c.is_ascii_graphic() && !"@\"(),:;<>[\\]".contains(c));
    let labels: Vec<&str> = domain.split('.').collect();
    let domain_ok = email.len() <= 254
        && labels.len() >= 2
        && labels.iter().all(|l| {
            (1..=63).contains(&l.len())
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    if local_ok && domain_ok {
        Ok(email)
    } else {
        Err(bad())
    }
}

/// The user to create for a new member: none when the email has a user already (who may
/// not be given a password by another account's admin), else a new one with `password`'s
/// hash if given.
async fn user_to_create(
    email: &str,
    exists: bool,
    password: Option<SecretString>,
    now: i64,
) -> Result<Option<UserRecord>, Error> {
    match (exists, password) {
        (true, Some(_)) => Err(Error::Conflict(
            "this email already has a Coffer user: add them without a password".into(),
        )),
        (true, None) => Ok(None),
        (false, password) => Ok(Some(UserRecord {
            id: new_id("usr"),
            email: email.to_owned(),
            password_hash: match password {
                Some(p) => Some(hash_password(p).await?),
                None => None,
            },
            created_at: now,
        })),
    }
}

impl Service {
    /// A member of the caller's account; anyone else does not exist for the caller.
    pub(in crate::service) async fn visible_member(
        &self,
        caller: &Caller,
        user_id: &UserId,
    ) -> Result<MemberRow, Error> {
        self.store
            .member(&caller.account_id, user_id)
            .await?
            .ok_or_else(|| Error::NotFound(format!("user {user_id}")))
    }

    /// Only owners manage owners.
    pub(in crate::service) fn may_manage_member(
        caller: &Caller,
        member: &MemberRow,
    ) -> Result<(), Error> {
        if member.role == Role::Owner && caller.role != Some(Role::Owner) {
            return Err(Error::Forbidden("only an owner may manage an owner".into()));
        }
        Ok(())
    }

    pub async fn list_users(&self, ctx: &Ctx<'_>) -> Result<Vec<MemberRow>, Error> {
        self.read(ctx, &catalogue::LIST_USERS, "", None, async {
            Ok(self.store.members(&ctx.caller.account_id).await?)
        })
        .await
    }

    pub async fn get_user(&self, ctx: &Ctx<'_>, id: &UserId) -> Result<MemberRow, Error> {
        let object = format!("user/{id}");
        self.read(ctx, &catalogue::GET_USER, "", Some(&object), async {
            self.visible_member(ctx.caller, id).await
        })
        .await
    }

    /// Adds a user to the caller's account with a role. A new email creates the user (with
    /// `password` if given); an existing user is added as they are, and may not be given a
    /// password by another account's admin.
    pub async fn add_user(
        &self,
        ctx: &Ctx<'_>,
        email: &str,
        role: &str,
        password: Option<SecretString>,
    ) -> Result<MemberRow, Error> {
        let object = format!("user/{}", email.trim().to_lowercase());
        self.mutation(
            ctx,
            &catalogue::CREATE_USER,
            "",
            Some(&object),
            |event| async move {
                let email = normalize_email(email)?;
                let role = parse_role(role)?;
                if role == Role::Owner && ctx.caller.role != Some(Role::Owner) {
                    return Err(Error::Forbidden("only an owner may add an owner".into()));
                }
                if let Some(password) = &password {
                    check_password(password)?;
                }
                let now = self.now();
                let existing = self.store.user_by_email(&email).await?;
                let new_user = user_to_create(&email, existing.is_some(), password, now).await?;
                let user_id = existing
                    .as_ref()
                    .or(new_user.as_ref())
                    .map(|u| u.id.clone())
                    .unwrap_or_else(|| UserId::from(String::new()));
                self.refuse_member(&ctx.caller.account_id, &user_id, &email)
                    .await?;
                let member = MemberRow {
                    account_id: ctx.caller.account_id.clone(),
                    user_id,
                    email,
                    role,
                    suspended: false,
                    created_at: now,
                };
                self.store
                    .add_member(new_user.as_ref(), &member, &event)
                    .await?;
                Ok(member)
            },
        )
        .await
    }

    /// A conflict if `user_id` is already a member of `account_id`.
    async fn refuse_member(
        &self,
        account_id: &AccountId,
        user_id: &UserId,
        email: &str,
    ) -> Result<(), Error> {
        if self.store.member(account_id, user_id).await?.is_some() {
            return Err(Error::Conflict(format!(
                "{email} is already a member of this account"
            )));
        }
        Ok(())
    }

    /// Changes a member's role or suspends them (effective on their next request). The last
    /// active owner cannot be demoted or suspended.
    pub async fn update_user(
        &self,
        ctx: &Ctx<'_>,
        id: &UserId,
        patch: MemberPatch,
    ) -> Result<MemberRow, Error> {
        let (user, role, suspended) = (id.clone(), patch.role.clone(), patch.suspended);
        self.gate(
            ctx,
            crate::service::PendingOperation::UpdateUser {
                user,
                role,
                suspended,
            },
        )
        .await?;
        let object = format!("user/{id}");
        self.mutation(
            ctx,
            &catalogue::UPDATE_USER,
            "",
            Some(&object),
            |event| async move {
                let member = self.visible_member(ctx.caller, id).await?;
                Self::may_manage_member(ctx.caller, &member)?;
                if patch.role.is_none() && patch.suspended.is_none() {
                    return Err(Error::InvalidInput(
                        "nothing to change: give \"role\" and/or \"suspended\"".into(),
                    ));
                }
                let role = match &patch.role {
                    Some(role) => parse_role(role)?,
                    None => member.role,
                };
                if role == Role::Owner && ctx.caller.role != Some(Role::Owner) {
                    return Err(Error::Forbidden("only an owner may make an owner".into()));
                }
                let suspended = patch.suspended.unwrap_or(member.suspended);
                let stays_active_owner = role == Role::Owner && !suspended;
                if member.role == Role::Owner && !stays_active_owner {
                    self.keep_an_owner(&ctx.caller.account_id, id).await?;
                }
                self.store
                    .update_member(&ctx.caller.account_id, id, role, suspended, &event)
                    .await?;
                Ok(MemberRow {
                    role,
                    suspended,
                    ..member
                })
            },
        )
        .await
    }

    /// Removes a member from the account; the user and their other memberships stay.
    pub async fn remove_user(&self, ctx: &Ctx<'_>, id: &UserId) -> Result<(), Error> {
        let user = id.clone();
        self.gate(ctx, crate::service::PendingOperation::RemoveUser { user })
            .await?;
        let object = format!("user/{id}");
        self.mutation(
            ctx,
            &catalogue::REMOVE_USER,
            "",
            Some(&object),
            |event| async move {
                let member = self.visible_member(ctx.caller, id).await?;
                Self::may_manage_member(ctx.caller, &member)?;
                if member.role == Role::Owner {
                    self.keep_an_owner(&ctx.caller.account_id, id).await?;
                }
                self.store
                    .remove_member(&ctx.caller.account_id, id, self.now(), &event)
                    .await?;
                Ok(())
            },
        )
        .await
    }

    /// Refuses a change that would leave the account without an active owner.
    async fn keep_an_owner(&self, account_id: &AccountId, leaving: &str) -> Result<(), Error> {
        let others = self
            .store
            .members(account_id)
            .await?
            .into_iter()
            .filter(|m| m.user_id != leaving && m.role == Role::Owner && !m.suspended)
            .count();
        if others == 0 {
            return Err(Error::Conflict(
                "the account must keep at least one active owner".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lowercased() {
        assert_eq!(
            normalize_email(" Alice@Example.COM ").ok().as_deref(),
            Some("alice@example.com")
        );
        for bad in [
            "",
            "alice",
            "@example.com",
            "alice@",
            "alice@com",
            "a b@example.com",
            "alice@-x.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
