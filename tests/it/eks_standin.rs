//! The EKS provider against the EKS stand-in (tests/support/eks.rs): what moto cannot do — wait
//! loops through CREATING/UPDATING/DELETING, control-plane and node group version upgrades,
//! failed creations, wait timeouts, throttling, and which calls a converged re-run sends.

use std::sync::Mutex;
use std::time::Duration;

use gitfleet::fleet::MemSource;
use gitfleet::pipeline::{Prepared, prepare};
use gitfleet::plan::{self, ClusterPlan, Step};
use gitfleet::provider::eks::{EksProvider, EksSettings, WaitSettings};
use gitfleet::provider::{Progress, ProviderError, Silent};

use crate::support::eks::{EksStandIn, Options, Request};

const REGION: &str = "eu-west-1";

fn fleet(cluster: &str, version: &str, desired: u32) -> MemSource {
    let mut src = MemSource::default();
    src.files.insert(
        "fleet.yaml".into(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: test-fleet}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n".into(),
    );
    src.files.insert(
        format!("clusters/{cluster}/cluster.yaml"),
        format!(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {cluster}}}\nspec:\n  version: \"{version}\"\n  eks:\n    region: {REGION}\n    roleArn: arn:aws:iam::123456789012:role/eks\n    nodeRoleArn: arn:aws:iam::123456789012:role/nodes\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n    tags: {{team: platform}}\n  nodePools:\n    - name: general\n      instanceType: m6i.large\n      min: 1\n      max: 5\n      desired: {desired}\n      labels: {{tier: general}}\n    - name: batch\n      instanceType: c6i.xlarge\n      min: 0\n      max: 3\n      taints: [{{key: batch, value: \"true\", effect: NoSchedule}}]\n"
        ),
    );
    src
}

fn options() -> Options {
    Options::default()
}

async fn provider_with(endpoint: &str, attempts: u32, wait: WaitSettings) -> EksProvider {
    let mut settings = EksSettings::new(REGION);
    settings.endpoint_url = Some(endpoint.to_string());
    settings.credentials = Some(aws_credential_types::Credentials::new(
        "testing", "testing", None, None, "test",
    ));
    settings.max_attempts = attempts;
    settings.initial_backoff = Duration::from_millis(10);
    settings.wait = wait;
    EksProvider::connect(&settings).await
}

async fn provider(endpoint: &str, attempts: u32) -> EksProvider {
    let wait = WaitSettings {
        poll: Duration::from_millis(10),
        timeout: Duration::from_secs(10),
    };
    provider_with(endpoint, attempts, wait).await
}

fn prepared(src: &MemSource) -> Prepared {
    prepare(src, &[], None).expect("valid fleet")
}

async fn plan_of(p: &EksProvider, prepared: &Prepared) -> ClusterPlan {
    let rendered = &prepared.rendered[0];
    let desired = plan::desired_state(&prepared.fleet.fleet, &prepared.fleet.clusters[0], rendered);
    let observed = p.observe(&desired, &desired.fleet).await.expect("observe");
    plan::plan_cluster(&desired, &observed).expect("plan")
}

fn cloud_steps(plan: &ClusterPlan) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| s.target.is_provider())
        .map(ToString::to_string)
        .collect()
}

/// The steps the provider carries out (control plane, node pools, add-ons).
fn provider_steps(plan: &ClusterPlan) -> impl Iterator<Item = &Step> {
    plan.steps.iter().filter(|s| s.target.is_provider())
}

