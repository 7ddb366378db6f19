//! `gitfleet schema --kind plan|up|down` describes what `plan -o json`, `up -o json` and
//! `down -o json` actually print: real outputs (offline, live against moto with assumed steps,
//! failed and refused clusters, an invalid fleet, an unknown cluster) are checked against the
//! printed schemas with gitfleet's own schema checker, made strict so that a key the schema
//! does not declare is an error too.

use std::path::Path;

use gitfleet::fleet::schema::check_against;
use serde_json::Value as J;

use crate::support::moto::Moto;
use crate::support::{gitfleet, root};

/// The schema `gitfleet schema --kind KIND` prints, every object closed
/// (`additionalProperties: false` wherever properties are listed and nothing else is said).
pub fn strict_schema(kind: &str) -> J {
    let out = gitfleet(&root())
        .args(["schema", "--kind", kind])
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut schema: J = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        schema["$schema"], "https://json-schema.org/draft/2020-12/schema",
        "{schema}"
    );
    assert!(
        schema["$id"]
            .as_str()
            .unwrap()
            .ends_with(&format!("/{kind}-output.json"))
    );
    close(&mut schema);
    schema
}

fn close(schema: &mut J) {
    match schema {
        J::Object(map) => {
            if map.contains_key("properties") && !map.contains_key("additionalProperties") {
                map.insert("additionalProperties".into(), J::Bool(false));
            }
            for v in map.values_mut() {
                close(v);
            }
        }
        J::Array(items) => items.iter_mut().for_each(close),
        _ => {}
    }
}

/// The problems of `text` (a command's JSON output) against `schema`.
fn problems(text: &str, schema: &J) -> Vec<String> {
    let file = std::sync::Arc::from("output.json");
    let docs = gitfleet::fleet::yaml::parse(&file, text).expect("JSON reads as YAML");
    assert_eq!(docs.len(), 1, "one document");
    let mut out = Vec::new();
    check_against(&docs[0], schema, &mut out);
    out.iter().map(ToString::to_string).collect()
}

pub fn assert_valid(what: &str, text: &str, schema: &J) {
    let found = problems(text, schema);
    assert!(found.is_empty(), "{what}: {found:#?}\n{text}");
}

