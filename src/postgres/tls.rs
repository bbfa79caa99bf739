//! TLS to PostgreSQL with libpq's `sslmode` meanings, so the same URL works for lifeboat and
//! for the pg_dump/psql it runs: `disable`; `prefer` and `require` encrypt without checking the
//! certificate (unless a root certificate is given, as libpq does); `verify-ca` checks the
//! chain; `verify-full` checks the chain and the host name. Managed services (RDS: download
//! its CA bundle and set `sslrootcert`) need at least `require`.

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsMode {
    Disable,
    #[default]
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl TlsMode {
    pub fn parse(text: &str) -> Result<Self> {
        Ok(match text {
            "disable" | "allow" => TlsMode::Disable,
            "prefer" => TlsMode::Prefer,
            "require" => TlsMode::Require,
            "verify-ca" => TlsMode::VerifyCa,
            "verify-full" => TlsMode::VerifyFull,
            other => {
                return Err(Error::config(format!(
                "sslmode `{other}` is not one of disable, prefer, require, verify-ca, verify-full"
            )))
            }
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disable => "disable",
            TlsMode::Prefer => "prefer",
            TlsMode::Require => "require",
            TlsMode::VerifyCa => "verify-ca",
            TlsMode::VerifyFull => "verify-full",
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// The system's trusted roots, read once per process: reading and parsing the few hundred
/// certificates of /etc/ssl costs ~55 million instructions (callgrind), which every
/// connection paid before (a backup opens one session per job).
fn native_roots() -> Arc<RootCertStore> {
    static NATIVE: std::sync::OnceLock<Arc<RootCertStore>> = std::sync::OnceLock::new();
    NATIVE
        .get_or_init(|| {
            let mut store = RootCertStore::empty();
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = store.add(cert);
            }
            Arc::new(store)
        })
        .clone()
}

fn roots(root_cert: Option<&Path>) -> Result<Arc<RootCertStore>> {
    let mut store = RootCertStore::empty();
    match root_cert {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| Error::config(format!("sslrootcert {}: {e}", path.display())))?;
            for cert in certs {
                let cert = cert
                    .map_err(|e| Error::config(format!("sslrootcert {}: {e}", path.display())))?;
                store
                    .add(cert)
                    .map_err(|e| Error::config(format!("sslrootcert {}: {e}", path.display())))?;
            }
        }
        None => return Ok(native_roots()),
    }
    Ok(Arc::new(store))
}

/// The connector for a mode; `None` for `disable`.
pub fn connector(
    mode: TlsMode,
    root_cert: Option<&PathBuf>,
) -> Result<Option<tokio_postgres_rustls::MakeRustlsConnect>> {
    Ok(client_config(mode, root_cert)?.map(tokio_postgres_rustls::MakeRustlsConnect::new))
}

/// The rustls configuration for a mode; `None` for `disable`.
pub fn client_config(
    mode: TlsMode,
    root_cert: Option<&PathBuf>,
) -> Result<Option<rustls::ClientConfig>> {
    let provider = provider();
    let check = match (mode, root_cert) {
        (TlsMode::Disable, _) => return Ok(None),
        (TlsMode::Prefer | TlsMode::Require, None) => Check::Nothing,
        (TlsMode::Prefer | TlsMode::Require | TlsMode::VerifyCa, _) => Check::Chain,
        (TlsMode::VerifyFull, _) => Check::ChainAndName,
    };
    let webpki = WebPkiServerVerifier::builder_with_provider(
        roots(root_cert.map(PathBuf::as_path))?,
        provider.clone(),
    )
    .build()
    .map_err(|e| Error::config(format!("TLS roots: {e}")))?;
    let verifier = Arc::new(Verifier {
        check,
        webpki,
        provider: provider.clone(),
    });
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::config(format!("TLS: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Some(config))
}

#[derive(Debug, Clone, Copy)]
enum Check {
    Nothing,
    Chain,
    ChainAndName,
}

#[derive(Debug)]
struct Verifier {
    check: Check,
    webpki: Arc<WebPkiServerVerifier>,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> std::result::Result<ServerCertVerified, rustls::Error> {
        match self.check {
            Check::Nothing => Ok(ServerCertVerified::assertion()),
            Check::ChainAndName => {
                self.webpki
                    .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
            }
            Check::Chain => match self.webpki.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp,
                now,
            ) {
                Err(rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                    | CertificateError::NotValidForNameContext { .. },
                )) => Ok(ServerCertVerified::assertion()),
                other => other,
            },
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> std::result::Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}
