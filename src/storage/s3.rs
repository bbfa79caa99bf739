//! A store in an S3 bucket or an S3-compatible store (MinIO, Ceph, R2…).
//!
//! Compatibility first: request checksums are sent and validated only when an operation
//! requires them (older stores reject the SDK's default aws-chunked CRC32 bodies), path-style
//! addressing is available, objects are deleted one by one (DeleteObjects needs Content-MD5
//! on some stores) and nothing relies on conditional writes.

use async_trait::async_trait;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::operation::RequestId;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{
    CompletedMultipartUpload, CompletedPart, ObjectLockEnabled, ObjectLockMode,
};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use super::{Listing, LockMode, ObjectLock, ObjectMeta, Storage, StorageLocation, StorageSettings};
use crate::error::{Error, Result};
use crate::pipeline::{Chunk, ChunkReceiver, ChunkSender};

/// S3 allows at most this many parts per multipart upload, each at most 5 GiB.
const MAX_PARTS: i32 = 10_000;
const MAX_PART_SIZE: u64 = 5 << 30;
/// Parts after this number grow (doubling every `GROWTH_STEP` parts) so that a stream
/// larger than anyone estimated still fits in 10,000 parts: with the 16 MiB default an
/// object can reach S3's 5 TiB limit. Objects below base × 2000 (32 GiB) keep equal parts.
const GROWTH_START: i32 = 2_000;
const GROWTH_STEP: i32 = 1_000;

pub struct S3Store {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
    part_size: u64,
    concurrency: usize,
    lock: Option<ObjectLock>,
}

/// The Object Lock headers of one write: mode and retain-until date.
#[derive(Clone)]
struct Retention {
    mode: ObjectLockMode,
    until: aws_smithy_types::DateTime,
}

impl S3Store {
    pub async fn connect(settings: &StorageSettings) -> Result<Self> {
        let StorageLocation::S3 { bucket, prefix } = &settings.location else {
            return Err(Error::config("not an S3 location"));
        };
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        let shared = loader.load().await;
        let mut builder = aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(settings.path_style)
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        if shared.region().is_none() {
            builder = builder.region(aws_config::Region::new("us-east-1"));
        }
        if let Some(ep) = &settings.endpoint {
            builder = builder.endpoint_url(ep);
        }
        let store = S3Store {
            client: Client::from_conf(builder.build()),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            endpoint: settings
                .endpoint
                .clone()
                .unwrap_or_else(|| "AWS S3".to_string()),
            part_size: settings.part_size,
            concurrency: settings.upload_concurrency,
            lock: settings.object_lock,
        };
        if store.lock.is_some() {
            store.check_lock_enabled().await?;
        }
        Ok(store)
    }

    /// Object Lock is configured: the bucket must have it, or every locked write would fail
    /// halfway through a backup. Checked once, when the store is opened.
    async fn check_lock_enabled(&self) -> Result<()> {
        let out = self
            .client
            .get_object_lock_configuration()
            .bucket(&self.bucket)
            .send()
            .await;
        let enabled = match out {
            Ok(o) => o
                .object_lock_configuration()
                .and_then(|c| c.object_lock_enabled())
                .is_some_and(|e| *e == ObjectLockEnabled::Enabled),
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => false,
            Err(e) => {
                return Err(self.sdk_err("cannot read the Object Lock configuration of", "", e))
            }
        };
        if enabled {
            return Ok(());
        }
        Err(Error::config(format!(
            "[repository] object_lock_mode is set, but bucket `{}` at {} does not have S3 Object \
             Lock enabled; enable it on the bucket (it needs versioning), use a bucket created \
             with Object Lock, or remove object_lock_mode",
            self.bucket, self.endpoint
        )))
    }

