//! Configuration: `config/default.toml` (compiled in), merged with the user's file,
//! then environment variables, then `--set` overrides. Keys match case-insensitively
//! against the defaults so `EIDER_IMAP__DISABLESTARTTLS` finds `disableSTARTTLS`.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;
use thiserror::Error;
use toml::{Table, Value};

pub const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const ENV_PREFIX: &str = "EIDER_";

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {0}: {1}")]
    Read(PathBuf, std::io::Error),
    #[error("invalid TOML in {0}: {1}")]
    Parse(String, toml::de::Error),
    #[error("invalid setting {0:?}: expected KEY=VALUE with a dotted key")]
    Override(String),
    #[error("invalid value in [{0}]: {1}")]
    Section(String, String),
}

/// The merged configuration tree; sections are read into typed structs on demand.
#[derive(Debug, Clone)]
pub struct Config {
    root: Table,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageConfig {
    pub backend: String,
    pub path: PathBuf,
    pub synchronous: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogConfig {
    pub level: String,
    /// "text" or "json".
    #[serde(default = "text_format")]
    pub format: String,
}

fn text_format() -> String {
    "text".into()
}

impl Config {
    /// Defaults, then `file`, then the process environment, then `overrides` ("a.b=value").
    pub fn load(file: Option<&Path>, overrides: &[String]) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_with_env(file, &env, overrides)
    }

    pub fn load_with_env(
        file: Option<&Path>,
        env: &[(String, String)],
        overrides: &[String],
    ) -> Result<Self, ConfigError> {
        let mut root: Table = DEFAULT_TOML
            .parse()
            .map_err(|e| ConfigError::Parse("config/default.toml".into(), e))?;
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| ConfigError::Read(path.to_path_buf(), e))?;
            let user: Table = text
                .parse()
                .map_err(|e| ConfigError::Parse(path.display().to_string(), e))?;
            merge(&mut root, user);
        }
        for (name, value) in env {
            if let Some(rest) = name.strip_prefix(ENV_PREFIX) {
                let path: Vec<&str> = rest.split("__").collect();
                if path.iter().all(|p| !p.is_empty()) {
                    set_path(&mut root, &path, parse_scalar(value));
                }
            }
        }
        for o in overrides {
            let (key, value) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::Override(o.clone()))?;
            let path: Vec<&str> = key.trim().split('.').collect();
            if path.iter().any(|p| p.is_empty()) {
                return Err(ConfigError::Override(o.clone()));
            }
            set_path(&mut root, &path, parse_scalar(value.trim()));
        }
        Ok(Self { root })
    }

    /// Read a section (dotted name, "" for the root) into a typed struct.
    pub fn section<T: DeserializeOwned>(&self, name: &str) -> Result<T, ConfigError> {
        let mut value = Value::Table(self.root.clone());
        for part in name.split('.').filter(|p| !p.is_empty()) {
            value = match value {
                Value::Table(mut t) => t.remove(part).unwrap_or(Value::Table(Table::new())),
                _ => Value::Table(Table::new()),
            };
        }
        value
            .try_into()
            .map_err(|e: toml::de::Error| ConfigError::Section(name.to_string(), e.to_string()))
    }

    /// A top-level scalar.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.root.get(key)
    }
}

/// Values from the environment or `--set`: TOML scalars when they parse, else strings.
fn parse_scalar(s: &str) -> Value {
    let wrapped = format!("v = {s}");
    match wrapped.parse::<Table>() {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| Value::String(s.to_string())),
        Err(_) => Value::String(s.to_string()),
    }
}

/// Find the existing key spelled like `key` ignoring case.
fn canonical_key(table: &Table, key: &str) -> String {
    table
        .keys()
        .find(|k| k.eq_ignore_ascii_case(key))
        .cloned()
        .unwrap_or_else(|| key.to_string())
}

fn merge(base: &mut Table, over: Table) {
    for (k, v) in over {
        let key = canonical_key(base, &k);
        match (base.get_mut(&key), v) {
            (Some(Value::Table(b)), Value::Table(o)) => merge(b, o),
            (_, v) => {
                base.insert(key, v);
            }
        }
    }
}

fn set_path(table: &mut Table, path: &[&str], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        return;
    };
    let key = canonical_key(table, first);
    if rest.is_empty() {
        table.insert(key, value);
        return;
    }
    let entry = table
        .entry(key)
        .or_insert_with(|| Value::Table(Table::new()));
    if !entry.is_table() {
        *entry = Value::Table(Table::new());
    }
    if let Value::Table(t) = entry {
        set_path(t, rest, value);
    }
}

/// `secretFile` of `[api.accessControl]`: the root secret read from a file, so it
/// is not visible in the process list as `--set` would be.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AccessSecretFile {
    pub secret_file: String,
}

