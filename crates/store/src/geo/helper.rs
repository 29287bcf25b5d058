//! The search geometry of Redis 7.0's `geohash_helper.c`: haversine distances, the step
//! estimate for a search radius, the bounding box of a shape, and the choice of the nine
//! cells a search scans.
//!
//! Every formula keeps Redis's operation order: the results feed comparisons against cell
//! edges, so a different rounding would change which cells (and hence which members, in
//! which order) a search returns.

use super::geohash::{
    decode, encode, neighbors, Area, GeoHashBits, Neighbors, STEP_MAX, WGS84_LAT, WGS84_LON,
};

/// Degrees to radians as Redis's `D_R` (`M_PI / 180.0`, rounded once to a double).
const D_R: f64 = std::f64::consts::PI / 180.0;

/// The Earth's quadratic mean radius that Redis uses for every distance.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;

/// Half the Mercator world width in meters: the step estimate doubles a radius up to this.
const MERCATOR_MAX: f64 = 20037726.37;

fn deg_rad(deg: f64) -> f64 {
    deg * D_R
}

fn rad_deg(rad: f64) -> f64 {
    rad / D_R
}

/// The search shape in the caller's unit, with the unit's size in meters kept apart: Redis
/// multiplies by the conversion factor at different points for different quantities (for a
/// box it takes the half-diagonal before converting), and a single pre-multiplied value would
/// round differently.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Shape {
    /// BYRADIUS (and GEORADIUS): everything within `radius` units of the centre.
    Radius { radius: f64, unit: f64 },
    /// BYBOX: an axis-aligned box `width` by `height` units centred on the centre.
    Box { width: f64, height: f64, unit: f64 },
}

impl Shape {
    /// Meters per unit: divide meter distances by it to reply in the requested unit.
    pub fn unit(&self) -> f64 {
        match *self {
            Shape::Radius { unit, .. } | Shape::Box { unit, .. } => unit,
        }
    }
}

