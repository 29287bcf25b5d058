//! Reading an RDB stream item by item (never the whole file in memory), checking the CRC-64 at
//! the end. Lengths come from the file, so nothing is allocated from them up front: buffers
//! grow as bytes actually arrive, and a corrupt length ends in `Truncated`, not an OOM.

use std::io::Read;

use super::packed::{self, Elem};
use super::{opcodes as op, types as t, RdbError, RdbValue, CRC64, MAX_READ_VERSION};

/// One item of the file.
#[derive(Debug, Clone, PartialEq)]
pub enum Item {
    Aux(Vec<u8>, Vec<u8>),
    SelectDb(u64),
    ResizeDb {
        keys: u64,
        expires: u64,
    },
    /// A function library's code (FUNCTION2), kept for scripting.
    Function(Vec<u8>),
    Key(KeyEntry),
    /// The end: the checksum matched (or the file has none).
    End,
}

/// A key with its value and what preceded it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyEntry {
    pub key: Vec<u8>,
    pub value: RdbValue,
    /// Absolute expiry, Unix milliseconds.
    pub expire_ms: Option<i64>,
    pub idle_secs: Option<u64>,
    pub freq: Option<u8>,
    /// The value came as a packed blob (a listpack or ziplist hash or sorted set), which Redis
    /// keeps packed whatever its elements' lengths: it checks only the entry count on load.
    pub packed: bool,
}

/// Whether values of RDB type `kind` are packed blobs whose element lengths a loader does not
/// check (Redis's `rdbLoadObject`: entry counts only, "as the max element size is an O(N)
/// scan"). A zipmap hash is checked in full.
pub fn is_packed_type(kind: u8) -> bool {
    matches!(
        kind,
        t::HASH_ZIPLIST | t::HASH_LISTPACK | t::ZSET_ZIPLIST | t::ZSET_LISTPACK
    )
}

/// Reads items from an RDB stream.
pub struct RdbReader<R> {
    input: R,
    offset: u64,
    digest: crc::Digest<'static, u64>,
    pub version: u32,
    /// Packed blobs of the kinds Redis 7.0 counts when it sanitizes a payload in depth
    /// (intsets, hash and sorted-set listpacks, quicklist listpack nodes): INFO's
    /// `dump_payload_sanitizations` adds them when `sanitize-dump-payload` asks for it.
    /// Basalt checks every blob in full whatever the setting: it decodes them all.
    pub deep_checked: u64,
}

/// A decoder of a packed blob (ziplist, listpack).
type Decoder = fn(&[u8]) -> Result<Vec<Elem<'_>>, String>;

/// Field/value pairs of a hash.
type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// Most an LZF-compressed string can grow when decompressed.
const LZF_MAX_EXPANSION: usize = 88;

/// Most bytes one read allocates ahead of the data actually arriving.
const CHUNK: usize = 1 << 20;

impl<R: Read> RdbReader<R> {
    /// Check the header (`REDIS` and a version this reader knows).
    pub fn new(input: R) -> Result<Self, RdbError> {
        let mut r = RdbReader {
            input,
            offset: 0,
            digest: CRC64.digest(),
            version: 0,
            deep_checked: 0,
        };
        let magic = r.bytes(9)?;
        let version = std::str::from_utf8(&magic[5..])
            .ok()
            .and_then(|v| v.parse::<u32>().ok());
        match (&magic[..5], version) {
            (b"REDIS", Some(v)) if (1..=MAX_READ_VERSION).contains(&v) => r.version = v,
            (b"REDIS", _) => {
                return Err(r.format(format!(
                    "can't handle RDB format version {}",
                    String::from_utf8_lossy(&magic[5..])
                )))
            }
            _ => return Err(r.format("wrong signature trying to load DB from file".into())),
        }
        Ok(r)
    }

    /// A reader of a bare value (a DUMP payload's body): no header, the given format version.
    pub(crate) fn bare(input: R, version: u32) -> Self {
        RdbReader {
            input,
            offset: 0,
            digest: CRC64.digest(),
            version,
            deep_checked: 0,
        }
    }

    /// A type byte and the value after it (a DUMP payload), and whether it came packed (see
    /// [`is_packed_type`]). Opcodes are not values.
    pub(crate) fn typed_value(&mut self) -> Result<(RdbValue, bool), RdbError> {
        let kind = self.byte()?;
        if kind >= op::FUNCTION2 {
            return Err(self.format(format!("{kind} is not a value type")));
        }
        Ok((self.value(kind, b"")?, is_packed_type(kind)))
    }

