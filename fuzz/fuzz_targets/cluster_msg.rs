//! Fuzz the cluster bus's message decoder: arbitrary bytes must decode or be refused, never
//! panic; a message that decodes encodes back to the same bytes, and its gossip entries
//! stay within what it carries.
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::cluster::msg::Message;

fuzz_target!(|data: &[u8]| {
    let _ = Message::announced_len(data);
    if let Ok(m) = Message::decode(data) {
        assert!(m.gossip().len() <= m.header.count as usize);
        // The reserved bytes are written as zeros, so compare with those cleared.
        let mut want = data.to_vec();
        want[2216..2246].fill(0);
        assert_eq!(m.encode(), want);
    }
});