/// Step (bits per coordinate) of the nine search cells for a radius in meters around a
/// latitude (`geohashEstimateStepsByRadius`): the coarsest grid whose cells are still about
/// the radius, made one or two steps coarser beyond 66° and 80° where meridians converge.
pub fn estimate_steps_by_radius(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return STEP_MAX;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    // Redis loops unbounded (forever for a negative radius, which its parser refuses); past
    // 40 the result is clamped to 26 whatever happens next, so stopping there changes nothing.
    while range < MERCATOR_MAX && step <= 40 {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Plain comparisons, not a range test: a NaN latitude must not adjust the step.
    #[allow(clippy::manual_range_contains)]
    if lat > 66.0 || lat < -66.0 {
        step -= 1;
        if lat > 80.0 || lat < -80.0 {
            step -= 1;
        }
    }
    step.clamp(1, i32::from(STEP_MAX)) as u8
}

/// Bounding box `[min_lon, min_lat, max_lon, max_lat]` of a shape around a centre
/// (`geohashBoundingBox`). The longitude span is taken at the box edge nearer the pole
/// (top in the north, bottom in the south), where a meter is the most degrees. Longitudes
/// may exceed ±180 and latitudes ±90; NaN appears for absurd sizes, as in Redis.
pub fn bounding_box(lon: f64, lat: f64, shape: &Shape) -> [f64; 4] {
    let (height, width) = match *shape {
        Shape::Radius { radius, unit } => (unit * radius, unit * radius),
        Shape::Box {
            width,
            height,
            unit,
        } => (unit * (height / 2.0), unit * (width / 2.0)),
    };
    let lat_delta = rad_deg(height / EARTH_RADIUS_M);
    let lon_delta_top = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(width / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
    let lon_delta = if lat < 0.0 {
        lon_delta_bottom
    } else {
        lon_delta_top
    };
    [
        lon - lon_delta,
        lat - lat_delta,
        lon + lon_delta,
        lat + lat_delta,
    ]
}

/// The cells a search scans: the one holding the centre, its area, and the eight neighbours,
/// some of them zeroed (see [`GeoHashBits::is_zero`]) when Redis decided they cannot hold a
/// match (`GeoHashRadius`).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct SearchAreas {
    pub hash: GeoHashBits,
    pub area: Area,
    pub neighbors: Neighbors,
    /// The shape's bounding box, see [`bounding_box`].
    pub bounds: [f64; 4],
}

impl SearchAreas {
    /// The cells in the order Redis scans them (`membersOfAllNeighbors`): centre, N, S, E,
    /// W, NE, NW, SE, SW, dropping zeroed ones and any cell equal to the last one scanned.
    /// Only consecutive repeats are caught (at step 1, S = N, W = E and the corners all
    /// coincide); Redis does not compare with the centre (its "last scanned" index 0 reads as
    /// "none yet"), which is harmless since a neighbour always differs from the centre.
    pub fn scan_order(&self) -> Vec<GeoHashBits> {
        let n = &self.neighbors;
        let all = [
            self.hash,
            n.north,
            n.south,
            n.east,
            n.west,
            n.north_east,
            n.north_west,
            n.south_east,
            n.south_west,
        ];
        let mut out = Vec::with_capacity(all.len());
        let mut last = 0usize;
        for (i, cell) in all.iter().enumerate() {
            if cell.is_zero() {
                continue;
            }
            if last != 0 && *cell == all[last] {
                continue;
            }
            out.push(*cell);
            last = i;
        }
        out
    }
}

/// Choose the nine cells covering a shape around a valid centre
/// (`geohashCalculateAreasByShapeWGS84`): estimate the step from the radius (half-diagonal
/// for a box), go one step coarser if a side neighbour does not reach the bounding box, then
/// drop the neighbours on each side the centre cell already covers past the box. `None` only
/// when the centre cannot be encoded (outside the indexable bounds, or NaN).
pub fn calculate_areas(lon: f64, lat: f64, shape: &Shape) -> Option<SearchAreas> {
    let bounds = bounding_box(lon, lat, shape);
    let [min_lon, min_lat, max_lon, max_lat] = bounds;
    let radius_m = match *shape {
        Shape::Radius { radius, unit } => radius * unit,
        Shape::Box {
            width,
            height,
            unit,
        } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt() * unit,
    };
    let mut steps = estimate_steps_by_radius(radius_m, lat);

    let mut hash = encode(WGS84_LON, WGS84_LAT, lon, lat, steps)?;
    let mut around = neighbors(&hash);
    let mut area = decode(WGS84_LON, WGS84_LAT, hash)?;

    let too_fine = {
        let side = |h: GeoHashBits| decode(WGS84_LON, WGS84_LAT, h).unwrap_or_default();
        let north = side(around.north);
        let south = side(around.south);
        let east = side(around.east);
        let west = side(around.west);
        north.lat.max < max_lat
            || south.lat.min > min_lat
            || east.lon.max < max_lon
            || west.lon.min > min_lon
    };
    if steps > 1 && too_fine {
        steps -= 1;
        hash = encode(WGS84_LON, WGS84_LAT, lon, lat, steps)?;
        around = neighbors(&hash);
        area = decode(WGS84_LON, WGS84_LAT, hash)?;
    }

    if steps >= 2 {
        let zero = GeoHashBits::default();
        if area.lat.min < min_lat {
            around.south = zero;
            around.south_west = zero;
            around.south_east = zero;
        }
        if area.lat.max > max_lat {
            around.north = zero;
            around.north_east = zero;
            around.north_west = zero;
        }
        if area.lon.min < min_lon {
            around.west = zero;
            around.south_west = zero;
            around.north_west = zero;
        }
        if area.lon.max > max_lon {
            around.east = zero;
            around.south_east = zero;
            around.north_east = zero;
        }
    }
    Some(SearchAreas {
        hash,
        area,
        neighbors: around,
        bounds,
    })
}

/// A hash shifted up to the 52-bit score scale (`geohashAlign52Bits`); bits pushed past 64
/// are lost, as in C. Used for GEOADD scores and for the score range of a cell.
pub fn align_52bits(hash: GeoHashBits) -> u64 {
    let shift = 52u32.wrapping_sub(u32::from(hash.step) * 2);
    hash.bits.checked_shl(shift).unwrap_or(0)
}

/// The sorted-set score range `[min, max)` holding every point of a cell
/// (`scoresOfGeoHashBox`): the cell prefix followed by all-zero, then the next prefix.
/// As doubles, the way the range is handed to the sorted set (exact below 2^53, rounded to
/// nearest above, like C's conversion).
pub fn score_range(hash: GeoHashBits) -> (f64, f64) {
    let min = align_52bits(hash);
    let next = GeoHashBits {
        bits: hash.bits.wrapping_add(1),
        step: hash.step,
    };
    (min as f64, align_52bits(next) as f64)
}

/// Great-circle distance in meters along a meridian (`geohashGetLatDistance`).
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine great-circle distance in meters (`geohashGetDistance`), including Redis 7.0's
/// shortcut: when the longitudes' half-difference has a zero sine the points share a
/// meridian and the (differently rounded) meridian distance is returned.
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// The distance from the centre `(x1, y1)` to `(x2, y2)` when it is at most `radius_m`
/// (`geohashGetDistanceIfInRadiusWGS84`).
pub fn distance_if_in_radius(x1: f64, y1: f64, x2: f64, y2: f64, radius_m: f64) -> Option<f64> {
    let d = distance(x1, y1, x2, y2);
    if d > radius_m {
        None
    } else {
        Some(d)
    }
}

/// The distance from the box centre `(x1, y1)` to `(x2, y2)` when the point lies in the
/// `width_m` by `height_m` box (`geohashGetDistanceIfInRectangle`): within half the height
/// along the meridian, and within half the width along the point's own parallel (measured
/// as a great-circle distance at the point's latitude, as Redis does).
pub fn distance_if_in_rectangle(
    width_m: f64,
    height_m: f64,
    x1: f64,
    y1: f64,
    x2: f64,
    y2: f64,
) -> Option<f64> {
    if lat_distance(y2, y1) > height_m / 2.0 {
        return None;
    }
    if distance(x2, y2, x1, y2) > width_m / 2.0 {
        return None;
    }
    Some(distance(x1, y1, x2, y2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_estimate_matches_redis_rules() {
        assert_eq!(estimate_steps_by_radius(0.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(-0.0, 89.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::NAN, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(f64::INFINITY, 0.0), 1);
        assert_eq!(estimate_steps_by_radius(5e-324, 0.0), 26);
        // 1000 m: 1000 * 2^15 = 32768000 >= MERCATOR_MAX, so step = 1 + 15 - 2.
        assert_eq!(estimate_steps_by_radius(1000.0, 0.0), 14);
        assert_eq!(estimate_steps_by_radius(1000.0, 66.0), 14);
        assert_eq!(estimate_steps_by_radius(1000.0, 66.1), 13);
        assert_eq!(estimate_steps_by_radius(1000.0, -80.5), 12);
        assert_eq!(estimate_steps_by_radius(1e9, -80.5), 1);
        assert_eq!(estimate_steps_by_radius(1000.0, f64::NAN), 14);
        // Never hangs, even for inputs Redis refuses.
        assert_eq!(estimate_steps_by_radius(-1.0, 0.0), 26);
        assert_eq!(estimate_steps_by_radius(f64::NEG_INFINITY, 0.0), 26);
    }

    #[test]
    fn distance_shortcut_on_a_meridian() {
        assert_eq!(distance(10.0, 0.0, 10.0, 1.0), lat_distance(0.0, 1.0));
        assert_eq!(distance(0.0, 0.0, 0.0, 0.0), 0.0);
        assert!(distance(0.0, 0.0, 1.0, 0.0) > 0.0);
    }

    #[test]
    fn score_ranges_are_aligned_prefixes() {
        let h = GeoHashBits {
            bits: 0b101010,
            step: 3,
        };
        let (min, max) = score_range(h);
        assert_eq!(min, (0b101010u64 << 46) as f64);
        assert_eq!(max, (0b101011u64 << 46) as f64);
        let top = GeoHashBits {
            bits: (1 << 52) - 1,
            step: 26,
        };
        assert_eq!(
            score_range(top),
            (((1u64 << 52) - 1) as f64, (1u64 << 52) as f64)
        );
    }
}
