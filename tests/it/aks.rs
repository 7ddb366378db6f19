//! The AKS provider against the ARM stand-in (tests/support/arm.rs) through the real
//! `azure_mgmt_containerservice` client: create from nothing, no-op re-run, pool scale, upgrades,
//! ownership-guarded deletion, throttling, failed provisioning, kubeconfig.

use std::sync::Arc;
use std::time::Duration;

use azure_core::auth::{AccessToken, TokenCredential, TokenResponse};
use gitfleet::fleet::MemSource;
use gitfleet::pipeline::{Prepared, prepare};
use gitfleet::plan::{self, ClusterPlan};
use gitfleet::provider::aks::{AksProvider, AksSettings};
use gitfleet::provider::eks::WaitSettings;
use gitfleet::provider::{ProviderError, Silent};

use crate::support::arm::{ArmStandIn, Options};

const SUB: &str = "00000000-0000-0000-0000-000000000001";

struct FixedToken;

#[async_trait::async_trait]
impl TokenCredential for FixedToken {
    async fn get_token(&self, _: &str) -> azure_core::Result<TokenResponse> {
        Ok(TokenResponse::new(
            AccessToken::new("test-token"),
            azure_core::date::parse_rfc3339("2999-01-01T00:00:00Z")?,
        ))
    }
}

fn fleet(cluster: &str, version: &str, user_count: u32, create_rg: bool) -> MemSource {
    let mut src = MemSource::default();
    src.files.insert(
        "fleet.yaml".into(),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: test-fleet}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n".into(),
    );
    src.files.insert(
        format!("clusters/{cluster}/cluster.yaml"),
        format!(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {cluster}}}\nspec:\n  version: \"{version}\"\n  aks:\n    subscriptionId: {SUB}\n    resourceGroup: rg-{cluster}\n    createResourceGroup: {create_rg}\n    location: westeurope\n    tags: {{team: platform}}\n  nodePools:\n    - {{name: system, instanceType: Standard_D4s_v5, min: 1, max: 1}}\n    - {{name: user, instanceType: Standard_D8s_v5, min: {user_count}, max: {user_count}, labels: {{tier: apps}}}}\n"
        ),
    );
    src
}

fn provider(url: &str, retries: u32) -> AksProvider {
    AksProvider::connect(&AksSettings {
        endpoint: Some(url.to_string()),
        credential: Some(Arc::new(FixedToken) as Arc<dyn TokenCredential>),
        max_retries: retries,
        initial_backoff: Duration::from_millis(10),
        wait: WaitSettings {
            poll: Duration::from_millis(10),
            timeout: Duration::from_secs(10),
        },
    })
}

fn prepared(src: &MemSource) -> Prepared {
    prepare(src, &[], None).expect("valid fleet")
}

async fn plan_of(p: &AksProvider, prepared: &Prepared) -> ClusterPlan {
    let rendered = &prepared.rendered[0];
    let desired = plan::desired_state(&prepared.fleet.fleet, &prepared.fleet.clusters[0], rendered);
    let observed = p.observe(&desired, rendered).await.expect("observe");
    plan::plan_cluster(&desired, &observed).expect("plan")
}

fn cloud_steps(plan: &ClusterPlan) -> Vec<String> {
    plan.steps
        .iter()
        .filter(|s| s.target.is_provider())
        .map(ToString::to_string)
        .collect()
}

