//! MIGRATE host port key|"" db timeout [COPY] [REPLACE] [AUTH pw | AUTH2 user pw]
//! [KEYS key …]: each key is DUMPed here, sent as RESTORE (RESTORE-ASKING in cluster mode,
//! so a node importing the slot takes it) in one pipeline, and deleted here once the
//! target said OK — logged as one DEL of the moved keys. Redis's checks, replies and error
//! texts (`+NOKEY`, `-IOERR …`, `Target instance replied with error: …`).
//!
//! The transfer runs in the handler, under the keys' shard locks, with the timeout on
//! every connect, write and read: a key is never both here and there to a client, and
//! never lost (it is deleted here only after the target has it). Like Redis, whose MIGRATE
//! blocks the server, it blocks the connection's I/O thread while it waits; one connection
//! per call (Redis caches them for 10 s).

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use resp::Argv;

use super::{is, lookup_read};
use crate::cmd::{err, CmdError, CmdResult, Ctx};

struct Options<'a> {
    copy: bool,
    replace: bool,
    auth: Option<(Option<&'a [u8]>, &'a [u8])>,
    /// Index of the first key and how many.
    keys: (usize, usize),
}

fn parse<'a>(argv: &'a Argv<'_>) -> Result<Options<'a>, CmdError> {
    let mut o = Options {
        copy: false,
        replace: false,
        auth: None,
        keys: (3, 1),
    };
    let mut j = 6;
    while j < argv.len() {
        let more = argv.len() - 1 - j;
        let a = argv.get(j);
        if is(a, "copy") {
            o.copy = true;
        } else if is(a, "replace") {
            o.replace = true;
        } else if is(a, "auth") {
            if more < 1 {
                return Err(err::SYNTAX.into());
            }
            o.auth = Some((None, argv.get(j + 1)));
            j += 1;
        } else if is(a, "auth2") {
            if more < 2 {
                return Err(err::SYNTAX.into());
            }
            o.auth = Some((Some(argv.get(j + 1)), argv.get(j + 2)));
            j += 2;
        } else if is(a, "keys") {
            if !argv.get(3).is_empty() {
                return Err("ERR When using MIGRATE KEYS option, the key argument must be set to the empty string".into());
            }
            o.keys = (j + 1, argv.len() - j - 1);
            break;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// One reply line (`+…` or `-…`); `None` on a socket error or timeout.
fn read_line(r: &mut BufReader<TcpStream>) -> Option<Vec<u8>> {
    let mut line = Vec::new();
    match r.read_until(b'\n', &mut line) {
        Ok(0) | Err(_) => None,
        Ok(_) => {
            while line.last().is_some_and(|&b| b == b'\n' || b == b'\r') {
                line.pop();
            }
            Some(line)
        }
    }
}

pub fn migrate(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let o = parse(&argv)?;
    let timeout = super::parse_int(argv.get(5))?;
    let db = super::parse_int(argv.get(4))?;
    let timeout_ms = if timeout <= 0 { 1000 } else { timeout as u64 };
    let now = ctx.now_ms;
    let compress = ctx.srv.config.read().get("rdbcompression") != "no";
    // The keys that are here, with their payloads and remaining TTLs.
    let mut found: Vec<(&[u8], Vec<u8>, u64)> = Vec::new();
    for k in (o.keys.0..o.keys.0 + o.keys.1).map(|i| argv.get(i)) {
        let d = ctx.db(k);
        let Some(obj) = lookup_read(d, k, now, true) else {
            continue;
        };
        let payload = persist::rdb::dump::dump(&obj.value, compress);
        let ttl = d.expire_at(k).map_or(0, |at| at.saturating_sub(now).max(1));
        found.push((k, payload, ttl));
    }
    if found.is_empty() {
        ctx.out.simple("NOKEY");
        return Ok(());
    }
    let restore: &[u8] = if ctx.srv.cluster.enabled {
        b"RESTORE-ASKING"
    } else {
        b"RESTORE"
    };
    let mut pipeline = Vec::new();
    if let Some((user, pass)) = o.auth {
        match user {
            Some(u) => encode(&mut pipeline, &[b"AUTH", u, pass]),
            None => encode(&mut pipeline, &[b"AUTH", pass]),
        }
    }
    let db_text = db.to_string();
    encode(&mut pipeline, &[b"SELECT", db_text.as_bytes()]);
    for (k, payload, ttl) in &found {
        let ttl = ttl.to_string();
        let mut args: Vec<&[u8]> = vec![restore, k, ttl.as_bytes(), payload];
        if o.replace {
            args.push(b"REPLACE");
        }
        encode(&mut pipeline, &args);
    }
    let host = String::from_utf8_lossy(argv.get(1)).into_owned();
    let port = String::from_utf8_lossy(argv.get(2)).into_owned();
    let timeout = Duration::from_millis(timeout_ms);
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(
        host.as_str(),
        port.parse::<u16>().unwrap_or(0),
    ))
    .ok()
    .and_then(|mut a| a.next())
    .ok_or_else(|| CmdError::from("IOERR error or timeout connecting to the client"))?;
    // Redis connects without blocking and waits until the socket is writable, which a
    // refused connection also is: only a timeout fails the connect, a refusal fails the
    // write.
    let mut sock = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
            return Err("IOERR error or timeout connecting to the client".into())
        }
        Err(_) => return Err("IOERR error or timeout writing to target instance".into()),
    };
    let _ = sock.set_read_timeout(Some(timeout));
    let _ = sock.set_write_timeout(Some(timeout));
    let _ = sock.set_nodelay(true);
    if sock.write_all(&pipeline).is_err() {
        return Err("IOERR error or timeout writing to target instance".into());
    }
    let Ok(reader) = sock.try_clone() else {
        return Err("IOERR error or timeout reading to target instance".into());
    };
    let mut r = BufReader::new(reader);
    let reading_error = || CmdError::from("IOERR error or timeout reading to target instance");
    let target_error = |line: &[u8]| {
        CmdError::from(format!(
            "ERR Target instance replied with error: {}",
            String::from_utf8_lossy(&line[1..])
        ))
    };
    for _ in 0..usize::from(o.auth.is_some()) + 1 {
        let line = read_line(&mut r).ok_or_else(reading_error)?;
        if line.first() == Some(&b'-') {
            return Err(target_error(&line));
        }
    }
    let mut first_error = None;
    let mut moved: Vec<&[u8]> = Vec::new();
    for (k, _, _) in &found {
        let Some(line) = read_line(&mut r) else {
            first_error.get_or_insert_with(reading_error);
            break;
        };
        if line.first() == Some(&b'-') {
            first_error.get_or_insert_with(|| target_error(&line));
            continue;
        }
        if !o.copy {
            if ctx.db(k).delete(k, store::lazyfree::Reason::ServerDel) {
                ctx.dirty += 1;
                ctx.notify(crate::pubsub::notify::class::GENERIC, "del", k);
            }
            moved.push(k);
        }
    }
    if !moved.is_empty() {
        let mut del: Vec<&[u8]> = vec![b"DEL"];
        del.extend(moved.iter().copied());
        ctx.log_as(&del);
        for k in &moved {
            let db = ctx.client.db;
            ctx.touch(db, k);
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    ctx.out.ok();
    Ok(())
}