impl AccessSecretFile {
    /// The secret in the file (without its trailing line end), None when unset.
    pub fn read(&self) -> Result<Option<String>, String> {
        let path = self.secret_file.trim();
        if path.is_empty() {
            return Ok(None);
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read [api.accessControl] secretFile {path}: {e}"))?;
        let secret = text.trim_end_matches(['\r', '\n']).to_string();
        if secret.is_empty() {
            return Err(format!("[api.accessControl] secretFile {path} is empty"));
        }
        Ok(Some(secret))
    }
}

/// `[totp]`: the key that seals TOTP seeds at rest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TotpConfig {
    pub secret: String,
}

/// Where the embedded store keeps the generated key when `[totp] secret` is empty.
const GENERATED_KEY_FILE: &str = "secret.key";

impl TotpConfig {
    /// The configured key; else, on the embedded store, a random key generated once
    /// under its path (owner-only); else (MongoDB without a secret) none.
    pub fn secret_box(
        &self,
        storage: &StorageConfig,
    ) -> Result<Option<eider_service::security::SecretBox>, String> {
        let secret = self.secret.trim();
        if !secret.is_empty() {
            return Ok(Some(eider_service::security::SecretBox::new(
                secret.as_bytes(),
            )));
        }
        if storage.backend != "embedded" {
            tracing::warn!(
                "[totp] secret is empty: TOTP seeds are stored unencrypted; set the same secret on every instance"
            );
            return Ok(None);
        }
        let key = generated_key(&storage.path.join(GENERATED_KEY_FILE))?;
        Ok(Some(eider_service::security::SecretBox::new(&key)))
    }
}

