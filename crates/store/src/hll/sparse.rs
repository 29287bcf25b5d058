//! The sparse encoding: a run-length list of opcodes after the header.
//!
//! * ZERO  `00xxxxxx`          : 1..=64 registers at zero.
//! * XZERO `01xxxxxx yyyyyyyy` : 1..=16384 registers at zero (14-bit length, minus one).
//! * VAL   `1vvvvvxx`          : 1..=4 registers holding the value 1..=32.
//!
//! The opcodes are user data (any string starting with a sparse header is accepted), so every
//! walk here is bounded by the buffer and by the register count and reports corruption the way
//! Redis does instead of trusting the lengths. Redis sometimes reads the byte just past the end
//! (the second byte of a truncated XZERO): normally that is its string terminator, zero, and
//! [`byte`] reproduces it.
//!
//! Known divergence, only for hand-made values: when PFADD splits a *truncated* trailing XZERO,
//! Redis writes the last new opcode byte just past the string's end (its length arithmetic
//! assumes two bytes were replaced) and later reads of that same value see that stale byte where
//! we see zero. The visible bytes of that first edit are identical; only later operations on the
//! same (already corrupt) value can differ. Storing an invisible byte is not possible here, and
//! Redis itself loses it when the value is copied (DUMP, replication, RDB).

use super::{dense, HllError, ThinVec, HLL_DENSE, HLL_DENSE_SIZE, HLL_HDR_SIZE, HLL_REGISTERS};

/// Largest register value a VAL opcode can hold.
pub const VAL_MAX_VALUE: u8 = 32;
/// Longest run a VAL opcode can hold.
const VAL_MAX_LEN: usize = 4;
/// Longest run a ZERO opcode can hold.
const ZERO_MAX_LEN: usize = 64;
/// Longest run an XZERO opcode can hold.
pub const XZERO_MAX_LEN: usize = 16384;
/// Tag bits of XZERO.
const XZERO_BIT: u8 = 0x40;
/// Tag bit of VAL.
const VAL_BIT: u8 = 0x80;

/// One decoded opcode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `n` registers at zero, one byte.
    Zero(usize),
    /// `n` registers at zero, two bytes.
    XZero(usize),
    /// `n` registers holding `v`, one byte.
    Val(u8, usize),
}

impl Op {
    /// Registers covered.
    pub fn span(self) -> usize {
        match self {
            Op::Zero(n) | Op::XZero(n) | Op::Val(_, n) => n,
        }
    }

    /// Bytes taken.
    pub fn size(self) -> usize {
        match self {
            Op::XZero(_) => 2,
            _ => 1,
        }
    }
}

/// Byte `i` of `buf`, or the zero terminator Redis would read past the end.
#[inline]
fn byte(buf: &[u8], i: usize) -> u8 {
    buf.get(i).copied().unwrap_or(0)
}

/// Decode the opcode at `p` (`p < buf.len()`; a missing second XZERO byte reads as zero).
#[inline]
pub fn op_at(buf: &[u8], p: usize) -> Op {
    let b = byte(buf, p);
    match b & 0xc0 {
        0 => Op::Zero(usize::from(b & 0x3f) + 1),
        XZERO_BIT => Op::XZero((usize::from(b & 0x3f) << 8 | usize::from(byte(buf, p + 1))) + 1),
        _ => Op::Val(((b >> 2) & 0x1f) + 1, usize::from(b & 0x3) + 1),
    }
}

/// The VAL opcode byte for `val` (1..=32) repeated `len` (1..=4) times.
#[inline]
fn val_op(val: u8, len: usize) -> u8 {
    ((val.wrapping_sub(1) & 0x1f) << 2) | ((len.wrapping_sub(1) & 0x3) as u8) | VAL_BIT
}

/// Append the shortest zero-run opcode for `len` (1..=16384) registers.
fn push_zeroes(seq: &mut Vec<u8>, len: usize) {
    let l = len - 1;
    if len > ZERO_MAX_LEN {
        seq.push(((l >> 8) & 0x3f) as u8 | XZERO_BIT);
        seq.push((l & 0xff) as u8);
    } else {
        seq.push(l as u8);
    }
}

/// The opcodes of a new, empty HLL: XZERO runs covering every register.
pub fn empty_ops(out: &mut ThinVec<u8>) {
    let mut left = HLL_REGISTERS;
    while left > 0 {
        let n = left.min(XZERO_MAX_LEN);
        let l = n - 1;
        out.push((l >> 8) as u8 | XZERO_BIT);
        out.push((l & 0xff) as u8);
        left -= n;
    }
}

