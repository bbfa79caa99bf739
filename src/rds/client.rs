//! One RDS client per region, all from the standard AWS chain (environment, profile, web
//! identity / IRSA, ECS task role, instance metadata) as `aws-config` resolves it, with:
//! - the region set per call site (the source region, or a DR region: a cross-region copy is
//!   made by a client of the **destination** region);
//! - an endpoint override for every region (`[rds] endpoint`, `LIFEBOAT_RDS_ENDPOINT`, else
//!   `AWS_ENDPOINT_URL_RDS`), for tests and VPC endpoints — never the generic
//!   `AWS_ENDPOINT_URL`, which often points S3 at MinIO;
//! - the SDK's standard retry mode: throttling (`Throttling`, `RequestLimitExceeded`…),
//!   transient 5xx and connection failures retried with jittered exponential backoff (1 s
//!   initial, 20 s at most), `[rds] max_attempts` attempts in all (default 8).
//!
//! Waiting for `available` is [`wait_until`]: a poll loop with a timeout.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_sdk_rds::Client;
use aws_smithy_types::retry::RetryConfig;

use super::config::RdsSettings;
use crate::error::{Error, RdsFailure, Result};
use crate::progress::Progress;

pub struct Clients {
    shared: aws_config::SdkConfig,
    endpoint: Option<String>,
    max_attempts: u32,
    made: Mutex<HashMap<String, Client>>,
}

impl Clients {
    /// Loads the AWS configuration once (credentials are resolved lazily, per call).
    pub async fn new(settings: &RdsSettings) -> Self {
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        Clients {
            shared,
            endpoint: settings.endpoint.clone(),
            max_attempts: settings.max_attempts,
            made: Mutex::new(HashMap::new()),
        }
    }

    pub fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    /// The client of `region`.
    pub fn region(&self, region: &str) -> Client {
        let mut made = match self.made.lock() {
            Ok(m) => m,
            Err(poisoned) => poisoned.into_inner(),
        };
        made.entry(region.to_string())
            .or_insert_with(|| {
                let mut b = aws_sdk_rds::config::Builder::from(&self.shared)
                    .region(aws_config::Region::new(region.to_string()))
                    .retry_config(
                        RetryConfig::standard()
                            .with_max_attempts(self.max_attempts)
                            .with_initial_backoff(Duration::from_secs(1))
                            .with_max_backoff(Duration::from_secs(20)),
                    );
                // `[rds] endpoint` / LIFEBOAT_RDS_ENDPOINT, else AWS_ENDPOINT_URL_RDS; never the
                // generic AWS_ENDPOINT_URL, which often points S3 at MinIO.
                let endpoint = self.endpoint.clone().or_else(|| {
                    std::env::var("AWS_ENDPOINT_URL_RDS")
                        .ok()
                        .filter(|v| !v.trim().is_empty())
                });
                b.set_endpoint_url(endpoint);
                Client::from_conf(b.build())
            })
            .clone()
    }

    /// Credentials as the chain resolves them, for the pre-signed URL of a copy.
    pub async fn credentials(&self) -> Option<aws_credential_types::Credentials> {
        use aws_credential_types::provider::ProvideCredentials;
        let provider = self.shared.credentials_provider()?;
        provider.provide_credentials().await.ok()
    }
}

/// What a poll found: done with a value, or still at a status.
pub enum Poll<T> {
    Done(T),
    Waiting(String),
}

/// Polls `check` every `every` until it is done, fails, or `timeout` passes (then a
/// [`RdsFailure::Timeout`] naming `what` and the last status). Progress shows the status and
/// the time waited on a terminal.
pub async fn wait_until<T, F, Fut>(
    target: &str,
    region: &str,
    what: &str,
    timeout: Duration,
    every: Duration,
    progress: &Progress,
    mut check: F,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Poll<T>>>,
{
    let started = Instant::now();
    loop {
        match check().await? {
            Poll::Done(v) => return Ok(v),
            Poll::Waiting(status) => {
                let waited = started.elapsed();
                progress.set_message(&format!("{what}: {status} ({}s)", waited.as_secs()));
                tracing::debug!(what, status, waited = waited.as_secs(), "waiting");
                if waited >= timeout {
                    return Err(Error::Rds {
                        target: target.to_string(),
                        region: region.to_string(),
                        failure: Box::new(RdsFailure::Timeout {
                            what: what.to_string(),
                            waited: humantime::format_duration(Duration::from_secs(
                                timeout.as_secs(),
                            ))
                            .to_string(),
                            status,
                        }),
                    });
                }
                tokio::time::sleep(every.min(timeout.saturating_sub(waited).max(every / 10))).await;
            }
        }
    }
}
