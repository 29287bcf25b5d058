//! COMMAND and its subcommands, all answered from the command table.

use resp::{Argv, Reply};
use store::glob_match;

use super::is;
use crate::cmd::table::{lookup, COMMANDS};
use crate::cmd::{acl, err, flags, CmdError, CmdResult, Ctx, FindKeys, Spec};

fn names_set(out: &mut Reply, bits: u32, names: &[(u32, &str)]) {
    let set: Vec<&str> = names
        .iter()
        .filter(|(b, _)| bits & b != 0)
        .map(|(_, n)| *n)
        .collect();
    out.set(set.len());
    for n in set {
        out.simple(n);
    }
}

/// The key specifications, as COMMAND INFO shows them.
fn key_specs(out: &mut Reply, spec: &Spec) {
    out.array(spec.key_specs.len());
    for ks in spec.key_specs {
        out.map(3);
        out.bulk(b"flags");
        out.set(ks.flags.len());
        for f in ks.flags {
            out.simple(f);
        }
        out.bulk(b"begin_search");
        out.map(2);
        out.bulk(b"type");
        if let FindKeys::Unknown = ks.find {
            out.bulk(b"unknown");
            out.bulk(b"spec");
            out.map(0);
        } else if let Some(word) = ks.keyword {
            out.bulk(b"keyword");
            out.bulk(b"spec");
            out.map(2);
            out.bulk(b"keyword");
            out.bulk(word.as_bytes());
            out.bulk(b"startfrom");
            out.int(i64::from(ks.begin));
        } else {
            out.bulk(b"index");
            out.bulk(b"spec");
            out.map(1);
            out.bulk(b"index");
            out.int(i64::from(ks.begin));
        }
        out.bulk(b"find_keys");
        out.map(2);
        out.bulk(b"type");
        let fields: [(&[u8], i32); 3] = match ks.find {
            FindKeys::Range { last, step, limit } => {
                out.bulk(b"range");
                [(b"lastkey", last), (b"keystep", step), (b"limit", limit)]
            }
            FindKeys::KeyNum {
                keynum_idx,
                first,
                step,
            } => {
                out.bulk(b"keynum");
                [
                    (b"keynumidx", keynum_idx),
                    (b"firstkey", first),
                    (b"keystep", step),
                ]
            }
            FindKeys::Unknown => {
                out.bulk(b"unknown");
                out.bulk(b"spec");
                out.map(0);
                continue;
            }
        };
        out.bulk(b"spec");
        out.map(3);
        for (name, v) in fields {
            out.bulk(name);
            out.int(i64::from(v));
        }
    }
}

/// One COMMAND INFO entry: name, arity, flags, first, last, step, ACL categories, tips,
/// key specs, subcommands.
fn command_entry(out: &mut Reply, spec: &Spec) {
    out.array(10);
    out.bulk(spec.name.as_bytes());
    out.int(i64::from(spec.arity));
    // `may_replicate` is hidden from COMMAND INFO, on purpose in Redis 7.0.
    names_set(out, spec.flags & !flags::MAY_REPLICATE, flags::NAMES);
    out.int(i64::from(spec.keys.0));
    out.int(i64::from(spec.keys.1));
    out.int(i64::from(spec.keys.2));
    names_set(out, spec.acl, acl::NAMES);
    out.set(spec.tips.len());
    for t in spec.tips {
        out.bulk(t.as_bytes());
    }
    key_specs(out, spec);
    out.array(spec.subcommands.len());
    for s in spec.subcommands {
        command_entry(out, s);
    }
}

pub fn command_all(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.array(COMMANDS.len());
    for spec in COMMANDS.iter() {
        command_entry(ctx.out, spec);
    }
    Ok(())
}

pub fn command_count(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    ctx.out.int(COMMANDS.len() as i64);
    Ok(())
}

