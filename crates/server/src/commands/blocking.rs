//! Blocking list commands: BLPOP BRPOP BLMOVE BRPOPLPUSH BLMPOP, the part of the waiting
//! machinery the blocking sorted-set pops (`zpops.rs`) share, and what serving a waiter does
//! (called by `crate::blocking::serve`).
//!
//! Each first tries its non-blocking form. With nothing to pop it queues the client on its keys
//! (in the keys' shards, under the locks the command already holds), opens its wait
//! (`ClientShared::wait`) and leaves `client.block` set; the connection then waits for the
//! wait to be decided. The command that later creates one of the keys serves the client
//! itself (see `crate::blocking`); the client never runs its command again.

use std::sync::Arc;
use std::time::{Duration, Instant};

use resp::Argv;
use store::{BlockKind, End};

use super::{lists, zpops};
use crate::blocking::{BlockOp, Job};
use crate::client::Block;
use crate::cmd::{CmdError, CmdResult, Ctx};

/// A blocking command's timeout.
#[derive(Debug, Clone, Copy)]
pub struct Timeout {
    /// Whether there is one (Redis's timeout table counts these).
    pub set: bool,
    /// When it fires; `None` without a timeout or when it is too far away to represent.
    pub deadline: Option<Instant>,
}

/// Redis's blocking timeout: seconds as a float, 0 = forever, computed as Redis 7.0 does in
/// `long double` (see `store::num::timeout_ms`).
pub fn parse_timeout(arg: &[u8]) -> Result<Timeout, CmdError> {
    let ms = store::num::timeout_ms(arg)
        .ok_or(CmdError::from("ERR timeout is not a float or out of range"))?;
    if ms < 0 {
        return Err("ERR timeout is negative".into());
    }
    if ms == 0 {
        return Ok(Timeout {
            set: false,
            deadline: None,
        });
    }
    Ok(Timeout {
        set: true,
        deadline: Instant::now().checked_add(Duration::from_millis(ms as u64)),
    })
}

/// What a blocking command waits on.
pub struct Wait<'a> {
    pub keys: Vec<Vec<u8>>,
    pub timeout_arg: &'a [u8],
    /// With blocking denied (MULTI, scripts), BLMOVE and BRPOPLPUSH answer a null bulk where
    /// the others answer a null array.
    pub denied_null_bulk: bool,
    pub kind: BlockKind,
    /// What serving it does once a key is ready.
    pub op: BlockOp,
}

/// Run `attempt`; if it produced no reply, queue the client on the keys.
pub fn attempt_or_block(
    ctx: &mut Ctx<'_, '_>,
    wait: Wait<'_>,
    attempt: impl FnOnce(&mut Ctx<'_, '_>) -> Result<bool, CmdError>,
) -> CmdResult {
    let timeout = parse_timeout(wait.timeout_arg)?;
    if attempt(ctx)? {
        return Ok(());
    }
    if ctx.client.deny_blocking {
        if wait.denied_null_bulk {
            ctx.out.null();
        } else {
            ctx.out.null_array();
        }
        return Ok(());
    }
    block_on_keys(ctx, wait.keys, timeout, wait.kind, wait.op);
    Ok(())
}

