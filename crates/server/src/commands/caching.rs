//! Client-side caching commands: CLIENT TRACKING, CACHING, GETREDIR, TRACKINGINFO (the
//! invalidation machinery is `crate::tracking`).

use std::sync::atomic::Ordering::Relaxed;

use resp::Argv;

use super::{is, parse_int};
use crate::cmd::{err, CmdError, CmdResult, Ctx};

/// CLIENT TRACKING ON|OFF [REDIRECT id] [PREFIX p …] [BCAST] [OPTIN] [OPTOUT] [NOLOOP]:
/// Redis's checks, in its order (see `crate::tracking`).
pub fn client_tracking(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut want = crate::tracking::Mode {
        on: true,
        ..Default::default()
    };
    let mut j = 3;
    while j < argv.len() {
        let opt = argv.get(j);
        let more = j + 1 < argv.len();
        if is(opt, "redirect") && more {
            j += 1;
            if want.redirect != 0 {
                return Err("ERR A client can only redirect to a single other client".into());
            }
            let id = parse_int(argv.get(j))?;
            if id <= 0 || ctx.srv.clients.get(id as u64).is_none() {
                return Err("ERR The client ID you want redirect to does not exist".into());
            }
            want.redirect = id as u64;
        } else if is(opt, "bcast") {
            want.bcast = true;
        } else if is(opt, "optin") {
            want.optin = true;
        } else if is(opt, "optout") {
            want.optout = true;
        } else if is(opt, "noloop") {
            want.noloop = true;
        } else if is(opt, "prefix") && more {
            j += 1;
            want.prefixes.push(argv.get(j).to_vec());
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    let srv = ctx.srv;
    let shared = ctx.client.shared.clone();
    if is(argv.get(2), "off") {
        disable_tracking(srv, &shared);
        ctx.out.ok();
        return Ok(());
    }
    if !is(argv.get(2), "on") {
        return Err(err::SYNTAX.into());
    }
    let mut mode = shared.tracking.lock();
    if !want.bcast && !want.prefixes.is_empty() {
        return Err("ERR PREFIX option requires BCAST mode to be enabled".into());
    }
    if mode.on && mode.bcast != want.bcast {
        return Err("ERR You can't switch BCAST mode on/off before disabling tracking for this client, and then re-enabling it with a different mode.".into());
    }
    if want.bcast && (want.optin || want.optout) {
        return Err("ERR OPTIN and OPTOUT are not compatible with BCAST".into());
    }
    if want.optin && want.optout {
        return Err("ERR You can't specify both OPTIN mode and OPTOUT mode".into());
    }
    if (want.optin && mode.optout) || (want.optout && mode.optin) {
        return Err("ERR You can't switch OPTIN/OPTOUT mode before disabling tracking for this client, and then re-enabling it with a different mode.".into());
    }
    if want.bcast {
        check_prefixes(&mode.prefixes, &want.prefixes)?;
    }
    if !mode.on {
        srv.tracking.clients.fetch_add(1, Relaxed);
    }
    mode.on = true;
    mode.redirect = want.redirect;
    mode.broken_redirect = false;
    if want.bcast {
        mode.bcast = true;
        // No prefix: every key ("" is the prefix of all).
        let added = if want.prefixes.is_empty() {
            vec![Vec::new()]
        } else {
            want.prefixes
        };
        srv.tracking.add_prefixes(shared.id, &added);
        for p in added {
            if !mode.prefixes.contains(&p) {
                mode.prefixes.push(p);
            }
        }
        mode.prefixes.sort();
    }
    mode.optin |= want.optin;
    mode.optout |= want.optout;
    mode.noloop |= want.noloop;
    store::set_tracking(true);
    drop(mode);
    ctx.out.ok();
    Ok(())
}

/// Redis's `checkPrefixCollisionsOrReply`: no two prefixes of one client may cover the same
/// key.
fn check_prefixes(have: &[Vec<u8>], new: &[Vec<u8>]) -> CmdResult {
    let overlaps = |a: &[u8], b: &[u8]| a.starts_with(b) || b.starts_with(a);
    for (i, p) in new.iter().enumerate() {
        for q in have {
            if overlaps(p, q) {
                return Err(CmdError::concat(&[
                    b"ERR Prefix '",
                    p,
                    b"' overlaps with an existing prefix '",
                    q,
                    b"'. Prefixes for a single client must not overlap.",
                ]));
            }
        }
        for q in &new[i + 1..] {
            if overlaps(p, q) {
                return Err(CmdError::concat(&[
                    b"ERR Prefix '",
                    p,
                    b"' overlaps with another provided prefix '",
                    q,
                    b"'. Prefixes for a single client must not overlap.",
                ]));
            }
        }
    }
    Ok(())
}

/// Leave tracking mode (CLIENT TRACKING OFF, RESET, the connection closing). Keys it read stay
/// in the table until they change, as in Redis.
pub fn disable_tracking(srv: &crate::server::Server, shared: &crate::client::ClientShared) {
    let mut mode = shared.tracking.lock();
    if !mode.on {
        return;
    }
    srv.tracking.remove_prefixes(shared.id, &mode.prefixes);
    srv.tracking.clients.fetch_sub(1, Relaxed);
    *mode = crate::tracking::Mode::default();
}

pub fn client_caching(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut mode = ctx.client.shared.tracking.lock();
    if !mode.on {
        return Err("ERR CLIENT CACHING can be called only when the client is in tracking mode with OPTIN or OPTOUT mode enabled".into());
    }
    let opt = argv.get(2);
    if is(opt, "yes") {
        if !mode.optin {
            return Err(
                "ERR CLIENT CACHING YES is only valid when tracking is enabled in OPTIN mode."
                    .into(),
            );
        }
    } else if is(opt, "no") {
        if !mode.optout {
            return Err(
                "ERR CLIENT CACHING NO is only valid when tracking is enabled in OPTOUT mode."
                    .into(),
            );
        }
    } else {
        return Err(err::SYNTAX.into());
    }
    mode.caching = true;
    drop(mode);
    ctx.out.ok();
    Ok(())
}

pub fn client_getredir(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let mode = ctx.client.shared.tracking.lock().clone();
    ctx.out.int(if mode.on { mode.redirect as i64 } else { -1 });
    Ok(())
}

pub fn client_trackinginfo(ctx: &mut Ctx<'_, '_>, _argv: Argv<'_>) -> CmdResult {
    let mode = ctx.client.shared.tracking.lock().clone();
    let mut flags: Vec<&str> = vec![if mode.on { "on" } else { "off" }];
    if mode.bcast {
        flags.push("bcast");
    }
    if mode.optin {
        flags.push("optin");
        if mode.caching {
            flags.push("caching-yes");
        }
    }
    if mode.optout {
        flags.push("optout");
        if mode.caching {
            flags.push("caching-no");
        }
    }
    if mode.noloop {
        flags.push("noloop");
    }
    if mode.broken_redirect {
        flags.push("broken_redirect");
    }
    let out = &mut *ctx.out;
    out.map(3);
    out.bulk(b"flags");
    out.set(flags.len());
    for f in flags {
        out.bulk(f.as_bytes());
    }
    out.bulk(b"redirect");
    out.int(if mode.on { mode.redirect as i64 } else { -1 });
    out.bulk(b"prefixes");
    out.array(mode.prefixes.len());
    for p in &mode.prefixes {
        out.bulk(p);
    }
    Ok(())
}
