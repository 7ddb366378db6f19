//! `gitfleet agent` end to end: the real agent process, out of cluster, against the API stand-in
//! (or, unchanged, a real cluster via `GITFLEET_E2E_KUBECONFIG`), following a real git repository.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::support::cluster::Cluster;

const SECRET_TOKEN: &str = "s3cr3t-https-token-0042";
const WEBHOOK_SECRET: &str = "hook-secret-7731";

/// A git repository with a working clone; the agent reads it through file://.
pub(crate) struct Repo {
    pub(crate) bare: PathBuf,
    pub(crate) work: PathBuf,
}

pub(crate) fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args([
            "-c",
            "user.name=Test",
            "-c",
            "user.email=test@example.com",
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

impl Repo {
    pub(crate) fn new(root: &Path) -> Self {
        let bare = root.join("fleet.git");
        let work = root.join("fleet");
        std::fs::create_dir_all(&bare).unwrap();
        std::fs::create_dir_all(&work).unwrap();
        git(&bare, &["init", "--bare", "-b", "main"]);
        git(&work, &["init", "-b", "main"]);
        git(&work, &["remote", "add", "origin", bare.to_str().unwrap()]);
        Self { bare, work }
    }
    pub(crate) fn url(&self) -> String {
        format!("file://{}", self.bare.display())
    }
    pub(crate) fn write(&self, path: &str, text: &str) -> &Self {
        let p = self.work.join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    pub(crate) fn remove(&self, path: &str) -> &Self {
        std::fs::remove_file(self.work.join(path)).unwrap();
        self
    }
    /// Commits everything and pushes; returns the commit id.
    pub(crate) fn commit(&self, message: &str) -> String {
        git(&self.work, &["add", "-A"]);
        git(&self.work, &["commit", "-q", "-m", message]);
        git(&self.work, &["push", "-q", "origin", "main"]);
        git(&self.work, &["rev-parse", "HEAD"])
    }
}

/// The agent process; killed on drop. Its stderr (the logs) is kept for inspection.
pub(crate) struct Agent {
    child: Child,
    log: PathBuf,
    port: u16,
}

impl Agent {
    pub(crate) fn start(c: &Cluster, ns: &str) -> Self {
        Self::start_with(c, ns, &[], &[])
    }

    pub(crate) fn start_with(c: &Cluster, ns: &str, args: &[&str], envs: &[(&str, &str)]) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = c.dir().join(format!("agent-{port}.log"));
        let secret_file = c.dir().join("webhook-secret");
        std::fs::write(&secret_file, WEBHOOK_SECRET).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_gitfleet"))
            .args([
                "agent",
                "--namespace",
                ns,
                "--log-format",
                "json",
                "--listen",
            ])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--kubeconfig")
            .arg(&c.kubeconfig)
            .arg("--cache-dir")
            .arg(c.dir().join(format!("cache-{port}")))
            .arg("--webhook-secret-file")
            .arg(&secret_file)
            .env("GITFLEET_POLL_INTERVAL", "200ms")
            .env("GITFLEET_LOG", "gitfleet=debug,info")
            .args(args)
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("start agent");
        let agent = Self { child, log, port };
        agent.wait_http();
        agent
    }

    fn wait_http(&self) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(20) {
            if let Ok(text) = http(self.port, "GET", "/readyz", &[], b"")
                && text.starts_with("HTTP/1.1 200")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("agent not ready; log:\n{}", self.logs());
    }

    pub(crate) fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 request; returns the whole response.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, String)],
    body: &[u8],
) -> std::io::Result<String> {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

pub(crate) fn api(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: &str,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), ns, &ar)
}

pub(crate) async fn get(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: &str,
    name: &str,
) -> Option<Value> {
    api(client, api_version, kind, plural, ns)
        .get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).unwrap())
}

/// Polls `check` until it returns Some or 30 s pass.
pub(crate) async fn eventually<T, F, Fut>(what: &str, agent: &Agent, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        if start.elapsed() > Duration::from_secs(30) {
            panic!("timed out waiting for {what}; agent log:\n{}", agent.logs());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The Sync's status and its Ready condition, when Ready is False.
pub(crate) async fn not_ready(
    client: &kube::Client,
    ns: &str,
    name: &str,
) -> Option<(Value, Value)> {
    let st = sync_status(client, ns, name).await;
    let ready = st["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")?
        .clone();
    (ready["status"] == "False").then_some((st, ready))
}

pub(crate) async fn sync_status(client: &kube::Client, ns: &str, name: &str) -> Value {
    sync_object(client, ns, name)
        .await
        .map(|s| s["status"].clone())
        .unwrap_or(Value::Null)
}

/// The Sync `name`, whole.
pub(crate) async fn sync_object(client: &kube::Client, ns: &str, name: &str) -> Option<Value> {
    get(client, "gitfleet.io/v1alpha1", "Sync", "syncs", ns, name).await
}

/// Creates or replaces the Secret `name` holding `string_data` (server-side apply, field
/// manager `test`, forced: a test's Secret is the test's).
pub(crate) async fn put_secret(client: &kube::Client, ns: &str, name: &str, string_data: Value) {
    api(client, "v1", "Secret", "secrets", ns)
        .patch(
            name,
            &PatchParams::apply("test").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "Secret",
                "metadata": {"name": name, "namespace": ns}, "stringData": string_data})),
        )
        .await
        .unwrap();
}

/// The GitSource `name`, whole.
pub(crate) async fn source_object(client: &kube::Client, ns: &str, name: &str) -> Option<Value> {
    get(
        client,
        "gitfleet.io/v1alpha1",
        "GitSource",
        "gitsources",
        ns,
        name,
    )
    .await
}

fn ready(status: &Value) -> Option<(String, String)> {
    status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready")
        .map(|c| {
            (
                c["status"].as_str().unwrap_or("").to_string(),
                c["message"].as_str().unwrap_or("").to_string(),
            )
        })
}

