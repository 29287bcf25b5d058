//! Geo commands over sorted sets (a member's score is its 52-bit geohash): GEOADD, GEOPOS,
//! GEODIST, GEOHASH, and the searches GEORADIUS[BYMEMBER][_RO], GEOSEARCH[STORE]. The math is
//! `store::geo`; this file is Redis 7.0's argument rules (`georadiusGeneric`), the order its
//! errors win in, and its replies.

use resp::Argv;
use store::geo::{self, Shape};
use store::{Db, Value, ZSet};

use super::zsets::{self, zlimits};
use super::{is, lookup_read, parse_int, store_result, typed_ref};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

fn float(arg: &[u8], msg: Option<&'static str>) -> Result<f64, CmdError> {
    store::num::parse_double(arg).ok_or_else(|| CmdError::from(msg.unwrap_or(err::NOT_FLOAT)))
}

/// A longitude and latitude argument pair (Redis's `extractLongLatOrReply`).
fn lonlat(lon: &[u8], lat: &[u8]) -> Result<(f64, f64), CmdError> {
    let (x, y) = (float(lon, None)?, float(lat, None)?);
    geo::check_lonlat(x, y)?;
    Ok((x, y))
}

fn unit(arg: &[u8]) -> Result<f64, CmdError> {
    geo::unit_factor(arg).ok_or_else(|| geo::UNIT_ERROR.into())
}

/// GEOADD is ZADD with the positions turned into scores: it answers, notifies and is logged
/// as that ZADD, as in Redis.
pub fn geoadd(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let mut first = 2;
    let (mut nx, mut xx) = (false, false);
    while first < argv.len() {
        let a = argv.get(first);
        if is(a, "nx") {
            nx = true;
        } else if is(a, "xx") {
            xx = true;
        } else if !is(a, "ch") {
            break;
        }
        first += 1;
    }
    if !(argv.len() - first).is_multiple_of(3) || (nx && xx) {
        return Err(err::SYNTAX.into());
    }
    let mut args: Vec<Vec<u8>> = vec![b"zadd".to_vec()];
    args.extend(argv.iter().skip(1).take(first - 1).map(<[u8]>::to_vec));
    for i in (first..argv.len()).step_by(3) {
        let (lon, lat) = lonlat(argv.get(i), argv.get(i + 1))?;
        let score = geo::score_of(lon, lat).ok_or_else(|| geo::lonlat_error(lon, lat))?;
        // Below 2^53: the integer is exact, and ZADD parses it back to the same double.
        args.push(itoa::Buffer::new().format(score as u64).as_bytes().to_vec());
        args.push(argv.get(i + 2).to_vec());
    }
    let mut src = Vec::new();
    let mut ranges = Vec::with_capacity(args.len());
    for a in &args {
        ranges.push((src.len(), src.len() + a.len()));
        src.extend_from_slice(a);
    }
    zsets::zadd(ctx, Argv::from_parts(&src, &ranges))?;
    let refs: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
    ctx.log_as(&refs);
    Ok(())
}

/// The sorted set at `key` for reading (`None` when missing), WRONGTYPE for another type.
fn read_geo<'d>(db: &'d mut Db, key: &[u8], now: u64) -> Result<Option<&'d ZSet>, CmdError> {
    typed_ref(lookup_read(db, key, now, true), Value::as_zset)
}

/// A coordinate: a bulk string in RESP2, a double in RESP3, printed as Redis's "human" long
/// double.
fn reply_coord(out: &mut resp::Reply, x: f64) {
    let text = geo::format_coord(x);
    if out.is_resp3() {
        out.raw(b",");
        out.raw(text.as_bytes());
        out.raw(b"\r\n");
    } else {
        out.bulk(text.as_bytes());
    }
}

pub fn geopos(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (now, db_index) = (ctx.now_ms, ctx.client.db);
    let out = &mut *ctx.out;
    let z = read_geo(ctx.keys.db(argv.get(1), db_index), argv.get(1), now)?;
    out.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        match z.and_then(|z| z.score(member)).and_then(geo::decode_score) {
            None => out.null_array(),
            Some((lon, lat)) => {
                out.array(2);
                reply_coord(out, lon);
                reply_coord(out, lat);
            }
        }
    }
    Ok(())
}

