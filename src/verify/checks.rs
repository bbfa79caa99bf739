//! The checks `verify` runs on a restored database, each giving pass/fail with evidence:
//! every table read back and compared with what was loaded, sequence values, large
//! objects, the schema, and the user's own SQL assertions.

use std::collections::{BTreeMap, HashMap};

use futures::StreamExt;
use tokio_postgres::Client;

use super::digest::{LineDigester, LineSplitter, RowDigest};
use crate::config::AssertionConfig;
use crate::error::{Error, Result};
use crate::manifest::{DatabaseBackup, DatabaseProperties};
use crate::pool;
use crate::postgres::toc::{self, QualifiedName, TocEntry};
use crate::postgres::{quote_literal, ConnSpec, PgTool};
use crate::repository::records::CheckResult;
use crate::restore::Source;

fn result(kind: &str, name: impl Into<String>, passed: bool, evidence: String) -> CheckResult {
    CheckResult {
        kind: kind.into(),
        name: name.into(),
        passed,
        evidence,
    }
}

/// A check that could not run is a failed check, with the reason as its evidence.
pub fn could_not_run(kind: &str, name: &str, err: &Error) -> CheckResult {
    result(kind, name, false, format!("could not run: {err}"))
}

// ---------------------------------------------------------------------------------------
// Tables

/// A table of the backup: its parts' rows summed, and its COPY column list.
struct TableSpec {
    name: QualifiedName,
    columns: Vec<String>,
    rows: u64,
}

fn table_specs(db: &DatabaseBackup) -> Vec<TableSpec> {
    let mut out: Vec<TableSpec> = Vec::new();
    for t in &db.tables {
        let name = QualifiedName::new(&t.schema, &t.name);
        match out.iter_mut().find(|s| s.name == name) {
            Some(s) => s.rows += t.rows,
            None => out.push(TableSpec {
                name,
                columns: t.columns.clone(),
                rows: t.rows,
            }),
        }
    }
    out
}

/// Every table: the rows the backup recorded, the digest of the rows loaded (computed over
/// the verified plaintext as it went in) and the digest of the table read back with
/// `COPY … TO STDOUT` in the backup's session settings must agree.
pub async fn tables(
    conn: &ConnSpec,
    db: &DatabaseBackup,
    loaded: &HashMap<QualifiedName, RowDigest>,
    version_num: u32,
    jobs: usize,
) -> Result<Vec<CheckResult>> {
    let specs = table_specs(db);
    let settings = format!(
        "{} SET client_encoding = {};",
        crate::dump::reader_settings(version_num),
        quote_literal(&db.encoding)
    );
    let workers = (0..jobs.max(1))
        .map(|_| ReadBack {
            conn: conn.clone(),
            settings: settings.clone(),
            client: None,
        })
        .collect();
    let items = specs
        .iter()
        .map(|s| (s.name.clone(), s.columns.clone()))
        .collect();
    let read: HashMap<QualifiedName, RowDigest> = pool::run("read-back", workers, items)
        .await?
        .into_iter()
        .collect();
    Ok(specs
        .iter()
        .map(|s| {
            let name = format!("{}.{}", s.name.schema, s.name.name);
            let went_in = loaded.get(&s.name).copied().unwrap_or_default();
            let came_back = read.get(&s.name).copied().unwrap_or_default();
            let passed = went_in.rows == s.rows && came_back == went_in;
            let evidence = if passed {
                format!("{} (backup recorded {} rows)", came_back.display(), s.rows)
            } else {
                format!(
                    "backup recorded {} rows; loaded {}; read back {}",
                    s.rows,
                    went_in.display(),
                    came_back.display()
                )
            };
            result("table", name, passed, evidence)
        })
        .collect())
}

struct ReadBack {
    conn: ConnSpec,
    settings: String,
    client: Option<Client>,
}

impl pool::Worker for ReadBack {
    type Item = (QualifiedName, Vec<String>);
    type Output = (QualifiedName, RowDigest);

