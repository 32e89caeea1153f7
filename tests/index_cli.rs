//! `dhtchat admin promote|demote` on a real SQLite index database: the only way to change a
//! privilege (PROTOCOL.md §8.7).

use std::process::Command;

use dhtchat::crypto::Identity;
use dhtchat::index::account::{self, KdfParams, Lists};
use dhtchat::index::sql::{self, Sql};
use dhtchat::index::store::{self, Limits, Op, Outcome};
use rand::SeedableRng;
use rand_chacha::ChaCha20Rng;

fn privilege(db: &mut dyn Sql) -> String {
    db.query("SELECT privilege FROM accounts WHERE name = 'alice'", &[])
        .unwrap()[0][0]
        .text()
        .to_owned()
}

fn admin(dir: &std::path::Path, action: &str, name: &str) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .args(["admin", action, name, "--data-dir"])
        .arg(dir)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn admin_promote_and_demote_change_the_local_database_only() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = sql::open(None, dir.path()).unwrap();
    store::migrate(db.as_mut()).unwrap();
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let (reg, _) = account::register(
        "alice",
        b"pw",
        &KdfParams::FLOOR,
        &Identity::from_seed(&[8; 32]),
        &Lists::default(),
        &mut rng,
    )
    .unwrap();
    db.begin().unwrap();
    let outcome = store::apply(
        db.as_mut(),
        &Op::Register(Box::new(reg)),
        &Limits::default(),
        0,
    )
    .unwrap();
    db.batch("COMMIT").unwrap();
    assert_eq!(outcome, Outcome::Done);
    assert_eq!(privilege(db.as_mut()), "normal");

    let (ok, stdout, _) = admin(dir.path(), "promote", "Alice");
    assert!(ok);
    assert_eq!(stdout.trim(), "alice is now admin");
    assert_eq!(privilege(db.as_mut()), "admin");
    let (ok, stdout, _) = admin(dir.path(), "demote", "alice");
    assert!(ok);
    assert_eq!(stdout.trim(), "alice is now normal");
    assert_eq!(privilege(db.as_mut()), "normal");
    let (ok, _, stderr) = admin(dir.path(), "promote", "nobody");
    assert!(!ok);
    assert!(stderr.contains("no account named nobody"), "{stderr}");
    let empty = tempfile::tempdir().unwrap();
    let (ok, _, stderr) = admin(empty.path(), "promote", "alice");
    assert!(!ok);
    assert!(stderr.contains("no index database"), "{stderr}");
}

/// `dhtchat index` with a PostgreSQL URL: a password on the command line gets a warning
/// (`ps` shows it); `DHTCHAT_DATABASE` and `--database-file` are read instead of `--data-dir`.
/// Nothing listens on port 9 of loopback, so each start fails after reading the URL.
#[test]
fn the_database_url_can_stay_out_of_ps() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
        cmd.arg("index")
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("DHTCHAT_DATABASE");
        if let Some(url) = env {
            cmd.env("DHTCHAT_DATABASE", url);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let url = "postgres://u:hunter2@127.0.0.1:9/idx";
    let e = run(&["--database", url], None);
    assert!(e.contains("warning: --database holds a password"), "{e}");
    assert!(e.contains("DHTCHAT_DATABASE"), "{e}");
    let e = run(&["--database", "postgres://u@127.0.0.1:9/idx"], None);
    assert!(!e.contains("warning"), "{e}");

    // From the environment: no --data-dir needed, no warning, PostgreSQL is tried.
    let e = run(&[], Some(url));
    assert!(!e.contains("warning"), "{e}");
    assert!(!e.contains("--data-dir is required"), "{e}");
    assert!(e.contains("cannot start the index"), "{e}");

    // From a file.
    let file = dir.path().join("url");
    std::fs::write(&file, format!("{url}\n")).unwrap();
    let e = run(&["--database-file", file.to_str().unwrap()], None);
    assert!(!e.contains("warning"), "{e}");
    assert!(e.contains("cannot start the index"), "{e}");
    let e = run(&["--database-file", "/nonexistent/url"], None);
    assert!(e.contains("cannot read --database-file"), "{e}");

    // Neither: SQLite needs its directory.
    let e = run(&[], None);
    assert!(e.contains("--data-dir is required"), "{e}");
}

