//! The cluster bus's messages, byte for byte as Redis 7.0 lays out `clusterMsg`: a fixed
//! header (signature `RCmb`, total length, version 1, the sender's ports, type, count, epochs,
//! replication offset, name, slot bitmap, master's name, IP, flags, state), then the type's
//! data — for PING, PONG and MEET, `count` gossip entries about other nodes and `extensions`
//! (hostname …) after them. Integers are big-endian. The bus itself (links, the cron) is
//! not built yet; this is its codec, checked against redis-server's own bus.

use super::slot::SLOTS;

pub const SIGNATURE: &[u8; 4] = b"RCmb";
pub const VERSION: u16 = 1;
pub const NAME_LEN: usize = 40;
pub const IP_LEN: usize = 46;
/// The header's size (Redis's `sizeof(clusterMsg) - sizeof(union clusterMsgData)`).
pub const HEADER_LEN: usize = 2256;
/// One gossip entry (`clusterMsgDataGossip`).
pub const GOSSIP_LEN: usize = 104;
/// The largest message accepted (a PING with gossip about many nodes stays far below).
pub const MAX_LEN: usize = 1 << 20;

/// Message types.
pub mod kind {
    pub const PING: u16 = 0;
    pub const PONG: u16 = 1;
    pub const MEET: u16 = 2;
    pub const FAIL: u16 = 3;
    pub const PUBLISH: u16 = 4;
    pub const FAILOVER_AUTH_REQUEST: u16 = 5;
    pub const FAILOVER_AUTH_ACK: u16 = 6;
    pub const UPDATE: u16 = 7;
    pub const MFSTART: u16 = 8;
    pub const MODULE: u16 = 9;
    pub const PUBLISHSHARD: u16 = 10;
}

/// Node flags, as the bus carries them.
pub mod flag {
    pub const MASTER: u16 = 1;
    pub const SLAVE: u16 = 2;
    pub const PFAIL: u16 = 4;
    pub const FAIL: u16 = 8;
    pub const MYSELF: u16 = 16;
    pub const HANDSHAKE: u16 = 32;
    pub const NOADDR: u16 = 64;
    pub const MEET: u16 = 128;
    pub const MIGRATE_TO: u16 = 256;
    pub const NOFAILOVER: u16 = 512;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    pub port: u16,
    pub kind: u16,
    pub count: u16,
    pub current_epoch: u64,
    pub config_epoch: u64,
    pub offset: u64,
    pub sender: [u8; NAME_LEN],
    pub slots: Box<[u8; SLOTS / 8]>,
    /// All zeros for none (a master).
    pub slaveof: [u8; NAME_LEN],
    /// The sender's IP as it sees it, NUL-padded (empty: the receiver uses the peer address).
    pub ip: [u8; IP_LEN],
    pub extensions: u16,
    pub pport: u16,
    pub cport: u16,
    pub flags: u16,
    /// 0: ok, 1: fail.
    pub state: u8,
    pub mflags: [u8; 3],
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gossip {
    pub name: [u8; NAME_LEN],
    pub ping_sent_secs: u32,
    pub pong_received_secs: u32,
    pub ip: [u8; IP_LEN],
    pub port: u16,
    pub cport: u16,
    pub flags: u16,
    pub pport: u16,
}

impl Gossip {
    /// Append the entry's 104 bytes.
    pub fn encode_into(&self, b: &mut Vec<u8>) {
        b.extend_from_slice(&self.name);
        b.extend_from_slice(&self.ping_sent_secs.to_be_bytes());
        b.extend_from_slice(&self.pong_received_secs.to_be_bytes());
        b.extend_from_slice(&self.ip);
        b.extend_from_slice(&self.port.to_be_bytes());
        b.extend_from_slice(&self.cport.to_be_bytes());
        b.extend_from_slice(&self.flags.to_be_bytes());
        b.extend_from_slice(&self.pport.to_be_bytes());
        b.extend_from_slice(&[0; 2]);
    }
}

/// A message: its header and the bytes of its data (decoded by type as the bus needs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub header: Header,
    pub data: Vec<u8>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MsgError {
    #[error("not a cluster bus message (bad signature)")]
    Signature,
    #[error("unsupported bus protocol version {0}")]
    Version(u16),
    #[error("bad message length {0}")]
    Length(usize),
    #[error("message of type {kind} is {got} bytes, expected {want}")]
    Size { kind: u16, got: usize, want: usize },
}

impl Header {
    pub fn new(kind: u16, sender: [u8; NAME_LEN]) -> Self {
        Header {
            port: 0,
            kind,
            count: 0,
            current_epoch: 0,
            config_epoch: 0,
            offset: 0,
            sender,
            slots: Box::new([0; SLOTS / 8]),
            slaveof: [0; NAME_LEN],
            ip: [0; IP_LEN],
            extensions: 0,
            pport: 0,
            cport: 0,
            flags: 0,
            state: 0,
            mflags: [0; 3],
        }
    }

