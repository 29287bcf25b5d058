//! Configuration: redis.conf syntax, `--name value` command-line options, the live values behind
//! CONFIG GET/SET, and CONFIG REWRITE.
//!
//! As in Redis, command-line options are turned into config lines appended after the file, so
//! both share one parser and one set of error messages.

mod gated;
mod normalize;
pub mod params;
mod repl_params;
mod rewrite;

use std::path::{Path, PathBuf};

use params::{find, normalize, Kind, PARAMS};

/// The Redis version Basalt speaks for (clients gate features on it).
pub const REDIS_VERSION: &str = "7.0.15";

/// A start-up configuration error, printed like Redis's fatal config error.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("\n*** FATAL CONFIG FILE ERROR (Redis {REDIS_VERSION}) ***\nReading the configuration file, at line {line}\n>>> '{text}'\n{message}")]
    Directive {
        line: usize,
        text: String,
        message: String,
    },
    #[error("Fatal error, can't open config file '{path}': {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
}

/// Live configuration values (normalized text, one per entry of [`PARAMS`]).
#[derive(Debug, Clone)]
pub struct Config {
    values: Vec<String>,
    /// The config file the server was started with (for CONFIG REWRITE).
    pub file: Option<PathBuf>,
    /// Whether a `save` line was read yet: in a config file (and the command line, which
    /// continues it) the first `save` replaces the defaults and later ones add points, as in
    /// Redis; CONFIG SET replaces them all.
    save_points_read: bool,
    /// `user <name> <rules…>` lines, checked and with their selectors merged: the name, then
    /// the rules (loaded into the ACL at start, see `acl::file`).
    pub users: Vec<Vec<Vec<u8>>>,
    /// `rename-command old new` lines (an empty new name disables the command).
    pub renames: Vec<(String, String)>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            values: PARAMS.iter().map(|p| p.default.to_string()).collect(),
            file: None,
            save_points_read: false,
            users: Vec::new(),
            renames: Vec::new(),
        }
    }
}

/// What the command line asked for besides configuration.
#[derive(Debug)]
pub enum Startup {
    Run(Box<Config>),
    Version,
    Help,
}

impl Config {
    /// Parse the process arguments (without the program name), as `redis-server` does:
    /// `[/path/to/redis.conf | -] [--name value ...]`.
    pub fn from_args(args: &[String]) -> Result<Startup, ConfigError> {
        let mut text = String::new();
        let mut file = None;
        let mut rest = args;
        if let Some(first) = args.first() {
            match first.as_str() {
                "-v" | "--version" => return Ok(Startup::Version),
                "-h" | "--help" => return Ok(Startup::Help),
                "-" => {
                    let mut stdin = String::new();
                    std::io::Read::read_to_string(&mut std::io::stdin(), &mut stdin).map_err(
                        |source| ConfigError::Open {
                            path: "-".into(),
                            source,
                        },
                    )?;
                    text.push_str(&stdin);
                    rest = &args[1..];
                }
                path if !path.starts_with("--") => {
                    text = std::fs::read_to_string(path).map_err(|source| ConfigError::Open {
                        path: path.into(),
                        source,
                    })?;
                    file =
                        Some(std::fs::canonicalize(path).unwrap_or_else(|_| PathBuf::from(path)));
                    rest = &args[1..];
                }
                _ => {}
            }
        }
        text.push('\n');
        text.push_str(&options_to_lines(rest));
        let mut config = Config {
            file,
            ..Config::default()
        };
        config.apply_text(&text)?;
        Ok(Startup::Run(Box::new(config)))
    }