/// Accounts stored before schema 4 have no member key; the index computes it at start
/// (`store::fill_member_keys`) so their room chat is stored as theirs (PROTOCOL.md §8.11).
#[test]
fn member_keys_of_older_accounts_are_filled_in() {
    let dir = tempfile::tempdir().unwrap();
    let mut db = sql::open(None, dir.path()).unwrap();
    store::migrate(db.as_mut()).unwrap();
    let identity = Identity::from_seed(&[8; 32]);
    let mut rng = ChaCha20Rng::from_seed([8; 32]);
    let (reg, _) = account::register(
        "alice",
        b"pw",
        &KdfParams::FLOOR,
        &identity,
        &Lists::default(),
        &mut rng,
    )
    .unwrap();
    db.begin().unwrap();
    store::apply(
        db.as_mut(),
        &Op::Register(Box::new(reg)),
        &Limits::default(),
        0,
    )
    .unwrap();
    db.batch("COMMIT").unwrap();
    let key = |db: &mut dyn Sql| {
        db.query("SELECT member_key FROM accounts", &[]).unwrap()[0][0]
            .blob()
            .to_vec()
    };
    assert_eq!(key(db.as_mut()), identity.public_key().0.to_vec());
    // As a row written before migration 4 looks.
    db.batch("UPDATE accounts SET member_key = x''").unwrap();
    assert_eq!(store::fill_member_keys(db.as_mut()).unwrap(), 1);
    assert_eq!(key(db.as_mut()), identity.public_key().0.to_vec());
    assert_eq!(store::fill_member_keys(db.as_mut()).unwrap(), 0);
}

/// The database URL from the config file (issue #13 item 1, docs/config.md): `database` or
/// `database_file` in `dhtchat.toml` of `--data-dir` or in `--config PATH`; a password in a
/// file others can read gets a warning, both keys at once are an error, and the flags and
/// `DHTCHAT_DATABASE` win over the file. Nothing listens on port 9 of loopback, so a start
/// that got a PostgreSQL URL fails with "cannot start the index".
#[cfg(unix)]
#[test]
fn the_database_url_can_come_from_the_config_file() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: Option<&str>| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_dhtchat"));
        cmd.arg("index")
            .args(["--bind", "127.0.0.1:0"])
            .args(args)
            .env_remove("DHTCHAT_DATABASE");
        if let Some(url) = env {
            cmd.env("DHTCHAT_DATABASE", url);
        }
        let out = cmd.output().unwrap();
        assert!(!out.status.success(), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let config = dir.path().join("index.toml");
    let config_arg = config.to_str().unwrap().to_owned();
    let write = |text: &str, mode: u32| {
        std::fs::write(&config, text).unwrap();
        std::fs::set_permissions(&config, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    let url = "postgres://u:hunter2@127.0.0.1:9/idx";

    // `database` in --config, readable by others: PostgreSQL is tried, with a warning.
    write(&format!("database = \"{url}\"\n"), 0o644);
    let e = run(&["--config", &config_arg], None);
    assert!(e.contains("cannot start the index"), "{e}");
    assert!(
        e.contains("holds a database password and other users can read it"),
        "{e}"
    );
    // Mode 600: no warning.
    write(&format!("database = \"{url}\"\n"), 0o600);
    let e = run(&["--config", &config_arg], None);
    assert!(
        e.contains("cannot start the index") && !e.contains("warning"),
        "{e}"
    );

    // `database_file`, relative to the config file's directory.
    std::fs::write(dir.path().join("db.url"), format!("{url}\n")).unwrap();
    write("database_file = \"db.url\"\n", 0o644);
    let e = run(&["--config", &config_arg], None);
    assert!(
        e.contains("cannot start the index") && !e.contains("warning"),
        "{e}"
    );
    write("database_file = \"missing.url\"\n", 0o644);
    let e = run(&["--config", &config_arg], None);
    assert!(e.contains("cannot read database_file"), "{e}");
    // The environment wins over the file: its bad database_file is never read.
    let e = run(&["--config", &config_arg], Some(url));
    assert!(
        e.contains("cannot start the index") && !e.contains("missing.url"),
        "{e}"
    );
    // So does --database-file.
    let flag_file = dir.path().join("db.url");
    let e = run(
        &[
            "--config",
            &config_arg,
            "--database-file",
            flag_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        e.contains("cannot start the index") && !e.contains("missing.url"),
        "{e}"
    );

    // Both keys: one error naming the file.
    write(
        &format!("database = \"{url}\"\ndatabase_file = \"db.url\"\n"),
        0o600,
    );
    let e = run(&["--config", &config_arg], None);
    assert!(
        e.contains("give database or database_file, not both"),
        "{e}"
    );

    // dhtchat.toml in --data-dir is read too; an empty URL is refused by the parser.
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("dhtchat.toml"), "database = \"\"\n").unwrap();
    let e = run(&["--data-dir", data.path().to_str().unwrap()], None);
    assert!(
        e.contains("line 1, key database: a database URL is one"),
        "{e}"
    );

    // `dhtchat admin` reads the same key.
    write(&format!("database = \"{url}\"\n"), 0o600);
    let out = Command::new(env!("CARGO_BIN_EXE_dhtchat"))
        .args(["admin", "promote", "alice", "--config", &config_arg])
        .env_remove("DHTCHAT_DATABASE")
        .output()
        .unwrap();
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("cannot open the database"),
        "{e}"
    );
}
