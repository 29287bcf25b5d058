//! HyperLogLog, byte-compatible with Redis 7.0 (`src/hyperloglog.c` of 7.0.15).
//!
//! An HLL is an ordinary string value: a 16-byte header followed by the registers, either dense
//! (16384 six-bit registers, 12288 bytes) or sparse (run-length opcodes, see `sparse.rs`).
//!
//! Header: `"HYLL"`, one encoding byte (0 dense, 1 sparse), three reserved bytes, then the cached
//! cardinality as a little-endian u64 whose top bit set means "stale".
//!
//! Every byte a command leaves behind must match Redis's, because clients can GET the value and
//! because values travel between Basalt and Redis through RDB files and replication. The bytes
//! are also user data (a client can SET anything that looks like an HLL), so nothing here may
//! panic, loop forever or index out of range on a corrupt value: every entry point validates the
//! header like `isHLLObjectOrReply` and reports corrupt opcodes like Redis's decoders.
//!
//! Reference: the behaviour was checked byte for byte against redis-server 7.0.15 as shipped by
//! Debian (which carries the CVE-2025-32023 fix: a sparse VAL running past the last register is
//! corrupt even when the count happens to end at 16384).
//!
//! Division of labour with the commands: these functions only transform bytes; the commands
//! look keys up, create missing ones with [`new_sparse`], send errors ([`HllError`]'s text is the
//! exact reply), count dirty keys and signal modifications.

mod dense;
mod estimate;
mod murmur;
mod selftest;
mod sparse;
#[cfg(test)]
mod tests;

pub use crate::ThinVec;
pub use murmur::{murmurhash64a, pat_len, HLL_HASH_SEED};
pub use selftest::selftest;

/// Bits of the hash that select the register.
pub const HLL_P: u32 = 14;
/// Bits of the hash left for the zero-run count.
pub const HLL_Q: u32 = 64 - HLL_P;
/// Number of registers.
pub const HLL_REGISTERS: usize = 1 << HLL_P;
/// Mask selecting the register index.
pub const HLL_P_MASK: usize = HLL_REGISTERS - 1;
/// Bits per dense register.
pub const HLL_BITS: usize = 6;
/// Largest value a dense register holds.
pub const HLL_REGISTER_MAX: u8 = (1 << HLL_BITS) - 1;
/// Header length.
pub const HLL_HDR_SIZE: usize = 16;
/// Exact length of a dense value.
pub const HLL_DENSE_SIZE: usize = HLL_HDR_SIZE + (HLL_REGISTERS * HLL_BITS).div_ceil(8);
/// Encoding byte of a dense value.
pub const HLL_DENSE: u8 = 0;
/// Encoding byte of a sparse value.
pub const HLL_SPARSE: u8 = 1;
/// Largest encoding byte a valid value may carry.
pub const HLL_MAX_ENCODING: u8 = 1;
/// Redis's default `hll-sparse-max-bytes`.
pub const DEFAULT_SPARSE_MAX_BYTES: usize = 3000;

/// Why an HLL operation failed. The `Display` text is the error reply Redis sends, code included.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum HllError {
    /// The string is not an HLL at all (`isHLLObjectOrReply`: too short, bad magic, unknown
    /// encoding, or a dense value of the wrong length).
    #[error("WRONGTYPE Key is not a valid HyperLogLog string value.")]
    NotHll,
    /// The header is fine but the sparse opcodes do not describe exactly 16384 registers.
    #[error("INVALIDOBJ Corrupted HLL object detected")]
    Invalid,
    /// PFDEBUG DECODE on a dense value.
    #[error("ERR HLL encoding is not sparse")]
    NotSparse,
}

/// Whether `bytes` passes Redis's `isHLLObjectOrReply` checks (the string type itself is the
/// caller's check).
///
/// Why only the header: Redis accepts any sparse body here and detects bad opcodes later, while
/// decoding, so PFADD/PFCOUNT report the two problems with different errors; this split keeps that.
pub fn is_hll(bytes: &[u8]) -> bool {
    bytes.len() >= HLL_HDR_SIZE
        && &bytes[..4] == b"HYLL"
        && bytes[4] <= HLL_MAX_ENCODING
        && (bytes[4] != HLL_DENSE || bytes.len() == HLL_DENSE_SIZE)
}

/// Error unless `bytes` is an HLL; the functions below call it first so they are safe on any
/// string.
fn check(bytes: &[u8]) -> Result<(), HllError> {
    if is_hll(bytes) {
        Ok(())
    } else {
        Err(HllError::NotHll)
    }
}

