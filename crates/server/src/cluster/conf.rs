//! `nodes.conf` (`cluster-config-file`), Redis's format: one line per node (ID,
//! `ip:port@cport`, flags, master, ping/pong times, config epoch, link state, slots), then
//! `vars currentEpoch N lastVoteEpoch M`. Written whole to a temporary file renamed over the
//! old one, so a crash leaves either version (synced when the epochs changed: see `write`).

use std::io::Write;

use super::msg::flag;
use super::node::{self, Node};
use super::State;

/// Load the file into `st` (this node's ID, epochs, role and slots; the other nodes, their
/// roles and slots). `false` when there is no file yet (or it is empty, as Redis treats a
/// zero-length file).
pub fn load(path: &str, st: &mut State) -> anyhow::Result<bool> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => anyhow::bail!("Loading the cluster node config from {path}: {e}"),
    };
    if text.trim().is_empty() {
        return Ok(false);
    }
    let mut found_myself = false;
    let now = crate::util::now_ms();
    for (n, line) in text.lines().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let bad = || {
            anyhow::anyhow!(
                "Unrecoverable error: corrupted cluster config file \"{path}\" (line {}).",
                n + 1
            )
        };
        match words.first() {
            None => continue,
            Some(&"vars") => {
                for pair in words[1..].chunks(2) {
                    let value = pair.get(1).and_then(|v| v.parse().ok()).ok_or_else(bad)?;
                    match pair[0] {
                        "currentEpoch" => st.current_epoch = value,
                        "lastVoteEpoch" => st.last_vote_epoch = value,
                        _ => {}
                    }
                }
            }
            Some(id) => {
                let id = node::parse_id(id.as_bytes()).ok_or_else(bad)?;
                if words.len() < 8 {
                    return Err(bad());
                }
                let flags = node::parse_flags(words[2]);
                let master = match words[3] {
                    "-" => None,
                    m => Some(node::parse_id(m.as_bytes()).ok_or_else(bad)?),
                };
                let epoch: u64 = words[6].parse().map_err(|_| bad())?;
                // `ip:port@cport[,hostname]`
                let (addr, hostname) = words[1].split_once(',').unwrap_or((words[1], ""));
                let (hostport, cport) = addr.split_once('@').ok_or_else(bad)?;
                let (ip, port) = hostport.rsplit_once(':').ok_or_else(bad)?;
                let port: u16 = port.parse().map_err(|_| bad())?;
                let cport: u16 = cport.parse().map_err(|_| bad())?;
                if flags & flag::MYSELF != 0 {
                    found_myself = true;
                    st.id = id;
                    st.config_epoch = epoch;
                    st.my_ip = ip.to_string();
                    st.my_flags =
                        flags & !flag::MYSELF & (flag::MASTER | flag::SLAVE | flag::NOFAILOVER);
                    st.my_master = master;
                } else {
                    let mut other = Node::new(id, ip, port, cport, flags, now);
                    other.hostname = hostname.to_string();
                    other.master = master;
                    other.config_epoch = epoch;
                    // A restarted node pings everyone afresh.
                    other.pong_received_ms = words[5].parse().unwrap_or(0);
                    st.nodes.insert(id, other);
                }
                for range in &words[8..] {
                    if let Some(open) = range.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
                        let parsed = open
                            .split_once("->-")
                            .map(|(s, n)| (s, n, true))
                            .or_else(|| open.split_once("-<-").map(|(s, n)| (s, n, false)));
                        let (slot, other, out) = parsed.ok_or_else(bad)?;
                        let slot: u16 = slot.parse().map_err(|_| bad())?;
                        let other = node::parse_id(other.as_bytes()).ok_or_else(bad)?;
                        if slot as usize >= super::SLOTS {
                            return Err(bad());
                        }
                        if out {
                            st.migrating.insert(slot, other);
                        } else {
                            st.importing.insert(slot, other);
                        }
                        continue;
                    }
                    let (a, b) = range.split_once('-').unwrap_or((range, range));
                    let (a, b): (u16, u16) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    if a > b || b as usize >= super::SLOTS {
                        return Err(bad());
                    }
                    for s in a..=b {
                        st.owners.set(s as usize, Some(id));
                    }
                }
            }
        }
    }
    if !found_myself {
        anyhow::bail!(
            "Unrecoverable error: corrupted cluster config file \"{path}\" (no myself node)."
        );
    }
    Ok(true)
}

/// Write `text` as the file: a temporary file renamed over it, so a reader or a crash sees
/// one version whole. With `durable`, the file and the directory are synced first (as Redis
/// fsyncs `nodes.conf` when an epoch or a vote changed: forgetting those could make a node
/// vote twice in one epoch); slot moves are not synced, as in Redis (the cluster tells a
/// restarted node again).
pub fn write(path: &str, text: &str, durable: bool) -> anyhow::Result<()> {
    let target = std::path::Path::new(path);
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let tmp = dir.join(format!(
        "temp-{}.{}",
        std::process::id(),
        target
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("nodes.conf")
    ));
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(text.as_bytes())?;
    if durable {
        f.sync_all()?;
    }
    drop(f);
    std::fs::rename(&tmp, target)?;
    if durable {
        std::fs::File::open(&dir)?.sync_all()?;
    }
    Ok(())
}
