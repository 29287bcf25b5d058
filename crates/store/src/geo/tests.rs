//! Golden tests against the real redis-server 7.0.15.
//!
//! `golden.txt` was captured from the server (498 points added with GEOADD, then ZSCORE,
//! GEOPOS, GEOHASH, GEODIST and GEOSEARCH ... WITHDIST replies). Line kinds:
//!
//! - `P name lon lat zscore geopos_lon geopos_lat geohash`: a GEOADDed point.
//! - `Z zscore geopos_lon geopos_lat geohash`: an arbitrary ZADD score read back as a position.
//! - `D a b unit geodist`.
//! - `S <centre> <shape> | name:dist ...`: GEOSEARCH key FROMLONLAT lon lat (or FROMMEMBER
//!   `M name`) BYRADIUS `R r unit` or BYBOX `B w h unit` WITHDIST, without ASC/DESC/COUNT,
//!   so the reply order is the cell scan order, then sorted-set order within a cell.

use super::*;

const GOLDEN: &str = include_str!("golden.txt");

struct Point {
    name: String,
    score: f64,
}

fn num(s: &str) -> f64 {
    s.parse::<f64>()
        .unwrap_or_else(|_| panic!("bad number {s}"))
}

fn lines(kind: &str) -> impl Iterator<Item = Vec<&'static str>> + '_ {
    GOLDEN
        .lines()
        .map(|l| l.split(' ').collect::<Vec<_>>())
        .filter(move |f| f[0] == kind)
}

/// The points as a sorted set orders them: by score, then by name.
fn zset() -> Vec<Point> {
    let mut pts: Vec<Point> = lines("P")
        .map(|f| Point {
            name: f[1].to_string(),
            score: num(f[4]),
        })
        .collect();
    pts.sort_by(|a, b| {
        a.score
            .total_cmp(&b.score)
            .then_with(|| a.name.cmp(&b.name))
    });
    pts
}

fn score_of_member(pts: &[Point], name: &str) -> f64 {
    pts.iter()
        .find(|p| p.name == name)
        .map(|p| p.score)
        .unwrap_or_else(|| panic!("no member {name}"))
}

#[test]
fn geoadd_scores_positions_and_hashes() {
    let mut n = 0;
    for f in lines("P") {
        let (lon, lat) = (num(f[2]), num(f[3]));
        assert!(lonlat_valid(lon, lat), "{f:?}");
        let score = score_of(lon, lat).unwrap_or_else(|| panic!("no score {f:?}"));
        assert_eq!(score.to_bits(), num(f[4]).to_bits(), "ZSCORE {f:?}");
        let (plon, plat) = decode_score(score).unwrap_or_else(|| panic!("decode {f:?}"));
        assert_eq!(format_coord(plon), f[5], "GEOPOS lon {f:?}");
        assert_eq!(format_coord(plat), f[6], "GEOPOS lat {f:?}");
        assert_eq!(geohash_string(score), f[7], "GEOHASH {f:?}");
        n += 1;
    }
    assert_eq!(n, 498);
}

#[test]
fn arbitrary_scores_decode_like_the_c_cast() {
    let mut n = 0;
    for f in lines("Z") {
        let score = num(f[1]);
        let (lon, lat) = decode_score(score).unwrap_or_else(|| panic!("decode {f:?}"));
        assert_eq!(format_coord(lon), f[2], "GEOPOS lon {f:?}");
        assert_eq!(format_coord(lat), f[3], "GEOPOS lat {f:?}");
        assert_eq!(geohash_string(score), f[4], "GEOHASH {f:?}");
        n += 1;
    }
    assert!(n >= 30);
    assert_eq!(score_bits(f64::INFINITY), 0);
    assert_eq!(score_bits(f64::NEG_INFINITY), 1 << 63);
    assert_eq!(score_bits(-1.5), u64::MAX);
    assert_eq!(score_bits(3.9), 3);
    assert_eq!(hash_integer(3.9), 3);
    assert_eq!(hash_integer(1e300), i64::MIN);
}

#[test]
fn geodist_replies() {
    let pts = zset();
    let mut n = 0;
    for f in lines("D") {
        let a = decode_score(score_of_member(&pts, f[1])).unwrap_or_default();
        let b = decode_score(score_of_member(&pts, f[2])).unwrap_or_default();
        let unit = unit_factor(f[3].as_bytes()).unwrap_or_else(|| panic!("unit {f:?}"));
        let d = distance(a.0, a.1, b.0, b.1) / unit;
        assert_eq!(format_distance(d), f[4], "GEODIST {f:?}");
        n += 1;
    }
    assert!(n >= 100);
}