fn run(c: &Cluster, args: &[&str]) -> (i32, String, String) {
    let out = c
        .gitfleet()
        .args(args)
        .arg("--kubeconfig")
        .arg(&c.kubeconfig)
        .output()
        .expect("run");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Installs the CRDs (the generated template, through `gitfleet apply`) and the namespace, a
/// credentials Secret, the GitSource and the given Syncs.
pub(crate) fn install(c: &Cluster, ns: &str, repo: &Repo, source_interval: &str, syncs: &str) {
    install_from(c, ns, &repo.url(), source_interval, syncs)
}

/// As [`install`], with the GitSource reading `url`.
fn install_from(c: &Cluster, ns: &str, url: &str, source_interval: &str, syncs: &str) {
    let crds = crate::support::root().join("templates/reconciler/crds.yaml.j2");
    let (code, out, err) = run(c, &["apply", crds.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let seed = c.dir().join(format!("seed-{ns}.yaml"));
    std::fs::write(
        &seed,
        format!(
            r#"apiVersion: v1
kind: Namespace
metadata: {{name: {ns}}}
---
apiVersion: v1
kind: Secret
metadata: {{name: git-credentials, namespace: {ns}}}
stringData: {{username: git, password: {SECRET_TOKEN}}}
---
apiVersion: gitfleet.io/v1alpha1
kind: GitSource
metadata: {{name: fleet, namespace: {ns}}}
spec:
  url: {url}
  ref: {{branch: main}}
  interval: {source_interval}
  secretRef: {{name: git-credentials}}
{syncs}"#
        ),
    )
    .unwrap();
    let (code, out, err) = run(c, &["apply", seed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
}

pub(crate) fn sync_doc(ns: &str, name: &str, path: &str, extra: &str) -> String {
    format!(
        "---\napiVersion: gitfleet.io/v1alpha1\nkind: Sync\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  sourceRef: {{name: fleet}}\n  path: {path}\n  interval: 2s\n  timeout: 20s\n{extra}"
    )
}

fn cm(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, namespace: {ns}}}\ndata: {{key: \"{value}\"}}\n"
    )
}

/// First sync, a new commit, a removed file (pruned), drift healed, a broken commit reported while
/// the last good revision stays, then a fix; status, reconcile, events, history, metrics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_follows_the_repository() {
    let c = Cluster::new();
    let ns = c.name("agent");
    let repo = Repo::new(c.dir());
    repo.write("clusters/dev/settings.yaml", &cm(&ns, "settings", "v1"))
        .write("clusters/dev/extra.yaml", &cm(&ns, "extra", "1"))
        .write(
            "clusters/dev/web.yaml.j2",
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  replicas: {{{{ values.replicas }}}}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: \"nginx:1.27\"}}]\n"
            ),
        )
        .write("README.md", "not a manifest, not under the path\n");
    let first = repo.commit("first");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &sync_doc(&ns, "dev", "clusters/dev", "  values: {replicas: 2}\n"),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;

    // First sync.
    let status = eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(st)
    })
    .await;
    assert_eq!(ready(&status).unwrap().0, "True", "{status}");
    let web = get(&client, "apps/v1", "Deployment", "deployments", &ns, "web")
        .await
        .unwrap();
    assert_eq!(web["spec"]["replicas"], 2);
    assert_eq!(status["history"][0]["outcome"], "Succeeded");
    assert!(
        get(
            &client,
            "v1",
            "ConfigMap",
            "configmaps",
            &ns,
            "gitfleet-sync-dev"
        )
        .await
        .is_some(),
        "inventory"
    );

    // A new commit is applied; a file removed in Git is pruned.
    repo.write("clusters/dev/settings.yaml", &cm(&ns, "settings", "v2"))
        .remove("clusters/dev/extra.yaml");
    let second = repo.commit("second");
    eventually("second commit applied", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAppliedRevision"] == second.as_str()).then_some(())
    })
    .await;
    let settings = get(&client, "v1", "ConfigMap", "configmaps", &ns, "settings")
        .await
        .unwrap();
    assert_eq!(settings["data"]["key"], "v2");
    assert!(
        get(&client, "v1", "ConfigMap", "configmaps", &ns, "extra")
            .await
            .is_none(),
        "pruned"
    );

    // Drift: a kubectl-edit of a managed field is healed on the next interval.
    api(&client, "apps/v1", "Deployment", "deployments", &ns)
        .patch(
            "web",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"spec": {"replicas": 7}})),
        )
        .await
        .unwrap();
    eventually("drift healed", &agent, || async {
        let web = get(&client, "apps/v1", "Deployment", "deployments", &ns, "web").await?;
        (web["spec"]["replicas"] == 2).then_some(())
    })
    .await;

    // A broken commit: reported, nothing changes, the last good revision stays.
    repo.write("clusters/dev/settings.yaml", &cm(&ns, "settings", "v3"))
        .write(
            "clusters/dev/broken.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [oops\n",
        );
    let broken = repo.commit("broken");
    let status = eventually("broken commit reported", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAttemptedRevision"] == broken.as_str()).then_some(st)
    })
    .await;
    let (r, message) = ready(&status).unwrap();
    assert_eq!(r, "False", "{status}");
    assert!(
        message.contains("clusters/dev/broken.yaml:5:1") && message.contains("invalid YAML"),
        "{message}"
    );
    assert_eq!(status["lastAppliedRevision"], second.as_str());
    assert_eq!(status["history"][0]["outcome"], "Failed");
    let condition = |st: &Value, t: &str| {
        st["conditions"]
            .as_array()
            .and_then(|cs| cs.iter().find(|c| c["type"] == t).cloned())
    };
    let stalled = condition(&status, "Stalled").expect("Stalled condition");
    assert_eq!(stalled["status"], "True", "{status}");
    assert_eq!(stalled["reason"], "ValidationFailed");
    assert!(condition(&status, "Reconciling").is_none(), "{status}");
    assert_eq!(status["history"][1]["revision"], second.as_str());
    let settings = get(&client, "v1", "ConfigMap", "configmaps", &ns, "settings")
        .await
        .unwrap();
    assert_eq!(
        settings["data"]["key"], "v2",
        "a failing revision must not half-apply"
    );
    let (code, out, _) = run(&c, &["status", "-n", &ns]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.contains("Sync") && out.contains("False") && out.contains("invalid YAML"),
        "{out}"
    );

    // The fix is tried as soon as it arrives.
    repo.remove("clusters/dev/broken.yaml");
    let fixed = repo.commit("fix");
    eventually("fix applied", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAppliedRevision"] == fixed.as_str() && ready(&st)?.0 == "True").then_some(())
    })
    .await;
    let settings = get(&client, "v1", "ConfigMap", "configmaps", &ns, "settings")
        .await
        .unwrap();
    assert_eq!(settings["data"]["key"], "v3");
    let status = sync_status(&client, &ns, "dev").await;
    assert!(condition(&status, "Stalled").is_none(), "unstuck: {status}");

    // reconcile now, then status is all Ready.
    let (code, out, err) = run(
        &c,
        &["reconcile", "sync", "dev", "-n", &ns, "--timeout", "30s"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Ready=True"), "{out}");
    let (code, out, _) = run(&c, &["status", "-n", &ns]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&fixed[..12]), "{out}");

    // Kubernetes Events on the Sync: the successes and the failed revision.
    let events = api(&client, "events.k8s.io/v1", "Event", "events", &ns)
        .list(&Default::default())
        .await
        .unwrap();
    let reasons: Vec<(String, String)> = events
        .items
        .iter()
        .map(|e| {
            let v = serde_json::to_value(e).unwrap();
            (
                v["reason"].as_str().unwrap_or_default().to_string(),
                v["regarding"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect();
    assert!(
        reasons.contains(&("ReconciliationSucceeded".into(), "Sync".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("ValidationFailed".into(), "Sync".into())),
        "{reasons:?}"
    );
    assert!(
        reasons.contains(&("NewRevision".into(), "GitSource".into())),
        "{reasons:?}"
    );

    // Metrics.
    let metrics = http(agent.port, "GET", "/metrics", &[], b"").unwrap();
    assert!(
        metrics.contains("gitfleet_reconcile_duration_seconds_bucket"),
        "{metrics}"
    );
    assert!(metrics.contains(&format!("gitfleet_sync_applied_revision_info{{namespace=\"{ns}\",name=\"dev\",revision=\"{fixed}\"}} 1")), "{metrics}");
    assert!(
        metrics.contains(&format!(
            "gitfleet_ready{{kind=\"Sync\",namespace=\"{ns}\",name=\"dev\"}} 1"
        )),
        "{metrics}"
    );

    // Logs are JSON lines and never carry a credential.
    let logs = agent.logs();
    assert!(
        !logs.contains(SECRET_TOKEN) && !logs.contains(WEBHOOK_SECRET),
        "a secret was logged"
    );
    for line in logs.lines().filter(|l| !l.trim().is_empty()) {
        assert!(
            serde_json::from_str::<Value>(line).is_ok(),
            "not a JSON log line: {line}"
        );
    }
}

/// dependsOn ordering, suspend/resume, and the push webhook (valid and forged signatures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn depends_on_suspend_and_webhook() {
    let c = Cluster::new();
    let ns = c.name("deps");
    let repo = Repo::new(c.dir());
    repo.write("infra/base.yaml", &cm(&ns, "base", "1"))
        .write("apps/app.yaml", &cm(&ns, "app", "1"));
    let first = repo.commit("first");
    let syncs = format!(
        "{}{}",
        sync_doc(&ns, "apps", "apps", "  dependsOn: [{name: infra}]\n"),
        sync_doc(&ns, "infra", "infra", "")
    );
    // Served by `git daemon` on loopback (git://); a long source interval: only the webhook
    // makes it fetch quickly.
    let daemon = crate::git::Daemon::start(c.dir());
    install_from(&c, &ns, &daemon.url("fleet.git"), "1h", &syncs);
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;

    let (infra, apps) = eventually("both applied", &agent, || async {
        let infra = sync_status(&client, &ns, "infra").await;
        let apps = sync_status(&client, &ns, "apps").await;
        (apps["lastAppliedRevision"] == first.as_str()).then_some((infra, apps))
    })
    .await;
    assert_eq!(infra["lastAppliedRevision"], first.as_str());
    let infra_applied = infra["history"][0]["time"].as_str().unwrap().to_string();
    let apps_applied = apps["history"][0]["time"].as_str().unwrap().to_string();
    assert!(
        infra_applied <= apps_applied,
        "apps ({apps_applied}) before infra ({infra_applied})"
    );

    // Suspend apps; a pushed change reaches infra only.
    let (code, out, err) = run(&c, &["suspend", "sync", "apps", "-n", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    repo.write("infra/base.yaml", &cm(&ns, "base", "2"))
        .write("apps/app.yaml", &cm(&ns, "app", "2"));
    let second = repo.commit("second");

    // A forged webhook is refused and fetches nothing.
    let body = br#"{"ref":"refs/heads/main"}"#.to_vec();
    let forged = http(
        agent.port,
        "POST",
        &format!("/hook/{ns}/fleet"),
        &[("X-Hub-Signature-256", format!("sha256={}", "0".repeat(64)))],
        &body,
    )
    .unwrap();
    assert!(forged.starts_with("HTTP/1.1 401"), "{forged}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let src = source_object(&client, &ns, "fleet").await.unwrap();
    assert_eq!(
        src["status"]["revision"],
        first.as_str(),
        "a forged webhook must not trigger a fetch"
    );

    // A valid GitHub signature triggers the fetch at once.
    let sig = {
        use hmac::{Hmac, KeyInit, Mac};
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
        mac.update(&body);
        format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
    };
    let ok = http(
        agent.port,
        "POST",
        &format!("/hook/{ns}/fleet"),
        &[
            ("X-Hub-Signature-256", sig),
            ("X-GitHub-Event", "push".into()),
        ],
        &body,
    )
    .unwrap();
    assert!(ok.starts_with("HTTP/1.1 202"), "{ok}");
    eventually("infra at the pushed commit", &agent, || async {
        let st = sync_status(&client, &ns, "infra").await;
        (st["lastAppliedRevision"] == second.as_str()).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let app = get(&client, "v1", "ConfigMap", "configmaps", &ns, "app")
        .await
        .unwrap();
    assert_eq!(app["data"]["key"], "1", "a suspended Sync must not apply");
    let apps = sync_status(&client, &ns, "apps").await;
    assert_eq!(ready(&apps).unwrap().1, "reconciliation is suspended");

    let (code, out, err) = run(&c, &["resume", "sync", "apps", "-n", &ns]);
    assert_eq!(code, 0, "{out}{err}");
    eventually("apps resumed", &agent, || async {
        let app = get(&client, "v1", "ConfigMap", "configmaps", &ns, "app").await?;
        (app["data"]["key"] == "2").then_some(())
    })
    .await;
    let logs = agent.logs();
    assert!(
        !logs.contains(SECRET_TOKEN) && !logs.contains(WEBHOOK_SECRET),
        "a secret was logged"
    );
}

/// Two replicas with leader election: one holds the Lease and reconciles, the other waits and
/// takes over when the leader goes away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_lets_one_replica_reconcile() {
    let c = Cluster::new();
    let ns = c.name("leader");
    let repo = Repo::new(c.dir());
    repo.write("apps/app.yaml", &cm(&ns, "app", "1"));
    let first = repo.commit("first");
    install(&c, &ns, &repo, "1s", &sync_doc(&ns, "apps", "apps", ""));
    let a = Agent::start_with(
        &c,
        &ns,
        &["--leader-elect", &ns],
        &[("POD_NAME", "replica-a")],
    );
    let client = c.client().await;
    eventually("replica-a leads", &a, || async {
        let lease = get(
            &client,
            "coordination.k8s.io/v1",
            "Lease",
            "leases",
            &ns,
            "gitfleet-agent-leader",
        )
        .await?;
        (lease["spec"]["holderIdentity"] == "replica-a").then_some(())
    })
    .await;
    let b = Agent::start_with(
        &c,
        &ns,
        &["--leader-elect", &ns],
        &[("POD_NAME", "replica-b")],
    );
    eventually("applied by the leader", &a, || async {
        let st = sync_status(&client, &ns, "apps").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(())
    })
    .await;
    eventually("replica-b waits", &b, || async {
        b.logs().contains("another replica leads").then_some(())
    })
    .await;
    assert!(
        !b.logs().contains("agent started"),
        "a standby replica must not run controllers"
    );

    drop(a);
    eventually("replica-b takes over", &b, || async {
        let lease = get(
            &client,
            "coordination.k8s.io/v1",
            "Lease",
            "leases",
            &ns,
            "gitfleet-agent-leader",
        )
        .await?;
        (lease["spec"]["holderIdentity"] == "replica-b" && b.logs().contains("agent started"))
            .then_some(())
    })
    .await;
}

/// A hostile commit, a link to a file outside the repository and an alias bomb, is refused:
/// the Sync is Stalled with both errors, nothing of the revision is applied, the previous
/// revision stays, no byte of the outside file reaches the status, and the agent's memory stays
/// bounded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hostile_commit_is_refused_and_the_last_good_revision_stays() {
    const OUTSIDE_SECRET: &str = "AWS_SECRET_ACCESS_KEY=outside-the-repo-4711";
    let c = Cluster::new();
    let ns = c.name("hostile");
    let repo = Repo::new(c.dir());
    repo.write("clusters/dev/settings.yaml", &cm(&ns, "settings", "v1"));
    let first = repo.commit("first");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &sync_doc(&ns, "dev", "clusters/dev", ""),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(())
    })
    .await;

    let outside = c.dir().join("outside-secret.yaml");
    std::fs::write(&outside, format!("{OUTSIDE_SECRET}\n")).unwrap();
    std::os::unix::fs::symlink(&outside, repo.work.join("clusters/dev/leak.yaml")).unwrap();
    let mut bomb = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: bomb, namespace: {ns}}}\ndata:\n  l0: &l0 [\"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\", \"lol\"]\n"
    );
    for i in 1..10 {
        let p = i - 1;
        bomb.push_str(&format!(
            "  l{i}: &l{i} [*l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}, *l{p}]\n"
        ));
    }
    repo.write("clusters/dev/bomb.yaml", &bomb)
        .write("clusters/dev/settings.yaml", &cm(&ns, "settings", "v2"));
    let hostile = repo.commit("hostile");
    let status = eventually("hostile commit refused", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAttemptedRevision"] == hostile.as_str()).then_some(st)
    })
    .await;
    let (r, message) = ready(&status).unwrap();
    assert_eq!(r, "False", "{status}");
    assert!(
        message.contains("clusters/dev/leak.yaml:1:1: error: is a symbolic link to")
            && message.contains("outside the repository root"),
        "{message}"
    );
    assert!(
        message.contains("clusters/dev/bomb.yaml:") && message.contains("YAML aliases expand"),
        "{message}"
    );
    assert!(
        !status.to_string().contains("outside-the-repo-4711"),
        "{status}"
    );
    let stalled = status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Stalled").cloned())
        .expect("Stalled condition");
    assert_eq!(stalled["status"], "True", "{status}");
    assert_eq!(status["lastAppliedRevision"], first.as_str());
    let settings = get(&client, "v1", "ConfigMap", "configmaps", &ns, "settings")
        .await
        .unwrap();
    assert_eq!(
        settings["data"]["key"], "v1",
        "nothing of the hostile revision applies"
    );
    assert!(
        get(&client, "v1", "ConfigMap", "configmaps", &ns, "bomb")
            .await
            .is_none()
    );
    assert!(
        !agent.logs().contains("outside-the-repo-4711"),
        "the logs never hold it"
    );

    // Bounded: the peak resident memory of the agent process, from the kernel.
    let status_file =
        std::fs::read_to_string(format!("/proc/{}/status", agent.child.id())).unwrap();
    let peak_kib: u64 = status_file
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM");
    assert!(
        peak_kib < 256 * 1024,
        "the agent peaked at {peak_kib} KiB on a hostile commit"
    );
}

/// A Kustomize overlay synced from a real Git repository: the generated ConfigMap carries its
/// content hash, the Deployment mounts it by that name; a commit that changes the generator's
/// literal rolls the Deployment to the new name and prunes the old ConfigMap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kustomize_overlay_syncs_and_a_generator_change_rolls_the_deployment() {
    let c = Cluster::new();
    let ns = c.name("kustomize");
    let repo = Repo::new(c.dir());
    let overlay = |color: &str| {
        format!(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nnamespace: {ns}\nnamePrefix: dev-\nresources:\n- ../../apps/web\nconfigMapGenerator:\n- name: web-config\n  literals:\n  - color={color}\nlabels:\n- pairs: {{env: dev}}\n"
        )
    };
    repo.write(
        "apps/web/kustomization.yaml",
        "resources:\n- deployment.yaml\n",
    )
    .write(
        "apps/web/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  replicas: 1\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers:\n      - name: web\n        image: nginx:1.27\n        volumeMounts: [{name: config, mountPath: /etc/web}]\n      volumes:\n      - name: config\n        configMap: {name: web-config}\n",
    )
    .write("clusters/dev/kustomization.yaml", &overlay("blue"));
    let first = repo.commit("overlay");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &sync_doc(&ns, "dev", "clusters/dev", ""),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(())
    })
    .await;
    let mounted = |d: &Value| {
        d["spec"]["template"]["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let deployment = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        &ns,
        "dev-web",
    )
    .await
    .expect("the overlay's prefixed Deployment");
    let old_name = mounted(&deployment);
    assert!(
        old_name.starts_with("dev-web-config-") && old_name.len() == "dev-web-config-".len() + 10,
        "the Deployment mounts the hashed ConfigMap: {deployment}"
    );
    assert_eq!(deployment["metadata"]["labels"]["env"], "dev");
    let config = get(&client, "v1", "ConfigMap", "configmaps", &ns, &old_name)
        .await
        .expect("the generated ConfigMap");
    assert_eq!(config["data"]["color"], "blue");

    repo.write("clusters/dev/kustomization.yaml", &overlay("green"));
    let second = repo.commit("green");
    eventually("second sync", &agent, || async {
        let st = sync_status(&client, &ns, "dev").await;
        (st["lastAppliedRevision"] == second.as_str()).then_some(())
    })
    .await;
    let deployment = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        &ns,
        "dev-web",
    )
    .await
    .unwrap();
    let new_name = mounted(&deployment);
    assert_ne!(new_name, old_name, "a new hash, so the pods roll");
    let config = get(&client, "v1", "ConfigMap", "configmaps", &ns, &new_name)
        .await
        .expect("the new ConfigMap");
    assert_eq!(config["data"]["color"], "green");
    assert!(
        get(&client, "v1", "ConfigMap", "configmaps", &ns, &old_name)
            .await
            .is_none(),
        "the old ConfigMap is pruned"
    );
}

