//! The index's request logic, codecs and client-side key code are sans-IO (ARCHITECTURE.md
//! §2): no runtime, socket, database, clock or ambient randomness. The IO lives in
//! `src/index/{driver,writer,sql,client}.rs`.

use std::fs;
use std::path::Path;

const SANS_IO: &[&str] = &[
    "src/index/service/mod.rs",
    "src/index/service/requests.rs",
    "src/index/service/assembly.rs",
    "src/index/wire/mod.rs",
    "src/index/wire/request.rs",
    "src/index/wire/reply.rs",
    "src/index/account.rs",
    "src/index/names.rs",
    "src/index/limits.rs",
    "src/index/store/mod.rs",
    "src/index/store/rooms.rs",
];

const FORBIDDEN: &[&str] = &[
    "tokio",
    "UdpSocket",
    "std::net::Udp",
    "Instant::now",
    "SystemTime::now",
    "thread_rng",
    "OsRng",
    "getrandom",
    "os_seed",
    "std::fs",
    "rusqlite",
    "postgres::",
    "std::thread",
];

#[test]
fn index_core_is_sans_io() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut found = Vec::new();
    for file in SANS_IO {
        let source = fs::read_to_string(root.join(file)).expect(file);
        let production = source.lines().take_while(|l| l.trim() != "#[cfg(test)]");
        for (i, line) in production.enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for token in FORBIDDEN {
                if code.contains(token) {
                    found.push(format!("{file}:{}: {token}", i + 1));
                }
            }
        }
    }
    assert!(
        found.is_empty(),
        "sans-IO rule broken:\n{}",
        found.join("\n")
    );
}
