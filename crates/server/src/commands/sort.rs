//! SORT and SORT_RO over lists and sets (sorted sets join with their type).
//!
//! BY and GET patterns name keys derived from the data, so SORT's key specification is
//! "unknown" and the dispatcher locks every shard: the whole sort sees one consistent state.

use std::cmp::Ordering;

use resp::Argv;
use store::{num, Value};

use super::{is, lookup_read};
use crate::cmd::{err, CmdError, CmdResult, Ctx};
use crate::pubsub::notify::class as ev;

struct SortOpts<'a> {
    desc: bool,
    alpha: bool,
    limit: Option<(i64, i64)>,
    store: Option<&'a [u8]>,
    by: Option<&'a [u8]>,
    dont_sort: bool,
    gets: Vec<&'a [u8]>,
}

/// `full_key_access`: whether the user may read every key (BY and GET read keys named by
/// data, which only such a user may do, as in Redis).
fn parse<'a>(
    argv: &Argv<'a>,
    read_only: bool,
    full_key_access: bool,
) -> Result<SortOpts<'a>, CmdError> {
    let mut o = SortOpts {
        desc: false,
        alpha: false,
        limit: None,
        store: None,
        by: None,
        dont_sort: false,
        gets: Vec::new(),
    };
    let mut j = 2;
    while j < argv.len() {
        let (a, left) = (argv.get(j), argv.len() - j - 1);
        if is(a, "asc") {
            o.desc = false;
        } else if is(a, "desc") {
            o.desc = true;
        } else if is(a, "alpha") {
            o.alpha = true;
        } else if is(a, "limit") && left >= 2 {
            let start = resp::parse_i64(argv.get(j + 1));
            let count = resp::parse_i64(argv.get(j + 2));
            match (start, count) {
                (Some(s), Some(c)) => o.limit = Some((s, c)),
                _ => return Err(err::NOT_INT.into()),
            }
            j += 2;
        } else if !read_only && is(a, "store") && left >= 1 {
            o.store = Some(argv.get(j + 1));
            j += 1;
        } else if is(a, "by") && left >= 1 {
            let p = argv.get(j + 1);
            o.by = Some(p);
            // A BY pattern without '*' (as a C string) means "do not sort".
            o.dont_sort = !c_str(p).contains(&b'*');
            if !o.dont_sort && !full_key_access {
                return Err(
                    "ERR BY option of SORT denied due to insufficient ACL permissions.".into(),
                );
            }
            j += 1;
        } else if is(a, "get") && left >= 1 {
            if !full_key_access {
                return Err(
                    "ERR GET option of SORT denied due to insufficient ACL permissions.".into(),
                );
            }
            o.gets.push(argv.get(j + 1));
            j += 1;
        } else {
            return Err(err::SYNTAX.into());
        }
        j += 1;
    }
    Ok(o)
}

/// The bytes up to the first NUL, as C string functions see them.
fn c_str(b: &[u8]) -> &[u8] {
    b.split(|&c| c == 0).next().unwrap_or(b)
}

/// Redis's `lookupKeyByPattern`: `#` is the element itself; otherwise the first `*` is
/// replaced by the element, and `key->field` reads a hash field. Missing or wrong-typed
/// keys give `None`.
fn by_pattern(ctx: &mut Ctx<'_, '_>, pattern: &[u8], elem: &[u8]) -> Option<Vec<u8>> {
    if c_str(pattern) == b"#" {
        return Some(elem.to_vec());
    }
    let spat = c_str(pattern);
    let star = spat.iter().position(|&c| c == b'*')?;
    let field = spat[star + 1..]
        .windows(2)
        .position(|w| w == b"->")
        .map(|i| star + 1 + i)
        .filter(|&i| i + 2 < pattern.len());
    let (key_end, field) = match field {
        Some(i) => (i, Some(&pattern[i + 2..])),
        None => (pattern.len(), None),
    };
    let mut key = pattern[..star].to_vec();
    key.extend_from_slice(elem);
    key.extend_from_slice(&pattern[star + 1..key_end]);
    let (now, dbi) = (ctx.now_ms, ctx.client.db);
    let obj = lookup_read(ctx.keys.db(&key, dbi), &key, now, true)?;
    match (&obj.value, field) {
        (Value::Str(s), None) => Some(s.as_bytes().into_owned()),
        (Value::Hash(h), Some(f)) => h.get(f).map(<[u8]>::to_vec),
        _ => None,
    }
}

struct Item {
    elem: Vec<u8>,
    score: f64,
    by: Option<Vec<u8>>,
}

