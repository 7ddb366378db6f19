//! `gitfleet up`: for each selected cluster — plan and show it, confirm, provision through its
//! provider, get credentials, install the reconciler, give it read access to the repository, seed
//! it, commit its manifests into the repository, and optionally wait until it is Ready. Clusters
//! run concurrently (`--parallel`); one failure does not stop the others; a summary at the end.
//! The orchestration itself is a library value: `gitfleet::bootstrap::rollout`; this command
//! parses flags, prints the plan, confirms, and formats the report.

use std::io::{IsTerminal, Write as _};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use clap::Args;

use super::batch::{BatchArgs, ExecPath, Outcome};
use super::{EXIT_ERROR, EXIT_OK, FleetArgs, OutputFormat, report_failure};
use gitfleet::bootstrap::GitAuth;
use gitfleet::bootstrap::rollout::{self, ClusterResult, UpOptions};
use gitfleet::fleet::types::ProviderKind;
use gitfleet::pipeline::prepare;
use gitfleet::provider::ProviderOptions;
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Apply without asking.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Provision only: do not install or seed the reconciler.
    #[arg(long)]
    pub no_install: bool,
    /// Do not commit the reconciler's manifests into the repository (implied by --no-install).
    #[arg(long)]
    pub no_commit: bool,
    /// Wait until each cluster's Sync is Ready at the pushed revision.
    #[arg(long)]
    pub wait: bool,
    /// The reconciler reads the repository with this SSH private key.
    #[arg(long, value_name = "FILE")]
    pub ssh_key_file: Option<PathBuf>,
    /// known_hosts lines of the Git host (with --ssh-key-file or --generate-deploy-key).
    #[arg(long, value_name = "FILE")]
    pub known_hosts_file: Option<PathBuf>,
    /// The reconciler reads the repository over HTTPS with the token in this environment variable.
    #[arg(long, value_name = "VAR")]
    pub https_token_env: Option<String>,
    /// User name for --https-token-env.
    #[arg(long, default_value = "git", value_name = "NAME")]
    pub https_username: String,
    /// Generate an ed25519 deploy key (kept on re-runs); its public half is printed and written
    /// to `<cluster>-deploy-key.pub` for you to register with the repository.
    #[arg(long)]
    pub generate_deploy_key: bool,
    /// Store this age identity file as each cluster's SOPS decryption key (the Secret
    /// gitfleet-sops-age, which the Sync decrypts with); a re-run changes nothing.
    #[arg(long, value_name = "FILE", conflicts_with = "generate_sops_key")]
    pub sops_age_key_file: Option<PathBuf>,
    /// Generate an age key per cluster (kept on re-runs) as its SOPS decryption key: the
    /// recipient is printed, written to `<cluster>-sops.pub` and added to `.sops.yaml` for the
    /// cluster's path in the commit; the identity stays in the cluster.
    #[arg(long)]
    pub generate_sops_key: bool,
    /// Where cluster kubeconfigs are written, as <DIR>/<cluster>.yaml (mode 0600; default
    /// ~/.kube/gitfleet). Written when installing, or with --write-kubeconfig; `down` removes them.
    #[arg(long, value_name = "DIR", env = "GITFLEET_KUBECONFIG_DIR")]
    pub kubeconfig_dir: Option<PathBuf>,
    /// With --no-install, still write each cluster's kubeconfig (or later: `gitfleet kubeconfig`).
    #[arg(long)]
    pub write_kubeconfig: bool,
    /// How a written kubeconfig's exec plugin calls gitfleet: `path` writes `command: gitfleet`
    /// (found on PATH, survives moving or upgrading it), `absolute` this binary's absolute path.
    #[arg(long, value_enum, value_name = "HOW", default_value_t = ExecPath::Path, env = "GITFLEET_KUBECONFIG_EXEC")]
    pub kubeconfig_exec: ExecPath,
    /// kind: load this locally built image (e.g. the agent's) into the cluster.
    #[arg(long, value_name = "IMAGE")]
    pub kind_load_image: Option<String>,
    /// Send AWS API calls to this endpoint (an emulator); AWS_ENDPOINT_URL works too.
    #[arg(long, value_name = "URL")]
    pub aws_endpoint_url: Option<String>,
    /// Azure Resource Manager endpoint (a stand-in or sovereign cloud).
    #[arg(long, value_name = "URL", env = "GITFLEET_AZURE_ENDPOINT")]
    pub azure_endpoint: Option<String>,
    /// Longest wait for one resource (cloud resource, CRD, Sync), e.g. 40m.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_duration)]
    pub timeout: Option<Duration>,
}

