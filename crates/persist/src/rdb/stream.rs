//! Streams in RDB files and DUMP payloads: what Redis 7.0's `rdbSaveObject` and
//! `rdbLoadObject` do for `OBJ_STREAM`.
//!
//! Layout (type 19, `RDB_TYPE_STREAM_LISTPACKS_2`, what 7.0 writes): the node count, each node
//! as two strings (its master ID in 16 big-endian bytes, its listpack); the length and last
//! ID; first ID, largest deleted ID and entries added (absent in type 15); the groups, each
//! with its name, last delivered ID, entries read (absent in type 15), its pending list (16
//! raw ID bytes, delivery time as 8 little-endian bytes, delivery count) and its consumers
//! (name, seen time, in type 21 also an active time, and their pending IDs as 16 raw bytes).
//! Every part is checked as it is adopted (`store::stream`'s `load_*`), with Redis's messages.

use std::io::{Read, Write};

use store::stream::{Corrupt, Stream, StreamId, StreamMeta};

use super::read::RdbReader;
use super::types as t;
use super::write::RdbWriter;
use super::RdbError;

impl<W: Write> RdbWriter<W> {
    /// A stream's body in type 19.
    pub(super) fn stream(&mut self, s: &Stream) -> std::io::Result<()> {
        self.len(s.node_count() as u64)?;
        for (master, node) in s.nodes() {
            self.string(&master.to_be_bytes())?;
            self.string(node)?;
        }
        let meta = s.meta();
        self.len(meta.length)?;
        self.id(meta.last_id)?;
        self.id(meta.first_id)?;
        self.id(meta.max_deleted_entry_id)?;
        self.len(meta.entries_added)?;
        self.len(s.group_count() as u64)?;
        for (name, g) in s.groups() {
            self.string(name)?;
            self.id(g.last_id())?;
            // -1 (unknown) is written as the 64-bit length it casts to, as Redis does.
            self.len(g.entries_read_raw() as u64)?;
            self.len(g.pending_len() as u64)?;
            for (id, p) in g.pending() {
                self.raw(&id.to_be_bytes())?;
                self.raw(&p.delivery_time().to_le_bytes())?;
                self.len(p.delivery_count())?;
            }
            self.len(g.consumer_count() as u64)?;
            for (name, c) in g.consumers() {
                self.string(name)?;
                self.raw(&c.seen_time().to_le_bytes())?;
                self.len(c.pending_len() as u64)?;
                for id in c.pending_ids() {
                    self.raw(&id.to_be_bytes())?;
                }
            }
        }
        Ok(())
    }

    fn id(&mut self, id: StreamId) -> std::io::Result<()> {
        self.len(id.ms)?;
        self.len(id.seq)
    }
}

impl<R: Read> RdbReader<R> {
    /// A stream of type 15, 19 or 21.
    pub(super) fn stream(&mut self, kind: u8) -> Result<Stream, RdbError> {
        let mut s = Stream::new();
        let nodes = self.len()?;
        for _ in 0..nodes {
            let key = self.string()?;
            let master = StreamId::from_be_bytes(&key).ok_or_else(|| {
                self.format("Stream node key entry is not the size of a stream ID".into())
            })?;
            let node = self.string()?;
            self.deep_checked += 1;
            s.load_node(master, &node).map_err(|e| self.corrupt(e))?;
        }
        let length = self.len()?;
        let last_id = self.stream_id()?;
        if kind == t::STREAM_LISTPACKS {
            s.load_meta_v1(length, last_id)
                .map_err(|e| self.corrupt(e))?;
        } else {
            let meta = StreamMeta {
                length,
                last_id,
                first_id: self.stream_id()?,
                max_deleted_entry_id: self.stream_id()?,
                entries_added: self.len()?,
            };
            s.load_meta(meta).map_err(|e| self.corrupt(e))?;
        }
        let groups = self.len()?;
        for _ in 0..groups {
            self.group(&mut s, kind)?;
        }
        Ok(s)
    }

    fn group(&mut self, s: &mut Stream, kind: u8) -> Result<(), RdbError> {
        let name = self.string()?;
        let last_id = self.stream_id()?;
        let entries_read = if kind == t::STREAM_LISTPACKS {
            s.estimate_entries_read(last_id)
        } else {
            self.len()? as i64
        };
        let mut pending = Vec::new();
        let pel = self.len()?;
        for _ in 0..pel {
            let id = self.raw_id()?;
            let time = i64::from_le_bytes(self.fixed()?);
            pending.push((id, time, self.len()?));
        }
        let mut consumers = Vec::new();
        let count = self.len()?;
        for _ in 0..count {
            let cname = self.string()?;
            let seen = i64::from_le_bytes(self.fixed()?);
            if kind == t::STREAM_LISTPACKS_3 {
                // 7.2's active time: Basalt keeps 7.0's single seen time.
                let _active: [u8; 8] = self.fixed()?;
            }
            let n = self.len()?;
            let mut ids = Vec::new();
            for _ in 0..n {
                ids.push(self.raw_id()?);
            }
            consumers.push((cname, seen, ids));
        }
        let g = s
            .load_group(&name, last_id, entries_read)
            .map_err(|e| self.corrupt(e))?;
        let adopt = || -> Result<(), Corrupt> {
            for (id, time, count) in pending {
                g.load_pending(id, time, count)?;
            }
            for (cname, seen, ids) in consumers {
                g.load_consumer(&cname, seen)?;
                for id in ids {
                    g.load_consumer_pending(&cname, id)?;
                }
            }
            g.check_loaded()
        };
        adopt().map_err(|e| self.corrupt(e))
    }