/// A Helm chart synced from Git with `spec.helm` (release name, a values file, inline values):
/// the cluster's version and API versions reach `.Capabilities`, a test hook is not applied;
/// a commit that changes values upgrades the release (`.Release.IsUpgrade`, a new config
/// checksum on the Deployment) and a template that renders nothing any more is pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_helm_chart_syncs_and_a_values_change_upgrades_it() {
    let c = Cluster::new();
    let ns = c.name("helm");
    let repo = Repo::new(c.dir());
    let values = |extra: bool| format!("replicas: 1\ncolor: blue\nextra: {extra}\n");
    repo.write(
        "apps/web/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 0.1.0\nappVersion: \"1.27\"\n",
    )
    .write("apps/web/values.yaml", &values(true))
    .write("apps/web/values-dev.yaml", "color: green\n")
    .write(
        "apps/web/templates/_helpers.tpl",
        "{{- define \"web.fullname\" -}}{{ .Release.Name }}-{{ .Chart.Name }}{{- end }}\n{{- define \"web.labels\" -}}\napp.kubernetes.io/name: {{ .Chart.Name }}\napp.kubernetes.io/instance: {{ .Release.Name }}\n{{- end }}\n",
    )
    .write(
        "apps/web/templates/configmap.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"web.fullname\" . }}\n  labels:\n    {{- include \"web.labels\" . | nindent 4 }}\ndata:\n  color: {{ .Values.color | quote }}\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n  apps: {{ .Capabilities.APIVersions.Has \"apps/v1\" | quote }}\n  deploymentKind: {{ .Capabilities.APIVersions.Has \"apps/v1/Deployment\" | quote }}\n  upgrade: {{ .Release.IsUpgrade | quote }}\n  namespace: {{ .Release.Namespace | quote }}\n  region: {{ .Values.cluster.region | quote }}\n  clusterName: {{ .Values.cluster.name | quote }}\n  looked: {{ (lookup \"v1\" \"ConfigMap\" .Release.Namespace \"gitfleet-cluster-facts\").data.provider | quote }}\n  missing: {{ empty (lookup \"v1\" \"Secret\" .Release.Namespace \"no-such-secret\") | quote }}\n",
    )
    .write(
        "apps/web/templates/deployment.yaml",
        "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ include \"web.fullname\" . }}\nspec:\n  replicas: {{ .Values.replicas }}\n  selector:\n    matchLabels:\n      {{- include \"web.labels\" . | nindent 6 }}\n  template:\n    metadata:\n      labels:\n        {{- include \"web.labels\" . | nindent 8 }}\n      annotations:\n        checksum/config: {{ include (print $.Template.BasePath \"/configmap.yaml\") . | sha256sum }}\n    spec:\n      containers:\n      - name: web\n        image: \"nginx:{{ .Chart.AppVersion }}\"\n",
    )
    .write(
        "apps/web/templates/extra.yaml",
        "{{- if .Values.extra }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ include \"web.fullname\" . }}-extra\ndata: {k: v}\n{{- end }}\n",
    )
    .write(
        "apps/web/templates/tests/test-connection.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: {{ include \"web.fullname\" . }}-test\n  annotations:\n    helm.sh/hook: test\nspec:\n  containers: [{name: t, image: busybox}]\n",
    );
    let first = repo.commit("chart");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &format!(
            "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {{name: gitfleet-cluster-facts, namespace: {ns}}}\ndata: {{name: dev, provider: eks, region: eu-west-1}}\n{}",
            sync_doc(
                &ns,
                "web",
                "apps/web",
                "  helm:\n    releaseName: shop\n    valuesFiles: [values-dev.yaml]\n    valuesFrom:\n    - {kind: ConfigMap, name: gitfleet-cluster-facts, targetPath: cluster}\n    values: {replicas: 2}\n",
            )
        ),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "web").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(())
    })
    .await;
    let config = get(&client, "v1", "ConfigMap", "configmaps", &ns, "shop-web")
        .await
        .expect("the chart's ConfigMap, named by the release");
    assert_eq!(
        config["data"]["color"], "green",
        "the values file wins over values.yaml"
    );
    let version = client
        .apiserver_version()
        .await
        .expect("/version")
        .git_version;
    assert_eq!(
        config["data"]["kube"],
        version.as_str(),
        "the cluster's version"
    );
    assert_eq!(config["data"]["apps"], "true");
    assert_eq!(
        config["data"]["deploymentKind"], "true",
        "group/version/Kind from discovery, as Helm's"
    );
    assert_eq!(config["data"]["upgrade"], "false");
    assert_eq!(config["data"]["namespace"], ns.as_str());
    assert_eq!(
        config["data"]["region"], "eu-west-1",
        "cluster facts reach the chart"
    );
    assert_eq!(config["data"]["clusterName"], "dev");
    assert_eq!(
        config["data"]["looked"], "eks",
        "lookup reads the live cluster"
    );
    assert_eq!(
        config["data"]["missing"], "true",
        "lookup of nothing is an empty map"
    );
    let deployment = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        &ns,
        "shop-web",
    )
    .await
    .expect("the Deployment");
    assert_eq!(
        deployment["spec"]["replicas"], 2,
        "inline values win: {deployment}"
    );
    assert_eq!(
        deployment["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    let checksum =
        deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"].clone();
    assert!(
        get(
            &client,
            "v1",
            "ConfigMap",
            "configmaps",
            &ns,
            "shop-web-extra"
        )
        .await
        .is_some()
    );
    assert!(
        get(&client, "v1", "Pod", "pods", &ns, "shop-web-test")
            .await
            .is_none(),
        "a test hook is not applied"
    );

    repo.write("apps/web/values-dev.yaml", "color: red\n")
        .write("apps/web/values.yaml", &values(false));
    let second = repo.commit("red, no extra");
    eventually("second sync", &agent, || async {
        let st = sync_status(&client, &ns, "web").await;
        (st["lastAppliedRevision"] == second.as_str()).then_some(())
    })
    .await;
    let config = get(&client, "v1", "ConfigMap", "configmaps", &ns, "shop-web")
        .await
        .unwrap();
    assert_eq!(config["data"]["color"], "red");
    assert_eq!(
        config["data"]["upgrade"], "true",
        "a later revision is an upgrade"
    );
    let deployment = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        &ns,
        "shop-web",
    )
    .await
    .unwrap();
    assert_ne!(
        deployment["spec"]["template"]["metadata"]["annotations"]["checksum/config"], checksum,
        "the config checksum rolls the pods"
    );
    assert!(
        get(
            &client,
            "v1",
            "ConfigMap",
            "configmaps",
            &ns,
            "shop-web-extra"
        )
        .await
        .is_none(),
        "the template that renders nothing now is pruned"
    );
}

