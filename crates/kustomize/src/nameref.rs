//! Name references: after prefixes, suffixes, namespaces and name hashes have renamed objects,
//! the fields that name them in other objects (a Deployment's ConfigMap volume, a
//! RoleBinding's subjects, an Ingress backend) are rewritten to the new names, as kustomize's
//! `FixBackReferences` does at the end of a build.
//!
//! How kustomize v5.8.1 picks the object a field refers to (checked against `kubectl
//! kustomize`):
//!
//! * Referrers are chosen by their original kind: a rule's field spec applies to an object
//!   whose first identity matches the spec's group/version/kind.
//! * A candidate is an object that *had* the name in the field before it was renamed, or moved
//!   to another namespace (its previous identities only: an object that kept its name is never
//!   a candidate, even when another object was renamed away from that name), and had the rule's
//!   kind.
//! * Namespaces: a namespaced referrer sees cluster-scoped objects and objects in its own
//!   namespace (no namespace and `default` are the same), and a RoleBinding also those in the
//!   namespaces its ServiceAccount subjects name; cluster-scoped referrers see everything.
//!   Among those, ServiceAccounts and cluster-scoped objects qualify from any namespace.
//! * `roleRef/name` also needs the candidate's kind and group to be the `roleRef`'s.
//! * Fields that hold a map (`subjects`, a webhook's `service`, a Node's `configSource`) match
//!   the map's `name`; when the map has a `namespace`, candidates are those that were in that
//!   namespace (or, failing that, are in it now). Both `name` and `namespace` are rewritten
//!   (a namespace is added where the object has one). The subject's `kind` is not consulted:
//!   kustomize renames a `User` subject that shares a renamed ServiceAccount's name too.
//! * Several candidates left: the ones whose name prefixes and suffixes end like the
//!   referrer's (an empty list matching anything first, then exactly); still several with the
//!   same new name (and namespace, for maps): the first; still several: an error; none: the
//!   field is left as it is.
//!
//! kustomize keeps the prefixes and suffixes an object received in build annotations.
//! [`Resource`] keeps only its identities, so they are read back from the renames recorded in
//! [`Resource::previous`] (a rename from `x` to `p-x-s` added prefix `p-` and suffix `-s`; the
//! final content-hash rename of a ConfigMap or Secret is not a suffix).

use serde_json::Value;

use crate::fieldspec::{FieldSpec, NameBackRef, visit};
use crate::{Diag, ResId, Resource};

/// Objects of one kind and the fields elsewhere that name them (one `nameReference` entry).
fn rule(group: &str, version: &str, kind: &str, specs: Vec<FieldSpec>) -> NameBackRef {
    NameBackRef {
        group: group.into(),
        version: version.into(),
        kind: kind.into(),
        field_specs: specs,
    }
}

fn spec(group: &str, version: &str, kind: &str, path: &str) -> FieldSpec {
    FieldSpec::new(group, version, kind, path, false)
}

/// The objects that hold a pod spec, with their (group, version) as kustomize's table names
/// them and the path to the pod spec.
const POD_SPECS: [(&str, &str, &str, &str); 8] = [
    ("", "v1", "Pod", "spec"),
    ("", "", "PodTemplate", "template/spec"),
    ("", "", "Deployment", "spec/template/spec"),
    ("", "", "ReplicaSet", "spec/template/spec"),
    ("", "", "DaemonSet", "spec/template/spec"),
    ("", "", "StatefulSet", "spec/template/spec"),
    ("", "", "Job", "spec/template/spec"),
    ("", "", "CronJob", "spec/jobTemplate/spec/template/spec"),
];

/// The workloads whose pod spec names ServiceAccounts, claims and priority classes (no
/// PodTemplate or ReplicaSet, but ReplicationController).
const WORKLOADS: [(&str, &str); 7] = [
    ("Pod", "spec"),
    ("StatefulSet", "spec/template/spec"),
    ("Deployment", "spec/template/spec"),
    ("ReplicationController", "spec/template/spec"),
    ("CronJob", "spec/jobTemplate/spec/template/spec"),
    ("Job", "spec/template/spec"),
    ("DaemonSet", "spec/template/spec"),
];

fn pod_spec_refs(fields: &[&str]) -> Vec<FieldSpec> {
    POD_SPECS
        .iter()
        .flat_map(|(group, version, kind, prefix)| {
            fields
                .iter()
                .map(move |field| spec(group, version, kind, &format!("{prefix}/{field}")))
        })
        .collect()
}

fn workload_refs(field: &str) -> Vec<FieldSpec> {
    WORKLOADS
        .iter()
        .map(|(kind, prefix)| spec("", "", kind, &format!("{prefix}/{field}")))
        .collect()
}

