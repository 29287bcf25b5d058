//! RESTORE payloads on arbitrary bytes: a value or an error, never a panic, a hang or an
//! allocation sized by a corrupt length. Most inputs get a valid footer (version and CRC-64)
//! so the fuzzer spends its time in the value reader; the rest test the footer checks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::rdb::dump::restore;
use persist::rdb::CRC64;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    if mode & 7 == 0 {
        let _ = restore(body);
        return;
    }
    let mut payload = body.to_vec();
    payload.extend_from_slice(&10u16.to_le_bytes());
    let crc = CRC64.checksum(&payload);
    payload.extend_from_slice(&crc.to_le_bytes());
    let _ = restore(&payload);
});