/// A Helm chart repository on loopback: `index.yaml` and archives, served from a map the test
/// changes (a new version published, a tampered archive).
pub(crate) struct ChartRepo {
    files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>>,
    port: u16,
    /// An `Authorization` header every request must carry, when set.
    pub(crate) required: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

impl ChartRepo {
    pub(crate) fn start() -> ChartRepo {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let files: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>> =
            Default::default();
        let served = files.clone();
        let required: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
        let want = required.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                if reader.read_line(&mut line).is_err() {
                    continue;
                }
                // the rest of the request head
                let mut authorization = None;
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
                        break;
                    }
                    if let Some((k, v)) = h.split_once(':')
                        && k.eq_ignore_ascii_case("authorization")
                    {
                        authorization = Some(v.trim().to_string());
                    }
                }
                let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
                let body = served.lock().unwrap().get(&path).cloned();
                let needed = want.lock().unwrap().clone();
                let (status, body) = match body {
                    _ if needed.is_some() && authorization != needed => {
                        ("401 Unauthorized", b"who are you".to_vec())
                    }
                    Some(b) => ("200 OK", b),
                    None => ("404 Not Found", b"not found".to_vec()),
                };
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = stream.write_all(&body);
            }
        });
        ChartRepo {
            files,
            port,
            required,
        }
    }

    pub(crate) fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Packages a chart `web` at `version` (its ConfigMap says which) as `web-VERSION.tgz`.
    fn package(dir: &Path, version: &str) -> Vec<u8> {
        let chart = dir.join(format!("src-{version}/web"));
        std::fs::create_dir_all(chart.join("templates")).unwrap();
        std::fs::write(
            chart.join("Chart.yaml"),
            format!("apiVersion: v2\nname: web\nversion: {version}\n"),
        )
        .unwrap();
        std::fs::write(chart.join("values.yaml"), "color: blue\n").unwrap();
        std::fs::write(
            chart.join("templates/cm.yaml"),
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-web\ndata:\n  version: {{ .Chart.Version | quote }}\n  color: {{ .Values.color | quote }}\n",
        )
        .unwrap();
        let out = dir.join(format!("web-{version}.tgz"));
        let status = Command::new("tar")
            .arg("czf")
            .arg(&out)
            .arg("-C")
            .arg(dir.join(format!("src-{version}")))
            .arg("web")
            .status()
            .unwrap();
        assert!(status.success());
        std::fs::read(out).unwrap()
    }

    /// Publishes the archives with an index; `tampered` versions get a digest that is not theirs.
    pub(crate) fn publish(&self, dir: &Path, versions: &[&str], tampered: &[&str]) {
        use sha2::Digest as _;
        let mut index = String::from("apiVersion: v1\nentries:\n  web:\n");
        let mut files = self.files.lock().unwrap();
        for v in versions {
            let data = Self::package(dir, v);
            let digest = if tampered.contains(v) {
                hex::encode(sha2::Sha256::digest(b"something else"))
            } else {
                hex::encode(sha2::Sha256::digest(&data))
            };
            index.push_str(&format!(
                "  - name: web\n    version: {v}\n    digest: {digest}\n    urls: [charts/web-{v}.tgz]\n"
            ));
            files.insert(format!("/charts/web-{v}.tgz"), data);
        }
        files.insert("/index.yaml".into(), index.into_bytes());
    }
}

/// `spec.chart` from a Helm repository: the newest version in the range is applied and
/// recorded (version and digest, in the status and the history), a newer version published
/// upgrades it at the next sync, and an archive whose digest is not the index's is refused
/// while the last good revision stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_from_a_helm_repository_is_resolved_verified_and_upgraded() {
    let c = Cluster::new();
    let ns = c.name("chartrepo");
    let repo = Repo::new(c.dir());
    repo.write("releases/web/prod.yaml", "color: green\n");
    let commit = repo.commit("values");
    let charts = ChartRepo::start();
    let work = tempfile::tempdir().unwrap();
    charts.publish(work.path(), &["1.0.0", "1.2.0", "2.0.0"], &[]);
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &sync_doc(
            &ns,
            "web",
            "releases/web",
            &format!(
                "  chart:\n    repository: {}\n    name: web\n    version: \"^1.0\"\n  helm:\n    valuesFiles: [prod.yaml]\n",
                charts.url()
            ),
        ),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    let st = eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "web").await;
        (st["lastAppliedRevision"] == commit.as_str()).then_some(st)
    })
    .await;
    assert_eq!(
        st["lastAppliedChart"]["version"], "1.2.0",
        "the newest ^1.0: {st}"
    );
    assert!(
        st["lastAppliedChart"]["digest"]
            .as_str()
            .is_some_and(|d| d.starts_with("sha256:") && d.len() == 71),
        "{st}"
    );
    assert!(
        st["history"][0]["chart"]
            .as_str()
            .unwrap_or("")
            .starts_with("web@1.2.0")
    );
    let cm = get(&client, "v1", "ConfigMap", "configmaps", &ns, "web-web")
        .await
        .expect("the chart's ConfigMap");
    assert_eq!(cm["data"]["version"], "1.2.0");
    assert_eq!(cm["data"]["color"], "green", "the values file from Git");

    charts.publish(work.path(), &["1.0.0", "1.2.0", "1.3.0", "2.0.0"], &[]);
    eventually("the upgrade to 1.3.0", &agent, || async {
        let cm = get(&client, "v1", "ConfigMap", "configmaps", &ns, "web-web").await?;
        (cm["data"]["version"] == "1.3.0").then_some(())
    })
    .await;

    charts.publish(work.path(), &["1.3.0", "1.4.0"], &["1.4.0"]);
    let st = eventually("the tampered archive refused", &agent, || async {
        not_ready(&client, &ns, "web").await
    })
    .await;
    let (st, ready) = st;
    assert_eq!(ready["reason"], "ChartFetchFailed", "{ready}");
    let msg = ready["message"].as_str().unwrap();
    assert!(
        msg.contains("refusing it") && msg.contains("1.4.0"),
        "{msg}"
    );
    assert_eq!(
        st["lastAppliedChart"]["version"], "1.3.0",
        "the last good chart stays"
    );
    let cm = get(&client, "v1", "ConfigMap", "configmaps", &ns, "web-web")
        .await
        .unwrap();
    assert_eq!(cm["data"]["version"], "1.3.0");
}

