//! Bitmap commands over string values: SETBIT, GETBIT, BITCOUNT, BITPOS, BITOP (BITFIELD is
//! in `bitfield.rs`). The arithmetic is `store::bits`; this file is Redis 7.0's argument rules
//! and the order in which its errors win.

use resp::Argv;
use store::bits::{self, BitOp};
use store::{Str, ThinVec, Value};

use super::{is, lookup_read, parse_int, read_str, store_result, write_str};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

const BAD_OFFSET: &str = "ERR bit offset is not an integer or out of range";

/// A bit offset argument (Redis's `getBitOffsetFromArgument`). With `field_bits` (BITFIELD),
/// `#n` means the n-th field of that width. Offsets are limited so the string they reach
/// stays under `proto-max-bulk-len`.
pub(crate) fn bit_offset(
    ctx: &Ctx<'_, '_>,
    arg: &[u8],
    field_bits: Option<u32>,
) -> Result<u64, CmdError> {
    let (digits, width) = match (arg.first(), field_bits) {
        (Some(b'#'), Some(w)) => (&arg[1..], Some(w)),
        _ => (arg, None),
    };
    let mut offset = resp::parse_i64(digits).ok_or(BAD_OFFSET)?;
    if let Some(w) = width {
        // Redis multiplies in C `long long`; a product past it is out of range either way.
        offset = offset.checked_mul(i64::from(w)).ok_or(BAD_OFFSET)?;
    }
    let max = ctx.srv.config.read().proto_max_bulk_len();
    if offset < 0 || (offset >> 3) >= max {
        return Err(BAD_OFFSET.into());
    }
    Ok(offset as u64)
}

/// The string at `key` for a bit write reaching bit `max_bit`, created or zero-extended to
/// reach it (Redis's `lookupStringForBitCommand`), and whether that made or grew it.
pub(crate) fn string_for_bits<'d>(
    db: &'d mut store::Db,
    key: &[u8],
    max_bit: u64,
    now_ms: u64,
) -> Result<(&'d mut ThinVec<u8>, bool), CmdError> {
    let need = (max_bit >> 3) as usize + 1;
    let grew = match write_str(db, key, now_ms)? {
        None => {
            let mut buf = ThinVec::new();
            bits::zero_extend(&mut buf, need);
            db.set(key, Value::Str(Str::Raw(buf)), false, now_ms);
            true
        }
        Some(s) => {
            let raw = s.make_raw();
            let grow = raw.len() < need;
            if grow {
                bits::zero_extend(raw, need);
            }
            grow
        }
    };
    match write_str(db, key, now_ms)? {
        Some(s) => Ok((s.make_raw(), grew)),
        None => unreachable!("the string was stored just above"),
    }
}

pub fn setbit(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let key = argv.get(1);
    let offset = bit_offset(ctx, argv.get(2), None)?;
    let on = match resp::parse_i64(argv.get(3)) {
        Some(v @ (0 | 1)) => v == 1,
        _ => return Err("ERR bit is not an integer or out of range".into()),
    };
    let now = ctx.now_ms;
    let db = ctx.keys.db(key, ctx.client.db);
    let (buf, grew) = string_for_bits(db, key, offset, now)?;
    let old = bits::get_bit(buf, offset);
    if grew || old != on {
        bits::set_field(buf, offset, 1, u64::from(on));
        ctx.dirty += 1;
        ctx.notify(ev::STRING, "setbit", key);
    }
    ctx.out.int(i64::from(old));
    Ok(())
}

pub fn getbit(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let offset = bit_offset(ctx, argv.get(2), None)?;
    let db = ctx.keys.db(argv.get(1), ctx.client.db);
    let bit = read_str(db, argv.get(1), ctx.now_ms)?
        .is_some_and(|s| s.with_bytes(|b| bits::get_bit(b, offset)));
    ctx.out.int(i64::from(bit));
    Ok(())
}

/// A BITCOUNT/BITPOS range after Redis's conversions: inclusive bit positions, or `None` for
/// an empty range.
fn bit_range(len_bytes: u64, start: i64, end: i64, in_bits: bool) -> Option<(u64, u64)> {
    let total = (len_bytes << if in_bits { 3 } else { 0 }) as i64;
    let fix = |i: i64| if i < 0 { (total + i).max(0) } else { i };
    let (start, end) = (fix(start), fix(end).min(total - 1));
    if start > end {
        return None;
    }
    Some(if in_bits {
        (start as u64, end as u64)
    } else {
        (start as u64 * 8, end as u64 * 8 + 7)
    })
}

/// Bits set in the inclusive bit range `[from, to]` of `b`.
fn count_range(b: &[u8], from: u64, to: u64) -> u64 {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let mut n = bits::popcount(&b[first..=last]);
    // Take back the bits of the edge bytes outside the range.
    n -= u64::from((b[first] & !(0xffu8 >> (from & 7))).count_ones());
    n -= u64::from((b[last] & (0x7fu8 >> (to & 7))).count_ones());
    n
}

/// BYTE or BIT, the unit of a BITCOUNT/BITPOS range.
fn unit(arg: &[u8]) -> Result<bool, CmdError> {
    if is(arg, "bit") {
        Ok(true)
    } else if is(arg, "byte") {
        Ok(false)
    } else {
        Err(err::SYNTAX.into())
    }
}