async fn apply_cloud_steps(p: &EksProvider, prepared: &Prepared, plan: &ClusterPlan) {
    for step in provider_steps(plan) {
        p.apply(step, &prepared.rendered[0], &Silent)
            .await
            .unwrap_or_else(|e| panic!("{step}: {e}"));
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Progress that remembers every (what, status) it was told.
#[derive(Default)]
struct Recorded(Mutex<Vec<(String, String)>>);

impl Progress for Recorded {
    fn status(&self, what: &str, status: &str, _: Duration) {
        self.0
            .lock()
            .unwrap()
            .push((what.to_string(), status.to_string()));
    }
}

impl Recorded {
    fn statuses(&self, what: &str) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .filter(|(w, _)| w == what)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

fn texts(requests: &[Request]) -> Vec<String> {
    requests.iter().map(ToString::to_string).collect()
}

#[test]
fn create_waits_through_creating_and_a_rerun_sends_no_change() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let prep = prepared(&fleet("alpha", "1.30", 2));
        let plan = plan_of(&p, &prep).await;
        assert_eq!(
            cloud_steps(&plan),
            [
                "create cluster alpha (version: 1.30)",
                "create node pool general (instanceType: m6i.large, size: 1..5 (desired 2))",
                "create node pool batch (instanceType: c6i.xlarge, size: 0..3 (desired 0))",
            ]
        );
        let progress = Recorded::default();
        for step in provider_steps(&plan) {
            p.apply(step, &prep.rendered[0], &progress)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        // The waits really waited: two CREATING polls, then ACTIVE.
        assert_eq!(
            progress.statuses("cluster alpha"),
            ["CREATING", "CREATING", "ACTIVE"]
        );
        assert_eq!(
            progress.statuses("node group general"),
            ["CREATING", "CREATING", "ACTIVE"]
        );
        let cluster = eks.cluster("alpha").unwrap();
        assert_eq!(cluster["status"], "ACTIVE");
        assert_eq!(cluster["tags"]["gitfleet.io/managed-by"], "gitfleet");
        assert_eq!(cluster["tags"]["team"], "platform");
        assert_eq!(eks.nodegroup("alpha", "batch").unwrap()["status"], "ACTIVE");
        assert_eq!(
            eks.nodegroup("alpha", "batch").unwrap()["taints"][0]["effect"],
            "NO_SCHEDULE"
        );
        assert_eq!(
            texts(&eks.mutations()),
            [
                "POST /clusters",
                "POST /clusters/alpha/node-groups",
                "POST /clusters/alpha/node-groups",
            ]
        );

        // Converged: the plan is empty and observing sent only reads.
        eks.clear_requests();
        assert_eq!(cloud_steps(&plan_of(&p, &prep).await), Vec::<String>::new());
        let requests = eks.requests();
        assert!(!requests.is_empty());
        assert!(
            requests.iter().all(|r| r.method == "GET"),
            "{:?}",
            texts(&requests)
        );
    });
}

#[test]
fn an_upgrade_goes_one_minor_at_a_time_then_the_pools() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let old = prepared(&fleet("gamma", "1.29", 1));
        apply_cloud_steps(&p, &old, &plan_of(&p, &old).await).await;
        assert_eq!(
            eks.nodegroup("gamma", "general").unwrap()["version"],
            "1.29"
        );

        eks.clear_requests();
        let new = prepared(&fleet("gamma", "1.31", 1));
        let plan = plan_of(&p, &new).await;
        assert_eq!(
            cloud_steps(&plan),
            [
                "upgrade cluster gamma (version: 1.29 → 1.30)",
                "upgrade cluster gamma (version: 1.30 → 1.31)",
                "upgrade node pool general (version: 1.29 → 1.31)",
                "upgrade node pool batch (version: 1.29 → 1.31)",
            ]
        );
        let progress = Recorded::default();
        for step in provider_steps(&plan) {
            p.apply(step, &new.rendered[0], &progress)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        // Each upgrade waited through UPDATING until ACTIVE at the new version.
        assert_eq!(
            progress.statuses("cluster gamma"),
            [
                "UPDATING", "UPDATING", "ACTIVE", "UPDATING", "UPDATING", "ACTIVE"
            ]
        );
        assert_eq!(
            progress.statuses("node group batch"),
            ["UPDATING", "UPDATING", "ACTIVE"]
        );

        assert_eq!(eks.cluster("gamma").unwrap()["version"], "1.31");
        for pool in ["general", "batch"] {
            let ng = eks.nodegroup("gamma", pool).unwrap();
            assert_eq!(ng["version"], "1.31", "{pool}");
            assert_eq!(ng["status"], "ACTIVE", "{pool}");
        }
        let mutations = eks.mutations();
        assert_eq!(
            texts(&mutations),
            [
                "POST /clusters/gamma/updates",
                "POST /clusters/gamma/updates",
                "POST /clusters/gamma/node-groups/general/update-version",
                "POST /clusters/gamma/node-groups/batch/update-version",
            ]
        );
        let versions: Vec<&str> = mutations
            .iter()
            .map(|r| r.body["version"].as_str().unwrap())
            .collect();
        assert_eq!(versions, ["1.30", "1.31", "1.31", "1.31"]);

        // The final describe through the SDK's own path agrees, and the re-run is converged.
        assert!(cloud_steps(&plan_of(&p, &new).await).is_empty());
    });
}

#[test]
fn a_failed_cluster_creation_is_reported_with_its_status() {
    let eks = EksStandIn::start(Options {
        fail_clusters: vec!["broken".into()],
        ..options()
    });
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let prep = prepared(&fleet("broken", "1.30", 1));
        let plan = plan_of(&p, &prep).await;
        let err = p
            .apply(&plan.steps[0], &prep.rendered[0], &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Failed { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("cluster broken"), "{text}");
        assert!(text.contains("FAILED"), "{text}");
    });
}

#[test]
fn a_failed_node_group_creation_is_reported_with_its_status() {
    let eks = EksStandIn::start(Options {
        fail_nodegroups: vec!["batch".into()],
        ..options()
    });
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let prep = prepared(&fleet("ngfail", "1.30", 1));
        let plan = plan_of(&p, &prep).await;
        let mut errors = Vec::new();
        for step in provider_steps(&plan) {
            if let Err(e) = p.apply(step, &prep.rendered[0], &Silent).await {
                errors.push(e);
            }
        }
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            matches!(errors[0], ProviderError::Failed { .. }),
            "{errors:?}"
        );
        let text = errors[0].to_string();
        assert!(text.contains("node group batch"), "{text}");
        assert!(text.contains("CREATE_FAILED"), "{text}");
    });
}

