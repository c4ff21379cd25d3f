//! How AWS names keys: key ids, key ARNs, alias names and alias ARNs, and the 12-digit
//! account number Coffer shows for an account. AWS clients and tools (sops's ARN pattern,
//! the Encryption SDK's key-id checks) parse these, so their shapes are AWS's exactly.

use super::AwsFault;
use crate::ids::AccountId;
use sha2::{Digest, Sha256};

/// What a `KeyId` member names once its ARN, if any, is taken apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum KeyName {
    /// A Coffer id: `kr_…` (a keyring) or `key_…` (a key).
    Id(String),
    /// An alias, with its `alias/` prefix.
    Alias(String),
}

/// The 12-digit AWS account number of a Coffer account: the first 8 bytes of SHA-256 of the
/// id as a big-endian integer, modulo 10^12, zero-padded. Deterministic, so ARNs stay the
/// same across nodes and restarts without being stored.
pub fn aws_account_number(account_id: &AccountId) -> String {
    let digest = Sha256::digest(account_id.as_str().as_bytes());
    let head = u64::from_be_bytes(digest[..8].try_into().expect("8 bytes"));
    format!("{:012}", head % 1_000_000_000_000)
}

/// `arn:aws:kms:<region>:<account>:key/<id>`.
pub(super) fn key_arn(region: &str, account_id: &AccountId, id: &str) -> String {
    format!(
        "arn:aws:kms:{region}:{}:key/{id}",
        aws_account_number(account_id)
    )
}

/// `arn:aws:kms:<region>:<account>:alias/<name>` (`alias` carries its prefix).
pub(super) fn alias_arn(region: &str, account_id: &AccountId, alias: &str) -> String {
    format!(
        "arn:aws:kms:{region}:{}:{alias}",
        aws_account_number(account_id)
    )
}

/// Parses a `KeyId` member: a key id, a key ARN, an alias name or an alias ARN. An ARN of
/// another account or region names a key this caller does not have (NotFound, as AWS).
pub(super) fn parse_key_name(
    input: &str,
    region: &str,
    account_id: &AccountId,
) -> Result<KeyName, AwsFault> {
    if input.is_empty() || input.len() > 2048 {
        return Err(AwsFault::validation("KeyId must be 1-2048 characters"));
    }
    let Some(arn) = input.strip_prefix("arn:") else {
        return Ok(if input.starts_with("alias/") {
            KeyName::Alias(input.to_owned())
        } else {
            KeyName::Id(input.to_owned())
        });
    };
    let parts: Vec<&str> = arn.splitn(5, ':').collect();
    let [partition, service, arn_region, account, resource] = parts[..] else {
        return Err(AwsFault::validation(format!(
            "KeyId {input:?} is not a valid ARN"
        )));
    };
    if partition != "aws" || service != "kms" {
        return Err(AwsFault::validation(format!(
            "KeyId {input:?} is not a KMS ARN"
        )));
    }
    if arn_region != region || account != aws_account_number(account_id) {
        return Err(AwsFault::not_found(format!("Key '{input}' does not exist")));
    }
    if let Some(id) = resource.strip_prefix("key/") {
        return Ok(KeyName::Id(id.to_owned()));
    }
    if resource.starts_with("alias/") {
        return Ok(KeyName::Alias(resource.to_owned()));
    }
    Err(AwsFault::validation(format!(
        "KeyId {input:?} is neither a key ARN nor an alias ARN"
    )))
}

/// Checks an `AliasName`: `alias/` then 1-250 of `[A-Za-z0-9/_-]`, not in the reserved
/// `alias/aws/` space.
pub(super) fn check_alias_name(name: &str) -> Result<(), AwsFault> {
    use super::AwsErrorType::InvalidAliasName;
    let Some(rest) = name.strip_prefix("alias/") else {
        return Err(AwsFault::new(
            InvalidAliasName,
            format!("AliasName {name:?} must begin with alias/"),
        ));
    };
    if rest.starts_with("aws/") {
        return Err(AwsFault::new(
            InvalidAliasName,
            "alias/aws/ is reserved for AWS managed keys",
        ));
    }
    let valid_chars = rest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'_' | b'-'));
    if rest.is_empty() || name.len() > 256 || !valid_chars {
        return Err(AwsFault::validation(format!(
            "AliasName {name:?} must be alias/ followed by up to 250 characters of [a-zA-Z0-9/_-]"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> AccountId {
        AccountId::from("acct_0123")
    }

    #[test]
    fn the_account_number_is_twelve_stable_digits() {
        let number = aws_account_number(&account());
        assert_eq!(number.len(), 12);
        assert!(number.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(number, aws_account_number(&account()));
        assert_ne!(number, aws_account_number(&AccountId::from("acct_other")));
    }

    #[test]
    fn every_form_of_key_id_parses() {
        let (a, r) = (account(), "eu-west-1");
        let id = KeyName::Id("kr_abc".into());
        assert_eq!(parse_key_name("kr_abc", r, &a).unwrap(), id);
        assert_eq!(
            parse_key_name(&key_arn(r, &a, "kr_abc"), r, &a).unwrap(),
            id
        );
        let alias = KeyName::Alias("alias/app".into());
        assert_eq!(parse_key_name("alias/app", r, &a).unwrap(), alias);
        assert_eq!(
            parse_key_name(&alias_arn(r, &a, "alias/app"), r, &a).unwrap(),
            alias
        );
    }

    #[test]
    fn an_arn_of_another_account_or_region_is_not_found() {
        let a = account();
        let other_account = "arn:aws:kms:eu-west-1:000000000000:key/kr_abc";
        let fault = parse_key_name(other_account, "eu-west-1", &a).unwrap_err();
        assert_eq!(fault.error, super::super::AwsErrorType::NotFound);
        let other_region = key_arn("us-east-1", &a, "kr_abc");
        let fault = parse_key_name(&other_region, "eu-west-1", &a).unwrap_err();
        assert_eq!(fault.error, super::super::AwsErrorType::NotFound);
        let garbage = parse_key_name("arn:nonsense", "eu-west-1", &a).unwrap_err();
        assert_eq!(garbage.error, super::super::AwsErrorType::Validation);
    }

    #[test]
    fn alias_names_follow_aws_rules() {
        assert!(check_alias_name("alias/my-app/prod_1").is_ok());
        for bad in [
            "my-app",
            "alias/",
            "alias/aws/s3",
            "alias/sp ace",
            "alias/é",
        ] {
            assert!(check_alias_name(bad).is_err(), "{bad}");
        }
        assert!(check_alias_name(&format!("alias/{}", "a".repeat(251))).is_err());
    }
}
