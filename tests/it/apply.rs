//! `gitfleet apply` / `gitfleet diff` end to end, through the built binary, against the API
//! stand-in — or, unchanged, a real cluster when `GITFLEET_E2E_KUBECONFIG` is set.

use std::path::{Path, PathBuf};

use kube::Api;
use kube::api::{DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::{Value, json};

use crate::support::cluster::Cluster;

/// A manifest directory for one test.
struct Set {
    dir: PathBuf,
}

impl Set {
    fn new(c: &Cluster, name: &str) -> Self {
        let dir = c.dir().join(name);
        std::fs::create_dir_all(&dir).unwrap();
        Self { dir }
    }
    fn write(&self, file: &str, text: &str) -> &Self {
        let p = self.dir.join(file);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
        self
    }
    fn remove(&self, file: &str) {
        std::fs::remove_file(self.dir.join(file)).unwrap();
    }
}

/// Runs `gitfleet <args> --kubeconfig <cluster>`; returns (exit code, stdout, stderr).
fn run(c: &Cluster, args: &[&str]) -> (i32, String, String) {
    run_with(c, &c.kubeconfig, args)
}

fn run_with(c: &Cluster, kubeconfig: &Path, args: &[&str]) -> (i32, String, String) {
    let out = c
        .gitfleet()
        .args(args)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .expect("run gitfleet");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn crd(group: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  scope: Namespaced
  names: {{plural: widgets, singular: widget, kind: Widget, listKind: WidgetList}}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {{type: integer}}
              color: {{type: string}}
"#
    )
}

fn namespace(ns: &str) -> String {
    format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n")
}

fn configmap(ns: &str, name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: {ns}\ndata:\n  key: \"{value}\"\n"
    )
}

fn deployment(ns: &str, name: &str, replicas: u32, image: &str) -> String {
    format!(
        r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: {name}
  namespace: {ns}
spec:
  replicas: {replicas}
  selector:
    matchLabels: {{app: {name}}}
  template:
    metadata:
      labels: {{app: {name}}}
    spec:
      containers:
      - name: app
        image: {image}
"#
    )
}

fn widget(ns: &str, group: &str, size: &str) -> String {
    format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: {ns}\nspec:\n  size: {size}\n"
    )
}

fn api(
    client: &kube::Client,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    match ns {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

async fn get(
    c: &Cluster,
    api_version: &str,
    kind: &str,
    plural: &str,
    ns: Option<&str>,
    name: &str,
) -> Option<Value> {
    let client = c.client().await;
    api(&client, api_version, kind, plural, ns)
        .get_opt(name)
        .await
        .expect("get")
        .map(|o| serde_json::to_value(o).unwrap())
}

/// The classic first run: CRD + CR + namespace + deployment in one set; then a re-run is a no-op.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_apply_then_reapply_is_a_noop() {
    let c = Cluster::new();
    let ns = c.name("apps");
    let group = format!("{}.e2e.gitfleet.io", c.id);
    let set = Set::new(&c, "set");
    set.write("00-crd.yaml", &crd(&group))
        .write("ns.yaml", &namespace(&ns))
        .write("app/deploy.yaml", &deployment(&ns, "web", 2, "nginx:1.27"))
        .write("app/widget.yaml", &widget(&ns, &group, "3"));
    let dir = set.dir.to_str().unwrap();
    let (code, out, err) = run(
        &c,
        &[
            "apply",
            dir,
            "--inventory",
            "inv",
            "--inventory-namespace",
            &ns,
            "--wait",
            "--timeout",
            "60s",
        ],
    );
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(
        out.contains("4 created, 0 configured, 0 unchanged"),
        "{out}"
    );
    // Apply order: CRD, Namespace, then the namespaced objects.
    let pos = |s: &str| {
        out.find(s)
            .unwrap_or_else(|| panic!("{s} missing in\n{out}"))
    };
    assert!(pos("CustomResourceDefinition") < pos(&format!("Namespace {ns}")));
    assert!(pos(&format!("Namespace {ns}")) < pos("Deployment.apps"));
    let w = get(
        &c,
        &format!("{group}/v1"),
        "Widget",
        "widgets",
        Some(&ns),
        "w",
    )
    .await
    .expect("widget");
    assert_eq!(w["spec"]["size"], 3);
    let d = get(&c, "apps/v1", "Deployment", "deployments", Some(&ns), "web")
        .await
        .expect("deployment");
    let rv = d["metadata"]["resourceVersion"].clone();
    assert_eq!(
        d["metadata"]["annotations"]["gitfleet.io/inventory"],
        format!("{ns}/inv")
    );
    let inv = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "inv")
        .await
        .expect("inventory");
    let objects: Vec<Value> =
        serde_json::from_str(inv["data"]["objects"].as_str().unwrap()).unwrap();
    assert_eq!(objects.len(), 4, "{objects:?}");

    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    let (code, out, err) = run(
        &c,
        &[
            "apply",
            dir,
            "--inventory",
            "inv",
            "--inventory-namespace",
            &ns,
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 created, 0 configured, 4 unchanged, 0 pruned"),
        "{out}"
    );
    let d = get(&c, "apps/v1", "Deployment", "deployments", Some(&ns), "web")
        .await
        .unwrap();
    assert_eq!(
        d["metadata"]["resourceVersion"], rv,
        "a no-op re-apply must not write"
    );
    if let Some(s) = c.standin() {
        let writes: Vec<_> = s
            .requests()
            .into_iter()
            .filter(|r| r.method != "GET" && !r.dry_run)
            .collect();
        assert!(writes.is_empty(), "unchanged set wrote: {writes:?}");
    }
}

/// `kubectl edit` of a managed field is drift: the next apply restores it (and says so).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reapply_heals_drift_from_an_imperative_edit() {
    let c = Cluster::new();
    let ns = c.name("drift");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns))
        .write("deploy.yaml", &deployment(&ns, "web", 2, "nginx:1.27"));
    let dir = set.dir.to_str().unwrap();
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");

    let client = c.client().await;
    let deployments = api(&client, "apps/v1", "Deployment", "deployments", Some(&ns));
    let pp = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..Default::default()
    };
    deployments
        .patch("web", &pp, &Patch::Merge(json!({"spec": {"replicas": 5}})))
        .await
        .expect("edit");

    let (code, out, err) = run(&c, &["diff", dir]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(
        out.contains("-  replicas: 5") && out.contains("+  replicas: 2"),
        "{out}"
    );

    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("configured"), "{out}");
    assert!(out.contains("drift corrected"), "{out}");
    let d = get(&c, "apps/v1", "Deployment", "deployments", Some(&ns), "web")
        .await
        .unwrap();
    assert_eq!(d["spec"]["replicas"], 2);
    let (code, out, _) = run(&c, &["diff", dir]);
    assert_eq!(code, 0, "{out}");
}

