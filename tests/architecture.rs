//! Enforces the sans-IO rule (ARCHITECTURE.md §2): the protocol layers use no tokio, no
//! database, no sockets, no clock and no thread RNG. Time and randomness are inputs.

use std::fs;
use std::path::{Path, PathBuf};

/// Paths that must stay free of IO, clocks and ambient randomness.
const PROTOCOL_PATHS: &[&str] = &["src/wire", "src/crypto.rs", "src/crypto", "src/proto"];

/// Forbidden tokens and why.
const FORBIDDEN: &[(&str, &str)] = &[
    ("tokio", "async runtime"),
    ("redb", "database"),
    ("UdpSocket", "socket"),
    ("TcpStream", "socket"),
    ("TcpListener", "socket"),
    ("std::net::Udp", "socket"),
    ("Instant::now", "clock read"),
    ("SystemTime::now", "clock read"),
    ("thread_rng", "thread RNG"),
    ("rand::rng(", "thread RNG"),
    ("rand::random", "thread RNG"),
    ("OsRng", "OS RNG"),
    ("getrandom", "OS RNG"),
    ("std::fs", "file IO"),
];

/// Returns "file:line: token (why)" for every forbidden token outside comments. Unit tests
/// (everything from a file's `#[cfg(test)]` on) may take a fixed epoch from the clock, so the
/// scan stops there.
fn violations(name: &str, source: &str) -> Vec<String> {
    let mut out = Vec::new();
    let production = source.lines().take_while(|l| l.trim() != "#[cfg(test)]");
    for (i, line) in production.enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for (token, why) in FORBIDDEN {
            if code.contains(token) {
                out.push(format!("{name}:{}: {token} ({why})", i + 1));
            }
        }
    }
    out
}

fn rust_files(path: &Path, out: &mut Vec<PathBuf>) {
    if path.is_file() {
        let is_test_module = path.file_name().is_some_and(|n| n == "tests.rs");
        if path.extension().is_some_and(|e| e == "rs") && !is_test_module {
            out.push(path.to_path_buf());
        }
        return;
    }
    let Ok(entries) = fs::read_dir(path) else {
        return;
    };
    for entry in entries.flatten() {
        rust_files(&entry.path(), out);
    }
}

#[test]
fn protocol_layers_are_sans_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for p in PROTOCOL_PATHS {
        rust_files(&root.join(p), &mut files);
    }
    assert!(
        files.len() >= 8,
        "expected the wire and crypto sources, found {files:?}"
    );
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| violations(&f.display().to_string(), &fs::read_to_string(f).unwrap()))
        .collect();
    assert!(
        found.is_empty(),
        "sans-IO rule broken:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scanner_finds_what_it_should() {
    let bad = "use tokio::net::UdpSocket;\nlet t = std::time::Instant::now();\n";
    assert_eq!(violations("x.rs", bad).len(), 3);
    assert!(violations("x.rs", "// tokio is not used here\n").is_empty());
    let with_tests = "fn f() {}\n#[cfg(test)]\nmod tests { fn t() { Instant::now(); } }\n";
    assert!(
        violations("x.rs", with_tests).is_empty(),
        "unit tests may read a clock"
    );
}