/// Queue the client on `keys` (each once) to be served by `op` when one is ready, and open
/// its wait; the connection then waits for it to be decided. For commands that found nothing
/// to serve and may block (not in MULTI or a script).
pub fn block_on_keys(
    ctx: &mut Ctx<'_, '_>,
    wait_keys: Vec<Vec<u8>>,
    timeout: Timeout,
    kind: BlockKind,
    op: BlockOp,
) {
    let db = ctx.client.db;
    let waiter: Arc<dyn store::Waiter> = ctx.client.shared.clone();
    // Each key once (`BLPOP k k 0` waits once on k), so a queue never holds a client twice.
    let mut keys: Vec<Vec<u8>> = Vec::with_capacity(wait_keys.len());
    for k in wait_keys {
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    for k in &keys {
        ctx.keys.shard(k).blocked.add(db, k, waiter.clone(), kind);
    }
    let job = Job {
        op,
        db,
        proto: ctx.out.proto,
        spec: ctx.spec,
        slot: ctx
            .srv
            .cluster
            .enabled
            .then(|| keys.first().map(|k| store::slot::key_slot(k)))
            .flatten(),
    };
    let shared = &ctx.client.shared;
    shared.wait.begin(job, timeout.set, &ctx.srv.blocked);
    if shared.is_killed() {
        // CLIENT KILL came while this command ran: no writer may serve a client that is going.
        shared.wait.cancel(&ctx.srv.blocked);
    }
    ctx.client.block = Some(Block {
        keys,
        db,
        deadline: timeout.deadline,
        spec: ctx.spec,
        drop_reply: false,
        argv: Vec::new(),
        call_us: 0,
    });
}

/// Serve a waiter from `key`, which holds a non-empty value of the kind it waits for: what
/// its command would do with that key alone. Runs as the waiter (its database and protocol in
/// `ctx`); an error (a BLMOVE destination of another type) is its reply.
pub fn serve(ctx: &mut Ctx<'_, '_>, op: &BlockOp, key: &[u8]) -> CmdResult {
    match op {
        BlockOp::Pop(end) => {
            if let Some(v) = lists::pop_one(ctx, key, *end)? {
                log_pop(ctx, key, *end);
                ctx.out.array(2);
                ctx.out.bulk(key);
                ctx.out.bulk(&v);
            }
        }
        BlockOp::Move { dst, from, to } => {
            if lists::move_one(ctx, key, dst, *from, *to)? {
                log_move(ctx, key, dst, *from, *to);
            }
        }
        BlockOp::MPop { end, count } => {
            lists::mpop_first(ctx, &[key.to_vec()], *end, *count)?;
        }
        BlockOp::ZPop { max } => zpops::serve_pop(ctx, key, *max, None),
        BlockOp::ZMPop { max, count } => zpops::serve_pop(ctx, key, *max, Some(*count)),
        BlockOp::XRead { .. } | BlockOp::XReadGroup { .. } => {
            super::stream_read::serve(ctx, op, key)?
        }
    }
    if ctx.dirty > 0 {
        let db = ctx.client.db;
        ctx.touch(db, key);
        if let BlockOp::Move { dst, .. } = op {
            ctx.touch(db, dst);
        }
    }
    Ok(())
}

/// A blocking pop is logged as the non-blocking pop of the key that had data.
fn log_pop(ctx: &mut Ctx<'_, '_>, key: &[u8], end: End) {
    let pop: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
    ctx.log_as(&[pop, key]);
}

fn log_move(ctx: &mut Ctx<'_, '_>, src: &[u8], dst: &[u8], from: End, to: End) {
    let side = |e: End| -> &'static [u8] {
        if e == End::Head {
            b"LEFT"
        } else {
            b"RIGHT"
        }
    };
    ctx.log_as(&[b"LMOVE", src, dst, side(from), side(to)]);
}

fn list_wait(keys: Vec<Vec<u8>>, timeout_arg: &[u8], op: BlockOp) -> Wait<'_> {
    let is_move = matches!(op, BlockOp::Move { .. });
    Wait {
        keys,
        timeout_arg,
        denied_null_bulk: is_move,
        kind: BlockKind::List,
        op,
    }
}

fn bpop(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, end: End) -> CmdResult {
    let keys: Vec<Vec<u8>> = (1..argv.len() - 1).map(|i| argv.get(i).to_vec()).collect();
    let timeout = argv.get(argv.len() - 1);
    let attempt_keys = keys.clone();
    let wait = list_wait(keys, timeout, BlockOp::Pop(end));
    attempt_or_block(ctx, wait, move |ctx| {
        for k in &attempt_keys {
            if let Some(v) = lists::pop_one(ctx, k, end)? {
                log_pop(ctx, k, end);
                // Only this key changed, not every key named (WATCH, tracking).
                let db = ctx.client.db;
                ctx.touch(db, k);
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
    let op = BlockOp::Move {
        dst: dst.clone(),
        from,
        to,
    };
    let wait = list_wait(vec![src.clone()], timeout, op);
    attempt_or_block(ctx, wait, move |ctx| {
        let moved = lists::move_one(ctx, &src, &dst, from, to)?;
        if moved {
            log_move(ctx, &src, &dst, from, to);
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
    let op = BlockOp::MPop {
        end: parsed.end,
        count: parsed.count,
    };
    attempt_or_block(ctx, list_wait(keys, timeout, op), move |ctx| {
        lists::mpop_first(ctx, &attempt_keys, parsed.end, parsed.count)
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
            srv.blocked
                .clients
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