    /// The lock headers for a write of `key`, from now; `None` when it is written plain.
    fn retention_for(&self, key: &str) -> Option<Retention> {
        let lock = self.lock.filter(|l| l.applies_to(key))?;
        let until = std::time::SystemTime::now() + lock.retain;
        Some(Retention {
            mode: match lock.mode {
                LockMode::Governance => ObjectLockMode::Governance,
                LockMode::Compliance => ObjectLockMode::Compliance,
            },
            until: aws_smithy_types::DateTime::from(until),
        })
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    fn relative<'a>(&self, full: &'a str) -> &'a str {
        if self.prefix.is_empty() {
            full
        } else {
            full.strip_prefix(&self.prefix)
                .map(|r| r.trim_start_matches('/'))
                .unwrap_or(full)
        }
    }

    /// Turns an SDK error into one sentence naming the bucket or key and what to do: the
    /// service's code, message and request id, never the SDK's internal structures.
    fn sdk_err<E>(&self, what: &str, key: &str, err: SdkError<E, HttpResponse>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let code = err.code().unwrap_or_default().to_string();
        let reason = match code.as_str() {
            "NoSuchBucket" => format!(
                "bucket `{}` does not exist at {}; create it or fix the repository URL",
                self.bucket, self.endpoint
            ),
            "NoSuchKey" | "NotFound" => {
                return Error::NotFound {
                    repo: self.name(),
                    key: key.to_string(),
                }
            }
            _ => format!("{what} {key}: {}", describe(&err, &self.endpoint)),
        };
        if is_transient(&err) {
            return Error::Unavailable {
                repo: self.name(),
                reason,
            };
        }
        Error::Repository {
            repo: self.name(),
            reason,
        }
    }

    /// One PutObject. A locked write carries the lock headers and the Content-MD5 that S3
    /// requires with them.
    async fn put_object(&self, key: &str, data: Bytes, retention: Option<Retention>) -> Result<()> {
        let len = data.len() as i64;
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_length(len);
        if let Some(r) = retention {
            put = put
                .object_lock_mode(r.mode)
                .object_lock_retain_until_date(r.until)
                .content_md5(content_md5(&data));
        }
        put.body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot write", key, e))?;
        Ok(())
    }

    async fn open_object(&self, key: &str, offset: u64) -> Result<ByteStream> {
        let mut get = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key));
        if offset > 0 {
            get = get.range(format!("bytes={offset}-"));
        }
        let out = get
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot read", key, e))?;
        Ok(out.body)
    }

    /// A response body that broke off: the connection was reset or timed out.
    fn failed_midway(&self, key: &str, e: impl std::fmt::Display) -> Error {
        Error::Unavailable {
            repo: self.name(),
            reason: format!("reading {key} failed midway: {e}"),
        }
    }

    fn part_size_for(&self, part_number: i32) -> usize {
        let doublings = if part_number > GROWTH_START {
            ((part_number - GROWTH_START - 1) / GROWTH_STEP + 1) as u32
        } else {
            0
        };
        let grown = self.part_size.saturating_mul(1 << doublings.min(10));
        grown.min(MAX_PART_SIZE) as usize
    }

    /// Streams an object with bounded memory: a part buffer plus at most `concurrency`
    /// parts in flight. Small objects go as one PutObject; a failure aborts the upload.
    async fn put_multipart(&self, key: &str, mut rx: ChunkReceiver) -> Result<()> {
        let mut buf = BytesMut::with_capacity(self.part_size_for(1));
        // Fill the first part: if the stream ends before, one PutObject suffices.
        loop {
            match rx.recv().await {
                Some(Chunk::Data(b)) => {
                    buf.extend_from_slice(&b);
                    if buf.len() >= self.part_size_for(1) {
                        break;
                    }
                }
                Some(Chunk::End) => {
                    return self
                        .put_object(key, buf.freeze(), self.retention_for(key))
                        .await
                }
                None => return Err(self.aborted(key)),
            }
        }
        let full = self.full_key(key);
        let retention = self.retention_for(key);
        let locked = retention.is_some();
        let mut create = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full);
        if let Some(r) = retention {
            create = create
                .object_lock_mode(r.mode)
                .object_lock_retain_until_date(r.until);
        }
        let upload = create
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot start upload of", key, e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let result = self
            .upload_parts(key, &full, &upload_id, buf, &mut rx, locked)
            .await;
        if result.is_err() {
            let abort = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(&full)
                .upload_id(&upload_id)
                .send()
                .await;
            if let Err(e) = abort {
                tracing::warn!(key, error = %describe(&e, &self.endpoint), "could not abort the multipart upload; the next backup removes it");
            }
        }
        result
    }

    async fn upload_parts(
        &self,
        key: &str,
        full: &str,
        upload_id: &str,
        mut buf: BytesMut,
        rx: &mut ChunkReceiver,
        locked: bool,
    ) -> Result<()> {
        let mut in_flight: JoinSet<Result<CompletedPart>> = JoinSet::new();
        let mut done: Vec<CompletedPart> = Vec::new();
        let mut part_number = 1;
        let mut ended = false;
        loop {
            // A part is ready when full, or when the stream ended with data left.
            let target = self.part_size_for(part_number);
            if buf.len() >= target || (ended && !buf.is_empty()) {
                if part_number > MAX_PARTS {
                    return Err(Error::Repository {
                        repo: self.name(),
                        reason: format!("{key} exceeds {MAX_PARTS} parts; raise part_size"),
                    });
                }
                let take = target.min(buf.len());
                let body = buf.split_to(take).freeze();
                while in_flight.len() >= self.concurrency {
                    done.push(self.join_part(key, &mut in_flight).await?);
                }
                in_flight.spawn(upload_part(
                    self.client.clone(),
                    self.bucket.clone(),
                    full.to_string(),
                    upload_id.to_string(),
                    part_number,
                    body,
                    locked,
                ));
                part_number += 1;
                continue;
            }
            if ended {
                break;
            }
            match rx.recv().await {
                Some(Chunk::Data(b)) => buf.extend_from_slice(&b),
                Some(Chunk::End) => ended = true,
                None => return Err(self.aborted(key)),
            }
        }
        while !in_flight.is_empty() {
            done.push(self.join_part(key, &mut in_flight).await?);
        }
        done.sort_by_key(|p| p.part_number());
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(done))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot complete upload of", key, e))?;
        Ok(())
    }

    async fn join_part(
        &self,
        key: &str,
        set: &mut JoinSet<Result<CompletedPart>>,
    ) -> Result<CompletedPart> {
        match set.join_next().await {
            Some(Ok(Ok(part))) => Ok(part),
            Some(Ok(Err(Error::Repository { reason, .. }))) => Err(Error::Repository {
                repo: self.name(),
                reason: format!("uploading {key}: {reason}"),
            }),
            Some(Ok(Err(e))) => Err(e),
            Some(Err(e)) => Err(Error::Repository {
                repo: self.name(),
                reason: format!("uploading {key}: task failed: {e}"),
            }),
            None => Err(Error::Repository {
                repo: self.name(),
                reason: format!("uploading {key}: no part in flight"),
            }),
        }
    }

    /// On an Object Lock bucket (always versioned) a plain DeleteObject only hides the
    /// object behind a delete marker: the bytes stay, and are billed, forever. So every
    /// version of the key is deleted by id, delete markers too; a version still retained is
    /// refused by S3, and reported as [`Error::Retained`] with its date.
    async fn delete_versions(&self, key: &str) -> Result<()> {
        let full = self.full_key(key);
        let mut key_marker: Option<String> = None;
        let mut version_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(&full)
                .set_key_marker(key_marker.take())
                .set_version_id_marker(version_marker.take())
                .send()
                .await
                .map_err(|e| self.sdk_err("cannot list the versions of", key, e))?;
            let versions = page
                .versions()
                .iter()
                .filter(|v| v.key() == Some(full.as_str()))
                .filter_map(|v| v.version_id());
            let markers = page
                .delete_markers()
                .iter()
                .filter(|m| m.key() == Some(full.as_str()))
                .filter_map(|m| m.version_id());
            for version in versions.chain(markers) {
                self.delete_version(key, &full, version).await?;
            }
            if page.is_truncated() != Some(true) {
                return Ok(());
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            if key_marker.is_none() && version_marker.is_none() {
                return Ok(());
            }
        }
    }

    async fn delete_version(&self, key: &str, full: &str, version: &str) -> Result<()> {
        let out = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(full)
            .version_id(version)
            .send()
            .await;
        match out {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some("AccessDenied") => {
                let until = self
                    .client
                    .head_object()
                    .bucket(&self.bucket)
                    .key(full)
                    .version_id(version)
                    .send()
                    .await
                    .ok()
                    .and_then(|h| h.object_lock_retain_until_date().and_then(to_chrono));
                match until {
                    Some(t) if t > chrono::Utc::now() => Err(Error::Retained {
                        what: format!("{} {key}", self.name()),
                        until: t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                    }),
                    _ => Err(self.sdk_err("cannot delete", key, e)),
                }
            }
            Err(e) => Err(self.sdk_err("cannot delete", key, e)),
        }
    }

    fn aborted(&self, key: &str) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: format!("upload of {key} aborted before its end"),
        }
    }
}

