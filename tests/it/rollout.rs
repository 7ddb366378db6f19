//! The rollout as a library value, without the CLI: `plan_up` → `execute_up` on an existing
//! cluster (the API stand-in, or a real cluster via `GITFLEET_E2E_KUBECONFIG`) with a real git
//! repository; the returned report is data, and progress goes to the reporter only.

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;

use gitfleet::bootstrap::GitAuth;
use gitfleet::bootstrap::rollout::{
    self, DownAction, DownOptions, Event, Quiet, Reporter, UpOptions,
};
use gitfleet::kubeconfig::ExecCommand;
use gitfleet::pipeline::prepare;
use gitfleet::plan::Target;
use gitfleet::provider::{Progress, ProviderOptions, Silent};
use gitfleet::source::Source;

use crate::agent::{Repo, git};
use crate::support::cluster::Cluster;

/// Remembers what it was told.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    progress_for: Mutex<Vec<String>>,
}

impl Reporter for Recorder {
    fn progress(&self, cluster: &str) -> Box<dyn Progress> {
        self.progress_for.lock().unwrap().push(cluster.to_string());
        Box::new(Silent)
    }

    fn event(&self, cluster: &str, event: Event<'_>) {
        let line = match event {
            Event::Applying(s) => format!("{cluster}: applying {s}"),
            Event::Applied(s) => format!("{cluster}: applied {s}"),
            Event::Warning(w) => format!("{cluster}: warning {w}"),
        };
        self.events.lock().unwrap().push(line);
    }
}

fn fleet(repo: &Repo, c: &Cluster, rns: &str, names: &[&str]) {
    repo.write(
        "fleet.yaml",
        &format!(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {{name: lib}}\nspec:\n  repository: {{url: \"{}\", branch: main}}\n  reconciler: {{namespace: {rns}, interval: 5s}}\n",
            repo.url()
        ),
    );
    let dir = repo.work.join(".kubeconfigs");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(repo.work.join(".gitignore"), ".kubeconfigs/\n").unwrap();
    for name in names {
        std::fs::copy(&c.kubeconfig, dir.join(format!("{name}.yaml"))).unwrap();
        repo.write(
            &format!("clusters/{name}/cluster.yaml"),
            &format!(
                "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}}}\nspec:\n  existing: {{kubeconfig: .kubeconfigs/{name}.yaml}}\n"
            ),
        );
    }
}

fn options(fleet_dir: &Path, kubeconfigs: &Path) -> UpOptions {
    UpOptions {
        provider: ProviderOptions {
            poll_interval: Some(Duration::from_millis(200)),
            ..ProviderOptions::default()
        },
        fleet_dir: fleet_dir.to_path_buf(),
        parallel: 2,
        install: true,
        commit: true,
        wait: false,
        write_kubeconfig: false,
        kubeconfig_dir: kubeconfigs.to_path_buf(),
        kubeconfig_exec: ExecCommand::Path,
        kind_load_image: None,
        timeout: Some(Duration::from_secs(60)),
        auth: GitAuth::None,
        sops: Default::default(),
    }
}

/// An existing cluster is planned from one observation, bootstrapped, and reported as data; planned again, they are converged. `execute_down` keeps existing clusters
/// and removes only their seed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_executor_carries_out_the_plan_and_reports_data() {
    let c = Cluster::new();
    let rns = c.name("gitfleet-system");
    let repo = Repo::new(c.dir());
    fleet(&repo, &c, &rns, &["alpha"]);
    let before = repo.commit("fleet");
    let kubeconfigs = c.dir().join("kubeconfigs");
    let options = options(&repo.work, &kubeconfigs);

    let prepared = prepare(&Source::new(&repo.work), &[], None).unwrap();
    let plan = rollout::plan_up(&prepared, &options).await;
    assert_eq!(plan.clusters.len(), 1);
    let alpha = &plan.clusters[0];
    assert_eq!(alpha.rendered.name, "alpha");
    let steps = &alpha.plan.as_ref().unwrap().steps;
    assert!(
        steps.iter().any(|s| s.target == Target::Reconciler)
            && steps.iter().any(|s| s.target == Target::Repository),
        "{steps:?}"
    );
    assert_eq!(
        plan.cloud_steps(),
        0,
        "an existing cluster has no cloud step"
    );

    let recorder = Recorder::default();
    let report = rollout::execute_up(&prepared, plan, &options, &recorder).await;
    assert!(report.ok, "{report:?}");
    assert_eq!(report.clusters.len(), 1);
    let r = &report.clusters[0];
    assert_eq!(r.cluster, "alpha");
    assert!(r.ok && r.error.is_none(), "{r:?}");
    assert!(r.provisioned.is_empty());
    assert_eq!(
        r.kubeconfig, None,
        "an existing cluster's kubeconfig is its own"
    );
    let b = r.bootstrap.as_ref().expect("bootstrapped");
    let pushed = git(&repo.bare, &["rev-parse", "main"]);
    assert_ne!(pushed, before);
    assert_eq!(b.commit.as_deref(), Some(pushed.as_str()));
    assert!(b.install.has_changes() && b.seed.has_changes(), "{b:?}");
    assert_eq!(*recorder.progress_for.lock().unwrap(), ["alpha"]);
    assert!(
        recorder.events.lock().unwrap().is_empty(),
        "no cloud step, no event"
    );
    // The report is the `-o json` document.
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["ok"], true);
    assert_eq!(json["clusters"][0]["cluster"], "alpha");
    assert_eq!(json["clusters"][0]["provider"], "existing");
    assert_eq!(json["clusters"][0]["bootstrap"]["commit"], pushed);
    assert!(json["clusters"][0].get("error").is_none());

    // Converged: a second plan from a fresh observation has nothing to do, and carrying it out
    // commits nothing.
    let prepared = prepare(&Source::new(&repo.work), &[], None).unwrap();
    let plan = rollout::plan_up(&prepared, &options).await;
    let steps = &plan.clusters[0].plan.as_ref().unwrap().steps;
    assert!(steps.is_empty(), "{steps:?}");
    let report = rollout::execute_up(&prepared, plan, &options, &Quiet).await;
    assert!(report.ok, "{report:?}");
    let b = report.clusters[0].bootstrap.as_ref().unwrap();
    assert!(!b.changed(), "{b:?}");
    assert_eq!(git(&repo.bare, &["rev-parse", "main"]), pushed);

    // down: the existing cluster stays; its seed goes.
    let down = rollout::execute_down(
        &prepared,
        &DownOptions {
            provider: options.provider.clone(),
            fleet_dir: repo.work.clone(),
            parallel: 2,
            kubeconfig_dir: kubeconfigs.clone(),
        },
        &recorder,
    )
    .await;
    assert!(down.ok, "{down:?}");
    assert_eq!(down.clusters[0].result, DownAction::Kept);
    assert!(!down.clusters[0].seed_removed.is_empty());
    assert_eq!(down.clusters[0].kubeconfig_removed, None);
}

