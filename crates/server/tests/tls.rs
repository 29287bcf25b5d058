//! TLS on `tls-port` beside the plain port, checked with `redis-cli --tls` against
//! redis-server started with the same certificates (generated here with rcgen): client
//! certificates required, optional or not asked for, an encrypted key, CONFIG SET of the
//! settings (a bad one refused and rolled back) and the errors of a bad configuration.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::ServerProc;

/// A CA, a server certificate for 127.0.0.1/localhost, and a client certificate, as PEM
/// files in `dir`; the server key also encrypted (PKCS#8, AES-256-CBC) with `pw`.
struct Certs {
    dir: PathBuf,
}

impl Certs {
    fn new(dir: &Path) -> Certs {
        use rcgen::{BasicConstraints, CertificateParams, ExtendedKeyUsagePurpose, IsCa, KeyPair};
        let ca_key = KeyPair::generate().expect("CA key");
        let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(rcgen::DnType::CommonName, "Basalt test CA");
        let ca_cert = ca.self_signed(&ca_key).expect("CA");
        let issue = |names: Vec<String>, purpose: ExtendedKeyUsagePurpose, name: &str| {
            let key = KeyPair::generate().expect("key");
            let mut params = CertificateParams::new(names).expect("params");
            params.extended_key_usages = vec![purpose];
            let cert = params.signed_by(&key, &ca_cert, &ca_key).expect("sign");
            std::fs::write(dir.join(format!("{name}.crt")), cert.pem()).expect("write");
            std::fs::write(dir.join(format!("{name}.key")), key.serialize_pem()).expect("write");
            key
        };
        let server_key = issue(
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
            "server",
        );
        issue(
            vec!["client".into()],
            ExtendedKeyUsagePurpose::ClientAuth,
            "client",
        );
        std::fs::write(dir.join("ca.crt"), ca_cert.pem()).expect("write");
        // The server key, encrypted with a passphrase as `openssl pkcs8 -topk8 -v2 aes256`
        // would write it.
        let der = server_key.serialize_der();
        let info = pkcs8::PrivateKeyInfo::try_from(der.as_slice()).expect("PKCS#8");
        let params = pkcs8::pkcs5::pbes2::Parameters::pbkdf2_sha256_aes256cbc(
            2048,
            b"basalt-test-salt",
            &[7u8; 16],
        )
        .expect("parameters");
        let encrypted = info.encrypt_with_params(params, "pw").expect("encrypt");
        let pem = encrypted
            .to_pem("ENCRYPTED PRIVATE KEY", pkcs8::LineEnding::LF)
            .expect("PEM");
        std::fs::write(dir.join("server-enc.key"), pem.as_bytes()).expect("write");
        Certs {
            dir: dir.to_path_buf(),
        }
    }

    fn path(&self, name: &str) -> String {
        self.dir.join(name).to_string_lossy().into_owned()
    }

    /// The server's TLS options (plain port too, from the test harness).
    fn server_args(&self, tls_port: u16, encrypted_key: bool) -> Vec<String> {
        let mut args = vec![
            "--tls-port".to_string(),
            tls_port.to_string(),
            "--tls-cert-file".into(),
            self.path("server.crt"),
            "--tls-ca-cert-file".into(),
            self.path("ca.crt"),
            "--tls-key-file".into(),
        ];
        if encrypted_key {
            args.extend([
                self.path("server-enc.key"),
                "--tls-key-file-pass".into(),
                "pw".into(),
            ]);
        } else {
            args.push(self.path("server.key"));
        }
        args
    }
}

/// `redis-cli --tls` on `port`, with the client certificate or without; its output, or
/// `refused` when the connection failed.
fn cli(certs: &Certs, port: u16, with_cert: bool, args: &[&str]) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args([
        "-p",
        &port.to_string(),
        "--tls",
        "--cacert",
        &certs.path("ca.crt"),
    ]);
    if with_cert {
        cmd.args([
            "--cert",
            &certs.path("client.crt"),
            "--key",
            &certs.path("client.key"),
        ]);
    }
    let out = cmd.args(args).output().expect("run redis-cli");
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let err = String::from_utf8_lossy(&out.stderr);
    if text.is_empty() || text.starts_with("Error:") || err.contains("Could not connect") {
        "refused".into()
    } else {
        text
    }
}

fn session(s: &ServerProc, tls_port: u16, certs: &Certs) -> Vec<String> {
    let mut seen = Vec::new();
    let mut run = |with_cert: bool, args: &[&str]| seen.push(cli(certs, tls_port, with_cert, args));
    run(true, &["PING"]);
    run(true, &["SET", "k", "over tls"]);
    run(true, &["GET", "k"]);
    run(false, &["PING"]);
    run(true, &["CONFIG", "SET", "tls-auth-clients", "optional"]);
    run(false, &["GET", "k"]);
    run(true, &["GET", "k"]);
    run(true, &["CONFIG", "SET", "tls-auth-clients", "no"]);
    run(false, &["GET", "k"]);
    run(
        true,
        &["CONFIG", "SET", "tls-cert-file", "/nonexistent/cert.pem"],
    );
    run(true, &["CONFIG", "GET", "tls-cert-file"]);
    run(true, &["CONFIG", "SET", "tls-protocols", "TLSv1.2"]);
    run(true, &["PING"]);
    run(true, &["CONFIG", "SET", "tls-protocols", "SSLv2"]);
    run(true, &["CONFIG", "SET", "tls-port", "0"]);
    run(true, &["CONFIG", "GET", "tls-auth-clients"]);
    run(true, &["CONFIG", "GET", "tls-protocols"]);
    // The plain port serves the same data at once, and opens TLS again on another port.
    let mut plain = s.conn();
    seen.push(String::from_utf8_lossy(&plain.cmd_str(&["GET", "k"])).into_owned());
    let again = common::free_port();
    let set = plain.cmd_str(&["CONFIG", "SET", "tls-port", &again.to_string()]);
    seen.push(String::from_utf8_lossy(&set).into_owned());
    seen.push(cli(certs, again, true, &["GET", "k"]));
    seen
}

