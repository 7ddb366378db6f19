//! Resolution: fleet defaults deep-merged under a cluster's spec (maps merge, lists and scalars
//! replace). Merging happens on the positioned tree, so every value keeps the file it came from
//! and a problem in a default is reported in `fleet.yaml`.

use super::yaml::{Entry, Node, Value};

/// Provider block names; defaults' provider blocks apply only to clusters of that provider.
pub const PROVIDER_KEYS: [&str; 4] = ["eks", "aks", "kind", "existing"];

/// `over` merged on top of `base`.
pub fn merge(base: &Node, over: &Node) -> Node {
    match (&base.value, &over.value) {
        (Value::Map(b), Value::Map(o)) => {
            let mut entries: Vec<Entry> = b.clone();
            for entry in o {
                match entries.iter_mut().find(|e| e.key == entry.key) {
                    Some(existing) => {
                        existing.value = merge(&existing.value, &entry.value);
                        existing.key_span = entry.key_span.clone();
                    }
                    None => entries.push(entry.clone()),
                }
            }
            Node {
                value: Value::Map(entries),
                span: over.span.clone(),
            }
        }
        _ => over.clone(),
    }
}

/// The defaults that apply to a cluster spec: provider blocks the cluster does not name are
/// dropped, unless the cluster names none (then the defaults may choose it).
pub fn applicable_defaults(defaults: &Node, spec: &Node) -> Node {
    let named: Vec<&str> = PROVIDER_KEYS
        .into_iter()
        .filter(|k| spec.get(k).is_some())
        .collect();
    // gitfleet neither creates nor upgrades existing clusters: a default version or node pools
    // would only be misreported as facts about them.
    let existing = named.contains(&"existing");
    match &defaults.value {
        Value::Map(entries) if !named.is_empty() => Node {
            value: Value::Map(
                entries
                    .iter()
                    .filter(|e| {
                        !PROVIDER_KEYS.contains(&e.key.as_str()) || named.contains(&e.key.as_str())
                    })
                    .filter(|e| !(existing && matches!(e.key.as_str(), "version" | "nodePools")))
                    .cloned()
                    .collect(),
            ),
            span: defaults.span.clone(),
        },
        _ => defaults.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fleet::yaml::parse;

    fn doc(file: &str, text: &str) -> Node {
        parse(&Arc::from(file), text).unwrap().remove(0)
    }

    #[test]
    fn maps_merge_and_lists_replace() {
        let base = doc("f", "a: {x: 1, y: 2}\nl: [1, 2]\ns: base\n");
        let over = doc("c", "a: {y: 3}\nl: [9]\n");
        let m = merge(&base, &over).to_json();
        assert_eq!(
            m,
            serde_json::json!({"a": {"x": 1, "y": 3}, "l": [9], "s": "base"})
        );
        // Values keep their origin.
        let merged = merge(&base, &over);
        assert_eq!(&*merged.get("s").unwrap().span.file, "f");
        assert_eq!(&*merged.get("l").unwrap().span.file, "c");
    }

    #[test]
    fn provider_defaults_follow_the_cluster_provider() {
        let defaults = doc(
            "f",
            "eks: {region: r}\naks: {location: l}\nversion: '1.30'\n",
        );
        let kind_cluster = doc("c", "kind: {}\n");
        let d = applicable_defaults(&defaults, &kind_cluster).to_json();
        assert_eq!(d, serde_json::json!({"version": "1.30"}));
        let eks_cluster = doc("c", "eks: {roleArn: x}\n");
        let d = applicable_defaults(&defaults, &eks_cluster).to_json();
        assert_eq!(
            d,
            serde_json::json!({"eks": {"region": "r"}, "version": "1.30"})
        );
    }
}
