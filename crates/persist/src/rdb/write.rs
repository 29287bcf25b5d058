//! Writing an RDB stream: version 10, as Redis 7.0 writes it. Strings as integers when they
//! are canonical and fit 32 bits, LZF-compressed when longer than 20 bytes and
//! `rdbcompression` is on (as Redis decides); values Basalt keeps compact in their compact
//! blobs (lists as quicklist 2 of listpack nodes, small hashes and sorted sets as listpacks,
//! integer sets as intsets: `pack`), larger ones as counted sequences (sorted sets with binary
//! doubles, highest score first).

use std::borrow::Cow;
use std::io::Write;

use store::{Set, Value};

use super::{opcodes as op, pack, types as t, CRC64, RDB_VERSION};

/// Writes an RDB stream, keeping its CRC-64.
pub struct RdbWriter<W> {
    out: W,
    digest: crc::Digest<'static, u64>,
    compress: bool,
    /// `rdbchecksum`: off writes 0 as the checksum (which readers skip), as Redis does.
    checksum: bool,
    buf: Vec<u8>,
}

/// Bytes buffered before they go to the output.
const FLUSH_AT: usize = 1 << 16;

impl<W: Write> RdbWriter<W> {
    /// Start a file: the header. `compress` is `rdbcompression`.
    pub fn new(out: W, compress: bool) -> std::io::Result<Self> {
        let mut w = RdbWriter {
            out,
            digest: CRC64.digest(),
            compress,
            checksum: true,
            buf: Vec::with_capacity(FLUSH_AT * 2),
        };
        w.raw(format!("REDIS{RDB_VERSION:04}").as_bytes())?;
        Ok(w)
    }

    /// The output (to fsync a file while writing).
    pub fn get_ref(&self) -> &W {
        &self.out
    }

    /// `rdbchecksum no`: the file ends with a zero checksum.
    pub fn without_checksum(mut self) -> Self {
        self.checksum = false;
        self
    }

    /// Bytes written elsewhere by an [`RdbWriter::part`] (a snapshot's step), appended as
    /// they are.
    pub fn raw_part(&mut self, part: &[u8]) -> std::io::Result<()> {
        self.raw(part)
    }

