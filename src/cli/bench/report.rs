//! [`Report`]: the bench's result and its two one-line forms, the `BENCH key=value` line
//! (its [`Display`](fmt::Display)) and a JSON object ([`Report::json`]).
//!
//! The keys, in order (benches/README.md documents them): `nodes publishers rate size
//! duration_s sent delivery_ratio p50_ms p90_ms p99_ms max_ms delivered_per_s
//! cpu_us_per_delivery peak_rss_mb`, then the extras `expected delivered duplicates
//! send_failures datagrams_per_delivery max_send_lag_ms converged seed`, then the traffic by
//! kind (PROTOCOL.md §6.12), datagrams and bytes per delivery of each: `eager_dg eager_b
//! lazy_dg lazy_b repair_dg repair_b control_dg control_b` (each `_per_delivery`), then the
//! nodes' settings that change the figures: `eager_tree history_messages`, then the
//! machine's speed and the CPU in its units: `ref_verify_us ref_seal_open_us
//! cpu_verifies_per_delivery` ([`Reference`]). A figure that could not be measured is `na`
//! (JSON: `null`).

use std::fmt;
use std::time::Duration;

use super::reference::Reference;
use crate::proto::Traffic;

/// Datagrams and bytes all nodes sent during the measured window, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Kinds {
    /// Full copies pushed along the eager tree (relayed and own).
    pub eager: Traffic,
    /// Lazy announcements (have summaries).
    pub lazy: Traffic,
    /// Copies re-sent in answer to a summary.
    pub repair: Traffic,
    /// Everything else: get_nodes and send_nodes, prunes, cookies, direct messages.
    pub control: Traffic,
}

impl Kinds {
    /// The traffic between two readings of `[eager, lazy, repair, all]`.
    pub fn between(before: &[Traffic; 4], after: &[Traffic; 4]) -> Self {
        let d = |i: usize| Traffic {
            datagrams: after[i].datagrams.saturating_sub(before[i].datagrams),
            bytes: after[i].bytes.saturating_sub(before[i].bytes),
        };
        let (eager, lazy, repair, all) = (d(0), d(1), d(2), d(3));
        let known = |f: fn(&Traffic) -> u64| f(&eager) + f(&lazy) + f(&repair);
        let control = Traffic {
            datagrams: all.datagrams.saturating_sub(known(|t| t.datagrams)),
            bytes: all.bytes.saturating_sub(known(|t| t.bytes)),
        };
        Self {
            eager,
            lazy,
            repair,
            control,
        }
    }

    /// The kinds with their key prefixes, in output order.
    fn named(&self) -> [(&'static str, Traffic); 4] {
        [
            ("eager", self.eager),
            ("lazy", self.lazy),
            ("repair", self.repair),
            ("control", self.control),
        ]
    }
}

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
    /// The same traffic by kind, with bytes.
    pub kinds: Kinds,
    /// Deliveries counted when those counters were read (a busy group answers late, so
    /// this can exceed `delivered`).
    pub traffic_deliveries: u64,
    /// How late the scheduler issued its latest publish call.
    pub max_send_lag: Duration,
    /// Whether every node had joined with a full close set before publishing.
    pub converged: bool,
    /// Seed of the bench's own choices (joins, publishers).
    pub seed: u64,
    /// Whether the nodes relayed along the eager tree (PROTOCOL.md §6.12).
    pub eager_tree: bool,
    /// Messages each node kept in its group history (PROTOCOL.md §6.13).
    pub history_messages: usize,
    /// The machine's speed before the nodes started ([`Reference`]); `None` if it could
    /// not be measured.
    pub reference: Option<Reference>,
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

    /// CPU per delivery in Ed25519 checks of this machine at the time of the run
    /// ([`Reference::verify_us`]): comparable across days when the machine's speed is not.
    pub fn cpu_verifies_per_delivery(&self) -> Option<f64> {
        let us = self.cpu_us_per_delivery()?;
        let verify = self.reference?.verify_us;
        (verify > 0.0).then(|| us / verify)
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
        let mut fields = vec![
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
        ];
        fields.extend(self.per_kind());
        fields.push(("eager_tree", s(&self.eager_tree)));
        fields.push(("history_messages", s(&self.history_messages)));
        let r = self.reference;
        fields.push(("ref_verify_us", r.map(|r| format!("{:.1}", r.verify_us))));
        fields.push((
            "ref_seal_open_us",
            r.map(|r| format!("{:.2}", r.seal_open_us)),
        ));
        fields.push((
            "cpu_verifies_per_delivery",
            self.cpu_verifies_per_delivery().map(|c| format!("{c:.2}")),
        ));
        fields
    }

    /// `<kind>_dg_per_delivery` and `<kind>_b_per_delivery` for each kind.
    fn per_kind(&self) -> Vec<(&'static str, Option<String>)> {
        const KEYS: [[&str; 2]; 4] = [
            ["eager_dg_per_delivery", "eager_b_per_delivery"],
            ["lazy_dg_per_delivery", "lazy_b_per_delivery"],
            ["repair_dg_per_delivery", "repair_b_per_delivery"],
            ["control_dg_per_delivery", "control_b_per_delivery"],
        ];
        let d = self.traffic_deliveries;
        (self.kinds.named().iter().zip(KEYS))
            .flat_map(|((_, t), [dg, b])| {
                [
                    (dg, Some(format!("{:.3}", ratio(t.datagrams, d)))),
                    (b, Some(format!("{:.1}", ratio(t.bytes, d)))),
                ]
            })
            .collect()
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

    fn traffic(datagrams: u64, bytes: u64) -> Traffic {
        Traffic { datagrams, bytes }
    }

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
            kinds: Kinds::between(
                &[Traffic::default(); 4],
                &[
                    traffic(198_900, 80_000_000),
                    traffic(3_000, 1_500_000),
                    traffic(900, 400_000),
                    traffic(1_193_400, 82_000_000),
                ],
            ),
            traffic_deliveries: 198_900,
            max_send_lag: Duration::from_micros(1_500),
            converged: true,
            seed: 7,
            eager_tree: true,
            history_messages: 1000,
            reference: Some(Reference {
                verify_us: 40.2,
                seal_open_us: 2.5,
            }),
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
             datagrams_per_delivery=6.00 max_send_lag_ms=1.500 converged=true seed=7 \
             eager_dg_per_delivery=1.000 eager_b_per_delivery=402.2 \
             lazy_dg_per_delivery=0.015 lazy_b_per_delivery=7.5 \
             repair_dg_per_delivery=0.005 repair_b_per_delivery=2.0 \
             control_dg_per_delivery=4.980 control_b_per_delivery=0.5 eager_tree=true \
             history_messages=1000 ref_verify_us=40.2 ref_seal_open_us=2.50 \
             cpu_verifies_per_delivery=2.50"
        );
    }

    #[test]
    fn unmeasured_figures_are_na_or_null() {
        let r = Report {
            latency: None,
            cpu: None,
            peak_rss: None,
            delivered: 0,
            reference: None,
            ..report()
        };
        let line = r.to_string();
        for k in [
            "p50_ms",
            "p99_ms",
            "max_ms",
            "cpu_us_per_delivery",
            "peak_rss_mb",
            "cpu_verifies_per_delivery",
            "ref_verify_us",
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