/// Add the register histogram of the opcodes `ops` into `histo` (Redis's `hllSparseRegHisto`).
///
/// Why it fails only at the end: Redis counts every opcode and then checks that they covered
/// exactly `HLL_REGISTERS` registers; too few or too many means a corrupt value.
pub fn histogram(ops: &[u8], histo: &mut [u64; 64]) -> Result<(), HllError> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < ops.len() {
        let op = op_at(ops, p);
        let bucket = match op {
            Op::Val(v, _) => usize::from(v),
            _ => 0,
        };
        idx = idx.saturating_add(op.span());
        histo[bucket] = histo[bucket].saturating_add(op.span() as u64);
        p += op.size();
    }
    if idx == HLL_REGISTERS {
        Ok(())
    } else {
        Err(HllError::Invalid)
    }
}

/// Walk the opcodes `ops`, calling `put(index, value)` for every register a VAL covers (Redis's
/// decoding loop shared by `hllSparseToDense` and `hllMerge`).
///
/// Why fail early: a VAL reaching past the last register would write out of range. Redis 7.0.15
/// as shipped with the CVE-2025-32023 fix (the reference server) reports the value as corrupt
/// right there, even when the registers counted so far happen to total 16384 (`Z:16384 v:4,1`);
/// otherwise the final count must be exactly `HLL_REGISTERS`.
fn for_each_val(ops: &[u8], mut put: impl FnMut(usize, u8)) -> Result<(), HllError> {
    let mut idx = 0usize;
    let mut p = 0;
    while p < ops.len() {
        let op = op_at(ops, p);
        match op {
            Op::Zero(n) | Op::XZero(n) => idx = idx.saturating_add(n),
            Op::Val(v, n) => {
                if idx.saturating_add(n) > HLL_REGISTERS {
                    return Err(HllError::Invalid);
                }
                for i in idx..idx + n {
                    put(i, v);
                }
                idx += n;
            }
        }
        p += op.size();
    }
    if idx == HLL_REGISTERS {
        Ok(())
    } else {
        Err(HllError::Invalid)
    }
}

/// Fold the registers of the opcodes `ops` into `max` by maximum (the sparse half of `hllMerge`).
pub fn merge(ops: &[u8], max: &mut [u8; HLL_REGISTERS]) -> Result<(), HllError> {
    for_each_val(ops, |i, v| {
        if let Some(slot) = max.get_mut(i) {
            if v > *slot {
                *slot = v;
            }
        }
    })
}

/// Replace the sparse value in `hll` with its dense form; `Ok(false)` if already dense
/// (Redis's `hllSparseToDense`).
///
/// Why the header is copied: Redis keeps the magic, the reserved bytes and the cached
/// cardinality (valid or not) as they were, and only flips the encoding byte. On corruption
/// nothing is changed.
pub fn to_dense(hll: &mut ThinVec<u8>) -> Result<bool, HllError> {
    if hll.len() < HLL_HDR_SIZE {
        return Err(HllError::NotHll);
    }
    if hll[4] == HLL_DENSE {
        return Ok(false);
    }
    let mut out = ThinVec::with_capacity(HLL_DENSE_SIZE);
    out.extend_from_slice(&hll[..HLL_HDR_SIZE]);
    out[4] = HLL_DENSE;
    out.resize(HLL_DENSE_SIZE, 0);
    let regs = &mut out[HLL_HDR_SIZE..];
    for_each_val(&hll[HLL_HDR_SIZE..], |i, v| dense::set(regs, i, v))?;
    *hll = out;
    Ok(true)
}

/// Text of the opcodes `ops` as PFDEBUG DECODE prints it: `z:N`, `Z:N`, `v:VALUE,N`, separated by
/// single spaces, with no trailing space (Redis appends one after each and trims at the end).
pub fn decode_text(ops: &[u8]) -> String {
    let mut out = String::new();
    let mut p = 0;
    while p < ops.len() {
        let op = op_at(ops, p);
        if !out.is_empty() {
            out.push(' ');
        }
        let text = match op {
            Op::Zero(n) => format!("z:{n}"),
            Op::XZero(n) => format!("Z:{n}"),
            Op::Val(v, n) => format!("v:{v},{n}"),
        };
        out.push_str(&text);
        p += op.size();
    }
    out
}

/// Result of [`set`] when Redis would promote to dense instead of editing the opcodes.
enum Edit {
    /// The register already held at least the count.
    Unchanged,
    /// The opcodes were rewritten.
    Updated,
    /// The value must become dense first.
    Promote,
}

