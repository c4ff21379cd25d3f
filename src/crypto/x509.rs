//! X.509 certificates (parsed with x509-parser) and PKCS#10 requests (built with rcgen,
//! signed by a caller-supplied signer so the private key can stay in the HSM).

use super::asym::{Curve, HashAlg, KeyAlgorithm, PublicKey, SignatureScheme};
use sha2::Digest;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// What Coffer keeps and shows of one certificate.
#[derive(Clone)]
pub struct CertificateInfo {
    pub der: Vec<u8>,
    pub subject: String,
    pub issuer: String,
    /// Hex, colon-free.
    pub serial: String,
    /// Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `DNS:example.com`, `IP:10.0.0.1`, `email:a@b`, `URI:https://...`.
    pub subject_alt_names: Vec<String>,
    /// x509-parser's names: `Digital Signature`, `Key Encipherment`, ...
    pub key_usage: Vec<String>,
    pub is_ca: bool,
    /// SHA-256 of the certificate DER, hex.
    pub fingerprint: String,
    /// The certified public key, when Coffer supports its algorithm.
    pub public_key: Option<PublicKey>,
}

/// Parses one or more certificates: a PEM bundle (`CERTIFICATE` blocks, leaf first or in
/// any order) or a single DER certificate. The error names the certificate and the problem.
pub fn parse_certificates(input: &[u8]) -> Result<Vec<CertificateInfo>, String> {
    if !input.starts_with(b"-----") {
        return Ok(vec![
            parse_der(input).map_err(|e| format!("the certificate does not parse: {e}"))?,
        ]);
    }
    let mut certificates = Vec::new();
    for (index, block) in x509_parser::pem::Pem::iter_from_buffer(input).enumerate() {
        let n = index + 1;
        let block = block.map_err(|e| format!("PEM block {n} is malformed: {e}"))?;
        if block.label != "CERTIFICATE" {
            return Err(format!(
                "PEM block {n} is `{}`; only `CERTIFICATE` blocks are accepted",
                block.label
            ));
        }
        certificates.push(
            parse_der(&block.contents)
                .map_err(|e| format!("certificate {n} does not parse: {e}"))?,
        );
    }
    if certificates.is_empty() {
        return Err("no `-----BEGIN CERTIFICATE-----` block found".to_owned());
    }
    Ok(certificates)
}

/// The certificates of a chain kept as PEM when it was imported (and parsed then). Should
/// it no longer parse, it reads as empty, so that showing a stored certificate cannot fail.
pub fn stored_chain(chain_pem: &str) -> Vec<CertificateInfo> {
    parse_certificates(chain_pem.as_bytes()).unwrap_or_default()
}

fn parse_der(der: &[u8]) -> Result<CertificateInfo, String> {
    let (rest, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    if !rest.is_empty() {
        return Err("trailing bytes after the certificate".to_owned());
    }
    let subject_alt_names = match cert.subject_alternative_name() {
        Ok(Some(ext)) => ext.value.general_names.iter().map(describe_name).collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("subjectAltName: {e}")),
    };
    let key_usage = match cert.key_usage() {
        Ok(Some(ext)) => ext
            .value
            .to_string()
            .split(", ")
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Ok(None) => Vec::new(),
        Err(e) => return Err(format!("keyUsage: {e}")),
    };
    Ok(CertificateInfo {
        der: der.to_vec(),
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        serial: cert.raw_serial_as_string().replace(':', ""),
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        subject_alt_names,
        key_usage,
        is_ca: cert.is_ca(),
        fingerprint: hex::encode(sha2::Sha256::digest(der)),
        public_key: PublicKey::from_spki_der(cert.public_key().raw).ok(),
    })
}