#[test]
fn a_short_wait_times_out_naming_the_last_status() {
    let eks = EksStandIn::start(Options {
        transition_polls: 1_000_000,
        ..options()
    });
    runtime().block_on(async {
        let wait = WaitSettings {
            poll: Duration::from_millis(10),
            timeout: Duration::from_millis(50),
        };
        let p = provider_with(&eks.url, 3, wait).await;
        let prep = prepared(&fleet("slow", "1.30", 1));
        let plan = plan_of(&p, &prep).await;
        let err = p
            .apply(&plan.steps[0], &prep.rendered[0], &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err:?}");
        let text = err.to_string();
        assert!(text.contains("cluster slow"), "{text}");
        assert!(text.contains("last status: CREATING"), "{text}");
    });
}

#[test]
fn throttled_requests_are_retried_until_it_converges() {
    let eks = EksStandIn::start(Options {
        throttle_first: 5,
        ..options()
    });
    runtime().block_on(async {
        let p = provider(&eks.url, 8).await;
        let prep = prepared(&fleet("epsilon", "1.30", 1));
        let plan = plan_of(&p, &prep).await;
        apply_cloud_steps(&p, &prep, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &prep).await).is_empty());
    });
    let requests = eks.requests();
    assert_eq!(requests.iter().filter(|r| r.throttled).count(), 5);
    assert!(requests[..5].iter().all(|r| r.throttled));
    assert_eq!(eks.cluster("epsilon").unwrap()["status"], "ACTIVE");
}

#[test]
fn down_waits_for_node_groups_then_the_cluster_to_be_gone() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let prep = prepared(&fleet("doomed", "1.30", 1));
        apply_cloud_steps(&p, &prep, &plan_of(&p, &prep).await).await;
        eks.clear_requests();
        let progress = Recorded::default();
        assert!(
            p.delete_cluster("doomed", "test-fleet", &progress)
                .await
                .unwrap()
        );
        assert_eq!(
            progress.statuses("cluster doomed"),
            ["DELETING", "DELETING", "DELETED"]
        );
        assert_eq!(
            texts(&eks.mutations()),
            [
                "DELETE /clusters/doomed/node-groups/batch",
                "DELETE /clusters/doomed/node-groups/general",
                "DELETE /clusters/doomed",
            ]
        );
        assert!(eks.cluster("doomed").is_none());
    });
}

#[test]
fn scaling_and_relabelling_a_pool_waits_for_the_update() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let first = prepared(&fleet("beta", "1.30", 2));
        apply_cloud_steps(&p, &first, &plan_of(&p, &first).await).await;
        eks.clear_requests();
        let scaled = prepared(&fleet("beta", "1.30", 4));
        let plan = plan_of(&p, &scaled).await;
        assert_eq!(
            cloud_steps(&plan),
            ["update node pool general (desired: 2 → 4)"]
        );
        let progress = Recorded::default();
        for step in provider_steps(&plan) {
            p.apply(step, &scaled.rendered[0], &progress).await.unwrap();
        }
        assert_eq!(
            progress.statuses("node group general"),
            ["UPDATING", "UPDATING", "ACTIVE"]
        );
        let ng = eks.nodegroup("beta", "general").unwrap();
        assert_eq!(ng["scalingConfig"]["desiredSize"], 4);
        assert_eq!(ng["labels"]["tier"], "general");
        assert_eq!(
            texts(&eks.mutations()),
            ["POST /clusters/beta/node-groups/general/update-config"]
        );
        assert!(cloud_steps(&plan_of(&p, &scaled).await).is_empty());
    });
}