/// A file removed from the set is pruned with --prune: exactly that object, nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_deletes_exactly_what_left_the_set() {
    let c = Cluster::new();
    let ns = c.name("prune");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns))
        .write("a.yaml", &configmap(&ns, "a", "1"))
        .write("b.yaml", &configmap(&ns, "b", "1"));
    let dir = set.dir.to_str().unwrap();
    let inv = [
        "--inventory",
        "inv",
        "--inventory-namespace",
        ns.as_str(),
        "--prune",
    ];
    fn args<'a>(dir: &'a str, inv: &[&'a str], extra: &[&'a str]) -> Vec<&'a str> {
        [&["apply", dir][..], inv, extra].concat()
    }
    let (code, out, err) = run(&c, &args(dir, &inv, &[]));
    assert_eq!(code, 0, "{out}{err}");

    // Someone else's object in the same namespace: never touched.
    let client = c.client().await;
    api(&client, "v1", "ConfigMap", "configmaps", Some(&ns))
        .patch(
            "foreign",
            &PatchParams::apply("someone-else"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "foreign"}}),
            ),
        )
        .await
        .expect("foreign object");

    set.remove("b.yaml");
    let (code, out, err) = run(&c, &[&["diff", dir][..], &inv[..]].concat());
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains(&format!("# pruned ConfigMap {ns}/b")), "{out}");

    let (code, out, err) = run(&c, &args(dir, &inv, &["--dry-run"]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("1 pruned") && out.contains("(dry run)"),
        "{out}"
    );
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "b")
            .await
            .is_some()
    );

    let (code, out, err) = run(&c, &args(dir, &inv, &[]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("pruned     ConfigMap {ns}/b")),
        "{out}"
    );
    assert!(
        out.contains("0 created, 0 configured, 2 unchanged, 1 pruned"),
        "{out}"
    );
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "b")
            .await
            .is_none()
    );
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "a")
            .await
            .is_some()
    );
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "foreign")
            .await
            .is_some()
    );

    // Removing the namespace from the set keeps it: it still holds an object gitfleet does not own.
    set.remove("ns.yaml");
    set.remove("a.yaml");
    set.write("other.yaml", &configmap("default", &c.name("other"), "1"));
    let (code, out, err) = run(&c, &args(dir, &inv, &[]));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("pruned     ConfigMap {ns}/a")),
        "{out}"
    );
    assert!(
        out.contains(&format!("skipped    Namespace {ns}")) && out.contains("ConfigMap foreign"),
        "{out}"
    );
    assert!(
        get(&c, "v1", "Namespace", "namespaces", None, &ns)
            .await
            .is_some()
    );
    let _ = api(&client, "v1", "ConfigMap", "configmaps", Some("default"))
        .delete(&c.name("other"), &Default::default())
        .await;
}

/// Objects that say they must not be pruned, in the words of gitfleet, Flux, Argo CD and Helm,
/// are kept (and reported) when they leave the set; the others are pruned.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_keeps_what_gitfleet_flux_argo_cd_or_helm_mark_as_kept() {
    let c = Cluster::new();
    let ns = c.name("keep");
    let set = Set::new(&c, "set");
    let marked = [
        ("gitfleet", "gitfleet.io/prune: disabled"),
        ("flux", "kustomize.toolkit.fluxcd.io/prune: disabled"),
        (
            "argo",
            "argocd.argoproj.io/sync-options: \"Validate=false,Prune=false\"",
        ),
        ("helm", "helm.sh/resource-policy: keep"),
    ];
    set.write("ns.yaml", &namespace(&ns))
        .write("plain.yaml", &configmap(&ns, "plain", "1"));
    for (name, annotation) in marked {
        set.write(
            &format!("{name}.yaml"),
            &configmap(&ns, name, "1").replacen(
                "metadata:\n",
                &format!("metadata:\n  annotations: {{{annotation}}}\n"),
                1,
            ),
        );
    }
    let dir = set.dir.to_str().unwrap();
    let args = [
        "apply",
        dir,
        "--inventory",
        "inv",
        "--inventory-namespace",
        ns.as_str(),
        "--prune",
    ];
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    set.remove("plain.yaml");
    for (name, _) in marked {
        set.remove(&format!("{name}.yaml"));
    }
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains(&format!("pruned     ConfigMap {ns}/plain")),
        "{out}"
    );
    for (name, annotation) in marked {
        let key = annotation.split(':').next().unwrap();
        assert!(
            out.contains(&format!("skipped    ConfigMap {ns}/{name}")) && out.contains(key),
            "{name}: {out}"
        );
        assert!(
            get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), name)
                .await
                .is_some(),
            "{name} was pruned"
        );
    }
}

