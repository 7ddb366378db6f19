//! What `up` and `down` share: which clusters (names, `-c`, `-l`), how many at once
//! (`--parallel`), where kubeconfigs live, and the summary at the end — a table, or one JSON
//! document (`-o json`) for CI.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, ValueEnum};
use serde::Serialize;

use super::{OutputFormat, SelectArgs};
pub use gitfleet::bootstrap::rollout::Report;
use gitfleet::fleet::types::ProviderKind;

/// Which clusters, how many at once, and how the result is printed.
#[derive(Debug, Args)]
pub struct BatchArgs {
    #[command(flatten)]
    pub select: SelectArgs,
    /// Cluster names (same as -c).
    #[arg(value_name = "CLUSTER")]
    pub names: Vec<String>,
    /// Clusters worked on at once (Terraform's default parallelism).
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub parallel: usize,
    /// Output format of the result (json: one document for CI; progress stays on stderr).
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

impl BatchArgs {
    /// The clusters named on the command line, positional and `-c` alike.
    pub fn names(&self) -> Vec<String> {
        let mut names = self.select.clusters.clone();
        names.extend(self.names.iter().cloned());
        names
    }

    /// Whether anything selects clusters (names or a selector).
    pub fn selects(&self) -> bool {
        !self.select.clusters.is_empty() || !self.names.is_empty() || self.select.selector.is_some()
    }
}

/// How the exec plugin of a written kubeconfig names gitfleet.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum ExecPath {
    // No doc comments here: clap would show them as a long list under every `--help`; the
    // flags' own help says what each value does.
    #[default]
    Path,
    Absolute,
}

impl From<ExecPath> for gitfleet::kubeconfig::ExecCommand {
    fn from(e: ExecPath) -> Self {
        match e {
            ExecPath::Path => Self::Path,
            ExecPath::Absolute => Self::Absolute,
        }
    }
}

/// `~/.kube/gitfleet`: where `up` writes cluster kubeconfigs and `down` removes them.
pub fn default_kubeconfig_dir() -> PathBuf {
    std::env::var_os("HOME")
        .map(|h| PathBuf::from(h).join(".kube").join("gitfleet"))
        .unwrap_or_else(|| PathBuf::from(".kube-gitfleet"))
}

/// One cluster's line in the summary.
pub trait Outcome: Serialize {
    fn cluster(&self) -> &str;
    fn provider(&self) -> ProviderKind;
    /// `ok`, `failed`, or a word of the command's own (`refused`).
    fn result(&self) -> &str;
    fn ok(&self) -> bool;
    fn detail(&self) -> String;
}

/// Prints the summary on stdout, sorted by cluster: a table, or the [`Report`] itself.
/// Returns whether every cluster is ok.
pub fn report<R: Outcome>(report: Report<R>, format: OutputFormat) -> anyhow::Result<bool> {
    let Report {
        clusters: mut results,
        ..
    } = report;
    results.sort_by(|a, b| a.cluster().cmp(b.cluster()));
    let ok = results.iter().all(Outcome::ok);
    let mut out = std::io::stdout().lock();
    match format {
        OutputFormat::Json => {
            let doc = Report {
                ok,
                clusters: results,
            };
            writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
            return Ok(ok);
        }
        OutputFormat::Text => {
            writeln!(
                out,
                "{:<20} {:<9} {:<7} DETAIL",
                "CLUSTER", "PROVIDER", "RESULT"
            )?;
            for r in &results {
                writeln!(
                    out,
                    "{:<20} {:<9} {:<7} {}",
                    r.cluster(),
                    r.provider().to_string(),
                    r.result(),
                    r.detail()
                )?;
            }
        }
    }
    Ok(ok)
}
