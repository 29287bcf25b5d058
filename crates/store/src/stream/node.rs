//! One stream node: a listpack in Redis's stream layout (`streamAppendItem` in `t_stream.c`).
//!
//! ```text
//! master entry: count | deleted | n-master-fields | field_1 .. field_N | 0
//! each entry:   flags | ms-diff | seq-diff | [n-fields | field_1 value_1 ..] or [value_1 ..] | lp-count
//! ```
//!
//! `count`/`deleted` are the live and tombstoned entries of the node; an entry whose fields are
//! the master's (flag SAMEFIELDS) stores only its values. IDs are deltas from the node's master
//! ID (the key the node is filed under), wrapping as Redis's unsigned arithmetic does.
//! `lp-count` is the number of elements of the entry before it, so the node can be walked from
//! its end; the master's `0` plays that role for the master entry.
//!
//! Why Redis's layout: the RDB writer emits nodes as they are, and the loader adopts nodes from
//! files, so they must be Redis's bytes. Functions here never panic on a node's content: a
//! position that does not parse ends the walk (`None`), which cannot happen for a node that
//! passed [`validate`].

use super::id::StreamId;
use super::listpack::{self as lp, Appender};
use crate::ThinVec;

/// No flag.
pub(crate) const FLAG_NONE: i64 = 0;
/// The entry is a tombstone (XDEL, XTRIM inside a node).
pub(crate) const FLAG_DELETED: i64 = 1;
/// The entry has the master entry's fields and stores only values.
pub(crate) const FLAG_SAMEFIELDS: i64 = 2;

/// What the master entry says, and where things are.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Master {
    /// Live entries in the node.
    pub count: i64,
    /// Tombstones in the node.
    pub deleted: i64,
    /// Number of master fields.
    pub fields: u64,
    /// Position of the first master field (the terminator when there are none).
    pub fields_pos: usize,
    /// Position of the first entry's flags, `None` if the node has no entries.
    pub first_entry: Option<usize>,
}

/// Reads the master entry.
pub(crate) fn master(node: &[u8]) -> Option<Master> {
    let p = lp::first(node)?;
    let count = lp::get_int(node, p)?;
    let p = lp::next(node, p)?;
    let deleted = lp::get_int(node, p)?;
    let p = lp::next(node, p)?;
    let fields = u64::try_from(lp::get_int(node, p)?).ok()?;
    let fields_pos = lp::next(node, p)?;
    let mut q = fields_pos;
    for _ in 0..fields {
        q = lp::next(node, q)?;
    }
    Some(Master {
        count,
        deleted,
        fields,
        fields_pos,
        first_entry: lp::next(node, q),
    })
}

/// One entry located inside a node.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RawEntry {
    /// The entry's ID (master ID plus the deltas).
    pub id: StreamId,
    /// Its flags.
    pub flags: i64,
    /// Position of the flags element (where XDEL writes the tombstone flag).
    pub flags_pos: usize,
    /// Number of field/value pairs.
    pub fields: u64,
    /// Position of the first field (or the first value for SAMEFIELDS entries); `None` when the
    /// entry has no fields.
    pub data_pos: Option<usize>,
    /// Position of the next entry's flags, `None` for the node's last entry.
    pub next: Option<usize>,
}

impl RawEntry {
    /// Whether the entry is a tombstone.
    pub fn deleted(&self) -> bool {
        self.flags & FLAG_DELETED != 0
    }

    /// Whether the entry stores only values (its fields are the master's).
    pub fn same_fields(&self) -> bool {
        self.flags & FLAG_SAMEFIELDS != 0
    }
}

