//! Redaction of connection strings before they reach logs, errors or reports.

/// Replaces the password of a `postgres://user:pass@host/db` URL (or `password=` in a libpq
/// keyword string) with `***`.
pub fn redact_url(text: &str) -> String {
    if let Ok(mut url) = url::Url::parse(text) {
        if url.password().is_some() && url.set_password(Some("***")).is_ok() {
            return strip_query_password(url.as_str());
        }
        return strip_query_password(url.as_str());
    }
    if let Some((scheme, rest)) = text.split_once("://") {
        // Not parseable as a URL (a bad port, say): cut the userinfo's password by hand.
        if let Some((userinfo, host)) = rest.split_once('@') {
            let user = userinfo.split(':').next().unwrap_or("");
            let shown = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            return strip_query_password(&format!("{scheme}://{shown}@{host}"));
        }
        return strip_query_password(text);
    }
    text.split_whitespace()
        .map(|kv| {
            if kv.to_ascii_lowercase().starts_with("password=") {
                "password=***".to_string()
            } else {
                kv.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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
    }
}