fn sort_generic(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>, read_only: bool) -> CmdResult {
    let full_key_access = ctx.client.user.as_ref().is_none_or(|u| {
        u.unrestricted() || crate::acl::check::unrestricted_key_access(u, ctx.spec, &argv)
    });
    let mut o = parse(&argv, read_only, full_key_access)?;
    let (key, now, dbi) = (argv.get(1), ctx.now_ms, ctx.client.db);
    // Found through the read path (hits, misses, access time), then taken mutably: the
    // sorted set's conversion below changes its encoding.
    let db = ctx.keys.db(key, dbi);
    let found = lookup_read(db, key, now, true).is_some();
    let (mut elems, is_set): (Vec<Vec<u8>>, bool) = match found
        .then(|| db.get_mut(key))
        .flatten()
        .map(|o| &mut o.value)
    {
        None => (Vec::new(), false),
        Some(Value::List(l)) => (l.iter().map(std::borrow::Cow::into_owned).collect(), false),
        Some(Value::Set(s)) => (s.iter().map(|m| m.to_vec()).collect(), true),
        // A sorted set keeps its order when not sorted, like a list. Redis converts it to
        // the skiplist form here, for good (visible in OBJECT ENCODING).
        Some(Value::ZSet(z)) => {
            z.convert_to_skiplist();
            (z.iter().map(|(_, m)| m.to_vec()).collect(), false)
        }
        Some(_) => return Err(err::WRONGTYPE.into()),
    };
    // An unsorted set would come out in table order; with STORE Redis sorts it (ALPHA) so the
    // stored list is deterministic.
    if o.dont_sort && is_set && o.store.is_some() {
        o.dont_sort = false;
        o.alpha = true;
        o.by = None;
    }
    // Unsorted, a list keeps its order, walked from the tail with DESC (as Redis does).
    if o.dont_sort && o.desc && !is_set {
        elems.reverse();
    }
    let len = elems.len() as i64;
    let (mut start, mut end) = match o.limit {
        None => (0, len - 1),
        Some((s, c)) => {
            let start = s.max(0);
            (
                start,
                if c < 0 {
                    len - 1
                } else {
                    start.saturating_add(c) - 1
                },
            )
        }
    };
    if start >= len {
        start = len - 1;
        end = len - 2;
    }
    end = end.min(len - 1);
    let mut items: Vec<Item> = elems
        .into_iter()
        .map(|elem| Item {
            elem,
            score: 0.0,
            by: None,
        })
        .collect();
    let mut conversion_error = false;
    if !o.dont_sort {
        for item in &mut items {
            let byval = match o.by {
                Some(p) => match by_pattern(ctx, p, &item.elem) {
                    Some(v) => v,
                    None => continue,
                },
                None => item.elem.clone(),
            };
            if o.alpha {
                if o.by.is_some() {
                    item.by = Some(byval);
                }
            } else {
                match num::sort_score(&byval) {
                    Some(s) => item.score = s,
                    None => conversion_error = true,
                }
            }
        }
        let (alpha, by, desc) = (o.alpha, o.by.is_some(), o.desc);
        items.sort_by(|a, b| {
            let ord = if !alpha {
                a.score
                    .partial_cmp(&b.score)
                    .unwrap_or(Ordering::Equal)
                    .then_with(|| a.elem.cmp(&b.elem))
            } else if by {
                match (&a.by, &b.by) {
                    (None, None) => Ordering::Equal,
                    (None, Some(_)) => Ordering::Less,
                    (Some(_), None) => Ordering::Greater,
                    (Some(x), Some(y)) => c_str(x).cmp(c_str(y)),
                }
            } else {
                a.elem.cmp(&b.elem)
            };
            if desc {
                ord.reverse()
            } else {
                ord
            }
        });
    }
    if conversion_error {
        return Err("ERR One or more scores can't be converted into double".into());
    }
    let range: &[Item] = if start <= end && start >= 0 {
        &items[start as usize..=end as usize]
    } else {
        &[]
    };
    let mut output: Vec<Option<Vec<u8>>> = Vec::new();
    for item in range {
        if o.gets.is_empty() {
            output.push(Some(item.elem.clone()));
        }
        for g in &o.gets {
            output.push(by_pattern(ctx, g, &item.elem));
        }
    }
    match o.store {
        None => {
            ctx.out.array(output.len());
            for v in &output {
                match v {
                    Some(b) => ctx.out.bulk(b),
                    None => ctx.out.null(),
                }
            }
        }
        Some(dst) => {
            let fill = super::lists::fill(ctx);
            super::store_result(ctx, dst, output.len(), (ev::LIST, "sortstore"), || {
                let elems = output.iter().map(|v| v.as_deref().unwrap_or(b""));
                Value::List(Box::new(store::QuickList::from_elems(elems, fill)))
            });
            // SORT counts every stored element, not one per key (Redis's sort.c).
            if output.len() > 1 {
                ctx.dirty += output.len() as u64 - 1;
            }
        }
    }
    Ok(())
}

pub fn sort(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    sort_generic(ctx, argv, false)
}

pub fn sort_ro(ctx: &mut Ctx<'_, '_>, argv: Argv<'_>) -> CmdResult {
    sort_generic(ctx, argv, true)
}
