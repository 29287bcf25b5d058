//! The geohash cell arithmetic of Redis 7.0's `geohash.c`: encoding a position into
//! interleaved bits, decoding the bits back into a cell, and stepping to adjacent cells.
//!
//! Everything here works on raw `u64` bit patterns with wrapping arithmetic, because Redis
//! relies on C's unsigned overflow in a few corner cases (longitude 180 sets a bit above the
//! 52-bit range; a score cast from a negative double yields all-ones halves) and the results
//! users observe depend on it.

/// Largest precision Redis stores: 26 bits per coordinate, 52 bits in a sorted-set score.
pub const STEP_MAX: u8 = 26;

/// Longitude bounds accepted by GEOADD and the searches.
pub const LON_MIN: f64 = -180.0;
/// See [`LON_MIN`].
pub const LON_MAX: f64 = 180.0;
/// Latitude bounds of the Web Mercator projection (EPSG:3857); Redis cannot index the poles.
pub const LAT_MIN: f64 = -85.05112878;
/// See [`LAT_MIN`].
pub const LAT_MAX: f64 = 85.05112878;

/// A geohash: `step` bits per coordinate, interleaved into `bits` (latitude in the even
/// positions, longitude in the odd ones). A zero step together with zero bits marks an area
/// that a search dropped, like Redis's `GZERO`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct GeoHashBits {
    pub bits: u64,
    pub step: u8,
}

impl GeoHashBits {
    /// The dropped-area marker (Redis's `HASHISZERO`); a real cell always has a step >= 1.
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// A closed interval of degrees.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

impl Range {
    /// Redis treats a range whose both ends are 0 as "not set" and refuses to work with it.
    fn is_zero(&self) -> bool {
        self.min == 0.0 && self.max == 0.0
    }
}

/// The cell a geohash stands for.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Area {
    pub hash: GeoHashBits,
    pub lon: Range,
    pub lat: Range,
}

