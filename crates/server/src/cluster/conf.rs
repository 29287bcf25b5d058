//! `nodes.conf` (`cluster-config-file`), Redis's format: one line per node (ID,
//! `ip:port@cport`, flags, master, ping/pong times, config epoch, link state, slots), then
//! `vars currentEpoch N lastVoteEpoch M`. Written whole to a temporary file, synced and
//! renamed over the old one, so a crash leaves either version.

use std::io::Write;

use super::NodeState;

/// The file's node state and this node's slots; `None` when there is no file yet (or it is
/// empty, as Redis treats a zero-length file).
pub fn load(path: &str) -> anyhow::Result<Option<(NodeState, Vec<u16>)>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => anyhow::bail!("Loading the cluster node config from {path}: {e}"),
    };
    if text.trim().is_empty() {
        return Ok(None);
    }
    let mut state = NodeState::default();
    let mut slots = Vec::new();
    let mut found_myself = false;
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
                        "currentEpoch" => state.current_epoch = value,
                        "lastVoteEpoch" => state.last_vote_epoch = value,
                        _ => {}
                    }
                }
            }
            Some(id) => {
                if words.len() < 8 || id.len() != 40 {
                    return Err(bad());
                }
                if !words[2].split(',').any(|f| f == "myself") {
                    state.others.push(line.to_string());
                    continue;
                }
                found_myself = true;
                state.id = id.to_string();
                state.config_epoch = words[6].parse().map_err(|_| bad())?;
                for range in &words[8..] {
                    // `[slot->-node]` / `[slot-<-node]`: migrations, not built yet.
                    if range.starts_with('[') {
                        continue;
                    }
                    let (a, b) = range.split_once('-').unwrap_or((range, range));
                    let (a, b): (u16, u16) =
                        (a.parse().map_err(|_| bad())?, b.parse().map_err(|_| bad())?);
                    if a > b || b as usize >= super::SLOTS {
                        return Err(bad());
                    }
                    slots.extend(a..=b);
                }
            }
        }
    }
    if !found_myself {
        anyhow::bail!(
            "Unrecoverable error: corrupted cluster config file \"{path}\" (no myself node)."
        );
    }
    Ok(Some((state, slots)))
}

pub fn write(path: &str, text: &str) -> anyhow::Result<()> {
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
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, target)?;
    std::fs::File::open(&dir)?.sync_all()?;
    Ok(())
}