/// The stand-in's wire shapes for what the provider does not call yet: add-ons, updates, tags.
#[test]
fn addons_updates_and_tags_speak_the_sdk_protocol() {
    use aws_sdk_eks::types::{AddonStatus, UpdateStatus};
    let eks = EksStandIn::start(Options {
        transition_polls: 1,
        ..options()
    });
    runtime().block_on(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&eks.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let client = aws_sdk_eks::Client::new(&config);
        let created = client
            .create_cluster()
            .name("raw")
            .version("1.30")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("s1")
                    .subnet_ids("s2")
                    .build(),
            )
            .tags("keep", "1")
            .tags("drop/me", "2")
            .send()
            .await
            .unwrap();
        let arn = created.cluster().unwrap().arn().unwrap().to_string();
        // Not ACTIVE yet: add-ons are refused; then one poll later it is.
        let early = client
            .create_addon()
            .cluster_name("raw")
            .addon_name("vpc-cni")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            early.into_service_error().meta().code(),
            Some("InvalidRequestException")
        );
        client.describe_cluster().name("raw").send().await.unwrap();
        let c = client.describe_cluster().name("raw").send().await.unwrap();
        let c = c.cluster().unwrap();
        assert_eq!(c.status().unwrap().as_str(), "ACTIVE");
        assert!(c.endpoint().unwrap().starts_with("https://"));
        assert!(c.created_at().is_some());
        assert!(c.certificate_authority().unwrap().data().is_some());

        client
            .create_addon()
            .cluster_name("raw")
            .addon_name("vpc-cni")
            .addon_version("v1.18.0-eksbuild.1")
            .send()
            .await
            .unwrap();
        let listed = client
            .list_addons()
            .cluster_name("raw")
            .send()
            .await
            .unwrap();
        assert_eq!(listed.addons(), ["vpc-cni"]);
        let describe = || {
            client
                .describe_addon()
                .cluster_name("raw")
                .addon_name("vpc-cni")
                .send()
        };
        assert_eq!(
            describe().await.unwrap().addon().unwrap().status(),
            Some(&AddonStatus::Creating)
        );
        assert_eq!(
            describe().await.unwrap().addon().unwrap().status(),
            Some(&AddonStatus::Active)
        );
        let update = client
            .update_addon()
            .cluster_name("raw")
            .addon_name("vpc-cni")
            .addon_version("v1.19.0-eksbuild.1")
            .send()
            .await
            .unwrap();
        let id = update.update().unwrap().id().unwrap().to_string();
        assert_eq!(
            update.update().unwrap().status(),
            Some(&UpdateStatus::InProgress)
        );
        let poll = || {
            client
                .describe_update()
                .name("raw")
                .update_id(&id)
                .addon_name("vpc-cni")
                .send()
        };
        poll().await.unwrap();
        let done = poll().await.unwrap();
        assert_eq!(
            done.update().unwrap().status(),
            Some(&UpdateStatus::Successful)
        );
        assert_eq!(
            describe().await.unwrap().addon().unwrap().addon_version(),
            Some("v1.19.0-eksbuild.1")
        );

        // A version jump of two minors is refused as EKS does.
        let jump = client
            .update_cluster_version()
            .name("raw")
            .version("1.32")
            .send()
            .await
            .unwrap_err();
        assert_eq!(
            jump.into_service_error().meta().code(),
            Some("InvalidParameterException")
        );

        client
            .tag_resource()
            .resource_arn(&arn)
            .tags("added", "3")
            .send()
            .await
            .unwrap();
        client
            .untag_resource()
            .resource_arn(&arn)
            .tag_keys("drop/me")
            .send()
            .await
            .unwrap();
        let tags = eks.cluster("raw").unwrap()["tags"].clone();
        assert_eq!(tags, serde_json::json!({"keep": "1", "added": "3"}));

        client
            .delete_addon()
            .cluster_name("raw")
            .addon_name("vpc-cni")
            .send()
            .await
            .unwrap();
        describe().await.unwrap();
        let gone = describe().await.unwrap_err().into_service_error();
        assert!(gone.is_resource_not_found_exception(), "{gone:?}");
    });
}

/// `up` interrupted while EKS is still CREATING the cluster, then run again: the re-run should
/// wait for the cluster and continue with the node groups.
#[test]
fn a_rerun_after_an_interruption_during_cluster_creation_continues() {
    let eks = EksStandIn::start(Options {
        transition_polls: 5,
        ..options()
    });
    runtime().block_on(async {
        let impatient = WaitSettings {
            poll: Duration::from_millis(10),
            timeout: Duration::from_millis(1),
        };
        let first = provider_with(&eks.url, 3, impatient).await;
        let prep = prepared(&fleet("resume", "1.30", 1));
        let plan = plan_of(&first, &prep).await;
        let err = first
            .apply(&plan.steps[0], &prep.rendered[0], &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");

        let p = provider(&eks.url, 3).await;
        let plan = plan_of(&p, &prep).await;
        for step in provider_steps(&plan) {
            p.apply(step, &prep.rendered[0], &Silent)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        assert!(cloud_steps(&plan_of(&p, &prep).await).is_empty());
    });
}

/// `up` interrupted while the control plane is UPDATING, then run again.
#[test]
fn a_rerun_after_an_interruption_during_an_upgrade_continues() {
    let eks = EksStandIn::start(Options {
        transition_polls: 5,
        ..options()
    });
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let old = prepared(&fleet("resume-up", "1.29", 1));
        apply_cloud_steps(&p, &old, &plan_of(&p, &old).await).await;
        let new = prepared(&fleet("resume-up", "1.30", 1));
        let impatient = WaitSettings {
            poll: Duration::from_millis(10),
            timeout: Duration::from_millis(1),
        };
        let first = provider_with(&eks.url, 3, impatient).await;
        let plan = plan_of(&first, &new).await;
        let err = first
            .apply(&plan.steps[0], &new.rendered[0], &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Timeout { .. }), "{err}");

        let plan = plan_of(&p, &new).await;
        for step in provider_steps(&plan) {
            p.apply(step, &new.rendered[0], &Silent)
                .await
                .unwrap_or_else(|e| panic!("{step}: {e}"));
        }
        assert!(cloud_steps(&plan_of(&p, &new).await).is_empty());
    });
}

