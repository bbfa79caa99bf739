//! Splits pg_dump's plain SQL into its TOC entries, using the comment header pg_dump writes
//! before each object (`-- Name: x; Type: INDEX; Schema: s; Owner: o`). This lets a restore
//! build post-data objects in parallel and pick one table's objects out of a schema dump,
//! while the stored format stays plain SQL that psql can run by hand.
//!
//! pg_dump sets session state (default tablespace, table access method, search path)
//! between entries; each entry records the state in force where it starts, so it can run
//! on any connection.

/// One object of the dump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TocEntry {
    pub name: String,
    pub kind: String,
    pub schema: String,
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

/// Session settings pg_dump changes between entries.
const TRACKED: [&str; 3] = [
    "SET default_tablespace = ",
    "SET default_table_access_method = ",
    "SELECT pg_catalog.set_config('search_path',",
];

pub fn split(sql: &str) -> SplitDump {
    let mut out = SplitDump::default();
    let mut state: [Option<String>; 3] = [None, None, None];
    let mut current: Option<TocEntry> = None;
    let mut lines = sql.lines().peekable();
    while let Some(line) = lines.next() {
        if line == "--" {
            if let Some(header) = lines.peek().and_then(|l| parse_header(l)) {
                lines.next();
                if let Some(done) = current.take() {
                    out.entries.push(done);
                }
                let (name, kind, schema) = header;
                current = Some(TocEntry {
                    name,
                    kind,
                    schema,
                    session: state.iter().flatten().cloned().collect(),
                    sql: String::new(),
                });
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
        out.entries.push(done);
    }
    out
}

/// Parses `-- Name: x; Type: T; Schema: s; Owner: o` (or `-- Data for Name: …`).
fn parse_header(line: &str) -> Option<(String, String, String)> {
    let rest = line
        .strip_prefix("-- Name: ")
        .or_else(|| line.strip_prefix("-- Data for Name: "))?;
    let (name, rest) = rest.split_once("; Type: ")?;
    let (kind, rest) = rest.split_once("; Schema: ")?;
    let (schema, _) = rest.split_once("; Owner: ").unwrap_or((rest, ""));
    Some((name.to_string(), kind.to_string(), schema.to_string()))
}

impl TocEntry {
    /// The entry as a script runnable on a connection that has run the preamble.
    pub fn script(&self) -> String {
        let mut s = self.session.join("\n");
        s.push('\n');
        s.push_str(&self.sql);
        s
    }

    pub fn is_empty(&self) -> bool {
        self.sql
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with("--"))
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
-- Name: t_a_idx; Type: INDEX; Schema: public; Owner: app
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
            (pk.name.as_str(), pk.kind.as_str()),
            ("t_pkey", "CONSTRAINT")
        );
        assert!(pk.sql.contains("ADD CONSTRAINT t_pkey"));
        assert!(
            !pk.sql.contains("fast"),
            "next entry's SET leaked: {}",
            pk.sql
        );
        assert!(pk
            .session
            .contains(&"SET default_tablespace = '';".to_string()));
        assert_eq!(idx.kind, "INDEX");
        assert!(idx
            .session
            .contains(&"SET default_tablespace = fast;".to_string()));
        assert!(idx.session.iter().any(|s| s.contains("search_path")));
        assert!(idx.script().contains("CREATE INDEX t_a_idx"));
    }

    #[test]
    fn flags_meta_commands() {
        let d = split("--\n-- Name: x; Type: TABLE; Schema: s; Owner: o\n--\n\n\\connect other\n");
        assert!(d.needs_psql);
    }
}
