//! Values and their encodings.
//!
//! Strings mirror Redis's three encodings because `OBJECT ENCODING` exposes them and clients and
//! tests look at it: `int` (an i64 in place of the bytes), `embstr` (short, written once) and
//! `raw` (long, or modified in place by APPEND/SETRANGE, with room to grow).

use std::borrow::Cow;

pub use thin_vec::ThinVec;

/// Appends `bytes` to `v` with one `memcpy`. `ThinVec`'s own `extend_from_slice` and
/// `From<&[u8]>` push byte by byte (its length lives in the allocation, so the compiler
/// cannot vectorize the loop): measurable on every SET of a long value.
pub fn extend_bytes(v: &mut ThinVec<u8>, bytes: &[u8]) {
    let old = v.len();
    v.reserve(bytes.len());
    // SAFETY: `reserve` made room; the new bytes are written before the length covers them,
    // and the source cannot overlap the spare capacity of `v`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), v.as_mut_ptr().add(old), bytes.len());
        v.set_len(old + bytes.len());
    }
}

/// A `ThinVec` holding a copy of `bytes` (see [`extend_bytes`]).
pub fn thin_bytes(bytes: &[u8]) -> ThinVec<u8> {
    let mut v = ThinVec::with_capacity(bytes.len());
    extend_bytes(&mut v, bytes);
    v
}

use crate::bytes::SmallBytes;
use crate::hash::Hash;
use crate::list::QuickList;
use crate::num::parse_i64_strict;
use crate::set::Set;
use crate::stream::Stream;
use crate::zset::ZSet;

/// Strings up to this length are created `embstr` (Redis's `OBJ_ENCODING_EMBSTR_SIZE_LIMIT`).
pub const EMBSTR_MAX: usize = 44;
/// Integers `0..SHARED_INTEGERS` are shared objects in Redis (visible through OBJECT REFCOUNT).
pub const SHARED_INTEGERS: i64 = 10_000;

/// Bytes a `raw` string's buffer holds besides the string: its length and capacity, kept in
/// the same allocation as the bytes (a thin vector, one pointer in the value), so a 1,000-byte
/// value is one 1,024-byte allocation — no separate vector header, as Redis's sds has none.
const RAW_HEADER_BYTES: usize = 16;

/// A string value.
#[derive(Clone, Debug)]
pub enum Str {
    Int(i64),
    Emb(SmallBytes),
    Raw(ThinVec<u8>),
}

/// The type of a value, as `TYPE` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    String,
    List,
    Hash,
    Set,
    ZSet,
    Stream,
}

impl ValueType {
    pub fn name(self) -> &'static str {
        match self {
            ValueType::String => "string",
            ValueType::List => "list",
            ValueType::Hash => "hash",
            ValueType::Set => "set",
            ValueType::ZSet => "zset",
            ValueType::Stream => "stream",
        }
    }
}

/// A value in the keyspace. Other types join this enum with their own modules.
#[derive(Clone, Debug)]
pub enum Value {
    Str(Str),
    List(Box<QuickList>),
    Hash(Box<Hash>),
    Set(Set),
    ZSet(Box<ZSet>),
    Stream(Box<Stream>),
}

const _: () = assert!(std::mem::size_of::<Value>() == 24);

