//! `gitfleet up`: for each selected cluster — plan and show it, confirm, provision through its
//! provider, get credentials, install the reconciler, give it read access to the repository, seed
//! it, commit its manifests into the repository, and optionally wait until it is Ready. Clusters
//! run concurrently (`--parallel`); one failure does not stop the others; a summary at the end.

use std::io::{IsTerminal, Write as _};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::bail;
use clap::Args;
use serde::Serialize;

use super::batch::{BatchArgs, ExecPath, Outcome};
use super::{EXIT_ERROR, EXIT_OK, FleetArgs, OutputFormat, report_failure};
use gitfleet::bootstrap::{self, BootstrapOptions, BootstrapReport, GitAuth};
use gitfleet::fleet::types::ProviderKind;
use gitfleet::pipeline::{
    KubeconfigFile, Prepared, cluster_outputs, connect_cluster, prepare, write_kubeconfig,
};
use gitfleet::plan::{self, ClusterPlan};
use gitfleet::provider::{AnyProvider, ProviderOptions};
use gitfleet::render::RenderedCluster;
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

/// One cluster's result, as `-o json` prints it.
#[derive(Debug, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterResult {
    cluster: String,
    provider: ProviderKind,
    /// Everything planned for the cluster was carried out.
    ok: bool,
    /// Cloud steps carried out, as the plan shows them.
    provisioned: Vec<String>,
    /// The kubeconfig written for the cluster.
    #[serde(skip_serializing_if = "Option::is_none")]
    kubeconfig: Option<PathBuf>,
    /// What installing and seeding the reconciler did (absent with --no-install).
    #[serde(skip_serializing_if = "Option::is_none")]
    bootstrap: Option<BootstrapReport>,
    /// Why the cluster failed (one line).
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    let auth = git_auth(&args)?;
    let kubeconfig_dir = args
        .kubeconfig_dir
        .clone()
        .unwrap_or_else(super::batch::default_kubeconfig_dir);
    let options = ProviderOptions {
        offline: false,
        aws_endpoint_url: args.aws_endpoint_url.clone(),
        azure_endpoint: args.azure_endpoint.clone(),
        wait_timeout: args.timeout,
        poll_interval: super::poll_interval(),
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(run_all(&args, &prepared, &options, auth, &kubeconfig_dir))
}

/// What phase one found for a cluster.
struct Planned<'a> {
    rendered: &'a RenderedCluster,
    provider: Option<AnyProvider>,
    plan: Result<ClusterPlan, String>,
}

async fn run_all(
    args: &UpArgs,
    prepared: &Prepared,
    options: &ProviderOptions,
    auth: GitAuth,
    kubeconfig_dir: &Path,
) -> anyhow::Result<u8> {
    let fleet_dir = args.fleet.fleet.clone();
    // Phase one: observe and plan every cluster (concurrently), show the plans, confirm once.
    let auth_ref = &auth;
    let mut planned: Vec<Planned<'_>> = args
        .batch
        .run_each(prepared.rendered.iter(), |rendered| {
            let fleet_dir = fleet_dir.clone();
            async move {
                plan_one(
                    prepared,
                    rendered,
                    options,
                    &fleet_dir,
                    args.no_install,
                    auth_ref,
                )
                .await
            }
        })
        .await;
    planned.sort_by(|a, b| a.rendered.name.cmp(&b.rendered.name));
    let mut total = 0;
    for p in &planned {
        match &p.plan {
            Ok(plan) if plan.steps.is_empty() => {
                eprintln!("{} [{}]: nothing to do", plan.cluster, plan.provider)
            }
            Ok(plan) => {
                eprintln!("{} [{}]:", plan.cluster, plan.provider);
                for (i, s) in plan.steps.iter().enumerate() {
                    eprintln!("  {}. {s}", i + 1);
                }
                total += plan.steps.iter().filter(|s| s.target.is_provider()).count();
            }
            Err(e) => eprintln!("{}: cannot plan: {e}", p.rendered.name),
        }
    }
    if total > 0 && !args.yes && !confirm(&confirmation(total, args.no_install, args.no_commit))? {
        bail!("not confirmed; nothing was changed");
    }

    // Phase two: carry out, concurrently.
    let mut results: Vec<ClusterResult> = args
        .batch
        .run_each(planned, |p| {
            let auth = auth.clone();
            let fleet_dir = fleet_dir.clone();
            async move { execute(args, prepared, p, auth, &fleet_dir, kubeconfig_dir).await }
        })
        .await;
    results.sort_by(|a, b| a.cluster.cmp(&b.cluster));
    if args.batch.output == OutputFormat::Text {
        let mut out = std::io::stdout().lock();
        for r in &results {
            if let Some(b) = &r.bootstrap
                && let Some(key) = &b.deploy_key
            {
                writeln!(
                    out,
                    "{}: register this deploy key (read access) with the repository:\n  {key}",
                    r.cluster
                )?;
            }
        }
    }
    let all_ok = super::batch::report(results, args.batch.output)?;
    Ok(if all_ok { EXIT_OK } else { EXIT_ERROR })
}

