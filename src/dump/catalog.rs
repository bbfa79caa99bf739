//! What to dump, read from the catalogs inside the backup's snapshot.

use tokio_postgres::Client;

use crate::error::Result;
use crate::postgres::{quote_ident, quote_literal, ConnSpec};

#[derive(Debug, Clone)]
pub struct TableInfo {
    pub oid: i64,
    pub schema: String,
    pub name: String,
    /// Non-generated columns in attnum order: what COPY moves.
    pub columns: Vec<String>,
    /// Size of the heap on disk, to order work biggest first and to split big tables.
    pub bytes: u64,
    pub blocks: u64,
    /// An extension configuration table's dump condition (`WHERE …`), as pg_dump applies it.
    pub filter: Option<String>,
}

impl TableInfo {
    pub fn qualified(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.name))
    }
}

/// Schemas that are never user data.
pub(super) const SYSTEM_SCHEMAS: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema') \
     AND n.nspname !~ '^pg_toast' AND n.nspname !~ '^pg_temp_'";

/// Reads the tables' sizes. `pg_table_size` needs a lock on the table, so this runs
/// after `Exporter::lock_tables` has taken them (with its timeout and clear error).
pub async fn fill_sizes(client: &Client, conn: &ConnSpec, tables: &mut [TableInfo]) -> Result<()> {
    let oids: Vec<i64> = tables.iter().map(|t| t.oid).collect();
    let rows = client
        .query(
            // Bytes with TOAST (what the COPY output grows with), blocks of the main fork
            // (what block ranges split): a table of large values is split by its real size.
            "SELECT o, pg_table_size(o::oid)::int8,
                    (pg_relation_size(o::oid) / current_setting('block_size')::int8)::int8
               FROM unnest($1::int8[]) AS o",
            &[&oids],
        )
        .await
        .map_err(|e| conn.error("cannot read table sizes", &e))?;
    let sizes: std::collections::HashMap<i64, (i64, i64)> = rows
        .iter()
        .map(|r| (r.get(0), (r.get(1), r.get(2))))
        .collect();
    for t in tables {
        if let Some((bytes, blocks)) = sizes.get(&t.oid) {
            t.bytes = (*bytes).max(0) as u64;
            t.blocks = (*blocks).max(0) as u64;
        }
    }
    Ok(())
}

/// Ordinary tables whose rows pg_dump would dump: not temporary, not members of an
/// extension, except extensions' configuration tables (with their dump condition).
pub async fn tables(client: &Client, conn: &ConnSpec) -> Result<Vec<TableInfo>> {
    let sql = format!(
        "WITH ext_config AS (
             SELECT unnest(extconfig) AS oid, unnest(extcondition) AS cond FROM pg_extension
         )
         SELECT n.nspname, c.relname,
                coalesce((SELECT array_agg(a.attname::text ORDER BY a.attnum)
                            FROM pg_attribute a
                           WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
                             AND a.attgenerated = ''), '{{}}') AS columns,
                c.oid::int8, x.cond
           FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
           LEFT JOIN ext_config x ON x.oid = c.oid
          WHERE c.relkind = 'r' AND c.relpersistence <> 't' AND {SYSTEM_SCHEMAS}
            AND (x.oid IS NOT NULL OR NOT EXISTS (
                   SELECT 1 FROM pg_depend d
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.deptype = 'e'))
          ORDER BY n.nspname, c.relname"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| conn.error("cannot list tables", &e))?;
    Ok(rows
        .iter()
        .map(|r| {
            let filter: Option<String> = r.get(4);
            TableInfo {
                schema: r.get(0),
                name: r.get(1),
                columns: r.get(2),
                oid: r.get::<_, i64>(3),
                bytes: 0,
                blocks: 0,
                filter: filter.filter(|f| !f.trim().is_empty()),
            }
        })
        .collect())
}

/// `SELECT pg_catalog.setval(…)` for every sequence of the database (extension members
/// excluded, as pg_dump does), read in the snapshot.
pub async fn sequences_sql(client: &Client, conn: &ConnSpec) -> Result<String> {
    let sql = format!(
        "SELECT n.nspname, c.relname FROM pg_class c
           JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE c.relkind = 'S' AND {SYSTEM_SCHEMAS}
            AND NOT EXISTS (SELECT 1 FROM pg_depend d
                             WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                               AND d.deptype = 'e')
          ORDER BY 1, 2"
    );
    let rows = client
        .query(&sql, &[])
        .await
        .map_err(|e| conn.error("cannot list sequences", &e))?;
    let mut out = String::from("-- Sequence values, as of the backup's snapshot.\n");
    for r in rows {
        let qualified = format!(
            "{}.{}",
            quote_ident(r.get::<_, &str>(0)),
            quote_ident(r.get::<_, &str>(1))
        );
        let row = client
            .query_one(
                &format!("SELECT last_value::text, is_called FROM {qualified}"),
                &[],
            )
            .await
            .map_err(|e| conn.error(&format!("cannot read sequence {qualified}"), &e))?;
        let last: String = row.get(0);
        let called: bool = row.get(1);
        out.push_str(&format!(
            "SELECT pg_catalog.setval({}, {last}, {called});\n",
            quote_literal(&qualified)
        ));
    }
    Ok(out)
}

pub async fn database_encoding(client: &Client, conn: &ConnSpec) -> Result<String> {
    let row = client
        .query_one(
            "SELECT pg_encoding_to_char(encoding)::text FROM pg_database \
             WHERE datname = current_database()",
            &[],
        )
        .await
        .map_err(|e| conn.error("cannot read the database encoding", &e))?;
    Ok(row.get(0))
}
