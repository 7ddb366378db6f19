//! Command-line interface: one file per subcommand; each is thin and formats what the library
//! returns. Exit codes follow Terraform's `-detailed-exitcode`: 0 ok / no changes, 1 error,
//! 2 changes present (plan).

mod adopt;
mod agent;
mod apply;
mod batch;
mod build;
mod completion;
mod down;
mod encrypt;
mod init;
mod kubeconfig;
mod plan;
mod progress;
mod render;
mod schema;
#[cfg(feature = "aws")]
mod token;
mod up;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

pub use agent::LogFormat;
use gitfleet::diagnostic::Diagnostics;
use gitfleet::fleet::selector::Selector;
use gitfleet::pipeline::PipelineError;

pub const EXIT_OK: u8 = 0;
pub const EXIT_ERROR: u8 = 1;
pub const EXIT_CHANGES: u8 = 2;

#[derive(Debug, Parser)]
#[command(
    name = "gitfleet",
    version,
    about = "Kubernetes clusters from Git: define, render, plan and bootstrap a fleet",
    long_about = "gitfleet turns cluster definitions kept in Git (fleet.yaml + clusters/<name>/cluster.yaml) \
into cloud API calls for EKS, AKS, kind or an existing cluster, installs an in-cluster reconciler and \
seeds it with the same repository.\n\nExit codes: 0 success (plan: no changes), 1 error, 2 plan has changes.",
    propagate_version = true
)]
pub struct Cli {
    /// Log debug output to stderr (or set GITFLEET_LOG, e.g. GITFLEET_LOG=gitfleet=trace).
    #[arg(short, long, global = true)]
    pub verbose: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a new fleet repository: fleet.yaml, a kind cluster and a sample workload.
    Init(init::InitArgs),
    /// Check every definition; print all problems with file:line:column.
    Validate(validate::ValidateArgs),
    /// Write the provider request bodies and reconciler manifests of each cluster.
    Render(render::RenderArgs),
    /// Show the steps `up` would take for each cluster (exit 2 when there are changes).
    Plan(plan::PlanArgs),
    /// Create or update the selected clusters' cloud resources, after showing the plan.
    Up(up::UpArgs),
    /// Delete clusters gitfleet created (never anything it does not own).
    Down(down::DownArgs),
    /// Hand a cluster gitfleet did not create over to it: show what gets its ownership tags, ask, tag.
    Adopt(adopt::AdoptArgs),
    /// Make a cluster match manifests: server-side apply in order, inventory, prune, health.
    Apply(apply::ApplyArgs),
    /// Show what `apply` would change, per object (exit 2 when there are changes).
    Diff(apply::DiffArgs),
    /// Print the objects a path builds into (what `apply` and the agent would send).
    Build(build::BuildArgs),
    /// Encrypt a file with SOPS for the age recipients `.sops.yaml` names for its path.
    Encrypt(encrypt::EncryptArgs),
    /// Run the in-cluster reconciler: fetch GitSources, apply Syncs, prune, heal drift.
    Agent(agent::AgentArgs),
    /// GitSources and Syncs of a cluster: revision, readiness, message (exit 1 if any is not Ready).
    Status(agent::StatusArgs),
    /// Ask the agent to reconcile a Sync or GitSource now, and wait for the result.
    Reconcile(agent::ReconcileArgs),
    /// Stop the agent from applying a Sync.
    Suspend {
        #[command(subcommand)]
        target: agent::SuspendTarget,
    },
    /// Let the agent apply a suspended Sync again.
    Resume {
        #[command(subcommand)]
        target: agent::SuspendTarget,
    },
    /// Remove only the reconciler from clusters (seed first, then its own objects).
    Uninstall(down::UninstallArgs),
    /// Print or write (mode 0600) a kubeconfig for a provisioned cluster.
    Kubeconfig(kubeconfig::KubeconfigArgs),
    /// Print a short-lived cluster token (a kubectl exec credential plugin).
    #[cfg(feature = "aws")]
    Token(token::TokenArgs),
    /// Print the JSON Schema of fleet.yaml and cluster.yaml (for editors).
    Schema(schema::SchemaArgs),
    /// Print a shell completion script.
    Completion(completion::CompletionArgs),
}

/// Where the fleet is.
#[derive(Debug, Args)]
pub struct FleetArgs {
    /// Directory holding fleet.yaml.
    #[arg(
        long,
        short = 'f',
        default_value = ".",
        env = "GITFLEET_FLEET",
        value_name = "DIR"
    )]
    pub fleet: PathBuf,
}

/// Which clusters a command works on.
#[derive(Debug, Args)]
pub struct SelectArgs {
    /// Only this cluster (repeatable).
    #[arg(long = "cluster", short = 'c', value_name = "NAME")]
    pub clusters: Vec<String>,
    /// Only clusters whose labels match, e.g. 'env=prod,region in (eu,us)'.
    #[arg(long, short = 'l', value_name = "SELECTOR", value_parser = parse_selector)]
    pub selector: Option<Selector>,
}

