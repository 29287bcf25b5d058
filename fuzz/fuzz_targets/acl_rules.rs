//! Fuzz ACL rule parsing (ACL SETUSER, `user` lines, the ACL file): arbitrary bytes split at
//! spaces into rules, applied to a new user. Nothing may panic, and a user made of valid
//! rules must come back unchanged from what ACL LIST writes of it.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let rules: Vec<&[u8]> = data.split(|&c| c == b' ').collect();
    server::acl::file::check_round_trip(&rules);
});