/// `spec.chart.secretRef` for a private Helm repository: basic auth (`username`/`password`)
/// against a repository that refuses anonymous requests, and a CA bundle (`ca.crt`) for one
/// served over HTTPS by `openssl s_server` with a certificate of a private CA. A wrong password
/// and a missing CA are errors on Ready naming the repository, never a credential; once the
/// Secrets are right, both charts are applied; no password reaches the status, events or log.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_chart_repository_takes_credentials_and_a_ca_from_the_syncs_secret() {
    use base64::Engine as _;
    let c = Cluster::new();
    let ns = c.name("chartauth");
    let repo = Repo::new(c.dir());
    repo.write("releases/README.md", "charts from private repositories\n");
    let commit = repo.commit("values");
    let work = tempfile::tempdir().unwrap();
    let d = work.path();
    // basic auth: the repository answers 401 to anything else
    let charts = ChartRepo::start();
    charts.publish(d, &["1.0.0"], &[]);
    let password = "chart-s3cret-pass";
    *charts.required.lock().unwrap() = Some(format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("robot:{password}"))
    ));
    // HTTPS: the same files from a directory, a server certificate signed by a private CA
    let www = d.join("www");
    for (path, data) in charts.files.lock().unwrap().iter() {
        let file = www.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, data).unwrap();
    }
    let openssl = |args: &[&str]| {
        crate::support::run(d, "openssl", args);
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "1",
                "-subj",
                "/CN=gitfleet test CA",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "srv.key",
                "-out",
                "srv.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        d.join("srv.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "srv.csr",
        "-CA",
        "ca.crt",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "srv.crt",
        "-days",
        "1",
        "-extfile",
        "srv.ext",
    ]);
    let port = crate::support::free_port();
    let mut server = crate::support::Killed(
        Command::new("openssl")
            .current_dir(&www)
            .args(["s_server", "-quiet", "-WWW", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(d.join("srv.crt"))
            .arg("-key")
            .arg(d.join("srv.key"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    crate::support::wait_for_port(port, &mut server.0);

    let chart = |name: &str, url: &str, secret: &str| {
        sync_doc(
            &ns,
            name,
            "releases",
            &format!(
                "  chart:\n    repository: {url}\n    name: web\n    version: \"1.0.0\"\n    secretRef: {{name: {secret}}}\n  helm:\n    releaseName: {name}\n"
            ),
        )
    };
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &format!(
            "{}{}",
            chart("auth", &charts.url(), "chart-auth"),
            chart("tls", &format!("https://127.0.0.1:{port}"), "chart-ca")
        ),
    );
    let client = c.client().await;
    let put = |name: &'static str, data: Value| {
        let client = client.clone();
        let ns = ns.clone();
        async move { put_secret(&client, &ns, name, data).await }
    };
    put(
        "chart-auth",
        json!({"username": "robot", "password": "wrong-pass"}),
    )
    .await;
    put("chart-ca", json!({"note": "no CA yet"})).await;
    let agent = Agent::start(&c, &ns);
    let failing = |name: &'static str| {
        let client = client.clone();
        let ns = ns.clone();
        async move {
            let (_, ready) = not_ready(&client, &ns, name).await?;
            (ready["reason"] == "ChartFetchFailed").then_some(ready)
        }
    };
    let ready = eventually("the wrong password refused", &agent, || failing("auth")).await;
    let msg = ready["message"].as_str().unwrap().to_string();
    assert_eq!(ready["reason"], "ChartFetchFailed", "{ready}");
    assert!(msg.contains("401") && msg.contains(&charts.url()), "{msg}");
    assert!(!msg.contains("wrong-pass"), "{msg}");
    let ready = eventually("the unknown CA refused", &agent, || failing("tls")).await;
    let msg = ready["message"].as_str().unwrap().to_string();
    assert_eq!(ready["reason"], "ChartFetchFailed", "{ready}");
    assert!(
        msg.contains(&format!("127.0.0.1:{port}")) && msg.contains("certificate"),
        "{msg}"
    );
    assert!(
        get(&client, "v1", "ConfigMap", "configmaps", &ns, "auth-web")
            .await
            .is_none()
            && get(&client, "v1", "ConfigMap", "configmaps", &ns, "tls-web")
                .await
                .is_none(),
        "nothing applied without the right Secrets"
    );

    put(
        "chart-auth",
        json!({"username": "robot", "password": password}),
    )
    .await;
    put(
        "chart-ca",
        json!({"ca.crt": std::fs::read_to_string(d.join("ca.crt")).unwrap()}),
    )
    .await;
    for name in ["auth", "tls"] {
        let st = eventually(&format!("the {name} chart applied"), &agent, || async {
            let st = sync_status(&client, &ns, name).await;
            (st["lastAppliedRevision"] == commit.as_str()).then_some(st)
        })
        .await;
        assert_eq!(st["lastAppliedChart"]["version"], "1.0.0", "{st}");
        let cm = get(
            &client,
            "v1",
            "ConfigMap",
            "configmaps",
            &ns,
            &format!("{name}-web"),
        )
        .await
        .unwrap_or_else(|| panic!("the {name} chart's ConfigMap"));
        assert_eq!(cm["data"]["version"], "1.0.0");
    }
    let events = api(&client, "v1", "Event", "events", &ns)
        .list(&Default::default())
        .await
        .unwrap();
    for (what, text) in [
        (
            "the auth Sync",
            sync_status(&client, &ns, "auth").await.to_string(),
        ),
        ("the events", serde_json::to_string(&events.items).unwrap()),
        ("the agent's log", agent.logs()),
    ] {
        assert!(
            !text.contains(password) && !text.contains("wrong-pass"),
            "{what} shows a password: {text}"
        );
    }
}

/// The CNCF distribution registry (Debian's `docker-registry`, installed by scripts/test.sh and
/// named by `GITFLEET_REGISTRY`) on a free loopback port, storing in a temporary directory.
struct OciRegistry {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OciRegistry {
    fn start() -> OciRegistry {
        let dir = tempfile::tempdir().unwrap();
        let port = crate::support::free_port();
        let child = Self::serve(dir.path(), port, "");
        OciRegistry {
            child,
            port,
            _dir: dir,
        }
    }

    /// Serves `dir/data` on `port`, with `auth` (a YAML block, or nothing) in its configuration.
    fn serve(dir: &Path, port: u16, auth: &str) -> Child {
        let bin = std::env::var_os("GITFLEET_REGISTRY").unwrap_or_else(|| {
            panic!(
                "GITFLEET_REGISTRY is not set: the OCI chart test needs Debian's docker-registry \
                 (the CNCF distribution registry); scripts/test.sh installs it. Missing is a \
                 failure, not a skip."
            )
        });
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog: {{level: error}}\nstorage:\n  filesystem: {{rootdirectory: {}}}\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.join("data").display()
            ),
        )
        .unwrap();
        let mut child = Command::new(&bin)
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {}: {e}", Path::new(&bin).display()));
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(child.try_wait().unwrap().is_none(), "the registry exited");
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the registry did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        child
    }

    /// The same storage on the same port, served again requiring `user`:`password` (the
    /// registry's htpasswd backend: HTTP basic auth, the password as a bcrypt hash made by the
    /// system's crypt(3) through Python).
    fn require_basic_auth(&mut self, user: &str, password: &str) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let python = std::env::var_os("GITFLEET_HELM_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::support::root().join(".venv/bin/python"));
        let out = Command::new(python)
            .args([
                "-W",
                "ignore",
                "-c",
                "import crypt, sys; print(crypt.crypt(sys.argv[1], crypt.mksalt(crypt.METHOD_BLOWFISH)))",
                password,
            ])
            .output()
            .unwrap();
        let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert!(
            out.status.success() && hash.starts_with("$2"),
            "bcrypt: {hash} {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let htpasswd = self._dir.path().join("htpasswd");
        std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
        // the old process may hold the port for a moment after it exits
        let start = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "the port stays busy"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child = Self::serve(
            self._dir.path(),
            self.port,
            &format!(
                "auth:\n  htpasswd: {{realm: gitfleet-test, path: {}}}\n",
                htpasswd.display()
            ),
        );
    }

    /// The registry's storage directory (its filesystem driver's root).
    fn data(&self) -> PathBuf {
        self._dir.path().join("data")
    }

    /// Pushes a chart archive `web-VERSION.tgz` with Helm itself (helm-python-sdk's registry
    /// client); returns the manifest digest Helm resolves for it.
    fn push(&self, archive: &Path, version: &str) -> String {
        let python = std::env::var_os("GITFLEET_HELM_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| crate::support::root().join(".venv/bin/python"));
        let script = format!(
            "import json\nfrom helm_python.registry import push, RegistryClient\npush({:?}, 'oci://127.0.0.1:{port}/charts', plain_http=True)\nr = RegistryClient(plain_http=True).resolve('oci://127.0.0.1:{port}/charts/web:{version}')\nprint(json.dumps(r))\n",
            archive.to_string_lossy(),
            port = self.port
        );
        let out = Command::new(python).args(["-c", &script]).output().unwrap();
        assert!(
            out.status.success(),
            "helm push failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Value = serde_json::from_slice(&out.stdout).expect("push result");
        let digest = v["digest"].as_str().unwrap_or_default().to_string();
        assert!(digest.starts_with("sha256:"), "Helm resolved {v}");
        digest
    }
}

impl Drop for OciRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `spec.chart` from an OCI registry (the real distribution registry, charts pushed by Helm):
/// the newest tag in the range is pulled, its layer verified, and the manifest digest recorded;
/// a newer tag pushed later is upgraded to; a tag whose layer was altered in the registry's
/// storage is refused and the last good chart stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_from_an_oci_registry_is_pulled_and_recorded() {
    let registry = OciRegistry::start();
    let work = tempfile::tempdir().unwrap();
    let mut pushed = std::collections::HashMap::new();
    for v in ["1.2.0", "1.2.5", "1.3.0"] {
        ChartRepo::package(work.path(), v);
        let digest = registry.push(&work.path().join(format!("web-{v}.tgz")), v);
        pushed.insert(v, digest);
    }
    let c = Cluster::new();
    let ns = c.name("oci");
    // the release namespace, named so a real cluster's clean-up removes it too
    let apps = c.name("oci-apps");
    let repo = Repo::new(c.dir());
    repo.write("releases/web/.keep", "");
    let commit = repo.commit("a release");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {apps}}}\n{}",
            sync_doc(
                &ns,
                "web",
                "releases/web",
                &format!(
                    "  chart:\n    repository: oci://127.0.0.1:{}/charts\n    name: web\n    version: \"~1.2\"\n  helm:\n    releaseName: shop\n    namespace: {apps}\n",
                    registry.port
                ),
            )
        ),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    let st = eventually("the sync from the registry", &agent, || async {
        let st = sync_status(&client, &ns, "web").await;
        (st["lastAppliedRevision"] == commit.as_str()).then_some(st)
    })
    .await;
    assert_eq!(
        st["lastAppliedChart"]["version"], "1.2.5",
        "the newest ~1.2: {st}"
    );
    assert_eq!(
        st["lastAppliedChart"]["digest"],
        pushed["1.2.5"].as_str(),
        "Helm's manifest digest"
    );
    let cm = get(&client, "v1", "ConfigMap", "configmaps", &apps, "shop-web")
        .await
        .expect("the chart's ConfigMap, in the release namespace");
    assert_eq!(cm["data"]["version"], "1.2.5");

    // a newer tag in the range is pushed: the next sync upgrades to it
    ChartRepo::package(work.path(), "1.2.7");
    registry.push(&work.path().join("web-1.2.7.tgz"), "1.2.7");
    eventually("the upgrade to 1.2.7", &agent, || async {
        let cm = get(&client, "v1", "ConfigMap", "configmaps", &apps, "shop-web").await?;
        (cm["data"]["version"] == "1.2.7").then_some(())
    })
    .await;

    // a tag whose layer was altered in the registry's storage: refused, the last good stays
    let tgz = ChartRepo::package(work.path(), "1.2.9");
    registry.push(&work.path().join("web-1.2.9.tgz"), "1.2.9");
    use sha2::Digest as _;
    let layer = hex::encode(sha2::Sha256::digest(&tgz));
    let blob = registry
        .data()
        .join("docker/registry/v2/blobs/sha256")
        .join(&layer[..2])
        .join(&layer)
        .join("data");
    assert!(
        blob.is_file(),
        "the chart layer is stored at {}",
        blob.display()
    );
    let mut altered = tgz.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0xff;
    std::fs::write(&blob, &altered).unwrap();
    let (st, ready) = eventually("the altered layer refused", &agent, || async {
        not_ready(&client, &ns, "web").await
    })
    .await;
    assert_eq!(ready["reason"], "ChartFetchFailed", "{ready}");
    assert!(
        ready["message"]
            .as_str()
            .unwrap_or_default()
            .contains("refusing it"),
        "{ready}"
    );
    assert_eq!(
        st["lastAppliedChart"]["version"], "1.2.7",
        "the last good chart stays"
    );
    let cm = get(&client, "v1", "ConfigMap", "configmaps", &apps, "shop-web")
        .await
        .unwrap();
    assert_eq!(cm["data"]["version"], "1.2.7");
}

