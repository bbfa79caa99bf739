//! The pre-signed URL of a cross-region copy.
//!
//! CopyDBSnapshot / CopyDBClusterSnapshot across regions are called in the **destination**
//! region with the source snapshot's ARN. The AWS SDKs for some languages add a `PreSignedUrl`
//! (the same copy request, signed for the *source* region) through a `SourceRegion`
//! convenience; the Rust SDK does not. AWS now documents `PreSignedUrl` as needed only for
//! copies from AWS GovCloud (US) regions: elsewhere the service fetches the source snapshot
//! itself. So lifeboat builds it only when `[rds] presigned_url` says so — `auto` (the
//! default): when the source region is a GovCloud region; `always`; `never` — with
//! `aws-sigv4` (query-parameter SigV4 for service `rds` in the source region, as the SDK's
//! own RDS auth-token code signs), from the same credential chain. The URL carries a
//! signature: it is never logged or printed.

use std::time::{Duration, SystemTime};

use aws_sigv4::http_request::{self, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;

use super::config::Kind;

/// How long the URL stays valid.
const EXPIRES: Duration = Duration::from_secs(3600);

/// What the URL asks: the copy, as the destination region is asked for it.
pub struct CopyRequest<'a> {
    pub kind: Kind,
    pub source_arn: &'a str,
    pub target_id: &'a str,
    pub kms_key_id: Option<&'a str>,
    pub source_region: &'a str,
    pub destination_region: &'a str,
}

/// The signed URL, or why it could not be made.
pub fn copy_url(
    req: &CopyRequest<'_>,
    credentials: aws_credential_types::Credentials,
    now: SystemTime,
) -> Result<String, String> {
    let (action, source_key, target_key) = match req.kind {
        Kind::Instance => (
            "CopyDBSnapshot",
            "SourceDBSnapshotIdentifier",
            "TargetDBSnapshotIdentifier",
        ),
        Kind::Cluster => (
            "CopyDBClusterSnapshot",
            "SourceDBClusterSnapshotIdentifier",
            "TargetDBClusterSnapshotIdentifier",
        ),
    };
    let host = if req.source_region.starts_with("cn-") {
        format!("rds.{}.amazonaws.com.cn", req.source_region)
    } else {
        format!("rds.{}.amazonaws.com", req.source_region)
    };
    let mut url = url::Url::parse(&format!("https://{host}/")).map_err(|e| e.to_string())?;
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("Action", action);
        q.append_pair("Version", "2014-10-31");
        q.append_pair(source_key, req.source_arn);
        q.append_pair(target_key, req.target_id);
        if let Some(k) = req.kms_key_id {
            q.append_pair("KmsKeyId", k);
        }
        q.append_pair("DestinationRegion", req.destination_region);
    }
    let identity: Identity = credentials.into();
    let mut settings = SigningSettings::default();
    settings.expires_in = Some(EXPIRES);
    settings.signature_location = http_request::SignatureLocation::QueryParams;
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region(req.source_region)
        .name("rds")
        .time(now)
        .settings(settings)
        .build()
        .map_err(|e| e.to_string())?;
    let text = url.to_string();
    let signable = SignableRequest::new("GET", &text, std::iter::empty(), SignableBody::empty())
        .map_err(|e| e.to_string())?;
    let (instructions, _) = http_request::sign(signable, &params.into())
        .map_err(|e| e.to_string())?
        .into_parts();
    for (name, value) in instructions.params() {
        url.query_pairs_mut().append_pair(name, value);
    }
    Ok(url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_is_signed_for_the_source_region_and_names_the_destination() {
        let creds =
            aws_credential_types::Credentials::new("AKIDEXAMPLE", "secret", None, None, "t");
        let req = CopyRequest {
            kind: Kind::Instance,
            source_arn: "arn:aws-us-gov:rds:us-gov-west-1:123456789012:snapshot:lifeboat-a-1",
            target_id: "lifeboat-a-1",
            kms_key_id: Some("alias/dr"),
            source_region: "us-gov-west-1",
            destination_region: "us-gov-east-1",
        };
        let url = copy_url(
            &req,
            creds,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
        .unwrap();
        assert!(
            url.starts_with("https://rds.us-gov-west-1.amazonaws.com/?Action=CopyDBSnapshot"),
            "{url}"
        );
        assert!(url.contains("DestinationRegion=us-gov-east-1"), "{url}");
        assert!(url.contains("KmsKeyId=alias%2Fdr"), "{url}");
        assert!(
            url.contains(
                "X-Amz-Credential=AKIDEXAMPLE%2F20270115%2Fus-gov-west-1%2Frds%2Faws4_request"
            ),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=3600"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(!url.contains("secret"), "{url}");
    }
}
