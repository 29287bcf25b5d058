//! ACL: WHOAMI, USERS, LIST, GETUSER, SETUSER, DELUSER, CAT, GENPASS, LOG, DRYRUN, LOAD,
//! SAVE and HELP, over the users of `crate::acl`.

use resp::Argv;

use super::{is, reply_help};
use crate::acl::{check::Denied, clients, describe, user::CATEGORIES};
use crate::cmd::{CmdError, CmdResult, Ctx, Flow};

fn unknown_user(name: &[u8]) -> CmdError {
    CmdError::concat(&[b"ERR User '", name, b"' not found"])
}

pub fn acl_whoami(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let name = ctx.client.shared.user_name.lock().clone();
    ctx.out.bulk(&name);
    Ok(())
}

pub fn acl_users(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let users = ctx.srv.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&u.name);
    }
    Ok(())
}

pub fn acl_list(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let users = ctx.srv.acl.users();
    ctx.out.array(users.len());
    for u in users {
        ctx.out.bulk(&describe::user_line(&u));
    }
    Ok(())
}

/// One selector's `commands`, `keys` and `channels` in ACL GETUSER.
fn selector_fields(out: &mut resp::Reply, sel: &crate::acl::user::Selector) {
    out.bulk(b"commands");
    out.bulk(describe::command_rules(sel).as_bytes());
    out.bulk(b"keys");
    out.bulk(&describe::keys(sel));
    out.bulk(b"channels");
    out.bulk(&describe::channels(sel));
}

pub fn acl_getuser(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let Some(user) = ctx.srv.acl.get(argv.get(2)) else {
        ctx.out.null();
        return Ok(());
    };
    let out = &mut *ctx.out;
    out.map(6);
    out.bulk(b"flags");
    let flags = user.flags.names();
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"passwords");
    out.array(user.passwords.len());
    for p in &user.passwords {
        out.bulk(p.as_bytes());
    }
    // The root selector at the top level, the others under `selectors`.
    selector_fields(out, user.root());
    out.bulk(b"selectors");
    out.array(user.selectors.len() - 1);
    for sel in &user.selectors[1..] {
        out.map(3);
        selector_fields(out, sel);
    }
    Ok(())
}

/// ACL SETUSER name rule…: all the rules or none; subscribers that lost channels are closed.
pub fn acl_setuser(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let name = argv.get(2);
    if crate::acl::user::has_spaces(name) {
        return Err("ERR Usernames can't contain spaces or null characters".into());
    }
    let rules: Vec<&[u8]> = argv.iter().skip(3).collect();
    let (old, new) = ctx
        .srv
        .acl
        .set_user(name, &rules)
        .map_err(|e| CmdError::from(format!("ERR {e}")))?;
    if let Some(old) = old {
        if clients::kill_revoked_subscribers(ctx.srv, &old, &new, ctx.client.id) {
            ctx.client.flow = Flow::CloseAfterReply;
        }
    }
    ctx.out.ok();
    Ok(())
}

/// ACL DELUSER name…: the users' connections are closed.
pub fn acl_deluser(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let names: Vec<&[u8]> = argv.iter().skip(2).collect();
    if names.iter().any(|n| *n == b"default") {
        return Err("ERR The 'default' user cannot be removed".into());
    }
    let gone = ctx.srv.acl.delete(&names);
    if clients::kill_users(ctx.srv, &gone, ctx.client.id) {
        ctx.client.flow = Flow::CloseAfterReply;
    }
    ctx.out.int(gone.len() as i64);
    Ok(())
}

/// The configured ACL file, or Redis's error when there is none.
fn acl_file(ctx: &Ctx<'_, '_>) -> Result<String, CmdError> {
    let path = ctx.srv.config.read().get("aclfile").to_string();
    if path.is_empty() {
        return Err("ERR This Redis instance is not configured to use an ACL file. You may want to specify users via the ACL SETUSER command and then issue a CONFIG REWRITE (assuming you have a Redis configuration file set) in order to store users in the Redis configuration.".into());
    }
    Ok(path)
}

/// ACL LOAD: every user from the ACL file, or none. Connections of the users replaced
/// (every user but `default`) are closed, as in Redis.
pub fn acl_load(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let path = acl_file(ctx)?;
    let users = crate::acl::file::parse_file(&path, ctx.srv.acl.all_channels_default())
        .map_err(|e| CmdError::from(format!("ERR {e}")))?;
    let mut old = ctx.srv.acl.replace_all(users);
    old.retain(|u| u.name != b"default");
    if clients::kill_users(ctx.srv, &old, ctx.client.id) {
        ctx.client.flow = Flow::CloseAfterReply;
    }
    ctx.out.ok();
    Ok(())
}

pub fn acl_save(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let path = acl_file(ctx)?;
    if let Err(e) = crate::acl::file::save(&ctx.srv.acl, &path) {
        crate::log_warning!("Writing ACL file for ACL SAVE: {e}");
        return Err("ERR There was an error trying to save the ACLs. Please check the server logs for more information".into());
    }
    ctx.out.ok();
    Ok(())
}

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
    let Some(bit) = crate::acl::user::category_bit(argv.get(2)) else {
        return Err(CmdError::concat(&[
            b"ERR Unknown category '",
            argv.get(2),
            b"'",
        ]));
    };
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
            ctx.srv.acl.log.reset();
            ctx.out.ok();
            return Ok(());
        }
        // A negative count shows nothing, as in Redis.
        count = super::parse_int(argv.get(2))?.max(0) as usize;
    }
    let now = crate::util::now_ms();
    let out = &mut *ctx.out;
    ctx.srv.acl.log.with_newest(count, |entries| {
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

/// ACL DRYRUN user command [arg …]: whether `user` may run it (OK, or why not as text).
pub fn acl_dryrun(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let Some(user) = ctx.srv.acl.get(argv.get(2)) else {
        return Err(unknown_user(argv.get(2)));
    };
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
    match crate::acl::check::check(&user, spec, &cmd) {
        Ok(()) => ctx.out.ok(),
        Err(Denied::Command) => ctx.out.bulk(
            format!(
                "This user has no permissions to run the '{}' command",
                spec.name
            )
            .as_bytes(),
        ),
        Err(Denied::Key(i)) => ctx.out.bulk(
            &[
                &b"This user has no permissions to access the '"[..],
                cmd.get(i),
                b"' key",
            ]
            .concat(),
        ),
        Err(Denied::Channel(i)) => ctx.out.bulk(
            &[
                &b"This user has no permissions to access the '"[..],
                cmd.get(i),
                b"' channel",
            ]
            .concat(),
        ),
    }
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
