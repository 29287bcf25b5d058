//! `proc-title-template`: the process title `ps` shows, as Redis 7.0 sets it — the template's
//! `{title}` (the program as it was started), `{listen-addr}` (first bind address and port),
//! `{server-mode}`, `{config-file}`, `{port}`, `{tls-port}`, `{unixsocket}` expanded, `{{` for
//! a brace (a `}` outside a variable is itself, as in Redis's `sdstemplate`), spaces at both
//! ends trimmed.
//!
//! Like the C `setproctitle`, the title is written over the process's own argument strings
//! (the memory `/proc/self/cmdline` reads, found from `/proc/self/stat`), NUL-padded, so it
//! can be as long as the command line the server was started with.

use crate::config::Config;

/// Expand `template`; `None` when it is malformed or names an unknown variable.
pub fn expand(template: &str, title: &str, config: &Config) -> Option<String> {
    let mut out = String::new();
    let mut rest = template;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i + 1..];
        if tail.is_empty() {
            return None;
        }
        if let Some(after) = tail.strip_prefix('{') {
            out.push('{');
            rest = after;
            continue;
        }
        let end = tail.find('}')?;
        out.push_str(&variable(&tail[..end], title, config)?);
        rest = &tail[end + 1..];
    }
    out.push_str(rest);
    Some(out.trim_matches(' ').to_string())
}

fn variable(name: &str, title: &str, config: &Config) -> Option<String> {
    let port = config.get("port");
    Some(match name {
        "title" => title.to_string(),
        "listen-addr" => {
            if port != "0" {
                let first = config.get("bind").split_whitespace().next().unwrap_or("*");
                format!("{}:{port}", first.trim_start_matches('-'))
            } else {
                format!("unixsocket:{}", config.get("unixsocket"))
            }
        }
        "server-mode" => String::new(),
        "config-file" => config
            .file
            .as_ref()
            .map_or_else(|| "-".to_string(), |f| f.display().to_string()),
        "port" => port.to_string(),
        "tls-port" => config.get("tls-port").to_string(),
        "unixsocket" => config.get("unixsocket").to_string(),
        _ => return None,
    })
}

/// Redis's check: the template expands, to something not empty.
pub fn valid(template: &str, config: &Config) -> bool {
    expand(template, "", config).is_some_and(|t| !t.is_empty())
}

/// The program name as started (argv[0]), read once before the title replaces it.
fn program() -> &'static str {
    static PROGRAM: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PROGRAM.get_or_init(|| {
        std::env::args()
            .next()
            .unwrap_or_else(|| "basalt-server".into())
    })
}

/// Set the title from the configuration (at start and when CONFIG SET changes it).
pub fn apply(config: &Config) {
    let Some(title) = expand(config.get("proc-title-template"), program(), config) else {
        return;
    };
    if let Err(e) = write_cmdline(&title) {
        crate::log_verbose!("Could not set the process title: {e}");
    }
}

/// Overwrite the argument area with `title` (cut to fit) and NULs.
fn write_cmdline(title: &str) -> std::io::Result<()> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start after its ')'.
    let after = stat.rsplit_once(')').map_or("", |(_, a)| a);
    let fields: Vec<&str> = after.split_whitespace().collect();
    // arg_start and arg_end are fields 48 and 49 of stat; `fields` starts at field 3.
    let parse = |i: usize| fields.get(i - 3).and_then(|v| v.parse::<usize>().ok());
    let (Some(start), Some(end)) = (parse(48), parse(49)) else {
        return Err(std::io::Error::other("no argument area in /proc/self/stat"));
    };
    if start == 0 || end <= start || end - start > 1 << 20 {
        return Err(std::io::Error::other("unexpected argument area"));
    }
    let len = end - start;
    let mut bytes = vec![0u8; len];
    let n = title.len().min(len - 1);
    bytes[..n].copy_from_slice(&title.as_bytes()[..n]);
    // SAFETY: [start, end) is this process's own argument area, as the kernel reports it: mapped
    // and writable (it lies in the initial stack), and nothing else points into it but the
    // argv strings, which the title replaces — what C's setproctitle does. The bytes are
    // written with a volatile copy so the stores are not elided.
    unsafe {
        let dst = start as *mut u8;
        for (i, b) in bytes.iter().enumerate() {
            std::ptr::write_volatile(dst.add(i), *b);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_like_sdstemplate() {
        let config = Config::default();
        let t = expand("{title} {listen-addr} {server-mode}", "basalt", &config).unwrap();
        assert!(t.starts_with("basalt ") && t.ends_with(":6379"), "{t}");
        assert_eq!(
            expand("{{x}} {port}", "", &config).as_deref(),
            Some("{x}} 6379")
        );
        assert_eq!(expand("{nosuch}", "", &config), None);
        assert_eq!(expand("{title", "", &config), None);
        assert_eq!(expand("a}b", "", &config).as_deref(), Some("a}b"));
        assert!(!valid("{server-mode}", &config));
    }
}
