//! [`Report`]: the bench's result and its two one-line forms, the `BENCH key=value` line
//! (its [`Display`](fmt::Display)) and a JSON object ([`Report::json`]).
//!
//! The keys, in order (benches/README.md documents them): `nodes publishers rate size
//! duration_s sent delivery_ratio p50_ms p90_ms p99_ms max_ms delivered_per_s
//! cpu_us_per_delivery peak_rss_mb`, then the extras `expected delivered duplicates
//! send_failures datagrams_per_delivery max_send_lag_ms converged seed`. A figure that could
//! not be measured is `na` (JSON: `null`).

use std::fmt;
use std::time::Duration;

/// Latency percentiles from the publish call to each receiver's message event.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: Duration,
    /// 90th percentile.
    pub p90: Duration,
    /// 99th percentile.
    pub p99: Duration,
    /// Largest.
    pub max: Duration,
}

/// What one bench run measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// Nodes started.
    pub nodes: usize,
    /// Members that published.
    pub publishers: usize,
    /// Messages per second asked for, all publishers together.
    pub rate: u32,
    /// Payload bytes per message.
    pub size: usize,
    /// The measured window (publishing), in seconds.
    pub duration_s: u32,
    /// Messages handed to a publisher.
    pub sent: u64,
    /// Sends a node refused (their deliveries count as lost).
    pub send_failures: u64,
    /// Deliveries expected: `sent × (nodes − 1)`.
    pub expected: u64,
    /// (message, receiver) pairs delivered by the end of the drain.
    pub delivered: u64,
    /// Deliveries beyond the first of a pair.
    pub duplicates: u64,
    /// Latency of the first deliveries; `None` if there were none.
    pub latency: Option<Latency>,
    /// Process CPU time (user + system) from the first publish to the end of the drain;
    /// `None` without `/proc`.
    pub cpu: Option<Duration>,
    /// Peak resident set size of the process in bytes; `None` without `/proc`.
    pub peak_rss: Option<u64>,
    /// Datagrams all nodes sent from the first publish until their counters were read
    /// after the drain.
    pub datagrams: u64,
    /// Deliveries counted when those counters were read (a busy group answers late, so
    /// this can exceed `delivered`).
    pub traffic_deliveries: u64,
    /// How late the scheduler issued its latest publish call.
    pub max_send_lag: Duration,
    /// Whether every node had joined with a full close set before publishing.
    pub converged: bool,
    /// Seed of the bench's own choices (joins, publishers).
    pub seed: u64,
}

impl Report {
    /// `delivered / expected`; 0 when nothing was expected.
    pub fn delivery_ratio(&self) -> f64 {
        ratio(self.delivered, self.expected)
    }

    /// Deliveries per second of the measured window.
    pub fn delivered_per_s(&self) -> f64 {
        self.delivered as f64 / f64::from(self.duration_s.max(1))
    }

    /// Process CPU microseconds per delivery; `None` without `/proc` or deliveries.
    pub fn cpu_us_per_delivery(&self) -> Option<f64> {
        let cpu = self.cpu?;
        (self.delivered > 0).then(|| cpu.as_secs_f64() * 1e6 / self.delivered as f64)
    }

    /// Datagrams sent per delivery (the relay's fan-out cost).
    pub fn datagrams_per_delivery(&self) -> f64 {
        ratio(self.datagrams, self.traffic_deliveries)
    }

