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

/// What the stand-in answered since the last call, by phase of the apply.
#[derive(Default)]
struct Sent {
    all: usize,
    discovery: usize,
    /// GET and LIST: live state, the inventory.
    reads: usize,
    dry_run: usize,
    /// Server-side applies: the set's objects and the inventory record.
    applies: usize,
    /// Everything else that writes (prune deletes).
    other_writes: usize,
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "[{} requests: {} discovery, {} reads, {} dry-run, {} apply, {} other writes]",
            self.all, self.discovery, self.reads, self.dry_run, self.applies, self.other_writes
        )
    }
}

fn sent(standin: &kube_api::KubeStandIn) -> Sent {
    let r = standin.requests();
    standin.clear_requests();
    let mut s = Sent {
        all: r.len(),
        ..Sent::default()
    };
    for q in &r {
        if q.discovery {
            s.discovery += 1;
        } else if q.dry_run {
            s.dry_run += 1;
        } else if q.is_apply() {
            s.applies += 1;
        } else if q.is_write() {
            s.other_writes += 1;
        } else {
            s.reads += 1;
        }
    }
    s
}

/// First apply and three unchanged re-applies of `set`; `latency` (each way) is injected by the
/// stand-in.
fn round(set: &Path, kubeconfig: &Path, standin: Option<&kube_api::KubeStandIn>, label: &str) {
    let shown = || {
        standin
            .map(|s| format!("  {}", sent(s)))
            .unwrap_or_default()
    };
    println!("{label}");
    let (first, summary) = apply(kubeconfig, set);
    println!("  first apply:        {first:>8.2?}  {summary}{}", shown());
    let mut again = Vec::new();
    for _ in 0..3 {
        let (t, summary) = apply(kubeconfig, set);
        again.push(t);
        println!("  unchanged re-apply: {t:>8.2?}  {summary}{}", shown());
    }
    again.sort();
    println!("  re-apply median:    {:>8.2?}", again[again.len() / 2]);
    println!(
        "  peak RSS of gitfleet so far (max over runs): {} KiB",
        max_rss_children_kib()
    );
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
    println!("apply of {objects} objects (10 namespaces, ConfigMaps and Deployments)");
    match std::env::var_os("GITFLEET_E2E_KUBECONFIG") {
        Some(p) => round(&set, Path::new(&p), None, "against GITFLEET_E2E_KUBECONFIG"),
        None => {
            // a fresh stand-in per round, so each first apply creates everything
            for (label, latency) in [
                ("stand-in, loopback", Duration::ZERO),
                (
                    "stand-in, 5 ms injected each way (10 ms round trip)",
                    Duration::from_millis(5),
                ),
            ] {
                let s = kube_api::KubeStandIn::start();
                s.set_latency(latency);
                let path = tmp.path().join("kubeconfig");
                s.write_kubeconfig(&path);
                round(&set, &path, Some(&s), label);
            }
        }
    }
}
