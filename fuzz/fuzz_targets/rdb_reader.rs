//! The RDB reader on arbitrary bytes: every input ends in an item stream, `End` or an error —
//! never a panic, a hang or an allocation sized by a corrupt length.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::rdb::{Item, RdbReader};

fuzz_target!(|data: &[u8]| {
    // Mostly valid headers, so the fuzzer spends its time past the signature.
    let mut input = b"REDIS0010".to_vec();
    input.extend_from_slice(data);
    let Ok(mut r) = RdbReader::new(&input[..]) else {
        return;
    };
    for _ in 0..100_000 {
        match r.next_item() {
            Ok(Item::End) | Err(_) => return,
            Ok(_) => {}
        }
    }
});