/// `args` in `dir`, returning (exit code, stdout).
fn run(dir: &Path, args: &[&str], moto: Option<&Moto>) -> (i32, String) {
    let mut cmd = gitfleet(dir);
    cmd.args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("GITFLEET_POLL_INTERVAL", "10ms")
        .env_remove("AWS_PROFILE");
    if let Some(m) = moto {
        cmd.args(["--aws-endpoint-url", &m.url]);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn offline_invalid_and_unknown_cluster_plans_match_the_plan_schema() {
    let schema = strict_schema("plan");
    // Every example fleet, offline: every provider, every step assumed.
    for fleet in ["examples/multi", "examples/eks", "examples/aks", "."] {
        let (code, text) = run(
            &root(),
            &["plan", "--offline", "-o", "json", "--fleet", fleet],
            None,
        );
        assert_eq!(code, 2, "{fleet}: {text}");
        assert_valid(fleet, &text, &schema);
        let doc: J = serde_json::from_str(&text).unwrap();
        let steps: Vec<&J> = doc["clusters"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|c| c["steps"].as_array().unwrap())
            .collect();
        assert!(!steps.is_empty(), "{fleet}");
        assert!(
            steps.iter().all(|s| s["observed"] == false),
            "{fleet}: every step carries observed: {steps:?}"
        );
    }
    // An invalid fleet: the diagnostics document.
    let invalid = root().join("tests/invalid/eks-region-not-a-region");
    let (code, text) = run(&invalid, &["plan", "--offline", "-o", "json"], None);
    assert_eq!(code, 1);
    assert_valid("invalid fleet", &text, &schema);
    assert!(text.contains("\"valid\": false"), "{text}");
    // A valid fleet that cannot be planned as asked: the error document.
    let (code, text) = run(
        &root(),
        &[
            "plan",
            "--offline",
            "-o",
            "json",
            "--fleet",
            "examples/multi",
            "-c",
            "nope",
        ],
        None,
    );
    assert_eq!(code, 1);
    assert_valid("unknown cluster", &text, &schema);
    assert!(text.contains("\"error\""), "{text}");
}

/// The checker is not a rubber stamp: a step without `observed`, a count that is a string and
/// a key the schema does not know are all reported.
#[test]
fn the_plan_schema_rejects_what_plan_never_prints() {
    let schema = strict_schema("plan");
    let (_, text) = run(
        &root(),
        &[
            "plan",
            "--offline",
            "-o",
            "json",
            "--fleet",
            "examples/multi",
        ],
        None,
    );
    let mut doc: J = serde_json::from_str(&text).unwrap();
    doc["clusters"][0]["steps"][0]
        .as_object_mut()
        .unwrap()
        .remove("observed");
    let found = problems(&doc.to_string(), &schema).join("\n");
    assert!(
        found.contains("missing required field `observed`"),
        "{found}"
    );

    let mut doc: J = serde_json::from_str(&text).unwrap();
    doc["summary"]["steps"] = J::String("3".into());
    let found = problems(&doc.to_string(), &schema).join("\n");
    assert!(
        found.contains("expected an integer for `summary.steps`"),
        "{found}"
    );

    let mut doc: J = serde_json::from_str(&text).unwrap();
    doc["clusters"][0]["steps"][0]["observd"] = J::Bool(true);
    let found = problems(&doc.to_string(), &schema).join("\n");
    assert!(found.contains("unknown field `observd`"), "{found}");
}

fn eks_cluster(name: &str) -> String {
    format!(
        "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {{name: {name}}}\nspec:\n  version: \"1.30\"\n  eks:\n    region: eu-west-1\n    roleArn: arn:aws:iam::123456789012:role/eks\n    nodeRoleArn: arn:aws:iam::123456789012:role/nodes\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n  nodePools:\n    - {{name: general, instanceType: m6i.large, min: 1, max: 2}}\n"
    )
}

/// Live outputs against moto: a plan with assumed reconciler steps and a failed (foreign)
/// cluster, `up -o json` with a success and a failure, `down -o json` with a deletion and a
/// refusal — each matches its schema.
#[test]
fn live_plan_up_and_down_outputs_match_their_schemas() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(
        d.join("fleet.yaml"),
        "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: schema-fleet}\nspec:\n  repository: {url: 'https://example.com/acme/fleet.git'}\n",
    )
    .unwrap();
    for name in ["mine", "theirs"] {
        std::fs::create_dir_all(d.join(format!("clusters/{name}"))).unwrap();
        std::fs::write(
            d.join(format!("clusters/{name}/cluster.yaml")),
            eks_cluster(name),
        )
        .unwrap();
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(async {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-1"))
                .endpoint_url(&moto.url)
                .credentials_provider(aws_credential_types::Credentials::new(
                    "testing", "testing", None, None, "test",
                ))
                .load()
                .await;
            aws_sdk_eks::Client::new(&config)
                .create_cluster()
                .name("theirs")
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

    let up_schema = strict_schema("up");
    let kc = d.join("kc");
    let (code, text) = run(
        d,
        &[
            "up",
            "--yes",
            "--no-install",
            "--write-kubeconfig",
            "--kubeconfig-dir",
            kc.to_str().unwrap(),
            "-o",
            "json",
        ],
        Some(&moto),
    );
    assert_eq!(code, 1, "the foreign cluster fails: {text}");
    assert_valid("up", &text, &up_schema);
    let doc: J = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["clusters"][0]["cluster"], "mine");
    assert_eq!(doc["clusters"][0]["ok"], true);
    assert!(doc["clusters"][0]["kubeconfig"].is_string(), "{doc}");
    assert_eq!(doc["clusters"][1]["ok"], false);

    let plan_schema = strict_schema("plan");
    let (code, text) = run(d, &["plan", "-o", "json"], Some(&moto));
    assert_eq!(code, 1, "{text}");
    assert_valid("live plan", &text, &plan_schema);
    let doc: J = serde_json::from_str(&text).unwrap();
    let mine = &doc["clusters"][0];
    assert!(mine["unobserved"].is_string(), "{doc}");
    assert!(
        mine["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["observed"].is_boolean()),
        "{doc}"
    );
    assert!(doc["clusters"][1]["error"].is_string(), "{doc}");
    assert_eq!(doc["summary"]["failed"], 1);
    assert_eq!(doc["summary"]["unobserved"], 1);

    let down_schema = strict_schema("down");
    let (code, text) = run(
        d,
        &[
            "down",
            "--all",
            "--yes",
            "--kubeconfig-dir",
            kc.to_str().unwrap(),
            "-o",
            "json",
        ],
        Some(&moto),
    );
    assert_eq!(code, 1, "{text}");
    assert_valid("down", &text, &down_schema);
    let doc: J = serde_json::from_str(&text).unwrap();
    assert_eq!(doc["clusters"][0]["result"], "deleted");
    assert!(doc["clusters"][0]["kubeconfigRemoved"].is_string(), "{doc}");
    assert_eq!(doc["clusters"][1]["result"], "refused");
}