fn describe_name(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::DNSName(s) => format!("DNS:{s}"),
        GeneralName::RFC822Name(s) => format!("email:{s}"),
        GeneralName::URI(s) => format!("URI:{s}"),
        GeneralName::IPAddress(bytes) => match bytes.len() {
            4 => format!(
                "IP:{}",
                std::net::Ipv4Addr::from(<[u8; 4]>::try_from(*bytes).expect("4 bytes"))
            ),
            16 => format!(
                "IP:{}",
                std::net::Ipv6Addr::from(<[u8; 16]>::try_from(*bytes).expect("16 bytes"))
            ),
            _ => format!("IP:{}", hex::encode(bytes)),
        },
        other => other.to_string(),
    }
}

/// Subject of a certificate signing request.
pub struct CsrSubject {
    pub common_name: String,
    pub organization: Option<String>,
    pub organizational_unit: Option<String>,
    /// ISO 3166 alpha-2, upper case (`FR`).
    pub country: Option<String>,
    /// DNS names, IP addresses, e-mail addresses (`a@b`) or URIs; see [`SubjectAltName`].
    pub subject_alt_names: Vec<String>,
}

/// RFC 5280's upper bounds (`ub-common-name`, `ub-organization-name`,
/// `ub-organizational-unit-name`), in characters.
pub const MAX_SUBJECT_FIELD_CHARS: usize = 64;
/// At most this many subjectAltName entries in one request.
pub const MAX_SUBJECT_ALT_NAMES: usize = 100;
/// A DNS name's longest text form (RFC 1035, without the trailing dot).
pub const MAX_DNS_NAME_LEN: usize = 253;
/// The longest e-mail address (RFC 5321's path limit less the angle brackets).
pub const MAX_EMAIL_LEN: usize = 254;
/// The longest URI accepted in a request.
pub const MAX_URI_LEN: usize = 2048;

/// One subjectAltName entry, typed from its text: an IP address if it parses as one, a URI
/// if it starts with a scheme and `//` (`https://…`, `spiffe://…`) or is a URN (`urn:…`), an
/// e-mail address
/// (rfc822Name) if it holds an `@`, else a DNS name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    Dns(String),
    Ip(std::net::IpAddr),
    Email(String),
    Uri(String),
}

impl SubjectAltName {
    /// Types and checks one entry; the error says what the entry was taken for and why it
    /// is refused.
    pub fn parse(entry: &str) -> Result<Self, String> {
        if let Ok(ip) = entry.parse::<std::net::IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        if let Some(scheme) = uri_scheme(entry) {
            return check_uri(entry, scheme).map(|()| Self::Uri(entry.to_owned()));
        }
        if entry.contains('@') {
            return check_email(entry).map(|()| Self::Email(entry.to_owned()));
        }
        check_dns_name(entry).map(|()| Self::Dns(entry.to_owned()))
    }

    fn to_rcgen(&self) -> Result<rcgen::SanType, String> {
        let ia5 = |text: &str| {
            rcgen::string::Ia5String::try_from(text.to_owned()).map_err(|e| e.to_string())
        };
        Ok(match self {
            Self::Dns(name) => rcgen::SanType::DnsName(ia5(name)?),
            Self::Ip(ip) => rcgen::SanType::IpAddress(*ip),
            Self::Email(address) => rcgen::SanType::Rfc822Name(ia5(address)?),
            Self::Uri(uri) => rcgen::SanType::URI(ia5(uri)?),
        })
    }
}

/// The scheme of `text` if it starts like a URI: `scheme://` or `urn:`.
fn uri_scheme(text: &str) -> Option<&str> {
    let (scheme, rest) = text.split_once(':')?;
    let is_scheme = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c));
    (is_scheme && (rest.starts_with("//") || scheme.eq_ignore_ascii_case("urn"))).then_some(scheme)
}

/// RFC 3986's characters: unreserved, reserved and `%` (escapes).
fn is_uri_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~:/?#[]@!$&'()*+,;=%".contains(c)
}

