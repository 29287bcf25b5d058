//! ACL with a password (issue 13, section 2, as far as it is built): failed authentications
//! go to ACL LOG, counted together within a minute; the default user shows its password as a
//! SHA-256 in ACL LIST and GETUSER. Compared with redis-server.

mod common;

use common::ServerProc;

fn text(r: &[u8]) -> String {
    String::from_utf8_lossy(r).into_owned()
}

/// ACL LOG's entries without their times and client details (addresses differ).
fn transcript(s: &ServerProc) -> Vec<String> {
    let mut seen = Vec::new();
    let mut setup = s.conn();
    seen.push(text(&setup.cmd_str(&[
        "CONFIG",
        "SET",
        "requirepass",
        "secret",
    ])));
    let mut anon = s.conn();
    seen.push(text(&anon.cmd_str(&["AUTH", "wrong"])));
    seen.push(text(&anon.cmd_str(&["AUTH", "nobody", "wrong"])));
    seen.push(text(&anon.cmd_str(&["AUTH", "nobody", "again"])));
    seen.push(text(&anon.cmd_str(&["ACL", "WHOAMI"])));
    let mut admin = s.conn();
    seen.push(text(&admin.cmd_str(&["AUTH", "secret"])));
    seen.push(text(&admin.cmd_str(&["ACL", "LIST"])));
    seen.push(text(&admin.cmd_str(&["ACL", "GETUSER", "default"])));
    let log = admin.cmd_str(&["ACL", "LOG"]);
    for entry in common::elements(&log).expect("entries") {
        let fields = common::elements(&entry).expect("an entry");
        let mut kept = Vec::new();
        for pair in fields.chunks(2) {
            let name = text(&pair[0]);
            if name.contains("age-seconds") || name.contains("client-info") {
                // Present, with the client's own command.
                if name.contains("client-info") {
                    kept.push(format!("cmd=auth: {}", text(&pair[1]).contains("cmd=auth")));
                }
                continue;
            }
            kept.push(format!("{} {}", name.trim(), text(&pair[1]).trim()));
        }
        seen.push(kept.join(" | "));
    }
    seen.push(
        text(&admin.cmd_str(&["ACL", "LOG", "1"]))
            .lines()
            .count()
            .to_string(),
    );
    seen.push(text(&admin.cmd_str(&["ACL", "LOG", "RESET"])));
    seen.push(text(&admin.cmd_str(&["ACL", "LOG"])));
    seen
}

#[test]
fn failed_authentications_are_logged_as_redis_logs_them() {
    let basalt = common::basalt(&[]);
    let ours = transcript(&basalt);
    assert!(
        ours.iter()
            .any(|l| l.contains("username") && l.contains("nobody")),
        "{ours:?}"
    );
    if let Some(redis) = common::redis() {
        assert_eq!(ours, transcript(&redis));
    }
}

/// A bulk string's or integer's text, without its RESP framing.
fn scalar(frame: &[u8]) -> String {
    let t = text(frame);
    let body = match t.find("\r\n") {
        Some(at) if t.starts_with('$') => &t[at + 2..],
        _ => &t[1..],
    };
    body.trim_end_matches("\r\n").to_string()
}

/// ACL LOG entries as `reason context object username`, and whether the client info names
/// the refused command (times and addresses differ between servers).
fn log_entries(c: &mut common::Conn) -> Vec<String> {
    let log = c.cmd_str(&["ACL", "LOG"]);
    let mut seen = Vec::new();
    for entry in common::elements(&log).expect("entries") {
        let fields = common::elements(&entry).expect("an entry");
        let mut kept = Vec::new();
        for pair in fields.chunks(2) {
            let (name, value) = (scalar(&pair[0]), scalar(&pair[1]));
            match name.as_str() {
                "age-seconds" => {}
                "client-info" => {
                    let cmd = value
                        .split(' ')
                        .find(|f| f.starts_with("cmd="))
                        .map(str::to_string);
                    let user = value
                        .split(' ')
                        .find(|f| f.starts_with("user="))
                        .map(str::to_string);
                    kept.push(format!("{cmd:?} {user:?}"));
                }
                n => kept.push(format!("{n} {value}")),
            }
        }
        seen.push(kept.join(" | "));
    }
    seen
}