/// `fleet()` with an `addons:` block in the eks section.
fn with_addons(cluster: &str, addons: &str) -> MemSource {
    let mut src = fleet(cluster, "1.30", 1);
    let file = src
        .files
        .get_mut(&format!("clusters/{cluster}/cluster.yaml"))
        .unwrap();
    *file = file.replace(
        "    tags: {team: platform}\n",
        &format!("    tags: {{team: platform}}\n    addons:\n{addons}"),
    );
    src
}

#[test]
fn addons_are_created_after_the_pools_updated_and_owned_ones_deleted() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let first = prepared(&with_addons(
            "iota",
            "      - {name: vpc-cni, version: v1.18.1-eksbuild.1}\n      - {name: coredns}\n",
        ));
        let plan = plan_of(&p, &first).await;
        assert_eq!(
            &cloud_steps(&plan)[3..],
            [
                "create add-on vpc-cni (version: v1.18.1-eksbuild.1)",
                "create add-on coredns",
            ]
        );
        apply_cloud_steps(&p, &first, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &first).await).is_empty());

        // A new pinned version is an update; an add-on left out of Git is deleted (gitfleet
        // created it).
        let second = prepared(&with_addons(
            "iota",
            "      - {name: vpc-cni, version: v1.19.0-eksbuild.1}\n",
        ));
        let plan = plan_of(&p, &second).await;
        assert_eq!(
            cloud_steps(&plan),
            [
                "update add-on vpc-cni (version: v1.18.1-eksbuild.1 → v1.19.0-eksbuild.1)",
                "delete add-on coredns",
            ]
        );
        apply_cloud_steps(&p, &second, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &second).await).is_empty());
        let posts: Vec<String> = eks
            .requests()
            .iter()
            .filter(|r| r.method != "GET")
            .map(ToString::to_string)
            .collect();
        assert!(
            posts
                .iter()
                .any(|r| r == "POST /clusters/iota/addons/vpc-cni/update"),
            "{posts:?}"
        );
        assert!(
            posts
                .iter()
                .any(|r| r == "DELETE /clusters/iota/addons/coredns"),
            "{posts:?}"
        );
    });
}