    /// Whether the bitmap has `slot` (Redis's bit order: slot `s` is bit `s % 8` of byte
    /// `s / 8`).
    pub fn has_slot(&self, slot: u16) -> bool {
        self.slots[slot as usize / 8] & (1 << (slot % 8)) != 0
    }

    pub fn set_slot(&mut self, slot: u16) {
        self.slots[slot as usize / 8] |= 1 << (slot % 8);
    }

    /// Claim slots `first..=last` (whole bytes at once).
    pub fn set_slots(&mut self, first: u16, last: u16) {
        let (mut s, last) = (first as usize, last as usize);
        while s <= last {
            if s % 8 == 0 && s + 7 <= last {
                self.slots[s / 8] = 0xff;
                s += 8;
            } else {
                self.slots[s / 8] |= 1 << (s % 8);
                s += 1;
            }
        }
    }
}

/// The length a message needs to be, from its header's type and counts (Redis's
/// `clusterIsValidPacket`), before its extensions for PING/PONG/MEET.
fn minimum_len(kind: u16, count: u16) -> Option<usize> {
    Some(match kind {
        kind::PING | kind::PONG | kind::MEET => HEADER_LEN + GOSSIP_LEN * count as usize,
        kind::FAIL => HEADER_LEN + NAME_LEN,
        kind::PUBLISH | kind::PUBLISHSHARD => HEADER_LEN + 8,
        kind::FAILOVER_AUTH_REQUEST | kind::FAILOVER_AUTH_ACK | kind::MFSTART => HEADER_LEN,
        kind::UPDATE => HEADER_LEN + 8 + NAME_LEN + SLOTS / 8,
        kind::MODULE => HEADER_LEN + 8 + 1 + 4,
        _ => return None,
    })
}

impl Message {
    pub fn encode(&self) -> Vec<u8> {
        let h = &self.header;
        let total = HEADER_LEN + self.data.len();
        let mut b = Vec::with_capacity(total);
        b.extend_from_slice(SIGNATURE);
        b.extend_from_slice(&(total as u32).to_be_bytes());
        b.extend_from_slice(&VERSION.to_be_bytes());
        b.extend_from_slice(&h.port.to_be_bytes());
        b.extend_from_slice(&h.kind.to_be_bytes());
        b.extend_from_slice(&h.count.to_be_bytes());
        b.extend_from_slice(&h.current_epoch.to_be_bytes());
        b.extend_from_slice(&h.config_epoch.to_be_bytes());
        b.extend_from_slice(&h.offset.to_be_bytes());
        b.extend_from_slice(&h.sender);
        b.extend_from_slice(&h.slots[..]);
        b.extend_from_slice(&h.slaveof);
        b.extend_from_slice(&h.ip);
        b.extend_from_slice(&h.extensions.to_be_bytes());
        b.extend_from_slice(&[0; 30]);
        b.extend_from_slice(&h.pport.to_be_bytes());
        b.extend_from_slice(&h.cport.to_be_bytes());
        b.extend_from_slice(&h.flags.to_be_bytes());
        b.push(h.state);
        b.extend_from_slice(&h.mflags);
        debug_assert_eq!(b.len(), HEADER_LEN);
        b.extend_from_slice(&self.data);
        b
    }

