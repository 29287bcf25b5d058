//! Blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP, and the waiting machinery the
//! blocking sorted-set pops (`zpops.rs`) share.
//!
//! Each first tries its non-blocking form. With nothing to pop it queues the client on its keys
//! (in the keys' shards, under the locks the command already holds) and leaves `client.block`
//! set; the connection then waits for a wake-up, the timeout, CLIENT UNBLOCK or a disconnect.
//! A woken client runs the same command again: on success it leaves the queues, otherwise it
//! keeps its place. Writers wake waiters in the dispatcher (see `cmd::dispatch`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use resp::Argv;
use store::{BlockKind, End};

use super::lists;
use crate::client::Block;
use crate::cmd::{CmdError, CmdResult, Ctx};

/// Redis's blocking timeout: seconds as a float, 0 = forever; returns the deadline.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Instant>, CmdError> {
    let secs = match store::num::ld_classify(arg) {
        store::num::LdClass::NotFloat => None,
        // Infinity overflows Redis's conversion to a negative number of milliseconds.
        store::num::LdClass::Infinite => return Err("ERR timeout is negative".into()),
        store::num::LdClass::Finite => std::str::from_utf8(arg).ok().and_then(parse_c_float),
    }
    .ok_or(CmdError::from("ERR timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    // Redis converts to a 64-bit integer; values past its range come out negative.
    if !(0.0..9.2e18).contains(&ms) {
        return Err("ERR timeout is negative".into());
    }
    Ok((ms > 0.0).then(|| Instant::now() + Duration::from_millis(ms as u64)))
}

/// Parse what strtold accepted (decimal or hex float) as f64.
fn parse_c_float(s: &str) -> Option<f64> {
    if let Ok(v) = s.parse::<f64>() {
        return Some(v);
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let hex = body
        .strip_prefix("0x")
        .or_else(|| body.strip_prefix("0X"))?;
    let v = u64::from_str_radix(hex, 16).ok()? as f64;
    Some(if neg { -v } else { v })
}

/// Queue the client on `keys` and record what to run again.
fn block(
    ctx: &mut Ctx<'_, '_>,
    argv: &Argv<'_>,
    keys: Vec<Vec<u8>>,
    deadline: Option<Instant>,
    null_array: bool,
    kind: BlockKind,
) {
    let db = ctx.client.db;
    let waiter: Arc<dyn store::Waiter> = ctx.client.shared.clone();
    for k in &keys {
        ctx.keys.shard(k).blocked.add(db, k, waiter.clone(), kind);
    }
    if ctx.client.block.is_none() {
        ctx.srv
            .blocked_clients
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        ctx.client
            .shared
            .blocked
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }
    ctx.client.block = Some(Block {
        argv: argv.iter().map(<[u8]>::to_vec).collect(),
        keys,
        db,
        deadline,
        timeout_null_array: null_array,
    });
}

/// The command got its data: leave every queue.
pub fn finish(ctx: &mut Ctx<'_, '_>) {
    if let Some(b) = ctx.client.block.take() {
        for k in &b.keys {
            ctx.keys.shard(k).blocked.remove(b.db, k, ctx.client.id);
        }
        ctx.srv
            .blocked_clients
            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        ctx.client
            .shared
            .blocked
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Whether `key` must be left to an older woken waiter.
pub fn not_my_turn(ctx: &mut Ctx<'_, '_>, key: &[u8]) -> bool {
    let (db, id) = (ctx.client.db, ctx.client.id);
    ctx.keys.shard(key).blocked.turn_of_other(db, key, id)
}

/// What a blocking command waits on.
pub struct Wait<'a> {
    pub keys: Vec<Vec<u8>>,
    pub timeout_arg: &'a [u8],
    /// Reply on timeout: a null array (BLPOP, BZPOPMIN …) or a null bulk.
    pub null_array: bool,
    /// With blocking denied (MULTI, scripts), BLMOVE and BRPOPLPUSH answer a null bulk where
    /// the others answer a null array.
    pub denied_null_bulk: bool,
    pub kind: BlockKind,
}

/// Run `attempt`; if it produced no reply, block (keeping the deadline of a retry).
pub fn attempt_or_block(
    ctx: &mut Ctx<'_, '_>,
    argv: &Argv<'_>,
    wait: Wait<'_>,
    attempt: impl FnOnce(&mut Ctx<'_, '_>) -> Result<bool, CmdError>,
) -> CmdResult {
    let Wait {
        keys,
        timeout_arg,
        null_array,
        denied_null_bulk,
        kind,
    } = wait;
    let deadline = match &ctx.client.block {
        Some(b) => b.deadline,
        None => parse_timeout(timeout_arg)?,
    };
    ctx.client.shared.clear_woken();
    if attempt(ctx)? {
        finish(ctx);
        return Ok(());
    }
    if ctx.client.deny_blocking {
        if denied_null_bulk {
            ctx.out.null();
        } else {
            ctx.out.null_array();
        }
        return Ok(());
    }
    block(ctx, argv, keys, deadline, null_array, kind);
    Ok(())
}

fn list_wait(keys: Vec<Vec<u8>>, timeout_arg: &[u8], is_move: bool) -> Wait<'_> {
    Wait {
        keys,
        timeout_arg,
        null_array: true,
        denied_null_bulk: is_move,
        kind: BlockKind::List,
    }
}

fn bpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, end: End) -> CmdResult {
    let keys: Vec<Vec<u8>> = (1..argv.len() - 1).map(|i| argv.get(i).to_vec()).collect();
    let timeout = argv.get(argv.len() - 1);
    let attempt_keys = keys.clone();
    let wait = list_wait(keys, timeout, false);
    attempt_or_block(ctx, &argv, wait, move |ctx| {
        for k in &attempt_keys {
            if not_my_turn(ctx, k) {
                continue;
            }
            if let Some(v) = lists::pop_one(ctx, k, end)? {
                // Logged as the non-blocking pop of the key that had data.
                let pop: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
                ctx.log_as(&[pop, k]);
                ctx.out.array(2);
                ctx.out.bulk(k);
                ctx.out.bulk(&v);
                return Ok(true);
            }
        }
        Ok(false)
    })
}

pub fn blpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    bpop(ctx, argv, End::Head)
}

