//! Signing what lifeboat writes: Ed25519 in minisign's format, so the stock
//! `minisign -V -P <key> -m manifest.json` checks a backup by hand.
//!
//! The signing key stays with the backup side (a file, or the environment); the keys a
//! restore trusts come from configuration, never from the repository itself: a repository
//! that could name its own trusted keys would trust whoever can write to it.

use minisign::{KeyPair, PublicKey, PublicKeyBox, SecretKey, SecretKeyBox, SignatureBox};
use std::io::Cursor;
use std::path::Path;

use crate::error::{Error, Result};

/// A key that signs manifests, descriptors and records.
pub struct SigningKey {
    secret: SecretKey,
    public: PublicKey,
}

/// A public key whose signatures are trusted.
#[derive(Clone)]
pub struct TrustedKey {
    public: PublicKey,
}

/// The id minisign prints for a key: 16 upper-case hex digits of its key number.
fn key_id(keynum: &[u8]) -> String {
    let mut bytes = [0u8; 8];
    let n = keynum.len().min(8);
    bytes[..n].copy_from_slice(&keynum[..n]);
    format!("{:016X}", u64::from_le_bytes(bytes))
}

impl SigningKey {
    pub fn id(&self) -> String {
        key_id(self.public.keynum())
    }

    /// The public half, as `RW…` base64 (what `trusted_keys` takes).
    pub fn public_base64(&self) -> String {
        self.public.to_base64()
    }

    pub fn trusted(&self) -> TrustedKey {
        TrustedKey {
            public: self.public.clone(),
        }
    }

    /// A minisign signature file over `data`; `comment` becomes its trusted (signed) comment.
    pub fn sign(&self, data: &[u8], comment: &str) -> Result<String> {
        let sig = minisign::sign(
            Some(&self.public),
            &self.secret,
            Cursor::new(data),
            Some(comment),
            Some("signature from lifeboat"),
        )
        .map_err(|e| Error::Key(format!("cannot sign with key {}: {e}", self.id())))?;
        Ok(sig.into_string())
    }
}

impl TrustedKey {
    pub fn id(&self) -> String {
        key_id(self.public.keynum())
    }
}

/// Which trusted key made a valid signature, and what its trusted comment says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub key_id: String,
    pub comment: String,
}

/// Why a signature was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureProblem {
    #[error("it has no signature")]
    Missing,
    #[error("its signature file is not a minisign signature")]
    Malformed,
    #[error("it is signed by key {0}, which is not a trusted key")]
    UntrustedKey(String),
    #[error("its signature by key {0} does not match its content (it was modified)")]
    Invalid(String),
}

/// Checks a minisign signature file over `data` against the trusted keys.
pub fn verify(
    data: &[u8],
    signature: &str,
    trusted: &[TrustedKey],
) -> std::result::Result<Verified, SignatureProblem> {
    let sig = SignatureBox::from_string(signature).map_err(|_| SignatureProblem::Malformed)?;
    let signer = key_id(sig.keynum());
    let Some(key) = trusted.iter().find(|k| k.public.keynum() == sig.keynum()) else {
        return Err(SignatureProblem::UntrustedKey(signer));
    };
    minisign::verify(&key.public, &sig, Cursor::new(data), true, false, false)
        .map_err(|_| SignatureProblem::Invalid(signer.clone()))?;
    let comment = sig
        .trusted_comment()
        .map_err(|_| SignatureProblem::Malformed)?;
    Ok(Verified {
        key_id: signer,
        comment,
    })
}

/// A new key pair: the secret key file's text (unencrypted minisign format, to be stored
/// with mode 0600), the public key file's text, and the key itself.
pub fn generate() -> Result<(String, String, SigningKey)> {
    let pair = KeyPair::generate_unencrypted_keypair()
        .map_err(|e| Error::Key(format!("cannot generate a signing key: {e}")))?;
    let secret_text = pair
        .sk
        .to_box(Some("lifeboat signing key (keep it secret)"))
        .map_err(|e| Error::Key(format!("cannot encode the signing key: {e}")))?
        .into_string();
    let public_text = pair
        .pk
        .to_box()
        .map_err(|e| Error::Key(format!("cannot encode the public key: {e}")))?
        .into_string();
    Ok((
        secret_text,
        public_text,
        SigningKey {
            secret: pair.sk,
            public: pair.pk,
        },
    ))
}

