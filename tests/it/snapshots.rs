//! Snapshots of the example fleets under `examples/`: the rendered files of every cluster (one
//! snapshot per cluster, so each provider's requests are covered) and the offline plan of the
//! mixed fleet. Review changes in `tests/it/snapshots/*.snap`; accept them with
//! `INSTA_UPDATE=always cargo test --test it snapshots`.

use std::path::PathBuf;

use gitfleet::pipeline::{ClusterOutcome, Prepared, plan_all, prepare};
use gitfleet::source::Source;

use crate::support;

/// Snapshots live in `tests/it/snapshots/`, named without the module prefix.
macro_rules! snapshot {
    ($name:expr, $value:expr) => {
        insta::with_settings!({
            snapshot_path => "snapshots",
            prepend_module_to_snapshot => false,
            omit_expression => true,
        }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

fn example(name: &str) -> PathBuf {
    support::root().join("examples").join(name)
}

fn prepared(name: &str) -> Prepared {
    let dir = example(name);
    match prepare(&Source::new(&dir), &[], None) {
        Ok(p) => p,
        Err(e) => panic!("example {} does not prepare: {e}", dir.display()),
    }
}

/// The release version appears in the reconciler image and labels; keep it out of snapshots so
/// a version bump does not rewrite them all.
fn unversioned(text: &str) -> String {
    text.replace(env!("CARGO_PKG_VERSION"), "[version]")
}

/// Every rendered file of one cluster, each under a header naming its path (as `render` prints).
fn rendered_text(cluster: &gitfleet::render::RenderedCluster) -> String {
    let mut out = String::new();
    for (path, yaml) in cluster.files() {
        out.push_str(&format!("# Source: {path}\n"));
        out.push_str(&yaml);
        if !yaml.ends_with('\n') {
            out.push('\n');
        }
        out.push_str("---\n");
    }
    unversioned(&out)
}

/// Snapshots each cluster of an example fleet; returns the providers seen.
fn snapshot_rendered(fleet: &str, expected_clusters: &[&str]) -> Vec<String> {
    let p = prepared(fleet);
    assert!(
        p.fleet.warnings.is_empty(),
        "example {fleet} has warnings: {:?}",
        p.fleet.warnings
    );
    let names: Vec<&str> = p.rendered.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, expected_clusters, "clusters of example {fleet}");
    let mut providers = Vec::new();
    // `render` shares one YAML cache across the clusters: the same text as each on its own,
    // and the same paths as `paths()` (what --out checks before writing)
    let mut cache = gitfleet::render::YamlCache::default();
    for cluster in &p.rendered {
        let shared = cluster.files_with(&mut cache);
        assert_eq!(shared, cluster.files(), "{}", cluster.name);
        let paths: Vec<String> = shared.into_iter().map(|(path, _)| path).collect();
        assert_eq!(paths, cluster.paths(), "{}", cluster.name);
        providers.push(cluster.provider.to_string());
        snapshot!(
            format!("render-{fleet}-{}", cluster.name),
            rendered_text(cluster)
        );
    }
    providers
}

#[test]
fn snapshot_render_eks_example() {
    let providers = snapshot_rendered("eks", &["prod-eu", "staging-us"]);
    assert_eq!(providers, ["eks", "eks"]);
}

#[test]
fn snapshot_render_aks_example() {
    let providers = snapshot_rendered("aks", &["dev-neu", "prod-weu"]);
    assert_eq!(providers, ["aks", "aks"]);
}

#[test]
fn snapshot_render_multi_example() {
    let mut providers = snapshot_rendered(
        "multi",
        &["dev", "prod-aks", "prod-eks", "staging", "staging-eks"],
    );
    providers.sort();
    providers.dedup();
    assert_eq!(providers, ["aks", "eks", "existing", "kind"]);
}

/// The offline plan of every example fleet as `plan --offline` lists it (one line per step).
fn offline_plan_text(fleet: &str) -> String {
    let p = prepared(fleet);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let outcomes = runtime.block_on(plan_all(
        &p,
        &gitfleet::provider::ProviderOptions {
            offline: true,
            ..Default::default()
        },
        std::path::Path::new("."),
        true,
    ));
    assert_eq!(outcomes.len(), p.rendered.len());
    let mut out = String::new();
    for o in &outcomes {
        match o {
            ClusterOutcome::Planned(plan) => {
                out.push_str(&format!(
                    "{} [{}]: {} steps\n",
                    plan.cluster,
                    plan.provider,
                    plan.steps.len()
                ));
                for (i, step) in plan.steps.iter().enumerate() {
                    let line = step.to_string();
                    out.push_str(&format!("  {}. {line}\n", i + 1));
                }
            }
            ClusterOutcome::Failed { cluster, error } => {
                panic!("offline plan of {fleet}/{cluster} failed: {error}")
            }
        }
    }
    unversioned(&out)
}

#[test]
fn snapshot_offline_plan_multi_example() {
    snapshot!("plan-offline-multi", offline_plan_text("multi"));
}

#[test]
fn snapshot_offline_plan_single_provider_examples() {
    snapshot!("plan-offline-eks", offline_plan_text("eks"));
    snapshot!("plan-offline-aks", offline_plan_text("aks"));
}
