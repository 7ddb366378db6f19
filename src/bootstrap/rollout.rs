//! `up` and `down` as library values: [`plan_up`] observes and plans every selected cluster into
//! an [`UpPlan`] (what will be done, per cluster, from the one observation
//! [`crate::pipeline::observe_cluster`] makes); [`execute_up`] carries it out — provision →
//! kubeconfig → install → seed → commit → wait — per cluster, concurrently, and returns what
//! happened as a [`Report`]. [`execute_down`] does the same for deleting clusters. Progress goes
//! to a [`Reporter`]; nothing here prints, so the CLI, fleet rollout waves, a status API or a UI
//! can all show the same value their own way.

use std::future::Future;
use std::path::PathBuf;
use std::time::Duration;

use futures::StreamExt;
use serde::Serialize;

use super::{BootstrapOptions, BootstrapReport, GitAuth};
use crate::fleet::types::ProviderKind;
use crate::kubeconfig::ExecCommand;
use crate::pipeline::{
    KubeconfigFile, Prepared, Unobserved, cluster_outputs, connect_cluster, observe_cluster,
    write_kubeconfig,
};
use crate::plan::{self, ClusterPlan, Desired, Step};
use crate::provider::{AnyProvider, Progress, ProviderError, ProviderOptions};
use crate::render::RenderedCluster;

/// Where a rollout tells what it is doing, while it does it.
pub trait Reporter: Send + Sync {
    /// The display of one cluster's long waits (cloud resources, CRDs, the Sync).
    fn progress(&self, cluster: &str) -> Box<dyn Progress>;
    /// Something happened to a cluster.
    fn event(&self, cluster: &str, event: Event<'_>);
}

/// What a [`Reporter`] hears about a cluster besides its long waits.
#[derive(Debug, Clone, Copy)]
pub enum Event<'a> {
    /// A cloud step starts.
    Applying(&'a Step),
    /// A cloud step is done.
    Applied(&'a Step),
    /// Something went wrong that does not fail the cluster.
    Warning(&'a str),
}

/// A [`Reporter`] that tells nobody.
pub struct Quiet;

impl Reporter for Quiet {
    fn progress(&self, _: &str) -> Box<dyn Progress> {
        Box::new(crate::provider::Silent)
    }

    fn event(&self, _: &str, _: Event<'_>) {}
}

/// `up -o json` and `down -o json`: every selected cluster's result.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct Report<R> {
    /// Whether every cluster is ok (the exit code is 0 exactly then).
    pub ok: bool,
    /// One entry per selected cluster, by name.
    pub clusters: Vec<R>,
}

/// One cluster's result in a [`Report`].
pub trait ClusterOutcome {
    fn cluster(&self) -> &str;
    fn ok(&self) -> bool;
}

impl<R: ClusterOutcome> Report<R> {
    /// The report of these results, sorted by cluster.
    pub fn new(mut clusters: Vec<R>) -> Self {
        clusters.sort_by(|a, b| a.cluster().cmp(b.cluster()));
        Self {
            ok: clusters.iter().all(ClusterOutcome::ok),
            clusters,
        }
    }
}

/// Runs `work` on every item, `parallel` at once; the results come back in any order.
async fn run_each<T, R, F, Fut>(
    parallel: usize,
    items: impl IntoIterator<Item = T>,
    work: F,
) -> Vec<R>
where
    F: FnMut(T) -> Fut,
    Fut: Future<Output = R>,
{
    futures::stream::iter(items)
        .map(work)
        .buffer_unordered(parallel.max(1))
        .collect()
        .await
}

/// How `up` works.
#[derive(Clone)]
pub struct UpOptions {
    /// How to reach the providers.
    pub provider: ProviderOptions,
    /// The fleet's directory: relative kubeconfig paths of existing clusters, deploy key files.
    pub fleet_dir: PathBuf,
    /// Clusters worked on at once.
    pub parallel: usize,
    /// Install and seed the reconciler (otherwise provision only).
    pub install: bool,
    /// Commit the reconciler's manifests into the repository.
    pub commit: bool,
    /// Wait until each cluster's Sync is Ready at the pushed revision.
    pub wait: bool,
    /// Without `install`, still write each cluster's kubeconfig.
    pub write_kubeconfig: bool,
    /// Cluster kubeconfigs are written as `<dir>/<cluster>.yaml`.
    pub kubeconfig_dir: PathBuf,
    /// How a written kubeconfig's exec plugin names gitfleet.
    pub kubeconfig_exec: ExecCommand,
    /// kind: load this locally built image into the cluster.
    pub kind_load_image: Option<String>,
    /// Longest wait for one resource (default 5 minutes for the reconciler's).
    pub timeout: Option<Duration>,
    /// How the reconciler reads the repository.
    pub auth: GitAuth,
    /// The clusters' SOPS decryption key.
    pub sops: super::SopsKey,
}

/// What `up` will do to one cluster.
pub struct ClusterUp<'a> {
    pub rendered: &'a RenderedCluster,
    /// The steps (with `install` off, only the cloud's), or why the cluster cannot be planned.
    pub plan: Result<ClusterPlan, String>,
    observed: Option<(AnyProvider, Desired)>,
}

impl ClusterUp<'_> {
    /// The cloud steps of the plan.
    pub fn cloud_steps(&self) -> usize {
        self.plan.as_ref().map_or(0, |p| {
            p.steps.iter().filter(|s| s.target.is_provider()).count()
        })
    }
}

/// What `up` will do, per cluster, sorted by name.
pub struct UpPlan<'a> {
    pub clusters: Vec<ClusterUp<'a>>,
}

