//! `tls-port`: TLS connections (rustls, through the `basalt-tls` crate), served by the same
//! connection loop as plain ones once the handshake is done on the connection's I/O thread.
//!
//! The acceptor is built at start from the `tls-*` settings and rebuilt when CONFIG SET
//! changes one (a setting that does not build is refused and rolled back, as Redis's
//! `applyTlsCfg`); connections already open keep the configuration they started with.

use std::sync::Arc;
use std::time::Duration;

use parking_lot::RwLock;

use crate::config::Config;

/// How long a new connection may take to finish its TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// The current TLS acceptor (none while `tls-port` is 0).
#[derive(Default)]
pub struct Tls {
    acceptor: RwLock<Option<::tls::TlsAcceptor>>,
}

/// The `tls-*` settings of `config`.
pub fn settings(config: &Config) -> ::tls::Settings {
    let text = |name: &str| config.get(name).to_string();
    ::tls::Settings {
        cert_file: text("tls-cert-file"),
        key_file: text("tls-key-file"),
        key_file_pass: text("tls-key-file-pass"),
        ca_cert_file: text("tls-ca-cert-file"),
        ca_cert_dir: text("tls-ca-cert-dir"),
        dh_params_file: text("tls-dh-params-file"),
        auth_clients: match config.get("tls-auth-clients") {
            "no" => ::tls::AuthClients::No,
            "optional" => ::tls::AuthClients::Optional,
            _ => ::tls::AuthClients::Yes,
        },
        protocols: text("tls-protocols"),
        ciphers: text("tls-ciphers"),
        ciphersuites: text("tls-ciphersuites"),
        prefer_server_ciphers: config.get_bool("tls-prefer-server-ciphers"),
        session_caching: config.get_bool("tls-session-caching"),
        session_cache_size: config.get_i64("tls-session-cache-size").max(0) as usize,
        needs_ca: config.get_bool("tls-replication") || config.get_bool("tls-cluster"),
    }
}

impl Tls {
    /// (Re)build the acceptor when `tls-port` is set; the error is what Redis logs.
    pub fn configure(&self, config: &Config) -> Result<(), ::tls::Error> {
        if config.get_i64("tls-port") == 0 {
            return Ok(());
        }
        let server_config = ::tls::server_config(&settings(config))?;
        *self.acceptor.write() = Some(::tls::TlsAcceptor::from(server_config));
        Ok(())
    }

    pub fn acceptor(&self) -> Option<::tls::TlsAcceptor> {
        self.acceptor.read().clone()
    }
}

/// Finish the handshake of a connection accepted on `tls-port`, then serve it.
pub async fn serve(
    srv: Arc<crate::server::Server>,
    stream: tokio::net::TcpStream,
    shared: Arc<crate::client::ClientShared>,
    stats: Arc<crate::stats::ThreadStats>,
) {
    let Some(acceptor) = srv.tls.acceptor() else {
        srv.clients.unregister(shared.id);
        return;
    };
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls_stream)) => crate::conn::serve(srv, tls_stream, shared, stats).await,
        Ok(Err(e)) => {
            crate::log_verbose!(
                "Error accepting a client connection: {e} (addr={})",
                shared.addr
            );
            srv.clients.unregister(shared.id);
        }
        Err(_) => srv.clients.unregister(shared.id),
    }
}
