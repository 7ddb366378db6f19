//! Strategic merge patches, exactly as kustomize v5.8.1 applies them.
//!
//! kustomize does not use the API server's strategic merge (apimachinery's `strategicpatch`):
//! it walks the object and the patch together with kyaml's `merge2` (with
//! `ListIncreaseDirection: Prepend`), taking merge keys and strategies from the OpenAPI schema of
//! the Kubernetes v1.21.2 built-in types that kyaml embeds. This module ports that walk, quirks
//! included, onto JSON values; the schema is reduced to the fields that lead to lists with a
//! `merge` strategy ([`Ty`]). What it does, each point checked against `kubectl kustomize`
//! (v5.8.1):
//!
//! * Maps merge key by key; a patch value `null` removes the field; a scalar or a list without a
//!   merge strategy in the patch replaces the original's. Kinds the schema does not know (custom
//!   resources, `autoscaling/v2`, alpha versions, kinds newer than v1.21) have no merge keys at
//!   all: every list is replaced, even `metadata.finalizers`.
//! * A map in the patch and a scalar or list in the object (or any such mismatch) is an error:
//!   `wrong node kind: expected MappingNode but got SequenceNode: node contents: …`.
//! * Lists with a merge key (containers by `name`, env by `name`, volumeMounts by `mountPath`,
//!   …): the result holds the patch's elements first, in the patch's order (merged into the
//!   original's element of the same key), then the original's other elements in their order.
//!   A patch adding a container therefore puts it first, and a patch naming the second container
//!   moves it to the front.
//! * Lists of primitives with a merge strategy (`metadata.finalizers`, `spec.podCIDRs` of a
//!   Node) become the union, the patch's values first; duplicates collapse.
//! * Lists with two keys (container `ports` by `containerPort` and `protocol`, Service `ports` by
//!   `port` and `protocol`, `topologySpreadConstraints` by `topologyKey` and
//!   `whenUnsatisfiable`): elements whose keys agree where both are set are the same element,
//!   and then the *original's* element wins unchanged whenever the two differ in which keys they
//!   set (a patch `{containerPort: 80, name: x}` leaves `{containerPort: 80, protocol: TCP}` as it
//!   was; so does `$patch: delete` on it). Ports with the same number and different protocols are
//!   different elements.
//! * `$patch: delete` on a map removes it (on the whole patch: the object); on a list element
//!   removes the element (an element holding only `$patch: delete` removes the whole list).
//!   `$patch: replace` on a map replaces it (but at the top of the patch does nothing at all); as the only field of an element of a merge-keyed
//!   list it replaces the list. `$patch: replace` on an element that has a merge key does
//!   nothing at all (the original's element is kept). `$patch: merge` is the default. Any other
//!   value is an error `unknown patch strategy 'x'`. In lists without a merge strategy the
//!   directives are not read: the list, directive elements included, replaces the original's.
//! * `$setElementOrder/<field>`, `$deleteFromPrimitiveList/<field>` and `$retainKeys` are not
//!   understood: they are copied into the result as ordinary fields, as kustomize does.
//! * Deleting every element of a merge-keyed list leaves an empty list (`env: []`).
//!
//! The walk shares nodes between the original, the patch and the result as kyaml does (merged
//! elements are the original's nodes changed in place); several of the behaviours above follow
//! from that sharing, so it is kept: values are converted into reference-counted nodes, merged,
//! and converted back.
//!
//! Besides the unit tests below (each expected value is what `kubectl kustomize` printed), the
//! port was checked against kustomize on a few thousand random objects and patches (workloads,
//! Services, finalizers, custom resources; directives, nulls, repeated and missing keys, kind
//! mismatches) with no difference in result or error.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::sync::Arc;

use serde_json::{Map, Value};

/// Merges a strategic merge patch into an object (both as JSON). `Value::Null` means the patch
/// deleted the object (`$patch: delete` at its top).
pub fn merge(original: &Value, patch: &Value) -> Result<Value, String> {
    merge_with(original, patch, &mut Schemas::default())
}

/// [`merge`] with the schemas of a build (an `openapi: {path}` schema, if one is set).
pub fn merge_with(original: &Value, patch: &Value, schemas: &mut Schemas) -> Result<Value, String> {
    // The walk asks for the object's schema: without a custom one that loads the built-in one.
    if schemas.custom.is_none() {
        schemas.builtin = true;
    }
    let cx = Cx {
        custom: schemas.custom.as_deref(),
        builtin: schemas.builtin,
    };
    let dest = from_value(original);
    let origin = from_value(patch);
    // kustomize keeps the object it merged into (changed in place) and drops what the walk
    // returns: a `$patch: replace` at the top, which returns the patch, changes nothing.
    match walk(&cx, [Some(dest.clone()), Some(origin)], None)? {
        Some(_) => to_value(&dest, 0),
        None => Ok(Value::Null),
    }
}

// ---------------------------------------------------------------------------------------------
// Nodes: yaml.Node as kyaml uses it, shared by reference.

type N = Rc<RefCell<Node>>;

/// Cloning a node is shallow (children are shared), as copying a Go `yaml.Node` is.
#[derive(Clone, Debug)]
enum Node {
    Null,
    Scalar(Value),
    Map(Vec<(String, N)>),
    Seq(Vec<N>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Map,
    Seq,
    Scalar,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Map => "MappingNode",
            Kind::Seq => "SequenceNode",
            Kind::Scalar => "ScalarNode",
        }
    }
}

fn new(node: Node) -> N {
    Rc::new(RefCell::new(node))
}

fn from_value(v: &Value) -> N {
    new(match v {
        Value::Null => Node::Null,
        Value::Array(items) => Node::Seq(items.iter().map(from_value).collect()),
        Value::Object(map) => Node::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), from_value(v)))
                .collect(),
        ),
        other => Node::Scalar(other.clone()),
    })
}

/// Deeper than any object the YAML reader lets through; only a node that contains itself
/// (which the walk never makes) could reach it.
const MAX_DEPTH: usize = 10_000;

