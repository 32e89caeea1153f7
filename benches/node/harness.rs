//! The timing side of `benches/node.rs`: a [`Case`] is one benchmarked path; it runs under
//! criterion, in the paired mode (`NODE_BENCH_PAIRED=1`: candidate against baseline in
//! alternating short blocks) or alone (`NODE_BENCH_RUN=<group>/<name>:<n>`, for cachegrind).

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::Criterion;

/// Times `n` calls of `f`.
#[allow(
    clippy::disallowed_methods,
    reason = "a benchmark reads the wall clock"
)]
pub(crate) fn timed(n: u64, mut f: impl FnMut()) -> Duration {
    let t = Instant::now();
    for _ in 0..n {
        f();
    }
    t.elapsed()
}

/// One benchmarked path: `run(n)` does `n` packets and returns the time they took.
pub(crate) struct Case {
    pub(crate) group: &'static str,
    pub(crate) name: &'static str,
    pub(crate) run: Box<dyn FnMut(u64) -> Duration>,
}

impl Case {
    pub(crate) fn new(
        group: &'static str,
        name: &'static str,
        run: impl FnMut(u64) -> Duration + 'static,
    ) -> Self {
        Self {
            group,
            name,
            run: Box::new(run),
        }
    }
}

pub(crate) fn criterion_benches(c: &mut Criterion, cases: Vec<Case>) {
    let mut cases = cases.into_iter().peekable();
    while let Some(first) = cases.next() {
        let mut g = c.benchmark_group(first.group);
        let mut run = |mut case: Case| {
            g.bench_function(case.name, |b| b.iter_custom(&mut case.run));
        };
        let group = first.group;
        run(first);
        while let Some(case) = cases.next_if(|c| c.group == group) {
            run(case);
        }
        g.finish();
    }
}

/// Length of one timed block in the paired mode: short, so that on a loaded machine most
/// blocks run without being preempted (a preempted block spoils only its own round).
fn block() -> Duration {
    let us = std::env::var("NODE_BENCH_BLOCK_US")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(500);
    Duration::from_micros(us)
}

/// Times `base` and `cand` in alternating blocks of about [`block`]; returns the median
/// per-packet nanoseconds of each and the quartiles of the per-round ratios `cand / base`.
fn paired(
    base: &mut dyn FnMut(u64) -> Duration,
    cand: &mut dyn FnMut(u64) -> Duration,
    rounds: usize,
) -> (f64, f64, [f64; 3]) {
    let block = block();
    let per_packet = |f: &mut dyn FnMut(u64) -> Duration, n: u64| f(n).as_nanos() as f64 / n as f64;
    let iters = |f: &mut dyn FnMut(u64) -> Duration| {
        per_packet(f, 8);
        // The fastest of a few estimates: a preempted one would make the blocks too short.
        let est = (0..5)
            .map(|_| per_packet(f, 16))
            .fold(f64::INFINITY, f64::min)
            .max(1.0);
        ((block.as_nanos() as f64 / est) as u64).max(1)
    };
    let (nb, nc) = (iters(base), iters(cand));
    let (mut tb, mut tc, mut ratio) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let (b, c) = (per_packet(base, nb), per_packet(cand, nc));
        tb.push(b);
        tc.push(c);
        ratio.push(c / b);
    }
    let sorted = |v: &mut Vec<f64>| v.sort_by(f64::total_cmp);
    sorted(&mut tb);
    sorted(&mut tc);
    sorted(&mut ratio);
    let q = |v: &[f64], num: usize| v[v.len() * num / 4];
    let quartiles = [q(&ratio, 1), q(&ratio, 2), q(&ratio, 3)];
    (q(&tb, 2), q(&tc, 2), quartiles)
}

pub(crate) fn paired_report(mut cases: Vec<Case>) {
    println!(
        "| group | baseline | candidate | baseline ns | candidate ns | ratio | ratio p25–p75 |"
    );
    println!("|---|---|---|---:|---:|---:|---|");
    while !cases.is_empty() {
        let mut base = cases.remove(0);
        let mut cand = cases.remove(0);
        assert_eq!(base.group, cand.group);
        let (nb, nc, [p25, r, p75]) = paired(&mut base.run, &mut cand.run, 1001);
        println!(
            "| {} | {} | {} | {nb:.0} | {nc:.0} | {r:.3} | {p25:.3}–{p75:.3} |",
            base.group, base.name, cand.name
        );
    }
}

/// `NODE_BENCH_RUN=<group>/<name>:<n>` runs one path `n` times and nothing else, for an
/// instruction count (`valgrind --tool=cachegrind`) that load does not affect: the count per
/// packet is the difference between two values of `n`, divided by their difference.
pub(crate) fn run_one(cases: Vec<Case>, spec: &str) {
    let (path, n) = spec.rsplit_once(':').expect("<group>/<name>:<n>");
    let n: u64 = n.parse().expect("a number of packets");
    let mut case = cases
        .into_iter()
        .find(|c| format!("{}/{}", c.group, c.name) == path)
        .expect("a benchmark name, e.g. node/duplicate_chat200/handle_datagram");
    black_box((case.run)(n));
}
