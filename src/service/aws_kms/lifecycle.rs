//! A key's state through the AWS face: enable and disable, scheduled deletion (Coffer's
//! trash) and its cancellation, and the rotation of symmetric keys (a keyring's scheduled
//! rotation and its rotate-now). Each is the native operation on the keyring or key.

use super::shapes::{KeyIdRequest, RotationRequest, ScheduleDeletionRequest, parse};
use super::targets::Target;
use super::{Answer, AwsCall, AwsErrorType, AwsFault, epoch_seconds};
use crate::service::{ConfigPatch, Ctx, KeyPatch, KeyringRow, Service};
use serde_json::json;

/// AWS's bounds of a scheduled deletion's window, in days.
const DELETION_WINDOW_DAYS: std::ops::RangeInclusive<u32> = 7..=30;
/// AWS's bounds of an automatic rotation's period, in days, and its default.
const ROTATION_PERIOD_DAYS: std::ops::RangeInclusive<u32> = 90..=2560;
const DEFAULT_ROTATION_PERIOD_DAYS: u32 = 365;

/// The keyring whose rotation an operation changes; asymmetric keys do not rotate in AWS.
fn rotating_keyring(target: &Target) -> Result<&KeyringRow, AwsFault> {
    match target {
        Target::Keyring(row) => Ok(row),
        Target::Key(row) => Err(AwsFault::unsupported(format!(
            "{} is an asymmetric key; only symmetric keys rotate",
            row.id
        ))),
    }
}

fn pending_window(requested: Option<u32>) -> Result<u32, AwsFault> {
    let days = requested.unwrap_or(*DELETION_WINDOW_DAYS.end());
    if !DELETION_WINDOW_DAYS.contains(&days) {
        return Err(AwsFault::validation(
            "PendingWindowInDays must be between 7 and 30",
        ));
    }
    Ok(days)
}

fn rotation_period(requested: Option<u32>) -> Result<u32, AwsFault> {
    let days = requested.unwrap_or(DEFAULT_ROTATION_PERIOD_DAYS);
    if !ROTATION_PERIOD_DAYS.contains(&days) {
        return Err(AwsFault::validation(
            "RotationPeriodInDays must be between 90 and 2560",
        ));
    }
    Ok(days)
}

impl Service {
    pub(super) async fn aws_set_enabled(
        &self,
        ctx: &Ctx<'_>,
        call: &AwsCall<'_>,
        enabled: bool,
    ) -> Answer {
        let req: KeyIdRequest = parse(call.body)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        self.aws_enable(ctx, &target, enabled).await?;
        Ok(json!({}))
    }

    async fn aws_enable(
        &self,
        ctx: &Ctx<'_>,
        target: &Target,
        enabled: bool,
    ) -> Result<(), AwsFault> {
        match target {
            Target::Keyring(row) => {
                let patch = ConfigPatch {
                    enabled: Some(enabled),
                    ..Default::default()
                };
                self.update_keyring_config(ctx, &row.name, patch).await?;
            }
            Target::Key(row) => {
                let patch = KeyPatch {
                    enabled: Some(enabled),
                    ..Default::default()
                };
                self.update_key(ctx, &row.name, patch).await?;
            }
        }
        Ok(())
    }

    /// Moves the key to Coffer's trash. The deletion date answered is the one Coffer will
    /// keep: the trash's retention after now, whatever window was asked for.
    pub(super) async fn aws_schedule_deletion(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: ScheduleDeletionRequest = parse(call.body)?;
        pending_window(req.pending_window_in_days)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        match &target {
            Target::Keyring(row) => self.delete_keyring(ctx, &row.name).await?,
            Target::Key(row) => self.delete_key(ctx, &row.name).await?,
        }
        let deleted_at = self
            .aws_target_by_id(ctx.caller, target.id())
            .await?
            .and_then(|t| t.deleted_at())
            .unwrap_or_else(|| self.now());
        Ok(json!({
            "KeyId": target.arn(call.region),
            "DeletionDate": self.aws_deletion_date(deleted_at),
            "KeyState": "PendingDeletion",
            "PendingWindowInDays": self.aws_deletion_window_days(),
        }))
    }

