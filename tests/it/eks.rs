//! The EKS provider against moto_server through the real `aws-sdk-eks` client: create from
//! nothing, no-op re-run, scaling, upgrade plan, ownership-guarded deletion, interrupted apply,
//! throttling.

use std::time::Duration;

use gitfleet::fleet::MemSource;
use gitfleet::pipeline::{Prepared, prepare};
use gitfleet::plan::{self, ClusterPlan};
use gitfleet::provider::eks::{EksProvider, EksSettings, WaitSettings};
use gitfleet::provider::{ProviderError, Silent};

use crate::support::moto::Moto;
use crate::support::throttle::Throttle;

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

fn credentials() -> aws_credential_types::Credentials {
    aws_credential_types::Credentials::new("testing", "testing", None, None, "test")
}

async fn provider(endpoint: &str, attempts: u32) -> EksProvider {
    let mut settings = EksSettings::new(REGION);
    settings.endpoint_url = Some(endpoint.to_string());
    settings.credentials = Some(credentials());
    settings.max_attempts = attempts;
    settings.initial_backoff = Duration::from_millis(10);
    settings.wait = WaitSettings {
        poll: Duration::from_millis(20),
        timeout: Duration::from_secs(30),
    };
    EksProvider::connect(&settings).await
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

/// The provider's own steps, as text.
fn cloud_steps(plan: &ClusterPlan) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| s.target.is_provider())
        .map(ToString::to_string)
        .collect()
}

async fn apply_cloud_steps(p: &EksProvider, prepared: &Prepared, plan: &ClusterPlan) {
    for step in plan.steps.iter().filter(|s| s.target.is_provider()) {
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

async fn sdk(endpoint: &str) -> aws_sdk_eks::Client {
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(credentials())
        .load()
        .await;
    aws_sdk_eks::Client::new(&config)
}

#[test]
fn create_from_nothing_then_a_rerun_plans_no_cloud_change() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
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
        apply_cloud_steps(&p, &prep, &plan).await;
        assert_eq!(cloud_steps(&plan_of(&p, &prep).await), Vec::<String>::new());

        // What EKS holds is what was rendered, ownership tags included.
        let c = sdk(&moto.url)
            .await
            .describe_cluster()
            .name("alpha")
            .send()
            .await
            .unwrap();
        let tags = c.cluster().unwrap().tags().unwrap();
        assert_eq!(
            tags.get("gitfleet.io/managed-by").map(String::as_str),
            Some("gitfleet")
        );
        assert_eq!(
            tags.get("gitfleet.io/fleet").map(String::as_str),
            Some("test-fleet")
        );
        assert_eq!(tags.get("team").map(String::as_str), Some("platform"));
        let ng = sdk(&moto.url)
            .await
            .describe_nodegroup()
            .cluster_name("alpha")
            .nodegroup_name("batch")
            .send()
            .await
            .unwrap();
        let taint = &ng.nodegroup().unwrap().taints()[0];
        assert_eq!(taint.effect().unwrap().as_str(), "NO_SCHEDULE");
    });
}

#[test]
fn scaling_a_pool_is_one_update_and_converges() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let first = prepared(&fleet("beta", "1.30", 2));
        apply_cloud_steps(&p, &first, &plan_of(&p, &first).await).await;

        let scaled = prepared(&fleet("beta", "1.30", 4));
        let plan = plan_of(&p, &scaled).await;
        assert_eq!(
            cloud_steps(&plan),
            ["update node pool general (desired: 2 → 4)"]
        );
        apply_cloud_steps(&p, &scaled, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &scaled).await).is_empty());
    });
}

#[test]
fn a_version_change_plans_minor_steps_then_pools() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let old = prepared(&fleet("gamma", "1.29", 1));
        apply_cloud_steps(&p, &old, &plan_of(&p, &old).await).await;
        let new = prepared(&fleet("gamma", "1.31", 1));
        assert_eq!(
            cloud_steps(&plan_of(&p, &new).await),
            [
                "upgrade cluster gamma (version: 1.29 → 1.30)",
                "upgrade cluster gamma (version: 1.30 → 1.31)",
                "upgrade node pool general (version: 1.29 → 1.31)",
                "upgrade node pool batch (version: 1.29 → 1.31)",
            ]
        );
    });
}