/// Issue 14: a path that became empty prunes nothing (an error) unless `--allow-empty` says so;
/// with it, `--prune` removes everything the inventory recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_path_prunes_everything_only_with_allow_empty() {
    let c = Cluster::new();
    let ns = c.name("empty");
    let client = c.client().await;
    api(&client, "v1", "Namespace", "namespaces", None)
        .patch(
            &ns,
            &PatchParams::apply("test-setup"),
            &Patch::Apply(
                json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            ),
        )
        .await
        .unwrap();
    let set = Set::new(&c, "set");
    set.write("a.yaml", &configmap(&ns, "a", "1"))
        .write("b.yaml", &configmap(&ns, "b", "1"));
    let dir = set.dir.to_str().unwrap();
    let args = [
        "apply",
        dir,
        "--inventory",
        "inv",
        "--inventory-namespace",
        ns.as_str(),
        "--prune",
    ];
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    set.remove("a.yaml");
    set.remove("b.yaml");
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("no manifests found in"), "{err}");
    for name in ["a", "b"] {
        assert!(
            get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), name)
                .await
                .is_some(),
            "{name} pruned without --allow-empty"
        );
    }
    let mut allowed = args.to_vec();
    allowed.push("--allow-empty");
    let (code, out, err) = run(&c, &allowed);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("2 pruned"), "{out}");
    for name in ["a", "b"] {
        assert!(
            get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), name)
                .await
                .is_none(),
            "{name} kept"
        );
    }
}

/// Issue 14: without `--revision`, a set's revision is its digest (hooks included), recorded in
/// the inventory, so re-applying the same set runs its hooks once; a changed set runs them again.
#[test]
fn hooks_run_once_per_set_without_an_explicit_revision() {
    let c = Cluster::new();
    let ns = c.name("hook-digest");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns))
        .write("app.yaml", &configmap(&ns, "app", "v1"))
        .write(
            "pre.yaml",
            &configmap(&ns, "pre", "x").replace(
                "metadata:\n",
                "metadata:\n  annotations: {argocd.argoproj.io/hook: PreSync}\n",
            ),
        );
    let dir = set.dir.to_str().unwrap();
    let args = [
        "apply",
        dir,
        "--inventory",
        "inv",
        "--inventory-namespace",
        ns.as_str(),
    ];
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("PreSync: succeeded"), "{out}");
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("PreSync"), "the hook ran again: {out}");
    assert!(err.contains("already applied"), "{err}");
    set.write("app.yaml", &configmap(&ns, "app", "v2"));
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("PreSync: succeeded"),
        "a new set runs it: {out}"
    );
}

/// One object the server rejects: every rejection is reported and nothing is changed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_rejection_changes_nothing() {
    let c = Cluster::new();
    let ns = c.name("reject");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns));
    let dir = set.dir.to_str().unwrap();
    assert_eq!(run(&c, &["apply", dir]).0, 0);
    set.write("good.yaml", &configmap(&ns, "good", "1"))
        .write("bad-name.yaml", &configmap(&ns, "Bad_Name", "1"))
        .write(
            "bad-selector.yaml",
            &deployment(&ns, "web", 1, "nginx")
                .replace("matchLabels: {app: web}", "matchLabels: {app: other}"),
        );
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("rejected 2 object(s); nothing was changed"),
        "{err}"
    );
    assert!(
        err.contains("bad-name.yaml:1 (document 1): ConfigMap") && err.contains("Bad_Name"),
        "{err}"
    );
    assert!(
        err.contains("bad-selector.yaml:1 (document 1): Deployment.apps"),
        "{err}"
    );
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "good")
            .await
            .is_none()
    );
}

/// Another declarative manager owns a field: reported with manager and field; --force-conflicts
/// takes it over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conflicts_with_another_applier() {
    let c = Cluster::new();
    let ns = c.name("conflict");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns));
    let dir = set.dir.to_str().unwrap();
    assert_eq!(run(&c, &["apply", dir]).0, 0);
    let client = c.client().await;
    api(&client, "v1", "ConfigMap", "configmaps", Some(&ns))
        .patch(
            "shared",
            &PatchParams::apply("other-tool"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "shared"}, "data": {"key": "theirs"}})),
        )
        .await
        .expect("other applier");
    set.write("cm.yaml", &configmap(&ns, "shared", "ours"));
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("conflict: field .data.key is managed by \"other-tool\""),
        "{err}"
    );
    assert!(err.contains("--force-conflicts"), "{err}");
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "shared")
        .await
        .unwrap();
    assert_eq!(cm["data"]["key"], "theirs");

    let (code, out, err) = run(&c, &["apply", dir, "--force-conflicts"]);
    assert_eq!(code, 0, "{out}{err}");
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "shared")
        .await
        .unwrap();
    assert_eq!(cm["data"]["key"], "ours");
}