impl Area {
    /// The cell's centre, clamped to the indexable bounds: this is what GEOPOS reports, and
    /// the clamp matters for cells whose decoded edge lies beyond 180 or 85.05° (longitude
    /// 180 itself, and scores that are not proper 52-bit hashes).
    pub fn centre(&self) -> (f64, f64) {
        // `clamp` leaves NaN alone like Redis's two comparisons (no NaN can arise here).
        let lon = ((self.lon.min + self.lon.max) / 2.0).clamp(LON_MIN, LON_MAX);
        let lat = ((self.lat.min + self.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
        (lon, lat)
    }
}

/// The ranges Redis indexes with: the full longitude circle, the Mercator latitude band.
pub const WGS84_LON: Range = Range {
    min: LON_MIN,
    max: LON_MAX,
};
/// See [`WGS84_LON`].
pub const WGS84_LAT: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// Spread the low 32 bits of `lat` over the even bit positions and those of `lon` over the
/// odd ones (the classic mask-and-shift bit twiddle).
pub fn interleave(lat: u32, lon: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = u64::from(v);
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(lat) | (spread(lon) << 1)
}

/// Inverse of [`interleave`]: the even bits gathered into the low half of the result
/// (latitude), the odd bits into the high half (longitude).
pub fn deinterleave(bits: u64) -> u64 {
    fn gather(v: u64) -> u64 {
        let mut v = v & 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    gather(bits) | (gather(bits >> 1) << 32)
}

/// A fixed-point cell index as C's `(uint32_t)double` computes it on x86-64 (a 64-bit
/// truncating conversion, then the low half). Only called with finite values in
/// `[0, 2^32]`, where `2^32` wraps to 0 like in Redis.
fn c_double_to_u32(x: f64) -> u32 {
    x as i64 as u32
}

/// `2^step` as a double, the divisor/multiplier of the fixed-point conversions.
fn cells(step: u8) -> f64 {
    (1u64 << step) as f64
}

/// Encode a position at `step` bits per coordinate within the given ranges (`geohashEncode`).
///
/// `None` where Redis fails: a step outside 1..=32, an unset range, a position outside the
/// indexable bounds or outside the given ranges. NaN is refused too (Redis's parser never
/// lets one through, and in C it would be undefined behaviour).
pub fn encode(
    lon_range: Range,
    lat_range: Range,
    lon: f64,
    lat: f64,
    step: u8,
) -> Option<GeoHashBits> {
    if step > 32 || step == 0 || lat_range.is_zero() || lon_range.is_zero() {
        return None;
    }
    // Range tests refuse NaN, which Redis's comparisons would let through.
    if !(LON_MIN..=LON_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if !(lat_range.min..=lat_range.max).contains(&lat)
        || !(lon_range.min..=lon_range.max).contains(&lon)
    {
        return None;
    }
    let mut lat_offset = (lat - lat_range.min) / (lat_range.max - lat_range.min);
    let mut lon_offset = (lon - lon_range.min) / (lon_range.max - lon_range.min);
    lat_offset *= cells(step);
    lon_offset *= cells(step);
    Some(GeoHashBits {
        bits: interleave(c_double_to_u32(lat_offset), c_double_to_u32(lon_offset)),
        step,
    })
}

/// [`encode`] over the ranges Redis indexes with (`geohashEncodeWGS84`).
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<GeoHashBits> {
    encode(WGS84_LON, WGS84_LAT, lon, lat, step)
}

/// The cell a geohash stands for (`geohashDecode`). `None` for the dropped-area marker, an
/// unset range, or a step above 32 (which Redis never produces).
///
/// Bits above `2 * step` are not ignored: they make the cell index exceed the grid, and the
/// `+ 1` for the upper edge wraps in 32 bits, exactly as in Redis; [`Area::centre`] clamps.
pub fn decode(lon_range: Range, lat_range: Range, hash: GeoHashBits) -> Option<Area> {
    if hash.is_zero() || lat_range.is_zero() || lon_range.is_zero() || hash.step > 32 {
        return None;
    }
    let separated = deinterleave(hash.bits);
    let lat_scale = lat_range.max - lat_range.min;
    let lon_scale = lon_range.max - lon_range.min;
    let ilat = separated as u32;
    let ilon = (separated >> 32) as u32;
    let div = cells(hash.step);
    let edge = |i: u32, range: Range, scale: f64| range.min + (f64::from(i) * 1.0 / div) * scale;
    Some(Area {
        hash,
        lat: Range {
            min: edge(ilat, lat_range, lat_scale),
            max: edge(ilat.wrapping_add(1), lat_range, lat_scale),
        },
        lon: Range {
            min: edge(ilon, lon_range, lon_scale),
            max: edge(ilon.wrapping_add(1), lon_range, lon_scale),
        },
    })
}

/// [`decode`] over the ranges Redis indexes with.
pub fn decode_wgs84(hash: GeoHashBits) -> Option<Area> {
    decode(WGS84_LON, WGS84_LAT, hash)
}

/// The eight cells around one, in Redis's field naming.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Neighbors {
    pub north: GeoHashBits,
    pub east: GeoHashBits,
    pub west: GeoHashBits,
    pub south: GeoHashBits,
    pub north_east: GeoHashBits,
    pub south_east: GeoHashBits,
    pub north_west: GeoHashBits,
    pub south_west: GeoHashBits,
}

const ODD: u64 = 0xAAAA_AAAA_AAAA_AAAA;
const EVEN: u64 = 0x5555_5555_5555_5555;

/// Add or subtract one in the coordinate held by the `moving` bit positions, carrying
/// through the other coordinate's positions by filling them with ones first (for a
/// decrement) or relying on them being zero (for an increment), then mask the result to the
/// hash's width. Wrapping at the edges is what makes the antimeridian seamless (and the
/// poles wrap too, which Redis accepts). `filler` is the other coordinate's mask.
fn shift(hash: &mut GeoHashBits, d: i8, moving: u64, filler: u64) {
    if d == 0 {
        return;
    }
    // A step above 32 cannot occur (encode refuses it); the wrap keeps it panic-free.
    let width = 64u32.wrapping_sub(u32::from(hash.step) * 2);
    let mut m = hash.bits & moving;
    let keep = hash.bits & filler;
    let zz = filler.checked_shr(width).unwrap_or(0);
    if d > 0 {
        m = m.wrapping_add(zz.wrapping_add(1));
    } else {
        m |= zz;
        m = m.wrapping_sub(zz.wrapping_add(1));
    }
    m &= moving.checked_shr(width).unwrap_or(0);
    hash.bits = m | keep;
}

/// Move east (`d > 0`) or west (`d < 0`): longitude sits in the odd bits.
fn move_x(hash: &mut GeoHashBits, d: i8) {
    shift(hash, d, ODD, EVEN);
}

/// Move north (`d > 0`) or south (`d < 0`): latitude sits in the even bits.
fn move_y(hash: &mut GeoHashBits, d: i8) {
    shift(hash, d, EVEN, ODD);
}

/// The eight adjacent cells at the same step (`geohashNeighbors`). A moved coordinate is
/// masked to the step's width, an unmoved one is kept as is: a bit beyond the step (a centre
/// at longitude 180) survives in the north and south neighbours only, as in Redis.
pub fn neighbors(hash: &GeoHashBits) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut h = *hash;
        move_x(&mut h, dx);
        move_y(&mut h, dy);
        h
    };
    Neighbors {
        north: at(0, 1),
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north_east: at(1, 1),
        south_east: at(1, -1),
        north_west: at(-1, 1),
        south_west: at(-1, -1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_round_trips() {
        for &(a, b) in &[
            (0u32, 0u32),
            (1, 0),
            (0, 1),
            (u32::MAX, 0),
            (0x1234_5678, 0x9abc_def0),
        ] {
            let i = interleave(a, b);
            assert_eq!(deinterleave(i), u64::from(a) | (u64::from(b) << 32));
        }
        assert_eq!(interleave(1, 0), 1);
        assert_eq!(interleave(0, 1), 2);
    }

    #[test]
    fn neighbours_wrap_around_the_grid() {
        // Step 1: a 2x2 grid; every move wraps onto the other column or row.
        let sw = GeoHashBits { bits: 0, step: 1 };
        let n = neighbors(&sw);
        assert_eq!(n.east.bits, 0b10);
        assert_eq!(n.west.bits, 0b10);
        assert_eq!(n.north.bits, 0b01);
        assert_eq!(n.south.bits, 0b01);
        assert_eq!(n.north_east.bits, 0b11);
        // A longitude bit beyond the step survives a move along the meridian only.
        let wide = GeoHashBits {
            bits: 0b1000 | 0b10,
            step: 1,
        };
        assert_eq!(neighbors(&wide).north.bits, 0b1011);
        assert_eq!(neighbors(&wide).east.bits, 0b00);
        assert_eq!(neighbors(&wide).north_east.bits, 0b01);
    }

    #[test]
    fn encode_refuses_what_redis_refuses() {
        assert!(encode_wgs84(0.0, 0.0, 0).is_none());
        assert!(encode_wgs84(0.0, 0.0, 33).is_none());
        assert!(encode_wgs84(180.1, 0.0, 26).is_none());
        assert!(encode_wgs84(0.0, 85.06, 26).is_none());
        assert!(encode_wgs84(f64::NAN, 0.0, 26).is_none());
        assert!(encode_wgs84(0.0, f64::NEG_INFINITY, 26).is_none());
        let unset = Range::default();
        assert!(encode(unset, WGS84_LAT, 0.0, 0.0, 26).is_none());
        assert!(decode(WGS84_LON, WGS84_LAT, GeoHashBits::default()).is_none());
        // Step 32 at longitude 180: the fixed-point index 2^32 wraps to 0 as in C.
        let h = encode_wgs84(180.0, LAT_MIN, 32);
        assert_eq!(h.map(|h| h.bits), Some(0));
    }
}
