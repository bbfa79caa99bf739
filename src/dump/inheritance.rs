//! Inheritance children whose column order pg_dump's SQL would not reproduce.
//!
//! pg_dump writes a child as `CREATE TABLE child (its local columns) INHERITS (parents)`,
//! which gives the parents' columns first (in order, merged by name), then the child's
//! own. A child whose columns are in another order (a column added to a parent after the
//! child existed, or a child created first and attached with `ALTER TABLE … INHERIT`)
//! comes back reordered, so `SELECT *` and positional `INSERT`s change meaning. For those
//! tables the backup records what restore needs to create them with their own order and
//! attach them afterwards, as pg_dump's binary-upgrade mode does.

use std::collections::HashMap;

use tokio_postgres::Client;

use super::catalog::SYSTEM_SCHEMAS;
use crate::error::Result;
use crate::postgres::ConnSpec;
use crate::repository::manifest::{
    Generated, InheritedCheck, InheritedColumn, InheritedTable, QualifiedRef,
};

/// The column order `CREATE TABLE … INHERITS` gives: every parent's columns in order
/// (a name seen before is merged), then the child's own columns that no parent has.
pub fn dump_order(parents: &[Vec<String>], child: &[(String, bool)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in parents {
        for c in p {
            if !out.contains(c) {
                out.push(c.clone());
            }
        }
    }
    for (c, local) in child {
        if *local && !out.contains(c) {
            out.push(c.clone());
        }
    }
    out
}

/// Children (ordinary tables, not partitions) whose order differs from [`dump_order`].
pub async fn divergent_children(
    client: &Client,
    conn: &ConnSpec,
    version_num: u32,
) -> Result<Vec<InheritedTable>> {
    let err = |e: tokio_postgres::Error| conn.error("cannot read table inheritance", &e);
    let edges = client
        .query(
            &format!(
                "SELECT i.inhrelid::int8, i.inhparent::int8
                   FROM pg_catalog.pg_inherits i
                   JOIN pg_catalog.pg_class c ON c.oid = i.inhrelid
                   JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
                  WHERE c.relkind = 'r' AND NOT c.relispartition AND {SYSTEM_SCHEMAS}
                  ORDER BY 1, i.inhseqno"
            ),
            &[],
        )
        .await
        .map_err(err)?;
    if edges.is_empty() {
        return Ok(Vec::new());
    }
    let mut parents: Vec<(i64, Vec<i64>)> = Vec::new();
    for r in &edges {
        let (child, parent): (i64, i64) = (r.get(0), r.get(1));
        match parents.last_mut() {
            Some((c, ps)) if *c == child => ps.push(parent),
            _ => parents.push((child, vec![parent])),
        }
    }
    let mut oids: Vec<i64> = edges.iter().flat_map(|r| [r.get(0), r.get(1)]).collect();
    oids.sort_unstable();
    oids.dedup();
    let rows = client
        .query(
            "SELECT a.attrelid::int8, a.attname::text, a.attislocal
               FROM pg_catalog.pg_attribute a
              WHERE a.attrelid::int8 = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(err)?;
    let mut columns: HashMap<i64, Vec<(String, bool)>> = HashMap::new();
    for r in rows {
        columns
            .entry(r.get(0))
            .or_default()
            .push((r.get(1), r.get(2)));
    }
    let mut out = Vec::new();
    for (child, ps) in parents {
        let own = columns.get(&child).cloned().unwrap_or_default();
        let parent_cols: Vec<Vec<String>> = ps
            .iter()
            .map(|p| {
                columns
                    .get(p)
                    .map(|cs| cs.iter().map(|(n, _)| n.clone()).collect())
                    .unwrap_or_default()
            })
            .collect();
        let actual: Vec<String> = own.iter().map(|(n, _)| n.clone()).collect();
        if dump_order(&parent_cols, &own) != actual {
            out.push(describe(client, conn, version_num, child).await?);
        }
    }
    if !out.is_empty() {
        tracing::info!(
            tables = out.len(),
            "inheritance children with their own column order recorded"
        );
    }
    Ok(out)
}

/// Everything restore needs to create `oid` with its columns in order. Names are read
/// with an empty search_path, so types, collations and expressions come schema-qualified
/// as in pg_dump's output.
async fn describe(
    client: &Client,
    conn: &ConnSpec,
    version_num: u32,
    oid: i64,
) -> Result<InheritedTable> {
    let err = |e: tokio_postgres::Error| conn.error("cannot read an inheritance child", &e);
    client
        .batch_execute("SELECT pg_catalog.set_config('search_path', '', true)")
        .await
        .map_err(err)?;
    let class = client
        .query_one(
            "SELECT n.nspname::text, c.relname::text, c.relpersistence = 'u',
                    coalesce(c.reloptions, '{}'),
                    coalesce((SELECT t.reloptions FROM pg_catalog.pg_class t
                               WHERE t.oid = c.reltoastrelid), '{}')
               FROM pg_catalog.pg_class c
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid::int8 = $1",
            &[&oid],
        )
        .await
        .map_err(err)?;
    let parents = client
        .query(
            "SELECT n.nspname::text, c.relname::text
               FROM pg_catalog.pg_inherits i
               JOIN pg_catalog.pg_class c ON c.oid = i.inhparent
               JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE i.inhrelid::int8 = $1 ORDER BY i.inhseqno",
            &[&oid],
        )
        .await
        .map_err(err)?
        .iter()
        .map(|r| QualifiedRef {
            schema: r.get(0),
            name: r.get(1),
        })
        .collect();
    // PostgreSQL 18 names NOT NULL constraints and tracks whether they are the table's own.
    // Before 18 there is no telling: as pg_dump does, a NOT NULL a parent's column also
    // has counts as inherited.
    let not_null = if version_num >= 180000 {
        "(SELECT ARRAY[k.conname::text, k.conislocal::text] FROM pg_catalog.pg_constraint k
           WHERE k.conrelid = a.attrelid AND k.contype = 'n' AND k.conkey[1] = a.attnum)"
    } else {
        "ARRAY[NULL, (NOT EXISTS (
            SELECT 1 FROM pg_catalog.pg_inherits i
              JOIN pg_catalog.pg_attribute pa
                ON pa.attrelid = i.inhparent AND pa.attname = a.attname AND pa.attnotnull
             WHERE i.inhrelid = a.attrelid))::text]"
    };
    let cols = client
        .query(
            &format!(
                "SELECT a.attname::text, pg_catalog.format_type(a.atttypid, a.atttypmod),
                        CASE WHEN a.attcollation <> 0 AND a.attcollation <> t.typcollation
                             THEN pg_catalog.quote_ident(cn.nspname) || '.'
                                  || pg_catalog.quote_ident(co.collname) END,
                        a.attnotnull, a.attislocal,
                        pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attgenerated::text,
                        {not_null}
                   FROM pg_catalog.pg_attribute a
                   JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
                   LEFT JOIN pg_catalog.pg_collation co ON co.oid = a.attcollation
                   LEFT JOIN pg_catalog.pg_namespace cn ON cn.oid = co.collnamespace
                   LEFT JOIN pg_catalog.pg_attrdef ad
                          ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                  WHERE a.attrelid::int8 = $1 AND a.attnum > 0 AND NOT a.attisdropped
                  ORDER BY a.attnum"
            ),
            &[&oid],
        )
        .await
        .map_err(err)?;
    let columns = cols
        .iter()
        .map(|r| {
            let expr: Option<String> = r.get(5);
            let generated_kind: String = r.get(6);
            let local: bool = r.get(4);
            let nn: Option<Vec<Option<String>>> = r.get(7);
            let (not_null_name, not_null_local) = match nn.as_deref() {
                Some([name, local]) => (name.clone(), local.as_deref() == Some("true")),
                _ => (None, true),
            };
            let (default, generated) = match generated_kind.as_str() {
                "" => (expr.filter(|_| local), None),
                kind => (
                    None,
                    expr.map(|expression| Generated {
                        expression,
                        stored: kind == "s",
                    }),
                ),
            };
            InheritedColumn {
                name: r.get(0),
                type_name: r.get(1),
                collation: r.get(2),
                not_null: r.get(3),
                not_null_name,
                not_null_local,
                local,
                default,
                generated,
            }
        })
        .collect();
    let checks = client
        .query(
            "SELECT conname::text, pg_catalog.pg_get_constraintdef(oid), conislocal
               FROM pg_catalog.pg_constraint
              WHERE conrelid::int8 = $1 AND contype = 'c' AND convalidated
              ORDER BY conname",
            &[&oid],
        )
        .await
        .map_err(err)?
        .iter()
        .map(|r| InheritedCheck {
            name: r.get(0),
            definition: r.get(1),
            local: r.get(2),
        })
        .collect();
    Ok(InheritedTable {
        schema: class.get(0),
        name: class.get(1),
        parents,
        unlogged: class.get(2),
        options: class.get(3),
        toast_options: class.get(4),
        columns,
        checks,
    })
}

#[cfg(test)]
mod tests {
    use super::dump_order;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn pg_dump_order_is_parents_first_then_own_columns() {
        // A parent column added after the child existed goes to the end of the child.
        let parents = vec![s(&["id", "a", "late"])];
        let child = vec![
            ("id".into(), false),
            ("a".into(), false),
            ("own".into(), true),
            ("late".into(), false),
        ];
        assert_eq!(dump_order(&parents, &child), s(&["id", "a", "late", "own"]));
        // A child created first and attached: every column local.
        let child = vec![("z".into(), true), ("a".into(), true), ("id".into(), true)];
        let parents = vec![s(&["id", "a"])];
        assert_eq!(dump_order(&parents, &child), s(&["id", "a", "z"]));
        // Two parents sharing a column: merged at its first place.
        let parents = vec![s(&["id", "x"]), s(&["id", "y"])];
        let child = vec![
            ("id".into(), false),
            ("x".into(), false),
            ("y".into(), false),
        ];
        assert_eq!(dump_order(&parents, &child), s(&["id", "x", "y"]));
    }
}