#[test]
fn an_interrupted_apply_continues_where_it_stopped() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let prep = prepared(&fleet("delta", "1.30", 2));
        let plan = plan_of(&p, &prep).await;
        // Only the first step ran before the interruption.
        p.apply(&plan.steps[0], &prep.rendered[0], &Silent)
            .await
            .unwrap();
        let rest = plan_of(&p, &prep).await;
        assert_eq!(
            cloud_steps(&rest),
            [
                "create node pool general (instanceType: m6i.large, size: 1..5 (desired 2))",
                "create node pool batch (instanceType: c6i.xlarge, size: 0..3 (desired 0))",
            ]
        );
        // Re-sending a create that already went through is not an error either.
        p.apply(&plan.steps[0], &prep.rendered[0], &Silent)
            .await
            .unwrap();
        apply_cloud_steps(&p, &prep, &rest).await;
        assert!(cloud_steps(&plan_of(&p, &prep).await).is_empty());
    });
}

#[test]
fn down_deletes_only_what_gitfleet_owns() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let prep = prepared(&fleet("owned", "1.30", 1));
        apply_cloud_steps(&p, &prep, &plan_of(&p, &prep).await).await;
        assert!(
            p.delete_cluster("owned", "test-fleet", &Silent)
                .await
                .unwrap()
        );
        assert!(cloud_steps(&plan_of(&p, &prep).await)[0].starts_with("create cluster owned"));

        // A cluster someone else created: refused, and still there.
        let client = sdk(&moto.url).await;
        client
            .create_cluster()
            .name("foreign")
            .version("1.30")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("s1")
                    .subnet_ids("s2")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let err = p
            .delete_cluster("foreign", "test-fleet", &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::NotOwned { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("gitfleet never deletes what it did not create")
        );
        assert!(
            client
                .describe_cluster()
                .name("foreign")
                .send()
                .await
                .is_ok()
        );
        // An absent cluster is not an error: there is nothing to delete.
        let gone = p
            .delete_cluster("never-created", "test-fleet", &Silent)
            .await;
        assert!(matches!(gone, Ok(false)));
    });
}

#[test]
fn throttling_is_retried_until_it_converges() {
    let moto = Moto::start();
    let throttle = Throttle::start(&moto.url, 4);
    runtime().block_on(async {
        let p = provider(&throttle.url, 8).await;
        let prep = prepared(&fleet("epsilon", "1.30", 1));
        let plan = plan_of(&p, &prep).await;
        apply_cloud_steps(&p, &prep, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &prep).await).is_empty());
    });
    assert!(throttle.requests.load(std::sync::atomic::Ordering::SeqCst) > 4);

    // Without retries the throttling error is reported, naming the operation.
    let throttle = Throttle::start(&moto.url, 1);
    runtime().block_on(async {
        let p = provider(&throttle.url, 1).await;
        let prep = prepared(&fleet("zeta", "1.30", 1));
        let rendered = &prep.rendered[0];
        let desired = plan::desired_state(&prep.fleet.fleet, &prep.fleet.clusters[0], rendered);
        let err = p.observe(&desired, "test-fleet").await.unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with("eks DescribeCluster failed"), "{text}");
        assert!(text.contains("ThrottlingException"), "{text}");
    });
}

#[test]
fn live_plan_from_the_cli_reads_moto() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in fleet("cli", "1.30", 2).files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let out = crate::support::gitfleet(dir.path())
        .args(["plan", "-o", "json", "--aws-endpoint-url", &moto.url])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .assert()
        .code(2)
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["offline"], false);
    // The standard AWS_ENDPOINT_URL works as well as the flag.
    crate::support::gitfleet(dir.path())
        .args(["plan", "-o", "json"])
        .env("AWS_ENDPOINT_URL", &moto.url)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env_remove("AWS_PROFILE")
        .assert()
        .code(2);
    assert_eq!(v["clusters"][0]["steps"][0]["action"], "create");
    assert_eq!(v["clusters"][0]["steps"][0]["target"], "control-plane");
}

