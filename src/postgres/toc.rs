//! pg_dump's plain SQL as typed entries. pg_dump writes a comment header before each object
//! (`-- Name: x; Type: INDEX; Schema: s; Owner: o`); splitting on those headers gives one
//! entry per object, so a restore can build post-data objects in parallel and pick one
//! table's objects out of a schema dump, while the stored format stays plain SQL that psql
//! can run by hand.
//!
//! Everything a restore asks of an entry is read once, here: its kind, schema and owner from
//! the header, and from the SQL the table it belongs to (an index's, a constraint's, a
//! trigger's, a column default's, a comment's or a grant's table). Callers work on these
//! fields and never search the SQL text.
//!
//! pg_dump sets session state (default tablespace, table access method, search path)
//! between entries; each entry records the state in force where it starts, so it can run
//! on any connection.

use std::fmt;

use super::quote_ident;

/// What pg_dump says an entry is (its `Type:`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum EntryKind {
    Schema,
    Extension,
    Type,
    Domain,
    Function,
    Procedure,
    Aggregate,
    Table,
    View,
    MaterializedView,
    ForeignTable,
    Sequence,
    SequenceOwnedBy,
    Default,
    TableAttach,
    TableData,
    MaterializedViewData,
    Index,
    IndexAttach,
    Constraint,
    FkConstraint,
    CheckConstraint,
    Trigger,
    EventTrigger,
    Rule,
    Policy,
    RowSecurity,
    Statistics,
    Publication,
    PublicationTable,
    Comment,
    Acl,
    DefaultAcl,
    SecurityLabel,
    /// Any other type, as pg_dump wrote it.
    Other(String),
}

const KINDS: &[(&str, EntryKind)] = &[
    ("SCHEMA", EntryKind::Schema),
    ("EXTENSION", EntryKind::Extension),
    ("TYPE", EntryKind::Type),
    ("DOMAIN", EntryKind::Domain),
    ("FUNCTION", EntryKind::Function),
    ("PROCEDURE", EntryKind::Procedure),
    ("AGGREGATE", EntryKind::Aggregate),
    ("TABLE", EntryKind::Table),
    ("VIEW", EntryKind::View),
    ("MATERIALIZED VIEW", EntryKind::MaterializedView),
    ("FOREIGN TABLE", EntryKind::ForeignTable),
    ("SEQUENCE", EntryKind::Sequence),
    ("SEQUENCE OWNED BY", EntryKind::SequenceOwnedBy),
    ("DEFAULT", EntryKind::Default),
    ("TABLE ATTACH", EntryKind::TableAttach),
    ("TABLE DATA", EntryKind::TableData),
    ("MATERIALIZED VIEW DATA", EntryKind::MaterializedViewData),
    ("INDEX", EntryKind::Index),
    ("INDEX ATTACH", EntryKind::IndexAttach),
    ("CONSTRAINT", EntryKind::Constraint),
    ("FK CONSTRAINT", EntryKind::FkConstraint),
    ("CHECK CONSTRAINT", EntryKind::CheckConstraint),
    ("TRIGGER", EntryKind::Trigger),
    ("EVENT TRIGGER", EntryKind::EventTrigger),
    ("RULE", EntryKind::Rule),
    ("POLICY", EntryKind::Policy),
    ("ROW SECURITY", EntryKind::RowSecurity),
    ("STATISTICS", EntryKind::Statistics),
    ("PUBLICATION", EntryKind::Publication),
    ("PUBLICATION TABLE", EntryKind::PublicationTable),
    ("COMMENT", EntryKind::Comment),
    ("ACL", EntryKind::Acl),
    ("DEFAULT ACL", EntryKind::DefaultAcl),
    ("SECURITY LABEL", EntryKind::SecurityLabel),
];

impl EntryKind {
    pub fn parse(text: &str) -> EntryKind {
        KINDS
            .iter()
            .find(|(t, _)| *t == text)
            .map(|(_, k)| k.clone())
            .unwrap_or_else(|| EntryKind::Other(text.to_string()))
    }

    /// pg_dump's name for it.
    pub fn as_str(&self) -> &str {
        match self {
            EntryKind::Other(text) => text,
            known => KINDS
                .iter()
                .find(|(_, k)| k == known)
                .map_or("", |(t, _)| t),
        }
    }
}

