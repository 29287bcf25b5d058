//! The log reader on arbitrary bytes: commands, annotations checked, a torn tail or an error —
//! never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use persist::AofReader;

fuzz_target!(|data: &[u8]| {
    let mut r = AofReader::new(data, 1 << 20);
    while let Ok(Some(_)) = r.next_entry() {}
});
