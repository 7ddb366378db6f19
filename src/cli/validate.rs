//! `gitfleet validate`: check every definition and every template, report all problems.

use clap::Args;

use super::{FleetArgs, OutputFormat, report_failure};
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    /// Output format.
    #[arg(long, short, value_enum, default_value_t)]
    pub output: OutputFormat,
}

use std::io::Write as _;

pub fn run(args: ValidateArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let source = Source::new(&args.fleet.fleet);
    // Rendering is part of validation: a template mistake is as fatal as a definition mistake.
    match gitfleet::pipeline::prepare(&source, &[], None) {
        Err(e) => Ok(report_failure(&e, args.output)),
        Ok(p) => {
            match args.output {
                OutputFormat::Json => {
                    let doc = serde_json::json!({
                        "valid": true,
                        "clusters": p.fleet.clusters.iter().map(|c| serde_json::json!({
                            "name": c.name, "provider": c.provider, "file": c.file,
                        })).collect::<Vec<_>>(),
                        "diagnostics": p.fleet.warnings,
                    });
                    writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
                }
                OutputFormat::Text => {
                    super::print_warnings(&p.fleet.warnings);
                    let n = p.fleet.clusters.len();
                    writeln!(
                        out,
                        "fleet \"{}\" is valid: {n} cluster{} ({})",
                        p.fleet.fleet.metadata.name,
                        if n == 1 { "" } else { "s" },
                        p.fleet
                            .clusters
                            .iter()
                            .map(|c| format!("{} [{}]", c.name, c.provider))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )?;
                }
            }
            Ok(super::EXIT_OK)
        }
    }
}