fn check_uri(uri: &str, scheme: &str) -> Result<(), String> {
    if uri.len() > MAX_URI_LEN {
        return Err(format!("a URI is at most {MAX_URI_LEN} characters"));
    }
    if let Some(bad) = uri.chars().find(|c| !is_uri_char(*c)) {
        return Err(format!(
            "{bad:?} is not allowed in a URI (RFC 3986; escape it with %)"
        ));
    }
    let rest = &uri[scheme.len() + 1..];
    if !rest.starts_with("//") {
        // urn:<NID>:<NSS> (RFC 8141)
        let ok = rest.split_once(':').is_some_and(|(nid, nss)| {
            (2..=32).contains(&nid.len())
                && nid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !nss.is_empty()
        });
        return if ok {
            Ok(())
        } else {
            Err("a URN is urn:<namespace>:<name>".to_owned())
        };
    }
    let authority = rest[2..].split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() {
        return Err(format!("a {scheme}:// URI needs a host after `//`"));
    }
    Ok(())
}

/// `local@domain`: a dot-atom local part (RFC 5322) of 1–64 characters and a DNS domain.
fn check_email(address: &str) -> Result<(), String> {
    if address.len() > MAX_EMAIL_LEN {
        return Err(format!(
            "an e-mail address is at most {MAX_EMAIL_LEN} characters"
        ));
    }
    let (local, domain) = address
        .split_once('@')
        .ok_or("an e-mail address is local@domain")?;
    let atext = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+/=?^_`{|}~-".contains(c);
    let local_ok = (1..=64).contains(&local.len())
        && local
            .split('.')
            .all(|part| !part.is_empty() && part.chars().all(atext));
    if !local_ok {
        return Err(
            "the part before @ must be 1-64 characters of letters, digits, dots (not leading, trailing or doubled) and !#$%&'*+/=?^_`{|}~-"
                .to_owned(),
        );
    }
    if domain.starts_with("*.") {
        return Err("an e-mail domain cannot be a wildcard".to_owned());
    }
    check_dns_name(domain).map_err(|e| format!("after @: {e}"))
}

/// LDH labels (letters, digits, hyphens; 1–63 characters; no hyphen at either end), at
/// most 253 characters, a last label that starts with a letter (every top-level domain
/// does), and optionally `*.` in front of a name of at least two labels.
fn check_dns_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an entry cannot be empty".to_owned());
    }
    if name.len() > MAX_DNS_NAME_LEN {
        return Err(format!(
            "a DNS name is at most {MAX_DNS_NAME_LEN} characters"
        ));
    }
    let (wildcard, base) = match name.strip_prefix("*.") {
        Some(base) => (true, base),
        None => (false, name),
    };
    let labels: Vec<&str> = base.split('.').collect();
    let ldh = |l: &&str| {
        (1..=63).contains(&l.len())
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    if !labels.iter().all(ldh) {
        return Err(
            "a DNS name is dot-separated labels of 1-63 letters, digits and hyphens (no hyphen first or last; internationalised names as xn-- A-labels), with `*.` only as the whole first label"
                .to_owned(),
        );
    }
    if !labels
        .last()
        .is_some_and(|l| l.starts_with(|c: char| c.is_ascii_alphabetic()))
    {
        return Err(
            "the last label (the top-level domain) starts with a letter; this is not an IP address either"
                .to_owned(),
        );
    }
    if wildcard && labels.len() < 2 {
        return Err("a wildcard covers a name of at least two labels (*.example.com)".to_owned());
    }
    Ok(())
}

fn check_subject_field(field: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if !(1..=MAX_SUBJECT_FIELD_CHARS).contains(&chars) || value.chars().any(char::is_control) {
        return Err(format!(
            "{field} must be 1-{MAX_SUBJECT_FIELD_CHARS} characters without control characters"
        ));
    }
    Ok(())
}

