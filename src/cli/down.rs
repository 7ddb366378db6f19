//! `gitfleet down`: delete clusters gitfleet created (ownership tags checked by the provider),
//! after confirmation unless `--yes`.

use std::io::Write as _;

use anyhow::bail;
use clap::Args;

use super::{EXIT_ERROR, EXIT_OK, FleetArgs, report_failure};
use gitfleet::fleet::selector::Selector;
use gitfleet::pipeline::{connect_cluster, prepare};
use gitfleet::provider::{AnyProvider, ProviderOptions};
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Clusters to delete.
    #[arg(value_name = "CLUSTER")]
    pub clusters: Vec<String>,
    /// Delete the clusters whose labels match instead.
    #[arg(long, short = 'l', value_name = "SELECTOR", value_parser = super::parse_selector)]
    pub selector: Option<Selector>,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Delete without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
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

pub fn run(args: DownArgs) -> anyhow::Result<u8> {
    if args.clusters.is_empty() && args.selector.is_none() {
        bail!("name the clusters to delete, or select them with -l");
    }
    let mut out = std::io::stdout().lock();
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(&source, &args.clusters, args.selector.as_ref()) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, super::OutputFormat::Text)),
    };
    let names: Vec<&str> = prepared.rendered.iter().map(|r| r.name.as_str()).collect();
    if names.is_empty() {
        writeln!(out, "no cluster matches the selection")?;
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
    let fleet = &prepared.fleet.fleet.metadata.name;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failed = 0;
    let kubeconfig_dir = tempfile::tempdir()?;
    for rendered in &prepared.rendered {
        let progress = super::progress::for_cluster(&rendered.name);
        let result: anyhow::Result<String> = runtime.block_on(async {
            let provider = AnyProvider::connect(rendered, &options).await?;
            // First the seed, so the reconciler stops applying; for kind, gitfleet's cluster facts
            // are the proof of ownership (kind clusters carry no tags).
            let exists = match &provider {
                AnyProvider::Kind(k) => k.exists(&rendered.name)?,
                AnyProvider::Existing => true,
                _ => false,
            };
            let mut removed = Vec::new();
            if exists {
                let (conn, _) = connect_cluster(&provider, rendered, &args.fleet.fleet, kubeconfig_dir.path())
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot reach the cluster: {e}"))?;
                if matches!(provider, AnyProvider::Kind(_)) {
                    let facts: kube::Api<k8s_openapi::api::core::v1::ConfigMap> = kube::Api::namespaced(
                        conn.client.clone(),
                        &prepared.fleet.fleet.spec.reconciler.namespace,
                    );
                    let owned = facts
                        .get_opt("gitfleet-cluster-facts")
                        .await
                        .ok()
                        .flatten()
                        .and_then(|cm| cm.data)
                        .is_some_and(|d| d.get("name") == Some(&rendered.name));
                    if !owned {
                        anyhow::bail!(
                            "kind cluster {} holds no gitfleet cluster facts for it; gitfleet never deletes what it did not create",
                            rendered.name
                        );
                    }
                }
                removed = gitfleet::bootstrap::uninstall(&conn, &prepared.fleet.fleet, rendered, false).await?;
            }
            if matches!(provider, AnyProvider::Existing) {
                return Ok(format!(
                    "seed removed ({}); the existing cluster itself is not gitfleet's to delete",
                    if removed.is_empty() { "nothing to remove".to_string() } else { removed.join(", ") }
                ));
            }
            Ok(if provider.delete(rendered, fleet, progress.as_ref()).await? {
                "deleted".to_string()
            } else {
                "does not exist".to_string()
            })
        });
        match result {
            Ok(what) => writeln!(out, "{}: {what}", rendered.name)?,
            Err(e) => {
                failed += 1;
                eprintln!("{}: error: {e:#}", rendered.name);
            }
        }
    }
    Ok(if failed > 0 { EXIT_ERROR } else { EXIT_OK })
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
    /// Where provider kubeconfigs are written (mode 0600).
    #[arg(long, value_name = "DIR", env = "GITFLEET_KUBECONFIG_DIR")]
    pub kubeconfig_dir: Option<std::path::PathBuf>,
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
    let dir = match &args.kubeconfig_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failed = 0;
    for rendered in &prepared.rendered {
        let result: anyhow::Result<Vec<String>> = runtime.block_on(async {
            let provider = AnyProvider::connect(rendered, &options).await?;
            let (conn, _) = connect_cluster(&provider, rendered, &args.fleet.fleet, &dir)
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
