//! `gitfleet adopt`: hand a cloud cluster gitfleet did not create over to gitfleet, explicitly.
//! Shows exactly which resources get gitfleet's ownership tags (nothing else changes: no tag is
//! removed, no setting touched), asks, and only then tags them; from then on `up` manages them.

use std::io::Write as _;

use anyhow::bail;
use clap::Args;

use super::{EXIT_ERROR, EXIT_OK, FleetArgs, report_failure};
use gitfleet::bootstrap::rollout::{Adoption, adoption};
use gitfleet::pipeline::{observe_cluster, prepare};
use gitfleet::provider::ProviderOptions;
use gitfleet::render::{CLUSTER_KEY, FLEET_KEY, OWNER_KEY};
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct AdoptArgs {
    /// The cluster (as the fleet defines it) to adopt.
    #[arg(value_name = "CLUSTER")]
    pub cluster: String,
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Adopt without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Send AWS API calls to this endpoint (an emulator); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Azure Resource Manager endpoint (a stand-in or sovereign cloud).
    #[arg(long, value_name = "URL", env = "GITFLEET_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
}

pub fn run(args: AdoptArgs) -> anyhow::Result<u8> {
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(&source, std::slice::from_ref(&args.cluster), None) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, super::OutputFormat::Text)),
    };
    let rendered = &prepared.rendered[0];
    let fleet = &prepared.fleet.fleet.metadata.name;
    let options = ProviderOptions {
        offline: false,
        aws_endpoint_url: args.aws_endpoint_url.clone(),
        azure_endpoint: args.azure_endpoint.clone(),
        wait_timeout: None,
        poll_interval: super::poll_interval(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let observation = runtime.block_on(observe_cluster(
        &prepared,
        rendered,
        &options,
        &args.fleet.fleet,
        false,
        &Default::default(),
    ))?;
    let Some(adoption) = adoption(&observation) else {
        eprintln!(
            "error: cluster {} does not exist; nothing to adopt (`gitfleet up` creates it)",
            rendered.name
        );
        return Ok(EXIT_ERROR);
    };
    if adoption.is_empty() {
        println!("cluster {} is already managed by gitfleet", rendered.name);
        return Ok(EXIT_OK);
    }
    let Adoption { pools, addons, .. } = adoption;
    let mut out = std::io::stderr().lock();
    writeln!(
        out,
        "Adopting gitfleet cluster {} adds the tags {OWNER_KEY}=gitfleet, {FLEET_KEY}={fleet}, {CLUSTER_KEY}={} to:",
        rendered.name, rendered.name
    )?;
    writeln!(out, "  cluster {}", rendered.name)?;
    for p in &pools {
        writeln!(out, "  node pool {p}")?;
    }
    for a in &addons {
        writeln!(out, "  add-on {a}")?;
    }
    writeln!(
        out,
        "No other tag or setting changes. Afterwards `gitfleet up` manages them, and `gitfleet down` can delete them."
    )?;
    drop(out);
    if !args.yes && !super::up::confirm(&format!("adopt cluster {}?", rendered.name))? {
        bail!("not confirmed; nothing was changed");
    }
    let progress = super::progress::for_cluster(&rendered.name);
    runtime.block_on(observation.provider.adopt(
        rendered,
        fleet,
        &pools,
        &addons,
        progress.as_ref(),
    ))?;
    println!(
        "adopted cluster {} ({} node pool(s), {} add-on(s))",
        rendered.name,
        pools.len(),
        addons.len()
    );
    Ok(EXIT_OK)
}
