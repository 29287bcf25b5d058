//! ACL WHOAMI, USERS, LIST, GETUSER, CAT, GENPASS, LOG, DRYRUN and HELP, for the one user
//! there is until ACL rules are built (see `crate::acl`).

use resp::Argv;

use super::{is, reply_help};
use crate::cmd::{CmdError, CmdResult, Ctx};

fn unknown_user(name: &[u8]) -> CmdError {
    CmdError::concat(&[b"ERR User '", name, b"' not found"])
}

/// `default`'s password as ACL shows it: `nopass`, or its SHA-256.
fn default_password(ctx: &Ctx<'_, '_>) -> Option<String> {
    ctx.srv
        .config
        .read()
        .requirepass()
        .map(|p| crate::acl::password_hash(p.as_bytes()))
}

pub fn acl_whoami(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.bulk(b"default");
    Ok(())
}

pub fn acl_users(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.array(1);
    ctx.out.bulk(b"default");
    Ok(())
}

pub fn acl_list(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let password = match default_password(ctx) {
        Some(hash) => format!("#{hash}"),
        None => "nopass".into(),
    };
    ctx.out.array(1);
    ctx.out
        .bulk(format!("user default on {password} ~* &* +@all").as_bytes());
    Ok(())
}

pub fn acl_getuser(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.get(2) != b"default" {
        ctx.out.null();
        return Ok(());
    }
    let password = default_password(ctx);
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    if password.is_some() {
        out.array(1);
        out.bulk(b"on");
    } else {
        out.array(2);
        out.bulk(b"on");
        out.bulk(b"nopass");
    }
    out.bulk(b"passwords");
    match &password {
        Some(hash) => {
            out.array(1);
            out.bulk(hash.as_bytes());
        }
        None => out.array(0),
    }
    out.bulk(b"commands");
    out.bulk(b"+@all");
    out.bulk(b"keys");
    out.bulk(b"~*");
    out.bulk(b"channels");
    out.bulk(b"&*");
    out.bulk(b"selectors");
    out.array(0);
    Ok(())
}

/// Redis 7.0's ACL categories, in its order. Four have no command in Basalt yet (bitmap,
/// HyperLogLog, geo and stream commands are not built).
const CATEGORIES: [&str; 21] = [
    "keyspace",
    "read",
    "write",
    "set",
    "sortedset",
    "list",
    "hash",
    "string",
    "bitmap",
    "hyperloglog",
    "geo",
    "stream",
    "pubsub",
    "admin",
    "fast",
    "slow",
    "blocking",
    "dangerous",
    "connection",
    "transaction",
    "scripting",
];

/// Redis's reply to an ACL subcommand with the wrong arguments.
fn syntax(argv: &Argv<'_>) -> CmdError {
    CmdError::concat(&[
        b"ERR unknown subcommand or wrong number of arguments for '",
        argv.get(1),
        b"'. Try ACL HELP.",
    ])
}

