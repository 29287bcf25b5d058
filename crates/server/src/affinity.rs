//! CPU affinity from redis.conf: `server_cpulist` for the threads that serve clients (main,
//! I/O, cron), `bio_cpulist` for background work (lazy free, the log writer),
//! `aof_rewrite_cpulist` and `bgsave_cpulist` for the rewrite and snapshot threads (in Redis
//! these are forked children; here they are threads, bound the same way).
//!
//! A list is Redis's: comma-separated CPUs or ranges, a range optionally with a stride
//! (`0,2,4-7`, `0-15:2`). As in Redis, binding is best effort: a list that does not parse,
//! or CPUs the machine lacks, leave the thread where it was (with a warning in the log).

use std::sync::OnceLock;

use crate::log_warning;

/// Which list a thread follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Server,
    Background,
    AofRewrite,
    Bgsave,
}

/// The four lists, read once at start (the parameters are immutable, as in Redis).
static LISTS: OnceLock<[String; 4]> = OnceLock::new();

/// Remember the lists and bind the calling (main) thread.
pub fn init(config: &crate::config::Config) {
    let _ = LISTS.set([
        config.get("server_cpulist").to_string(),
        config.get("bio_cpulist").to_string(),
        config.get("aof_rewrite_cpulist").to_string(),
        config.get("bgsave_cpulist").to_string(),
    ]);
    store::threads::set_start_hook(|name| {
        bind(if name == "lazyfree" || name == "basalt-aof" {
            Role::Background
        } else {
            Role::Server
        })
    });
    bind(Role::Server);
}

/// Bind the calling thread to its role's list (nothing when the list is empty).
pub fn bind(role: Role) {
    let Some(lists) = LISTS.get() else { return };
    let list = &lists[role as usize];
    if list.is_empty() {
        return;
    }
    let cpus = match parse(list) {
        Ok(cpus) => cpus,
        Err(e) => {
            log_warning!("Invalid CPU list '{list}': {e}");
            return;
        }
    };
    // SAFETY: cpu_set_t is plain data; CPU_SET writes within it for CPUs below CPU_SETSIZE
    // (larger ones are skipped), and sched_setaffinity(0) applies to the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        for cpu in cpus.into_iter().filter(|&c| c < libc::CPU_SETSIZE as usize) {
            libc::CPU_SET(cpu, &mut set);
        }
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            log_warning!(
                "Could not bind a thread to CPUs '{list}': {}",
                std::io::Error::last_os_error()
            );
        }
    }
}

/// The CPUs of a list: `a`, `a-b` and `a-b:stride` items, comma-separated.
pub fn parse(list: &str) -> Result<Vec<usize>, String> {
    const MAX_CPUS: usize = 1 << 16;
    let mut cpus = Vec::new();
    for item in list.split(',') {
        let (range, stride) = match item.split_once(':') {
            Some((r, s)) => (
                r,
                s.parse::<usize>()
                    .map_err(|_| format!("bad stride in '{item}'"))?,
            ),
            None => (item, 1),
        };
        let (first, last) = match range.split_once('-') {
            Some((a, b)) => (a, b),
            None => (range, range),
        };
        let number = |t: &str| t.parse::<usize>().map_err(|_| format!("bad CPU '{t}'"));
        let (first, last) = (number(first)?, number(last)?);
        if stride == 0 || first > last || last >= MAX_CPUS {
            return Err(format!("bad range '{item}'"));
        }
        cpus.extend((first..=last).step_by(stride));
    }
    Ok(cpus)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn lists_parse_as_redis_reads_them() {
        assert_eq!(parse("0").unwrap(), [0]);
        assert_eq!(parse("0,2,4-6").unwrap(), [0, 2, 4, 5, 6]);
        assert_eq!(parse("0-7:2").unwrap(), [0, 2, 4, 6]);
        for bad in ["", "a", "3-1", "0-4:0", "1,,2", "-1"] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
