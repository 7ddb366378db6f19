//! `gitfleet down`: delete clusters gitfleet created (ownership tags checked by the provider),
//! after confirmation unless `--yes`; the same selection, `--parallel` and `-o json` as `up`.
//! The kubeconfigs `up` wrote for the deleted clusters are removed.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use super::batch::{BatchArgs, Outcome};
use super::{EXIT_ERROR, EXIT_OK, FleetArgs, OutputFormat, report_failure};
use gitfleet::fleet::types::ProviderKind;
use gitfleet::pipeline::{Prepared, connect_cluster, prepare};
use gitfleet::provider::{AnyProvider, ProviderError, ProviderOptions};
use gitfleet::render::RenderedCluster;
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct DownArgs {
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Every cluster of the fleet (otherwise name them, or select them with -l).
    #[arg(long, conflicts_with_all = ["names", "clusters", "selector"])]
    pub all: bool,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Delete without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Where `up` wrote the kubeconfigs (default ~/.kube/gitfleet); those of the deleted clusters
    /// are removed (only files gitfleet wrote for them).
    #[arg(long, value_name = "DIR", env = "GITFLEET_KUBECONFIG_DIR")]
    pub kubeconfig_dir: Option<PathBuf>,
    /// Send AWS API calls to this endpoint (an emulator); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Azure Resource Manager endpoint (a stand-in or sovereign cloud).
    #[arg(long, value_name = "URL", env = "GITFLEET_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
    /// Longest wait for one resource to become ready or go away, e.g. 40m.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub timeout: Option<std::time::Duration>,
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
    cluster: String,
    provider: ProviderKind,
    result: DownAction,
    /// The result is `deleted`, `absent` or `kept`.
    ok: bool,
    /// The reconciler's seed objects removed before the cluster went.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    seed_removed: Vec<String>,
    /// The kubeconfig `up` had written for the cluster, now removed.
    #[serde(skip_serializing_if = "Option::is_none")]
    kubeconfig_removed: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

impl Outcome for DownResult {
    fn cluster(&self) -> &str {
        &self.cluster
    }

    fn provider(&self) -> ProviderKind {
        self.provider
    }

    fn result(&self) -> &str {
        match self.result {
            DownAction::Deleted => "deleted",
            DownAction::Absent => "absent",
            DownAction::Kept => "kept",
            DownAction::Refused => "refused",
            DownAction::Failed => "failed",
        }
    }

    fn ok(&self) -> bool {
        self.ok
    }

    fn detail(&self) -> String {
        if let Some(e) = &self.error {
            return e.clone();
        }
        let mut parts = vec![match self.result {
            DownAction::Deleted => "cluster deleted".to_string(),
            DownAction::Absent => "does not exist".to_string(),
            _ => "the existing cluster itself is not gitfleet's to delete".to_string(),
        }];
        match self.seed_removed.len() {
            0 if self.result == DownAction::Kept => parts.push("no seed to remove".into()),
            0 => {}
            n => parts.push(format!("seed removed ({n} object(s))")),
        }
        if let Some(file) = &self.kubeconfig_removed {
            parts.push(format!("kubeconfig {} removed", file.display()));
        }
        parts.join(", ")
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

pub fn run(args: DownArgs) -> anyhow::Result<u8> {
    if !args.all && !args.batch.selects() {
        bail!(
            "name the clusters to delete (CLUSTER… or -c NAME) or select them with -l SELECTOR; \
             --all deletes every cluster of the fleet"
        );
    }
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(
        &source,
        &args.batch.names(),
        args.batch.select.selector.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, args.batch.output)),
    };
    let names: Vec<&str> = prepared.rendered.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        if args.batch.output == OutputFormat::Text {
            writeln!(std::io::stdout().lock(), "no cluster matches the selection")?;
            return Ok(EXIT_OK);
        }
        super::batch::report(Vec::<DownResult>::new(), args.batch.output)?;
        return Ok(EXIT_OK);
    }
    if !args.yes
        && !super::up::confirm(&format!(
            "delete cluster(s) {} and everything in them?",
            names.join(", ")
        ))?
    {
        bail!("not confirmed; nothing was deleted");
    }
    let options = ProviderOptions {
        offline: false,
        aws_endpoint_url: args.aws_endpoint_url.clone(),
        azure_endpoint: args.azure_endpoint.clone(),
        wait_timeout: args.timeout,
        poll_interval: super::poll_interval(),
    };
    let kubeconfig_dir = args
        .kubeconfig_dir
        .clone()
        .unwrap_or_else(super::batch::default_kubeconfig_dir);
    let results = super::runtime()?.block_on(args.batch.run_each(&prepared.rendered, |rendered| {
        down_one(&args, &prepared, rendered, &options, &kubeconfig_dir)
    }));
    let all_ok = super::batch::report(results, args.batch.output)?;
    Ok(if all_ok { EXIT_OK } else { EXIT_ERROR })
}