fn to_value(n: &N, depth: usize) -> Result<Value, String> {
    if depth > MAX_DEPTH {
        return Err("strategic merge produced a value nested too deeply".into());
    }
    Ok(match &*n.borrow() {
        Node::Null => Value::Null,
        Node::Scalar(v) => v.clone(),
        Node::Seq(items) => Value::Array(
            items
                .iter()
                .map(|i| to_value(i, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut map = Map::new();
            for (k, v) in entries {
                map.insert(k.clone(), to_value(v, depth + 1)?);
            }
            Value::Object(map)
        }
    })
}

fn kind(n: &N) -> Option<Kind> {
    match &*n.borrow() {
        Node::Null => None,
        Node::Scalar(_) => Some(Kind::Scalar),
        Node::Map(_) => Some(Kind::Map),
        Node::Seq(_) => Some(Kind::Seq),
    }
}

fn is_null(n: &N) -> bool {
    matches!(&*n.borrow(), Node::Null)
}

fn is_map(n: &N) -> bool {
    matches!(&*n.borrow(), Node::Map(_))
}

/// `yaml.IsMissingOrNull`.
fn missing_or_null(n: &Option<N>) -> bool {
    n.as_ref().is_none_or(is_null)
}

fn is_empty_map(n: &Option<N>) -> bool {
    n.as_ref()
        .is_some_and(|n| matches!(&*n.borrow(), Node::Map(e) if e.is_empty()))
}

/// A node's `Value` in Go's yaml.Node: a scalar's text, `""` for anything else.
fn text(n: &N) -> String {
    match &*n.borrow() {
        Node::Scalar(Value::String(s)) => s.clone(),
        Node::Scalar(other) => other.to_string(),
        _ => String::new(),
    }
}

/// `RNode.IsNilOrEmpty` of a field's value.
fn nil_or_empty(n: &N) -> bool {
    match &*n.borrow() {
        Node::Null => true,
        Node::Map(e) => e.is_empty(),
        Node::Seq(i) => i.is_empty(),
        Node::Scalar(_) => false,
    }
}

/// The value of a map's field (`RNode.Field`), `None` for non-maps.
fn field(n: &N, key: &str) -> Option<N> {
    match &*n.borrow() {
        Node::Map(entries) => entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.clone()),
        _ => None,
    }
}

fn items(n: &N) -> Vec<N> {
    match &*n.borrow() {
        Node::Seq(items) => items.clone(),
        _ => Vec::new(),
    }
}

fn set_items(n: &N, new_items: Vec<N>) {
    if let Node::Seq(items) = &mut *n.borrow_mut() {
        *items = new_items;
    }
}

fn push_item(n: &N, item: N) {
    if let Node::Seq(items) = &mut *n.borrow_mut() {
        items.push(item);
    }
}

fn remove_field(n: &N, key: &str) {
    if let Node::Map(entries) = &mut *n.borrow_mut()
        && let Some(i) = entries.iter().position(|(k, _)| k == key)
    {
        entries.remove(i);
    }
}

fn wrong_kind(expected: Kind, n: &N) -> String {
    let got = kind(n).map_or("ScalarNode", Kind::name);
    let contents = to_value(n, 0).map(|v| flow(&v)).unwrap_or_default();
    format!(
        "wrong node kind: expected {} but got {got}: node contents:\n{contents}",
        expected.name()
    )
}

/// A value as one line of flow-style YAML (`{a: 1, b: [x, y]}`), as kustomize shows a patch
/// written in that style.
fn flow(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => {
            let plain = !s.is_empty()
                && !matches!(
                    plain_scalar(s),
                    Value::Bool(_) | Value::Null | Value::Number(_)
                )
                && s.chars().all(|c| c.is_alphanumeric() || "-_./".contains(c));
            if plain {
                s.clone()
            } else {
                Value::String(s.clone()).to_string()
            }
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(flow).collect::<Vec<_>>().join(", ")
        ),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{}: {}", flow(&Value::String(k.clone())), flow(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// `ErrorIfInvalid`: a missing or null node passes.
fn check_kind(n: &N, expected: Kind) -> Result<(), String> {
    match kind(n) {
        None => Ok(()),
        Some(k) if k == expected => Ok(()),
        Some(_) => Err(wrong_kind(expected, n)),
    }
}

/// A plain (untagged) scalar as YAML reads it back: kyaml writes keys it restores as plain text.
fn plain_scalar(s: &str) -> Value {
    match s {
        "true" => return Value::Bool(true),
        "false" => return Value::Bool(false),
        "" | "null" | "~" => return Value::Null,
        _ => {}
    }
    if let Ok(i) = s.parse::<i64>() {
        return Value::from(i);
    }
    if s.contains('.')
        && let Ok(f) = s.parse::<f64>()
        && let Some(n) = serde_json::Number::from_f64(f)
    {
        return Value::Number(n);
    }
    Value::String(s.to_string())
}

// ---------------------------------------------------------------------------------------------
// The schema: kyaml's OpenAPI data for the built-in types, reduced to what merging reads.

/// The part of a field's OpenAPI schema the merge uses.
#[derive(Debug)]
enum Ty {
    /// A field of a known type whose schema has nothing the merge reads below it.
    Opaque,
    /// An object type: the fields that lead to lists with a merge strategy. Other fields are
    /// [`Ty::Opaque`].
    Obj(&'static [(&'static str, &'static Ty)]),
    /// A list with `x-kubernetes-patch-strategy: merge`: its merge keys
    /// (`x-kubernetes-list-map-keys` when the schema has them, else the patch merge key; none
    /// for lists of primitives) and the schema of its elements.
    List(&'static [&'static str], &'static Ty),
}

impl Ty {
    /// `ResourceSchema.Field`.
    fn field(&'static self, key: &str) -> Option<&'static Ty> {
        match self {
            Ty::Opaque => Some(&OPAQUE),
            Ty::Obj(fields) => Some(
                fields
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map_or(&OPAQUE, |f| f.1),
            ),
            Ty::List(..) => None,
        }
    }
}

static OPAQUE: Ty = Ty::Opaque;
static PRIMITIVES: Ty = Ty::List(&[], &OPAQUE);
static BY_NAME: Ty = Ty::List(&["name"], &OPAQUE);
static BY_TYPE: Ty = Ty::List(&["type"], &OPAQUE);
static STATUS_CONDITIONS: Ty = Ty::Obj(&[("conditions", &BY_TYPE)]);

static OBJECT_META: Ty = Ty::Obj(&[
    ("finalizers", &PRIMITIVES),
    ("ownerReferences", &OWNER_REFERENCES),
]);
static OWNER_REFERENCES: Ty = Ty::List(&["uid"], &OPAQUE);

static CONTAINER: Ty = Ty::Obj(&[
    ("env", &BY_NAME),
    ("ports", &CONTAINER_PORTS),
    ("volumeDevices", &VOLUME_DEVICES),
    ("volumeMounts", &VOLUME_MOUNTS),
]);
static CONTAINER_PORTS: Ty = Ty::List(&["containerPort", "protocol"], &OPAQUE);
static VOLUME_DEVICES: Ty = Ty::List(&["devicePath"], &OPAQUE);
static VOLUME_MOUNTS: Ty = Ty::List(&["mountPath"], &OPAQUE);
static CONTAINERS: Ty = Ty::List(&["name"], &CONTAINER);

static POD_SPEC: Ty = Ty::Obj(&[
    ("containers", &CONTAINERS),
    ("ephemeralContainers", &CONTAINERS),
    ("hostAliases", &HOST_ALIASES),
    ("imagePullSecrets", &BY_NAME),
    ("initContainers", &CONTAINERS),
    ("topologySpreadConstraints", &TOPOLOGY_SPREAD),
    ("volumes", &VOLUMES),
]);
static HOST_ALIASES: Ty = Ty::List(&["ip"], &OPAQUE);
static TOPOLOGY_SPREAD: Ty = Ty::List(&["topologyKey", "whenUnsatisfiable"], &OPAQUE);
static VOLUMES: Ty = Ty::List(&["name"], &VOLUME);
static VOLUME: Ty = Ty::Obj(&[("ephemeral", &EPHEMERAL_VOLUME)]);
static EPHEMERAL_VOLUME: Ty = Ty::Obj(&[("volumeClaimTemplate", &WITH_META)]);

static POD_TEMPLATE_SPEC: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("spec", &POD_SPEC)]);
static WITH_TEMPLATE: Ty = Ty::Obj(&[("template", &POD_TEMPLATE_SPEC)]);

/// Any built-in kind: only `metadata` matters.
static WITH_META: Ty = Ty::Obj(&[("metadata", &OBJECT_META)]);
static POD: Ty = Ty::Obj(&[
    ("metadata", &OBJECT_META),
    ("spec", &POD_SPEC),
    ("status", &STATUS_CONDITIONS),
]);
static POD_TEMPLATE: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("template", &POD_TEMPLATE_SPEC)]);
/// Deployment, DaemonSet, ReplicaSet, StatefulSet, Job, ReplicationController.
static WORKLOAD: Ty = Ty::Obj(&[
    ("metadata", &OBJECT_META),
    ("spec", &WITH_TEMPLATE),
    ("status", &STATUS_CONDITIONS),
]);
static CRON_JOB: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("spec", &CRON_JOB_SPEC)]);
static CRON_JOB_SPEC: Ty = Ty::Obj(&[("jobTemplate", &JOB_TEMPLATE)]);
static JOB_TEMPLATE: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("spec", &WITH_TEMPLATE)]);
static SERVICE: Ty = Ty::Obj(&[
    ("metadata", &OBJECT_META),
    ("spec", &SERVICE_SPEC),
    ("status", &STATUS_CONDITIONS),
]);
static SERVICE_SPEC: Ty = Ty::Obj(&[("ports", &SERVICE_PORTS)]);
static SERVICE_PORTS: Ty = Ty::List(&["port", "protocol"], &OPAQUE);
static SERVICE_ACCOUNT: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("secrets", &BY_NAME)]);
static NODE: Ty = Ty::Obj(&[
    ("metadata", &OBJECT_META),
    ("spec", &NODE_SPEC),
    ("status", &NODE_STATUS),
]);
static NODE_SPEC: Ty = Ty::Obj(&[("podCIDRs", &PRIMITIVES)]);
static NODE_STATUS: Ty = Ty::Obj(&[("addresses", &BY_TYPE), ("conditions", &BY_TYPE)]);
/// Namespace, PersistentVolumeClaim, APIService, PodDisruptionBudget.
static WITH_STATUS_CONDITIONS: Ty =
    Ty::Obj(&[("metadata", &OBJECT_META), ("status", &STATUS_CONDITIONS)]);
static COMPONENT_STATUS: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("conditions", &BY_TYPE)]);
static WEBHOOK_CONFIGURATION: Ty = Ty::Obj(&[("metadata", &OBJECT_META), ("webhooks", &BY_NAME)]);