impl UpPlan<'_> {
    /// Cloud steps across all clusters: what needs confirming.
    pub fn cloud_steps(&self) -> usize {
        self.clusters.iter().map(ClusterUp::cloud_steps).sum()
    }
}

/// Observes and plans every selected cluster, `parallel` at once. Nothing is changed.
pub async fn plan_up<'a>(prepared: &'a Prepared, options: &UpOptions) -> UpPlan<'a> {
    let mut clusters = run_each(options.parallel, prepared.rendered.iter(), |rendered| {
        plan_one(prepared, rendered, options)
    })
    .await;
    clusters.sort_by(|a, b| a.rendered.name.cmp(&b.rendered.name));
    UpPlan { clusters }
}

async fn plan_one<'a>(
    prepared: &Prepared,
    rendered: &'a RenderedCluster,
    options: &UpOptions,
) -> ClusterUp<'a> {
    let observation = match observe_cluster(
        prepared,
        rendered,
        &options.provider,
        &options.fleet_dir,
        options.install,
        &options.auth,
    )
    .await
    {
        Ok(o) => o,
        Err(e) => {
            return ClusterUp {
                rendered,
                plan: Err(e.to_string()),
                observed: None,
            };
        }
    };
    // An existing cluster whose reconciler cannot be observed is not planned; elsewhere (a
    // cluster still coming up, a private API server) the reconciler is planned as absent.
    if let Some(u) = &observation.reconciler_unobserved
        && rendered.provider == ProviderKind::Existing
    {
        let error = match u {
            Unobserved::Unreachable(e) => e.clone(),
            Unobserved::Unreadable { error, .. } => error.clone(),
        };
        return ClusterUp {
            rendered,
            plan: Err(error),
            observed: Some((observation.provider, observation.desired)),
        };
    }
    let mut plan =
        plan::plan_cluster(&observation.desired, &observation.observed).map_err(|e| e.to_string());
    if let Ok(p) = &mut plan
        && !options.install
    {
        p.steps.retain(|s| s.target.is_provider());
    }
    ClusterUp {
        rendered,
        plan,
        observed: Some((observation.provider, observation.desired)),
    }
}

/// One cluster's result, as `-o json` prints it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterResult {
    pub cluster: String,
    pub provider: ProviderKind,
    /// Everything planned for the cluster was carried out.
    pub ok: bool,
    /// Cloud steps carried out, as the plan shows them.
    pub provisioned: Vec<String>,
    /// The kubeconfig written for the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// What installing and seeding the reconciler did (absent with --no-install).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<BootstrapReport>,
    /// Why the cluster failed (one line).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ClusterOutcome for ClusterResult {
    fn cluster(&self) -> &str {
        &self.cluster
    }

    fn ok(&self) -> bool {
        self.ok
    }
}