/// kustomize's default `nameReference` table (v5.8.1), rule by rule in its order.
pub fn default_rules() -> Vec<NameBackRef> {
    let hpa = || {
        vec![spec(
            "",
            "",
            "HorizontalPodAutoscaler",
            "spec/scaleTargetRef/name",
        )]
    };
    let rbac = "rbac.authorization.k8s.io";

    let mut config_map = pod_spec_refs(&[
        "volumes/configMap/name",
        "containers/env/valueFrom/configMapKeyRef/name",
        "initContainers/env/valueFrom/configMapKeyRef/name",
        "containers/envFrom/configMapRef/name",
        "initContainers/envFrom/configMapRef/name",
        "volumes/projected/sources/configMap/name",
    ]);
    config_map.extend([
        spec("", "", "Node", "spec/configSource/configMap"),
        spec("", "", "Role", "rules/resourceNames"),
        spec("", "", "ClusterRole", "rules/resourceNames"),
        spec(
            "",
            "",
            "Ingress",
            r"metadata/annotations/nginx.ingress.kubernetes.io\/fastcgi-params-configmap",
        ),
    ]);

    let mut secret = pod_spec_refs(&[
        "volumes/secret/secretName",
        "containers/env/valueFrom/secretKeyRef/name",
        "initContainers/env/valueFrom/secretKeyRef/name",
        "containers/envFrom/secretRef/name",
        "initContainers/envFrom/secretRef/name",
        "imagePullSecrets/name",
        "volumes/projected/sources/secret/name",
    ]);
    secret.extend([
        spec("", "", "Ingress", "spec/tls/secretName"),
        spec(
            "",
            "",
            "Ingress",
            r"metadata/annotations/ingress.kubernetes.io\/auth-secret",
        ),
        spec(
            "",
            "",
            "Ingress",
            r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-secret",
        ),
        spec(
            "",
            "",
            "Ingress",
            r"metadata/annotations/nginx.ingress.kubernetes.io\/auth-tls-secret",
        ),
        spec("", "", "ServiceAccount", "imagePullSecrets/name"),
        spec("", "", "StorageClass", "parameters/secretName"),
        spec("", "", "StorageClass", "parameters/adminSecretName"),
        spec("", "", "StorageClass", "parameters/userSecretName"),
        spec("", "", "StorageClass", "parameters/secretRef"),
        spec("", "", "Role", "rules/resourceNames"),
        spec("", "", "ClusterRole", "rules/resourceNames"),
        spec(
            "serving.knative.dev",
            "v1",
            "Service",
            "spec/template/spec/containers/env/valueFrom/secretKeyRef/name",
        ),
        spec("", "", "PersistentVolume", "spec/azureFile/secretName"),
    ]);

    let service = vec![
        spec("apps", "", "StatefulSet", "spec/serviceName"),
        spec(
            "",
            "",
            "Ingress",
            "spec/rules/http/paths/backend/serviceName",
        ),
        spec("", "", "Ingress", "spec/backend/serviceName"),
        spec(
            "",
            "",
            "Ingress",
            "spec/rules/http/paths/backend/service/name",
        ),
        spec("", "", "Ingress", "spec/defaultBackend/service/name"),
        spec(
            "apiregistration.k8s.io",
            "",
            "APIService",
            "spec/service/name",
        ),
        spec(
            "admissionregistration.k8s.io",
            "",
            "ValidatingWebhookConfiguration",
            "webhooks/clientConfig/service",
        ),
        spec(
            "admissionregistration.k8s.io",
            "",
            "MutatingWebhookConfiguration",
            "webhooks/clientConfig/service",
        ),
    ];

    let mut service_account = vec![
        spec(rbac, "", "RoleBinding", "subjects"),
        spec(rbac, "", "ClusterRoleBinding", "subjects"),
    ];
    service_account.extend(workload_refs("serviceAccountName"));

    let mut storage_class = vec![
        spec("", "", "PersistentVolume", "spec/storageClassName"),
        spec("", "", "PersistentVolumeClaim", "spec/storageClassName"),
    ];
    storage_class.push(spec(
        "",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates/spec/storageClassName",
    ));

    vec![
        rule("", "", "Deployment", hpa()),
        rule("", "", "ReplicationController", hpa()),
        rule("", "", "ReplicaSet", hpa()),
        rule("", "", "StatefulSet", hpa()),
        rule("", "v1", "ConfigMap", config_map),
        rule("", "v1", "Secret", secret),
        rule("", "v1", "Service", service),
        rule(
            rbac,
            "",
            "Role",
            vec![spec(rbac, "", "RoleBinding", "roleRef/name")],
        ),
        rule(
            rbac,
            "",
            "ClusterRole",
            vec![
                spec(rbac, "", "RoleBinding", "roleRef/name"),
                spec(rbac, "", "ClusterRoleBinding", "roleRef/name"),
            ],
        ),
        rule("", "v1", "ServiceAccount", service_account),
        rule(
            "",
            "v1",
            "PersistentVolumeClaim",
            workload_refs("volumes/persistentVolumeClaim/claimName"),
        ),
        rule(
            "",
            "v1",
            "PersistentVolume",
            vec![
                spec("", "", "PersistentVolumeClaim", "spec/volumeName"),
                spec("", "", "ClusterRole", "rules/resourceNames"),
            ],
        ),
        rule("storage.k8s.io", "v1", "StorageClass", storage_class),
        rule(
            "scheduling.k8s.io",
            "v1",
            "PriorityClass",
            workload_refs("priorityClassName"),
        ),
        // kustomize's table names the group as `networking.k8s.io/v1`, which no object has:
        // Ingress class names are never rewritten. Kept as kustomize has it.
        rule(
            "networking.k8s.io/v1",
            "v1",
            "IngressClass",
            vec![spec("", "", "Ingress", "spec/ingressClassName")],
        ),
    ]
}

