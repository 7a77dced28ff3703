//! WebAuthn as a second factor (security keys), in WildDuck's shape: binary values
//! travel as hex, the relying party id may differ per request (one verifier is built
//! per rpId/origin), and the ceremony state between a challenge and its answer is
//! kept in the user's TwoFactor record for an hour.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{Duration, Utc};
use serde_json::{json, Value};
use webauthn_rs::prelude::{
    AuthenticatorAttachment, PublicKeyCredential, RegisterPublicKeyCredential, SecurityKey,
    SecurityKeyAuthentication, SecurityKeyRegistration, Url, Uuid, Webauthn, WebauthnBuilder,
};

use super::{AuthLogEntry, Service};
use crate::{Error, ObjectId, Result, TwoFactor, WebauthnChallenge, WebauthnCredential};

/// How long a challenge waits for its attestation or assertion.
const CHALLENGE_TTL_SECS: i64 = 3600;
/// Open challenges kept per user; the oldest go first.
const MAX_CHALLENGES: usize = 20;

/// Body of registration-challenge / authentication-challenge.
#[derive(Debug, Clone, Default)]
pub struct WebauthnChallengeRequest {
    pub origin: String,
    pub rp_id: Option<String>,
    pub description: String,
    pub authenticator_attachment: Option<String>,
    pub ip: Option<String>,
    pub sess: Option<String>,
}

/// Body of registration-attestation (hex values).
#[derive(Debug, Clone, Default)]
pub struct WebauthnAttestation {
    pub challenge: String,
    pub raw_id: String,
    pub client_data_json: String,
    pub attestation_object: String,
    pub rp_id: Option<String>,
    pub ip: Option<String>,
    pub sess: Option<String>,
}

/// Body of authentication-assertion (hex values).
#[derive(Debug, Clone, Default)]
pub struct WebauthnAssertion {
    pub challenge: String,
    pub raw_id: String,
    pub client_data_json: String,
    pub authenticator_data: String,
    pub signature: String,
    pub rp_id: Option<String>,
    pub ip: Option<String>,
    pub sess: Option<String>,
}

fn failed(msg: impl std::fmt::Display) -> Error {
    Error::WebauthnFailed(msg.to_string())
}

fn hex_to_b64(field: &str, value: &str) -> Result<String> {
    let bytes = hex::decode(value.trim()).map_err(|_| failed(format!("Invalid {field}")))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

fn b64_to_hex(value: &Value) -> String {
    value
        .as_str()
        .and_then(|s| URL_SAFE_NO_PAD.decode(s.trim_end_matches('=')).ok())
        .map(hex::encode)
        .unwrap_or_default()
}

fn attachment(value: Option<&str>) -> Result<String> {
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => Ok("cross-platform".into()),
        Some(v @ ("platform" | "cross-platform")) => Ok(v.into()),
        Some(_) => Err(failed("Invalid authenticatorAttachment")),
    }
}

/// The verifier for one origin and rpId (the origin's host when none is given).
fn verifier(origin: &str, rp_id: Option<&str>) -> Result<(Webauthn, String)> {
    let url = Url::parse(origin.trim()).map_err(|_| failed("Invalid origin"))?;
    let rp_id = match rp_id.map(str::trim).filter(|r| !r.is_empty()) {
        Some(r) => r.to_string(),
        None => url
            .host_str()
            .ok_or_else(|| failed("Invalid origin"))?
            .to_string(),
    };
    let webauthn = WebauthnBuilder::new(&rp_id, &url)
        .and_then(|b| b.build())
        .map_err(|e| failed(format!("Invalid rpId or origin: {e}")))?;
    Ok((webauthn, rp_id))
}

fn user_uuid(user: ObjectId) -> Uuid {
    let mut bytes = [0u8; 16];
    if let Ok(id) = hex::decode(user.to_hex()) {
        let n = id.len().min(16);
        bytes[..n].copy_from_slice(&id[..n]);
    }
    Uuid::from_bytes(bytes)
}