/// `spec.chart.secretRef` for an OCI registry that requires authentication (the distribution
/// registry's htpasswd backend): a wrong password is an error on Ready naming the registry and
/// never the password, nothing applied; the right one pulls and applies the chart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chart_from_an_authenticating_oci_registry_takes_the_syncs_secret() {
    let mut registry = OciRegistry::start();
    let work = tempfile::tempdir().unwrap();
    ChartRepo::package(work.path(), "1.0.0");
    registry.push(&work.path().join("web-1.0.0.tgz"), "1.0.0");
    let password = "oci-s3cret-pass";
    registry.require_basic_auth("robot", password);
    let c = Cluster::new();
    let ns = c.name("ociauth");
    let repo = Repo::new(c.dir());
    repo.write("releases/web/.keep", "");
    let commit = repo.commit("a release");
    let url = format!("oci://127.0.0.1:{}/charts", registry.port);
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &sync_doc(
            &ns,
            "web",
            "releases/web",
            &format!(
                "  chart:\n    repository: {url}\n    name: web\n    version: \"1.0.0\"\n    secretRef: {{name: registry}}\n"
            ),
        ),
    );
    let client = c.client().await;
    let put = |password: &str| {
        put_secret(
            &client,
            &ns,
            "registry",
            json!({"username": "robot", "password": password}),
        )
    };
    put("wrong-pass").await;
    let agent = Agent::start(&c, &ns);
    let ready = eventually("the wrong password refused", &agent, || async {
        let (_, ready) = not_ready(&client, &ns, "web").await?;
        (ready["reason"] == "ChartFetchFailed").then_some(ready)
    })
    .await;
    let msg = ready["message"].as_str().unwrap();
    assert!(
        msg.contains("401") && msg.contains(&format!("127.0.0.1:{}", registry.port)),
        "{msg}"
    );
    assert!(!msg.contains("wrong-pass"), "{msg}");
    assert!(
        get(&client, "v1", "ConfigMap", "configmaps", &ns, "web-web")
            .await
            .is_none()
    );

    put(password).await;
    let st = eventually(
        "the chart pulled with the right password",
        &agent,
        || async {
            let st = sync_status(&client, &ns, "web").await;
            (st["lastAppliedRevision"] == commit.as_str()).then_some(st)
        },
    )
    .await;
    assert_eq!(st["lastAppliedChart"]["version"], "1.0.0", "{st}");
    let cm = get(&client, "v1", "ConfigMap", "configmaps", &ns, "web-web")
        .await
        .expect("the chart's ConfigMap");
    assert_eq!(cm["data"]["version"], "1.0.0");
    let logs = agent.logs();
    assert!(
        !logs.contains(password) && !logs.contains("wrong-pass"),
        "{logs}"
    );
    assert!(!st.to_string().contains(password), "{st}");
}