/// Whether kustomize treats the object as cluster-scoped (by its embedded Kubernetes schema:
/// [`crate::transform::is_cluster_scoped`]).
fn cluster_scoped(id: &ResId) -> bool {
    let api_version = if id.group.is_empty() {
        id.version.clone()
    } else {
        format!("{}/{}", id.group, id.version)
    };
    crate::transform::is_cluster_scoped(&api_version, &id.kind)
}

/// kustomize's effective namespace: `None` for cluster-scoped kinds, `default` for none.
fn effective_namespace(id: &ResId) -> Option<&str> {
    if cluster_scoped(id) {
        None
    } else if id.namespace.is_empty() {
        Some("default")
    } else {
        Some(&id.namespace)
    }
}

fn selected(id: &ResId, group: &str, version: &str, kind: &str) -> bool {
    (group.is_empty() || id.group == group)
        && (version.is_empty() || id.version == version)
        && (kind.is_empty() || id.kind == kind)
}

/// What is known of a possible referral target.
struct Target {
    current: ResId,
    /// Identities before the current one (never empty for a candidate).
    previous: Vec<ResId>,
    original_namespace: Option<String>,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
}

impl Target {
    fn of(r: &Resource) -> Self {
        let (prefixes, suffixes) = affixes(r);
        Target {
            current: r.id(),
            previous: r.previous.clone(),
            original_namespace: effective_namespace(&r.original_id()).map(str::to_string),
            prefixes,
            suffixes,
        }
    }
}

/// The name prefixes and suffixes an object received, oldest first, read back from its renames.
fn affixes(r: &Resource) -> (Vec<String>, Vec<String>) {
    let ids: Vec<ResId> = r.ids().collect();
    let renames: Vec<(&str, &str)> = ids
        .windows(2)
        .filter(|w| w[0].name != w[1].name)
        .map(|w| (w[0].name.as_str(), w[1].name.as_str()))
        .collect();
    let mut prefixes = Vec::new();
    let mut suffixes = Vec::new();
    for (i, (old, new)) in renames.iter().enumerate() {
        if i + 1 == renames.len() && is_hash_rename(r, old, new) {
            continue;
        }
        let Some((prefix, suffix)) = split_affixes(old, new) else {
            continue;
        };
        if !prefix.is_empty() {
            prefixes.push(prefix.to_string());
        }
        if !suffix.is_empty() {
            suffixes.push(suffix.to_string());
        }
    }
    (prefixes, suffixes)
}

/// Whether `old` → `new` appended a content hash (`-` and 10 characters of kustomize's alphabet).
fn is_hash_rename(r: &Resource, old: &str, new: &str) -> bool {
    let Some(tail) = new.strip_prefix(old).and_then(|t| t.strip_prefix('-')) else {
        return false;
    };
    if tail.len() != 10
        || !tail
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return false;
    }
    r.needs_hash || crate::hash::name_suffix(&r.value).is_ok_and(|h| h == tail)
}

/// `new` as prefix + `old` + suffix (a pure prefix preferred, then a pure suffix).
fn split_affixes<'a>(old: &str, new: &'a str) -> Option<(&'a str, &'a str)> {
    if old.is_empty() {
        return None;
    }
    if let Some(prefix) = new.strip_suffix(old) {
        return Some((prefix, ""));
    }
    if let Some(suffix) = new.strip_prefix(old) {
        return Some(("", suffix));
    }
    let at = new.find(old)?;
    Some((&new[..at], &new[at + old.len()..]))
}

/// kustomize's `SameEndingSubSlice`.
fn same_ending(a: &[String], b: &[String]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    if short.is_empty() {
        return long.is_empty();
    }
    long.ends_with(short)
}

fn affixes_match(t: &Target, prefixes: &[String], suffixes: &[String], allow_empty: bool) -> bool {
    if allow_empty {
        (t.prefixes.is_empty() || prefixes.is_empty() || same_ending(&t.prefixes, prefixes))
            && (t.suffixes.is_empty() || suffixes.is_empty() || same_ending(&t.suffixes, suffixes))
    } else {
        same_ending(&t.prefixes, prefixes) && same_ending(&t.suffixes, suffixes)
    }
}

/// The referrer, as the selection needs it.
struct Referrer {
    current: ResId,
    prefixes: Vec<String>,
    suffixes: Vec<String>,
    /// `roleRef`'s group and kind, when the referrer has a complete one.
    role_ref: Option<(String, String)>,
}

/// One rewrite: the rule's target kind and the field's path.
struct Job<'a> {
    rule: &'a NameBackRef,
    path: &'a str,
    referrer: &'a Referrer,
    /// Indices into the targets this referrer could refer to.
    visible: &'a [usize],
    targets: &'a [Target],
}

