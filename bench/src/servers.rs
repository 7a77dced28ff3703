//! Starting and stopping the two servers under test, each on a fresh store in its
//! own temporary directory, on loopback ports.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::proto::{Http, Res};

pub const PASSWORD: &str = "bench-secret-9";
pub const DOMAIN: &str = "example.com";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Dovecot,
    Eider,
}

impl Kind {
    pub fn name(self) -> &'static str {
        match self {
            Kind::Dovecot => "dovecot",
            Kind::Eider => "eider",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Endpoints {
    pub lmtp: SocketAddr,
    pub imap: SocketAddr,
    pub pop3: SocketAddr,
    pub api: Option<SocketAddr>,
}

/// A running server.
pub struct Server {
    pub kind: Kind,
    child: Child,
    /// Where the mail store lives (measured for the storage ratio).
    pub store_dir: PathBuf,
    pub ep: Endpoints,
    /// Eider's user ids (for the API), by local part.
    pub user_ids: HashMap<String, String>,
    pub log_path: PathBuf,
}

impl Server {
    /// The login name of user `local` on this server.
    pub fn login(&self, local: &str) -> String {
        match self.kind {
            Kind::Dovecot => format!("{local}@{DOMAIN}"),
            Kind::Eider => local.to_string(),
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Every process of the server: the main process and its children.
    pub fn pids(&self) -> Vec<u32> {
        let root = self.child.id();
        let mut out = vec![root];
        if let Ok(rd) = std::fs::read_dir("/proc") {
            for e in rd.flatten() {
                let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
                    continue;
                };
                if pid != root && parent_pid(pid) == Some(root) {
                    out.push(pid);
                }
            }
        }
        out
    }

    /// Memory of the server: Σ PSS over its processes (shared pages split between
    /// them; for a single process PSS is its RSS less pages shared with others), and
    /// Σ RSS. Bytes.
    pub fn memory(&self) -> (u64, u64) {
        let mut pss = 0;
        let mut rss = 0;
        for pid in self.pids() {
            if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) {
                pss += kb_field(&s, "Pss:");
                rss += kb_field(&s, "Rss:");
            }
        }
        (pss, rss)
    }

    /// CPU time used by the server so far, seconds: its live processes plus the
    /// children the main process has reaped.
    pub fn cpu_seconds(&self) -> f64 {
        let tick = 100.0; // USER_HZ on Linux
        let root = self.child.id();
        let mut ticks = 0u64;
        for pid in self.pids() {
            if let Some(f) = stat_fields(pid) {
                // utime, stime (fields 14, 15); cutime, cstime (16, 17) for the root.
                let n = |i: usize| {
                    f.get(i - 3)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                ticks += n(14) + n(15);
                if pid == root {
                    ticks += n(16) + n(17);
                }
            }
        }
        ticks as f64 / tick
    }

    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(mut self) {
        // SIGTERM for a clean stop, then SIGKILL after a grace period.
        let pid = self.child.id() as i32;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if !matches!(self.child.try_wait(), Ok(None)) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let s = std::fs::read_to_string(&self.log_path).unwrap_or_default();
        let v: Vec<&str> = s.lines().collect();
        v[v.len().saturating_sub(lines)..].join("\n")
    }
}

fn kb_field(s: &str, name: &str) -> u64 {
    s.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

/// Fields of /proc/PID/stat after the command name (the first is field 3, the state).
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    Some(after.split_whitespace().map(str::to_string).collect())
}

fn parent_pid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...; comm may contain spaces.
    let after = &stat[stat.rfind(')')? + 2..];
    after.split_whitespace().nth(1)?.parse().ok()
}

fn free_port() -> Res<u16> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

fn wait_port(addr: SocketAddr, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// Local parts of the users every server gets.
pub fn user_names(idle_users: usize) -> Vec<String> {
    let mut v = vec!["bench".to_string(), "single".to_string()];
    v.extend((0..idle_users).map(|i| format!("idle{i}")));
    v
}

/// A private Dovecot: own config, base_dir, state_dir, log and maildir store under
/// `dir`, passdb/userdb a static passwd-file with the same argon2id hash Eider stores.
pub fn start_dovecot(dir: &Path, users: &[String]) -> Res<Server> {
    let err = |e: std::io::Error| e.to_string();
    for sub in ["run", "state", "mail"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(err)?;
    }
    // Mail processes run as one unprivileged uid per user (a uid per user also keeps
    // each under the kernel's per-uid inotify limit); they create their homes here.
    set_mode(dir, 0o755)?;
    set_mode(&dir.join("mail"), 0o1777)?;
    let hash = password_hash()?;
    let mut passwd = String::new();
    for (i, u) in users.iter().enumerate() {
        let uid = 61000 + i;
        passwd.push_str(&format!(
            "{u}@{DOMAIN}:{{ARGON2ID}}{hash}:{uid}:{uid}::{}::\n",
            dir.join("mail").join(u).display()
        ));
    }
    std::fs::write(dir.join("users"), passwd).map_err(err)?;
    let (lmtp, imap, pop3) = (free_port()?, free_port()?, free_port()?);
    let d = dir.display();
    let config = format!(
        r#"# Private Dovecot instance for eider-bench (not the system service).
base_dir = {d}/run
state_dir = {d}/state
instance_name = eider-bench-dovecot
log_path = {d}/dovecot.log
protocols = imap pop3 lmtp
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
first_valid_uid = 1000
first_valid_gid = 1000
postmaster_address = postmaster@{DOMAIN}
default_client_limit = 10000
passdb {{
  driver = passwd-file
  args = {d}/users
}}
userdb {{
  driver = passwd-file
  args = {d}/users
}}
protocol imap {{
  mail_max_userip_connections = 10000
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap}
  }}
  inet_listener imaps {{
    port = 0
  }}
  # High-performance mode: a few login processes serve every client.
  service_count = 0
  process_min_avail = 2
  process_limit = 4
  client_limit = 5000
}}
service imap {{
  process_limit = 5000
}}
service pop3-login {{
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service lmtp {{
  inet_listener lmtp {{
    address = 127.0.0.1
    port = {lmtp}
  }}
  unix_listener lmtp {{
    mode = 0600
  }}
}}
"#
    );
    let conf = dir.join("dovecot.conf");
    std::fs::write(&conf, config).map_err(err)?;
    let log_path = dir.join("dovecot.log");
    let out = std::fs::File::create(dir.join("stdout.log")).map_err(err)?;
    let child = Command::new("dovecot")
        .arg("-c")
        .arg(&conf)
        .arg("-F")
        .stdin(Stdio::null())
        .stdout(out.try_clone().map_err(err)?)
        .stderr(out)
        .spawn()
        .map_err(|e| format!("cannot start dovecot: {e} (is it installed?)"))?;
    let ep = Endpoints {
        lmtp: SocketAddr::from(([127, 0, 0, 1], lmtp)),
        imap: SocketAddr::from(([127, 0, 0, 1], imap)),
        pop3: SocketAddr::from(([127, 0, 0, 1], pop3)),
        api: None,
    };
    let mut server = Server {
        kind: Kind::Dovecot,
        child,
        store_dir: dir.join("mail"),
        ep,
        user_ids: HashMap::new(),
        log_path,
    };
    for addr in [ep.lmtp, ep.imap, ep.pop3] {
        if !wait_port(addr, Duration::from_secs(20)) || !server.alive() {
            let why = std::fs::read_to_string(dir.join("stdout.log")).unwrap_or_default();
            server.stop();
            return Err(format!("dovecot did not start: {why}"));
        }
    }
    Ok(server)
}

/// An argon2id PHC string for PASSWORD with Eider's parameters (argon2 crate defaults:
/// m=19 MiB, t=2, p=1), so both servers spend the same work on a login.
fn password_hash() -> Res<String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::encode_b64(b"eider-bench-salt").map_err(|e| e.to_string())?;
    argon2::Argon2::default()
        .hash_password(PASSWORD.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

fn set_mode(p: &Path, mode: u32) -> Res<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).map_err(|e| e.to_string())
}

/// Eider (release build) on a fresh embedded store; users created through the API.
pub async fn start_eider(
    bin: &Path,
    dir: &Path,
    users: &[String],
    env: &[(String, String)],
) -> Res<Server> {
    let err = |e: std::io::Error| e.to_string();
    std::fs::create_dir_all(dir).map_err(err)?;
    let data = dir.join("data");
    let log_path = dir.join("eider.log");
    let log = std::fs::File::create(&log_path).map_err(err)?;
    let child = Command::new(bin)
        .arg("serve")
        .args([
            "--set",
            &format!("storage.path={:?}", data.display().to_string()),
        ])
        .args(["--set", "api.port=0"])
        .args(["--set", "imap.port=0"])
        .args(["--set", "pop3.port=0"])
        .args(["--set", "lmtp.port=0"])
        .args(["--set", "log.level=\"info\""])
        // The workload's limits: 2,000 IDLE sessions, big mailboxes, POP3 of all.
        .args(["--set", "imap.maxConnections=10000"])
        .args(["--set", "lmtp.maxConnections=10000"])
        .args(["--set", "pop3.maxMessages=1000000"])
        .args(["--set", "maxStorage=100000000"])
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(err)?)
        .stderr(log)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", bin.display()))?;
    let mut server = Server {
        kind: Kind::Eider,
        child,
        store_dir: data,
        ep: Endpoints {
            lmtp: SocketAddr::from(([127, 0, 0, 1], 0)),
            imap: SocketAddr::from(([127, 0, 0, 1], 0)),
            pop3: SocketAddr::from(([127, 0, 0, 1], 0)),
            api: None,
        },
        user_ids: HashMap::new(),
        log_path,
    };
    // "API listening on http://127.0.0.1:PORT", "IMAP listening on ...", etc.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut found: HashMap<String, SocketAddr> = HashMap::new();
    while Instant::now() < deadline && found.len() < 4 {
        if !server.alive() {
            break;
        }
        let log = std::fs::read_to_string(&server.log_path).unwrap_or_default();
        for line in log.lines() {
            for name in ["API", "IMAP", "POP3", "LMTP"] {
                let key = format!("{name} listening on ");
                if let Some(i) = line.find(&key) {
                    let addr = line[i + key.len()..]
                        .trim()
                        .trim_start_matches("http://")
                        .split_whitespace()
                        .next()
                        .unwrap_or("");
                    if let Ok(a) = addr.parse() {
                        found.insert(name.to_string(), a);
                    }
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if found.len() < 4 {
        let tail = server.log_tail(30);
        server.stop();
        return Err(format!(
            "eider did not start (listeners seen: {found:?}):\n{tail}"
        ));
    }
    server.ep = Endpoints {
        lmtp: found["LMTP"],
        imap: found["IMAP"],
        pop3: found["POP3"],
        api: found.get("API").copied(),
    };
    let api = server.ep.api.ok_or("no API address")?;
    let mut http = Http::connect(api).await?;
    for u in users {
        let body = serde_json::json!({
            "username": u,
            "password": PASSWORD,
            "address": format!("{u}@{DOMAIN}"),
            "quota": 1u64 << 40,
            "imapMaxConnections": 10000,
        })
        .to_string();
        let (status, resp) = http.request("POST", "/users", Some(&body)).await?;
        let v: serde_json::Value = serde_json::from_slice(&resp).unwrap_or_default();
        match v.get("id").and_then(|i| i.as_str()) {
            Some(id) if status == 200 => {
                server.user_ids.insert(u.clone(), id.to_string());
            }
            _ => {
                return Err(format!(
                    "POST /users for {u}: HTTP {status} {}",
                    String::from_utf8_lossy(&resp)
                ))
            }
        }
    }
    Ok(server)
}

/// Bytes allocated on disk under `path` (what `du` reports).
pub fn disk_usage(path: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(path) {
        for e in rd.flatten() {
            if let Ok(m) = e.path().symlink_metadata() {
                total += m.blocks() * 512;
                if m.is_dir() {
                    total += disk_usage(&e.path());
                }
            }
        }
    }
    total
}
