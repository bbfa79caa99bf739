//! Inheritance children in their own column order. pg_dump's `CREATE TABLE child (…)
//! INHERITS (parent)` would put the parents' columns first; for the children the backup
//! recorded (see `dump::inheritance`), the entry's CREATE TABLE is regenerated with every
//! column in the child's order, then the child is attached with `ALTER TABLE … INHERIT`,
//! as pg_dump's binary-upgrade mode does. The rest of pg_dump's entry (owner, column
//! storage and statistics…) runs unchanged after it.
//!
//! Attaching makes every column and CHECK constraint the child's own (`attislocal`,
//! `conislocal`). As a superuser the restore then marks the ones that were only inherited
//! as such in the catalog, exactly as binary upgrade does; without superuser they stay
//! marked local, which changes only what a later `ALTER TABLE parent DROP COLUMN` does to
//! the child (it keeps the column), and the restore says so.

use crate::postgres::quote_ident;
use crate::postgres::quote_literal;
use crate::postgres::toc::{EntryKind, SplitDump};
use crate::repository::manifest::InheritedTable;

/// Rewrites the CREATE TABLE of every recorded child found in `dump`. Returns how many
/// were rewritten.
pub fn rewrite(dump: &mut SplitDump, tables: &[InheritedTable], superuser: bool) -> usize {
    let mut done = 0;
    for t in tables {
        let Some(entry) = dump.entries.iter_mut().find(|e| {
            e.kind == EntryKind::Table
                && e.schema.as_deref() == Some(t.schema.as_str())
                && e.name == t.name
        }) else {
            tracing::warn!(
                table = %format!("{}.{}", t.schema, t.name),
                "no definition of this inheritance child in the schema; its column order is not restored"
            );
            continue;
        };
        let create = entry.starts_with_words(&["CREATE", "TABLE"])
            || entry.starts_with_words(&["CREATE", "UNLOGGED", "TABLE"]);
        let Some((_, rest)) = entry.first_statement().filter(|_| create) else {
            tracing::warn!(
                table = %format!("{}.{}", t.schema, t.name),
                "the schema's definition of this inheritance child is not a CREATE TABLE; its column order is not restored"
            );
            continue;
        };
        entry.sql = format!("\n{}{rest}", definition(t, superuser));
        done += 1;
    }
    done
}

/// CREATE TABLE with every column in order, the attachments, and (as a superuser) the
/// catalog marks of what was only inherited.
pub fn definition(t: &InheritedTable, superuser: bool) -> String {
    let table = format!("{}.{}", quote_ident(&t.schema), quote_ident(&t.name));
    let mut items: Vec<String> = t.columns.iter().map(column).collect();
    items.extend(
        t.checks
            .iter()
            .map(|c| format!("CONSTRAINT {} {}", quote_ident(&c.name), c.definition)),
    );
    let mut sql = format!(
        "CREATE {}TABLE {table} (\n    {}\n)",
        if t.unlogged { "UNLOGGED " } else { "" },
        items.join(",\n    ")
    );
    let options: Vec<String> = t
        .options
        .iter()
        .map(|o| option(o, ""))
        .chain(t.toast_options.iter().map(|o| option(o, "toast.")))
        .collect();
    if !options.is_empty() {
        sql.push_str(&format!("\nWITH ({})", options.join(", ")));
    }
    sql.push_str(";\n");
    for p in &t.parents {
        sql.push_str(&format!(
            "ALTER TABLE ONLY {table} INHERIT {}.{};\n",
            quote_ident(&p.schema),
            quote_ident(&p.name)
        ));
    }
    if superuser {
        sql.push_str(&catalog_marks(t, &table));
    }
    sql
}

fn column(c: &crate::repository::manifest::InheritedColumn) -> String {
    let mut s = format!("{} {}", quote_ident(&c.name), c.type_name);
    if let Some(coll) = &c.collation {
        s.push_str(&format!(" COLLATE {coll}"));
    }
    if let Some(g) = &c.generated {
        s.push_str(&format!(
            " GENERATED ALWAYS AS ({}) {}",
            g.expression,
            if g.stored { "STORED" } else { "VIRTUAL" }
        ));
    }
    if let Some(d) = &c.default {
        s.push_str(&format!(" DEFAULT {d}"));
    }
    if c.not_null {
        if let Some(name) = &c.not_null_name {
            s.push_str(&format!(" CONSTRAINT {}", quote_ident(name)));
        }
        s.push_str(" NOT NULL");
    }
    s
}

/// `name=value` as `name='value'`.
fn option(text: &str, prefix: &str) -> String {
    match text.split_once('=') {
        Some((name, value)) => format!("{prefix}{name}={}", quote_literal(value)),
        None => format!("{prefix}{text}"),
    }
}

