//! The hash value: a packed field/value list while small (Redis's `listpack` encoding), a dict
//! once it has more than `hash-max-listpack-entries` fields or a field or value longer than
//! `hash-max-listpack-value` bytes (Redis's `hashtable`). Like Redis, a hash never converts
//! back to the packed form.

use crate::bytes::SmallBytes;
use crate::dict::Dict;
use crate::varint;

/// Thresholds from `hash-max-listpack-entries` / `hash-max-listpack-value`.
#[derive(Debug, Clone, Copy)]
pub struct HashLimits {
    pub max_entries: usize,
    pub max_value_bytes: usize,
}

impl Default for HashLimits {
    fn default() -> Self {
        HashLimits {
            max_entries: 512,
            max_value_bytes: 64,
        }
    }
}

/// Field/value pairs packed back to back (`varint len + bytes` each), insertion ordered.
#[derive(Clone, Debug, Default)]
pub struct Packed {
    buf: Vec<u8>,
    pairs: u32,
}

/// Append a length-prefixed byte string.
fn put(out: &mut Vec<u8>, b: &[u8]) {
    varint::put(out, b.len());
    out.extend_from_slice(b);
}

/// (data start, data end) of the length-prefixed string at `at`.
fn read(buf: &[u8], at: usize) -> (usize, usize) {
    let (n, start) = varint::get(buf, at);
    (start, start + n)
}

impl Packed {
    /// Iterate `(field, value, pair start offset, pair end offset)`.
    fn entries(&self) -> impl Iterator<Item = (&[u8], &[u8], usize, usize)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            if at >= self.buf.len() {
                return None;
            }
            let start = at;
            let (fs, fe) = read(&self.buf, at);
            let (vs, ve) = read(&self.buf, fe);
            at = ve;
            Some((&self.buf[fs..fe], &self.buf[vs..ve], start, ve))
        })
    }

    fn find(&self, field: &[u8]) -> Option<(&[u8], usize, usize)> {
        self.entries()
            .find(|(f, ..)| *f == field)
            .map(|(_, v, s, e)| (v, s, e))
    }

    /// Set; returns true if the field is new.
    fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let mut pair = Vec::with_capacity(field.len() + value.len() + 4);
        put(&mut pair, field);
        put(&mut pair, value);
        match self.find(field).map(|(_, s, e)| (s, e)) {
            Some((s, e)) => {
                self.buf.splice(s..e, pair);
                self.buf.shrink_to_fit();
                false
            }
            None => {
                self.buf.reserve_exact(pair.len());
                self.buf.extend_from_slice(&pair);
                self.pairs += 1;
                true
            }
        }
    }

    fn remove(&mut self, field: &[u8]) -> bool {
        match self.find(field).map(|(_, s, e)| (s, e)) {
            Some((s, e)) => {
                self.buf.drain(s..e);
                self.buf.shrink_to_fit();
                self.pairs -= 1;
                true
            }
            None => false,
        }
    }
}

/// A hash value.
#[derive(Clone, Debug)]
pub enum Hash {
    Packed(Packed),
    Table(Box<Dict<SmallBytes>>),
}

impl Default for Hash {
    fn default() -> Self {
        Hash::Packed(Packed::default())
    }
}

impl Clone for Box<Dict<SmallBytes>> {
    fn clone(&self) -> Self {
        let mut d = Dict::new();
        for (k, v) in self.iter() {
            d.insert_new(k.clone(), v.clone());
        }
        Box::new(d)
    }
}

impl std::fmt::Debug for Dict<SmallBytes> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Hash {
    pub fn len(&self) -> usize {
        match self {
            Hash::Packed(p) => p.pairs as usize,
            Hash::Table(d) => d.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// `OBJECT ENCODING`'s name.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Hash::Packed(_) => "listpack",
            Hash::Table(_) => "hashtable",
        }
    }

    pub fn heap_bytes(&self) -> usize {
        match self {
            Hash::Packed(p) => p.buf.capacity(),
            Hash::Table(d) => d.len() * 72 + d.buckets() * 8,
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match self {
            Hash::Packed(p) => p.find(field).map(|(v, ..)| v),
            Hash::Table(d) => d.get(field).map(|v| v.as_bytes()),
        }
    }

    /// Set a field; returns true if it is new. Converts to a table when a limit is crossed.
    pub fn set(&mut self, field: &[u8], value: &[u8], limits: HashLimits) -> bool {
        if let Hash::Packed(p) = self {
            let too_long =
                field.len() > limits.max_value_bytes || value.len() > limits.max_value_bytes;
            if !too_long {
                let new = p.set(field, value);
                if p.pairs as usize > limits.max_entries {
                    self.convert();
                }
                return new;
            }
            self.convert();
        }
        match self {
            Hash::Table(d) => d.insert(field, SmallBytes::new(value)).is_none(),
            Hash::Packed(_) => unreachable!("converted to a table above"),
        }
    }

    pub fn remove(&mut self, field: &[u8]) -> bool {
        match self {
            Hash::Packed(p) => p.remove(field),
            Hash::Table(d) => d.remove(field).is_some(),
        }
    }

    /// Every (field, value), in insertion order while packed.
    pub fn iter(&self) -> Box<dyn Iterator<Item = (&[u8], &[u8])> + '_> {
        match self {
            Hash::Packed(p) => Box::new(p.entries().map(|(f, v, ..)| (f, v))),
            Hash::Table(d) => Box::new(d.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes()))),
        }
    }

    /// The table form, for SCAN cursors and random picks; `None` while packed.
    pub fn table(&self) -> Option<&Dict<SmallBytes>> {
        match self {
            Hash::Table(d) => Some(d),
            Hash::Packed(_) => None,
        }
    }

    fn convert(&mut self) {
        let Hash::Packed(p) = self else { return };
        let mut d = Dict::new();
        for (f, v, ..) in p.entries() {
            d.insert_new(SmallBytes::new(f), SmallBytes::new(v));
        }
        *self = Hash::Table(Box::new(d));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packed_until_limits_then_table() {
        let limits = HashLimits {
            max_entries: 4,
            max_value_bytes: 8,
        };
        let mut h = Hash::default();
        for i in 0..4 {
            assert!(h.set(format!("f{i}").as_bytes(), b"v", limits));
        }
        assert!(!h.set(b"f0", b"w", limits));
        assert_eq!(h.encoding_name(), "listpack");
        assert_eq!(h.get(b"f0"), Some(&b"w"[..]));
        let order: Vec<&[u8]> = h.iter().map(|(f, _)| f).collect();
        assert_eq!(order, vec![&b"f0"[..], b"f1", b"f2", b"f3"]);
        assert!(h.set(b"f4", b"v", limits));
        assert_eq!(h.encoding_name(), "hashtable");
        assert_eq!(h.len(), 5);
        assert!(h.remove(b"f0"));
        assert_eq!(h.get(b"f0"), None);

        let mut long = Hash::default();
        long.set(b"a", b"123456789", limits);
        assert_eq!(long.encoding_name(), "hashtable");
        assert_eq!(long.get(b"a"), Some(&b"123456789"[..]));
    }
}
