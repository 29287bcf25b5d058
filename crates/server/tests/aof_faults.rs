//! Damaged logs and failing disks, at the server level: a torn tail is cut (or refused with
//! `aof-load-truncated no`), a flipped byte stops the start with the file, the offset and the
//! repair command, and a disk that fails makes writes answer MISCONF until it works again,
//! without losing an acknowledged write.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{basalt, Conn, ServerProc};

fn text(reply: &[u8]) -> String {
    String::from_utf8_lossy(reply).into_owned()
}

fn start(dir: &Path, extra: &[&str]) -> ServerProc {
    let mut args = vec![
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--appendonly",
        "yes",
        "--appendfsync",
        "always",
    ];
    args.extend_from_slice(extra);
    basalt(&args)
}

/// Run the server on `dir` expecting it to refuse to start; returns what it logged.
fn start_fails(dir: &Path, extra: &[&str]) -> String {
    let port = common::free_port().to_string();
    let mut cmd = Command::new(common::basalt_bin());
    cmd.args(["--port", &port, "--dir", dir.to_str().expect("utf-8")])
        .args(["--appendonly", "yes"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            let out = child.wait_with_output().expect("output");
            assert!(!status.success(), "the server exited cleanly");
            return format!("{}{}", text(&out.stdout), text(&out.stderr));
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the server started on a damaged log");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn incr_file(dir: &Path) -> PathBuf {
    dir.join("appendonlydir/appendonly.aof.1.incr.aof")
}

/// A log of 50 list pushes, the server stopped by SIGKILL.
fn write_log(dir: &Path) -> usize {
    let mut s = start(dir, &[]);
    let mut c = s.conn();
    for i in 0..50 {
        c.cmd_str(&["RPUSH", "l", &i.to_string()]);
    }
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    50
}

fn list(c: &mut Conn) -> Vec<String> {
    common::elements(&c.cmd_str(&["LRANGE", "l", "0", "-1"]))
        .expect("list")
        .iter()
        .map(|e| text(e).lines().nth(1).unwrap_or("").to_string())
        .collect()
}

#[test]
fn a_torn_tail_is_cut_and_logged_or_refused_when_truncation_is_off() {
    for cut in [1u64, 7, 20, 33] {
        let dir = tempfile::tempdir().expect("dir");
        let n = write_log(dir.path());
        let path = incr_file(dir.path());
        let len = std::fs::metadata(&path).expect("incr").len();
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_len(len - cut).expect("truncate");
        drop(f);
        let refused = start_fails(dir.path(), &["--aof-load-truncated", "no"]);
        assert!(
            refused.contains("Unexpected end of file")
                && refused.contains("appendonly.aof.1.incr.aof"),
            "{refused}"
        );
        let s = start(dir.path(), &[]);
        let got = list(&mut s.conn());
        // The cut command (and only it) may be gone; what remains is a prefix.
        assert!(
            got.len() == n || got.len() == n - 1,
            "cut {cut}: {}",
            got.len()
        );
        let want: Vec<String> = (0..got.len()).map(|i| i.to_string()).collect();
        assert_eq!(got, want);
        if got.len() < n {
            assert!(s.log().contains("bytes cut"), "{}", s.log());
        }
    }
}

#[test]
fn a_flipped_byte_stops_the_start_with_file_offset_and_repair() {
    let dir = tempfile::tempdir().expect("dir");
    write_log(dir.path());
    let path = incr_file(dir.path());
    let mut bytes = std::fs::read(&path).expect("read");
    // Inside the payload of a command in the middle: framing intact, content wrong.
    let at = bytes
        .windows(4)
        .enumerate()
        .filter(|(_, w)| w == b"\r\n25")
        .map(|(i, _)| i + 2)
        .next()
        .expect("the 25th push");
    bytes[at] = b'9';
    std::fs::write(&path, &bytes).expect("write");
    let refused = start_fails(dir.path(), &[]);
    assert!(
        refused.contains("appendonly.aof.1.incr.aof")
            && refused.contains("at offset")
            && refused.contains("basalt-check-aof --fix"),
        "{refused}"
    );
    assert!(refused.contains("checksum"), "{refused}");

    // basalt-check-aof finds it too, and --fix cuts the file back to its last good commit.
    let manifest = dir.path().join("appendonlydir/appendonly.aof.manifest");
    let check = |fix: bool| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_basalt-check-aof"));
        if fix {
            cmd.arg("--fix");
        }
        let mut child = cmd
            .arg(&manifest)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("basalt-check-aof");
        use std::io::Write;
        let _ = child.stdin.take().expect("stdin").write_all(b"y\n");
        let out = child.wait_with_output().expect("output");
        (out.status.success(), text(&out.stdout))
    };
    let (ok, out) = check(false);
    assert!(
        !ok && out.contains("is not valid. Use the --fix option"),
        "{out}"
    );
    let (ok, out) = check(true);
    assert!(
        ok && out.contains("Successfully truncated AOF appendonly.aof.1.incr.aof"),
        "{out}"
    );
    let (ok, out) = check(false);
    assert!(
        ok && out.contains("All AOF files and manifest are valid"),
        "{out}"
    );
    let s = start(dir.path(), &[]);
    let got = list(&mut s.conn());
    let want: Vec<String> = (0..got.len()).map(|i| i.to_string()).collect();
    assert_eq!(got, want);
    assert!(got.len() <= 25, "the damaged push survived: {}", got.len());
}

#[test]
fn a_failing_disk_refuses_writes_with_misconf_and_recovers() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), &["--enable-debug-command", "yes"]);
    let mut c = s.conn();
    let mut admin = s.conn();
    assert_eq!(text(&c.cmd_str(&["SET", "a", "1"])), "+OK\r\n");
    assert_eq!(
        text(&admin.cmd_str(&["DEBUG", "AOF-FAILPOINT", "FSYNC"])),
        "+OK\r\n"
    );
    // This write is in the log's buffer but never synced: under `always` its reply waits.
    c.send(&[b"SET", b"b", b"2"]);
    assert!(
        !c.has_data_within(300),
        "acknowledged before it was on disk"
    );
    let mut other = s.conn();
    let refused = text(&other.cmd_str(&["SET", "c", "3"]));
    assert!(
        refused.starts_with("-MISCONF Errors writing to the AOF file: "),
        "{refused}"
    );
    assert_eq!(text(&other.cmd_str(&["GET", "a"])), "$1\r\n1\r\n");
    assert_eq!(
        common::info_field(&mut other, "aof_last_write_status"),
        "err"
    );
    // The disk comes back: the waiting write is acknowledged, writes are accepted again.
    assert_eq!(
        text(&admin.cmd_str(&["DEBUG", "AOF-FAILPOINT", "OFF"])),
        "+OK\r\n"
    );
    assert_eq!(text(&c.read_reply()), "+OK\r\n");
    assert_eq!(text(&other.cmd_str(&["SET", "d", "4"])), "+OK\r\n");
    assert_eq!(
        common::info_field(&mut other, "aof_last_write_status"),
        "ok"
    );
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    let s2 = start(dir.path(), &[]);
    let mut c2 = s2.conn();
    for (k, v) in [("a", "1"), ("b", "2"), ("d", "4")] {
        assert_eq!(text(&c2.cmd_str(&["GET", k])), format!("$1\r\n{v}\r\n"));
    }
    assert_eq!(text(&c2.cmd_str(&["EXISTS", "c"])), ":0\r\n");
}