/// The built-in kinds of Kubernetes v1.21.2 (beta and GA versions; alpha ones are not in the
/// schema kustomize embeds), by `apiVersion`.
const BUILTIN: &[(&str, &[&str])] = &[
    (
        "v1",
        &[
            "Binding",
            "ComponentStatus",
            "ConfigMap",
            "Endpoints",
            "Event",
            "LimitRange",
            "Namespace",
            "Node",
            "PersistentVolume",
            "PersistentVolumeClaim",
            "Pod",
            "PodTemplate",
            "ReplicationController",
            "ResourceQuota",
            "Secret",
            "Service",
            "ServiceAccount",
        ],
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
    (
        "apps/v1",
        &[
            "ControllerRevision",
            "DaemonSet",
            "Deployment",
            "ReplicaSet",
            "StatefulSet",
        ],
    ),
    ("authentication.k8s.io/v1", &["TokenRequest", "TokenReview"]),
    ("authentication.k8s.io/v1beta1", &["TokenReview"]),
    (
        "authorization.k8s.io/v1",
        &[
            "LocalSubjectAccessReview",
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
            "SubjectAccessReview",
        ],
    ),
    (
        "authorization.k8s.io/v1beta1",
        &[
            "LocalSubjectAccessReview",
            "SelfSubjectAccessReview",
            "SelfSubjectRulesReview",
            "SubjectAccessReview",
        ],
    ),
    ("autoscaling/v1", &["HorizontalPodAutoscaler", "Scale"]),
    ("autoscaling/v2beta1", &["HorizontalPodAutoscaler"]),
    ("autoscaling/v2beta2", &["HorizontalPodAutoscaler"]),
    ("batch/v1", &["CronJob", "Job"]),
    ("batch/v1beta1", &["CronJob"]),
    ("certificates.k8s.io/v1", &["CertificateSigningRequest"]),
    (
        "certificates.k8s.io/v1beta1",
        &["CertificateSigningRequest"],
    ),
    ("coordination.k8s.io/v1", &["Lease"]),
    ("coordination.k8s.io/v1beta1", &["Lease"]),
    ("discovery.k8s.io/v1", &["EndpointSlice"]),
    ("discovery.k8s.io/v1beta1", &["EndpointSlice"]),
    ("events.k8s.io/v1", &["Event"]),
    ("events.k8s.io/v1beta1", &["Event"]),
    ("extensions/v1beta1", &["Ingress"]),
    (
        "flowcontrol.apiserver.k8s.io/v1beta1",
        &["FlowSchema", "PriorityLevelConfiguration"],
    ),
    (
        "networking.k8s.io/v1",
        &["Ingress", "IngressClass", "NetworkPolicy"],
    ),
    ("networking.k8s.io/v1beta1", &["Ingress", "IngressClass"]),
    ("node.k8s.io/v1", &["RuntimeClass"]),
    ("node.k8s.io/v1beta1", &["RuntimeClass"]),
    ("policy/v1", &["PodDisruptionBudget"]),
    (
        "policy/v1beta1",
        &["Eviction", "PodDisruptionBudget", "PodSecurityPolicy"],
    ),
    (
        "rbac.authorization.k8s.io/v1",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
    ),
    (
        "rbac.authorization.k8s.io/v1beta1",
        &["ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding"],
    ),
    ("scheduling.k8s.io/v1", &["PriorityClass"]),
    ("scheduling.k8s.io/v1beta1", &["PriorityClass"]),
    (
        "storage.k8s.io/v1",
        &["CSIDriver", "CSINode", "StorageClass", "VolumeAttachment"],
    ),
    (
        "storage.k8s.io/v1beta1",
        &[
            "CSIDriver",
            "CSINode",
            "CSIStorageCapacity",
            "StorageClass",
            "VolumeAttachment",
        ],
    ),
];

/// `openapi.SchemaForResourceType`: the schema of a built-in kind, `None` for anything else.
fn schema_for(api_version: &str, kind: &str) -> Option<&'static Ty> {
    let known = BUILTIN
        .iter()
        .any(|(av, kinds)| *av == api_version && kinds.contains(&kind));
    if !known {
        return None;
    }
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    Some(match (group, kind) {
        ("", "Pod") => &POD,
        ("", "PodTemplate") => &POD_TEMPLATE,
        ("", "ReplicationController")
        | ("apps", "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet")
        | ("batch", "Job") => &WORKLOAD,
        ("batch", "CronJob") => &CRON_JOB,
        ("", "Service") => &SERVICE,
        ("", "ServiceAccount") => &SERVICE_ACCOUNT,
        ("", "Node") => &NODE,
        ("", "ComponentStatus") => &COMPONENT_STATUS,
        ("", "Namespace" | "PersistentVolumeClaim")
        | ("apiregistration.k8s.io", "APIService")
        | ("policy", "PodDisruptionBudget") => &WITH_STATUS_CONDITIONS,
        ("admissionregistration.k8s.io", _) => &WEBHOOK_CONFIGURATION,
        _ => &WITH_META,
    })
}

// ---------------------------------------------------------------------------------------------
// Custom schemas: `openapi: {path: FILE}`.

/// The schemas a build's merges consult: kustomize's process-wide OpenAPI state. A custom schema
/// replaces the built-in one, except when a merge already ran before it was set (kustomize loads
/// the built-in schema at its first use, and a custom one set later is added on top of it).
#[derive(Debug, Default, Clone)]
pub struct Schemas {
    custom: Option<Arc<OpenApi>>,
    builtin: bool,
}

impl Schemas {
    /// Sets the custom schema (`openapi.SetSchema` with a file).
    pub fn set_custom(&mut self, schema: OpenApi) {
        self.custom = Some(Arc::new(schema));
    }
    pub fn has_custom(&self) -> bool {
        self.custom.is_some()
    }
}

/// How many `$ref`s one lookup follows; kyaml follows a cycle of references forever.
const MAX_REFS: usize = 64;

/// A parsed OpenAPI (swagger 2.0) document: its `definitions`, and those with
/// `x-kubernetes-group-version-kind` by `apiVersion` and `kind`. Schemas are read as kyaml reads
/// them: `properties`, `additionalProperties`, `items` (of a `type: array`), `$ref`
/// (`#/definitions/…`), `x-kubernetes-patch-strategy` (a list merges when it holds `merge`),
/// `x-kubernetes-list-map-keys` or else `x-kubernetes-patch-merge-key`.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenApi {
    /// `{"definitions": …}`: what `$ref` pointers resolve against.
    root: Value,
    /// (apiVersion, kind) → definition name.
    by_gvk: BTreeMap<(String, String), String>,
}

impl OpenApi {
    /// Parses a schema file's text (JSON or YAML).
    pub fn parse(text: &str) -> Result<OpenApi, String> {
        let doc: Value = crate::yaml::load(text)
            .map_err(|(line, column, m)| format!("invalid JSON or YAML at {line}:{column}: {m}"))?;
        let Value::Object(doc) = doc else {
            return Err("the schema must be a mapping (an OpenAPI document)".into());
        };
        let defs = match doc.get("definitions") {
            None | Some(Value::Null) => Map::new(),
            Some(Value::Object(d)) => d.clone(),
            Some(_) => return Err("`definitions` must be a mapping of names to schemas".into()),
        };
        let mut by_gvk = BTreeMap::new();
        for (name, def) in &defs {
            check_schema(def, 0).map_err(|e| format!("definition {name}: {e}"))?;
            let Some(Value::Array(gvks)) = def.get("x-kubernetes-group-version-kind") else {
                continue;
            };
            for gvk in gvks.iter().filter_map(Value::as_object) {
                let text = |key: &str, optional: bool| match gvk.get(key) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    None if optional => Ok(String::new()),
                    _ => Err(format!(
                        "definition {name}: x-kubernetes-group-version-kind `{key}` must be a string"
                    )),
                };
                let (group, version, kind) = (
                    text("group", true)?,
                    text("version", false)?,
                    text("kind", false)?,
                );
                let api_version = if group.is_empty() {
                    version
                } else {
                    format!("{group}/{version}")
                };
                by_gvk.insert((api_version, kind), name.clone());
            }
        }
        let mut root = Map::new();
        root.insert("definitions".into(), Value::Object(defs));
        Ok(OpenApi {
            root: Value::Object(root),
            by_gvk,
        })
    }

    /// The schema of a kind the document names, `None` for others.
    fn kind(&self, api_version: &str, kind: &str) -> Option<&Value> {
        let name = self
            .by_gvk
            .get(&(api_version.to_string(), kind.to_string()))?;
        self.root["definitions"].get(name)
    }

    /// A schema with its `$ref`s followed; `None` when one does not resolve.
    fn resolve<'a>(&'a self, mut s: &'a Value) -> Option<&'a Value> {
        for _ in 0..MAX_REFS {
            let Some(r) = s
                .get("$ref")
                .and_then(Value::as_str)
                .filter(|r| !r.is_empty())
            else {
                return Some(s);
            };
            let pointer = r.strip_prefix('#')?;
            if !pointer.starts_with("/definitions/") {
                return None;
            }
            s = self.root.pointer(pointer)?;
        }
        None
    }
}

/// What kyaml's OpenAPI reader would refuse (it panics on them): the parts the merge reads, of
/// the wrong type.
fn check_schema(s: &Value, depth: usize) -> Result<(), String> {
    if depth > 200 {
        return Err("the schema is nested too deeply".into());
    }
    let Some(map) = s.as_object() else {
        return Err("a schema must be a mapping".into());
    };
    let strings = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(Value::is_string));
    for (key, v) in map {
        let ok = match key.as_str() {
            "properties" => match v.as_object() {
                Some(props) => {
                    for p in props.values() {
                        check_schema(p, depth + 1)?;
                    }
                    true
                }
                None => false,
            },
            "additionalProperties" => match v {
                Value::Bool(_) => true,
                other => {
                    check_schema(other, depth + 1)?;
                    true
                }
            },
            "items" => match v {
                Value::Array(list) => {
                    for i in list {
                        check_schema(i, depth + 1)?;
                    }
                    true
                }
                other => {
                    check_schema(other, depth + 1)?;
                    true
                }
            },
            "type" => v.is_string() || strings(v),
            "$ref" | "x-kubernetes-patch-strategy" | "x-kubernetes-patch-merge-key" => {
                v.is_string()
            }
            "x-kubernetes-list-map-keys" => strings(v),
            _ => true,
        };
        if !ok {
            return Err(format!("`{key}` has the wrong type"));
        }
    }
    Ok(())
}

/// A schema during the walk: a node of the built-in table or of the custom document.
#[derive(Clone, Copy, Debug)]
enum S<'a> {
    Static(&'static Ty),
    Custom(&'a OpenApi, &'a Value),
}