fn redis_cli_exists() -> bool {
    Command::new("redis-cli")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn tls_port_serves_as_redis_does() {
    if !redis_cli_exists() {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "redis-cli is needed"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let certs = Certs::new(dir.path());
    for encrypted in [false, true] {
        let port = common::free_port();
        let args = certs.server_args(port, encrypted);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let basalt = common::basalt(&args);
        let ours = session(&basalt, port, &certs);
        assert_eq!(ours[0], "PONG", "{ours:?}");
        assert_eq!(ours[3], "refused", "{ours:?}");
        drop(basalt);
        if common::redis().is_some() {
            let port = common::free_port();
            let args = certs.server_args(port, encrypted);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let redis = common::redis_with(&args);
            assert_eq!(
                ours,
                session(&redis, port, &certs),
                "encrypted key: {encrypted}"
            );
        }
    }
}

/// A configuration that cannot work stops the start with Redis's message in the log.
#[test]
fn bad_tls_settings_stop_the_start() {
    let dir = tempfile::tempdir().expect("dir");
    let certs = Certs::new(dir.path());
    let port = common::free_port().to_string();
    let tls_port = common::free_port().to_string();
    let cases: [(&[&str], &str); 4] = [
        (&["--tls-port", &tls_port], "No tls-cert-file configured!"),
        (
            &[
                "--tls-port",
                &tls_port,
                "--tls-cert-file",
                &certs.path("server.crt"),
            ],
            "No tls-key-file configured!",
        ),
        (
            &[
                "--tls-port",
                &tls_port,
                "--tls-cert-file",
                &certs.path("server.crt"),
                "--tls-key-file",
                &certs.path("server.key"),
            ],
            "Either tls-ca-cert-file or tls-ca-cert-dir must be specified",
        ),
        (
            &[
                "--tls-port",
                &tls_port,
                "--tls-cert-file",
                &certs.path("server.crt"),
                "--tls-key-file",
                &certs.path("server-enc.key"),
                "--tls-auth-clients",
                "no",
                "--tls-key-file-pass",
                "wrong",
            ],
            "Failed to load private key",
        ),
    ];
    for (args, message) in cases {
        let out = Command::new(common::basalt_bin())
            .current_dir(dir.path())
            .args(["--port", &port])
            .args(args)
            .output()
            .expect("run basalt");
        assert!(!out.status.success(), "{args:?} started");
        let log = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(log.contains(message), "{args:?}: {log}");
        assert!(log.contains("Failed to configure TLS"), "{log}");
    }
}

/// redis-py over TLS (what most Python applications use): a connection with the client
/// certificate, commands and a pipeline, and a refusal without a certificate when the server
/// asks for one. Skipped when Python has no `redis` module, except in CI (`.ci/run` installs
/// it).
fn redis_py_session(port: u16, certs: &Certs) -> String {
    let script = r#"
import sys, redis
port, ca, crt, key = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
r = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=ca,
                ssl_certfile=crt, ssl_keyfile=key, ssl_check_hostname=False)
out = [r.ping(), r.set("py", "tls"), r.get("py"), r.incr("n"), r.incr("n")]
p = r.pipeline(transaction=True)
p.set("a", 1).incr("a").get("a")
out.append(p.execute())
try:
    redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=ca,
                ssl_check_hostname=False, socket_timeout=5).ping()
    out.append("no-cert accepted")
except Exception:
    out.append("no-cert refused")
print(out)
"#;
    let out = Command::new("python3")
        .args(["-c", script, &port.to_string()])
        .args([
            certs.path("ca.crt"),
            certs.path("client.crt"),
            certs.path("client.key"),
        ])
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "redis-py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn redis_py_works_over_tls() {
    let has_module = Command::new("python3")
        .args(["-c", "import redis"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_module {
        assert!(
            std::env::var("BASALT_REQUIRE_REDIS").as_deref() != Ok("1"),
            "Python's redis module is needed (pip install redis)"
        );
        eprintln!("!!! no redis-py: SKIPPING");
        return;
    }
    let dir = tempfile::tempdir().expect("dir");
    let certs = Certs::new(dir.path());
    let port = common::free_port();
    let args = certs.server_args(port, false);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let basalt = common::basalt(&args);
    let ours = redis_py_session(port, &certs);
    assert_eq!(
        ours,
        "[True, True, b'tls', 1, 2, [True, 2, b'2'], 'no-cert refused']"
    );
    drop(basalt);
    if common::redis().is_some() {
        let port = common::free_port();
        let args = certs.server_args(port, false);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let _redis = common::redis_with(&args);
        assert_eq!(ours, redis_py_session(port, &certs));
    }
}
