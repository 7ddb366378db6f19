//! The apply engine: makes a cluster match a set of manifests, as `kubectl apply --server-side
//! --prune` and Flux's kustomize-controller do.
//!
//! One run is: load and check every manifest (no cluster call when any is malformed) → resolve each
//! object's API resource through discovery (CRDs of the same set count) → read the live objects →
//! validate the whole set with a server-side dry-run (nothing changes if any object is rejected) →
//! apply in order (CRDs, wait Established; Namespaces; other cluster-scoped; namespaced), bounded
//! concurrency inside each phase → record the inventory → prune what left the set, in reverse order,
//! only when it is in gitfleet's own inventory → optionally wait for health.
//!
//! Everything a run did is returned as data ([`ChangeSet`]); the CLI and the agent format it.

pub mod client;
pub mod diff;
pub mod engine;
pub mod health;
pub mod hooks;
pub mod inventory;
pub mod manifest;
pub mod resolve;

use std::fmt;

use serde::Serialize;

pub use client::{Connection, connect};
pub use engine::{ApplyOptions, Engine};
pub use manifest::{LoadOptions, Object, load};

/// Field manager of every gitfleet write (server-side apply).
pub const FIELD_MANAGER: &str = "gitfleet";
/// Annotation naming the inventory (`namespace/name`) an applied object belongs to. Prune deletes
/// only objects that still carry it with the same value.
pub const INVENTORY_ANNOTATION: &str = "gitfleet.io/inventory";
/// `gitfleet.io/prune: disabled` on a live object keeps it when it leaves the set.
pub const PRUNE_ANNOTATION: &str = "gitfleet.io/prune";

/// Which API object: the identity the inventory records.
#[derive(
    Debug,
    Clone,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    serde::Deserialize,
    schemars::JsonSchema,
)]
pub struct ObjectRef {
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Identity without the version: the same object served at another version is the same object.
    pub fn key(&self) -> (String, String, Option<String>, String) {
        (
            self.group.clone(),
            self.kind.clone(),
            self.namespace.clone(),
            self.name.clone(),
        )
    }

    /// Apply phase: CRDs, Namespaces, other cluster-scoped objects, namespaced objects.
    pub fn phase(&self) -> Phase {
        if self.is_crd() {
            Phase::Crds
        } else if self.group.is_empty() && self.kind == "Namespace" {
            Phase::Namespaces
        } else if self.namespace.is_none() {
            Phase::ClusterScoped
        } else {
            Phase::Namespaced
        }
    }

    pub fn is_crd(&self) -> bool {
        self.group == "apiextensions.k8s.io" && self.kind == "CustomResourceDefinition"
    }
}

impl fmt::Display for ObjectRef {
    /// `Deployment.apps apps/web`, `Namespace apps`, `ConfigMap default/settings`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.group.is_empty() {
            write!(f, "{}", self.kind)?;
        } else {
            write!(f, "{}.{}", self.kind, self.group)?;
        }
        match &self.namespace {
            Some(ns) => write!(f, " {ns}/{}", self.name),
            None => write!(f, " {}", self.name),
        }
    }
}

/// The apply order. Prune runs it backwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    Crds,
    Namespaces,
    ClusterScoped,
    Namespaced,
}

/// What happened (or, on a dry run, would happen) to one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Pruned,
    /// Left the set but kept: not ours any more, or `gitfleet.io/prune: disabled`, or a namespace
    /// or CRD that still holds objects outside the inventory.
    Skipped,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Pruned => "pruned",
            Action::Skipped => "skipped",
        })
    }
}

/// One object's outcome.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
pub struct Change {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub action: Action,
    /// Why, when it is worth saying: drift corrected from another manager, why a prune was skipped.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Everything one run did, in order.
#[derive(Debug, Clone, Default, Serialize, schemars::JsonSchema)]
pub struct ChangeSet {
    pub revision: String,
    pub dry_run: bool,
    pub changes: Vec<Change>,
}

impl ChangeSet {
    pub fn count(&self, action: Action) -> usize {
        self.changes.iter().filter(|c| c.action == action).count()
    }

    /// Whether anything was (or would be) written or deleted.
    pub fn has_changes(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(
                c.action,
                Action::Created | Action::Configured | Action::Pruned
            )
        })
    }

    pub fn summary(&self) -> String {
        format!(
            "{} created, {} configured, {} unchanged, {} pruned, {} skipped",
            self.count(Action::Created),
            self.count(Action::Configured),
            self.count(Action::Unchanged),
            self.count(Action::Pruned),
            self.count(Action::Skipped),
        )
    }
}

/// An object the API server refused (dry-run or apply).
#[derive(Debug, Clone, Serialize)]
pub struct Rejection {
    pub object: ObjectRef,
    /// Where the object came from: `file (document N)`.
    pub source: String,
    pub code: u16,
    pub reason: String,
    pub message: String,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} rejected: {} ({} {})",
            self.source, self.object, self.message, self.code, self.reason
        )
    }
}

/// A field another declarative manager owns with a different value.
#[derive(Debug, Clone, Serialize)]
pub struct Conflict {
    pub object: ObjectRef,
    pub source: String,
    pub manager: String,
    pub field: String,
}

impl fmt::Display for Conflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} conflict: field {} is managed by \"{}\"",
            self.source, self.object, self.field, self.manager
        )
    }
}

/// Why a run failed. Everything before the first write is reported in full (all rejections, all
/// conflicts, all unknown kinds) and then nothing is changed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}", .0)]
    Manifests(crate::diagnostic::Diagnostics),
    #[error("{} object(s) cannot be mapped to an API resource:\n{}", .0.len(), lines(.0))]
    Unresolved(Vec<String>),
    #[error(
        "the API server rejected {} object(s); nothing was changed:\n{}",
        .0.len(),
        lines(.0)
    )]
    Rejected(Vec<Rejection>),
    #[error(
        "{} field(s) are managed by another field manager; nothing was changed (use --force-conflicts to take them over):\n{}",
        .0.len(),
        lines(.0)
    )]
    Conflicts(Vec<Conflict>),
    #[error("the API server rejected {} object(s) after {applied} were applied:\n{}", .rejections.len(), lines(.rejections))]
    PartiallyApplied {
        applied: usize,
        rejections: Vec<Rejection>,
    },
    #[error("forbidden: cannot {verb} {resource}{}: {message}", scope(.namespace, .name))]
    Forbidden {
        verb: String,
        resource: String,
        namespace: Option<String>,
        name: Option<String>,
        message: String,
    },
    #[error(
        "unauthorized: the API server at {server} did not accept the credentials of the kubeconfig ({message})"
    )]
    Unauthorized { server: String, message: String },
    #[error("cannot reach the Kubernetes API at {server}: {message}")]
    Unreachable { server: String, message: String },
    #[error("timed out after {waited:?} waiting for {object} to be ready: {status}")]
    NotReady {
        object: ObjectRef,
        status: String,
        waited: std::time::Duration,
    },
    #[error("{0}")]
    Other(String),
}

fn lines<T: fmt::Display>(items: &[T]) -> String {
    items
        .iter()
        .map(|i| format!("  {i}"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn scope(namespace: &Option<String>, name: &Option<String>) -> String {
    let mut s = String::new();
    if let Some(name) = name {
        s.push_str(&format!(" \"{name}\""));
    }
    if let Some(ns) = namespace {
        s.push_str(&format!(" in namespace \"{ns}\""));
    }
    s
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
