//! AWS Signature Version 4, the credential of the AWS KMS face (docs/aws-kms.md): the
//! `Authorization` header's parts, the canonical request, the string to sign and the signing
//! key, as AWS specifies them. No I/O: the service finds the access key, unwraps its secret
//! and compares the signatures ([`verify`], constant time).
//!
//! SigV4 has no nonce: clients legitimately resend an identical signed request (a retry
//! within the same second), so a repeat inside the clock window is accepted. The window is
//! AWS's: the request's time within [`MAX_SKEW_SECS`] of the server's.

use ring::hmac;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// The only algorithm SigV4 (as opposed to SigV4a) names.
pub const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The service every credential scope must name.
pub const SERVICE: &str = "kms";
/// How far the request's `X-Amz-Date` may be from the server's clock, either way (AWS's 5 min).
pub const MAX_SKEW_SECS: i64 = 300;

/// Why a request's SigV4 parts are refused before any key is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SigV4Error {
    /// No `Authorization` header (or a presigned query, which the face does not accept).
    #[error("the request is not signed: send an AWS SigV4 Authorization header")]
    Missing,
    /// The header is not `AWS4-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`.
    #[error("the Authorization header is not a complete AWS4-HMAC-SHA256 signature: {0}")]
    Malformed(&'static str),
    /// `X-Amz-Date` is missing, malformed, unsigned, or not the credential scope's day.
    #[error("X-Amz-Date must be signed, in the form YYYYMMDDTHHMMSSZ, and on the scope's day")]
    BadDate,
    /// The request's time is outside the window.
    #[error("signature expired: X-Amz-Date is more than 5 minutes from the server's time")]
    Expired,
}

/// A credential scope: the day, region and service a signing key is derived for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scope {
    /// `YYYYMMDD`.
    pub date: String,
    pub region: String,
    pub service: String,
}

impl Scope {
    fn text(&self) -> String {
        format!(
            "{}/{}/{}/aws4_request",
            self.date, self.region, self.service
        )
    }
}

/// The parts of an `Authorization: AWS4-HMAC-SHA256 …` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authorization {
    pub access_key_id: String,
    pub scope: Scope,
    /// Lowercase header names, in the header's (sorted) order.
    pub signed_headers: Vec<String>,
    pub signature: [u8; 32],
}

impl Authorization {
    /// Parses the header's value.
    pub fn parse(value: &str) -> Result<Self, SigV4Error> {
        let rest = value
            .strip_prefix(ALGORITHM)
            .filter(|rest| rest.starts_with(' '))
            .ok_or(SigV4Error::Malformed(
                "the algorithm must be AWS4-HMAC-SHA256",
            ))?;
        let (mut credential, mut signed, mut signature) = (None, None, None);
        for part in rest.split(',').map(str::trim) {
            match part.split_once('=') {
                Some(("Credential", v)) => credential = Some(v),
                Some(("SignedHeaders", v)) => signed = Some(v),
                Some(("Signature", v)) => signature = Some(v),
                _ => return Err(SigV4Error::Malformed("unknown component")),
            }
        }
        let credential = credential.ok_or(SigV4Error::Malformed("Credential is missing"))?;
        let signed = signed.ok_or(SigV4Error::Malformed("SignedHeaders is missing"))?;
        let signature = signature.ok_or(SigV4Error::Malformed("Signature is missing"))?;
        let (access_key_id, scope) = parse_credential(credential)?;
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(signature, &mut bytes)
            .map_err(|_| SigV4Error::Malformed("Signature must be 64 hex characters"))?;
        let signed_headers: Vec<String> = signed.split(';').map(str::to_owned).collect();
        let well_formed = signed_headers
            .iter()
            .all(|h| !h.is_empty() && *h == h.to_ascii_lowercase());
        if !well_formed || !signed_headers.iter().any(|h| h == "host") {
            return Err(SigV4Error::Malformed(
                "SignedHeaders must be lowercase names and include host",
            ));
        }
        Ok(Self {
            access_key_id,
            scope,
            signed_headers,
            signature: bytes,
        })
    }
}