/// Helm hooks around a revision: a pre-install Job runs (and completes) before the release's
/// objects, weights order the hooks, a `hook-succeeded` Job is deleted once it completes, a
/// post-install hook with `generateName` gets a stable name; hooks are not in the inventory
/// and do not run again at the same revision. A pre-upgrade hook that fails stops the next
/// revision before anything else changes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_hooks_run_around_a_revision_and_a_failing_pre_hook_stops_it() {
    let c = Cluster::new();
    let ns = c.name("hooks");
    let repo = Repo::new(c.dir());
    let job = |name: &str, events: &str, weight: i64, policy: &str, image: &str| {
        format!(
            "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: {name}\n  annotations:\n    helm.sh/hook: {events}\n    helm.sh/hook-weight: \"{weight}\"\n{policy}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: m, image: \"{image}\"}}]\n"
        )
    };
    repo.write("chart/Chart.yaml", "apiVersion: v2\nname: app\nversion: 0.1.0\n")
        .write("chart/values.yaml", "setting: one\nmigrateImage: busybox:1.36\n")
        .write(
            "chart/templates/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  value: {{ .Values.setting | quote }}\n",
        )
        .write(
            "chart/templates/migrate.yaml",
            &job(
                "migrate",
                "pre-install,pre-upgrade",
                -1,
                "",
                "{{ .Values.migrateImage }}",
            ),
        )
        .write(
            "chart/templates/seed.yaml",
            &job(
                "seed",
                "pre-install",
                5,
                "    helm.sh/hook-delete-policy: hook-succeeded\n",
                "busybox:1.36",
            ),
        )
        .write(
            "chart/templates/notify.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  generateName: notify-\n  annotations:\n    helm.sh/hook: post-install\ndata: {done: \"yes\"}\n",
        );
    let first = repo.commit("chart with hooks");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &format!(
            "---\napiVersion: gitfleet.io/v1alpha1\nkind: Sync\nmetadata: {{name: app, namespace: {ns}}}\nspec:\n  sourceRef: {{name: fleet}}\n  path: chart\n  interval: 2s\n  timeout: 4s\n"
        ),
    );
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    let st = eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "app").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(st)
    })
    .await;
    let message = st["history"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains("hook Job/migrate PreSync: succeeded")
            && message.contains("hook Job/seed PreSync: succeeded"),
        "{st}"
    );
    // the history records each hook: name, phase, result, duration
    let hooks = st["history"][0]["hooks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        hooks.iter().any(|h| h["name"] == "migrate"
            && h["phase"] == "PreSync"
            && h["result"] == "Succeeded"
            && h["duration"].as_str().is_some_and(|d| d.ends_with('s'))),
        "{st}"
    );
    let (_, out, _) = run(&c, &["status", "-n", &ns]);
    assert!(
        out.contains("hook Job/migrate PreSync Succeeded in"),
        "{out}"
    );
    let (_, out, _) = run(&c, &["status", "-n", &ns, "-o", "json"]);
    assert!(out.contains("\"phase\": \"PreSync\""), "{out}");
    assert!(
        message.find("Job/migrate").unwrap() < message.find("Job/seed").unwrap(),
        "weight -1 runs before weight 5: {message}"
    );
    let migrate = get(&client, "batch/v1", "Job", "jobs", &ns, "migrate")
        .await
        .expect("the pre-install Job stays (no delete policy beyond before-hook-creation)");
    assert!(
        migrate["status"]["conditions"]
            .as_array()
            .is_some_and(|cs| cs
                .iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True")),
        "{migrate}"
    );
    assert!(
        get(&client, "batch/v1", "Job", "jobs", &ns, "seed")
            .await
            .is_none(),
        "hook-succeeded deletes the Job once it completed"
    );
    let notify: Vec<String> = api(&client, "v1", "ConfigMap", "configmaps", &ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .iter()
        .filter_map(|o| o.metadata.name.clone())
        .filter(|n| n.starts_with("notify-"))
        .collect();
    assert_eq!(
        notify.len(),
        1,
        "one post-install hook, named from generateName: {notify:?}"
    );
    assert_eq!(
        st["inventory"]["entries"], 1,
        "hooks are not in the inventory: {st}"
    );

    // a drift correction at the same revision runs no hook again
    let uid = migrate["metadata"]["uid"].clone();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let again = get(&client, "batch/v1", "Job", "jobs", &ns, "migrate")
        .await
        .unwrap();
    assert_eq!(
        again["metadata"]["uid"], uid,
        "the pre-install Job is not recreated"
    );

    // the next revision's pre-upgrade hook cannot complete: nothing else changes
    repo.write(
        "chart/values.yaml",
        "setting: two\nmigrateImage: registry.invalid/migrate:1\n",
    );
    let second = repo.commit("a migration that cannot run");
    let st = eventually("the failing hook reported", &agent, || async {
        let st = sync_status(&client, &ns, "app").await;
        (st["lastAttemptedRevision"] == second.as_str() && st["history"][0]["outcome"] == "Failed")
            .then_some(st)
    })
    .await;
    let ready = st["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["type"] == "Ready")
        .unwrap();
    assert_eq!(ready["reason"], "HookFailed", "{st}");
    assert_eq!(st["lastAppliedRevision"], first.as_str());
    let cm = get(&client, "v1", "ConfigMap", "configmaps", &ns, "settings")
        .await
        .unwrap();
    assert_eq!(
        cm["data"]["value"], "one",
        "the release's objects did not change"
    );
}

/// The agent's log lines of one Sync's finished reconciles whose apply changed nothing.
fn no_op_passes(agent: &Agent, sync: &str) -> usize {
    agent
        .logs()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| {
            v["sync"] == sync
                && v["outcome"] == "Succeeded"
                && v["fields"]["message"]
                    .as_str()
                    .or(v["message"].as_str())
                    .is_some_and(|m| m.starts_with("0 created, 0 configured"))
        })
        .count()
}

/// Issue 13: a resync of an unchanged set sends no write at all (no dry-run, no PATCH, no status
/// write, no event), no discovery after the first pass, and reads each resource with at most one
/// request per namespace; a GitSource fetch that finds nothing new writes no status either. The
/// Sync's and the GitSource's resourceVersions stay put across several passes, and a drift edit
/// is still healed on the next one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_resync_writes_nothing_and_reads_each_resource_once() {
    let c = Cluster::new();
    let ns = c.name("quiet");
    let repo = Repo::new(c.dir());
    let mut text = String::new();
    for i in 0..10 {
        text.push_str(&format!("---\n{}", cm(&ns, &format!("cm-{i}"), "v1")));
    }
    repo.write("apps/quiet/configmaps.yaml", &text).write(
        "apps/quiet/web.yaml",
        &format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  replicas: 1\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec:\n      containers: [{{name: app, image: \"nginx:1.27\"}}]\n"
        ),
    );
    let first = repo.commit("first");
    install(
        &c,
        &ns,
        &repo,
        "1s",
        &sync_doc(&ns, "quiet", "apps/quiet", "").replace("interval: 2s", "interval: 1s"),
    );
    // real-server difference 3: an API server on etcd 3.4 refuses streaming lists; every watch
    // the agent starts must work without them
    if let Some(s) = c.standin() {
        s.refuse_streaming_lists(true);
        s.clear_requests();
    }
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "quiet").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(())
    })
    .await;
    // one no-op pass first: it may still write the status once (the message of a first apply
    // says "created") and fill the discovery cache
    eventually("a first no-op pass", &agent, || async {
        (no_op_passes(&agent, "quiet") >= 1).then_some(())
    })
    .await;
    let versions = || async {
        let sync = sync_object(&client, &ns, "quiet").await.unwrap();
        let source = source_object(&client, &ns, "fleet").await.unwrap();
        (
            sync["metadata"]["resourceVersion"].clone(),
            source["metadata"]["resourceVersion"].clone(),
            sync["status"].clone(),
        )
    };
    if let Some(s) = c.standin() {
        let watches: Vec<_> = s
            .requests()
            .into_iter()
            .filter(|r| r.verb == "watch")
            .collect();
        assert!(
            watches.len() >= 2 && watches.iter().all(|w| w.status == 200),
            "the agent's watches: {:?}",
            watches
                .iter()
                .map(|w| format!("{w} -> {}", w.status))
                .collect::<Vec<_>>()
        );
    }
    // settled: the status of the no-op pass is written (or not) by the time its log line is
    let before = versions().await;
    let passes = no_op_passes(&agent, "quiet");
    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    // at least three resyncs, with no request of the test in between
    let start = Instant::now();
    while no_op_passes(&agent, "quiet") < passes + 3 {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no resync; agent log:\n{}",
            agent.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let passes = no_op_passes(&agent, "quiet") - passes;
    let window = start.elapsed();
    if let Some(s) = c.standin() {
        let requests = s.requests();
        let refused: Vec<String> = requests
            .iter()
            .filter(|r| r.status >= 500)
            .map(|r| format!("{r} -> {}", r.status))
            .collect();
        assert!(refused.is_empty(), "{refused:?}");
        let shown: Vec<String> = requests.iter().map(|r| r.to_string()).collect();
        assert!(
            requests.iter().all(|r| !r.is_write() && !r.dry_run),
            "an unchanged resync wrote: {shown:#?}"
        );
        assert!(
            requests.iter().all(|r| !r.discovery),
            "discovery is reused across resyncs: {shown:#?}"
        );
        // per pass: the ConfigMaps (one LIST) and the Deployment (GET); per fetch of the
        // GitSource (every second at most), its credentials; the inventory comes from the
        // agent's watch, at the version it wrote. Nothing else is read. A pass counted in the
        // window may have read before it, and one may have read without logging yet: ±1.
        type Pred = fn(&crate::support::kube_api::Request) -> bool;
        let list: Pred = |r| r.verb == "list" && r.path.ends_with("/configmaps");
        let deployment: Pred = |r| r.verb == "get" && r.path.ends_with("/deployments/web");
        let secret: Pred = |r| r.verb == "get" && r.path.ends_with("/secrets/git-credentials");
        let count = |f: Pred| requests.iter().filter(|r| f(r)).count();
        let (lists, deployments, credentials) = (count(list), count(deployment), count(secret));
        let others = requests
            .iter()
            .filter(|r| r.verb != "watch" && ![list, deployment, secret].iter().any(|f| f(r)))
            .count();
        assert_eq!(
            others, 0,
            "only the synced objects and the credentials are read: {shown:#?}"
        );
        assert!(
            lists + 1 >= passes && lists <= passes + 1,
            "{lists} ConfigMap lists for {passes} passes: {shown:#?}"
        );
        assert!(
            deployments <= passes + 1,
            "{deployments} Deployment reads for {passes} passes: {shown:#?}"
        );
        let fetches = window.as_secs() as usize + 1;
        assert!(
            credentials <= fetches,
            "{credentials} credential reads in {window:?} (a fetch a second at most): {shown:#?}"
        );
    }
    let after = versions().await;
    assert_eq!(
        (&before.0, &before.1),
        (&after.0, &after.1),
        "an unchanged resync or fetch wrote a status: {}\n{}",
        before.2,
        after.2
    );

    // drift is still healed, and that pass writes the status (its message changed)
    api(&client, "v1", "ConfigMap", "configmaps", &ns)
        .patch(
            "cm-3",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..Default::default()
            },
            &Patch::Merge(json!({"data": {"key": "edited"}})),
        )
        .await
        .unwrap();
    eventually("drift healed", &agent, || async {
        let cm = get(&client, "v1", "ConfigMap", "configmaps", &ns, "cm-3").await?;
        (cm["data"]["key"] == "v1").then_some(())
    })
    .await;
    eventually("the heal logged", &agent, || async {
        agent
            .logs()
            .lines()
            .any(|l| l.contains("\"sync\":\"quiet\"") && l.contains("0 created, 1 configured"))
            .then_some(())
    })
    .await;
    let healed = versions().await;
    assert_ne!(healed.0, after.0, "the heal is recorded in the status");
    assert_eq!(healed.2["lastAppliedRevision"], first.as_str());
}

