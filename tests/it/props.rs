//! Property tests: no input, however broken, makes loading panic; errors always have positions.

use proptest::prelude::*;

use gitfleet::fleet::{LoadError, MemSource, load};

const FLEET: &str = "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  repository: {url: 'https://x.io/r.git'}\n  defaults: {version: '1.30'}\n";
const CLUSTER: &str = "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: a\n  labels: {env: dev}\nspec:\n  eks:\n    region: eu-west-1\n    roleArn: arn:aws:iam::123456789012:role/c\n    nodeRoleArn: arn:aws:iam::123456789012:role/n\n    subnetIds: [subnet-0000000a, subnet-0000000b]\n  nodePools:\n    - name: general\n      instanceType: m6i.large\n      min: 1\n      max: 3\n      taints: [{key: k, effect: NoSchedule}]\n";

fn check(fleet: String, cluster: String) {
    let mut src = MemSource::default();
    src.files.insert("fleet.yaml".into(), fleet);
    src.files.insert("clusters/a/cluster.yaml".into(), cluster);
    match load(&src) {
        Ok(_) => {}
        Err(LoadError::Invalid(d)) => {
            assert!(!d.0.is_empty());
            for diag in &d.0 {
                assert!(diag.span.line >= 1 && diag.span.column >= 1, "{diag}");
                assert!(!diag.message.is_empty());
            }
        }
    }
}

/// Random YAML-shaped values.
fn yaml_value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("~".to_string()),
        Just("true".to_string()),
        any::<i64>().prop_map(|i| i.to_string()),
        "[a-zA-Z0-9 .:_-]{0,12}".prop_map(|s| s),
        "\"[^\"\\\\]{0,8}\"".prop_map(|s| s),
        Just("1.30".to_string()),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(|v| format!("[{}]", v.join(", "))),
            prop::collection::vec(("[a-zA-Z]{1,10}", inner), 0..4).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic(text in "\\PC{0,200}") {
        check(FLEET.to_string(), text.clone());
        check(text, CLUSTER.to_string());
    }

    #[test]
    fn random_yaml_in_any_field_never_panics(spec in yaml_value(), meta in yaml_value()) {
        check(FLEET.to_string(), format!("apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {meta}\nspec: {spec}\n"));
        check(format!("apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {{name: f}}\nspec: {spec}\n"), CLUSTER.to_string());
    }

    #[test]
    fn mutations_of_a_valid_cluster_never_panic(pos in 0usize..400, len in 0usize..8, insert in "[ :\\-\\[\\]{}a-z0-9\"'#&*!|>\\n]{0,6}") {
        let mut text = CLUSTER.to_string();
        let start = pos.min(text.len());
        let end = (start + len).min(text.len());
        text.replace_range(start..end, &insert);
        check(FLEET.to_string(), text);
    }
}

#[test]
fn the_unmutated_inputs_are_valid() {
    let mut src = MemSource::default();
    src.files.insert("fleet.yaml".into(), FLEET.into());
    src.files
        .insert("clusters/a/cluster.yaml".into(), CLUSTER.into());
    let fleet = load(&src).expect("valid");
    assert_eq!(fleet.clusters[0].spec.version.as_deref(), Some("1.30"));
}

// Fuzz targets at the other boundaries: manifests (plain and `*.j2`), templates, and YAML with
// anchors, aliases and deep nesting. Each runs a bounded number of cases in CI; every input must
// end in objects or in diagnostics with positions, never a panic, a hang or an abort.

use gitfleet::diagnostic::Diagnostic;
use gitfleet::kube::LoadOptions;
use gitfleet::kube::manifest::parse_file;

fn manifest(name: &str, text: &str) {
    let mut objects = Vec::new();
    let mut diags: Vec<Diagnostic> = Vec::new();
    let mut ctx = serde_json::Map::new();
    ctx.insert(
        "values".into(),
        serde_json::json!({"replicas": 2, "name": "x"}),
    );
    let opts = LoadOptions {
        context: ctx,
        ..Default::default()
    };
    parse_file(name.into(), text, &opts, &mut objects, &mut diags);
    for d in &diags {
        assert!(d.span.line >= 1 && d.span.column >= 1, "{d}");
        assert!(!d.message.is_empty());
        assert_eq!(&*d.span.file, name, "{d}");
    }
}

/// YAML built from the constructs that make parsers work hard: anchors, aliases, nesting.
fn hostile_yaml() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![
        Just("*a".to_string()),
        Just("*b".to_string()),
        Just("lol".to_string()),
        Just("~".to_string()),
        "[a-z0-9]{0,6}",
    ];
    leaf.prop_recursive(8, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(|v| format!("[{}]", v.join(", "))),
            (
                prop_oneof![Just("&a "), Just("&b "), Just("")],
                prop::collection::vec(inner.clone(), 0..8)
            )
                .prop_map(|(anchor, v)| format!("{anchor}[{}]", v.join(", "))),
            prop::collection::vec(("[a-z]{1,4}", inner), 0..6).prop_map(|kv| {
                let body: Vec<String> = kv.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", body.join(", "))
            }),
        ]
    })
}

/// Template text from minijinja's constructs, mixed with YAML.
fn template_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("{{ values.replicas }}".to_string()),
        Just("{{ values.missing }}".to_string()),
        Just("{{ values.name | upper }}".to_string()),
        Just("{% for i in range(3) %}".to_string()),
        Just("{% for i in range(100000) %}".to_string()),
        Just("{% endfor %}".to_string()),
        Just("{% if values.replicas > 1 %}".to_string()),
        Just("{% endif %}".to_string()),
        Just("{% macro m(x) %}{{ m(x) }}{% endmacro %}{{ m(1) }}".to_string()),
        Just("{{ 'x' * 1000 }}".to_string()),
        Just("{#".to_string()),
        Just("}}".to_string()),
        Just("\n---\n".to_string()),
        Just("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n".to_string()),
        "[a-z: \\n\\-\\[\\]{}]{0,10}",
    ];
    prop::collection::vec(piece, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn fuzz_fleet_yaml_with_anchors_and_nesting(doc in hostile_yaml()) {
        check(FLEET.to_string(), format!("{CLUSTER}  values: {doc}\n"));
        let file: std::sync::Arc<str> = "f.yaml".into();
        let _ = gitfleet::fleet::yaml::parse(&file, &doc);
    }

    #[test]
    fn fuzz_manifests(doc in hostile_yaml(), bytes in "\\PC{0,200}") {
        manifest("m.yaml", &format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {doc}\n"));
        manifest("r.yaml", &bytes);
    }

    #[test]
    fn fuzz_templates(text in template_text()) {
        manifest("t.yaml.j2", &text);
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [1_000usize, 100_000] {
        let flow = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let block = format!("x:\n  {}x\n", "- ".repeat(depth));
        for doc in [&flow, &block] {
            let file: std::sync::Arc<str> = "d.yaml".into();
            let errs = gitfleet::fleet::yaml::parse(&file, doc).unwrap_err();
            assert!(errs[0].message.contains("nesting is deeper"), "{}", errs[0]);
            manifest("d.yaml", doc);
        }
    }
}
