//! The shared front half of every command: load and validate the fleet, select clusters, render
//! them, and (for `plan`) observe and diff. Nothing here runs on invalid input: rendering starts
//! only after the whole fleet validated, and observing only after every cluster rendered.

use serde::Serialize;

use crate::diagnostic::Diagnostics;
use crate::fleet::selector::Selector;
use crate::fleet::{self, FileSource, LoadError, LoadedFleet};
use crate::plan::{self, ClusterPlan, PlanError, Target};
use crate::provider::{AnyProvider, ProviderError, ProviderOptions};
use crate::render::{self, RenderedCluster, Renderer};

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{0}")]
    Selection(String),
    #[error("{0}")]
    Render(Diagnostics),
}

impl PipelineError {
    /// The diagnostics, when the problem is in the user's files.
    pub fn diagnostics(&self) -> Option<&Diagnostics> {
        match self {
            PipelineError::Load(LoadError::Invalid(d)) | PipelineError::Render(d) => Some(d),
            _ => None,
        }
    }
}

pub struct Prepared {
    pub fleet: LoadedFleet,
    pub rendered: Vec<RenderedCluster>,
}

/// Load, validate, select and render.
pub fn prepare(
    source: &dyn FileSource,
    names: &[String],
    selector: Option<&Selector>,
) -> Result<Prepared, PipelineError> {
    // Definitions and template overrides are read together, so every problem shows at once.
    let (fleet, overrides) = match (fleet::load(source), render::read_overrides(source)) {
        (Ok(f), Ok(o)) => (f, o),
        (Err(LoadError::Invalid(d)), Err(more)) => {
            let mut all = d.0;
            all.extend(more);
            return Err(LoadError::Invalid(Diagnostics(Diagnostics::normalized(all))).into());
        }
        (Err(e), _) => return Err(e.into()),
        (Ok(_), Err(d)) => {
            return Err(LoadError::Invalid(Diagnostics(Diagnostics::normalized(d))).into());
        }
    };
    let renderer = Renderer::new(overrides);
    let selected = fleet
        .select(names, selector)
        .map_err(PipelineError::Selection)?;
    let rendered = renderer
        .render_fleet(&fleet, selected)
        .map_err(PipelineError::Render)?;
    Ok(Prepared { fleet, rendered })
}

/// The plan of one cluster, or why it could not be made.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", untagged)]
pub enum ClusterOutcome {
    Planned(ClusterPlan),
    Failed {
        cluster: String,
        /// Why the cluster could not be planned (one line).
        error: String,
    },
}

/// `gitfleet plan -o json`: the plan of every selected cluster, as `up` would carry it out.
/// `gitfleet schema --kind plan` prints its JSON Schema.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanReport {
    /// `metadata.name` of the fleet.
    pub fleet: String,
    /// Planned with `--offline`: nothing was contacted and every step is assumed.
    pub offline: bool,
    /// One entry per selected cluster, by name.
    pub clusters: Vec<ClusterOutcome>,
    pub summary: PlanSummary,
    /// Warnings about the definitions (never errors: an invalid fleet is not planned).
    pub diagnostics: Vec<crate::diagnostic::Diagnostic>,
}

/// Counts over the whole plan; the exit code follows from them.
#[derive(Debug, Serialize, schemars::JsonSchema)]
pub struct PlanSummary {
    /// Clusters in the plan.
    pub clusters: usize,
    /// Steps across all clusters (exit 2 when more than 0, unless something failed).
    pub steps: usize,
    /// Clusters that could not be planned (exit 1).
    pub failed: usize,
    /// Clusters planned on an assumption (a live plan exits 1 then: never a false 0 or 2).
    pub unobserved: usize,
}