/// Parses the entry whose flags are at `p`.
pub(crate) fn entry_at(node: &[u8], m: &Master, master_id: StreamId, p: usize) -> Option<RawEntry> {
    let flags = lp::get_int(node, p)?;
    let q = lp::next(node, p)?;
    let ms = master_id.ms.wrapping_add(lp::get_int(node, q)? as u64);
    let q = lp::next(node, q)?;
    let seq = master_id.seq.wrapping_add(lp::get_int(node, q)? as u64);
    let mut q = lp::next(node, q)?;
    let (fields, elements) = if flags & FLAG_SAMEFIELDS != 0 {
        (m.fields, m.fields)
    } else {
        let n = u64::try_from(lp::get_int(node, q)?).ok()?;
        q = lp::next(node, q)?;
        (n, n.checked_mul(2)?)
    };
    let data_pos = (elements > 0).then_some(q);
    for _ in 0..elements {
        q = lp::next(node, q)?;
    }
    Some(RawEntry {
        id: StreamId { ms, seq },
        flags,
        flags_pos: p,
        fields,
        data_pos,
        next: lp::next(node, q),
    })
}

/// Position of the flags of the entry whose lp-count is at `lpcount_pos`; `None` when that
/// element is the master entry's terminator (no entry before it).
pub(crate) fn entry_start(node: &[u8], lpcount_pos: usize) -> Option<usize> {
    let n = lp::get_int(node, lpcount_pos)?;
    if n <= 0 {
        return None;
    }
    let mut p = lpcount_pos;
    for _ in 0..n {
        p = lp::prev(node, p)?;
    }
    Some(p)
}

/// The ID of the node's last entry, tombstones included (`lpGetEdgeStreamID` backwards); `None`
/// if the node has no entries.
pub(crate) fn last_entry_id(node: &[u8], master_id: StreamId) -> Option<StreamId> {
    let m = master(node)?;
    let p = entry_start(node, lp::last(node)?)?;
    Some(entry_at(node, &m, master_id, p)?.id)
}

/// A new node holding one entry, `id` (which becomes the master ID) with `fields`; `capacity`
/// is the preallocation Redis gives a fresh tail node.
pub(crate) fn create(id: StreamId, fields: &[(&[u8], &[u8])], capacity: usize) -> ThinVec<u8> {
    let mut node = lp::new(capacity);
    {
        let mut w = Appender::new(&mut node);
        w.int(1);
        w.int(0);
        w.int(fields.len() as i64);
        for (f, _) in fields {
            w.str(f);
        }
        w.int(0);
    }
    push_entry(&mut node, id, id, FLAG_SAMEFIELDS, fields);
    node
}

/// Appends an entry to an existing node: bumps the live count and stores only the values when
/// the fields are the master's, as `streamAppendItem` does.
pub(crate) fn append(
    node: &mut ThinVec<u8>,
    master_id: StreamId,
    id: StreamId,
    fields: &[(&[u8], &[u8])],
) {
    let Some(m) = master(node) else { return };
    let mut flags = FLAG_NONE;
    if m.fields == fields.len() as u64 {
        let mut p = Some(m.fields_pos);
        let same = fields.iter().all(|(f, _)| match p {
            Some(q) => {
                let eq = lp::get(node, q).is_some_and(|e| e.eq_bytes(f));
                p = lp::next(node, q);
                eq
            }
            None => false,
        });
        if same {
            flags = FLAG_SAMEFIELDS;
        }
    }
    if lp::replace_int(node, lp::HDR_SIZE, m.count.wrapping_add(1)).is_none() {
        return;
    }
    push_entry(node, master_id, id, flags, fields);
}

/// Writes one entry's elements at the end of the node.
fn push_entry(
    node: &mut ThinVec<u8>,
    master_id: StreamId,
    id: StreamId,
    flags: i64,
    fields: &[(&[u8], &[u8])],
) {
    let same = flags & FLAG_SAMEFIELDS != 0;
    let mut w = Appender::new(node);
    w.int(flags);
    w.int(id.ms.wrapping_sub(master_id.ms) as i64);
    w.int(id.seq.wrapping_sub(master_id.seq) as i64);
    if !same {
        w.int(fields.len() as i64);
    }
    for (f, v) in fields {
        if !same {
            w.str(f);
        }
        w.str(v);
    }
    let n = fields.len() as i64;
    w.int(if same { n + 3 } else { 2 * n + 4 });
}