/// Malformed manifests: every problem with file:line, exit 1, and no request at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_yaml_is_reported_before_any_request() {
    let c = Cluster::new();
    let set = Set::new(&c, "set");
    set.write("ok.yaml", &configmap("default", "ok", "1"))
        .write("broken.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n")
        .write("multi.yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m}\n---\nkind: Secret\nmetadata: {name: s}\n");
    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    let (code, out, err) = run(&c, &["apply", set.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.is_empty(), "{out}");
    assert!(
        err.contains("broken.yaml:5:1: error: document 1: invalid YAML"),
        "{err}"
    );
    assert!(
        err.contains("multi.yaml:5:1: error: document 2: `apiVersion` is missing"),
        "{err}"
    );
    assert!(err.contains("2 errors"), "{err}");
    if let Some(s) = c.standin() {
        assert!(s.requests().is_empty(), "{:?}", s.requests());
    }
}

/// No server at the address: a clear message naming it, exit 1.
#[test]
fn unreachable_server() {
    let c = Cluster::new();
    let kubeconfig = c.dir().join("unreachable");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\nclusters:\n- name: x\n  cluster: {server: \"http://127.0.0.1:9\"}\nusers:\n- name: x\n  user: {token: secret-token-value}\ncontexts:\n- name: x\n  context: {cluster: x, user: x}\ncurrent-context: x\n",
    )
    .unwrap();
    let set = Set::new(&c, "set");
    set.write("cm.yaml", &configmap("default", "x", "1"));
    let (code, out, err) = run_with(&c, &kubeconfig, &["apply", set.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("cannot reach the Kubernetes API at http://127.0.0.1:9"),
        "{err}"
    );
    assert!(!err.contains("secret-token-value") && !out.contains("secret-token-value"));
    // Only gitfleet's own report: not kube's trace layer logging each failed request at ERROR.
    assert!(
        !err.contains("kube_client") && !err.contains("failed with error"),
        "{err}"
    );
}

/// RBAC denies a verb: the message says which verb on which resource was denied.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forbidden_verb_is_named() {
    let c = Cluster::new();
    let ns = c.name("rbac");
    let user = c.name("limited");
    let set = Set::new(&c, "rbac");
    set.write("ns.yaml", &namespace(&ns)).write(
        "rbac.yaml",
        &format!(
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: read-configmaps, namespace: {ns}}}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [get, list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: read-configmaps, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: read-configmaps}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: {user}}}
"#
        ),
    );
    assert_eq!(run(&c, &["apply", set.dir.to_str().unwrap()]).0, 0);
    let work = Set::new(&c, "work");
    work.write("cm.yaml", &configmap(&ns, "settings", "1"));
    let limited = c.kubeconfig_as(&user);
    let (code, out, err) = run_with(&c, &limited, &["apply", work.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "forbidden: cannot patch configmaps \"settings\" in namespace \"{ns}\""
        )),
        "{err}"
    );
}

/// --wait reports the first object that is not ready at the timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_names_the_object_that_is_not_ready() {
    let c = Cluster::new();
    let ns = c.name("health");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns))
        .write("ok.yaml", &deployment(&ns, "ok", 1, "nginx:1.27"))
        .write(
            "stuck.yaml",
            &deployment(&ns, "stuck", 1, "registry.invalid/app:1"),
        );
    let (code, out, err) = run(
        &c,
        &[
            "apply",
            set.dir.to_str().unwrap(),
            "--wait",
            "--timeout",
            "4s",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains(&format!(
            "waiting for Deployment.apps {ns}/stuck to be ready: 0 of 1 replicas available"
        )),
        "{err}"
    );
    assert!(
        err.contains(&format!("Deployment.apps {ns}/ok: Ready")),
        "{err}"
    );
}

/// Templates get --set values; transient 503s are retried.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_and_retries() {
    let c = Cluster::new();
    let ns = c.name("tmpl");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns)).write(
        "cm.yaml.j2",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: {ns}\ndata:\n  greeting: \"{{{{ values.greeting }}}}\"\n  replicas: \"{{{{ values.app.replicas * 2 }}}}\"\n"
        ),
    );
    if let Some(s) = c.standin() {
        s.fail_next(3, 503);
    }
    let (code, out, err) = run(
        &c,
        &[
            "apply",
            set.dir.to_str().unwrap(),
            "--set",
            "greeting=hello",
            "--set",
            "app.replicas=2",
        ],
    );
    assert_eq!(code, 0, "{out}{err}");
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "settings")
        .await
        .unwrap();
    assert_eq!(cm["data"], json!({"greeting": "hello", "replicas": "4"}));

    let (code, _, err) = run(&c, &["apply", set.dir.to_str().unwrap()]);
    assert_eq!(code, 1);
    assert!(
        err.contains("cm.yaml.j2:7:17: error: template error: undefined value: `values.greeting` is undefined"),
        "{err}"
    );
}