fn prune(state: &mut TwoFactor) {
    let cutoff = Utc::now() - Duration::seconds(CHALLENGE_TTL_SECS);
    state.webauthn_challenges.retain(|c| c.created > cutoff);
    let excess = state
        .webauthn_challenges
        .len()
        .saturating_sub(MAX_CHALLENGES - 1);
    state.webauthn_challenges.drain(..excess);
}

/// A client's answer in webauthn-rs's form, from WildDuck's hex-encoded fields.
fn credential<T: serde::de::DeserializeOwned>(
    raw_id_hex: &str,
    response: serde_json::Value,
) -> Result<T> {
    let raw = hex_to_b64("rawId", raw_id_hex)?;
    serde_json::from_value(json!({
        "id": raw,
        "rawId": raw,
        "response": response,
        "type": "public-key",
        "extensions": {},
    }))
    .map_err(failed)
}

/// Take the open challenge of this kind, whatever happens next (single use).
fn take_challenge(state: &mut TwoFactor, kind: &str, challenge: &str) -> Option<WebauthnChallenge> {
    let cutoff = Utc::now() - Duration::seconds(CHALLENGE_TTL_SECS);
    let want = challenge.trim().to_ascii_lowercase();
    let pos = state
        .webauthn_challenges
        .iter()
        .position(|c| c.kind == kind && c.challenge == want && c.created > cutoff)?;
    Some(state.webauthn_challenges.remove(pos))
}

fn security_keys(state: &TwoFactor) -> Vec<SecurityKey> {
    state
        .webauthn
        .iter()
        .filter_map(|c| serde_json::from_value(c.credential.clone()).ok())
        .collect()
}

fn log(action: &str, result: &str, ip: Option<String>, sess: Option<String>) -> AuthLogEntry {
    AuthLogEntry {
        ip,
        sess,
        ..AuthLogEntry::new(action, result)
    }
}

impl Service {
    /// A challenge was taken from `state`: drop stale ones, persist (so the challenge
    /// is used at most once even if verification fails), and build its verifier.
    async fn settle_challenge(
        &self,
        user: ObjectId,
        state: &mut TwoFactor,
        pending: &WebauthnChallenge,
        rp_id: Option<&str>,
    ) -> Result<Webauthn> {
        prune(state);
        self.save_two_factor(user, state).await?;
        let rp_id = rp_id.unwrap_or(&pending.rp_id);
        Ok(verifier(&pending.origin, Some(rp_id))?.0)
    }

    /// GET /users/{user}/2fa/webauthn/credentials.
    pub async fn webauthn_credentials(&self, user: ObjectId) -> Result<Vec<WebauthnCredential>> {
        self.get_user(user).await?;
        Ok(self.two_factor(user).await?.webauthn)
    }