/// `up --no-install` provisions only: on a converged cluster it writes no kubeconfig and sends
/// no describe call beyond the plan's; `--write-kubeconfig` costs exactly one more.
#[test]
fn up_without_install_writes_no_kubeconfig_and_sends_no_extra_describe() {
    let standin = EksStandIn::start(options());
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in fleet("quiet", "1.30", 1).files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let kc = dir.path().join("kc");
    let up = |extra: &[&str]| {
        let out = crate::support::gitfleet(dir.path())
            .args([
                "up",
                "--yes",
                "--no-install",
                "--aws-endpoint-url",
                &standin.url,
            ])
            .arg("--kubeconfig-dir")
            .arg(&kc)
            .args(extra)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("GITFLEET_POLL_INTERVAL", "10ms")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let describes = || {
        standin
            .requests()
            .iter()
            .filter(|r| r.method == "GET" && r.path == "/clusters/quiet")
            .count()
    };
    up(&[]);
    assert!(!kc.exists(), "no kubeconfig without --write-kubeconfig");
    standin.clear_requests();
    up(&[]);
    let without = describes();
    assert!(without >= 1, "{:?}", texts(&standin.requests()));
    assert!(!kc.exists());
    standin.clear_requests();
    up(&["--write-kubeconfig"]);
    assert_eq!(describes(), without + 1, "{:?}", texts(&standin.requests()));
    assert!(kc.join("quiet.yaml").exists());
}

/// Node groups and add-ons keep the same record as clusters: a tag gitfleet set and the
/// definition dropped is removed from each (TagResource/UntagResource on their ARNs), a tag
/// someone else added survives, and the scaling config is not sent for a tags-only change.
#[test]
fn node_group_and_addon_tags_gitfleet_set_are_removed_and_foreign_ones_survive() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let with_tags = |tags: &str| {
            let mut src = with_addons("kappa", "      - {name: coredns}\n");
            let file = src.files.get_mut("clusters/kappa/cluster.yaml").unwrap();
            *file = file.replace("tags: {team: platform}", &format!("tags: {{{tags}}}"));
            src
        };
        let first = prepared(&with_tags("team: platform, env: prod"));
        apply_cloud_steps(&p, &first, &plan_of(&p, &first).await).await;
        let ng = eks.nodegroup("kappa", "general").unwrap();
        assert_eq!(ng["tags"]["gitfleet.io/managed-tags"], "env team");

        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(REGION))
            .endpoint_url(&eks.url)
            .credentials_provider(aws_credential_types::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .load()
            .await;
        let client = aws_sdk_eks::Client::new(&config);
        let addon_arn = client
            .describe_addon()
            .cluster_name("kappa")
            .addon_name("coredns")
            .send()
            .await
            .unwrap()
            .addon()
            .and_then(|a| a.addon_arn())
            .unwrap()
            .to_string();
        let ng_arn = ng["nodegroupArn"].as_str().unwrap().to_string();
        for arn in [&ng_arn, &addon_arn] {
            client
                .tag_resource()
                .resource_arn(arn)
                .tags("cost-center", "4711")
                .send()
                .await
                .unwrap();
        }
        assert!(cloud_steps(&plan_of(&p, &first).await).is_empty());

        let second = prepared(&with_tags("team: platform"));
        let plan = plan_of(&p, &second).await;
        let change = "tags.gitfleet.io/managed-tags: env team → team, tags.env: prod → (removed)";
        assert_eq!(
            cloud_steps(&plan),
            [
                format!("update cluster kappa ({change})"),
                format!("update node pool general ({change})"),
                format!("update node pool batch ({change})"),
                format!("update add-on coredns ({change})"),
            ]
        );
        eks.clear_requests();
        apply_cloud_steps(&p, &second, &plan).await;
        let mutations = texts(&eks.mutations());
        assert!(
            mutations.iter().all(|m| !m.contains("update-config")),
            "{mutations:?}"
        );
        let ng = eks.nodegroup("kappa", "general").unwrap();
        let addon = client
            .describe_addon()
            .cluster_name("kappa")
            .addon_name("coredns")
            .send()
            .await
            .unwrap();
        let addon_tags = addon.addon().and_then(|a| a.tags()).unwrap();
        assert!(ng["tags"].get("env").is_none(), "{}", ng["tags"]);
        assert_eq!(ng["tags"]["cost-center"], "4711");
        assert_eq!(ng["tags"]["gitfleet.io/managed-tags"], "team");
        assert!(!addon_tags.contains_key("env"), "{addon_tags:?}");
        assert_eq!(
            addon_tags.get("cost-center").map(String::as_str),
            Some("4711")
        );
        assert!(cloud_steps(&plan_of(&p, &second).await).is_empty());
    });
}

/// The HTTP status the Kubernetes stand-in answers to a namespace list with `token`.
fn status_with_token(url: &str, token: &str) -> u16 {
    use std::io::{Read, Write};
    let addr = url.trim_start_matches("http://");
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET /api/v1/namespaces HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {reply}"))
}

/// The Kubernetes stand-in as an EKS API server: it accepts an EKS token (what
/// `gitfleet token eks` prints) only when STS would accept the presigned GetCallerIdentity
/// call for this cluster, and maps it to the cluster creator's user.
#[test]
fn the_kube_standin_accepts_eks_tokens_only_for_its_cluster() {
    use crate::support::kube_api::{self, EKS_ADMIN_USER, EksAuth, KubeStandIn};
    use aws_credential_types::Credentials;
    use gitfleet::provider::eks_token::eks_token;
    use std::time::SystemTime;

    let kube = KubeStandIn::start_with(kube_api::Options {
        eks: Some(EksAuth::new("lambda", "AKIDTEST", "s3cret")),
        ..Default::default()
    });
    let url = kube.url();
    let creds = |secret: &str| Credentials::new("AKIDTEST", secret, None, None, "test");
    let now = SystemTime::now();
    let token = |cluster: &str, secret: &str, at: SystemTime| {
        eks_token(&creds(secret), REGION, cluster, at)
            .unwrap()
            .token
    };
    assert_eq!(
        status_with_token(&url, &token("lambda", "s3cret", now)),
        200
    );
    let with_session = Credentials::new("AKIDTEST", "s3cret", Some("session".into()), None, "t");
    let session_token = eks_token(&with_session, "cn-north-1", "lambda", now).unwrap();
    assert_eq!(status_with_token(&url, &session_token.token), 200);
    let users: Vec<String> = kube.requests().iter().map(|r| r.user.clone()).collect();
    assert_eq!(users, [EKS_ADMIN_USER, EKS_ADMIN_USER]);

    let old = now - Duration::from_secs(16 * 60);
    let other_key = Credentials::new("AKIDOTHER", "s3cret", None, None, "test");
    let refused = [
        ("another cluster", token("mu", "s3cret", now)),
        ("another secret", token("lambda", "wrong", now)),
        ("signed 16 minutes ago", token("lambda", "s3cret", old)),
        (
            "an unknown access key",
            eks_token(&other_key, REGION, "lambda", now).unwrap().token,
        ),
        ("not base64url", "k8s-aws-v1.!!!".to_string()),
        ("not a URL", "k8s-aws-v1.aGVsbG8".to_string()),
        ("no token at all", String::new()),
    ];
    for (what, t) in &refused {
        assert_eq!(status_with_token(&url, t), 401, "{what}");
    }
    // A presigned URL for another STS action, re-encoded: refused.
    let good = token("lambda", "s3cret", now);
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let text = String::from_utf8(b64.decode(&good["k8s-aws-v1.".len()..]).unwrap()).unwrap();
    let tampered = text.replace("GetCallerIdentity", "AssumeRole");
    let tampered = format!("k8s-aws-v1.{}", b64.encode(tampered));
    assert_eq!(status_with_token(&url, &tampered), 401);
    // The stand-in's own token still works.
    assert_eq!(status_with_token(&url, kube_api::DEFAULT_TOKEN), 200);
}