fn write_fleet(src: &MemSource) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in &src.files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    dir
}

fn cli(dir: &std::path::Path, moto: &Moto, args: &[&str]) -> assert_cmd::Command {
    let mut cmd = crate::support::gitfleet(dir);
    cmd.args(args)
        .args(["--aws-endpoint-url", &moto.url])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GITFLEET_POLL_INTERVAL", "10ms")
        .env_remove("AWS_PROFILE");
    cmd
}

#[test]
fn up_kubeconfig_and_down_through_the_cli() {
    use predicates::prelude::*;
    let moto = Moto::start();
    let dir = write_fleet(&fleet("cli-up", "1.30", 2));
    let d = dir.path();

    // No terminal and no --yes: refuse, change nothing.
    cli(d, &moto, &["up"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains(
            "stdin is not a terminal: pass --yes",
        ));
    cli(d, &moto, &["plan", "-o", "json"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains("\"target\": \"control-plane\""));

    // Provision only (the emulator has no API server to bootstrap): no kubeconfig is written.
    let kc_dir = d.join("kc");
    let kc = kc_dir.to_str().unwrap();
    cli(
        d,
        &moto,
        &["up", "--yes", "--no-install", "--kubeconfig-dir", kc],
    )
    .assert()
    .success()
    .stderr(
        predicate::str::contains("[cli-up] create cluster cli-up (version: 1.30): done")
            .and(predicate::str::contains("create node pool batch"))
            .and(predicate::str::contains("[cli-up] cluster cli-up: ACTIVE")),
    )
    .stdout(predicate::str::is_match(r"cli-up +eks +ok +\d+ cloud step").unwrap());
    assert!(!kc_dir.exists(), "--no-install writes no kubeconfig");

    // Asked for, it is written (0600, marked as gitfleet's), calling `gitfleet` from PATH.
    let up = [
        "up",
        "--yes",
        "--no-install",
        "--write-kubeconfig",
        "--kubeconfig-dir",
        kc,
    ];
    cli(d, &moto, &up)
        .assert()
        .success()
        .stdout(predicate::str::contains("up to date (no change)"));
    use std::os::unix::fs::PermissionsExt;
    let written = kc_dir.join("cli-up.yaml");
    let text = std::fs::read_to_string(&written).expect("up wrote the kubeconfig");
    assert!(
        text.starts_with("# Written by gitfleet for cluster cli-up;"),
        "{text}"
    );
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(v["users"][0]["user"]["exec"]["command"], "gitfleet");
    assert_eq!(
        std::fs::metadata(&written).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // A kubeconfig that authenticates through gitfleet's own token plugin, mode 0600.
    let kubeconfig = d.join("out/cli-up.kubeconfig");
    cli(
        d,
        &moto,
        &[
            "kubeconfig",
            "cli-up",
            "--out",
            kubeconfig.to_str().unwrap(),
        ],
    )
    .assert()
    .success();
    let text = std::fs::read_to_string(&kubeconfig).unwrap();
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    assert_eq!(v["current-context"], "cli-up");
    let exec = &v["users"][0]["user"]["exec"];
    assert_eq!(exec["command"], "gitfleet", "from PATH, by default");
    assert_eq!(exec["args"][0], "token");
    assert_eq!(exec["args"][3], "cli-up");
    assert!(
        v["clusters"][0]["cluster"]["server"]
            .as_str()
            .unwrap()
            .starts_with("https://")
    );
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // The absolute path of the binary only when asked (flag or environment).
    let absolute = cli(d, &moto, &["kubeconfig", "cli-up"])
        .env("GITFLEET_KUBECONFIG_EXEC", "absolute")
        .output()
        .unwrap();
    let v: serde_yaml::Value = serde_yaml::from_slice(&absolute.stdout).unwrap();
    let command = v["users"][0]["user"]["exec"]["command"].as_str().unwrap();
    assert!(
        std::path::Path::new(command).is_absolute() && std::path::Path::new(command).exists(),
        "{command}"
    );

    // down removes what it deleted, and the kubeconfig gitfleet wrote for it; someone else's
    // file in the same directory stays.
    std::fs::write(kc_dir.join("other.yaml"), "apiVersion: v1\n").unwrap();
    cli(d, &moto, &["down", "cli-up"]).assert().code(1);
    let out = cli(
        d,
        &moto,
        &[
            "down",
            "cli-up",
            "--yes",
            "-o",
            "json",
            "--kubeconfig-dir",
            kc,
        ],
    )
    .output()
    .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(doc["clusters"][0]["cluster"], "cli-up");
    assert_eq!(doc["clusters"][0]["result"], "deleted");
    assert_eq!(
        doc["clusters"][0]["kubeconfigRemoved"],
        written.to_str().unwrap()
    );
    assert!(!written.exists());
    assert!(kc_dir.join("other.yaml").exists());
    cli(
        d,
        &moto,
        &["down", "cli-up", "--yes", "--kubeconfig-dir", kc],
    )
    .assert()
    .success()
    .stdout(predicate::str::is_match(r"\ncli-up +eks +absent +does not exist\n$").unwrap());
}

#[test]
fn the_token_plugin_prints_an_exec_credential() {
    let out = crate::support::gitfleet(std::path::Path::new("."))
        .args(["token", "eks", "--cluster", "prod", "--region", "eu-west-1"])
        .env("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
        .env(
            "AWS_SECRET_ACCESS_KEY",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        )
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["kind"], "ExecCredential");
    assert!(
        v["status"]["token"]
            .as_str()
            .unwrap()
            .starts_with("k8s-aws-v1.")
    );
    assert!(
        v["status"]["expirationTimestamp"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
}

#[test]
fn a_subnet_change_is_an_error_naming_the_field_not_a_replace() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let prep = prepared(&fleet("theta", "1.30", 1));
        apply_cloud_steps(&p, &prep, &plan_of(&p, &prep).await).await;
        let mut moved = fleet("theta", "1.30", 1);
        let file = moved.files.get_mut("clusters/theta/cluster.yaml").unwrap();
        *file = file.replace("[subnet-0000000a, subnet-0000000b]", "[subnet-0000000c, subnet-0000000d]");
        let moved = prepared(&moved);
        let rendered = &moved.rendered[0];
        let desired = plan::desired_state(&moved.fleet.fleet, &moved.fleet.clusters[0], rendered);
        let observed = p.observe(&desired, "test-fleet").await.unwrap();
        let err = plan::plan_cluster(&desired, &observed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`eks.subnetIds` cannot change after creation (is subnet-0000000a,subnet-0000000b, definition says subnet-0000000c,subnet-0000000d); create a new cluster instead"
        );
    });
}

/// A cluster someone else created, with the name of a fleet cluster: `up` plans nothing for it
/// and changes nothing (its tags stay exactly as they were, no node group appears), and `down`
/// refuses it.
#[test]
fn a_foreign_cluster_of_a_fleet_clusters_name_is_never_touched() {
    let moto = Moto::start();
    let dir = write_fleet(&fleet("legacy", "1.30", 1));
    let client = runtime().block_on(async {
        let client = sdk(&moto.url).await;
        create_foreign_cluster(&client).await;
        client
    });
    let tags = || {
        runtime().block_on(async {
            let c = client
                .describe_cluster()
                .name("legacy")
                .send()
                .await
                .unwrap();
            let mut tags: Vec<(String, String)> = c
                .cluster()
                .and_then(|c| c.tags())
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            tags.sort();
            tags
        })
    };
    let before = tags();
    assert_eq!(
        before,
        vec![("owner".to_string(), "someone-else".to_string())]
    );

    for args in [&["plan"][..], &["up", "--yes", "--no-install"][..]] {
        let out = cli(dir.path(), &moto, args).output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{args:?}: {text}");
        assert!(
            text.contains("cluster legacy exists and is not managed by gitfleet"),
            "{args:?}: {text}"
        );
    }
    assert_eq!(tags(), before, "the foreign cluster's tags are untouched");
    let groups = runtime().block_on(async {
        client
            .list_nodegroups()
            .cluster_name("legacy")
            .send()
            .await
            .unwrap()
            .nodegroups()
            .len()
    });
    assert_eq!(groups, 0, "no node group is created in a foreign cluster");
    let out = cli(dir.path(), &moto, &["down", "legacy", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(tags(), before);

    // Adoption is explicit: it shows what it tags and asks (no terminal: refused, unchanged) ...
    let out = cli(dir.path(), &moto, &["adopt", "legacy"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.contains("  cluster legacy") && text.contains("--yes"),
        "{text}"
    );
    assert_eq!(tags(), before);
    // ... and with --yes adds gitfleet's ownership tags, keeping the others.
    let out = cli(dir.path(), &moto, &["adopt", "legacy", "--yes"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = tags();
    for (k, v) in [
        ("owner", "someone-else"),
        ("gitfleet.io/managed-by", "gitfleet"),
        ("gitfleet.io/cluster", "legacy"),
    ] {
        assert!(
            after.contains(&(k.to_string(), v.to_string())),
            "{k}={v} in {after:?}"
        );
    }
    // From then on `up` manages it, and still never removes a tag it did not set.
    let out = cli(dir.path(), &moto, &["up", "--yes", "--no-install"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        tags().contains(&("owner".to_string(), "someone-else".to_string())),
        "foreign tags survive up"
    );
    let out = cli(dir.path(), &moto, &["adopt", "legacy", "--yes"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("already managed by gitfleet"));
}

/// The plan contract on EKS: after the cloud resources exist, `plan --no-install` exits 0
/// (nothing to do), while a full `plan` whose reconciler cannot be observed (moto's endpoint is
/// not a real API server) says so per step and exits 1, never 0 or 2; JSON carries `observed`
/// on every step.
#[test]
fn a_plan_that_cannot_observe_the_reconciler_says_so_and_exits_1() {
    let moto = Moto::start();
    let dir = write_fleet(&fleet("contract", "1.30", 1));
    let out = cli(dir.path(), &moto, &["up", "--yes", "--no-install"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = cli(dir.path(), &moto, &["plan", "--no-install"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("contract [eks]: up to date"), "{text}");

    let out = cli(dir.path(), &moto, &["plan"]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("(assumed: not observed)"), "{text}");
    assert!(
        text.contains("the reconciler could not be observed"),
        "{text}"
    );
    assert!(text.contains("1 not fully observed"), "{text}");

    let out = cli(dir.path(), &moto, &["plan", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let steps = doc["clusters"][0]["steps"].as_array().unwrap();
    assert!(!steps.is_empty());
    assert!(steps.iter().all(|s| s["observed"] == false), "{steps:?}");
    assert!(doc["clusters"][0]["unobserved"].is_string(), "{doc}");
}

/// A definition that leaves `spec.eks.region` out: validation accepts it, and the region comes
/// from AWS_REGION, else AWS_DEFAULT_REGION, else the AWS profile's `region`; with none of them,
/// a clear error that names every place a region can come from.
#[test]
fn a_definition_without_a_region_uses_the_aws_environments() {
    let moto = Moto::start();
    let mut src = fleet("noregion", "1.30", 1);
    let file = src.files.get_mut("clusters/noregion/cluster.yaml").unwrap();
    *file = file.replace(&format!("    region: {REGION}\n"), "");
    assert!(!file.contains("region:"), "{file}");
    let dir = write_fleet(&src);
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    let run = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = cli(dir.path(), &moto, args);
        cmd.env_remove("AWS_REGION")
            .env_remove("AWS_DEFAULT_REGION")
            .env("HOME", home.path())
            .env("AWS_CONFIG_FILE", home.path().join(".aws/config"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = cmd.output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    };
    let out = crate::support::gitfleet(dir.path())
        .arg("validate")
        .env_remove("AWS_REGION")
        .env_remove("AWS_DEFAULT_REGION")
        .env("HOME", home.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // No region anywhere: an error that says where one can come from; nothing is planned.
    let (code, text) = run(&["plan"], &[]);
    assert_eq!(code, 1, "{text}");
    assert!(
        text.contains("no AWS region for cluster noregion: set spec.eks.region")
            && text.contains("AWS_REGION")
            && text.contains("AWS_DEFAULT_REGION")
            && text.contains("profile"),
        "{text}"
    );
    let (code, text) = run(&["plan"], &[("AWS_REGION", "eu west 1")]);
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("AWS_REGION \"eu west 1\""), "{text}");

    // The profile's region, then AWS_DEFAULT_REGION over it, then AWS_REGION over both.
    std::fs::write(
        home.path().join(".aws/config"),
        "[default]\nregion = eu-central-1\n",
    )
    .unwrap();
    let (code, text) = run(&["up", "--yes", "--no-install"], &[]);
    assert_eq!(code, 0, "{text}");
    let regions_with_cluster = |regions: &[&str]| -> Vec<String> {
        runtime().block_on(async {
            let mut found = Vec::new();
            for region in regions {
                let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new(region.to_string()))
                    .endpoint_url(&moto.url)
                    .credentials_provider(credentials())
                    .load()
                    .await;
                let listed = aws_sdk_eks::Client::new(&config)
                    .list_clusters()
                    .send()
                    .await
                    .unwrap();
                if listed.clusters().iter().any(|c| c == "noregion") {
                    found.push(region.to_string());
                }
            }
            found
        })
    };
    let all = ["eu-central-1", "us-east-2", "ap-south-1"];
    assert_eq!(regions_with_cluster(&all), ["eu-central-1"]);
    let (code, text) = run(&["plan", "--no-install"], &[]);
    assert_eq!(code, 0, "converged in the profile's region: {text}");
    let (code, text) = run(
        &["up", "--yes", "--no-install"],
        &[("AWS_DEFAULT_REGION", "us-east-2")],
    );
    assert_eq!(code, 0, "{text}");
    assert_eq!(regions_with_cluster(&all), ["eu-central-1", "us-east-2"]);
    let (code, text) = run(
        &["plan", "--no-install", "-o", "json"],
        &[
            ("AWS_DEFAULT_REGION", "us-east-2"),
            ("AWS_REGION", "ap-south-1"),
        ],
    );
    assert_eq!(code, 2, "AWS_REGION wins, and nothing is there yet: {text}");

    // The kubeconfig's token plugin is called with the region that was used.
    let (code, text) = run(&["kubeconfig", "noregion"], &[("AWS_REGION", "us-east-2")]);
    assert_eq!(code, 0, "{text}");
    let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let args = &v["users"][0]["user"]["exec"]["args"];
    assert_eq!(args[4], "--region");
    assert_eq!(args[5], "us-east-2");
}

/// `down` selects, runs and reports as `up` does: `-c`, `-l`, `--all`, `--parallel`, and
/// `-o json` saying per cluster what was deleted and what was refused (a cluster gitfleet did
/// not create is never deleted; the others still are).
#[test]
fn down_selects_runs_in_parallel_and_reports_deleted_and_refused_as_json() {
    use predicates::prelude::*;
    let moto = Moto::start();
    let mut src = MemSource::default();
    for (name, team) in [("d-one", "a"), ("d-two", "b"), ("d-foreign", "a")] {
        for (path, text) in fleet(name, "1.30", 1).files {
            let text = text.replace(
                &format!("metadata: {{name: {name}}}"),
                &format!("metadata: {{name: {name}, labels: {{team: {team}}}}}"),
            );
            src.files.insert(path, text);
        }
    }
    let dir = write_fleet(&src);
    let d = dir.path();
    let out = cli(d, &moto, &["up", "--yes", "--no-install", "d-one", "d-two"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    runtime().block_on(async {
        sdk(&moto.url)
            .await
            .create_cluster()
            .name("d-foreign")
            .version("1.30")
            .role_arn("arn:aws:iam::123456789012:role/eks")
            .resources_vpc_config(
                aws_sdk_eks::types::VpcConfigRequest::builder()
                    .subnet_ids("subnet-0000000a")
                    .subnet_ids("subnet-0000000b")
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let exists = |name: &str| {
        runtime().block_on(async {
            sdk(&moto.url)
                .await
                .describe_cluster()
                .name(name)
                .send()
                .await
                .is_ok()
        })
    };

    // Nothing selected: an error that names the ways to select, and nothing is deleted.
    let out = cli(d, &moto, &["down", "--yes"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--all deletes every cluster"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // -l team=a: d-one deleted, d-foreign refused; d-two untouched.
    let out = cli(
        d,
        &moto,
        &[
            "down",
            "-l",
            "team=a",
            "--parallel",
            "2",
            "--yes",
            "-o",
            "json",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(1), "a refusal fails the run");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["ok"], false);
    let clusters = doc["clusters"].as_array().unwrap();
    let by_name = |n: &str| clusters.iter().find(|c| c["cluster"] == n).cloned();
    assert_eq!(clusters.len(), 2, "{doc}");
    let one = by_name("d-one").unwrap();
    assert_eq!(
        (one["result"].as_str(), one["ok"].as_bool()),
        (Some("deleted"), Some(true))
    );
    let foreign = by_name("d-foreign").unwrap();
    assert_eq!(foreign["result"], "refused");
    assert_eq!(foreign["ok"], false);
    assert!(
        foreign["error"]
            .as_str()
            .unwrap()
            .contains("does not carry gitfleet's ownership tags"),
        "{foreign}"
    );
    assert!(!exists("d-one") && exists("d-foreign") && exists("d-two"));

    // -c selects by name, as up's does.
    let out = cli(d, &moto, &["down", "-c", "d-two", "--yes"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        predicate::str::is_match(r"(?m)^d-two +eks +deleted +cluster deleted$")
            .unwrap()
            .eval(&text),
        "{text}"
    );
    assert!(!exists("d-two"));

    // --all: what is gitfleet's is gone already, the foreign cluster is refused again.
    let out = cli(d, &moto, &["down", "--all", "--yes", "-o", "json"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results: Vec<(String, String)> = doc["clusters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["cluster"].as_str().unwrap().to_string(),
                c["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        [
            ("d-foreign".to_string(), "refused".to_string()),
            ("d-one".to_string(), "absent".to_string()),
            ("d-two".to_string(), "absent".to_string()),
        ]
    );
    assert!(exists("d-foreign"));
    cli(d, &moto, &["down", "--all", "d-one"])
        .assert()
        .code(1)
        .stderr(predicate::str::contains("cannot be used with"));
}

/// A cluster without node pools (moto tags clusters only), tagged `team` and `env`.
fn tagged_fleet(cluster: &str, tags: &str) -> MemSource {
    let mut src = fleet(cluster, "1.30", 1);
    src.files.insert(
        format!("clusters/{cluster}/cluster.yaml"),
        format!(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {cluster}}}\nspec:\n  version: \"1.30\"\n  eks:\n    region: {REGION}\n    roleArn: arn:aws:iam::123456789012:role/eks\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n    tags: {{{tags}}}\n"
        ),
    );
    src
}

/// gitfleet removes a tag only when its record (`gitfleet.io/managed-tags`) says gitfleet set
/// it: a tag that left the definition is removed, one someone else added survives.
#[test]
fn a_tag_removed_from_the_definition_is_removed_and_a_foreign_one_survives() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let first = prepared(&tagged_fleet("tags", "team: platform, env: prod"));
        apply_cloud_steps(&p, &first, &plan_of(&p, &first).await).await;
        let client = sdk(&moto.url).await;
        let tags = || async {
            let c = client.describe_cluster().name("tags").send().await.unwrap();
            let tags: std::collections::BTreeMap<String, String> = c
                .cluster()
                .and_then(|c| c.tags())
                .map(|t| t.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            tags
        };
        let created = tags().await;
        assert_eq!(
            created.get("gitfleet.io/managed-tags").map(String::as_str),
            Some("env team")
        );
        // Someone else tags the cluster.
        let arn = client
            .describe_cluster()
            .name("tags")
            .send()
            .await
            .unwrap()
            .cluster()
            .and_then(|c| c.arn())
            .unwrap()
            .to_string();
        client
            .tag_resource()
            .resource_arn(&arn)
            .tags("cost-center", "4711")
            .send()
            .await
            .unwrap();
        assert!(cloud_steps(&plan_of(&p, &first).await).is_empty());

        let second = prepared(&tagged_fleet("tags", "team: platform"));
        let plan = plan_of(&p, &second).await;
        assert_eq!(
            cloud_steps(&plan),
            ["update cluster tags (tags.gitfleet.io/managed-tags: env team → team, tags.env: prod → (removed))"]
        );
        apply_cloud_steps(&p, &second, &plan).await;
        let after = tags().await;
        assert!(!after.contains_key("env"), "{after:?}");
        assert_eq!(after.get("cost-center").map(String::as_str), Some("4711"));
        assert_eq!(after.get("team").map(String::as_str), Some("platform"));
        assert_eq!(
            after.get("gitfleet.io/managed-tags").map(String::as_str),
            Some("team")
        );
        assert!(cloud_steps(&plan_of(&p, &second).await).is_empty());
    });
}

/// Cluster `legacy`, made by someone else (tagged `owner: someone-else`, no gitfleet tags).
pub(crate) async fn create_foreign_cluster(client: &aws_sdk_eks::Client) {
    client
        .create_cluster()
        .name("legacy")
        .version("1.30")
        .role_arn("arn:aws:iam::123456789012:role/eks")
        .tags("owner", "someone-else")
        .resources_vpc_config(
            aws_sdk_eks::types::VpcConfigRequest::builder()
                .subnet_ids("subnet-0000000a")
                .subnet_ids("subnet-0000000b")
                .build(),
        )
        .send()
        .await
        .unwrap();
}

/// Node group `name` of cluster `lbl`, as DescribeNodegroup answers it.
pub(crate) async fn nodegroup(
    client: &aws_sdk_eks::Client,
    name: &str,
) -> aws_sdk_eks::types::Nodegroup {
    client
        .describe_nodegroup()
        .cluster_name("lbl")
        .nodegroup_name(name)
        .send()
        .await
        .unwrap()
        .nodegroup()
        .cloned()
        .unwrap()
}

/// The first half of the label and taint ownership tests (moto here, the EKS stand-in in
/// `eks_standin.rs`): after `up` created cluster `lbl`, its node groups carry the records of
/// the label and taint keys gitfleet set; someone else then labels and taints both (a cost
/// tool, a GPU operator), which `plan_once` must report as no change.
pub(crate) async fn others_label_and_taint_the_node_groups(client: &aws_sdk_eks::Client) {
    let record = |ng: &aws_sdk_eks::types::Nodegroup, key: &str| {
        ng.tags()
            .and_then(|t| t.get(key))
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(
        record(
            &nodegroup(client, "general").await,
            "gitfleet.io/managed-labels"
        ),
        "tier"
    );
    assert_eq!(
        record(
            &nodegroup(client, "batch").await,
            "gitfleet.io/managed-taints"
        ),
        "batch"
    );
    for name in ["general", "batch"] {
        client
            .update_nodegroup_config()
            .cluster_name("lbl")
            .nodegroup_name(name)
            .labels(
                aws_sdk_eks::types::UpdateLabelsPayload::builder()
                    .add_or_update_labels("cost-center", "42")
                    .build(),
            )
            .taints(
                aws_sdk_eks::types::UpdateTaintsPayload::builder()
                    .add_or_update_taints(
                        aws_sdk_eks::types::Taint::builder()
                            .key("nvidia.com/gpu")
                            .effect(aws_sdk_eks::types::TaintEffect::NoSchedule)
                            .build(),
                    )
                    .build(),
            )
            .send()
            .await
            .unwrap();
    }
}

/// Issue 11, against moto: node groups are created with the records of the label and taint keys
/// gitfleet sets, and labels and taints someone else adds are no change (moto cannot untag a
/// node group, so the removal half runs against the EKS stand-in in `eks_standin.rs`).
#[test]
fn node_groups_record_their_label_and_taint_keys_and_foreign_ones_are_no_change() {
    let moto = Moto::start();
    runtime().block_on(async {
        let p = provider(&moto.url, 3).await;
        let first = prepared(&fleet("lbl", "1.30", 1));
        apply_cloud_steps(&p, &first, &plan_of(&p, &first).await).await;
        others_label_and_taint_the_node_groups(&sdk(&moto.url).await).await;
        assert!(
            cloud_steps(&plan_of(&p, &first).await).is_empty(),
            "labels and taints set by others are no change"
        );
    });
}
