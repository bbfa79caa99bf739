//! Redaction of connection strings before they reach logs, errors or reports.

/// Replaces the password of a `postgres://user:pass@host/db` URL (or `password=` in a libpq
/// keyword string) with `***`.
pub fn redact_url(text: &str) -> String {
    if let Ok(mut url) = url::Url::parse(text) {
        if url.password().is_some() {
            // Cannot fail for URLs that have a password (they have a host).
            let _ = url.set_password(Some("***"));
        }
        return strip_query_password(url.as_str());
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        // Not parseable as a URL (a bad port, say): cut the userinfo's password by hand. The
        // userinfo ends at the last `@` before the path: a password may itself hold an `@`.
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            let (userinfo, host) = (&rest[..at], &rest[at + 1..]);
            let shown = match userinfo.split_once(':') {
                Some((user, _)) => format!("{user}:***"),
                None => userinfo.to_string(),
            };
            return strip_query_password(&format!("{scheme}://{shown}@{host}"));
        }
        return strip_query_password(text);
    }
    redact_keywords(text)
}

/// A libpq keyword string (`host=db password = 's3 cret' user=app`): every value of a
/// `password` key becomes `***`, whatever its spacing or quoting; the rest is kept as written.
fn redact_keywords(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while !rest.is_empty() {
        let Some(eq) = rest.find('=') else {
            out.push_str(rest);
            break;
        };
        let key = rest[..eq].trim();
        let key = key.rsplit(char::is_whitespace).next().unwrap_or(key);
        out.push_str(&rest[..=eq]);
        let after = &rest[eq + 1..];
        let value_start = after.len() - after.trim_start().len();
        let value_len = keyword_value_len(&after[value_start..]);
        out.push_str(&after[..value_start]);
        if key.eq_ignore_ascii_case("password") {
            out.push_str("***");
        } else {
            out.push_str(&after[value_start..value_start + value_len]);
        }
        rest = &after[value_start + value_len..];
    }
    out
}

/// Length of a keyword value at the start of `s`: a single-quoted string (with `\'` and
/// `\\` escapes) or a run of non-space characters.
fn keyword_value_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    if bytes.first() == Some(&b'\'') {
        let mut i = 1;
        while i < bytes.len() {
            match bytes[i] {
                b'\\' => i += 2,
                b'\'' => return i + 1,
                _ => i += 1,
            }
        }
        return s.len();
    }
    s.find(char::is_whitespace).unwrap_or(s.len())
}

fn strip_query_password(url: &str) -> String {
    match url.find("password=") {
        Some(i) => {
            let end = url[i..].find('&').map(|e| i + e).unwrap_or(url.len());
            format!("{}password=***{}", &url[..i], &url[end..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn hides_passwords() {
        assert_eq!(
            redact_url("postgres://app:s3cret@db:5432/app"),
            "postgres://app:***@db:5432/app"
        );
        assert_eq!(
            redact_url("host=db password=s3cret user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(
            redact_url("postgres://db/app?password=s3cret&sslmode=require"),
            "postgres://db/app?password=***&sslmode=require"
        );
        assert_eq!(redact_url("postgres://db/app"), "postgres://db/app");
        assert_eq!(
            redact_url("postgres://u:secret@h:notaport/db"),
            "postgres://u:***@h:notaport/db"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h:notaport/db"),
            "postgres://u:***@h:notaport/db"
        );
        assert_eq!(
            redact_url("host=db password = s3cret user=app"),
            "host=db password = *** user=app"
        );
        assert_eq!(
            redact_url(r"host=db password='a b\' c' user=app"),
            "host=db password=*** user=app"
        );
        assert_eq!(
            redact_url("host='my db' PASSWORD=x"),
            "host='my db' PASSWORD=***"
        );
    }
}
