//! Readable per-object diffs of live vs. would-be objects (from a server-side dry-run), with the
//! server's bookkeeping removed and Secret values masked: a diff never prints a secret.

use serde_json::Value;
use similar::TextDiff;

/// Removes what the server maintains (resourceVersion, uid, managedFields, timestamps, status) so a
/// diff shows only what the manifests change.
pub fn for_display(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
        if let Some(meta) = map.get_mut("metadata").and_then(Value::as_object_mut) {
            for key in [
                "managedFields",
                "resourceVersion",
                "uid",
                "generation",
                "creationTimestamp",
                "selfLink",
            ] {
                meta.remove(key);
            }
        }
    }
    v
}

/// Compares two objects for "did anything change": the object without resourceVersion, status
/// and the status writers' managed fields (controllers update those at any moment, an apply never
/// does), and without managed-field timestamps (a change of field ownership is a change).
pub fn comparable(obj: &Value) -> Value {
    let mut v = obj.clone();
    if let Some(map) = v.as_object_mut() {
        map.remove("status");
    }
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("resourceVersion");
        if let Some(fields) = meta.get_mut("managedFields").and_then(Value::as_array_mut) {
            fields.retain(|f| f["subresource"].as_str().is_none_or(str::is_empty));
            for f in fields.iter_mut() {
                if let Some(f) = f.as_object_mut() {
                    f.remove("time");
                }
            }
            fields.sort_by_key(|f| f.to_string());
        }
        // no entry and an empty list are the same state (a real API server keeps no entry for
        // an apply that sets no field beyond the name, e.g. a bare Namespace)
        if meta
            .get("managedFields")
            .is_some_and(|f| f.as_array().is_some_and(Vec::is_empty) || f.is_null())
        {
            meta.remove("managedFields");
        }
    }
    v
}

/// Replaces every value of a Secret's `data`/`stringData` by a marker that still shows whether
/// the value changed between `before` and `after` (as `kubectl diff` does).
pub fn mask_secrets(before: &mut Option<Value>, after: &mut Option<Value>) {
    let is_secret = |v: &Option<Value>| {
        v.as_ref()
            .is_some_and(|v| v["kind"] == "Secret" && v["apiVersion"] == "v1")
    };
    if !is_secret(before) && !is_secret(after) {
        return;
    }
    for field in ["data", "stringData"] {
        let old = before
            .as_ref()
            .and_then(|b| b[field].as_object().cloned())
            .unwrap_or_default();
        let new = after
            .as_ref()
            .and_then(|a| a[field].as_object().cloned())
            .unwrap_or_default();
        if let Some(map) = before
            .as_mut()
            .and_then(|b| b.get_mut(field))
            .and_then(Value::as_object_mut)
        {
            for (k, v) in map.iter_mut() {
                *v = Value::String(marker(new.get(k) != Some(v), "before"));
            }
        }
        if let Some(map) = after
            .as_mut()
            .and_then(|a| a.get_mut(field))
            .and_then(Value::as_object_mut)
        {
            for (k, v) in map.iter_mut() {
                *v = Value::String(marker(old.get(k) != Some(v), "after"));
            }
        }
    }
}

fn marker(changed: bool, side: &str) -> String {
    if changed {
        format!("*** ({side})")
    } else {
        "***".to_string()
    }
}

/// A unified diff of two objects as YAML (either side may be absent: creation or deletion).
pub fn unified(label: &str, before: Option<&Value>, after: Option<&Value>) -> String {
    let yaml = |v: Option<&Value>| {
        v.map(|v| serde_yaml::to_string(v).unwrap_or_default())
            .unwrap_or_default()
    };
    let (a, b) = (yaml(before), yaml(after));
    TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(
            &format!("{label} (live)"),
            &format!("{label} (after apply)"),
        )
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn secrets_are_masked_but_changes_show() {
        let mut before = Some(json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "c2VjcmV0", "changed": "b2xk"}}));
        let mut after = Some(json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"same": "c2VjcmV0", "changed": "bmV3", "added": "eA=="}}));
        mask_secrets(&mut before, &mut after);
        let text = unified("Secret default/s", before.as_ref(), after.as_ref());
        for secret in ["c2VjcmV0", "b2xk", "bmV3", "eA=="] {
            assert!(!text.contains(secret), "{text}");
        }
        assert!(text.contains("-  changed: '*** (before)'"), "{text}");
        assert!(text.contains("+  changed: '*** (after)'"), "{text}");
        assert!(text.contains("+  added: '*** (after)'"), "{text}");
        assert!(text.contains("   same: '***'"), "{text}");
    }

    #[test]
    fn status_written_by_a_controller_is_not_a_change() {
        let a = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 0},
            "metadata": {"managedFields": [{"manager": "gitfleet", "operation": "Apply"}]}});
        let b = json!({"spec": {"replicas": 2}, "status": {"readyReplicas": 2},
            "metadata": {"managedFields": [{"manager": "gitfleet", "operation": "Apply"},
                {"manager": "kube-controller-manager", "operation": "Update", "subresource": "status"}]}});
        assert_eq!(comparable(&a), comparable(&b));
        let c = json!({"spec": {"replicas": 3}, "status": {"readyReplicas": 2}});
        assert_ne!(comparable(&b), comparable(&c));
    }

    #[test]
    fn bookkeeping_is_not_a_change() {
        let a = json!({"metadata": {"resourceVersion": "1", "managedFields": [{"manager": "gitfleet", "time": "t1"}]}});
        let b = json!({"metadata": {"resourceVersion": "2", "managedFields": [{"manager": "gitfleet", "time": "t2"}]}});
        assert_eq!(comparable(&a), comparable(&b));
    }
}