    async fn run(
        &mut self,
        (name, columns): Self::Item,
        _: &pool::Queue<Self::Item>,
    ) -> Result<Self::Output> {
        if self.client.is_none() {
            let c = self.conn.connect().await?;
            c.batch_execute(&self.settings)
                .await
                .map_err(|e| self.conn.error("cannot set up a read-back session", &e))?;
            self.client = Some(c);
        }
        let client = self
            .client
            .as_ref()
            .ok_or_else(|| Error::Restore("no connection".into()))?;
        let sql = if columns.is_empty() {
            format!("COPY {} TO STDOUT", name.quoted())
        } else {
            format!(
                "COPY {} ({}) TO STDOUT",
                name.quoted(),
                crate::dump::column_list(&columns)
            )
        };
        let what = format!("reading back {}.{}", name.schema, name.name);
        let stream = client
            .copy_out(sql.as_str())
            .await
            .map_err(|e| self.conn.error(&what, &e))?;
        futures::pin_mut!(stream);
        let mut digester = LineDigester::default();
        while let Some(chunk) = stream.next().await {
            digester.update(&chunk.map_err(|e| self.conn.error(&what, &e))?);
        }
        Ok((name, digester.finish()))
    }
}

// ---------------------------------------------------------------------------------------
// Sequences

/// `(sequence, last_value, is_called)` of each `SELECT pg_catalog.setval('…', n, b);` line.
pub fn parse_setvals(sql: &str) -> Vec<(String, String, bool)> {
    sql.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("SELECT pg_catalog.setval(")?;
            let (name, rest) = parse_literal(rest)?;
            let rest = rest.strip_prefix(", ")?;
            let (last, rest) = rest.split_once(", ")?;
            let called = rest.strip_suffix(");")?;
            Some((name, last.to_string(), called == "true"))
        })
        .collect()
}

/// A single-quoted SQL literal at the start of `text`, unescaped, and what follows it.
fn parse_literal(text: &str) -> Option<(String, &str)> {
    let body = text.strip_prefix('\'')?;
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '\'' {
            if chars.peek().map(|&(_, n)| n) == Some('\'') {
                chars.next();
                out.push('\'');
                continue;
            }
            return Some((out, &body[i + 1..]));
        }
        out.push(c);
    }
    None
}

pub async fn sequences(conn: &ConnSpec, sql: &str) -> Result<CheckResult> {
    let expected = parse_setvals(sql);
    let client = conn.connect().await?;
    let mut wrong = Vec::new();
    for (name, last, called) in &expected {
        let row = client
            .query_one(
                &format!("SELECT last_value::text, is_called FROM {name}"),
                &[],
            )
            .await;
        match row {
            Ok(r) => {
                let (got_last, got_called): (String, bool) = (r.get(0), r.get(1));
                if got_last != *last || got_called != *called {
                    wrong.push(format!(
                        "{name}: {got_last}/{got_called}, backup {last}/{called}"
                    ));
                }
            }
            Err(e) => wrong.push(format!("{name}: {}", crate::postgres::describe(&e))),
        }
    }
    let passed = wrong.is_empty();
    let evidence = if passed {
        format!("{} sequence values match the backup", expected.len())
    } else {
        format!(
            "{} of {} differ: {}",
            wrong.len(),
            expected.len(),
            first_few(&wrong)
        )
    };
    Ok(result("sequences", "sequence values", passed, evidence))
}

fn first_few(items: &[String]) -> String {
    let mut s = items
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join("; ");
    if items.len() > 10 {
        s.push_str(&format!("; and {} more", items.len() - 10));
    }
    s
}

// ---------------------------------------------------------------------------------------
// Large objects

/// Size and BLAKE3 of one large object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoDigest {
    pub size: u64,
    pub hash: [u8; 32],
}

/// Reads pg_dump's large-object data script (`lo_open` / `lowrite` / `lo_close` lines) as
/// it streams, keeping only each object's size and hash.
#[derive(Default)]
pub struct LoScriptReader {
    lines: LineSplitter,
    state: LoScript,
}

/// What the script's lines said so far.
#[derive(Default)]
pub struct LoScript {
    current: Option<(u32, u64, blake3::Hasher)>,
    pub objects: BTreeMap<u32, LoDigest>,
    pub problem: Option<String>,
}

