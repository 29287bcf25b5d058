//! Basalt's TLS: Redis's `tls-*` settings turned into a rustls server configuration, so
//! `tls-port` serves TLS with no OpenSSL build.
//!
//! What maps how (and where rustls differs from Redis's OpenSSL):
//! - `tls-cert-file`, `tls-key-file` (PEM: PKCS#8, PKCS#1 or SEC1 keys; with
//!   `tls-key-file-pass`, an encrypted PKCS#8 key), `tls-ca-cert-file` and
//!   `tls-ca-cert-dir` (every PEM certificate found in the directory).
//! - `tls-auth-clients yes|no|optional`: client certificates required, not asked for, or
//!   asked for and checked when given.
//! - `tls-protocols`: Redis's names; rustls speaks TLSv1.2 and TLSv1.3 only, so `TLSv1` and
//!   `TLSv1.1` enable nothing (a list of only those is an error).
//! - `tls-ciphers` (TLSv1.2, OpenSSL names and the keywords `DEFAULT`, `ALL`, `HIGH`,
//!   `ECDHE`, `AESGCM`, `AES128`, `AES256`, `CHACHA20`, with `!`/`-` to remove) and
//!   `tls-ciphersuites` (TLSv1.3 names): unknown names are skipped as OpenSSL skips them;
//!   a list that leaves no suite is an error, as in Redis.
//! - `tls-prefer-server-ciphers`, `tls-session-caching` and `tls-session-cache-size`;
//!   rustls's session cache has no lifetime of its own, so `tls-session-cache-timeout` only
//!   bounds nothing (sessions leave the cache by size).
//! - `tls-dh-params-file` is read and checked, and unused: rustls offers no finite-field DH
//!   suites, only ECDHE.

use std::sync::Arc;

use rustls::crypto::ring as provider;
use rustls::server::{NoServerSessionStorage, ServerSessionMemoryCache, WebPkiClientVerifier};
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub use tokio_rustls::server::TlsStream;
pub use tokio_rustls::TlsAcceptor;

/// `tls-auth-clients`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthClients {
    No,
    Yes,
    Optional,
}

/// The `tls-*` settings, as redis.conf has them.
#[derive(Debug, Clone)]
pub struct Settings {
    pub cert_file: String,
    pub key_file: String,
    pub key_file_pass: String,
    pub ca_cert_file: String,
    pub ca_cert_dir: String,
    pub dh_params_file: String,
    pub auth_clients: AuthClients,
    pub protocols: String,
    pub ciphers: String,
    pub ciphersuites: String,
    pub prefer_server_ciphers: bool,
    pub session_caching: bool,
    pub session_cache_size: usize,
    /// `tls-replication` or `tls-cluster`: they need a CA as client authentication does.
    pub needs_ca: bool,
}

/// Why TLS could not be configured; the texts are what Redis logs.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("No tls-cert-file configured!")]
    NoCert,
    #[error("No tls-key-file configured!")]
    NoKey,
    #[error("Either tls-ca-cert-file or tls-ca-cert-dir must be specified when tls-cluster, tls-replication or tls-auth-clients are enabled!")]
    NoCa,
    #[error("Invalid tls-protocols specified. Use a combination of 'TLSv1', 'TLSv1.1', 'TLSv1.2' and 'TLSv1.3'.")]
    Protocols,
    #[error("None of the tls-protocols is available: Basalt speaks TLSv1.2 and TLSv1.3.")]
    NoProtocol,
    #[error("Failed to load certificate: {0}: {1}")]
    Cert(String, String),
    #[error("Failed to load private key: {0}: {1}")]
    Key(String, String),
    #[error("Failed to configure CA certificate(s) file/directory: {0}")]
    Ca(String),
    #[error("Failed to configure ciphers: {0}")]
    Ciphers(String),
    #[error("Failed to configure ciphersuites: {0}")]
    Ciphersuites(String),
    #[error("Failed to load {0}: {1}")]
    DhParams(String, String),
    #[error("Failed to configure TLS: {0}")]
    Rustls(String),
}

