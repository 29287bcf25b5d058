//! Geo math for the GEO* commands, bit-identical to Redis 7.0.15 (`geohash.c`,
//! `geohash_helper.c` and the arithmetic of `geo.c`).
//!
//! A position is stored as a sorted-set score: its 26-bit-per-coordinate geohash, 52 bits
//! interleaved, as a double. Searches scan the score ranges of up to nine geohash cells and
//! filter the members by exact distance. Replies reveal the math to the last bit (GEOPOS
//! prints 17 decimals, result order follows the cell scan order), so every formula, cast and
//! comparison keeps Redis's operation order, including its C-level quirks; those are called
//! out where they occur. Pure: no I/O, no locking, no allocation beyond results.

mod geohash;
mod helper;
#[cfg(test)]
mod tests;

pub use geohash::{
    decode, decode_wgs84, deinterleave, encode, encode_wgs84, interleave, neighbors, Area,
    GeoHashBits, Neighbors, Range, LAT_MAX, LAT_MIN, LON_MAX, LON_MIN, STEP_MAX, WGS84_LAT,
    WGS84_LON,
};
pub use helper::{
    align_52bits, bounding_box, calculate_areas, distance, distance_if_in_radius,
    distance_if_in_rectangle, estimate_steps_by_radius, lat_distance, score_range, SearchAreas,
    Shape, EARTH_RADIUS_M,
};

/// The reply to a unit argument that is none of m, km, ft, mi.
pub const UNIT_ERROR: &str = "ERR unsupported unit provided. please use M, KM, FT, MI";

/// Meters per unit for a GEODIST / search unit argument, `None` for an unknown unit.
///
/// Compared case-insensitively and, like C's `strcasecmp`, only up to the first NUL byte:
/// Redis accepts `km\0junk` as kilometers.
pub fn unit_factor(unit: &[u8]) -> Option<f64> {
    let unit = match unit.iter().position(|&b| b == 0) {
        Some(nul) => &unit[..nul],
        None => unit,
    };
    [
        (&b"m"[..], 1.0),
        (b"km", 1000.0),
        (b"ft", 0.3048),
        (b"mi", 1609.34),
    ]
    .iter()
    .find(|(name, _)| unit.eq_ignore_ascii_case(name))
    .map(|&(_, factor)| factor)
}

/// Whether a parsed longitude/latitude pair may be indexed: longitude within ±180,
/// latitude within ±85.05112878 (inclusive). NaN is refused; Redis never gets that far with
/// one, because its double parser rejects NaN ("value is not a valid float") first.
pub fn lonlat_valid(lon: f64, lat: f64) -> bool {
    (LON_MIN..=LON_MAX).contains(&lon) && (LAT_MIN..=LAT_MAX).contains(&lat)
}

/// The error for a pair [`lonlat_valid`] refuses, with both numbers printed as C's `%f`
/// does (six decimals, every integer digit, `inf`, `-0.000000` keeps its sign).
pub fn lonlat_error(lon: f64, lat: f64) -> String {
    format!(
        "ERR invalid longitude,latitude pair {},{}",
        c_fixed6(lon),
        c_fixed6(lat)
    )
}

/// `Ok` for a valid pair, else the error reply text (`extractLongLatOrReply`).
pub fn check_lonlat(lon: f64, lat: f64) -> Result<(), String> {
    if lonlat_valid(lon, lat) {
        Ok(())
    } else {
        Err(lonlat_error(lon, lat))
    }
}

/// C's `%f`: Rust's fixed-precision formatting is the same exact decimal rounding; only NaN
/// is spelled differently.
fn c_fixed6(x: f64) -> String {
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    format!("{x:.6}")
}

/// The GEOADD score of a valid position: its step-26 geohash as a double
/// (`geohashAlign52Bits`, printed as an integer by Redis and parsed back by ZADD, which
/// rounds to the nearest double just like this conversion). `None` when out of range.
///
/// Longitude 180 and latitude 85.05112878 map to the cell index 2^26, one past the grid, so
/// their scores carry a bit above the 52: such members are never found by searches (every
/// scanned range ends at or below 2^52), which is Redis's behaviour too.
pub fn score_of(lon: f64, lat: f64) -> Option<f64> {
    let hash = encode_wgs84(lon, lat, STEP_MAX)?;
    Some(align_52bits(hash) as f64)
}

/// C's `(uint64_t)double` as gcc compiles it for x86-64, which is what Redis does to a score
/// before decoding it (`decodeGeohash`). Scores are arbitrary doubles (ZADD can store any),
/// and this cast is undefined in C outside `[0, 2^64)`; the emulation gives what the real
/// server does: below 2^63 a signed truncation (so -1.5 is all ones), from 2^63 a truncation
/// of `x - 2^63` with the top bit flipped, and the x86 "integer indefinite" `1 << 63` for
/// anything the hardware cannot convert (so +inf and 1e20 become 0, -inf becomes `1 << 63`).
pub fn score_bits(score: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if score >= TWO_63 {
        x86_truncate(score - TWO_63) ^ (1 << 63)
    } else {
        x86_truncate(score)
    }
}

