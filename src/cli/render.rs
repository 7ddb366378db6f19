//! `gitfleet render`: write each cluster's provider requests and reconciler manifests.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{FleetArgs, OutputFormat, SelectArgs, report_failure};
use gitfleet::fleet::DirSource;

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Write files under DIR/<cluster>/... instead of printing a YAML stream.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

use std::io::Write as _;

pub fn run(args: RenderArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let source = DirSource::new(&args.fleet.fleet);
    let prepared = match gitfleet::pipeline::prepare(
        &source,
        &args.select.clusters,
        args.select.selector.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, OutputFormat::Text)),
    };
    super::print_warnings(&prepared.fleet.warnings);
    if prepared.rendered.is_empty() {
        eprintln!("no cluster matches the selection");
    }
    for cluster in &prepared.rendered {
        for (path, text) in cluster.files() {
            match &args.out {
                Some(dir) => {
                    let full = dir.join(&path);
                    if let Some(parent) = full.parent() {
                        std::fs::create_dir_all(parent)
                            .with_context(|| format!("creating {}", parent.display()))?;
                    }
                    std::fs::write(&full, &text)
                        .with_context(|| format!("writing {}", full.display()))?;
                    writeln!(out, "wrote {}", full.display())?;
                }
                None => {
                    writeln!(out, "---\n# Source: {path}")?;
                    write!(out, "{text}")?;
                }
            }
        }
    }
    Ok(super::EXIT_OK)
}