#[async_trait]
impl Storage for S3Store {
    fn name(&self) -> String {
        StorageLocation::S3 {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
        }
        .to_string()
    }

    async fn put(&self, key: &str, data: Bytes) -> Result<()> {
        self.put_object(key, data, self.retention_for(key)).await
    }

    async fn put_stream(&self, key: &str, rx: ChunkReceiver) -> Result<()> {
        self.put_multipart(key, rx).await
    }

    /// Small objects (documents, locks) are read whole; a body that breaks off is read
    /// again (the SDK retries only what fails before the body).
    async fn get(&self, key: &str) -> Result<Bytes> {
        super::retrying(&super::RetryPolicy::default(), key, || async {
            let body = self.open_object(key, 0).await?;
            let data = body
                .collect()
                .await
                .map_err(|e| self.failed_midway(key, e))?;
            Ok(data.into_bytes())
        })
        .await
    }

    async fn get_stream(&self, key: &str, offset: u64, tx: ChunkSender) -> Result<()> {
        let mut body = self.open_object(key, offset).await?;
        loop {
            let next = body
                .try_next()
                .await
                .map_err(|e| self.failed_midway(key, e))?;
            let chunk = match next {
                Some(b) => Chunk::Data(b),
                None => Chunk::End,
            };
            let end = matches!(chunk, Chunk::End);
            if tx.send(chunk).await.is_err() || end {
                return Ok(());
            }
        }
    }