/// `cvttsd2si` with a 64-bit destination: truncation toward zero, or `1 << 63` for NaN and
/// anything outside the `i64` range.
fn x86_truncate(x: f64) -> u64 {
    const TWO_63: f64 = 9_223_372_036_854_775_808.0;
    if x.is_nan() || !(-TWO_63..TWO_63).contains(&x) {
        1 << 63
    } else {
        x as i64 as u64
    }
}

/// The integer WITHHASH replies for a member: C's `(long long)score`.
pub fn hash_integer(score: f64) -> i64 {
    x86_truncate(score) as i64
}

/// Longitude and latitude of the cell centre a score stands for (GEOPOS, WITHCOORD, and the
/// position every distance is measured from), clamped to the indexable bounds as Redis
/// clamps. Any score decodes (Redis decodes at step 26, which can never be the "zero hash"
/// that fails), so this is always `Some`; the `Option` mirrors `decodeGeohash`'s status.
pub fn decode_score(score: f64) -> Option<(f64, f64)> {
    let hash = GeoHashBits {
        bits: score_bits(score),
        step: STEP_MAX,
    };
    decode_wgs84(hash).map(|area| area.centre())
}

/// GEOHASH's 11-character string for a score: the decoded centre re-encoded with the
/// standard latitude range ±90 (Redis indexes ±85.05), 52 bits in ten base32 digits, and a
/// final `0` since an 11th digit would need bits Redis does not have.
pub fn geohash_string(score: f64) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let (lon, lat) = decode_score(score).unwrap_or((0.0, 0.0));
    let standard_lat = Range {
        min: -90.0,
        max: 90.0,
    };
    let bits = encode(WGS84_LON, standard_lat, lon, lat, STEP_MAX)
        .map(|h| h.bits)
        .unwrap_or(0);
    let mut out = String::with_capacity(11);
    for i in 0..10 {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        out.push(char::from(ALPHABET[idx as usize]));
    }
    out.push('0');
    out
}

/// The sorted-set score ranges `(min inclusive, max exclusive)` to scan for a search around
/// a valid centre, in Redis's scan order (centre cell, N, S, E, W, NE, NW, SE, SW) minus the
/// cells Redis drops or skips as repeats; see [`SearchAreas::scan_order`]. Without ASC/DESC
/// the reply lists matches in this order, by score within a range. Empty for an invalid
/// centre. Callers honouring `COUNT n ANY` stop scanning once `n` matches are found, also
/// mid-range, as Redis does.
pub fn search_ranges(lon: f64, lat: f64, shape: &Shape) -> Vec<(f64, f64)> {
    match calculate_areas(lon, lat, shape) {
        Some(areas) => areas.scan_order().into_iter().map(score_range).collect(),
        None => Vec::new(),
    }
}

/// The distance in meters from the centre to a point when the point lies within the shape
/// (radius: distance <= radius; box: see [`distance_if_in_rectangle`]), else `None`. The
/// caller divides by [`Shape::unit`] to reply in the requested unit.
pub fn in_shape(
    shape: &Shape,
    centre_lon: f64,
    centre_lat: f64,
    point_lon: f64,
    point_lat: f64,
) -> Option<f64> {
    match *shape {
        Shape::Radius { radius, unit } => {
            distance_if_in_radius(centre_lon, centre_lat, point_lon, point_lat, radius * unit)
        }
        Shape::Box {
            width,
            height,
            unit,
        } => distance_if_in_rectangle(
            width * unit,
            height * unit,
            centre_lon,
            centre_lat,
            point_lon,
            point_lat,
        ),
    }
}

/// A member's decoded position and distance in meters when its score falls in the shape
/// (`geoWithinShape`): `(lon, lat, distance)`.
pub fn within(
    shape: &Shape,
    centre_lon: f64,
    centre_lat: f64,
    score: f64,
) -> Option<(f64, f64, f64)> {
    let (lon, lat) = decode_score(score)?;
    in_shape(shape, centre_lon, centre_lat, lon, lat).map(|d| (lon, lat, d))
}

/// A distance as GEODIST and WITHDIST print it (`fixedpoint_d2string` with 4 digits):
/// `llrint(d * 10000)` split around the decimal point. Not `%.4f`: the rounding happens on
/// the scaled double (ties to even). NaN and overflow, which real distances never reach
/// (2 million antipodal cell pairs tried), print as x86's `llrint` result `i64::MIN` would.
pub fn format_distance(d: f64) -> String {
    if d == 0.0 {
        return "0.0000".to_string();
    }
    let scaled = (d * 10000.0).round_ties_even();
    let v = x86_truncate(scaled) as i64;
    let sign = if v < 0 { "-" } else { "" };
    let mag = v.unsigned_abs();
    format!("{sign}{}.{:04}", mag / 10000, mag % 10000)
}

/// A coordinate as GEOPOS and WITHCOORD print it (`%.17Lf` with trailing zeros and a bare
/// point removed, Redis's "human" long double format; the widening to long double is exact).
pub fn format_coord(x: f64) -> String {
    if x.is_infinite() {
        return if x > 0.0 { "inf" } else { "-inf" }.to_string();
    }
    if x.is_nan() {
        return if x.is_sign_negative() { "-nan" } else { "nan" }.to_string();
    }
    let s = format!("{x:.17}");
    let s = s.trim_end_matches('0');
    s.strip_suffix('.').unwrap_or(s).to_string()
}
