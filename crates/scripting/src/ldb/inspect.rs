//! The debugger's commands that look into the running script: `trace`, `eval`, `print`.

use mlua::{Lua, Value};

use super::show::repr_value;

/// The frames of the script's code, innermost first: (function name, line).
pub(super) fn trace(lua: &Lua) -> Vec<(String, i32)> {
    let mut frames = Vec::new();
    let mut level = 0;
    while let Some(d) = lua.inspect_stack(level) {
        let src = d
            .source()
            .short_src
            .map(|s| s.into_owned())
            .unwrap_or_default();
        if src.contains("user_script") {
            let name = d
                .names()
                .name
                .map_or_else(|| "top level".to_string(), |n| n.into_owned());
            frames.push((name, d.curr_line()));
        }
        level += 1;
    }
    frames
}

/// `eval <code>`: the code as an expression (`return …`), else as statements, in the
/// scripts' environment; `<retval> …` or `<error> …`.
pub(super) fn eval(
    lua: &Lua,
    helpers: &crate::sandbox::Sandbox,
    code: &str,
) -> Result<String, String> {
    let load = |text: String| {
        lua.load(text)
            .set_name("@ldb_eval")
            .set_environment(helpers.env.clone())
            .into_function()
    };
    let f = match load(format!("return {code}")) {
        Ok(f) => f,
        Err(_) => load(code.to_string())
            .map_err(|e| format!("<error> {}", crate::engine::lua_error_text(&e)))?,
    };
    match f.call::<Value>(()) {
        Ok(v) => {
            let mut out = String::from("<retval> ");
            repr_value(&mut out, &v, 0);
            Ok(out)
        }
        Err(e) => {
            // The message alone, without the traceback mlua adds.
            let text = crate::engine::lua_error_text(&e);
            let msg = text.split("\nstack traceback:").next().unwrap_or("");
            Err(format!("<error> {msg}"))
        }
    }
}

/// `print [var]`: the current function's locals (all, or the one named, looked for from the
/// current frame outwards; KEYS and ARGV too).
pub(super) fn print(
    lua: &Lua,
    helpers: &crate::sandbox::Sandbox,
    name: Option<&str>,
) -> Vec<String> {
    let locals: mlua::Result<mlua::Function> = helpers.host.raw_get("ldb_locals");
    let Ok(locals) = locals else {
        return vec!["No local variables in the current context.".into()];
    };
    // Pairs of (name, value) per frame, innermost first, as a flat list with frame marks.
    let found: mlua::Result<mlua::Table> = locals.call(());
    let Ok(frames) = found else {
        return vec!["No local variables in the current context.".into()];
    };
    let frames: Vec<mlua::Table> = frames.sequence_values().filter_map(Result::ok).collect();
    match name {
        Some(var) => {
            for frame in &frames {
                for pair in frame.clone().sequence_values::<mlua::Table>() {
                    let Ok(pair) = pair else { continue };
                    let n: String = pair.raw_get(1).unwrap_or_default();
                    if n == var {
                        let v: Value = pair.raw_get(2).unwrap_or(Value::Nil);
                        let mut out = String::from("<value> ");
                        repr_value(&mut out, &v, 0);
                        return vec![out];
                    }
                }
            }
            if var == "KEYS" || var == "ARGV" {
                let v: Value = helpers.globals.raw_get(var).unwrap_or(Value::Nil);
                let mut out = String::from("<value> ");
                repr_value(&mut out, &v, 0);
                return vec![out];
            }
            vec!["No such variable.".into()]
        }
        None => {
            let mut entries = Vec::new();
            if let Some(frame) = frames.first() {
                for pair in frame.clone().sequence_values::<mlua::Table>() {
                    let Ok(pair) = pair else { continue };
                    let n: String = pair.raw_get(1).unwrap_or_default();
                    if n.contains("(*temporary)") {
                        continue;
                    }
                    let v: Value = pair.raw_get(2).unwrap_or(Value::Nil);
                    let mut out = format!("<value> {n} = ");
                    repr_value(&mut out, &v, 0);
                    entries.push(out);
                }
            }
            if entries.is_empty() {
                entries.push("No local variables in the current context.".into());
            }
            let _ = lua;
            entries
        }
    }
}
