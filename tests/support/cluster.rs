//! The cluster an end-to-end test runs against: a real one when `GITFLEET_E2E_KUBECONFIG` names a
//! kubeconfig, else the in-process API stand-in. Tests use unique namespace and CRD-group names so
//! they can share a real cluster, and reach it only through the kubeconfig (the CLI and the real
//! `kube` client), so the same test body runs against both.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use super::kube_api::KubeStandIn;

pub struct Cluster {
    pub kubeconfig: PathBuf,
    standin: Option<KubeStandIn>,
    dir: tempfile::TempDir,
    /// Unique per test: prefix for namespaces and groups.
    pub id: String,
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

impl Cluster {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("e{}x{n}", std::process::id() % 100_000);
        match std::env::var_os("GITFLEET_E2E_KUBECONFIG") {
            Some(path) => Self {
                kubeconfig: PathBuf::from(path),
                standin: None,
                dir,
                id,
            },
            None => {
                let standin = KubeStandIn::start();
                let kubeconfig = dir.path().join("kubeconfig");
                standin.write_kubeconfig(&kubeconfig);
                Self {
                    kubeconfig,
                    standin: Some(standin),
                    dir,
                    id,
                }
            }
        }
    }

    /// The stand-in, when no real cluster is used (for fault injection and request logs only;
    /// assertions about the cluster go through the API).
    pub fn standin(&self) -> Option<&KubeStandIn> {
        self.standin.as_ref()
    }

    /// A name unique to this test: `<base>-<id>`.
    pub fn name(&self, base: &str) -> String {
        format!("{base}-{}", self.id)
    }

    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// A kubeconfig that impersonates `user` (kubeconfig `as:`), to test RBAC denials.
    pub fn kubeconfig_as(&self, user: &str) -> PathBuf {
        let text = std::fs::read_to_string(&self.kubeconfig).expect("kubeconfig");
        let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("kubeconfig yaml");
        if let Some(users) = doc.get_mut("users").and_then(|u| u.as_sequence_mut()) {
            for u in users {
                if let Some(m) = u.get_mut("user").and_then(|u| u.as_mapping_mut()) {
                    m.insert("as".into(), user.into());
                }
            }
        }
        let path = self.dir.path().join(format!("kubeconfig-as-{user}"));
        std::fs::write(&path, serde_yaml::to_string(&doc).unwrap()).unwrap();
        path
    }

    pub async fn client(&self) -> Client {
        let kc = Kubeconfig::read_from(&self.kubeconfig).expect("kubeconfig");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("config");
        Client::try_from(config).expect("client")
    }

    /// The built binary with `--kubeconfig` of this cluster appended by the caller.
    pub fn gitfleet(&self) -> assert_cmd::Command {
        let mut cmd = super::gitfleet(self.dir.path());
        cmd.env("GITFLEET_POLL_INTERVAL", "200ms")
            .env_remove("KUBECONFIG")
            .env_remove("GITFLEET_KUBECONFIG");
        cmd
    }
}

impl Drop for Cluster {
    /// On a real cluster, delete this test's namespaces and CRDs (best effort).
    fn drop(&mut self) {
        if self.standin.is_some() {
            return;
        }
        let id = self.id.clone();
        let kubeconfig = self.kubeconfig.clone();
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().ok()?;
            rt.block_on(async move {
                let kc = Kubeconfig::read_from(&kubeconfig).ok()?;
                let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await.ok()?;
                let client = Client::try_from(config).ok()?;
                let lp = kube::api::ListParams::default();
                let dp = kube::api::DeleteParams::background();
                let ns: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client.clone());
                for n in ns.list(&lp).await.ok()?.items {
                    let name = n.metadata.name.unwrap_or_default();
                    if name.ends_with(&id) {
                        let _ = ns.delete(&name, &dp).await;
                    }
                }
                let crds: kube::Api<k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition> =
                    kube::Api::all(client.clone());
                for c in crds.list(&lp).await.ok()?.items {
                    let name = c.metadata.name.unwrap_or_default();
                    if name.contains(&id) {
                        let _ = crds.delete(&name, &dp).await;
                    }
                }
                Some(())
            })
        })
        .join();
    }
}
