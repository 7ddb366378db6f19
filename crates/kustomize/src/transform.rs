//! The builtin transformers: namespace, name prefix and suffix, labels, annotations, images and
//! replicas, acting where kustomize's default field specs (plus a kustomization's
//! `configurations:`) say, with kustomize v5.8's behaviour (each verified against
//! `kubectl kustomize` v5.8.1; the surprising parts are documented on each function).
//!
//! Field specs are walked as kustomize's `fsslice` walks them, which differs from
//! [`crate::fieldspec::visit`] in three ways that show in the output:
//!
//! - a segment marked `[]` (`spec/volumeClaimTemplates[]/metadata/labels`) is never created,
//!   and a null there becomes an empty list;
//! - maps created on the way stay even when the walk stops below them (labels with a spec
//!   `spec/items[]/metadata/labels, create: true` leave `spec: {}` on an object without `spec`);
//! - a scalar where the path needs a map or list is an error (`spec: 3` under
//!   `spec/selector`), as is a final field of the wrong kind (labels into a list); null fields
//!   count as missing, and null list items are skipped.

use std::collections::BTreeMap;

use regex::Regex;
use serde_json::{Map, Value};

use crate::fieldspec::FieldSpec;
use crate::kustomization::{Image, Replica};
use crate::order::{Gvk, gvk_is_less_than};
use crate::{Diag, ResId, Resource, Span};

pub use crate::fieldspec::Config;

// Field spec tables: kustomize v5.8.1's `api/internal/konfig/builtinpluginconsts`, as embedded
// in the binary, in their order: (group, version, kind, path, create).
type Row = (&'static str, &'static str, &'static str, &'static str, bool);

const AFFINITY: [&str; 5] = [
    "spec/template/spec/affinity/podAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm/labelSelector/matchLabels",
    "spec/template/spec/affinity/podAntiAffinity/requiredDuringSchedulingIgnoredDuringExecution/labelSelector/matchLabels",
    "spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels",
];

