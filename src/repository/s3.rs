//! A repository in an S3 bucket or an S3-compatible store (MinIO, Ceph, R2…).
//!
//! Compatibility first: request checksums are sent and validated only when an operation
//! requires them (older stores reject the SDK's default aws-chunked CRC32 bodies), path-style
//! addressing is available, objects are deleted one by one (DeleteObjects needs Content-MD5
//! on some stores) and nothing relies on conditional writes.

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bytes::{Bytes, BytesMut};
use tokio::task::JoinSet;

use super::{ObjectInfo, RepoLocation, RepoSettings};
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

pub struct S3Repo {
    client: Client,
    bucket: String,
    prefix: String,
    endpoint: String,
    part_size: u64,
    concurrency: usize,
}

impl S3Repo {
    pub async fn connect(settings: &RepoSettings) -> Result<Self> {
        let RepoLocation::S3 { bucket, prefix } = &settings.location else {
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
        Ok(S3Repo {
            client: Client::from_conf(builder.build()),
            bucket: bucket.clone(),
            prefix: prefix.clone(),
            endpoint: settings
                .endpoint
                .clone()
                .unwrap_or_else(|| "AWS S3".to_string()),
            part_size: settings.part_size,
            concurrency: settings.upload_concurrency,
        })
    }

    pub fn name(&self) -> String {
        RepoLocation::S3 {
            bucket: self.bucket.clone(),
            prefix: self.prefix.clone(),
        }
        .to_string()
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

    /// Turns an SDK error into one sentence naming the bucket or key and what to do.
    fn sdk_err<E, R>(&self, what: &str, key: &str, err: SdkError<E, R>) -> Error
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: std::fmt::Debug,
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
            "AccessDenied" | "InvalidAccessKeyId" | "SignatureDoesNotMatch" => format!(
                "{what} {key}: access denied ({code}); check the AWS credentials and the bucket policy"
            ),
            _ => match &err {
                SdkError::DispatchFailure(_) | SdkError::TimeoutError(_) => format!(
                    "{what} {key}: cannot reach the S3 endpoint {} ({}); check --s3-endpoint / \
                     AWS_ENDPOINT_URL and the network",
                    self.endpoint,
                    DisplayErrorContext(&err)
                ),
                _ => format!("{what} {key}: {}", DisplayErrorContext(&err)),
            },
        };
        Error::Repository {
            repo: self.name(),
            reason,
        }
    }

    pub async fn put_bytes(&self, key: &str, data: Bytes) -> Result<()> {
        let len = data.len() as i64;
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .content_length(len)
            .body(ByteStream::from(data))
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot write", key, e))?;
        Ok(())
    }

    async fn open_object(&self, key: &str) -> Result<ByteStream> {
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot read", key, e))?;
        Ok(out.body)
    }

    fn failed_midway(&self, key: &str, e: impl std::fmt::Display) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: format!("reading {key} failed midway: {e}"),
        }
    }

    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        let body = self.open_object(key).await?;
        let data = body
            .collect()
            .await
            .map_err(|e| self.failed_midway(key, e))?;
        Ok(data.into_bytes())
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
    pub async fn put_stream(&self, key: &str, mut rx: ChunkReceiver) -> Result<()> {
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
                Some(Chunk::End) => return self.put_bytes(key, buf.freeze()).await,
                None => return Err(self.aborted(key)),
            }
        }
        let full = self.full_key(key);
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(&full)
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot start upload of", key, e))?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let result = self
            .upload_parts(key, &full, &upload_id, buf, &mut rx)
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
                tracing::warn!(key, error = %DisplayErrorContext(&e), "could not abort multipart upload; a lifecycle rule for incomplete uploads will remove it");
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

    fn aborted(&self, key: &str) -> Error {
        Error::Repository {
            repo: self.name(),
            reason: format!("upload of {key} aborted before its end"),
        }
    }

    pub async fn get_stream(&self, key: &str, tx: ChunkSender) -> Result<()> {
        let mut body = self.open_object(key).await?;
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

    /// Lists every object under `prefix`, following continuation tokens (1,000 keys a page).
    pub async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(self.full_key(prefix))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| self.sdk_err("cannot list", prefix, e))?;
            for obj in page.contents() {
                let Some(k) = obj.key() else { continue };
                out.push(ObjectInfo {
                    key: self.relative(k).to_string(),
                    size: obj.size().unwrap_or(0).max(0) as u64,
                    modified: obj
                        .last_modified()
                        .and_then(|t| chrono::DateTime::from_timestamp(t.secs(), t.subsec_nanos())),
                });
            }
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    pub async fn delete(&self, key: &str) -> Result<()> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(self.full_key(key))
            .send()
            .await
            .map_err(|e| self.sdk_err("cannot delete", key, e))?;
        Ok(())
    }

    pub async fn check_reachable(&self) -> Result<()> {
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
}

async fn upload_part(
    client: Client,
    bucket: String,
    key: String,
    upload_id: String,
    part_number: i32,
    body: Bytes,
) -> Result<CompletedPart> {
    let len = body.len() as i64;
    let out = client
        .upload_part()
        .bucket(&bucket)
        .key(&key)
        .upload_id(&upload_id)
        .part_number(part_number)
        .content_length(len)
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| Error::Repository {
            repo: format!("s3://{bucket}"),
            reason: format!("part {part_number}: {}", DisplayErrorContext(&e)),
        })?;
    Ok(CompletedPart::builder()
        .part_number(part_number)
        .set_e_tag(out.e_tag().map(str::to_string))
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo(part: u64) -> S3Repo {
        let conf = aws_sdk_s3::Config::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        S3Repo {
            client: Client::from_conf(conf),
            bucket: "b".into(),
            prefix: "p/q".into(),
            endpoint: "e".into(),
            part_size: part,
            concurrency: 2,
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