async fn plan_one<'a>(
    prepared: &Prepared,
    rendered: &'a RenderedCluster,
    options: &ProviderOptions,
    fleet_dir: &Path,
    no_install: bool,
    auth: &GitAuth,
) -> Planned<'a> {
    let cluster = prepared
        .fleet
        .clusters
        .iter()
        .find(|c| c.name == rendered.name)
        .expect("rendered clusters come from the fleet");
    let desired = plan::desired_state(&prepared.fleet.fleet, cluster, rendered);
    let provider = match AnyProvider::connect(rendered, options).await {
        Ok(p) => p,
        Err(e) => {
            return Planned {
                rendered,
                provider: None,
                plan: Err(e.to_string()),
            };
        }
    };
    let mut observed = match provider.observe(&desired, rendered).await {
        Ok(o) => o,
        Err(e) => {
            return Planned {
                rendered,
                provider: Some(provider),
                plan: Err(e.to_string()),
            };
        }
    };
    let reachable = observed.control_plane.is_some() || rendered.provider == ProviderKind::Existing;
    if !no_install && reachable {
        // Observing writes no kubeconfig: only carrying out the plan does.
        match connect_cluster(&provider, rendered, fleet_dir, None).await {
            Ok((conn, _)) => {
                match bootstrap::observe(&conn, &prepared.fleet.fleet, &rendered.name).await {
                    Ok(r) => {
                        observed.reconciler = r;
                        let outputs = cluster_outputs(&provider, &conn.server);
                        observed.manifests_committed = bootstrap::committed(
                            &prepared.fleet.fleet,
                            rendered,
                            &desired.self_manifests_path,
                            &outputs,
                            auth,
                        )
                        .await;
                    }
                    Err(e) if rendered.provider == ProviderKind::Existing => {
                        return Planned {
                            rendered,
                            provider: Some(provider),
                            plan: Err(e.to_string()),
                        };
                    }
                    Err(_) => {}
                }
            }
            Err(e) if rendered.provider == ProviderKind::Existing => {
                return Planned {
                    rendered,
                    provider: Some(provider),
                    plan: Err(e),
                };
            }
            Err(_) => {}
        }
    }
    let mut plan = plan::plan_cluster(&desired, &observed).map_err(|e| e.to_string());
    if let Ok(p) = &mut plan
        && no_install
    {
        p.steps.retain(|s| s.target.is_provider());
    }
    Planned {
        rendered,
        provider: Some(provider),
        plan,
    }
}

async fn execute(
    args: &UpArgs,
    prepared: &Prepared,
    p: Planned<'_>,
    auth: GitAuth,
    fleet_dir: &Path,
    kubeconfig_dir: &Path,
) -> ClusterResult {
    let rendered = p.rendered;
    let mut result = ClusterResult {
        cluster: rendered.name.clone(),
        provider: rendered.provider,
        ok: false,
        provisioned: Vec::new(),
        kubeconfig: None,
        bootstrap: None,
        error: None,
    };
    let (provider, plan) = match (p.provider, p.plan) {
        (Some(provider), Ok(plan)) => (provider, plan),
        (_, Err(e)) => {
            result.error = Some(e);
            return result;
        }
        (None, Ok(_)) => {
            result.error = Some("no provider".into());
            return result;
        }
    };
    let progress = super::progress::for_cluster(&rendered.name);
    for step in plan.steps.iter().filter(|s| s.target.is_provider()) {
        eprintln!("[{}] {step} ...", rendered.name);
        if let Err(e) = provider.apply(step, rendered, progress.as_ref()).await {
            result.error = Some(format!("{step}: {e}"));
            return result;
        }
        eprintln!("[{}] {step}: done", rendered.name);
        result.provisioned.push(step.to_string());
    }
    let fleet = &prepared.fleet.fleet;
    let kubeconfig_file = KubeconfigFile {
        dir: kubeconfig_dir,
        exec: args.kubeconfig_exec.into(),
    };
    if args.no_install {
        // Provisioning only: a kubeconfig (and the describe call it costs) only when asked.
        if args.write_kubeconfig && rendered.provider != ProviderKind::Existing {
            match write_kubeconfig(&provider, rendered, kubeconfig_file).await {
                Ok(file) => result.kubeconfig = Some(file),
                Err(e) => {
                    result.error = Some(format!("cannot get the kubeconfig: {e}"));
                    return result;
                }
            }
        }
        if let (Some(image), AnyProvider::Kind(kind)) = (&args.kind_load_image, &provider)
            && let Err(e) = kind.load_image(&rendered.name, image)
        {
            result.error = Some(e.to_string());
            return result;
        }
        result.ok = true;
        return result;
    }
    let conn = match connect_cluster(&provider, rendered, fleet_dir, Some(kubeconfig_file)).await {
        Ok((conn, file)) => {
            result.kubeconfig = file;
            conn
        }
        Err(e) => {
            result.error = Some(format!("cannot reach the cluster: {e}"));
            return result;
        }
    };
    if let (Some(image), AnyProvider::Kind(kind)) = (&args.kind_load_image, &provider)
        && let Err(e) = kind.load_image(&rendered.name, image)
    {
        result.error = Some(e.to_string());
        return result;
    }
    let cluster = prepared
        .fleet
        .clusters
        .iter()
        .find(|c| c.name == rendered.name)
        .expect("cluster");
    let desired = plan::desired_state(fleet, cluster, rendered);
    let outputs = cluster_outputs(&provider, &conn.server);
    let work = match tempfile::tempdir() {
        Ok(w) => w,
        Err(e) => {
            result.error = Some(e.to_string());
            return result;
        }
    };
    let opts = BootstrapOptions {
        auth,
        commit: !args.no_commit,
        wait: args.wait,
        timeout: args.timeout.unwrap_or(Duration::from_secs(300)),
        poll: super::poll_interval().unwrap_or(Duration::from_secs(2)),
        deploy_key_file: Some(fleet_dir.join(format!("{}-deploy-key.pub", rendered.name))),
        outputs,
        work_dir: work.path().join("repo"),
    };
    match bootstrap::bootstrap(
        &conn,
        fleet,
        rendered,
        &desired.self_manifests_path,
        &opts,
        progress.as_ref(),
    )
    .await
    {
        Ok(report) => {
            result.bootstrap = Some(report);
            result.ok = true;
        }
        Err(e) => result.error = Some(e.to_string()),
    }
    result
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
