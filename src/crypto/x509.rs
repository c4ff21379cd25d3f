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
    pub country: Option<String>,
    /// DNS names, IP addresses or e-mail addresses (`a@b`).
    pub subject_alt_names: Vec<String>,
}

/// The signature scheme a CSR for a key of `algorithm` is signed with: the most widely
/// accepted one (PKCS#1 v1.5 SHA-256 for RSA, ECDSA with the curve's hash, Ed25519).
pub fn csr_scheme(algorithm: KeyAlgorithm) -> SignatureScheme {
    match algorithm {
        KeyAlgorithm::Rsa2048 | KeyAlgorithm::Rsa3072 | KeyAlgorithm::Rsa4096 => {
            SignatureScheme::RsaPkcs1(HashAlg::Sha256)
        }
        KeyAlgorithm::EcP256 => SignatureScheme::Ecdsa(Curve::P256),
        KeyAlgorithm::EcP384 => SignatureScheme::Ecdsa(Curve::P384),
        KeyAlgorithm::Ed25519 => SignatureScheme::Ed25519,
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
    let mut params = rcgen::CertificateParams::new(subject.subject_alt_names.clone())
        .map_err(|e| format!("subject_alt_names: {e}"))?;
    let dn = &mut params.distinguished_name;
    dn.push(rcgen::DnType::CommonName, subject.common_name.as_str());
    if let Some(o) = &subject.organization {
        dn.push(rcgen::DnType::OrganizationName, o.as_str());
    }
    if let Some(ou) = &subject.organizational_unit {
        dn.push(rcgen::DnType::OrganizationalUnitName, ou.as_str());
    }
    if let Some(c) = &subject.country {
        dn.push(rcgen::DnType::CountryName, c.as_str());
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
