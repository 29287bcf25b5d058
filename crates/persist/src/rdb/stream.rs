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