/// Secrets are masked in diffs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diff_masks_secrets() {
    let c = Cluster::new();
    let ns = c.name("secret");
    let set = Set::new(&c, "set");
    let secret = |v: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  namespace: {ns}\nstringData:\n  password: {v}\n"
        )
    };
    set.write("ns.yaml", &namespace(&ns))
        .write("s.yaml", &secret("first-password"));
    let dir = set.dir.to_str().unwrap();
    assert_eq!(run(&c, &["apply", dir]).0, 0);
    set.write("s.yaml", &secret("second-password"));
    let (code, out, err) = run(&c, &["diff", dir]);
    assert_eq!(code, 2, "{out}{err}");
    assert!(out.contains("# configured Secret"), "{out}");
    for leak in ["first-password", "second-password", "Zmlyc3Qtc", "c2Vjb25k"] {
        assert!(
            !out.contains(leak) && !err.contains(leak),
            "{leak} leaked:\n{out}"
        );
    }
    assert!(out.contains("*** (after)"), "{out}");
}

/// Many objects of one kind in one namespace are read with one LIST, and a re-apply still sees
/// them all unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_objects_are_listed_not_read_one_by_one() {
    let c = Cluster::new();
    let ns = c.name("many");
    let set = Set::new(&c, "set");
    set.write("ns.yaml", &namespace(&ns));
    let docs: Vec<String> = (0..12)
        .map(|i| configmap(&ns, &format!("cm-{i}"), "v"))
        .collect();
    set.write("cms.yaml", &docs.join("---\n"));
    let dir = set.dir.to_str().unwrap();
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("13 created"), "{out}");
    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 created, 0 configured, 13 unchanged"),
        "{out}"
    );
    if let Some(s) = c.standin() {
        let gets = s
            .requests()
            .into_iter()
            .filter(|r| {
                r.method == "GET"
                    && r.path
                        .starts_with(&format!("/api/v1/namespaces/{ns}/configmaps"))
            })
            .count();
        assert_eq!(gets, 1, "one LIST instead of 12 GETs");
    }
}

/// A bare Namespace (no field beyond its name) leaves no managedFields entry on a real API
/// server; re-applying it, with or without an inventory, is still a no-op and `diff` exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_namespace_reapplies_as_unchanged_and_diffs_clean() {
    let c = Cluster::new();
    let ns = c.name("bare");
    let set = Set::new(&c, "bare");
    set.write(
        "ns.yaml",
        &format!("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {ns}\n"),
    );
    let dir = set.dir.to_str().unwrap();
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 created, 0 configured, 1 unchanged"),
        "{out}{err}"
    );
    let (code, out, err) = run(&c, &["diff", dir]);
    assert_eq!(code, 0, "a converged set diffs clean: {out}{err}");
}

/// With an inventory, an unchanged re-apply sends no per-object request: the inventory records
/// the configuration and the field set gitfleet owned after the apply, so a set whose objects
/// still match is decided from the LIST/GET of the live objects alone (no dry-run, no PATCH).
/// An imperative edit moves a field to another manager: each kind (edit, scale through the
/// scale subresource, set image), one at a time, is seen without guessing and healed as before;
/// a field gitfleet does not own is left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unchanged_reapply_sends_no_per_object_request_and_edits_are_still_healed() {
    let c = Cluster::new();
    let ns = c.name("fast");
    let set = Set::new(&c, "fast");
    set.write("ns.yaml", &namespace(&ns))
        .write("deploy.yaml", &deployment(&ns, "web", 2, "nginx:1.27"))
        .write("cm.yaml", &configmap(&ns, "settings", "v1"));
    let dir = set.dir.to_str().unwrap();
    let inv = ["--inventory", "inv", "--inventory-namespace", ns.as_str()];
    let apply = |extra: &[&str]| {
        let mut args = vec!["apply", dir];
        args.extend_from_slice(&inv);
        args.extend_from_slice(extra);
        run(&c, &args)
    };
    let (code, out, err) = apply(&[]);
    assert_eq!(code, 0, "{out}{err}");
    // the first re-apply records what the server answered for objects created by the first
    let (code, out, err) = apply(&[]);
    assert_eq!(code, 0, "{out}{err}");

    let object_writes = |c: &Cluster| -> Vec<String> {
        c.standin()
            .map(|s| {
                s.requests()
                    .into_iter()
                    .filter(|r| !r.discovery && (r.dry_run || r.method != "GET"))
                    .map(|r| format!("{} {} dryRun={}", r.method, r.path, r.dry_run))
                    .collect()
            })
            .unwrap_or_default()
    };
    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    let (code, out, err) = apply(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 created, 0 configured, 3 unchanged"),
        "{out}"
    );
    let sent = object_writes(&c);
    assert!(
        sent.is_empty(),
        "an unchanged set sent per-object requests: {sent:?}"
    );

    let client = c.client().await;
    let deployments = api(&client, "apps/v1", "Deployment", "deployments", Some(&ns));
    let configmaps = api(&client, "v1", "ConfigMap", "configmaps", Some(&ns));
    let by = |m: &str| PatchParams {
        field_manager: Some(m.into()),
        ..Default::default()
    };
    // Each kind of imperative manager on its own: its edit is seen without a dry-run of the
    // rest, healed, and the set is unchanged again afterwards.
    let healed = |what: &'static str| {
        let (code, out, err) = apply(&[]);
        assert_eq!(code, 0, "{what}: {out}{err}");
        assert!(out.contains("drift corrected"), "{what}: {out}");
        let (code, out, err) = apply(&[]);
        assert_eq!(code, 0, "{what}: {out}{err}");
        assert!(
            out.contains("0 created, 0 configured, 3 unchanged"),
            "{what}, then: {out}"
        );
    };
    let web = || async {
        get(&c, "apps/v1", "Deployment", "deployments", Some(&ns), "web")
            .await
            .unwrap()
    };
    // kubectl edit: a merge patch of a field gitfleet owns
    deployments
        .patch(
            "web",
            &by("kubectl-edit"),
            &Patch::Merge(json!({"spec": {"replicas": 5}})),
        )
        .await
        .unwrap();
    healed("kubectl edit");
    assert_eq!(web().await["spec"]["replicas"], 2);
    // kubectl scale: an update through the scale subresource
    deployments
        .patch_scale(
            "web",
            &by("kubectl-scale"),
            &Patch::Merge(json!({"spec": {"replicas": 4}})),
        )
        .await
        .unwrap();
    assert_eq!(web().await["spec"]["replicas"], 4, "the scale took");
    healed("kubectl scale");
    assert_eq!(web().await["spec"]["replicas"], 2);
    // kubectl set image: a strategic merge patch
    deployments
        .patch(
            "web",
            &by("kubectl-set"),
            &Patch::Strategic(json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:1.26"}]}}}})),
        )
        .await
        .unwrap();
    healed("kubectl set image");
    assert_eq!(
        web().await["spec"]["template"]["spec"]["containers"][0]["image"],
        "nginx:1.27"
    );
    // kubectl edit of the ConfigMap's value
    configmaps
        .patch(
            "settings",
            &by("kubectl-edit"),
            &Patch::Merge(json!({"data": {"key": "edited"}})),
        )
        .await
        .unwrap();
    healed("kubectl edit of a ConfigMap");
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "settings")
        .await
        .unwrap();
    assert_eq!(cm["data"]["key"], "v1");

    // an annotation gitfleet does not manage: not drift, kept, and the set stays unchanged
    configmaps
        .patch(
            "settings",
            &by("kubectl-annotate"),
            &Patch::Merge(json!({"metadata": {"annotations": {"team": "ops"}}})),
        )
        .await
        .unwrap();
    let (code, out, err) = apply(&[]);
    assert_eq!(code, 0, "{out}{err}");
    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    let (code, out, err) = apply(&[]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 created, 0 configured, 3 unchanged"),
        "{out}"
    );
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "settings")
        .await
        .unwrap();
    assert_eq!(cm["metadata"]["annotations"]["team"], "ops");
    let sent = object_writes(&c);
    assert!(sent.is_empty(), "{sent:?}");
}