impl<'a> S<'a> {
    /// `ResourceSchema.Field`.
    fn field(self, key: &str) -> Option<S<'a>> {
        match self {
            S::Static(t) => t.field(key).map(S::Static),
            S::Custom(api, s) => {
                let sub = s
                    .get("properties")
                    .and_then(|p| p.get(key))
                    .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()))?;
                api.resolve(sub).map(|v| S::Custom(api, v))
            }
        }
    }

    /// For a list with a merge strategy: its merge keys and the schema of its elements
    /// (`ResourceSchema.Elements`).
    fn merge_list(self) -> Option<(Vec<String>, Option<S<'a>>)> {
        match self {
            S::Static(Ty::List(keys, elements)) => Some((
                keys.iter().map(|k| k.to_string()).collect(),
                Some(S::Static(elements)),
            )),
            S::Static(_) => None,
            S::Custom(api, s) => {
                let strategy = s.get("x-kubernetes-patch-strategy")?.as_str()?;
                if !strategy.split(',').any(|p| p == "merge") {
                    return None;
                }
                let keys = match (
                    s.get("x-kubernetes-list-map-keys")
                        .and_then(Value::as_array),
                    s.get("x-kubernetes-patch-merge-key")
                        .and_then(Value::as_str),
                ) {
                    (Some(list), _) => list
                        .iter()
                        .filter_map(Value::as_str)
                        .map(str::to_string)
                        .collect(),
                    (None, Some(key)) => vec![key.to_string()],
                    (None, None) => Vec::new(),
                };
                let array = match s.get("type") {
                    Some(Value::String(t)) => t == "array",
                    Some(Value::Array(t)) => t.len() == 1 && t[0] == "array",
                    _ => false,
                };
                let elements = s
                    .get("items")
                    .filter(|i| array && i.is_object())
                    .and_then(|i| api.resolve(i))
                    .map(|v| S::Custom(api, v));
                Some((keys, elements))
            }
        }
    }
}

/// The schemas one merge consults.
struct Cx<'a> {
    custom: Option<&'a OpenApi>,
    /// Whether the built-in schema is loaded (always, without a custom one).
    builtin: bool,
}

impl<'a> Cx<'a> {
    /// `openapi.SchemaForResourceType`.
    fn lookup(&self, api_version: &str, kind: &str) -> Option<S<'a>> {
        if let Some(api) = self.custom {
            if let Some(s) = api.kind(api_version, kind) {
                return Some(S::Custom(api, s));
            }
            if !self.builtin {
                return None;
            }
        }
        schema_for(api_version, kind).map(S::Static)
    }
}

/// `Walker.GetSchema` when the parent gave none: the first source that names a built-in
/// `apiVersion` and `kind` (an object embedded in a custom resource is merged with its schema).
fn schema_of_sources<'a>(cx: &Cx<'a>, sources: &[Option<N>; 2]) -> Option<S<'a>> {
    sources.iter().flatten().find_map(|n| {
        let av = field(n, "apiVersion")?;
        let k = field(n, "kind")?;
        let (av, k) = (av.borrow(), k.borrow());
        match (&*av, &*k) {
            (Node::Scalar(Value::String(av)), Node::Scalar(Value::String(k))) => cx.lookup(av, k),
            _ => None,
        }
    })
}

// ---------------------------------------------------------------------------------------------
// The walk (kyaml `walk.Walker` with the `merge2.Merger` visitor). Sources are `[dest, origin]`:
// the object and the patch.

type Sources = [Option<N>; 2];

fn walk<'a>(cx: &Cx<'a>, mut sources: Sources, schema: Option<S<'a>>) -> Result<Option<N>, String> {
    let schema = schema.or_else(|| schema_of_sources(cx, &sources));
    let first = sources
        .iter()
        .flatten()
        .find(|n| !is_null(n))
        .and_then(kind);
    match first {
        Some(k) => {
            for n in sources.iter().flatten() {
                check_kind(n, k)?;
            }
            match k {
                Kind::Map => walk_map(cx, &mut sources, schema),
                Kind::Seq => match schema.and_then(S::merge_list) {
                    Some((keys, elements)) => walk_assoc(cx, &mut sources, keys, elements),
                    None => Ok(match &sources[1] {
                        Some(origin) => Some(origin.clone()),
                        None => sources[0].clone(),
                    }),
                },
                Kind::Scalar => Ok(match &sources[1] {
                    Some(origin) => Some(origin.clone()),
                    None => sources[0].clone(),
                }),
            }
        }
        None => walk_map(cx, &mut sources, schema),
    }
}

fn walk_map<'a>(
    cx: &Cx<'a>,
    sources: &mut Sources,
    schema: Option<S<'a>>,
) -> Result<Option<N>, String> {
    let dest = visit_map(sources)?;
    sources[0] = dest.clone();
    let Some(dest) = dest else { return Ok(None) };
    let mut names = BTreeSet::new();
    for n in sources.iter().flatten() {
        if let Node::Map(entries) = &*n.borrow() {
            names.extend(entries.iter().map(|(k, _)| k.clone()));
        }
    }
    for key in names {
        let s = schema.and_then(|t| t.field(&key));
        let values = [
            sources[0].as_ref().and_then(|n| field(n, &key)),
            sources[1].as_ref().and_then(|n| field(n, &key)),
        ];
        let val = walk(cx, values, s)?;
        set_field(&dest, &key, val);
    }
    Ok(Some(dest))
}