impl LoScriptReader {
    pub fn update(&mut self, chunk: &[u8]) {
        let state = &mut self.state;
        self.lines.feed(chunk, |line| state.line(line));
    }

    /// What the whole script held (a last line without its newline included).
    pub fn finish(mut self) -> LoScript {
        if let Some(line) = self.lines.rest() {
            self.state.line(&line);
        }
        self.state
    }
}

impl LoScript {
    fn line(&mut self, line: &[u8]) {
        const OPEN: &[u8] = b"SELECT pg_catalog.lo_open('";
        const WRITE: &[u8] = b"SELECT pg_catalog.lowrite(0, '\\x";
        const CLOSE: &[u8] = b"SELECT pg_catalog.lo_close(0);";
        if let Some(rest) = line.strip_prefix(OPEN) {
            let oid = rest
                .iter()
                .position(|&b| b == b'\'')
                .and_then(|end| std::str::from_utf8(&rest[..end]).ok())
                .and_then(|s| s.parse::<u32>().ok());
            match oid {
                Some(oid) => self.current = Some((oid, 0, blake3::Hasher::new())),
                None => self.problem = Some("unreadable lo_open line".into()),
            }
        } else if let Some(rest) = line.strip_prefix(WRITE) {
            let hex = rest.strip_suffix(b"');").unwrap_or(rest);
            match (self.current.as_mut(), hex::decode(hex)) {
                (Some((_, size, hasher)), Ok(bytes)) => {
                    *size += bytes.len() as u64;
                    hasher.update(&bytes);
                }
                _ => self.problem = Some("unreadable lowrite line".into()),
            }
        } else if line == CLOSE {
            if let Some((oid, size, hasher)) = self.current.take() {
                self.objects.insert(
                    oid,
                    LoDigest {
                        size,
                        hash: *hasher.finalize().as_bytes(),
                    },
                );
            }
        }
    }
}

pub async fn large_objects(
    conn: &ConnSpec,
    source: &Source,
    db: &DatabaseBackup,
) -> Result<CheckResult> {
    // Expected: the backup's script, read (and verified) again, kept as digests only.
    let mut reader_of_script = LoScriptReader::default();
    let mut reader = source.open(&db.large_objects);
    while let Some(chunk) = reader.next().await? {
        reader_of_script.update(&chunk);
    }
    let script = reader_of_script.finish();
    if let Some(p) = script.problem {
        return Ok(result(
            "large-objects",
            "large objects",
            false,
            format!("the backup's large-object script is not as expected: {p}"),
        ));
    }
    let restored = restored_large_objects(conn).await?;
    let mut wrong = Vec::new();
    for (oid, want) in &script.objects {
        match restored.get(oid) {
            None => wrong.push(format!("{oid} missing")),
            Some(got) if got != want => wrong.push(format!(
                "{oid}: {} bytes, backup {} bytes{}",
                got.size,
                want.size,
                if got.size == want.size {
                    " (content differs)"
                } else {
                    ""
                }
            )),
            Some(_) => {}
        }
    }
    for oid in restored.keys() {
        if !script.objects.contains_key(oid) {
            wrong.push(format!("{oid} is not in the backup"));
        }
    }
    let bytes: u64 = script.objects.values().map(|d| d.size).sum();
    let passed = wrong.is_empty();
    let evidence = if passed {
        format!(
            "{} large objects, {bytes} bytes, each matches the backup (size and BLAKE3)",
            script.objects.len()
        )
    } else {
        format!(
            "{} problem(s) among {} large objects: {}",
            wrong.len(),
            script.objects.len(),
            first_few(&wrong)
        )
    };
    Ok(result("large-objects", "large objects", passed, evidence))
}