impl Job<'_> {
    /// kustomize's `selectReferral`: the one target the name means, `None` when none.
    fn select(
        &self,
        old: &str,
        candidates: Vec<usize>,
        with_namespace: bool,
    ) -> Result<Option<usize>, String> {
        let t = self.targets;
        let rule = self.rule;
        let mut c: Vec<usize> = candidates
            .into_iter()
            .filter(|&i| t[i].previous.iter().any(|id| id.name == old))
            .filter(|&i| {
                t[i].previous
                    .iter()
                    .any(|id| selected(id, &rule.group, &rule.version, &rule.kind))
            })
            .collect();
        if self.path.ends_with("roleRef/name")
            && let Some((group, kind)) = &self.referrer.role_ref
        {
            c.retain(|&i| t[i].previous.iter().any(|id| selected(id, group, "", kind)));
        }
        if !cluster_scoped(&self.referrer.current) {
            let here = effective_namespace(&self.referrer.current);
            c.retain(|&i| {
                cluster_scoped(&t[i].current)
                    || t[i].current.kind == "ServiceAccount"
                    || effective_namespace(&t[i].current) == here
            });
        }
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        let (prefixes, suffixes) = (&self.referrer.prefixes, &self.referrer.suffixes);
        c.retain(|&i| affixes_match(&t[i], prefixes, suffixes, true));
        if c.len() == 1 {
            return Ok(Some(c[0]));
        }
        c.retain(|&i| affixes_match(&t[i], prefixes, suffixes, false));
        match c.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(*one)),
            [first, rest @ ..] => {
                let same = rest.iter().all(|&i| {
                    t[i].current.name == t[*first].current.name
                        && (!with_namespace
                            || t[i].current.namespace == t[*first].current.namespace)
                });
                if same {
                    Ok(Some(*first))
                } else {
                    let ids: Vec<String> = c.iter().map(|&i| t[i].current.to_string()).collect();
                    Err(format!(
                        "found multiple possible referrals: {}",
                        ids.join(", ")
                    ))
                }
            }
        }
    }

    fn set(&self, node: &mut Value) -> Result<(), String> {
        match node {
            Value::Null => Ok(()),
            Value::Object(_) => self.set_mapping(node),
            Value::Array(items) => {
                for item in items {
                    match item {
                        Value::Null => {}
                        Value::Object(_) => self.set_mapping(item)?,
                        Value::Array(_) => {
                            return Err(format!(
                                "{item} is expected to be either a string or a map of string"
                            ));
                        }
                        _ => self.set_scalar(item)?,
                    }
                }
                Ok(())
            }
            _ => self.set_scalar(node),
        }
    }

    fn set_scalar(&self, node: &mut Value) -> Result<(), String> {
        let old = scalar_text(node);
        if let Some(i) = self.select(&old, self.visible.to_vec(), false)? {
            let name = &self.targets[i].current.name;
            if *name != old {
                *node = Value::String(name.clone());
            }
        }
        Ok(())
    }

    fn set_mapping(&self, node: &mut Value) -> Result<(), String> {
        let Some(map) = node.as_object_mut() else {
            return Ok(());
        };
        let Some(name) = map.get("name") else {
            return Err("path config error; no 'name' field in node".into());
        };
        let old = scalar_text(name);
        let candidates = match map.get("namespace") {
            None => self.visible.to_vec(),
            Some(ns) => {
                let ns = scalar_text(ns);
                let t = self.targets;
                let original: Vec<usize> = self
                    .visible
                    .iter()
                    .copied()
                    .filter(|&i| t[i].original_namespace.as_deref() == Some(ns.as_str()))
                    .collect();
                if original.is_empty() {
                    self.visible
                        .iter()
                        .copied()
                        .filter(|&i| effective_namespace(&t[i].current) == Some(ns.as_str()))
                        .collect()
                } else {
                    original
                }
            }
        };
        let Some(i) = self.select(&old, candidates, true)? else {
            return Ok(());
        };
        let target = &self.targets[i].current;
        if target.name == old && target.namespace.is_empty() {
            return Ok(());
        }
        map.insert("name".into(), Value::String(target.name.clone()));
        if !target.namespace.is_empty() {
            map.insert("namespace".into(), Value::String(target.namespace.clone()));
        }
        Ok(())
    }
}

/// A scalar's text as YAML holds it (`null` aside, which callers skip).
fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The group and kind a RoleBinding's `roleRef` names, when it has both.
fn role_ref(value: &Value) -> Option<(String, String)> {
    let role_ref = value.get("roleRef")?;
    let group = role_ref.get("apiGroup")?;
    let kind = role_ref.get("kind")?;
    Some((scalar_text(group), scalar_text(kind)))
}

