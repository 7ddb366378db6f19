//! Test helpers: a temporary fleet directory and the built binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

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
