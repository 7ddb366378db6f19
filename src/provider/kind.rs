//! kind (Kubernetes in Docker) clusters, by running the `kind` CLI: `get clusters` to observe,
//! `create cluster --config` with the rendered configuration, `get kubeconfig`, `load docker-image`
//! and `delete cluster`. The binary is `kind` on PATH, or `GITFLEET_KIND`.

use std::process::Command;
use std::time::Instant;

use super::{Progress, ProviderError};
use crate::fleet::types::ProviderKind;
use crate::plan::{Desired, Observed, ObservedControlPlane, Step};
use crate::render::{ProviderRequests, RenderedCluster};

pub struct KindProvider {
    binary: String,
}

impl Default for KindProvider {
    fn default() -> Self {
        Self {
            binary: std::env::var("GITFLEET_KIND").unwrap_or_else(|_| "kind".into()),
        }
    }
}

fn on_path(name: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(name).is_file()))
}

impl KindProvider {
    /// Runs `kind args...`; stdout on success, a message with kind's stderr otherwise.
    fn run(&self, args: &[&str]) -> Result<String, ProviderError> {
        let out = Command::new(&self.binary).args(args).output().map_err(|e| {
            let message = if e.kind() == std::io::ErrorKind::NotFound {
                format!(
                    "`{}` is not installed or not on PATH; install kind (https://kind.sigs.k8s.io) and Docker, or set GITFLEET_KIND",
                    self.binary
                )
            } else {
                format!("cannot run {}: {e}", self.binary)
            };
            ProviderError::Unavailable {
                provider: ProviderKind::Kind,
                message,
            }
        })?;
        if !out.status.success() {
            let mut message = String::from_utf8_lossy(&out.stderr).trim().to_string();
            if !on_path("docker") && !on_path("podman") {
                message.push_str(" (kind needs Docker, and `docker` is not on PATH)");
            }
            return Err(ProviderError::Api {
                provider: ProviderKind::Kind,
                operation: "kind",
                status: None,
                code: String::new(),
                hint: None,
                message: format!("`kind {}` failed: {message}", args.join(" ")),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub fn exists(&self, name: &str) -> Result<bool, ProviderError> {
        let out = self.run(&["get", "clusters"])?;
        Ok(out.lines().any(|l| l.trim() == name))
    }

    pub async fn observe(&self, desired: &Desired) -> Result<Observed, ProviderError> {
        let mut observed = Observed::default();
        if self.exists(&desired.cluster)? {
            // kind clusters are not upgraded in place; the node image fixes the version.
            // kind clusters are local and never changed once created (ownership is checked by
            // `down` through gitfleet's facts inside the cluster).
            observed.control_plane = Some(ObservedControlPlane {
                owned: true,
                version: desired.version.clone().unwrap_or_default(),
                ..Default::default()
            });
        }
        Ok(observed)
    }

    pub async fn apply(
        &self,
        step: &Step,
        rendered: &RenderedCluster,
        progress: &dyn Progress,
    ) -> Result<(), ProviderError> {
        let ProviderRequests::Kind { config } = &rendered.requests else {
            return Err(ProviderError::WrongProvider {
                provider: ProviderKind::Kind,
                cluster: rendered.name.clone(),
            });
        };
        match (step.action, step.target) {
            (crate::plan::Action::Create, crate::plan::Target::ControlPlane) => {
                let start = Instant::now();
                progress.status(
                    &format!("kind cluster {}", rendered.name),
                    "CREATING",
                    start.elapsed(),
                );
                let dir = tempfile::tempdir().map_err(|e| ProviderError::Unavailable {
                    provider: ProviderKind::Kind,
                    message: e.to_string(),
                })?;
                let file = dir.path().join("kind-config.yaml");
                let yaml = serde_yaml::to_string(config).unwrap_or_default();
                std::fs::write(&file, yaml).map_err(|e| ProviderError::Unavailable {
                    provider: ProviderKind::Kind,
                    message: e.to_string(),
                })?;
                let file = file.to_string_lossy().to_string();
                self.run(&[
                    "create",
                    "cluster",
                    "--name",
                    &rendered.name,
                    "--config",
                    &file,
                    "--wait",
                    "5m",
                ])?;
                progress.status(
                    &format!("kind cluster {}", rendered.name),
                    "ACTIVE",
                    start.elapsed(),
                );
                Ok(())
            }
            _ => Err(ProviderError::NotAProviderStep {
                step: format!("{step} (kind clusters are recreated, not changed in place)"),
            }),
        }
    }

    pub fn kubeconfig(&self, name: &str) -> Result<String, ProviderError> {
        self.run(&["get", "kubeconfig", "--name", name])
    }

    /// `kind load docker-image IMAGE --name CLUSTER` (a locally built agent image).
    pub fn load_image(&self, name: &str, image: &str) -> Result<(), ProviderError> {
        self.run(&["load", "docker-image", image, "--name", name])
            .map(|_| ())
    }

    pub fn delete(&self, name: &str) -> Result<bool, ProviderError> {
        if !self.exists(name)? {
            return Ok(false);
        }
        self.run(&["delete", "cluster", "--name", name])?;
        Ok(true)
    }
}