    /// The total length a buffer starting with a message announces, once 8 bytes are there
    /// (the bus reads that much before the rest).
    pub fn announced_len(start: &[u8]) -> Result<Option<usize>, MsgError> {
        if start.len() < 8 {
            return Ok(None);
        }
        if &start[..4] != SIGNATURE {
            return Err(MsgError::Signature);
        }
        let len = u32::from_be_bytes([start[4], start[5], start[6], start[7]]) as usize;
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            return Err(MsgError::Length(len));
        }
        Ok(Some(len))
    }

    /// Decode one whole message (exactly its announced length).
    pub fn decode(b: &[u8]) -> Result<Message, MsgError> {
        let len = Message::announced_len(b)?.ok_or(MsgError::Length(b.len()))?;
        if b.len() != len {
            return Err(MsgError::Length(b.len()));
        }
        let mut r = Reader { b, at: 8 };
        let version = r.u16();
        if version != VERSION {
            return Err(MsgError::Version(version));
        }
        let mut h = Header::new(0, [0; NAME_LEN]);
        h.port = r.u16();
        h.kind = r.u16();
        h.count = r.u16();
        h.current_epoch = r.u64();
        h.config_epoch = r.u64();
        h.offset = r.u64();
        h.sender.copy_from_slice(r.take(NAME_LEN));
        h.slots.copy_from_slice(r.take(SLOTS / 8));
        h.slaveof.copy_from_slice(r.take(NAME_LEN));
        h.ip.copy_from_slice(r.take(IP_LEN));
        h.extensions = r.u16();
        r.take(30);
        h.pport = r.u16();
        h.cport = r.u16();
        h.flags = r.u16();
        h.state = r.take(1)[0];
        h.mflags.copy_from_slice(r.take(3));
        debug_assert_eq!(r.at, HEADER_LEN);
        // Types this version does not know are passed on (and ignored by the bus), as Redis.
        if let Some(want) = minimum_len(h.kind, h.count) {
            let fits = match h.kind {
                // Extensions follow the gossip.
                kind::PING | kind::PONG | kind::MEET if h.extensions > 0 => len >= want,
                // A channel and a message, or a module's payload, of any length.
                kind::PUBLISH | kind::PUBLISHSHARD | kind::MODULE => len >= want,
                _ => len == want,
            };
            if !fits {
                return Err(MsgError::Size {
                    kind: h.kind,
                    got: len,
                    want,
                });
            }
        }
        Ok(Message {
            header: h,
            data: b[HEADER_LEN..].to_vec(),
        })
    }

    /// The gossip entries of a PING, PONG or MEET.
    pub fn gossip(&self) -> Vec<Gossip> {
        let n = self.header.count as usize;
        (0..n)
            .filter_map(|i| self.data.get(i * GOSSIP_LEN..(i + 1) * GOSSIP_LEN))
            .map(|g| {
                let mut r = Reader { b: g, at: 0 };
                let mut e = Gossip {
                    name: [0; NAME_LEN],
                    ping_sent_secs: 0,
                    pong_received_secs: 0,
                    ip: [0; IP_LEN],
                    port: 0,
                    cport: 0,
                    flags: 0,
                    pport: 0,
                };
                e.name.copy_from_slice(r.take(NAME_LEN));
                e.ping_sent_secs = r.u32();
                e.pong_received_secs = r.u32();
                e.ip.copy_from_slice(r.take(IP_LEN));
                e.port = r.u16();
                e.cport = r.u16();
                e.flags = r.u16();
                e.pport = r.u16();
                e
            })
            .collect()
    }
}

