//! Optional profiling of Eider during each step: `perf record --call-graph dwarf -p PID` runs while
//! the step runs and writes `OUT/perf/<step>.data` (`perf report -i` reads it).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::servers::{Kind, Server};

pub struct Profiler {
    dir: Option<PathBuf>,
    /// Samples per second.
    pub freq: u32,
    running: Option<Child>,
}

impl Profiler {
    pub fn new(dir: Option<PathBuf>) -> Self {
        if let Some(d) = &dir {
            let _ = std::fs::create_dir_all(d);
        }
        Self {
            dir,
            freq: 199,
            running: None,
        }
    }

    pub fn start(&mut self, server: &Server, step: &str) {
        self.stop();
        let Some(dir) = &self.dir else { return };
        if server.kind != Kind::Eider {
            return;
        }
        let out = dir.join(format!("{step}.data"));
        self.running = Command::new("perf")
            .args(["record", "-F", &self.freq.to_string()])
            .args(["--call-graph", "dwarf,16384", "-o"])
            .arg(&out)
            .args(["-p", &server.pid().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok();
        // perf needs a moment to attach.
        std::thread::sleep(std::time::Duration::from_millis(300));
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.running.take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}

impl Drop for Profiler {
    fn drop(&mut self) {
        self.stop();
    }
}
