//! First-start setup of what the API needs to be usable: the `default`
//! namespace and, when the store holds no API key yet, an admin key.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use rand::RngCore;

use super::auth::{hash_secret, DEFAULT_NAMESPACE};
use crate::app::App;
use crate::model::{new_id, now, ApiKey, Namespace, Permission};
use crate::store::sealing::write_private;
use crate::store::StoreError;

/// Where the first admin key is written, under the data folder.
pub const ADMIN_KEY_FILE: &str = "admin.key";

/// A new API key secret: `trib_` + 32 random bytes, base64url.
pub fn generate_secret() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    format!("trib_{}", URL_SAFE_NO_PAD.encode(bytes))
}

/// Makes sure the `default` namespace exists and that someone can log in.
///
/// With no API key in the store, creates an admin key (the operator's
/// `admin_key` if given, else a generated one), writes its secret to
/// `<data_dir>/admin.key` (mode 0600) and returns it so the caller can print
/// it once. When keys exist but the operator passes an `admin_key` the store
/// does not know, that key is added as an admin key (and not returned).
pub async fn bootstrap(app: &App, admin_key: Option<String>) -> anyhow::Result<Option<String>> {
    ensure_default_namespace(app).await?;
    let admin_key = admin_key
        .map(|k| k.trim().to_string())
        .filter(|k| !k.is_empty());
    let existing = app.store.list_api_keys().await?;
    if !existing.is_empty() {
        if let Some(secret) = admin_key {
            if app
                .store
                .find_api_key_by_hash(&hash_secret(&secret))
                .await?
                .is_none()
            {
                app.store.create_api_key(&admin_record(&secret)).await?;
                tracing::info!("added the admin key given by TRIBUTARY_ADMIN_KEY");
            }
        }
        return Ok(None);
    }
    let secret = admin_key.unwrap_or_else(generate_secret);
    match app.store.create_api_key(&admin_record(&secret)).await {
        Ok(()) => {}
        // Another host started with the same key at the same moment.
        Err(StoreError::AlreadyExists { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    }
    std::fs::create_dir_all(&app.settings.data_dir)?;
    let path = app.settings.data_dir.join(ADMIN_KEY_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(anyhow::anyhow!("cannot replace {}: {e}", path.display())),
    }
    write_private(&path, &format!("{secret}\n"))
        .map_err(|e| anyhow::anyhow!("cannot write the admin key to {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "created the first admin API key");
    Ok(Some(secret))
}

async fn ensure_default_namespace(app: &App) -> anyhow::Result<()> {
    if app.store.get_namespace(DEFAULT_NAMESPACE).await?.is_some() {
        return Ok(());
    }
    let namespace = Namespace {
        namespace_id: new_id("ns"),
        namespace_name: DEFAULT_NAMESPACE.to_string(),
        description: Some("Created on first start".to_string()),
        created_at: now(),
    };
    match app.store.create_namespace(&namespace).await {
        // Another host created it meanwhile.
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

fn admin_record(secret: &str) -> ApiKey {
    ApiKey {
        key_id: new_id("key"),
        name: "admin".to_string(),
        key_hash: hash_secret(secret),
        namespace_ids: Vec::new(),
        permissions: vec![Permission::Admin],
        created_at: now(),
    }
}
