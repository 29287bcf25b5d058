//! Fuzz the conversions between RESP and Lua values (`scripting::convert`): arbitrary bytes
//! read as a command's reply become a Lua value, which is written back as a script's result
//! in both protocols. Nothing may panic or recurse without bound, whatever the bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use scripting::convert::{lua_to_reply, reply_to_lua};

fuzz_target!(|data: &[u8]| {
    thread_local! {
        static LUA: mlua::Lua = mlua::Lua::new();
    }
    LUA.with(|lua| {
        let Ok(value) = reply_to_lua(lua, data) else {
            return;
        };
        for (proto, script_resp) in [(resp::Proto::Resp2, 2), (resp::Proto::Resp3, 3)] {
            let mut out = resp::Reply::new();
            out.proto = proto;
            if lua_to_reply(lua, value.clone(), &mut out, script_resp).is_ok() {
                assert!(!out.as_bytes().is_empty());
            }
        }
    });
});