/// Refused commands, keys and channels, at top level, in MULTI and in scripts.
fn denials(s: &ServerProc) -> Vec<String> {
    let mut admin = s.conn();
    let mut seen = Vec::new();
    admin.cmd_str(&["ACL", "LOG", "RESET"]);
    admin.cmd_str(&[
        "ACL",
        "SETUSER",
        "w",
        "on",
        ">pw",
        "~k*",
        "&ch*",
        "+@all",
        "-flushall",
    ]);
    let mut w = s.conn();
    seen.push(text(&w.cmd_str(&["AUTH", "w", "pw"])));
    seen.push(text(&w.cmd_str(&["FLUSHALL"])));
    seen.push(text(&w.cmd_str(&["GET", "other"])));
    seen.push(text(&w.cmd_str(&["PUBLISH", "news", "m"])));
    seen.push(text(&w.cmd_str(&["GET", "other"])));
    seen.push(text(&w.cmd_str(&["MULTI"])));
    seen.push(text(&w.cmd_str(&["SET", "other", "v"])));
    seen.push(text(&w.cmd_str(&["DISCARD"])));
    seen.push(text(&w.cmd_str(&[
        "EVAL",
        "return redis.pcall('get', 'other')",
        "0",
    ])));
    // HELLO's AUTH picks the user too (its reply's id differs between servers).
    let mut h = s.conn();
    let hello = h.cmd_str(&["HELLO", "3", "AUTH", "w", "pw", "SETNAME", "x"]);
    seen.push(format!("hello is a map: {}", hello.starts_with(b"%7")));
    seen.push(text(&h.cmd_str(&["ACL", "WHOAMI"])));
    seen.extend(log_entries(&mut admin));
    admin.cmd_str(&["ACL", "DELUSER", "w"]);
    seen
}

#[test]
fn refusals_are_logged_as_redis_logs_them() {
    let basalt = common::basalt(&[]);
    let ours = denials(&basalt);
    assert!(ours.iter().any(|l| l.contains("reason key")), "{ours:?}");
    if let Some(redis) = common::redis() {
        assert_eq!(ours, denials(&redis));
    }
}

/// A connection to `port` from another loopback address (a client that is not 127.0.0.1).
fn connect_from(source: &str, port: u16) -> std::net::TcpStream {
    let sock =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    let from: std::net::SocketAddr = format!("{source}:0").parse().expect("address");
    sock.bind(&from.into()).expect("bind the source address");
    let to: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
    sock.connect(&to.into()).expect("connect");
    let s: std::net::TcpStream = sock.into();
    s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    s
}

fn read_all(mut s: std::net::TcpStream) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}

/// Protected mode as a remote client sees it: refused with Redis's DENIED text while the
/// default user has no password; let in (to AUTH) once it has one.
fn protected(s: &ServerProc) -> Vec<Vec<u8>> {
    let mut seen = vec![read_all(connect_from("127.0.0.2", s.port))];
    let mut local = s.conn();
    local.cmd_str(&["CONFIG", "SET", "requirepass", "pw"]);
    let mut remote = connect_from("127.0.0.2", s.port);
    use std::io::Write;
    remote
        .write_all(b"PING\r\nAUTH pw\r\nPING\r\n")
        .expect("write");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = remote.shutdown(std::net::Shutdown::Write);
    seen.push(read_all(remote));
    local.cmd_str(&["AUTH", "pw"]);
    local.cmd_str(&["CONFIG", "SET", "protected-mode", "no"]);
    local.cmd_str(&["CONFIG", "SET", "requirepass", ""]);
    let mut remote = connect_from("127.0.0.2", s.port);
    remote.write_all(b"PING\r\n").expect("write");
    std::thread::sleep(std::time::Duration::from_millis(200));
    let _ = remote.shutdown(std::net::Shutdown::Write);
    seen.push(read_all(remote));
    seen
}

#[test]
fn protected_mode_refuses_other_addresses_as_redis_does() {
    let basalt = common::basalt(&["--protected-mode", "yes"]);
    let ours = protected(&basalt);
    assert!(
        ours[0].starts_with(b"-DENIED"),
        "{}",
        common::show(&ours[0])
    );
    if let Some(redis) = common::redis() {
        drop(redis);
        let redis = common::redis_with(&["--protected-mode", "yes"]);
        assert_eq!(ours, protected(&redis));
    }
}