/// Build the server configuration for `tls-port`.
pub fn server_config(s: &Settings) -> Result<Arc<ServerConfig>, Error> {
    if s.cert_file.is_empty() {
        return Err(Error::NoCert);
    }
    if s.key_file.is_empty() {
        return Err(Error::NoKey);
    }
    let has_ca = !s.ca_cert_file.is_empty() || !s.ca_cert_dir.is_empty();
    if (s.auth_clients != AuthClients::No || s.needs_ca) && !has_ca {
        return Err(Error::NoCa);
    }
    let versions = protocols(&s.protocols)?;
    let mut suites = tls12_suites(&s.ciphers)?;
    suites.extend(tls13_suites(&s.ciphersuites)?);
    if !s.dh_params_file.is_empty() {
        std::fs::read(&s.dh_params_file)
            .map_err(|e| Error::DhParams(s.dh_params_file.clone(), os_error(&e)))?;
    }
    let certs = load_certs(&s.cert_file).map_err(|e| Error::Cert(s.cert_file.clone(), e))?;
    let key =
        load_key(&s.key_file, &s.key_file_pass).map_err(|e| Error::Key(s.key_file.clone(), e))?;
    let provider = Arc::new(rustls::crypto::CryptoProvider {
        cipher_suites: suites,
        ..provider::default_provider()
    });
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| Error::Rustls(e.to_string()))?;
    let builder = if s.auth_clients == AuthClients::No {
        builder.with_no_client_auth()
    } else {
        let roots = Arc::new(load_roots(&s.ca_cert_file, &s.ca_cert_dir).map_err(Error::Ca)?);
        let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider);
        let verifier = if s.auth_clients == AuthClients::Optional {
            verifier.allow_unauthenticated()
        } else {
            verifier
        };
        builder.with_client_cert_verifier(verifier.build().map_err(|e| Error::Ca(e.to_string()))?)
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|e| Error::Key(s.key_file.clone(), e.to_string()))?;
    config.ignore_client_order = s.prefer_server_ciphers;
    if s.session_caching && s.session_cache_size > 0 {
        config.session_storage = ServerSessionMemoryCache::new(s.session_cache_size);
    } else {
        config.session_storage = Arc::new(NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    Ok(Arc::new(config))
}

/// `tls-protocols`: Redis's names, any case, separated by spaces; empty means both.
fn protocols(list: &str) -> Result<Vec<&'static rustls::SupportedProtocolVersion>, Error> {
    if list.trim().is_empty() {
        return Ok(vec![&rustls::version::TLS12, &rustls::version::TLS13]);
    }
    let mut versions = Vec::new();
    for token in list.split(' ').filter(|t| !t.is_empty()) {
        match token.to_ascii_lowercase().as_str() {
            "tlsv1" | "tlsv1.1" => {}
            "tlsv1.2" => versions.push(&rustls::version::TLS12),
            "tlsv1.3" => versions.push(&rustls::version::TLS13),
            _ => return Err(Error::Protocols),
        }
    }
    if versions.is_empty() {
        return Err(Error::NoProtocol);
    }
    Ok(versions)
}

