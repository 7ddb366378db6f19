//! `gitfleet agent` (the in-cluster reconciler) and the commands around it: `status`,
//! `reconcile`, `suspend`, `resume`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use clap::{Args, Subcommand, ValueEnum};
use kube::{Api, ResourceExt};
use serde_json::json;

use gitfleet::agent::types::{GitSource, Sync};
use gitfleet::agent::{self, AgentOptions, api_message, request_reconcile};
use gitfleet::kube::{self as engine, Connection};

use super::{EXIT_ERROR, EXIT_OK, OutputFormat, parse_duration};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

/// Where the cluster is (in a pod: the service account, when no kubeconfig is given).
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "FILE", env = "GITFLEET_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, Args)]
pub struct AgentArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// Where repositories are cached.
    #[arg(
        long,
        default_value = "/var/cache/gitfleet",
        value_name = "DIR",
        env = "GITFLEET_CACHE_DIR"
    )]
    pub cache_dir: PathBuf,
    /// Address of /metrics, /healthz, /readyz and /hook/{namespace}/{gitsource}.
    #[arg(long, default_value = "0.0.0.0:8080", value_name = "ADDR")]
    pub listen: SocketAddr,
    /// File holding the shared secret of push webhooks (or GITFLEET_WEBHOOK_SECRET); without one
    /// the receiver refuses every request.
    #[arg(long, value_name = "FILE")]
    pub webhook_secret_file: Option<PathBuf>,
    /// Elect a leader with a Lease in this namespace, so only one replica reconciles.
    #[arg(long, value_name = "NS")]
    pub leader_elect: Option<String>,
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    /// Print the CustomResourceDefinitions (GitSource, Sync) and exit.
    #[arg(long)]
    pub print_crds: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// Namespace of the GitSources and Syncs (default: all).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// A Sync.
    Sync,
    /// A GitSource.
    Source,
}

#[derive(Debug, Args)]
pub struct ReconcileArgs {
    #[command(flatten)]
    pub cluster: ClusterArgs,
    /// What to reconcile: a Sync or a GitSource.
    pub kind: Kind,
    /// Name of the Sync or GitSource.
    pub name: String,
    /// Namespace of the Sync or GitSource.
    #[arg(
        long,
        short = 'n',
        default_value = "gitfleet-system",
        value_name = "NS"
    )]
    pub namespace: String,
    /// How long to wait for the agent to handle the request.
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    pub timeout: Duration,
}

#[derive(Debug, Subcommand)]
pub enum SuspendTarget {
    /// A Sync.
    Sync {
        /// Name of the Sync.
        name: String,
        /// Namespace of the Sync.
        #[arg(
            long,
            short = 'n',
            default_value = "gitfleet-system",
            value_name = "NS"
        )]
        namespace: String,
        #[command(flatten)]
        cluster: ClusterArgs,
    },
}

async fn connect(c: &ClusterArgs) -> anyhow::Result<Connection> {
    engine::connect(c.kubeconfig.as_deref(), c.context.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))
}

pub fn run_agent(a: AgentArgs) -> anyhow::Result<u8> {
    if a.print_crds {
        print!("{}", agent::types::crds_yaml());
        return Ok(EXIT_OK);
    }
    let webhook_secret = match &a.webhook_secret_file {
        Some(f) => Some(
            std::fs::read_to_string(f)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", f.display()))?
                .trim()
                .to_string(),
        ),
        None => std::env::var("GITFLEET_WEBHOOK_SECRET")
            .ok()
            .filter(|s| !s.is_empty()),
    };
    let identity = std::env::var("POD_NAME")
        .ok()
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|h| h.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| format!("gitfleet-agent-{}", std::process::id()));
    let opts = AgentOptions {
        namespace: a.namespace.clone(),
        cache_dir: a.cache_dir.clone(),
        listen: a.listen,
        webhook_secret,
        leader_lease_namespace: a.leader_elect.clone(),
        identity,
        poll: super::poll_interval().unwrap_or(Duration::from_secs(2)),
    };
    agent::limit_malloc_arenas();
    super::runtime()?.block_on(async {
        let conn = connect(&a.cluster).await?;
        agent::run(conn, opts).await
    })?;
    Ok(EXIT_OK)
}

fn ready(
    conditions: &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition],
) -> (String, String) {
    conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.clone(), c.message.clone()))
        .unwrap_or_else(|| ("Unknown".into(), String::new()))
}

fn short(rev: Option<&str>) -> String {
    rev.map(|r| r.chars().take(12).collect())
        .unwrap_or_else(|| "-".into())
}