/// A cluster that cannot be planned is reported failed, and does not stop the others; the
/// report lists every cluster by name.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_unplannable_cluster_fails_alone() {
    let c = Cluster::new();
    let rns = c.name("gitfleet-system");
    let repo = Repo::new(c.dir());
    fleet(&repo, &c, &rns, &["good", "broken"]);
    // The broken cluster's kubeconfig points nowhere.
    std::fs::write(
        repo.work.join(".kubeconfigs/broken.yaml"),
        "apiVersion: v1\nkind: Config\nclusters: [{name: x, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: x, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: x, user: x}}]\ncurrent-context: x\n",
    )
    .unwrap();
    repo.commit("fleet");
    let options = UpOptions {
        commit: false,
        ..options(&repo.work, &c.dir().join("kubeconfigs"))
    };
    let prepared = prepare(&Source::new(&repo.work), &[], None).unwrap();
    let plan = rollout::plan_up(&prepared, &options).await;
    let names: Vec<&str> = plan
        .clusters
        .iter()
        .map(|p| p.rendered.name.as_str())
        .collect();
    assert_eq!(names, ["broken", "good"], "sorted by name");
    assert!(plan.clusters[0].plan.is_err());
    let report = rollout::execute_up(&prepared, plan, &options, &Quiet).await;
    assert!(!report.ok);
    let (broken, good) = (&report.clusters[0], &report.clusters[1]);
    assert_eq!(broken.cluster, "broken");
    assert!(!broken.ok && broken.error.is_some(), "{broken:?}");
    assert_eq!(good.cluster, "good");
    assert!(good.ok, "{good:?}");
    assert_eq!(
        good.bootstrap.as_ref().unwrap().commit,
        None,
        "commit: false"
    );
}
