//! Benchmark: `gitfleet apply` of 1,000 objects (ConfigMaps and Deployments across 10 namespaces)
//! against the in-process API stand-in, then the same set again unchanged. Runs the real binary
//! as a child process so its peak memory (max RSS, from getrusage) is the CLI's alone.
//!
//! `cargo bench --bench apply` (optionally `-- 5000` for another object count). Against a real
//! cluster: `GITFLEET_E2E_KUBECONFIG=~/.kube/config cargo bench --bench apply`.

#[path = "../tests/support/kube_api.rs"]
mod kube_api;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

fn write_set(dir: &Path, objects: usize) {
    let namespaces = 10;
    let mut docs = String::new();
    for n in 0..namespaces {
        docs.push_str(&format!(
            "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: bench-{n}\n"
        ));
    }
    std::fs::write(dir.join("namespaces.yaml"), docs).unwrap();
    let per_ns = (objects - namespaces) / namespaces;
    for n in 0..namespaces {
        let mut docs = String::new();
        for i in 0..per_ns {
            if i % 2 == 0 {
                docs.push_str(&format!(
                    "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\n  namespace: bench-{n}\n  labels: {{app: bench, idx: \"{i}\"}}\ndata:\n  key: value-{i}\n  other: \"{n}\"\n"
                ));
            } else {
                docs.push_str(&format!(
                    "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web-{i}\n  namespace: bench-{n}\nspec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: web-{i}}}\n  template:\n    metadata:\n      labels: {{app: web-{i}}}\n    spec:\n      containers:\n      - name: app\n        image: nginx:1.27\n        ports: [{{containerPort: 80}}]\n        env: [{{name: INDEX, value: \"{i}\"}}]\n"
                ));
            }
        }
        std::fs::write(dir.join(format!("ns-{n}.yaml")), docs).unwrap();
    }
}

/// Runs the binary; returns (elapsed, stdout's last line, child's max RSS in KiB so far).
fn apply(kubeconfig: &Path, dir: &Path) -> (Duration, String) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_gitfleet"))
        .args([
            "apply",
            dir.to_str().unwrap(),
            "--inventory",
            "bench",
            "--inventory-namespace",
            "default",
        ])
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .output()
        .expect("run gitfleet");
    let elapsed = start.elapsed();
    assert!(
        out.status.success(),
        "apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        elapsed,
        stdout.lines().last().unwrap_or_default().to_string(),
    )
}

fn max_rss_children_kib() -> i64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a rusage into the pointer it is given.
    let rc = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr()) };
    if rc != 0 {
        return -1;
    }
    // SAFETY: initialised by a successful getrusage.
    unsafe { usage.assume_init() }.ru_maxrss
}

fn main() {
    let objects: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let tmp = tempfile::tempdir().unwrap();
    let set = tmp.path().join("set");
    std::fs::create_dir_all(&set).unwrap();
    write_set(&set, objects);
    let mut standin = None;
    let kubeconfig = match std::env::var_os("GITFLEET_E2E_KUBECONFIG") {
        Some(p) => p.into(),
        None => {
            let s = kube_api::KubeStandIn::start();
            let path = tmp.path().join("kubeconfig");
            s.write_kubeconfig(&path);
            standin = Some(s);
            path
        }
    };
    // requests the stand-in answered since the last call: (all, of which discovery, dry-runs)
    let requests = || {
        standin.as_ref().map(|s| {
            let r = s.requests();
            s.clear_requests();
            (
                r.len(),
                r.iter().filter(|q| q.discovery).count(),
                r.iter().filter(|q| q.dry_run).count(),
            )
        })
    };
    let shown = |r: Option<(usize, usize, usize)>| match r {
        Some((all, disc, dry)) => format!("  [{all} requests: {disc} discovery, {dry} dry-run]"),
        None => String::new(),
    };
    println!("apply of {objects} objects (10 namespaces, ConfigMaps and Deployments)");
    let (first, summary) = apply(&kubeconfig, &set);
    println!(
        "  first apply:      {:>8.2?}  {summary}{}",
        first,
        shown(requests())
    );
    let mut again = Vec::new();
    for _ in 0..3 {
        let (t, summary) = apply(&kubeconfig, &set);
        again.push(t);
        println!(
            "  unchanged re-apply: {:>8.2?}  {summary}{}",
            t,
            shown(requests())
        );
    }
    again.sort();
    println!("  re-apply median:  {:>8.2?}", again[again.len() / 2]);
    println!(
        "  peak RSS of gitfleet (max over runs): {} KiB",
        max_rss_children_kib()
    );
}
