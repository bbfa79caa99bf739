//! Picking single tables out of a database backup: their rows, and from the schema dump the
//! entries that define them (table, defaults, owned sequences, comments, grants) and their
//! indexes, constraints and row-security policies. Foreign keys and triggers are left out,
//! as with `pg_restore --table`: they depend on objects outside the selection.

use super::toc::{SplitDump, TocEntry};
use crate::error::{Error, Result};
use crate::manifest::{DatabaseBackup, TableData};
use crate::postgres::quote_ident;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableName {
    pub schema: String,
    pub name: String,
}

impl TableName {
    /// How pg_dump (run with --quote-all-identifiers) writes it in SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Resolves `schema.table` or a bare `table` (unique across schemas) against the backup.
pub fn resolve(db: &DatabaseBackup, wanted: &[String]) -> Result<Vec<TableName>> {
    let mut out: Vec<TableName> = Vec::new();
    for w in wanted {
        let matches: Vec<&TableData> = db
            .tables
            .iter()
            .filter(|t| t.display_name() == *w || t.name == *w)
            .collect();
        let mut names: Vec<TableName> = matches
            .iter()
            .map(|t| TableName {
                schema: t.schema.clone(),
                name: t.name.clone(),
            })
            .collect();
        names.dedup();
        match names.len() {
            1 => {
                if !out.contains(&names[0]) {
                    out.push(names.remove(0));
                }
            }
            0 => {
                return Err(Error::Restore(format!(
                    "table `{w}` is not in database {} of this backup (see `lifeboat show`)",
                    db.name
                )))
            }
            _ => {
                return Err(Error::Restore(format!(
                    "`{w}` names tables in several schemas; write it as schema.table"
                )))
            }
        }
    }
    Ok(out)
}

pub fn data_of(db: &DatabaseBackup, tables: &[TableName]) -> Vec<TableData> {
    db.tables
        .iter()
        .filter(|t| {
            tables
                .iter()
                .any(|n| n.schema == t.schema && n.name == t.name)
        })
        .cloned()
        .collect()
}

/// Pre-data entries defining the tables (and the schemas `missing_schemas` the target
/// lacks), and the names of the sequences they own.
pub fn pre_data(
    dump: &SplitDump,
    tables: &[TableName],
    missing_schemas: &[String],
) -> (Vec<TocEntry>, Vec<String>) {
    // Sequences the tables own: serial ones through OWNED BY, identity ones through the
    // ALTER TABLE … ADD GENERATED statement pg_dump files as a SEQUENCE entry.
    let owned: Vec<(String, String)> = dump
        .entries
        .iter()
        .filter(|e| {
            tables.iter().any(|t| {
                (e.kind == "SEQUENCE OWNED BY"
                    && e.sql.contains(&format!("OWNED BY {}.", t.quoted())))
                    || (e.kind == "SEQUENCE"
                        && e.sql
                            .contains(&format!("ALTER TABLE {} ALTER COLUMN", t.quoted())))
            })
        })
        .map(|e| (e.schema.clone(), e.name.clone()))
        .collect();
    let is_owned =
        |e: &TocEntry, name: &str| owned.iter().any(|(s, n)| *s == e.schema && n == name);
    let picked: Vec<TocEntry> = dump
        .entries
        .iter()
        .filter(|e| {
            let for_table = tables.iter().any(|t| {
                e.schema == t.schema
                    && match e.kind.as_str() {
                        "TABLE" => e.name == t.name,
                        "DEFAULT" => e.name.starts_with(&format!("{} ", t.name)),
                        "COMMENT" | "ACL" | "SECURITY LABEL" => {
                            e.name == format!("TABLE {}", t.name)
                                || e.name.starts_with(&format!("COLUMN {}.", t.name))
                        }
                        _ => false,
                    }
            });
            let for_sequence = match e.kind.as_str() {
                "SEQUENCE" | "SEQUENCE OWNED BY" => is_owned(e, &e.name),
                "COMMENT" | "ACL" => e
                    .name
                    .strip_prefix("SEQUENCE ")
                    .is_some_and(|n| is_owned(e, n)),
                _ => false,
            };
            let schema = e.kind == "SCHEMA" && missing_schemas.contains(&e.name);
            for_table || for_sequence || schema
        })
        .cloned()
        .collect();
    let mut picked = picked;
    // A sequence created on its own (serial) must exist before the table's DEFAULT uses it;
    // identity sequences are added to the existing table, so they follow it.
    picked.sort_by_key(|e| match e.kind.as_str() {
        "SCHEMA" => 0,
        "SEQUENCE" if e.sql.contains("CREATE SEQUENCE") => 1,
        "TABLE" => 2,
        _ => 3,
    });
    let sequences = owned
        .iter()
        .map(|(s, n)| format!("{}.{}", quote_ident(s), quote_ident(n)))
        .collect();
    (picked, sequences)
}

/// Post-data entries that belong to the tables alone.
pub fn post_data(dump: &SplitDump, tables: &[TableName]) -> Vec<TocEntry> {
    dump.entries
        .iter()
        .filter(|e| {
            matches!(
                e.kind.as_str(),
                "INDEX" | "CONSTRAINT" | "ROW SECURITY" | "POLICY"
            ) && tables.iter().any(|t| {
                let q = t.quoted();
                [
                    format!(" ON {q} "),
                    format!(" ON ONLY {q} "),
                    format!("ALTER TABLE ONLY {q}\n"),
                    format!("ALTER TABLE {q} "),
                    format!("ALTER TABLE ONLY {q} "),
                    format!(" ON {q}\n"),
                    format!(" ON {q};"),
                ]
                .iter()
                .any(|needle| e.sql.contains(needle.as_str()))
            })
        })
        .cloned()
        .collect()
}

/// The `setval` lines of the given sequences.
pub fn sequence_values(sql: &str, sequences: &[String]) -> String {
    sql.lines()
        .filter(|l| {
            sequences
                .iter()
                .any(|s| l.contains(&crate::postgres::quote_literal(s)))
        })
        .map(|l| format!("{l}\n"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::restore::toc::split;

    const PRE: &str = "--\n-- Name: t_id_seq; Type: SEQUENCE; Schema: public; Owner: o\n--\n\nCREATE SEQUENCE \"public\".\"t_id_seq\";\n\n\
--\n-- Name: t_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: o\n--\n\nALTER SEQUENCE \"public\".\"t_id_seq\" OWNED BY \"public\".\"t\".\"id\";\n\n\
--\n-- Name: t; Type: TABLE; Schema: public; Owner: o\n--\n\nCREATE TABLE \"public\".\"t\" (id int);\n\n\
--\n-- Name: u; Type: TABLE; Schema: public; Owner: o\n--\n\nCREATE TABLE \"public\".\"u\" (id int);\n\n\
--\n-- Name: t id; Type: DEFAULT; Schema: public; Owner: o\n--\n\nALTER TABLE ONLY \"public\".\"t\" ALTER COLUMN \"id\" SET DEFAULT 1;\n\n\
--\n-- Name: TABLE t; Type: ACL; Schema: public; Owner: o\n--\n\nGRANT SELECT ON TABLE \"public\".\"t\" TO r;\n";

    const POST: &str = "--\n-- Name: t t_pkey; Type: CONSTRAINT; Schema: public; Owner: o\n--\n\nALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"t_pkey\" PRIMARY KEY (\"id\");\n\n\
--\n-- Name: u_idx; Type: INDEX; Schema: public; Owner: o\n--\n\nCREATE INDEX \"u_idx\" ON \"public\".\"u\" USING btree (\"id\");\n\n\
--\n-- Name: t_idx; Type: INDEX; Schema: public; Owner: o\n--\n\nCREATE INDEX \"t_idx\" ON \"public\".\"t\" USING btree (\"id\");\n\n\
--\n-- Name: t fk; Type: FK CONSTRAINT; Schema: public; Owner: o\n--\n\nALTER TABLE ONLY \"public\".\"t\"\n    ADD CONSTRAINT \"fk\" FOREIGN KEY (\"id\") REFERENCES \"public\".\"u\"(\"id\");\n";

    #[test]
    fn picks_one_tables_objects() {
        let t = vec![TableName {
            schema: "public".into(),
            name: "t".into(),
        }];
        let (pre, seqs) = pre_data(&split(PRE), &t, &[]);
        let kinds: Vec<&str> = pre.iter().map(|e| e.kind.as_str()).collect();
        assert_eq!(
            kinds,
            ["SEQUENCE", "TABLE", "SEQUENCE OWNED BY", "DEFAULT", "ACL"]
        );
        assert!(pre.iter().all(|e| !e.sql.contains("\"u\"")));
        assert_eq!(seqs, ["\"public\".\"t_id_seq\""]);
        let post = post_data(&split(POST), &t);
        let names: Vec<&str> = post.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["t t_pkey", "t_idx"]);
        let vals = sequence_values(
            "SELECT pg_catalog.setval('\"public\".\"t_id_seq\"', 5, true);\nSELECT pg_catalog.setval('\"public\".\"x\"', 1, true);\n",
            &seqs,
        );
        assert_eq!(vals.lines().count(), 1);
    }
}
