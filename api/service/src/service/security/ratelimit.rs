//! Failed-authentication limits on Bus counters (in-process on the embedded
//! backend, Redis when instances share state). A counter starts at the first
//! failure and expires a window later; past its limit further attempts are refused
//! without checking the password, until the window ends or a success releases the
//! user's counter. Keys follow WildDuck's (`auth_user:`, `auth_ip:`, `totp:`).

use std::time::Duration;

use super::Service;

fn user_key(user: &str) -> String {
    format!("auth_user:{user}")
}

fn ip_key(ip: &str) -> String {
    format!("auth_ip:{ip}")
}

fn totp_key(user: &str) -> String {
    format!("totp:{user}")
}

impl Service {
    async fn over(&self, key: &str, limit: u32) -> bool {
        limit > 0 && self.bus().counter_get(key).await >= i64::from(limit)
    }

    async fn count(&self, key: &str, limit: u32, window: Duration) {
        if limit > 0 {
            self.bus().counter_add(key, 1, window).await;
        }
    }

    /// Is this source IP over its failure limit?
    pub(crate) async fn ip_rate_limited(&self, ip: Option<&str>) -> bool {
        match ip {
            Some(ip) => self.over(&ip_key(ip), self.security().ip_failures).await,
            None => false,
        }
    }

    /// Is this user (an id, or the normalized name of an unknown user) over its limit?
    pub(crate) async fn user_rate_limited(&self, user: &str) -> bool {
        self.over(&user_key(user), self.security().user_failures)
            .await
    }

    /// Has this user (or unknown name) failed a login within its window?
    pub(crate) async fn user_has_failures(&self, user: &str) -> bool {
        self.bus().counter_get(&user_key(user)).await > 0
    }

    /// Count a failed login against the user and the source IP.
    pub(crate) async fn count_auth_failure(&self, user: &str, ip: Option<&str>) {
        let cfg = self.security();
        let (uf, uw, ipf, ipw) = (
            cfg.user_failures,
            cfg.user_window,
            cfg.ip_failures,
            cfg.ip_window,
        );
        self.count(&user_key(user), uf, uw).await;
        if let Some(ip) = ip {
            self.count(&ip_key(ip), ipf, ipw).await;
        }
    }

    /// A successful login clears the user's failures (not the IP's).
    pub(crate) async fn release_user_limit(&self, user: &str) {
        let key = user_key(user);
        let current = self.bus().counter_get(&key).await;
        if current != 0 {
            let window = self.security().user_window;
            self.bus().counter_add(&key, -current, window).await;
        }
    }

    pub(crate) async fn totp_rate_limited(&self, user: &str) -> bool {
        self.over(&totp_key(user), self.security().totp_failures)
            .await
    }

    pub(crate) async fn count_totp_failure(&self, user: &str) {
        let cfg = self.security();
        let (limit, window) = (cfg.totp_failures, cfg.totp_window);
        self.count(&totp_key(user), limit, window).await;
    }

    /// Mark a TOTP time step as used by `user`; false when it already was (a code
    /// is accepted once, RFC 6238 5.2).
    pub(crate) async fn claim_totp_step(&self, user: &str, step: u64) -> bool {
        let skew = u64::from(self.security().totp_skew);
        let ttl = Duration::from_secs((2 * skew + 2) * 30);
        self.bus()
            .counter_add(&format!("totp_used:{user}:{step}"), 1, ttl)
            .await
            == 1
    }
}