impl fmt::Display for EntryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A schema-qualified name, unquoted.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct QualifiedName {
    pub schema: String,
    pub name: String,
}

impl QualifiedName {
    pub fn new(schema: impl Into<String>, name: impl Into<String>) -> Self {
        QualifiedName {
            schema: schema.into(),
            name: name.into(),
        }
    }

    /// How pg_dump (run with --quote-all-identifiers) writes it in SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

impl fmt::Display for QualifiedName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.schema, self.name)
    }
}

/// What a COMMENT, ACL or SECURITY LABEL entry is about, from its header name
/// (`TABLE "t"`, `COLUMN "t"."c"`, `SEQUENCE "s"`, `CONSTRAINT "c" ON "t"`…).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    Table,
    Column,
    /// A sequence, by its name within the entry's schema.
    Sequence(String),
    Constraint,
    Trigger,
    Policy,
    Rule,
    Other,
}

/// One object of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub kind: EntryKind,
    /// The header's name, as pg_dump wrote it (`t`, `t t_pkey`, `TABLE "t"`).
    pub name: String,
    /// `None` for objects outside any schema (pg_dump writes `-`).
    pub schema: Option<String>,
    pub owner: Option<String>,
    pub tablespace: Option<String>,
    /// The table the entry belongs to: a table's own entry, and the table of an index,
    /// constraint, trigger, rule, policy, row-security switch, column default, owned or
    /// identity sequence, and of a comment, grant or label on the table, a column of it, or
    /// a constraint, trigger, policy or rule of it.
    pub table: Option<QualifiedName>,
    /// The SQL applies to that table alone, not its partitions or inheritance children
    /// (`ON ONLY`, `ALTER TABLE ONLY`).
    pub only: bool,
    /// For COMMENT, ACL and SECURITY LABEL entries: what they are about.
    pub subject: Option<Subject>,
    /// `SET …;` statements that must precede `sql` on a fresh connection.
    pub session: Vec<String>,
    pub sql: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SplitDump {
    /// Session setup at the top of the file (`SET statement_timeout = 0;` …).
    pub preamble: String,
    pub entries: Vec<TocEntry>,
    /// True if the script holds psql meta-commands other than `\restrict`/`\unrestrict`,
    /// which only psql can run.
    pub needs_psql: bool,
}

impl SplitDump {
    /// The dump as one script again: the preamble, then every entry with the session
    /// state it needs. psql runs it as it would the original.
    pub fn script(&self) -> String {
        let mut out = self.preamble.clone();
        for e in &self.entries {
            out.push_str(&e.header());
            out.push_str(&e.script());
        }
        out
    }
}

/// Session settings pg_dump changes between entries.
const TRACKED: [&str; 3] = [
    "SET default_tablespace = ",
    "SET default_table_access_method = ",
    "SELECT pg_catalog.set_config('search_path',",
];

/// Splits a pg_dump plain-SQL script into its entries.
pub fn split(sql: &str) -> SplitDump {
    let mut out = SplitDump::default();
    let mut state: [Option<String>; 3] = [None, None, None];
    let mut current: Option<TocEntry> = None;
    let mut lines = sql.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "--" {
            if let Some(header) = lines.peek().and_then(|l| Header::parse(l)) {
                lines.next();
                if let Some(done) = current.take() {
                    out.entries.push(done.derived());
                }
                current = Some(header.entry(state.iter().flatten().cloned().collect()));
                // Skip the closing `--` of the header.
                if lines.peek() == Some(&"--") {
                    lines.next();
                }
                continue;
            }
        }
        if line.starts_with("\\restrict") || line.starts_with("\\unrestrict") {
            continue;
        }
        if line.starts_with('\\') {
            out.needs_psql = true;
        }
        if let Some(i) = TRACKED.iter().position(|p| line.starts_with(p)) {
            state[i] = Some(line.to_string());
            if current.is_some() {
                continue;
            }
        }
        let target = match current.as_mut() {
            Some(e) => &mut e.sql,
            None => &mut out.preamble,
        };
        target.push_str(line);
        target.push('\n');
    }
    if let Some(done) = current.take() {
        out.entries.push(done.derived());
    }
    out
}

/// `-- Name: x; Type: T; Schema: s; Owner: o[; Tablespace: ts]` (or `-- Data for Name: …`).
struct Header {
    name: String,
    kind: EntryKind,
    schema: Option<String>,
    owner: Option<String>,
    tablespace: Option<String>,
}