async fn down_one(
    args: &DownArgs,
    prepared: &Prepared,
    rendered: &RenderedCluster,
    options: &ProviderOptions,
    kubeconfig_dir: &std::path::Path,
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
    match delete(args, prepared, rendered, options, &mut result).await {
        Ok(what) => {
            result.result = what;
            result.ok = true;
            if what != DownAction::Kept {
                match gitfleet::kubeconfig::remove_for_cluster(kubeconfig_dir, &rendered.name) {
                    Ok(file) => result.kubeconfig_removed = file,
                    Err(e) => eprintln!(
                        "[{}] warning: cannot remove {}: {e}",
                        rendered.name,
                        gitfleet::kubeconfig::written_path(kubeconfig_dir, &rendered.name)
                            .display()
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
    args: &DownArgs,
    prepared: &Prepared,
    rendered: &RenderedCluster,
    options: &ProviderOptions,
    result: &mut DownResult,
) -> Result<DownAction, Failure> {
    let fleet = &prepared.fleet.fleet;
    let progress = super::progress::for_cluster(&rendered.name);
    let provider = AnyProvider::connect(rendered, options).await?;
    // For kind, gitfleet's cluster facts are the proof of ownership (kind clusters carry no
    // tags).
    let exists = match &provider {
        AnyProvider::Kind(k) => k.exists(&rendered.name)?,
        AnyProvider::Existing => true,
        _ => false,
    };
    if exists {
        let (conn, _) = connect_cluster(&provider, rendered, &args.fleet.fleet, None)
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
        let seed = gitfleet::bootstrap::uninstall(&conn, fleet, rendered, false)
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

#[derive(Debug, Args)]
pub struct UninstallArgs {
    /// Clusters to remove the reconciler from.
    #[arg(value_name = "CLUSTER", required = true)]
    pub clusters: Vec<String>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Remove without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Send AWS API calls to this endpoint (an emulator); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Azure Resource Manager endpoint (a stand-in or sovereign cloud).
    #[arg(long, value_name = "URL", env = "GITFLEET_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
}

/// `gitfleet uninstall`: remove only the reconciler (seed, then everything of its inventory that
/// is still gitfleet's), leaving the cluster and the workloads' own objects alone.
pub fn run_uninstall(args: UninstallArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(&source, &args.clusters, None) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, super::OutputFormat::Text)),
    };
    if !args.yes
        && !super::up::confirm(&format!(
            "remove the reconciler from {}?",
            args.clusters.join(", ")
        ))?
    {
        bail!("not confirmed; nothing was removed");
    }
    let options = ProviderOptions {
        aws_endpoint_url: args.aws_endpoint_url.clone(),
        azure_endpoint: args.azure_endpoint.clone(),
        poll_interval: super::poll_interval(),
        ..ProviderOptions::default()
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failed = 0;
    for rendered in &prepared.rendered {
        let result: anyhow::Result<Vec<String>> = runtime.block_on(async {
            let provider = AnyProvider::connect(rendered, &options).await?;
            let (conn, _) = connect_cluster(&provider, rendered, &args.fleet.fleet, None)
                .await
                .map_err(|e| anyhow::anyhow!("cannot reach the cluster: {e}"))?;
            Ok(
                gitfleet::bootstrap::uninstall(&conn, &prepared.fleet.fleet, rendered, true)
                    .await?,
            )
        });
        match result {
            Ok(removed) => {
                for r in &removed {
                    writeln!(out, "{}: removed {r}", rendered.name)?;
                }
                writeln!(
                    out,
                    "{}: reconciler removed ({} object(s))",
                    rendered.name,
                    removed.len()
                )?;
            }
            Err(e) => {
                failed += 1;
                eprintln!("{}: error: {e:#}", rendered.name);
            }
        }
    }
    Ok(if failed > 0 { EXIT_ERROR } else { EXIT_OK })
}
