use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::manifest::FORMAT_VERSION;

/// `lifeboat.json` at the repository root: what `init` writes, signed like a manifest. It
/// holds no secret: the recipients are listed by fingerprint, the signing keys by id (for
/// information only: which keys are trusted is configuration, never the repository's say).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoDescriptor {
    pub format: String,
    pub format_version: u32,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub recipient_fingerprints: Vec<String>,
    #[serde(default)]
    pub signing_key_ids: Vec<String>,
}

impl RepoDescriptor {
    pub fn new(recipient_fingerprints: Vec<String>, signing_key_ids: Vec<String>) -> Self {
        RepoDescriptor {
            format: "lifeboat-repository".into(),
            format_version: FORMAT_VERSION,
            created_at: Utc::now(),
            created_by: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
            recipient_fingerprints,
            signing_key_ids,
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).unwrap_or_default()
    }
}