/// `AKID/YYYYMMDD/region/kms/aws4_request` → the access key id and the scope.
fn parse_credential(text: &str) -> Result<(String, Scope), SigV4Error> {
    let parts: Vec<&str> = text.split('/').collect();
    let [id, date, region, service, "aws4_request"] = parts[..] else {
        return Err(SigV4Error::Malformed(
            "Credential must be <access key id>/<date>/<region>/kms/aws4_request",
        ));
    };
    if service != SERVICE {
        return Err(SigV4Error::Malformed(
            "the credential scope's service must be kms",
        ));
    }
    let valid_date = date.len() == 8 && date.bytes().all(|b| b.is_ascii_digit());
    if id.is_empty() || region.is_empty() || !valid_date {
        return Err(SigV4Error::Malformed(
            "Credential needs an access key id, a YYYYMMDD date and a region",
        ));
    }
    let scope = Scope {
        date: date.to_owned(),
        region: region.to_owned(),
        service: service.to_owned(),
    };
    Ok((id.to_owned(), scope))
}

/// What a request signs.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// The path as received (still percent-encoded).
    pub path: &'a str,
    /// The query string as received, without `?`.
    pub query: &'a str,
    /// Every header with its name in lowercase, in arrival order (a name may repeat).
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

impl SignedRequest<'_> {
    /// Every value of header `name`, trimmed, with inner runs of spaces collapsed, joined by `,`.
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<String> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        (!values.is_empty()).then(|| values.join(","))
    }

    /// The request's time from its signed `X-Amz-Date`, checked against the scope's day.
    pub fn time(&self, auth: &Authorization) -> Result<(String, i64), SigV4Error> {
        if !auth.signed_headers.iter().any(|h| h == "x-amz-date") {
            return Err(SigV4Error::BadDate);
        }
        let text = self.header("x-amz-date").ok_or(SigV4Error::BadDate)?;
        let secs = amz_date_secs(&text).ok_or(SigV4Error::BadDate)?;
        if !text.starts_with(&auth.scope.date) {
            return Err(SigV4Error::BadDate);
        }
        Ok((text, secs))
    }

    /// The canonical request for the headers `auth` signs.
    pub fn canonical(&self, auth: &Authorization) -> String {
        let headers: String = auth
            .signed_headers
            .iter()
            .map(|name| format!("{name}:{}\n", self.header(name).unwrap_or_default()))
            .collect();
        format!(
            "{}\n{}\n{}\n{}\n{}\n{}",
            self.method,
            encode(self.path, true),
            canonical_query(self.query),
            headers,
            auth.signed_headers.join(";"),
            hex::encode(Sha256::digest(self.body)),
        )
    }
}

/// `YYYYMMDDTHHMMSSZ` → Unix seconds.
pub fn amz_date_secs(text: &str) -> Option<i64> {
    let time = jiff::fmt::strtime::parse("%Y%m%dT%H%M%SZ", text)
        .ok()?
        .to_datetime()
        .ok()?;
    let zoned = time.to_zoned(jiff::tz::TimeZone::UTC).ok()?;
    Some(zoned.timestamp().as_second())
}

/// Whether a request made at `request_secs` is inside the window around `now_secs`.
pub fn fresh(request_secs: i64, now_secs: i64) -> bool {
    (now_secs - request_secs).abs() <= MAX_SKEW_SECS
}

/// The query's parameters, each decoded and encoded again strictly, sorted.
fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(String, String)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (encode(&decode(k), false), encode(&decode(v), false))
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Percent-encodes every byte but RFC 3986's unreserved ones (and `/` in a path).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for &b in text.as_bytes() {
        let unreserved = b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~');
        if unreserved || (keep_slash && b == b'/') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-decodes (a `+` stays a `+`, as SigV4 reads queries); bad escapes stay as they are.
fn decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| text.get(i + 1..i + 3))
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The string to sign for a canonical request made at `amz_date` in `scope`.
pub fn string_to_sign(amz_date: &str, scope: &Scope, canonical_request: &str) -> String {
    format!(
        "{ALGORITHM}\n{amz_date}\n{}\n{}",
        scope.text(),
        hex::encode(Sha256::digest(canonical_request.as_bytes()))
    )
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Zeroizing<[u8; 32]> {
    let tag = hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data);
    let mut out = Zeroizing::new([0u8; 32]);
    out.copy_from_slice(tag.as_ref());
    out
}

