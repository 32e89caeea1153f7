//! One small SQL trait, [`Sql`], with a SQLite and a PostgreSQL connection behind it.
//!
//! # Why rusqlite + postgres, not sqlx or diesel
//!
//! The index needs one writer thread with group commit, savepoints and a dozen statements. A
//! synchronous connection on that thread is the simplest correct shape:
//!
//! - **rusqlite** (0.40, `bundled`): the same SQLite everywhere, no system library; full
//!   control of `BEGIN IMMEDIATE`, `journal_mode=WAL`, `synchronous=FULL` and `busy_timeout`
//!   (the pitfalls sqlx users hit, sqlx#451, come from pools with deferred transactions).
//! - **postgres** (0.19, the blocking wrapper of tokio-postgres): a plain client for the same
//!   thread; no pool is needed behind one writer.
//! - sqlx would bring its own runtime integration, an Any driver with weaker typing and a
//!   thread per SQLite connection; diesel brings a query DSL and code generation. Both are
//!   heavier to build on a 2-core machine for a dozen hand-written statements.
//!
//! The queries are written once (in [`crate::index::store`]) with `$1`-style placeholders;
//! the SQLite connection rewrites them to `?1`. Values are only integers, text and blobs
//! (the schema has no NULL columns), so the mapping is exact on both sides.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// Which database is behind a connection: the schema's few type names differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Embedded SQLite.
    Sqlite,
    /// PostgreSQL server.
    Postgres,
}

/// One SQL value: the schema uses nothing else.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// BIGINT / INTEGER.
    Int(i64),
    /// TEXT.
    Text(String),
    /// BLOB / BYTEA.
    Blob(Vec<u8>),
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Int(i) => write!(f, "Int({i})"),
            Self::Text(t) => write!(f, "Text({t:?})"),
            Self::Blob(b) => write!(f, "Blob({} bytes)", b.len()),
        }
    }
}

impl Value {
    /// The integer, or 0 for another type.
    pub fn int(&self) -> i64 {
        match self {
            Self::Int(i) => *i,
            _ => 0,
        }
    }

    /// The text, or "" for another type.
    pub fn text(&self) -> &str {
        match self {
            Self::Text(t) => t,
            _ => "",
        }
    }

    /// The bytes, or empty for another type.
    pub fn blob(&self) -> &[u8] {
        match self {
            Self::Blob(b) => b,
            _ => &[],
        }
    }
}

/// One result row.
pub type Row = Vec<Value>;

/// A database error: its text, and whether it was a unique-constraint violation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("database: {message}")]
pub struct SqlError {
    /// The driver's message.
    pub message: String,
    /// True for a unique-constraint violation.
    pub unique: bool,
}

impl SqlError {
    /// An error with a message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            unique: false,
        }
    }
}

/// One connection. Statements use `$1`, `$2`… placeholders. Connections are blocking: use
/// them on a plain thread (the writer, a CLI), never on an async task (the PostgreSQL client
/// drives its own runtime and panics inside another).
pub trait Sql: Send {
    /// The database kind.
    fn dialect(&self) -> Dialect;
    /// Runs statements without parameters (DDL, savepoints, COMMIT).
    fn batch(&mut self, sql: &str) -> Result<(), SqlError>;
    /// Runs one statement; returns the rows changed.
    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError>;
    /// Runs one query; returns every row.
    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError>;
    /// Starts a write transaction (`BEGIN IMMEDIATE` on SQLite: the write lock is taken now,
    /// not at the first write, so a busy database fails here and not halfway).
    fn begin(&mut self) -> Result<(), SqlError>;
}

/// Opens `database`: a `postgres://` or `postgresql://` URL, else the SQLite file
/// `index.sqlite3` in `data_dir`.
pub fn open(database: Option<&str>, data_dir: &Path) -> Result<Box<dyn Sql>, SqlError> {
    match database {
        Some(url) if url.starts_with("postgres://") || url.starts_with("postgresql://") => {
            Ok(Box::new(Postgres::connect(url)?))
        }
        Some(other) => Err(SqlError::new(format!(
            "unsupported database URL (postgres://… only): {}",
            other.split(':').next().unwrap_or("")
        ))),
        None => Ok(Box::new(Sqlite::open(&data_dir.join("index.sqlite3"))?)),
    }
}

/// An embedded SQLite database in WAL mode with `synchronous=FULL`.
pub struct Sqlite {
    conn: rusqlite::Connection,
}

impl fmt::Debug for Sqlite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Sqlite(..)")
    }
}

impl Sqlite {
    /// Opens (creating) the file and sets WAL, `synchronous=FULL`, a 5 s busy timeout and
    /// foreign keys.
    pub fn open(path: &Path) -> Result<Self, SqlError> {
        let conn = rusqlite::Connection::open(path).map_err(lite_err)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(lite_err)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;",
        )
        .map_err(lite_err)?;
        Ok(Self { conn })
    }
}

