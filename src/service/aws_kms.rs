//! The AWS KMS face: the operations of AWS KMS's JSON 1.1 protocol (`TrentService.*`) on
//! Coffer's own objects, so boto3, awscli, the AWS Encryption SDK and sops work unmodified.
//!
//! Symmetric AWS keys are keyrings, asymmetric ones keys. Every operation that has a native
//! counterpart calls the native service method, so flags, group operations, policies,
//! quorum, canaries and audit apply exactly as on Coffer's own routes; what AWS names and
//! Coffer does not (aliases, tags, descriptions, random bytes) is authorized and audited
//! through operations built from the closest catalogue entry. The HTTP face (SigV4, the
//! route, the rendering of faults) lives above; this module takes an authenticated call and
//! answers AWS's JSON or an AWS fault.

mod aliases;
mod crypto;
mod faults;
mod ids;
mod keys;
mod lifecycle;
mod shapes;
mod signing;
mod tags;
mod targets;

pub use faults::{AwsErrorType, AwsFault};
pub use ids::aws_account_number;

use super::{Ctx, Service};

/// One call of the AWS face, already authenticated.
pub struct AwsCall<'a> {
    /// `Encrypt`, `Decrypt`, ... (the part after `TrentService.`).
    pub operation: &'a str,
    /// The region of the request's SigV4 credential scope; ARNs in answers use it.
    pub region: &'a str,
    /// The raw JSON body.
    pub body: &'a [u8],
}

/// Every operation the face serves, as AWS names it.
pub const OPERATIONS: &[&str] = &[
    "CreateKey",
    "DescribeKey",
    "ListKeys",
    "EnableKey",
    "DisableKey",
    "ScheduleKeyDeletion",
    "CancelKeyDeletion",
    "EnableKeyRotation",
    "DisableKeyRotation",
    "GetKeyRotationStatus",
    "RotateKeyOnDemand",
    "CreateAlias",
    "DeleteAlias",
    "ListAliases",
    "Encrypt",
    "Decrypt",
    "ReEncrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "GenerateRandom",
    "Sign",
    "Verify",
    "GetPublicKey",
    "TagResource",
    "UntagResource",
    "ListResourceTags",
];

type Answer = Result<serde_json::Value, AwsFault>;

impl Service {
    /// Serves one AWS KMS call. A fault raised before any native operation recorded the
    /// request (a body that does not parse, an unknown key id, an unknown operation) is
    /// audited here, so every call leaves one event at least.
    pub async fn aws_kms(&self, ctx: &Ctx<'_>, call: AwsCall<'_>) -> Answer {
        let result = self.aws_dispatch(ctx, &call).await;
        match result {
            Err(fault) if ctx.meta.audit_pending() => {
                let action = match OPERATIONS.contains(&call.operation) {
                    true => format!("aws.{}", call.operation),
                    false => "aws.unknown".to_owned(),
                };
                let refusal = fault.audit_error();
                let event = self.event(ctx.meta, Some(ctx.caller), &action, None, Err(&refusal));
                match self.record(ctx.meta, event).await {
                    Ok(()) => Err(fault),
                    Err(e) => Err(e.into()),
                }
            }
            other => other,
        }
    }

    async fn aws_dispatch(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>) -> Answer {
        match call.operation {
            "CreateKey" => self.aws_create_key(ctx, call).await,
            "DescribeKey" => self.aws_describe_key(ctx, call).await,
            "ListKeys" => self.aws_list_keys(ctx, call).await,
            "EnableKey" => self.aws_set_enabled(ctx, call, true).await,
            "DisableKey" => self.aws_set_enabled(ctx, call, false).await,
            "ScheduleKeyDeletion" => self.aws_schedule_deletion(ctx, call).await,
            "CancelKeyDeletion" => self.aws_cancel_deletion(ctx, call).await,
            "EnableKeyRotation" => self.aws_enable_rotation(ctx, call).await,
            "DisableKeyRotation" => self.aws_disable_rotation(ctx, call).await,
            "GetKeyRotationStatus" => self.aws_rotation_status(ctx, call).await,
            "RotateKeyOnDemand" => self.aws_rotate_now(ctx, call).await,
            other => self.aws_dispatch_use(ctx, call, other).await,
        }
    }