/// Users in an ACL file: loaded at start, saved, reloaded all or nothing; a reload closes
/// the connections of every user but `default`.
fn acl_file(s: &ServerProc, path: &std::path::Path) -> Vec<String> {
    let mut seen = Vec::new();
    let mut admin = s.conn();
    seen.push(text(&admin.cmd_str(&["ACL", "LIST"])));
    let mut u = s.conn();
    seen.push(text(&u.cmd_str(&["AUTH", "reader", "pw"])));
    seen.push(text(&u.cmd_str(&["GET", "r:1"])));
    seen.push(text(&admin.cmd_str(&[
        "ACL", "SETUSER", "writer", "on", "nopass", "~w:*", "+set",
    ])));
    seen.push(text(&admin.cmd_str(&["ACL", "SAVE"])));
    seen.push(std::fs::read_to_string(path).expect("the saved file"));
    std::fs::write(
        path,
        "user reader on >pw ~r:* +get\nbogus line\nuser x +nosuch\n",
    )
    .expect("write");
    seen.push(text(&admin.cmd_str(&["ACL", "LOAD"])));
    seen.push(text(&admin.cmd_str(&["ACL", "USERS"])));
    std::fs::write(path, "user reader on >pw2 ~r:* +get\n").expect("write");
    seen.push(text(&admin.cmd_str(&["ACL", "LOAD"])));
    seen.push(text(&admin.cmd_str(&["ACL", "LIST"])));
    seen.push(format!(
        "reader's old connection closed: {}",
        u.try_cmd(&[b"PING"]).is_none()
    ));
    seen.push(text(&admin.cmd_str(&["PING"])));
    seen
}

#[test]
fn acl_file_loads_saves_and_reloads_as_redis_does() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("users.acl");
    let initial = "user default on nopass ~* &* +@all\nuser reader on #5e884898da28047151d0e56f8dc6292773603d0d6aabbdd62a11ef721d1542d8 >pw ~r:* +get\n";
    let p = path.to_str().expect("utf-8 path");
    std::fs::write(&path, initial).expect("write");
    let basalt = common::basalt(&["--aclfile", p]);
    let ours = acl_file(&basalt, &path);
    assert!(ours[0].contains("user reader on"), "{ours:?}");
    drop(basalt);
    if common::redis().is_some() {
        std::fs::write(&path, initial).expect("write");
        let redis = common::redis_with(&["--aclfile", p]);
        assert_eq!(ours, acl_file(&redis, &path));
    }
}

/// `user` lines of a config file, and CONFIG REWRITE writing the users back.
fn config_users(s: &ServerProc, conf: &std::path::Path) -> Vec<String> {
    let mut seen = Vec::new();
    let mut admin = s.conn();
    seen.push(text(&admin.cmd_str(&["ACL", "LIST"])));
    let mut u = s.conn();
    seen.push(text(&u.cmd_str(&["AUTH", "alice", "pw"])));
    seen.push(text(&u.cmd_str(&["SET", "a:1", "v"])));
    seen.push(text(&u.cmd_str(&["SET", "b:1", "v"])));
    seen.push(text(
        &admin.cmd_str(&["ACL", "SETUSER", "bob", "on", "nopass", "&*"]),
    ));
    seen.push(text(&admin.cmd_str(&["ACL", "DELUSER", "carol"])));
    seen.push(text(&admin.cmd_str(&["CONFIG", "REWRITE"])));
    let users: Vec<String> = std::fs::read_to_string(conf)
        .expect("the rewritten file")
        .lines()
        .filter(|l| l.starts_with("user "))
        .map(str::to_string)
        .collect();
    seen.push(users.join("\n"));
    seen
}

#[test]
fn user_lines_in_the_config_file_as_redis_reads_and_rewrites_them() {
    let dir = tempfile::tempdir().expect("dir");
    let conf = dir.path().join("users.conf");
    let text_conf = "user alice on >pw ~a:* +@string\nuser carol off\n";
    std::fs::write(&conf, text_conf).expect("write");
    let p = conf.to_str().expect("utf-8 path");
    let basalt = common::spawn_with_config(&common::basalt_bin(), "basalt", p);
    let ours = config_users(&basalt, &conf);
    assert!(ours[0].contains("user alice on"), "{ours:?}");
    drop(basalt);
    if common::redis().is_some() {
        std::fs::write(&conf, text_conf).expect("write");
        let redis = common::spawn_with_config(std::path::Path::new("redis-server"), "redis", p);
        assert_eq!(ours, config_users(&redis, &conf));
    }
}

#[test]
fn users_in_the_config_and_an_acl_file_are_refused_at_start() {
    let dir = tempfile::tempdir().expect("dir");
    let acl = dir.path().join("users.acl");
    std::fs::write(&acl, "user a on\n").expect("write");
    for bin in [
        common::basalt_bin(),
        std::path::PathBuf::from("redis-server"),
    ] {
        if bin.ends_with("redis-server") && common::redis().is_none() {
            continue;
        }
        let out = std::process::Command::new(&bin)
            .current_dir(dir.path())
            .args(["--port", &common::free_port().to_string()])
            .args(["--aclfile", acl.to_str().expect("path")])
            .args(["--user", "b", "on"])
            .output()
            .expect("run the server");
        assert!(!out.status.success(), "{bin:?} started");
        let log = String::from_utf8_lossy(&out.stdout);
        assert!(
            log.contains("define either an ACL file or declare users directly in your redis.conf"),
            "{bin:?}: {log}"
        );
    }
}