    pub(super) fn raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() >= FLUSH_AT {
            self.flush_buf()?;
        }
        Ok(())
    }

    fn flush_buf(&mut self) -> std::io::Result<()> {
        self.digest.update(&self.buf);
        self.out.write_all(&self.buf)?;
        self.buf.clear();
        Ok(())
    }

    pub(super) fn len(&mut self, n: u64) -> std::io::Result<()> {
        if n < 1 << 6 {
            self.raw(&[n as u8])
        } else if n < 1 << 14 {
            self.raw(&[0x40 | (n >> 8) as u8, n as u8])
        } else if n <= u64::from(u32::MAX) {
            self.raw(&[0x80])?;
            self.raw(&(n as u32).to_be_bytes())
        } else {
            self.raw(&[0x81])?;
            self.raw(&n.to_be_bytes())
        }
    }

    /// A string, in the smallest of Redis's encodings for it.
    pub fn string(&mut self, s: &[u8]) -> std::io::Result<()> {
        if let Some(i) = canonical_i32(s) {
            return if let Ok(b) = i8::try_from(i) {
                self.raw(&[0xC0, b as u8])
            } else if let Ok(h) = i16::try_from(i) {
                self.raw(&[0xC1])?;
                self.raw(&h.to_le_bytes())
            } else {
                self.raw(&[0xC2])?;
                self.raw(&i.to_le_bytes())
            };
        }
        if self.compress && s.len() > 20 {
            if let Ok(c) = lzf::compress(s) {
                if c.len() < s.len() - 4 {
                    self.raw(&[0xC3])?;
                    self.len(c.len() as u64)?;
                    self.len(s.len() as u64)?;
                    return self.raw(&c);
                }
            }
        }
        self.len(s.len() as u64)?;
        self.raw(s)
    }

    pub fn aux(&mut self, key: &str, value: &[u8]) -> std::io::Result<()> {
        self.raw(&[op::AUX])?;
        self.string(key.as_bytes())?;
        self.string(value)
    }

    pub fn select_db(&mut self, db: usize) -> std::io::Result<()> {
        self.raw(&[op::SELECTDB])?;
        self.len(db as u64)
    }

    pub fn resize_db(&mut self, keys: usize, expires: usize) -> std::io::Result<()> {
        self.raw(&[op::RESIZEDB])?;
        self.len(keys as u64)?;
        self.len(expires as u64)
    }

    /// One key: its expiry (absolute, Unix ms) if it has one, its type, name and value.
    pub fn key(
        &mut self,
        key: &[u8],
        value: &Value,
        expire_ms: Option<u64>,
    ) -> std::io::Result<()> {
        if let Some(at) = expire_ms {
            self.raw(&[op::EXPIRETIME_MS])?;
            self.raw(&(at as i64).to_le_bytes())?;
        }
        self.raw(&[value_type(value)])?;
        self.string(key)?;
        self.value(value)
    }

    /// A value's body, after its type byte (and, in a file, its key): the compact blob of
    /// a value Basalt keeps compact (listpack, intset, a list's listpack nodes), as Redis
    /// writes it, otherwise the plain sequence.
    pub fn value(&mut self, value: &Value) -> std::io::Result<()> {
        match value {
            Value::Str(s) => s.with_bytes(|b| self.string(b)),
            Value::List(l) => {
                self.len(l.node_count() as u64)?;
                for node in l.nodes() {
                    self.len(QUICKLIST_PACKED)?;
                    self.string(&pack::listpack(node))?;
                }
                Ok(())
            }
            Value::Set(Set::Ints(ints)) => self.string(&pack::intset(
                ints.encoding_width(),
                ints.len(),
                ints.iter(),
            )),
            Value::Set(s) => {
                self.len(s.len() as u64)?;
                for m in s.iter() {
                    self.string(&m.to_vec())?;
                }
                Ok(())
            }
            Value::Hash(h) if h.table().is_none() => {
                let flat = h
                    .iter()
                    .flat_map(|(f, v)| [Cow::Borrowed(f), Cow::Borrowed(v)]);
                self.string(&pack::listpack(flat))
            }
            Value::Hash(h) => {
                self.len(h.len() as u64)?;
                for (f, v) in h.iter() {
                    self.string(f)?;
                    self.string(v)?;
                }
                Ok(())
            }
            Value::ZSet(z) if z.is_packed() => {
                let flat = z.iter().flat_map(|(score, m)| {
                    [
                        Cow::Borrowed(m),
                        Cow::Owned(pack::score_text(score).into_bytes()),
                    ]
                });
                self.string(&pack::listpack(flat))
            }
            Value::ZSet(z) => {
                // Highest score first, as Redis writes it (each loaded element then goes in
                // at the head of the skiplist).
                let entries: Vec<(f64, &[u8])> = z.iter().collect();
                self.len(entries.len() as u64)?;
                for (score, m) in entries.into_iter().rev() {
                    self.string(m)?;
                    self.raw(&score.to_le_bytes())?;
                }
                Ok(())
            }
            Value::Stream(s) => self.stream(s),
        }
    }

    /// EOF and the checksum; returns the output.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.raw(&[op::EOF])?;
        self.flush_buf()?;
        let crc = if self.checksum {
            self.digest.finalize()
        } else {
            0
        };
        self.out.write_all(&crc.to_le_bytes())?;
        self.out.flush()?;
        Ok(self.out)
    }
}

impl RdbWriter<Vec<u8>> {
    /// A writer of RDB items into memory, without header, end or checksum: parts that a
    /// file's writer appends with [`RdbWriter::raw_part`] (a snapshot serializes under a
    /// shard's lock this way, and writes to the file after releasing it).
    pub fn part(compress: bool) -> Self {
        RdbWriter {
            out: Vec::new(),
            digest: CRC64.digest(),
            compress,
            checksum: false,
            buf: Vec::new(),
        }
    }