/// The plan contract on EKS: after `up` (the EKS stand-in for the cloud, its DescribeCluster
/// endpoint the Kubernetes stand-in, reached with gitfleet's EKS token as a user reaches it),
/// `plan` observes every step, reconciler included, plans nothing and exits 0.
#[test]
fn a_converged_eks_fleet_plans_nothing_and_every_step_is_observed() {
    use crate::agent::{Repo, git};
    use crate::support::eks::Endpoint;
    use crate::support::kube_api::{self, EKS_ADMIN_USER, EksAuth, KubeStandIn};
    use serde_json::Value;

    let kube = KubeStandIn::start_with(kube_api::Options {
        eks: Some(EksAuth::new("nu", "testing", "testing")),
        ..Default::default()
    });
    let eks = EksStandIn::start(Options {
        endpoint: Some(Endpoint {
            url: kube.url(),
            ca_data: kube.ca_data(),
        }),
        ..options()
    });
    let dir = tempfile::tempdir().unwrap();
    let repo = Repo::new(dir.path());
    let src = fleet("nu", "1.30", 1);
    for (path, text) in &src.files {
        let text = text.replace("https://example.com/acme/fleet.git", &repo.url());
        repo.write(path, &text);
    }
    repo.commit("fleet");
    let run = |args: &[&str]| {
        let out = crate::support::gitfleet(&repo.work)
            .args(args)
            .args(["--aws-endpoint-url", &eks.url])
            .arg("--fleet")
            .arg(&repo.work)
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("GITFLEET_POLL_INTERVAL", "10ms")
            .env("HOME", dir.path())
            .env_remove("AWS_PROFILE")
            .env_remove("AWS_SESSION_TOKEN")
            .env_remove("KUBECONFIG")
            .env_remove("GITFLEET_KUBECONFIG")
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let kubeconfigs = dir.path().join("kubeconfigs");
    let kc_dir = kubeconfigs.to_str().unwrap();

    // Before up, the cluster does not exist: the plan creates it (exit 2).
    let (code, out, err) = run(&["plan"]);
    assert_eq!(code, 2, "{out}{err}");

    let (code, out, err) = run(&["up", "--yes", "--kubeconfig-dir", kc_dir]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("install reconciler"), "{err}");
    // The reconciler went in through the endpoint EKS returned, with EKS tokens.
    let writes = kube.writes();
    assert!(!writes.is_empty(), "nothing was installed");
    assert!(
        writes.iter().all(|w| w.user == EKS_ADMIN_USER),
        "{:?}",
        writes.iter().map(|w| &w.user).collect::<Vec<_>>()
    );
    assert!(
        kube.object(
            "apps/v1",
            "deployments",
            Some("gitfleet-system"),
            "gitfleet-reconciler"
        )
        .is_some(),
        "{:?}",
        writes.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    let pushed = git(&repo.bare, &["rev-parse", "main"]);
    git(&repo.work, &["pull", "-q", "--ff-only", "origin", "main"]);

    kube.clear_requests();
    eks.clear_requests();
    let (code, out, err) = run(&["plan", "-o", "json"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    crate::output_schema::assert_valid(
        "converged EKS plan",
        &out,
        &crate::output_schema::strict_schema("plan"),
    );
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["summary"]["steps"], 0, "{out}");
    assert_eq!(doc["summary"]["failed"], 0, "{out}");
    assert_eq!(doc["summary"]["unobserved"], 0, "{out}");
    let cluster = &doc["clusters"][0];
    assert_eq!(cluster["cluster"], "nu", "{out}");
    let steps = cluster["steps"].as_array().unwrap();
    assert!(steps.iter().all(|s| s["observed"] == true), "{out}");
    assert!(
        cluster.get("unobserved").is_none_or(Value::is_null),
        "{out}"
    );
    // It did observe the reconciler, through the endpoint, read-only.
    let seen = kube.requests();
    assert!(
        seen.iter()
            .any(|r| !r.discovery && r.user == EKS_ADMIN_USER && r.status == 200),
        "{:?}",
        seen.iter().map(ToString::to_string).collect::<Vec<_>>()
    );
    assert!(kube.writes().is_empty(), "plan writes nothing");
    assert!(eks.mutations().is_empty(), "plan writes nothing");

    let (code, out, err) = run(&["plan"]);
    assert_eq!(code, 0, "stdout:\n{out}\nstderr:\n{err}");
    assert!(out.contains("nu [eks]: up to date"), "{out}");
    assert!(out.contains("Plan: 0 steps across 1 cluster."), "{out}");
    assert_eq!(git(&repo.bare, &["rev-parse", "main"]), pushed, "no commit");
}

async fn sdk(endpoint: &str) -> aws_sdk_eks::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "test",
        ))
        .load()
        .await;
    aws_sdk_eks::Client::new(&config)
}

