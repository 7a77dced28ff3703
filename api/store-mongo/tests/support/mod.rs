//! Where the test services are: `EIDER_TEST_MONGO_URL` and `EIDER_TEST_REDIS_URL`,
//! set by scripts/test after it started SecantusDB and redis-server. Without them a
//! test is skipped on a developer's machine and fails in CI (`CI=true`), so a CI run
//! can never pass without having exercised these backends.

#![allow(dead_code)]

pub fn service_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.trim().is_empty() => Some(v.trim().to_string()),
        _ => {
            let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
            assert!(
                !ci,
                "{var} is not set: scripts/test starts the service and sets it; in CI this is a failure"
            );
            eprintln!("skipping: {var} is not set (scripts/test sets it)");
            None
        }
    }
}

/// The Mongo URL with a fresh database name, so that runs never see each other's data.
pub fn fresh_database(url: &str, label: &str) -> (String, String) {
    let name = format!(
        "eider_test_{label}_{}",
        eider_service::ObjectId::new().to_hex()
    );
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, Some(q)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let hosts_end = base[scheme_end..]
        .find('/')
        .map_or(base.len(), |i| scheme_end + i);
    let mut out = format!("{}/{}", &base[..hosts_end], name);
    if let Some(q) = query {
        out.push('?');
        out.push_str(q);
    }
    (out, name)
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// A redis-server (or sentinel) process of a test's own, on its own port; killed on drop.
pub struct RedisProcess {
    pub port: u16,
    child: std::process::Child,
    _dir: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl RedisProcess {
    /// Start redis-server with `extra` config lines on `port`; None (skip) when the
    /// binary is missing outside CI.
    pub fn start(port: u16, extra: &str, sentinel: bool) -> Option<RedisProcess> {
        if std::process::Command::new("redis-server")
            .arg("--version")
            .output()
            .is_err()
        {
            assert!(
                !in_ci(),
                "redis-server is not installed: scripts/test installs it"
            );
            eprintln!("skipping: redis-server is not installed");
            return None;
        }
        let dir = tempfile::tempdir().expect("tempdir");
        let conf = dir.path().join("redis.conf");
        std::fs::write(
            &conf,
            format!(
                "bind 127.0.0.1\nport {port}\nsave \"\"\nappendonly no\ndir {}\n{extra}\n",
                dir.path().display()
            ),
        )
        .expect("write conf");
        let mut cmd = std::process::Command::new("redis-server");
        cmd.arg(&conf);
        if sentinel {
            cmd.arg("--sentinel");
        }
        let child = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("spawn redis-server");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not start on {port}"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Some(RedisProcess {
            port,
            child,
            _dir: dir,
        })
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
