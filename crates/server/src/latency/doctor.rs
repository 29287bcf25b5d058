//! LATENCY DOCTOR: a report for people on the events the latency monitor recorded, with the
//! figures Redis reports per event (spikes, average, mean deviation, period, worst) and
//! advice chosen by which events occurred. The figures' line keeps Redis's layout; the
//! advice is Basalt's own wording, for Basalt's own event classes.

use super::Summary;

/// What the report needs to know besides the events.
pub struct Setting {
    pub threshold_ms: u64,
    /// `slowlog-log-slower-than`, µs (negative: the slow log is off).
    pub slowlog_slower_than_us: i64,
    pub hz: u64,
    /// Bytes of anonymous huge pages the process uses (transparent huge pages).
    pub anon_huge_page_bytes: u64,
}

/// Advice, in the order the report gives it.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Advice {
    EnableSlowlog,
    TuneSlowlog,
    InspectSlowlog,
    Scheduler,
    Hz,
    LargeObjects,
    DisableThp,
}

pub fn report(events: &[Summary], s: &Setting) -> String {
    if events.is_empty() && s.threshold_ms == 0 {
        return "Latency monitoring is disabled in this instance, and nothing was recorded \
                while it was on. Turn it on with 'CONFIG SET latency-monitor-threshold \
                <milliseconds>', then ask again.\n"
            .to_string();
    }
    let mut text = String::new();
    let mut advice = Vec::new();
    if !events.is_empty() {
        text.push_str("Latency spikes were observed in this instance:\n\n");
    }
    for (i, e) in events.iter().enumerate() {
        text.push_str(&format!(
            "{}. {}: {} latency spikes (average {}ms, mean deviation {}ms, period {:.2} sec). \
             Worst all time event {}ms.\n",
            i + 1,
            e.event,
            e.samples,
            e.avg_ms,
            e.mad_ms,
            e.period_secs as f64 / e.samples.max(1) as f64,
            e.max_ms,
        ));
        advice.extend(advice_for(&e.event, s));
    }
    if s.anon_huge_page_bytes > 0 {
        advice.push(Advice::DisableThp);
    }
    advice.sort();
    advice.dedup();
    match (events.is_empty(), advice.is_empty()) {
        (true, true) => {
            text.push_str("No latency spike was observed since this instance started.\n");
        }
        (false, true) => text.push_str(
            "\nNo simple remedy is known for these events. Look for what else ran on this \
             machine at the times LATENCY HISTORY shows.\n",
        ),
        _ => {
            text.push_str("\nSome advice:\n\n");
            for a in advice {
                text.push_str(&advice_text(a, s));
            }
        }
    }
    text
}

fn advice_for(event: &str, s: &Setting) -> Vec<Advice> {
    match event {
        "command" => {
            let mut v = vec![Advice::InspectSlowlog, Advice::LargeObjects];
            if s.slowlog_slower_than_us < 0 {
                v.push(Advice::EnableSlowlog);
            } else if s.slowlog_slower_than_us as u64 / 1000 > s.threshold_ms {
                v.push(Advice::TuneSlowlog);
            }
            v
        }
        "fast-command" => vec![Advice::Scheduler],
        "expire-cycle" => {
            let mut v = vec![Advice::LargeObjects];
            if s.hz < 100 {
                v.push(Advice::Hz);
            }
            v
        }
        _ => Vec::new(),
    }
}

fn advice_text(a: Advice, s: &Setting) -> String {
    let slowlog_us = s.threshold_ms.saturating_mul(1000);
    match a {
        Advice::EnableSlowlog => format!(
            "- Slow commands caused spikes, but the slow log is off, so it cannot say which. \
             Turn it on with 'CONFIG SET slowlog-log-slower-than {slowlog_us}'.\n"
        ),
        Advice::TuneSlowlog => format!(
            "- The slow log's threshold (slowlog-log-slower-than) is above the latency \
             monitor's, so the commands behind these spikes are not in it. Lower it with \
             'CONFIG SET slowlog-log-slower-than {slowlog_us}'.\n"
        ),
        Advice::InspectSlowlog => "- SLOWLOG GET lists the slowest recent commands with their \
             arguments: commands over whole large collections (KEYS, SMEMBERS, LRANGE 0 -1, \
             SORT …) are the usual cause.\n"
            .to_string(),
        Advice::Scheduler => "- Even O(1) commands were slow, so the process did not get the \
             CPU when it needed it: lower the machine's load, give the server cores of its \
             own, and check the machine's own latency with 'redis-cli --intrinsic-latency \
             100'.\n"
            .to_string(),
        Advice::Hz => "- Expiry runs in small steps 'hz' times a second; 'CONFIG SET hz 100' \
             makes each step smaller.\n"
            .to_string(),
        Advice::LargeObjects => "- Deleting or expiring a very large value frees all of its \
             memory at once. Split such values into smaller keys, or delete them with UNLINK \
             (and the lazyfree-lazy-* settings) so they are freed in the background.\n"
            .to_string(),
        Advice::DisableThp => "- The process uses transparent huge pages, which make \
             copy-on-write and memory compaction slow. Set \
             /sys/kernel/mm/transparent_hugepage/enabled to 'never' (or 'madvise') and \
             restart the server.\n"
            .to_string(),
    }
}

/// Anonymous huge pages the process holds, from `/proc/self/smaps_rollup` (0 if unknown).
pub fn anon_huge_page_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    text.lines()
        .find_map(|l| l.strip_prefix("AnonHugePages:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setting() -> Setting {
        Setting {
            threshold_ms: 100,
            slowlog_slower_than_us: 10_000,
            hz: 10,
            anon_huge_page_bytes: 0,
        }
    }

    #[test]
    fn figures_line_per_event_then_advice() {
        let ev = Summary {
            event: "command".into(),
            samples: 2,
            avg_ms: 150,
            mad_ms: 50,
            period_secs: 3,
            max_ms: 200,
        };
        let text = report(&[ev], &setting());
        assert!(text.contains(
            "1. command: 2 latency spikes (average 150ms, mean deviation 50ms, period 1.50 \
             sec). Worst all time event 200ms.\n"
        ));
        assert!(text.contains("SLOWLOG GET"), "{text}");
        assert!(!text.contains("slowlog-log-slower-than"), "{text}");
    }

    #[test]
    fn disabled_and_quiet_reports_differ() {
        let mut s = setting();
        assert!(report(&[], &s).contains("No latency spike"));
        s.threshold_ms = 0;
        assert!(report(&[], &s).contains("disabled"));
    }
}