/// A private GitSource over ssh:// (OpenSSH's sshd; a Secret with `identity` and `known_hosts`, as
/// Flux's) whose kustomization pulls a remote base from the same host, pinned by tag: the agent
/// fetches both with the GitSource's key and applies them; no key material reaches a status, an
/// event or the log; a new tag of the base named by a new commit is fetched and applied too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_ssh_source_and_its_remote_base_use_the_sources_key() {
    let c = Cluster::new();
    let ns = c.name("ssh");
    let sshd = crate::git::Sshd::start();
    let base = Repo::new(&c.dir().join("base"));
    base.write(
        "app/kustomization.yaml",
        "resources: [settings.yaml]\nnamePrefix: base-\n",
    )
    .write("app/settings.yaml", &cm(&ns, "settings", "v1"));
    base.commit("base v1");
    git(&base.work, &["tag", "v1"]);
    git(&base.work, &["push", "-q", "origin", "v1"]);
    let base_url = sshd.url(&base.bare);
    let repo = Repo::new(c.dir());
    repo.write(
        "apps/remote/kustomization.yaml",
        &format!("resources:\n- {base_url}//app?ref=v1\n- local.yaml\n"),
    )
    .write("apps/remote/local.yaml", &cm(&ns, "local", "v1"));
    let first = repo.commit("first");

    let crds = crate::support::root().join("templates/reconciler/crds.yaml.j2");
    let (code, out, err) = run(&c, &["apply", crds.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");
    let indent = |text: &str| {
        text.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let key = sshd.read("client");
    let seed = c.dir().join("seed.yaml");
    std::fs::write(
        &seed,
        format!(
            "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: git-ssh, namespace: {ns}}}\nstringData:\n  identity: |\n{}  known_hosts: |\n{}---\napiVersion: gitfleet.io/v1alpha1\nkind: GitSource\nmetadata: {{name: fleet, namespace: {ns}}}\nspec:\n  url: {}\n  ref: {{branch: main}}\n  interval: 1s\n  secretRef: {{name: git-ssh}}\n{}",
            indent(&key),
            indent(&sshd.known_hosts()),
            sshd.url(&repo.bare),
            sync_doc(&ns, "remote", "apps/remote", ""),
        ),
    )
    .unwrap();
    let (code, out, err) = run(&c, &["apply", seed.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}{err}");

    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    eventually("the first revision applied over ssh", &agent, || async {
        let st = sync_status(&client, &ns, "remote").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(())
    })
    .await;
    let settings = get(
        &client,
        "v1",
        "ConfigMap",
        "configmaps",
        &ns,
        "base-settings",
    )
    .await
    .expect("the remote base's ConfigMap");
    assert_eq!(settings["data"]["key"], "v1");
    assert!(
        get(&client, "v1", "ConfigMap", "configmaps", &ns, "local")
            .await
            .is_some()
    );

    // the base moves on under a new tag; the repository names it in a new commit
    base.write("app/settings.yaml", &cm(&ns, "settings", "v2"));
    base.commit("base v2");
    git(&base.work, &["tag", "v2"]);
    git(&base.work, &["push", "-q", "origin", "v2"]);
    repo.write(
        "apps/remote/kustomization.yaml",
        &format!("resources:\n- {base_url}//app?ref=v2\n- local.yaml\n"),
    );
    let second = repo.commit("base v2");
    eventually("the base's v2 applied", &agent, || async {
        let st = sync_status(&client, &ns, "remote").await;
        let cm = get(
            &client,
            "v1",
            "ConfigMap",
            "configmaps",
            &ns,
            "base-settings",
        )
        .await?;
        (st["lastAppliedRevision"] == second.as_str() && cm["data"]["key"] == "v2").then_some(())
    })
    .await;

    // no key material anywhere the agent writes text
    let sync = sync_object(&client, &ns, "remote").await.unwrap();
    let source = source_object(&client, &ns, "fleet").await.unwrap();
    let events = api(&client, "v1", "Event", "events", &ns)
        .list(&Default::default())
        .await
        .unwrap();
    let key_line = key.lines().nth(1).unwrap().to_string();
    for (what, text) in [
        ("the Sync", sync.to_string()),
        ("the GitSource", source.to_string()),
        ("the events", serde_json::to_string(&events.items).unwrap()),
        ("the agent's log", agent.logs()),
    ] {
        assert!(
            !text.contains("PRIVATE KEY") && !text.contains(&key_line),
            "{what} holds key material: {text}"
        );
    }
}

/// A Jsonnet path (Argo CD's `jsonnet-guestbook-tla` shape: a function of top-level arguments,
/// a `*.libsonnet` from the Sync's library path) synced with Argo CD's waves and a PreSync hook
/// that uses `generateName`: the waves −1, 0, 2 are recorded in that order, the hook runs once
/// for the revision (a resync creates no second one) and is deleted after success; changing a
/// top-level argument on the Sync rolls the Deployment to the new image, wave by wave.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jsonnet_path_syncs_in_waves_and_a_tla_change_rolls_the_deployment() {
    let c = Cluster::new();
    let ns = c.name("jsonnet");
    let repo = Repo::new(c.dir());
    repo.write(
        "lib/app.libsonnet",
        r#"{
  wave(w):: { metadata+: { annotations+: { 'argocd.argoproj.io/sync-wave': std.toString(w) } } },
  deployment(ns, name, image, replicas):: {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: name, namespace: ns },
    spec: {
      replicas: replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { containers: [{ name: name, image: image }] },
      },
    },
  },
}
"#,
    )
    .write(
        "apps/guestbook/guestbook.jsonnet",
        &format!(
            r#"local app = import 'app.libsonnet';
local params = import 'params.libsonnet';
function(image, replicas=1)
  [
    {{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: 'config', namespace: '{ns}' }}, data: {{ title: params.title }} }} + app.wave(-1),
    app.deployment('{ns}', 'guestbook', image, replicas),
    {{ apiVersion: 'v1', kind: 'ConfigMap', metadata: {{ name: 'smoke', namespace: '{ns}' }}, data: {{ image: image }} }} + app.wave(2),
    {{
      apiVersion: 'batch/v1',
      kind: 'Job',
      metadata: {{
        generateName: 'migrate-',
        namespace: '{ns}',
        annotations: {{ 'argocd.argoproj.io/hook': 'PreSync', 'argocd.argoproj.io/hook-delete-policy': 'HookSucceeded' }},
      }},
      spec: {{ template: {{ spec: {{ restartPolicy: 'Never', containers: [{{ name: 'migrate', image: image }}] }} }} }},
    }},
  ]
"#
        ),
    )
    .write("apps/guestbook/params.libsonnet", "{ title: 'Guestbook' }\n");
    let first = repo.commit("jsonnet guestbook");
    let sync = |image: &str| {
        sync_doc(
            &ns,
            "guestbook",
            "apps/guestbook",
            &format!(
                "  jsonnet:\n    libs: [lib]\n    tlas:\n    - {{name: image, value: \"{image}\"}}\n    - {{name: replicas, value: \"2\", code: true}}\n"
            ),
        )
    };
    install(&c, &ns, &repo, "1s", &sync("nginx:1.27"));
    let agent = Agent::start(&c, &ns);
    let client = c.client().await;
    let st = eventually("first sync", &agent, || async {
        let st = sync_status(&client, &ns, "guestbook").await;
        (st["lastAppliedRevision"] == first.as_str()).then_some(st)
    })
    .await;
    let image = |d: &Value| {
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    let deployment = get(
        &client,
        "apps/v1",
        "Deployment",
        "deployments",
        &ns,
        "guestbook",
    )
    .await
    .expect("the Jsonnet Deployment");
    assert_eq!(image(&deployment), "nginx:1.27");
    assert_eq!(deployment["spec"]["replicas"], 2, "a TLA given as code");
    let config = get(&client, "v1", "ConfigMap", "configmaps", &ns, "config")
        .await
        .expect("the ConfigMap from the library");
    assert_eq!(config["data"]["title"], "Guestbook");
    let waves: Vec<i64> = st["history"][0]["waves"]
        .as_array()
        .unwrap_or_else(|| panic!("waves in the history: {st}"))
        .iter()
        .map(|w| w["wave"].as_i64().unwrap())
        .collect();
    assert_eq!(waves, [-1, 0, 2], "{st}");
    let hooks = st["history"][0]["hooks"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(hooks.len(), 1, "{st}");
    let hook_name = hooks[0]["name"].as_str().unwrap().to_string();
    assert!(hook_name.starts_with("migrate-"), "{st}");
    assert_eq!(
        (hooks[0]["phase"].as_str(), hooks[0]["result"].as_str()),
        (Some("PreSync"), Some("Succeeded")),
        "{st}"
    );
    // deleted after success (HookSucceeded), and a resync of the same revision creates no
    // second one: the history keeps one entry for the revision
    let jobs = || async {
        api(&client, "batch/v1", "Job", "jobs", &ns)
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .len()
    };
    eventually("the hook deleted", &agent, || async {
        (jobs().await == 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let st = sync_status(&client, &ns, "guestbook").await;
    let runs = st["history"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|h| h["hooks"].as_array().cloned().unwrap_or_default())
        .count();
    assert_eq!(runs, 1, "a resync runs no hook again: {st}");
    assert_eq!(jobs().await, 0);
    // `gitfleet status` shows the last revision's waves and hooks, in text and JSON
    let (code, out, err) = run(&c, &["status", "-n", &ns]);
    assert!(code == 0 || code == 1, "{out}{err}");
    assert!(
        out.contains("  waves: -1 (") && out.contains(", 2 ("),
        "waves in status: {out}"
    );
    assert!(
        out.contains(&format!("  hook Job/{hook_name} PreSync Succeeded")),
        "the hook in status: {out}"
    );
    let (_, out, err) = run(&c, &["status", "-n", &ns, "-o", "json"]);
    let doc: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}"));
    let row = doc
        .as_array()
        .or_else(|| doc["items"].as_array())
        .and_then(|rows| rows.iter().find(|r| r["name"] == "guestbook"))
        .unwrap_or_else(|| panic!("the Sync in {doc}"))
        .clone();
    assert_eq!(
        row["waves"].as_array().map(|w| w
            .iter()
            .map(|w| w["wave"].as_i64().unwrap())
            .collect::<Vec<_>>()),
        Some(vec![-1, 0, 2]),
        "{row}"
    );
    assert_eq!(row["hooks"][0]["name"], hook_name.as_str(), "{row}");

    // a new top-level argument on the Sync: the Deployment rolls to the new image
    install(&c, &ns, &repo, "1s", &sync("nginx:1.28"));
    eventually("the new image", &agent, || async {
        let d = get(
            &client,
            "apps/v1",
            "Deployment",
            "deployments",
            &ns,
            "guestbook",
        )
        .await?;
        (image(&d) == "nginx:1.28").then_some(())
    })
    .await;
    // wave 2 follows once wave 0 is healthy
    eventually("the last wave", &agent, || async {
        let smoke = get(&client, "v1", "ConfigMap", "configmaps", &ns, "smoke").await?;
        (smoke["data"]["image"] == "nginx:1.28").then_some(())
    })
    .await;
}