/// Issue 13, real-server difference 2: objects applied with `--inventory X`, then diffed or
/// applied without it, keep their membership: nothing plans to strip `gitfleet.io/inventory`, the
/// diff of the converged set is clean (exit 0), and a later `--prune` run with the inventory still
/// owns them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_of_an_inventory_keep_it_when_applied_or_diffed_without_it() {
    let c = Cluster::new();
    let ns = c.name("member");
    let set = Set::new(&c, "member");
    set.write("ns.yaml", &namespace(&ns))
        .write("cm.yaml", &configmap(&ns, "settings", "v1"));
    let dir = set.dir.to_str().unwrap();
    let inv = ["--inventory", "inv", "--inventory-namespace", ns.as_str()];
    let mut with_inv = vec!["apply", dir];
    with_inv.extend_from_slice(&inv);
    let (code, out, err) = run(&c, &with_inv);
    assert_eq!(code, 0, "{out}{err}");

    let (code, out, err) = run(&c, &["diff", dir]);
    assert_eq!(
        code, 0,
        "a converged set diffs clean without --inventory: {out}{err}"
    );
    assert!(!out.contains("gitfleet.io/inventory"), "{out}");
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("0 created, 0 configured, 2 unchanged"),
        "{out}{err}"
    );
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "settings")
        .await
        .unwrap();
    assert_eq!(
        cm["metadata"]["annotations"]["gitfleet.io/inventory"],
        format!("{ns}/inv"),
        "{cm}"
    );
    // a change applied without the inventory keeps the membership too
    set.write("cm.yaml", &configmap(&ns, "settings", "v2"));
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 0, "{out}{err}");
    let cm = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "settings")
        .await
        .unwrap();
    assert_eq!(cm["data"]["key"], "v2");
    assert_eq!(
        cm["metadata"]["annotations"]["gitfleet.io/inventory"],
        format!("{ns}/inv")
    );
    // so the inventory still prunes it once it leaves the set
    set.remove("cm.yaml");
    let mut prune = with_inv.clone();
    prune.push("--prune");
    let (code, out, err) = run(&c, &prune);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("1 pruned"), "{out}{err}");
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "settings")
            .await
            .is_none()
    );
}

async fn job_names(c: &Cluster, ns: &str) -> Vec<String> {
    let client = c.client().await;
    api(&client, "batch/v1", "Job", "jobs", Some(ns))
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|j| j.metadata.name)
        .collect()
}