async fn apply(p: &AksProvider, prepared: &Prepared, plan: &ClusterPlan) {
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

#[test]
fn create_from_nothing_then_a_rerun_changes_nothing() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let prep = prepared(&fleet("alpha", "1.30", 2, true));
        let plan = plan_of(&p, &prep).await;
        assert_eq!(
            cloud_steps(&plan),
            [
                "create resource group rg-alpha",
                "create cluster alpha (version: 1.30)",
                "create node pool user (instanceType: Standard_D8s_v5, size: 2..2 (desired 2))",
            ]
        );
        apply(&p, &prep, &plan).await;
        // `render --out` writes the bodies as they were sent, tags in ARM's spelling included
        let files: std::collections::BTreeMap<String, String> =
            prep.rendered[0].files().into_iter().collect();
        let rendered = |file: &str| -> serde_json::Value {
            serde_yaml::from_str(&files[&format!("alpha/aks/{file}")]).unwrap()
        };
        let sent = |suffix: &str| -> serde_json::Value {
            arm.mutations()
                .into_iter()
                .find(|r| r.method == "PUT" && r.path.to_lowercase().ends_with(suffix))
                .unwrap_or_else(|| panic!("no PUT of {suffix}"))
                .body
        };
        for (file, suffix, tags) in [
            ("resource-group.yaml", "/resourcegroups/rg-alpha", "/tags"),
            ("managed-cluster.yaml", "/managedclusters/alpha", "/tags"),
            (
                "agent-pool-user.yaml",
                "/agentpools/user",
                "/properties/tags",
            ),
        ] {
            let (rendered, sent) = (rendered(file), sent(suffix));
            assert_eq!(
                rendered.pointer(tags),
                sent.pointer(tags),
                "{file}: rendered {rendered}\nsent {sent}"
            );
            assert!(
                sent.pointer(tags)
                    .and_then(|t| t.as_object())
                    .is_some_and(|t| t.contains_key("gitfleet.io_managed-by")),
                "{file}: {sent}"
            );
        }
        arm.clear_requests();
        assert_eq!(cloud_steps(&plan_of(&p, &prep).await), Vec::<String>::new());
        let requests = arm.requests();
        assert!(
            requests.iter().all(|r| r.method == "GET"),
            "{:?}",
            requests
                .iter()
                .map(|r| format!("{} {}", r.method, r.path))
                .collect::<Vec<_>>()
        );
        // Every request carried the credential's token.
        assert!(
            requests
                .iter()
                .all(|r| r.authorization.as_deref() == Some("Bearer test-token"))
        );

        let mc = arm.cluster("rg-alpha", "alpha").unwrap();
        // ARM refuses `/` in tag names (the stand-in too): gitfleet's own are spelled with `_`
        assert_eq!(mc["tags"]["gitfleet.io_managed-by"], "gitfleet");
        assert!(
            mc["tags"]
                .as_object()
                .unwrap()
                .keys()
                .all(|k| !k.contains('/')),
            "{}",
            mc["tags"]
        );
        assert_eq!(mc["tags"]["team"], "platform");
        let user = arm.pool("rg-alpha", "alpha", "user").unwrap();
        assert_eq!(user["properties"]["mode"], "User");
        assert_eq!(user["properties"]["count"], 2);
    });
}

#[test]
fn scaling_a_pool_is_one_update() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let first = prepared(&fleet("beta", "1.30", 2, true));
        apply(&p, &first, &plan_of(&p, &first).await).await;
        let scaled = prepared(&fleet("beta", "1.30", 5, true));
        let plan = plan_of(&p, &scaled).await;
        assert_eq!(
            cloud_steps(&plan),
            ["update node pool user (min: 2 → 5, max: 2 → 5, desired: 2 → 5)"]
        );
        apply(&p, &scaled, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &scaled).await).is_empty());
        assert_eq!(
            arm.pool("rg-beta", "beta", "user").unwrap()["properties"]["count"],
            5
        );
    });
}

#[test]
fn upgrades_go_one_minor_at_a_time_then_the_pools() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let old = prepared(&fleet("gamma", "1.29", 1, true));
        apply(&p, &old, &plan_of(&p, &old).await).await;
        let new = prepared(&fleet("gamma", "1.31", 1, true));
        let plan = plan_of(&p, &new).await;
        assert_eq!(
            cloud_steps(&plan),
            [
                "upgrade cluster gamma (version: 1.29 → 1.30)",
                "upgrade cluster gamma (version: 1.30 → 1.31)",
                "upgrade node pool system (version: 1.29 → 1.31)",
                "upgrade node pool user (version: 1.29 → 1.31)",
            ]
        );
        apply(&p, &new, &plan).await;
        assert!(cloud_steps(&plan_of(&p, &new).await).is_empty());
        let mc = arm.cluster("rg-gamma", "gamma").unwrap();
        assert_eq!(mc["properties"]["currentKubernetesVersion"], "1.31.0");
        let puts: Vec<String> = arm
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path.ends_with("/managedClusters/gamma"))
            .map(|r| {
                r.body["properties"]["kubernetesVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        assert_eq!(puts[puts.len() - 2..], ["1.30", "1.31"]);
    });
}

