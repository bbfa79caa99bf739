//! Picking single tables out of a database backup: their rows, and from the schema dump the
//! entries that define them (table, defaults, owned sequences, comments, grants) and their
//! indexes, constraints and row-security policies. Foreign keys and triggers are left out,
//! as with `pg_restore --table`: they depend on objects outside the selection.

use crate::error::{Error, Result};
use crate::manifest::{DatabaseBackup, TableData};
use crate::postgres::toc::{EntryKind, QualifiedName, SplitDump, Subject, TocEntry};

/// Resolves `schema.table` or a bare `table` (unique across schemas) against the backup.
pub fn resolve(db: &DatabaseBackup, wanted: &[String]) -> Result<Vec<QualifiedName>> {
    let mut out: Vec<QualifiedName> = Vec::new();
    for w in wanted {
        let matches: Vec<&TableData> = db
            .tables
            .iter()
            .filter(|t| t.display_name() == *w || t.name == *w)
            .collect();
        let mut names: Vec<QualifiedName> = matches
            .iter()
            .map(|t| QualifiedName::new(&t.schema, &t.name))
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

pub fn data_of(db: &DatabaseBackup, tables: &[QualifiedName]) -> Vec<TableData> {
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
    tables: &[QualifiedName],
    missing_schemas: &[String],
) -> (Vec<TocEntry>, Vec<String>) {
    let owned = owned_sequences(dump, tables);
    let is_owned = |e: &TocEntry, name: &str| {
        e.schema
            .as_ref()
            .is_some_and(|s| owned.contains(&QualifiedName::new(s, name)))
    };
    let mut picked: Vec<TocEntry> = dump
        .entries
        .iter()
        .filter(|e| {
            let for_table = tables.iter().any(|t| e.is_on(t)) && defines_table(e);
            let for_sequence = match (&e.kind, &e.subject) {
                (EntryKind::Sequence | EntryKind::SequenceOwnedBy, _) => is_owned(e, &e.name),
                (EntryKind::Comment | EntryKind::Acl, Some(Subject::Sequence(name))) => {
                    is_owned(e, name)
                }
                _ => false,
            };
            let schema = e.kind == EntryKind::Schema && missing_schemas.contains(&e.name);
            for_table || for_sequence || schema
        })
        .cloned()
        .collect();
    // A sequence created on its own (serial) must exist before the table's DEFAULT uses it;
    // identity sequences are added to the existing table, so they follow it.
    picked.sort_by_key(|e| match e.kind {
        EntryKind::Schema => 0,
        EntryKind::Sequence if e.table.is_none() => 1,
        EntryKind::Table => 2,
        _ => 3,
    });
    let sequences = owned.iter().map(QualifiedName::quoted).collect();
    (picked, sequences)
}

/// Sequences the tables own: serial ones through OWNED BY, identity ones through the
/// ALTER TABLE … ADD GENERATED statement pg_dump files as a SEQUENCE entry.
fn owned_sequences(dump: &SplitDump, tables: &[QualifiedName]) -> Vec<QualifiedName> {
    dump.entries
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::SequenceOwnedBy | EntryKind::Sequence))
        .filter(|e| tables.iter().any(|t| e.is_on(t)))
        .filter_map(|e| Some(QualifiedName::new(e.schema.as_ref()?, &e.name)))
        .collect()
}

/// Whether an entry on a table is part of its definition: the table itself, its column
/// defaults, and comments, grants and security labels on it or its columns.
fn defines_table(e: &TocEntry) -> bool {
    match e.kind {
        EntryKind::Table | EntryKind::Default => true,
        EntryKind::Comment | EntryKind::Acl | EntryKind::SecurityLabel => {
            matches!(e.subject, Some(Subject::Table | Subject::Column))
        }
        _ => false,
    }
}

/// Post-data entries that belong to the tables alone.
pub fn post_data(dump: &SplitDump, tables: &[QualifiedName]) -> Vec<TocEntry> {
    dump.entries
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EntryKind::Index
                    | EntryKind::Constraint
                    | EntryKind::RowSecurity
                    | EntryKind::Policy
            ) && tables.iter().any(|t| e.is_on(t))
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
    use crate::postgres::toc::split;

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
        let t = vec![QualifiedName::new("public", "t")];
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

    #[test]
    fn picks_tables_out_of_a_real_dump() {
        let pre = split(include_str!("../../tests/fixtures/pg_dump/pre-data.sql"));
        let post = split(include_str!("../../tests/fixtures/pg_dump/post-data.sql"));
        let odd = vec![QualifiedName::new("My Schema", "odd.name table")];
        let (entries, seqs) = pre_data(&pre, &odd, &["My Schema".to_string()]);
        let picked: Vec<String> = entries
            .iter()
            .map(|e| format!("{} {}", e.kind, e.name))
            .collect();
        assert_eq!(
            picked,
            [
                "SCHEMA My Schema",
                "SEQUENCE odd.name table_id_seq",
                "TABLE odd.name table",
                "COMMENT TABLE \"odd.name table\"",
                "COMMENT COLUMN \"odd.name table\".\"a.b\"",
                "SEQUENCE OWNED BY odd.name table_id_seq",
                "COMMENT SEQUENCE \"odd.name table_id_seq\"",
                "DEFAULT odd.name table id",
                "ACL TABLE \"odd.name table\"",
                "ACL COLUMN \"odd.name table\".\"Note\"",
                "ACL SEQUENCE \"odd.name table_id_seq\"",
            ]
        );
        assert_eq!(seqs, ["\"My Schema\".\"odd.name table_id_seq\""]);

        let orders = vec![QualifiedName::new("public", "orders")];
        let (entries, seqs) = pre_data(&pre, &orders, &[]);
        let picked: Vec<String> = entries
            .iter()
            .map(|e| format!("{} {}", e.kind, e.name))
            .collect();
        // The identity sequence follows its table.
        assert_eq!(picked, ["TABLE orders", "SEQUENCE orders_id_seq"]);
        assert_eq!(seqs, ["\"public\".\"orders_id_seq\""]);
        let names: Vec<String> = post_data(&post, &orders)
            .iter()
            .map(|e| format!("{} {}", e.kind, e.name))
            .collect();
        // No trigger, no foreign key: they depend on objects outside the selection.
        assert_eq!(
            names,
            [
                "CONSTRAINT orders orders_pkey",
                "CONSTRAINT orders orders_ref_id_key",
                "ROW SECURITY orders",
                "POLICY orders p_all",
            ]
        );
    }
}