#[test]
fn debug_is_refused_unless_enabled() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(dir.path(), &[]);
    let got = text(&s.conn().cmd_str(&["DEBUG", "AOF-FAILPOINT", "WRITE"]));
    assert!(got.starts_with("-ERR DEBUG command not allowed."), "{got}");
    let dir2 = tempfile::tempdir().expect("dir");
    let local = start(dir2.path(), &["--enable-debug-command", "local"]);
    assert_eq!(
        text(&local.conn().cmd_str(&["DEBUG", "SLEEP", "0"])),
        "+OK\r\n"
    );
}

/// Regression: after a crash left complete commands after the last `#CRC:` annotation (a
/// batch whose write was torn after its commands), the restarted server's first annotation
/// must cover them too — it used to start a fresh checksum, and the next start refused the log
/// with a checksum mismatch.
#[test]
fn commands_after_the_last_annotation_are_covered_when_appending_resumes() {
    let dir = tempfile::tempdir().expect("dir");
    write_log(dir.path());
    let path = incr_file(dir.path());
    let bytes = std::fs::read(&path).expect("read");
    let last = bytes
        .windows(5)
        .rposition(|w| w == b"#CRC:")
        .expect("an annotation");
    std::fs::write(&path, &bytes[..last]).expect("cut the annotation");
    for round in 0..2 {
        let mut s = start(dir.path(), &[]);
        let mut c = s.conn();
        let n = list(&mut c).len();
        assert_eq!(n, 50 + round, "round {round}");
        c.cmd_str(&["RPUSH", "l", &n.to_string()]);
        s.child.kill().expect("kill");
        let _ = s.child.wait();
    }
}