/// Whether a (valid) HLL uses the dense encoding. PFMERGE needs it to decide the destination's
/// encoding.
pub fn is_dense(hll: &[u8]) -> bool {
    hll.get(4) == Some(&HLL_DENSE)
}

/// The value PFADD/PFMERGE create for a missing key (Redis's `createHLLObject`): sparse, one
/// XZERO covering all 16384 registers, cached cardinality 0 and valid (18 bytes).
///
/// Why the cache is valid here: that is what Redis creates; PFADD and PFMERGE then invalidate it
/// because they count the creation as a modification, so the caller must call
/// [`invalidate_cache`] after creating a key with them.
pub fn new_sparse() -> ThinVec<u8> {
    let mut v = ThinVec::with_capacity(HLL_HDR_SIZE + 2);
    v.extend_from_slice(b"HYLL");
    v.push(HLL_SPARSE);
    v.extend_from_slice(&[0; 11]);
    sparse::empty_ops(&mut v);
    v
}

/// Add `element` (PFADD's `hllAdd`); whether a register changed.
///
/// Why the cache is invalidated here on change: Redis invalidates it in the sparse path and
/// again in the command whenever something changed, so invalidating on every change gives the
/// same bytes; the caller still invalidates when it created the key. A sparse value turns dense
/// when a register needs a value above 32 or when the opcodes would grow past
/// `sparse_max_bytes` (the `hll-sparse-max-bytes` setting). On `Err` earlier elements of the
/// same command may already have changed the value, as in Redis.
pub fn add(
    hll: &mut ThinVec<u8>,
    element: &[u8],
    sparse_max_bytes: usize,
) -> Result<bool, HllError> {
    check(hll)?;
    let (index, count) = pat_len(element);
    if is_dense(hll) {
        let changed = dense::raise(&mut hll[HLL_HDR_SIZE..], index, count);
        if changed {
            invalidate_cache(hll);
        }
        Ok(changed)
    } else {
        sparse::set(hll, index, count, sparse_max_bytes)
    }
}

/// Mark the cached cardinality stale (top bit of the last card byte), as PFADD/PFMERGE do after
/// a change. A too-short slice is left alone.
pub fn invalidate_cache(hll: &mut [u8]) {
    if let Some(b) = hll.get_mut(HLL_HDR_SIZE - 1) {
        *b |= 0x80;
    }
}

/// The cached cardinality if it is valid.
fn cached(hll: &[u8]) -> Option<u64> {
    let card: [u8; 8] = hll.get(8..16)?.try_into().ok()?;
    (card[7] & 0x80 == 0).then(|| u64::from_le_bytes(card))
}

/// Histogram of register values of a valid HLL (dense or sparse).
fn histogram(hll: &[u8]) -> Result<[u64; 64], HllError> {
    let mut histo = [0u64; 64];
    let body = &hll[HLL_HDR_SIZE..];
    if is_dense(hll) {
        dense::histogram(body, &mut histo);
    } else {
        sparse::histogram(body, &mut histo)?;
    }
    Ok(histo)
}

/// PFCOUNT of one key: `(cardinality, cache_written)`.
///
/// Why it mutates: Redis answers from the cached cardinality when it is valid and otherwise
/// computes it and stores it in the header, which changes the value; `cache_written` tells the
/// command to count the key as modified (dirty++, signal). A corrupt sparse value is an error and
/// is left untouched. The cardinality is an unsigned 64-bit number but Redis replies with it as
/// a signed one, so the command should reply `card as i64` (only a hand-made dense value with
/// saturated registers reaches 2^63, replied as -9223372036854775808).
pub fn count(hll: &mut ThinVec<u8>) -> Result<(u64, bool), HllError> {
    check(hll)?;
    if let Some(card) = cached(hll) {
        return Ok((card, false));
    }
    let card = estimate::estimate(&histogram(hll)?);
    hll[8..16].copy_from_slice(&card.to_le_bytes());
    Ok((card, true))
}

/// Cardinality of a valid HLL without touching its cache (`hllCount`).
pub fn count_uncached(hll: &[u8]) -> Result<u64, HllError> {
    check(hll)?;
    Ok(estimate::estimate(&histogram(hll)?))
}

/// Cardinality of one register per byte (`hllCount` on Redis's internal raw encoding), the last
/// step of a multi-key PFCOUNT after [`merge_into`].
pub fn count_raw(max: &[u8; HLL_REGISTERS]) -> u64 {
    let mut histo = [0u64; 64];
    for &r in max.iter() {
        histo[usize::from(r & 63)] += 1;
    }
    estimate::estimate(&histo)
}