impl Value {
    pub fn as_str(&self) -> Option<&Str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list(&self) -> Option<&QuickList> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_hash(&self) -> Option<&Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_set(&self) -> Option<&Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_zset(&self) -> Option<&ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn as_stream(&self) -> Option<&Stream> {
        match self {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_stream_mut(&mut self) -> Option<&mut Stream> {
        match self {
            Value::Stream(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_str_mut(&mut self) -> Option<&mut Str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_list_mut(&mut self) -> Option<&mut QuickList> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    pub fn as_hash_mut(&mut self) -> Option<&mut Hash> {
        match self {
            Value::Hash(h) => Some(h),
            _ => None,
        }
    }

    pub fn as_set_mut(&mut self) -> Option<&mut Set> {
        match self {
            Value::Set(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_zset_mut(&mut self) -> Option<&mut ZSet> {
        match self {
            Value::ZSet(z) => Some(z),
            _ => None,
        }
    }

    pub fn value_type(&self) -> ValueType {
        match self {
            Value::Str(_) => ValueType::String,
            Value::List(_) => ValueType::List,
            Value::Hash(_) => ValueType::Hash,
            Value::Set(_) => ValueType::Set,
            Value::ZSet(_) => ValueType::ZSet,
            Value::Stream(_) => ValueType::Stream,
        }
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding_name(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding_name(),
            Value::List(_) => "quicklist",
            Value::Hash(h) => h.encoding_name(),
            Value::Set(s) => s.encoding_name(),
            Value::ZSet(z) => z.encoding_name(),
            Value::Stream(_) => "stream",
        }
    }

    /// Approximate heap bytes owned by the value (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(Str::Int(_)) => 0,
            Value::Str(Str::Emb(b)) => b.heap_bytes(),
            Value::Str(Str::Raw(v)) => v.capacity() + RAW_HEADER_BYTES,
            Value::List(l) => l.heap_bytes() + std::mem::size_of::<QuickList>(),
            Value::Hash(h) => h.heap_bytes() + std::mem::size_of::<Hash>(),
            Value::Set(s) => s.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes() + std::mem::size_of::<ZSet>(),
            Value::Stream(s) => s.heap_bytes() + std::mem::size_of::<Stream>(),
        }
    }
}

impl Str {
    /// A string from client bytes, encoded as Redis's `tryObjectEncoding` would.
    pub fn from_bytes(b: &[u8]) -> Str {
        if b.len() <= 20 {
            if let Some(n) = parse_i64_strict(b) {
                return Str::Int(n);
            }
        }
        if b.len() <= EMBSTR_MAX {
            Str::Emb(SmallBytes::new(b))
        } else {
            Str::Raw(thin_bytes(b))
        }
    }

    /// A string that is not turned into an integer (how Redis stores INCRBYFLOAT's result).
    pub fn from_bytes_no_int(b: &[u8]) -> Str {
        if b.len() <= EMBSTR_MAX {
            Str::Emb(SmallBytes::new(b))
        } else {
            Str::Raw(thin_bytes(b))
        }
    }

    pub fn encoding_name(&self) -> &'static str {
        match self {
            Str::Int(_) => "int",
            Str::Emb(_) => "embstr",
            Str::Raw(_) => "raw",
        }
    }

    pub fn as_bytes(&self) -> Cow<'_, [u8]> {
        match self {
            Str::Int(n) => Cow::Owned(itoa::Buffer::new().format(*n).as_bytes().to_vec()),
            Str::Emb(b) => Cow::Borrowed(b.as_bytes()),
            Str::Raw(v) => Cow::Borrowed(v.as_slice()),
        }
    }

    /// Calls `f` with the bytes, without allocating for integers.
    pub fn with_bytes<R>(&self, f: impl FnOnce(&[u8]) -> R) -> R {
        match self {
            Str::Int(n) => f(itoa::Buffer::new().format(*n).as_bytes()),
            Str::Emb(b) => f(b.as_bytes()),
            Str::Raw(v) => f(v.as_slice()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            Str::Int(n) => itoa::Buffer::new().format(*n).len(),
            Str::Emb(b) => b.len(),
            Str::Raw(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The integer value, if the string is one (`string2ll` rules).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Str::Int(n) => Some(*n),
            other => other.with_bytes(parse_i64_strict),
        }
    }

    /// A `raw` buffer to modify in place (APPEND, SETRANGE), converting if needed, as Redis's
    /// `dbUnshareStringValue` does.
    pub fn make_raw(&mut self) -> &mut ThinVec<u8> {
        if !matches!(self, Str::Raw(_)) {
            let bytes = self.as_bytes().into_owned();
            *self = Str::Raw(thin_bytes(&bytes));
        }
        match self {
            Str::Raw(v) => v,
            _ => unreachable!("converted to raw just above"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_follow_redis() {
        assert_eq!(Str::from_bytes(b"123").encoding_name(), "int");
        assert_eq!(Str::from_bytes(b"0123").encoding_name(), "embstr");
        assert_eq!(Str::from_bytes(&[b'a'; 44]).encoding_name(), "embstr");
        assert_eq!(Str::from_bytes(&[b'a'; 45]).encoding_name(), "raw");
        assert_eq!(
            Str::from_bytes(b"-9223372036854775808").as_i64(),
            Some(i64::MIN)
        );
        let mut s = Str::from_bytes(b"12");
        s.make_raw().extend_from_slice(b"3");
        assert_eq!(s.encoding_name(), "raw");
        assert_eq!(&*s.as_bytes(), b"123");
    }
}
