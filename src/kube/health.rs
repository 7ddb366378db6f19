//! Readiness of applied objects, read off their status the way kstatus does: workloads rolled out,
//! Jobs complete, CRDs established, Namespaces active, anything with a Ready condition ready,
//! everything else ready once it exists.

use serde_json::Value;

/// Whether an object is ready, and if not, what it is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    Ready,
    Progressing(String),
    /// Will not become ready without a change (a failed Job).
    Failed(String),
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn condition<'a>(obj: &'a Value, kind: &str) -> Option<&'a Value> {
    obj["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"].as_str() == Some(kind))
}

fn is_true(c: Option<&Value>) -> bool {
    c.and_then(|c| c["status"].as_str()) == Some("True")
}

/// Readiness of one live object.
pub fn health(obj: &Value) -> Health {
    if obj["metadata"]["deletionTimestamp"].is_string() {
        return Health::Progressing("being deleted".into());
    }
    let (group, _) = super::resolve::split_api_version(obj["apiVersion"].as_str().unwrap_or(""));
    let kind = obj["kind"].as_str().unwrap_or("");
    let generation = int(&obj["metadata"]["generation"]);
    let status = &obj["status"];
    let observed = int(&status["observedGeneration"]);
    let stale = || {
        Health::Progressing(format!(
            "waiting for the controller to observe generation {generation} (seen {observed})"
        ))
    };
    match (group.as_str(), kind) {
        ("apps", "Deployment") => {
            if observed < generation {
                return stale();
            }
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let updated = int(&status["updatedReplicas"]);
            let available = int(&status["availableReplicas"]);
            let total = int(&status["replicas"]);
            if let Some(c) = condition(obj, "Progressing")
                && c["reason"].as_str() == Some("ProgressDeadlineExceeded")
            {
                return Health::Failed(format!(
                    "progress deadline exceeded: {}",
                    c["message"].as_str().unwrap_or("")
                ));
            }
            if updated < want {
                Health::Progressing(format!("{updated} of {want} replicas updated"))
            } else if total > updated {
                Health::Progressing(format!(
                    "{} old replicas pending termination",
                    total - updated
                ))
            } else if available < want {
                Health::Progressing(format!("{available} of {want} replicas available"))
            } else {
                Health::Ready
            }
        }
        ("apps", "StatefulSet") => {
            if observed < generation {
                return stale();
            }
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            let updated = int(&status["updatedReplicas"]);
            let rolling = obj["spec"]["updateStrategy"]["type"].as_str() != Some("OnDelete");
            if ready < want {
                Health::Progressing(format!("{ready} of {want} replicas ready"))
            } else if rolling
                && (updated < want || status["currentRevision"] != status["updateRevision"])
            {
                Health::Progressing(format!("{updated} of {want} replicas updated"))
            } else {
                Health::Ready
            }
        }
        ("apps", "DaemonSet") => {
            if observed < generation {
                return stale();
            }
            let desired = int(&status["desiredNumberScheduled"]);
            let updated = int(&status["updatedNumberScheduled"]);
            let available = int(&status["numberAvailable"]);
            if updated < desired {
                Health::Progressing(format!("{updated} of {desired} pods updated"))
            } else if available < desired {
                Health::Progressing(format!("{available} of {desired} pods available"))
            } else {
                Health::Ready
            }
        }
        ("apps", "ReplicaSet") => {
            let want = obj["spec"]["replicas"].as_i64().unwrap_or(1);
            let ready = int(&status["readyReplicas"]);
            if ready < want {
                Health::Progressing(format!("{ready} of {want} replicas ready"))
            } else {
                Health::Ready
            }
        }
        ("batch", "Job") => {
            if is_true(condition(obj, "Complete")) {
                Health::Ready
            } else if let Some(c) = condition(obj, "Failed").filter(|c| is_true(Some(c))) {
                Health::Failed(format!(
                    "job failed: {} {}",
                    c["reason"].as_str().unwrap_or(""),
                    c["message"].as_str().unwrap_or("")
                ))
            } else {
                Health::Progressing(format!("{} pods succeeded", int(&status["succeeded"])))
            }
        }
        ("apiextensions.k8s.io", "CustomResourceDefinition") => {
            if is_true(condition(obj, "Established")) {
                Health::Ready
            } else {
                Health::Progressing("not established yet".into())
            }
        }
        ("", "Namespace") => match status["phase"].as_str() {
            Some("Active") | None => Health::Ready,
            Some(p) => Health::Progressing(format!("phase {p}")),
        },
        // gitfleet's own GitSources and Syncs: ready once they exist. A Sync that applies its
        // own definition (the reconciler manages itself from Git) must not wait for itself.
        ("gitfleet.io", _) => Health::Ready,
        ("", "PersistentVolumeClaim") => match status["phase"].as_str() {
            Some("Bound") => Health::Ready,
            p => Health::Progressing(format!("phase {}", p.unwrap_or("Pending"))),
        },
        _ => {
            if status.get("observedGeneration").is_some() && observed < generation {
                return stale();
            }
            match condition(obj, "Ready") {
                None => Health::Ready,
                Some(c) if is_true(Some(c)) => Health::Ready,
                Some(c) => {
                    let reason = c["reason"].as_str().unwrap_or("");
                    let message = c["message"].as_str().unwrap_or("");
                    let text = format!(
                        "Ready={} {reason} {message}",
                        c["status"].as_str().unwrap_or("Unknown")
                    );
                    if condition(obj, "Stalled").is_some_and(|s| is_true(Some(s))) {
                        Health::Failed(text.trim().to_string())
                    } else {
                        Health::Progressing(text.trim().to_string())
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn deployment_rollout() {
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"generation": 2}, "spec": {"replicas": 2},
            "status": {"observedGeneration": 1}});
        assert!(matches!(health(&d), Health::Progressing(m) if m.contains("generation 2")));
        d["status"] = json!({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1});
        assert_eq!(
            health(&d),
            Health::Progressing("1 of 2 replicas available".into())
        );
        d["status"]["availableReplicas"] = json!(2);
        assert_eq!(health(&d), Health::Ready);
    }

    #[test]
    fn jobs_crds_namespaces_and_generic() {
        let job = json!({"apiVersion": "batch/v1", "kind": "Job", "status": {"conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}]}});
        assert!(matches!(health(&job), Health::Failed(_)));
        let crd = json!({"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "Established", "status": "True"}]}});
        assert_eq!(health(&crd), Health::Ready);
        let ns =
            json!({"apiVersion": "v1", "kind": "Namespace", "status": {"phase": "Terminating"}});
        assert!(matches!(health(&ns), Health::Progressing(_)));
        let cr = json!({"apiVersion": "x.io/v1", "kind": "W", "status": {"conditions": [
            {"type": "Ready", "status": "False", "reason": "Fetching"}]}});
        assert!(matches!(health(&cr), Health::Progressing(m) if m.contains("Fetching")));
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap"});
        assert_eq!(health(&cm), Health::Ready);
    }
}
