//! The bootstrap: install the reconciler in a cluster, give it read access to the repository, seed
//! it (GitSource, Sync, cluster facts) and commit its own manifests into the repository so that it
//! manages and upgrades itself from Git. Every step is idempotent: a converged cluster sees no
//! write, and an unchanged repository no commit.
//!
//! The install and seed objects are applied with the inventory of the cluster's Sync
//! (`gitfleet-sync-<cluster>`), the same inventory the agent uses when it applies them from Git,
//! so the bootstrap and the agent agree on ownership and never undo each other.

pub mod rollout;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::{Value, json};

use crate::agent::types::{GitSource, Sync};
use crate::fleet::types::Fleet;
use crate::git::{self, CommitRequest, Credentials};
use crate::kube::inventory::InventoryRef;
use crate::kube::{self as engine, ApplyOptions, ChangeSet, Connection, Engine, FIELD_MANAGER};
use crate::provider::Progress;
use crate::render::RenderedCluster;
use crate::render::manifest::Manifest;

/// Secret the GitSource reads its credentials from (the seed template names it).
pub const CREDENTIALS_SECRET: &str = "gitfleet-git-credentials";
/// The Secret holding the age identity the cluster's Sync decrypts SOPS files with (the "secret
/// zero" of encrypted repositories), its entry, and the annotation naming its public recipient.
pub const SOPS_SECRET: &str = "gitfleet-sops-age";
const SOPS_ENTRY: &str = "identity.agekey";
const SOPS_RECIPIENT: &str = "gitfleet.io/sops-recipient";

/// What `up` does with the cluster's SOPS decryption key.
#[derive(Clone, Default)]
pub enum SopsKey {
    /// Keep whatever the cluster has (a Sync decrypts if the Secret exists).
    #[default]
    Keep,
    /// Store this age identity file's content (`--sops-age-key-file`).
    Identity(String),
    /// Generate an age identity unless the cluster has one (`--generate-sops-key`): it never
    /// leaves the cluster and this machine; its recipient is printed, written to
    /// `<cluster>-sops.pub` and added to `.sops.yaml` for the cluster's path.
    Generate,
}

impl std::fmt::Debug for SopsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SopsKey::Keep => "Keep",
            SopsKey::Identity(_) => "Identity(redacted)",
            SopsKey::Generate => "Generate",
        })
    }
}

/// How the reconciler reads the repository.
#[derive(Clone, Default)]
pub enum GitAuth {
    /// Public repository (or file:// in tests).
    #[default]
    None,
    /// An existing SSH private key (and the host's known_hosts lines).
    SshKey {
        private_key: String,
        known_hosts: Option<String>,
    },
    /// An HTTPS token.
    Https { username: String, token: String },
    /// A new ed25519 deploy key; its public half is printed and written for the user to register.
    /// An existing key in the cluster is kept (re-running never rotates it).
    GenerateDeployKey { known_hosts: Option<String> },
}

impl std::fmt::Debug for GitAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            GitAuth::None => "None",
            GitAuth::SshKey { .. } => "SshKey(redacted)",
            GitAuth::Https { .. } => "Https(redacted)",
            GitAuth::GenerateDeployKey { .. } => "GenerateDeployKey",
        })
    }
}