impl CsrSubject {
    /// Checks every field; the error names the field (and for a subjectAltName, the entry).
    /// The country is two upper-case letters: `fr` is refused rather than rewritten, so
    /// the request says exactly what was sent.
    pub fn validate(&self) -> Result<Vec<SubjectAltName>, String> {
        check_subject_field("common_name", &self.common_name)?;
        if let Some(o) = &self.organization {
            check_subject_field("organization", o)?;
        }
        if let Some(ou) = &self.organizational_unit {
            check_subject_field("organizational_unit", ou)?;
        }
        if let Some(c) = &self.country
            && !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_uppercase()))
        {
            return Err(format!(
                "country {c:?} must be an ISO 3166 alpha-2 code: two upper-case letters, like FR"
            ));
        }
        if self.subject_alt_names.len() > MAX_SUBJECT_ALT_NAMES {
            return Err(format!(
                "subject_alt_names has at most {MAX_SUBJECT_ALT_NAMES} entries"
            ));
        }
        self.subject_alt_names
            .iter()
            .enumerate()
            .map(|(i, entry)| {
                SubjectAltName::parse(entry).map_err(|e| {
                    format!(
                        "subject_alt_names[{i}] {entry:?} is not a valid DNS name, IP address, e-mail address or URI: {e}"
                    )
                })
            })
            .collect()
    }
}

/// The signature scheme a CSR for a key of `algorithm` is signed with: the most widely
/// accepted one (PKCS#1 v1.5 SHA-256 for RSA, ECDSA with the curve's hash, Ed25519).
pub fn csr_scheme(algorithm: KeyAlgorithm) -> SignatureScheme {
    if algorithm.rsa_bits().is_some() {
        SignatureScheme::RsaPkcs1(HashAlg::Sha256)
    } else {
        // An EC or Ed25519 key has exactly one scheme.
        algorithm.default_scheme()
    }
}

/// The signer rcgen calls: the public half is known, signing is delegated (to the HSM).
struct RemoteSigner<'a, F> {
    public_key_bits: Vec<u8>,
    algorithm: &'static rcgen::SignatureAlgorithm,
    sign: &'a F,
}

impl<F> rcgen::PublicKeyData for RemoteSigner<'_, F> {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key_bits
    }

    fn algorithm(&self) -> &'static rcgen::SignatureAlgorithm {
        self.algorithm
    }
}

impl<F> rcgen::SigningKey for RemoteSigner<'_, F>
where
    F: Fn(&[u8]) -> Result<Vec<u8>, String>,
{
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rcgen::Error> {
        // rcgen's error carries no detail; the signer logs its own failure.
        (self.sign)(message).map_err(|_| rcgen::Error::RemoteKeyError)
    }
}

/// Builds a PKCS#10 request in PEM for `public_key`. `sign` receives the to-be-signed bytes
/// and returns the signature in X.509 encoding (DER for ECDSA) for [`csr_scheme`].
pub fn build_csr<F>(
    public_key: &PublicKey,
    subject: &CsrSubject,
    sign: &F,
) -> Result<String, String>
where
    F: Fn(&[u8]) -> Result<Vec<u8>, String>,
{
    let algorithm = public_key.algorithm().map_err(|e| e.to_string())?;
    let mut params = rcgen::CertificateParams::default();
    params.subject_alt_names = subject
        .validate()?
        .iter()
        .map(SubjectAltName::to_rcgen)
        .collect::<Result<_, _>>()?;
    let dn = &mut params.distinguished_name;
    dn.push(rcgen::DnType::CommonName, subject.common_name.as_str());
    if let Some(o) = &subject.organization {
        dn.push(rcgen::DnType::OrganizationName, o.as_str());
    }
    if let Some(ou) = &subject.organizational_unit {
        dn.push(rcgen::DnType::OrganizationalUnitName, ou.as_str());
    }
    if let Some(c) = &subject.country {
        // countryName is a PrintableString of two characters (RFC 5280).
        let c = rcgen::string::PrintableString::try_from(c.as_str()).map_err(|e| e.to_string())?;
        dn.push(
            rcgen::DnType::CountryName,
            rcgen::DnValue::PrintableString(c),
        );
    }
    let signer = RemoteSigner {
        public_key_bits: public_key.subject_public_key_bits(),
        algorithm: match csr_scheme(algorithm) {
            SignatureScheme::Ecdsa(Curve::P256) => &rcgen::PKCS_ECDSA_P256_SHA256,
            SignatureScheme::Ecdsa(Curve::P384) => &rcgen::PKCS_ECDSA_P384_SHA384,
            SignatureScheme::Ed25519 => &rcgen::PKCS_ED25519,
            _ => &rcgen::PKCS_RSA_SHA256,
        },
        sign,
    };
    let request = params
        .serialize_request(&signer)
        .map_err(|e| format!("the request could not be signed: {e}"))?;
    request
        .pem()
        .map_err(|e| format!("PEM encoding failed: {e}"))
}