    /// Bytes read so far.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    pub(super) fn format(&self, what: String) -> RdbError {
        RdbError::Format {
            offset: self.offset,
            what,
        }
    }

    fn bytes(&mut self, n: usize) -> Result<Vec<u8>, RdbError> {
        if n <= CHUNK {
            return self.small_bytes(n);
        }
        let mut out = Vec::with_capacity(CHUNK);
        let got = (&mut self.input)
            .take(n as u64)
            .read_to_end(&mut out)
            .map_err(RdbError::Io)?;
        self.digest.update(&out);
        self.offset += got as u64;
        if got < n {
            return Err(RdbError::Truncated {
                offset: self.offset,
            });
        }
        Ok(out)
    }

    /// [`RdbReader::bytes`] for a length small enough to allocate up front: one buffer, read
    /// into directly (no probing reads; the common case of keys and small values).
    fn small_bytes(&mut self, n: usize) -> Result<Vec<u8>, RdbError> {
        let mut out = vec![0u8; n];
        let mut got = 0;
        while got < n {
            match self.input.read(&mut out[got..]) {
                Ok(0) => break,
                Ok(k) => got += k,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(RdbError::Io(e)),
            }
        }
        self.digest.update(&out[..got]);
        self.offset += got as u64;
        if got < n {
            return Err(RdbError::Truncated {
                offset: self.offset,
            });
        }
        Ok(out)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, RdbError> {
        Ok(self.bytes(1)?[0])
    }

    pub(super) fn fixed<const N: usize>(&mut self) -> Result<[u8; N], RdbError> {
        let v = self.bytes(N)?;
        let mut a = [0u8; N];
        a.copy_from_slice(&v);
        Ok(a)
    }

    /// A length, or (`true`, n) for an encoded string's special form `n`.
    fn len_or_enc(&mut self) -> Result<(bool, u64), RdbError> {
        let b = self.byte()?;
        Ok(match b >> 6 {
            0 => (false, u64::from(b & 0x3F)),
            1 => (false, (u64::from(b & 0x3F) << 8) | u64::from(self.byte()?)),
            3 => (true, u64::from(b & 0x3F)),
            _ => match b {
                0x80 => (false, u64::from(u32::from_be_bytes(self.fixed()?))),
                0x81 => (false, u64::from_be_bytes(self.fixed()?)),
                _ => return Err(self.format(format!("unknown length encoding {b:#x}"))),
            },
        })
    }

    pub(crate) fn len(&mut self) -> Result<u64, RdbError> {
        match self.len_or_enc()? {
            (false, n) => Ok(n),
            (true, _) => Err(self.format("an encoded value where a length belongs".into())),
        }
    }

    fn usize_len(&mut self) -> Result<usize, RdbError> {
        let n = self.len()?;
        usize::try_from(n).map_err(|_| self.format(format!("length {n} too large")))
    }

    /// A string in any of its encodings (raw, int8/16/32, LZF).
    pub(crate) fn string(&mut self) -> Result<Vec<u8>, RdbError> {
        let (encoded, n) = self.len_or_enc()?;
        if !encoded {
            let n = usize::try_from(n).map_err(|_| self.format("string too long".into()))?;
            return self.bytes(n);
        }
        let int = match n {
            0 => i64::from(self.byte()? as i8),
            1 => i64::from(i16::from_le_bytes(self.fixed()?)),
            2 => i64::from(i32::from_le_bytes(self.fixed()?)),
            3 => {
                let clen = self.usize_len()?;
                let ulen = self.usize_len()?;
                let compressed = self.bytes(clen)?;
                // LZF expands at most 88× (a 3-byte back reference yields 264 bytes): a
                // larger claimed length is corrupt, and must not size an allocation.
                if ulen > compressed.len().saturating_mul(LZF_MAX_EXPANSION) {
                    return Err(self.format(format!(
                        "LZF string claims {ulen} bytes from {clen} compressed"
                    )));
                }
                return lzf::decompress(&compressed, ulen)
                    .ok()
                    .filter(|d| d.len() == ulen)
                    .ok_or_else(|| self.format("invalid LZF compressed string".into()));
            }
            _ => return Err(self.format(format!("unknown string encoding {n}"))),
        };
        Ok(itoa::Buffer::new().format(int).as_bytes().to_vec())
    }

    /// A double of the old sorted-set type: length-prefixed text, or 253/254/255.
    fn text_double(&mut self) -> Result<f64, RdbError> {
        let n = self.byte()?;
        Ok(match n {
            253 => f64::NAN,
            254 => f64::INFINITY,
            255 => f64::NEG_INFINITY,
            n => {
                let text = self.bytes(usize::from(n))?;
                std::str::from_utf8(&text)
                    .ok()
                    .and_then(|s| s.parse::<f64>().ok())
                    .ok_or_else(|| self.format("bad double value".into()))?
            }
        })
    }

    fn score(&mut self, e: &Elem<'_>) -> Result<f64, RdbError> {
        match e {
            Elem::Int(i) => Ok(*i as f64),
            Elem::Bytes(b) => store::num::parse_double(b)
                .ok_or_else(|| self.format("bad score in a packed sorted set".into())),
        }
    }

    fn packed(&mut self, decode: Decoder) -> Result<Vec<Vec<u8>>, RdbError> {
        let blob = self.string()?;
        let elems = decode(&blob).map_err(|e| self.format(e))?;
        Ok(elems.iter().map(Elem::to_vec).collect())
    }

    fn pairs(&mut self, decode: Decoder) -> Result<Pairs, RdbError> {
        let flat = self.packed(decode)?;
        if flat.len() % 2 != 0 {
            return Err(self.format("a packed hash with an odd number of entries".into()));
        }
        let mut it = flat.into_iter();
        let mut out = Vec::new();
        while let (Some(f), Some(v)) = (it.next(), it.next()) {
            out.push((f, v));
        }
        Ok(out)
    }

    fn packed_zset(&mut self, decode: Decoder) -> Result<Vec<(f64, Vec<u8>)>, RdbError> {
        let blob = self.string()?;
        let elems = decode(&blob).map_err(|e| self.format(e))?;
        if elems.len() % 2 != 0 {
            return Err(self.format("a packed sorted set with an odd number of entries".into()));
        }
        let mut out = Vec::with_capacity(elems.len() / 2);
        for pair in elems.chunks(2) {
            out.push((self.score(&pair[1])?, pair[0].to_vec()));
        }
        Ok(out)
    }

    /// A value of type `kind` (the key is read already, for error messages).
    fn value(&mut self, kind: u8, key: &[u8]) -> Result<RdbValue, RdbError> {
        let unsupported = |this: &Self, what: &'static str| RdbError::Unsupported {
            offset: this.offset,
            key: String::from_utf8_lossy(key).into_owned(),
            what,
        };
        Ok(match kind {
            t::STRING => RdbValue::Str(self.string()?),
            t::LIST | t::SET => {
                let n = self.len()?;
                let mut items = Vec::with_capacity((n as usize).min(1024));
                for _ in 0..n {
                    items.push(self.string()?);
                }
                if kind == t::LIST {
                    RdbValue::List(items)
                } else {
                    RdbValue::Set(items)
                }
            }
            t::ZSET | t::ZSET_2 => {
                let n = self.len()?;
                let mut items = Vec::with_capacity((n as usize).min(1024));
                for _ in 0..n {
                    let member = self.string()?;
                    let score = if kind == t::ZSET_2 {
                        f64::from_le_bytes(self.fixed()?)
                    } else {
                        self.text_double()?
                    };
                    if score.is_nan() {
                        return Err(self.format("a sorted set score is NaN".into()));
                    }
                    items.push((score, member));
                }
                RdbValue::ZSet(items)
            }
            t::HASH => {
                let n = self.len()?;
                let mut items = Vec::with_capacity((n as usize).min(1024));
                for _ in 0..n {
                    let f = self.string()?;
                    let v = self.string()?;
                    items.push((f, v));
                }
                RdbValue::Hash(items)
            }
            t::HASH_ZIPMAP => {
                let blob = self.string()?;
                RdbValue::Hash(packed::zipmap(&blob).map_err(|e| self.format(e))?)
            }
            t::LIST_ZIPLIST => RdbValue::List(self.packed(packed::ziplist)?),
            t::SET_INTSET => {
                self.deep_checked += 1;
                let blob = self.string()?;
                let ints = packed::intset(&blob).map_err(|e| self.format(e))?;
                RdbValue::Set(
                    ints.iter()
                        .map(|i| itoa::Buffer::new().format(*i).as_bytes().to_vec())
                        .collect(),
                )
            }
            t::SET_LISTPACK => RdbValue::Set(self.packed(packed::listpack)?),
            t::ZSET_ZIPLIST => RdbValue::ZSet(self.packed_zset(packed::ziplist)?),
            t::ZSET_LISTPACK => {
                self.deep_checked += 1;
                RdbValue::ZSet(self.packed_zset(packed::listpack)?)
            }
            t::HASH_ZIPLIST => RdbValue::Hash(self.pairs(packed::ziplist)?),
            t::HASH_LISTPACK => {
                self.deep_checked += 1;
                RdbValue::Hash(self.pairs(packed::listpack)?)
            }
            t::LIST_QUICKLIST | t::LIST_QUICKLIST_2 => {
                let nodes = self.len()?;
                let mut items = Vec::new();
                for _ in 0..nodes {
                    if kind == t::LIST_QUICKLIST {
                        items.extend(self.packed(packed::ziplist)?);
                        continue;
                    }
                    match self.len()? {
                        // A plain node: one big element.
                        1 => items.push(self.string()?),
                        2 => {
                            self.deep_checked += 1;
                            items.extend(self.packed(packed::listpack)?)
                        }
                        c => {
                            return Err(self.format(format!("unknown quicklist node container {c}")))
                        }
                    }
                }
                RdbValue::List(items)
            }
            t::STREAM_LISTPACKS | t::STREAM_LISTPACKS_2 | t::STREAM_LISTPACKS_3 => {
                RdbValue::Stream(Box::new(self.stream(kind)?))
            }
            t::MODULE | t::MODULE_2 => return Err(unsupported(self, "module")),
            other => return Err(self.format(format!("unknown RDB value type {other}"))),
        })
    }

    /// The next item.
    pub fn next_item(&mut self) -> Result<Item, RdbError> {
        let (mut expire_ms, mut idle_secs, mut freq) = (None, None, None);
        loop {
            let kind = self.byte()?;
            match kind {
                op::EXPIRETIME_MS => expire_ms = Some(i64::from_le_bytes(self.fixed()?)),
                op::EXPIRETIME => {
                    expire_ms = Some(i64::from(i32::from_le_bytes(self.fixed()?)) * 1000)
                }
                op::IDLE => idle_secs = Some(self.len()?),
                op::FREQ => freq = Some(self.byte()?),
                op::SELECTDB => return Ok(Item::SelectDb(self.len()?)),
                op::RESIZEDB => {
                    let keys = self.len()?;
                    let expires = self.len()?;
                    return Ok(Item::ResizeDb { keys, expires });
                }
                op::AUX => {
                    let k = self.string()?;
                    let v = self.string()?;
                    return Ok(Item::Aux(k, v));
                }
                op::FUNCTION2 | op::FUNCTION => {
                    let code = self
                        .function_body(kind == op::FUNCTION)
                        .map_err(|e| self.format(e))?;
                    return Ok(Item::Function(code));
                }
                op::MODULE_AUX => {
                    return Err(self.format("module aux data is not supported".into()))
                }
                op::EOF => return self.end(),
                _ => {
                    let key = self.string()?;
                    let value = self.value(kind, &key)?;
                    return Ok(Item::Key(KeyEntry {
                        key,
                        value,
                        expire_ms,
                        idle_secs,
                        freq,
                        packed: is_packed_type(kind),
                    }));
                }
            }
        }
    }

    /// EOF: the 8-byte checksum (version 5 on) must match; 0 means the writer had
    /// `rdbchecksum no`.
    fn end(&mut self) -> Result<Item, RdbError> {
        if self.version < 5 {
            return Ok(Item::End);
        }
        let got = self.digest.clone().finalize();
        let mut want = [0u8; 8];
        let n = self.input.read(&mut want).map_err(RdbError::Io)?;
        let mut filled = n;
        while filled < 8 {
            let m = self.input.read(&mut want[filled..]).map_err(RdbError::Io)?;
            if m == 0 {
                return Err(RdbError::Truncated {
                    offset: self.offset + filled as u64,
                });
            }
            filled += m;
        }
        self.offset += 8;
        let want = u64::from_le_bytes(want);
        if want != 0 && want != got {
            return Err(RdbError::Checksum { want, got });
        }
        Ok(Item::End)
    }
}