#[derive(Debug, thiserror::Error)]
enum OneError {
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Plan(#[from] PlanError),
    #[error("{0}")]
    Cluster(String),
}

/// The one observation of a cluster that `plan`, `up` and `adopt` share: its provider, what its
/// definition asks for, and what is there.
pub struct Observation {
    pub provider: AnyProvider,
    pub desired: plan::Desired,
    pub observed: plan::Observed,
    /// Why the reconciler's state could not be read, when it was looked for (`observed` then
    /// holds no reconciler and no committed manifests).
    pub reconciler_unobserved: Option<Unobserved>,
}

/// Why the reconciler's state in a cluster could not be read.
#[derive(Debug, Clone)]
pub enum Unobserved {
    /// The cluster's API server could not be reached.
    Unreachable(String),
    /// The API server was reached, but the reconciler's objects could not be read.
    Unreadable { server: String, error: String },
}

impl Observation {
    /// Whether the cluster's API can be asked about the reconciler: an existing cluster always,
    /// a provisioned one once its control plane exists (never offline).
    pub fn reachable(&self) -> bool {
        matches!(self.provider, AnyProvider::Existing)
            || (self.observed.control_plane.is_some()
                && !matches!(self.provider, AnyProvider::Offline(_)))
    }
}

/// Observes one rendered cluster through its provider; with `reconciler`, also the reconciler's
/// state through the cluster's API as `up` reaches it (the kubeconfig of an existing cluster,
/// kind's, or the provider's credentials for EKS and AKS) and whether its manifests are in Git
/// (read with `auth`). Observing writes no kubeconfig: only carrying out a plan does.
/// `fleet_dir` resolves relative kubeconfig paths of existing clusters.
pub async fn observe_cluster(
    prepared: &Prepared,
    rendered: &RenderedCluster,
    options: &ProviderOptions,
    fleet_dir: &std::path::Path,
    reconciler: bool,
    auth: &crate::bootstrap::GitAuth,
) -> Result<Observation, ProviderError> {
    let cluster = prepared
        .fleet
        .clusters
        .iter()
        .find(|c| c.name == rendered.name)
        .expect("rendered clusters come from the fleet");
    let desired = plan::desired_state(&prepared.fleet.fleet, cluster, rendered);
    let provider = AnyProvider::connect(rendered, options).await?;
    let observed = provider.observe(&desired, rendered).await?;
    let mut observation = Observation {
        provider,
        desired,
        observed,
        reconciler_unobserved: None,
    };
    if reconciler && observation.reachable() {
        observation.reconciler_unobserved =
            observe_reconciler(prepared, rendered, fleet_dir, auth, &mut observation)
                .await
                .err();
    }
    Ok(observation)
}

/// Reads the reconciler's state in the cluster and whether its manifests are in Git.
async fn observe_reconciler(
    prepared: &Prepared,
    rendered: &RenderedCluster,
    fleet_dir: &std::path::Path,
    auth: &crate::bootstrap::GitAuth,
    observation: &mut Observation,
) -> Result<(), Unobserved> {
    let (conn, _) = connect_cluster(&observation.provider, rendered, fleet_dir, None)
        .await
        .map_err(Unobserved::Unreachable)?;
    observation.observed.reconciler =
        crate::bootstrap::observe(&conn, &prepared.fleet.fleet, &rendered.name)
            .await
            .map_err(|e| Unobserved::Unreadable {
                server: conn.server.clone(),
                error: e.to_string(),
            })?;
    let outputs = cluster_outputs(&observation.provider, &conn.server);
    // the seed's Sync decrypts when `up` stored gitfleet's SOPS key in the cluster
    let decryption = crate::bootstrap::seeded_with_decryption(
        &conn,
        &prepared.fleet.fleet.spec.reconciler.namespace,
        &rendered.name,
    )
    .await
    .map_err(|error| Unobserved::Unreadable {
        server: conn.server.clone(),
        error,
    })?;
    observation.observed.manifests_committed = crate::bootstrap::committed(
        &prepared.fleet.fleet,
        rendered,
        &observation.desired.self_manifests_path,
        &outputs,
        auth,
        decryption,
    )
    .await;
    Ok(())
}

/// Observes every rendered cluster through its provider and plans it. One cluster's failure
/// does not stop the others.
/// `fleet_dir` resolves relative kubeconfig paths of existing clusters.
pub async fn plan_all(
    prepared: &Prepared,
    options: &ProviderOptions,
    fleet_dir: &std::path::Path,
    reconciler: bool,
) -> Vec<ClusterOutcome> {
    let mut out = Vec::new();
    for rendered in &prepared.rendered {
        let result: Result<ClusterPlan, OneError> = async {
            let observation = observe_cluster(
                prepared,
                rendered,
                options,
                fleet_dir,
                !options.offline && reconciler,
                &Default::default(),
            )
            .await?;
            // An existing or kind cluster that cannot be reached fails its plan; an EKS or AKS
            // API server is often private, so there the reconciler's steps are reported as
            // assumed (and the plan exits 1) instead.
            let cloud = observation.provider.is_cloud();
            let unobserved = match observation.reconciler_unobserved {
                None => None,
                Some(u) => {
                    let why = match u {
                        Unobserved::Unreachable(e) => e,
                        Unobserved::Unreadable { server, error } => {
                            format!("cannot observe the reconciler at {server}: {error}")
                        }
                    };
                    if !cloud {
                        return Err(OneError::Cluster(why));
                    }
                    Some(why)
                }
            };
            let mut plan = plan::plan_cluster(&observation.desired, &observation.observed)?;
            if options.offline {
                plan.assume(
                    &[
                        Target::ResourceGroup,
                        Target::ControlPlane,
                        Target::NodePool,
                        Target::Addon,
                        Target::Reconciler,
                        Target::Repository,
                    ],
                    None,
                );
            } else if let Some(why) = unobserved {
                plan.assume(&[Target::Reconciler, Target::Repository], Some(why));
            }
            Ok(plan)
        }
        .await;
        out.push(match result {
            Ok(p) => ClusterOutcome::Planned(p),
            Err(e) => ClusterOutcome::Failed {
                cluster: rendered.name.clone(),
                error: e.to_string(),
            },
        });
    }
    out
}

/// What provisioning adds to the cluster-facts ConfigMap: the API endpoint, and for EKS the
/// region the client talks to (a definition may leave it to the AWS environment).
pub fn cluster_outputs(
    provider: &AnyProvider,
    server: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut outputs =
        std::collections::BTreeMap::from([("endpoint".to_string(), server.to_string())]);
    if let Some(region) = provider.region() {
        outputs.insert("region".to_string(), region);
    }
    outputs
}

/// Where, and how, a cluster's kubeconfig is written for the user.
#[derive(Debug, Clone, Copy)]
pub struct KubeconfigFile<'a> {
    /// The file is `dir/<cluster>.yaml` (mode 0600).
    pub dir: &'a std::path::Path,
    /// How its exec plugin (EKS) names gitfleet.
    pub exec: crate::kubeconfig::ExecCommand,
}

