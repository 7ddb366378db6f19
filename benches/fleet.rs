//! Benchmark: a generated fleet of 1,000 clusters (EKS, AKS, kind, existing) through load +
//! validate + render + offline plan, in memory. Prints the median of several runs.
//!
//! `cargo bench --bench fleet` (optionally `-- 5000` for another fleet size).

use std::time::{Duration, Instant};

use gitfleet::fleet::MemSource;
use gitfleet::pipeline::{ClusterOutcome, plan_all, prepare};

fn generate(n: usize) -> MemSource {
    let mut src = MemSource::default();
    src.files.insert(
        "fleet.yaml".into(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: bench}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n  defaults:\n    version: \"1.30\"\n    eks:\n      region: eu-west-1\n      roleArn: arn:aws:iam::123456789012:role/eks\n      nodeRoleArn: arn:aws:iam::123456789012:role/nodes\n      subnetIds: [subnet-0000000a, subnet-0000000b]\n    aks: {location: westeurope, resourceGroup: fleet}\n    nodePools:\n      - {name: general, instanceType: m6i.large, min: 1, max: 5, desired: 2, labels: {tier: general}}\n      - {name: batch, instanceType: c6i.xlarge, min: 0, max: 10, taints: [{key: batch, value: \"true\", effect: NoSchedule}]}\n".into(),
    );
    for i in 0..n {
        let provider = match i % 4 {
            0 => "  eks: {tags: {team: a}}\n".to_string(),
            1 => "  aks: {dnsPrefix: c}\n  nodePools:\n    - {name: system, instanceType: Standard_D4s_v5, min: 1, max: 3}\n    - {name: user, instanceType: Standard_D8s_v5, min: 0, max: 20}\n".to_string(),
            2 => "  kind: {workers: 2}\n  nodePools: []\n".to_string(),
            _ => "  existing: {context: ctx}\n  nodePools: []\n".to_string(),
        };
        src.files.insert(
            format!("clusters/c{i:04}/cluster.yaml"),
            format!(
                "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: c{i:04}\n  labels: {{env: {}, idx: \"{i}\"}}\nspec:\n{provider}  values: {{replicas: {}}}\n",
                if i % 2 == 0 { "prod" } else { "dev" },
                i % 5
            ),
        );
    }
    src
}

fn main() {
    let n: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1000);
    let src = generate(n);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut times: Vec<Duration> = Vec::new();
    let mut steps = 0;
    for _ in 0..7 {
        let start = Instant::now();
        let prepared = prepare(&src, &[], None).expect("generated fleet is valid");
        let outcomes = runtime.block_on(plan_all(
            &prepared,
            &gitfleet::provider::ProviderOptions {
                offline: true,
                ..Default::default()
            },
            std::path::Path::new("."),
            true,
        ));
        times.push(start.elapsed());
        steps = outcomes
            .iter()
            .map(|o| match o {
                ClusterOutcome::Planned(p) => p.steps.len(),
                ClusterOutcome::Failed { error, .. } => panic!("{error}"),
            })
            .sum::<usize>();
        assert_eq!(prepared.rendered.len(), n);
    }
    times.sort();
    let median = times[times.len() / 2];
    println!(
        "fleet of {n} clusters: load+validate+render+offline plan median {:.1} ms (min {:.1} ms, max {:.1} ms), {steps} steps, {:.1} µs/cluster",
        median.as_secs_f64() * 1e3,
        times[0].as_secs_f64() * 1e3,
        times[times.len() - 1].as_secs_f64() * 1e3,
        median.as_secs_f64() * 1e6 / n as f64
    );
}