/// Carries out `plan`, `parallel` clusters at once; one cluster's failure does not stop the
/// others.
pub async fn execute_up(
    prepared: &Prepared,
    plan: UpPlan<'_>,
    options: &UpOptions,
    reporter: &dyn Reporter,
) -> Report<ClusterResult> {
    let results = run_each(options.parallel, plan.clusters, |p| {
        execute_one(prepared, p, options, reporter)
    })
    .await;
    Report::new(results)
}

async fn execute_one(
    prepared: &Prepared,
    p: ClusterUp<'_>,
    options: &UpOptions,
    reporter: &dyn Reporter,
) -> ClusterResult {
    let rendered = p.rendered;
    let mut result = ClusterResult {
        cluster: rendered.name.clone(),
        provider: rendered.provider,
        ok: false,
        provisioned: Vec::new(),
        kubeconfig: None,
        bootstrap: None,
        error: None,
    };
    let (plan, provider, desired) = match (p.plan, p.observed) {
        (Ok(plan), Some((provider, desired))) => (plan, provider, desired),
        (Err(e), _) => {
            result.error = Some(e);
            return result;
        }
        (Ok(_), None) => {
            result.error = Some("no provider".into());
            return result;
        }
    };
    let progress = reporter.progress(&rendered.name);
    for step in plan.steps.iter().filter(|s| s.target.is_provider()) {
        reporter.event(&rendered.name, Event::Applying(step));
        if let Err(e) = provider.apply(step, rendered, progress.as_ref()).await {
            result.error = Some(format!("{step}: {e}"));
            return result;
        }
        reporter.event(&rendered.name, Event::Applied(step));
        result.provisioned.push(step.to_string());
    }
    let fleet = &prepared.fleet.fleet;
    let kubeconfig_file = KubeconfigFile {
        dir: &options.kubeconfig_dir,
        exec: options.kubeconfig_exec,
    };
    if !options.install {
        // Provisioning only: a kubeconfig (and the describe call it costs) only when asked.
        if options.write_kubeconfig && rendered.provider != ProviderKind::Existing {
            match write_kubeconfig(&provider, rendered, kubeconfig_file).await {
                Ok(file) => result.kubeconfig = Some(file),
                Err(e) => {
                    result.error = Some(format!("cannot get the kubeconfig: {e}"));
                    return result;
                }
            }
        }
        if let Err(e) = load_image(options, &provider, rendered) {
            result.error = Some(e);
            return result;
        }
        result.ok = true;
        return result;
    }
    let conn = match connect_cluster(
        &provider,
        rendered,
        &options.fleet_dir,
        Some(kubeconfig_file),
    )
    .await
    {
        Ok((conn, file)) => {
            result.kubeconfig = file;
            conn
        }
        Err(e) => {
            result.error = Some(format!("cannot reach the cluster: {e}"));
            return result;
        }
    };
    if let Err(e) = load_image(options, &provider, rendered) {
        result.error = Some(e);
        return result;
    }
    let outputs = cluster_outputs(&provider, &conn.server);
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let opts = BootstrapOptions {
        auth: options.auth.clone(),
        commit: options.commit,
        wait: options.wait,
        timeout: options.timeout.unwrap_or(Duration::from_secs(300)),
        poll: options
            .provider
            .poll_interval
            .unwrap_or(Duration::from_secs(2)),
        deploy_key_file: Some(
            options
                .fleet_dir
                .join(format!("{}-deploy-key.pub", rendered.name)),
        ),
        sops: options.sops.clone(),
        sops_recipient_file: Some(
            options
                .fleet_dir
                .join(format!("{}-sops.pub", rendered.name)),
        ),
        sops_identity_file: Some(
            options
                .kubeconfig_dir
                .join(format!("{}-sops.agekey", rendered.name)),
        ),
        outputs,
        work_dir: work.path().join("repo"),
    };
    match super::bootstrap(
        &conn,
        fleet,
        rendered,
        &desired.self_manifests_path,
        &opts,
        progress.as_ref(),
    )
    .await
    {
        Ok(report) => {
            result.bootstrap = Some(report);
            result.ok = true;
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result
}

/// kind: loads the requested image into the cluster.
fn load_image(
    options: &UpOptions,
    provider: &AnyProvider,
    rendered: &RenderedCluster,
) -> Result<(), String> {
    match (&options.kind_load_image, provider) {
        (Some(image), AnyProvider::Kind(kind)) => kind
            .load_image(&rendered.name, image)
            .map_err(|e| e.to_string()),
        _ => Ok(()),
    }
}

/// How `down` works.
#[derive(Clone)]
pub struct DownOptions {
    /// How to reach the providers.
    pub provider: ProviderOptions,
    /// The fleet's directory: relative kubeconfig paths of existing clusters.
    pub fleet_dir: PathBuf,
    /// Clusters worked on at once.
    pub parallel: usize,
    /// Where `up` wrote the kubeconfigs; those of deleted clusters are removed.
    pub kubeconfig_dir: PathBuf,
}

/// What happened to a cluster on `down`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DownAction {
    /// gitfleet's cluster is gone.
    Deleted,
    /// There was nothing to delete.
    Absent,
    /// An existing cluster: only the reconciler's seed was removed.
    Kept,
    /// Not gitfleet's: nothing was changed.
    Refused,
    Failed,
}

/// What `down` did to one cluster, as `-o json` prints it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DownResult {
    pub cluster: String,
    pub provider: ProviderKind,
    pub result: DownAction,
    /// The result is `deleted`, `absent` or `kept`.
    pub ok: bool,
    /// The reconciler's seed objects removed before the cluster went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub seed_removed: Vec<String>,
    /// The kubeconfig `up` had written for the cluster, now removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kubeconfig_removed: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl ClusterOutcome for DownResult {
    fn cluster(&self) -> &str {
        &self.cluster
    }

    fn ok(&self) -> bool {
        self.ok
    }
}

