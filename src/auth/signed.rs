//! Signed machine requests (api.md, Authentication item 2): the four headers, parsed at the
//! edge into a checked value, and the canonical message the Ed25519 signature covers:
//!
//! ```text
//! METHOD:PATH:TIMESTAMP:NONCE:BODY_SHA256_HEX
//! ```
//!
//! PATH is the request target including any query string; the body hash is of the exact
//! bytes sent (the empty string's hash for no body). Pure functions, no I/O.

use axum::http::HeaderMap;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha2::Digest;

/// The headers of a signed request.
pub const MACHINE_ID: &str = "x-machine-id";
/// The id header of an AI agent's signed request (everything else is a machine's).
pub const AGENT_ID: &str = "x-agent-id";
pub const TIMESTAMP: &str = "x-timestamp";
pub const NONCE: &str = "x-nonce";
pub const SIGNATURE: &str = "x-signature";
const HEADERS: [&str; 4] = [MACHINE_ID, TIMESTAMP, NONCE, SIGNATURE];

/// How far a request's timestamp may be from the server's clock, either way.
pub const MAX_SKEW_SECS: i64 = 300;

/// Why the headers of a signed request were refused. All of them are a 401 to the client;
/// the audit trail keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignedHeaderError {
    #[error("header {0} is missing")]
    Missing(&'static str),
    #[error("header {0} is given more than once")]
    Duplicated(&'static str),
    #[error("header {0} is not visible ASCII")]
    NotText(&'static str),
    #[error("X-Timestamp is not Unix seconds in canonical decimal (digits, no leading zero)")]
    BadTimestamp,
    #[error("X-Nonce must be 16-64 characters of [A-Za-z0-9_-]")]
    BadNonce,
    #[error("X-Signature is not base64 of 64 bytes")]
    BadSignature,
}

/// The checked headers of a signed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    pub machine_id: String,
    pub timestamp: i64,
    pub nonce: String,
    pub signature: [u8; 64],
}

/// Whether the request carries any of the signed-request headers (then it is a signed
/// request, and a malformed one is a 401, never a fall-through to another method).
pub fn is_signed(headers: &HeaderMap) -> bool {
    HEADERS.iter().any(|h| headers.contains_key(*h))
}

fn one<'a>(headers: &'a HeaderMap, name: &'static str) -> Result<&'a str, SignedHeaderError> {
    let mut values = headers.get_all(name).iter();
    let value = values.next().ok_or(SignedHeaderError::Missing(name))?;
    if values.next().is_some() {
        return Err(SignedHeaderError::Duplicated(name));
    }
    value.to_str().map_err(|_| SignedHeaderError::NotText(name))
}

/// `X-Timestamp` in its one canonical form, `0` or `[1-9][0-9]*`: the server rebuilds the
/// signed message from the parsed number, so any other spelling of the same number (a
/// leading zero) would be accepted under a signature that never covered it.
fn parse_timestamp(text: &str) -> Result<i64, SignedHeaderError> {
    let canonical = match text.as_bytes() {
        [b'0'] => true,
        [b'1'..=b'9', rest @ ..] => rest.iter().all(u8::is_ascii_digit),
        _ => false,
    };
    if !canonical {
        return Err(SignedHeaderError::BadTimestamp);
    }
    text.parse::<i64>()
        .map_err(|_| SignedHeaderError::BadTimestamp)
}

impl SignedHeaders {
    /// Parses the four headers; each must appear exactly once.
    pub fn parse(headers: &HeaderMap) -> Result<Self, SignedHeaderError> {
        Self::parse_named(headers, MACHINE_ID)
    }

    /// Parses the four headers of an AI agent's request: [`AGENT_ID`] names the signer.
    pub fn parse_agent(headers: &HeaderMap) -> Result<Self, SignedHeaderError> {
        Self::parse_named(headers, AGENT_ID)
    }

    fn parse_named(
        headers: &HeaderMap,
        id_header: &'static str,
    ) -> Result<Self, SignedHeaderError> {
        let machine_id = one(headers, id_header)?;
        let timestamp = one(headers, TIMESTAMP)?;
        let nonce = one(headers, NONCE)?;
        let signature = one(headers, SIGNATURE)?;
        let timestamp = parse_timestamp(timestamp)?;
        let nonce_ok = (16..=64).contains(&nonce.len())
            && nonce
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !nonce_ok {
            return Err(SignedHeaderError::BadNonce);
        }
        let signature: [u8; 64] = B64
            .decode(signature)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(SignedHeaderError::BadSignature)?;
        Ok(Self {
            machine_id: machine_id.to_owned(),
            timestamp,
            nonce: nonce.to_owned(),
            signature,
        })
    }

    /// Whether the timestamp is within [`MAX_SKEW_SECS`] of `now_secs`.
    pub fn is_fresh(&self, now_secs: i64) -> bool {
        (now_secs - self.timestamp).abs() <= MAX_SKEW_SECS
    }
}

/// The message a machine signs: `METHOD:PATH:TIMESTAMP:NONCE:BODY_SHA256_HEX`.
pub fn canonical_message(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body: &[u8],
) -> String {
    let body_sha256: [u8; 32] = sha2::Sha256::digest(body).into();
    canonical_message_for(method, path_and_query, timestamp, nonce, &body_sha256)
}

/// [`canonical_message`] when the body's SHA-256 is already known (the server hashes the
/// body as it buffers it).
pub fn canonical_message_for(
    method: &str,
    path_and_query: &str,
    timestamp: i64,
    nonce: &str,
    body_sha256: &[u8; 32],
) -> String {
    let body_hash = hex::encode(body_sha256);
    format!("{method}:{path_and_query}:{timestamp}:{nonce}:{body_hash}")
}

/// Strict Ed25519 verification (no malleable or small-order signatures) of `message` under
/// the raw 32-byte `public_key`.
pub fn verifies(public_key: &[u8; 32], message: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = ed25519_dalek::VerifyingKey::from_bytes(public_key) else {
        return false;
    };
    key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature))
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// Produced by Python `cryptography` (Ed25519 seed 00 01 .. 1f), independent of this code.
    const PUBLIC_KEY_HEX: &str = "03a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1ddc8664125531b8";
    const SIGNATURE_B64: &str =
        "hzsda6pBtYcPHpSDUsLCnXLy7KcaDihhKZyhT947GnimXZPLzLuatatoHefgLuTDM7DPy6rjxT+YWDZReasPBw==";
    const BODY: &[u8] = br#"{"plaintext":"aGk="}"#;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_str(value).expect("header value"));
        }
        map
    }

    fn good() -> HeaderMap {
        headers(&[
            (MACHINE_ID, "app_0123456789abcdef01234567"),
            (TIMESTAMP, "1700000000"),
            (NONCE, "n0nce-0123456789ab"),
            (SIGNATURE, SIGNATURE_B64),
        ])
    }

    #[test]
    fn a_python_signed_request_verifies_and_any_change_does_not() {
        let parsed = SignedHeaders::parse(&good()).expect("parses");
        let message = canonical_message(
            "POST",
            "/v1/keyrings/payments/encrypt?x=1",
            parsed.timestamp,
            &parsed.nonce,
            BODY,
        );
        assert_eq!(
            message,
            "POST:/v1/keyrings/payments/encrypt?x=1:1700000000:n0nce-0123456789ab:cf3ea980346704b669b815ed9978a49ade3ba0334e7778ebe5ec81ddd1bf253d"
        );
        let key: [u8; 32] = hex::decode(PUBLIC_KEY_HEX)
            .expect("hex")
            .try_into()
            .expect("32 bytes");
        assert!(verifies(&key, message.as_bytes(), &parsed.signature));
        for changed in [
            canonical_message(
                "POST",
                "/v1/keyrings/payments/encrypt?x=2",
                1_700_000_000,
                &parsed.nonce,
                BODY,
            ),
            canonical_message(
                "POST",
                "/v1/keyrings/payments/encrypt",
                1_700_000_000,
                &parsed.nonce,
                BODY,
            ),
            canonical_message(
                "PUT",
                "/v1/keyrings/payments/encrypt?x=1",
                1_700_000_000,
                &parsed.nonce,
                BODY,
            ),
            canonical_message(
                "POST",
                "/v1/keyrings/payments/encrypt?x=1",
                1_700_000_001,
                &parsed.nonce,
                BODY,
            ),
            canonical_message(
                "POST",
                "/v1/keyrings/payments/encrypt?x=1",
                1_700_000_000,
                "n0nce-0123456789ac",
                BODY,
            ),
            canonical_message(
                "POST",
                "/v1/keyrings/payments/encrypt?x=1",
                1_700_000_000,
                &parsed.nonce,
                b"{}",
            ),
        ] {
            assert!(
                !verifies(&key, changed.as_bytes(), &parsed.signature),
                "{changed}"
            );
        }
    }

    #[test]
    fn the_empty_body_hashes_as_the_empty_string() {
        assert!(
            canonical_message("GET", "/v1/keyrings", 1, "n", b"")
                .ends_with(":e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
        );
    }

    #[test]
    fn timestamps_within_five_minutes_either_way_are_fresh() {
        let parsed = SignedHeaders::parse(&good()).expect("parses");
        let t = parsed.timestamp;
        assert!(parsed.is_fresh(t + 299) && parsed.is_fresh(t - 299) && parsed.is_fresh(t + 300));
        assert!(!parsed.is_fresh(t + 301) && !parsed.is_fresh(t - 301));
    }

    #[test]
    fn only_the_canonical_decimal_timestamp_is_accepted() {
        let with = |value: &str| {
            let mut map = good();
            map.insert(
                TIMESTAMP,
                HeaderValue::from_str(value).expect("header value"),
            );
            SignedHeaders::parse(&map).map(|h| h.timestamp)
        };
        assert_eq!(with("1700000000"), Ok(1_700_000_000));
        assert_eq!(with("0"), Ok(0));
        // The same number spelled differently would be verified against `1700000000`.
        for other in [
            "01700000000",
            "001700000000",
            "00",
            "-0",
            "1700000000 ",
            " 1700000000",
        ] {
            assert_eq!(
                with(other),
                Err(SignedHeaderError::BadTimestamp),
                "{other:?}"
            );
        }
    }

    #[test]
    fn malformed_headers_are_refused_with_their_reason() {
        use SignedHeaderError::*;
        let with = |name: &'static str, value: &str| {
            let mut map = good();
            map.insert(name, HeaderValue::from_str(value).expect("header value"));
            SignedHeaders::parse(&map)
        };
        assert_eq!(with(TIMESTAMP, "17e8").unwrap_err(), BadTimestamp);
        assert_eq!(with(TIMESTAMP, "-5").unwrap_err(), BadTimestamp);
        assert_eq!(with(TIMESTAMP, "").unwrap_err(), BadTimestamp);
        assert_eq!(with(TIMESTAMP, "+1700000000").unwrap_err(), BadTimestamp);
        assert_eq!(
            with(TIMESTAMP, "99999999999999999999").unwrap_err(),
            BadTimestamp
        );
        assert_eq!(with(NONCE, "short").unwrap_err(), BadNonce);
        assert_eq!(with(NONCE, &"n".repeat(65)).unwrap_err(), BadNonce);
        assert_eq!(with(NONCE, "sixteen chars!!!").unwrap_err(), BadNonce);
        assert_eq!(with(SIGNATURE, "not base64!").unwrap_err(), BadSignature);
        assert_eq!(with(SIGNATURE, "AAAA").unwrap_err(), BadSignature);
        let mut duplicated = good();
        duplicated.append(NONCE, HeaderValue::from_static("another-nonce-0001"));
        assert_eq!(
            SignedHeaders::parse(&duplicated).unwrap_err(),
            Duplicated(NONCE)
        );
        let mut missing = good();
        missing.remove(SIGNATURE);
        assert_eq!(
            SignedHeaders::parse(&missing).unwrap_err(),
            Missing(SIGNATURE)
        );
        assert!(is_signed(&missing));
        assert!(!is_signed(&HeaderMap::new()));
    }
}