/// What binary upgrade does after attaching: columns and constraints the child only
/// inherited are marked so.
fn catalog_marks(t: &InheritedTable, table: &str) -> String {
    let rel = format!("{}::pg_catalog.regclass", quote_literal(table));
    let list = |names: Vec<&str>| {
        names
            .into_iter()
            .map(quote_literal)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut sql = String::new();
    let inherited: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| !c.local)
        .map(|c| c.name.as_str())
        .collect();
    if !inherited.is_empty() {
        sql.push_str(&format!(
            "UPDATE pg_catalog.pg_attribute SET attislocal = false \
             WHERE attrelid = {rel} AND attname IN ({});\n",
            list(inherited)
        ));
    }
    let checks: Vec<&str> = t
        .checks
        .iter()
        .filter(|c| !c.local)
        .map(|c| c.name.as_str())
        .collect();
    if !checks.is_empty() {
        sql.push_str(&format!(
            "UPDATE pg_catalog.pg_constraint SET conislocal = false \
             WHERE conrelid = {rel} AND contype = 'c' AND conname IN ({});\n",
            list(checks)
        ));
    }
    // NOT NULL constraints exist in the catalog from PostgreSQL 18 (on older targets this
    // matches nothing).
    let not_null: Vec<&str> = t
        .columns
        .iter()
        .filter(|c| c.not_null && !c.not_null_local)
        .map(|c| c.name.as_str())
        .collect();
    if !not_null.is_empty() {
        sql.push_str(&format!(
            "UPDATE pg_catalog.pg_constraint k SET conislocal = false \
             FROM pg_catalog.pg_attribute a \
             WHERE k.conrelid = {rel} AND k.contype = 'n' AND a.attrelid = {rel} \
             AND k.conkey = ARRAY[a.attnum] AND a.attname IN ({});\n",
            list(not_null)
        ));
    }
    sql
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::postgres::toc;
    use crate::repository::manifest::{InheritedCheck, InheritedColumn, QualifiedRef};

    fn col(name: &str, local: bool, not_null: bool) -> InheritedColumn {
        InheritedColumn {
            name: name.into(),
            type_name: "integer".into(),
            collation: None,
            not_null,
            not_null_name: None,
            not_null_local: local,
            local,
            default: None,
            generated: None,
        }
    }

    fn child() -> InheritedTable {
        let mut own = col("own", true, false);
        own.type_name = "text".into();
        own.collation = Some("pg_catalog.\"C\"".into());
        own.default = Some("'x'::text".into());
        InheritedTable {
            schema: "app".into(),
            name: "kid".into(),
            parents: vec![QualifiedRef {
                schema: "app".into(),
                name: "mum".into(),
            }],
            unlogged: false,
            options: vec!["fillfactor=70".into()],
            toast_options: vec![],
            columns: vec![col("id", false, true), own, col("late", false, false)],
            checks: vec![InheritedCheck {
                name: "mum_id".into(),
                definition: "CHECK ((id > 0))".into(),
                local: false,
            }],
        }
    }

    #[test]
    fn the_child_is_created_in_its_order_then_attached() {
        let sql = definition(&child(), true);
        let create = "CREATE TABLE \"app\".\"kid\" (\n    \"id\" integer NOT NULL,\n    \
                      \"own\" text COLLATE pg_catalog.\"C\" DEFAULT 'x'::text,\n    \
                      \"late\" integer,\n    CONSTRAINT \"mum_id\" CHECK ((id > 0))\n)\n\
                      WITH (fillfactor='70');\n\
                      ALTER TABLE ONLY \"app\".\"kid\" INHERIT \"app\".\"mum\";\n";
        assert!(sql.starts_with(create), "{sql}");
        assert!(sql.contains("attname IN ('id', 'late')"), "{sql}");
        assert!(
            sql.contains("contype = 'c' AND conname IN ('mum_id')"),
            "{sql}"
        );
        assert!(
            sql.contains("contype = 'n'") && sql.contains("IN ('id')"),
            "{sql}"
        );
        assert!(!definition(&child(), false).contains("UPDATE"));
    }

    #[test]
    fn only_the_create_statement_of_the_entry_is_replaced() {
        let mut d = toc::split(
            "--\n-- Name: kid; Type: TABLE; Schema: app; Owner: o\n--\n\n\
             CREATE TABLE \"app\".\"kid\" (\n    \"own\" text\n)\nINHERITS (\"app\".\"mum\");\n\n\
             ALTER TABLE \"app\".\"kid\" OWNER TO \"o\";\n",
        );
        assert_eq!(rewrite(&mut d, &[child()], true), 1);
        let sql = &d.entries[0].sql;
        assert!(!sql.contains("INHERITS"), "{sql}");
        assert!(sql.contains("INHERIT \"app\".\"mum\""), "{sql}");
        assert!(sql.trim_end().ends_with("OWNER TO \"o\";"), "{sql}");
        let mut other = child();
        other.name = "absent".into();
        assert_eq!(rewrite(&mut d, &[other], true), 0);
    }
}