/// A connection to a cluster's API server: the kubeconfig of an existing cluster (as its
/// definition names it, relative paths from the fleet directory), else the provider's. The
/// connection runs gitfleet's exec plugin (EKS) as this very binary, so it works whether or
/// not gitfleet is on PATH. With `write`, the provider's kubeconfig is also written for the
/// user (see [`KubeconfigFile`]) from the same cloud answer; its path is returned.
pub async fn connect_cluster(
    provider: &AnyProvider,
    rendered: &RenderedCluster,
    fleet_dir: &std::path::Path,
    write: Option<KubeconfigFile<'_>>,
) -> Result<(crate::kube::Connection, Option<std::path::PathBuf>), String> {
    if let crate::render::ProviderRequests::Existing {
        kubeconfig,
        context,
    } = &rendered.requests
    {
        let conn = match kubeconfig {
            // A file the definition names: read through the fleet's confined source.
            Some(_) => {
                let (shown, text) =
                    crate::kubeconfig::read_existing(kubeconfig.as_deref(), fleet_dir)?;
                crate::kube::client::connect_text(&shown, &text, context.as_deref())
                    .await
                    .map_err(|e| e.to_string())?
            }
            None => crate::kube::connect(None, context.as_deref())
                .await
                .map_err(|e| e.to_string())?,
        };
        return Ok((conn, None));
    }
    let source = provider
        .kubeconfig_source(rendered, std::path::Path::new("."))
        .await
        .map_err(|e| e.to_string())?;
    let shown = format!("the kubeconfig of cluster {}", rendered.name);
    let conn = crate::kube::client::connect_text(
        &shown,
        &source.text(&crate::kubeconfig::current_exe()),
        None,
    )
    .await
    .map_err(|e| e.to_string())?;
    let file = match write {
        Some(w) => Some(write_source(&source, rendered, w)?),
        None => None,
    };
    Ok((conn, file))
}

/// Writes the provider's kubeconfig of a provisioned cluster for the user (one cloud call).
pub async fn write_kubeconfig(
    provider: &AnyProvider,
    rendered: &RenderedCluster,
    file: KubeconfigFile<'_>,
) -> Result<std::path::PathBuf, String> {
    let source = provider
        .kubeconfig_source(rendered, std::path::Path::new("."))
        .await
        .map_err(|e| e.to_string())?;
    write_source(&source, rendered, file)
}

fn write_source(
    source: &crate::kubeconfig::KubeconfigSource,
    rendered: &RenderedCluster,
    file: KubeconfigFile<'_>,
) -> Result<std::path::PathBuf, String> {
    let text = source.text(&file.exec.command());
    crate::kubeconfig::write_for_cluster(file.dir, &rendered.name, &text).map_err(|e| {
        format!(
            "cannot write {}: {e}",
            crate::kubeconfig::written_path(file.dir, &rendered.name).display()
        )
    })
}