/// `yaml.FieldSetter`: null or nothing removes the field; an existing field takes the value's
/// content (its node stays where it is); a new field is appended.
fn set_field(dest: &N, key: &str, val: Option<N>) {
    let Some(val) = val.filter(|v| !is_null(v)) else {
        remove_field(dest, key);
        return;
    };
    match field(dest, key) {
        Some(existing) => {
            if !Rc::ptr_eq(&existing, &val) {
                let content = val.borrow().clone();
                *existing.borrow_mut() = content;
            }
        }
        None => {
            if let Node::Map(entries) = &mut *dest.borrow_mut() {
                entries.push((key.to_string(), val));
            }
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Directive {
    Merge,
    Replace,
    Delete,
}

const DIRECTIVE: &str = "$patch";

/// `determineSmpDirective`: reads (and removes) a `$patch` directive.
fn directive(patch: &Option<N>) -> Result<Directive, String> {
    let Some(patch) = patch else {
        return Ok(Directive::Merge);
    };
    match kind(patch) {
        Some(Kind::Map) => {
            let Some(v) = field(patch, DIRECTIVE) else {
                return Ok(Directive::Merge);
            };
            let d = parse_directive(&text(&v))?;
            remove_field(patch, DIRECTIVE);
            Ok(d)
        }
        Some(Kind::Seq) => {
            // The first element with a `$patch` field; an element with other fields too holds
            // a directive for itself, not for the list.
            let Some(elem) = items(patch)
                .into_iter()
                .find(|e| is_map(e) && field(e, DIRECTIVE).is_some())
            else {
                return Ok(Directive::Merge);
            };
            if matches!(&*elem.borrow(), Node::Map(e) if e.len() > 1) {
                return Ok(Directive::Merge);
            }
            let v = field(&elem, DIRECTIVE)
                .map(|v| text(&v))
                .unwrap_or_default();
            let d = parse_directive(&v)?;
            element_setter(patch, None, &[DIRECTIVE.to_string()], &[v])?;
            Ok(d)
        }
        _ => Err("no implemented strategic merge patch strategy for a scalar".into()),
    }
}

fn parse_directive(v: &str) -> Result<Directive, String> {
    match v {
        "delete" => Ok(Directive::Delete),
        "replace" => Ok(Directive::Replace),
        "merge" => Ok(Directive::Merge),
        other => Err(format!("unknown patch strategy '{other}'")),
    }
}

fn visit_map(sources: &Sources) -> Result<Option<N>, String> {
    let [dest, origin] = sources;
    if missing_or_null(dest) {
        // kyaml ignores a bad directive here (the patch adds the map as it is).
        if directive(origin).ok() == Some(Directive::Delete) {
            return Ok(None);
        }
        return Ok(origin.clone());
    }
    if origin.as_ref().is_some_and(is_null) {
        return Ok(None);
    }
    Ok(match directive(origin)? {
        Directive::Delete => None,
        Directive::Replace => origin.clone(),
        Directive::Merge => dest.clone(),
    })
}

/// `Merger.VisitList` for a list with a merge strategy.
fn visit_assoc_list(sources: &Sources) -> Result<Option<N>, String> {
    let [dest, origin] = sources;
    if missing_or_null(dest) {
        return Ok(origin.clone());
    }
    if origin.as_ref().is_some_and(is_null) {
        return Ok(None);
    }
    Ok(match directive(origin)? {
        Directive::Delete => None,
        Directive::Replace => origin.clone(),
        Directive::Merge => dest.clone(),
    })
}

fn walk_assoc<'a>(
    cx: &Cx<'a>,
    sources: &mut Sources,
    keys: Vec<String>,
    elements: Option<S<'a>>,
) -> Result<Option<N>, String> {
    let dest = visit_assoc_list(sources)?;
    sources[0] = dest.clone();
    let Some(dest) = dest else { return Ok(None) };
    let values = element_values(sources, &keys);
    if !values.is_empty() || !keys.is_empty() {
        return set_assoc(cx, sources, values, &keys, dest, elements);
    }
    set_assoc(
        cx,
        sources,
        element_primitive_values(sources),
        &[String::new()],
        dest,
        elements,
    )
}

/// The sources in the order their elements are visited: the patch first (prepend).
fn patch_first(sources: &Sources) -> impl Iterator<Item = &N> {
    [&sources[1], &sources[0]].into_iter().flatten()
}

/// `elementValues`: every element's merge key values, patch first, without repeats.
fn element_values(sources: &Sources, keys: &[String]) -> Vec<Vec<String>> {
    let mut out: Vec<Vec<String>> = Vec::new();
    for src in patch_first(sources) {
        for elem in items(src) {
            let tuple: Vec<String> = keys
                .iter()
                .map(|k| match field(&elem, k) {
                    Some(v) if !nil_or_empty(&v) => text(&v),
                    _ => String::new(),
                })
                .collect();
            if tuple.is_empty() || out.contains(&tuple) {
                continue;
            }
            out.push(tuple);
        }
    }
    out
}

/// `elementPrimitiveValues`: the values of a list of primitives, patch first, without repeats.
fn element_primitive_values(sources: &Sources) -> Vec<Vec<String>> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for src in patch_first(sources) {
        for elem in items(src) {
            let v = text(&elem);
            if seen.insert(v.clone()) {
                out.push(vec![v]);
            }
        }
    }
    out
}

/// `mergeValues`: key tuples that agree wherever both are set become the same tuple (the union).
fn merge_values(list: &mut [Vec<String>]) {
    for i in 0..list.len() {
        let v1 = list[i].clone();
        for j in 0..list.len() {
            if let Some(res) = match_values(&v1, &list[j]) {
                list[i] = res.clone();
                list[j] = res;
            }
        }
    }
}

fn match_values(a: &[String], b: &[String]) -> Option<Vec<String>> {
    if a.len() != b.len() {
        return None;
    }
    let mut common = false;
    let mut res = Vec::with_capacity(a.len());
    for (x, y) in a.iter().zip(b) {
        if x == y {
            common = true;
            res.push(x.clone());
        } else if !x.is_empty() && !y.is_empty() {
            return None;
        } else if !x.is_empty() {
            res.push(x.clone());
        } else {
            res.push(y.clone());
        }
    }
    common.then_some(res)
}

/// `validateKeys`: the keys any of the tuples sets, and this tuple's values for them.
fn validate_keys(
    list: &[Vec<String>],
    values: &[String],
    keys: &[String],
) -> (Vec<String>, Vec<String>) {
    let mut set = BTreeSet::new();
    for tuple in list {
        for (i, v) in tuple.iter().enumerate() {
            if !v.is_empty()
                && let Some(k) = keys.get(i)
            {
                set.insert(k.clone());
            }
        }
    }
    if set.is_empty() {
        return (keys.to_vec(), values.to_vec());
    }
    let valid_keys = keys.iter().filter(|k| set.contains(*k)).cloned().collect();
    let valid_values = values
        .iter()
        .enumerate()
        .filter(|(i, v)| !v.is_empty() || keys.get(*i).is_some_and(|k| set.contains(k)))
        .map(|(_, v)| v.clone())
        .collect();
    (valid_keys, valid_values)
}

/// `elementValueList`: each source's element with these key values.
fn element_value_list(sources: &Sources, keys: &[String], values: &[String]) -> Sources {
    let (keys, values) = validate_keys(&[values.to_vec()], values, keys);
    [
        sources[0]
            .as_ref()
            .and_then(|s| element_list(s, &keys, &values)),
        sources[1]
            .as_ref()
            .and_then(|s| element_list(s, &keys, &values)),
    ]
}

/// `setAssociativeSequenceElements`.
fn set_assoc<'a>(
    cx: &Cx<'a>,
    sources: &Sources,
    mut list: Vec<Vec<String>>,
    keys: &[String],
    dest: N,
    elements: Option<S<'a>>,
) -> Result<Option<N>, String> {
    let added = new(Node::Seq(Vec::new()));
    if keys.len() > 1 {
        merge_values(&mut list);
    }
    let mut valid_keys = Vec::new();
    for values in &list {
        if values.is_empty() {
            continue;
        }
        let valid_values;
        (valid_keys, valid_values) = validate_keys(&list, values, keys);
        let val = walk(
            cx,
            element_value_list(sources, &valid_keys, &valid_values),
            elements,
        )?;
        let mut deleted = false;
        for (i, key) in valid_keys.iter().enumerate() {
            if missing_or_null(&val) || is_empty_map(&val) {
                element_setter(&dest, None, &valid_keys, &valid_values)?;
                deleted = true;
            } else if let Some(v) = &val {
                let value = valid_values.get(i).cloned().unwrap_or_default();
                if field(v, key).is_none() && !value.is_empty() {
                    restore_key(v, key, &value)?;
                }
            }
        }
        if deleted {
            continue;
        }
        element_setter(&added, val, &valid_keys, &valid_values)?;
    }
    if list.is_empty() {
        return Ok(Some(dest));
    }
    Ok(Some(append_list_node(&added, &dest, &valid_keys)?))
}

/// `val.Pipe(yaml.SetField(key, yaml.NewScalarRNode(value)))`.
fn restore_key(val: &N, key: &str, value: &str) -> Result<(), String> {
    if key.is_empty() {
        // A primitive: kyaml sets the scalar to its own text.
        return check_kind(val, Kind::Scalar);
    }
    check_kind(val, Kind::Map)?;
    set_field(val, key, Some(new(Node::Scalar(plain_scalar(value)))));
    Ok(())
}

/// `appendListNode(dst, src, keys)`: the original's elements (`src`) set into the result.
fn append_list_node(dst: &N, src: &N, keys: &[String]) -> Result<N, String> {
    for elem in items(src) {
        if keys.first().is_none_or(|k| k.is_empty()) {
            let value = text(&elem);
            element_setter(dst, Some(elem), &[String::new()], &[value])?;
            continue;
        }
        let mut values = Vec::new();
        for key in keys {
            match field_matcher(&elem, key, "")? {
                // An element without the key is appended as it is.
                None => push_item(dst, elem.clone()),
                Some(v) => values.push(text(&v)),
            }
        }
        if keys.len() > 1 {
            element_setter(dst, None, keys, &values)?;
        }
        element_setter(dst, Some(elem), keys, &values)?;
    }
    Ok(dst.clone())
}

/// `yaml.FieldMatcher{Name, StringValue}`: the field's value when the field exists and (for a
/// non-empty `value`) holds that text. An empty name matches a scalar by its text.
fn field_matcher(elem: &N, name: &str, value: &str) -> Result<Option<N>, String> {
    if is_null(elem) {
        return Ok(None);
    }
    if name.is_empty() {
        check_kind(elem, Kind::Scalar)?;
        return Ok((text(elem) == value).then(|| elem.clone()));
    }
    check_kind(elem, Kind::Map)?;
    Ok(field(elem, name).filter(|v| value.is_empty() || text(v) == value))
}

/// `RNode.ElementList`: the first element whose keys hold exactly these values (errors mean no
/// element, as in kyaml).
fn element_list(list: &N, keys: &[String], values: &[String]) -> Option<N> {
    if kind(list) != Some(Kind::Seq) {
        return None;
    }
    let empty = [String::new()];
    let keys = if keys.is_empty() { &empty[..] } else { keys };
    let values = if values.is_empty() {
        &empty[..]
    } else {
        values
    };
    let elems = items(list);
    if keys[0].is_empty() {
        return elems.into_iter().find(|e| text(e) == values[0]);
    }
    for elem in elems {
        if !is_map(&elem) {
            continue;
        }
        if keys.len() != values.len() {
            return None;
        }
        let all = keys
            .iter()
            .zip(values)
            .all(|(k, v)| field(&elem, k).is_some_and(|f| text(&f) == *v));
        if all {
            return Some(elem);
        }
    }
    None
}

/// `yaml.ElementSetter`: replaces the elements matching the key values with `element` (removes
/// them when it is `None`), appending it when none matched. Null and empty-map elements are
/// dropped on the way; when `values` is empty, so is every element that does not match.
fn element_setter(
    list: &N,
    element: Option<N>,
    keys: &[String],
    values: &[String],
) -> Result<Option<N>, String> {
    let empty = [String::new()];
    let keys = if keys.is_empty() { &empty[..] } else { keys };
    if kind(list) != Some(Kind::Seq) {
        return Err(wrong_kind(Kind::Seq, list));
    }
    let mapping_setter = !keys[0].is_empty() && values.first().is_some_and(|v| !v.is_empty());
    let mut kept = Vec::new();
    let mut matched = false;
    for elem in items(list) {
        if is_null(&elem) || is_empty_map(&Some(elem.clone())) {
            continue;
        }
        if !is_map(&elem) && mapping_setter {
            kept.push(elem);
            continue;
        }
        let mut found = true;
        let mut val = None;
        for (j, key) in keys.iter().enumerate() {
            if let Some(v) = values.get(j) {
                val = field_matcher(&elem, key, v)?;
            }
            if val.is_none() {
                found = false;
                break;
            }
        }
        if !found {
            if !values.is_empty() {
                kept.push(elem);
            }
            continue;
        }
        matched = true;
        if let Some(e) = &element {
            kept.push(e.clone());
        }
    }
    set_items(list, kept);
    let Some(element) = element.filter(|e| !is_null(e)) else {
        return Ok(None);
    };
    if !matched {
        push_item(list, element.clone());
    }
    Ok(Some(element))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    /// `want` is what `kubectl kustomize` (v5.8.1) printed for the object with this patch.
    fn check(original: &str, patch: &str, want: &str) {
        assert_eq!(merge(&yaml(original), &yaml(patch)).unwrap(), yaml(want));
    }

    /// `want` is kustomize's message (kustomize prints the offending node in the patch's own
    /// YAML style; these patches are written in flow style, which is how it is shown here).
    fn check_err(original: &str, patch: &str, want: &str) {
        assert_eq!(merge(&yaml(original), &yaml(patch)).unwrap_err(), want);
    }

    /// A merge-keyed list: the patch's elements first, in its order, then the original's others.
    #[test]
    fn patched_and_new_containers_come_first() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: new, image: n}
      - {name: b, image: b2}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: n
        name: new
      - image: b2
        name: b
      - image: a
        name: a
      - image: c
        name: c