/// What Redis's GEOSEARCH does with the ranges: scan each in order, members by score
/// (`min <= score < max`), keep those within the shape.
fn run_search(pts: &[Point], lon: f64, lat: f64, shape: &Shape) -> Vec<String> {
    let mut out = Vec::new();
    for (min, max) in search_ranges(lon, lat, shape) {
        let start = pts.partition_point(|p| p.score < min);
        for p in pts[start..].iter().take_while(|p| p.score < max) {
            if let Some((_, _, d)) = within(shape, lon, lat, p.score) {
                out.push(format!("{}:{}", p.name, format_distance(d / shape.unit())));
            }
        }
    }
    out
}

#[test]
fn geosearch_finds_what_redis_finds_in_its_order() {
    let pts = zset();
    let mut n = 0;
    for line in GOLDEN.lines().filter(|l| l.starts_with("S ")) {
        let (query, expected) = line[2..].split_once(" | ").unwrap_or((&line[2..], ""));
        let q: Vec<&str> = query.split(' ').collect();
        let (lon, lat, rest) = if q[0] == "M" {
            let c = decode_score(score_of_member(&pts, q[1])).unwrap_or_default();
            (c.0, c.1, &q[2..])
        } else {
            (num(q[0]), num(q[1]), &q[2..])
        };
        let shape = if rest[0] == "R" {
            Shape::Radius {
                radius: num(rest[1]),
                unit: unit_factor(rest[2].as_bytes()).unwrap_or(0.0),
            }
        } else {
            Shape::Box {
                width: num(rest[1]),
                height: num(rest[2]),
                unit: unit_factor(rest[3].as_bytes()).unwrap_or(0.0),
            }
        };
        let expected: Vec<&str> = expected.split(' ').filter(|s| !s.is_empty()).collect();
        let got = run_search(&pts, lon, lat, &shape);
        assert_eq!(got, expected, "GEOSEARCH {query}");
        n += 1;
    }
    assert!(n >= 50);
}

#[test]
fn argument_errors_as_redis_words_them() {
    let cases: &[(f64, f64, &str)] = &[
        (200.0, 0.0, "200.000000,0.000000"),
        (-0.0000000001, 90.0, "-0.000000,90.000000"),
        (f64::INFINITY, 0.0, "inf,0.000000"),
        (f64::NEG_INFINITY, f64::NEG_INFINITY, "-inf,-inf"),
        (-180.0000001, -85.05112879, "-180.000000,-85.051129"),
        (0.0, -85.051128781, "0.000000,-85.051129"),
        (180.00000000000003, 1.0, "180.000000,1.000000"),
        (-1234567.8912345, 0.0000005, "-1234567.891235,0.000000"),
        (1.0, 85.0511287800001, "1.000000,85.051129"),
    ];
    for &(lon, lat, pair) in cases {
        let want = format!("ERR invalid longitude,latitude pair {pair}");
        assert_eq!(check_lonlat(lon, lat), Err(want.clone()));
        assert_eq!(lonlat_error(lon, lat), want);
        assert!(score_of(lon, lat).is_none());
    }
    let huge = lonlat_error(1e300, 0.0);
    assert!(huge.starts_with("ERR invalid longitude,latitude pair 1000000000000000052504760255"));
    assert!(huge.ends_with("459400540160.000000,0.000000"));
    assert_eq!(
        lonlat_error(f64::NAN, 0.0),
        "ERR invalid longitude,latitude pair nan,0.000000"
    );
    assert!(check_lonlat(f64::NAN, 0.0).is_err());
    assert!(check_lonlat(180.0, -85.05112878).is_ok());
    assert!(check_lonlat(-0.0, 0.00000049).is_ok());
}

#[test]
fn units() {
    assert_eq!(unit_factor(b"m"), Some(1.0));
    assert_eq!(unit_factor(b"KM"), Some(1000.0));
    assert_eq!(unit_factor(b"Ft"), Some(0.3048));
    assert_eq!(unit_factor(b"mI"), Some(1609.34));
    // strcasecmp stops at NUL: Redis takes "km\0junk" as kilometers.
    assert_eq!(unit_factor(b"km\0junk"), Some(1000.0));
    assert_eq!(unit_factor(b"furlong"), None);
    assert_eq!(unit_factor(b""), None);
    assert_eq!(unit_factor(b"\0m"), None);
    assert_eq!(
        UNIT_ERROR,
        "ERR unsupported unit provided. please use M, KM, FT, MI"
    );
}

