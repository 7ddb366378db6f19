//! Test helpers: a temporary fleet directory and the built binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;

use assert_cmd::Command;

/// The project root (holds the example fleet of the README).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The built `gitfleet` binary, run from `dir`.
pub fn gitfleet(dir: &Path) -> Command {
    let mut cmd = Command::cargo_bin("gitfleet").expect("binary built");
    cmd.current_dir(dir)
        .env_remove("GITFLEET_FLEET")
        .env_remove("GITFLEET_LOG");
    cmd
}

/// A temporary directory populated with `files` (relative path, contents).
pub fn fleet_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (path, text) in files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

/// A program under test's control, killed on drop.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (5 s at most) until `server` listens on `port`; panics if it exits first.
pub fn wait_for_port(port: u16, server: &mut Child) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(server.try_wait().unwrap().is_none(), "the server exited");
        assert!(
            std::time::Instant::now() < deadline,
            "the server did not listen"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Runs `program` in `dir`; panics with its stderr unless it succeeds; its stdout, trimmed.
pub fn run(dir: &Path, program: &str, args: &[&str]) -> String {
    let out = std::process::Command::new(program)
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

#[path = "../support/arm.rs"]
pub mod arm;
#[path = "../support/cluster.rs"]
pub mod cluster;
#[path = "../support/eks.rs"]
pub mod eks;
#[path = "../support/kube_api.rs"]
pub mod kube_api;
#[path = "../support/moto.rs"]
pub mod moto;
#[path = "../support/oauth.rs"]
pub mod oauth;
#[path = "../support/throttle.rs"]
pub mod throttle;
