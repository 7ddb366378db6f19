//! `gitfleet plan`: observe each selected cluster and print the steps `up` would take.

use clap::Args;

use super::{
    EXIT_CHANGES, EXIT_ERROR, EXIT_OK, FleetArgs, OutputFormat, SelectArgs, report_failure,
};
use gitfleet::pipeline::{ClusterOutcome, PlanReport, PlanSummary, plan_all, prepare};
use gitfleet::provider::ProviderOptions;
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
    /// Contact no cloud or cluster: plan as if nothing existed yet.
    #[arg(long)]
    pub offline: bool,
    /// Plan only the cloud resources, leaving the reconciler out (as `up --no-install` does).
    #[arg(long)]
    pub no_install: bool,
    /// Send AWS API calls to this endpoint (an emulator); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Azure Resource Manager endpoint (a stand-in or sovereign cloud).
    #[arg(long, value_name = "URL", env = "GITFLEET_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
}

use std::io::Write as _;

pub fn run(args: PlanArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(
        &source,
        &args.select.clusters,
        args.select.selector.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, args.output)),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut outcomes = runtime.block_on(plan_all(
        &prepared,
        &ProviderOptions {
            offline: args.offline,
            aws_endpoint_url: args.aws_endpoint_url.clone(),
            azure_endpoint: args.azure_endpoint.clone(),
            wait_timeout: None,
            poll_interval: super::poll_interval(),
        },
        &args.fleet.fleet,
        // --no-install leaves the reconciler out: its API server is not even contacted
        !args.no_install,
    ));

    if args.no_install {
        for o in &mut outcomes {
            if let ClusterOutcome::Planned(p) = o {
                p.steps.retain(|s| s.target.is_provider());
                p.unobserved = None;
            }
        }
    }
    // Honest exit codes: a live plan that had to assume part of a cluster is not a "no
    // changes" (0) nor a trustworthy "changes" (2).
    let unobserved = if args.offline {
        0
    } else {
        outcomes
            .iter()
            .filter(|o| matches!(o, ClusterOutcome::Planned(p) if p.has_assumptions()))
            .count()
    };
    let failed = outcomes
        .iter()
        .filter(|o| matches!(o, ClusterOutcome::Failed { .. }))
        .count();
    let changes: usize = outcomes
        .iter()
        .map(|o| match o {
            ClusterOutcome::Planned(p) => p.steps.len(),
            ClusterOutcome::Failed { .. } => 0,
        })
        .sum();
    let code = if failed > 0 || unobserved > 0 {
        EXIT_ERROR
    } else if changes > 0 {
        EXIT_CHANGES
    } else {
        EXIT_OK
    };

    match args.output {
        OutputFormat::Json => {
            let doc = PlanReport {
                fleet: prepared.fleet.fleet.metadata.name.clone(),
                offline: args.offline,
                summary: PlanSummary {
                    clusters: outcomes.len(),
                    steps: changes,
                    failed,
                    unobserved,
                },
                clusters: outcomes,
                diagnostics: prepared.fleet.warnings.clone(),
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        }
        OutputFormat::Text => {
            super::print_warnings(&prepared.fleet.warnings);
            if args.offline {
                writeln!(
                    out,
                    "offline plan: nothing was contacted; every resource is assumed absent\n"
                )?;
            }
            if outcomes.is_empty() {
                writeln!(out, "no cluster matches the selection")?;
            }
            for o in &outcomes {
                match o {
                    ClusterOutcome::Planned(p) if p.steps.is_empty() => {
                        writeln!(out, "{} [{}]: up to date", p.cluster, p.provider)?;
                    }
                    ClusterOutcome::Planned(p) => {
                        writeln!(
                            out,
                            "{} [{}]: {} step{}",
                            p.cluster,
                            p.provider,
                            p.steps.len(),
                            if p.steps.len() == 1 { "" } else { "s" }
                        )?;
                        for (i, s) in p.steps.iter().enumerate() {
                            let assumed = if !s.observed && !args.offline {
                                " (assumed: not observed)"
                            } else {
                                ""
                            };
                            writeln!(out, "  {}. {s}{assumed}", i + 1)?;
                        }
                        if let Some(why) = &p.unobserved {
                            writeln!(
                                out,
                                "  the reconciler could not be observed: {why}\n  (plan --no-install leaves it out)"
                            )?;
                        }
                    }
                    ClusterOutcome::Failed { cluster, error } => {
                        writeln!(out, "{cluster}: error: {error}")?;
                    }
                }
                writeln!(out)?;
            }
            writeln!(
                out,
                "Plan: {changes} step{} across {} cluster{}{}.",
                if changes == 1 { "" } else { "s" },
                outcomes.len(),
                if outcomes.len() == 1 { "" } else { "s" },
                match (failed, unobserved) {
                    (0, 0) => String::new(),
                    (f, 0) => format!(", {f} failed"),
                    (0, u) => format!(", {u} not fully observed"),
                    (f, u) => format!(", {f} failed, {u} not fully observed"),
                }
            )?;
        }
    }
    Ok(code)
}
