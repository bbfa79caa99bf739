//! Webhook notifications: on a failed backup or verification, on a compliance breach, and
//! when a backup is overdue. The body is lifeboat's documented JSON
//! (docs/notifications.md) or a Slack-compatible `{"text": …}`.
//!
//! The webhook URL is a secret (chat webhooks carry their token in it): it is never
//! printed, logged or put in an error. HTTP client errors name the URL they failed on, so
//! every error is stripped of it ([`reqwest::Error::without_url`]) and scrubbed again as
//! text. A notification that cannot be delivered is the caller's warning, never its error.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use std::time::Duration;

use super::outcome::ComplianceStatus;
use crate::error::{Error, Result};

/// Per attempt: connecting, sending and reading the answer.
pub const TIMEOUT: Duration = Duration::from_secs(10);
/// Version of the JSON body's schema (docs/notifications.md).
pub const SCHEMA_VERSION: u32 = 1;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    BackupFailed,
    VerifyFailed,
    /// A real prune failed: the repository stops shrinking.
    PruneFailed,
    /// `check` found problems in the repository, or could not run.
    CheckFailed,
    /// A compliance target is breached (overall status BREACH).
    Breach,
    /// The newest backup is older than the RPO target, or there is none.
    Overdue,
}

impl Event {
    pub fn name(self) -> &'static str {
        match self {
            Event::BackupFailed => "backup_failed",
            Event::VerifyFailed => "verify_failed",
            Event::PruneFailed => "prune_failed",
            Event::CheckFailed => "check_failed",
            Event::Breach => "breach",
            Event::Overdue => "overdue",
        }
    }

    /// `error`: a run failed (targets may still hold); `critical`: a target is missed.
    pub fn severity(self) -> &'static str {
        match self {
            Event::BackupFailed | Event::VerifyFailed | Event::PruneFailed | Event::CheckFailed => {
                "error"
            }
            Event::Breach | Event::Overdue => "critical",
        }
    }

    fn headline(self) -> &'static str {
        match self {
            Event::BackupFailed => "backup failed",
            Event::VerifyFailed => "verification failed",
            Event::PruneFailed => "prune failed",
            Event::CheckFailed => "repository check failed",
            Event::Breach => "compliance breach",
            Event::Overdue => "backup overdue",
        }
    }
}

/// One notification, before it is put in a body.
#[derive(Debug, Clone)]
pub struct Notification {
    pub event: Event,
    /// The databases concerned (empty: every database of the run).
    pub databases: Vec<String>,
    pub repository: Option<String>,
    pub backup_id: Option<String>,
    /// What happened, in a sentence (an error message as the command printed it).
    pub message: String,
    pub timestamp: DateTime<Utc>,
    pub status: Option<ComplianceStatus>,
    pub rpo_seconds: Option<f64>,
    pub rpo_target_seconds: Option<f64>,
}

impl Notification {
    pub fn new(event: Event, message: impl Into<String>) -> Self {
        Notification {
            event,
            databases: Vec::new(),
            repository: None,
            backup_id: None,
            message: message.into(),
            timestamp: Utc::now(),
            status: None,
            rpo_seconds: None,
            rpo_target_seconds: None,
        }
    }
}

/// `format` of `[notify]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    /// lifeboat's JSON body (docs/notifications.md).
    #[default]
    Json,
    /// `{"text": "…"}`: Slack incoming webhooks and the chat tools that copy them
    /// (Mattermost, Rocket.Chat, Teams' incoming webhook).
    Slack,
}

impl Format {
    pub fn parse(text: &str) -> std::result::Result<Self, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "json" => Ok(Format::Json),
            "slack" => Ok(Format::Slack),
            other => Err(format!("`{other}` is not a format; use json or slack")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::Slack => "slack",
        }
    }
}

/// The webhook's URL: a secret. It has no `Display`, and its `Debug` shows nothing of it.
#[derive(Clone)]
pub struct WebhookUrl(url::Url);

impl std::fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookUrl(<redacted>)")
    }
}

impl WebhookUrl {
    /// Parses an `http(s)://` URL. Errors name `from` (where it came from), never the URL.
    pub fn parse(text: &str, from: &str) -> Result<Self> {
        let url = url::Url::parse(text.trim()).map_err(|e| {
            Error::config(format!(
                "the webhook URL from {from} is not a valid URL ({e}); expected https://…"
            ))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::config(format!(
                "the webhook URL from {from} is not an http:// or https:// URL"
            )));
        }
        Ok(WebhookUrl(url))
    }

