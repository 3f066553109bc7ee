//! A raw TLS client for a node's Raft port, to check that the port refuses
//! peers without a certificate from the cluster's CA.
//!
//! The probe trusts any server certificate: what is under test is the
//! server's check of the client, not the client's check of the server.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// How a probe went.
#[derive(Debug)]
pub enum Probe {
    /// The server answered the request (its first bytes, lossily decoded).
    Answered(String),
    /// The handshake failed, or the server ended the connection with an
    /// error or without a byte of application data.
    Refused(String),
    /// Nothing came back within the probe's time.
    Silent,
}

#[derive(Debug)]
struct AnyServer(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn load_identity(
    cert: &Path,
    key: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let certs = rustls_pemfile::certs(&mut std::io::BufReader::new(
        std::fs::File::open(cert).with_context(|| format!("opening {}", cert.display()))?,
    ))
    .collect::<std::io::Result<Vec<_>>>()
    .with_context(|| format!("reading {}", cert.display()))?;
    let key = rustls_pemfile::private_key(&mut std::io::BufReader::new(
        std::fs::File::open(key).with_context(|| format!("opening {}", key.display()))?,
    ))
    .with_context(|| format!("reading {}", key.display()))?
    .with_context(|| format!("no private key in {}", key.display()))?;
    Ok((certs, key))
}

/// A client configuration that trusts any server: for talking to test
/// nodes with their self-signed HTTPS certificates.
pub fn trust_any() -> Result<Arc<ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Connects to `addr` with TLS, presenting the certificate and key at
/// `identity` (or none), sends an HTTP/1.1 request and reports what came
/// back.
pub async fn probe(addr: SocketAddr, identity: Option<(&Path, &Path)>) -> Result<Probe> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer(provider)));
    let config = match identity {
        Some((cert, key)) => {
            let (certs, key) = load_identity(cert, key)?;
            builder.with_client_auth_cert(certs, key)?
        }
        None => builder.with_no_client_auth(),
    };
    let tcp = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connecting to {addr}"))?;
    let name = ServerName::try_from("opencloud-node")?;
    let connector = TlsConnector::from(Arc::new(config));
    let limit = Duration::from_secs(10);
    let mut tls = match tokio::time::timeout(limit, connector.connect(name, tcp)).await {
        Err(_) => return Ok(Probe::Silent),
        Ok(Err(e)) => return Ok(Probe::Refused(format!("handshake: {e}"))),
        Ok(Ok(tls)) => tls,
    };
    // With TLS 1.3 the server judges the client's certificate after the
    // client has finished its side of the handshake, so the verdict shows
    // on the first read.
    let request = b"GET / HTTP/1.1\r\nHost: opencloud-node\r\nConnection: close\r\n\r\n";
    if let Err(e) = tls.write_all(request).await {
        return Ok(Probe::Refused(format!("write: {e}")));
    }
    let mut buf = vec![0u8; 512];
    match tokio::time::timeout(limit, tls.read(&mut buf)).await {
        Err(_) => Ok(Probe::Silent),
        Ok(Err(e)) => Ok(Probe::Refused(format!("read: {e}"))),
        Ok(Ok(0)) => Ok(Probe::Refused("closed without answering".to_string())),
        Ok(Ok(n)) => Ok(Probe::Answered(
            String::from_utf8_lossy(&buf[..n]).into_owned(),
        )),
    }
}
