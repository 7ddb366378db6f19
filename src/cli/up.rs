//! `gitfleet up`: plan each selected cluster against its provider, confirm, and carry out the
//! provider's steps (create, scale, upgrade, tag) with progress.

use std::io::{IsTerminal, Write as _};

use anyhow::bail;
use clap::Args;

use super::{EXIT_ERROR, EXIT_OK, FleetArgs, SelectArgs, report_failure};
use gitfleet::fleet::DirSource;
use gitfleet::pipeline::prepare;
use gitfleet::plan;
use gitfleet::provider::{AnyProvider, ProviderOptions};

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Apply without asking.
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

/// Asks on a terminal; refuses (never hangs) when stdin is not one.
pub fn confirm(question: &str) -> anyhow::Result<bool> {
    if !std::io::stdin().is_terminal() {
        bail!("{question} needs confirmation, but stdin is not a terminal: pass --yes to proceed");
    }
    eprint!("{question} [y/N] ");
    std::io::stderr().flush()?;
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes"))
}

pub fn run(args: UpArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let source = DirSource::new(&args.fleet.fleet);
    let prepared = match prepare(
        &source,
        &args.select.clusters,
        args.select.selector.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, super::OutputFormat::Text)),
    };
    let options = ProviderOptions {
        offline: false,
        aws_endpoint_url: args.aws_endpoint_url.clone(),
        azure_endpoint: args.azure_endpoint.clone(),
        wait_timeout: args.timeout,
        poll_interval: super::poll_interval(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut failed = 0;
    for rendered in &prepared.rendered {
        let cluster = prepared
            .fleet
            .clusters
            .iter()
            .find(|c| c.name == rendered.name)
            .expect("rendered clusters come from the fleet");
        let desired = plan::desired_state(&prepared.fleet.fleet, cluster, rendered);
        let result: anyhow::Result<()> = runtime.block_on(async {
            let provider = AnyProvider::connect(rendered, &options).await?;
            let observed = provider.observe(&desired, rendered).await?;
            let plan = plan::plan_cluster(&desired, &observed)?;
            let cloud: Vec<_> = plan
                .steps
                .iter()
                .filter(|s| s.target.is_provider())
                .collect();
            if cloud.is_empty() {
                writeln!(
                    out,
                    "{} [{}]: infrastructure up to date",
                    plan.cluster, plan.provider
                )?;
                return Ok(());
            }
            writeln!(out, "{} [{}]:", plan.cluster, plan.provider)?;
            for (i, s) in cloud.iter().enumerate() {
                writeln!(out, "  {}. {s}", i + 1)?;
            }
            out.flush()?;
            if !args.yes
                && !confirm(&format!(
                    "apply {} step(s) to {}?",
                    cloud.len(),
                    plan.cluster
                ))?
            {
                bail!("not confirmed; nothing was changed");
            }
            let progress = super::progress::for_cluster(&plan.cluster);
            for step in cloud {
                writeln!(out, "  {step} ...")?;
                out.flush()?;
                provider.apply(step, rendered, progress.as_ref()).await?;
                writeln!(out, "  {step}: done")?;
            }
            Ok(())
        });
        if let Err(e) = result {
            failed += 1;
            eprintln!("{}: error: {e:#}", rendered.name);
        }
    }
    if prepared
        .rendered
        .iter()
        .any(|r| r.provider != gitfleet::fleet::types::ProviderKind::Existing)
    {
        writeln!(
            out,
            "\nthe reconciler install, seed and self-manifest commit steps of `plan` are not carried out by this build"
        )?;
    }
    Ok(if failed > 0 { EXIT_ERROR } else { EXIT_OK })
}
