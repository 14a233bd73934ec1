//! Encryption at rest for connection configs: XChaCha20-Poly1305 with a key
//! from the operator (`TRIBUTARY_SECRET_KEY`, base64 of 32 bytes) or a key
//! file generated on first start with mode 0600.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;

/// Seals and opens small secrets. Sealed text: `v1:` + base64(nonce ‖ ciphertext).
#[derive(Clone)]
pub struct Sealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(..)")
    }
}

impl Sealer {
    pub fn from_key(key: &[u8; 32]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
        }
    }

    /// The operator's key if given (base64 of 32 bytes), else the key file in
    /// `data_dir`, created on first use.
    pub fn load_or_create(data_dir: &Path, operator_key: Option<&str>) -> anyhow::Result<Self> {
        if let Some(encoded) = operator_key {
            return Ok(Self::from_key(&decode_key(encoded.trim())?));
        }
        let path = data_dir.join("secret.key");
        if path.exists() {
            let text = std::fs::read_to_string(&path)?;
            return Ok(Self::from_key(&decode_key(text.trim()).map_err(|e| {
                anyhow::anyhow!("{} is not a valid key file: {e}", path.display())
            })?));
        }
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        write_private(&path, &B64.encode(key))?;
        tracing::info!(path = %path.display(), "generated the encryption key for secrets at rest");
        Ok(Self::from_key(&key))
    }

    pub fn seal(&self, plaintext: &[u8]) -> String {
        let mut nonce = [0u8; 24];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory buffers");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&ciphertext);
        format!("v1:{}", B64.encode(out))
    }

    pub fn open(&self, sealed: &str) -> anyhow::Result<Vec<u8>> {
        let encoded = sealed
            .strip_prefix("v1:")
            .ok_or_else(|| anyhow::anyhow!("unknown sealed format"))?;
        let bytes = B64.decode(encoded)?;
        anyhow::ensure!(bytes.len() > 24, "sealed value is truncated");
        let (nonce, ciphertext) = bytes.split_at(24);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), ciphertext)
            .map_err(|_| anyhow::anyhow!("cannot decrypt: wrong key or corrupted data"))
    }
}

fn decode_key(encoded: &str) -> anyhow::Result<[u8; 32]> {
    let bytes = B64.decode(encoded)?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the key must be 32 bytes, base64-encoded"))
}

/// Writes a file only its owner can read (0600 on Unix).
pub fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_text_opens_with_the_same_key_only() {
        let sealer = Sealer::from_key(&[7; 32]);
        let sealed = sealer.seal(b"secret_access_key=abc");
        assert!(!sealed.contains("abc"));
        assert_eq!(sealer.open(&sealed).unwrap(), b"secret_access_key=abc");
        assert!(Sealer::from_key(&[8; 32]).open(&sealed).is_err());
    }

    #[cfg(unix)]
    #[test]
    fn generated_key_file_is_private_and_reused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let first = Sealer::load_or_create(dir.path(), None).unwrap();
        let mode = std::fs::metadata(dir.path().join("secret.key"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let second = Sealer::load_or_create(dir.path(), None).unwrap();
        assert_eq!(second.open(&first.seal(b"x")).unwrap(), b"x");
    }
}