    /// Removes the URL, and its secret-bearing parts on their own, from `text`.
    pub fn scrub(&self, text: &str) -> String {
        let full = self.0.as_str();
        let mut out = text.replace(full, "<webhook URL>");
        out = out.replace(full.trim_end_matches('/'), "<webhook URL>");
        let path = self.0.path();
        if path.len() > 1 {
            out = out.replace(path, "/<redacted>");
        }
        if let Some(q) = self.0.query().filter(|q| !q.is_empty()) {
            out = out.replace(q, "<redacted>");
        }
        if let Some(p) = self.0.password() {
            out = out.replace(p, "<redacted>");
        }
        out
    }
}

/// How a notification is retried: up to `attempts` tries, waiting `first_backoff`, then
/// twice as long each time, after a connection error, a timeout, a 5xx or a 429.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            attempts: 4,
            first_backoff: Duration::from_millis(500),
        }
    }
}

/// What sends notifications: the webhook, its format, and this host's name.
#[derive(Debug, Clone)]
pub struct NotifySettings {
    pub url: WebhookUrl,
    pub format: Format,
    /// Where the URL came from (`LIFEBOAT_WEBHOOK_URL`, a file's path, `[notify]
    /// webhook_url`), for `config check` and messages.
    pub source: String,
}

/// The lifeboat JSON body (docs/notifications.md).
#[derive(Debug, Serialize)]
struct JsonBody<'a> {
    schema_version: u32,
    event: &'static str,
    severity: &'static str,
    database: Option<&'a str>,
    databases: &'a [String],
    repository: Option<&'a str>,
    backup_id: Option<&'a str>,
    message: &'a str,
    timestamp: String,
    lifeboat_version: &'static str,
    host: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    status: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rpo_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    rpo_target_seconds: Option<f64>,
}

#[derive(Debug, Serialize)]
struct SlackBody {
    text: String,
}

/// Longest message put in a Slack line; the JSON body carries it whole.
const SLACK_MESSAGE_CHARS: usize = 2000;

#[derive(Debug, Clone)]
pub struct Notifier {
    client: reqwest::Client,
    settings: NotifySettings,
    host: String,
    retry: RetryPolicy,
}

