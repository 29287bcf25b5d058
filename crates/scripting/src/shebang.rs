//! The `#!lua flags=…` first line of a script (Redis 7.0): without it a script runs in
//! compatibility mode (it may write, and it takes the flags of EVAL itself); with it, only
//! what its flags allow.

/// Flags a script can declare in its shebang.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScriptFlags {
    pub no_writes: bool,
    pub allow_oom: bool,
    pub allow_stale: bool,
    pub no_cluster: bool,
    pub allow_cross_slot_keys: bool,
}

/// What a script's first line says.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Shebang {
    /// No `#!lua` line: Redis's compatibility mode.
    pub compat: bool,
    pub flags: ScriptFlags,
    /// Bytes of the shebang line (without its line feed, which stays so line numbers hold).
    pub len: usize,
}

/// Parse the shebang of `body`; the error is Redis's message (without `ERR`).
pub fn parse(body: &[u8]) -> Result<Shebang, String> {
    if !body.starts_with(b"#!") {
        return Ok(Shebang {
            compat: true,
            ..Shebang::default()
        });
    }
    let Some(end) = body.iter().position(|&b| b == b'\n') else {
        return Err("Invalid script shebang".into());
    };
    let line = String::from_utf8_lossy(&body[..end]);
    let mut parts = line.split_ascii_whitespace();
    let Some(engine) = parts.next() else {
        return Err("Invalid engine in script shebang".into());
    };
    if engine != "#!lua" {
        return Err(format!("Unexpected engine in script shebang: {engine}"));
    }
    let mut flags = ScriptFlags::default();
    for part in parts {
        let Some(list) = part.strip_prefix("flags=") else {
            return Err(format!("Unknown lua shebang option: {part}"));
        };
        // `flags=` alone is no flag (Redis splits an empty string into nothing).
        for flag in list.split(',').filter(|_| !list.is_empty()) {
            match flag {
                "no-writes" => flags.no_writes = true,
                "allow-oom" => flags.allow_oom = true,
                "allow-stale" => flags.allow_stale = true,
                "no-cluster" => flags.no_cluster = true,
                "allow-cross-slot-keys" => flags.allow_cross_slot_keys = true,
                other => return Err(format!("Unexpected flag in script shebang: {other}")),
            }
        }
    }
    Ok(Shebang {
        compat: false,
        flags,
        len: end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_shebang_is_compat_mode() {
        assert!(parse(b"return 1").expect("ok").compat);
    }

    #[test]
    fn flags_and_errors() {
        let s = parse(b"#!lua flags=no-writes,allow-oom\nreturn 1").expect("ok");
        assert!(!s.compat && s.flags.no_writes && s.flags.allow_oom && s.len == 31);
        assert_eq!(
            parse(b"#!lua name=x\n").unwrap_err(),
            "Unknown lua shebang option: name=x"
        );
        assert_eq!(
            parse(b"#!lua flags=bogus\n").unwrap_err(),
            "Unexpected flag in script shebang: bogus"
        );
        assert_eq!(parse(b"#!lua").unwrap_err(), "Invalid script shebang");
        assert_eq!(
            parse(b"#!py\n").unwrap_err(),
            "Unexpected engine in script shebang: #!py"
        );
        // An empty flags list is no flag at all, as Redis splits it.
        assert_eq!(
            parse(b"#!lua flags=\n").expect("ok").flags,
            ScriptFlags::default()
        );
    }
}