/// Every large object of the restored database, streamed page by page.
async fn restored_large_objects(conn: &ConnSpec) -> Result<BTreeMap<u32, LoDigest>> {
    let client = conn.connect().await?;
    let what = "reading back large objects";
    let mut out = BTreeMap::new();
    let ids = client
        .query("SELECT oid FROM pg_catalog.pg_largeobject_metadata", &[])
        .await
        .map_err(|e| conn.error(what, &e))?;
    let empty = LoDigest {
        size: 0,
        hash: *blake3::hash(b"").as_bytes(),
    };
    for r in ids {
        out.insert(r.get::<_, u32>(0), empty);
    }
    let rows = client
        .query_raw(
            "SELECT loid, data FROM pg_catalog.pg_largeobject ORDER BY loid, pageno",
            std::iter::empty::<i32>(),
        )
        .await
        .map_err(|e| conn.error(what, &e))?;
    futures::pin_mut!(rows);
    let mut current: Option<(u32, u64, blake3::Hasher)> = None;
    let mut finish = |c: Option<(u32, u64, blake3::Hasher)>| {
        if let Some((oid, size, h)) = c {
            out.insert(
                oid,
                LoDigest {
                    size,
                    hash: *h.finalize().as_bytes(),
                },
            );
        }
    };
    while let Some(row) = rows.next().await {
        let row = row.map_err(|e| conn.error(what, &e))?;
        let oid: u32 = row.get(0);
        let data: &[u8] = row.get(1);
        if current.as_ref().map(|c| c.0) != Some(oid) {
            finish(current.take());
            current = Some((oid, 0, blake3::Hasher::new()));
        }
        if let Some((_, size, h)) = current.as_mut() {
            *size += data.len() as u64;
            h.update(data);
        }
    }
    finish(current.take());
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// Schema

/// What the schema comparison leaves out, each with why: named in the evidence.
pub const SCHEMA_NORMALISATIONS: &str = "dump headers, session SET lines and \\restrict keys \
    ignored; entries compared by type, schema, name, owner and definition regardless of order \
    (a restored database has new OIDs, which break pg_dump's ties differently)";

type SchemaKey = (String, Option<String>, String);
type SchemaValue = (Option<String>, String);

fn schema_entries(sql: &str) -> BTreeMap<SchemaKey, Vec<SchemaValue>> {
    schema_entries_of(toc::split(sql).entries)
}

fn schema_entries_of(entries: Vec<TocEntry>) -> BTreeMap<SchemaKey, Vec<SchemaValue>> {
    let mut out: BTreeMap<SchemaKey, Vec<SchemaValue>> = BTreeMap::new();
    for e in entries {
        let body: Vec<&str> = e
            .sql
            .lines()
            .map(str::trim_end)
            .filter(|l| !l.is_empty())
            .collect();
        out.entry((
            e.kind.as_str().to_string(),
            e.schema.clone(),
            e.name.clone(),
        ))
        .or_default()
        .push((e.owner.clone(), body.join("\n")));
    }
    for v in out.values_mut() {
        v.sort();
    }
    out
}

/// Differences between the backup's schema and the restored database's, as readable lines.
pub fn compare_schema(expected_sql: &str, restored_sql: &str) -> (usize, Vec<String>) {
    let expected = schema_entries(expected_sql);
    let restored = schema_entries(restored_sql);
    let describe = |(kind, schema, name): &SchemaKey| match schema {
        Some(s) => format!("{kind} {s}.{name}"),
        None => format!("{kind} {name}"),
    };
    let mut diffs = Vec::new();
    for (key, want) in &expected {
        match restored.get(key) {
            None => diffs.push(format!("{} is missing", describe(key))),
            Some(got) if got != want => {
                let owner_differs = got.iter().map(|v| &v.0).ne(want.iter().map(|v| &v.0));
                diffs.push(format!(
                    "{} differs{}",
                    describe(key),
                    if owner_differs { " (owner)" } else { "" }
                ))
            }
            Some(_) => {}
        }
    }
    for key in restored.keys() {
        if !expected.contains_key(key) {
            diffs.push(format!("{} is not in the backup", describe(key)));
        }
    }
    (expected.values().map(Vec::len).sum(), diffs)
}

/// The restored database's pre-data and post-data sections, dumped as the backup dumped the
/// source's, against the backup's own. (`--schema-only` would leave out large objects'
/// owners, grants and comments, which the sections hold.) Definitions are compared only
/// when the same pg_dump major wrote both; across majors, the object lists with owners are.
pub async fn schema(
    conn: &ConnSpec,
    source: &Source,
    db: &DatabaseBackup,
    pg_dump: &PgTool,
) -> Result<CheckResult> {
    let mut expected = source.read_text(&db.pre_data).await?;
    expected.push_str(&source.read_text(&db.post_data).await?);
    let mut restored = dump_section(conn, pg_dump, "pre-data").await?;
    restored.push_str(&dump_section(conn, pg_dump, "post-data").await?);
    // Recorded as a major (15), or by older backups as a version number (150018).
    let backup_major = match db.pg_dump_version {
        v if v >= 1000 => v / 10000,
        v => v,
    };
    let same_major = backup_major == pg_dump.major;
    let (count, diffs) = if same_major {
        compare_schema(&expected, &restored)
    } else {
        compare_object_lists(&expected, &restored)
    };
    let passed = diffs.is_empty();
    let how = if same_major {
        format!(
            "pg_dump {} on both sides; {SCHEMA_NORMALISATIONS}",
            pg_dump.major
        )
    } else {
        format!(
            "object names, kinds and owners only: pg_dump {backup_major} wrote the backup, pg_dump \
             {} read the restore, and their SQL differs by version; large objects' entries \
             (whose shape changed in pg_dump 17) left to the large-object check; \
             {SCHEMA_NORMALISATIONS}",
            pg_dump.major
        )
    };
    let evidence = if passed {
        format!("{count} schema entries match ({how})")
    } else {
        format!(
            "{} difference(s) among {count} entries: {} ({how})",
            diffs.len(),
            first_few(&diffs)
        )
    };
    Ok(result("schema", "schema", passed, evidence))
}

// ---------------------------------------------------------------------------------------
// The database's own properties

/// The restored database's own properties (owner, locale, privileges, settings…), read as
/// the backup read the source's, against the manifest's. The database's name is not one
/// of them (verify restores under another name). A locale, tablespace or role the scratch
/// server lacks was left out of the restore with a warning, and shows here as a difference.
pub async fn database_properties(
    conn: &ConnSpec,
    db: &DatabaseBackup,
    version_num: u32,
) -> Result<CheckResult> {
    let name = "database properties";
    let Some(want) = &db.properties else {
        return Ok(result(
            "database-properties",
            name,
            true,
            "not compared: the backup predates database properties (its lifeboat did not \
             record them)"
                .into(),
        ));
    };
    let client = conn.connect().await?;
    let have = crate::dump::database_properties(&client, conn, version_num, conn.dbname()).await?;
    let diffs = property_differences(want, &have);
    let evidence = if diffs.is_empty() {
        format!(
            "as the backup recorded: owner {}, {} locale {}/{}{}, {} privilege(s){}, {} \
             setting(s), {} per-role setting(s), connection limit {}{}",
            want.owner,
            want.locale_provider.as_sql(),
            want.collate,
            want.ctype,
            want.locale
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default(),
            want.effective_acl().len(),
            if want.acl.is_none() {
                " (defaults)"
            } else {
                ""
            },
            want.settings.len(),
            want.role_settings.len(),
            want.connection_limit,
            if want.comment.is_some() {
                ", comment"
            } else {
                ""
            }
        )
    } else {
        format!("{} difference(s): {}", diffs.len(), first_few(&diffs))
    };
    Ok(result(
        "database-properties",
        name,
        diffs.is_empty(),
        evidence,
    ))
}

/// Each property that differs, as `what: backup …, restored …`.
pub fn property_differences(want: &DatabaseProperties, have: &DatabaseProperties) -> Vec<String> {
    let mut out = Vec::new();
    let mut check = |what: &str, a: String, b: String| {
        if a != b {
            out.push(format!("{what}: backup {a}, restored {b}"));
        }
    };
    check("owner", want.owner.clone(), have.owner.clone());
    check(
        "locale provider",
        want.locale_provider.as_sql().into(),
        have.locale_provider.as_sql().into(),
    );
    check("LC_COLLATE", want.collate.clone(), have.collate.clone());
    check("LC_CTYPE", want.ctype.clone(), have.ctype.clone());
    check(
        "locale",
        format!("{:?}", want.locale),
        format!("{:?}", have.locale),
    );
    check(
        "ICU rules",
        format!("{:?}", want.icu_rules),
        format!("{:?}", have.icu_rules),
    );
    check(
        "connection limit",
        want.connection_limit.to_string(),
        have.connection_limit.to_string(),
    );
    check(
        "template flag",
        want.is_template.to_string(),
        have.is_template.to_string(),
    );
    check(
        "ALLOW_CONNECTIONS",
        want.allow_connections.to_string(),
        have.allow_connections.to_string(),
    );
    check(
        "tablespace",
        format!("{:?}", want.tablespace),
        format!("{:?}", have.tablespace),
    );
    check(
        "comment",
        format!("{:?}", want.comment),
        format!("{:?}", have.comment),
    );
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v.join(", ")
    };
    let labels = |p: &DatabaseProperties| {
        sorted(
            p.security_labels
                .iter()
                .map(|l| format!("{}={:?}", l.provider, l.label))
                .collect(),
        )
    };
    check("security labels", labels(want), labels(have));
    let acl = |p: &DatabaseProperties| {
        sorted(
            p.effective_acl()
                .iter()
                .map(|g| {
                    format!(
                        "{}={}{}/{}",
                        g.grantee.as_deref().unwrap_or("PUBLIC"),
                        g.privilege.as_sql(),
                        if g.grant_option { "*" } else { "" },
                        g.grantor
                    )
                })
                .collect(),
        )
    };
    check("privileges", acl(want), acl(have));
    let settings = |p: &DatabaseProperties| {
        sorted(
            p.settings
                .iter()
                .map(|s| format!("{}={}", s.name, s.value))
                .collect(),
        )
    };
    check("settings", settings(want), settings(have));
    let role_settings = |p: &DatabaseProperties| {
        sorted(
            p.role_settings
                .iter()
                .map(|s| format!("{}: {}={}", s.role, s.name, s.value))
                .collect(),
        )
    };
    check(
        "per-role settings",
        role_settings(want),
        role_settings(have),
    );
    out
}

