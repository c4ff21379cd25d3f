//! The members of an account: users and their roles.

use super::invitations::{UserAdded, invitation_ttl};
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

/// What `POST /v1/users` asks: who, with which role, how long an invitation lasts, and
/// whether the body tried to set a password (always refused: people choose their own).
#[derive(Debug, Clone, Default)]
pub struct AddUser {
    pub email: String,
    pub role: String,
    pub ttl_secs: Option<u64>,
    pub password_given: bool,
}

/// The refusal of a password chosen by the inviter.
fn password_refused() -> Error {
    Error::InvalidInput(
        "a password cannot be set for another person: they set their own password by \
         accepting the invitation (POST /v1/invitations/accept)"
            .into(),
    )
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

    /// Adds a person to the caller's account with a role: a user with this email (of any
    /// account) becomes a member at once; anyone else is invited, and becomes a user only by
    /// accepting with a password they choose.
    pub async fn add_user(&self, ctx: &Ctx<'_>, request: AddUser) -> Result<UserAdded, Error> {
        let object = format!("user/{}", request.email.trim().to_lowercase());
        self.mutation(
            ctx,
            &catalogue::CREATE_USER,
            "",
            Some(&object),
            |event| async move {
                if request.password_given {
                    return Err(password_refused());
                }
                let email = normalize_email(&request.email)?;
                let role = parse_role(&request.role)?;
                if role == Role::Owner && ctx.caller.role != Some(Role::Owner) {
                    return Err(Error::Forbidden("only an owner may add an owner".into()));
                }
                let ttl = invitation_ttl(request.ttl_secs)?;
                match self.store.user_by_email(&email).await? {
                    Some(user) => self.add_member(ctx, user.id, email, role, event).await,
                    None => {
                        let issued = self.invite(ctx, email, role, ttl, event).await?;
                        Ok(UserAdded::Invited(issued))
                    }
                }
            },
        )
        .await
    }

    /// Makes the existing user `user_id` a member of the caller's account.
    async fn add_member(
        &self,
        ctx: &Ctx<'_>,
        user_id: UserId,
        email: String,
        role: Role,
        event: crate::store::AuditEvent,
    ) -> Result<UserAdded, Error> {
        self.refuse_member(&ctx.caller.account_id, &user_id, &email)
            .await?;
        let member = MemberRow {
            account_id: ctx.caller.account_id.clone(),
            user_id,
            email,
            role,
            suspended: false,
            created_at: self.now(),
        };
        self.store.add_member(None, &member, &event).await?;
        Ok(UserAdded::Member(member))
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
