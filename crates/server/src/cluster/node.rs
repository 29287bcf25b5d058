//! The nodes a cluster node knows: their IDs, addresses, roles, epochs and the times of the
//! last PING sent and PONG received — what `CLUSTER NODES` shows and `nodes.conf` keeps.

use super::msg::{flag, NAME_LEN};

/// A node's 40-character hexadecimal name, as the bus carries it.
pub type NodeId = [u8; NAME_LEN];

/// The text of an ID (IDs are made of hex digits; anything else read off the bus is shown
/// lossily and never matches a real node's name).
pub fn id_text(id: &NodeId) -> String {
    String::from_utf8_lossy(id).into_owned()
}

/// An ID from its text: exactly 40 bytes.
pub fn parse_id(text: &[u8]) -> Option<NodeId> {
    NodeId::try_from(text).ok()
}

/// A new random node name.
pub fn random_id() -> NodeId {
    let text = crate::server::random_hex(NAME_LEN);
    let mut id = [b'0'; NAME_LEN];
    id.copy_from_slice(&text.as_bytes()[..NAME_LEN]);
    id
}

/// The outbound link to a node: a channel to the task that owns its socket.
#[derive(Debug)]
pub struct Link {
    /// Tells links apart when a node is renamed or its link replaced.
    pub serial: u64,
    pub tx: tokio::sync::mpsc::UnboundedSender<Vec<u8>>,
    pub created_ms: u64,
    /// Whether the TCP connection is established (a link connecting is not "connected").
    pub connected: bool,
}

/// Another node, as this one sees it.
#[derive(Debug)]
pub struct Node {
    pub id: NodeId,
    pub ip: String,
    pub port: u16,
    pub cport: u16,
    pub pport: u16,
    pub hostname: String,
    /// `msg::flag` bits (never `MYSELF`: this node is not in the table).
    pub flags: u16,
    pub master: Option<NodeId>,
    pub config_epoch: u64,
    /// When the PING that is still unanswered was sent (0: none pending), unix ms.
    pub ping_sent_ms: u64,
    pub pong_received_ms: u64,
    pub data_received_ms: u64,
    pub created_ms: u64,
    /// When it was marked FAIL.
    pub fail_time_ms: u64,
    pub repl_offset: u64,
    pub link: Option<Link>,
    /// Masters that said this node is failing, and when they last said it.
    pub fail_reports: Vec<(NodeId, u64)>,
}

impl Node {
    pub fn new(id: NodeId, ip: &str, port: u16, cport: u16, flags: u16, now_ms: u64) -> Self {
        Node {
            id,
            ip: ip.to_string(),
            port,
            cport,
            pport: 0,
            hostname: String::new(),
            flags,
            master: None,
            config_epoch: 0,
            ping_sent_ms: 0,
            pong_received_ms: 0,
            data_received_ms: 0,
            created_ms: now_ms,
            fail_time_ms: 0,
            repl_offset: 0,
            link: None,
            fail_reports: Vec::new(),
        }
    }

    pub fn has(&self, f: u16) -> bool {
        self.flags & f != 0
    }

    pub fn is_master(&self) -> bool {
        self.has(flag::MASTER)
    }

    pub fn in_handshake(&self) -> bool {
        self.has(flag::HANDSHAKE)
    }

    pub fn failing(&self) -> bool {
        self.has(flag::FAIL | flag::PFAIL)
    }

    pub fn link_connected(&self) -> bool {
        self.link.as_ref().is_some_and(|l| l.connected)
    }
}

/// The flags column of CLUSTER NODES (Redis's `representClusterNodeFlags`).
pub fn flags_text(flags: u16) -> String {
    const NAMES: [(u16, &str); 9] = [
        (flag::MYSELF, "myself"),
        (flag::MASTER, "master"),
        (flag::SLAVE, "slave"),
        (flag::PFAIL, "fail?"),
        (flag::FAIL, "fail"),
        (flag::HANDSHAKE, "handshake"),
        (flag::NOADDR, "noaddr"),
        (flag::NOFAILOVER, "nofailover"),
        (0, ""),
    ];
    let words: Vec<&str> = NAMES
        .iter()
        .filter(|(f, _)| *f != 0 && flags & f != 0)
        .map(|(_, n)| *n)
        .collect();
    if words.is_empty() {
        "noflags".to_string()
    } else {
        words.join(",")
    }
}

/// Flags from the CLUSTER NODES / `nodes.conf` column.
pub fn parse_flags(text: &str) -> u16 {
    text.split(',')
        .map(|w| match w {
            "myself" => flag::MYSELF,
            "master" => flag::MASTER,
            "slave" => flag::SLAVE,
            "fail?" => flag::PFAIL,
            "fail" => flag::FAIL,
            "handshake" => flag::HANDSHAKE,
            "noaddr" => flag::NOADDR,
            "nofailover" => flag::NOFAILOVER,
            _ => 0,
        })
        .fold(0, |a, b| a | b)
}

/// Slot ranges of a sorted list of slots, as CLUSTER NODES writes them (`a-b` or `a`).
pub fn ranges_text(ranges: &[(u16, u16)]) -> String {
    let mut out = String::new();
    for &(a, b) in ranges {
        if a == b {
            out.push_str(&format!(" {a}"));
        } else {
            out.push_str(&format!(" {a}-{b}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_round_trip_through_their_text() {
        for f in [
            flag::MYSELF | flag::MASTER,
            flag::SLAVE | flag::PFAIL,
            flag::MASTER | flag::FAIL | flag::NOADDR,
            flag::HANDSHAKE,
        ] {
            assert_eq!(parse_flags(&flags_text(f)), f);
        }
        assert_eq!(flags_text(0), "noflags");
        assert_eq!(flags_text(flag::MYSELF | flag::MASTER), "myself,master");
    }
}
