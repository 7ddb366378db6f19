//! Property tests: no input, however broken, makes loading panic; errors always have positions.

use proptest::prelude::*;

use gitfleet::fleet::{LoadError, MemSource, load};

const FLEET: &str = "apiVersion: gitfleet.io/v1alpha1\nkind: Fleet\nmetadata: {name: f}\nspec:\n  repository: {url: 'https://x.io/r.git'}\n  defaults: {version: '1.30'}\n";
const CLUSTER: &str = "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata:\n  name: a\n  labels: {env: dev}\nspec:\n  eks:\n    region: eu-west-1\n    roleArn: arn:aws:iam::123456789012:role/c\n    nodeRoleArn: arn:aws:iam::123456789012:role/n\n    subnetIds: [s1, s2]\n  nodePools:\n    - name: general\n      instanceType: m6i.large\n      min: 1\n      max: 3\n      taints: [{key: k, effect: NoSchedule}]\n";

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
        Err(LoadError::Io(e)) => panic!("unexpected io error {e}"),
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