/// Basalt goes on appending to a log redis-server wrote (no annotations at all), and loads the
/// result again.
#[test]
fn basalt_continues_a_log_redis_wrote() {
    let Some(_) = common::redis() else { return };
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().to_str().expect("utf-8");
    {
        let mut r = common::redis_with(&[
            "--dir",
            path,
            "--appendonly",
            "yes",
            "--aof-use-rdb-preamble",
            "no",
            "--appendfsync",
            "always",
        ]);
        let mut c = r.conn();
        for i in 0..10 {
            c.cmd_str(&["RPUSH", "l", &i.to_string()]);
        }
        r.terminate();
    }
    for round in 0..2 {
        let mut s = start(dir.path(), &[]);
        let mut c = s.conn();
        let got = list(&mut c);
        let want: Vec<String> = (0..10 + round).map(|i| i.to_string()).collect();
        assert_eq!(got, want, "round {round}");
        c.cmd_str(&["RPUSH", "l", &(10 + round).to_string()]);
        s.child.kill().expect("kill");
        let _ = s.child.wait();
    }
}

/// A tiny tmpfs mounted for one test, unmounted on drop (after the servers using it).
struct TinyFs {
    path: PathBuf,
    _dir: tempfile::TempDir,
}

impl TinyFs {
    /// None (with a loud message) when this machine does not let the test mount.
    fn mount(size: &str) -> Option<TinyFs> {
        let dir = tempfile::tempdir().ok()?;
        let path = dir.path().join("mnt");
        std::fs::create_dir(&path).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(&path)
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!(
                "\n!!! cannot mount a tmpfs here (not root?): SKIPPING the full-disk test !!!\n"
            );
            return None;
        }
        Some(TinyFs { path, _dir: dir })
    }
}

impl TinyFs {
    /// Free space, in KiB, as df reports it.
    fn avail_kb(&self) -> usize {
        let out = Command::new("df")
            .args(["-k", "--output=avail"])
            .arg(&self.path)
            .output();
        let text = out.map(|o| text(&o.stdout)).unwrap_or_default();
        text.lines()
            .nth(1)
            .and_then(|l| l.trim().parse::<usize>().ok())
            .unwrap_or(0)
    }
}

impl Drop for TinyFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
    }
}