/// The signing key of `secret` for `scope`: HMAC chain over the day, region, service and
/// `aws4_request`. It is valid for one day and one region, so it can be cached that long.
pub fn signing_key(secret: &[u8], scope: &Scope) -> Zeroizing<[u8; 32]> {
    let mut first = Zeroizing::new(b"AWS4".to_vec());
    first.extend_from_slice(secret);
    let day = hmac_sha256(&first, scope.date.as_bytes());
    let region = hmac_sha256(&day[..], scope.region.as_bytes());
    let service = hmac_sha256(&region[..], scope.service.as_bytes());
    hmac_sha256(&service[..], b"aws4_request")
}

/// Whether `signature` is the HMAC of `string_to_sign` under `key`, compared in constant time.
pub fn verify(key: &[u8; 32], string_to_sign: &str, signature: &[u8; 32]) -> bool {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::verify(&key, string_to_sign.as_bytes(), signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The "get-vanilla" case of AWS's SigV4 test suite (service `service`, so the scope is
    /// built by hand rather than parsed, which insists on `kms`).
    #[test]
    fn aws_test_suite_get_vanilla() {
        let headers = vec![
            ("host".to_owned(), "example.amazonaws.com".to_owned()),
            ("x-amz-date".to_owned(), "20150830T123600Z".to_owned()),
        ];
        let request = SignedRequest {
            method: "GET",
            path: "/",
            query: "",
            headers: &headers,
            body: b"",
        };
        let scope = Scope {
            date: "20150830".into(),
            region: "us-east-1".into(),
            service: "service".into(),
        };
        let auth = Authorization {
            access_key_id: "AKIDEXAMPLE".into(),
            scope: scope.clone(),
            signed_headers: vec!["host".into(), "x-amz-date".into()],
            signature: [0; 32],
        };
        let canonical = request.canonical(&auth);
        assert_eq!(
            canonical,
            "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\n\
             e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
        let to_sign = string_to_sign("20150830T123600Z", &scope, &canonical);
        let key = signing_key(b"wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", &scope);
        let mut expected = [0u8; 32];
        hex::decode_to_slice(
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            &mut expected,
        )
        .unwrap();
        assert!(verify(&key, &to_sign, &expected));
        expected[0] ^= 1;
        assert!(!verify(&key, &to_sign, &expected));
    }

    #[test]
    fn authorization_header_parts() {
        let header = "AWS4-HMAC-SHA256 Credential=CFKAEXAMPLE/20261128/eu-west-1/kms/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=\
             00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        let auth = Authorization::parse(header).unwrap();
        assert_eq!(auth.access_key_id, "CFKAEXAMPLE");
        assert_eq!(auth.scope.region, "eu-west-1");
        assert_eq!(auth.signed_headers.len(), 4);
        assert_eq!(auth.signature[1], 0x11);
        for bad in [
            "AWS4-HMAC-SHA512 Credential=a/20261128/r/kms/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=a/20261128/r/s3/aws4_request, SignedHeaders=host, Signature=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            "AWS4-HMAC-SHA256 Credential=a/20261128/r/kms/aws4_request, SignedHeaders=x-amz-date, Signature=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            "AWS4-HMAC-SHA256 Credential=a/20261128/r/kms/aws4_request, SignedHeaders=host, Signature=zz",
            "AWS4-HMAC-SHA256 Credential=a/2026/r/kms/aws4_request, SignedHeaders=host, Signature=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
            "Bearer ck_x",
        ] {
            assert!(Authorization::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn dates_and_the_window() {
        assert_eq!(amz_date_secs("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(amz_date_secs("2015-08-30T12:36:00Z"), None);
        assert!(fresh(1000, 1300) && fresh(1300, 1000));
        assert!(!fresh(1000, 1301));
    }

    #[test]
    fn queries_are_sorted_and_encoded_strictly() {
        assert_eq!(canonical_query("b=2&a=x%2fy&c"), "a=x%2Fy&b=2&c=");
        assert_eq!(encode("/a b/", true), "/a%20b/");
    }
}