#[test]
fn down_deletes_only_owned_clusters() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let prep = prepared(&fleet("delta", "1.30", 1, true));
        apply(&p, &prep, &plan_of(&p, &prep).await).await;
        assert!(
            p.delete_cluster(&prep.rendered[0], "test-fleet", &Silent)
                .await
                .unwrap()
        );
        assert!(arm.cluster("rg-delta", "delta").is_none());
        assert!(
            !p.delete_cluster(&prep.rendered[0], "test-fleet", &Silent)
                .await
                .unwrap()
        );

        // Created elsewhere (another fleet's tags): refused, still there.
        let theirs = prepared(&fleet("delta", "1.30", 1, true));
        apply(&p, &theirs, &plan_of(&p, &theirs).await).await;
        let err = p
            .delete_cluster(&theirs.rendered[0], "another-fleet", &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::NotOwned { .. }), "{err}");
        assert!(arm.cluster("rg-delta", "delta").is_some());
    });
}

#[test]
fn throttling_is_retried_until_it_converges() {
    let arm = ArmStandIn::start(Options {
        throttle_first: 3,
        ..Options::default()
    });
    runtime().block_on(async {
        let p = provider(&arm.url, 5);
        let prep = prepared(&fleet("eps", "1.30", 1, true));
        apply(&p, &prep, &plan_of(&p, &prep).await).await;
        assert!(cloud_steps(&plan_of(&p, &prep).await).is_empty());
    });
    assert_eq!(arm.requests().iter().filter(|r| r.throttled).count(), 3);
}

#[test]
fn a_failed_provisioning_is_reported_clearly() {
    let arm = ArmStandIn::start(Options {
        fail_clusters: vec!["zeta".into()],
        ..Options::default()
    });
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let prep = prepared(&fleet("zeta", "1.30", 1, true));
        let plan = plan_of(&p, &prep).await;
        p.apply(&plan.steps[0], &prep.rendered[0], &Silent)
            .await
            .unwrap();
        let err = p
            .apply(&plan.steps[1], &prep.rendered[0], &Silent)
            .await
            .unwrap_err();
        assert!(matches!(err, ProviderError::Failed { .. }), "{err}");
        assert_eq!(err.to_string(), "AKS cluster zeta reached status Failed");
    });
}

#[test]
fn a_missing_subscription_is_a_clear_error() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let mut src = fleet("eta", "1.30", 1, true);
        let f = src.files.get_mut("clusters/eta/cluster.yaml").unwrap();
        *f = f.replace(&format!("    subscriptionId: {SUB}\n"), "");
        let prep = prepared(&src);
        if std::env::var("AZURE_SUBSCRIPTION_ID").is_err() {
            let rendered = &prep.rendered[0];
            let desired = plan::desired_state(&prep.fleet.fleet, &prep.fleet.clusters[0], rendered);
            let err = p.observe(&desired, rendered).await.unwrap_err();
            assert!(
                err.to_string()
                    .contains("set spec.aks.subscriptionId or AZURE_SUBSCRIPTION_ID"),
                "{err}"
            );
        }
    });
}

#[test]
fn the_kubeconfig_is_the_cluster_user_credential() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let prep = prepared(&fleet("theta", "1.30", 1, true));
        apply(&p, &prep, &plan_of(&p, &prep).await).await;
        let text = p.kubeconfig(&prep.rendered[0]).await.unwrap();
        let v: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let server = v["clusters"][0]["cluster"]["server"].as_str().unwrap();
        assert!(
            server.starts_with("https://theta") && server.ends_with(".azmk8s.io:443"),
            "{server}"
        );
    });
}

