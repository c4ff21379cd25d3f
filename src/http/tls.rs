//! The HTTPS listener: a rustls server that asks for an optional client certificate, and an
//! acceptor that attaches the certificate chain the client presented to every request.
//!
//! The handshake only proves that the client holds the private key of the certificate it
//! presents. Whether that certificate authenticates anyone (pinned, issued by a trusted CA
//! and matching, not expired, not revoked) is decided per request by the service, so that an
//! unknown or expired certificate is a 401 with an audit event, not a failed handshake.

use axum::Extension;
use axum::middleware::AddExtension;
use axum_server::accept::Accept;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::client::danger::HandshakeSignatureValid;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncWrite};
use tower::Layer;

/// The client certificate chain (DER, end entity first) presented in the handshake.
#[derive(Clone, Default)]
pub struct PeerCertificates(pub Arc<Vec<Vec<u8>>>);

/// Offers client authentication without requiring it, and accepts any certificate whose
/// handshake signature verifies (possession of the key); authentication happens later.
#[derive(Debug)]
struct OptionalClientCertificate {
    algorithms: WebPkiSupportedAlgorithms,
}

impl ClientCertVerifier for OptionalClientCertificate {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server configuration: certificate chain and key from PEM files, HTTP/2 and 1.1,
/// optional client certificates.
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<RustlsConfig> {
    use anyhow::Context;
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect())
        .with_context(|| format!("cannot read certificates from {}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| match e {
        pem::Error::NoItemsFound => anyhow::anyhow!("no private key in {}", key.display()),
        other => anyhow::Error::new(other).context(format!(
            "cannot read the private key from {}",
            key.display()
        )),
    })?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = OptionalClientCertificate {
        algorithms: provider.signature_verification_algorithms,
    };
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?
        .with_client_cert_verifier(Arc::new(verifier))
        .with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(RustlsConfig::from_config(Arc::new(config)))
}

/// Wraps the rustls acceptor and adds [`PeerCertificates`] to each connection's requests.
#[derive(Clone)]
pub struct PeerCertificateAcceptor {
    inner: RustlsAcceptor,
}

impl PeerCertificateAcceptor {
    /// A handshake that takes longer than `handshake_timeout` is dropped.
    pub fn new(config: RustlsConfig, handshake_timeout: std::time::Duration) -> Self {
        Self {
            inner: RustlsAcceptor::new(config).handshake_timeout(handshake_timeout),
        }
    }
}

type Accepted<I, S> = std::io::Result<(
    tokio_rustls::server::TlsStream<I>,
    AddExtension<S, PeerCertificates>,
)>;

impl<I, S> Accept<I, S> for PeerCertificateAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = tokio_rustls::server::TlsStream<I>;
    type Service = AddExtension<S, PeerCertificates>;
    type Future = Pin<Box<dyn Future<Output = Accepted<I, S>> + Send>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        let inner = self.inner.clone();
        Box::pin(async move {
            let (stream, service) = inner.accept(stream, service).await?;
            let chain = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|certs| certs.iter().map(|c| c.as_ref().to_vec()).collect())
                .unwrap_or_default();
            let service = Extension(PeerCertificates(Arc::new(chain))).layer(service);
            Ok((stream, service))
        })
    }
}