    /// Apply config-file text (several lines).
    pub fn apply_text(&mut self, text: &str) -> Result<(), ConfigError> {
        for (i, line) in text.split('\n').enumerate() {
            let trimmed = line.trim_matches(|c: char| c == ' ' || c == '\t' || c == '\r');
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            let fail = |message: String| ConfigError::Directive {
                line: i + 1,
                text: trimmed.to_string(),
                message,
            };
            let (mut bytes, mut ranges) = (Vec::new(), Vec::new());
            if resp::split_inline(trimmed.as_bytes(), &mut bytes, &mut ranges).is_err() {
                return Err(fail("Unbalanced quotes in configuration line".into()));
            }
            let words: Vec<String> = ranges
                .iter()
                .map(|&(a, b)| String::from_utf8_lossy(&bytes[a..b]).into_owned())
                .collect();
            let Some((name, args)) = words.split_first() else {
                continue;
            };
            if name.eq_ignore_ascii_case("include") && args.len() == 1 {
                for path in include_paths(&args[0]).map_err(fail)? {
                    let text = std::fs::read_to_string(&path)
                        .map_err(|source| ConfigError::Open { path, source })?;
                    self.apply_text(&text)?;
                }
                continue;
            }
            if name.eq_ignore_ascii_case("rename-command") && args.len() == 2 {
                let known = crate::cmd::table::lookup(args[0].as_bytes()).is_some();
                if !known {
                    return Err(fail("No such command in rename-command".into()));
                }
                self.renames
                    .push((args[0].to_ascii_lowercase(), args[1].clone()));
                continue;
            }
            if name.eq_ignore_ascii_case("user") && !args.is_empty() {
                let raw: Vec<Vec<u8>> = ranges.iter().map(|&(a, b)| bytes[a..b].to_vec()).collect();
                let seen: Vec<Vec<u8>> = self.users.iter().map(|u| u[0].clone()).collect();
                let line = crate::acl::file::check_config_line(&raw, &seen).map_err(fail)?;
                self.users.push(line);
                continue;
            }
            if name.eq_ignore_ascii_case("loadmodule") && !args.is_empty() {
                // A known directive, refused for what it needs rather than as unknown.
                return Err(fail(format!(
                    "loadmodule needs modules (Redis's C module API), which Basalt does not have; '{}' cannot be loaded",
                    args[0]
                )));
            }
            let bad = || fail("Bad directive or wrong number of arguments".into());
            let (idx, param) = find(name.as_bytes()).ok_or_else(bad)?;
            if args.is_empty() && !matches!(param.kind, Kind::SavePoints | Kind::Str) {
                return Err(bad());
            }
            let many = matches!(
                param.kind,
                Kind::List
                    | Kind::SavePoints
                    | Kind::Words
                    | Kind::BufferLimits
                    | Kind::OomValues
                    | Kind::Percentiles
            );
            if args.len() > 1 && !many {
                return Err(bad());
            }
            let value = normalize(param, args).map_err(fail)?;
            if matches!(param.kind, Kind::SavePoints)
                && !value.is_empty()
                && std::mem::replace(&mut self.save_points_read, true)
            {
                let old = std::mem::take(&mut self.values[idx]);
                self.values[idx] = [old, value].join(" ").trim().to_string();
                continue;
            }
            self.values[idx] = value;
        }
        Ok(())
    }

    /// The value of the parameter at `idx` of [`PARAMS`].
    pub fn value(&self, idx: usize) -> &str {
        &self.values[idx]
    }

    pub fn set_value(&mut self, idx: usize, value: String) {
        self.values[idx] = value;
    }

    /// Set a parameter by its canonical name (the server's own changes, already valid).
    pub fn set(&mut self, name: &str, value: &str) {
        if let Some((idx, _)) = find(name.as_bytes()) {
            self.values[idx] = value.to_string();
        }
    }

    /// The value of a parameter by its canonical name.
    pub fn get(&self, name: &str) -> &str {
        match find(name.as_bytes()) {
            Some((idx, _)) => &self.values[idx],
            None => panic!("unknown config parameter {name} asked for by the server itself"),
        }
    }

    pub fn get_i64(&self, name: &str) -> i64 {
        // Values were validated when set, so parsing cannot fail; 0 is a safe fallback.
        self.get(name).parse().unwrap_or(0)
    }

    pub fn get_bool(&self, name: &str) -> bool {
        self.get(name) == "yes"
    }

    pub fn port(&self) -> u16 {
        self.get_i64("port") as u16
    }

    pub fn bind(&self) -> Vec<String> {
        self.get("bind")
            .split_whitespace()
            .map(str::to_string)
            .collect()
    }

    pub fn databases(&self) -> usize {
        self.get_i64("databases") as usize
    }

    pub fn timeout_secs(&self) -> u64 {
        self.get_i64("timeout") as u64
    }

    pub fn tcp_keepalive_secs(&self) -> u64 {
        self.get_i64("tcp-keepalive") as u64
    }

    pub fn maxclients(&self) -> u64 {
        self.get_i64("maxclients") as u64
    }

    pub fn proto_max_bulk_len(&self) -> i64 {
        self.get_i64("proto-max-bulk-len")
    }

    pub fn query_buffer_limit(&self) -> usize {
        self.get_i64("client-query-buffer-limit") as usize
    }

    pub fn hz(&self) -> u64 {
        self.get_i64("hz").max(1) as u64
    }

    pub fn maxmemory(&self) -> u64 {
        self.get_i64("maxmemory") as u64
    }

    /// The password of the default user, if any.
    pub fn requirepass(&self) -> Option<&str> {
        Some(self.get("requirepass")).filter(|p| !p.is_empty())
    }