/// Reads fields from a buffer whose length was checked first.
struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> &[u8] {
        let s = &self.b[self.at..self.at + n];
        self.at += n;
        s
    }

    fn u16(&mut self) -> u16 {
        let s = self.take(2);
        u16::from_be_bytes([s[0], s[1]])
    }

    fn u32(&mut self) -> u32 {
        let s = self.take(4);
        u32::from_be_bytes([s[0], s[1], s[2], s[3]])
    }

    fn u64(&mut self) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8));
        u64::from_be_bytes(a)
    }
}

/// Text of a NUL-padded field.
pub fn field_text(bytes: &[u8]) -> String {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips() {
        let mut h = Header::new(kind::PING, [b'a'; NAME_LEN]);
        h.port = 7000;
        h.cport = 17000;
        h.current_epoch = 5;
        h.flags = flag::MASTER;
        h.set_slot(0);
        h.set_slot(16383);
        let m = Message {
            header: h,
            data: Vec::new(),
        };
        let bytes = m.encode();
        assert_eq!(bytes.len(), HEADER_LEN);
        let back = Message::decode(&bytes).expect("decode");
        assert_eq!(back, m);
        assert!(back.header.has_slot(16383) && !back.header.has_slot(1));
    }

    #[test]
    fn set_slots_claims_the_same_slots_as_one_at_a_time() {
        for (a, b) in [(0u16, 0u16), (3, 20), (8, 15), (7, 8), (100, 16383)] {
            let mut one = Header::new(kind::PING, [b'a'; NAME_LEN]);
            (a..=b).for_each(|s| one.set_slot(s));
            let mut range = Header::new(kind::PING, [b'a'; NAME_LEN]);
            range.set_slots(a, b);
            assert!(one.slots == range.slots, "{a}..={b}");
        }
    }

    #[test]
    fn garbage_is_refused_not_a_panic() {
        assert_eq!(Message::decode(b"nope1234"), Err(MsgError::Signature));
        let mut short = b"RCmb".to_vec();
        short.extend_from_slice(&10u32.to_be_bytes());
        assert_eq!(Message::decode(&short), Err(MsgError::Length(10)));
        // A PING announcing gossip it does not carry.
        let mut h = Header::new(kind::PING, [b'a'; NAME_LEN]);
        h.count = 3;
        let bytes = Message {
            header: h,
            data: Vec::new(),
        }
        .encode();
        assert!(matches!(
            Message::decode(&bytes),
            Err(MsgError::Size { .. })
        ));
        // Every truncation of a valid message.
        let ok = Message {
            header: Header::new(kind::MEET, [b'b'; NAME_LEN]),
            data: Vec::new(),
        }
        .encode();
        for n in 0..ok.len() {
            assert!(Message::decode(&ok[..n]).is_err());
        }
    }

    proptest::proptest! {
        /// Random bytes written over a valid PING with gossip: decoded or refused, never a
        /// panic; what decodes encodes back to the same bytes (reserved bytes zeroed).
        #[test]
        fn mutated_messages_never_panic(
            edits in proptest::collection::vec((0usize..2500, proptest::num::u8::ANY), 1..8),
        ) {
            let mut h = Header::new(kind::PING, [b'c'; NAME_LEN]);
            h.count = 2;
            let mut bytes = Message { header: h, data: vec![7; 2 * GOSSIP_LEN] }.encode();
            for (at, v) in edits {
                if at < bytes.len() {
                    bytes[at] = v;
                }
            }
            let _ = Message::announced_len(&bytes);
            if let Ok(m) = Message::decode(&bytes) {
                proptest::prop_assert!(m.gossip().len() <= m.header.count as usize);
                let mut want = bytes.clone();
                want[2216..2246].fill(0);
                proptest::prop_assert_eq!(m.encode(), want);
            }
        }
    }
}