"#,
        );
    }

    /// env by name: patched values, `$patch: delete` on an element, untouched ones after.
    #[test]
    fn env_merges_by_name_and_deletes() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        env: [{name: X, value: '1'}, {name: Y, value: '2'}, {name: Z, value: '3'}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        env: [{name: Z, value: '33'}, {name: X, $patch: delete}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - env:
        - name: Z
          value: '33'
        - name: Y
          value: '2'
        name: a
"#,
        );
    }

    /// Deleting the only element of a merge-keyed list leaves `[]`.
    #[test]
    fn deleting_every_element_leaves_an_empty_list() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        env: [{name: X, value: '1'}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        env: [{name: X, $patch: delete}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - env: []
        name: a
"#,
        );
    }

    /// args, tolerations: no merge strategy, the patch's list replaces.
    #[test]
    fn lists_without_merge_key_are_replaced() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      tolerations: [{key: k1, operator: Exists}]
      containers:
      - {name: a, args: [x, y]}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      tolerations: [{key: k2, operator: Exists}]
      containers:
      - {name: a, args: [z]}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - args:
        - z
        name: a
      tolerations:
      - key: k2
        operator: Exists
"#,
        );
    }

    /// volumes by name, volumeMounts by mountPath, volumeDevices by devicePath.
    #[test]
    fn volumes_and_mounts_merge() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      volumes: [{name: v1, emptyDir: {}}, {name: v2, configMap: {name: c}}]
      containers:
      - name: a
        volumeMounts: [{mountPath: /a, name: v1}, {mountPath: /b, name: v2}]
        volumeDevices: [{devicePath: /dev/a, name: v1}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      volumes: [{name: v2, configMap: {name: c2}}, {name: v3, secret: {secretName: s}}]
      containers:
      - name: a
        volumeMounts: [{mountPath: /b, readOnly: true}, {mountPath: /c, name: v3}]
        volumeDevices: [{devicePath: /dev/b, name: v2}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        volumeDevices:
        - devicePath: /dev/b
          name: v2
        - devicePath: /dev/a
          name: v1
        volumeMounts:
        - mountPath: /b
          name: v2
          readOnly: true
        - mountPath: /c
          name: v3
        - mountPath: /a
          name: v1
      volumes:
      - configMap:
          name: c2
        name: v2
      - name: v3
        secret:
          secretName: s
      - emptyDir: {}
        name: v1
"#,
        );
    }

    /// initContainers, imagePullSecrets, hostAliases (by ip) in a CronJob's job template.
    #[test]
    fn pod_spec_lists_of_every_workload() {
        check(
            r#"apiVersion: batch/v1
kind: CronJob
metadata: {name: d}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: i, image: i}]
          imagePullSecrets: [{name: s1}]
          hostAliases: [{ip: 1.2.3.4, hostnames: [a]}]
"#,
            r#"apiVersion: batch/v1
kind: CronJob
metadata: {name: d}
spec:
  jobTemplate:
    spec:
      template:
        spec:
          initContainers: [{name: i, image: i2}]
          imagePullSecrets: [{name: s2}]
          hostAliases: [{ip: 1.2.3.4, hostnames: [b]}, {ip: 5.6.7.8, hostnames: [c]}]
"#,
            r#"apiVersion: batch/v1
kind: CronJob
metadata:
  name: d
spec:
  jobTemplate:
    spec:
      template:
        spec:
          hostAliases:
          - hostnames:
            - b
            ip: 1.2.3.4
          - hostnames:
            - c
            ip: 5.6.7.8
          imagePullSecrets:
          - name: s2
          - name: s1
          initContainers:
          - image: i2
            name: i
"#,
        );
    }

    /// The pod template of other workloads merges the same way.
    #[test]
    fn statefulset_daemonset_job_podtemplate_pod() {
        check(
            r#"apiVersion: v1
kind: PodTemplate
metadata: {name: d}
template:
  spec:
    containers: [{name: a, image: a}, {name: b, image: b}]
"#,
            r#"apiVersion: v1
kind: PodTemplate
metadata: {name: d}
template:
  spec:
    containers: [{name: b, image: b2}]
"#,
            r#"apiVersion: v1
kind: PodTemplate
metadata:
  name: d
template:
  spec:
    containers:
    - image: b2
      name: b
    - image: a
      name: a
"#,
        );
    }

    #[test]
    fn replication_controller() {
        check(
            r#"apiVersion: v1
kind: ReplicationController
metadata: {name: d}
spec:
  template:
    spec:
      containers: [{name: a, image: a}, {name: b, image: b}]
"#,
            r#"apiVersion: v1
kind: ReplicationController
metadata: {name: d}
spec:
  template:
    spec:
      containers: [{name: b, image: b2}]
"#,
            r#"apiVersion: v1
kind: ReplicationController
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: b2
        name: b
      - image: a
        name: a
"#,
        );
    }

    /// Same port, one side without protocol: the same element, merged.
    #[test]
    fn container_ports_merge_by_port_and_protocol() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, name: x}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          name: x
"#,
        );
    }

    /// The original sets protocol, the patch does not: the original's element stays as it was.
    #[test]
    fn container_port_patch_without_protocol_leaves_one_with_it() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: TCP}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, name: x}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          protocol: TCP
"#,
        );
    }

    /// The patch sets protocol, the original does not: the original's element stays.
    #[test]
    fn container_port_patch_with_protocol_on_one_without() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, name: a}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: TCP, name: x}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          name: a
"#,
        );
    }

    #[test]
    fn container_ports_with_both_protocols_merge() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: TCP}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: TCP, name: x}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          name: x
          protocol: TCP
"#,
        );
    }

    #[test]
    fn container_ports_different_protocols_are_different() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: TCP}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: UDP}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          protocol: UDP
        - containerPort: 80
          protocol: TCP
"#,
        );
    }

    #[test]
    fn container_ports_mixed() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, protocol: TCP}, {containerPort: 81}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 81, name: y}, {containerPort: 80, name: x}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          protocol: TCP
        - containerPort: 81
          name: y
"#,
        );
    }

    #[test]
    fn container_port_delete_needs_matching_keys() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, name: a, protocol: TCP}, {containerPort: 81, name: b}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        ports: [{containerPort: 80, $patch: delete}, {containerPort: 81, $patch: delete}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - name: a
        ports:
        - containerPort: 80
          name: a
          protocol: TCP
        - containerPort: 81
          name: b
"#,
        );
    }

    /// Service ports: by port and protocol.
    #[test]
    fn service_ports_merge_by_port_and_protocol() {
        check(
            r#"apiVersion: v1
kind: Service
metadata: {name: d}
spec:
  ports: [{port: 80, targetPort: 8080}, {port: 443, protocol: TCP, name: https}]
"#,
            r#"apiVersion: v1
kind: Service
metadata: {name: d}
spec:
  ports: [{port: 80, targetPort: 9090}, {port: 443, protocol: TCP, targetPort: 8443}, {port: 53, protocol: UDP}]
"#,
            r#"apiVersion: v1
kind: Service
metadata:
  name: d
spec:
  ports:
  - port: 53
    protocol: UDP
  - port: 80
    targetPort: 9090
  - name: https
    port: 443
    protocol: TCP
    targetPort: 8443
"#,
        );
    }

    /// topologySpreadConstraints: by topologyKey and whenUnsatisfiable.
    #[test]
    fn topology_spread_by_key_and_when_unsatisfiable() {
        check(
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  topologySpreadConstraints:
  - {topologyKey: zone, whenUnsatisfiable: DoNotSchedule, maxSkew: 1}
  - {topologyKey: host, maxSkew: 1}
"#,
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  topologySpreadConstraints:
  - {topologyKey: zone, whenUnsatisfiable: DoNotSchedule, maxSkew: 2}
  - {topologyKey: zone, whenUnsatisfiable: ScheduleAnyway, maxSkew: 3}
  - {topologyKey: host, maxSkew: 4}
"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: d
spec:
  topologySpreadConstraints:
  - maxSkew: 3
    topologyKey: zone
    whenUnsatisfiable: ScheduleAnyway
  - maxSkew: 2
    topologyKey: zone
    whenUnsatisfiable: DoNotSchedule
  - maxSkew: 4
    topologyKey: host
"#,
        );
    }

    /// Lists of primitives with a merge strategy: the union, the patch's values first; strings stay strings.
    #[test]
    fn finalizers_union_patch_first() {
        check(
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  finalizers: ['123', a, b, a]
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  finalizers: [c, b, 'true']
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  finalizers:
  - c
  - b
  - 'true'
  - '123'
  - a
  name: d
"#,
        );
    }

    #[test]
    fn finalizers_added_collapse_repeats() {
        check(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: d}
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  finalizers: ['1', b, b]
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  finalizers:
  - '1'
  - b
  name: d
"#,
        );
    }

    #[test]
    fn owner_references_by_uid() {
        check(
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  ownerReferences: [{uid: u1, name: a, kind: K, apiVersion: v1}]
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  ownerReferences: [{uid: u1, name: b}, {uid: u2, name: c, kind: K, apiVersion: v1}]
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  ownerReferences:
  - apiVersion: v1
    kind: K
    name: b
    uid: u1
  - apiVersion: v1
    kind: K
    name: c
    uid: u2
"#,
        );
    }

    /// ServiceAccount: secrets merge by name, imagePullSecrets (no strategy there) are replaced.
    #[test]
    fn service_account_secrets_by_name_image_pull_secrets_replaced() {
        check(
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: d}
secrets: [{name: s1}]
imagePullSecrets: [{name: p1}]
"#,
            r#"apiVersion: v1
kind: ServiceAccount
metadata: {name: d}
secrets: [{name: s2}]
imagePullSecrets: [{name: p2}]
"#,
            r#"apiVersion: v1
imagePullSecrets:
- name: p2
kind: ServiceAccount
metadata:
  name: d
secrets:
- name: s2
- name: s1
"#,
        );
    }

    #[test]
    fn webhooks_by_name() {
        check(
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: d}
webhooks: [{name: a, sideEffects: None}, {name: b, sideEffects: None}]
"#,
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata: {name: d}
webhooks: [{name: b, sideEffects: Some}]
"#,
            r#"apiVersion: admissionregistration.k8s.io/v1
kind: ValidatingWebhookConfiguration
metadata:
  name: d
webhooks:
- name: b
  sideEffects: Some
- name: a
  sideEffects: None
"#,
        );
    }

    #[test]
    fn rbac_rules_replaced() {
        check(
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: d}
rules: [{apiGroups: [''], resources: [pods], verbs: [get]}]
"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: d}
rules: [{apiGroups: [apps], resources: [deployments], verbs: [list]}]
"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: d
rules:
- apiGroups:
  - apps
  resources:
  - deployments
  verbs:
  - list
"#,
        );
    }

    #[test]
    fn ingress_rules_replaced() {
        check(
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: d}
spec:
  rules: [{host: a.example}]
  tls: [{hosts: [a.example]}]
"#,
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: d}
spec:
  rules: [{host: b.example}]
