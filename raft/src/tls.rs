//! Certificates and TLS settings for inter-node traffic.
//!
//! Every node holds a certificate signed by the cluster's own CA, valid for
//! the cluster-wide name [`PEER_NAME`] and for `node-N`. Both ends of every
//! Raft connection present one (mutual TLS) and both check it against the CA,
//! so a process without a CA-signed certificate can neither join nor talk to
//! the cluster. Addresses are not part of a peer's identity: nodes may move or
//! sit behind proxies, and the server-name check uses [`PEER_NAME`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, ServerConfig, SignatureScheme};

use crate::error::{Error, Result};
use crate::types::NodeId;

/// The DNS name every node certificate carries and every client checks.
pub const PEER_NAME: &str = "opencloud-node";

/// Paths of the files `certs init` writes in a directory.
pub struct CertPaths {
    pub dir: PathBuf,
}

impl CertPaths {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CertPaths { dir: dir.into() }
    }
    pub fn ca_cert(&self) -> PathBuf {
        self.dir.join("ca.crt")
    }
    pub fn ca_key(&self) -> PathBuf {
        self.dir.join("ca.key")
    }
    pub fn node_cert(&self, id: NodeId) -> PathBuf {
        self.dir.join(format!("node-{id}.crt"))
    }
    pub fn node_key(&self, id: NodeId) -> PathBuf {
        self.dir.join(format!("node-{id}.key"))
    }
}

fn tls_err(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Tls(format!("{what}: {e}"))
}

/// Writes a cluster CA (unless `dir` already has one, which is then reused to
/// sign) and a certificate and key for each node id. Returns the files written.
pub fn init_certs(dir: &Path, nodes: &[NodeId]) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let paths = CertPaths::new(dir);
    let mut written = Vec::new();
    let (ca_params, ca_key) = if paths.ca_cert().exists() && paths.ca_key().exists() {
        let key_pem = std::fs::read_to_string(paths.ca_key())?;
        let cert_pem = std::fs::read_to_string(paths.ca_cert())?;
        let key = KeyPair::from_pem(&key_pem).map_err(|e| tls_err("reading ca.key", e))?;
        let params = CertificateParams::from_ca_cert_pem(&cert_pem)
            .map_err(|e| tls_err("reading ca.crt", e))?;
        (params, key)
    } else {
        let mut params = CertificateParams::new(Vec::<String>::new())
            .map_err(|e| tls_err("CA parameters", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, "Opencloud cluster CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().map_err(|e| tls_err("CA key", e))?;
        let cert = params
            .clone()
            .self_signed(&key)
            .map_err(|e| tls_err("CA certificate", e))?;
        write_private(&paths.ca_key(), &key.serialize_pem())?;
        std::fs::write(paths.ca_cert(), cert.pem())?;
        written.push(paths.ca_cert());
        written.push(paths.ca_key());
        (params, key)
    };
    let ca_cert = ca_params
        .self_signed(&ca_key)
        .map_err(|e| tls_err("CA certificate", e))?;
    for &id in nodes {
        let mut params = CertificateParams::new(vec![PEER_NAME.to_string(), format!("node-{id}")])
            .map_err(|e| tls_err("node parameters", e))?;
        params
            .distinguished_name
            .push(DnType::CommonName, format!("opencloud node {id}"));
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().map_err(|e| tls_err("node key", e))?;
        let cert = params
            .signed_by(&key, &ca_cert, &ca_key)
            .map_err(|e| tls_err("node certificate", e))?;
        write_private(&paths.node_key(id), &key.serialize_pem())?;
        std::fs::write(paths.node_cert(id), cert.pem())?;
        written.push(paths.node_cert(id));
        written.push(paths.node_key(id));
    }
    Ok(written)
}

/// Writes a secret readable by its owner only.
pub fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    let mut f = opts.open(path)?;
    f.write_all(contents.as_bytes())?;
    Ok(())
}

/// Reads every certificate of a PEM file.
pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>> {
    let pem = std::fs::read(path).map_err(|e| tls_err(&path.display().to_string(), e))?;
    let certs: Vec<_> = rustls_pemfile::certs(&mut pem.as_slice())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_err(&path.display().to_string(), e))?;
    if certs.is_empty() {
        return Err(Error::Tls(format!("{}: no certificate", path.display())));
    }
    Ok(certs)
}