/// Rewrites the master entry's live and tombstone counts (`lpReplaceInteger` on both).
pub(crate) fn set_counts(node: &mut ThinVec<u8>, count: i64, deleted: i64) {
    if lp::replace_int(node, lp::HDR_SIZE, count).is_none() {
        return;
    }
    if let Some(p) = lp::next(node, lp::HDR_SIZE) {
        lp::replace_int(node, p, deleted);
    }
}

/// Sets the tombstone flag of the entry whose flags are at `flags_pos`. Returns the change in
/// the node's size (zero in practice: setting the low bit never changes an integer's width).
pub(crate) fn mark_deleted(node: &mut ThinVec<u8>, flags_pos: usize) -> isize {
    match lp::get_int(node, flags_pos) {
        Some(f) => lp::replace_int(node, flags_pos, f | FLAG_DELETED).unwrap_or(0),
        None => 0,
    }
}

/// Why a node from a file was refused.
pub(crate) type Invalid = &'static str;

/// Checks a node read from a file: Redis's `streamValidateListpackIntegrity` in deep mode, step
/// for step, plus what Redis would otherwise trip over later (an assertion or a crash there, a
/// wrong answer or worse here), so a node that passes can be walked without surprises:
/// negative counts, a node without entries, and counts that disagree with the flags.
///
/// Returns the node's live entry count.
pub(crate) fn validate(node: &[u8]) -> Result<u64, Invalid> {
    const BAD: Invalid = "Stream listpack integrity check failed.";
    if !lp::validate_header(node) {
        return Err(BAD);
    }
    let mut p = lp::validate_first(node).ok_or("Empty listpack inside stream")?;
    let mut next = Some(p);
    // Reads the integer at `p`, then steps: `p` takes the validated next element.
    let step = |p: &mut usize, next: &mut Option<usize>| -> Result<(), Invalid> {
        *p = next.ok_or(BAD)?;
        if lp::validate_next(node, next) {
            Ok(())
        } else {
            Err(BAD)
        }
    };
    let int = |p: usize| lp::get_int(node, p).ok_or(BAD);
    if !lp::validate_next(node, &mut next) {
        return Err(BAD);
    }
    let count = int(p)?;
    step(&mut p, &mut next)?;
    let deleted = int(p)?;
    step(&mut p, &mut next)?;
    let master_fields = int(p)?;
    step(&mut p, &mut next)?;
    if count < 0 || deleted < 0 || master_fields < 0 {
        return Err(BAD);
    }
    for _ in 0..master_fields {
        step(&mut p, &mut next)?;
    }
    if int(p)? != 0 {
        return Err(BAD);
    }
    step(&mut p, &mut next)?;
    let total = count.checked_add(deleted).ok_or(BAD)?;
    if total == 0 {
        return Err(BAD);
    }
    let (mut live, mut dead) = (0i64, 0i64);
    for _ in 0..total {
        let flags = int(p)?;
        step(&mut p, &mut next)?;
        int(p)?;
        step(&mut p, &mut next)?;
        int(p)?;
        step(&mut p, &mut next)?;
        let mut fields = master_fields;
        let mut extra = 3i64;
        if flags & FLAG_SAMEFIELDS == 0 {
            fields = int(p)?;
            step(&mut p, &mut next)?;
            if fields < 0 {
                return Err(BAD);
            }
            for _ in 0..fields {
                step(&mut p, &mut next)?;
            }
            extra += fields + 1;
        }
        for _ in 0..fields {
            step(&mut p, &mut next)?;
        }
        if Some(int(p)?) != fields.checked_add(extra) {
            return Err(BAD);
        }
        step(&mut p, &mut next)?;
        if flags & FLAG_DELETED != 0 {
            dead += 1;
        } else {
            live += 1;
        }
    }
    if next.is_some() || live != count || dead != deleted {
        return Err(BAD);
    }
    Ok(count as u64)
}