#[test]
fn distance_formatting() {
    assert_eq!(format_distance(0.0), "0.0000");
    assert_eq!(format_distance(-0.0), "0.0000");
    assert_eq!(format_distance(0.00004), "0.0000");
    // Scaled by 10000 this is exactly 0.5, which llrint ties to even; `%.4f` would round
    // the (slightly larger than 0.00005) exact value up instead.
    assert_eq!(format_distance(0.00005), "0.0000");
    assert_eq!(format!("{:.4}", 0.00005), "0.0001");
    assert_eq!(format_distance(0.00015), "0.0001");
    assert_eq!(format_distance(0.00025), "0.0002");
    assert_eq!(format_distance(0.0123), "0.0123");
    assert_eq!(format_distance(166274.1516), "166274.1516");
    assert_eq!(format_distance(f64::NAN), "-922337203685477.5808");
    assert_eq!(format_distance(f64::INFINITY), "-922337203685477.5808");
    assert_eq!(format_coord(13.361389338970184), "13.36138933897018433");
    assert_eq!(format_coord(180.0), "180");
    assert_eq!(format_coord(-0.0), "-0");
}

#[test]
fn nothing_panics_on_odd_input() {
    let odd = [
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
        -1.0,
        0.0,
        5e-324,
        1e308,
        f64::MAX,
    ];
    for &a in &odd {
        for &b in &odd {
            let _ = score_of(a, b);
            let _ = decode_score(a);
            let _ = geohash_string(a);
            let _ = distance(a, b, b, a);
            let _ = format_distance(a);
            let _ = format_coord(a);
            let radius = Shape::Radius { radius: a, unit: b };
            let rect = Shape::Box {
                width: a,
                height: b,
                unit: 1.0,
            };
            for shape in [radius, rect] {
                let _ = search_ranges(10.0, 80.0, &shape);
                let _ = search_ranges(a, b, &shape);
                let _ = in_shape(&shape, 0.0, 0.0, a, b);
                let _ = within(&shape, a, b, a);
            }
        }
    }
    for step in 0..=255u8 {
        let h = GeoHashBits {
            bits: u64::MAX,
            step,
        };
        let _ = decode_wgs84(h);
        let _ = neighbors(&h);
        let _ = align_52bits(h);
        let _ = score_range(h);
        let _ = encode_wgs84(1.0, 1.0, step);
    }
}

#[test]
fn meridian_shortcut_decides_the_radius_edge() {
    // Checked on redis-server 7.0.15: GEOADD sc 13 -39.889 a 13 -36.389 b, then
    // GEOSEARCH sc FROMMEMBER a BYRADIUS r m finds b for r = 389291.90993057983 (the
    // meridian formula) but not for r = 389291.9099305798 (the plain haversine, 1 ulp less).
    let a = decode_score(score_of(13.0, -39.889).unwrap_or_default()).unwrap_or_default();
    let b = decode_score(score_of(13.0, -36.389).unwrap_or_default()).unwrap_or_default();
    let d = distance(a.0, a.1, b.0, b.1);
    assert_eq!(d, 389291.90993057983);
    assert_eq!(d, lat_distance(a.1, b.1));
    let radius = |r: f64| Shape::Radius {
        radius: r,
        unit: 1.0,
    };
    assert!(in_shape(&radius(389291.90993057983), a.0, a.1, b.0, b.1).is_some());
    assert!(in_shape(&radius(389291.9099305798), a.0, a.1, b.0, b.1).is_none());
}

#[test]
fn useless_neighbours_are_not_scanned() {
    // A zero radius: one step-26 cell, holding the centre's own score.
    let ranges = search_ranges(
        15.0,
        37.0,
        &Shape::Radius {
            radius: 0.0,
            unit: 1.0,
        },
    );
    let own = score_of(15.0, 37.0).unwrap_or_default();
    assert_eq!(ranges.len(), 1);
    assert!(ranges[0].0 <= own && own < ranges[0].1);
    // A 10 x 5 km box at (15, 37) fits in its step-11 cell: all eight neighbours dropped.
    let rect = Shape::Box {
        width: 10.0,
        height: 5.0,
        unit: 1000.0,
    };
    assert_eq!(search_ranges(15.0, 37.0, &rect).len(), 1);
    let areas = calculate_areas(15.0, 37.0, &rect).unwrap_or_else(|| panic!("centre"));
    assert_eq!(areas.hash.step, 11);
    // Step 1 (a huge radius): no exclusions, and the repeated neighbours of the 2 x 2 grid
    // (S = N, W = E, NW = SE = SW = NE) are skipped: centre, N, E, NE.
    let huge = Shape::Radius {
        radius: 20000.0,
        unit: 1000.0,
    };
    let areas = calculate_areas(15.0, 37.0, &huge).unwrap_or_else(|| panic!("centre"));
    assert_eq!(areas.hash.step, 1);
    let n = areas.neighbors;
    assert_eq!(
        areas.scan_order(),
        vec![areas.hash, n.north, n.east, n.north_east]
    );
    // An invalid centre scans nothing.
    assert!(search_ranges(181.0, 0.0, &huge).is_empty());
}
