//! Table rows out of PostgreSQL with `COPY … TO STDOUT`, in text format: the format pg_dump
//! writes, readable by any newer server and by psql by hand.

use super::catalog::TableInfo;
use crate::error::Result;
use crate::manifest::BlockRange;
use crate::pipeline::{ObjectStats, ObjectWriter};
use crate::postgres::quote_ident;
use crate::postgres::wire::WireSession;

pub fn column_list(columns: &[String]) -> String {
    columns
        .iter()
        .map(|c| quote_ident(c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The COPY statement for a table, or for one block range of it.
pub fn copy_out_sql(table: &TableInfo, blocks: Option<BlockRange>) -> String {
    let cols = column_list(&table.columns);
    let mut conditions: Vec<String> = Vec::new();
    if let Some(r) = blocks {
        conditions.push(format!("ctid >= '({},0)'::tid", r.start));
        if let Some(end) = r.end {
            conditions.push(format!("ctid < '({end},0)'::tid"));
        }
    }
    if let Some(filter) = &table.filter {
        // Extension configuration tables carry a condition such as `WHERE id > 100`.
        let cond = filter.trim();
        let cond = cond
            .strip_prefix("WHERE ")
            .or_else(|| cond.strip_prefix("where "))
            .unwrap_or(cond);
        conditions.push(format!("({cond})"));
    }
    if conditions.is_empty() {
        if cols.is_empty() {
            return format!("COPY {} TO STDOUT", table.qualified());
        }
        return format!("COPY {} ({cols}) TO STDOUT", table.qualified());
    }
    let select = if cols.is_empty() {
        "*".to_string()
    } else {
        cols
    };
    format!(
        "COPY (SELECT {select} FROM ONLY {} WHERE {}) TO STDOUT",
        table.qualified(),
        conditions.join(" AND ")
    )
}

/// Streams one table (range) into `writer`; returns the row count and the object. The
/// server sends each row of a COPY as one message, so the count is exact (restore checks it
/// against what COPY FROM reports).
pub async fn copy_table(
    session: &mut WireSession,
    table: &TableInfo,
    blocks: Option<BlockRange>,
    mut writer: ObjectWriter,
    progress: &crate::progress::Progress,
) -> Result<(u64, ObjectStats)> {
    let sql = copy_out_sql(table, blocks);
    let what = format!("COPY of {}.{}", table.schema, table.name);
    let rows = session.copy_out(&sql, &what, &mut writer, progress).await?;
    Ok((rows, writer.finish().await?))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(filter: Option<&str>) -> TableInfo {
        TableInfo {
            oid: 0,
            schema: "s".into(),
            name: "My T".into(),
            columns: vec!["a".into(), "B".into()],
            bytes: 0,
            blocks: 0,
            filter: filter.map(str::to_string),
        }
    }

    #[test]
    fn statements() {
        assert_eq!(
            copy_out_sql(&t(None), None),
            r#"COPY "s"."My T" ("a", "B") TO STDOUT"#
        );
        assert_eq!(
            copy_out_sql(
                &t(None),
                Some(BlockRange {
                    start: 10,
                    end: Some(20)
                })
            ),
            r#"COPY (SELECT "a", "B" FROM ONLY "s"."My T" WHERE ctid >= '(10,0)'::tid AND ctid < '(20,0)'::tid) TO STDOUT"#
        );
        assert_eq!(
            copy_out_sql(&t(Some("WHERE a > 1")), None),
            r#"COPY (SELECT "a", "B" FROM ONLY "s"."My T" WHERE (a > 1)) TO STDOUT"#
        );
    }
}
