//! The config file end to end through `dhtchat id` (the one subcommand that reads it in this
//! branch; chat and node read it once the runtime calls `FileConfig::load`): `advertise` from
//! `dhtchat.toml` or `--config`, the flag over the file, and a bad file as one stderr line.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use dhtchat::proto::{Dialect, JoinString, Privacy};
use dhtchat::store::{GroupRecord, Store};
use zeroize::Zeroizing;

const BIN: &str = env!("CARGO_BIN_EXE_dhtchat");

/// A data dir with one stored group and no recorded address.
fn data_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let rec = GroupRecord {
        id: GroupRecord::NEW,
        label: "lobby".into(),
        dialect: Dialect::Secure,
        privacy: Privacy::Public,
        chat_id: Some([0x11; 32]),
        identity_seed: Zeroizing::new([0xA7; 32]),
        nick: String::new(),
        join: String::new(),
        peers: Vec::new(),
        created_by_us: false,
    };
    store.put_group(&rec).unwrap();
    dir
}

fn id(dir: &Path, extra: &[&str]) -> Output {
    Command::new(BIN)
        .args(["id", "--data-dir"])
        .arg(dir)
        .args(extra)
        .stdin(Stdio::null())
        .output()
        .expect("run dhtchat id")
}

fn join_addr(out: &Output) -> String {
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("join "))
        .expect("a join line");
    let join: JoinString = line.trim().parse().expect("it parses");
    join.contact.addr.to_string()
}

#[test]
fn id_takes_advertise_from_the_config_file_and_the_flag_wins() {
    let dir = data_dir();
    std::fs::write(
        dir.path().join("dhtchat.toml"),
        "advertise = \"192.0.2.7:4444\"\n",
    )
    .unwrap();
    let out = id(dir.path(), &[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(advertise in the config file)"),
        "{out:?}"
    );
    assert_eq!(join_addr(&out), "192.0.2.7:4444");
    let out = id(dir.path(), &["--advertise", "192.0.2.8:5555"]);
    assert_eq!(join_addr(&out), "192.0.2.8:5555");

    let other = dir.path().join("elsewhere.toml");
    std::fs::write(&other, "advertise = \"[2001:db8::1]:6666\"\n").unwrap();
    let out = id(dir.path(), &["--config", other.to_str().unwrap()]);
    assert_eq!(join_addr(&out), "[2001:db8::1]:6666");
}

#[test]
fn a_bad_config_file_is_one_line_naming_file_line_and_key() {
    let dir = data_dir();
    let path = dir.path().join("dhtchat.toml");
    std::fs::write(&path, "# mine\nadvertize = \"192.0.2.7:1\"\n").unwrap();
    let out = id(dir.path(), &[]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let expected = format!(
        "dhtchat: config file {}, line 2, key advertize: unknown field `advertize`",
        path.display()
    );
    assert!(err.starts_with(&expected), "{err}");

    let out = id(dir.path(), &["--config", "/nonexistent/dhtchat.toml"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.starts_with("dhtchat: config file /nonexistent/dhtchat.toml: "),
        "{err}"
    );
}