pub fn run_status(a: StatusArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let conn = connect(&a.cluster).await?;
        let (sources, syncs): (Api<GitSource>, Api<Sync>) = match &a.namespace {
            Some(ns) => (Api::namespaced(conn.client.clone(), ns), Api::namespaced(conn.client.clone(), ns)),
            None => (Api::all(conn.client.clone()), Api::all(conn.client.clone())),
        };
        let lp = kube::api::ListParams::default();
        let sources = sources.list(&lp).await.map_err(|e| anyhow::anyhow!("cannot list GitSources: {}", api_message(&e)))?;
        let syncs = syncs.list(&lp).await.map_err(|e| anyhow::anyhow!("cannot list Syncs: {}", api_message(&e)))?;
        let mut rows = Vec::new();
        let mut all_ready = true;
        for s in &sources.items {
            let st = s.status.clone().unwrap_or_default();
            let (r, msg) = ready(&st.conditions);
            all_ready &= r == "True";
            rows.push(json!({"kind": "GitSource", "namespace": s.namespace(), "name": s.name_any(),
                "revision": st.revision, "ready": r, "message": msg, "last": st.last_fetch_time, "suspended": s.spec.suspend}));
        }
        for s in &syncs.items {
            let st = s.status.clone().unwrap_or_default();
            let (r, msg) = ready(&st.conditions);
            all_ready &= r == "True";
            rows.push(json!({"kind": "Sync", "namespace": s.namespace(), "name": s.name_any(),
                "revision": st.last_applied_revision, "attempted": st.last_attempted_revision, "ready": r,
                "message": msg, "last": st.last_apply_time, "suspended": s.spec.suspend,
                // the hooks and waves of the last revision tried
                "hooks": st.history.first().map(|h| h.hooks.clone()).unwrap_or_default(),
                "waves": st.history.first().map(|h| h.waves.clone()).unwrap_or_default()}));
        }
        match a.output {
            OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
            OutputFormat::Text => {
                println!("{:<10} {:<16} {:<20} {:<13} {:<6} {:<21} MESSAGE", "KIND", "NAMESPACE", "NAME", "REVISION", "READY", "LAST");
                for r in &rows {
                    let s = |k: &str| r[k].as_str().unwrap_or("-").to_string();
                    let ready = if r["suspended"] == true { "Susp.".to_string() } else { s("ready") };
                    println!(
                        "{:<10} {:<16} {:<20} {:<13} {:<6} {:<21} {}",
                        s("kind"), s("namespace"), s("name"), short(r["revision"].as_str()), ready, s("last"), s("message")
                    );
                    if let Some(waves) = r["waves"].as_array().filter(|w| !w.is_empty()) {
                        let shown: Vec<String> = waves
                            .iter()
                            .map(|w| format!("{} ({} objects)", w["wave"], w["objects"]))
                            .collect();
                        println!("  waves: {}", shown.join(", "));
                    }
                    for h in r["hooks"].as_array().into_iter().flatten() {
                        let f = |k: &str| h[k].as_str().unwrap_or("-").to_string();
                        println!("  hook {}/{} {} {} in {}", f("kind"), f("name"), f("phase"), f("result"), f("duration"));
                    }
                }
                if rows.is_empty() {
                    println!("(no GitSources or Syncs)");
                }
            }
        }
        Ok(if all_ready { EXIT_OK } else { EXIT_ERROR })
    })
}

pub fn run_reconcile(a: ReconcileArgs) -> anyhow::Result<u8> {
    super::runtime()?.block_on(async {
        let conn = connect(&a.cluster).await?;
        let start = Instant::now();
        let poll = super::poll_interval().unwrap_or(Duration::from_secs(1));
        macro_rules! wait_for {
            ($api:expr, $handled:expr, $describe:expr) => {{
                let at = request_reconcile(&$api, &a.name)
                    .await
                    .map_err(|e| anyhow::anyhow!("cannot annotate {}: {}", a.name, api_message(&e)))?;
                eprintln!("► reconcile of {} {}/{} requested", $describe, a.namespace, a.name);
                loop {
                    let obj = $api.get(&a.name).await.map_err(|e| anyhow::anyhow!("{}", api_message(&e)))?;
                    let st = obj.status.clone().unwrap_or_default();
                    if $handled(&st) == Some(at.clone()) {
                        let (r, msg) = ready(&st.conditions);
                        println!("{} {}/{}: Ready={r} {msg}", $describe, a.namespace, a.name);
                        return Ok(if r == "True" { EXIT_OK } else { EXIT_ERROR });
                    }
                    if start.elapsed() > a.timeout {
                        eprintln!("error: the agent did not handle the request within {:?}; is `gitfleet agent` running?", a.timeout);
                        return Ok(EXIT_ERROR);
                    }
                    tokio::time::sleep(poll).await;
                }
            }};
        }
        match a.kind {
            Kind::Sync => {
                let api: Api<Sync> = Api::namespaced(conn.client.clone(), &a.namespace);
                wait_for!(api, |s: &gitfleet::agent::types::SyncStatus| s.last_handled_reconcile_at.clone(), "Sync")
            }
            Kind::Source => {
                let api: Api<GitSource> = Api::namespaced(conn.client.clone(), &a.namespace);
                wait_for!(api, |s: &gitfleet::agent::types::GitSourceStatus| s.last_handled_reconcile_at.clone(), "GitSource")
            }
        }
    })
}

pub fn run_suspend(target: SuspendTarget, suspend: bool) -> anyhow::Result<u8> {
    let SuspendTarget::Sync {
        name,
        namespace,
        cluster,
    } = target;
    super::runtime()?.block_on(async {
        let conn = connect(&cluster).await?;
        let api: Api<Sync> = Api::namespaced(conn.client.clone(), &namespace);
        api.patch(
            &name,
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(json!({"spec": {"suspend": suspend}})),
        )
        .await
        .map_err(|e| {
            anyhow::anyhow!("cannot update Sync {namespace}/{name}: {}", api_message(&e))
        })?;
        println!(
            "Sync {namespace}/{name} {}",
            if suspend { "suspended" } else { "resumed" }
        );
        Ok(EXIT_OK)
    })
}