pub fn geohash(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let (now, db_index) = (ctx.now_ms, ctx.client.db);
    let out = &mut *ctx.out;
    let z = read_geo(ctx.keys.db(argv.get(1), db_index), argv.get(1), now)?;
    out.array(argv.len() - 2);
    for member in argv.iter().skip(2) {
        match z.and_then(|z| z.score(member)) {
            None => out.null(),
            Some(score) => out.bulk(geo::geohash_string(score).as_bytes()),
        }
    }
    Ok(())
}

pub fn geodist(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    let to_meters = match argv.len() {
        5 => unit(argv.get(4))?,
        4 => 1.0,
        _ => return Err(err::SYNTAX.into()),
    };
    let (now, db_index) = (ctx.now_ms, ctx.client.db);
    let z = read_geo(ctx.keys.db(argv.get(1), db_index), argv.get(1), now)?;
    let pos = |m: &[u8]| z.and_then(|z| z.score(m)).and_then(geo::decode_score);
    match (pos(argv.get(2)), pos(argv.get(3))) {
        (Some((x1, y1)), Some((x2, y2))) => {
            let d = geo::distance(x1, y1, x2, y2) / to_meters;
            ctx.out.bulk(geo::format_distance(d).as_bytes());
        }
        _ => ctx.out.null(),
    }
    Ok(())
}

/// Which command of the search family runs (Redis's `georadiusGeneric` flags).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Origin {
    /// GEORADIUS[_RO]: centre and radius are positional.
    Coords,
    /// GEORADIUSBYMEMBER[_RO]: a member and radius are positional.
    Member,
    /// GEOSEARCH[STORE]: FROMMEMBER/FROMLONLAT and BYRADIUS/BYBOX options.
    Search,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Sort {
    None,
    Asc,
    Desc,
}

/// One match: what the replies and the stored result need.
struct Point {
    member: Vec<u8>,
    score: f64,
    lon: f64,
    lat: f64,
    /// Meters until the reply converts it to the unit.
    dist: f64,
}

/// The parsed search request.
struct Request<'a> {
    centre: Option<(f64, f64)>,
    shape: Option<Shape>,
    with_dist: bool,
    with_hash: bool,
    with_coord: bool,
    sort: Sort,
    any: bool,
    count: u64,
    store: Option<&'a [u8]>,
    store_dist: bool,
}

const NO_MEMBER: &str = "ERR could not decode requested zset member";

fn radius(value: &[u8], unit_arg: &[u8]) -> Result<Shape, CmdError> {
    let r = float(value, Some("ERR need numeric radius"))?;
    if r < 0.0 {
        return Err("ERR radius cannot be negative".into());
    }
    Ok(Shape::Radius {
        radius: r,
        unit: unit(unit_arg)?,
    })
}

fn rect(width: &[u8], height: &[u8], unit_arg: &[u8]) -> Result<Shape, CmdError> {
    let w = float(width, Some("ERR need numeric width"))?;
    let h = float(height, Some("ERR need numeric height"))?;
    if h < 0.0 || w < 0.0 {
        return Err("ERR height or width cannot be negative".into());
    }
    Ok(Shape::Box {
        width: w,
        height: h,
        unit: unit(unit_arg)?,
    })
}