#[test]
fn the_cli_plans_and_applies_with_a_workload_identity_token() {
    use predicates::prelude::*;
    let arm = ArmStandIn::start(Options::default());
    let login = crate::support::oauth::TokenEndpoint::start("federated-arm-token");
    let dir = tempfile::tempdir().unwrap();
    for (path, text) in fleet("cli-aks", "1.30", 1, true).files {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().unwrap()).unwrap();
        std::fs::write(full, text).unwrap();
    }
    let token_file = dir.path().join("federated-token");
    std::fs::write(&token_file, "oidc-jwt-from-ci\n").unwrap();
    let run = |args: &[&str]| {
        let mut cmd = crate::support::gitfleet(dir.path());
        cmd.args(args)
            .args(["--azure-endpoint", &arm.url])
            .env("AZURE_FEDERATED_TOKEN_FILE", &token_file)
            .env("AZURE_CLIENT_ID", "client-1")
            .env("AZURE_TENANT_ID", "tenant-1")
            .env("AZURE_AUTHORITY_HOST", &login.url)
            .env("GITFLEET_POLL_INTERVAL", "10ms")
            .env_remove("AZURE_CLIENT_SECRET");
        cmd
    };
    run(&["plan"])
        .assert()
        .code(2)
        .stdout(predicate::str::contains(
            "1. create resource group rg-cli-aks",
        ));
    let kc_dir = dir.path().join("kc");
    let up = [
        "up",
        "--yes",
        "--no-install",
        "--write-kubeconfig",
        "--kubeconfig-dir",
        kc_dir.to_str().unwrap(),
    ];
    run(&up).assert().success().stderr(predicate::str::contains(
        "create cluster cli-aks (version: 1.30): done",
    ));
    assert!(
        kc_dir.join("cli-aks.yaml").exists(),
        "up wrote the kubeconfig"
    );
    run(&up)
        .assert()
        .success()
        .stdout(predicate::str::contains("up to date (no change)"));
    let kubeconfig = dir.path().join("cli-aks.kubeconfig");
    run(&[
        "kubeconfig",
        "cli-aks",
        "--out",
        kubeconfig.to_str().unwrap(),
    ])
    .assert()
    .success();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&kubeconfig).unwrap().permissions().mode() & 0o777,
        0o600
    );
    run(&[
        "down",
        "cli-aks",
        "--yes",
        "--kubeconfig-dir",
        kc_dir.to_str().unwrap(),
    ])
    .assert()
    .success()
    .stdout(
        predicate::str::is_match(
            r"\ncli-aks +aks +deleted +cluster deleted, kubeconfig .*cli-aks.yaml removed\n$",
        )
        .unwrap(),
    );
    assert!(
        !kc_dir.join("cli-aks.yaml").exists(),
        "down removed the kubeconfig"
    );

    // The federated token was exchanged for the ARM token the stand-in saw.
    let (path, form) = login.requests.lock().unwrap()[0].clone();
    assert_eq!(path, "/tenant-1/oauth2/v2.0/token");
    assert!(form.contains("client_assertion=oidc-jwt-from-ci"), "{form}");
    assert!(form.contains("client_id=client-1"), "{form}");
    assert!(
        arm.requests()
            .iter()
            .all(|r| r.authorization.as_deref() == Some("Bearer federated-arm-token"))
    );
}

#[test]
fn tag_changes_update_in_place_and_a_dns_prefix_change_is_refused() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let first = prepared(&fleet("iota", "1.30", 1, true));
        apply(&p, &first, &plan_of(&p, &first).await).await;

        let mut retagged = fleet("iota", "1.30", 1, true);
        let f = retagged.files.get_mut("clusters/iota/cluster.yaml").unwrap();
        *f = f.replace("tags: {team: platform}", "tags: {team: data}");
        let retagged = prepared(&retagged);
        let plan = plan_of(&p, &retagged).await;
        // The cluster's tags and its pools' (the definition's tags go on both).
        assert_eq!(
            cloud_steps(&plan),
            [
                "update cluster iota (tags.team: platform → data)",
                "update node pool system (tags.team: platform → data)",
                "update node pool user (tags.team: platform → data)",
            ]
        );
        apply(&p, &retagged, &plan).await;
        assert_eq!(arm.cluster("rg-iota", "iota").unwrap()["tags"]["team"], "data");
        assert!(cloud_steps(&plan_of(&p, &retagged).await).is_empty());

        let mut moved = fleet("iota", "1.30", 1, true);
        let f = moved.files.get_mut("clusters/iota/cluster.yaml").unwrap();
        *f = f.replace("    location: westeurope\n", "    location: westeurope\n    dnsPrefix: other\n");
        let moved = prepared(&moved);
        let rendered = &moved.rendered[0];
        let desired = plan::desired_state(&moved.fleet.fleet, &moved.fleet.clusters[0], rendered);
        let observed = p.observe(&desired, rendered).await.unwrap();
        let err = plan::plan_cluster(&desired, &observed).unwrap_err();
        assert_eq!(
            err.to_string(),
            "`aks.dnsPrefix` cannot change after creation (is iota, definition says other); create a new cluster instead"
        );
    });
}

