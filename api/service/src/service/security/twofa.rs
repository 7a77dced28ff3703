//! Second factors: TOTP (setup, enable, check, disable), WildDuck's "custom" flag,
//! and disabling everything at once. WebAuthn credentials live in the same record.
//! With any mechanism enabled, protocols other than the API's master scope accept
//! only application-specific passwords.

use std::collections::HashMap;

use chrono::Utc;

use super::{AuthLogEntry, Service};
use crate::{Error, ObjectId, Result, TwoFactor};

/// What /2fa/totp/setup returns: shown once, the seed is not returned again.
#[derive(Debug, Clone)]
pub struct TotpSetup {
    /// Base32 seed.
    pub seed: String,
    /// otpauth:// URL.
    pub url: String,
    /// The URL as a QR code, `data:image/png;base64,...`.
    pub qrcode: String,
}

fn unix_now() -> u64 {
    Utc::now().timestamp().max(0) as u64
}

/// The seeds of a record, by field name (the name is part of the sealing context).
fn seed_fields(state: &mut TwoFactor) -> [(&'static str, &mut Option<String>); 2] {
    [
        ("totpSeed", &mut state.totp_seed),
        ("totpPending", &mut state.totp_pending),
    ]
}

/// What a sealed seed is bound to: its user and field.
fn seed_context(user: ObjectId, field: &str) -> String {
    format!("{}:{field}", user.to_hex())
}

fn log(action: &str, result: &str, ip: Option<String>, sess: Option<String>) -> AuthLogEntry {
    AuthLogEntry {
        ip,
        sess,
        ..AuthLogEntry::new(action, result)
    }
}

impl Service {
    /// The user's 2FA record (empty when nothing is set up), seeds opened.
    pub async fn two_factor(&self, user: ObjectId) -> Result<TwoFactor> {
        let mut state = self.store().get_two_factor(user).await?.unwrap_or_default();
        if let Some(secrets) = &self.security().secrets {
            for (field, seed) in seed_fields(&mut state) {
                if let Some(value) = seed.as_mut() {
                    *value = secrets
                        .open(value, &seed_context(user, field))
                        .map_err(|e| Error::Internal(format!("TOTP seed of {user}: {e}")))?;
                }
            }
        }
        Ok(state)
    }

    /// Store the user's 2FA record, its seeds sealed when a key is configured.
    pub(crate) async fn save_two_factor(&self, user: ObjectId, state: &TwoFactor) -> Result<()> {
        let empty = state.enabled.is_empty()
            && state.totp_seed.is_none()
            && state.totp_pending.is_none()
            && state.webauthn.is_empty()
            && state.webauthn_challenges.is_empty();
        if empty {
            return Ok(self.store().put_two_factor(user, None).await?);
        }
        let mut record = state.clone();
        if let Some(secrets) = &self.security().secrets {
            for (field, seed) in seed_fields(&mut record) {
                if let Some(value) = seed.as_mut() {
                    *value = secrets
                        .seal(value, &seed_context(user, field))
                        .map_err(|e| Error::Internal(e.to_string()))?;
                }
            }
        }
        Ok(self.store().put_two_factor(user, Some(&record)).await?)
    }

    /// Enabled 2FA mechanisms of a user.
    pub async fn enabled_2fa(&self, user: ObjectId) -> Result<Vec<String>> {
        Ok(self.two_factor(user).await?.enabled)
    }

    /// Enabled 2FA mechanisms of several users (user listings).
    pub async fn enabled_2fa_of(
        &self,
        users: &[ObjectId],
    ) -> Result<HashMap<ObjectId, Vec<String>>> {
        Ok(self
            .store()
            .enabled_two_factor(users)
            .await?
            .into_iter()
            .collect())
    }

    pub(crate) async fn enable_mechanism(
        &self,
        user: ObjectId,
        state: &mut TwoFactor,
        m: &str,
    ) -> Result<()> {
        if !state.is_enabled(m) {
            state.enabled.push(m.to_string());
        }
        self.save_two_factor(user, state).await
    }

    /// POST /users/{user}/2fa/totp/setup.
    pub async fn setup_totp(
        &self,
        user: ObjectId,
        label: Option<&str>,
        issuer: Option<&str>,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<TotpSetup> {
        let record = self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        if state.is_enabled("totp") {
            return Err(Error::TotpEnabled);
        }
        let seed = eider_auth::generate_totp_seed();
        let label = label
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .unwrap_or(&record.username);
        let issuer = issuer
            .map(str::trim)
            .filter(|i| !i.is_empty())
            .unwrap_or(&self.security().totp_issuer);
        let url = eider_auth::otpauth_url(&seed, label, issuer)
            .map_err(|e| Error::Internal(e.to_string()))?;
        let qrcode = eider_auth::qr_data_url(&url).map_err(|_| Error::QrError)?;
        state.totp_pending = Some(seed.clone());
        state.totp_pending_created = Some(Utc::now());
        self.save_two_factor(user, &state).await?;
        self.log_auth_event(user, log("setup 2fa totp", "success", ip, sess))
            .await;
        Ok(TotpSetup { seed, url, qrcode })
    }

    /// POST /users/{user}/2fa/totp/enable: the code proves the app has the seed.
    pub async fn enable_totp(
        &self,
        user: ObjectId,
        code: &str,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<()> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        if state.is_enabled("totp") {
            return Err(Error::TotpEnabled);
        }
        let ttl = chrono::Duration::from_std(self.security().totp_setup_ttl)
            .unwrap_or(chrono::Duration::hours(6));
        let fresh = state
            .totp_pending_created
            .is_some_and(|t| t > Utc::now() - ttl);
        let Some(seed) = state.totp_pending.clone().filter(|_| fresh) else {
            return Err(Error::TotpDisabled);
        };
        let step = eider_auth::check_totp(&seed, code, self.security().totp_skew, unix_now())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let Some(step) = step else {
            self.log_auth_event(user, log("enable 2fa totp", "fail", ip, sess))
                .await;
            return Err(Error::InvalidTotp);
        };
        self.claim_totp_step(&user.to_hex(), step).await;
        state.totp_seed = Some(seed);
        state.totp_pending = None;
        state.totp_pending_created = None;
        self.enable_mechanism(user, &mut state, "totp").await?;
        self.log_auth_event(user, log("enable 2fa totp", "success", ip, sess))
            .await;
        self.emit(
            crate::service::webhooks::events::MFA_TOTP_ENABLED,
            Some(user),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// DELETE /users/{user}/2fa/totp.
    pub async fn disable_totp(
        &self,
        user: ObjectId,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<()> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        if !state.is_enabled("totp") {
            return Err(Error::TotpDisabled);
        }
        state.enabled.retain(|m| m != "totp");
        state.totp_seed = None;
        state.totp_pending = None;
        state.totp_pending_created = None;
        self.save_two_factor(user, &state).await?;
        self.log_auth_event(user, log("disable 2fa totp", "success", ip, sess))
            .await;
        self.emit(
            crate::service::webhooks::events::MFA_TOTP_DISABLED,
            Some(user),
            serde_json::json!({}),
        )
        .await;
        Ok(())
    }

    /// POST /users/{user}/2fa/totp/check. A code is accepted once; failures are
    /// limited per user. When `access_token` is a token waiting for its second
    /// factor, success lifts its limitation.
    pub async fn check_totp(
        &self,
        user: ObjectId,
        code: &str,
        ip: Option<String>,
        sess: Option<String>,
        access_token: Option<&str>,
    ) -> Result<()> {
        self.get_user(user).await?;
        let key = user.to_hex();
        if self.totp_rate_limited(&key).await {
            self.log_auth_event(user, log("check 2fa totp", "ratelimited", ip, sess))
                .await;
            return Err(Error::RateLimited);
        }
        let state = self.two_factor(user).await?;
        let seed = match (&state.totp_seed, state.is_enabled("totp")) {
            (Some(seed), true) => seed.clone(),
            _ => return Err(Error::TotpDisabled),
        };
        let step = eider_auth::check_totp(&seed, code, self.security().totp_skew, unix_now())
            .map_err(|e| Error::Internal(e.to_string()))?;
        let accepted = match step {
            Some(step) => self.claim_totp_step(&key, step).await,
            None => false,
        };
        if !accepted {
            self.count_totp_failure(&key).await;
            self.log_auth_event(user, log("check 2fa totp", "fail", ip, sess))
                .await;
            return Err(Error::InvalidTotp);
        }
        self.log_auth_event(user, log("check 2fa totp", "success", ip, sess))
            .await;
        if let Some(token) = access_token {
            self.confirm_access_token(user, token).await?;
        }
        Ok(())
    }

    /// PUT /users/{user}/2fa/custom: the account password no longer works for
    /// IMAP/POP3/SMTP (the application verifies its own second factor).
    pub async fn enable_custom_2fa(
        &self,
        user: ObjectId,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<()> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        self.enable_mechanism(user, &mut state, "custom").await?;
        self.log_auth_event(user, log("enable 2fa custom", "success", ip, sess))
            .await;
        Ok(())
    }

    /// DELETE /users/{user}/2fa/custom.
    pub async fn disable_custom_2fa(
        &self,
        user: ObjectId,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<()> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        state.enabled.retain(|m| m != "custom");
        self.save_two_factor(user, &state).await?;
        self.log_auth_event(user, log("disable 2fa custom", "success", ip, sess))
            .await;
        Ok(())
    }

    /// DELETE /users/{user}/2fa: every mechanism, TOTP seed and WebAuthn credential.
    pub async fn disable_2fa(
        &self,
        user: ObjectId,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<()> {
        self.get_user(user).await?;
        self.store().put_two_factor(user, None).await?;
        self.log_auth_event(user, log("disable 2fa", "success", ip, sess))
            .await;
        Ok(())
    }
}
