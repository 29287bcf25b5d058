//! Checking a parameter's text against its kind and normalizing it as Redis prints it back
//! (CONFIG GET, CONFIG REWRITE), with Redis's error messages to the letter.

use super::params::{Kind, Param};

/// Parse a memory value as Redis's `memtoull` does: no sign, digits with an optional unit
/// (b, k, kb, m, mb, g, gb; case-insensitive; `k` = 1000, `kb` = 1024). As in C, too many
/// digits saturate and the unit's product wraps; the caller reads the result as a signed
/// number for its bounds (so 18446744073709551615 is -1, out of range).
pub fn parse_memory(s: &str) -> Option<u64> {
    if s.starts_with('-') {
        return None;
    }
    let digits_end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(digits_end);
    let mul: u64 = match unit.to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" => 1000,
        "kb" => 1024,
        "m" => 1000 * 1000,
        "mb" => 1024 * 1024,
        "g" => 1000 * 1000 * 1000,
        "gb" => 1024 * 1024 * 1024,
        _ => return None,
    };
    if num.len() >= 128 {
        return None;
    }
    // strtoull: no digits is 0, overflow saturates.
    let n = if num.is_empty() {
        0
    } else {
        num.parse::<u64>().unwrap_or(u64::MAX)
    };
    Some(n.wrapping_mul(mul))
}

/// Check `args` against the parameter's kind; returns the normalized text or Redis's message.
pub fn normalize(param: &Param, args: &[String]) -> Result<String, String> {
    let mut value = normalize_kind(param, args)?;
    // Redis prints an enum value by the first name it has: `relative` is `yes`.
    if param.name == "oom-score-adj" && value == "relative" {
        value = "yes".to_string();
    }
    // `replicaof no one` is the default: no master.
    if param.name == "replicaof" && value.eq_ignore_ascii_case("no one") {
        value = String::new();
    }
    match param.feature {
        Some(feature) if value != param.default => Err(format!(
            "{} needs {feature}, which Basalt does not have yet; only the default '{}' is accepted",
            param.name, param.default
        )),
        _ => Ok(value),
    }
}

/// `client-output-buffer-limit` groups checked as Redis checks them (whole value or nothing)
/// and merged into `current`'s classes.
fn normalize_buffer_limits(current: &str, args: &[String]) -> Result<String, String> {
    const CLASSES: [&str; 3] = ["normal", "slave", "pubsub"];
    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if !words.len().is_multiple_of(4) {
        return Err("Wrong number of arguments in buffer limit configuration.".into());
    }
    let mut limits: Vec<[String; 3]> = current
        .split_whitespace()
        .collect::<Vec<_>>()
        .chunks(4)
        .map(|c| [c[1].to_string(), c[2].to_string(), c[3].to_string()])
        .collect();
    for group in words.chunks(4) {
        let class = match group[0].to_ascii_lowercase().as_str() {
            "normal" => 0,
            "slave" | "replica" => 1,
            "pubsub" => 2,
            _ => {
                return Err("Invalid client class specified in buffer limit configuration.".into())
            }
        };
        let bad = || "Error in hard, soft or soft_seconds setting in buffer limit configuration.";
        let hard = parse_memory(group[1]).ok_or_else(bad)?;
        let soft = parse_memory(group[2]).ok_or_else(bad)?;
        let secs: i64 = group[3].parse().map_err(|_| bad())?;
        if secs < 0 {
            return Err(bad().into());
        }
        limits[class] = [hard.to_string(), soft.to_string(), secs.to_string()];
    }
    Ok(CLASSES
        .iter()
        .zip(&limits)
        .map(|(c, [h, s, t])| format!("{c} {h} {s} {t}"))
        .collect::<Vec<_>>()
        .join(" "))
}

fn normalize_kind(param: &Param, args: &[String]) -> Result<String, String> {
    let one = || -> Result<&str, String> {
        match args {
            [a] => Ok(a.as_str()),
            _ => Err("wrong number of arguments".into()),
        }
    };
    match param.kind {
        Kind::Bool => match one()?.to_ascii_lowercase().as_str() {
            "yes" => Ok("yes".into()),
            "no" => Ok("no".into()),
            _ => Err("argument must be 'yes' or 'no'".into()),
        },
        Kind::Int { min, max } => {
            // Redis's string2ll: no `+`, no leading zeros, no units.
            let v: i64 = resp::parse_i64(one()?.as_bytes())
                .ok_or_else(|| "argument couldn't be parsed into an integer".to_string())?;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            let v = if param.name == "hz" {
                v.clamp(1, 500)
            } else {
                v
            };
            Ok(v.to_string())
        }
        Kind::Memory { min, max } => {
            let v = parse_memory(one()?).ok_or("argument must be a memory value")? as i64;
            if v < min || v > max {
                return Err(format!(
                    "argument must be between {min} and {max} inclusive"
                ));
            }
            Ok(v.to_string())
        }
        Kind::MemoryOrPercent => {
            let a = one()?;
            if let Some(pct) = a.strip_suffix('%') {
                let v: i64 = resp::parse_i64(pct.as_bytes())
                    .filter(|v| *v >= 0)
                    .ok_or("argument must be a memory or percent value")?;
                if v > 100 {
                    return Err("percentage argument must be less or equal to 100".into());
                }
                return Ok(format!("{v}%"));
            }
            let v = parse_memory(a).ok_or("argument must be a memory or percent value")?;
            Ok(v.to_string())
        }
        Kind::Enum(values) => {
            let a = one()?.to_ascii_lowercase();
            if values.contains(&a.as_str()) {
                Ok(a)
            } else {
                Err(format!(
                    "argument(s) must be one of the following: {}",
                    values.join(", ")
                ))
            }
        }
        Kind::Str => Ok(one()?.to_string()),
        Kind::List => Ok(args.join(" ")),
        Kind::Octal => {
            let a = one()?;
            u32::from_str_radix(a, 8)
                .map(|v| format!("{v:o}"))
                .map_err(|_| "Invalid socket file permissions".to_string())
        }
        Kind::SavePoints => normalize_save(args),
        Kind::Words => Ok(args
            .iter()
            .flat_map(|a| a.split_whitespace())
            .collect::<Vec<_>>()
            .join(" ")),
        Kind::BufferLimits => normalize_buffer_limits(param.default, args),
        Kind::OomValues => normalize_oom_values(args),
        Kind::KeyspaceEvents => normalize_events(one()?),
        Kind::Percentiles => normalize_percentiles(args),
        Kind::ShutdownFlags => normalize_shutdown_flags(args),
    }
}