/// The question `up` asks before changing anything: what will happen, and nothing more.
fn confirmation(cloud_steps: usize, no_install: bool, no_commit: bool) -> String {
    match (no_install, no_commit) {
        (true, _) => format!("apply {cloud_steps} cloud step(s)?"),
        (false, true) => format!(
            "apply {cloud_steps} cloud step(s) and bootstrap the reconcilers (without committing their manifests)?"
        ),
        (false, false) => {
            format!("apply {cloud_steps} cloud step(s) and bootstrap the reconcilers?")
        }
    }
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

impl Outcome for ClusterResult {
    fn cluster(&self) -> &str {
        &self.cluster
    }

    fn provider(&self) -> ProviderKind {
        self.provider
    }

    fn result(&self) -> &str {
        if self.ok { "ok" } else { "failed" }
    }

    fn ok(&self) -> bool {
        self.ok
    }

    fn detail(&self) -> String {
        if let Some(e) = &self.error {
            return format!("FAILED: {e}");
        }
        let mut parts = Vec::new();
        if !self.provisioned.is_empty() {
            parts.push(format!("{} cloud step(s)", self.provisioned.len()));
        }
        if let Some(b) = &self.bootstrap {
            let n = |s: &gitfleet::kube::ChangeSet| {
                s.count(gitfleet::kube::Action::Created)
                    + s.count(gitfleet::kube::Action::Configured)
            };
            if n(&b.install) > 0 {
                parts.push(format!("reconciler: {} object(s) applied", n(&b.install)));
            }
            if b.credentials != "unchanged" {
                parts.push(format!("credentials {}", b.credentials));
            }
            if n(&b.seed) > 0 {
                parts.push(format!("seed: {} object(s) applied", n(&b.seed)));
            }
            if let Some(c) = &b.commit {
                parts.push(format!("committed {}", &c[..c.len().min(12)]));
            }
            if let Some(r) = &b.ready_revision {
                parts.push(format!("Ready at {}", &r[..r.len().min(12)]));
            }
        }
        if parts.is_empty() {
            "up to date (no change)".into()
        } else {
            parts.join(", ")
        }
    }
}

fn git_auth(args: &UpArgs) -> anyhow::Result<GitAuth> {
    let known_hosts = match &args.known_hosts_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?,
        ),
        None => None,
    };
    let chosen = [
        args.ssh_key_file.is_some(),
        args.https_token_env.is_some(),
        args.generate_deploy_key,
    ]
    .iter()
    .filter(|b| **b)
    .count();
    if chosen > 1 {
        bail!("choose one of --ssh-key-file, --https-token-env and --generate-deploy-key");
    }
    if let Some(f) = &args.ssh_key_file {
        let private_key = std::fs::read_to_string(f)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?;
        return Ok(GitAuth::SshKey {
            private_key,
            known_hosts,
        });
    }
    if let Some(var) = &args.https_token_env {
        let token = std::env::var(var)
            .map_err(|_| anyhow::anyhow!("--https-token-env {var}: the variable is not set"))?;
        return Ok(GitAuth::Https {
            username: args.https_username.clone(),
            token,
        });
    }
    if args.generate_deploy_key {
        return Ok(GitAuth::GenerateDeployKey { known_hosts });
    }
    Ok(GitAuth::None)
}