/// OpenSSL's name of each TLSv1.2 suite rustls has, with the keywords that select it.
fn tls12_names() -> Vec<(&'static str, SupportedCipherSuite, &'static [&'static str])> {
    use provider::cipher_suite as cs;
    vec![
        (
            "ECDHE-ECDSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            &["ECDHE", "AESGCM", "AES256"],
        ),
        (
            "ECDHE-ECDSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            &["ECDHE", "AESGCM", "AES128"],
        ),
        (
            "ECDHE-ECDSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            &["ECDHE", "CHACHA20"],
        ),
        (
            "ECDHE-RSA-AES256-GCM-SHA384",
            cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
            &["ECDHE", "AESGCM", "AES256"],
        ),
        (
            "ECDHE-RSA-AES128-GCM-SHA256",
            cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            &["ECDHE", "AESGCM", "AES128"],
        ),
        (
            "ECDHE-RSA-CHACHA20-POLY1305",
            cs::TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
            &["ECDHE", "CHACHA20"],
        ),
    ]
}

/// `tls-ciphers`: an OpenSSL cipher list for TLSv1.2 (`:`, `,` or spaces between items).
fn tls12_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, Error> {
    let all = tls12_names();
    if list.trim().is_empty() {
        return Ok(all.into_iter().map(|(_, s, _)| s).collect());
    }
    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    for token in list.split([':', ',', ' ']).filter(|t| !t.is_empty()) {
        let (remove, name) = match token.strip_prefix(['!', '-']) {
            Some(rest) => (true, rest),
            None => (false, token.strip_prefix('+').unwrap_or(token)),
        };
        let name = name.to_ascii_uppercase();
        let selects = |(n, _, keys): &&(&str, SupportedCipherSuite, &[&str])| {
            *n == name
                || keys.contains(&name.as_str())
                || matches!(
                    name.as_str(),
                    "DEFAULT" | "ALL" | "HIGH" | "COMPLEMENTOFDEFAULT"
                )
        };
        for (_, suite, _) in all.iter().filter(selects) {
            if remove {
                chosen.retain(|s| s.suite() != suite.suite());
            } else if !chosen.iter().any(|s| s.suite() == suite.suite()) {
                chosen.push(*suite);
            }
        }
    }
    if chosen.is_empty() {
        return Err(Error::Ciphers(list.to_string()));
    }
    Ok(chosen)
}

/// `tls-ciphersuites`: TLSv1.3 suite names separated by `:`.
fn tls13_suites(list: &str) -> Result<Vec<SupportedCipherSuite>, Error> {
    use provider::cipher_suite as cs;
    let all = [
        ("TLS_AES_256_GCM_SHA384", cs::TLS13_AES_256_GCM_SHA384),
        ("TLS_AES_128_GCM_SHA256", cs::TLS13_AES_128_GCM_SHA256),
        (
            "TLS_CHACHA20_POLY1305_SHA256",
            cs::TLS13_CHACHA20_POLY1305_SHA256,
        ),
    ];
    if list.trim().is_empty() {
        return Ok(all.iter().map(|(_, s)| *s).collect());
    }
    let chosen: Vec<SupportedCipherSuite> = list
        .split(':')
        .filter_map(|name| all.iter().find(|(n, _)| *n == name.trim()).map(|(_, s)| *s))
        .collect();
    if chosen.is_empty() {
        return Err(Error::Ciphersuites(list.to_string()));
    }
    Ok(chosen)
}

fn load_certs(path: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .map_err(|e| e.to_string())?
        .collect::<Result<_, _>>()
        .map_err(|e| e.to_string())?;
    if certs.is_empty() {
        return Err("no certificate found".into());
    }
    Ok(certs)
}

/// The private key: a plain PEM key, or with a passphrase an encrypted PKCS#8 one.
fn load_key(path: &str, pass: &str) -> Result<PrivateKeyDer<'static>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| os_error(&e))?;
    if text.contains("-----BEGIN ENCRYPTED PRIVATE KEY-----") {
        if pass.is_empty() {
            return Err("the key is encrypted and tls-key-file-pass is not set".into());
        }
        use pkcs8::der::pem::PemLabel;
        let (label, der) =
            pkcs8::der::pem::decode_vec(text.trim().as_bytes()).map_err(|e| e.to_string())?;
        if label != pkcs8::EncryptedPrivateKeyInfo::PEM_LABEL {
            return Err(format!("unexpected PEM label {label}"));
        }
        let info =
            pkcs8::EncryptedPrivateKeyInfo::try_from(der.as_slice()).map_err(|e| e.to_string())?;
        let doc = info
            .decrypt(pass.as_bytes())
            .map_err(|_| "bad decrypt (wrong tls-key-file-pass?)".to_string())?;
        return Ok(PrivatePkcs8KeyDer::from(doc.as_bytes().to_vec()).into());
    }
    PrivateKeyDer::from_pem_slice(text.as_bytes()).map_err(|e| e.to_string())
}

