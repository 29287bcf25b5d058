//! BITFIELD and BITFIELD_RO: integer fields of any width up to 64 bits (unsigned up to 63,
//! as Redis: an unsigned 64-bit value would not fit its integer reply) at any bit offset of a
//! string. Every operation is parsed before any runs, so a bad argument anywhere changes
//! nothing; then the string grows once, to the farthest field written.

use resp::Argv;
use store::bits::{self, Overflow};

use super::bitmaps::{bit_offset, string_for_bits};
use super::{is, lookup_read, parse_int};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Get,
    Set,
    IncrBy,
}

/// One parsed operation.
struct Op {
    kind: Kind,
    signed: bool,
    bits: u32,
    offset: u64,
    /// The SET value or INCRBY increment.
    value: i64,
    overflow: Overflow,
}

/// A field type such as `i16` or `u8` (Redis's `getBitfieldTypeFromArgument`).
fn field_type(arg: &[u8]) -> Result<(bool, u32), CmdError> {
    const BAD: &str = "ERR Invalid bitfield type. Use something like i16 u8. Note that u64 is not supported but i64 is.";
    let signed = match arg.first() {
        Some(b'i') => true,
        Some(b'u') => false,
        _ => return Err(BAD.into()),
    };
    // Redis reads the width as a C string: it ends at a NUL byte.
    let digits = &arg[1..];
    let digits = &digits[..digits.iter().position(|&c| c == 0).unwrap_or(digits.len())];
    match resp::parse_i64(digits) {
        Some(n) if n >= 1 && n <= if signed { 64 } else { 63 } => Ok((signed, n as u32)),
        _ => Err(BAD.into()),
    }
}

fn parse_ops(ctx: &Ctx<'_, '_>, argv: &Argv<'_>) -> Result<Vec<Op>, CmdError> {
    let mut ops = Vec::new();
    let mut overflow = Overflow::Wrap;
    let mut j = 2;
    while j < argv.len() {
        let left = argv.len() - j - 1;
        let word = argv.get(j);
        let kind = if is(word, "get") && left >= 2 {
            Kind::Get
        } else if is(word, "set") && left >= 3 {
            Kind::Set
        } else if is(word, "incrby") && left >= 3 {
            Kind::IncrBy
        } else if is(word, "overflow") && left >= 1 {
            let how = argv.get(j + 1);
            overflow = if is(how, "wrap") {
                Overflow::Wrap
            } else if is(how, "sat") {
                Overflow::Sat
            } else if is(how, "fail") {
                Overflow::Fail
            } else {
                return Err("ERR Invalid OVERFLOW type specified".into());
            };
            j += 2;
            continue;
        } else {
            return Err(err::SYNTAX.into());
        };
        let (signed, width) = field_type(argv.get(j + 1))?;
        let offset = bit_offset(ctx, argv.get(j + 2), Some(width))?;
        let value = if kind == Kind::Get {
            0
        } else {
            parse_int(argv.get(j + 3))?
        };
        ops.push(Op {
            kind,
            signed,
            bits: width,
            offset,
            value,
            overflow,
        });
        j += if kind == Kind::Get { 3 } else { 4 };
    }
    Ok(ops)
}

pub fn bitfield(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    run(ctx, argv, false)
}

pub fn bitfield_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    run(ctx, argv, true)
}

fn run(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, read_only: bool) -> CmdResult {
    let ops = parse_ops(ctx, &argv)?;
    let key = argv.get(1);
    let now = ctx.now_ms;
    let last_written = ops
        .iter()
        .filter(|o| o.kind != Kind::Get)
        .map(|o| o.offset + u64::from(o.bits) - 1)
        .max();
    let Some(last_bit) = last_written else {
        return read_fields(ctx, key, &ops);
    };
    if read_only {
        return Err("ERR BITFIELD_RO only supports the GET subcommand".into());
    }
    let db = ctx.keys.db(key, ctx.client.db);
    let (buf, grew) = string_for_bits(db, key, last_bit, now)?;
    let mut changes = 0u64;
    ctx.out.array(ops.len());
    for op in &ops {
        if op.kind == Kind::Get {
            reply_field(ctx.out, buf, op);
            continue;
        }
        // (old, new, reply) as raw bits; `None` when OVERFLOW FAIL refuses the write.
        let outcome = if op.signed {
            let old = bits::get_signed(buf, op.offset, op.bits);
            let (new, over) = match op.kind {
                Kind::IncrBy => bits::add_signed(old, op.value, op.bits, op.overflow),
                _ => bits::add_signed(op.value, 0, op.bits, op.overflow),
            };
            let reply = if op.kind == Kind::IncrBy { new } else { old };
            (!(over && op.overflow == Overflow::Fail)).then_some((old as u64, new as u64, reply))
        } else {
            let old = bits::get_unsigned(buf, op.offset, op.bits);
            let (new, over) = match op.kind {
                Kind::IncrBy => bits::add_unsigned(old, op.value, op.bits, op.overflow),
                _ => bits::add_unsigned(op.value as u64, 0, op.bits, op.overflow),
            };
            let reply = if op.kind == Kind::IncrBy { new } else { old } as i64;
            (!(over && op.overflow == Overflow::Fail)).then_some((old, new, reply))
        };
        match outcome {
            Some((old, new, reply)) => {
                ctx.out.int(reply);
                bits::set_field(buf, op.offset, op.bits, new);
                if grew || old != new {
                    changes += 1;
                }
            }
            None => ctx.out.null(),
        }
    }
    if changes > 0 {
        ctx.dirty += changes;
        ctx.notify(ev::STRING, "setbit", key);
    }
    Ok(())
}

/// Only GETs: a missing key reads as zeros.
fn read_fields(ctx: &mut Ctx<'_, '_>, key: &[u8], ops: &[Op]) -> CmdResult {
    let (now, db_index) = (ctx.now_ms, ctx.client.db);
    let out = &mut *ctx.out;
    let db = ctx.keys.db(key, db_index);
    let value = lookup_read(db, key, now, true).map(|o| &o.value);
    let s = match value {
        None => None,
        Some(store::Value::Str(s)) => Some(s),
        Some(_) => return Err(err::WRONGTYPE.into()),
    };
    out.array(ops.len());
    let mut reply_all = |bytes: &[u8]| ops.iter().for_each(|op| reply_field(out, bytes, op));
    match s {
        Some(s) => s.with_bytes(&mut reply_all),
        None => reply_all(&[]),
    }
    Ok(())
}

fn reply_field(out: &mut resp::Reply, bytes: &[u8], op: &Op) {
    if op.signed {
        out.int(bits::get_signed(bytes, op.offset, op.bits));
    } else {
        out.int(bits::get_unsigned(bytes, op.offset, op.bits) as i64);
    }
}