async fn dump_section(conn: &ConnSpec, pg_dump: &PgTool, section: &str) -> Result<String> {
    let args = [
        format!("--dbname={}", conn.libpq_conninfo()),
        format!("--section={section}"),
        "--no-password".into(),
        "--quote-all-identifiers".into(),
    ];
    let out = pg_dump
        .command(conn)
        .args(&args)
        .output()
        .await
        .map_err(|e| Error::Tool {
            tool: pg_dump.name(),
            failure: crate::error::ToolFailure::Start(e),
        })?;
    if !out.status.success() {
        return Err(pg_dump.exit_error(
            conn,
            out.status,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        ));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Large objects' entries changed shape in pg_dump 17 (grouped `BLOB METADATA`): across
/// majors they are left to the large-object check, which compares every object's content.
fn is_large_object_entry(e: &TocEntry) -> bool {
    matches!(
        e.kind.as_str(),
        "BLOB" | "BLOB METADATA" | "BLOBS" | "LARGE OBJECTS"
    ) || e.name.starts_with("LARGE OBJECT ")
}

fn compare_object_lists(expected: &str, restored: &str) -> (usize, Vec<String>) {
    let strip = |sql: &str| {
        let mut entries = toc::split(sql).entries;
        entries.retain(|e| !is_large_object_entry(e));
        for e in &mut entries {
            e.sql.clear();
        }
        entries
    };
    let list = |entries: Vec<TocEntry>| {
        let m = schema_entries_of(entries);
        m.into_iter()
            .map(|(k, v)| (k, v.into_iter().map(|(o, _)| (o, String::new())).collect()))
            .collect::<BTreeMap<SchemaKey, Vec<SchemaValue>>>()
    };
    let (e, r) = (list(strip(expected)), list(strip(restored)));
    let mut diffs = Vec::new();
    for (k, v) in &e {
        if r.get(k) != Some(v) {
            diffs.push(format!("{} {} differs or is missing", k.0, k.2));
        }
    }
    for k in r.keys() {
        if !e.contains_key(k) {
            diffs.push(format!("{} {} is not in the backup", k.0, k.2));
        }
    }
    (e.values().map(Vec::len).sum(), diffs)
}

// ---------------------------------------------------------------------------------------
// Assertions

/// What an assertion's value must be.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    Compare(Op, f64),
    Text(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Expect {
    pub fn parse(text: &str) -> std::result::Result<Expect, String> {
        let t = text.trim();
        let ops = [
            (">=", Op::Ge),
            ("<=", Op::Le),
            ("!=", Op::Ne),
            ("<>", Op::Ne),
            ("=", Op::Eq),
            (">", Op::Gt),
            ("<", Op::Lt),
        ];
        for (sym, op) in ops {
            if let Some(rest) = t.strip_prefix(sym) {
                let n: f64 = rest.trim().parse().map_err(|_| {
                    format!(
                        "expect `{text}`: `{}` after {sym} is not a number",
                        rest.trim()
                    )
                })?;
                return Ok(Expect::Compare(op, n));
            }
        }
        if t.is_empty() {
            return Err("expect is empty: write e.g. `> 0`, `= 42` or a value".into());
        }
        Ok(Expect::Text(t.to_string()))
    }

    pub fn holds(&self, value: Option<&str>) -> bool {
        match (self, value) {
            (Expect::Text(want), Some(v)) => v == want,
            (Expect::Compare(op, want), Some(v)) => match v.trim().parse::<f64>() {
                Ok(got) => match op {
                    Op::Eq => got == *want,
                    Op::Ne => got != *want,
                    Op::Lt => got < *want,
                    Op::Le => got <= *want,
                    Op::Gt => got > *want,
                    Op::Ge => got >= *want,
                },
                Err(_) => false,
            },
            (_, None) => false,
        }
    }
}

/// Runs one assertion on the restored database.
pub async fn assertion(
    conn: &ConnSpec,
    a: &AssertionConfig,
    consistent_at: chrono::DateTime<chrono::Utc>,
) -> CheckResult {
    let expect = match Expect::parse(&a.expect) {
        Ok(e) => e,
        Err(e) => return result("assertion", &a.name, false, e),
    };
    let literal = format!(
        "{}::timestamptz",
        quote_literal(&consistent_at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true))
    );
    let sql = a.sql.replace("{consistent_at}", &literal);
    let value = async {
        let client = conn.connect().await?;
        let messages = client
            .simple_query(&sql)
            .await
            .map_err(|e| conn.error("assertion query failed", &e))?;
        Ok::<_, Error>(messages.into_iter().find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(r.get(0).map(str::to_string)),
            _ => None,
        }))
    }
    .await;
    match value {
        Err(e) => result("assertion", &a.name, false, format!("{e}")),
        Ok(None) => result(
            "assertion",
            &a.name,
            false,
            format!("the query returned no row (expected {})", a.expect),
        ),
        Ok(Some(v)) => {
            let shown = v.clone().unwrap_or_else(|| "NULL".into());
            let passed = expect.holds(v.as_deref());
            result(
                "assertion",
                &a.name,
                passed,
                format!("value {shown}, expected {}", a.expect.trim()),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn property_differences_name_what_differs() {
        use crate::repository::manifest::Setting;
        let want = DatabaseProperties {
            comment: Some("the app".into()),
            settings: vec![Setting {
                name: "work_mem".into(),
                value: "8MB".into(),
            }],
            ..DatabaseProperties::example()
        };
        assert!(property_differences(&want, &want).is_empty());
        let mut have = want.clone();
        have.owner = "postgres".into();
        have.collate = "C.UTF-8".into();
        // The same privileges spelled out are the defaults.
        have.acl = Some(DatabaseProperties::default_acl("postgres"));
        have.settings.clear();
        let d = property_differences(&want, &have);
        assert_eq!(d.len(), 4, "{d:?}");
        assert!(d[0].starts_with("owner: backup app_owner, restored postgres"));
        assert!(d.iter().any(|x| x.starts_with("privileges:")));
        let mut same = want.clone();
        same.acl = Some(DatabaseProperties::default_acl("app_owner"));
        assert!(property_differences(&want, &same).is_empty());
    }

    #[test]
    fn setval_lines_parse() {
        let sql =
            "-- Sequence values\nSELECT pg_catalog.setval('\"public\".\"it''s\"', 42, true);\n\
                   SELECT pg_catalog.setval('\"s\".\"n\"', -7, false);\n";
        assert_eq!(
            parse_setvals(sql),
            vec![
                ("\"public\".\"it's\"".to_string(), "42".to_string(), true),
                ("\"s\".\"n\"".to_string(), "-7".to_string(), false),
            ]
        );
    }

    #[test]
    fn large_object_scripts_are_read_in_any_cut() {
        let script = b"BEGIN;\nSELECT pg_catalog.lo_open('16385', 131072);\n\
SELECT pg_catalog.lowrite(0, '\\x6865');\nSELECT pg_catalog.lowrite(0, '\\x6c6c6f');\n\
SELECT pg_catalog.lo_close(0);\nSELECT pg_catalog.lo_open('16386', 131072);\n\
SELECT pg_catalog.lo_close(0);\nCOMMIT;\n";
        for cut in [1, 7, 50, script.len()] {
            let mut reader = LoScriptReader::default();
            for c in script.chunks(cut) {
                reader.update(c);
            }
            let r = reader.finish();
            assert!(r.problem.is_none());
            assert_eq!(r.objects.len(), 2);
            assert_eq!(r.objects[&16385].size, 5);
            assert_eq!(r.objects[&16385].hash, *blake3::hash(b"hello").as_bytes());
            assert_eq!(r.objects[&16386].size, 0);
        }
    }

    #[test]
    fn expectations() {
        assert!(Expect::parse("> 0").unwrap().holds(Some("3")));
        assert!(!Expect::parse("> 0").unwrap().holds(Some("0")));
        assert!(Expect::parse(">= 2.5").unwrap().holds(Some("2.5")));
        assert!(Expect::parse("!= 0").unwrap().holds(Some("1")));
        assert!(Expect::parse("= 42").unwrap().holds(Some("42")));
        assert!(Expect::parse("ok").unwrap().holds(Some("ok")));
        assert!(!Expect::parse("> 0").unwrap().holds(None));
        assert!(!Expect::parse("> 0").unwrap().holds(Some("many")));
        assert!(Expect::parse("> lots").is_err());
        assert!(Expect::parse("  ").is_err());
    }

    #[test]
    fn schema_comparison_ignores_order_and_headers_but_not_owners_or_definitions() {
        let a = "--\n-- PostgreSQL database dump\n--\nSET x = 1;\n\n\
--\n-- Name: t; Type: TABLE; Schema: public; Owner: app\n--\n\nCREATE TABLE \"public\".\"t\" (a int);\n\n\
--\n-- Name: u; Type: TABLE; Schema: public; Owner: app\n--\n\nCREATE TABLE \"public\".\"u\" (b int);\n";
        let reordered = "--\n-- Name: u; Type: TABLE; Schema: public; Owner: app\n--\n\nCREATE TABLE \"public\".\"u\" (b int);\n\n\
--\n-- Name: t; Type: TABLE; Schema: public; Owner: app\n--\n\nCREATE TABLE \"public\".\"t\" (a int);\n";
        assert_eq!(compare_schema(a, reordered), (2, vec![]));
        let other_owner = reordered.replace(
            "Owner: app\n--\n\nCREATE TABLE \"public\".\"t\"",
            "Owner: postgres\n--\n\nCREATE TABLE \"public\".\"t\"",
        );
        let (_, diffs) = compare_schema(a, &other_owner);
        assert_eq!(diffs, vec!["TABLE public.t differs (owner)".to_string()]);
        let changed = reordered.replace("(a int)", "(a bigint)");
        assert_eq!(
            compare_schema(a, &changed).1,
            vec!["TABLE public.t differs".to_string()]
        );
        let (_, missing) = compare_schema(a, "");
        assert_eq!(missing.len(), 2);
    }
}