impl Header {
    fn parse(line: &str) -> Option<Header> {
        let rest = line
            .strip_prefix("-- Name: ")
            .or_else(|| line.strip_prefix("-- Data for Name: "))?;
        let (name, rest) = rest.split_once("; Type: ")?;
        let (kind, rest) = rest.split_once("; Schema: ")?;
        let (schema, rest) = rest.split_once("; Owner: ").unwrap_or((rest, ""));
        let (owner, tablespace) = match rest.split_once("; Tablespace: ") {
            Some((o, t)) => (o, Some(t.to_string())),
            None => (rest, None),
        };
        let named = |s: &str| (!s.is_empty() && s != "-").then(|| s.to_string());
        Some(Header {
            name: name.to_string(),
            kind: EntryKind::parse(kind),
            schema: named(schema),
            owner: named(owner),
            tablespace,
        })
    }

    fn entry(self, session: Vec<String>) -> TocEntry {
        TocEntry {
            kind: self.kind,
            name: self.name,
            schema: self.schema,
            owner: self.owner,
            tablespace: self.tablespace,
            table: None,
            only: false,
            subject: None,
            session,
            sql: String::new(),
        }
    }
}

impl TocEntry {
    /// The entry as a script runnable on a connection that has run the preamble.
    pub fn script(&self) -> String {
        let mut s = self.session.join("\n");
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&self.sql);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.sql
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with("--"))
    }

    /// Whether this entry belongs to `table`.
    pub fn is_on(&self, table: &QualifiedName) -> bool {
        self.table.as_ref() == Some(table)
    }

    /// `schema.name`, or the name alone for objects outside a schema.
    pub fn display_name(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.name),
            None => self.name.clone(),
        }
    }

    /// Fills the fields read from the SQL, once the entry is complete.
    fn derived(mut self) -> Self {
        self.subject = match self.kind {
            EntryKind::Comment | EntryKind::Acl | EntryKind::SecurityLabel => {
                Some(subject_of(&self.name))
            }
            _ => None,
        };
        // Read only for the kinds that need it (never a function's body, say).
        let words = || first_statement(&self.sql);
        let (table, only) = match self.kind {
            EntryKind::Table => (
                self.schema
                    .as_ref()
                    .map(|s| QualifiedName::new(s, &self.name)),
                false,
            ),
            EntryKind::Index | EntryKind::Trigger | EntryKind::Policy => on_table(&words(), "ON"),
            EntryKind::Rule => on_table(&words(), "TO"),
            EntryKind::Constraint
            | EntryKind::FkConstraint
            | EntryKind::CheckConstraint
            | EntryKind::Default
            | EntryKind::RowSecurity
            // An identity sequence is added to its table (`ALTER TABLE … ADD GENERATED`);
            // a standalone one starts with CREATE SEQUENCE and belongs to no table here.
            | EntryKind::Sequence => altered_table(&words()),
            EntryKind::SequenceOwnedBy => (owned_by(&words()), false),
            EntryKind::Comment | EntryKind::Acl | EntryKind::SecurityLabel => {
                (subject_table(&words(), self.subject.as_ref()), false)
            }
            _ => (None, false),
        };
        self.table = table;
        self.only = only;
        self
    }
}

impl TocEntry {
    /// pg_dump's comment header for the entry, as [`split`] reads it.
    pub fn header(&self) -> String {
        let mut h = format!(
            "\n--\n-- Name: {}; Type: {}; Schema: {}; Owner: {}",
            self.name,
            self.kind,
            self.schema.as_deref().unwrap_or("-"),
            self.owner.as_deref().unwrap_or("")
        );
        if let Some(t) = &self.tablespace {
            h.push_str(&format!("; Tablespace: {t}"));
        }
        h.push_str("\n--\n");
        h
    }

    /// The entry's first SQL statement (comments before it skipped, its `;` included) and
    /// the rest of its SQL, or `None` when it holds no complete statement. Quotes (`'…'`,
    /// `"…"`, `$tag$…$tag$`) and comments are respected.
    pub fn first_statement(&self) -> Option<(&str, &str)> {
        let end = statement_end(&self.sql)?;
        Some((self.sql[..end].trim_start(), &self.sql[end..]))
    }

