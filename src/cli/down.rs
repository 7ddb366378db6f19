//! `gitfleet down`: delete clusters gitfleet created (ownership tags checked by the provider),
//! after confirmation unless `--yes`.

use std::io::Write as _;

use anyhow::bail;
use clap::Args;

use super::{EXIT_ERROR, EXIT_OK, FleetArgs, report_failure};
use gitfleet::fleet::DirSource;
use gitfleet::fleet::selector::Selector;
use gitfleet::pipeline::prepare;
use gitfleet::provider::{AnyProvider, ProviderOptions};

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
    let source = DirSource::new(&args.fleet.fleet);
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
    for rendered in &prepared.rendered {
        let progress = super::progress::for_cluster(&rendered.name);
        let result = runtime.block_on(async {
            let provider = AnyProvider::connect(rendered, &options).await?;
            provider.delete(rendered, fleet, progress.as_ref()).await
        });
        match result {
            Ok(true) => writeln!(out, "{}: deleted", rendered.name)?,
            Ok(false) => writeln!(out, "{}: does not exist", rendered.name)?,
            Err(e) => {
                failed += 1;
                eprintln!("{}: error: {e}", rendered.name);
            }
        }
    }
    Ok(if failed > 0 { EXIT_ERROR } else { EXIT_OK })
}