#[test]
fn a_pool_removed_from_git_is_deleted_because_gitfleet_created_it() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let first = prepared(&fleet("kappa", "1.30", 1, true));
        apply(&p, &first, &plan_of(&p, &first).await).await;
        let mut fewer = fleet("kappa", "1.30", 1, true);
        let f = fewer.files.get_mut("clusters/kappa/cluster.yaml").unwrap();
        let keep: Vec<&str> = f.lines().filter(|l| !l.contains("name: user")).collect();
        *f = keep.join("\n") + "\n";
        let fewer = prepared(&fewer);
        let plan = plan_of(&p, &fewer).await;
        assert_eq!(cloud_steps(&plan), ["delete node pool user"]);
        apply(&p, &fewer, &plan).await;
        assert!(arm.pool("rg-kappa", "kappa", "user").is_none());
        assert!(cloud_steps(&plan_of(&p, &fewer).await).is_empty());
    });
}

/// A cluster another fleet created is not this fleet's: its plan is refused, and adopting it
/// adds this fleet's ownership tags to it and its pools (keeping every other tag) so that the
/// plan then converges.
#[test]
fn another_fleets_cluster_is_refused_until_adopted() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let theirs = prepared(&fleet("kappa", "1.30", 1, true));
        apply(&p, &theirs, &plan_of(&p, &theirs).await).await;

        let mut mine = fleet("kappa", "1.30", 1, true);
        let f = mine.files.get_mut("fleet.yaml").unwrap();
        *f = f.replace("name: test-fleet", "name: my-fleet");
        let mine = prepared(&mine);
        let rendered = &mine.rendered[0];
        let desired = plan::desired_state(&mine.fleet.fleet, &mine.fleet.clusters[0], rendered);
        let observed = p.observe(&desired, rendered).await.unwrap();
        let err = plan::plan_cluster(&desired, &observed).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cluster kappa exists and is not managed by gitfleet"),
            "{err}"
        );

        p.adopt(
            rendered,
            "my-fleet",
            &["system".to_string(), "user".to_string()],
            &Silent,
        )
        .await
        .unwrap();
        let cluster = arm.cluster("rg-kappa", "kappa").unwrap();
        assert_eq!(cluster["tags"]["gitfleet.io_fleet"], "my-fleet");
        assert_eq!(cluster["tags"]["team"], "platform", "other tags are kept");
        let observed = p.observe(&desired, rendered).await.unwrap();
        let plan = plan::plan_cluster(&desired, &observed).unwrap();
        assert!(cloud_steps(&plan).is_empty(), "{:?}", cloud_steps(&plan));
    });
}

