//! The fabric's certificate authority: functions trust it through `SSL_CERT_FILE`, and every
//! TLS service of the fabric gets a certificate for whatever name the client asked for.

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::{
    crypto::aws_lc_rs,
    pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

use super::FabricError;

/// A certificate authority made for one fabric; its key never leaves the process.
pub(crate) struct FabricCa {
    issuer: Issuer<'static, KeyPair>,
    bundle: PathBuf,
    issued: Mutex<HashMap<String, Arc<CertifiedKey>>>,
}

impl std::fmt::Debug for FabricCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FabricCa")
            .field("bundle", &self.bundle)
            .finish_non_exhaustive()
    }
}

impl FabricCa {
    /// A new authority whose certificate is written to `dir/ca.pem`.
    pub(crate) fn create(dir: &Path) -> Result<Arc<Self>, FabricError> {
        let tls = |e: rcgen::Error| FabricError::Tls(e.to_string());
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
        params
            .distinguished_name
            .push(DnType::CommonName, "vpclab fabric CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let key = KeyPair::generate().map_err(tls)?;
        let certificate = params.self_signed(&key).map_err(tls)?;
        let bundle = dir.join("ca.pem");
        std::fs::write(&bundle, certificate.pem())
            .map_err(|e| FabricError::Tls(format!("write {}: {e}", bundle.display())))?;
        Ok(Arc::new(Self {
            issuer: Issuer::new(params, key),
            bundle,
            issued: Mutex::default(),
        }))
    }

    /// The PEM file holding the authority's certificate.
    pub(crate) fn bundle(&self) -> &Path {
        &self.bundle
    }

    /// A server configuration that presents a certificate for the name each client asks for.
    pub(crate) fn server_config(self: &Arc<Self>) -> Arc<rustls::ServerConfig> {
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("aws-lc-rs supports the default protocol versions")
                .with_no_client_auth()
                .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Arc::new(config)
    }

    fn certificate_for(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let mut issued = self.issued.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(key) = issued.get(name) {
            return Some(key.clone());
        }
        let made = self.issue(name);
        match made {
            Ok(key) => {
                issued.insert(name.to_owned(), key.clone());
                Some(key)
            }
            Err(e) => {
                tracing::warn!("vpclab: no certificate for {name}: {e}");
                None
            }
        }
    }

    /// A certificate for `name` signed by the authority, and its key.
    fn sign(&self, name: &str) -> Result<(rcgen::Certificate, KeyPair), String> {
        let mut params =
            CertificateParams::new(vec![name.to_owned()]).map_err(|e| e.to_string())?;
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().map_err(|e| e.to_string())?;
        let certificate = params
            .signed_by(&key, &self.issuer)
            .map_err(|e| e.to_string())?;
        Ok((certificate, key))
    }

    /// [`FabricCa::sign`] as PEM (for servers that read files, like PostgreSQL).
    pub(crate) fn issue_pem(&self, name: &str) -> Result<(String, String), String> {
        let (certificate, key) = self.sign(name)?;
        Ok((certificate.pem(), key.serialize_pem()))
    }

    fn issue(&self, name: &str) -> Result<Arc<CertifiedKey>, String> {
        let (certificate, key) = self.sign(name)?;
        let private = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        let signer = aws_lc_rs::sign::any_supported_type(&private).map_err(|e| e.to_string())?;
        Ok(Arc::new(CertifiedKey::new(
            vec![certificate.der().clone()],
            signer,
        )))
    }
}

#[derive(Debug)]
struct Resolver(Arc<FabricCa>);

impl ResolvesServerCert for Resolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0
            .certificate_for(hello.server_name().unwrap_or("vpclab.fabric"))
    }
}