/// Whether `chain` (end entity first, then intermediates, DER) is a valid TLS client
/// certificate path to the trust anchor `ca_der` at `now_secs`: signatures, validity
/// periods, CA constraints and the clientAuth purpose, checked by rustls' WebPKI verifier.
pub fn verifies_to(chain: &[Vec<u8>], ca_der: &[u8], now_secs: u64) -> bool {
    use rustls::pki_types::{CertificateDer, UnixTime};
    let Some((end_entity, intermediates)) = chain.split_first() else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(CertificateDer::from(ca_der.to_vec())).is_err() {
        return false;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let Ok(verifier) =
        rustls::server::WebPkiClientVerifier::builder_with_provider(roots.into(), provider).build()
    else {
        return false;
    };
    let intermediates: Vec<CertificateDer<'static>> = intermediates
        .iter()
        .map(|der| CertificateDer::from(der.clone()))
        .collect();
    verifier
        .verify_client_cert(
            &CertificateDer::from(end_entity.clone()),
            &intermediates,
            UnixTime::since_unix_epoch(std::time::Duration::from_secs(now_secs)),
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_alt_names_are_typed_by_their_form() {
        let ip = |s: &str| SubjectAltName::Ip(s.parse().expect("an IP"));
        let cases = [
            (
                "api.example.com",
                SubjectAltName::Dns("api.example.com".into()),
            ),
            ("*.example.com", SubjectAltName::Dns("*.example.com".into())),
            ("localhost", SubjectAltName::Dns("localhost".into())),
            (
                "xn--bcher-kva.example",
                SubjectAltName::Dns("xn--bcher-kva.example".into()),
            ),
            ("10.0.0.7", ip("10.0.0.7")),
            ("2001:db8::1", ip("2001:db8::1")),
            ("fe80::1", ip("fe80::1")),
            (
                "ops@example.com",
                SubjectAltName::Email("ops@example.com".into()),
            ),
            (
                "first.last+tag@mail.example.org",
                SubjectAltName::Email("first.last+tag@mail.example.org".into()),
            ),
            (
                "https://api.example.com/v1?x=1#y",
                SubjectAltName::Uri("https://api.example.com/v1?x=1#y".into()),
            ),
            (
                "https://user@api.example.com/",
                SubjectAltName::Uri("https://user@api.example.com/".into()),
            ),
            (
                "spiffe://example.org/ns/prod/sa/api",
                SubjectAltName::Uri("spiffe://example.org/ns/prod/sa/api".into()),
            ),
            (
                "urn:example:coffer:1",
                SubjectAltName::Uri("urn:example:coffer:1".into()),
            ),
        ];
        for (entry, expected) in cases {
            assert_eq!(SubjectAltName::parse(entry), Ok(expected), "{entry}");
        }
    }

    #[test]
    fn malformed_subject_alt_names_are_refused_with_a_reason() {
        let long_label = format!("{}.example.com", "a".repeat(64));
        let long_name = format!("{}.com", ["abcdefghi"; 26].join("."));
        for entry in [
            "",
            "bad name.example.com",
            "under_score.example.com",
            "-lead.example.com",
            "trail-.example.com",
            "a..b.example.com",
            "example.com.",
            "*.*.example.com",
            "api.*.example.com",
            "*.com",
            "*",
            "10.0.0.300",
            "example.1com",
            "bücher.example",
            long_label.as_str(),
            long_name.as_str(),
            "ops@",
            "@example.com",
            "a@b@example.com",
            "ops@exa_mple.com",
            "ops@*.example.com",
            ".ops@example.com",
            "o..ps@example.com",
            "https://",
            "https:///path",
            "https://exa mple.com/",
            "https://example.com/\u{e9}",
            "urn:x",
            "urn:example",
            "host:443",
        ] {
            let refused = SubjectAltName::parse(entry);
            assert!(
                matches!(&refused, Err(reason) if !reason.is_empty()),
                "{entry:?} should be refused, got {refused:?}"
            );
        }
    }

    fn subject() -> CsrSubject {
        CsrSubject {
            common_name: "api.example.com".into(),
            organization: Some("Example".into()),
            organizational_unit: Some("Platform".into()),
            country: Some("FR".into()),
            subject_alt_names: vec!["api.example.com".into(), "ops@example.com".into()],
        }
    }

    #[test]
    fn csr_subjects_follow_rfc_5280_bounds_and_name_the_bad_field() {
        assert_eq!(subject().validate().map(|s| s.len()), Ok(2));
        let max = "x".repeat(MAX_SUBJECT_FIELD_CHARS);
        let too_long = "x".repeat(MAX_SUBJECT_FIELD_CHARS + 1);
        let ok = CsrSubject {
            common_name: max.clone(),
            organization: Some(max.clone()),
            organizational_unit: Some("é".repeat(MAX_SUBJECT_FIELD_CHARS)),
            ..subject()
        };
        assert!(ok.validate().is_ok(), "64 characters (not bytes) fit");
        let cases: Vec<(CsrSubject, &str)> = vec![
            (
                CsrSubject {
                    common_name: String::new(),
                    ..subject()
                },
                "common_name",
            ),
            (
                CsrSubject {
                    common_name: too_long.clone(),
                    ..subject()
                },
                "common_name",
            ),
            (
                CsrSubject {
                    common_name: "a\u{7}b".into(),
                    ..subject()
                },
                "common_name",
            ),
            (
                CsrSubject {
                    organization: Some(too_long.clone()),
                    ..subject()
                },
                "organization",
            ),
            (
                CsrSubject {
                    organizational_unit: Some(String::new()),
                    ..subject()
                },
                "organizational_unit",
            ),
            (
                CsrSubject {
                    country: Some("fr".into()),
                    ..subject()
                },
                "country",
            ),
            (
                CsrSubject {
                    country: Some("FRA".into()),
                    ..subject()
                },
                "country",
            ),
            (
                CsrSubject {
                    country: Some("F1".into()),
                    ..subject()
                },
                "country",
            ),
            (
                CsrSubject {
                    country: Some(String::new()),
                    ..subject()
                },
                "country",
            ),
            (
                CsrSubject {
                    subject_alt_names: vec!["ok.example.com".into(), "bad name".into()],
                    ..subject()
                },
                "subject_alt_names[1] \"bad name\"",
            ),
            (
                CsrSubject {
                    subject_alt_names: vec!["a.example.com".into(); MAX_SUBJECT_ALT_NAMES + 1],
                    ..subject()
                },
                "subject_alt_names",
            ),
        ];
        for (bad, field) in cases {
            let refused = bad.validate().expect_err(field);
            assert!(refused.starts_with(field), "{field}: {refused}");
        }
    }
}