/// Reads the first private key of a PEM file.
pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>> {
    let pem = std::fs::read(path).map_err(|e| tls_err(&path.display().to_string(), e))?;
    rustls_pemfile::private_key(&mut pem.as_slice())
        .map_err(|e| tls_err(&path.display().to_string(), e))?
        .ok_or_else(|| Error::Tls(format!("{}: no private key", path.display())))
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The TLS identity of one node: its certificate chain, key and the CA.
#[derive(Clone)]
pub struct PeerTls {
    pub server: Arc<ServerConfig>,
    pub client: Arc<ClientConfig>,
}

impl PeerTls {
    /// Loads node `id`'s identity from a `certs init` directory.
    pub fn load(dir: &Path, id: NodeId) -> Result<Self> {
        let paths = CertPaths::new(dir);
        let ca = load_certs(&paths.ca_cert())?;
        let chain = load_certs(&paths.node_cert(id))?;
        let key = load_key(&paths.node_key(id))?;
        let mut roots = RootCertStore::empty();
        for c in ca {
            roots.add(c).map_err(|e| tls_err("CA certificate", e))?;
        }
        let roots = Arc::new(roots);

        let client_verifier =
            WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
                .build()
                .map_err(|e| tls_err("client verifier", e))?;
        let mut server = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("server config", e))?
            .with_client_cert_verifier(client_verifier)
            .with_single_cert(chain.clone(), key.clone_key())
            .map_err(|e| tls_err("node certificate", e))?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

        let server_verifier =
            rustls::client::WebPkiServerVerifier::builder_with_provider(roots, provider())
                .build()
                .map_err(|e| tls_err("server verifier", e))?;
        let mut client = ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| tls_err("client config", e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(ClusterNameVerifier(server_verifier)))
            .with_client_auth_cert(chain, key)
            .map_err(|e| tls_err("node certificate", e))?;
        client.alpn_protocols = vec![b"h2".to_vec()];
        Ok(PeerTls {
            server: Arc::new(server),
            client: Arc::new(client),
        })
    }
}

/// Verifies a peer's certificate chain against the cluster CA and checks it
/// names [`PEER_NAME`], whatever address was dialled.
#[derive(Debug)]
struct ClusterNameVerifier(Arc<rustls::client::WebPkiServerVerifier>);

impl ServerCertVerifier for ClusterNameVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        let name = ServerName::try_from(PEER_NAME)
            .map_err(|_| rustls::Error::General("bad peer name".into()))?;
        self.0
            .verify_server_cert(end_entity, intermediates, &name, ocsp_response, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

/// A self-signed certificate for a node's public HTTPS front, for the
/// embedded default and for clusters without an operator-provided one.
pub fn self_signed_https(names: Vec<String>) -> Result<(String, String)> {
    let cert = rcgen::generate_simple_self_signed(names).map_err(|e| tls_err("self-signed", e))?;
    Ok((cert.cert.pem(), cert.key_pair.serialize_pem()))
}

/// Loads the public HTTPS certificate and key kept in `dir`, making a
/// self-signed pair valid for `names` on first use. Returns the PEM texts and
/// whether they were just made.
pub fn https_identity(dir: &Path, names: Vec<String>) -> Result<(String, String, bool)> {
    let cert_path = dir.join("https.crt");
    let key_path = dir.join("https.key");
    if cert_path.exists() && key_path.exists() {
        let cert = std::fs::read_to_string(&cert_path)?;
        let key = std::fs::read_to_string(&key_path)?;
        return Ok((cert, key, false));
    }
    std::fs::create_dir_all(dir)?;
    let (cert, key) = self_signed_https(names)?;
    write_private(&key_path, &key)?;
    std::fs::write(&cert_path, &cert)?;
    Ok((cert, key, true))
}

/// A rustls server configuration for the public HTTPS front.
pub fn https_server_config(cert_pem: &str, key_pem: &str) -> Result<Arc<ServerConfig>> {
    let chain: Vec<_> = rustls_pemfile::certs(&mut cert_pem.as_bytes())
        .collect::<std::result::Result<_, _>>()
        .map_err(|e| tls_err("https certificate", e))?;
    let key = rustls_pemfile::private_key(&mut key_pem.as_bytes())
        .map_err(|e| tls_err("https key", e))?
        .ok_or_else(|| Error::Tls("https key: none found".into()))?;
    let mut config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("https config", e))?
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(|e| tls_err("https certificate", e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