pub fn bitcount(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let now = ctx.now_ms;
    let db = ctx.keys.db(argv.get(1), ctx.client.db);
    // Redis 7.0 looks the key up first: a missing key answers 0 whatever follows.
    let Some(s) = read_str(db, argv.get(1), now)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let n = s.with_bytes(|b| -> Result<u64, CmdError> {
        let (from, to) = match argv.len() {
            2 if b.is_empty() => return Ok(0),
            2 => (0, b.len() as u64 * 8 - 1),
            4 | 5 => {
                let start = parse_int(argv.get(2))?;
                let end = parse_int(argv.get(3))?;
                if start < 0 && end < 0 && start > end {
                    return Ok(0);
                }
                let in_bits = if argv.len() == 5 {
                    unit(argv.get(4))?
                } else {
                    false
                };
                match bit_range(b.len() as u64, start, end, in_bits) {
                    Some(r) => r,
                    None => return Ok(0),
                }
            }
            _ => return Err(err::SYNTAX.into()),
        };
        Ok(count_range(b, from, to))
    })?;
    ctx.out.int(n as i64);
    Ok(())
}

pub fn bitpos(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let bit = match parse_int(argv.get(2))? {
        0 => false,
        1 => true,
        _ => return Err("ERR The bit argument must be 1 or 0.".into()),
    };
    let now = ctx.now_ms;
    let db = ctx.keys.db(argv.get(1), ctx.client.db);
    let obj = lookup_read(db, argv.get(1), now, true);
    // A missing key is an endless run of zeros.
    let Some(obj) = obj else {
        ctx.out.int(if bit { -1 } else { 0 });
        return Ok(());
    };
    let Value::Str(s) = &obj.value else {
        return Err(err::WRONGTYPE.into());
    };
    let pos = s.with_bytes(|b| -> Result<i64, CmdError> {
        let len = b.len() as u64;
        let (range, end_given) = match argv.len() {
            3 => (bit_range(len, 0, -1, false), false),
            4..=6 => {
                let start = parse_int(argv.get(3))?;
                let in_bits = if argv.len() == 6 {
                    unit(argv.get(5))?
                } else {
                    false
                };
                let (end, given) = if argv.len() >= 5 {
                    (parse_int(argv.get(4))?, true)
                } else {
                    (-1, false)
                };
                (bit_range(len, start, end, in_bits), given)
            }
            _ => return Err(err::SYNTAX.into()),
        };
        let Some((from, to)) = range else {
            return Ok(-1);
        };
        Ok(match find_in_range(b, from, to, bit) {
            Some(p) => p as i64,
            // Past an explicit end there is nothing; without one, the zeros that follow the
            // string count, so the first of them is the answer (a whole byte past the range).
            None if !bit && !end_given => (((to >> 3) + 1) * 8) as i64,
            None => -1,
        })
    })?;
    ctx.out.int(pos);
    Ok(())
}

/// The first bit equal to `bit` in the inclusive bit range `[from, to]` of `b`.
fn find_in_range(b: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
    let (first, last) = ((from >> 3) as usize, (to >> 3) as usize);
    let found = bits::first_bit(&b[first..=last], bit).map(|p| p + first as u64 * 8);
    match found {
        Some(p) if p >= from && p <= to => Some(p),
        // A hit before the range start (in its first byte): look again past it, bit by bit
        // over the rest of that byte, then the remaining bytes.
        Some(p) if p < from => (from..=to.min(first as u64 * 8 + 7))
            .find(|&i| bits::get_bit(b, i) == bit)
            .or_else(|| {
                let next = first as u64 * 8 + 8;
                (next <= to)
                    .then(|| find_in_range(b, next, to, bit))
                    .flatten()
            }),
        _ => None,
    }
}

pub fn bitop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let name = argv.get(1);
    let op = if is(name, "and") {
        BitOp::And
    } else if is(name, "or") {
        BitOp::Or
    } else if is(name, "xor") {
        BitOp::Xor
    } else if is(name, "not") {
        BitOp::Not
    } else {
        return Err(err::SYNTAX.into());
    };
    if op == BitOp::Not && argv.len() != 4 {
        return Err("ERR BITOP NOT must be called with a single source key.".into());
    }
    let now = ctx.now_ms;
    let db_index = ctx.client.db;
    // Every source is type-checked (and counted as a hit or miss) before any work, as Redis.
    let mut len = 0;
    for key in argv.iter().skip(3) {
        match lookup_read(ctx.keys.db(key, db_index), key, now, true).map(|o| &o.value) {
            None => {}
            Some(Value::Str(s)) => len = len.max(s.len()),
            Some(_) => return Err(err::WRONGTYPE.into()),
        }
    }
    // The result is built in place, each source read where it lies.
    let mut result = ThinVec::new();
    bits::zero_extend(&mut result, len);
    for (i, key) in argv.iter().skip(3).enumerate() {
        let db = ctx.keys.db(key, db_index);
        match db.peek(key, now).map(|o| &o.value) {
            Some(Value::Str(s)) => s.with_bytes(|b| bits::bitop_fold(op, &mut result, b, i == 0)),
            _ => bits::bitop_fold(op, &mut result, &[], i == 0),
        }
    }
    store_result(ctx, argv.get(2), len, (ev::STRING, "set"), || {
        Value::Str(Str::Raw(result))
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn naive(b: &[u8], from: u64, to: u64, bit: bool) -> Option<u64> {
        (from..=to).find(|&i| bits::get_bit(b, i) == bit)
    }

    #[test]
    fn range_search_and_count_agree_with_bit_by_bit() {
        let data = [0xf0u8, 0x0f, 0xff, 0x00, 0x81, 0x7e, 0xff, 0xff, 0x00, 0x01];
        let total = data.len() as u64 * 8;
        for from in 0..total {
            for to in from..total {
                for bit in [false, true] {
                    assert_eq!(
                        find_in_range(&data, from, to, bit),
                        naive(&data, from, to, bit)
                    );
                }
                let n = (from..=to).filter(|&i| bits::get_bit(&data, i)).count() as u64;
                assert_eq!(count_range(&data, from, to), n, "{from}..={to}");
            }
        }
    }
}
