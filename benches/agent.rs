//! Benchmark: `gitfleet agent` following a repository of 1,000 objects: 10 Syncs (`apps/a0..a9`),
//! each 100 objects (its Namespace, ConfigMaps and Deployments), against the in-process API
//! stand-in. Measures the time from agent start to all Syncs applied, from a pushed commit to all
//! Syncs at it, and from a requested (no-op) reconcile to all handled, plus the agent's memory
//! (peak VmHWM, steady VmRSS after 10 s idle), CPU time and API requests. The agent runs as a
//! child process, so its figures are its own.
//!
//! `cargo bench --bench agent`. Against a real cluster (creates the gitfleet CRDs and the
//! namespaces `gitfleet-bench` and `bench-a0..a9`, deleting the namespaces at the end):
//! `GITFLEET_E2E_KUBECONFIG=~/.kube/config cargo bench --bench agent`.

#[path = "../tests/support/kube_api.rs"]
mod kube_api;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Client, Config};
use serde_json::Value;

/// Namespace of the GitSource and the Syncs.
const NS: &str = "gitfleet-bench";
const DIRS: usize = 10;
const PER_DIR: usize = 100;
const DEPLOYMENTS_PER_DIR: usize = 10;
/// How often the benchmark looks at the Syncs.
const POLL: Duration = Duration::from_millis(100);
/// Longest wait of one phase.
const TIMEOUT: Duration = Duration::from_secs(90);
/// Idle time before the steady RSS is read.
const IDLE: Duration = Duration::from_secs(10);
const MIB: f64 = 1024.0;

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Bench",
            "-c",
            "user.email=bench@example.com",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A bare repository (what the agent reads, through file://) and a working clone.
struct Repo {
    bare: PathBuf,
    work: PathBuf,
}

impl Repo {
    fn new(root: &Path) -> Self {
        let bare = root.join("fleet.git");
        let work = root.join("fleet");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&bare, &["init", "-q", "--bare", "-b", "main"]);
        git(&work, &["init", "-q", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Self { bare, work }
    }

    fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// Commits everything and pushes; returns the commit id.
    fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

/// Writes `apps/a0..a9`, each with 100 objects in four multi-document files: its Namespace
/// `bench-a<i>`, 89 ConfigMaps and 10 Deployments. `generation` is the value of `cm-0` in every
/// directory (the one change of the second commit).
fn write_apps(work: &Path, generation: u32) {
    let configmaps = PER_DIR - 1 - DEPLOYMENTS_PER_DIR;
    for d in 0..DIRS {
        let dir = work.join(format!("apps/a{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        let ns = format!("bench-a{d}");
        std::fs::write(
            dir.join("namespace.yaml"),
            format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
        )
        .unwrap();
        let mut files = [String::new(), String::new()];
        for i in 0..configmaps {
            let value = if i == 0 {
                format!("generation-{generation}")
            } else {
                format!("value-{i}")
            };
            files[i % 2].push_str(&format!(
                "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: {ns}\n  labels: {{app: bench, idx: \"{i}\"}}\ndata:\n  key: {value}\n  dir: \"{d}\"\n"
            ));
        }
        for (n, text) in files.iter().enumerate() {
            std::fs::write(dir.join(format!("configmaps-{n}.yaml")), text).unwrap();
        }
        let mut deployments = String::new();
        for i in 0..DEPLOYMENTS_PER_DIR {
            deployments.push_str(&format!(
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  namespace: {ns}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: web-{i}}}\n  template:\n    metadata:\n      labels: {{app: web-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.k8s.io/pause:3.10\n        env: [{{name: INDEX, value: \"{i}\"}}]\n"
            ));
        }
        std::fs::write(dir.join("deployments.yaml"), deployments).unwrap();
    }
}

/// The namespace, the GitSource (interval 1s) and the 10 Syncs (interval 1h: only new revisions
/// and requests make them apply).
fn seed(url: &str) -> String {
    let mut s = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NS}}}\n---\napiVersion: gitfleet.io/v1alpha1\nkind: GitSource\nmetadata: {{name: fleet, namespace: {NS}}}\nspec:\n  url: {}\n  ref: {{branch: main}}\n  interval: 1s\n",
        serde_json::to_string(url).unwrap()
    );
    for d in 0..DIRS {
        s.push_str(&format!(
            "---\napiVersion: gitfleet.io/v1alpha1\nkind: Sync\nmetadata: {{name: a{d}, namespace: {NS}}}\nspec:\n  sourceRef: {{name: fleet}}\n  path: apps/a{d}\n  interval: 1h\n  wait: true\n  timeout: 60s\n"
        ));
    }
    s
}

/// `gitfleet <args> --kubeconfig <kubeconfig>`, polling every 100 ms. `GITFLEET_BENCH_BIN` names
/// another gitfleet binary to measure (a build of another profile, say the agent image's) with the
/// same benchmark.
fn gitfleet(kubeconfig: &Path, args: &[&str]) -> Command {
    let bin = std::env::var_os("GITFLEET_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gitfleet")));
    let mut cmd = Command::new(bin);
    cmd.args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .env("GITFLEET_POLL_INTERVAL", "100ms")
        .env_remove("KUBECONFIG")
        .env_remove("GITFLEET_KUBECONFIG");
    cmd
}

/// Runs `gitfleet <args>` to completion; panics on failure.
fn run_gitfleet(kubeconfig: &Path, args: &[&str]) -> Duration {
    let start = Instant::now();
    let out = gitfleet(kubeconfig, args).output().expect("run gitfleet");
    assert!(
        out.status.success(),
        "gitfleet {args:?}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    start.elapsed()
}

/// The agent process; killed on drop (also when the benchmark panics).
struct Agent {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Agent {
    fn start(kubeconfig: &Path, dir: &Path) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = dir.join("agent.log");
        let child = gitfleet(
            kubeconfig,
            &["agent", "--namespace", NS, "--log-format", "json"],
        )
        .arg("--listen")
        .arg(format!("127.0.0.1:{port}"))
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .env("GITFLEET_POLL_INTERVAL", "200ms")
        .env_remove("GITFLEET_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .expect("start the agent");
        Self { child, log, port }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Whether /readyz answers 200.
    fn ready(&self) -> bool {
        let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let req = "GET /readyz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
        let mut out = String::new();
        s.write_all(req.as_bytes()).is_ok()
            && s.read_to_string(&mut out).is_ok()
            && out.starts_with("HTTP/1.1 200")
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Panics with the end of the agent's log when it has exited.
    fn check_alive(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!("the agent exited ({status}); log:\n{}", tail(&self.logs()));
        }
    }

    /// The agent's reconcile durations (ms) of Syncs logged so far, from its JSON log lines.
    fn sync_reconciles(&self) -> Vec<u64> {
        self.logs()
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["sync"].is_string())
            .filter_map(|v| v["elapsed_ms"].as_u64())
            .collect()
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// Memory (KiB), threads and CPU time of a process, from /proc.
#[derive(Debug, Clone, Copy, Default)]
struct ProcStats {
    rss_kib: u64,
    /// The part of the RSS that is anonymous memory (heap, stacks) ...
    anon_kib: u64,
    /// ... and the part that maps files (mostly the executable's code).
    file_kib: u64,
    hwm_kib: u64,
    threads: u64,
    cpu: Duration,
}

fn proc_stats(pid: u32) -> ProcStats {
    let mut s = ProcStats::default();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    for line in status.lines() {
        let mut parts = line.split_whitespace();
        let (Some(key), Some(value)) = (parts.next(), parts.next()) else {
            continue;
        };
        let value: u64 = value.parse().unwrap_or(0);
        match key {
            "VmRSS:" => s.rss_kib = value,
            "RssAnon:" => s.anon_kib = value,
            "RssFile:" => s.file_kib = value,
            "VmHWM:" => s.hwm_kib = value,
            "Threads:" => s.threads = value,
            _ => {}
        }
    }
    // utime and stime are fields 14 and 15; the command name (field 2) may hold spaces.
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    if let Some((_, rest)) = stat.rsplit_once(')') {
        let fields: Vec<u64> = rest
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // SAFETY: sysconf has no preconditions.
        let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
        if fields.len() > 12 {
            s.cpu = Duration::from_millis((fields[11] + fields[12]) * 1000 / ticks);
        }
    }
    s
}

/// Resident KiB per mapped file (and `[anon]` for the rest), largest first, from /proc/PID/smaps.
fn resident_by_mapping(pid: u32) -> Vec<(String, u64)> {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: BTreeMap<String, u64> = BTreeMap::new();
    let mut current = String::new();
    for line in smaps.lines() {
        let mut parts = line.split_whitespace();
        let first = parts.next().unwrap_or_default();
        if first.contains('-') && first.chars().next().is_some_and(|c| c.is_ascii_hexdigit()) {
            // a mapping's header: range perms offset dev inode [path]
            current = parts.nth(4).map_or("[anon]".into(), |p| {
                Path::new(p)
                    .file_name()
                    .map_or(p.into(), |f| f.to_string_lossy().into_owned())
            });
        } else if first == "Rss:" {
            *by.entry(current.clone()).or_default() += parts
                .next()
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    let mut v: Vec<(String, u64)> = by.into_iter().collect();
    v.sort_by_key(|(_, kib)| std::cmp::Reverse(*kib));
    v
}

fn mib(kib: u64) -> f64 {
    kib as f64 / MIB
}

/// Reads the cluster through the real kube client, counting its own requests (so that the
/// stand-in's request log can be split into the agent's and the benchmark's).
struct Observer {
    client: Client,
    syncs: Api<DynamicObject>,
    sources: Api<DynamicObject>,
    calls: usize,
}

impl Observer {
    async fn new(kubeconfig: &Path) -> Self {
        let kc = Kubeconfig::read_from(kubeconfig).expect("kubeconfig");
        let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
            .await
            .expect("kube config");
        let client = Client::try_from(config).expect("kube client");
        let resource = |kind: &str, plural: &str| {
            ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("gitfleet.io", "v1alpha1", kind),
                plural,
            )
        };
        Self {
            syncs: Api::namespaced_with(client.clone(), NS, &resource("Sync", "syncs")),
            sources: Api::namespaced_with(client.clone(), NS, &resource("GitSource", "gitsources")),
            client,
            calls: 0,
        }
    }

    /// Each Sync's status by name (one list request).
    async fn statuses(&mut self) -> BTreeMap<String, Value> {
        self.calls += 1;
        self.syncs
            .list(&ListParams::default())
            .await
            .expect("list Syncs")
            .items
            .into_iter()
            .map(|s| {
                let name = s.metadata.name.clone().unwrap_or_default();
                (name, s.data["status"].clone())
            })
            .collect()
    }

    async fn source_revision(&mut self) -> Option<String> {
        self.calls += 1;
        let src = self.sources.get("fleet").await.expect("get GitSource");
        src.data["status"]["revision"].as_str().map(str::to_string)
    }

    /// Sets `gitfleet.io/reconcile-requested-at` (as `gitfleet reconcile` does); returns its value.
    async fn request_reconcile(&mut self, name: &str) -> String {
        self.calls += 1;
        gitfleet::agent::request_reconcile(&self.syncs, name)
            .await
            .expect("annotate Sync")
    }

    async fn configmap_key(&mut self, ns: &str, name: &str) -> Option<String> {
        self.calls += 1;
        let api: Api<ConfigMap> = Api::namespaced(self.client.clone(), ns);
        api.get(name).await.ok()?.data?.get("key").cloned()
    }
}

fn ready(status: &Value) -> Option<(&str, &str)> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or(""),
                c["message"].as_str().unwrap_or(""),
            )
        })
}

/// When the first and the last Sync satisfied `done`, measured from `since`.
struct Reached {
    first: Duration,
    all: Duration,
    /// Sync a0's Ready message at the end.
    message: String,
}

/// Polls the Syncs every 100 ms until `done` holds for all 10.
async fn wait_syncs(
    obs: &mut Observer,
    agent: &mut Agent,
    what: &str,
    since: Instant,
    done: impl Fn(&str, &Value) -> bool,
) -> Reached {
    let mut first = None;
    loop {
        let statuses = obs.statuses().await;
        let n = statuses.iter().filter(|(name, st)| done(name, st)).count();
        if n > 0 && first.is_none() {
            first = Some(since.elapsed());
        }
        if n == DIRS {
            let all = since.elapsed();
            let message = statuses
                .get("a0")
                .and_then(ready)
                .map(|(s, m)| format!("Ready={s}: {m}"))
                .unwrap_or_default();
            return Reached {
                first: first.unwrap_or(all),
                all,
                message,
            };
        }
        agent.check_alive();
        if since.elapsed() > TIMEOUT {
            let states: Vec<String> = statuses
                .iter()
                .map(|(name, st)| format!("{name}: {:?}", ready(st)))
                .collect();
            panic!(
                "timed out waiting for {what} ({n}/{DIRS}); Syncs:\n{}\nagent log:\n{}",
                states.join("\n"),
                tail(&agent.logs())
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// The agent's requests to the stand-in since the last call (the benchmark's own subtracted).
#[derive(Default, Clone, Copy)]
struct Requests {
    total: usize,
    reads: usize,
    watches: usize,
    dry_run: usize,
    writes: usize,
    discovery: usize,
}

impl std::fmt::Display for Requests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:>5} (get/list {}, watch {}, dry-run {}, writes {}, discovery {})",
            self.total, self.reads, self.watches, self.dry_run, self.writes, self.discovery
        )
    }
}

/// Takes the stand-in's request log (and clears it); `own_reads`/`own_writes` were the benchmark's.
fn agent_requests(
    standin: Option<&kube_api::KubeStandIn>,
    own_reads: usize,
    own_writes: usize,
) -> Option<Requests> {
    let s = standin?;
    let all = s.requests();
    s.clear_requests();
    // GITFLEET_BENCH_REQUESTS=1 lists every request of the phase (method, path, query)
    if std::env::var_os("GITFLEET_BENCH_REQUESTS").is_some() {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for q in &all {
            let what = format!("{} {} {} ?{}", q.verb, q.method, q.path, q.query);
            *counts.entry(what).or_default() += 1;
        }
        for (what, n) in counts {
            eprintln!("      {n:>4} {what}");
        }
        eprintln!("      ----");
    }
    let mut r = Requests::default();
    for q in &all {
        if q.discovery {
            r.discovery += 1;
        } else if q.verb == "watch" {
            r.watches += 1;
        } else if q.dry_run {
            r.dry_run += 1;
        } else if q.is_write() {
            r.writes += 1;
        } else {
            r.reads += 1;
        }
    }
    r.reads = r.reads.saturating_sub(own_reads);
    r.writes = r.writes.saturating_sub(own_writes);
    r.total = r.reads + r.watches + r.dry_run + r.writes + r.discovery;
    Some(r)
}

/// min / median / max of the agent's Sync reconcile times (ms).
fn spread(mut ms: Vec<u64>) -> String {
    if ms.is_empty() {
        return "-".into();
    }
    ms.sort_unstable();
    format!(
        "{} reconciles, {} / {} / {} ms (min / median / max)",
        ms.len(),
        ms[0],
        ms[ms.len() / 2],
        ms[ms.len() - 1]
    )
}

/// One measured phase, for the summary.
struct Phase {
    name: &'static str,
    reached: Reached,
    requests: Option<Requests>,
    reconciles: Vec<u64>,
    cpu: Duration,
    rss_kib: u64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let total = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let real_cluster = std::env::var_os("GITFLEET_E2E_KUBECONFIG");
    let mut standin = None;
    let kubeconfig: PathBuf = match &real_cluster {
        Some(p) => p.into(),
        None => {
            let s = kube_api::KubeStandIn::start();
            let path = tmp.path().join("kubeconfig");
            s.write_kubeconfig(&path);
            standin = Some(s);
            path
        }
    };
    let target = if real_cluster.is_some() {
        "the cluster of GITFLEET_E2E_KUBECONFIG"
    } else {
        "the in-process API stand-in"
    };
    println!(
        "gitfleet agent: {DIRS} Syncs x {PER_DIR} objects ({} objects: {DIRS} Namespaces, {} ConfigMaps, {} Deployments) against {target}",
        DIRS * PER_DIR,
        DIRS * (PER_DIR - 1 - DEPLOYMENTS_PER_DIR),
        DIRS * DEPLOYMENTS_PER_DIR
    );

    // Setup: the repository with the first commit, the CRDs, the GitSource and the Syncs.
    let setup = Instant::now();
    let repo = Repo::new(tmp.path());
    write_apps(&repo.work, 1);
    let first = repo.commit("first");
    let crds = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/templates/reconciler/crds.yaml.j2"
    );
    let crds_time = run_gitfleet(&kubeconfig, &["apply", crds]);
    let seed_file = tmp.path().join("seed.yaml");
    std::fs::write(&seed_file, seed(&repo.url())).unwrap();
    run_gitfleet(&kubeconfig, &["apply", seed_file.to_str().unwrap()]);
    let setup = setup.elapsed();
    println!(
        "  setup: {setup:.2?} (repository + push, CRDs {crds_time:.2?}, GitSource + {DIRS} Syncs)"
    );
    let mut obs = Observer::new(&kubeconfig).await;
    let mut phases = Vec::new();

    // (a) Agent start → all Syncs applied at the first commit.
    if let Some(s) = &standin {
        s.clear_requests();
    }
    let calls = obs.calls;
    let start = Instant::now();
    let mut agent = Agent::start(&kubeconfig, tmp.path());
    let pid = agent.pid();
    let (mut ready_at, mut fetched_at, mut at_ready) = (None, None, ProcStats::default());
    while ready_at.is_none() || fetched_at.is_none() {
        if ready_at.is_none() && agent.ready() {
            ready_at = Some(start.elapsed());
            at_ready = proc_stats(pid);
        }
        if fetched_at.is_none() && obs.source_revision().await.as_deref() == Some(&first) {
            fetched_at = Some(start.elapsed());
        }
        agent.check_alive();
        assert!(
            start.elapsed() < TIMEOUT,
            "the agent did not start or fetch; log:\n{}",
            tail(&agent.logs())
        );
        tokio::time::sleep(POLL).await;
    }
    let (ready_at, fetched_at) = (ready_at.unwrap(), fetched_at.unwrap());
    let reached = wait_syncs(&mut obs, &mut agent, "the first sync", start, |_, st| {
        st["lastAppliedRevision"] == first.as_str()
    })
    .await;
    println!(
        "  (a) agent start -> all {DIRS} Syncs applied: {:.2?} (ready {ready_at:.2?}, fetched {fetched_at:.2?}, first Sync {:.2?})",
        reached.all, reached.first
    );
    let stats = proc_stats(pid);
    let reconciles = agent.sync_reconciles();
    let mut seen = reconciles.len();
    phases.push(Phase {
        name: "(a) start -> all applied",
        reached,
        requests: agent_requests(standin.as_ref(), obs.calls - calls, 0),
        reconciles,
        cpu: stats.cpu,
        rss_kib: stats.rss_kib,
    });

    // (b) A second commit (one value changed in every directory) → all Syncs at it.
    let calls = obs.calls;
    let cpu_before = proc_stats(pid).cpu;
    write_apps(&repo.work, 2);
    let push = Instant::now();
    let second = repo.commit("second");
    let pushed = Instant::now();
    let reached = wait_syncs(
        &mut obs,
        &mut agent,
        "the second commit",
        pushed,
        |_, st| st["lastAppliedRevision"] == second.as_str(),
    )
    .await;
    println!(
        "  (b) push -> all {DIRS} Syncs at the new commit: {:.2?} (first Sync {:.2?}; commit + push took {:.2?})",
        reached.all,
        reached.first,
        pushed - push
    );
    for d in 0..DIRS {
        let value = obs.configmap_key(&format!("bench-a{d}"), "cm-0").await;
        assert_eq!(value.as_deref(), Some("generation-2"), "bench-a{d}/cm-0");
    }
    let stats = proc_stats(pid);
    let reconciles = agent.sync_reconciles();
    phases.push(Phase {
        name: "(b) push -> all at it",
        reached,
        requests: agent_requests(standin.as_ref(), obs.calls - calls, 0),
        reconciles: reconciles[seen..].to_vec(),
        cpu: stats.cpu - cpu_before,
        rss_kib: stats.rss_kib,
    });
    seen = reconciles.len();

    // (c) A requested reconcile of every Sync with nothing to change → all handled.
    let calls = obs.calls;
    let cpu_before = proc_stats(pid).cpu;
    let start = Instant::now();
    let mut requested = BTreeMap::new();
    for d in 0..DIRS {
        let name = format!("a{d}");
        let at = obs.request_reconcile(&name).await;
        requested.insert(name, at);
    }
    let reached = wait_syncs(
        &mut obs,
        &mut agent,
        "the requested reconciles",
        start,
        |name, st| {
            st["lastHandledReconcileAt"].as_str() == requested.get(name).map(String::as_str)
                && st["lastAppliedRevision"] == second.as_str()
        },
    )
    .await;
    println!(
        "  (c) reconcile requested -> all {DIRS} handled (no-op): {:.2?} (first Sync {:.2?})",
        reached.all, reached.first
    );
    let stats = proc_stats(pid);
    let reconciles = agent.sync_reconciles();
    phases.push(Phase {
        name: "(c) no-op reconcile",
        reached,
        requests: agent_requests(standin.as_ref(), obs.calls - calls - DIRS, DIRS),
        reconciles: reconciles[seen..].to_vec(),
        cpu: stats.cpu - cpu_before,
        rss_kib: stats.rss_kib,
    });
    seen = reconciles.len();

    // (c') The same through the CLI: `gitfleet reconcile sync a<i>`, all 10 at once.
    let cpu_before = proc_stats(pid).cpu;
    let start = Instant::now();
    let children: Vec<(String, Child)> = (0..DIRS)
        .map(|d| {
            let name = format!("a{d}");
            let child = gitfleet(
                &kubeconfig,
                &["reconcile", "sync", &name, "-n", NS, "--timeout", "60s"],
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run gitfleet reconcile");
            (name, child)
        })
        .collect();
    for (name, child) in children {
        let out = child.wait_with_output().expect("gitfleet reconcile");
        assert!(
            out.status.success(),
            "gitfleet reconcile sync {name}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cli = start.elapsed();
    let cli_cpu = proc_stats(pid).cpu - cpu_before;
    let cli_reconciles = agent.sync_reconciles()[seen..].to_vec();
    let _ = agent_requests(standin.as_ref(), 0, 0);
    println!("  (c') `gitfleet reconcile sync a<i>` x{DIRS}, in parallel: {cli:.2?}");

    // Idle: the steady RSS.
    let after_last = proc_stats(pid);
    let cpu_before = after_last.cpu;
    let mut samples = Vec::new();
    let idle = Instant::now();
    while idle.elapsed() < IDLE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        agent.check_alive();
        samples.push(proc_stats(pid).rss_kib);
    }
    let end = proc_stats(pid);
    let mappings = resident_by_mapping(pid);
    let idle_requests = agent_requests(standin.as_ref(), 0, 0);

    // (d) Drift correction of an unchanged set: the Syncs' interval set to 2s; once each has
    // taken the new spec, the resyncs of the next seconds are counted (no benchmark request then).
    for d in 0..DIRS {
        obs.syncs
            .patch(
                &format!("a{d}"),
                &kube::api::PatchParams::default(),
                &kube::api::Patch::Merge(serde_json::json!({"spec": {"interval": "2s"}})),
            )
            .await
            .expect("patch a Sync's interval");
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let _ = agent_requests(standin.as_ref(), 0, 0);
    let resyncs_before = agent.sync_reconciles().len();
    tokio::time::sleep(Duration::from_secs(8)).await;
    let resyncs = agent.sync_reconciles().len() - resyncs_before;
    let resync_requests = agent_requests(standin.as_ref(), 0, 0);
    let log = agent.logs();
    let warnings = log
        .lines()
        .filter(|l| l.contains(r#""level":"WARN""#) || l.contains(r#""level":"ERROR""#))
        .count();
    drop(agent);
    if real_cluster.is_some() {
        cleanup(&obs.client).await;
    }

    let steady = end.rss_kib;
    let (lo, hi) = (
        samples.iter().min().copied().unwrap_or(0),
        samples.iter().max().copied().unwrap_or(0),
    );
    println!();
    println!("summary (agent pid {pid}, GITFLEET_POLL_INTERVAL=200ms, Syncs wait: true)");
    println!("  setup (repo + push, CRDs, seed)          {:>8.2?}", setup);
    for p in &phases {
        println!(
            "  {:<40} {:>8.2?}   first Sync {:>8.2?}",
            p.name, p.reached.all, p.reached.first
        );
    }
    println!(
        "  {:<40} {:>8.2?}   (10 CLI processes, each polling every 100 ms)",
        "(c') gitfleet reconcile sync x10", cli
    );
    println!("  Sync a0 after each phase:");
    for p in &phases {
        println!("    {:<28} {}", p.name, p.reached.message);
    }
    println!("  agent reconcile time per Sync (its log):");
    for p in &phases {
        println!("    {:<28} {}", p.name, spread(p.reconciles.clone()));
    }
    println!(
        "    {:<28} {}",
        "(c') CLI reconcile",
        spread(cli_reconciles)
    );
    println!("  agent CPU time:");
    for p in &phases {
        println!("    {:<28} {:>8.2?}", p.name, p.cpu);
    }
    println!("    {:<28} {:>8.2?}", "(c') CLI reconcile", cli_cpu);
    println!(
        "    {:<28} {:>8.2?}",
        format!("idle {}s", IDLE.as_secs()),
        end.cpu - cpu_before
    );
    if standin.is_some() {
        println!("  agent API requests (the benchmark's own removed):");
        for p in &phases {
            if let Some(r) = p.requests {
                println!("    {:<28} {r}", p.name);
            }
        }
        if let Some(r) = idle_requests {
            println!("    {:<28} {r}", format!("idle {}s", IDLE.as_secs()));
        }
        if let Some(r) = resync_requests {
            let passes = resyncs as f64 / DIRS as f64;
            println!(
                "    {:<28} {r}: {resyncs} Sync resyncs in 8s, {:.1} requests per pass of {DIRS} Syncs",
                "(d) interval resync (2s)",
                r.total as f64 / passes.max(1.0)
            );
        }
    }
    println!("  agent memory:");
    let row = |label: &str, kib: u64| println!("    {label:<36} {:>6.1} MiB", mib(kib));
    row("RSS when ready (nothing applied yet)", at_ready.rss_kib);
    for p in &phases {
        row(&format!("RSS after {}", p.name), p.rss_kib);
    }
    row("RSS after the last reconcile", after_last.rss_kib);
    row("peak (VmHWM)", end.hwm_kib);
    row(
        &format!("steady (VmRSS after {}s idle)", IDLE.as_secs()),
        steady,
    );
    let top: Vec<String> = mappings
        .iter()
        .take(6)
        .map(|(name, kib)| format!("{name} {:.1}", mib(*kib)))
        .collect();
    println!("      resident by mapping (MiB): {}", top.join(", "));
    println!(
        "      of which anonymous {:.1} MiB, file-backed {:.1} MiB (code); min {:.1} / max {:.1} MiB during the idle time; {} threads",
        mib(end.anon_kib),
        mib(end.file_kib),
        mib(lo),
        mib(hi),
        end.threads
    );
    println!(
        "    target: steady < 30 MiB: {}",
        if mib(steady) < 30.0 { "met" } else { "NOT met" }
    );
    println!(
        "  agent log: {} lines, {warnings} warnings/errors; benchmark total {:.1?}",
        log.lines().count(),
        total.elapsed()
    );
}

/// On a real cluster: removes the namespaces the benchmark created (best effort).
async fn cleanup(client: &Client) {
    let api: Api<Namespace> = Api::all(client.clone());
    let dp = DeleteParams::background();
    let mut names = vec![NS.to_string()];
    names.extend((0..DIRS).map(|d| format!("bench-a{d}")));
    for name in names {
        let _ = api.delete(&name, &dp).await;
    }
}