/// A really full filesystem: the write that does not fit is never acknowledged while the disk
/// is full, other writes answer MISCONF, reads go on; once space is freed the waiting write is
/// acknowledged, writes resume, and a restart has every acknowledged write.
#[test]
fn a_full_filesystem_refuses_writes_until_space_is_freed() {
    let Some(fs) = TinyFs::mount("2m") else {
        return;
    };
    let mut s = start(&fs.path, &[]);
    let mut c = s.conn();
    let mut other = s.conn();
    // Most of the space goes to a file we can delete later.
    let filler = fs.path.join("filler");
    let avail_kb = fs.avail_kb();
    assert!(avail_kb > 200, "df says {avail_kb} KiB free");
    std::fs::write(&filler, vec![b'x'; (avail_kb - 150) * 1024]).expect("filler");
    let value = "v".repeat(8 * 1024);
    let mut acked = Vec::new();
    let mut waiting = None;
    for i in 0..100 {
        let key = format!("k{i}");
        c.send(&[b"SET", key.as_bytes(), value.as_bytes()]);
        if !c.has_data_within(1500) {
            waiting = Some(key);
            break;
        }
        let reply = text(&c.read_reply());
        assert_eq!(reply, "+OK\r\n", "{key}");
        acked.push(key);
    }
    let waiting = waiting.expect("the filesystem never filled up");
    let refused = text(&other.cmd_str(&["SET", "x", "1"]));
    assert!(
        refused.starts_with("-MISCONF Errors writing to the AOF file: "),
        "{refused}"
    );
    assert_eq!(
        common::info_field(&mut other, "aof_last_write_status"),
        "err"
    );
    let first = acked.first().expect("some writes fit").clone();
    assert_eq!(text(&other.cmd_str(&["STRLEN", &first])), ":8192\r\n");
    // Free the space: the waiting write lands and is acknowledged, writes resume.
    std::fs::remove_file(&filler).expect("remove filler");
    assert_eq!(text(&c.read_reply()), "+OK\r\n");
    acked.push(waiting);
    let deadline = Instant::now() + Duration::from_secs(10);
    while common::info_field(&mut other, "aof_last_write_status") != "ok" {
        assert!(Instant::now() < deadline, "the log did not recover");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(text(&other.cmd_str(&["SET", "after", "1"])), "+OK\r\n");
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    let s2 = start(&fs.path, &[]);
    let mut c2 = s2.conn();
    for key in acked.iter().chain(std::iter::once(&"after".to_string())) {
        assert_eq!(text(&c2.cmd_str(&["EXISTS", key])), ":1\r\n", "{key}");
    }
    assert_eq!(text(&c2.cmd_str(&["EXISTS", "x"])), ":0\r\n");
    drop(c2);
    drop(s2);
    drop(s);
}

/// `aof-timestamp-enabled yes` writes Redis's `#TS:` annotations, once per second with
/// writes: `redis-check-aof --truncate-to-timestamp` cuts Basalt's log at one of them, and
/// Basalt loads what is left.
#[test]
fn timestamps_let_redis_check_aof_truncate_to_a_point_in_time() {
    let dir = tempfile::tempdir().expect("dir");
    let mut s = start(dir.path(), &["--aof-timestamp-enabled", "yes"]);
    let mut c = s.conn();
    c.cmd_str(&["SET", "early", "1"]);
    std::thread::sleep(Duration::from_millis(1100));
    c.cmd_str(&["SET", "late", "2"]);
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    let bytes = std::fs::read(incr_file(dir.path())).expect("incr");
    let stamps: Vec<u64> = text(&bytes)
        .lines()
        .filter_map(|l| l.strip_prefix("#TS:"))
        .map(|t| t.trim().parse().expect("a unix time"))
        .collect();
    assert!(
        stamps.len() >= 2 && stamps.windows(2).all(|w| w[0] < w[1]),
        "{stamps:?}"
    );
    if common::redis().is_none() {
        return;
    }
    let manifest = dir.path().join("appendonlydir/appendonly.aof.manifest");
    let mut child = Command::new("redis-check-aof")
        .args(["--truncate-to-timestamp", &stamps[0].to_string()])
        .arg(&manifest)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("redis-check-aof");
    use std::io::Write;
    let _ = child.stdin.take().expect("stdin").write_all(b"y\n");
    let out = child.wait_with_output().expect("output");
    assert!(out.status.success(), "{}", text(&out.stdout));
    let s2 = start(dir.path(), &[]);
    let mut c2 = s2.conn();
    assert_eq!(text(&c2.cmd_str(&["GET", "early"])), "$1\r\n1\r\n");
    assert_eq!(text(&c2.cmd_str(&["EXISTS", "late"])), ":0\r\n");
}

/// A rewrite that runs out of disk fails cleanly: status err, no temp file left, the log as it
/// was (plus the new incr file, which keeps every write since), and every write loads.
#[test]
fn a_rewrite_that_runs_out_of_disk_leaves_the_log_intact() {
    let Some(fs) = TinyFs::mount("2m") else {
        return;
    };
    let mut s = start(&fs.path, &[]);
    let mut c = s.conn();
    // Incompressible values: the RDB base (LZF) must not fit in what is left either.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut noise = || {
        (0..8 * 1024)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                char::from(b'!' + (x % 90) as u8)
            })
            .collect::<String>()
    };
    for i in 0..40 {
        let value = noise();
        assert_eq!(
            text(&c.cmd_str(&["SET", &format!("k{i}"), &value])),
            "+OK\r\n"
        );
    }
    let avail_kb = fs.avail_kb();
    // Room for small writes, not for a 320 KB base.
    let filler = fs.path.join("filler");
    std::fs::write(&filler, vec![b'x'; avail_kb.saturating_sub(64) * 1024]).expect("filler");
    assert_eq!(
        text(&c.cmd_str(&["BGREWRITEAOF"])),
        "+Background append only file rewriting started\r\n"
    );
    let deadline = Instant::now() + Duration::from_secs(20);
    while common::info_field(&mut c, "aof_rewrite_in_progress") != "0" {
        assert!(Instant::now() < deadline, "the rewrite did not end");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        common::info_field(&mut c, "aof_last_bgrewrite_status"),
        "err"
    );
    assert_eq!(
        common::info_field(&mut c, "aof_rewrites_consecutive_failures"),
        "1"
    );
    let leftovers: Vec<String> = std::fs::read_dir(fs.path.join("appendonlydir"))
        .expect("appendonlydir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("temp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    // Writes after the failed rewrite are logged (in the new incr file).
    assert_eq!(text(&c.cmd_str(&["SET", "after", "1"])), "+OK\r\n");
    std::fs::remove_file(&filler).expect("remove filler");
    s.child.kill().expect("kill");
    let _ = s.child.wait();
    let s2 = start(&fs.path, &[]);
    let mut c2 = s2.conn();
    assert_eq!(text(&c2.cmd_str(&["DBSIZE"])), ":41\r\n");
    assert_eq!(text(&c2.cmd_str(&["STRLEN", "k39"])), ":8192\r\n");
    drop(c2);
    drop(s2);
}

