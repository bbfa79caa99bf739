//! The work of one database's backup, as independent items that parallel workers take
//! biggest first. Large tables are split into heap block ranges so one huge table keeps
//! every worker busy; each range becomes its own object, restorable in parallel too.

use std::sync::Arc;

use super::catalog::TableInfo;
use crate::manifest::BlockRange;

/// Tables above this many bytes on disk are split into ranges of about this size.
pub const DEFAULT_SPLIT_BYTES: u64 = 256 << 20;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    PreData,
    PostData,
}

#[derive(Debug, Clone)]
pub enum WorkItem {
    Schema(Section),
    LargeObjects,
    Table {
        table: Arc<TableInfo>,
        blocks: Option<BlockRange>,
        /// Position in the dump: keeps object names and manifest order stable.
        seq: usize,
        part: Option<usize>,
    },
}

impl WorkItem {
    /// Estimated bytes, to schedule the biggest first.
    fn weight(&self, table_count: usize) -> u64 {
        match self {
            // Schema dumps are quick but must not be left to the very end.
            WorkItem::Schema(_) | WorkItem::LargeObjects => u64::MAX - table_count as u64,
            WorkItem::Table { table, blocks, .. } => match blocks {
                None => table.bytes,
                Some(r) => {
                    let end = r.end.unwrap_or(table.blocks.max(r.start + 1));
                    (end - r.start) * (table.bytes / table.blocks.max(1))
                }
            },
        }
    }
}

/// Block ranges covering a table of `blocks` blocks in pieces of about `split_bytes`.
/// The last range is open-ended, so rows in blocks added after sizing are not missed.
pub fn block_ranges(bytes: u64, blocks: u64, split_bytes: u64) -> Option<Vec<BlockRange>> {
    if split_bytes == 0 || bytes <= split_bytes || blocks < 2 {
        return None;
    }
    let pieces = bytes.div_ceil(split_bytes).min(blocks);
    let step = blocks.div_ceil(pieces);
    let mut out = Vec::new();
    let mut start = 0;
    while start + step < blocks {
        out.push(BlockRange {
            start,
            end: Some(start + step),
        });
        start += step;
    }
    out.push(BlockRange { start, end: None });
    Some(out)
}

pub fn plan(tables: Vec<TableInfo>, split_bytes: u64, with_schema: bool) -> Vec<WorkItem> {
    let count = tables.len();
    let mut items = Vec::new();
    if with_schema {
        items.push(WorkItem::Schema(Section::PreData));
        items.push(WorkItem::Schema(Section::PostData));
        items.push(WorkItem::LargeObjects);
    }
    for (seq, t) in tables.into_iter().enumerate() {
        let ranges = if t.filter.is_some() {
            None
        } else {
            block_ranges(t.bytes, t.blocks, split_bytes)
        };
        let table = Arc::new(t);
        match ranges {
            None => items.push(WorkItem::Table {
                table,
                blocks: None,
                seq,
                part: None,
            }),
            Some(ranges) => {
                for (i, r) in ranges.into_iter().enumerate() {
                    items.push(WorkItem::Table {
                        table: table.clone(),
                        blocks: Some(r),
                        seq,
                        part: Some(i),
                    });
                }
            }
        }
    }
    items.sort_by_key(|i| std::cmp::Reverse(i.weight(count)));
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(name: &str, bytes: u64) -> TableInfo {
        TableInfo {
            oid: 0,
            schema: "public".into(),
            name: name.into(),
            columns: vec!["a".into()],
            bytes,
            blocks: bytes / 8192,
            filter: None,
        }
    }

    #[test]
    fn ranges_cover_every_block_once() {
        let r = block_ranges(1000 * 8192, 1000, 300 * 8192).unwrap();
        assert_eq!(r.len(), 4);
        assert_eq!(r[0].start, 0);
        for w in r.windows(2) {
            assert_eq!(w[0].end, Some(w[1].start));
        }
        assert_eq!(r.last().unwrap().end, None);
        assert!(block_ranges(100, 1, 1000).is_none());
        assert!(block_ranges(10 << 20, 1280, 0).is_none());
    }

    #[test]
    fn biggest_first_schema_before_tables() {
        let items = plan(
            vec![
                table("small", 8192),
                table("big", 1 << 30),
                table("mid", 1 << 20),
            ],
            512 << 20,
            true,
        );
        assert!(matches!(items[0], WorkItem::Schema(Section::PreData)));
        let names: Vec<String> = items
            .iter()
            .filter_map(|i| match i {
                WorkItem::Table { table, part, .. } => Some(format!("{}{part:?}", table.name)),
                _ => None,
            })
            .collect();
        assert_eq!(names, ["bigSome(0)", "bigSome(1)", "midNone", "smallNone"]);
    }
}