/// Why a cluster was not deleted.
enum Failure {
    /// Not gitfleet's: nothing was changed.
    Refused(String),
    Failed(String),
}

impl From<ProviderError> for Failure {
    fn from(e: ProviderError) -> Self {
        match e {
            ProviderError::NotOwned { .. } => Failure::Refused(e.to_string()),
            e => Failure::Failed(e.to_string()),
        }
    }
}

/// Deletes every selected cluster gitfleet created (the seed first, so the reconciler stops
/// applying; an existing cluster keeps everything else), `parallel` at once, and removes the
/// kubeconfigs `up` wrote for them.
pub async fn execute_down(
    prepared: &Prepared,
    options: &DownOptions,
    reporter: &dyn Reporter,
) -> Report<DownResult> {
    let results = run_each(options.parallel, &prepared.rendered, |rendered| {
        down_one(prepared, rendered, options, reporter)
    })
    .await;
    Report::new(results)
}

async fn down_one(
    prepared: &Prepared,
    rendered: &RenderedCluster,
    options: &DownOptions,
    reporter: &dyn Reporter,
) -> DownResult {
    let mut result = DownResult {
        cluster: rendered.name.clone(),
        provider: rendered.provider,
        result: DownAction::Failed,
        ok: false,
        seed_removed: Vec::new(),
        kubeconfig_removed: None,
        error: None,
    };
    match delete(prepared, rendered, options, reporter, &mut result).await {
        Ok(what) => {
            result.result = what;
            result.ok = true;
            if what != DownAction::Kept {
                let dir = &options.kubeconfig_dir;
                match crate::kubeconfig::remove_for_cluster(dir, &rendered.name) {
                    Ok(file) => result.kubeconfig_removed = file,
                    Err(e) => reporter.event(
                        &rendered.name,
                        Event::Warning(&format!(
                            "cannot remove {}: {e}",
                            crate::kubeconfig::written_path(dir, &rendered.name).display()
                        )),
                    ),
                }
            }
        }
        Err(Failure::Refused(e)) => {
            result.result = DownAction::Refused;
            result.error = Some(e);
        }
        Err(Failure::Failed(e)) => result.error = Some(e),
    }
    result
}

