//! Benchmark: `gitfleet build` against `kubectl kustomize` (kustomize v5.8.1) on the same
//! generated 2,000-object tree: a base, three overlays (namespace, prefix, labels, patches of
//! every form, a generator with behavior merge), two components, and a top kustomization that
//! gathers the overlays. Both outputs are compared; the median wall time of several runs and
//! the peak resident memory of each tool are printed.
//!
//! `cargo bench --bench kustomize` (kubectl from `GITFLEET_KUBECTL`, else `.venv/bin/kubectl`,
//! which `scripts/test.sh` installs).

mod common;
use common::hwm_kib;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const APPS: usize = 332;

fn write(root: &Path, path: &str, text: &str) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn generate(root: &Path) {
    let mut resources = String::from("resources:\n");
    for i in 0..APPS {
        let file = format!("app{i:03}.yaml");
        resources.push_str(&format!("- {file}\n"));
        write(
            root,
            &format!("base/{file}"),
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app{i:03}\n  labels: {{app: app{i:03}}}\nspec:\n  replicas: 1\n  selector:\n    matchLabels: {{app: app{i:03}}}\n  template:\n    metadata:\n      labels: {{app: app{i:03}}}\n    spec:\n      serviceAccountName: runner\n      containers:\n      - name: main\n        image: registry.example.com/app{i:03}:1.0.0\n        ports: [{{containerPort: 8080}}]\n        env:\n        - {{name: MODE, value: base}}\n        envFrom: [{{configMapRef: {{name: shared}}}}]\n        volumeMounts: [{{name: config, mountPath: /etc/app}}]\n      - name: sidecar\n        image: registry.example.com/proxy:2.1\n      volumes:\n      - name: config\n        configMap: {{name: shared}}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: app{i:03}\nspec:\n  selector: {{app: app{i:03}}}\n  ports: [{{port: 80, targetPort: 8080}}]\n"
            ),
        );
    }
    write(
        root,
        "base/sa.yaml",
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: runner}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: RoleBinding\nmetadata: {name: runner}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: view}\nsubjects: [{kind: ServiceAccount, name: runner}]\n",
    );
    resources.push_str("- sa.yaml\n");
    write(
        root,
        "base/kustomization.yaml",
        &format!(
            "{resources}configMapGenerator:\n- name: shared\n  literals: [LOG_LEVEL=info, REGION=eu]\nimages:\n- name: registry.example.com/proxy\n  newTag: \"2.2\"\n"
        ),
    );
    write(
        root,
        "components/monitoring/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\ncommonAnnotations: {prometheus.io/scrape: \"true\"}\npatches:\n- target: {kind: Deployment}\n  patch: |-\n    - op: add\n      path: /spec/template/metadata/annotations\n      value: {prometheus.io/port: \"8080\"}\n",
    );
    write(
        root,
        "components/limits/kustomization.yaml",
        "apiVersion: kustomize.config.k8s.io/v1alpha1\nkind: Component\npatches:\n- target: {kind: Deployment, name: \"app0.*\"}\n  patch: |-\n    apiVersion: apps/v1\n    kind: Deployment\n    metadata: {name: any}\n    spec:\n      template:\n        spec:\n          containers:\n          - name: main\n            resources: {limits: {memory: 256Mi}}\n",
    );
    for (env, replicas) in [("dev", 1), ("staging", 2), ("prod", 3)] {
        write(
            root,
            &format!("overlays/{env}/kustomization.yaml"),
            &format!(
                "namespace: {env}\nnamePrefix: {env}-\nlabels:\n- pairs: {{env: {env}}}\n  includeSelectors: false\nresources:\n- ../../base\ncomponents:\n- ../../components/monitoring\n- ../../components/limits\nconfigMapGenerator:\n- name: shared\n  behavior: merge\n  literals: [ENV={env}]\npatches:\n- path: mode.yaml\n- target: {{kind: Service}}\n  patch: |-\n    - op: replace\n      path: /spec/ports/0/port\n      value: 8080\nreplicas:\n- name: app000\n  count: {replicas}\n"
            ),
        );
        write(
            root,
            &format!("overlays/{env}/mode.yaml"),
            &format!(
                "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: app001}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: main\n        env:\n        - {{name: MODE, value: {env}}}\n"
            ),
        );
    }
    write(
        root,
        "kustomization.yaml",
        "resources:\n- overlays/dev\n- overlays/staging\n- overlays/prod\n",
    );
}

fn kubectl() -> PathBuf {
    if let Some(p) = std::env::var_os("GITFLEET_KUBECTL") {
        return PathBuf::from(p);
    }
    let local = Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv/bin/kubectl");
    assert!(
        local.exists(),
        "kubectl (the oracle) is missing: run scripts/test.sh once, or set GITFLEET_KUBECTL"
    );
    local
}

fn docs(out: &[u8]) -> Vec<serde_json::Value> {
    let text = String::from_utf8_lossy(out);
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &serde_json::Value| !v.is_null())
        .collect()
}

/// Runs `cmd` `runs` times: (median time, the last run's stdout, the highest peak RSS in KiB of
/// any run). The peak is read from /proc while the tool runs (VmHWM only grows); getrusage's
/// children maxrss would carry this process's own and the other tool's.
fn time(cmd: &mut Command, runs: usize) -> (Duration, Vec<u8>, u64) {
    let mut times = Vec::new();
    let mut last = Vec::new();
    let mut peak = 0;
    for _ in 0..runs {
        let out = tempfile::NamedTempFile::new().unwrap();
        let err = tempfile::NamedTempFile::new().unwrap();
        let start = Instant::now();
        let mut child = cmd
            .stdout(out.reopen().unwrap())
            .stderr(err.reopen().unwrap())
            .spawn()
            .unwrap();
        let pid = child.id();
        let status = loop {
            if let Some(kib) = hwm_kib(pid) {
                peak = peak.max(kib);
            }
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        times.push(start.elapsed());
        assert!(
            status.success(),
            "{:?} failed: {}",
            cmd,
            std::fs::read_to_string(err.path()).unwrap_or_default()
        );
        last = std::fs::read(out.path()).unwrap();
    }
    times.sort();
    (times[times.len() / 2], last, peak)
}

fn main() {
    // GITFLEET_BENCH_DIR keeps the generated tree there (for profiling either tool).
    let dir = tempfile::tempdir().unwrap();
    let root = std::env::var_os("GITFLEET_BENCH_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| dir.path().to_path_buf());
    generate(&root);
    let runs = 5;
    let (ours, ours_out, ours_peak) = time(
        Command::new(env!("CARGO_BIN_EXE_gitfleet"))
            .arg("build")
            .arg(&root),
        runs,
    );
    let (theirs, theirs_out, theirs_peak) =
        time(Command::new(kubectl()).arg("kustomize").arg(&root), runs);
    let (a, b) = (docs(&ours_out), docs(&theirs_out));
    assert_eq!(a.len(), b.len(), "both build the same number of objects");
    assert!(a == b, "gitfleet build and kubectl kustomize differ");
    println!(
        "kustomize build of {} objects: gitfleet {:.1} ms, kubectl kustomize {:.1} ms ({:.1}x); peak RSS gitfleet {} MiB, kubectl {} MiB",
        a.len(),
        ours.as_secs_f64() * 1000.0,
        theirs.as_secs_f64() * 1000.0,
        theirs.as_secs_f64() / ours.as_secs_f64(),
        ours_peak / 1024,
        theirs_peak / 1024,
    );
}