    /// Whether the first statement starts with these keywords (`CREATE TABLE`).
    pub fn starts_with_words(&self, words: &[&str]) -> bool {
        let tokens = first_statement(&self.sql);
        words.len() <= tokens.len() && words.iter().zip(&tokens).all(|(w, t)| t.is_word(w))
    }
}

/// Byte offset just past the first `;` of `sql` outside quotes and comments.
fn statement_end(sql: &str) -> Option<usize> {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b';' => return Some(i + 1),
            b'-' if b.get(i + 1) == Some(&b'-') => {
                i = sql[i..].find('\n').map_or(b.len(), |n| i + n);
            }
            q @ (b'\'' | b'"') => {
                i += 1;
                while i < b.len() {
                    if b[i] == q {
                        if b.get(i + 1) == Some(&q) {
                            i += 1;
                        } else {
                            break;
                        }
                    }
                    i += 1;
                }
            }
            b'$' => {
                // `$tag$ … $tag$` (a `$` inside an identifier or a `$1` is not a quote).
                let rest = &sql[i + 1..];
                let tag_len = rest
                    .find(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .unwrap_or(rest.len());
                let starts_word = i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_');
                if !starts_word
                    && rest[tag_len..].starts_with('$')
                    && !rest[..tag_len].starts_with(|c: char| c.is_ascii_digit())
                {
                    let tag = &sql[i..i + tag_len + 2];
                    let body = i + tag.len();
                    i = sql[body..]
                        .find(tag)
                        .map_or(b.len(), |n| body + n + tag.len())
                        - 1;
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The object a COMMENT/ACL/SECURITY LABEL header names.
fn subject_of(name: &str) -> Subject {
    let (kind, rest) = name.split_once(' ').unwrap_or((name, ""));
    match kind {
        "TABLE" => Subject::Table,
        "COLUMN" => Subject::Column,
        "SEQUENCE" => Subject::Sequence(match names(&tokens(rest))[..] {
            [ref one] => one.clone(),
            _ => rest.to_string(),
        }),
        "CONSTRAINT" => Subject::Constraint,
        "TRIGGER" => Subject::Trigger,
        "POLICY" => Subject::Policy,
        "RULE" => Subject::Rule,
        _ => Subject::Other,
    }
}

/// A token of SQL, as far as naming objects goes.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word (keyword or identifier), as written.
    Word(String),
    /// A double-quoted identifier, unescaped.
    Quoted(String),
    Dot,
    /// Anything else (a string literal, an operator, a parenthesis).
    Other,
}

impl Token {
    fn is_word(&self, keyword: &str) -> bool {
        matches!(self, Token::Word(w) if w.eq_ignore_ascii_case(keyword))
    }

    fn ident(&self) -> Option<&str> {
        match self {
            Token::Word(w) | Token::Quoted(w) => Some(w),
            _ => None,
        }
    }
}

/// The tokens of the first statement of `sql` that is not a session setting (`SET …`,
/// `SELECT pg_catalog.set_config(…)`), comments skipped.
fn first_statement(sql: &str) -> Vec<Token> {
    let body: String = sql
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    statements(&body)
        .into_iter()
        .find(|s| {
            let setting = s.first().is_some_and(|t| t.is_word("SET"))
                || (s.first().is_some_and(|t| t.is_word("SELECT"))
                    && s.iter().any(|t| t.is_word("set_config")));
            !s.is_empty() && !setting
        })
        .unwrap_or_default()
}

/// The tokens of the first statement of `text`.
fn tokens(text: &str) -> Vec<Token> {
    statements(text).into_iter().next().unwrap_or_default()
}

/// `text` as statements (split at `;` outside quotes) of tokens.
fn statements(text: &str) -> Vec<Vec<Token>> {
    let mut all = Vec::new();
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            ';' => all.push(std::mem::take(&mut out)),
            '"' => {
                let mut ident = String::new();
                while let Some(c) = chars.next() {
                    if c == '"' {
                        if chars.peek() == Some(&'"') {
                            chars.next();
                            ident.push('"');
                        } else {
                            break;
                        }
                    } else {
                        ident.push(c);
                    }
                }
                out.push(Token::Quoted(ident));
            }
            '\'' => {
                while let Some(c) = chars.next() {
                    if c == '\'' {
                        if chars.peek() == Some(&'\'') {
                            chars.next();
                        } else {
                            break;
                        }
                    }
                }
                out.push(Token::Other);
            }
            '.' => out.push(Token::Dot),
            c if c.is_alphabetic() || c == '_' => {
                let mut word = String::from(c);
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' || n == '$' {
                        word.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Token::Word(word));
            }
            c if c.is_whitespace() => {}
            _ => out.push(Token::Other),
        }
    }
    all.push(out);
    all
}