fn sops_key(args: &UpArgs) -> anyhow::Result<gitfleet::bootstrap::SopsKey> {
    use gitfleet::bootstrap::SopsKey;
    if let Some(f) = &args.sops_age_key_file {
        let text = gitfleet::source::read_user_file(f)?;
        // checked now, before any cluster is touched; the error never quotes the key
        gitfleet::decrypt::Keys::parse(&text)
            .map_err(|e| anyhow::anyhow!("--sops-age-key-file {}: {e}", f.display()))?;
        return Ok(SopsKey::Identity(text));
    }
    Ok(if args.generate_sops_key {
        SopsKey::Generate
    } else {
        SopsKey::Keep
    })
}

pub fn run(args: UpArgs) -> anyhow::Result<u8> {
    let source = Source::new(&args.fleet.fleet);
    let prepared = match prepare(
        &source,
        &args.batch.names(),
        args.batch.select.selector.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, args.batch.output)),
    };
    let options = UpOptions {
        provider: ProviderOptions {
            offline: false,
            aws_endpoint_url: args.aws_endpoint_url.clone(),
            azure_endpoint: args.azure_endpoint.clone(),
            wait_timeout: args.timeout,
            poll_interval: super::poll_interval(),
        },
        fleet_dir: args.fleet.fleet.clone(),
        parallel: args.batch.parallel,
        install: !args.no_install,
        commit: !args.no_commit,
        wait: args.wait,
        write_kubeconfig: args.write_kubeconfig,
        kubeconfig_dir: args
            .kubeconfig_dir
            .clone()
            .unwrap_or_else(super::batch::default_kubeconfig_dir),
        kubeconfig_exec: args.kubeconfig_exec.into(),
        kind_load_image: args.kind_load_image.clone(),
        timeout: args.timeout,
        auth: git_auth(&args)?,
        sops: sops_key(&args)?,
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    // Phase one: observe and plan every cluster (concurrently), show the plans, confirm once.
    let plan = runtime.block_on(rollout::plan_up(&prepared, &options));
    for c in &plan.clusters {
        match &c.plan {
            Ok(plan) if plan.steps.is_empty() => {
                eprintln!("{} [{}]: nothing to do", plan.cluster, plan.provider)
            }
            Ok(plan) => {
                eprintln!("{} [{}]:", plan.cluster, plan.provider);
                for (i, s) in plan.steps.iter().enumerate() {
                    eprintln!("  {}. {s}", i + 1);
                }
            }
            Err(e) => eprintln!("{}: cannot plan: {e}", c.rendered.name),
        }
    }
    let total = plan.cloud_steps();
    if total > 0 && !args.yes && !confirm(&confirmation(total, args.no_install, args.no_commit))? {
        bail!("not confirmed; nothing was changed");
    }

    // Phase two: carry out, concurrently.
    let report = runtime.block_on(rollout::execute_up(
        &prepared,
        plan,
        &options,
        &super::progress::Stderr,
    ));
    if args.batch.output == OutputFormat::Text {
        let mut out = std::io::stdout().lock();
        for r in &report.clusters {
            if let Some(b) = &r.bootstrap
                && let Some(key) = &b.deploy_key
            {
                writeln!(
                    out,
                    "{}: register this deploy key (read access) with the repository:\n  {key}",
                    r.cluster
                )?;
            }
            if args.generate_sops_key
                && let Some(b) = &r.bootstrap
                && let Some(recipient) = &b.sops_recipient
            {
                writeln!(
                    out,
                    "{}: SOPS files under the cluster's path are encrypted for (also in {}-sops.pub and .sops.yaml):\n  {recipient}",
                    r.cluster, r.cluster
                )?;
            }
        }
    }
    let all_ok = super::batch::report(report, args.batch.output)?;
    Ok(if all_ok { EXIT_OK } else { EXIT_ERROR })
}

#[cfg(test)]
mod tests {
    use super::confirmation;

    #[test]
    fn the_confirmation_says_what_will_happen() {
        assert_eq!(confirmation(3, true, false), "apply 3 cloud step(s)?");
        assert_eq!(confirmation(3, true, true), "apply 3 cloud step(s)?");
        assert_eq!(
            confirmation(2, false, false),
            "apply 2 cloud step(s) and bootstrap the reconcilers?"
        );
        assert!(confirmation(2, false, true).contains("without committing"));
    }
}
