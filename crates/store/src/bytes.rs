//! `SmallBytes`: an immutable byte string of 24 bytes that keeps up to 22 bytes inline.
//!
//! Most keys (and many values) are short; storing them inside the dict node instead of in a
//! separate allocation saves a 16-byte allocation and a cache miss per lookup. This is what keeps
//! a small key below Redis's per-key memory.

use std::borrow::Borrow;
use std::fmt;
use std::hash::{Hash, Hasher};
use std::ops::Deref;

/// Longest byte string kept inline.
pub const INLINE_MAX: usize = 22;

#[derive(Clone)]
enum Repr {
    Inline { len: u8, data: [u8; INLINE_MAX] },
    Heap(Box<[u8]>),
}

/// An immutable byte string; 24 bytes, inline up to [`INLINE_MAX`] bytes.
#[derive(Clone)]
pub struct SmallBytes(Repr);

const _: () = assert!(std::mem::size_of::<SmallBytes>() == 24);

impl SmallBytes {
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_MAX {
            let mut data = [0u8; INLINE_MAX];
            data[..bytes.len()].copy_from_slice(bytes);
            SmallBytes(Repr::Inline {
                len: bytes.len() as u8,
                data,
            })
        } else {
            SmallBytes(Repr::Heap(bytes.into()))
        }
    }

    pub fn as_bytes(&self) -> &[u8] {
        match &self.0 {
            Repr::Inline { len, data } => &data[..usize::from(*len)],
            Repr::Heap(b) => b,
        }
    }

    /// Bytes allocated outside the struct itself (for memory accounting).
    pub fn heap_bytes(&self) -> usize {
        match &self.0 {
            Repr::Inline { .. } => 0,
            Repr::Heap(b) => b.len(),
        }
    }
}

impl Deref for SmallBytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Borrow<[u8]> for SmallBytes {
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for SmallBytes {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for SmallBytes {}

impl Hash for SmallBytes {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state)
    }
}

impl From<&[u8]> for SmallBytes {
    fn from(b: &[u8]) -> Self {
        SmallBytes::new(b)
    }
}

impl fmt::Debug for SmallBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(self.as_bytes()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_and_heap() {
        for len in [0, 1, 22, 23, 100] {
            let v: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let s = SmallBytes::new(&v);
            assert_eq!(s.as_bytes(), &v[..]);
            assert_eq!(s.heap_bytes() > 0, len > INLINE_MAX);
        }
    }
}