    /// Follows continuation tokens (1,000 keys a page); with `delimited`, S3's own `/`
    /// delimiter, so a prefix of many objects costs one entry.
    async fn list(&self, prefix: &str, delimited: bool) -> Result<Listing> {
        let mut out = Listing::default();
        let mut request = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix));
        if delimited {
            request = request.delimiter("/");
        }
        let mut pages = request.into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_err("cannot list", prefix, e))?;
            for obj in page.contents() {
                let Some(k) = obj.key() else { continue };
                out.objects.push(ObjectMeta {
                    key: self.relative(k).to_string(),
                    size: obj.size().unwrap_or(0).max(0) as u64,
                    modified: obj.last_modified().and_then(to_chrono),
                    retain_until: None,
                });
            }
            for p in page.common_prefixes() {
                if let Some(p) = p.prefix() {
                    out.prefixes.push(self.relative(p).to_string());
                }
            }
        }
        out.objects.sort_by(|a, b| a.key.cmp(&b.key));
        out.prefixes.sort();
        Ok(out)
    }

    async fn head(&self, key: &str) -> Result<Option<ObjectMeta>> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await;
        match out {
            Ok(o) => Ok(Some(ObjectMeta {
                key: key.to_string(),
                size: o.content_length().unwrap_or(0).max(0) as u64,
                modified: o.last_modified().and_then(to_chrono),
                retain_until: o.object_lock_retain_until_date().and_then(to_chrono),
            })),
            Err(e) => match self.sdk_err("cannot read", key, e) {
                Error::NotFound { .. } => Ok(None),
                other => Err(other),
            },
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        if self.lock.is_some() {
            return self.delete_versions(key).await;
        }
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot delete", key, e))?;
        Ok(())
    }

    /// S3 itself lists what was written at once (since 2020); some compatible stores lag
    /// briefly behind their writes.
    fn listing_lag(&self) -> std::time::Duration {
        std::time::Duration::from_millis(200)
    }

    fn object_lock(&self) -> Option<ObjectLock> {
        self.lock
    }

    async fn check_reachable(&self) -> Result<()> {
        self.client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(""))
            .max_keys(1)
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot list", "", e))?;
        Ok(())
    }

    /// Aborts multipart uploads under the repository's prefix started before the cutoff:
    /// uploads whose process died or whose abort failed, which S3 would otherwise keep
    /// (and bill) until a lifecycle rule removes them.
    async fn remove_debris(&self, prefix: &str, older_than: chrono::Duration) -> Result<usize> {
        let cutoff = chrono::Utc::now() - older_than;
        let mut removed = 0;
        let mut key_marker: Option<String> = None;
        let mut upload_marker: Option<String> = None;
        loop {
            let page = self
                .client
                .list_multipart_uploads()
                .bucket(&self.bucket)
                .prefix(self.full_key(prefix))
                .set_key_marker(key_marker.take())
                .set_upload_id_marker(upload_marker.take())
                .send()
                .await
                .map_err(|e| self.sdk_err("cannot list multipart uploads of", "", e))?;
            for upload in page.uploads() {
                let (Some(key), Some(id)) = (upload.key(), upload.upload_id()) else {
                    continue;
                };
                let started = upload.initiated().and_then(to_chrono);
                if started.is_some_and(|t| t > cutoff) {
                    continue;
                }
                self.client
                    .abort_multipart_upload()
                    .bucket(&self.bucket)
                    .key(key)
                    .upload_id(id)
                    .send()
                    .await
                    .map_err(|e| self.sdk_err("cannot abort the upload of", key, e))?;
                tracing::info!(
                    key = self.relative(key),
                    "aborted a leftover multipart upload"
                );
                removed += 1;
            }
            if page.is_truncated() != Some(true) {
                return Ok(removed);
            }
            key_marker = page.next_key_marker().map(str::to_string);
            upload_marker = page.next_upload_id_marker().map(str::to_string);
            if key_marker.is_none() && upload_marker.is_none() {
                return Ok(removed);
            }
        }
    }
}