/// gitfleet removes a tag only when its record (`gitfleet.io/managed-tags`) says gitfleet set
/// it, on the managed cluster and on its agent pools: a tag that left the definition is
/// removed, one someone else added (here straight in ARM) survives the PUTs, which replace the
/// whole tag set.
#[test]
fn a_tag_removed_from_the_definition_is_removed_and_a_foreign_one_survives() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let with_tags = |tags: &str| {
            let mut src = fleet("lambda", "1.30", 1, true);
            let f = src.files.get_mut("clusters/lambda/cluster.yaml").unwrap();
            *f = f.replace("tags: {team: platform}", &format!("tags: {{{tags}}}"));
            prepared(&src)
        };
        let first = with_tags("team: platform, env: prod");
        apply(&p, &first, &plan_of(&p, &first).await).await;
        let cluster = || arm.cluster("rg-lambda", "lambda").unwrap();
        let pool = |name: &str| arm.pool("rg-lambda", "lambda", name).unwrap();
        assert_eq!(cluster()["tags"]["gitfleet.io_managed-tags"], "env team");
        assert_eq!(
            pool("user")["properties"]["tags"]["gitfleet.io_managed-tags"],
            "env team"
        );
        arm.set_tag("rg-lambda", "lambda", None, "cost-center", "4711");
        arm.set_tag("rg-lambda", "lambda", Some("user"), "cost-center", "4711");
        arm.set_tag("rg-lambda", "lambda", Some("system"), "cost-center", "4711");
        assert!(cloud_steps(&plan_of(&p, &first).await).is_empty());

        let second = with_tags("team: platform");
        let plan = plan_of(&p, &second).await;
        let change = "tags.gitfleet.io/managed-tags: env team → team, tags.env: prod → (removed)";
        assert_eq!(
            cloud_steps(&plan),
            [
                format!("update cluster lambda ({change})"),
                format!("update node pool system ({change})"),
                format!("update node pool user ({change})"),
            ]
        );
        apply(&p, &second, &plan).await;
        for tags in [
            cluster()["tags"].clone(),
            pool("system")["properties"]["tags"].clone(),
            pool("user")["properties"]["tags"].clone(),
        ] {
            assert!(tags.get("env").is_none(), "{tags}");
            assert_eq!(tags["cost-center"], "4711", "{tags}");
            assert_eq!(tags["team"], "platform", "{tags}");
            assert_eq!(tags["gitfleet.io_managed-tags"], "team", "{tags}");
        }
        assert!(cloud_steps(&plan_of(&p, &second).await).is_empty());

        // Scaling a pool sends its tags back as they are, someone else's included.
        let scaled = prepared(&fleet("lambda", "1.30", 3, true));
        let plan = plan_of(&p, &scaled).await;
        apply(&p, &scaled, &plan).await;
        assert_eq!(pool("user")["properties"]["tags"]["cost-center"], "4711");
        assert_eq!(pool("user")["properties"]["count"], 3);
    });
}

/// Issue 11 on AKS: an agent pool PUT replaces node labels and taints whole, so gitfleet sends
/// back the ones someone else set; it removes only the keys its records list.
#[test]
fn labels_and_taints_set_by_others_on_an_agent_pool_survive_its_puts() {
    let arm = ArmStandIn::start(Options::default());
    runtime().block_on(async {
        let p = provider(&arm.url, 0);
        let first = prepared(&fleet("mu", "1.30", 1, true));
        apply(&p, &first, &plan_of(&p, &first).await).await;
        let pool = || arm.pool("rg-mu", "mu", "user").unwrap();
        assert_eq!(
            pool()["properties"]["tags"]["gitfleet.io_managed-labels"],
            "tier"
        );
        arm.set_pool_property(
            "rg-mu",
            "mu",
            "user",
            "nodeLabels",
            serde_json::json!({"tier": "apps", "cost-center": "42"}),
        );
        arm.set_pool_property(
            "rg-mu",
            "mu",
            "user",
            "nodeTaints",
            serde_json::json!(["nvidia.com/gpu=true:NoSchedule"]),
        );
        assert!(
            cloud_steps(&plan_of(&p, &first).await).is_empty(),
            "others' labels and taints are no change"
        );
        // the definition scales the pool and drops its label
        let mut src = fleet("mu", "1.30", 2, true);
        let f = src.files.get_mut("clusters/mu/cluster.yaml").unwrap();
        *f = f.replace(", labels: {tier: apps}", "");
        let second = prepared(&src);
        let plan = plan_of(&p, &second).await;
        let steps = cloud_steps(&plan);
        assert!(
            steps.iter().any(
                |s| s.contains("node pool user") && s.contains("labels.tier: apps → (removed)")
            ),
            "{steps:?}"
        );
        apply(&p, &second, &plan).await;
        let props = pool()["properties"].clone();
        assert_eq!(props["count"], 2, "{props}");
        assert_eq!(
            props["nodeLabels"],
            serde_json::json!({"cost-center": "42"}),
            "{props}"
        );
        assert_eq!(
            props["nodeTaints"],
            serde_json::json!(["nvidia.com/gpu=true:NoSchedule"]),
            "{props}"
        );
        assert!(
            cloud_steps(&plan_of(&p, &second).await).is_empty(),
            "converged"
        );
    });
}