/// Parses the whole command line, in Redis's order: positional centre and radius first, then
/// the options left to right (each error as it is met), then the combinations.
fn parse<'a>(
    argv: &Argv<'a>,
    from: Origin,
    store_allowed: bool,
    search_store: bool,
    z: Option<&ZSet>,
) -> Result<Request<'a>, CmdError> {
    let member_pos = |m: &[u8]| -> Result<(f64, f64), CmdError> {
        z.and_then(|z| z.score(m))
            .and_then(geo::decode_score)
            .ok_or_else(|| NO_MEMBER.into())
    };
    let mut req = Request {
        centre: None,
        shape: None,
        with_dist: false,
        with_hash: false,
        with_coord: false,
        sort: Sort::None,
        any: false,
        count: 0,
        store: None,
        store_dist: false,
    };
    let base = match from {
        Origin::Coords => {
            req.centre = Some(lonlat(argv.get(2), argv.get(3))?);
            req.shape = Some(radius(argv.get(4), argv.get(5))?);
            6
        }
        // Without the key the member cannot be found; the options are still checked so the
        // reply (empty array, or 0 with STORE) is the right one.
        Origin::Member if z.is_none() => 5,
        Origin::Member => {
            req.centre = Some(member_pos(argv.get(2))?);
            req.shape = Some(radius(argv.get(3), argv.get(4))?);
            5
        }
        Origin::Search if search_store => {
            req.store = Some(argv.get(1));
            3
        }
        Origin::Search => 2,
    };
    let search = from == Origin::Search;
    let (mut from_member, mut from_lonlat, mut by_radius, mut by_box) =
        (false, false, false, false);
    let rest = argv.len() - base;
    let mut i = 0;
    while i < rest {
        let a = argv.get(base + i);
        let left = rest - i - 1;
        if is(a, "withdist") {
            req.with_dist = true;
        } else if is(a, "withhash") {
            req.with_hash = true;
        } else if is(a, "withcoord") {
            req.with_coord = true;
        } else if is(a, "any") {
            req.any = true;
        } else if is(a, "asc") {
            req.sort = Sort::Asc;
        } else if is(a, "desc") {
            req.sort = Sort::Desc;
        } else if is(a, "count") && left >= 1 {
            let n = parse_int(argv.get(base + i + 1))?;
            if n <= 0 {
                return Err("ERR COUNT must be > 0".into());
            }
            req.count = n as u64;
            i += 1;
        } else if (is(a, "store") || is(a, "storedist")) && left >= 1 && store_allowed && !search {
            req.store = Some(argv.get(base + i + 1));
            req.store_dist = is(a, "storedist");
            i += 1;
        } else if is(a, "storedist") && search && search_store {
            req.store_dist = true;
        } else if is(a, "frommember") && left >= 1 && search && !from_lonlat {
            if z.is_some() {
                req.centre = Some(member_pos(argv.get(base + i + 1))?);
            }
            from_member = true;
            i += 1;
        } else if is(a, "fromlonlat") && left >= 2 && search && !from_member {
            req.centre = Some(lonlat(argv.get(base + i + 1), argv.get(base + i + 2))?);
            from_lonlat = true;
            i += 2;
        } else if is(a, "byradius") && left >= 2 && search && !by_box {
            req.shape = Some(radius(argv.get(base + i + 1), argv.get(base + i + 2))?);
            by_radius = true;
            i += 2;
        } else if is(a, "bybox") && left >= 3 && search && !by_radius {
            let (w, h, u) = (
                argv.get(base + i + 1),
                argv.get(base + i + 2),
                argv.get(base + i + 3),
            );
            req.shape = Some(rect(w, h, u)?);
            by_box = true;
            i += 3;
        } else {
            return Err(err::SYNTAX.into());
        }
        i += 1;
    }
    if req.store.is_some() && (req.with_dist || req.with_hash || req.with_coord) {
        let who = if search_store {
            "GEOSEARCHSTORE"
        } else {
            "STORE option in GEORADIUS"
        };
        return Err(format!(
            "ERR {who} is not compatible with WITHDIST, WITHHASH and WITHCOORD options"
        )
        .into());
    }
    let name = || String::from_utf8_lossy(argv.get(0)).into_owned();
    if search && !(from_member || from_lonlat) {
        return Err(format!(
            "ERR exactly one of FROMMEMBER or FROMLONLAT can be specified for {}",
            name()
        )
        .into());
    }
    if search && !(by_radius || by_box) {
        return Err(format!(
            "ERR exactly one of BYRADIUS and BYBOX can be specified for {}",
            name()
        )
        .into());
    }
    if req.any && req.count == 0 {
        return Err("ERR the ANY argument requires COUNT argument".into());
    }
    Ok(req)
}