/// Parses a secret key file (minisign format). A password-protected key needs
/// `password`; lifeboat never prompts.
pub fn parse_signing_key(text: &str, password: Option<String>, what: &str) -> Result<SigningKey> {
    let boxed = SecretKeyBox::from_string(text.trim())
        .map_err(|_| Error::Key(format!("{what} is not a minisign secret key")))?;
    let encrypted = boxed
        .clone()
        .into_unencrypted_secret_key()
        .map_err(|e| e.to_string());
    let secret = match (encrypted, password) {
        (Ok(sk), _) => sk,
        (Err(_), Some(pw)) => SecretKey::from_box(boxed, Some(pw)).map_err(|e| {
            Error::Key(format!(
                "{what}: cannot open the password-protected key ({e}); check \
                 LIFEBOAT_SIGNING_KEY_PASSWORD"
            ))
        })?,
        (Err(_), None) => {
            return Err(Error::Key(format!(
                "{what} is password-protected or damaged: set LIFEBOAT_SIGNING_KEY_PASSWORD, or \
                 make an unprotected key with `lifeboat key generate --signing FILE`"
            )))
        }
    };
    let public =
        PublicKey::from_secret_key(&secret).map_err(|e| Error::Key(format!("{what}: {e}")))?;
    Ok(SigningKey { secret, public })
}

pub fn read_signing_key_file(path: &Path, password: Option<String>) -> Result<SigningKey> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    parse_signing_key(&text, password, &path.display().to_string())
}

/// Parses a trusted public key: its `RW…` base64 line, or a whole minisign `.pub` file.
pub fn parse_trusted_key(text: &str) -> Result<TrustedKey> {
    let t = text.trim();
    let public = if t.contains('\n') {
        PublicKeyBox::from_string(t).and_then(PublicKeyBox::into_public_key)
    } else {
        PublicKey::from_base64(t)
    };
    public.map(|public| TrustedKey { public }).map_err(|_| {
        let shown: String = t.chars().take(12).collect();
        // A public key is 56 base64 characters; a secret key line is about 200.
        let secret = t.lines().any(|l| l.len() > 100 && !l.contains(' '));
        if secret {
            Error::Key(
                "a signing (secret) key was given as a trusted key; give its public key \
                 (RW…, printed by `lifeboat key generate`)"
                    .into(),
            )
        } else {
            Error::Key(format!(
                "`{shown}…` is not a minisign public key (expected RW… base64)"
            ))
        }
    })
}

/// Reads a file of trusted keys: `RW…` lines or minisign `.pub` files' contents; `#`
/// comments, `untrusted comment:` lines and blank lines are ignored.
pub fn read_trusted_keys_file(path: &Path) -> Result<Vec<TrustedKey>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::ReadFile {
        path: path.to_owned(),
        source,
    })?;
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with("untrusted comment:"))
        .map(|l| parse_trusted_key(l).map_err(|e| Error::Key(format!("{}: {e}", path.display()))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signs_and_verifies_and_rejects() {
        let (secret_text, public_text, key) = generate().unwrap();
        let reparsed = parse_signing_key(&secret_text, None, "k").unwrap();
        assert_eq!(reparsed.id(), key.id());
        let trusted = vec![parse_trusted_key(&public_text).unwrap()];
        assert_eq!(trusted[0].id(), key.id());
        let sig = key
            .sign(b"manifest", "lifeboat backups/x/manifest.json")
            .unwrap();
        let ok = verify(b"manifest", &sig, &trusted).unwrap();
        assert_eq!(ok.key_id, key.id());
        assert_eq!(ok.comment, "lifeboat backups/x/manifest.json");
        assert_eq!(
            verify(b"manifest!", &sig, &trusted),
            Err(SignatureProblem::Invalid(key.id()))
        );
        let (_, _, other) = generate().unwrap();
        assert_eq!(
            verify(b"manifest", &sig, &[other.trusted()]),
            Err(SignatureProblem::UntrustedKey(key.id()))
        );
        assert_eq!(
            verify(b"manifest", "garbage", &trusted),
            Err(SignatureProblem::Malformed)
        );
        // The base64 line alone is a trusted key too.
        assert!(parse_trusted_key(&key.public_base64()).is_ok());
        let err = parse_trusted_key(&secret_text).err().unwrap().to_string();
        assert!(err.contains("secret"), "{err}");
    }
}