/// The namespaces a RoleBinding's ServiceAccount subjects name.
fn subject_namespaces(r: &Resource) -> Vec<String> {
    if r.kind() != "RoleBinding" {
        return Vec::new();
    }
    r.value["subjects"]
        .as_array()
        .map(|subjects| {
            subjects
                .iter()
                .filter(|s| s["kind"] == "ServiceAccount")
                .filter_map(|s| s["namespace"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// kustomize's `FixBackReferences`: every field a rule names, in every object its field spec
/// applies to, that holds a name some object of the rule's kind had, is rewritten to that
/// object's current name (and namespace, for fields holding a map). Problems (a name several
/// objects had, a map without `name`) are reported at the referrer.
pub fn fix(resources: &mut [Resource], rules: &[NameBackRef], diags: &mut Vec<Diag>) {
    let targets: Vec<Target> = resources.iter().map(Target::of).collect();
    for index in 0..resources.len() {
        let res = &resources[index];
        let original = res.original_id();
        let specs: Vec<(&NameBackRef, &FieldSpec)> = rules
            .iter()
            .flat_map(|rule| rule.field_specs.iter().map(move |spec| (rule, spec)))
            .filter(|(_, spec)| spec.applies_to(&original))
            .collect();
        if specs.is_empty() {
            continue;
        }
        let current = res.id();
        let referrer = Referrer {
            prefixes: targets[index].prefixes.clone(),
            suffixes: targets[index].suffixes.clone(),
            role_ref: role_ref(&res.value),
            current: current.clone(),
        };
        let visible: Vec<usize> = if cluster_scoped(&current) {
            (0..targets.len()).collect()
        } else {
            let here = effective_namespace(&current);
            let bound = subject_namespaces(res);
            (0..targets.len())
                .filter(|&i| {
                    let t = &targets[i].current;
                    cluster_scoped(t)
                        || effective_namespace(t) == here
                        || bound.contains(&t.namespace)
                })
                .collect()
        };
        let origin = res.origin.clone();
        let mut value = std::mem::take(&mut resources[index].value);
        for (rule, spec) in specs {
            let job = Job {
                rule,
                path: &spec.path,
                referrer: &referrer,
                visible: &visible,
                targets: &targets,
            };
            let result = visit(&mut value, &spec.segments(), false, &mut |node| {
                job.set(node)
            });
            if let Err(message) = result {
                let mut diag = Diag::error(
                    origin.clone(),
                    format!(
                        "updating name reference in '{}' field of {current}: {message}",
                        spec.path
                    ),
                );
                if message.starts_with("found multiple") {
                    diag = diag.with_hint(format!(
                        "several {} objects had that name before prefixes, suffixes or \
                         namespaces renamed them; give them distinct names",
                        rule.kind
                    ));
                }
                diags.push(diag);
            }
        }
        resources[index].value = value;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Span;
    use crate::hash::name_suffix;
    use serde::Deserialize;

    fn docs(yaml: &str) -> Vec<Value> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .collect()
    }

    /// Objects as a kustomization with `namespace` and `namePrefix` leaves them (namespace
    /// first, then the prefix, then the content hash of the ConfigMaps and Secrets named in
    /// `hashed`, as kustomize orders its transformers).
    fn built(yaml: &str, namespace: &str, prefix: &str, hashed: &[&str]) -> Vec<Resource> {
        docs(yaml)
            .into_iter()
            .map(|v| {
                let mut r = Resource::new(v, Span::file("in.yaml"));
                let name = r.name().to_string();
                if !namespace.is_empty() && !cluster_scoped(&r.id()) {
                    r.set_namespace(namespace);
                }
                r.set_name(&format!("{prefix}{name}"));
                if hashed.contains(&name.as_str()) {
                    r.needs_hash = true;
                    let hash = name_suffix(&r.value).unwrap();
                    r.set_name(&format!("{prefix}{name}-{hash}"));
                }
                r
            })
            .collect()
    }

    fn fixed(mut resources: Vec<Resource>) -> Vec<Resource> {
        let mut diags = Vec::new();
        fix(&mut resources, &default_rules(), &mut diags);
        assert!(diags.is_empty(), "{diags:?}");
        resources
    }

    /// Every object is what kubectl kustomize printed for it (same kind, name and namespace).
    fn assert_output(resources: &[Resource], expected: &str) {
        let expected = docs(expected);
        assert_eq!(resources.len(), expected.len());
        for r in resources {
            let e = expected
                .iter()
                .find(|e| {
                    e["kind"] == r.kind()
                        && e["metadata"]["name"] == r.name()
                        && e["metadata"]["namespace"].as_str().unwrap_or_default() == r.namespace()
                })
                .unwrap_or_else(|| panic!("{} is not in the expected output", r.id()));
            assert_eq!(&r.value, e, "{}", r.id());
        }
    }

    #[test]
    fn the_default_table_has_kustomizes_rules() {
        let rules = default_rules();
        assert_eq!(rules.len(), 15);
        assert_eq!(
            rules.iter().map(|r| r.field_specs.len()).sum::<usize>(),
            165
        );
        let secret = rules.iter().find(|r| r.kind == "Secret").unwrap();
        assert!(secret.field_specs.contains(&spec(
            "",
            "",
            "CronJob",
            "spec/jobTemplate/spec/template/spec/imagePullSecrets/name"
        )));
        assert!(
            secret
                .field_specs
                .contains(&spec("", "v1", "Pod", "spec/imagePullSecrets/name"))
        );
    }

    // kustomization.yaml: namePrefix p-, namespace prod, configMapGenerator cm (a=1),
    // secretGenerator pull (a=1), resources: the objects below. Expected: kubectl kustomize.
    const REFERRERS: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {a: "1"}
---
apiVersion: v1
kind: Secret
metadata: {name: pull}
type: Opaque
data: {a: MQ==}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      serviceAccountName: sa
      imagePullSecrets: [{name: pull}, {name: other}]
      volumes:
      - name: v
        configMap: {name: cm}
      - name: w
        projected:
          sources:
          - configMap: {name: cm}
          - secret: {name: pull}
      - name: x
        csi:
          driver: d
          nodePublishSecretRef: {name: pull}
      containers:
      - name: c
        env:
        - name: A
          valueFrom: {configMapKeyRef: {name: cm, key: a}}
        - name: B
          valueFrom: {secretKeyRef: {name: pull, key: a}}
        envFrom:
        - configMapRef: {name: cm}
        - secretRef: {name: pull}
        - configMapRef: {name: unknown}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: role}
subjects:
- {kind: ServiceAccount, name: sa}
- {kind: ServiceAccount, name: sa, namespace: default}
- {kind: ServiceAccount, name: sa, namespace: other}
- {kind: User, name: sa}
- {kind: Group, name: sa, apiGroup: rbac.authorization.k8s.io}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: role}
subjects:
- {kind: ServiceAccount, name: sa, namespace: default}
- {kind: ServiceAccount, name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: role}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: ing}
spec:
  ingressClassName: ic
  defaultBackend: {service: {name: svc}}
  rules:
  - http:
      paths:
      - backend: {service: {name: svc, port: {number: 80}}}
  tls:
  - secretName: pull
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: ic}
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: hpa}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: d}
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: hr}
spec:
  rules:
  - backendRefs:
    - name: svc
      port: 80
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: vwc}
webhooks:
- name: w
  clientConfig:
    service: {name: svc, namespace: default}