pub fn brpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    bpop(ctx, argv, End::Tail)
}

fn bmove(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, from: End, to: End, timeout: &[u8]) -> CmdResult {
    let (src, dst) = (argv.get(1).to_vec(), argv.get(2).to_vec());
    let wait = list_wait(vec![src.clone()], timeout, true);
    attempt_or_block(ctx, &argv, wait, move |ctx| {
        if not_my_turn(ctx, &src) {
            return Ok(false);
        }
        let moved = lists::move_one(ctx, &src, &dst, from, to)?;
        if moved {
            let side = |e: End| -> &'static [u8] {
                if e == End::Head {
                    b"LEFT"
                } else {
                    b"RIGHT"
                }
            };
            ctx.log_as(&[b"LMOVE", &src, &dst, side(from), side(to)]);
        }
        Ok(moved)
    })
}

pub fn blmove(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let from = lists::end_of(argv.get(3))?;
    let to = lists::end_of(argv.get(4))?;
    bmove(ctx, argv, from, to, argv.get(5))
}

pub fn brpoplpush(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    bmove(ctx, argv, End::Tail, End::Head, argv.get(3))
}

pub fn blmpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    // Argument errors come before the timeout's (Redis's lmpopGenericCommand).
    let parsed = lists::parse_mpop(&argv, 2)?;
    let timeout = argv.get(1);
    let keys: Vec<Vec<u8>> = parsed.keys.iter().map(|&i| argv.get(i).to_vec()).collect();
    let attempt_keys = keys.clone();
    let wait = list_wait(keys, timeout, false);
    attempt_or_block(ctx, &argv, wait, move |ctx| {
        let mine: Vec<Vec<u8>> = attempt_keys
            .iter()
            .filter(|k| !not_my_turn(ctx, k))
            .cloned()
            .collect();
        lists::mpop_first(ctx, &mine, parsed.end, parsed.count)
    })
}

#[cfg(test)]
mod tests {
    use crate::client::ClientState;
    use crate::config::Config;
    use crate::server::Server;

    fn run(srv: &Server, client: &mut ClientState, args: &[&str]) -> Vec<u8> {
        let mut buf = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            buf.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        let mut parser = resp::RequestParser::new();
        assert!(parser.parse(&buf, resp::Limits::default()).is_ok());
        let mut out = resp::Reply::new();
        crate::cmd::execute(srv, client, &mut out, parser.argv(&buf));
        out.as_bytes().to_vec()
    }

    /// The hook MULTI/EXEC and scripts use: with `deny_blocking` set, a blocking command with
    /// nothing to pop answers at once as on a timeout and leaves no waiter behind.
    #[test]
    fn deny_blocking_answers_as_a_timeout() {
        let srv = Server::new(Config::default(), 1, 4);
        let shared = srv.clients.register("a".into(), "b".into(), -1, false);
        let mut client = ClientState::new(shared, srv.stats.register_thread(), true);
        client.deny_blocking = true;
        assert_eq!(run(&srv, &mut client, &["BLPOP", "l", "0"]), b"*-1\r\n");
        assert_eq!(run(&srv, &mut client, &["BZPOPMIN", "z", "0"]), b"*-1\r\n");
        assert_eq!(
            run(
                &srv,
                &mut client,
                &["BLMOVE", "l", "m", "LEFT", "LEFT", "0"]
            ),
            b"$-1\r\n"
        );
        assert_eq!(
            run(&srv, &mut client, &["BLPOP", "l", "-1"]),
            b"-ERR timeout is negative\r\n"
        );
        assert!(client.block.is_none());
        assert_eq!(
            srv.blocked_clients
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
        run(&srv, &mut client, &["RPUSH", "l", "x"]);
        assert_eq!(
            run(&srv, &mut client, &["BLPOP", "l", "0"]),
            b"*2\r\n$1\r\nl\r\n$1\r\nx\r\n"
        );
    }
}
