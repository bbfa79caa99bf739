//! The plaintext hash key. A backup records a hash of every stream's plaintext, checked
//! again on restore; a plain hash would let anyone who can read the (unencrypted) manifest
//! confirm a guess of a small table's contents. So the hash is BLAKE3 keyed with a random
//! per-backup key, and the key is stored in the manifest encrypted to the backup's age
//! recipients: only holders of an identity can check, or test guesses against, the hashes.

use std::io::{Read, Write};

use crate::crypto::{Identity, Recipient};
use crate::error::{Error, Result};

/// How a backup hashes plaintext.
#[derive(Clone)]
pub enum PlainHasher {
    /// Format 1: unkeyed BLAKE3.
    Blake3,
    /// Format 2: BLAKE3 keyed with the backup's own key.
    Keyed([u8; 32]),
}

impl PlainHasher {
    pub fn generate() -> Self {
        PlainHasher::Keyed(rand::random())
    }

    pub fn hasher(&self) -> blake3::Hasher {
        match self {
            PlainHasher::Blake3 => blake3::Hasher::new(),
            PlainHasher::Keyed(key) => blake3::Hasher::new_keyed(key),
        }
    }

    /// The key, encrypted to `recipients` as an ASCII-armored age file.
    pub fn seal(&self, recipients: &[Recipient]) -> Result<Option<String>> {
        let PlainHasher::Keyed(key) = self else {
            return Ok(None);
        };
        let failed = |e: String| Error::Key(format!("cannot encrypt the hash key: {e}"));
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .map_err(|e| failed(e.to_string()))?;
        let mut out = Vec::new();
        let armor =
            age::armor::ArmoredWriter::wrap_output(&mut out, age::armor::Format::AsciiArmor)
                .map_err(|e| failed(e.to_string()))?;
        let mut w = encryptor
            .wrap_output(armor)
            .map_err(|e| failed(e.to_string()))?;
        w.write_all(key).map_err(|e| failed(e.to_string()))?;
        w.finish()
            .and_then(|armor| armor.finish())
            .map_err(|e| failed(e.to_string()))?;
        String::from_utf8(out)
            .map(Some)
            .map_err(|e| failed(e.to_string()))
    }

    /// Opens a sealed key with the restore's identities.
    pub fn open(sealed: &str, identities: &[Identity], backup: &str) -> Result<Self> {
        let corrupt = |reason: String| Error::Corrupt {
            object: format!("the plaintext hash key of backup {backup}"),
            reason,
        };
        let decryptor = age::Decryptor::new(age::armor::ArmoredReader::new(sealed.as_bytes()))
            .map_err(|e| corrupt(e.to_string()))?;
        let mut reader = decryptor
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => Error::Decrypt {
                    object: format!("the plaintext hash key of backup {backup}"),
                    reason: "none of the given identities matches its recipients".into(),
                },
                other => corrupt(other.to_string()),
            })?;
        let mut key = Vec::new();
        reader
            .read_to_end(&mut key)
            .map_err(|e| corrupt(e.to_string()))?;
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| corrupt("the key is not 32 bytes".into()))?;
        Ok(PlainHasher::Keyed(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_key_opens_only_with_a_recipient_identity() {
        let id = Identity::generate();
        let other = Identity::generate();
        let hasher = PlainHasher::generate();
        let sealed = hasher.seal(&[id.to_public()]).unwrap().unwrap();
        assert!(sealed.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
        let opened = PlainHasher::open(&sealed, &[id], "b").unwrap();
        let h = |p: &PlainHasher| p.hasher().update(b"row").finalize();
        assert_eq!(h(&opened), h(&hasher));
        assert_ne!(h(&opened), h(&PlainHasher::Blake3));
        assert!(matches!(
            PlainHasher::open(&sealed, &[other], "b"),
            Err(Error::Decrypt { .. })
        ));
    }
}
