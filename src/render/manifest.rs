//! Kubernetes manifests rendered for the reconciler: every document must be an object with
//! `apiVersion`, `kind` and `metadata.name`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    /// Everything beyond apiVersion, kind and metadata; shared, because the same reconciler
    /// objects (CRDs above all) are rendered for every cluster of a fleet.
    #[serde(flatten)]
    pub body: Arc<serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ObjectMeta {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Manifest {
    /// `kind/namespace/name`, how plans and reports name an object.
    pub fn reference(&self) -> String {
        match &self.metadata.namespace {
            Some(ns) => format!("{}/{}/{}", self.kind, ns, self.metadata.name),
            None => format!("{}/{}", self.kind, self.metadata.name),
        }
    }
}