/// Read the key file, creating it (0600, 32 random bytes as hex) the first time.
fn generated_key(path: &Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    match std::fs::read(path) {
        Ok(key) if !key.is_empty() => return Ok(key),
        Ok(_) => return Err(format!("{} is empty", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    }
    if let Some(dir) = path.parent() {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let mut bytes = [0u8; 32];
    rand::RngCore::fill_bytes(&mut rand::rng(), &mut bytes);
    let key = hex::encode(bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(key.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    tracing::info!(path = %path.display(), "generated the key that seals TOTP seeds");
    Ok(key.into_bytes())
}

/// `[auth]`: login rate limits, 2FA, tokens, auth log, hashing pool.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthConfig {
    pub user_failures: u32,
    pub user_window: u64,
    pub ip_failures: u32,
    pub ip_window: u64,
    pub ip_limit_spares_clean_users: bool,
    pub totp_failures: u32,
    pub totp_window: u64,
    pub totp_skew: u16,
    pub totp_issuer: String,
    pub authlog_days: u64,
    pub max_asps: usize,
    pub token_ttl: u64,
    pub hash_concurrency: usize,
    pub credential_cache_ttl: u64,
    pub imported_hashes: ImportedHashes,
}

/// `[auth.importedHashes]`: the most a `hashedPassword` may cost, per format.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ImportedHashes {
    pub bcrypt_cost: u32,
    pub pbkdf2_iterations: u32,
    pub sha_crypt_rounds: u32,
    pub argon2_memory: u32,
    pub argon2_time: u32,
}

impl Default for ImportedHashes {
    fn default() -> Self {
        let d = eider_service::security::HashLimits::IMPORT;
        Self {
            bcrypt_cost: d.bcrypt_cost,
            pbkdf2_iterations: d.pbkdf2_iterations,
            sha_crypt_rounds: d.sha_crypt_rounds,
            argon2_memory: d.argon2_memory_kib,
            argon2_time: d.argon2_time,
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        let d = eider_service::security::SecurityConfig::default();
        Self {
            user_failures: d.user_failures,
            user_window: d.user_window.as_secs(),
            ip_failures: d.ip_failures,
            ip_window: d.ip_window.as_secs(),
            ip_limit_spares_clean_users: d.ip_limit_spares_clean_users,
            totp_failures: d.totp_failures,
            totp_window: d.totp_window.as_secs(),
            totp_skew: d.totp_skew,
            totp_issuer: d.totp_issuer,
            authlog_days: d.authlog_ttl.as_secs() / 86400,
            max_asps: d.max_asps,
            token_ttl: d.token_ttl.as_secs(),
            hash_concurrency: 0,
            credential_cache_ttl: d.credential_cache.ttl().as_secs(),
            imported_hashes: ImportedHashes::default(),
        }
    }
}

impl AuthConfig {
    pub fn apply(&self, s: &mut eider_service::security::SecurityConfig) {
        use std::time::Duration;
        s.user_failures = self.user_failures;
        s.user_window = Duration::from_secs(self.user_window.max(1));
        s.ip_failures = self.ip_failures;
        s.ip_window = Duration::from_secs(self.ip_window.max(1));
        s.ip_limit_spares_clean_users = self.ip_limit_spares_clean_users;
        s.totp_failures = self.totp_failures;
        s.totp_window = Duration::from_secs(self.totp_window.max(1));
        s.totp_skew = self.totp_skew.min(10);
        if !self.totp_issuer.trim().is_empty() {
            s.totp_issuer = self.totp_issuer.trim().to_string();
        }
        s.authlog_ttl = Duration::from_secs(self.authlog_days.max(1) * 86400);
        s.max_asps = self.max_asps;
        s.token_ttl = Duration::from_secs(self.token_ttl.max(60));
        s.hash_pool = eider_service::security::HashPool::new(self.hash_concurrency);
        s.credential_cache = eider_service::security::CredentialCache::new(Duration::from_secs(
            self.credential_cache_ttl,
        ));
        let h = &self.imported_hashes;
        s.hash_limits = eider_service::security::HashLimits {
            bcrypt_cost: h.bcrypt_cost,
            pbkdf2_iterations: h.pbkdf2_iterations,
            sha_crypt_rounds: h.sha_crypt_rounds,
            argon2_memory_kib: h.argon2_memory,
            argon2_time: h.argon2_time,
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Imap {
        port: u16,
        #[serde(rename = "disableSTARTTLS")]
        disable_starttls: bool,
        host: String,
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("eider.toml");
        std::fs::write(&file, "[imap]\nport = 1143\nhost = \"0.0.0.0\"\n").expect("write");
        let env = vec![
            ("EIDER_IMAP__PORT".to_string(), "2143".to_string()),
            (
                "EIDER_IMAP__DISABLESTARTTLS".to_string(),
                "true".to_string(),
            ),
            ("OTHER".to_string(), "x".to_string()),
        ];
        let cfg = Config::load_with_env(Some(&file), &env, &["imap.host=127.0.0.2".into()])
            .expect("load");
        let imap: Imap = cfg.section("imap").expect("imap");
        assert_eq!(imap.port, 2143);
        assert!(imap.disable_starttls);
        assert_eq!(imap.host, "127.0.0.2");
        let storage: StorageConfig = cfg.section("storage").expect("storage");
        assert_eq!(storage.backend, "embedded");
    }

    #[test]
    fn bad_input_is_reported() {
        assert!(Config::load_with_env(None, &[], &["novalue".into()]).is_err());
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("bad.toml");
        std::fs::write(&file, "[imap\n").expect("write");
        assert!(Config::load_with_env(Some(&file), &[], &[]).is_err());
        assert!(Config::load_with_env(Some(&dir.path().join("missing.toml")), &[], &[]).is_err());
    }
}

/// `[webhooks]`: delivery of events to the URLs registered with POST /webhooks.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct WebhooksConfig {
    pub enabled: bool,
    pub secret: String,
    pub max_queue: usize,
    pub max_attempts: u32,
    pub retry_delay: u64,
    pub max_delay: u64,
    pub timeout: u64,
    pub api_url: String,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            secret: String::new(),
            max_queue: 10_000,
            max_attempts: 10,
            retry_delay: 2000,
            max_delay: 3600,
            timeout: 30,
            api_url: String::new(),
        }
    }
}

impl WebhooksConfig {
    /// The service's settings; `api` gives the default base of download URLs.
    pub fn service_config(
        &self,
        storage: &StorageConfig,
        api: &eider_http::ApiConfig,
    ) -> Result<eider_service::webhooks::WebhookConfig, String> {
        let secret = match self.secret.trim() {
            "" if storage.backend == "embedded" => {
                // Derived from the generated key, so the key itself never signs.
                let key = generated_key(&storage.path.join(GENERATED_KEY_FILE))?;
                eider_auth::hmac_sha256_hex(&key, b"eider webhooks").into_bytes()
            }
            "" => {
                tracing::warn!(
                    "[webhooks] secret is empty: webhook signatures use an empty key; set one"
                );
                Vec::new()
            }
            s => s.as_bytes().to_vec(),
        };
        let api_url = match self.api_url.trim() {
            "" => format!("http://{}:{}", api.host, api.port),
            u => u.trim_end_matches('/').to_string(),
        };
        Ok(eider_service::webhooks::WebhookConfig {
            secret,
            max_queue: self.max_queue.max(1),
            max_attempts: self.max_attempts.max(1),
            retry_delay: std::time::Duration::from_millis(self.retry_delay.max(1)),
            max_delay: std::time::Duration::from_secs(self.max_delay.max(1)),
            api_url,
        })
    }
}
