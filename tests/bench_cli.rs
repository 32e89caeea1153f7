//! `dhtchat bench` as a person runs it: the built binary on loopback UDP.
//!
//! - a tiny run (5 nodes, 20 msg/s, 2 s) ends with one `BENCH` line on stdout that has every
//!   documented field, parseable, with at least 99 % delivered; `--json` gives the same as
//!   one JSON object;
//! - bad arguments give a one-line error on stderr and a non-zero exit, without a panic and
//!   without starting any node.
//!
//! Each run is bounded: the binary is killed if it has not finished within [`LIMIT`].

use std::collections::HashMap;
use std::io::Read;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

/// Longest a bench run in this file may take.
const LIMIT: Duration = Duration::from_secs(60);

/// The BENCH line's keys, in order.
const KEYS: [&str; 35] = [
    "nodes",
    "publishers",
    "rate",
    "size",
    "duration_s",
    "sent",
    "delivery_ratio",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
    "delivered_per_s",
    "cpu_us_per_delivery",
    "peak_rss_mb",
    "expected",
    "delivered",
    "duplicates",
    "send_failures",
    "datagrams_per_delivery",
    "max_send_lag_ms",
    "converged",
    "seed",
    "eager_dg_per_delivery",
    "eager_b_per_delivery",
    "lazy_dg_per_delivery",
    "lazy_b_per_delivery",
    "repair_dg_per_delivery",
    "repair_b_per_delivery",
    "control_dg_per_delivery",
    "control_b_per_delivery",
    "eager_tree",
    "history_messages",
    "ref_verify_us",
    "ref_seal_open_us",
    "cpu_verifies_per_delivery",
];

/// Runs `dhtchat bench <args>`; kills it after [`LIMIT`].
fn bench(args: &[&str]) -> Output {
    let child = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .arg("bench")
        .args(args)
        .env_remove("RUST_BACKTRACE")
        .env_remove("RUST_LIB_BACKTRACE")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the dhtchat binary starts");
    wait_bounded(child)
}

fn wait_bounded(mut child: Child) -> Output {
    let mut waited = Duration::ZERO;
    let step = Duration::from_millis(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if waited >= LIMIT {
            child.kill().expect("kill");
            panic!("dhtchat bench did not finish within {LIMIT:?}");
        }
        std::thread::sleep(step);
        waited += step;
    };
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_end(&mut stdout)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_end(&mut stderr)
        .unwrap();
    Output {
        status,
        stdout,
        stderr,
    }
}

/// The `key=value` fields of a BENCH line, checking their order.
fn parse(line: &str) -> HashMap<String, String> {
    let mut words = line.split(' ');
    assert_eq!(words.next(), Some("BENCH"), "{line}");
    let fields: Vec<(String, String)> = words
        .map(|w| {
            let (k, v) = w.split_once('=').unwrap_or_else(|| panic!("{w} in {line}"));
            (k.to_owned(), v.to_owned())
        })
        .collect();
    let keys: Vec<&str> = fields.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, KEYS, "{line}");
    fields.into_iter().collect()
}

fn number(fields: &HashMap<String, String>, key: &str) -> f64 {
    fields[key]
        .parse()
        .unwrap_or_else(|_| panic!("{key}={} is not a number", fields[key]))
}

#[test]
fn a_tiny_run_ends_with_a_complete_bench_line() {
    let args = [
        "--nodes",
        "5",
        "--rate",
        "20",
        "--duration",
        "2",
        "--publishers",
        "3",
        "--warmup",
        "0",
        "--seed",
        "5",
        "--history-messages",
        "50",
    ];
    let out = bench(&args);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "stdout holds only the result: {stdout}");
    let f = parse(lines[0]);
    for (key, want) in [
        ("nodes", 5.0),
        ("publishers", 3.0),
        ("rate", 20.0),
        ("size", 200.0),
        ("duration_s", 2.0),
        ("sent", 40.0),
        ("expected", 160.0),
        ("seed", 5.0),
        ("history_messages", 50.0),
    ] {
        assert_eq!(number(&f, key), want, "{key}: {stdout}");
    }
    assert!(number(&f, "delivery_ratio") >= 0.99, "{stdout}\n{stderr}");
    let (p50, p90, p99, max) = (
        number(&f, "p50_ms"),
        number(&f, "p90_ms"),
        number(&f, "p99_ms"),
        number(&f, "max_ms"),
    );
    assert!(
        0.0 < p50 && p50 <= p90 && p90 <= p99 && p99 <= max,
        "{stdout}"
    );
    assert!(number(&f, "delivered_per_s") > 0.0);
    assert!(number(&f, "datagrams_per_delivery") > 0.0);
    // Most deliveries took an eager copy, and the kinds add up to the total.
    assert!(number(&f, "eager_dg_per_delivery") > 0.5);
    let kinds: f64 = ["eager", "lazy", "repair", "control"]
        .iter()
        .map(|k| number(&f, &format!("{k}_dg_per_delivery")))
        .sum();
    let total = number(&f, "datagrams_per_delivery");
    assert!((kinds - total).abs() < 0.02, "{kinds} vs {total}");
    if std::path::Path::new("/proc/self/stat").exists() {
        assert!(number(&f, "cpu_us_per_delivery") > 0.0, "{stdout}");
        assert!(number(&f, "peak_rss_mb") > 0.0, "{stdout}");
        // CPU in signature checks: the CPU figure over the machine's own check time.
        let (cpu, verify) = (
            number(&f, "cpu_us_per_delivery"),
            number(&f, "ref_verify_us"),
        );
        let in_checks = number(&f, "cpu_verifies_per_delivery");
        assert!(
            (in_checks - cpu / verify).abs() < 0.01 + 0.01 * in_checks,
            "{stdout}"
        );
    }
    assert!(number(&f, "ref_seal_open_us") > 0.0, "{stdout}");
    assert_eq!(f["converged"], "true");
    assert!(stderr.contains("publishing 20 msg/s of 200 B from 3 publishers for 2 s"));

    let json = bench(&[&args[..], &["--json"]].concat());
    let text = String::from_utf8(json.stdout).unwrap();
    assert!(json.status.success(), "{text}");
    let text = text.trim_end();
    assert!(text.starts_with("{\"nodes\":5,") && text.contains(",\"seed\":5,"));
    assert!(text.contains(",\"control_b_per_delivery\":") && text.ends_with('}'));
    assert!(!text.contains('\n') && text.contains("\"delivery_ratio\":"));
}

#[test]
fn bad_arguments_give_a_one_line_error() {
    for (args, says) in [
        (&["--size", "100000"][..], "--size must be 8..=785"),
        (&["--size", "7"][..], "--size must be 8..=785"),
        (&["--publishers", "0"][..], "--publishers must be 1..=nodes"),
        (
            &["--nodes", "4", "--publishers", "5"][..],
            "--publishers must be 1..=nodes (1..=4), got 5",
        ),
        (&["--nodes", "1"][..], "--nodes must be 2..=2000"),
        (&["--rate", "0"][..], "--rate must be"),
        (&["--duration", "0"][..], "--duration must be"),
    ] {
        let out = bench(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(out.stdout.is_empty(), "{args:?}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{args:?}: {stderr}");
        assert!(lines[0].starts_with("dhtchat: "), "{args:?}: {stderr}");
        assert!(lines[0].contains(says), "{args:?}: {stderr}");
    }
}
