//! Benchmark: `gitfleet apply` of 1,000 objects (ConfigMaps and Deployments across 10 namespaces)
//! against the in-process API stand-in, then the same set again unchanged. Runs the real binary
//! as a child process so its peak memory (VmHWM, read from /proc while it runs) is the CLI's alone.
//!
//! `cargo bench --bench apply` (optionally `-- 5000` for another object count). Against a real
//! cluster: `GITFLEET_E2E_KUBECONFIG=~/.kube/config cargo bench --bench apply`.

mod common;
use common::hwm_kib;

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

/// Runs the binary; returns (elapsed, stdout's last line, its peak RSS in KiB). The peak is read
/// from /proc while it runs (every 2 ms; VmHWM only grows): getrusage's children maxrss is no
/// measure here, as Linux carries the forking process's own (this benchmark's, stand-in and all)
/// into the child's.
fn apply(kubeconfig: &Path, dir: &Path) -> (Duration, String, u64) {
    let start = Instant::now();
    // GITFLEET_BENCH_WRAP=heaptrack (or valgrind, perf record...) runs gitfleet under a profiler
    let mut cmd = match std::env::var("GITFLEET_BENCH_WRAP") {
        Ok(wrap) if !wrap.is_empty() => {
            let mut c = Command::new(wrap);
            c.arg(env!("CARGO_BIN_EXE_gitfleet"));
            c
        }
        _ => Command::new(env!("CARGO_BIN_EXE_gitfleet")),
    };
    let stdout_file = tempfile::NamedTempFile::new().unwrap();
    let stderr_file = tempfile::NamedTempFile::new().unwrap();
    let mut child = cmd
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
        .stdout(stdout_file.reopen().unwrap())
        .stderr(stderr_file.reopen().unwrap())
        .spawn()
        .expect("run gitfleet");
    let pid = child.id();
    let mut peak = 0;
    let status = loop {
        if let Some(kib) = hwm_kib(pid) {
            peak = peak.max(kib);
        }
        if let Some(status) = child.try_wait().expect("wait for gitfleet") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let elapsed = start.elapsed();
    let stdout = std::fs::read_to_string(stdout_file.path()).unwrap_or_default();
    assert!(
        status.success(),
        "apply failed: {}",
        std::fs::read_to_string(stderr_file.path()).unwrap_or_default()
    );
    (
        elapsed,
        stdout.lines().last().unwrap_or_default().to_string(),
        peak,
    )
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
    let mib = |kib: u64| kib as f64 / 1024.0;
    let (first, summary, peak) = apply(kubeconfig, set);
    println!(
        "  first apply:        {first:>8.2?}  peak RSS {:>5.1} MiB  {summary}{}",
        mib(peak),
        shown()
    );
    let mut again = Vec::new();
    for _ in 0..3 {
        let (t, summary, peak) = apply(kubeconfig, set);
        again.push(t);
        println!(
            "  unchanged re-apply: {t:>8.2?}  peak RSS {:>5.1} MiB  {summary}{}",
            mib(peak),
            shown()
        );
    }
    again.sort();
    println!("  re-apply median:    {:>8.2?}", again[again.len() / 2]);
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