fn job(ns: &str, meta: &str, image: &str) -> String {
    format!(
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  namespace: {ns}\n{meta}spec:\n  backoffLimit: 0\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{{name: run, image: \"{image}\", command: [\"true\"]}}]\n"
    )
}

/// Issue 14: sync waves (Argo CD's and gitfleet's annotation) apply in ascending order, each once
/// the previous one is healthy; Argo CD hooks run around the revision (a PreSync Job named by
/// generateName, deleted once it succeeded; a PostSync hook; Skip is never applied), a re-run of
/// the same revision runs and creates no hook again, a revision the dry-run rejects runs no
/// PreSync hook, and a failing PreSync hook changes nothing else and runs the SyncFail hook.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waves_and_argo_cd_hooks_run_in_order_once_per_revision() {
    let c = Cluster::new();
    let ns = c.name("waves");
    let set = Set::new(&c, "waves");
    let wave = |key: &str, w: &str| format!("  annotations: {{{key}: \"{w}\"}}\n");
    set.write("ns.yaml", &namespace(&ns))
        .write(
            "db.yaml",
            &deployment(&ns, "db", 1, "nginx:1.27").replacen(
                "metadata:\n",
                &format!("metadata:\n{}", wave("argocd.argoproj.io/sync-wave", "-1")),
                1,
            ),
        )
        .write("app.yaml", &configmap(&ns, "app", "v1"))
        .write(
            "late.yaml",
            &configmap(&ns, "late", "v1").replace(
                "metadata:\n",
                &format!("metadata:\n{}", wave("gitfleet.io/wave", "2")),
            ),
        )
        .write(
            "migrate.yaml",
            &job(
                &ns,
                "  generateName: migrate-\n  annotations: {argocd.argoproj.io/hook: PreSync, argocd.argoproj.io/hook-delete-policy: HookSucceeded}\n",
                "busybox:1.36",
            ),
        )
        .write(
            "done.yaml",
            &configmap(&ns, "done", "yes").replace(
                "metadata:\n",
                "metadata:\n  annotations: {argocd.argoproj.io/hook: PostSync}\n",
            ),
        )
        .write(
            "skipped.yaml",
            &configmap(&ns, "skipped", "x").replace(
                "metadata:\n",
                "metadata:\n  annotations: {argocd.argoproj.io/hook: Skip}\n",
            ),
        );
    let dir = set.dir.to_str().unwrap();
    let args = [
        "apply",
        dir,
        "--inventory",
        "inv",
        "--inventory-namespace",
        &ns,
        "--revision",
        "r1",
        "--timeout",
        "30s",
    ];
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("PreSync: succeeded") && out.contains("PostSync: succeeded"),
        "{out}"
    );
    let rv = |o: &Value| {
        o["metadata"]["resourceVersion"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap()
    };
    let db = get(&c, "apps/v1", "Deployment", "deployments", Some(&ns), "db")
        .await
        .unwrap();
    let app = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "app")
        .await
        .unwrap();
    let late = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "late")
        .await
        .unwrap();
    let done = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "done")
        .await
        .unwrap();
    assert!(
        rv(&db) < rv(&app) && rv(&app) < rv(&late),
        "waves -1, 0, 2 in order"
    );
    assert!(rv(&late) < rv(&done), "PostSync after the last wave");
    assert!(
        get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "skipped")
            .await
            .is_none(),
        "Skip is not applied"
    );
    if let Some(s) = c.standin() {
        // the next wave started once the Deployment of wave -1 was read back ready
        let reqs = s.requests();
        let pos = |pred: &dyn Fn(&crate::support::kube_api::Request) -> bool| {
            reqs.iter().position(pred).unwrap()
        };
        let db_applied =
            pos(&|r| r.method == "PATCH" && !r.dry_run && r.path.ends_with("/deployments/db"));
        let app_applied =
            pos(&|r| r.method == "PATCH" && !r.dry_run && r.path.ends_with("/configmaps/app"));
        assert!(
            reqs[db_applied..app_applied]
                .iter()
                .any(|r| r.method == "GET" && r.path.ends_with("/deployments/db")),
            "no health check of wave -1 before wave 0"
        );
    }
    assert!(
        job_names(&c, &ns).await.is_empty(),
        "HookSucceeded deleted the Job"
    );

    // the same revision again: its hooks ran, so they neither run nor are created again
    let (code, out, err) = run(&c, &args);
    assert_eq!(code, 0, "{out}{err}");
    assert!(!out.contains("PreSync"), "{out}");
    assert!(
        err.contains("revision r1 already applied; its hooks do not run again"),
        "{err}"
    );
    assert!(job_names(&c, &ns).await.is_empty());

    // a new revision whose hook is kept: re-runs of it find that very Job (same uid)
    set.write(
        "migrate.yaml",
        &job(
            &ns,
            "  generateName: migrate-\n  annotations: {argocd.argoproj.io/hook: PreSync}\n",
            "busybox:1.36",
        ),
    );
    let mut kept = args.to_vec();
    kept[7] = "r1b";
    let uid = |j: Option<Value>| j.unwrap()["metadata"]["uid"].as_str().unwrap().to_string();
    let mut uids = Vec::new();
    for _ in 0..3 {
        let (code, out, err) = run(&c, &kept);
        assert_eq!(code, 0, "{out}{err}");
        let names = job_names(&c, &ns).await;
        assert_eq!(names.len(), 1, "{names:?}");
        assert!(names[0].starts_with("migrate-"), "{names:?}");
        uids.push(uid(get(
            &c,
            "batch/v1",
            "Job",
            "jobs",
            Some(&ns),
            &names[0],
        )
        .await));
    }
    assert!(
        uids.iter().all(|u| *u == uids[0]),
        "the hook was created again: {uids:?}"
    );

    // a revision the API server rejects runs no PreSync hook: the dry-run comes first
    let jobs_before = job_names(&c, &ns).await;
    set.write("app.yaml", &configmap(&ns, "app", "v2"))
        .write("bad.yaml", &configmap(&ns, "Bad_Name", "1"))
        .write(
            "migrate.yaml",
            &job(
                &ns,
                "  generateName: migrate-\n  annotations: {argocd.argoproj.io/hook: PreSync}\n",
                "busybox:1.37",
            ),
        );
    let mut rejected = args.to_vec();
    rejected[7] = "r1c";
    let (code, out, err) = run(&c, &rejected);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    assert!(!out.contains("PreSync"), "{out}");
    assert_eq!(
        job_names(&c, &ns).await,
        jobs_before,
        "a PreSync hook ran for a rejected revision"
    );
    let app = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "app")
        .await
        .unwrap();
    assert_eq!(app["data"]["key"], "v1");
    std::fs::remove_file(set.dir.join("bad.yaml")).unwrap();

    // a PreSync hook that cannot complete: nothing else changes, the SyncFail hook runs
    set.write("app.yaml", &configmap(&ns, "app", "v2"))
        .write(
            "migrate.yaml",
            &job(
                &ns,
                "  generateName: migrate-\n  annotations: {argocd.argoproj.io/hook: PreSync}\n",
                "registry.invalid/migrate:1",
            ),
        )
        .write(
            "failed.yaml",
            &configmap(&ns, "sync-failed", "yes").replace(
                "metadata:\n",
                "metadata:\n  annotations: {argocd.argoproj.io/hook: SyncFail}\n",
            ),
        );
    let mut failing = args.to_vec();
    failing[7] = "r2";
    failing[9] = "3s";
    let (code, out, err) = run(&c, &failing);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        format!("{out}{err}").contains("PreSync hook failed"),
        "{out}{err}"
    );
    let app = get(&c, "v1", "ConfigMap", "configmaps", Some(&ns), "app")
        .await
        .unwrap();
    assert_eq!(
        app["data"]["key"], "v1",
        "a failing PreSync hook changes nothing else"
    );
    assert!(
        get(
            &c,
            "v1",
            "ConfigMap",
            "configmaps",
            Some(&ns),
            "sync-failed"
        )
        .await
        .is_some(),
        "the SyncFail hook ran"
    );
}

