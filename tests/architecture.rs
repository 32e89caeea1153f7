//! Enforces the layout rules of ARCHITECTURE.md §2:
//!
//! - sans-IO: the protocol layers use no tokio, no database, no sockets, no clock and no
//!   thread RNG (time and randomness are inputs);
//! - layering: imports run `cli` → `app` → `net`/`store` → `proto`/`wire`, never back, and the
//!   front ends (`cli::chat` with its terminal view, `cli::node`) import nothing from each
//!   other;
//! - the driver is reached through typed commands only (no closure escape hatch).

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

/// The layers below the front ends and what they must not import: `cli` → `app` →
/// `net`/`store`/`proto`, never back (ARCHITECTURE.md §2).
const LAYERS: &[(&str, &[&str])] = &[
    ("src/app", &["crate::cli", "dhtchat::cli"]),
    ("src/net", &["crate::cli", "crate::app"]),
    ("src/store", &["crate::cli", "crate::app", "crate::net"]),
    (
        "src/proto",
        &["crate::cli", "crate::app", "crate::net", "crate::store"],
    ),
    (
        "src/wire",
        &["crate::cli", "crate::app", "crate::net", "crate::store"],
    ),
];

/// Front ends that must not import each other: each path and the modules it must not name.
const FRONT_ENDS: &[(&str, &[&str])] = &[
    ("src/cli/node.rs", &["cli::chat", "cli::tui", "chat::"]),
    ("src/cli/chat.rs", &["cli::node"]),
    ("src/cli/chat", &["cli::node"]),
    ("src/cli/tui", &["cli::node", "cli::chat"]),
];

/// Returns "file:line: path" for every use of a forbidden module path outside comments.
fn imports_of(name: &str, source: &str, banned: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for (i, line) in source.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for path in banned {
            if code.contains(path) {
                out.push(format!("{name}:{}: {path}", i + 1));
            }
        }
    }
    out
}

fn scan(rules: &[(&str, &[&str])]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for (path, banned) in rules {
        let mut files = Vec::new();
        rust_files(&root.join(path), &mut files);
        assert!(!files.is_empty(), "no sources under {path}");
        for f in files {
            let source = fs::read_to_string(&f).unwrap();
            found.extend(imports_of(&f.display().to_string(), &source, banned));
        }
    }
    found
}

#[test]
fn imports_run_from_cli_to_app_to_net_and_store_never_back() {
    let found = scan(LAYERS);
    assert!(found.is_empty(), "layering broken:\n{}", found.join("\n"));
}

#[test]
fn front_ends_import_nothing_from_each_other() {
    let found = scan(FRONT_ENDS);
    assert!(
        found.is_empty(),
        "a front end imports another:\n{}",
        found.join("\n")
    );
}

#[test]
fn no_closure_escape_hatch_into_the_driver() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    rust_files(&root.join("src"), &mut files);
    let banned = ["Command::Call", "fn call", "NodeCall"];
    let found: Vec<String> = files
        .iter()
        .flat_map(|f| {
            imports_of(
                &f.display().to_string(),
                &fs::read_to_string(f).unwrap(),
                &banned,
            )
        })
        .collect();
    assert!(
        found.is_empty(),
        "untyped driver calls:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_import_scanner_ignores_comments() {
    let src = "use crate::cli::x; // crate::app\n// use crate::cli::y;\n";
    assert_eq!(imports_of("f.rs", src, &["crate::cli"]).len(), 1);
    assert_eq!(imports_of("f.rs", src, &["crate::app"]).len(), 0);
}