    /// Takes the key out of the trash and disables it, as AWS leaves a cancelled key.
    pub(super) async fn aws_cancel_deletion(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: KeyIdRequest = parse(call.body)?;
        let target = self.aws_target(ctx, call.region, &req.key_id).await?;
        if target.deleted_at().is_none() {
            return Err(AwsFault::new(
                AwsErrorType::InvalidState,
                format!("{} is not pending deletion.", target.arn(call.region)),
            ));
        }
        self.aws_require_latest_trashed(ctx, &target, call.region)
            .await?;
        match &target {
            Target::Keyring(row) => drop(self.restore_keyring(ctx, &row.name).await?),
            Target::Key(row) => drop(self.restore_key(ctx, &row.name).await?),
        }
        self.aws_enable(ctx, &target, false).await?;
        Ok(json!({ "KeyId": target.arn(call.region) }))
    }

    /// The native restore takes the most recently trashed object of a name: refuses when
    /// that is not `target` (a later object of the same name was deleted since).
    async fn aws_require_latest_trashed(
        &self,
        ctx: &Ctx<'_>,
        target: &Target,
        region: &str,
    ) -> Result<(), AwsFault> {
        let account = &ctx.caller.account_id;
        let latest = match target {
            Target::Keyring(r) => self
                .store
                .trashed_keyring(account, &r.name)
                .await?
                .map(|r| r.id.to_string()),
            Target::Key(r) => self
                .store
                .trashed_key(account, &r.name)
                .await?
                .map(|r| r.id.to_string()),
        };
        if latest.as_deref() == Some(target.id()) {
            return Ok(());
        }
        Err(AwsFault::new(
            AwsErrorType::InvalidState,
            format!(
                "{}: another object named {} was deleted after it; cancel that one's deletion \
                 first, or restore through Coffer's own API",
                target.arn(region),
                target.name()
            ),
        ))
    }

    pub(super) async fn aws_enable_rotation(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: RotationRequest = parse(call.body)?;
        let days = rotation_period(req.rotation_period_in_days)?;
        self.aws_set_rotation(ctx, call.region, &req.key_id, Some(days))
            .await
    }

    pub(super) async fn aws_disable_rotation(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: KeyIdRequest = parse(call.body)?;
        self.aws_set_rotation(ctx, call.region, &req.key_id, None)
            .await
    }

    async fn aws_set_rotation(
        &self,
        ctx: &Ctx<'_>,
        region: &str,
        key_id: &str,
        days: Option<u32>,
    ) -> Answer {
        let target = self.aws_live_target(ctx, region, key_id).await?;
        let ring = rotating_keyring(&target)?;
        let patch = ConfigPatch {
            rotation_period_days: Some(days),
            ..Default::default()
        };
        self.update_keyring_config(ctx, &ring.name, patch).await?;
        Ok(json!({}))
    }

    pub(super) async fn aws_rotation_status(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: KeyIdRequest = parse(call.body)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let ring = rotating_keyring(&target)?;
        let row = self.keyring_config(ctx, &ring.name).await?;
        let mut answer = json!({
            "KeyId": row.id.as_str(),
            "KeyRotationEnabled": row.rotation_period_days.is_some(),
        });
        if let Some(days) = row.rotation_period_days {
            let next = row.rotated_at + i64::from(days) * 86_400_000_000;
            answer["RotationPeriodInDays"] = json!(days);
            answer["NextRotationDate"] = json!(epoch_seconds(next));
        }
        Ok(answer)
    }

    pub(super) async fn aws_rotate_now(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        let req: KeyIdRequest = parse(call.body)?;
        let target = self.aws_live_target(ctx, call.region, &req.key_id).await?;
        let ring = rotating_keyring(&target)?;
        self.rotate(ctx, &ring.name).await?;
        Ok(json!({ "KeyId": ring.id.as_str() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_and_periods_have_aws_bounds_and_defaults() {
        assert_eq!(pending_window(None).unwrap(), 30);
        assert_eq!(pending_window(Some(7)).unwrap(), 7);
        assert!(pending_window(Some(6)).is_err());
        assert!(pending_window(Some(31)).is_err());
        assert_eq!(rotation_period(None).unwrap(), 365);
        assert_eq!(rotation_period(Some(90)).unwrap(), 90);
        assert!(rotation_period(Some(89)).is_err());
        assert!(rotation_period(Some(2561)).is_err());
    }
}
