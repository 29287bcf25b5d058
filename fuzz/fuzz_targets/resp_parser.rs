//! Fuzz the RESP request parser: arbitrary bytes, fed whole and in two pieces, must never panic,
//! must only hand out arguments inside the buffer, and must parse the same commands (and the
//! same error) however the bytes are split.
#![no_main]

use libfuzzer_sys::fuzz_target;
use resp::{Limits, Parsed, RequestParser};

/// Parse everything in `input`, offered `first` bytes at a time at first, then all of it.
fn parse(input: &[u8], first: usize) -> (Vec<Vec<Vec<u8>>>, Option<String>) {
    let limits = Limits {
        max_bulk_bytes: 1 << 20,
        auth_required: input.first() == Some(&b'!'),
    };
    let mut parser = RequestParser::new();
    let mut commands = Vec::new();
    let mut at = 0;
    let mut avail = first.min(input.len());
    loop {
        let window = &input[at..avail];
        match parser.parse(window, limits) {
            Ok(Parsed::Command { consumed }) => {
                assert!(consumed > 0 && consumed <= window.len());
                let argv = parser.argv(window);
                assert!(!argv.is_empty());
                commands.push(argv.iter().map(<[u8]>::to_vec).collect());
                parser.reset();
                at += consumed;
            }
            Ok(Parsed::Empty { consumed }) => {
                assert!(consumed > 0 && consumed <= window.len());
                at += consumed;
            }
            Ok(Parsed::Incomplete { .. }) if avail < input.len() => avail = input.len(),
            Ok(Parsed::Incomplete { .. }) => return (commands, None),
            Err(e) => return (commands, Some(e.to_string())),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    let split = usize::from(data[0]) % data.len().max(1);
    let whole = parse(&data[1..], usize::MAX);
    let pieces = parse(&data[1..], split);
    assert_eq!(whole, pieces, "split at {split} changed the result");
});
