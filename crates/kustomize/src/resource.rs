//! One object of a build, where it came from, and the identities it had before transformers
//! renamed it (what name references are resolved against).

use std::fmt;

use serde_json::{Map, Value};

use crate::Span;

/// An object's identity: group, version, kind, name and namespace (empty for cluster-scoped
/// objects and for namespaced objects that do not name one).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResId {
    pub group: String,
    pub version: String,
    pub kind: String,
    pub name: String,
    pub namespace: String,
}

impl ResId {
    /// `apps/v1/Deployment` style, as kustomize prints a GVK (core group: `v1/Service`... kustomize
    /// prints `Service.v1.[noGrp]`; messages here use the readable form `Deployment.apps/v1`).
    pub fn gvk(&self) -> String {
        if self.group.is_empty() {
            format!("{}.{}", self.kind, self.version)
        } else {
            format!("{}.{}.{}", self.kind, self.version, self.group)
        }
    }
}

impl fmt::Display for ResId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// How a generated ConfigMap or Secret combines with one of the same name from a base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Behavior {
    #[default]
    Create,
    Merge,
    Replace,
}

#[derive(Debug, Clone)]
pub struct Resource {
    /// The object, as JSON.
    pub value: Value,
    /// The file and line it was read from (or the generator entry that made it).
    pub origin: Span,
    /// Identities it had before a transformer changed its name, namespace or kind, oldest first.
    pub previous: Vec<ResId>,
    /// Made by a generator whose options ask for kustomize's content-hash name suffix; the suffix
    /// is added once, at the end of the top-level build.
    pub needs_hash: bool,
    /// A generator's behavior towards an object of the same id from a base.
    pub behavior: Option<Behavior>,
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    match api_version.rsplit_once('/') {
        Some((g, v)) => (g, v),
        None => ("", api_version),
    }
}

impl Resource {
    pub fn new(value: Value, origin: Span) -> Self {
        Resource {
            value,
            origin,
            previous: Vec::new(),
            needs_hash: false,
            behavior: None,
        }
    }

    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> &str {
        self.value["metadata"]["namespace"]
            .as_str()
            .unwrap_or_default()
    }

    /// The current identity.
    pub fn id(&self) -> ResId {
        let (group, version) = split_api_version(self.api_version());
        ResId {
            group: group.to_string(),
            version: version.to_string(),
            kind: self.kind().to_string(),
            name: self.name().to_string(),
            namespace: self.namespace().to_string(),
        }
    }

    /// The identity it was read (or generated) with.
    pub fn original_id(&self) -> ResId {
        self.previous.first().cloned().unwrap_or_else(|| self.id())
    }

    /// Every identity it has had, oldest first, the current one last.
    pub fn ids(&self) -> impl Iterator<Item = ResId> + '_ {
        self.previous
            .iter()
            .cloned()
            .chain(std::iter::once(self.id()))
    }

    /// `metadata`, created when missing.
    pub fn metadata_mut(&mut self) -> &mut Map<String, Value> {
        if !self.value["metadata"].is_object() {
            self.value["metadata"] = Value::Object(Map::new());
        }
        self.value["metadata"].as_object_mut().expect("just made")
    }

    /// Renames, remembering the identity it had.
    pub fn set_name(&mut self, name: &str) {
        if self.name() == name {
            return;
        }
        self.previous.push(self.id());
        self.metadata_mut()
            .insert("name".into(), Value::String(name.into()));
    }

    /// Moves to a namespace, remembering the identity it had.
    pub fn set_namespace(&mut self, namespace: &str) {
        if self.namespace() == namespace {
            return;
        }
        self.previous.push(self.id());
        self.metadata_mut()
            .insert("namespace".into(), Value::String(namespace.into()));
    }

    /// A label or annotation map under `metadata`, created when missing.
    pub fn meta_map_mut(&mut self, key: &str) -> &mut Map<String, Value> {
        let meta = self.metadata_mut();
        let slot = meta
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if !slot.is_object() {
            *slot = Value::Object(Map::new());
        }
        slot.as_object_mut().expect("just made")
    }

    /// Labels under `metadata.labels` (empty when none).
    pub fn labels(&self) -> Map<String, Value> {
        self.value["metadata"]["labels"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }
    pub fn annotations(&self) -> Map<String, Value> {
        self.value["metadata"]["annotations"]
            .as_object()
            .cloned()
            .unwrap_or_default()
    }
}