    /// The second half of the dispatch: use of keys, aliases and tags.
    async fn aws_dispatch_use(&self, ctx: &Ctx<'_>, call: &AwsCall<'_>, op: &str) -> Answer {
        match op {
            "CreateAlias" => self.aws_create_alias(ctx, call).await,
            "DeleteAlias" => self.aws_delete_alias(ctx, call).await,
            "ListAliases" => self.aws_list_aliases(ctx, call).await,
            "Encrypt" => self.aws_encrypt(ctx, call).await,
            "Decrypt" => self.aws_decrypt(ctx, call).await,
            "ReEncrypt" => self.aws_reencrypt(ctx, call).await,
            "GenerateDataKey" => self.aws_data_key(ctx, call, true).await,
            "GenerateDataKeyWithoutPlaintext" => self.aws_data_key(ctx, call, false).await,
            "GenerateRandom" => self.aws_random(ctx, call).await,
            "Sign" => self.aws_sign(ctx, call).await,
            "Verify" => self.aws_verify(ctx, call).await,
            "GetPublicKey" => self.aws_public_key(ctx, call).await,
            "TagResource" => self.aws_tag(ctx, call).await,
            "UntagResource" => self.aws_untag(ctx, call).await,
            "ListResourceTags" => self.aws_list_tags(ctx, call).await,
            other => Err(AwsFault::new(
                AwsErrorType::UnknownOperation,
                format!("TrentService.{other} is not an operation this service knows"),
            )),
        }
    }
}

/// Microseconds (the store's unit) as the epoch seconds AWS answers with.
fn epoch_seconds(micros: i64) -> i64 {
    micros.div_euclid(1_000_000)
}

/// One page of `items` for `Limit` (1-1000, 100 by default) and `Marker` (the opaque
/// position the previous page answered): the page and the next marker, if any.
fn page<T>(
    items: Vec<T>,
    limit: Option<u32>,
    marker: Option<&str>,
) -> Result<(Vec<T>, Option<String>), AwsFault> {
    let limit = limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(AwsFault::validation("Limit must be between 1 and 1000"));
    }
    let start = match marker {
        None => 0,
        Some(m) => m
            .parse::<usize>()
            .map_err(|_| AwsFault::validation("Marker is not one this service answered"))?,
    };
    let end = start.saturating_add(limit as usize).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    let page = items
        .into_iter()
        .skip(start)
        .take(end.saturating_sub(start));
    Ok((page.collect(), next))
}

/// Adds `Truncated` and, when truncated, `NextMarker` to a list answer.
fn with_marker(mut answer: serde_json::Value, next: Option<String>) -> serde_json::Value {
    answer["Truncated"] = serde_json::Value::Bool(next.is_some());
    if let Some(next) = next {
        answer["NextMarker"] = serde_json::Value::String(next);
    }
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_limit_and_marker() {
        let items: Vec<u32> = (0..5).collect();
        let (first, next) = page(items.clone(), Some(2), None).unwrap();
        assert_eq!((first, next.as_deref()), (vec![0, 1], Some("2")));
        let (last, next) = page(items.clone(), Some(4), Some("2")).unwrap();
        assert_eq!((last, next), (vec![2, 3, 4], None));
        assert!(page(items.clone(), Some(0), None).is_err());
        assert!(page(items, None, Some("x")).is_err());
    }

    #[test]
    fn list_answers_say_whether_they_are_truncated() {
        let answer = with_marker(serde_json::json!({"Keys": []}), Some("3".into()));
        assert_eq!(answer["Truncated"], true);
        assert_eq!(answer["NextMarker"], "3");
        let answer = with_marker(serde_json::json!({"Keys": []}), None);
        assert_eq!(answer["Truncated"], false);
        assert!(answer.get("NextMarker").is_none());
    }

    #[test]
    fn epoch_seconds_truncate_microseconds() {
        assert_eq!(epoch_seconds(1_700_000_000_123_456), 1_700_000_000);
    }
}
