//! HyperLogLog operations on arbitrary bytes (a client can SET any string and then PFADD,
//! PFCOUNT, PFMERGE or PFDEBUG it): an answer or Redis's error, never a panic, a hang or an
//! out-of-bounds access. Most inputs get a valid header so the fuzzer spends its time in the
//! sparse and dense decoders.
#![no_main]

use libfuzzer_sys::fuzz_target;
use store::hll;

fuzz_target!(|data: &[u8]| {
    let Some((&mode, body)) = data.split_first() else {
        return;
    };
    let mut value = store::ThinVec::new();
    if mode & 3 != 0 {
        value.extend_from_slice(b"HYLL");
        value.push(mode >> 7);
        value.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    }
    value.extend_from_slice(body);
    let _ = hll::decode_sparse(&value);
    let _ = hll::count_union(&[&value, &value]);
    let mut max = Box::new([0u8; hll::HLL_REGISTERS]);
    let _ = hll::merge_into(&mut max, &value);
    let mut counted = value.clone();
    let _ = hll::count(&mut counted);
    let mut added = value.clone();
    for element in body.chunks(3).take(64) {
        if hll::add(&mut added, element, 3000).is_err() {
            break;
        }
    }
    let _ = hll::count(&mut added);
    let _ = hll::to_dense(&mut value);
    let _ = hll::registers(&value);
});