/// The CA certificates that check clients: a PEM file, and every PEM certificate of a
/// directory (OpenSSL reads hashed names there; reading every file finds the same ones).
fn load_roots(file: &str, dir: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let mut add = |path: &str| -> Result<(), String> {
        for cert in load_certs(path)? {
            roots.add(cert).map_err(|e| format!("{path}: {e}"))?;
        }
        Ok(())
    };
    if !file.is_empty() {
        add(file)?;
    }
    if !dir.is_empty() {
        let entries = std::fs::read_dir(dir).map_err(|e| format!("{dir}: {}", os_error(&e)))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_file() {
                // Files that hold no certificate (CRLs, notes) are passed over, as OpenSSL
                // looks only for the certificates it needs.
                let _ = add(&path.to_string_lossy());
            }
        }
    }
    if roots.is_empty() {
        return Err("no CA certificate found".into());
    }
    Ok(roots)
}

/// An I/O error as C's `strerror` words it.
fn os_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(at) => text[..at].to_string(),
        None => text,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protocol_lists() {
        assert_eq!(protocols("").unwrap().len(), 2);
        assert_eq!(protocols("TLSv1.2").unwrap().len(), 1);
        assert_eq!(protocols("tlsv1.2 TLSv1.3").unwrap().len(), 2);
        assert!(matches!(protocols("TLSv1 TLSv1.1"), Err(Error::NoProtocol)));
        assert!(matches!(protocols("SSLv3"), Err(Error::Protocols)));
    }

    #[test]
    fn cipher_lists() {
        assert_eq!(tls12_suites("").unwrap().len(), 6);
        assert_eq!(
            tls12_suites("ECDHE-RSA-AES256-GCM-SHA384").unwrap().len(),
            1
        );
        assert_eq!(tls12_suites("HIGH:!CHACHA20").unwrap().len(), 4);
        assert_eq!(tls12_suites("DEFAULT:!aNULL:AES128").unwrap().len(), 6);
        assert!(tls12_suites("RC4-MD5").is_err());
        assert_eq!(tls13_suites("TLS_AES_128_GCM_SHA256").unwrap().len(), 1);
        assert!(tls13_suites("TLS_AES_128_CCM_SHA256").is_err());
    }

    fn settings(dir: &std::path::Path) -> Settings {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["localhost".into()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        std::fs::write(dir.join("c.pem"), cert.pem()).unwrap();
        std::fs::write(dir.join("k.pem"), key.serialize_pem()).unwrap();
        Settings {
            cert_file: dir.join("c.pem").to_string_lossy().into(),
            key_file: dir.join("k.pem").to_string_lossy().into(),
            key_file_pass: String::new(),
            ca_cert_file: dir.join("c.pem").to_string_lossy().into(),
            ca_cert_dir: String::new(),
            dh_params_file: String::new(),
            auth_clients: AuthClients::Yes,
            protocols: String::new(),
            ciphers: String::new(),
            ciphersuites: String::new(),
            prefer_server_ciphers: false,
            session_caching: true,
            session_cache_size: 20480,
            needs_ca: false,
        }
    }

    #[test]
    fn configurations_and_their_errors() {
        let dir = tempfile::tempdir().unwrap();
        let s = settings(dir.path());
        server_config(&s).unwrap();
        let no_ca = Settings {
            ca_cert_file: String::new(),
            ..s.clone()
        };
        assert!(matches!(server_config(&no_ca), Err(Error::NoCa)));
        let open = Settings {
            auth_clients: AuthClients::No,
            ..no_ca
        };
        server_config(&open).unwrap();
        let missing = Settings {
            cert_file: "/nonexistent.pem".into(),
            ..s.clone()
        };
        assert!(matches!(server_config(&missing), Err(Error::Cert(..))));
        let no_key = Settings {
            key_file: String::new(),
            ..s
        };
        assert!(matches!(server_config(&no_key), Err(Error::NoKey)));
    }
}