impl GitAuth {
    /// Credentials for pushing from this machine.
    pub fn push_credentials(&self) -> Credentials {
        match self {
            GitAuth::SshKey {
                private_key,
                known_hosts,
            } => Credentials::Ssh {
                private_key: private_key.clone(),
                passphrase: None,
                known_hosts: known_hosts.clone(),
            },
            GitAuth::Https { username, token } => Credentials::Https {
                username: username.clone(),
                password: token.clone(),
            },
            _ => Credentials::None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct BootstrapOptions {
    pub auth: GitAuth,
    /// Commit and push the reconciler's manifests (`--no-commit` turns it off).
    pub commit: bool,
    /// Wait until the Sync is Ready at the pushed revision.
    pub wait: bool,
    pub timeout: Duration,
    pub poll: Duration,
    /// Where a generated deploy key's public half is written.
    pub deploy_key_file: Option<PathBuf>,
    /// The cluster's SOPS decryption key.
    pub sops: SopsKey,
    /// Where a generated SOPS key's recipient is written.
    pub sops_recipient_file: Option<PathBuf>,
    /// Where a generated SOPS key's identity is written (mode 0600), for `sops -d` on this
    /// machine; outside the repository, so it cannot be committed by mistake.
    pub sops_identity_file: Option<PathBuf>,
    /// Facts from provisioning for the cluster-facts ConfigMap (endpoint, ARN, resource id...).
    pub outputs: BTreeMap<String, String>,
    /// Scratch directory for the commit.
    pub work_dir: PathBuf,
}

/// What a bootstrap did.
#[derive(Debug, Clone, Default, serde::Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct BootstrapReport {
    pub install: ChangeSet,
    pub seed: ChangeSet,
    /// created, updated or unchanged.
    pub credentials: String,
    /// The public half of a deploy key (never the private one).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy_key: Option<String>,
    /// The SOPS decryption Secret: created, updated or unchanged (absent: none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sops_key: Option<String>,
    /// The age recipient files for this cluster are encrypted to (never the identity).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sops_recipient: Option<String>,
    /// Where a generated identity was written on this machine (mode 0600).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sops_identity_file: Option<PathBuf>,
    /// The commit of the reconciler's manifests, when one was made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// The revision the Sync reported Ready at (with `wait`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ready_revision: Option<String>,
}

impl BootstrapReport {
    /// Whether anything changed in the cluster or the repository.
    pub fn changed(&self) -> bool {
        self.install.has_changes()
            || self.seed.has_changes()
            || self.credentials != "unchanged"
            || self.sops_key.as_deref().is_some_and(|k| k != "unchanged")
            || self.commit.is_some()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    #[error("installing the reconciler: {0}")]
    Install(#[source] engine::Error),
    #[error("storing the repository credentials: {0}")]
    Credentials(String),
    #[error("seeding the reconciler: {0}")]
    Seed(#[source] engine::Error),
    #[error("committing the reconciler's manifests: {0}")]
    Commit(String),
    #[error("waiting for the Sync: {0}")]
    Wait(String),
    #[error("{}", not_managed(.0))]
    NotManaged(Vec<Foreign>),
    #[error("checking which objects gitfleet owns: {0}")]
    Check(#[source] engine::Error),
}

/// An object the bootstrap would write that exists without gitfleet's ownership label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Foreign {
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl std::fmt::Display for Foreign {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {ns}/{}", self.kind, self.name),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// `ConfigMap ns/x exists and is not managed by gitfleet …`, with the two ways out.
fn not_managed(objects: &[Foreign]) -> String {
    let (them, verb, it) = if objects.len() == 1 {
        (objects[0].to_string(), "exists", "it")
    } else {
        (
            objects
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
            "exist",
            "them",
        )
    };
    let example = objects.first().map_or(String::new(), |o| {
        let ns = o
            .namespace
            .as_ref()
            .map_or(String::new(), |n| format!(" -n {n}"));
        format!(
            " (`kubectl label{ns} {} {} {OWNER_LABEL}=gitfleet`)",
            o.kind.to_ascii_lowercase(),
            o.name
        )
    });
    format!(
        "{them} {verb} and {} not managed by gitfleet (no label {OWNER_LABEL}=gitfleet); nothing was \
         changed: delete {it} to let gitfleet create {it}, or hand {it} over by adding the label{example}",
        if objects.len() == 1 { "is" } else { "are" }
    )
}

/// The label that marks the Kubernetes objects the bootstrap creates as gitfleet's.
pub const OWNER_LABEL: &str = crate::render::OWNER_KEY;

fn labelled_ours(labels: &Value) -> bool {
    labels[OWNER_LABEL].as_str() == Some("gitfleet")
}

fn object_ref(m: &Manifest) -> engine::ObjectRef {
    let (group, version) = engine::resolve::split_api_version(&m.api_version);
    engine::ObjectRef {
        group,
        version,
        kind: m.kind.clone(),
        namespace: m.metadata.namespace.clone(),
        name: m.metadata.name.clone(),
    }
}

/// The objects among `manifests` and the credentials Secret that exist without gitfleet's
/// ownership label: the bootstrap must not take them over.
async fn foreign_objects(
    conn: &Connection,
    ns: &str,
    manifests: &[&Manifest],
) -> Result<Vec<Foreign>, BootstrapError> {
    let engine = Engine::new(conn.clone());
    let mut out = Vec::new();
    for m in manifests {
        let r = object_ref(m);
        if let Some(live) = engine.live(&r).await.map_err(BootstrapError::Check)?
            && !labelled_ours(&live["metadata"]["labels"])
        {
            out.push(Foreign {
                kind: m.kind.clone(),
                namespace: live["metadata"]["namespace"].as_str().map(str::to_string),
                name: m.metadata.name.clone(),
            });
        }
    }
    let secrets: Api<Secret> = Api::namespaced(conn.client.clone(), ns);
    for name in [CREDENTIALS_SECRET, SOPS_SECRET] {
        let secret = secrets
            .get_opt(name)
            .await
            .map_err(|e| BootstrapError::Credentials(crate::agent::api_message(&e)))?;
        if let Some(s) = secret
            && !secret_is_ours(&s)
        {
            out.push(Foreign {
                kind: "Secret".into(),
                namespace: Some(ns.to_string()),
                name: name.into(),
            });
        }
    }
    Ok(out)
}

fn secret_is_ours(s: &Secret) -> bool {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(OWNER_LABEL))
        .map(String::as_str)
        == Some("gitfleet")
}

fn objects(manifests: &[Manifest], origin: &str) -> Vec<engine::Object> {
    manifests
        .iter()
        .enumerate()
        .map(|(i, m)| engine::Object {
            value: serde_json::to_value(m).unwrap_or(Value::Null),
            span: crate::diagnostic::Span::new(origin.into(), 1, 1),
            document: i + 1,
        })
        .collect()
}

fn yaml_stream(manifests: &[Manifest]) -> String {
    let mut out = String::from(
        "# Generated by `gitfleet up`; the reconciler applies and upgrades itself from here.\n",
    );
    for m in manifests {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(m).unwrap_or_default());
    }
    out
}

/// The seed with provisioning outputs added to the cluster-facts ConfigMap and, when the cluster
/// holds a SOPS decryption key, the Sync decrypting with it.
pub fn seed_with_outputs(
    rendered: &RenderedCluster,
    outputs: &BTreeMap<String, String>,
    decryption: bool,
) -> Vec<Manifest> {
    let mut seed = rendered.seed.clone();
    for m in &mut seed {
        if m.kind == "ConfigMap"
            && let Some(Value::Object(data)) = std::sync::Arc::make_mut(&mut m.body).get_mut("data")
        {
            for (k, v) in outputs {
                data.insert(k.clone(), Value::String(v.clone()));
            }
        }
        if m.kind == "Sync"
            && decryption
            && let Some(Value::Object(spec)) = std::sync::Arc::make_mut(&mut m.body).get_mut("spec")
        {
            spec.insert(
                "decryption".into(),
                json!({"provider": "sops", "secretRef": {"name": SOPS_SECRET}}),
            );
        }
    }
    seed
}

/// Whether the cluster's seeded Sync decrypts with gitfleet's SOPS key (what `plan` expects the
/// committed seed to say; read from the Sync, so planning needs no right to read Secrets).
pub async fn seeded_with_decryption(
    conn: &Connection,
    ns: &str,
    cluster: &str,
) -> Result<bool, String> {
    let syncs: Api<Sync> = Api::namespaced(conn.client.clone(), ns);
    let sync = syncs
        .get_opt(cluster)
        .await
        .map_err(|e| crate::agent::api_message(&e))?;
    Ok(sync
        .and_then(|s| s.spec.decryption)
        .is_some_and(|d| d.secret_ref.name == SOPS_SECRET))
}

/// Creates or keeps the SOPS decryption Secret; (created|updated|unchanged, recipient,
/// identity), or `None` when the cluster has none and none was asked for.
async fn store_sops_key(
    conn: &Connection,
    ns: &str,
    key: &SopsKey,
) -> Result<Option<(String, String, String)>, BootstrapError> {
    let fail = |m: String| BootstrapError::Credentials(format!("the SOPS key: {m}"));
    let api: Api<Secret> = Api::namespaced(conn.client.clone(), ns);
    let existing = api
        .get_opt(SOPS_SECRET)
        .await
        .map_err(|e| fail(crate::agent::api_message(&e)))?;
    let have = existing
        .as_ref()
        .and_then(|s| s.data.as_ref())
        .and_then(|d| d.get(SOPS_ENTRY))
        .map(|b| String::from_utf8_lossy(&b.0).into_owned());
    let identity = match (key, &have) {
        (SopsKey::Keep, None) => return Ok(None),
        (SopsKey::Keep | SopsKey::Generate, Some(have)) => have.clone(),
        (SopsKey::Identity(text), _) => text.clone(),
        (SopsKey::Generate, None) => sops::generate_identity().0,
    };
    let keys = sops::Keys::parse(&identity).map_err(|e| fail(e.to_string()))?;
    let recipient = keys.recipients().join(",");
    let annotated = existing
        .as_ref()
        .and_then(|s| s.metadata.annotations.as_ref())
        .and_then(|a| a.get(SOPS_RECIPIENT))
        == Some(&recipient);
    if have.as_deref() == Some(identity.as_str()) && annotated {
        return Ok(Some(("unchanged".into(), recipient, identity)));
    }
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": SOPS_SECRET, "namespace": ns,
            "labels": {"gitfleet.io/managed-by": "gitfleet"},
            "annotations": {SOPS_RECIPIENT: recipient}},
        "type": "Opaque",
        "stringData": {SOPS_ENTRY: identity},
    });
    api.patch(
        SOPS_SECRET,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(|e| fail(crate::agent::api_message(&e)))?;
    let status = if existing.is_some() {
        "updated"
    } else {
        "created"
    };
    Ok(Some((status.into(), recipient, identity)))
}

/// `.sops.yaml` with a creation rule that encrypts the cluster's path for `recipient` (added
/// once; the rules already there, and their order, are kept).
pub fn sops_config_with_rule(existing: Option<&str>, path: &str, recipient: &str) -> String {
    let path_regex = format!("^{}/.*", regex_escape(path.trim_matches('/')));
    let mut doc: serde_yaml::Value = existing
        .and_then(|t| serde_yaml::from_str(t).ok())
        .filter(serde_yaml::Value::is_mapping)
        .unwrap_or_else(|| serde_yaml::Value::Mapping(Default::default()));
    let map = doc.as_mapping_mut().expect("a mapping");
    let rules = map
        .entry("creation_rules".into())
        .or_insert_with(|| serde_yaml::Value::Sequence(Vec::new()));
    if !rules.is_sequence() {
        *rules = serde_yaml::Value::Sequence(Vec::new());
    }
    let rules = rules.as_sequence_mut().expect("a sequence");
    let present = rules.iter().any(|r| {
        r["path_regex"].as_str() == Some(path_regex.as_str())
            && r["age"].as_str().is_some_and(|a| a.contains(recipient))
    });
    if present {
        if let Some(text) = existing {
            return text.to_string();
        }
    } else {
        let mut rule = serde_yaml::Mapping::new();
        rule.insert("path_regex".into(), path_regex.into());
        // as Flux recommends: a Secret's values encrypted, its kind and name readable in review
        rule.insert("encrypted_regex".into(), "^(data|stringData)$".into());
        rule.insert("age".into(), recipient.into());
        // before any catch-all rule: sops takes the first rule that matches
        rules.insert(0, serde_yaml::Value::Mapping(rule));
    }
    serde_yaml::to_string(&doc).unwrap_or_default()
}

fn regex_escape(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// The files committed at `<path>/<reconciler namespace>/`.
pub fn self_manifests(rendered: &RenderedCluster, seed: &[Manifest]) -> BTreeMap<String, String> {
    let mut files = BTreeMap::new();
    files.insert("install.yaml".to_string(), yaml_stream(&rendered.install));
    files.insert("seed.yaml".to_string(), yaml_stream(seed));
    files
}

/// The inventory shared with the agent's Sync of this cluster.
pub fn inventory(fleet: &Fleet, cluster: &str) -> InventoryRef {
    InventoryRef {
        namespace: fleet.spec.reconciler.namespace.clone(),
        name: crate::agent::sync::inventory_name(cluster),
    }
}

/// Install, credentials, seed, commit, wait.
pub async fn bootstrap(
    conn: &Connection,
    fleet: &Fleet,
    rendered: &RenderedCluster,
    self_path: &str,
    opts: &BootstrapOptions,
    progress: &dyn Progress,
) -> Result<BootstrapReport, BootstrapError> {
    let engine = Engine::new(conn.clone());
    let ns = fleet.spec.reconciler.namespace.clone();
    let apply_opts = ApplyOptions {
        inventory: Some(inventory(fleet, &rendered.name)),
        poll_interval: opts.poll,
        timeout: opts.timeout,
        ..ApplyOptions::default()
    };
    // 0. Nothing the bootstrap writes may belong to someone else: an object of the same name
    // without gitfleet's label is refused before anything changes.
    let seed = seed_with_outputs(rendered, &opts.outputs, false);
    let writes: Vec<&Manifest> = rendered.install.iter().chain(seed.iter()).collect();
    let foreign = foreign_objects(conn, &ns, &writes).await?;
    if !foreign.is_empty() {
        return Err(BootstrapError::NotManaged(foreign));
    }

    // 1. The reconciler: CRDs (waited for), namespace, RBAC, Deployment, Service.
    let install = engine
        .apply(
            objects(&rendered.install, "reconciler/install"),
            &apply_opts,
            progress,
        )
        .await
        .map_err(BootstrapError::Install)?;
    let mut report = BootstrapReport {
        install,
        ..BootstrapReport::default()
    };

    // 2. Read access to the repository.
    let (status, public) = store_credentials(conn, &ns, &opts.auth).await?;
    report.credentials = status;
    if let Some(public) = &public {
        if let Some(file) = &opts.deploy_key_file {
            std::fs::write(file, format!("{public}\n")).map_err(|e| {
                BootstrapError::Credentials(format!("cannot write {}: {e}", file.display()))
            })?;
        }
        report.deploy_key = Some(public.clone());
    }
    // 2b. The SOPS decryption key (secret zero of an encrypted repository).
    let sops = store_sops_key(conn, &ns, &opts.sops).await?;
    if let Some((status, recipient, identity)) = &sops {
        report.sops_key = Some(status.clone());
        report.sops_recipient = Some(recipient.clone());
        if matches!(opts.sops, SopsKey::Generate) {
            if let Some(file) = &opts.sops_recipient_file {
                std::fs::write(file, format!("{recipient}\n")).map_err(|e| {
                    BootstrapError::Credentials(format!("cannot write {}: {e}", file.display()))
                })?;
            }
            if let Some(file) = &opts.sops_identity_file {
                // only when it differs, so a re-run touches nothing; never quoted in an error
                if std::fs::read_to_string(file).ok().as_deref() != Some(identity.as_str()) {
                    crate::kubeconfig::write_private(file, identity).map_err(|e| {
                        BootstrapError::Credentials(format!(
                            "cannot write {}: {}",
                            file.display(),
                            e.kind()
                        ))
                    })?;
                }
                report.sops_identity_file = Some(file.clone());
            }
        }
    }
    let sops = sops.map(|(status, recipient, _)| (status, recipient));
    let seed = seed_with_outputs(rendered, &opts.outputs, sops.is_some());

    // 3. The seed: GitSource, Sync, cluster facts.
    report.seed = engine
        .apply(objects(&seed, "reconciler/seed"), &apply_opts, progress)
        .await
        .map_err(BootstrapError::Seed)?;

    // 4. The reconciler's own manifests into Git.
    let mut pushed = None;
    if opts.commit {
        let files = self_manifests(rendered, &seed);
        let url = fleet.spec.repository.url.clone();
        let branch = fleet.spec.repository.branch.clone();
        let creds = opts.auth.push_credentials();
        let dir = self_path.trim_matches('/').to_string();
        let message = format!(
            "gitfleet: reconciler manifests of cluster {}",
            rendered.name
        );
        let work_dir = opts.work_dir.clone();
        // A generated key's recipient goes into `.sops.yaml`, so `sops -e` under the cluster's
        // path encrypts for this cluster.
        let sops_rule = match (&opts.sops, &sops) {
            (SopsKey::Generate, Some((_, recipient))) => {
                let path = seed
                    .iter()
                    .find(|m| m.kind == "Sync")
                    .and_then(|m| m.body["spec"]["path"].as_str())
                    .unwrap_or_default()
                    .to_string();
                Some((path, recipient.clone()))
            }
            _ => None,
        };
        pushed = tokio::task::spawn_blocking(move || {
            let edit = |old: Option<&str>| {
                sops_rule
                    .as_ref()
                    .map(|(path, recipient)| sops_config_with_rule(old, path, recipient))
            };
            git::commit_and_push(
                &CommitRequest {
                    url: &url,
                    branch: &branch,
                    creds: &creds,
                    dir: &dir,
                    files,
                    message: &message,
                    author_name: "gitfleet",
                    author_email: "gitfleet@users.noreply.gitfleet.io",
                    root_file: Some(git::RootFile {
                        name: ".sops.yaml",
                        edit: &edit,
                    }),
                },
                &work_dir,
            )
        })
        .await
        .map_err(|e| BootstrapError::Commit(e.to_string()))?
        .map_err(|e| BootstrapError::Commit(e.to_string()))?;
        report.commit = pushed.clone();
    }

    // 5. Ready at the pushed revision (or at whatever the source has, without a commit).
    if opts.wait {
        report.ready_revision =
            Some(wait_ready(conn, &ns, &rendered.name, pushed.as_deref(), opts, progress).await?);
    }
    Ok(report)
}

/// Creates or updates the credentials Secret; returns (created|updated|unchanged, public key).
async fn store_credentials(
    conn: &Connection,
    ns: &str,
    auth: &GitAuth,
) -> Result<(String, Option<String>), BootstrapError> {
    let api: Api<Secret> = Api::namespaced(conn.client.clone(), ns);
    let existing = api
        .get_opt(CREDENTIALS_SECRET)
        .await
        .map_err(|e| BootstrapError::Credentials(crate::agent::api_message(&e)))?;
    let text = |k: &str| {
        existing
            .as_ref()
            .and_then(|s| s.data.as_ref())
            .and_then(|d| d.get(k))
            .map(|b| String::from_utf8_lossy(&b.0).into_owned())
    };
    let mut public = None;
    let data: BTreeMap<&str, String> = match auth {
        GitAuth::None => BTreeMap::new(),
        GitAuth::SshKey {
            private_key,
            known_hosts,
        } => {
            let mut d = BTreeMap::from([("identity", private_key.clone())]);
            if let Some(k) = known_hosts {
                d.insert("known_hosts", k.clone());
            }
            d
        }
        GitAuth::Https { username, token } => {
            BTreeMap::from([("username", username.clone()), ("password", token.clone())])
        }
        GitAuth::GenerateDeployKey { known_hosts } => {
            let (private, public_key) = match (text("identity"), text("identity.pub")) {
                (Some(private), Some(public)) => (private, public),
                _ => generate_deploy_key().map_err(BootstrapError::Credentials)?,
            };
            public = Some(public_key.clone());
            let mut d = BTreeMap::from([("identity", private), ("identity.pub", public_key)]);
            if let Some(k) = known_hosts.clone().or_else(|| text("known_hosts")) {
                d.insert("known_hosts", k);
            }
            d
        }
    };
    let same = existing.as_ref().is_some_and(|s| {
        let have: BTreeMap<String, String> = s
            .data
            .clone()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
            .collect();
        have == data
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect::<BTreeMap<_, _>>()
    });
    if same {
        return Ok(("unchanged".into(), public));
    }
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": CREDENTIALS_SECRET, "namespace": ns,
            "labels": {"gitfleet.io/managed-by": "gitfleet"}},
        "type": "Opaque",
        "stringData": data,
    });
    api.patch(
        CREDENTIALS_SECRET,
        &PatchParams::apply(FIELD_MANAGER).force(),
        &Patch::Apply(&secret),
    )
    .await
    .map_err(|e| BootstrapError::Credentials(crate::agent::api_message(&e)))?;
    Ok((
        if existing.is_some() {
            "updated"
        } else {
            "created"
        }
        .into(),
        public,
    ))
}

/// A new ed25519 key pair: (OpenSSH private key, `ssh-ed25519 AAAA... gitfleet` public line).
pub fn generate_deploy_key() -> Result<(String, String), String> {
    use ssh_key::rand_core::OsRng;
    let mut key = ssh_key::PrivateKey::random(&mut OsRng, ssh_key::Algorithm::Ed25519)
        .map_err(|e| format!("cannot generate a deploy key: {e}"))?;
    key.set_comment("gitfleet deploy key");
    let private = key
        .to_openssh(ssh_key::LineEnding::LF)
        .map_err(|e| format!("cannot encode the deploy key: {e}"))?
        .to_string();
    let public = key
        .public_key()
        .to_openssh()
        .map_err(|e| format!("cannot encode the deploy key: {e}"))?;
    Ok((private, public))
}

async fn wait_ready(
    conn: &Connection,
    ns: &str,
    sync: &str,
    revision: Option<&str>,
    opts: &BootstrapOptions,
    progress: &dyn Progress,
) -> Result<String, BootstrapError> {
    let api: Api<Sync> = Api::namespaced(conn.client.clone(), ns);
    let start = Instant::now();
    let what = format!("Sync {ns}/{sync}");
    loop {
        let s = api
            .get_opt(sync)
            .await
            .map_err(|e| BootstrapError::Wait(crate::agent::api_message(&e)))?;
        let st = s.and_then(|s| s.status).unwrap_or_default();
        let ready = st.conditions.iter().find(|c| c.type_ == "Ready");
        let applied = st.last_applied_revision.clone();
        let at_revision = match revision {
            Some(r) => applied.as_deref() == Some(r),
            None => applied.is_some(),
        };
        let message = ready
            .map(|c| format!("Ready={} {}", c.status, c.message))
            .unwrap_or_else(|| "waiting for the reconciler".into());
        progress.status(
            &what,
            if at_revision && ready.is_some_and(|c| c.status == "True") {
                "Ready"
            } else {
                &message
            },
            start.elapsed(),
        );
        if at_revision && ready.is_some_and(|c| c.status == "True") {
            return Ok(applied.unwrap_or_default());
        }
        if start.elapsed() > opts.timeout {
            return Err(BootstrapError::Wait(format!(
                "{what} is not Ready at {} after {:?}: {message}",
                revision.unwrap_or("any revision"),
                opts.timeout
            )));
        }
        tokio::time::sleep(opts.poll).await;
    }
}

/// Whether the reconciler is installed (its image) and seeded, for plans.
pub async fn observe(
    conn: &Connection,
    fleet: &Fleet,
    cluster: &str,
) -> Result<Option<crate::plan::ObservedReconciler>, engine::Error> {
    let ns = &fleet.spec.reconciler.namespace;
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(conn.client.clone(), ns);
    let op = |verb, resource| engine::client::Op {
        verb,
        resource,
        namespace: Some(ns),
        name: None,
    };
    let d = engine::client::retry(|| deployments.get_opt("gitfleet-reconciler"))
        .await
        .map_err(|e| engine::client::describe(conn, &op("get", "deployments.apps"), e))?;
    let Some(d) = d else {
        return Ok(None);
    };
    let image = d
        .spec
        .template
        .spec
        .and_then(|s| s.containers.first().and_then(|c| c.image.clone()))
        .unwrap_or_default();
    let syncs: Api<Sync> = Api::namespaced(conn.client.clone(), ns);
    let sources: Api<GitSource> = Api::namespaced(conn.client.clone(), ns);
    let seeded = matches!(syncs.get_opt(cluster).await, Ok(Some(_)))
        && matches!(sources.get_opt("fleet").await, Ok(Some(_)));
    Ok(Some(crate::plan::ObservedReconciler { image, seeded }))
}

/// Removes the seed (Sync, GitSource: the agent stops applying) and, with `everything`, the
/// reconciler itself: its install objects that the inventory still owns, in reverse order (a
/// namespace or CRD that still holds foreign objects is kept), and the credentials Secret.
/// Workloads the agent applied are left alone.
pub async fn uninstall(
    conn: &Connection,
    fleet: &Fleet,
    rendered: &RenderedCluster,
    everything: bool,
) -> Result<Vec<String>, engine::Error> {
    let ns = &fleet.spec.reconciler.namespace;
    let cluster = &rendered.name;
    let mut removed = Vec::new();
    let syncs: Api<Sync> = Api::namespaced(conn.client.clone(), ns);
    let sources: Api<GitSource> = Api::namespaced(conn.client.clone(), ns);
    let dp = DeleteParams::background();
    let other = |e: kube::Error| engine::Error::Other(crate::agent::api_message(&e));
    let kept =
        |what: String| format!("(kept) {what}: not gitfleet's (no label {OWNER_LABEL}=gitfleet)");
    // Without the CRDs there is no seed to remove. Only gitfleet's own seed is removed.
    if let Ok(Some(s)) = syncs.get_opt(cluster).await {
        if s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .map(String::as_str)
            == Some("gitfleet")
        {
            syncs.delete(cluster, &dp).await.map_err(other)?;
            removed.push(format!("Sync {ns}/{cluster}"));
        } else {
            removed.push(kept(format!("Sync {ns}/{cluster}")));
        }
    }
    if let Ok(Some(s)) = sources.get_opt("fleet").await {
        if s.metadata
            .labels
            .as_ref()
            .and_then(|l| l.get(OWNER_LABEL))
            .map(String::as_str)
            == Some("gitfleet")
        {
            sources.delete("fleet", &dp).await.map_err(other)?;
            removed.push(format!("GitSource {ns}/fleet"));
        } else {
            removed.push(kept(format!("GitSource {ns}/fleet")));
        }
    }
    if everything {
        let refs: Vec<engine::ObjectRef> = rendered
            .install
            .iter()
            .chain(rendered.seed.iter())
            .map(object_ref)
            .collect();
        let opts = ApplyOptions {
            inventory: Some(inventory(fleet, cluster)),
            ..ApplyOptions::default()
        };
        let set = Engine::new(conn.clone()).remove(&refs, &opts).await?;
        for c in set.changes {
            match c.action {
                engine::Action::Pruned => removed.push(c.object.to_string()),
                engine::Action::Skipped if c.detail.as_deref() != Some("already gone") => removed
                    .push(format!(
                        "(kept) {}: {}",
                        c.object,
                        c.detail.unwrap_or_default()
                    )),
                _ => {}
            }
        }
        let secrets: Api<Secret> = Api::namespaced(conn.client.clone(), ns);
        if let Ok(Some(s)) = secrets.get_opt(CREDENTIALS_SECRET).await
            && !secret_is_ours(&s)
        {
            removed.push(kept(format!("Secret {ns}/{CREDENTIALS_SECRET}")));
        } else if let Ok(Some(_)) = secrets.get_opt(CREDENTIALS_SECRET).await {
            secrets
                .delete(CREDENTIALS_SECRET, &dp)
                .await
                .map_err(other)?;
            removed.push(format!("Secret {ns}/{CREDENTIALS_SECRET}"));
        }
    }
    Ok(removed)
}

/// Whether the repository's branch already holds exactly the reconciler's manifests at
/// `self_path` (what the commit step would write). Unknown (unreachable, private) counts as no.
pub async fn committed(
    fleet: &Fleet,
    rendered: &RenderedCluster,
    self_path: &str,
    outputs: &BTreeMap<String, String>,
    auth: &GitAuth,
    decryption: bool,
) -> bool {
    let files = self_manifests(rendered, &seed_with_outputs(rendered, outputs, decryption));
    let url = fleet.spec.repository.url.clone();
    let branch = fleet.spec.repository.branch.clone();
    let creds = auth.push_credentials();
    let dir = self_path.trim_matches('/').to_string();
    tokio::task::spawn_blocking(move || {
        let Ok(tmp) = tempfile::tempdir() else {
            return false;
        };
        let Ok(reference) = git::Reference::branch(&branch) else {
            return false;
        };
        let Ok(checkout) = git::fetch(&url, &reference, &creds, tmp.path()) else {
            return false;
        };
        let base = checkout.dir.join(&dir);
        let present: Vec<String> = std::fs::read_dir(&base)
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        present.len() == files.len()
            && files.iter().all(|(name, text)| {
                std::fs::read_to_string(base.join(name)).ok().as_deref() == Some(text.as_str())
            })
    })
    .await
    .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::sops_config_with_rule;

    #[test]
    fn a_creation_rule_is_added_once_before_the_others() {
        let new = sops_config_with_rule(None, "clusters/prod-eu", "age1abc");
        assert_eq!(
            new,
            "creation_rules:\n- path_regex: ^clusters/prod-eu/.*\n  encrypted_regex: ^(data|stringData)$\n  age: age1abc\n"
        );
        assert_eq!(
            sops_config_with_rule(Some(&new), "clusters/prod-eu/", "age1abc"),
            new
        );
        let theirs = "creation_rules:\n  - path_regex: .*\n    age: age1theirs\n";
        let merged = sops_config_with_rule(Some(theirs), "clusters/a.b", "age1x");
        assert_eq!(
            merged,
            "creation_rules:\n- path_regex: ^clusters/a\\.b/.*\n  encrypted_regex: ^(data|stringData)$\n  age: age1x\n- path_regex: .*\n  age: age1theirs\n"
        );
    }
}