    fn stream_id(&mut self) -> Result<StreamId, RdbError> {
        Ok(StreamId::new(self.len()?, self.len()?))
    }

    fn raw_id(&mut self) -> Result<StreamId, RdbError> {
        let raw: [u8; 16] = self.fixed()?;
        StreamId::from_be_bytes(&raw).ok_or_else(|| self.format("bad stream ID".into()))
    }

    fn corrupt(&self, e: Corrupt) -> RdbError {
        self.format(e.0.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::super::read::RdbReader;
    use super::super::write::RdbWriter;
    use super::super::RdbValue;
    use store::stream::{ClaimArgs, IdSpec, NodeLimits, Stream, StreamId};

    /// A stream over several nodes, with a deletion, two groups, pending entries of two
    /// consumers and a consumer owning none.
    fn sample() -> Stream {
        let mut s = Stream::new();
        let limits = NodeLimits {
            max_bytes: 4096,
            max_entries: 3,
        };
        for i in 1..=10u64 {
            let v = i.to_string();
            let fields = [(b"f".as_slice(), v.as_bytes()), (b"name".as_slice(), b"x")];
            s.append(IdSpec::Explicit(StreamId::new(i, 1)), &fields, limits)
                .expect("append");
        }
        s.delete(&[StreamId::new(4, 1)]);
        assert!(s.create_group(b"g1", StreamId::MIN, -1));
        assert!(s.create_group(b"g2", StreamId::new(3, 0), 2));
        s.deliver(b"g1", b"alice", StreamId::MIN, 3, false, 1_000, |_| {});
        s.deliver(b"g1", b"bob", StreamId::MIN, 2, false, 2_000, |_| {});
        if let Some(g) = s.group_mut(b"g2") {
            g.create_consumer(b"idle", 3_000);
        }
        s
    }

    fn body(s: &Stream) -> Vec<u8> {
        let mut w = RdbWriter::part(false);
        w.raw(&[super::t::STREAM_LISTPACKS_2]).expect("type");
        w.stream(s).expect("write");
        w.take_part()
    }

    fn read(bytes: &[u8]) -> Option<Stream> {
        match RdbReader::bare(bytes, 10).typed_value() {
            Ok((RdbValue::Stream(s), _)) => Some(*s),
            _ => None,
        }
    }

    /// What the commands do with a loaded stream: must not panic whatever was loaded.
    fn exercise(mut s: Stream) {
        let _ = s.range(StreamId::MIN, StreamId::MAX, false).count();
        let _ = s.range(StreamId::MIN, StreamId::MAX, true).count();
        for e in s.range(StreamId::MIN, StreamId::MAX, false) {
            let _ = e.to_pairs();
        }
        let names: Vec<Vec<u8>> = s.groups().map(|(n, _)| n.to_vec()).collect();
        for n in &names {
            if let Some(g) = s.group(n) {
                let _ = s.group_lag(g);
                let _ = g.pending_summary();
            }
            let _ = s.deliver(n, b"c", StreamId::MIN, 4, false, 1, |_| {});
            let _ = s.read_history(n, b"c", StreamId::MIN, 4, 1, |_, _| {});
            let ids: Vec<StreamId> = s
                .group(n)
                .map(|g| g.pending().map(|(id, _)| id).collect())
                .unwrap_or_default();
            let _ = s.claim(n, b"d", &ids, &ClaimArgs::default(), 2, |_| {});
            let _ = s.autoclaim(n, b"e", StreamId::MIN, 4, 0, false, 3, |_| {});
        }
        let all: Vec<StreamId> = s
            .range(StreamId::MIN, StreamId::MAX, false)
            .map(|e| e.id())
            .collect();
        s.delete(&all[..all.len().min(2)]);
        let _ = s.append(
            IdSpec::Auto { now_ms: 50 },
            &[(b"f".as_slice(), b"v".as_slice())],
            NodeLimits::default(),
        );
        s.trim(store::stream::Trim::MaxLen(1), true, 0);
        s.trim(store::stream::Trim::MaxLen(0), false, 0);
    }

    #[test]
    fn a_stream_round_trips_with_its_groups() {
        let s = sample();
        let bytes = body(&s);
        assert_eq!(read(&bytes), Some(s));
    }

    /// The stream reader on every truncation and on every single-byte change of a real
    /// stream value: an error or a stream the commands can use, never a panic. (The fuzz
    /// target `stream_payload` goes further; this keeps the property in every test run.)
    #[test]
    fn damaged_stream_values_are_refused_or_usable() {
        let bytes = body(&sample());
        for len in 0..bytes.len() {
            assert!(
                read(&bytes[..len]).is_none(),
                "a truncation at {len} loaded"
            );
        }
        let mut loaded = 0;
        for at in 1..bytes.len() {
            for flip in [0x01u8, 0x80, 0xff, 0x10] {
                let mut b = bytes.clone();
                b[at] ^= flip;
                if let Some(s) = read(&b) {
                    loaded += 1;
                    exercise(s);
                }
            }
        }
        // Some changes (a field's byte, a time) still make a valid stream.
        assert!(loaded > 0);
    }
}