/// Issue 11: node labels and taints someone else set on a node group gitfleet manages survive
/// every `up`; gitfleet removes only the label and taint keys its records
/// (`gitfleet.io/managed-labels`, `gitfleet.io/managed-taints`) say it set.
#[test]
fn labels_and_taints_set_by_others_on_a_node_group_survive() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        let p = provider(&eks.url, 3).await;
        let first = prepared(&fleet("lbl", "1.30", 1));
        apply_cloud_steps(&p, &first, &plan_of(&p, &first).await).await;
        let client = sdk(&eks.url).await;
        crate::eks::others_label_and_taint_the_node_groups(&client).await;
        let describe = |name: &'static str| crate::eks::nodegroup(&client, name);
        assert!(
            cloud_steps(&plan_of(&p, &first).await).is_empty(),
            "labels and taints set by others are no change"
        );

        // The definition drops its label and its taint: only those go.
        let mut src = fleet("lbl", "1.30", 1);
        let key = "clusters/lbl/cluster.yaml".to_string();
        let text = src.files[&key]
            .replace("      labels: {tier: general}\n", "")
            .replace(
                "      taints: [{key: batch, value: \"true\", effect: NoSchedule}]\n",
                "",
            );
        src.files.insert(key, text);
        let second = prepared(&src);
        let plan = plan_of(&p, &second).await;
        let steps = cloud_steps(&plan);
        assert!(
            steps.iter().any(|s| s.contains("node pool general")
                && s.contains("labels.tier: general → (removed)")),
            "{steps:?}"
        );
        assert!(
            steps
                .iter()
                .all(|s| !s.contains("cost-center") && !s.contains("nvidia.com/gpu:NoSchedule → ")),
            "{steps:?}"
        );
        apply_cloud_steps(&p, &second, &plan).await;
        let general = describe("general").await;
        let labels = general.labels().cloned().unwrap_or_default();
        assert!(!labels.contains_key("tier"), "{labels:?}");
        assert_eq!(labels.get("cost-center").map(String::as_str), Some("42"));
        assert!(
            general
                .taints()
                .iter()
                .any(|t| t.key() == Some("nvidia.com/gpu")),
            "{:?}",
            general.taints()
        );
        let batch = describe("batch").await;
        let keys: Vec<_> = batch.taints().iter().filter_map(|t| t.key()).collect();
        assert_eq!(keys, ["nvidia.com/gpu"], "{:?}", batch.taints());
        assert_eq!(
            batch
                .labels()
                .and_then(|l| l.get("cost-center"))
                .map(String::as_str),
            Some("42")
        );
        assert!(
            cloud_steps(&plan_of(&p, &second).await).is_empty(),
            "converged"
        );
    });
}

/// Issue 11: a foreign cluster of a fleet cluster's name is refused by `plan`, `up` and `down`
/// through the CLI, and not one write call reaches the EKS API (the stand-in's request log).
#[test]
fn a_foreign_cluster_gets_no_write_call_from_plan_up_or_down() {
    let eks = EksStandIn::start(options());
    runtime().block_on(async {
        crate::eks::create_foreign_cluster(&sdk(&eks.url).await).await;
    });
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in &fleet("legacy", "1.30", 1).files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    eks.clear_requests();
    let run = |args: &[&str]| {
        let out = crate::support::gitfleet(dir.path())
            .args(args)
            .args(["--aws-endpoint-url", &eks.url])
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("GITFLEET_POLL_INTERVAL", "10ms")
            .env_remove("AWS_PROFILE")
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["plan", "--no-install"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        format!("{out}{err}").contains("exists and is not managed by gitfleet"),
        "{out}{err}"
    );
    let (code, out, err) = run(&["up", "--yes", "--no-install"]);
    assert_eq!(code, Some(1), "{out}{err}");
    let (code, out, err) = run(&["down", "legacy", "--yes"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(
        eks.requests().iter().any(|r| r.method == "GET"),
        "the cluster was observed"
    );
    assert_eq!(
        texts(&eks.mutations()),
        Vec::<String>::new(),
        "a write call reached a cluster gitfleet did not create"
    );
}