/// The dotted name starting at `tokens[at]`: its parts, and the index after it.
fn dotted(tokens: &[Token], at: usize) -> (Vec<String>, usize) {
    let mut parts = Vec::new();
    let mut i = at;
    while let Some(part) = tokens.get(i).and_then(Token::ident) {
        parts.push(part.to_string());
        i += 1;
        if tokens.get(i) != Some(&Token::Dot) {
            break;
        }
        i += 1;
    }
    (parts, i)
}

/// All the parts of a dotted name that makes up the whole token list.
fn names(tokens: &[Token]) -> Vec<String> {
    match dotted(tokens, 0) {
        (parts, end) if end == tokens.len() => parts,
        _ => Vec::new(),
    }
}

fn table_name(parts: &[String]) -> Option<QualifiedName> {
    match parts {
        [schema, name] => Some(QualifiedName::new(schema, name)),
        _ => None,
    }
}

/// `… <keyword> [ONLY] s.t …`: the table after the first `keyword` (CREATE INDEX … ON,
/// CREATE TRIGGER … ON, CREATE POLICY … ON, CREATE RULE … TO).
fn on_table(tokens: &[Token], keyword: &str) -> (Option<QualifiedName>, bool) {
    let Some(at) = tokens.iter().position(|t| t.is_word(keyword)) else {
        return (None, false);
    };
    let only = tokens.get(at + 1).is_some_and(|t| t.is_word("ONLY"));
    let (parts, _) = dotted(tokens, at + 1 + usize::from(only));
    (table_name(&parts), only)
}

/// `ALTER [FOREIGN] TABLE [ONLY] s.t …`: that table.
fn altered_table(tokens: &[Token]) -> (Option<QualifiedName>, bool) {
    let mut i = 0;
    if !tokens.first().is_some_and(|t| t.is_word("ALTER")) {
        return (None, false);
    }
    i += 1;
    if tokens.get(i).is_some_and(|t| t.is_word("FOREIGN")) {
        i += 1;
    }
    if !tokens.get(i).is_some_and(|t| t.is_word("TABLE")) {
        return (None, false);
    }
    i += 1;
    let only = tokens.get(i).is_some_and(|t| t.is_word("ONLY"));
    let (parts, _) = dotted(tokens, i + usize::from(only));
    (table_name(&parts), only)
}

/// `ALTER SEQUENCE s.q OWNED BY s.t.c`: the table.
fn owned_by(tokens: &[Token]) -> Option<QualifiedName> {
    let at = tokens
        .windows(2)
        .position(|w| w[0].is_word("OWNED") && w[1].is_word("BY"))?;
    match dotted(tokens, at + 2).0.as_slice() {
        [schema, table, _column] => Some(QualifiedName::new(schema, table)),
        _ => None,
    }
}

