//! Percentiles, medians and the figures' formatting.

use std::time::Duration;

/// Latency samples.
#[derive(Debug, Clone, Default)]
pub(crate) struct Latencies {
    samples: Vec<Duration>,
}

impl Latencies {
    pub(crate) fn push(&mut self, sample: Duration) {
        self.samples.push(sample);
    }

    pub(crate) fn extend(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    /// p50, p99 and max, in milliseconds; zeros when there are no samples.
    pub(crate) fn summary(&mut self) -> Summary {
        self.samples.sort_unstable();
        let at = |p: f64| {
            if self.samples.is_empty() {
                return 0.0;
            }
            let index = ((self.samples.len() - 1) as f64 * p).round() as usize;
            ms(self.samples[index])
        };
        Summary {
            p50: at(0.5),
            p99: at(0.99),
            max: at(1.0),
        }
    }
}

/// A latency distribution's figures, in milliseconds.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Summary {
    pub(crate) p50: f64,
    pub(crate) p99: f64,
    pub(crate) max: f64,
}

pub(crate) fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// The median and the range of several runs' values.
pub(crate) fn spread(values: &[f64]) -> (f64, f64, f64) {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    };
    (
        median,
        sorted.first().copied().unwrap_or(0.0),
        sorted.last().copied().unwrap_or(0.0),
    )
}

/// `value` with thousands separators and `decimals` decimals.
pub(crate) fn number(value: f64, decimals: usize) -> String {
    let text = format!("{value:.decimals$}");
    let (whole, fraction) = text
        .split_once('.')
        .map_or((text.as_str(), None), |(w, f)| (w, Some(f)));
    let (sign, digits) = whole.strip_prefix('-').map_or(("", whole), |d| ("-", d));
    let mut grouped = String::new();
    for (n, digit) in digits.chars().enumerate() {
        if n > 0 && (digits.len() - n) % 3 == 0 {
            grouped.push(',');
        }
        grouped.push(digit);
    }
    match fraction {
        Some(fraction) => format!("{sign}{grouped}.{fraction}"),
        None => format!("{sign}{grouped}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_nearest_rank() {
        let mut latencies = Latencies::default();
        for ms in (1..=100).rev() {
            latencies.push(Duration::from_millis(ms));
        }
        let summary = latencies.summary();
        assert_eq!((summary.p50, summary.p99, summary.max), (51.0, 99.0, 100.0));
        let empty = Latencies::default().summary();
        assert_eq!((empty.p50, empty.max), (0.0, 0.0));
    }

    #[test]
    fn spread_is_median_min_max() {
        assert_eq!(spread(&[3.0, 1.0, 2.0]), (2.0, 1.0, 3.0));
        assert_eq!(spread(&[4.0, 1.0, 2.0, 3.0]), (2.5, 1.0, 4.0));
        assert_eq!(spread(&[]), (0.0, 0.0, 0.0));
    }

    #[test]
    fn numbers_get_thousands_separators() {
        assert_eq!(number(1234567.891, 0), "1,234,568");
        assert_eq!(number(999.0, 0), "999");
        assert_eq!(number(-12345.5, 1), "-12,345.5");
        assert_eq!(number(0.25, 2), "0.25");
    }
}