- name: w2
  clientConfig:
    service: {name: svc}
"#;

    const REFERRERS_BUILT: &str = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: p-sa
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: p-role
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: p-rb
  namespace: prod
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: p-role
subjects:
- kind: ServiceAccount
  name: p-sa
  namespace: prod
- kind: ServiceAccount
  name: p-sa
  namespace: prod
- kind: ServiceAccount
  name: sa
  namespace: other
- kind: User
  name: p-sa
  namespace: prod
- apiGroup: rbac.authorization.k8s.io
  kind: Group
  name: p-sa
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: p-crb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: role
subjects:
- kind: ServiceAccount
  name: p-sa
  namespace: prod
- kind: ServiceAccount
  name: p-sa
  namespace: prod
---
apiVersion: v1
data:
  a: "1"
kind: ConfigMap
metadata:
  name: p-cm-h29d89cmmt
  namespace: prod
---
apiVersion: v1
data:
  a: MQ==
kind: Secret
metadata:
  name: p-pull-25khgmg44c
  namespace: prod
type: Opaque
---
apiVersion: v1
kind: Service
metadata:
  name: p-svc
  namespace: prod
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: p-d
  namespace: prod
spec:
  template:
    spec:
      containers:
      - env:
        - name: A
          valueFrom:
            configMapKeyRef:
              key: a
              name: p-cm-h29d89cmmt
        - name: B
          valueFrom:
            secretKeyRef:
              key: a
              name: p-pull-25khgmg44c
        envFrom:
        - configMapRef:
            name: p-cm-h29d89cmmt
        - secretRef:
            name: p-pull-25khgmg44c
        - configMapRef:
            name: unknown
        name: c
      imagePullSecrets:
      - name: p-pull-25khgmg44c
      - name: other
      serviceAccountName: p-sa
      volumes:
      - configMap:
          name: p-cm-h29d89cmmt
        name: v
      - name: w
        projected:
          sources:
          - configMap:
              name: p-cm-h29d89cmmt
          - secret:
              name: p-pull-25khgmg44c
      - csi:
          driver: d
          nodePublishSecretRef:
            name: pull
        name: x
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: p-hpa
  namespace: prod
spec:
  scaleTargetRef:
    apiVersion: apps/v1
    kind: Deployment
    name: p-d
---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata:
  name: p-hr
  namespace: prod
spec:
  rules:
  - backendRefs:
    - name: svc
      port: 80
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: p-ing
  namespace: prod
spec:
  defaultBackend:
    service:
      name: p-svc
  ingressClassName: ic
  rules:
  - http:
      paths:
      - backend:
          service:
            name: p-svc
            port:
              number: 80
  tls:
  - secretName: p-pull-25khgmg44c
---
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata:
  name: p-ic
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: p-vwc
webhooks:
- clientConfig:
    service:
      name: p-svc
      namespace: prod
  name: w
- clientConfig:
    service:
      name: p-svc
      namespace: prod
  name: w2