fn lite_err(e: rusqlite::Error) -> SqlError {
    let unique = matches!(&e, rusqlite::Error::SqliteFailure(f, _)
        if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
            || f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
    SqlError {
        message: e.to_string(),
        unique,
    }
}

/// `$1` → `?1`: SQLite's numbered placeholders.
fn lite_sql(sql: &str) -> String {
    sql.replace('$', "?")
}

fn lite_params(params: &[Value]) -> Vec<rusqlite::types::Value> {
    params
        .iter()
        .map(|v| match v {
            Value::Int(i) => rusqlite::types::Value::Integer(*i),
            Value::Text(t) => rusqlite::types::Value::Text(t.clone()),
            Value::Blob(b) => rusqlite::types::Value::Blob(b.clone()),
        })
        .collect()
}

fn lite_value(v: rusqlite::types::Value) -> Value {
    use rusqlite::types::Value as V;
    match v {
        V::Integer(i) => Value::Int(i),
        V::Text(t) => Value::Text(t),
        V::Blob(b) => Value::Blob(b),
        V::Real(r) => Value::Int(r as i64),
        V::Null => Value::Int(0),
    }
}

impl Sql for Sqlite {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        // One statement (BEGIN, SAVEPOINT, RELEASE, COMMIT: several per request in the
        // writer) runs from the statement cache instead of being parsed every time.
        if !sql.contains(';') {
            let mut stmt = self.conn.prepare_cached(sql).map_err(lite_err)?;
            return stmt.raw_execute().map(|_| ()).map_err(lite_err);
        }
        self.conn.execute_batch(sql).map_err(lite_err)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let mut stmt = self.conn.prepare_cached(&lite_sql(sql)).map_err(lite_err)?;
        let n = stmt
            .execute(rusqlite::params_from_iter(lite_params(params)))
            .map_err(lite_err)?;
        Ok(n as u64)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let mut stmt = self.conn.prepare_cached(&lite_sql(sql)).map_err(lite_err)?;
        let width = stmt.column_count();
        let mut rows = stmt
            .query(rusqlite::params_from_iter(lite_params(params)))
            .map_err(lite_err)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(lite_err)? {
            let mut values = Vec::with_capacity(width);
            for i in 0..width {
                values.push(lite_value(row.get(i).map_err(lite_err)?));
            }
            out.push(values);
        }
        Ok(out)
    }

    fn begin(&mut self) -> Result<(), SqlError> {
        self.batch("BEGIN IMMEDIATE")
    }
}

/// A PostgreSQL connection (commits are durable with the server's default
/// `synchronous_commit = on`).
pub struct Postgres {
    client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl fmt::Debug for Postgres {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Postgres(..)")
    }
}

impl Postgres {
    /// Connects (no TLS: run it on localhost or a trusted network, or tunnel it).
    pub fn connect(url: &str) -> Result<Self, SqlError> {
        let client = postgres::Client::connect(url, postgres::NoTls).map_err(pg_err)?;
        Ok(Self {
            client,
            statements: HashMap::new(),
        })
    }

    fn statement(&mut self, sql: &str) -> Result<postgres::Statement, SqlError> {
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).map_err(pg_err)?;
        if self.statements.len() < 256 {
            self.statements.insert(sql.to_owned(), s.clone());
        }
        Ok(s)
    }
}

fn pg_err(e: postgres::Error) -> SqlError {
    let unique = e.code() == Some(&postgres::error::SqlState::UNIQUE_VIOLATION);
    let message = match e.as_db_error() {
        Some(db) => format!("{}: {}", db.code().code(), db.message()),
        None => e.to_string(),
    };
    SqlError { message, unique }
}

type PgParam = Box<dyn postgres::types::ToSql + Sync>;

fn pg_params(params: &[Value]) -> Vec<PgParam> {
    params
        .iter()
        .map(|v| -> PgParam {
            match v {
                Value::Int(i) => Box::new(*i),
                Value::Text(t) => Box::new(t.clone()),
                Value::Blob(b) => Box::new(b.clone()),
            }
        })
        .collect()
}

fn pg_row(row: &postgres::Row) -> Result<Row, SqlError> {
    use postgres::types::Type;
    let mut out = Vec::with_capacity(row.len());
    for (i, col) in row.columns().iter().enumerate() {
        let t = col.type_();
        let v = if *t == Type::INT8 {
            Value::Int(row.try_get::<_, i64>(i).map_err(pg_err)?)
        } else if *t == Type::INT4 {
            Value::Int(i64::from(row.try_get::<_, i32>(i).map_err(pg_err)?))
        } else if *t == Type::BYTEA {
            Value::Blob(row.try_get::<_, Vec<u8>>(i).map_err(pg_err)?)
        } else {
            Value::Text(row.try_get::<_, String>(i).map_err(pg_err)?)
        };
        out.push(v);
    }
    Ok(out)
}

impl Sql for Postgres {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    fn batch(&mut self, sql: &str) -> Result<(), SqlError> {
        self.client.batch_execute(sql).map_err(pg_err)
    }

    fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlError> {
        let stmt = self.statement(sql)?;
        let owned = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            owned.iter().map(|b| b.as_ref()).collect();
        self.client.execute(&stmt, &refs).map_err(pg_err)
    }

    fn query(&mut self, sql: &str, params: &[Value]) -> Result<Vec<Row>, SqlError> {
        let stmt = self.statement(sql)?;
        let owned = pg_params(params);
        let refs: Vec<&(dyn postgres::types::ToSql + Sync)> =
            owned.iter().map(|b| b.as_ref()).collect();
        let rows = self.client.query(&stmt, &refs).map_err(pg_err)?;
        rows.iter().map(pg_row).collect()
    }

    fn begin(&mut self) -> Result<(), SqlError> {
        self.batch("BEGIN")
    }
}