/// Issue 14: a path that yields no object is an error naming what was ignored (nothing is
/// contacted); `--allow-empty` accepts it. `generateName` outside a hook names the hook
/// annotations in its hint.
#[test]
fn an_empty_source_and_generate_name_outside_hooks_are_errors() {
    let c = Cluster::new();
    let set = Set::new(&c, "cue-guestbook");
    set.write("guestbook.cue", "{}\n")
        .write("README.md", "docs\n");
    let dir = set.dir.to_str().unwrap();
    if let Some(s) = c.standin() {
        s.clear_requests();
    }
    let (code, out, err) = run(&c, &["apply", dir]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("no manifests found in")
            && err.contains("2 files ignored (README.md, guestbook.cue)"),
        "{err}"
    );
    if let Some(s) = c.standin() {
        assert!(
            s.requests().is_empty(),
            "an empty source contacted the cluster"
        );
    }
    let (code, out, err) = run(&c, &["diff", dir, "--allow-empty"]);
    assert_eq!(code, 0, "{out}{err}");
    // A kustomization that builds nothing, and a Jsonnet file that yields an empty array, are
    // empty sources too.
    let empty = Set::new(&c, "empty-kustomization");
    empty.write("kustomization.yaml", "resources: []\n");
    let (code, out, err) = run(&c, &["apply", empty.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(err.contains("the kustomization builds no object"), "{err}");
    let (code, out, err) = run(&c, &["diff", empty.dir.to_str().unwrap(), "--allow-empty"]);
    assert_eq!(code, 0, "{out}{err}");
    let nothing = Set::new(&c, "empty-jsonnet");
    nothing.write("app.jsonnet", "[]\n");
    let (code, out, err) = run(&c, &["apply", nothing.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("1 file read (app.jsonnet) yields no object"),
        "{err}"
    );

    let named = Set::new(&c, "generated");
    named.write(
        "job.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata: {generateName: once-}\nspec: {template: {spec: {restartPolicy: Never, containers: [{name: a, image: busybox}]}}}\n",
    );
    let (code, out, err) = run(&c, &["apply", named.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("generateName cannot be applied declaratively")
            && err.contains("argocd.argoproj.io/hook"),
        "{err}"
    );
}

/// A CRD and its custom resource in a later wave than the rest: the first wave does not wait for
/// a kind whose CRD is applied only by the later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crd_and_its_resource_in_a_later_wave_apply() {
    let c = Cluster::new();
    let ns = c.name("crdwave");
    let group = format!("{}.example.com", c.name("waves"));
    let in_wave = |doc: String| {
        doc.replacen(
            "metadata:\n",
            "metadata:\n  annotations: {gitfleet.io/wave: \"1\"}\n",
            1,
        )
    };
    let set = Set::new(&c, "crdwave");
    set.write("ns.yaml", &namespace(&ns))
        .write("cm.yaml", &configmap(&ns, "first", "v1"))
        .write("crd.yaml", &in_wave(crd(&group)))
        .write("widget.yaml", &in_wave(widget(&ns, &group, "3")));
    let (code, out, err) = run(
        &c,
        &["apply", set.dir.to_str().unwrap(), "--timeout", "20s"],
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("4 created"), "{out}");
    let w = get(
        &c,
        &format!("{group}/v1"),
        "Widget",
        "widgets",
        Some(&ns),
        "w",
    )
    .await
    .unwrap();
    assert_eq!(w["spec"]["size"], 3);
}