/// Failures that may pass: the network, throttling, the store's own 5xx.
fn is_transient<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(e) => {
            matches!(
                err.code(),
                Some("SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout")
            ) || e.raw().status().is_server_error()
        }
        _ => false,
    }
}

/// The Content-MD5 header of a body: base64 of its MD5 (an integrity check, not security).
fn content_md5(data: &[u8]) -> String {
    use md5::Digest;
    aws_smithy_types::base64::encode(md5::Md5::digest(data))
}

fn to_chrono(t: &aws_smithy_types::DateTime) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

/// One line for an SDK error: what the service said (code, message, request id) and what
/// to do, or why it could not be reached.
fn describe<E, R>(err: &SdkError<E, R>, endpoint: &str) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match err {
        SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
            "cannot reach the S3 endpoint {endpoint}; check --s3-endpoint / AWS_ENDPOINT_URL \
             and the network"
        ),
        SdkError::ConstructionFailure(_) => {
            "the request could not be built (check the region and credentials)".into()
        }
        _ => {
            let code = err.code().unwrap_or("unknown error");
            let mut text = code.to_string();
            if let Some(m) = err.message() {
                text.push_str(&format!(": {m}"));
            }
            if let Some(id) = err.meta().request_id() {
                text.push_str(&format!(" (request id {id})"));
            }
            let hint = match code {
                "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => {
                    "; check the AWS credentials and the bucket policy"
                }
                "SlowDown" | "ServiceUnavailable" | "InternalError" | "RequestTimeout" => {
                    "; the store is overloaded: retry later or lower upload_concurrency"
                }
                _ => "",
            };
            text + hint
        }
    }
}

async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    part_number: i32,
    body: Bytes,
    locked: bool,
) -> Result<CompletedPart> {
    let len = body.len() as i64;
    let mut request = client
        .upload_part()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(part_number)
        .content_length(len);
    if locked {
        // S3 requires an integrity check on every part of an object under Object Lock.
        request = request.content_md5(content_md5(&body));
    }
    let out = request
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| Error::Repository {
            repo: format!("s3://{bucket}"),
            reason: format!("part {part_number}: {}", describe(&e, "S3")),
        })?;
    Ok(CompletedPart::builder()
        .part_number(part_number)
        .set_e_tag(out.e_tag().map(str::to_string))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(part: u64) -> S3Store {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        S3Store {
            client: Client::from_conf(conf),
            bucket: "b".into(),
            prefix: "p/q".into(),
            endpoint: "e".into(),
            part_size: part,
            concurrency: 2,
            lock: None,
        }
    }

    #[test]
    fn parts_grow_so_10000_parts_reach_5_tib() {
        let r = repo(16 << 20);
        assert_eq!(r.part_size_for(1), 16 << 20);
        assert_eq!(r.part_size_for(GROWTH_START), 16 << 20);
        assert_eq!(r.part_size_for(GROWTH_START + 1), 32 << 20);
        let total: u64 = (1..=MAX_PARTS).map(|n| r.part_size_for(n) as u64).sum();
        assert!(total >= 5u64 << 40, "total {total}");
        assert!(
            r.part_size_for(MAX_PARTS) as u64 <= 5u64 << 30,
            "part within 5 GiB"
        );
        let big = repo(1 << 30);
        assert_eq!(big.part_size_for(MAX_PARTS) as u64, MAX_PART_SIZE);
    }

    #[test]
    fn keys_are_prefixed() {
        let r = repo(5 << 20);
        assert_eq!(r.full_key("backups/x"), "p/q/backups/x");
        assert_eq!(r.relative("p/q/backups/x"), "backups/x");
    }
}