/// basalt-check-aof reads an RDB base (the default preamble) whole: a sound one passes, a
/// flipped byte in it is reported, and redis-check-aof agrees on both.
#[test]
fn the_checker_reads_an_rdb_base_and_finds_a_damaged_one() {
    let dir = tempfile::tempdir().expect("dir");
    let s = start(dir.path(), &[]);
    let mut c = s.conn();
    for i in 0..50 {
        c.cmd_str(&["SET", &format!("k{i}"), &format!("value-{i}")]);
    }
    assert!(c.cmd_str(&["BGREWRITEAOF"]).starts_with(b"+"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while common::info_field(&mut c, "aof_rewrite_in_progress") != "0"
        || common::info_field(&mut c, "aof_rewrites") != "1"
    {
        assert!(std::time::Instant::now() < deadline, "rewrite");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(s);
    let manifest = dir.path().join("appendonlydir/appendonly.aof.manifest");
    let check = |bin: &str| {
        let out = Command::new(bin).arg(&manifest).output().expect("checker");
        (out.status.success(), text(&out.stdout))
    };
    let ours = env!("CARGO_BIN_EXE_basalt-check-aof");
    let (ok, out) = check(ours);
    assert!(ok && out.contains("RDB preamble is OK"), "{out}");
    let base = dir.path().join("appendonlydir/appendonly.aof.2.base.rdb");
    let mut bytes = std::fs::read(&base).expect("base");
    let at = bytes
        .windows(8)
        .position(|w| w == b"value-25")
        .expect("a value");
    bytes[at] = b'X';
    std::fs::write(&base, &bytes).expect("write");
    let (ok, out) = check(ours);
    assert!(!ok && out.contains("is not valid"), "{out}");
    if common::redis().is_some() {
        assert!(
            check("redis-check-aof").0 == ok,
            "redis-check-aof disagrees"
        );
    }
}
