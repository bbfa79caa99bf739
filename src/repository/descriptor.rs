use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Version of the repository layout and manifest schema. Readers refuse newer versions.
pub const FORMAT_VERSION: u32 = 1;

/// `lifeboat.json` at the repository root: what `init` writes. It holds no secret: the
/// recipients are listed by fingerprint only.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RepoDescriptor {
    pub format: String,
    pub format_version: u32,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    pub recipient_fingerprints: Vec<String>,
}

impl RepoDescriptor {
    pub fn new(recipient_fingerprints: Vec<String>) -> Self {
        RepoDescriptor {
            format: "lifeboat-repository".into(),
            format_version: FORMAT_VERSION,
            created_at: Utc::now(),
            created_by: format!("lifeboat {}", env!("CARGO_PKG_VERSION")),
            recipient_fingerprints,
        }
    }
}