    /// CONFIG REWRITE: rewrite the config file with the current values, keeping comments and
    /// the order of existing lines; values that differ from their default and had no line are
    /// appended. `users` replace the `user` lines in order (without an ACL file; with one,
    /// `None` drops them, as Redis does).
    pub fn rewrite(&self, users: Option<Vec<String>>) -> std::io::Result<()> {
        let Some(path) = &self.file else {
            return Err(std::io::Error::other("no config file"));
        };
        let old = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
            Err(e) => return Err(e),
        };
        let text = rewrite::rewrite_text(self, &old, users.as_deref());
        write_atomically(path, text.as_bytes())
    }
}

/// The files an `include` names: the path itself, or for a glob in its last part every
/// matching file of that directory in name order (Redis 7.0 expands includes with glob(3)).
fn include_paths(pattern: &str) -> Result<Vec<String>, String> {
    let is_glob = |s: &str| s.contains(['*', '?', '[']);
    if !is_glob(pattern) {
        return Ok(vec![pattern.to_string()]);
    }
    let (dir, file) = match pattern.rfind('/') {
        Some(at) => (&pattern[..at.max(1)], &pattern[at + 1..]),
        None => (".", pattern),
    };
    if is_glob(dir) {
        return Err(format!(
            "Can't include '{pattern}': a glob is only supported in the file name"
        ));
    }
    let entries = std::fs::read_dir(dir).map_err(|e| format!("Can't include '{pattern}': {e}"))?;
    let mut found: Vec<String> = entries
        .flatten()
        .filter(|e| e.path().is_file())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|name| store::glob_match(file.as_bytes(), name.as_bytes(), false))
        .map(|name| {
            if dir == "." && !pattern.starts_with("./") {
                name
            } else {
                format!("{}/{name}", dir.trim_end_matches('/'))
            }
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Turn `--name a b --other c` into config lines, quoting values like Redis does.
fn options_to_lines(args: &[String]) -> String {
    let mut text = String::new();
    for arg in args {
        if let Some(name) = arg.strip_prefix("--") {
            if !text.is_empty() {
                text.push('\n');
            }
            text.push_str(name);
        } else {
            text.push(' ');
            text.push_str(&quote(arg));
        }
    }
    text.push('\n');
    text
}

/// Quote a value so [`resp::split_inline`] reads it back unchanged.
fn quote(value: &str) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

/// Write a file by writing a temporary file, syncing it and renaming it over the old one.
pub fn write_atomically(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn command_line_options() {
        let Startup::Run(c) =
            Config::from_args(&args(&["--port", "7000", "--bind", "127.0.0.1", "::1"])).unwrap()
        else {
            panic!("expected a run");
        };
        assert_eq!(c.port(), 7000);
        assert_eq!(c.bind(), vec!["127.0.0.1", "::1"]);
        assert_eq!(c.get("save"), "3600 1 300 100 60 10000");
    }

    #[test]
    fn loadmodule_is_refused_for_the_feature_it_needs() {
        let err = Config::from_args(&args(&["--loadmodule", "/x.so"])).unwrap_err();
        assert!(
            err.to_string().contains("loadmodule needs modules"),
            "{err}"
        );
    }

    #[test]
    fn fatal_error_text() {
        let err = Config::from_args(&args(&["--port", "0", "--foo", "bar"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "\n*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***\nReading the configuration file, at line 3\n>>> 'foo \"bar\"'\nBad directive or wrong number of arguments"
        );
        let err = Config::from_args(&args(&["--databases", "0"])).unwrap_err();
        assert!(err
            .to_string()
            .ends_with("argument must be between 1 and 2147483647 inclusive"));
    }

    #[test]
    fn rewrite_keeps_comments_and_updates_values() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.conf");
        std::fs::write(&path, "# hello\nport 7000\ntimeout 5\n").unwrap();
        let Startup::Run(mut c) = Config::from_args(&args(&[path.to_str().unwrap()])).unwrap()
        else {
            panic!("expected a run");
        };
        let (idx, _) = find(b"timeout").unwrap();
        c.set_value(idx, "9".into());
        let (idx, _) = find(b"maxmemory").unwrap();
        c.set_value(idx, "1000".into());
        c.rewrite(None).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        // In place, then (after the file's last empty line) what is new; `dir`, `save` and
        // the percentiles are always written, as Redis writes them.
        assert!(
            text.starts_with(
                "# hello\nport 7000\ntimeout 9\n\n# Generated by CONFIG REWRITE\ndir \""
            ),
            "{text}"
        );
        assert!(text.contains("\nmaxmemory 1000\n"), "{text}");
    }
}