pub fn command_info(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    if argv.len() == 2 {
        return command_all(ctx, argv);
    }
    ctx.out.array(argv.len() - 2);
    for name in argv.iter().skip(2) {
        match lookup_full(name) {
            Some(spec) => command_entry(ctx.out, spec),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// A command or `container|sub` by name.
fn lookup_full(name: &[u8]) -> Option<&'static Spec> {
    match name.iter().position(|&c| c == b'|') {
        None => lookup(name),
        Some(bar) => crate::cmd::table::lookup_sub(lookup(&name[..bar])?, &name[bar + 1..]),
    }
}

fn doc_args(out: &mut Reply, args: &[crate::cmd::Arg]) {
    out.array(args.len());
    for a in args {
        // A pure token always shows its token, even an empty one (MIGRATE's `""`).
        let has_token = !a.token.is_empty() || a.kind == "pure-token";
        let fields = 2
            + usize::from(a.key_spec_index >= 0)
            + usize::from(has_token)
            + usize::from(!a.since.is_empty())
            + usize::from(!a.deprecated_since.is_empty())
            + usize::from(!a.flags.is_empty())
            + usize::from(!a.args.is_empty());
        out.map(fields);
        out.bulk(b"name");
        out.bulk(a.name.as_bytes());
        out.bulk(b"type");
        out.bulk(a.kind.as_bytes());
        if a.key_spec_index >= 0 {
            out.bulk(b"key_spec_index");
            out.int(i64::from(a.key_spec_index));
        }
        if has_token {
            out.bulk(b"token");
            out.bulk(a.token.as_bytes());
        }
        if !a.since.is_empty() {
            out.bulk(b"since");
            out.bulk(a.since.as_bytes());
        }
        if !a.deprecated_since.is_empty() {
            out.bulk(b"deprecated_since");
            out.bulk(a.deprecated_since.as_bytes());
        }
        if !a.flags.is_empty() {
            out.bulk(b"flags");
            out.set(a.flags.len());
            for f in a.flags {
                out.simple(f);
            }
        }
        if !a.args.is_empty() {
            out.bulk(b"arguments");
            doc_args(out, a.args);
        }
    }
}

fn doc_entry(out: &mut Reply, spec: &Spec) {
    let subs = !spec.subcommands.is_empty();
    let docs = &spec.docs;
    let args = !docs.args.is_empty();
    out.map(
        3 + usize::from(!docs.complexity.is_empty())
            + usize::from(!docs.doc_flags.is_empty())
            + usize::from(!docs.deprecated_since.is_empty())
            + usize::from(!docs.replaced_by.is_empty())
            + usize::from(args)
            + usize::from(subs),
    );
    out.bulk(b"summary");
    out.bulk(spec.docs.summary.as_bytes());
    out.bulk(b"since");
    out.bulk(spec.docs.since.as_bytes());
    out.bulk(b"group");
    out.bulk(spec.docs.group.as_bytes());
    // Redis documents no complexity for a few internal commands (SYNC, PSYNC).
    if !docs.complexity.is_empty() {
        out.bulk(b"complexity");
        out.bulk(spec.docs.complexity.as_bytes());
    }
    if !docs.doc_flags.is_empty() {
        out.bulk(b"doc_flags");
        out.set(docs.doc_flags.len());
        for f in docs.doc_flags {
            out.simple(f);
        }
    }
    if !docs.deprecated_since.is_empty() {
        out.bulk(b"deprecated_since");
        out.bulk(docs.deprecated_since.as_bytes());
    }
    if !docs.replaced_by.is_empty() {
        out.bulk(b"replaced_by");
        out.bulk(docs.replaced_by.as_bytes());
    }
    if args {
        out.bulk(b"arguments");
        doc_args(out, spec.docs.args);
    }
    if subs {
        out.bulk(b"subcommands");
        out.map(spec.subcommands.len());
        for s in spec.subcommands {
            out.bulk(s.name.as_bytes());
            doc_entry(out, s);
        }
    }
}

pub fn command_docs(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let specs: Vec<&Spec> = if argv.len() == 2 {
        COMMANDS.iter().collect()
    } else {
        argv.iter().skip(2).filter_map(lookup_full).collect()
    };
    ctx.out.map(specs.len());
    for spec in specs {
        ctx.out.bulk(spec.name.as_bytes());
        doc_entry(ctx.out, spec);
    }
    Ok(())
}

pub fn command_list(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut filter: Option<(&[u8], &[u8])> = None;
    if argv.len() == 5 && is(argv.get(2), "filterby") {
        filter = Some((argv.get(3), argv.get(4)));
    } else if argv.len() != 2 {
        return Err(err::SYNTAX.into());
    }
    let mut names = Vec::new();
    for spec in COMMANDS.iter() {
        for s in std::iter::once(spec).chain(spec.subcommands.iter()) {
            let keep = match filter {
                None => true,
                Some((kind, v)) if is(kind, "pattern") => glob_match(v, s.name.as_bytes(), true),
                Some((kind, v)) if is(kind, "aclcat") => acl::NAMES
                    .iter()
                    .any(|(bit, n)| s.acl & bit != 0 && v.eq_ignore_ascii_case(&n.as_bytes()[1..])),
                Some((kind, _)) if is(kind, "module") => false,
                Some(_) => return Err(err::SYNTAX.into()),
            };
            if keep {
                names.push(s.name);
            }
        }
    }
    ctx.out.array(names.len());
    for n in names {
        ctx.out.bulk(n.as_bytes());
    }
    Ok(())
}

/// The key references of the command line in argv[2..], with GETKEYS's errors in Redis's
/// order (no keys at all, then arity, then arguments the keys cannot be found in).
fn keys_of(argv: &Argv<'_>) -> Result<crate::cmd::KeyRefs, CmdError> {
    let spec = lookup(argv.get(2)).ok_or(CmdError::from("ERR Invalid command specified"))?;
    let spec = if spec.subcommands.is_empty() || argv.len() < 4 {
        spec
    } else {
        crate::cmd::table::lookup_sub(spec, argv.get(3))
            .ok_or(CmdError::from("ERR Invalid command specified"))?
    };
    if !spec.has_keys() {
        return Err("ERR The command has no key arguments".into());
    }
    if !spec.arity_ok(argv.len() - 2) {
        return Err("ERR Invalid number of arguments specified for command".into());
    }
    match spec.key_refs(&argv.slice_from(2)) {
        // No key found (a keyword spec whose keyword is absent) is no answer, as in Redis.
        Some(refs) if !refs.is_empty() => Ok(refs),
        _ if spec.has(crate::cmd::flags::NO_MANDATORY_KEYS) => Ok(Default::default()),
        _ => Err("ERR Invalid arguments specified for command".into()),
    }
}

pub fn command_getkeys(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let keys = keys_of(&argv)?;
    ctx.out.array(keys.len());
    for (i, _) in keys {
        ctx.out.bulk(argv.get(i + 2));
    }
    Ok(())
}

pub fn command_getkeysandflags(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let keys = keys_of(&argv)?;
    ctx.out.array(keys.len());
    for (i, flags) in keys {
        ctx.out.array(2);
        ctx.out.bulk(argv.get(i + 2));
        ctx.out.set(flags.len());
        for f in flags {
            ctx.out.simple(f);
        }
    }
    Ok(())
}

pub fn command_help(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    super::reply_help(
        ctx,
        "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
            "GETKEYSANDFLAGS <full-command>",
            "    Return the keys and the access flags from a full Redis command.",
        ],
    );
    Ok(())
}
