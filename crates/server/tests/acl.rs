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