/// Raise register `index` (< `HLL_REGISTERS`) of the sparse `hll` to `count` if it is lower, in
/// place (Redis's `hllSparseSet`); whether the register changed.
///
/// Why this exact procedure: the bytes of the result are visible to clients (GET, DUMP,
/// replication), so the opcode being split, the choice between ZERO and XZERO for the pieces,
/// and the limited merge of equal neighbouring VALs afterwards all follow Redis step by step.
/// The value turns dense when `count` exceeds what VAL can hold or when growing the opcodes
/// would take the whole value past `sparse_max_bytes`. When the register changed, the cached
/// cardinality is invalidated on the sparse path (the caller invalidates on the dense one).
pub fn set(
    hll: &mut ThinVec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<bool, HllError> {
    let edit = if count > VAL_MAX_VALUE {
        Edit::Promote
    } else {
        edit(hll, index, count, sparse_max_bytes)?
    };
    match edit {
        Edit::Unchanged => Ok(false),
        Edit::Updated => {
            super::invalidate_cache(hll);
            Ok(true)
        }
        Edit::Promote => {
            to_dense(hll)?;
            dense::raise(&mut hll[HLL_HDR_SIZE..], index, count);
            // Redis asserts the register changed: a valid sparse value held less than `count`.
            Ok(true)
        }
    }
}

/// The in-place part of [`set`]: find the opcode covering `index`, split or rewrite it, then merge
/// equal VAL neighbours.
fn edit(
    hll: &mut ThinVec<u8>,
    index: usize,
    count: u8,
    sparse_max_bytes: usize,
) -> Result<Edit, HllError> {
    let end = hll.len();
    // Step 1: the opcode at `p` covers registers first..first+span.
    let mut p = HLL_HDR_SIZE;
    let mut first = 0usize;
    let mut span = 0usize;
    let mut prev = None;
    while p < end {
        let op = op_at(hll, p);
        span = op.span();
        if index < first.saturating_add(span) {
            break;
        }
        prev = Some(p);
        p += op.size();
        first = first.saturating_add(span);
    }
    if span == 0 || p >= end {
        return Err(HllError::Invalid);
    }
    let op = op_at(hll, p);
    let old_len = op.size();
    let has_next = p + old_len < end;

    // Cases where one byte is rewritten in place.
    match op {
        Op::Val(v, _) if v >= count => return Ok(Edit::Unchanged),
        Op::Val(_, 1) | Op::Zero(1) => {
            hll[p] = val_op(count, 1);
            merge_neighbours(hll, prev.unwrap_or(HLL_HDR_SIZE));
            return Ok(Edit::Updated);
        }
        _ => {}
    }

    // General case: split the opcode into up to three (at most 5 bytes).
    let last = first + span - 1;
    let mut seq = Vec::with_capacity(5);
    match op {
        Op::Val(v, _) => {
            if index != first {
                seq.push(val_op(v, index - first));
            }
            seq.push(val_op(count, 1));
            if index != last {
                seq.push(val_op(v, last - index));
            }
        }
        Op::Zero(_) | Op::XZero(_) => {
            if index != first {
                push_zeroes(&mut seq, index - first);
            }
            seq.push(val_op(count, 1));
            if index != last {
                push_zeroes(&mut seq, last - index);
            }
        }
    }

    // Step 3: splice the new opcodes in, unless that grows the value past the limit.
    let grow = seq.len() as isize - old_len as isize;
    if grow > 0 && end.saturating_add(grow as usize) > sparse_max_bytes {
        return Ok(Edit::Promote);
    }
    if has_next {
        hll.splice(p..p + old_len, seq.iter().copied());
    } else {
        let new_len = (end as isize + grow) as usize;
        hll.truncate(p);
        hll.extend_from_slice(&seq);
        // Only shorter when the last opcode is an XZERO cut after its first byte: Redis applies
        // the length change for two bytes replaced, so the last new byte falls off the end.
        hll.truncate(new_len);
    }

    merge_neighbours(hll, prev.unwrap_or(HLL_HDR_SIZE));
    Ok(Edit::Updated)
}

/// Step 4 of `hllSparseSet`: starting at `p`, look at up to five opcodes and fuse each pair of
/// adjacent VALs with the same value whose lengths fit one VAL.
///
/// Why only five: the edit touched at most the opcode before it and the three it produced, so
/// that is the only place a merge can have become possible; Redis scans exactly that far.
fn merge_neighbours(hll: &mut ThinVec<u8>, mut p: usize) {
    let mut budget = 5;
    while p < hll.len() && budget > 0 {
        budget -= 1;
        let b = hll[p];
        if b & 0xc0 == XZERO_BIT {
            p += 2;
            continue;
        }
        if b & 0xc0 == 0 {
            p += 1;
            continue;
        }
        if p + 1 < hll.len() && hll[p + 1] & VAL_BIT != 0 {
            if let (Op::Val(v1, l1), Op::Val(v2, l2)) = (op_at(hll, p), op_at(hll, p + 1)) {
                if v1 == v2 && l1 + l2 <= VAL_MAX_LEN {
                    hll[p + 1] = val_op(v1, l1 + l2);
                    hll.remove(p);
                    // Stay on the merged opcode: it may merge with the next one too.
                    continue;
                }
            }
        }
        p += 1;
    }
}