/// `metadataLabelsFieldSpecs`: the template labels, also the tail of the commonLabels table.
const METADATA_LABELS: [Row; 10] = [
    ("", "", "", "metadata/labels", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    ("", "", "Deployment", "spec/template/metadata/labels", true),
    ("", "", "ReplicaSet", "spec/template/metadata/labels", true),
    ("", "", "DaemonSet", "spec/template/metadata/labels", true),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    (
        "apps",
        "",
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    ("batch", "", "Job", "spec/template/metadata/labels", true),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

const COMMON_ANNOTATIONS: [Row; 9] = [
    ("", "", "", "metadata/annotations", true),
    (
        "",
        "v1",
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "Deployment",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "ReplicaSet",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "DaemonSet",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "",
        "",
        "StatefulSet",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "Job",
        "spec/template/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    (
        "batch",
        "",
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

const NAMESPACE: [Row; 3] = [
    ("", "", "Namespace", "metadata/name", true),
    (
        "apiregistration.k8s.io",
        "",
        "APIService",
        "spec/service/namespace",
        true,
    ),
    (
        "apiextensions.k8s.io",
        "",
        "CustomResourceDefinition",
        "spec/conversion/webhook/clientConfig/service/namespace",
        false,
    ),
];

const IMAGES: [Row; 6] = [
    ("", "", "", "spec/containers[]/image", true),
    ("", "", "", "spec/initContainers[]/image", true),
    ("", "", "", "spec/volumes[]/image/reference", true),
    ("", "", "", "spec/template/spec/containers[]/image", true),
    (
        "",
        "",
        "",
        "spec/template/spec/initContainers[]/image",
        true,
    ),
    (
        "",
        "",
        "",
        "spec/template/spec/volumes[]/image/reference",
        true,
    ),
];

const REPLICAS: [Row; 4] = [
    ("", "", "Deployment", "spec/replicas", true),
    ("", "", "ReplicationController", "spec/replicas", true),
    ("", "", "ReplicaSet", "spec/replicas", true),
    ("", "", "StatefulSet", "spec/replicas", true),
];

fn specs(rows: &[Row]) -> Vec<FieldSpec> {
    rows.iter()
        .map(|&(g, v, k, p, c)| FieldSpec::new(g, v, k, p, c))
        .collect()
}

fn common_labels_table() -> Vec<FieldSpec> {
    let mut out = vec![
        FieldSpec::new("", "v1", "Service", "spec/selector", true),
        FieldSpec::new("", "v1", "ReplicationController", "spec/selector", true),
        FieldSpec::new("", "", "Deployment", "spec/selector/matchLabels", true),
    ];
    out.extend(
        AFFINITY
            .iter()
            .map(|p| FieldSpec::new("apps", "", "Deployment", p, false)),
    );
    out.push(FieldSpec::new(
        "",
        "",
        "ReplicaSet",
        "spec/selector/matchLabels",
        true,
    ));
    out.push(FieldSpec::new(
        "",
        "",
        "DaemonSet",
        "spec/selector/matchLabels",
        true,
    ));
    out.push(FieldSpec::new(
        "apps",
        "",
        "StatefulSet",
        "spec/selector/matchLabels",
        true,
    ));
    out.extend(
        AFFINITY
            .iter()
            .map(|p| FieldSpec::new("apps", "", "StatefulSet", p, false)),
    );
    out.extend(specs(&[
        ("batch", "", "Job", "spec/selector/matchLabels", false),
        (
            "batch",
            "",
            "CronJob",
            "spec/jobTemplate/spec/selector/matchLabels",
            false,
        ),
        (
            "policy",
            "",
            "PodDisruptionBudget",
            "spec/selector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/podSelector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/ingress/from/podSelector/matchLabels",
            false,
        ),
        (
            "networking.k8s.io",
            "",
            "NetworkPolicy",
            "spec/egress/to/podSelector/matchLabels",
            false,
        ),
    ]));
    out.extend(specs(&METADATA_LABELS));
    out
}

/// kustomize's default field specs for the builtin transformers this module runs (name
/// references and var references are left empty: they are filled elsewhere).
///
/// Worth knowing: the namespace table holds no `metadata/namespace` entry (the namespace
/// transformer sets it itself, on namespaced objects only), but does rename `v1 Namespace`
/// objects to the namespace; `commonAnnotations` reaches StatefulSet templates of any group
/// while `commonLabels` only those of `apps`; the images table's `create: true` creates
/// nothing (the image transformer never creates fields).
pub fn default_config() -> Config {
    Config {
        name_prefix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
        name_suffix: vec![FieldSpec::new("", "", "", "metadata/name", false)],
        name_space: specs(&NAMESPACE),
        common_labels: common_labels_table(),
        template_labels: specs(&METADATA_LABELS),
        common_annotations: specs(&COMMON_ANNOTATIONS),
        images: specs(&IMAGES),
        replicas: specs(&REPLICAS),
        var_reference: Vec::new(),
        name_reference: Vec::new(),
    }
}

// ---------------------------------------------------------------------------------------------
// Cluster scope.

/// Kinds kustomize v5.8 knows to be cluster-scoped, by apiVersion: those of the Kubernetes
/// 1.21 OpenAPI schema it embeds (GA and beta versions only; `flowcontrol` v1beta1 but not
/// v1; `policy/v1beta1` PodSecurityPolicy but not `extensions/v1beta1`). Everything else is
/// namespaced, including custom resources whose CustomResourceDefinition in the same build
/// says `scope: Cluster`, newer kinds (`VolumeAttributesClass`, `DeviceClass`,
/// `ValidatingAdmissionPolicy`, ...) and the review kinds (`TokenReview`,
/// `SubjectAccessReview`, ...).
const CLUSTER_SCOPED: &[(&str, &[&str])] = &[
    (
        "v1",
        &["ComponentStatus", "Namespace", "Node", "PersistentVolume"],
    ),
    (
        "admissionregistration.k8s.io/v1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
    ),
    (
        "admissionregistration.k8s.io/v1beta1",
        &[
            "MutatingWebhookConfiguration",
            "ValidatingWebhookConfiguration",
        ],
    ),
    ("apiextensions.k8s.io/v1", &["CustomResourceDefinition"]),
    (
        "apiextensions.k8s.io/v1beta1",
        &["CustomResourceDefinition"],
    ),
    ("apiregistration.k8s.io/v1", &["APIService"]),
    ("apiregistration.k8s.io/v1beta1", &["APIService"]),
    ("certificates.k8s.io/v1", &["CertificateSigningRequest"]),
    (
        "certificates.k8s.io/v1beta1",
        &["CertificateSigningRequest"],
    ),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        &["FlowSchema", "PriorityLevelConfiguration"],
    ),
    ("networking.k8s.io/v1", &["IngressClass"]),
    ("networking.k8s.io/v1beta1", &["IngressClass"]),
    ("node.k8s.io/v1", &["RuntimeClass"]),
    ("node.k8s.io/v1beta1", &["RuntimeClass"]),
    ("policy/v1beta1", &["PodSecurityPolicy"]),
    (
        "rbac.authorization.k8s.io/v1",
        &["ClusterRole", "ClusterRoleBinding"],
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        &["ClusterRole", "ClusterRoleBinding"],
    ),
    ("scheduling.k8s.io/v1", &["PriorityClass"]),
    ("scheduling.k8s.io/v1beta1", &["PriorityClass"]),
    (
        "storage.k8s.io/v1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
    ),
    (
        "storage.k8s.io/v1beta1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
    ),
];

/// Whether kustomize treats objects of this apiVersion and kind as cluster-scoped (see
/// [`CLUSTER_SCOPED`]'s notes: by the embedded Kubernetes 1.21 schema, never by CRDs).
pub fn is_cluster_scoped(api_version: &str, kind: &str) -> bool {
    CLUSTER_SCOPED
        .iter()
        .any(|(av, kinds)| *av == api_version && kinds.contains(&kind))
}

// ---------------------------------------------------------------------------------------------
// The field walk.

struct Seg {
    name: String,
    /// Marked `[]`: never created.
    seq: bool,
}

/// Splits a field spec path as kustomize does: on `/`, except after a backslash (`a\/b` is
/// one key `a/b`); a `[]` suffix marks a list. Empty segments are dropped.
fn segments(path: &str) -> Vec<Seg> {
    let mut raw: Vec<String> = Vec::new();
    for part in path.split('/') {
        match raw.last_mut() {
            Some(prev) if prev.ends_with('\\') => {
                prev.pop();
                prev.push('/');
                prev.push_str(part);
            }
            _ => raw.push(part.to_string()),
        }
    }
    raw.into_iter()
        .filter(|s| !s.is_empty())
        .map(|s| match s.strip_suffix("[]") {
            Some(name) => Seg {
                name: name.to_string(),
                seq: true,
            },
            None => Seg {
                name: s,
                seq: false,
            },
        })
        .collect()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

type Setter<'a> = dyn FnMut(&mut Value) -> Result<(), String> + 'a;

/// Walks `segs` from `node` and calls `set` on every field reached. With `create` (the value
/// a missing final field starts as), missing or null fields on the way are made (maps), except
/// at `[]` segments, where a null becomes an empty list.
fn walk(
    node: &mut Value,
    segs: &[Seg],
    create: Option<&Value>,
    set: &mut Setter<'_>,
) -> Result<(), String> {
    let Some((seg, rest)) = segs.split_first() else {
        return set(node);
    };
    match node {
        Value::Array(items) => {
            for item in items {
                if !item.is_null() {
                    walk(item, segs, create, set)?;
                }
            }
            Ok(())
        }
        Value::Object(map) => {
            let creating = create.is_some() && !seg.seq;
            let fresh = || match (rest.is_empty(), create) {
                (true, Some(c)) => c.clone(),
                _ => Value::Object(Map::new()),
            };
            match map.get_mut(&seg.name) {
                Some(child) if !child.is_null() => walk(child, rest, create, set),
                Some(child) => {
                    if creating {
                        *child = fresh();
                    } else if seg.seq && create.is_some() {
                        *child = Value::Array(Vec::new());
                        return Ok(());
                    } else {
                        return Ok(());
                    }
                    walk(child, rest, create, set)
                }
                None if creating => {
                    let child = map.entry(seg.name.clone()).or_insert_with(fresh);
                    walk(child, rest, create, set)
                }
                None => Ok(()),
            }
        }
        other => Err(format!(
            "expected a map or a list at `{}`, found {}",
            seg.name,
            type_name(other)
        )),
    }
}

/// Runs `set` on every field `spec` names in the resource (when the spec applies to its
/// current group/version/kind).
fn apply_spec(
    resource: &mut Resource,
    spec: &FieldSpec,
    create: Option<&Value>,
    set: &mut Setter<'_>,
) -> Result<(), String> {
    let id = resource.id();
    if !spec.applies_to(&id) {
        return Ok(());
    }
    let segs = segments(&spec.path);
    let create = if spec.create { create } else { None };
    walk(&mut resource.value, &segs, create, set)
        .map_err(|e| format!("{}: field `{}`: {e}", describe(&id), spec.path))
}

fn describe(id: &ResId) -> String {
    if id.namespace.is_empty() {
        format!("{} {}", id.kind, id.name)
    } else {
        format!("{} {}/{}", id.kind, id.namespace, id.name)
    }
}

fn scalar_string(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn is_empty_object(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------------
// Namespace.

/// Which RoleBinding/ClusterRoleBinding subjects get the namespace (kustomize's
/// NamespaceTransformer `setRoleBindingSubjects`). The kustomization's `namespace:` field uses
/// [`SubjectMode::DefaultOnly`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SubjectMode {
    /// `defaultOnly`: every subject named `default`, whatever its kind (a User named
    /// `default` too).
    #[default]
    DefaultOnly,
    /// `allServiceAccounts`: every subject of kind ServiceAccount.
    AllServiceAccounts,
    /// `none`.
    None,
}

impl SubjectMode {
    /// From the transformer config's value (`""` means the default).
    pub fn parse(value: &str) -> Result<SubjectMode, String> {
        match value {
            "" | "defaultOnly" => Ok(SubjectMode::DefaultOnly),
            "allServiceAccounts" => Ok(SubjectMode::AllServiceAccounts),
            "none" => Ok(SubjectMode::None),
            other => Err(format!(
                "invalid value \"{other}\" for setRoleBindingSubjects: must be one of \
                 \"defaultOnly\", \"none\" or \"allServiceAccounts\""
            )),
        }
    }
}

/// The namespace an id is in for comparing ids, as kustomize's `EffectiveNamespace`:
/// cluster-scoped objects are in none (whatever `metadata.namespace` says), namespaced ones
/// without a namespace in `default`.
fn effective_namespace(id: &ResId) -> Option<&str> {
    let api_version = if id.group.is_empty() {
        id.version.clone()
    } else {
        format!("{}/{}", id.group, id.version)
    };
    if is_cluster_scoped(&api_version, &id.kind) {
        None
    } else if id.namespace.is_empty() {
        Some("default")
    } else {
        Some(&id.namespace)
    }
}

fn same_id(a: &ResId, b: &ResId) -> bool {
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.name == b.name
        && effective_namespace(a) == effective_namespace(b)
}

/// Sets the namespace, as kustomize's NamespaceTransformer:
///
/// - `metadata.namespace` of namespaced objects only ([`is_cluster_scoped`]; cluster-scoped
///   objects keep whatever they have), through [`Resource::set_namespace`]; with `unset_only`
///   only where it is missing or empty. A `metadata/namespace` entry in `specs` is ignored
///   (this rule replaces it).
/// - `metadata/name` entries (the default table's `kind: Namespace` one) apply only to objects
///   whose apiVersion is exactly `v1`: `kind: Namespace` objects are *renamed* to the namespace
///   (through [`Resource::set_name`]); `foo.io/v1 Namespace` is left alone (and, being a custom
///   kind, gets a `metadata.namespace`).
/// - RoleBinding and ClusterRoleBinding (any group) `subjects` per `role_binding_subjects`;
///   `subjects/namespace` entries in `specs` for those kinds are ignored.
/// - every other spec: `spec/service/namespace` of APIServices, created when missing (even on
///   an APIService without `spec.service`), and CRDs'
///   `spec/conversion/webhook/clientConfig/service/namespace` when present. Webhook
///   configurations' `clientConfig.service.namespace` are not in kustomize v5.8's table and
///   are left alone.
///
/// Two objects that end with the same id are an error ("namespace transformation produces ID
/// conflict"), as in kustomize.
pub fn namespace(
    resources: &mut [Resource],
    namespace: &str,
    specs: &[FieldSpec],
    unset_only: bool,
    role_binding_subjects: SubjectMode,
) -> Result<(), String> {
    if namespace.is_empty() {
        return Ok(());
    }
    let ns_value = Value::String(namespace.to_string());
    let set_scalar = |v: &mut Value| -> Result<(), String> {
        match v {
            Value::Object(_) | Value::Array(_) => Err(format!(
                "namespace field specs must target scalar nodes, found {}",
                type_name(v)
            )),
            _ => {
                let empty = scalar_string(v).is_none_or(|s| s.is_empty());
                if !unset_only || empty {
                    *v = ns_value.clone();
                }
                Ok(())
            }
        }
    };
    for r in resources.iter_mut() {
        if is_empty_object(&r.value) {
            continue;
        }
        let api_version = r.api_version().to_string();
        let kind = r.kind().to_string();
        if !is_cluster_scoped(&api_version, &kind) && (!unset_only || r.namespace().is_empty()) {
            r.set_namespace(namespace);
        }
        let is_binding = kind == "RoleBinding" || kind == "ClusterRoleBinding";
        if is_binding && role_binding_subjects != SubjectMode::None {
            let what = describe(&r.id());
            if let Some(Value::Array(subjects)) = r.value.get_mut("subjects") {
                for subject in subjects.iter_mut() {
                    let Value::Object(s) = subject else { continue };
                    let chosen = match role_binding_subjects {
                        SubjectMode::DefaultOnly => {
                            s.get("name").and_then(Value::as_str) == Some("default")
                        }
                        SubjectMode::AllServiceAccounts => {
                            s.get("kind").and_then(Value::as_str) == Some("ServiceAccount")
                        }
                        SubjectMode::None => false,
                    };
                    if chosen {
                        let slot = s
                            .entry("namespace")
                            .or_insert_with(|| Value::String(String::new()));
                        set_scalar(slot).map_err(|e| format!("{what}: subjects: {e}"))?;
                    }
                }
            }
        }
        for spec in specs {
            if spec.path == "metadata/namespace"
                || (spec.path == "metadata/name" && api_version != "v1")
                || (is_binding
                    && (spec.kind == "RoleBinding" || spec.kind == "ClusterRoleBinding")
                    && spec.path == "subjects/namespace")
            {
                continue;
            }
            if spec.path == "metadata/name" {
                if spec.applies_to(&r.id()) && (!unset_only || r.name().is_empty()) {
                    r.set_name(namespace);
                }
                continue;
            }
            apply_spec(r, spec, Some(&Value::String(String::new())), &mut |v| {
                set_scalar(v)
            })
            .map_err(|e| format!("namespace transformation failed: {e}"))?;
        }
    }
    for (i, a) in resources.iter().enumerate() {
        let id = a.id();
        if let Some(b) = resources[i + 1..].iter().find(|b| same_id(&id, &b.id())) {
            return Err(format!(
                "namespace transformation produces ID conflict: {} (from {}) and {} (from {})",
                describe(&id),
                a.origin,
                describe(&b.id()),
                b.origin
            ));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Name prefix and suffix.

/// Kinds kustomize never prefixes or suffixes (judged by the kind the object was read with).
fn skips_affixes(id: &ResId) -> bool {
    id.kind == "CustomResourceDefinition"
        || id.kind == "Namespace"
        || (id.kind == "APIService" && id.group == "apiregistration.k8s.io")
}

fn affix(
    resources: &mut [Resource],
    specs: &[FieldSpec],
    change: &dyn Fn(&str) -> String,
) -> Result<(), String> {
    for r in resources.iter_mut() {
        let original = r.original_id();
        if skips_affixes(&original) {
            continue;
        }
        for spec in specs {
            if !spec.applies_to(&original) {
                continue;
            }
            if spec.path == "metadata/name" {
                let name = change(r.name());
                r.set_name(&name);
                continue;
            }
            apply_spec(
                r,
                spec,
                Some(&Value::String(String::new())),
                &mut |v: &mut Value| match scalar_string(v) {
                    Some(s) => {
                        *v = Value::String(change(&s));
                        Ok(())
                    }
                    None => Err(format!("expected a string, found {}", type_name(v))),
                },
            )?;
        }
    }
    Ok(())
}

/// Adds `prefix` to the names (and whatever other fields `specs` name, for example from a
/// `configurations:` file; those are created as just the prefix when missing and the spec says
/// `create`). CustomResourceDefinitions, Namespaces and `apiregistration.k8s.io` APIServices
/// are never renamed. Specs are matched against the kind the object was read with.
pub fn name_prefix(
    resources: &mut [Resource],
    prefix: &str,
    specs: &[FieldSpec],
) -> Result<(), String> {
    if prefix.is_empty() {
        return Ok(());
    }
    affix(resources, specs, &|s| format!("{prefix}{s}"))
}

/// Adds `suffix`, as [`name_prefix`] adds a prefix.
pub fn name_suffix(
    resources: &mut [Resource],
    suffix: &str,
    specs: &[FieldSpec],
) -> Result<(), String> {
    if suffix.is_empty() {
        return Ok(());
    }
    affix(resources, specs, &|s| format!("{s}{suffix}"))
}

/// `namePrefix` then `nameSuffix` with the same specs (kustomize keeps separate tables,
/// `name_prefix` and `name_suffix` of [`Config`]: call [`name_prefix`] and [`name_suffix`]
/// when they differ).
pub fn prefix_suffix(
    resources: &mut [Resource],
    prefix: &str,
    suffix: &str,
    specs: &[FieldSpec],
) -> Result<(), String> {
    name_prefix(resources, prefix, specs)?;
    name_suffix(resources, suffix, specs)
}

// ---------------------------------------------------------------------------------------------
// Labels and annotations.

fn set_pairs(
    resources: &mut [Resource],
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
    what: &str,
) -> Result<(), String> {
    if pairs.is_empty() {
        return Ok(());
    }
    let empty = Value::Object(Map::new());
    for r in resources.iter_mut() {
        for spec in specs {
            apply_spec(r, spec, Some(&empty), &mut |v: &mut Value| match v {
                Value::Object(map) => {
                    for (k, val) in pairs {
                        map.insert(k.clone(), Value::String(val.clone()));
                    }
                    Ok(())
                }
                other => Err(format!(
                    "expected a map of {what}, found {}",
                    type_name(other)
                )),
            })?;
        }
    }
    Ok(())
}

/// Sets labels wherever `specs` say (values always strings, existing keys overwritten).
/// Fields are created only where the spec says `create` (so `commonLabels` add to existing
/// NetworkPolicy `podSelector.matchLabels` and affinity selectors but never create them, and
/// lists on the way such as `ingress[].from[]` are entered). A path that meets a scalar, or
/// ends at something other than a map, is an error, as in kustomize.
pub fn labels(
    resources: &mut [Resource],
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), String> {
    set_pairs(resources, pairs, specs, "labels")
}

/// Sets annotations wherever `specs` say, as [`labels`] sets labels.
pub fn annotations(
    resources: &mut [Resource],
    pairs: &BTreeMap<String, String>,
    specs: &[FieldSpec],
) -> Result<(), String> {
    set_pairs(resources, pairs, specs, "annotations")
}

/// The specs `commonLabels` uses: the configuration's commonLabels table (selectors and
/// templates included).
pub fn common_label_specs(config: &Config) -> Vec<FieldSpec> {
    config.common_labels.clone()
}

fn merge_one(into: &mut Vec<FieldSpec>, spec: &FieldSpec) -> Result<(), String> {
    let existing = into.iter().find(|s| {
        s.group == spec.group
            && s.version == spec.version
            && s.kind == spec.kind
            && s.path == spec.path
    });
    match existing {
        Some(s) if s.create != spec.create => Err(format!(
            "conflicting fieldspecs: `{}`{} is given with create: {} and with create: {}",
            spec.path,
            if spec.kind.is_empty() {
                String::new()
            } else {
                format!(" for {}", spec.kind)
            },
            s.create,
            spec.create
        )),
        Some(_) => Ok(()),
        None => {
            into.push(spec.clone());
            Ok(())
        }
    }
}

/// The specs of one `labels:` entry, as kustomize builds them: the entry's `fields`, then with
/// `includeSelectors` the commonLabels table (which has the templates too), otherwise
/// `metadata/labels` (create) plus, with `includeTemplates`, the templateLabels table. A field
/// given twice with different `create` (say `fields: [{path: metadata/labels, create:
/// false}]`) is kustomize's "conflicting fieldspecs" error.
pub fn label_specs(
    config: &Config,
    include_selectors: bool,
    include_templates: bool,
    fields: &[FieldSpec],
) -> Result<Vec<FieldSpec>, String> {
    let mut out = fields.to_vec();
    if include_selectors {
        for spec in &config.common_labels {
            merge_one(&mut out, spec)?;
        }
    } else {
        merge_one(
            &mut out,
            &FieldSpec::new("", "", "", "metadata/labels", true),
        )?;
        if include_templates {
            for spec in &config.template_labels {
                merge_one(&mut out, spec)?;
            }
        }
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------------
// Images.

/// Splits an image reference as kustomize does: after the first `/` (so a registry port,
/// `host:5000/app`, is part of the name), at the first `:` (tag) and the first `@` (digest).
/// `nginx:1.0:2` is name `nginx`, tag `1.0:2`.
fn split_image(image: &str) -> (&str, &str, &str) {
    let offset = match image.find('/') {
        Some(i) if i > 0 => i,
        _ => 0,
    };
    let search = &image[offset..];
    let at = search.find('@');
    let colon = search.find(':');
    match (colon, at) {
        (None, None) => (image, "", ""),
        (c, Some(a)) if c.is_none_or(|c| a < c) => {
            (&image[..offset + a], "", &image[offset + a + 1..])
        }
        (Some(c), Some(a)) => (
            &image[..offset + c],
            &image[offset + c + 1..offset + a],
            &image[offset + a + 1..],
        ),
        (Some(c), None) => (&image[..offset + c], &image[offset + c + 1..], ""),
        (None, Some(_)) => (image, "", ""),
    }
}

/// The first nested repetition operator in a regular expression (`c++`, `a**`, `a{2}*`):
/// Go's regexp (and so kustomize) refuses them, Rust's regex accepts them. A `?` right after a
/// repetition makes it lazy and is no nesting (`a*?`).
fn nested_repetition(re: &str) -> Option<String> {
    let chars: Vec<char> = re.chars().collect();
    let mut i = 0;
    // The text of the repetition just seen, and whether a lazy `?` followed it.
    let mut last: Option<(String, bool)> = None;
    while i < chars.len() {
        let c = chars[i];
        let rep_len = match c {
            '*' | '+' | '?' => Some(1),
            '{' => {
                let rest: String = chars[i..].iter().collect();
                let ok = rest.find('}').filter(|&end| {
                    let body = &rest[1..end];
                    let (min, max) = body.split_once(',').unwrap_or((body, "0"));
                    !min.is_empty()
                        && min.chars().all(|d| d.is_ascii_digit())
                        && max.chars().all(|d| d.is_ascii_digit())
                });
                ok.map(|end| rest[..=end].chars().count())
            }
            _ => None,
        };
        match (rep_len, &mut last) {
            (Some(1), Some((text, lazy))) if c == '?' && !*lazy => {
                text.push('?');
                *lazy = true;
                i += 1;
            }
            (Some(n), Some((text, _))) => {
                let op: String = chars[i..i + n].iter().collect();
                return Some(format!("{text}{op}"));
            }
            (Some(n), None) => {
                last = Some((chars[i..i + n].iter().collect(), false));
                i += n;
            }
            (None, _) => {
                last = None;
                match c {
                    '\\' => i += 2,
                    '[' => {
                        // Skip the class: a `]` right after `[` or `[^` is literal.
                        i += 1;
                        if chars.get(i) == Some(&'^') {
                            i += 1;
                        }
                        if chars.get(i) == Some(&']') {
                            i += 1;
                        }
                        while i < chars.len() && chars[i] != ']' {
                            if chars[i] == '\\' {
                                i += 1;
                            }
                            i += 1;
                        }
                        i += 1;
                    }
                    _ => i += 1,
                }
            }
        }
    }
    None
}

struct ImageRule<'a> {
    image: &'a Image,
    matcher: Regex,
}

impl ImageRule<'_> {
    fn update(&self, v: &mut Value) -> Result<(), String> {
        let current = match &*v {
            Value::Null => return Ok(()),
            Value::Object(_) | Value::Array(_) => {
                return Err(format!("expected an image, found {}", type_name(v)));
            }
            other => scalar_string(other).unwrap_or_default(),
        };
        if !self.matcher.is_match(&current) {
            return Ok(());
        }
        let (name, tag, digest) = split_image(&current);
        let img = self.image;
        let name = if img.new_name.is_empty() {
            name
        } else {
            &img.new_name
        };
        let (tag, digest) = match (img.new_tag.is_empty(), img.digest.is_empty()) {
            (false, false) => (img.new_tag.clone(), img.digest.as_str()),
            (false, true) => (img.new_tag.clone(), ""),
            (true, false) => (String::new(), img.digest.as_str()),
            (true, true) if !img.tag_suffix.is_empty() => (format!("{tag}{}", img.tag_suffix), ""),
            (true, true) => (tag.to_string(), digest),
        };
        let mut out = name.to_string();
        if !tag.is_empty() {
            out.push(':');
            out.push_str(&tag);
        }
        if !digest.is_empty() {
            out.push('@');
            out.push_str(digest);
        }
        *v = Value::String(out);
        Ok(())
    }

    /// kustomize's legacy pass: every `image` of every item of every `containers` or
    /// `initContainers` list anywhere in the object.
    fn legacy(&self, node: &mut Value) -> Result<(), String> {
        match node {
            Value::Object(map) => {
                for (key, value) in map.iter_mut() {
                    self.legacy(value)?;
                    let Value::Array(items) = value else { continue };
                    if key != "containers" && key != "initContainers" {
                        continue;
                    }
                    for item in items.iter_mut() {
                        match item {
                            Value::Object(c) => {
                                if let Some(image) = c.get_mut("image") {
                                    self.update(image)?;
                                }
                            }
                            Value::Null => {}
                            other => {
                                return Err(format!(
                                    "`{key}`: expected a container (a map), found {}",
                                    type_name(other)
                                ));
                            }
                        }
                    }
                }
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    self.legacy(item)?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }
}

/// Applies `images:` entries, one after the other, as kustomize's ImageTagTransformer:
///
/// - `name` is a regular expression (kustomize compiles `^` + name +
///   `(:[a-zA-Z0-9_.{}-]*)?(@sha256:[a-zA-Z0-9_.{}-]*)?$`, unescaped): `ngin.x` also matches
///   `nginxx`, `x|y` matches everything starting with `x`. An invalid one (`c++`) makes
///   kustomize crash; here it is an error. It matches the whole reference up to an optional
///   tag and sha256 digest (`nginx` matches `nginx:1.0@sha256:…`, not `docker.io/nginx` nor
///   `nginx@sha512:…`); `name: nginx:1.0` matches `nginx:1.0` and `nginx:1.0:2`.
/// - `newName` replaces the name (a registry port stays part of the name); `newTag` replaces
///   tag and digest; `digest` replaces both (`name@digest`); `newTag` with `digest` gives
///   `name:tag@digest`; `tagSuffix`, only when neither is given, appends to the tag (and drops
///   the digest: `app@sha256:…` becomes `app:-suffix`).
/// - Where: in every object except CustomResourceDefinitions, (a) every `image` of every item
///   of every `containers`/`initContainers` list anywhere in the object (custom resources
///   included), and (b) the `images` field specs (pod specs' containers, and
///   `volumes[].image.reference`). A field both reach is transformed twice, which shows with
///   `tagSuffix`: a Deployment's `app:1` becomes `app:1-debug-debug` while a custom resource's
///   `containers` or a volume's image get the suffix once.
/// - Images that are not strings but scalars are matched as text; maps and lists are errors.
pub fn images(
    resources: &mut [Resource],
    images: &[Image],
    specs: &[FieldSpec],
) -> Result<(), String> {
    for image in images {
        let pattern = format!(
            "^{}(:[a-zA-Z0-9_.{{}}-]*)?(@sha256:[a-zA-Z0-9_.{{}}-]*)?$",
            image.name
        );
        let nested = nested_repetition(&image.name)
            .map(|op| format!("invalid nested repetition operator: `{op}`"));
        let matcher = match nested {
            Some(e) => Err(e),
            None => Regex::new(&pattern).map_err(|e| e.to_string()),
        }
        .map_err(|e| {
            format!(
                "images: name `{}` is not a valid regular expression (kustomize reads it as \
                 one): {e}",
                image.name
            )
        })?;
        let rule = ImageRule { image, matcher };
        for r in resources.iter_mut() {
            if r.kind() == "CustomResourceDefinition" {
                continue;
            }
            let id = r.id();
            rule.legacy(&mut r.value)
                .map_err(|e| format!("{}: {e}", describe(&id)))?;
            for spec in specs {
                apply_spec(r, spec, None, &mut |v| rule.update(v))?;
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Replicas.

/// Sets replica counts, as kustomize's ReplicaCountTransformer: an entry's `name` is matched
/// against every name an object has had (the name it was read with, names from prefixes and
/// suffixes of bases, the current one), among the kinds of the `replicas` specs (Deployment,
/// ReplicationController, ReplicaSet, StatefulSet, of any group; custom kinds only through
/// `configurations:`). `spec/replicas` is created when missing. A count written over a string
/// (`replicas: "3"`) stays a string (`"7"`), as kustomize keeps the node's style.
///
/// A name that matches no object is an error (kustomize's "resource with name … does not match
/// a config with the following GVK [...]"), reported at `span`; every entry is checked.
pub fn replicas(
    resources: &mut [Resource],
    replicas: &[Replica],
    specs: &[FieldSpec],
    span: &Span,
    diags: &mut Vec<Diag>,
) {
    for replica in replicas {
        let mut found = false;
        for spec in specs {
            let matching: Vec<usize> = resources
                .iter()
                .enumerate()
                .filter(|(_, r)| {
                    r.ids()
                        .any(|id| id.name == replica.name && spec.applies_to(&id))
                })
                .map(|(i, _)| i)
                .collect();
            if matching.is_empty() {
                continue;
            }
            found = true;
            let count = replica.count;
            for i in matching {
                let result = apply_spec(
                    &mut resources[i],
                    spec,
                    Some(&Value::from(count)),
                    &mut |v: &mut Value| match v {
                        Value::Object(_) | Value::Array(_) => {
                            Err(format!("expected a number, found {}", type_name(v)))
                        }
                        Value::String(_) => {
                            *v = Value::String(count.to_string());
                            Ok(())
                        }
                        _ => {
                            *v = Value::from(count);
                            Ok(())
                        }
                    },
                );
                if let Err(e) = result {
                    diags.push(Diag::error(span.clone(), format!("replicas: {e}")));
                }
            }
        }
        if !found {
            let mut gvks: Vec<Gvk> = specs
                .iter()
                .map(|s| Gvk::new(&s.group, &s.version, &s.kind))
                .collect();
            gvks.sort_by(|a, b| {
                if gvk_is_less_than(a, b) {
                    std::cmp::Ordering::Less
                } else if gvk_is_less_than(b, a) {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            });
            let list: Vec<String> = gvks.iter().map(Gvk::kustomize_string).collect();
            diags.push(
                Diag::error(
                    span.clone(),
                    format!(
                        "resource with name {} does not match a config with the following GVK \
                         [{}]",
                        replica.name,
                        list.join(" ")
                    ),
                )
                .with_hint(
                    "replicas entries name a Deployment, StatefulSet, ReplicaSet or \
                     ReplicationController of the build (by any name it has had)",
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    fn load(yaml: &str) -> Vec<Resource> {
        serde_yaml::Deserializer::from_str(yaml)
            .map(|d| Value::deserialize(d).unwrap())
            .filter(|v| !v.is_null())
            .map(|v| Resource::new(v, Span::file("r.yaml")))
            .collect()
    }

    fn sorted(mut values: Vec<Value>) -> Vec<Value> {
        values.sort_by_key(|v| v.to_string());
        values
    }

    /// The resources equal kubectl kustomize's output (in any order).
    fn assert_same(rs: &[Resource], expected: &str) {
        let got = sorted(rs.iter().map(|r| r.value.clone()).collect());
        let want = sorted(load(expected).into_iter().map(|r| r.value).collect());
        if got != want {
            let show = |vs: &[Value]| {
                vs.iter()
                    .map(|v| serde_yaml::to_string(v).unwrap())
                    .collect::<Vec<_>>()
                    .join("---\n")
            };
            panic!("got:\n{}\nwant:\n{}", show(&got), show(&want));
        }
    }

    fn find<'a>(rs: &'a [Resource], kind: &str, name: &str) -> &'a Resource {
        rs.iter()
            .find(|r| r.kind() == kind && r.name() == name)
            .unwrap_or_else(|| panic!("no {kind} {name}"))
    }

    fn pairs(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    const NS_INPUT: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: bar
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cr
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: crb
subjects:
- kind: ServiceAccount
  name: default
  namespace: other
- kind: ServiceAccount
  name: sa2
- kind: ServiceAccount
  name: sa3
  namespace: x
- kind: User
  name: default
- kind: Group
  name: g
roleRef:
  kind: ClusterRole
  name: cr
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: old
subjects:
- kind: ServiceAccount
  name: default
- kind: ServiceAccount
  name: sa2
  namespace: old
roleRef:
  kind: Role
  name: r
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: cr1
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.example.com
spec:
  group: example.com
  conversion:
    strategy: Webhook
    webhook:
      clientConfig:
        service:
          name: svc
          namespace: old
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.x.io
spec:
  service:
    name: s
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: vwc
webhooks:
- name: a
  clientConfig:
    service:
      name: s
      namespace: old
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mwc
webhooks:
- name: a
  clientConfig:
    service:
      name: s
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: sc
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: other
"#;

    const NS_DEFAULT_OUT: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: foo
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: sc
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.example.com
spec:
  conversion:
    strategy: Webhook
    webhook:
      clientConfig:
        service:
          name: svc
          namespace: foo
  group: example.com
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cr
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: rb
  namespace: foo
roleRef:
  kind: Role
  name: r
subjects:
- kind: ServiceAccount
  name: default
  namespace: foo
- kind: ServiceAccount
  name: sa2
  namespace: old
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: crb
roleRef:
  kind: ClusterRole
  name: cr
subjects:
- kind: ServiceAccount
  name: default
  namespace: foo
- kind: ServiceAccount
  name: sa2
- kind: ServiceAccount
  name: sa3
  namespace: x
- kind: User
  name: default
  namespace: foo
- kind: Group
  name: g
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cm
  namespace: foo
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: pv
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.x.io
spec:
  service:
    name: s
    namespace: foo
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: cr1
  namespace: foo
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: mwc
webhooks:
- clientConfig:
    service:
      name: s
  name: a
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: vwc
webhooks:
- clientConfig:
    service:
      name: s
      namespace: old
  name: a
"#;

    const NS3_INPUT: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: bars.example.com
spec:
  group: example.com
  scope: Cluster
  names:
    kind: Bar
    plural: bars
  versions:
  - name: v1
    served: true
    storage: true
---
apiVersion: example.com/v1
kind: Bar
metadata:
  name: b
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.local
spec:
  group: local
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.local2
---
apiVersion: v1
kind: Namespace
metadata:
  name: ns-a
  labels:
    x: y
"#;

    const NS3_OUT: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  labels:
    x: "y"
  name: foo
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: bars.example.com
spec:
  group: example.com
  names:
    kind: Bar
    plural: bars
  scope: Cluster
  versions:
  - name: v1
    served: true
    storage: true
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.local
spec:
  group: local
  service:
    namespace: foo
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.local2
spec:
  service:
    namespace: foo
---
apiVersion: example.com/v1
kind: Bar
metadata:
  name: b
  namespace: foo
"#;

    const PF_OUT: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: bar
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: p-sc-s
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: foos.example.com
spec:
  conversion:
    strategy: Webhook
    webhook:
      clientConfig:
        service:
          name: svc
          namespace: old
  group: example.com
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: p-cr-s
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: p-rb-s
  namespace: old
roleRef:
  kind: Role
  name: r
subjects:
- kind: ServiceAccount
  name: default
- kind: ServiceAccount
  name: sa2
  namespace: old
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata:
  name: p-crb-s
roleRef:
  kind: ClusterRole
  name: p-cr-s
subjects:
- kind: ServiceAccount
  name: default
  namespace: other
- kind: ServiceAccount
  name: sa2
- kind: ServiceAccount
  name: sa3
  namespace: x
- kind: User
  name: default
- kind: Group
  name: g
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: p-cm-s
  namespace: other
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: p-pv-s
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata:
  name: v1.x.io
spec:
  service:
    name: s
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: p-cr1-s
---
apiVersion: admissionregistration.k8s.io/v1
kind: MutatingWebhookConfiguration
metadata:
  name: p-mwc-s
webhooks:
- clientConfig:
    service:
      name: s
  name: a
---
apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: p-vwc-s
webhooks:
- clientConfig:
    service:
      name: s
      namespace: old
  name: a
"#;

    const PF2_INPUT: &str = r#"
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  ref: other
  list:
  - ref: a
  - ref: b
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: g
"#;

    const PF2_OUT: &str = r#"
apiVersion: example.com/v1
kind: Foo
metadata:
  name: p-f-s
spec:
  list:
  - ref: p-a
  - ref: p-b
  ref: p-other
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: p-g-s
spec:
  ref: p-
"#;

    const LB1_INPUT: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ss
spec:
  template:
    spec:
      containers: []
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: ss2
spec:
  volumeClaimTemplates:
  - metadata:
      name: a
  - spec: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  name: np
spec:
  podSelector: {}
  ingress:
  - from:
    - podSelector:
        matchLabels:
          a: b
    - namespaceSelector: {}
    - podSelector: {}
  - ports: []
  egress:
  - to:
    - podSelector:
        matchLabels: {}
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  labels: null
spec:
  ports: []
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cj
spec:
  schedule: x
---
apiVersion: batch/v1
kind: Job
metadata:
  name: j
spec:
  selector:
    matchLabels:
      q: r
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels:
                z: z
          - topologyKey: x
      topologySpreadConstraints:
      - labelSelector:
          matchLabels: {}
      - maxSkew: 1
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  selector:
    matchLabels: {}
  template:
    metadata: {}
"#;

    const LB1_OUT: &str = r#"
apiVersion: v1
kind: Service
metadata:
  labels:
    app: "true"
    k: "1"
  name: svc
spec:
  ports: []
  selector:
    app: "true"
    k: "1"
---
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    app: "true"
    k: "1"
  name: d
spec:
  selector:
    matchLabels:
      app: "true"
      k: "1"
  template:
    metadata:
      labels:
        app: "true"
        k: "1"
    spec:
      affinity:
        podAntiAffinity:
          requiredDuringSchedulingIgnoredDuringExecution:
          - labelSelector:
              matchLabels:
                app: "true"
                k: "1"
                z: z
          - topologyKey: x
      topologySpreadConstraints:
      - labelSelector:
          matchLabels:
            app: "true"
            k: "1"
      - maxSkew: 1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  labels:
    app: "true"
    k: "1"
  name: ss
spec:
  selector:
    matchLabels:
      app: "true"
      k: "1"
  template:
    metadata:
      labels:
        app: "true"
        k: "1"
    spec:
      containers: []
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  labels:
    app: "true"
    k: "1"
  name: ss2
spec:
  selector:
    matchLabels:
      app: "true"
      k: "1"
  template:
    metadata:
      labels:
        app: "true"
        k: "1"
  volumeClaimTemplates:
  - metadata:
      labels:
        app: "true"
        k: "1"
      name: a
  - metadata:
      labels:
        app: "true"
        k: "1"
    spec: {}
---
apiVersion: batch/v1
kind: CronJob
metadata:
  labels:
    app: "true"
    k: "1"
  name: cj
spec:
  jobTemplate:
    metadata:
      labels:
        app: "true"
        k: "1"
    spec:
      template:
        metadata:
          labels:
            app: "true"
            k: "1"
  schedule: x
---
apiVersion: batch/v1
kind: Job
metadata:
  labels:
    app: "true"
    k: "1"
  name: j
spec:
  selector:
    matchLabels:
      app: "true"
      k: "1"
      q: r
  template:
    metadata:
      labels:
        app: "true"
        k: "1"
---
apiVersion: example.com/v1
kind: Foo
metadata:
  labels:
    app: "true"
    k: "1"
  name: f
spec:
  selector:
    matchLabels: {}
  template:
    metadata: {}
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata:
  labels:
    app: "true"
    k: "1"
  name: np
spec:
  egress:
  - to:
    - podSelector:
        matchLabels:
          app: "true"
          k: "1"
  ingress:
  - from:
    - podSelector:
        matchLabels:
          a: b
          app: "true"
          k: "1"
    - namespaceSelector: {}
    - podSelector: {}
  - ports: []
  podSelector: {}
"#;

    const LB3_INPUT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec: {}
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  template:
    metadata: {}
"#;

    const LB3_OUT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  labels:
    a: x
    b: w
    c: z
  name: d
spec:
  selector:
    matchLabels:
      b: w
  template:
    metadata:
      labels:
        a: x
        b: w
    spec: {}
---
apiVersion: example.com/v1
kind: Foo
metadata:
  labels:
    a: x
    b: w
    c: z
  name: f
spec:
  template:
    metadata:
      labels:
        a: x
"#;

    const LB4_INPUT: &str = r#"
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: g
spec:
  items: ~
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: h
spec:
  items:
  - a: 1
  - ~
"#;

    const LB4_OUT: &str = r#"
apiVersion: example.com/v1
kind: Foo
metadata:
  labels:
    a: x
  name: f
spec: {}
---
apiVersion: example.com/v1
kind: Foo
metadata:
  labels:
    a: x
  name: g
spec:
  items: []
---
apiVersion: example.com/v1
kind: Foo
metadata:
  labels:
    a: x
  name: h
spec:
  items:
  - a: 1
    metadata:
      labels:
        a: x
  - null
"#;

    const AN1_INPUT: &str = r#"
apiVersion: batch/v1
kind: CronJob
metadata:
  name: cj
  annotations:
    keep: "1"
    a: old
spec:
  schedule: x
---
apiVersion: example.com/v1
kind: StatefulSet
metadata:
  name: ss
spec:
  template: {}
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: rc
spec:
  template:
    metadata:
      annotations: ~
---
apiVersion: v1
kind: Service
metadata:
  name: s
"#;

    const AN1_OUT: &str = r#"
apiVersion: v1
kind: Service
metadata:
  annotations:
    a: x
    b.io/c: "true"
  name: s
---
apiVersion: example.com/v1
kind: StatefulSet
metadata:
  annotations:
    a: x
    b.io/c: "true"
  name: ss
spec:
  template:
    metadata:
      annotations:
        a: x
        b.io/c: "true"
---
apiVersion: batch/v1
kind: CronJob
metadata:
  annotations:
    a: x
    b.io/c: "true"
    keep: "1"
  name: cj
spec:
  jobTemplate:
    metadata:
      annotations:
        a: x
        b.io/c: "true"
    spec:
      template:
        metadata:
          annotations:
            a: x
            b.io/c: "true"
  schedule: x
---
apiVersion: v1
kind: ReplicationController
metadata:
  annotations:
    a: x
    b.io/c: "true"
  name: rc
spec:
  template:
    metadata:
      annotations:
        a: x
        b.io/c: "true"
"#;

    const IM1_INPUT: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  initContainers:
  - name: i1
    image: nginx
  containers:
  - name: c1
    image: nginx:1.0
  - name: c2
    image: nginx@sha256:aaaa
  - name: c3
    image: nginx:1.0@sha256:aaaa
  - name: c4
    image: docker.io/nginx
  - name: c5
    image: nginxx
  - name: c6
    image: host:5000/app:1.0
  - name: c7
    image: host:5000/app
  - name: c8
    image: busybox:latest
  - name: c9
    image: ngin-x:2
  - name: c10
    image: other/tagged:v1
  - name: c11
    image: other/digested@sha256:bbbb
  - name: c12
    image: plain
  - name: c13
    image: suff:1.2
  - name: c14
    image: suff2
  - name: c15
    image: suff3@sha256:cccc
  - name: c16
    image: both:1
  volumes:
  - name: v
    image:
      reference: nginx:9
"#;

    const IM1_OUT: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - image: my/nginx:1.0
    name: c1
  - image: my/nginx@sha256:aaaa
    name: c2
  - image: my/nginx:1.0@sha256:aaaa
    name: c3
  - image: docker.io/nginx
    name: c4
  - image: nginxx
    name: c5
  - image: host:5000/app:2.0
    name: c6
  - image: host:5000/app:2.0
    name: c7
  - image: busybox@sha256:dddd
    name: c8
  - image: ngin-x:2
    name: c9
  - image: other/tagged:v2@sha256:eeee
    name: c10
  - image: other/digested:v3
    name: c11
  - image: new/plain:t
    name: c12
  - image: suff:1.2-debug-debug
    name: c13
  - image: suff2:-debug-debug
    name: c14
  - image: suff3:-debug-debug
    name: c15
  - image: both:2
    name: c16
  initContainers:
  - image: my/nginx
    name: i1
  volumes:
  - image:
      reference: my/nginx:9
    name: v
"#;

    const IM2_INPUT: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - name: c00
    image: "nginxx"
  - name: c01
    image: "ngin-x"
  - name: c02
    image: "nginx@sha512:aa"
  - name: c03
    image: "nginx:1.0"
  - name: c04
    image: "nginx:1.0@sha256:ab"
  - name: c05
    image: "nginx:1.0:2"
  - name: c06
    image: "host:5000/app"
  - name: c07
    image: "host:5000/app@sha256:ff"
  - name: c08
    image: "host:5000/app:3@sha256:ff"
  - name: c09
    image: "a/b:c/d:e"
  - name: c10
    image: "nginx:{{x}}"
  - name: c11
    image: "nginx:a+b"
  - name: c12
    image: "nginx@sha256:x:y"
  - name: c13
    image: "reg.io/x@sha256:aa"
  - name: c14
    image: "ngin.x"
  - name: c15
    image: "NGINX"
  - name: c16
    image: "dup:1@sha256:a@sha256:b"
  - name: c17
    image: "trailing:"
  - name: c18
    image: "at@"
  - name: c19
    image: "x/y:z"
  - name: c20
    image: "x/y"
"#;

    const IM2_OUT: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: p
spec:
  containers:
  - image: RE
    name: c00
  - image: RE
    name: c01
  - image: nginx@sha512:aa
    name: c02
  - image: NG:1.0
    name: c03
  - image: NG:1.0@sha256:ab
    name: c04
  - image: TAGGED:1.0:2
    name: c05
  - image: H
    name: c06
  - image: H@sha256:ff
    name: c07
  - image: H:3@sha256:ff
    name: c08
  - image: a/b:c/d:e
    name: c09
  - image: NG:{{x}}
    name: c10
  - image: nginx:a+b
    name: c11
  - image: nginx@sha256:x:y
    name: c12
  - image: reg.io/x:t
    name: c13
  - image: RE
    name: c14
  - image: NGINX
    name: c15
  - image: dup:1@sha256:a@sha256:b
    name: c16
  - image: T
    name: c17
  - image: at@
    name: c18
  - image: x/y:9
    name: c19
  - image: x/y:9
    name: c20
"#;

    const IM3_INPUT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        image: s:1
      volumes:
      - name: v
        image:
          reference: s:1
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  deep:
    containers:
    - name: a
      image: s:1
    - name: b
    other:
      initContainers:
      - image: s:1
  image: s:1
  volumes:
  - image:
      reference: s:1
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: c
spec:
  containers:
  - image: s:1
  x:
    containers:
    - image: s:1
"#;

    const IM3_OUT: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: c
spec:
  containers:
  - image: s:1
  x:
    containers:
    - image: s:1
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: s:1-x-x
        name: a
      volumes:
      - image:
          reference: s:1-x
        name: v
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: f
spec:
  deep:
    containers:
    - image: s:1-x
      name: a
    - name: b
    other:
      initContainers:
      - image: s:1-x
  image: s:1
  volumes:
  - image:
      reference: s:1-x
"#;

    const RP_INPUT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  replicas: 1
---
apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: d
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: d
spec:
  replicas: 1
---
apiVersion: v1
kind: ReplicationController
metadata:
  name: rc
---
apiVersion: apps/v1
kind: ReplicaSet
metadata:
  name: rs
spec:
  replicas: "3"
"#;

    #[test]
    fn default_tables_are_kustomizes() {
        let c = default_config();
        assert_eq!(c.common_labels.len(), 32);
        assert_eq!(c.template_labels.len(), 10);
        assert_eq!(c.common_annotations.len(), 9);
        assert_eq!(c.name_space.len(), 3);
        assert_eq!(c.images.len(), 6);
        assert_eq!(c.replicas.len(), 4);
        assert_eq!(c.common_labels[..22].iter().filter(|s| s.create).count(), 6);
        assert_eq!(c.common_labels[22..], c.template_labels[..]);
        assert!(c.name_reference.is_empty() && c.var_reference.is_empty());
        assert_eq!(
            c.name_prefix,
            vec![FieldSpec::new("", "", "", "metadata/name", false)]
        );
    }

    #[test]
    fn cluster_scope_is_the_embedded_schemas() {
        // Each verified with `namespace: foo` in kubectl kustomize v5.8.1.
        for (av, kind) in [
            ("v1", "Namespace"),
            ("v1", "Node"),
            ("v1", "PersistentVolume"),
            ("v1", "ComponentStatus"),
            (
                "admissionregistration.k8s.io/v1beta1",
                "MutatingWebhookConfiguration",
            ),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingWebhookConfiguration",
            ),
            ("apiextensions.k8s.io/v1beta1", "CustomResourceDefinition"),
            ("apiregistration.k8s.io/v1", "APIService"),
            ("certificates.k8s.io/v1beta1", "CertificateSigningRequest"),
            ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema"),
            ("networking.k8s.io/v1beta1", "IngressClass"),
            ("node.k8s.io/v1", "RuntimeClass"),
            ("policy/v1beta1", "PodSecurityPolicy"),
            ("rbac.authorization.k8s.io/v1beta1", "ClusterRoleBinding"),
            ("scheduling.k8s.io/v1beta1", "PriorityClass"),
            ("storage.k8s.io/v1beta1", "VolumeAttachment"),
            ("storage.k8s.io/v1", "CSINode"),
        ] {
            assert!(is_cluster_scoped(av, kind), "{av} {kind}");
        }
        for (av, kind) in [
            ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"),
            ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema"),
            ("extensions/v1beta1", "PodSecurityPolicy"),
            ("rbac.authorization.k8s.io/v1alpha1", "ClusterRole"),
            ("storage.k8s.io/v1", "VolumeAttributesClass"),
            (
                "admissionregistration.k8s.io/v1",
                "ValidatingAdmissionPolicy",
            ),
            ("resource.k8s.io/v1", "DeviceClass"),
            ("networking.k8s.io/v1", "IPAddress"),
            ("authentication.k8s.io/v1", "TokenReview"),
            ("authorization.k8s.io/v1", "SubjectAccessReview"),
            ("v1", "ClusterRole"),
            ("foo.io/v1", "Namespace"),
            ("v1", "StorageClass"),
            ("example.com/v1", "Foo"),
        ] {
            assert!(!is_cluster_scoped(av, kind), "{av} {kind}");
        }
    }

    #[test]
    fn field_spec_paths_split_like_kustomize() {
        let s = segments(r"spec/volumeClaimTemplates[]/metadata/annotations/a.io\/b");
        let names: Vec<&str> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "spec",
                "volumeClaimTemplates",
                "metadata",
                "annotations",
                "a.io/b"
            ]
        );
        assert!(s[1].seq && !s[0].seq && !s[2].seq);
    }

    #[test]
    fn namespace_with_the_default_specs() {
        let mut rs = load(NS_INPUT);
        let c = default_config();
        namespace(
            &mut rs,
            "foo",
            &c.name_space,
            false,
            SubjectMode::DefaultOnly,
        )
        .unwrap();
        assert_same(&rs, NS_DEFAULT_OUT);
        // History is kept: the ConfigMap was in `other`, the Namespace was `bar`.
        assert_eq!(
            find(&rs, "ConfigMap", "cm").original_id().namespace,
            "other"
        );
        assert_eq!(find(&rs, "Namespace", "foo").original_id().name, "bar");
    }

    #[test]
    fn namespace_subject_modes_and_unset_only() {
        // kubectl kustomize with a NamespaceTransformer (fieldSpecs: the Namespace name and the
        // APIService service), each mode with and without unsetOnly: the namespaces of the
        // RoleBinding's and ClusterRoleBinding's subjects, the ConfigMap's and RoleBinding's
        // namespace (both were set), and the Namespace's name.
        let specs = vec![
            FieldSpec::new("", "", "Namespace", "metadata/name", true),
            FieldSpec::new(
                "apiregistration.k8s.io",
                "",
                "APIService",
                "spec/service/namespace",
                true,
            ),
        ];
        let cases = [
            (
                SubjectMode::AllServiceAccounts,
                true,
                ["foo", "old"],
                ["other", "foo", "x", "", ""],
                "other",
                "old",
                "bar",
            ),
            (
                SubjectMode::AllServiceAccounts,
                false,
                ["foo", "foo"],
                ["foo", "foo", "foo", "", ""],
                "foo",
                "foo",
                "foo",
            ),
            (
                SubjectMode::None,
                true,
                ["", "old"],
                ["other", "", "x", "", ""],
                "other",
                "old",
                "bar",
            ),
            (
                SubjectMode::None,
                false,
                ["", "old"],
                ["other", "", "x", "", ""],
                "foo",
                "foo",
                "foo",
            ),
            (
                SubjectMode::DefaultOnly,
                true,
                ["foo", "old"],
                ["other", "", "x", "foo", ""],
                "other",
                "old",
                "bar",
            ),
            (
                SubjectMode::DefaultOnly,
                false,
                ["foo", "old"],
                ["foo", "", "x", "foo", ""],
                "foo",
                "foo",
                "foo",
            ),
        ];
        for (mode, unset_only, rb, crb, cm_ns, rb_ns, ns_name) in cases {
            let mut rs = load(NS_INPUT);
            namespace(&mut rs, "foo", &specs, unset_only, mode).unwrap();
            let subjects = |kind: &str| -> Vec<String> {
                let r = rs.iter().find(|r| r.kind() == kind).unwrap();
                r.value["subjects"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["namespace"].as_str().unwrap_or("").to_string())
                    .collect()
            };
            let what = format!("{mode:?} unset_only={unset_only}");
            assert_eq!(subjects("RoleBinding"), rb, "{what}");
            assert_eq!(subjects("ClusterRoleBinding"), crb, "{what}");
            assert_eq!(find(&rs, "ConfigMap", "cm").namespace(), cm_ns, "{what}");
            assert_eq!(find(&rs, "RoleBinding", "rb").namespace(), rb_ns, "{what}");
            assert!(
                rs.iter()
                    .any(|r| r.kind() == "Namespace" && r.name() == ns_name)
            );
            assert_eq!(find(&rs, "Foo", "cr1").namespace(), "foo");
        }
        assert_eq!(SubjectMode::parse("").unwrap(), SubjectMode::DefaultOnly);
        assert_eq!(
            SubjectMode::parse("allServiceAccounts").unwrap(),
            SubjectMode::AllServiceAccounts
        );
        assert!(SubjectMode::parse("all").is_err());
    }

    #[test]
    fn unset_only_fills_empty_namespaces_and_labels_overwrite() {
        // kubectl kustomize: a NamespaceTransformer with unsetOnly, and labels: [{pairs: {app: new}}].
        let mut rs = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  namespace: \"\"\n  \
             labels: {app: old, num: 5}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  \
             name: b\n  namespace: keep\n",
        );
        namespace(&mut rs, "foo", &[], true, SubjectMode::DefaultOnly).unwrap();
        let specs = label_specs(&default_config(), false, false, &[]).unwrap();
        labels(&mut rs, &pairs(&[("app", "new")]), &specs).unwrap();
        assert_eq!(rs[0].namespace(), "foo");
        assert_eq!(
            rs[0].value["metadata"]["labels"],
            json!({"app": "new", "num": 5})
        );
        assert_eq!(rs[1].namespace(), "keep");
    }

    #[test]
    fn namespace_ignores_crd_scope_and_creates_apiservice_service() {
        let mut rs = load(NS3_INPUT);
        namespace(
            &mut rs,
            "foo",
            &default_config().name_space,
            false,
            SubjectMode::DefaultOnly,
        )
        .unwrap();
        assert_same(&rs, NS3_OUT);
    }

    #[test]
    fn namespace_id_conflicts_are_errors() {
        let mut rs = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: x}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: y}\n",
        );
        let e = namespace(&mut rs, "foo", &[], false, SubjectMode::DefaultOnly).unwrap_err();
        assert!(
            e.contains("namespace transformation produces ID conflict"),
            "{e}"
        );
        // Namespaced objects without a namespace are in `default`.
        let mut rs = load(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n\
             apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a, namespace: default}\n",
        );
        assert!(namespace(&mut rs, "default", &[], true, SubjectMode::DefaultOnly).is_err());
    }

    #[test]
    fn namespace_specs_must_reach_scalars() {
        let mut rs = load("apiVersion: x/v1\nkind: Foo\nmetadata: {name: a}\nspec: {ns: {a: b}}\n");
        let specs = [FieldSpec::new("", "", "Foo", "spec/ns", false)];
        let e = namespace(&mut rs, "foo", &specs, false, SubjectMode::DefaultOnly).unwrap_err();
        assert!(e.contains("must target scalar nodes"), "{e}");
    }

    #[test]
    fn prefix_and_suffix_skip_crds_namespaces_and_apiservices() {
        let mut rs = load(NS_INPUT);
        let c = default_config();
        name_prefix(&mut rs, "p-", &c.name_prefix).unwrap();
        name_suffix(&mut rs, "-s", &c.name_suffix).unwrap();
        let names = |rs: &[Resource]| -> Vec<(String, String)> {
            let mut v: Vec<_> = rs
                .iter()
                .map(|r| (r.kind().to_string(), r.name().to_string()))
                .collect();
            v.sort();
            v
        };
        // (The oracle's output also has the ClusterRoleBinding's roleRef renamed: that is
        // the name reference transformer's work, not this one's.)
        assert_eq!(names(&rs), names(&load(PF_OUT)));
        let cm = find(&rs, "ConfigMap", "p-cm-s");
        let history: Vec<String> = cm.ids().map(|id| id.name).collect();
        assert_eq!(history, ["cm", "p-cm", "p-cm-s"]);
    }

    #[test]
    fn prefix_reaches_configured_fields_and_creates_them() {
        let mut rs = load(PF2_INPUT);
        let mut c = default_config();
        c.merge(Config {
            name_prefix: vec![
                FieldSpec::new("", "", "Foo", "spec/ref", true),
                FieldSpec::new("", "", "Foo", "spec/list/ref", false),
            ],
            ..Config::default()
        });
        prefix_suffix(&mut rs, "p-", "", &c.name_prefix).unwrap();
        name_suffix(&mut rs, "-s", &c.name_suffix).unwrap();
        assert_same(&rs, PF2_OUT);
    }

    #[test]
    fn common_labels_reach_selectors_and_templates() {
        let mut rs = load(LB1_INPUT);
        let c = default_config();
        labels(
            &mut rs,
            &pairs(&[("app", "true"), ("k", "1")]),
            &common_label_specs(&c),
        )
        .unwrap();
        assert_same(&rs, LB1_OUT);
    }

    #[test]
    fn labels_entries_build_their_specs() {
        // labels: [{pairs: {a: x}, includeTemplates, fields: [Foo spec/template/metadata/labels]},
        //          {pairs: {b: w}, includeTemplates, includeSelectors}, {pairs: {c: z}}]
        let c = default_config();
        let mut rs = load(LB3_INPUT);
        let extra = [FieldSpec::new(
            "",
            "",
            "Foo",
            "spec/template/metadata/labels",
            true,
        )];
        let s = label_specs(&c, false, true, &extra).unwrap();
        labels(&mut rs, &pairs(&[("a", "x")]), &s).unwrap();
        let s = label_specs(&c, true, true, &[]).unwrap();
        labels(&mut rs, &pairs(&[("b", "w")]), &s).unwrap();
        let s = label_specs(&c, false, false, &[]).unwrap();
        assert_eq!(s, vec![FieldSpec::new("", "", "", "metadata/labels", true)]);
        labels(&mut rs, &pairs(&[("c", "z")]), &s).unwrap();
        assert_same(&rs, LB3_OUT);

        // Both are kustomize's "failed to merge labels: conflicting fieldspecs".
        let conflict = [FieldSpec::new("", "", "", "metadata/labels", false)];
        assert!(label_specs(&c, false, false, &conflict).is_err());
        let conflict = [FieldSpec::new(
            "",
            "",
            "Deployment",
            "spec/selector/matchLabels",
            false,
        )];
        assert!(
            label_specs(&c, true, false, &conflict)
                .unwrap_err()
                .contains("conflicting fieldspecs")
        );
    }

    #[test]
    fn list_marked_segments_are_never_created() {
        let mut rs = load(LB4_INPUT);
        let specs = label_specs(
            &default_config(),
            false,
            false,
            &[FieldSpec::new(
                "",
                "",
                "Foo",
                "spec/items[]/metadata/labels",
                true,
            )],
        )
        .unwrap();
        labels(&mut rs, &pairs(&[("a", "x")]), &specs).unwrap();
        assert_same(&rs, LB4_OUT);
    }

    #[test]
    fn labels_into_scalars_or_lists_are_errors_and_nulls_are_missing() {
        let c = default_config();
        let l = pairs(&[("app", "x")]);
        for bad in ["spec: {selector: []}", "spec: 3", "spec: {selector: abc}"] {
            let mut rs = load(&format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: svc}}\n{bad}\n"
            ));
            assert!(labels(&mut rs, &l, &c.common_labels).is_err(), "{bad}");
        }
        let mut rs = load(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec:\n  template:\n    \
             spec:\n      affinity:\n        podAntiAffinity:\n          \
             requiredDuringSchedulingIgnoredDuringExecution:\n          - 3\n",
        );
        assert!(labels(&mut rs, &l, &c.common_labels).is_err());

        // Nulls: created where the spec creates (Service selector), left alone otherwise.
        let mut rs = load(
            "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec: {selector: ~}\n---\n\
             apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: np}\n\
             spec:\n  podSelector: ~\n  ingress: ~\n  egress:\n  - to:\n    - podSelector:\n        \
             matchLabels: ~\n",
        );
        labels(&mut rs, &l, &c.common_labels).unwrap();
        assert_eq!(
            find(&rs, "Service", "svc").value["spec"],
            json!({"selector": {"app": "x"}})
        );
        assert_eq!(
            find(&rs, "NetworkPolicy", "np").value["spec"],
            json!({"podSelector": null, "ingress": null,
                   "egress": [{"to": [{"podSelector": {"matchLabels": null}}]}]})
        );
    }

    #[test]
    fn common_annotations() {
        let mut rs = load(AN1_INPUT);
        let c = default_config();
        annotations(
            &mut rs,
            &pairs(&[("a", "x"), ("b.io/c", "true")]),
            &c.common_annotations,
        )
        .unwrap();
        assert_same(&rs, AN1_OUT);
        // Nothing to set: nothing created.
        let mut rs = load(AN1_INPUT);
        annotations(&mut rs, &BTreeMap::new(), &c.common_annotations).unwrap();
        assert_eq!(
            rs.iter().map(|r| r.value.clone()).collect::<Vec<_>>(),
            load(AN1_INPUT)
                .into_iter()
                .map(|r| r.value)
                .collect::<Vec<_>>()
        );
    }

    fn image(name: &str, new_name: &str, new_tag: &str, digest: &str, suffix: &str) -> Image {
        Image {
            name: name.into(),
            new_name: new_name.into(),
            new_tag: new_tag.into(),
            digest: digest.into(),
            tag_suffix: suffix.into(),
        }
    }

    #[test]
    fn images_names_tags_digests_and_suffixes() {
        let mut rs = load(IM1_INPUT);
        let list = [
            image("nginx", "my/nginx", "", "", ""),
            image("host:5000/app", "", "2.0", "", ""),
            image("busybox", "", "", "sha256:dddd", ""),
            image("ngin.-x", "regexmatched", "", "", ""),
            image("other/tagged", "", "v2", "sha256:eeee", ""),
            image("other/digested", "", "v3", "", ""),
            image("plain", "new/plain", "t", "", ""),
            image("suff", "", "", "", "-debug"),
            image("suff2", "", "", "", "-debug"),
            image("suff3", "", "", "", "-debug"),
            image("both", "", "2", "", "-x"),
        ];
        images(&mut rs, &list, &default_config().images).unwrap();
        assert_same(&rs, IM1_OUT);
    }

    #[test]
    fn image_names_are_regular_expressions() {
        let mut rs = load(IM2_INPUT);
        let list = [
            image("ngin.x", "RE", "", "", ""),
            image("nginx", "NG", "", "", ""),
            image("nginx:1.0", "TAGGED", "", "", ""),
            image("host:5000/app", "H", "", "", ""),
            image("a/b", "AB", "", "", ""),
            image("reg.io/x", "", "t", "", ""),
            image("dup", "D", "", "", ""),
            image("trailing", "T", "", "", ""),
            image("at", "AT", "", "", ""),
            image("x/y", "", "9", "", ""),
        ];
        images(&mut rs, &list, &default_config().images).unwrap();
        assert_same(&rs, IM2_OUT);

        // kustomize crashes on these; here they are errors.
        let mut rs = load(IM2_INPUT);
        let e = images(&mut rs, &[image("c++", "", "2", "", "")], &[]).unwrap_err();
        assert!(e.contains("not a valid regular expression"), "{e}");
        // Alternation is not grouped: `x|y` is `^x` or `y…$`.
        let mut rs = load(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  \
             - {image: \"x|y\"}\n  - {image: \"y\"}\n  - {image: \"a(b\"}\n",
        );
        images(&mut rs, &[image("x|y", "z", "", "", "")], &[]).unwrap();
        let got: Vec<&Value> = rs[0].value["spec"]["containers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| &c["image"])
            .collect();
        assert_eq!(got, [&json!("z"), &json!("z"), &json!("a(b")]);
    }

    #[test]
    fn images_found_twice_get_the_suffix_twice() {
        let mut rs = load(IM3_INPUT);
        images(
            &mut rs,
            &[image("s", "", "", "", "-x")],
            &default_config().images,
        )
        .unwrap();
        assert_same(&rs, IM3_OUT);
    }

    #[test]
    fn images_skip_crds_and_refuse_non_scalars() {
        // configurations: images: [{path: spec/foo}, {path: spec/bar}], newTag "2": the CRD is
        // untouched even at spec/foo; a number is no match; a container that is not a map is
        // an error.
        let mut specs = default_config().images;
        specs.push(FieldSpec::new("", "", "", "spec/foo", false));
        specs.push(FieldSpec::new("", "", "", "spec/bar", false));
        let input = "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n\
                     metadata: {name: c}\nspec:\n  foo: s:1\n  template:\n    spec:\n      \
                     containers:\n      - image: s:1\n---\napiVersion: example.com/v1\n\
                     kind: Foo\nmetadata: {name: f}\nspec:\n  foo: s:1\n  bar: 3\n  \
                     containers:\n  - image: s:1\n  - image: 5\n";
        let mut rs = load(input);
        images(&mut rs, &[image("s", "", "2", "", "")], &specs).unwrap();
        assert_eq!(rs[0].value, load(input)[0].value);
        assert_eq!(
            rs[1].value["spec"],
            json!({"foo": "s:2", "bar": 3, "containers": [{"image": "s:2"}, {"image": 5}]})
        );
        let mut rs = load(&format!("{input}  - 7\n"));
        assert!(images(&mut rs, &[image("s", "", "2", "", "")], &specs).is_err());
    }

    #[test]
    fn go_refuses_nested_repetitions() {
        for re in ["c++", "a**", "a*?*", "a{2}*", "a+{3}", "(a+)+?+"] {
            assert!(nested_repetition(re).is_some(), "{re}");
        }
        for re in [
            "a*?", "a+b*", r"a\++", "[+*]+", "a{x}*", "a(+)", "[]+]*", "x|y",
        ] {
            assert_eq!(nested_repetition(re), None, "{re}");
        }
        assert_eq!(nested_repetition("c++").as_deref(), Some("++"));
    }

    #[test]
    fn image_split() {
        assert_eq!(split_image("nginx"), ("nginx", "", ""));
        assert_eq!(split_image("nginx:1.0:2"), ("nginx", "1.0:2", ""));
        assert_eq!(split_image("host:5000/app"), ("host:5000/app", "", ""));
        assert_eq!(
            split_image("host:5000/app:3@sha256:ff"),
            ("host:5000/app", "3", "sha256:ff")
        );
        assert_eq!(
            split_image("reg.io/x@sha256:a:b"),
            ("reg.io/x", "", "sha256:a:b")
        );
        assert_eq!(split_image("trailing:"), ("trailing", "", ""));
    }

    fn replica(name: &str, count: i64) -> Replica {
        Replica {
            name: name.into(),
            count,
        }
    }

    #[test]
    fn replicas_match_any_name_the_object_had() {
        // base: namePrefix b-, overlay: namePrefix o-, replicas d: 5, b-rc: 6, o-b-rs: 7.
        let c = default_config();
        let mut rs = load(RP_INPUT);
        name_prefix(&mut rs, "b-", &c.name_prefix).unwrap();
        name_prefix(&mut rs, "o-", &c.name_prefix).unwrap();
        let mut diags = Vec::new();
        let span = Span::file("ov/kustomization.yaml");
        replicas(
            &mut rs,
            &[replica("d", 5), replica("b-rc", 6), replica("o-b-rs", 7)],
            &c.replicas,
            &span,
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        let count = |kind: &str| {
            find(
                &rs,
                kind,
                rs.iter().find(|r| r.kind() == kind).unwrap().name(),
            )
            .value["spec"]["replicas"]
                .clone()
        };
        assert_eq!(count("Deployment"), json!(5));
        assert_eq!(count("StatefulSet"), json!(5));
        assert_eq!(count("ReplicationController"), json!(6));
        // The ReplicaSet had `replicas: "3"`: kustomize writes "7", a string.
        assert_eq!(count("ReplicaSet"), json!("7"));
        // Custom kinds are not in the table.
        assert_eq!(count("Foo"), json!(1));
    }

    #[test]
    fn replicas_that_match_nothing_are_errors() {
        let c = default_config();
        let mut rs = load(RP_INPUT);
        let mut diags = Vec::new();
        let span = Span::new("kustomization.yaml", 3, 1);
        replicas(
            &mut rs,
            &[replica("nothing", 5), replica("d", 0)],
            &c.replicas,
            &span,
            &mut diags,
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(
            diags[0].message,
            "resource with name nothing does not match a config with the following GVK \
             [Deployment.[noVer].[noGrp] StatefulSet.[noVer].[noGrp] \
             ReplicaSet.[noVer].[noGrp] ReplicationController.[noVer].[noGrp]]"
        );
        assert_eq!(diags[0].span, span);
        assert_eq!(
            find(&rs, "Deployment", "d").value["spec"]["replicas"],
            json!(0)
        );
    }
}
