//! `gitfleet down`: delete clusters gitfleet created (ownership tags checked by the provider),
//! after confirmation unless `--yes`; the same selection, `--parallel` and `-o json` as `up`.
//! The kubeconfigs `up` wrote for the deleted clusters are removed.

use std::io::Write as _;
use std::path::PathBuf;

use anyhow::bail;
use clap::Args;

use super::batch::{BatchArgs, Outcome, Report};
use super::{EXIT_ERROR, EXIT_OK, FleetArgs, OutputFormat, report_failure};
use gitfleet::bootstrap::rollout::{self, DownAction, DownOptions, DownResult};
use gitfleet::fleet::types::ProviderKind;
use gitfleet::pipeline::{connect_cluster, prepare};
use gitfleet::provider::{AnyProvider, ProviderOptions};
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
        super::batch::report(Report::<DownResult>::new(Vec::new()), args.batch.output)?;
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
    let options = DownOptions {
        provider: ProviderOptions {
            offline: false,
            aws_endpoint_url: args.aws_endpoint_url.clone(),
            azure_endpoint: args.azure_endpoint.clone(),
            wait_timeout: args.timeout,
            poll_interval: super::poll_interval(),
        },
        fleet_dir: args.fleet.fleet.clone(),
        parallel: args.batch.parallel,
        kubeconfig_dir: args
            .kubeconfig_dir
            .clone()
            .unwrap_or_else(super::batch::default_kubeconfig_dir),
    };
    let report = super::runtime()?.block_on(rollout::execute_down(
        &prepared,
        &options,
        &super::progress::Stderr,
    ));
    let all_ok = super::batch::report(report, args.batch.output)?;
    Ok(if all_ok { EXIT_OK } else { EXIT_ERROR })
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