/// ACL CAT [category]: the categories in Redis's order, or the commands (and subcommands,
/// as `container|sub`) of one.
pub fn acl_cat(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    use crate::cmd::acl::NAMES;
    if argv.len() == 2 {
        ctx.out.array(CATEGORIES.len());
        for name in CATEGORIES {
            ctx.out.bulk(name.as_bytes());
        }
        return Ok(());
    }
    if argv.len() > 3 {
        return Err(syntax(&argv));
    }
    let wanted = String::from_utf8_lossy(argv.get(2)).to_ascii_lowercase();
    if !CATEGORIES.contains(&wanted.as_str()) {
        return Err(CmdError::concat(&[
            b"ERR Unknown category '",
            argv.get(2),
            b"'",
        ]));
    }
    let bit = NAMES
        .iter()
        .find(|(_, n)| n.trim_start_matches('@') == wanted)
        .map_or(0, |&(bit, _)| bit);
    if bit == 0 {
        ctx.out.array(0);
        return Ok(());
    }
    let names: Vec<&str> = crate::cmd::table::all_specs()
        .iter()
        .filter(|s| s.handler.is_some() && s.acl & bit != 0)
        .map(|s| s.name)
        .collect();
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// ACL GENPASS [bits]: a random password of `bits` bits (256 by default) in hex.
pub fn acl_genpass(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    const RANGE: &str = "ERR ACL GENPASS argument must be the number of bits for the output password, a positive number up to 4096";
    let bits = if argv.len() > 2 {
        let n = super::parse_int(argv.get(2))?;
        if !(1..=4096).contains(&n) {
            return Err(RANGE.into());
        }
        n as usize
    } else {
        256
    };
    let chars = bits.div_ceil(4);
    let hex = crate::server::random_hex(chars);
    ctx.out.bulk(hex.as_bytes());
    Ok(())
}

/// ACL LOG [count | RESET]: the newest denials first.
pub fn acl_log(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() > 3 {
        return Err(syntax(&argv));
    }
    let mut count = usize::MAX;
    if argv.len() == 3 {
        if is(argv.get(2), "reset") {
            ctx.srv.acl_log.reset();
            ctx.out.ok();
            return Ok(());
        }
        // A negative count shows nothing, as in Redis.
        count = super::parse_int(argv.get(2))?.max(0) as usize;
    }
    let now = crate::util::now_ms();
    let out = &mut *ctx.out;
    ctx.srv.acl_log.with_newest(count, |entries| {
        let entries: Vec<_> = entries.collect();
        out.array(entries.len());
        for e in entries {
            out.map(7);
            out.bulk(b"count");
            out.int(e.count as i64);
            out.bulk(b"reason");
            out.bulk(e.reason.as_bytes());
            out.bulk(b"context");
            out.bulk(e.context.as_bytes());
            out.bulk(b"object");
            out.bulk(&e.object);
            out.bulk(b"username");
            out.bulk(&e.username);
            out.bulk(b"age-seconds");
            out.double(now.saturating_sub(e.created_ms) as f64 / 1000.0);
            out.bulk(b"client-info");
            out.bulk(e.client_info.as_bytes());
        }
    });
    Ok(())
}

/// ACL DRYRUN user command [arg …]: whether `user` may run it.
pub fn acl_dryrun(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.get(2) != b"default" {
        return Err(unknown_user(argv.get(2)));
    }
    let mut src = Vec::new();
    let mut ranges = Vec::new();
    for a in argv.iter().skip(3) {
        ranges.push((src.len(), src.len() + a.len()));
        src.extend_from_slice(a);
    }
    let cmd = resp::Argv::from_parts(&src, &ranges);
    let spec = crate::cmd::resolve(cmd)
        .map_err(|_| CmdError::concat(&[b"ERR Command '", argv.get(3), b"' not found"]))?;
    if !spec.arity_ok(cmd.len()) {
        return Err(format!("ERR wrong number of arguments for '{}' command", spec.name).into());
    }
    // `default` may run every command on every key and channel.
    ctx.out.ok();
    Ok(())
}

pub fn acl_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    reply_help(
        ctx,
        "ACL <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "CAT [<category>]",
            "    List all commands that belong to <category>, or all command categories",
            "    when no category is specified.",
            "DELUSER <username> [<username> ...]",
            "    Delete a list of users.",
            "DRYRUN <username> <command> [<arg> ...]",
            "    Returns whether the user can execute the given command without executing the command.",
            "GETUSER <username>",
            "    Get the user's details.",
            "GENPASS [<bits>]",
            "    Generate a secure 256-bit user password. The optional `bits` argument can",
            "    be used to specify a different size.",
            "LIST",
            "    Show users details in config file format.",
            "LOAD",
            "    Reload users from the ACL file.",
            "LOG [<count> | RESET]",
            "    Show the ACL log entries.",
            "SAVE",
            "    Save the current config to the ACL file.",
            "SETUSER <username> <attribute> [<attribute> ...]",
            "    Create or modify a user with the specified attributes.",
            "USERS",
            "    List all the registered usernames.",
            "WHOAMI",
            "    Return the current connection username.",
        ],
    );
    Ok(())
}
