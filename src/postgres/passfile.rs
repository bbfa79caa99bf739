//! The password file libpq reads (`PGPASSFILE`, else `~/.pgpass`), for our own connections:
//! pg_dump and psql read it themselves, and a backup must not work in one and fail in the
//! other. Lines are `host:port:database:user:password`; `*` matches anything; `\` escapes
//! `:` and `\`. Like libpq, a file readable by group or others is ignored, with a warning.

use std::path::{Path, PathBuf};

/// The password for this connection, if a password file names one.
pub fn lookup(host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let path = passfile_path()?;
    let text = read_private(&path)?;
    find(&text, host, port, database, user)
}

fn passfile_path() -> Option<PathBuf> {
    match std::env::var_os("PGPASSFILE") {
        Some(p) if !p.is_empty() => Some(PathBuf::from(p)),
        _ => std::env::var_os("HOME").map(|home| Path::new(&home).join(".pgpass")),
    }
}

fn read_private(path: &Path) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(path).ok()?;
    if !meta.is_file() {
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        tracing::warn!(
            file = %path.display(),
            "password file has group or world access and is ignored; chmod 0600 it"
        );
        return None;
    }
    std::fs::read_to_string(path).ok()
}

/// The first matching line's password, as libpq matches: a Unix-socket host matches
/// `localhost`.
fn find(text: &str, host: &str, port: u16, database: &str, user: &str) -> Option<String> {
    let host = if host.starts_with('/') {
        "localhost"
    } else {
        host
    };
    let port = port.to_string();
    let wanted = [host, port.as_str(), database, user];
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .find_map(|line| {
            let fields = split_fields(line);
            if fields.len() < 5 {
                return None;
            }
            let matches = wanted
                .iter()
                .zip(&fields)
                .all(|(want, field)| field == "*" || field == want);
            matches.then(|| fields[4].clone())
        })
}

/// Splits a line on unescaped `:`; the fifth field (the password) keeps any further colons.
fn split_fields(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        let current = fields.len() - 1;
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields[current].push(next);
                }
            }
            ':' if fields.len() < 5 => fields.push(String::new()),
            _ => fields[current].push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_like_libpq() {
        let text = "# comment\n\
                    db.internal:5432:app:backup:first\n\
                    *:*:*:backup:wild\\:card\n\
                    localhost:5433:*:*:sock:et\n";
        assert_eq!(
            find(text, "db.internal", 5432, "app", "backup").as_deref(),
            Some("first")
        );
        assert_eq!(
            find(text, "db.internal", 5432, "other", "backup").as_deref(),
            Some("wild:card")
        );
        assert_eq!(
            find(text, "/var/run/postgresql", 5433, "x", "y").as_deref(),
            Some("sock:et")
        );
        assert_eq!(find(text, "db.internal", 5432, "app", "nobody"), None);
        assert_eq!(find("short:line", "short", 5432, "a", "b"), None);
    }
}