    /// DELETE /users/{user}/2fa/webauthn/credentials/{credential}: whether it existed.
    pub async fn delete_webauthn_credential(
        &self,
        user: ObjectId,
        credential: ObjectId,
        ip: Option<String>,
        sess: Option<String>,
    ) -> Result<bool> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        let before = state.webauthn.len();
        state.webauthn.retain(|c| c.id != credential);
        if state.webauthn.len() == before {
            return Ok(false);
        }
        if state.webauthn.is_empty() {
            state.enabled.retain(|m| m != "webauthn");
        }
        self.save_two_factor(user, &state).await?;
        self.log_auth_event(user, log("delete webauthn", "success", ip, sess))
            .await;
        Ok(true)
    }

    /// POST .../registration-challenge: WildDuck's registrationOptions.
    pub async fn webauthn_registration_challenge(
        &self,
        user: ObjectId,
        req: WebauthnChallengeRequest,
    ) -> Result<Value> {
        let record = self.get_user(user).await?;
        let attach = attachment(req.authenticator_attachment.as_deref())?;
        let (webauthn, rp_id) = verifier(&req.origin, req.rp_id.as_deref())?;
        let mut state = self.two_factor(user).await?;
        let keys = security_keys(&state);
        let exclude =
            (!keys.is_empty()).then(|| keys.iter().map(|k| k.cred_id().clone()).collect());
        let hint = if attach == "platform" {
            AuthenticatorAttachment::Platform
        } else {
            AuthenticatorAttachment::CrossPlatform
        };
        let name = if record.address.is_empty() {
            record.username.clone()
        } else {
            record.address.clone()
        };
        let display = record.name.clone().unwrap_or(record.username.clone());
        let (ccr, reg): (_, SecurityKeyRegistration) = webauthn
            .start_securitykey_registration(
                user_uuid(user),
                &name,
                &display,
                exclude,
                None,
                Some(hint),
            )
            .map_err(failed)?;
        let mut options = serde_json::to_value(&ccr).map_err(|e| Error::Internal(e.to_string()))?
            ["publicKey"]
            .take();
        let challenge = b64_to_hex(&options["challenge"]);
        options["challenge"] = json!(challenge);
        options["user"]["id"] = json!(user.to_hex());
        options["authenticatorSelection"]["authenticatorAttachment"] = json!(attach);
        if let Some(list) = options["excludeCredentials"].as_array_mut() {
            for c in list {
                *c = json!({"rawId": b64_to_hex(&c["id"]), "type": c["type"].clone()});
            }
        }
        prune(&mut state);
        state.webauthn_challenges.push(WebauthnChallenge {
            challenge,
            kind: "registration".into(),
            rp_id,
            origin: req.origin.trim().to_string(),
            description: req.description.trim().to_string(),
            authenticator_attachment: attach,
            state: serde_json::to_value(&reg).map_err(|e| Error::Internal(e.to_string()))?,
            created: Utc::now(),
        });
        self.save_two_factor(user, &state).await?;
        Ok(options)
    }

    /// POST .../registration-attestation: the new credential.
    pub async fn webauthn_registration_attestation(
        &self,
        user: ObjectId,
        req: WebauthnAttestation,
    ) -> Result<WebauthnCredential> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        let Some(pending) = take_challenge(&mut state, "registration", &req.challenge) else {
            return Err(failed("Invalid or expired challenge"));
        };
        let webauthn = self
            .settle_challenge(user, &mut state, &pending, req.rp_id.as_deref())
            .await?;
        let cred: RegisterPublicKeyCredential = credential(
            &req.raw_id,
            json!({
                "attestationObject": hex_to_b64("attestationObject", &req.attestation_object)?,
                "clientDataJSON": hex_to_b64("clientDataJSON", &req.client_data_json)?,
            }),
        )?;
        let reg: SecurityKeyRegistration =
            serde_json::from_value(pending.state).map_err(|e| Error::Internal(e.to_string()))?;
        let key = match webauthn.finish_securitykey_registration(&cred, &reg) {
            Ok(key) => key,
            Err(e) => {
                self.log_auth_event(user, log("enable 2fa webauthn", "fail", req.ip, req.sess))
                    .await;
                return Err(failed(e));
            }
        };
        let raw_id: Vec<u8> = AsRef::<[u8]>::as_ref(key.cred_id()).to_vec();
        state.webauthn.retain(|c| c.raw_id != raw_id);
        let credential = WebauthnCredential {
            id: ObjectId::new(),
            raw_id,
            description: pending.description,
            authenticator_attachment: pending.authenticator_attachment,
            credential: serde_json::to_value(&key).map_err(|e| Error::Internal(e.to_string()))?,
            created: Utc::now(),
        };
        state.webauthn.push(credential.clone());
        self.enable_mechanism(user, &mut state, "webauthn").await?;
        self.log_auth_event(
            user,
            log("enable 2fa webauthn", "success", req.ip, req.sess),
        )
        .await;
        Ok(credential)
    }

    /// POST .../authentication-challenge: WildDuck's authenticationOptions.
    pub async fn webauthn_authentication_challenge(
        &self,
        user: ObjectId,
        req: WebauthnChallengeRequest,
    ) -> Result<Value> {
        self.get_user(user).await?;
        let attach = attachment(req.authenticator_attachment.as_deref())?;
        let mut state = self.two_factor(user).await?;
        let keys = security_keys(&state);
        if keys.is_empty() || !state.is_enabled("webauthn") {
            return Err(Error::WebauthnDisabled);
        }
        let (webauthn, rp_id) = verifier(&req.origin, req.rp_id.as_deref())?;
        let (rcr, auth): (_, SecurityKeyAuthentication) = webauthn
            .start_securitykey_authentication(&keys)
            .map_err(failed)?;
        let mut options = serde_json::to_value(&rcr).map_err(|e| Error::Internal(e.to_string()))?
            ["publicKey"]
            .take();
        let challenge = b64_to_hex(&options["challenge"]);
        options["challenge"] = json!(challenge);
        if let Some(list) = options["allowCredentials"].as_array_mut() {
            for c in list {
                *c = json!({"rawId": b64_to_hex(&c["id"]), "type": c["type"].clone()});
            }
        }
        prune(&mut state);
        state.webauthn_challenges.push(WebauthnChallenge {
            challenge,
            kind: "authentication".into(),
            rp_id,
            origin: req.origin.trim().to_string(),
            description: String::new(),
            authenticator_attachment: attach,
            state: serde_json::to_value(&auth).map_err(|e| Error::Internal(e.to_string()))?,
            created: Utc::now(),
        });
        self.save_two_factor(user, &state).await?;
        Ok(options)
    }

    /// POST .../authentication-assertion: the credential that signed. With
    /// `access_token` waiting for its second factor, success lifts its limitation.
    pub async fn webauthn_authentication_assertion(
        &self,
        user: ObjectId,
        req: WebauthnAssertion,
        access_token: Option<&str>,
    ) -> Result<ObjectId> {
        self.get_user(user).await?;
        let mut state = self.two_factor(user).await?;
        if state.webauthn.is_empty() || !state.is_enabled("webauthn") {
            return Err(Error::WebauthnDisabled);
        }
        let Some(pending) = take_challenge(&mut state, "authentication", &req.challenge) else {
            self.log_auth_event(user, log("check 2fa webauthn", "fail", req.ip, req.sess))
                .await;
            return Err(failed("Invalid or expired challenge"));
        };
        let webauthn = self
            .settle_challenge(user, &mut state, &pending, req.rp_id.as_deref())
            .await?;
        let cred: PublicKeyCredential = credential(
            &req.raw_id,
            json!({
                "authenticatorData": hex_to_b64("authenticatorData", &req.authenticator_data)?,
                "clientDataJSON": hex_to_b64("clientDataJSON", &req.client_data_json)?,
                "signature": hex_to_b64("signature", &req.signature)?,
            }),
        )?;
        let auth: SecurityKeyAuthentication =
            serde_json::from_value(pending.state).map_err(|e| Error::Internal(e.to_string()))?;
        let result = match webauthn.finish_securitykey_authentication(&cred, &auth) {
            Ok(r) => r,
            Err(e) => {
                self.log_auth_event(user, log("check 2fa webauthn", "fail", req.ip, req.sess))
                    .await;
                return Err(failed(e));
            }
        };
        let raw_id: &[u8] = AsRef::<[u8]>::as_ref(result.cred_id());
        let Some(stored) = state.webauthn.iter_mut().find(|c| c.raw_id == raw_id) else {
            return Err(failed("Unknown credential"));
        };
        let id = stored.id;
        if result.needs_update() {
            if let Ok(mut key) = serde_json::from_value::<SecurityKey>(stored.credential.clone()) {
                key.update_credential(&result);
                if let Ok(v) = serde_json::to_value(&key) {
                    stored.credential = v;
                }
            }
            self.save_two_factor(user, &state).await?;
        }
        self.log_auth_event(user, log("check 2fa webauthn", "success", req.ip, req.sess))
            .await;
        if let Some(token) = access_token {
            self.confirm_access_token(user, token).await?;
        }
        Ok(id)
    }
}