impl Notifier {
    pub fn new(settings: NotifySettings) -> Result<Self> {
        let client = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A webhook answers where it is; following redirects would send the body on.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("lifeboat/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                Error::Notify(format!(
                    "cannot set up the HTTP client: {}",
                    settings.url.scrub(&chain(&e.without_url()))
                ))
            })?;
        Ok(Notifier {
            client,
            settings,
            host: crate::repository::liveness::hostname(),
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn with_host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    pub fn format(&self) -> Format {
        self.settings.format
    }

    /// The request body for `n` in the configured format.
    pub fn body(&self, n: &Notification) -> Vec<u8> {
        let body = match self.settings.format {
            Format::Json => serde_json::to_vec(&self.json_body(n)),
            Format::Slack => serde_json::to_vec(&SlackBody {
                text: self.slack_text(n),
            }),
        };
        // Serializing plain strings and numbers cannot fail.
        body.unwrap_or_default()
    }

    fn json_body<'a>(&'a self, n: &'a Notification) -> JsonBody<'a> {
        JsonBody {
            schema_version: SCHEMA_VERSION,
            event: n.event.name(),
            severity: n.event.severity(),
            database: match n.databases.as_slice() {
                [one] => Some(one.as_str()),
                _ => None,
            },
            databases: &n.databases,
            repository: n.repository.as_deref(),
            backup_id: n.backup_id.as_deref(),
            message: &n.message,
            timestamp: n.timestamp.to_rfc3339_opts(SecondsFormat::Millis, true),
            lifeboat_version: env!("CARGO_PKG_VERSION"),
            host: &self.host,
            status: n.status.map(ComplianceStatus::label),
            rpo_seconds: n.rpo_seconds,
            rpo_target_seconds: n.rpo_target_seconds,
        }
    }

    /// One readable line: `[lifeboat] backup failed: app on s3://b/p (host db1): <message>`.
    fn slack_text(&self, n: &Notification) -> String {
        let what = if n.databases.is_empty() {
            "all databases".to_string()
        } else {
            n.databases.join(", ")
        };
        let place = match &n.repository {
            Some(r) => format!("{what} on {r}"),
            None => what,
        };
        let backup = n
            .backup_id
            .as_ref()
            .map(|b| format!(", backup {b}"))
            .unwrap_or_default();
        let mut message: String = n.message.split_whitespace().collect::<Vec<_>>().join(" ");
        if message.chars().count() > SLACK_MESSAGE_CHARS {
            message = message
                .chars()
                .take(SLACK_MESSAGE_CHARS)
                .collect::<String>()
                + "…";
        }
        slack_escape(&format!(
            "[lifeboat] {}: {place} (host {}{backup}): {message}",
            n.event.headline(),
            self.host
        ))
    }

    /// Sends `n`, retrying transient failures. The error never contains the URL.
    pub async fn send(&self, n: &Notification) -> Result<()> {
        let body = self.body(n);
        let mut backoff = self.retry.first_backoff;
        let attempts = self.retry.attempts.max(1);
        let mut last = String::new();
        let mut tries = 0;
        for attempt in 1..=attempts {
            tries = attempt;
            match self.attempt(body.clone()).await {
                Ok(()) => {
                    tracing::debug!(event = n.event.name(), attempt, "notification delivered");
                    return Ok(());
                }
                Err((reason, retryable)) => {
                    last = reason;
                    if !retryable || attempt == attempts {
                        break;
                    }
                    tracing::debug!(event = n.event.name(), attempt, reason = %last, "notification not delivered; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
        Err(Error::Notify(format!(
            "{} to the webhook from {} not delivered{}: {last}",
            n.event.name(),
            self.settings.source,
            if tries > 1 {
                format!(" after {tries} attempts")
            } else {
                String::new()
            }
        )))
    }

    /// One POST: `Err((reason, retryable))` unless the webhook answered 2xx.
    async fn attempt(&self, body: Vec<u8>) -> std::result::Result<(), (String, bool)> {
        let sent = self
            .client
            .post(self.settings.url.0.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                let retryable = !e.is_builder();
                return Err((self.settings.url.scrub(&chain(&e.without_url())), retryable));
            }
        };
        let status = response.status();
        if status.is_success() {
            return Ok(());
        }
        let answer = response.text().await.unwrap_or_default();
        let answer: String = answer.trim().chars().take(200).collect();
        let reason = if answer.is_empty() {
            format!("HTTP {status}")
        } else {
            format!("HTTP {status}: {}", self.settings.url.scrub(&answer))
        };
        let retryable = status.is_server_error() || status.as_u16() == 429;
        Err((reason, retryable))
    }
}

/// An error and its causes, `a: b: c`, as one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// Slack's three control characters in text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    const SECRET: &str = "https://hooks.example.com/services/T000/B000/sEcReTtOkEn?key=qUeRy";

    fn notifier(format: Format) -> Notifier {
        Notifier::new(NotifySettings {
            url: WebhookUrl::parse(SECRET, "LIFEBOAT_WEBHOOK_URL").unwrap(),
            format,
            source: "LIFEBOAT_WEBHOOK_URL".into(),
        })
        .unwrap()
        .with_host("db-backup-1")
    }

    fn failed_backup() -> Notification {
        Notification {
            databases: vec!["app".into()],
            repository: Some("s3://acme/pg".into()),
            timestamp: Utc.with_ymd_and_hms(2026, 11, 24, 23, 0, 0).unwrap(),
            ..Notification::new(
                Event::BackupFailed,
                "PostgreSQL at postgres@db:5432/app: connection refused\n(is it running?)",
            )
        }
    }

    #[test]
    fn json_body_has_every_documented_field() {
        let body: serde_json::Value =
            serde_json::from_slice(&notifier(Format::Json).body(&failed_backup())).unwrap();
        assert_eq!(
            body,
            serde_json::json!({
                "schema_version": 1,
                "event": "backup_failed",
                "severity": "error",
                "database": "app",
                "databases": ["app"],
                "repository": "s3://acme/pg",
                "backup_id": null,
                "message": "PostgreSQL at postgres@db:5432/app: connection refused\n(is it running?)",
                "timestamp": "2026-11-24T23:00:00.000Z",
                "lifeboat_version": env!("CARGO_PKG_VERSION"),
                "host": "db-backup-1",
            })
        );
    }

    #[test]
    fn json_body_of_an_overdue_database_carries_its_figures() {
        let n = Notification {
            databases: vec!["app".into(), "billing".into()],
            status: Some(ComplianceStatus::Breach),
            rpo_seconds: Some(100000.0),
            rpo_target_seconds: Some(93600.0),
            ..Notification::new(Event::Overdue, "newest backup is 27h 46m old")
        };
        let body: serde_json::Value =
            serde_json::from_slice(&notifier(Format::Json).body(&n)).unwrap();
        assert_eq!(body["severity"], "critical");
        assert_eq!(body["database"], serde_json::Value::Null);
        assert_eq!(body["databases"], serde_json::json!(["app", "billing"]));
        assert_eq!(body["status"], "BREACH");
        assert_eq!(body["rpo_seconds"], 100000.0);
        assert_eq!(body["rpo_target_seconds"], 93600.0);
    }

    #[test]
    fn slack_body_is_one_readable_line() {
        let mut n = failed_backup();
        n.message.push_str(" <&>");
        let body: serde_json::Value =
            serde_json::from_slice(&notifier(Format::Slack).body(&n)).unwrap();
        assert_eq!(body.as_object().unwrap().len(), 1, "{body}");
        assert_eq!(
            body["text"],
            "[lifeboat] backup failed: app on s3://acme/pg (host db-backup-1): PostgreSQL at \
             postgres@db:5432/app: connection refused (is it running?) &lt;&amp;&gt;"
        );
    }

    #[test]
    fn formats_parse_and_unknown_ones_are_named() {
        assert_eq!(Format::parse("JSON").unwrap(), Format::Json);
        assert_eq!(Format::parse("slack").unwrap(), Format::Slack);
        let err = Format::parse("xml").unwrap_err();
        assert!(
            err.contains("`xml`") && err.contains("json or slack"),
            "{err}"
        );
    }

    #[test]
    fn the_url_never_shows() {
        let url = WebhookUrl::parse(SECRET, "x").unwrap();
        assert_eq!(format!("{url:?}"), "WebhookUrl(<redacted>)");
        let settings = NotifySettings {
            url: url.clone(),
            format: Format::Json,
            source: "LIFEBOAT_WEBHOOK_URL".into(),
        };
        assert!(!format!("{settings:?}").contains("sEcReT"));
        let text =
            format!("error sending request for url ({SECRET}): /services/T000/B000/sEcReTtOkEn");
        let scrubbed = url.scrub(&text);
        assert!(
            !scrubbed.contains("sEcReT") && !scrubbed.contains("qUeRy"),
            "{scrubbed}"
        );
        // Bad URLs: the error names where it came from, not what it was.
        for bad in [
            "hooks.example.com/sEcReT",
            "ftp://example.com/sEcReT",
            "https://exa mple.com/sEcReT",
        ] {
            let err = WebhookUrl::parse(bad, "webhook_url_file /run/secrets/hook")
                .unwrap_err()
                .to_string();
            assert!(!err.contains("sEcReT"), "{err}");
            assert!(err.contains("/run/secrets/hook"), "{err}");
        }
    }

    #[tokio::test]
    async fn an_unreachable_webhook_is_an_error_without_the_url() {
        // A port nothing listens on: bind one, then free it.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/hook/sEcReTtOkEn");
        let n = Notifier::new(NotifySettings {
            url: WebhookUrl::parse(&url, "LIFEBOAT_WEBHOOK_URL").unwrap(),
            format: Format::Json,
            source: "LIFEBOAT_WEBHOOK_URL".into(),
        })
        .unwrap()
        .with_retry(RetryPolicy {
            attempts: 2,
            first_backoff: Duration::from_millis(10),
        });
        let err = n.send(&failed_backup()).await.unwrap_err().to_string();
        assert!(!err.contains("sEcReT"), "{err}");
        assert!(!err.contains("/hook"), "{err}");
        assert!(
            err.starts_with(
                "notification: backup_failed to the webhook from LIFEBOAT_WEBHOOK_URL not \
                 delivered after 2 attempts: "
            ),
            "{err}"
        );
    }
}