"#;

    #[test]
    fn renames_are_followed_as_kustomize_follows_them() {
        // ConfigMap and Secret hash + prefix in volumes, env, envFrom, imagePullSecrets and
        // Ingress TLS (not in csi); ServiceAccount in serviceAccountName and subjects (User
        // and Group subjects too, as kustomize does); Role by roleRef (a ClusterRole roleRef
        // is not a Role); Service in Ingress backends and webhooks (not in HTTPRoute);
        // Deployment in an HPA; unknown names and IngressClass stay.
        let out = fixed(built(REFERRERS, "prod", "p-", &["cm", "pull"]));
        assert_output(&out, REFERRERS_BUILT);
    }

    #[test]
    fn a_namespace_alone_is_written_into_map_references() {
        let input = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: crb}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: role}
subjects:
- {kind: ServiceAccount, name: sa}
- {kind: ServiceAccount, name: sa, namespace: default}
- {kind: User, name: sa}
- {kind: ServiceAccount, name: sa, namespace: other}
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: vwc}
webhooks:
- name: w2
  clientConfig:
    service: {name: svc}
---
apiVersion: v1
kind: Service
metadata: {name: svc}
"#;
        let expected = r#"
apiVersion: v1
kind: ServiceAccount
metadata:
  name: sa
  namespace: prod
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: crb
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ClusterRole
  name: role
subjects:
- kind: ServiceAccount
  name: sa
  namespace: prod
- kind: ServiceAccount
  name: sa
  namespace: prod
- kind: User
  name: sa
  namespace: prod
- kind: ServiceAccount
  name: sa
  namespace: other
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: prod
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: vwc
webhooks:
- clientConfig:
    service:
      name: svc
      namespace: prod
  name: w2
"#;
        assert_output(&fixed(built(input, "prod", "", &[])), expected);
    }

    const BASE: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata: {name: cm}
data: {a: X}
---
apiVersion: v1
kind: Pod
metadata: {name: pod}
spec:
  volumes:
  - name: v
    configMap: {name: cm}
"#;

    /// Two bases with namePrefix a- and b-, each a generated ConfigMap cm (a=a, a=b) and a Pod
    /// using it; an overlay with `prefix` over both and a Pod `pod3` of its own.
    fn two_bases(prefix: &str) -> Vec<Resource> {
        let mut all = Vec::new();
        for base in ["a", "b"] {
            let text = BASE.replace("X", base);
            all.extend(docs(&text).into_iter().map(|v| {
                let mut r = Resource::new(v, Span::file(format!("{base}/d.yaml")));
                let name = r.name().to_string();
                r.set_name(&format!("{base}-{name}"));
                r
            }));
        }
        let mut own = docs(BASE).remove(1);
        own["metadata"]["name"] = "pod3".into();
        all.push(Resource::new(own, Span::file("ov/p.yaml")));
        for r in &mut all {
            if !prefix.is_empty() {
                let name = r.name().to_string();
                r.set_name(&format!("{prefix}{name}"));
            }
            if r.kind() == "ConfigMap" {
                r.needs_hash = true;
                let name = format!("{}-{}", r.name(), name_suffix(&r.value).unwrap());
                r.set_name(&name);
            }
        }
        all
    }

    fn volume(r: &Resource) -> &str {
        r.value["spec"]["volumes"][0]["configMap"]["name"]
            .as_str()
            .unwrap()
    }

    #[test]
    fn prefixes_tell_which_base_a_reference_means() {
        let out = fixed(two_bases(""));
        assert_eq!(out[0].name(), "a-cm-t2bf4c75c7");
        assert_eq!(out[2].name(), "b-cm-4h2mbtbbt6");
        assert_eq!(volume(&out[1]), "a-cm-t2bf4c75c7");
        assert_eq!(volume(&out[3]), "b-cm-4h2mbtbbt6");
        // The overlay's own Pod has no prefix; neither base's ConfigMap ends like it: unchanged.
        assert_eq!(volume(&out[4]), "cm");
    }

    #[test]
    fn suffixes_tell_which_base_a_reference_means_too() {
        // Bases with namePrefix x- and nameSuffix -a / -b.
        let mut all = Vec::new();
        for base in ["a", "b"] {
            all.extend(docs(&BASE.replace("X", base)).into_iter().map(|v| {
                let mut r = Resource::new(v, Span::file("d.yaml"));
                let name = format!("x-{}-{base}", r.name());
                r.set_name(&name);
                if r.kind() == "ConfigMap" {
                    r.needs_hash = true;
                    let name = format!("{name}-{}", name_suffix(&r.value).unwrap());
                    r.set_name(&name);
                }
                r
            }));
        }
        let out = fixed(all);
        assert_eq!(volume(&out[1]), "x-cm-a-t2bf4c75c7");
        assert_eq!(volume(&out[3]), "x-cm-b-4h2mbtbbt6");
    }

    #[test]
    fn a_name_several_objects_had_is_an_error() {
        let mut resources = two_bases("o-");
        let mut diags = Vec::new();
        fix(&mut resources, &default_rules(), &mut diags);
        assert_eq!(volume(&resources[1]), "o-a-cm-t2bf4c75c7");
        assert_eq!(volume(&resources[3]), "o-b-cm-4h2mbtbbt6");
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "updating name reference in 'spec/volumes/configMap/name' field of Pod o-pod3: \
                 found multiple possible referrals: ConfigMap o-a-cm-t2bf4c75c7, ConfigMap \
                 o-b-cm-4h2mbtbbt6"
            ]
        );
        assert_eq!(diags[0].span, Span::file("ov/p.yaml"));
    }

    #[test]
    fn an_object_that_kept_its_name_is_never_the_referral() {
        // A base with namePrefix a- generates cm; the overlay has its own ConfigMap cm and a
        // Pod naming cm: kustomize points the Pod at a-cm-….
        let mut generated = Resource::new(
            serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"a": "1"}}),
            Span::file("a/kustomization.yaml"),
        );
        generated.set_name("a-cm");
        generated.needs_hash = true;
        generated.set_name("a-cm-h29d89cmmt");
        let mut resources = vec![generated];
        resources.extend(
            docs("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\n---\n")
                .into_iter()
                .chain(docs(BASE).into_iter().skip(1))
                .map(|v| Resource::new(v, Span::file("ov/r.yaml"))),
        );
        let out = fixed(resources);
        assert_eq!(volume(&out[2]), "a-cm-h29d89cmmt");
    }

    /// Bases a and b (namespace a / b), each a generated ConfigMap cm, a ServiceAccount sa and
    /// a Pod using both; the overlay adds `extra`.
    fn namespaces(extra: &str) -> Vec<Resource> {
        let base = r#"
apiVersion: v1
kind: Pod
metadata: {name: pod}
spec:
  serviceAccountName: sa
  volumes:
  - name: v
    configMap: {name: cm}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
"#;
        let mut all = Vec::new();
        for ns in ["a", "b"] {
            let cm = format!(
                "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: cm}}\ndata: {{a: {ns}}}\n---\n{base}"
            );
            let mut rs = built(&cm, ns, "", &["cm"]);
            all.append(&mut rs);
        }
        all.extend(
            docs(extra)
                .into_iter()
                .map(|v| Resource::new(v, Span::file("ov/r.yaml"))),
        );
        all
    }

    #[test]
    fn references_stay_in_their_namespace() {
        let rb = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
- {kind: ServiceAccount, name: sa, namespace: b}
- {kind: ServiceAccount, name: sa, namespace: a}
"#;
        let out = fixed(namespaces(rb));
        assert_eq!(volume(&out[1]), "cm-t2bf4c75c7");
        assert_eq!(volume(&out[4]), "cm-4h2mbtbbt6");
        assert_eq!(out[1].value["spec"]["serviceAccountName"], "sa");
        assert_eq!(
            out[6].value["subjects"],
            serde_json::json!([
                {"kind": "ServiceAccount", "name": "sa", "namespace": "b"},
                {"kind": "ServiceAccount", "name": "sa", "namespace": "a"}
            ])
        );
    }

    #[test]
    fn ambiguity_across_namespaces() {
        // A subject without namespace in a RoleBinding that also names namespace b sees both
        // ServiceAccounts; a ClusterRole sees both ConfigMaps.
        let extra = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb, namespace: a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: r}
