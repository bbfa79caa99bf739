//! age keys: parsing recipients and identities, fingerprints for manifests, key generation.
//!
//! Only X25519 keys are accepted: they cost nothing per object, unlike passphrase (scrypt)
//! recipients, and several of them let a team rotate and escrow keys.

use sha2::{Digest, Sha256};
use std::path::Path;
use std::str::FromStr;

use crate::error::{Error, Result};

mod plain_hash;
pub mod sign;

pub use age::x25519::{Identity, Recipient};
pub use plain_hash::PlainHasher;
pub use sign::{SigningKey, TrustedKey};

/// A short public fingerprint of a recipient, safe to print and to store in manifests.
pub fn fingerprint(recipient: &Recipient) -> String {
    let digest = Sha256::digest(recipient.to_string().as_bytes());
    format!("sha256:{}", &hex::encode(digest)[..16])
}

pub fn parse_recipient(text: &str) -> Result<Recipient> {
    let t = text.trim();
    Recipient::from_str(t).map_err(|_| {
        let shown: String = t.chars().take(12).collect();
        if t.starts_with("AGE-SECRET-KEY-") {
            Error::Key(
                "a private key (AGE-SECRET-KEY-…) was given as a recipient; give its public key \
                 (age1…, printed by `age-keygen -y` or `lifeboat key public`)"
                    .into(),
            )
        } else {
            Error::Key(format!(
                "`{shown}…` is not an age X25519 recipient (expected age1…)"
            ))
        }
    })
}

/// Reads a recipients file: one `age1…` per line, `#` comments and blank lines ignored.
pub fn read_recipients_file(path: &Path) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    Ok(key_lines(&text).map(str::to_string).collect())
}

/// Reads an age identity file (as written by `age-keygen`): `AGE-SECRET-KEY-1…` lines.
pub fn read_identity_file(path: &Path) -> Result<Vec<Identity>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    let ids =
        parse_identities(&text).map_err(|e| Error::Key(format!("{}: {e}", path.display())))?;
    if ids.is_empty() {
        return Err(Error::Key(format!(
            "{} holds no AGE-SECRET-KEY-1… line",
            path.display()
        )));
    }
    Ok(ids)
}

pub fn parse_identities(text: &str) -> std::result::Result<Vec<Identity>, String> {
    key_lines(text)
        .enumerate()
        .map(|(i, line)| {
            Identity::from_str(line).map_err(|_| {
                if line.starts_with("age1") {
                    "this is a public key (age1…), which can only encrypt: restoring needs the \
                     private key file, whose line starts with AGE-SECRET-KEY-1"
                        .to_string()
                } else {
                    format!("entry {} is not an age X25519 identity", i + 1)
                }
            })
        })
        .collect()
}

fn key_lines(text: &str) -> impl Iterator<Item = &str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
}

/// Fingerprints of the public halves of the given identities.
pub fn identity_fingerprints(ids: &[Identity]) -> Vec<String> {
    ids.iter().map(|i| fingerprint(&i.to_public())).collect()
}

/// A new key pair, rendered as an `age-keygen` compatible identity file.
pub fn generate_identity_file() -> (String, Recipient) {
    use age::secrecy::ExposeSecret;
    let id = Identity::generate();
    let public = id.to_public();
    let text = format!(
        "# created: {}\n# public key: {}\n{}\n",
        chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        public,
        id.to_string().expose_secret()
    );
    (text, public)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_keys_parse_back() {
        let (text, public) = generate_identity_file();
        let ids = parse_identities(&text).unwrap();
        assert_eq!(ids.len(), 1);
        assert_eq!(ids[0].to_public().to_string(), public.to_string());
        assert_eq!(identity_fingerprints(&ids), vec![fingerprint(&public)]);
    }

    #[test]
    fn public_key_as_identity_is_explained() {
        let (_, public) = generate_identity_file();
        let err = parse_identities(&public.to_string()).err().unwrap();
        assert!(
            err.contains("public key") && err.contains("AGE-SECRET-KEY-1"),
            "{err}"
        );
    }

    #[test]
    fn secret_key_as_recipient_is_explained() {
        let (text, _) = generate_identity_file();
        let secret = text.lines().last().unwrap();
        let err = parse_recipient(secret).unwrap_err().to_string();
        assert!(err.contains("private key"), "{err}");
        assert!(!err.contains(&secret[16..]), "secret leaked: {err}");
    }
}