"#,
            r#"apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: d
spec:
  rules:
  - host: b.example
  tls:
  - hosts:
    - a.example
"#,
        );
    }

    #[test]
    fn node_pod_cidrs_union_taints_replaced() {
        check(
            r#"apiVersion: v1
kind: Node
metadata: {name: d}
spec:
  podCIDRs: [10.0.0.0/24]
  taints: [{key: a, effect: NoSchedule}]
"#,
            r#"apiVersion: v1
kind: Node
metadata: {name: d}
spec:
  podCIDRs: [10.0.1.0/24]
  taints: [{key: b, effect: NoSchedule}]
"#,
            r#"apiVersion: v1
kind: Node
metadata:
  name: d
spec:
  podCIDRs:
  - 10.0.1.0/24
  - 10.0.0.0/24
  taints:
  - effect: NoSchedule
    key: b
"#,
        );
    }

    /// Deployment spec.strategy (retainKeys in the schema) merges as a plain map; `$retainKeys` is copied as a field.
    #[test]
    fn strategy_retain_keys_is_a_plain_map() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  strategy:
    $retainKeys: [type]
    type: Recreate
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  strategy:
    $retainKeys:
    - type
    rollingUpdate:
      maxSurge: 1
    type: Recreate
"#,
        );
    }

    /// Fields newer than Kubernetes v1.21 (schedulingGates, resourceClaims, resizePolicy) are replaced.
    #[test]
    fn newer_fields_have_no_merge_key() {
        check(
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  schedulingGates: [{name: a}]
  containers: [{name: a, resizePolicy: [{resourceName: cpu, restartPolicy: NotRequired}]}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  schedulingGates: [{name: b}]
  containers: [{name: a, resizePolicy: [{resourceName: memory, restartPolicy: NotRequired}]}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: d
spec:
  containers:
  - name: a
    resizePolicy:
    - resourceName: memory
      restartPolicy: NotRequired
  schedulingGates:
  - name: b
"#,
        );
    }

    /// `null` removes a field, a list, a map.
    #[test]
    fn null_removes_fields() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  labels: {a: '1'}
spec:
  replicas: 2
  template:
    spec:
      containers:
      - {name: a, image: a, args: [x], env: [{name: X, value: '1'}]}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  labels: null
spec:
  replicas: null
  paused: null
  template:
    spec:
      containers:
      - {name: a, args: null, env: null}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: a
        name: a
"#,
        );
    }

    #[test]
    fn maps_merge_recursively() {
        check(
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  labels: {a: '1', b: '2'}
  annotations: {x: y}
data: {k: v}
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: d
  labels: {b: '3', c: '4'}
data: {l: w}
"#,
            r#"apiVersion: v1
data:
  k: v
  l: w
kind: ConfigMap
metadata:
  annotations:
    x: y
  labels:
    a: '1'
    b: '3'
    c: '4'
  name: d
"#,
        );
    }

    /// `$patch: replace` on a map replaces it.
    #[test]
    fn patch_replace_on_a_map() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
      volumes: [{name: v, emptyDir: {}}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      $patch: replace
      containers: [{name: z, image: z}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: z
        name: z
"#,
        );
    }

    /// `- $patch: replace` alone in a merge-keyed list replaces the list.
    #[test]
    fn patch_replace_element_replaces_a_list() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - $patch: replace
      - {name: z, image: z}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: z
        name: z
"#,
        );
    }

    /// `- $patch: delete` alone removes the list; a delete on a key that matches nothing does nothing.
    #[test]
    fn patch_delete_element_removes_a_list() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
      volumes: [{name: v, emptyDir: {}}]
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {$patch: delete, name: zz}
      - {name: b, $patch: delete}
      volumes:
      - $patch: delete
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: a
        name: a
      - image: c
        name: c
"#,
        );
    }

    /// `$patch: replace` on an element with a merge key: the original's element is kept unchanged; `$patch: merge` merges.
    #[test]
    fn patch_replace_on_keyed_element_does_nothing() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, $patch: replace, image: new}
      - {name: b, $patch: merge, image: b2}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - image: a
        name: a
      - image: b2
        name: b
      - image: c
        name: c
"#,
        );
    }

    #[test]
    fn patch_delete_on_a_map() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  replicas: 1
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1}}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  strategy:
    $patch: delete
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  replicas: 1
"#,
        );
    }

    /// In a list without merge strategy the directive is not read: it is copied with the list.
    #[test]
    fn directives_in_lists_without_strategy_are_copied() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, args: [x, y]}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - name: a
        args:
        - $patch: replace
        - z
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
spec:
  template:
    spec:
      containers:
      - args:
        - $patch: replace
        - z
        name: a
"#,
        );
    }

    /// `$setElementOrder/…` and `$deleteFromPrimitiveList/…` are kept as fields.
    #[test]
    fn unknown_directives_are_copied() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  finalizers: [x, y]
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  name: d
  $deleteFromPrimitiveList/finalizers: [x]
spec:
  template:
    spec:
      $setElementOrder/containers: [{name: c}, {name: b}, {name: a}]
      containers:
      - {name: a, image: a2}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  $deleteFromPrimitiveList/finalizers:
  - x
  finalizers:
  - x
  - y
  name: d
spec:
  template:
    spec:
      $setElementOrder/containers:
      - name: c
      - name: b
      - name: a
      containers:
      - image: a2
        name: a
      - image: b
        name: b
      - image: c
        name: c