subjects:
- {kind: ServiceAccount, name: sa, namespace: b}
- {kind: ServiceAccount, name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cr}
rules:
- resourceNames: [cm]
"#;
        let mut resources = namespaces(extra);
        let mut diags = Vec::new();
        fix(&mut resources, &default_rules(), &mut diags);
        let messages: Vec<&str> = diags.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            messages,
            [
                "updating name reference in 'subjects' field of RoleBinding a/rb: found multiple \
                 possible referrals: ServiceAccount a/sa, ServiceAccount b/sa",
                "updating name reference in 'rules/resourceNames' field of ClusterRole cr: found \
                 multiple possible referrals: ConfigMap a/cm-t2bf4c75c7, ConfigMap b/cm-4h2mbtbbt6"
            ]
        );
    }

    #[test]
    fn map_references_need_a_name() {
        let input = r#"
apiVersion: v1
kind: ServiceAccount
metadata: {name: sa}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: rb}
subjects:
- {kind: ServiceAccount}
"#;
        let mut resources = built(input, "", "p-", &[]);
        let mut diags = Vec::new();
        fix(&mut resources, &default_rules(), &mut diags);
        assert_eq!(
            diags[0].message,
            "updating name reference in 'subjects' field of RoleBinding p-rb: path config \
             error; no 'name' field in node"
        );
    }

    #[test]
    fn affixes_are_read_back_from_renames() {
        let mut r = Resource::new(
            serde_json::json!({"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"x": "1"}}),
            Span::file("x"),
        );
        r.set_namespace("ns");
        r.set_name("p-c-s");
        r.set_name("o-p-c-s");
        r.set_name("o-p-c-s-hmg6f82fh6");
        assert_eq!(
            affixes(&r),
            (
                vec!["p-".to_string(), "o-".to_string()],
                vec!["-s".to_string()]
            )
        );
        assert!(same_ending(&["a".into(), "b".into()], &["b".into()]));
        assert!(!same_ending(&[], &["b".into()]));
        assert!(same_ending(&[], &[]));
    }
}