/// The runtime of commands that talk to a cluster (two workers: the machine class has 2 cores).
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// `GITFLEET_POLL_INTERVAL` (e.g. `2s`): how often long waits poll; for emulators and tests.
fn poll_interval() -> Option<std::time::Duration> {
    std::env::var("GITFLEET_POLL_INTERVAL")
        .ok()
        .and_then(|v| gitfleet::fleet::validate::parse_duration(&v))
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    use gitfleet::fleet::validate::{DurationError, read_duration};
    read_duration(s).map_err(|e| match e {
        DurationError::Invalid => format!("invalid duration \"{s}\" (write e.g. 30s, 5m, 1h30m)"),
        DurationError::TooLong => format!("duration \"{s}\" is too long (at most 8760h, a year)"),
    })
}

fn parse_selector(s: &str) -> Result<Selector, String> {
    Selector::parse(s).map_err(|e| e.to_string())
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    #[default]
    Text,
    Json,
}

pub fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let code = match cli.command {
        Command::Init(a) => init::run(a)?,
        Command::Validate(a) => validate::run(a)?,
        Command::Render(a) => render::run(a)?,
        Command::Plan(a) => plan::run(a)?,
        Command::Up(a) => up::run(a)?,
        Command::Down(a) => down::run(a)?,
        Command::Adopt(a) => adopt::run(a)?,
        Command::Apply(a) => apply::run_apply(a)?,
        Command::Diff(a) => apply::run_diff(a)?,
        Command::Build(a) => build::run(a)?,
        Command::Encrypt(a) => encrypt::run(a)?,
        Command::Agent(a) => agent::run_agent(a)?,
        Command::Status(a) => agent::run_status(a)?,
        Command::Reconcile(a) => agent::run_reconcile(a)?,
        Command::Suspend { target } => agent::run_suspend(target, true)?,
        Command::Resume { target } => agent::run_suspend(target, false)?,
        Command::Uninstall(a) => down::run_uninstall(a)?,
        Command::Kubeconfig(a) => kubeconfig::run(a)?,
        #[cfg(feature = "aws")]
        Command::Token(a) => token::run(a)?,
        Command::Schema(a) => schema::run(a)?,
        Command::Completion(a) => completion::run(a)?,
    };
    Ok(code.into())
}

/// Prints diagnostics for humans on stderr.
pub fn print_diagnostics(d: &Diagnostics) {
    eprintln!("{}", gitfleet::decrypt::redact(&d.to_string()));
}

/// What `-o json` prints when the fleet is invalid: every problem, nothing else ran.
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct InvalidReport {
    /// Always `false`.
    pub valid: bool,
    /// Every problem, each with its file, line and column.
    pub diagnostics: Vec<gitfleet::diagnostic::Diagnostic>,
}

/// What `-o json` prints when a valid fleet cannot be worked on (e.g. an unknown cluster name).
#[derive(Debug, serde::Serialize, schemars::JsonSchema)]
pub struct ErrorReport {
    pub error: String,
}

/// Reports a pipeline failure in the chosen format; returns the exit code.
pub fn report_failure(e: &PipelineError, format: OutputFormat) -> u8 {
    match (e.diagnostics(), format) {
        (Some(d), OutputFormat::Json) => {
            let out = InvalidReport {
                valid: false,
                diagnostics: d.0.clone(),
            };
            println!("{}", serde_json::to_string_pretty(&out).expect("json"));
        }
        (Some(d), OutputFormat::Text) => print_diagnostics(d),
        (None, OutputFormat::Json) => {
            let out = ErrorReport {
                error: format!("{e:#}"),
            };
            println!("{}", serde_json::to_string(&out).expect("json"));
        }
        (None, OutputFormat::Text) => eprintln!("error: {e:#}"),
    }
    EXIT_ERROR
}

/// Prints warnings (never fatal) on stderr.
pub fn print_warnings(w: &[gitfleet::diagnostic::Diagnostic]) {
    for d in w {
        eprintln!("{d}");
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every argument of every (sub)command, as `path --flag`, that has no help text.
    fn undocumented(cmd: &clap::Command, path: &str, out: &mut Vec<String>) {
        for arg in cmd.get_arguments() {
            let id = arg.get_id().as_str();
            if id == "help" || id == "version" {
                continue;
            }
            let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
            if help.trim().is_empty() {
                out.push(format!("{path} {id}"));
            }
        }
        for sub in cmd.get_subcommands() {
            undocumented(sub, &format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_of_every_subcommand_has_a_description() {
        let mut missing = Vec::new();
        undocumented(&super::Cli::command(), "gitfleet", &mut missing);
        assert!(missing.is_empty(), "arguments without help: {missing:#?}");
    }
}