/// Redis's multi-word enum for the shutdown signals: each word one of the flags (`default`
/// adds none), SAVE and NOSAVE not both; printed in the flags' order, `default` when none.
fn normalize_shutdown_flags(args: &[String]) -> Result<String, String> {
    const FLAGS: [&str; 4] = ["save", "nosave", "now", "force"];
    let words: Vec<String> = args
        .iter()
        .flat_map(|a| a.split_whitespace())
        .map(str::to_ascii_lowercase)
        .collect();
    let mut on = [false; 4];
    for w in &words {
        match FLAGS.iter().position(|f| f == w) {
            Some(i) => on[i] = true,
            None if w == "default" => {}
            None => {
                return Err(
                    "argument(s) must be one of the following: default, save, nosave, \
                            now, force"
                        .into(),
                )
            }
        }
    }
    if words.is_empty() {
        return Err(
            "argument(s) must be one of the following: default, save, nosave, now, force".into(),
        );
    }
    if on[0] && on[1] {
        return Err("shutdown options SAVE and NOSAVE can't be used simultaneously".into());
    }
    let set: Vec<&str> = FLAGS
        .iter()
        .zip(on)
        .filter(|(_, on)| *on)
        .map(|(f, _)| *f)
        .collect();
    Ok(if set.is_empty() {
        "default".to_string()
    } else {
        set.join(" ")
    })
}

/// Redis's `setConfigLatencyTrackingInfoPercentilesOutputOption` and its getter.
fn normalize_percentiles(args: &[String]) -> Result<String, String> {
    let mut out = Vec::new();
    for w in args.iter().flat_map(|a| a.split_whitespace()) {
        let p: f64 = w
            .parse()
            .ok()
            .filter(|p: &f64| !p.is_nan())
            .ok_or("Invalid latency-tracking-info-percentiles parameters")?;
        if !(0.0..=100.0).contains(&p) {
            return Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .into(),
            );
        }
        let text = format!("{p:.6}");
        out.push(text.trim_end_matches('0').trim_end_matches('.').to_string());
    }
    Ok(out.join(" "))
}

/// Keyspace event classes: parse the letters and print them back in Redis's canonical order
/// (`A` standing for all of `g$lshzxetd`).
fn normalize_events(s: &str) -> Result<String, String> {
    const ALL: &str = "g$lshzxetd";
    let mut set = std::collections::BTreeSet::new();
    for c in s.chars() {
        match c {
            'A' => set.extend(ALL.chars()),
            'g' | '$' | 'l' | 's' | 'h' | 'z' | 'x' | 'e' | 't' | 'd' | 'n' | 'K' | 'E' | 'm' => {
                set.insert(c);
            }
            _ => return Err("Invalid event class character. Use 'Ag$lshzxeKEtmdn'.".into()),
        }
    }
    let mut out = String::new();
    if ALL.chars().all(|c| set.contains(&c)) {
        out.push('A');
    } else {
        out.extend("g$lshzxetdn".chars().filter(|c| set.contains(c)));
    }
    if set.contains(&'n') && out.starts_with('A') {
        out.push('n');
    }
    out.extend("KEm".chars().filter(|c| set.contains(c)));
    Ok(out)
}

fn normalize_save(args: &[String]) -> Result<String, String> {
    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if words.is_empty() {
        return Ok(String::new());
    }
    if !words.len().is_multiple_of(2) {
        return Err("Invalid save parameters".into());
    }
    for w in &words {
        if w.parse::<i64>().map_or(true, |v| v < 0) {
            return Err("Invalid save parameters".into());
        }
    }
    Ok(words.join(" "))
}

/// `oom-score-adj-values`: exactly three integers (C `strtoll` over each whole word, so `+5`
/// and `007` pass) between -2000 and 2000.
fn normalize_oom_values(args: &[String]) -> Result<String, String> {
    let words: Vec<&str> = args.iter().flat_map(|a| a.split_whitespace()).collect();
    if words.len() != 3 {
        return Err("wrong number of arguments".into());
    }
    let mut values = Vec::with_capacity(3);
    for w in words {
        let digits = w.strip_prefix(['+', '-']).unwrap_or(w);
        let v = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| w.trim_start_matches('+').parse::<i64>().ok())
            .flatten()
            .filter(|v| (-2000..=2000).contains(v))
            .ok_or("Invalid oom-score-adj-values, elements must be between -2000 and 2000.")?;
        values.push(v.to_string());
    }
    Ok(values.join(" "))
}
