//! DUMP and RESTORE payloads: a value as RDB writes it (type byte and body), then the RDB
//! version as 2 bytes little-endian, then the CRC-64 (Redis's Jones variant) of everything
//! before it, 8 bytes little-endian. Payloads of this writer restore in Redis 7.0 and Redis's
//! in Basalt.

use store::Value;

use super::read::RdbReader;
use super::write::{value_type, RdbWriter};
use super::{RdbError, RdbValue, CRC64, RDB_VERSION};

/// Why a payload was refused, with Redis's reply for each case.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// Too short, a newer RDB version, or a checksum that does not match.
    #[error("DUMP payload version or checksum are wrong")]
    Footer,
    /// The footer is fine but the value cannot be read.
    #[error("Bad data format")]
    Body(#[source] RdbError),
}

/// Bytes of the footer: version and checksum.
const FOOTER_LEN: usize = 10;

/// The payload of `value` (`compress` is `rdbcompression`, as Redis's DUMP follows it).
pub fn dump(value: &Value, compress: bool) -> Vec<u8> {
    let mut w = RdbWriter::part(compress);
    // Writing to memory cannot fail.
    let _ = w.raw_part(&[value_type(value)]);
    let _ = w.value(value);
    let mut out = w.take_part();
    out.extend_from_slice(&(RDB_VERSION as u16).to_le_bytes());
    let crc = CRC64.checksum(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The value a payload holds, after its footer is checked (Redis's `verifyDumpPayload`, then
/// `rdbLoadObject`). Bytes left over after the value are ignored, as Redis does.
pub fn restore(payload: &[u8]) -> Result<RdbValue, PayloadError> {
    restore_packed(payload).map(|(value, _)| value)
}

/// A payload's body and RDB version, once its footer is checked (Redis's
/// `verifyDumpPayload`): long enough, a version this reader knows, the checksum right.
pub(crate) fn checked_body(payload: &[u8]) -> Option<(&[u8], u32)> {
    if payload.len() < FOOTER_LEN {
        return None;
    }
    let (body, footer) = payload.split_at(payload.len() - FOOTER_LEN);
    let version = u32::from(u16::from_le_bytes([footer[0], footer[1]]));
    if version > RDB_VERSION {
        return None;
    }
    let crc = CRC64.checksum(&payload[..payload.len() - 8]);
    (crc.to_le_bytes() == footer[2..]).then_some((body, version))
}

/// [`restore`], and whether the value came as a packed blob (see `read::is_packed_type`).
pub fn restore_packed(payload: &[u8]) -> Result<(RdbValue, bool), PayloadError> {
    restore_counted(payload).map(|(value, packed, _)| (value, packed))
}

/// [`restore_packed`], and the number of blobs Redis would count as sanitized in depth (see
/// `RdbReader::deep_checked`).
pub fn restore_counted(payload: &[u8]) -> Result<(RdbValue, bool, u64), PayloadError> {
    let (body, version) = checked_body(payload).ok_or(PayloadError::Footer)?;
    let mut reader = RdbReader::bare(body, version);
    let (value, packed) = reader.typed_value().map_err(PayloadError::Body)?;
    Ok((value, packed, reader.deep_checked))
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::{Hash, HashLimits, Str};

    #[test]
    fn a_payload_round_trips_and_any_flipped_bit_is_refused() {
        let mut h = Hash::default();
        h.set(b"f", b"v", HashLimits::default());
        for (value, want) in [
            (
                Value::Str(Str::from_bytes(b"hello")),
                RdbValue::Str(b"hello".to_vec()),
            ),
            (
                Value::Hash(Box::new(h)),
                RdbValue::Hash(vec![(b"f".to_vec(), b"v".to_vec())]),
            ),
        ] {
            let p = dump(&value, true);
            assert_eq!(restore(&p).expect("restores"), want);
            for i in 0..p.len() {
                let mut bad = p.clone();
                bad[i] ^= 0x10;
                assert!(restore(&bad).is_err(), "byte {i} flipped was accepted");
            }
        }
    }

    /// `redis-cli DUMP` of `SET k 1234567` in Redis 7.0.15: an int-encoded string.
    #[test]
    fn redis_payloads_restore() {
        let p = b"\x00\xc2\x87\xd6\x12\x00\x0a\x00\xe9\x3e\x1e\x36\x2b\x3b\x7c\x5e";
        assert_eq!(
            restore(p).expect("restores"),
            RdbValue::Str(b"1234567".to_vec())
        );
        assert!(matches!(restore(&p[..9]), Err(PayloadError::Footer)));
    }
}