/// The matches, in scan order (cells in Redis's order, scores ascending within a cell),
/// stopping at `limit` matches when it is not 0 (COUNT … ANY).
fn scan(z: &ZSet, lon: f64, lat: f64, shape: &Shape, limit: u64) -> Vec<Point> {
    let mut found = Vec::new();
    for (min, max) in geo::search_ranges(lon, lat, shape) {
        if limit > 0 && found.len() as u64 >= limit {
            break;
        }
        let start = z.first_rank_with_score(min, false);
        for (score, member) in z.iter_from_rank(start, false) {
            if score >= max {
                break;
            }
            if let Some((x, y, dist)) = geo::within(shape, lon, lat, score) {
                found.push(Point {
                    member: member.to_vec(),
                    score,
                    lon: x,
                    lat: y,
                    dist,
                });
                if limit > 0 && found.len() as u64 >= limit {
                    break;
                }
            }
        }
    }
    found
}

fn search(
    ctx: &mut Ctx<'_, '_>,
    argv: Argv<'_>,
    src: usize,
    from: Origin,
    store_ok: bool,
) -> CmdResult {
    let search_store = from == Origin::Search && src == 2;
    let (now, db_index) = (ctx.now_ms, ctx.client.db);
    let z = read_geo(ctx.keys.db(argv.get(src), db_index), argv.get(src), now)?;
    let req = parse(&argv, from, store_ok, search_store, z)?;
    let matches = match (z, req.centre, req.shape) {
        (Some(z), Some((lon, lat)), Some(shape)) => {
            let mut sort = req.sort;
            if req.count > 0 && sort == Sort::None && !req.any {
                sort = Sort::Asc;
            }
            let mut found = scan(z, lon, lat, &shape, if req.any { req.count } else { 0 });
            // A stable sort: what glibc's merge-based qsort gives for equal distances.
            match sort {
                Sort::Asc => found.sort_by(|a, b| a.dist.total_cmp(&b.dist)),
                Sort::Desc => found.sort_by(|a, b| b.dist.total_cmp(&a.dist)),
                Sort::None => {}
            }
            if req.count > 0 {
                found.truncate(req.count as usize);
            }
            let unit = shape.unit();
            found.iter_mut().for_each(|p| p.dist /= unit);
            found
        }
        _ => Vec::new(),
    };
    match req.store {
        Some(dst) => store(ctx, dst, matches, req.store_dist, search_store),
        None => {
            reply_points(ctx.out, &matches, &req);
            Ok(())
        }
    }
}

fn reply_points(out: &mut resp::Reply, points: &[Point], req: &Request<'_>) {
    let extra =
        usize::from(req.with_dist) + usize::from(req.with_hash) + usize::from(req.with_coord);
    out.array(points.len());
    for p in points {
        if extra > 0 {
            out.array(extra + 1);
        }
        out.bulk(&p.member);
        if req.with_dist {
            out.bulk(geo::format_distance(p.dist).as_bytes());
        }
        if req.with_hash {
            out.int(geo::hash_integer(p.score));
        }
        if req.with_coord {
            out.array(2);
            reply_coord(out, p.lon);
            reply_coord(out, p.lat);
        }
    }
}

/// STORE/STOREDIST and GEOSEARCHSTORE: the matches become a sorted set (scores the geohashes,
/// or the distances in the unit); none deletes the destination.
fn store(
    ctx: &mut Ctx<'_, '_>,
    dst: &[u8],
    points: Vec<Point>,
    dist: bool,
    search: bool,
) -> CmdResult {
    let n = points.len();
    let limits = zlimits(ctx);
    let event = if search {
        "geosearchstore"
    } else {
        "georadiusstore"
    };
    store_result(ctx, dst, n, (ev::ZSET, event), || {
        let entries = points
            .into_iter()
            .map(|p| (if dist { p.dist } else { p.score }, p.member))
            .collect();
        Value::ZSet(Box::new(ZSet::from_entries(entries, limits)))
    });
    // Redis counts one change per stored member.
    ctx.dirty += (n as u64).saturating_sub(1);
    Ok(())
}

pub fn georadius(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    search(ctx, argv, 1, Origin::Coords, true)
}

pub fn georadius_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    search(ctx, argv, 1, Origin::Coords, false)
}

pub fn georadiusbymember(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    search(ctx, argv, 1, Origin::Member, true)
}

pub fn georadiusbymember_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    search(ctx, argv, 1, Origin::Member, false)
}

pub fn geosearch(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    search(ctx, argv, 1, Origin::Search, false)
}

pub fn geosearchstore(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    search(ctx, argv, 2, Origin::Search, false)
}
