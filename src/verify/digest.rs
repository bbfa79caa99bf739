//! An order-independent digest of a table's rows in COPY text form.
//!
//! Each row (one line of `COPY … TO STDOUT` text: newlines inside values are escaped, so a
//! row is exactly one line) is hashed with 128-bit XXH3, and the hashes are added modulo
//! 2^128 with the row count beside them. A sum does not depend on the order rows come in —
//! a restored table is read back in heap order, which after a parallel load of a split
//! table is not the order the backup wrote — and, unlike XOR, two identical rows do not
//! cancel out. It guards against loss and damage, not against an adversary: the backup's
//! bytes are authenticated separately (signed manifest, keyed BLAKE3 of every stream).

use xxhash_rust::xxh3::xxh3_128;

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RowDigest {
    pub rows: u64,
    pub sum: u128,
}

impl RowDigest {
    pub fn add_row(&mut self, row: &[u8]) {
        self.rows += 1;
        self.sum = self.sum.wrapping_add(xxh3_128(row));
    }

    /// Combines the digests of two parts of a table.
    pub fn merge(&mut self, other: &RowDigest) {
        self.rows += other.rows;
        self.sum = self.sum.wrapping_add(other.sum);
    }

    /// `rows:hex` as evidence.
    pub fn display(&self) -> String {
        format!("{} rows, digest {:032x}", self.rows, self.sum)
    }
}

/// Cuts a stream, split at arbitrary places, into lines (without their newline).
#[derive(Debug, Default)]
pub struct LineSplitter {
    /// The start of a line whose end has not arrived yet.
    carry: Vec<u8>,
}

impl LineSplitter {
    /// Calls `line` for every line `chunk` completes.
    pub fn feed(&mut self, mut chunk: &[u8], mut line: impl FnMut(&[u8])) {
        while let Some(end) = memchr::memchr(b'\n', chunk) {
            if self.carry.is_empty() {
                line(&chunk[..end]);
            } else {
                self.carry.extend_from_slice(&chunk[..end]);
                line(&self.carry);
                self.carry.clear();
            }
            chunk = &chunk[end + 1..];
        }
        self.carry.extend_from_slice(chunk);
    }

    /// The last line, when the stream did not end with a newline.
    pub fn rest(self) -> Option<Vec<u8>> {
        (!self.carry.is_empty()).then_some(self.carry)
    }
}

/// Feeds a stream cut at arbitrary places into a [`RowDigest`], a line at a time.
#[derive(Debug, Default)]
pub struct LineDigester {
    digest: RowDigest,
    lines: LineSplitter,
}

impl LineDigester {
    pub fn update(&mut self, chunk: &[u8]) {
        let digest = &mut self.digest;
        self.lines.feed(chunk, |row| digest.add_row(row));
    }

    /// The digest; a last row without its newline still counts.
    pub fn finish(mut self) -> RowDigest {
        if let Some(row) = self.lines.rest() {
            self.digest.add_row(&row);
        }
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest_of(chunks: &[&[u8]]) -> RowDigest {
        let mut d = LineDigester::default();
        for c in chunks {
            d.update(c);
        }
        d.finish()
    }

    #[test]
    fn the_same_rows_in_any_order_and_any_cut_give_the_same_digest() {
        let a = digest_of(&[b"1\tx\n2\ty\n3\tz\n"]);
        let b = digest_of(&[b"3\tz\n1", b"\tx", b"\n2\ty\n"]);
        let c = digest_of(&[b"2\ty\n", b"", b"3\tz\n1\tx\n"]);
        assert_eq!(a, b);
        assert_eq!(a, c);
        assert_eq!(a.rows, 3);
    }

    #[test]
    fn changes_missing_and_duplicated_rows_show() {
        let good = digest_of(&[b"1\tx\n2\ty\n"]);
        assert_ne!(good, digest_of(&[b"1\tx\n2\tY\n"]));
        assert_ne!(good, digest_of(&[b"1\tx\n"]));
        let twice = digest_of(&[b"1\tx\n1\tx\n"]);
        assert_eq!(twice.rows, 2);
        assert_ne!(twice.sum, 0, "identical rows do not cancel");
    }

    #[test]
    fn parts_merge_into_the_whole() {
        let whole = digest_of(&[b"1\n2\n3\n4\n"]);
        let mut parts = digest_of(&[b"3\n4\n"]);
        parts.merge(&digest_of(&[b"1\n2\n"]));
        assert_eq!(whole, parts);
        assert_eq!(digest_of(&[]), RowDigest::default());
    }
}
