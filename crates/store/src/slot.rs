//! Redis Cluster's key → hash slot mapping: CRC16 (XMODEM: polynomial 0x1021, initial value
//! 0, no reflection) of the key's hash tag, modulo 16,384. The hash tag is the part between
//! the first `{` and the next `}` when that part is not empty; otherwise the whole key. Keys
//! sharing a tag share a slot, which is how multi-key commands stay on one node.

/// Number of hash slots.
pub const SLOTS: usize = 16_384;

/// Cluster mode: every database counts its keys per slot (see [`crate::Db::keys_in_slot`]),
/// so CLUSTER COUNTKEYSINSLOT answers without a walk. Set once, before any key exists.
static COUNTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

pub(crate) fn counting() -> bool {
    COUNTING.load(std::sync::atomic::Ordering::Relaxed)
}

pub(crate) fn start_counting() {
    COUNTING.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// CRC16/XMODEM, table-driven (one lookup per byte).
const TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        table[i] = crc;
        i += 1;
    }
    table
};

pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ TABLE[((crc >> 8) as u8 ^ b) as usize]
    })
}

/// The hash slot of `key`.
pub fn key_slot(key: &[u8]) -> u16 {
    crc16(crate::store::hash_tag(key)) & (SLOTS as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_check_value() {
        // The XMODEM check value, and the one Redis's cluster spec gives.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_as_redis() {
        // Values from redis-server 7.0.15's CLUSTER KEYSLOT.
        assert_eq!(key_slot(b"foo"), 12182);
        assert_eq!(key_slot(b"bar"), 5061);
        assert_eq!(key_slot(b"{user1000}.following"), key_slot(b"user1000"));
        assert_eq!(key_slot(b"foo{}{bar}"), crc16(b"foo{}{bar}") & 16383);
        assert_eq!(key_slot(b"foo{{bar}}zap"), key_slot(b"{bar"));
        assert_eq!(key_slot(b"foo{bar}{zap}"), key_slot(b"bar"));
        assert_eq!(key_slot(b""), 0);
    }
}