/// The table of a COMMENT/GRANT/REVOKE/SECURITY LABEL statement about a table, a column
/// or a constraint, trigger, policy or rule of a table.
fn subject_table(tokens: &[Token], subject: Option<&Subject>) -> Option<QualifiedName> {
    let first_on = tokens.iter().position(|t| t.is_word("ON"))?;
    match subject? {
        Subject::Table | Subject::Column => {
            // ON TABLE s.t, ON COLUMN s.t.c, ON FOREIGN TABLE s.t (grants on columns:
            // `GRANT SELECT("c") ON TABLE s.t`).
            let mut i = first_on + 1;
            while tokens
                .get(i)
                .is_some_and(|t| t.is_word("TABLE") || t.is_word("COLUMN") || t.is_word("FOREIGN"))
            {
                i += 1;
            }
            match dotted(tokens, i).0.as_slice() {
                [schema, table] | [schema, table, _] => Some(QualifiedName::new(schema, table)),
                _ => None,
            }
        }
        Subject::Constraint | Subject::Trigger | Subject::Policy | Subject::Rule => {
            // COMMENT ON CONSTRAINT c ON s.t (not ON DOMAIN s.d).
            let second_on = first_on
                + 1
                + tokens[first_on + 1..]
                    .iter()
                    .position(|t| t.is_word("ON"))?;
            if tokens.get(second_on + 1)?.is_word("DOMAIN") {
                return None;
            }
            table_name(&dotted(tokens, second_on + 1).0)
        }
        Subject::Sequence(_) | Subject::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"--
-- PostgreSQL database dump
--

\restrict abc123

-- Dumped from database version 15.18

SET statement_timeout = 0;
SELECT pg_catalog.set_config('search_path', '', false);

SET default_tablespace = '';

--
-- Name: t_pkey; Type: CONSTRAINT; Schema: public; Owner: app
--

ALTER TABLE ONLY public.t
    ADD CONSTRAINT t_pkey PRIMARY KEY (id);


SET default_tablespace = fast;

--
-- Name: t_a_idx; Type: INDEX; Schema: public; Owner: app; Tablespace: fast
--

CREATE INDEX t_a_idx ON public.t USING btree (a);


--
-- PostgreSQL database dump complete
--

\unrestrict abc123
"#;

    #[test]
    fn splits_entries_with_their_session_state() {
        let d = split(DUMP);
        assert!(!d.needs_psql);
        assert!(d.preamble.contains("SET statement_timeout = 0;"));
        assert!(!d.preamble.contains("restrict"));
        assert_eq!(d.entries.len(), 2);
        let (pk, idx) = (&d.entries[0], &d.entries[1]);
        assert_eq!(
            (pk.name.as_str(), &pk.kind),
            ("t_pkey", &EntryKind::Constraint)
        );
        assert_eq!(pk.owner.as_deref(), Some("app"));
        assert!(pk.sql.contains("ADD CONSTRAINT t_pkey"));
        assert!(
            !pk.sql.contains("fast"),
            "next entry's SET leaked: {}",
            pk.sql
        );
        assert!(pk
            .session
            .contains(&"SET default_tablespace = '';".to_string()));
        assert_eq!(idx.kind, EntryKind::Index);
        assert_eq!(idx.owner.as_deref(), Some("app"));
        assert_eq!(idx.tablespace.as_deref(), Some("fast"));
        assert!(idx
            .session
            .contains(&"SET default_tablespace = fast;".to_string()));
        assert!(idx.session.iter().any(|s| s.contains("search_path")));
        assert!(idx.script().contains("CREATE INDEX t_a_idx"));
        // Unquoted names (a dump without --quote-all-identifiers) are read too.
        let t = QualifiedName::new("public", "t");
        assert!(pk.is_on(&t) && pk.only);
        assert!(idx.is_on(&t) && !idx.only);
    }

    #[test]
    fn first_statement_respects_quotes_comments_and_dollar_quotes() {
        let d = split(
            "--\n-- Name: t; Type: TABLE; Schema: s; Owner: o\n--\n\n\
             CREATE TABLE \"s\".\"t;x\" (\n    \"a\" text DEFAULT 'x;''y' -- c;\n);\n\
             ALTER TABLE \"s\".\"t;x\" OWNER TO \"o\";\n",
        );
        let e = &d.entries[0];
        assert!(e.starts_with_words(&["CREATE", "TABLE"]));
        assert!(!e.starts_with_words(&["CREATE", "UNLOGGED"]));
        let (first, rest) = e.first_statement().unwrap();
        assert!(
            first.starts_with("CREATE TABLE") && first.ends_with(");"),
            "{first}"
        );
        assert_eq!(rest.trim(), "ALTER TABLE \"s\".\"t;x\" OWNER TO \"o\";");
        assert_eq!(statement_end("SELECT $q$a;b$q$;"), Some(17));
        assert_eq!(statement_end("SELECT $1;"), Some(10));
        assert_eq!(statement_end("no end"), None);
        let again = split(&d.script());
        assert_eq!(again.entries, d.entries);
    }

    #[test]
    fn flags_meta_commands() {
        let d = split("--\n-- Name: x; Type: TABLE; Schema: s; Owner: o\n--\n\n\\connect other\n");
        assert!(d.needs_psql);
    }

    const PRE: &str = include_str!("../../tests/fixtures/pg_dump/pre-data.sql");
    const POST: &str = include_str!("../../tests/fixtures/pg_dump/post-data.sql");

    fn find<'a>(d: &'a SplitDump, kind: EntryKind, name: &str) -> &'a TocEntry {
        d.entries
            .iter()
            .find(|e| e.kind == kind && e.name == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn q(schema: &str, name: &str) -> Option<QualifiedName> {
        Some(QualifiedName::new(schema, name))
    }

    #[test]
    fn reads_pre_data_of_pg_dump_18() {
        let d = split(PRE);
        assert!(!d.needs_psql);
        let odd = q("My Schema", "odd.name table");

        let schema = find(&d, EntryKind::Schema, "My Schema");
        assert_eq!(
            (schema.schema.as_deref(), schema.owner.as_deref()),
            (None, Some("postgres"))
        );

        let table = find(&d, EntryKind::Table, "odd.name table");
        assert_eq!(table.table, odd);
        assert_eq!(table.schema.as_deref(), Some("My Schema"));
        assert!(table
            .session
            .iter()
            .any(|s| s.contains("default_table_access_method")));

        // Comments on the table and on a column whose name holds a dot.
        let c = find(&d, EntryKind::Comment, "TABLE \"odd.name table\"");
        assert_eq!((&c.subject, &c.table), (&Some(Subject::Table), &odd));
        assert!(c.sql.contains("with semicolons -- and dashes"));
        let c = find(&d, EntryKind::Comment, "COLUMN \"odd.name table\".\"a.b\"");
        assert_eq!((&c.subject, &c.table), (&Some(Subject::Column), &odd));

        // A serial's sequence, its ownership, comment and grant.
        let seq = find(&d, EntryKind::Sequence, "odd.name table_id_seq");
        assert_eq!(seq.table, None);
        let owned = find(&d, EntryKind::SequenceOwnedBy, "odd.name table_id_seq");
        assert_eq!(owned.table, odd);
        let c = find(&d, EntryKind::Comment, "SEQUENCE \"odd.name table_id_seq\"");
        assert_eq!(
            c.subject,
            Some(Subject::Sequence("odd.name table_id_seq".into()))
        );
        assert_eq!(c.table, None);
        let acl = find(&d, EntryKind::Acl, "SEQUENCE \"odd.name table_id_seq\"");
        assert_eq!(
            acl.subject,
            Some(Subject::Sequence("odd.name table_id_seq".into()))
        );

        // Identity sequences are added to their table; a free one belongs to none.
        assert_eq!(
            find(&d, EntryKind::Sequence, "orders_id_seq").table,
            q("public", "orders")
        );
        assert_eq!(
            find(&d, EntryKind::Sequence, "parent_id_seq").table,
            q("public", "parent")
        );
        assert_eq!(find(&d, EntryKind::Sequence, "free_seq").table, None);

        let default = find(&d, EntryKind::Default, "odd.name table id");
        assert_eq!((&default.table, default.only), (&odd, true));

        // Grants on the table and on one column.
        let acl = find(&d, EntryKind::Acl, "TABLE \"odd.name table\"");
        assert_eq!((&acl.subject, &acl.table), (&Some(Subject::Table), &odd));
        let acl = find(&d, EntryKind::Acl, "COLUMN \"odd.name table\".\"Note\"");
        assert_eq!((&acl.subject, &acl.table), (&Some(Subject::Column), &odd));

        // Partitions and their attachment; a schema whose name holds a dot.
        assert_eq!(
            find(&d, EntryKind::Table, "parent_1").table,
            q("public", "parent_1")
        );
        assert_eq!(find(&d, EntryKind::TableAttach, "parent_1").table, None);
        assert_eq!(find(&d, EntryKind::Table, "t").table, q("s.x", "t"));
        assert_eq!(
            find(&d, EntryKind::Table, "ref").owner.as_deref(),
            Some("app")
        );
        assert_eq!(
            find(&d, EntryKind::MaterializedView, "mv").kind.to_string(),
            "MATERIALIZED VIEW"
        );
    }

    #[test]
    fn reads_post_data_of_pg_dump_18() {
        let d = split(POST);
        let (orders, parent, odd) = (
            q("public", "orders"),
            q("public", "parent"),
            q("My Schema", "odd.name table"),
        );

        let pk = find(
            &d,
            EntryKind::Constraint,
            "odd.name table odd.name table_pkey",
        );
        assert_eq!((&pk.table, pk.only), (&odd, true));
        // The partitioned parent's key, and a partition's own.
        let pk = find(&d, EntryKind::Constraint, "parent parent_pkey");
        assert_eq!((&pk.table, pk.only), (&parent, true));
        let pk = find(&d, EntryKind::Constraint, "parent_1 parent_1_pkey");
        assert_eq!((&pk.table, pk.only), (&q("public", "parent_1"), true));

        let idx = find(&d, EntryKind::Index, "idx on odd");
        assert_eq!((&idx.table, idx.only), (&odd, false));
        let idx = find(&d, EntryKind::Index, "parent_v_idx");
        assert_eq!((&idx.table, idx.only), (&parent, true));
        let idx = find(&d, EntryKind::Index, "parent_1_v_idx");
        assert_eq!((&idx.table, idx.only), (&q("public", "parent_1"), false));
        assert_eq!(find(&d, EntryKind::Index, "mv_id").table, q("public", "mv"));
        assert_eq!(
            find(&d, EntryKind::IndexAttach, "parent_1_pkey").table,
            None
        );

        // Foreign keys: ONLY on plain tables, not on a partitioned one.
        let fk = find(&d, EntryKind::FkConstraint, "ref ref_odd_fk");
        assert_eq!((&fk.table, fk.only), (&q("public", "ref"), true));
        let fk = find(&d, EntryKind::FkConstraint, "parent parent_ref_id_fkey");
        assert_eq!((&fk.table, fk.only), (&parent, false));
        let check = find(&d, EntryKind::CheckConstraint, "parent parent_v_nv");
        assert_eq!((&check.table, check.only), (&parent, false));

        // Triggers (one named like a keyword), rules, row security, policies.
        assert_eq!(
            find(&d, EntryKind::Trigger, "orders on update").table,
            orders
        );
        assert_eq!(
            find(&d, EntryKind::Trigger, "parent parent_trg").table,
            parent
        );
        assert_eq!(
            find(&d, EntryKind::Rule, "ref r_ref").table,
            q("public", "ref")
        );
        assert_eq!(find(&d, EntryKind::RowSecurity, "orders").table, orders);
        assert_eq!(find(&d, EntryKind::Policy, "orders p_all").table, orders);

        // Comments on a constraint and on a trigger belong to their table.
        let c = find(
            &d,
            EntryKind::Comment,
            "CONSTRAINT \"orders_pkey\" ON \"orders\"",
        );
        assert_eq!(
            (&c.subject, &c.table),
            (&Some(Subject::Constraint), &orders)
        );
        let c = find(
            &d,
            EntryKind::Comment,
            "TRIGGER \"on update\" ON \"orders\"",
        );
        assert_eq!((&c.subject, &c.table), (&Some(Subject::Trigger), &orders));

        let mv = find(&d, EntryKind::MaterializedViewData, "mv");
        assert_eq!(mv.table, None);
    }

    #[test]
    fn session_settings_inside_an_entry_are_skipped() {
        let d = split(
            "--\n-- Name: i; Type: INDEX; Schema: s; Owner: o\n--\n\n\
             SET maintenance_work_mem = '1GB';\n\
             SELECT pg_catalog.set_config('search_path', 'x', false);\n\
             CREATE INDEX \"i\" ON \"s\".\"t\" USING btree (\"a\");\n",
        );
        assert_eq!(d.entries[0].table, q("s", "t"));
    }

    #[test]
    fn kinds_round_trip_and_keep_unknown_ones() {
        for (text, kind) in KINDS {
            assert_eq!(EntryKind::parse(text), *kind);
            assert_eq!(kind.as_str(), *text);
        }
        let other = EntryKind::parse("TEXT SEARCH DICTIONARY");
        assert_eq!(other, EntryKind::Other("TEXT SEARCH DICTIONARY".into()));
        assert_eq!(other.to_string(), "TEXT SEARCH DICTIONARY");
    }

    #[test]
    fn quoted_names_with_quotes_dots_and_keywords() {
        let t = tokens(r#"CREATE INDEX "a""b" ON ONLY "s.1"."ON" USING btree ('x;y')"#);
        assert_eq!(on_table(&t, "ON"), (q("s.1", "ON"), true));
        let t = tokens("ALTER SEQUENCE \"s\".\"q\" OWNED BY \"s\".\"t \"\"x\"\"\".\"c\"");
        assert_eq!(owned_by(&t), q("s", "t \"x\""));
        assert_eq!(
            subject_of("SEQUENCE plain_seq"),
            Subject::Sequence("plain_seq".into())
        );
        assert_eq!(subject_of("LARGE OBJECT 1234"), Subject::Other);
    }
}
