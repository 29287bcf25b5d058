//! ASCII sparklines, for LATENCY GRAPH: a run of samples drawn as columns of `_`, `o`, `#`
//! and `|` over a fixed number of rows, each sample with an optional label written downwards
//! under its column. The drawing is Redis's (`sparkline.c`, filled style): a client that
//! shows LATENCY GRAPH sees the same picture from both servers.

/// Characters of one row's three sub-levels, lowest first (filled style).
const LEVELS: [u8; 3] = [b'_', b'o', b'#'];
/// Blank rows between the graph and its labels.
const LABEL_MARGIN_ROWS: usize = 1;

pub struct Sample {
    pub value: f64,
    pub label: String,
}

/// Draw `samples` with `rows` rows of height, wrapping every `columns` samples (the wrapped
/// parts separated by an empty line). Heights are relative to the smallest and largest
/// sample of the whole run.
pub fn render(samples: &[Sample], columns: usize, rows: usize) -> String {
    let mut out = String::new();
    if samples.is_empty() || columns == 0 {
        return out;
    }
    let min = samples
        .iter()
        .map(|s| s.value)
        .fold(f64::INFINITY, f64::min);
    let max = samples
        .iter()
        .map(|s| s.value)
        .fold(f64::NEG_INFINITY, f64::max);
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let any_label = samples.iter().any(|s| !s.label.is_empty());
    for (i, part) in samples.chunks(columns).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        render_part(&mut out, part, min, range, rows, any_label);
    }
    out
}

fn render_part(
    out: &mut String,
    part: &[Sample],
    min: f64,
    range: f64,
    rows: usize,
    any_label: bool,
) {
    let steps = LEVELS.len() * rows;
    // The level of each sample, 0..steps: truncated twice, as the C arithmetic does (the
    // product to an integer, then the quotient).
    let levels: Vec<usize> = part
        .iter()
        .map(|s| {
            let scaled = ((s.value - min) * steps as f64).trunc() / range;
            (scaled.max(0.0) as usize).min(steps - 1)
        })
        .collect();
    for row in 0..rows {
        // The sub-level this row draws: the top row shows the highest levels.
        let base = (rows - row - 1) * LEVELS.len();
        let line: String = levels
            .iter()
            .map(|&level| match level.checked_sub(base) {
                Some(i) if i < LEVELS.len() => LEVELS[i] as char,
                Some(_) => '|',
                None => ' ',
            })
            .collect();
        push_line(out, &line);
    }
    if !any_label {
        return;
    }
    for _ in 0..LABEL_MARGIN_ROWS {
        push_line(out, &" ".repeat(part.len()));
    }
    let tallest = part.iter().map(|s| s.label.len()).max().unwrap_or(0);
    for depth in 0..tallest {
        let line: String = part
            .iter()
            .map(|s| s.label.as_bytes().get(depth).map_or(' ', |&b| b as char))
            .collect();
        push_line(out, &line);
    }
}

fn push_line(out: &mut String, line: &str) {
    out.push_str(line);
    out.push('\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples(values: &[f64]) -> Vec<Sample> {
        values
            .iter()
            .map(|&value| Sample {
                value,
                label: format!("{value}s"),
            })
            .collect()
    }

    #[test]
    fn lowest_sample_is_an_underscore_and_highest_fills_the_column() {
        let text = render(&samples(&[1.0, 5.0, 9.0]), 80, 4);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "  #");
        assert_eq!(lines[3], "_||");
        // Margin, then labels written downwards.
        assert_eq!(lines[4], "   ");
        assert_eq!(lines[5], "159");
        assert_eq!(lines[6], "sss");
        assert_eq!(lines.len(), 7);
    }

    #[test]
    fn equal_samples_stay_on_the_bottom_row() {
        let text = render(&samples(&[3.0, 3.0]), 80, 2);
        assert!(text.starts_with("  \n__\n"), "{text:?}");
    }

    #[test]
    fn long_runs_wrap_at_the_column_count() {
        let text = render(&samples(&[1.0, 2.0, 3.0]), 2, 1);
        let parts: Vec<&str> = text.split("\n\n").collect();
        assert_eq!(parts.len(), 2, "{text:?}");
        assert!(parts[1].starts_with('#'), "{text:?}");
    }
}