    /// The bytes written since the last call.
    pub fn take_part(&mut self) -> Vec<u8> {
        let mut out = std::mem::take(&mut self.out);
        out.append(&mut self.buf);
        out
    }

    /// Bytes written and not yet taken.
    pub fn part_len(&self) -> usize {
        self.out.len() + self.buf.len()
    }
}

/// The RDB type byte this writer uses for `value` (plain encodings).
pub fn value_type(value: &Value) -> u8 {
    match value {
        Value::Str(_) => t::STRING,
        Value::List(_) => t::LIST_QUICKLIST_2,
        Value::Set(Set::Ints(_)) => t::SET_INTSET,
        Value::Set(_) => t::SET,
        Value::Hash(h) if h.table().is_none() => t::HASH_LISTPACK,
        Value::Hash(_) => t::HASH,
        Value::ZSet(z) if z.is_packed() => t::ZSET_LISTPACK,
        Value::ZSet(_) => t::ZSET_2,
        Value::Stream(_) => t::STREAM_LISTPACKS_2,
    }
}

/// A quicklist node's container: a listpack (Redis's `QUICKLIST_NODE_CONTAINER_PACKED`).
const QUICKLIST_PACKED: u64 = 2;

/// `s` as an `i32` when it is exactly how that integer prints (Redis's
/// `rdbTryIntegerEncoding`: no sign on zero, no leading zeros or spaces).
fn canonical_i32(s: &[u8]) -> Option<i32> {
    if s.is_empty() || s.len() > 11 {
        return None;
    }
    let v: i32 = std::str::from_utf8(s).ok()?.parse().ok()?;
    (itoa::Buffer::new().format(v).as_bytes() == s).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::super::read::{Item, RdbReader};
    use super::super::RdbValue;
    use super::*;
    use store::{Fill, Hash, HashLimits, QuickList, Set, Str, ZLimits, ZSet};

    #[test]
    fn every_type_round_trips_with_expiry_and_checksum() {
        let long = "y".repeat(300);
        let elems: Vec<Vec<u8>> = vec![b"a".to_vec(), b"12".to_vec(), long.clone().into_bytes()];
        let list = QuickList::from_elems(elems.iter().map(Vec::as_slice), Fill::from_config(-2));
        let mut h = Hash::default();
        h.set(b"f", b"-7", HashLimits::default());
        let mut set = Set::default();
        set.add(b"x", 512);
        let mut z = ZSet::default();
        z.set(b"m", -0.5, ZLimits::default());
        z.set(b"n", f64::INFINITY, ZLimits::default());
        let values = [
            (
                b"s".to_vec(),
                Value::Str(Str::from_bytes(long.as_bytes())),
                Some(123_456u64),
            ),
            (b"i".to_vec(), Value::Str(Str::from_bytes(b"-70000")), None),
            (b"l".to_vec(), Value::List(Box::new(list)), None),
            (b"h".to_vec(), Value::Hash(Box::new(h)), None),
            (b"t".to_vec(), Value::Set(set), None),
            (b"z".to_vec(), Value::ZSet(Box::new(z)), None),
        ];
        let mut w = RdbWriter::new(Vec::new(), true).unwrap();
        w.aux("redis-ver", b"7.0.15").unwrap();
        w.select_db(3).unwrap();
        w.resize_db(values.len(), 1).unwrap();
        for (k, v, e) in &values {
            w.key(k, v, *e).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = RdbReader::new(&bytes[..]).unwrap();
        let mut items = Vec::new();
        loop {
            let item = r.next_item().unwrap();
            if item == Item::End {
                break;
            }
            items.push(item);
        }
        assert_eq!(
            items[0],
            Item::Aux(b"redis-ver".to_vec(), b"7.0.15".to_vec())
        );
        assert_eq!(items[1], Item::SelectDb(3));
        let keys: Vec<_> = items
            .iter()
            .filter_map(|i| match i {
                Item::Key(k) => Some(k),
                _ => None,
            })
            .collect();
        assert_eq!(keys[0].value, RdbValue::Str(long.clone().into_bytes()));
        assert_eq!(keys[0].expire_ms, Some(123_456));
        assert_eq!(keys[1].value, RdbValue::Str(b"-70000".to_vec()));
        assert_eq!(keys[2].value, RdbValue::List(elems));
        assert_eq!(
            keys[3].value,
            RdbValue::Hash(vec![(b"f".to_vec(), b"-7".to_vec())])
        );
        assert_eq!(keys[4].value, RdbValue::Set(vec![b"x".to_vec()]));
        assert_eq!(
            keys[5].value,
            RdbValue::ZSet(vec![(-0.5, b"m".to_vec()), (f64::INFINITY, b"n".to_vec())])
        );
        // A flipped byte is caught by the checksum (or the format), never loaded quietly.
        let mut bad = bytes.clone();
        bad[20] ^= 0x01;
        let mut r = RdbReader::new(&bad[..]).unwrap();
        let failed = loop {
            match r.next_item() {
                Ok(Item::End) => break false,
                Ok(_) => continue,
                Err(_) => break true,
            }
        };
        assert!(failed);
        // Every truncation is an error.
        for cut in [10, bytes.len() / 2, bytes.len() - 1] {
            let mut r = RdbReader::new(&bytes[..cut]).unwrap();
            let ended = loop {
                match r.next_item() {
                    Ok(Item::End) => break true,
                    Ok(_) => continue,
                    Err(_) => break false,
                }
            };
            assert!(!ended, "cut at {cut} loaded as complete");
        }
    }

    /// Regression (found by the rdb_reader fuzz target): an LZF string claiming a huge
    /// uncompressed length made the decompressor allocate it.
    #[test]
    fn an_lzf_string_claiming_a_huge_length_is_an_error_not_an_allocation() {
        let mut bytes = b"REDIS0010".to_vec();
        bytes.extend_from_slice(&[0x00, 0x01, b'k', 0xC3, 0x01, 0x81]);
        bytes.extend_from_slice(&[0x4A; 8]);
        bytes.extend_from_slice(&[0xFF, 0xFF]);
        let mut r = RdbReader::new(&bytes[..]).unwrap();
        assert!(r.next_item().is_err());
    }

    #[test]
    fn parts_concatenate_into_a_valid_file() {
        let store = store::Store::new(2, 2);
        {
            let mut all = store.lock_all();
            for (i, shard) in all.shards_mut().enumerate() {
                let k = format!("k{i}");
                shard
                    .db(i)
                    .set(k.as_bytes(), Value::Str(Str::from_bytes(b"v")), false, 0);
            }
        }
        let mut w = RdbWriter::new(Vec::new(), true).unwrap();
        let mut all = store.lock_all();
        for shard in all.shards_mut() {
            let mut part = RdbWriter::part(true);
            for (i, db) in shard.dbs() {
                for (key, obj, at) in db.live_entries(0) {
                    part.select_db(i).unwrap();
                    part.key(key, &obj.value, at).unwrap();
                }
            }
            w.raw_part(&part.take_part()).unwrap();
        }
        let bytes = w.finish().unwrap();
        let mut r = RdbReader::new(&bytes[..]).unwrap();
        let mut seen = Vec::new();
        let mut db = 0;
        loop {
            match r.next_item().unwrap() {
                Item::End => break,
                Item::SelectDb(n) => db = n,
                Item::Key(k) => seen.push((db, k.key)),
                _ => {}
            }
        }
        seen.sort();
        assert_eq!(seen, vec![(0, b"k0".to_vec()), (1, b"k1".to_vec())]);
    }

    #[test]
    fn integers_are_encoded_only_when_canonical() {
        assert_eq!(canonical_i32(b"12"), Some(12));
        assert_eq!(canonical_i32(b"-2147483648"), Some(i32::MIN));
        assert_eq!(canonical_i32(b"012"), None);
        assert_eq!(canonical_i32(b"-0"), None);
        assert_eq!(canonical_i32(b"+1"), None);
        assert_eq!(canonical_i32(b"2147483648"), None);
    }
}