/// The seed first (so the reconciler stops applying), then the cluster if gitfleet owns it.
async fn delete(
    prepared: &Prepared,
    rendered: &RenderedCluster,
    options: &DownOptions,
    reporter: &dyn Reporter,
    result: &mut DownResult,
) -> Result<DownAction, Failure> {
    let fleet = &prepared.fleet.fleet;
    let progress = reporter.progress(&rendered.name);
    let provider = AnyProvider::connect(rendered, &options.provider).await?;
    // For kind, gitfleet's cluster facts are the proof of ownership (kind clusters carry no
    // tags).
    let exists = match &provider {
        AnyProvider::Kind(k) => k.exists(&rendered.name)?,
        AnyProvider::Existing => true,
        _ => false,
    };
    if exists {
        let (conn, _) = connect_cluster(&provider, rendered, &options.fleet_dir, None)
            .await
            .map_err(|e| Failure::Failed(format!("cannot reach the cluster: {e}")))?;
        if matches!(provider, AnyProvider::Kind(_)) {
            let facts: kube::Api<k8s_openapi::api::core::v1::ConfigMap> =
                kube::Api::namespaced(conn.client.clone(), &fleet.spec.reconciler.namespace);
            let owned = facts
                .get_opt("gitfleet-cluster-facts")
                .await
                .ok()
                .flatten()
                .and_then(|cm| cm.data)
                .is_some_and(|d| d.get("name") == Some(&rendered.name));
            if !owned {
                return Err(Failure::Refused(format!(
                    "kind cluster {} holds no gitfleet cluster facts for it; gitfleet never deletes what it did not create",
                    rendered.name
                )));
            }
        }
        let seed = super::uninstall(&conn, fleet, rendered, false)
            .await
            .map_err(|e| Failure::Failed(format!("removing the seed: {e}")))?;
        // A Sync or GitSource of the same name that is not gitfleet's stays and is not counted.
        for kept in seed.iter().filter(|s| s.starts_with("(kept)")) {
            tracing::warn!("{}: {kept}", rendered.name);
        }
        result.seed_removed = seed
            .into_iter()
            .filter(|s| !s.starts_with("(kept)"))
            .collect();
    }
    if matches!(provider, AnyProvider::Existing) {
        return Ok(DownAction::Kept);
    }
    Ok(
        if provider
            .delete(rendered, &fleet.metadata.name, progress.as_ref())
            .await?
        {
            DownAction::Deleted
        } else {
            DownAction::Absent
        },
    )
}

/// What `adopt` would tag in a cluster gitfleet did not create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Adoption {
    /// The control plane already carries gitfleet's tags.
    pub cluster_owned: bool,
    /// Node pools the definition names that are not gitfleet's yet.
    pub pools: Vec<String>,
    /// Add-ons the definition names that are not gitfleet's yet.
    pub addons: Vec<String>,
}

impl Adoption {
    /// Nothing to tag: gitfleet manages all of it already.
    pub fn is_empty(&self) -> bool {
        self.cluster_owned && self.pools.is_empty() && self.addons.is_empty()
    }
}

/// What adopting the observed cluster tags, or `None` when the cluster does not exist. Only
/// what the definition names: a pool or add-on it does not name stays someone else's.
pub fn adoption(observation: &crate::pipeline::Observation) -> Option<Adoption> {
    let (desired, observed) = (&observation.desired, &observation.observed);
    let cp = observed.control_plane.as_ref()?;
    Some(Adoption {
        cluster_owned: cp.owned,
        pools: observed
            .pools
            .iter()
            .filter(|p| !p.owned && desired.pools.iter().any(|d| d.name == p.name))
            .map(|p| p.name.clone())
            .collect(),
        addons: observed
            .addons
            .iter()
            .filter(|a| !a.owned && desired.addons.iter().any(|d| d.name == a.name))
            .map(|a| a.name.clone())
            .collect(),
    })
}