"#,
        );
    }

    #[test]
    fn unknown_patch_strategy_is_an_error() {
        check_err(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, $patch: bogus}
"#,
            "unknown patch strategy 'bogus'",
        );
    }

    /// `$patch: delete` at the top deletes the object (null).
    #[test]
    fn patch_delete_on_the_object() {
        check(
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
spec:
  template:
    spec:
      containers:
      - {name: a, image: a}
      - {name: b, image: b}
      - {name: c, image: c}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: d}
$patch: delete
"#,
            r#"null
"#,
        );
    }

    /// Directives inside content the original does not have are applied too.
    #[test]
    fn directive_inside_new_content() {
        check(
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  containers: [{name: a}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  initContainers: [{name: i, image: i}, {name: j, $patch: delete}]
  securityContext: {runAsUser: 1, seLinuxOptions: {$patch: delete, user: u}}
"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: d
spec:
  containers:
  - name: a
  initContainers:
  - image: i
    name: i
  securityContext:
    runAsUser: 1
"#,
        );
    }

    /// Kinds without a schema: lists replaced (directives copied, finalizers too), maps merged, null removes.
    #[test]
    fn custom_resources_replace_lists_and_merge_maps() {
        check(
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: d
  finalizers: [a, b]
spec:
  items: [{name: a, v: 1}, {name: b, v: 2}]
  m: {x: 1, y: 2}
  s: str
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: d
  finalizers: [c]
spec:
  items: [{name: b, v: 3}, {name: a, $patch: delete}]
  m: {x: null, z: 3}
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  finalizers:
  - c
  name: d
spec:
  items:
  - name: b
    v: 3
  - $patch: delete
    name: a
  m:
    y: 2
    z: 3
  s: str
"#,
        );
    }

    /// `$patch: delete` and `replace` on maps work without a schema.
    #[test]
    fn custom_resource_map_directives() {
        check(
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  a: {x: 1, y: 2}
  b: {x: 1}
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  a: {$patch: replace, z: 3}
  b: {$patch: delete}
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: d
spec:
  a:
    z: 3
"#,
        );
    }

    /// Inside a custom resource, a map naming a built-in apiVersion and kind merges with that kind's schema.
    #[test]
    fn embedded_builtin_object_gets_its_schema() {
        check(
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  template:
    apiVersion: apps/v1
    kind: Deployment
    spec:
      template:
        spec:
          containers: [{name: a, image: a}, {name: b, image: b}]
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  template:
    spec:
      template:
        spec:
          containers: [{name: b, image: b2}]
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: d
spec:
  template:
    apiVersion: apps/v1
    kind: Deployment
    spec:
      template:
        spec:
          containers:
          - image: b2
            name: b
          - image: a
            name: a
"#,
        );
    }

    /// autoscaling/v2 is newer than the schema: its metadata.finalizers are replaced.
    #[test]
    fn kinds_outside_the_schema() {
        check(
            r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: d
  finalizers: [a]
"#,
            r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  name: d
  finalizers: [b]
"#,
            r#"apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata:
  finalizers:
  - b
  name: d
"#,
        );
    }

    #[test]
    fn map_onto_list_is_an_error() {
        check_err(
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  m: {x: 1}
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  m: [1]
"#,
            "wrong node kind: expected MappingNode but got SequenceNode: node contents:\n[1]",
        );
    }

    #[test]
    fn map_onto_scalar_is_an_error() {
        check_err(
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  s: str
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  s: {a: 1}
"#,
            "wrong node kind: expected ScalarNode but got MappingNode: node contents:\n{a: 1}",
        );
    }

    #[test]
    fn scalar_onto_null_and_null_onto_missing() {
        check(
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  s: null
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata: {name: d}
spec:
  s: {a: 1}
  t: null
"#,
            r#"apiVersion: example.com/v1
kind: Foo
metadata:
  name: d
spec:
  s:
    a: 1
"#,
        );
    }

    /// A list the original lacks is merged with itself: a repeated key keeps the last.
    #[test]
    fn duplicate_keys_in_a_new_list_collapse() {
        check(
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec: {}
"#,
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  containers: [{name: a, image: '1'}, {name: a, image: '2'}, {name: b}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: d
spec:
  containers:
  - image: '2'
    name: a
  - name: b
"#,
        );
    }

    /// An original element without the merge key drops the elements before it.
    #[test]
    fn element_without_key_in_original() {
        check(
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  containers: [{name: a}, {image: nameless}, {name: b}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  containers: [{name: c}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: d
spec:
  containers:
  - image: nameless
"#,
        );
    }

    /// A merge-keyed list the original lacks: the `$patch: replace` element is not read.
    #[test]
    fn new_list_with_replace_directive() {
        check(
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  containers: [{name: a}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata: {name: d}
spec:
  initContainers: [{$patch: replace}, {name: i}]
"#,
            r#"apiVersion: v1
kind: Pod
metadata:
  name: d
spec:
  containers:
  - name: a
  initContainers:
  - $patch: replace
"#,
        );
    }

    /// `$patch: replace` at the top of the patch leaves the object as it was; `merge` merges.
    #[test]
    fn patch_replace_at_the_top_does_nothing() {
        check(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: d, labels: {a: b}}
data: {k: v}
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: d}
$patch: replace
data: {only: this}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    a: b
  name: d
"#,
        );
    }

    #[test]
    fn patch_merge_at_the_top() {
        check(
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: d, labels: {a: b}}
data: {k: v}
"#,
            r#"apiVersion: v1
kind: ConfigMap
metadata: {name: d}
$patch: merge
data: {also: this}
"#,
            r#"apiVersion: v1
data:
  also: this
  k: v
kind: ConfigMap
metadata:
  labels:
    a: b
  name: d
"#,
        );
    }
}

#[cfg(test)]
mod openapi_tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_yaml::from_str(s).unwrap()
    }

    const SCHEMA: &str = r##"{"definitions": {
      "P": {"x-kubernetes-group-version-kind": [{"group": "ci.example.com", "kind": "Pipeline", "version": "v1"},
                                                {"group": "", "kind": "Other", "version": "v1"}],
            "properties": {"spec": {"$ref": "#/definitions/Spec"}}},
      "Spec": {"properties": {
        "steps": {"type": "array", "items": {"$ref": "#/definitions/Step"},
                  "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "merge,retainKeys"},
        "retainOnly": {"type": "array", "x-kubernetes-patch-merge-key": "name", "x-kubernetes-patch-strategy": "retainKeys"},
        "prims": {"type": "array", "x-kubernetes-patch-strategy": "merge"},
        "byName": {"additionalProperties": {"$ref": "#/definitions/Step"}},
        "missing": {"$ref": "#/definitions/Nope"},
        "loop": {"$ref": "#/definitions/A"}}},
      "Step": {"properties": {"sub": {"type": "array", "x-kubernetes-patch-merge-key": "k", "x-kubernetes-patch-strategy": "merge"}}},
      "A": {"$ref": "#/definitions/B"},
      "B": {"$ref": "#/definitions/A"}}}"##;

    fn schemas() -> Schemas {
        let mut s = Schemas::default();
        s.set_custom(OpenApi::parse(SCHEMA).unwrap());
        s
    }

    #[test]
    fn parses_kinds_by_group_version_kind() {
        let api = OpenApi::parse(SCHEMA).unwrap();
        assert!(api.kind("ci.example.com/v1", "Pipeline").is_some());
        assert!(api.kind("v1", "Other").is_some());
        assert!(api.kind("v1", "Pipeline").is_none());
        // YAML too; no definitions at all is an empty schema.
        let y = OpenApi::parse("definitions:\n  X:\n    x-kubernetes-group-version-kind:\n    - {kind: X, version: v2}\n").unwrap();
        assert!(y.kind("v2", "X").is_some());
        assert!(
            OpenApi::parse(r#"{"swagger": "2.0"}"#)
                .unwrap()
                .by_gvk
                .is_empty()
        );
    }

    #[test]
    fn refuses_what_kustomize_cannot_read() {
        for bad in [
            r#"{"definitions": "#,
            "[1, 2]",
            "hello",
            r#"{"definitions": {"P": {"properties": 5}}}"#,
            r#"{"definitions": {"P": {"x-kubernetes-group-version-kind": [{"kind": "P", "version": 1}]}}}"#,
        ] {
            assert!(OpenApi::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ref_cycles_resolve_to_nothing() {
        let api = OpenApi::parse(SCHEMA).unwrap();
        assert!(api.resolve(&api.root["definitions"]["A"]).is_none());
    }

    /// Each expected value is what `kubectl kustomize` (v5.8.1) printed with this schema.
    #[test]
    fn merges_with_the_custom_schema() {
        let original = yaml(
            "apiVersion: ci.example.com/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  steps: [{name: a, sub: [{k: 1, v: 1}]}, {name: b}]\n  retainOnly: [{name: a}, {name: b}]\n  prims: [x, y]\n  byName: {one: {sub: [{k: 1, v: 1}]}}\n  missing: {sub: [{k: 1}]}\n  loop: {sub: [{k: 1}]}\n",
        );
        let patch = yaml(
            "apiVersion: ci.example.com/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  steps: [{name: c}, {name: a, sub: [{k: 2}]}]\n  retainOnly: [{name: b, v: 2}]\n  prims: [z, x]\n  byName: {one: {sub: [{k: 2}]}}\n  missing: {sub: [{k: 2}]}\n  loop: {sub: [{k: 2}]}\n",
        );
        let want = yaml(
            "apiVersion: ci.example.com/v1\nkind: Pipeline\nmetadata: {name: p}\nspec:\n  steps: [{name: c}, {name: a, sub: [{k: 2}, {k: 1, v: 1}]}, {name: b}]\n  retainOnly: [{name: b, v: 2}]\n  prims: [z, x, y]\n  byName: {one: {sub: [{k: 2}, {k: 1, v: 1}]}}\n  missing: {sub: [{k: 2}]}\n  loop: {sub: [{k: 2}]}\n",
        );
        assert_eq!(merge_with(&original, &patch, &mut schemas()).unwrap(), want);
    }

    /// A custom schema replaces the built-in one, unless a merge ran before it was set.
    #[test]
    fn custom_schema_replaces_builtin_unless_loaded_first() {
        let d = yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: a}, {name: b, image: b1}]}}}\n",
        );
        let p = yaml(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {template: {spec: {containers: [{name: b, image: b2}]}}}\n",
        );
        let replaced = merge_with(&d, &p, &mut schemas()).unwrap();
        assert_eq!(
            replaced["spec"]["template"]["spec"]["containers"],
            yaml("[{name: b, image: b2}]")
        );
        let mut s = Schemas::default();
        merge_with(&d, &p, &mut s).unwrap();
        s.set_custom(OpenApi::parse(SCHEMA).unwrap());
        let merged = merge_with(&d, &p, &mut s).unwrap();
        assert_eq!(
            merged["spec"]["template"]["spec"]["containers"],
            yaml("[{name: b, image: b2}, {name: a}]")
        );
    }
}