    /// The fields in output order, each as (key, value); `None` is "not measured".
    fn fields(&self) -> Vec<(&'static str, Option<String>)> {
        let ms = |d: Duration| format!("{:.3}", d.as_secs_f64() * 1e3);
        let lat = |f: fn(&Latency) -> Duration| self.latency.as_ref().map(|l| ms(f(l)));
        let s = |v: &dyn fmt::Display| Some(v.to_string());
        vec![
            ("nodes", s(&self.nodes)),
            ("publishers", s(&self.publishers)),
            ("rate", s(&self.rate)),
            ("size", s(&self.size)),
            ("duration_s", s(&self.duration_s)),
            ("sent", s(&self.sent)),
            (
                "delivery_ratio",
                Some(format!("{:.5}", self.delivery_ratio())),
            ),
            ("p50_ms", lat(|l| l.p50)),
            ("p90_ms", lat(|l| l.p90)),
            ("p99_ms", lat(|l| l.p99)),
            ("max_ms", lat(|l| l.max)),
            (
                "delivered_per_s",
                Some(format!("{:.1}", self.delivered_per_s())),
            ),
            (
                "cpu_us_per_delivery",
                self.cpu_us_per_delivery().map(|c| format!("{c:.1}")),
            ),
            (
                "peak_rss_mb",
                self.peak_rss
                    .map(|b| format!("{:.1}", b as f64 / f64::from(1 << 20))),
            ),
            ("expected", s(&self.expected)),
            ("delivered", s(&self.delivered)),
            ("duplicates", s(&self.duplicates)),
            ("send_failures", s(&self.send_failures)),
            (
                "datagrams_per_delivery",
                Some(format!("{:.2}", self.datagrams_per_delivery())),
            ),
            ("max_send_lag_ms", Some(ms(self.max_send_lag))),
            ("converged", s(&self.converged)),
            ("seed", s(&self.seed)),
        ]
    }

    /// The report as one line of JSON: the same keys, numbers as numbers, `null` for `na`.
    pub fn json(&self) -> String {
        let body: Vec<String> = self
            .fields()
            .into_iter()
            .map(|(k, v)| format!("\"{k}\":{}", v.as_deref().unwrap_or("null")))
            .collect();
        format!("{{{}}}", body.join(","))
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BENCH")?;
        for (k, v) in self.fields() {
            write!(f, " {k}={}", v.as_deref().unwrap_or("na"))?;
        }
        Ok(())
    }
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 { 0.0 } else { a as f64 / b as f64 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> Report {
        Report {
            nodes: 200,
            publishers: 10,
            rate: 50,
            size: 200,
            duration_s: 20,
            sent: 1000,
            send_failures: 0,
            expected: 199_000,
            delivered: 198_900,
            duplicates: 0,
            latency: Some(Latency {
                p50: Duration::from_micros(3_210),
                p90: Duration::from_micros(8_000),
                p99: Duration::from_micros(41_500),
                max: Duration::from_millis(120),
            }),
            cpu: Some(Duration::from_secs(20)),
            peak_rss: Some(150 << 20),
            datagrams: 1_193_400,
            traffic_deliveries: 198_900,
            max_send_lag: Duration::from_micros(1_500),
            converged: true,
            seed: 7,
        }
    }

    #[test]
    fn the_bench_line_has_every_field_in_order() {
        assert_eq!(
            report().to_string(),
            "BENCH nodes=200 publishers=10 rate=50 size=200 duration_s=20 sent=1000 \
             delivery_ratio=0.99950 p50_ms=3.210 p90_ms=8.000 p99_ms=41.500 max_ms=120.000 \
             delivered_per_s=9945.0 cpu_us_per_delivery=100.6 peak_rss_mb=150.0 \
             expected=199000 delivered=198900 duplicates=0 send_failures=0 \
             datagrams_per_delivery=6.00 max_send_lag_ms=1.500 converged=true seed=7"
        );
    }

    #[test]
    fn unmeasured_figures_are_na_or_null() {
        let r = Report {
            latency: None,
            cpu: None,
            peak_rss: None,
            delivered: 0,
            ..report()
        };
        let line = r.to_string();
        for k in [
            "p50_ms",
            "p99_ms",
            "max_ms",
            "cpu_us_per_delivery",
            "peak_rss_mb",
        ] {
            assert!(line.contains(&format!(" {k}=na")), "{k}: {line}");
        }
        let json = r.json();
        assert!(json.starts_with("{\"nodes\":200,"), "{json}");
        assert!(json.contains("\"p99_ms\":null"), "{json}");
        assert!(json.contains("\"converged\":true"), "{json}");
        assert!(!json.contains('\n'));
    }
}