/// PFCOUNT of several keys: the cardinality of their union, with no cache read or written.
///
/// Why it goes through plain registers: Redis merges into one byte per register and counts that;
/// the result can differ from any single key's count. Missing keys are simply left out by the
/// caller. The first failing value decides the error, in argument order, as in Redis.
pub fn count_union(hlls: &[&[u8]]) -> Result<u64, HllError> {
    let mut max = [0u8; HLL_REGISTERS];
    for hll in hlls {
        merge_into(&mut max, hll)?;
    }
    Ok(count_raw(&max))
}

/// Fold `hll` into `max` by taking the larger value of each register (`hllMerge`).
///
/// Why both encodings: PFCOUNT of several keys and PFMERGE merge whatever the keys hold. A
/// corrupt sparse value is an error; `max` may then be partly updated, which does not matter
/// because the command fails.
pub fn merge_into(max: &mut [u8; HLL_REGISTERS], hll: &[u8]) -> Result<(), HllError> {
    check(hll)?;
    let body = &hll[HLL_HDR_SIZE..];
    if is_dense(hll) {
        for (i, slot) in max.iter_mut().enumerate() {
            let v = dense::get(body, i);
            if v > *slot {
                *slot = v;
            }
        }
        Ok(())
    } else {
        sparse::merge(body, max)
    }
}

/// Write the merged registers `max` into PFMERGE's destination `dest` (its current value, or
/// [`new_sparse`] when the key is missing), as Redis 7.0.15 does.
///
/// Why this shape: 7.0.15 converts the destination to dense only if some source (`use_dense`,
/// any merged value being dense) was dense; otherwise it raises the registers one by one through
/// the sparse path, so the result stays sparse unless a register needs a value above 32 or the
/// opcodes outgrow `sparse_max_bytes`. Redis ignores errors of those sparse updates (the
/// destination was already validated as a source); so does this. The cache is invalidated in
/// every case, even when nothing changed. `dest` must be one of the merged values (PFMERGE merges
/// the destination too), so its registers never exceed `max`.
pub fn store_merged(
    dest: &mut ThinVec<u8>,
    max: &[u8; HLL_REGISTERS],
    use_dense: bool,
    sparse_max_bytes: usize,
) -> Result<(), HllError> {
    check(dest)?;
    if use_dense {
        sparse::to_dense(dest)?;
    }
    for (j, &v) in max.iter().enumerate() {
        if v == 0 {
            continue;
        }
        if is_dense(dest) {
            dense::raise(&mut dest[HLL_HDR_SIZE..], j, v);
        } else {
            let _ = sparse::set(dest, j, v, sparse_max_bytes);
        }
    }
    invalidate_cache(dest);
    Ok(())
}

/// Convert a sparse HLL to dense in place (PFDEBUG TODENSE); whether it converted.
///
/// Why it exists beside [`add`]'s automatic promotion: PFDEBUG TODENSE and GETREG force the
/// conversion (and Redis then propagates the changed value). The header, cache included, is
/// kept; a corrupt sparse value is an error and left untouched.
pub fn to_dense(hll: &mut ThinVec<u8>) -> Result<bool, HllError> {
    check(hll)?;
    sparse::to_dense(hll)
}

/// The 16384 register values (PFDEBUG GETREG).
///
/// Why read-only: GETREG in Redis first converts a sparse key to dense (modifying the key, with
/// dirty++), so the command should call [`to_dense`] first and then this; given a sparse value
/// this still decodes it, with the same corruption checks.
pub fn registers(hll: &[u8]) -> Result<Vec<u8>, HllError> {
    check(hll)?;
    if is_dense(hll) {
        let body = &hll[HLL_HDR_SIZE..];
        Ok((0..HLL_REGISTERS).map(|i| dense::get(body, i)).collect())
    } else {
        let mut max = [0u8; HLL_REGISTERS];
        sparse::merge(&hll[HLL_HDR_SIZE..], &mut max)?;
        Ok(max.to_vec())
    }
}

/// The opcodes of a sparse HLL as PFDEBUG DECODE prints them, e.g. `Z:8436 v:1,1 Z:7947`.
///
/// Why it accepts corrupt opcodes: Redis prints whatever is there (it is a debugging aid), so
/// only a dense value is refused ([`HllError::NotSparse`]).
pub fn decode_sparse(hll: &[u8]) -> Result<String, HllError> {
    check(hll)?;
    if is_dense(hll) {
        return Err(HllError::NotSparse);
    }
    Ok(sparse::decode_text(&hll[HLL_HDR_SIZE..]))
}

/// PFDEBUG ENCODING's answer for a valid HLL: `"dense"` or `"sparse"`.
pub fn encoding_name(hll: &[u8]) -> &'static str {
    if is_dense(hll) {
        "dense"
    } else {
        "sparse"
    }
}
