//! The reconciler's custom resources (group `gitfleet.io`, version `v1alpha1`). These Rust types are
//! the single source of the CRDs: `gitfleet agent crds` prints them and
//! `templates/reconciler/crds.yaml.j2` is generated from them (a test keeps the two equal).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Annotation that asks for an immediate reconcile (its value is a timestamp); the CLI
/// (`gitfleet reconcile`) and the webhook receiver set it.
pub const REQUESTED_AT: &str = "gitfleet.io/reconcile-requested-at";

/// A Git repository the agent fetches.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "gitfleet.io",
    version = "v1alpha1",
    kind = "GitSource",
    namespaced,
    status = "GitSourceStatus",
    shortname = "gs",
    printcolumn = r#"{"name":"URL","type":"string","jsonPath":".spec.url"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.revision"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct GitSourceSpec {
    /// Repository URL: https://, ssh:// (or scp-like git@host:path), git:// or file://.
    pub url: String,
    /// Which revision to follow; exactly one of branch, tag, commit (default: branch main).
    #[serde(default, rename = "ref")]
    pub reference: GitRef,
    /// How often to check the remote for a new revision, e.g. 1m.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// Timeout of one fetch, e.g. 60s.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Secret with credentials: `identity` (SSH private key) and `known_hosts`, or `username`
    /// and `password` (HTTPS token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
    /// Stop fetching.
    #[serde(default)]
    pub suspend: bool,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, Eq, JsonSchema)]
pub struct GitRef {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
}

/// A reference to an object in the same namespace.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct LocalRef {
    pub name: String,
}

fn default_interval() -> String {
    "1m".to_string()
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct GitSourceStatus {
    /// The commit last fetched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// When a fetch last changed this status (RFC 3339); a fetch that finds nothing new writes
    /// nothing, so the remote may have been checked since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_fetch_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The last `gitfleet.io/reconcile-requested-at` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
}

/// A path of a GitSource applied to the cluster.
#[derive(CustomResource, Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[kube(
    group = "gitfleet.io",
    version = "v1alpha1",
    kind = "Sync",
    namespaced,
    status = "SyncStatus",
    printcolumn = r#"{"name":"Path","type":"string","jsonPath":".spec.path"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// The GitSource (same namespace).
    pub source_ref: LocalRef,
    /// Directory in the repository, e.g. clusters/dev.
    #[serde(default)]
    pub path: String,
    /// How often to re-apply even without a new revision (drift correction), e.g. 5m.
    #[serde(default = "default_sync_interval")]
    pub interval: String,
    /// Delete what left Git (only objects of this Sync's inventory).
    #[serde(default = "yes")]
    pub prune: bool,
    /// Accept a path that yields no object at all (otherwise an error that names the files it
    /// ignored): with prune, everything this Sync applied is then deleted.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub allow_empty: bool,
    /// Wait until applied objects are ready before reporting Ready.
    #[serde(default = "yes")]
    pub wait: bool,
    /// Timeout of the health wait, e.g. 5m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// Namespace for objects that name none (default: the Sync's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Values for `*.j2` templates (`values.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub values: Option<serde_json::Value>,
    /// Values from ConfigMaps or Secrets, merged before the inline values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFrom>,
    /// Syncs that must be Ready at the same source revision first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<LocalRef>,
    /// Stop applying.
    #[serde(default)]
    pub suspend: bool,
    /// How a Helm chart at `path` (or named by `chart`) is rendered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<HelmSpec>,
    /// A chart from a Helm repository or an OCI registry instead of `path` (whose files
    /// `helm.valuesFiles` may still name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<ChartSpec>,
    /// How `*.jsonnet` files at `path` are evaluated (Argo CD's `directory.jsonnet`): `extVars`
    /// and `tlas` (`{name, value, code}`), `libs` (library paths in the repository).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonnet: Option<crate::build::jsonnet::JsonnetOptions>,
    /// How SOPS-encrypted files at `path` are decrypted (as Flux's `decryption`): `provider:
    /// sops` and a Secret in this namespace whose `*.agekey` entries hold age identities.
    /// Without it, an encrypted file is an error on the Sync.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decryption: Option<DecryptionSpec>,
}

/// `spec.decryption`.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DecryptionSpec {
    /// `sops` (the only provider).
    pub provider: String,
    /// The Secret holding the age identities (`*.agekey` entries).
    pub secret_ref: LocalRef,
}

/// A chart that is not in the Git repository.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartSpec {
    /// `https://charts.example.com` (a Helm repository) or `oci://registry.example.com/charts`.
    pub repository: String,
    pub name: String,
    /// A version or a semver range (`^1.2`, `>=1.0 <2`), resolved to the newest match at every
    /// sync (default: the newest stable version).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub version: String,
    /// A Secret (same namespace) with `username`/`password` and a CA bundle (`ca.crt` or
    /// `caFile`) for the repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalRef>,
}

/// The chart a revision was rendered from.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChartStatus {
    pub name: String,
    pub version: String,
    /// `sha256:…` of the archive (Helm repository) or of the OCI manifest.
    pub digest: String,
}

/// The release a chart is rendered as, and its values: valuesFiles, then valuesFrom, then
/// values (later wins, maps merge).
#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HelmSpec {
    /// `.Release.Name` (default: the Sync's name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub release_name: Option<String>,
    /// `.Release.Namespace` and the namespace of namespaced objects that name none
    /// (default: targetNamespace, then the Sync's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Values files in the repository, relative to the chart's directory, merged in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_files: Vec<String>,
    /// Values from ConfigMaps or Secrets (such as gitfleet's cluster-facts ConfigMap).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values_from: Vec<ValuesFrom>,
    /// Inline values, merged last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "preserve_unknown")]
    pub values: Option<serde_json::Value>,
    /// Leave out the chart's crds/ directory.
    #[serde(default, rename = "skipCRDs")]
    pub skip_crds: bool,
    /// `.Capabilities.KubeVersion` (default: the cluster's version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// API versions added to `.Capabilities.APIVersions` (which holds what the cluster serves).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub api_versions: Vec<String>,
}

fn default_sync_interval() -> String {
    "5m".to_string()
}

fn yes() -> bool {
    true
}

fn preserve_unknown(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValuesFrom {
    /// ConfigMap or Secret.
    pub kind: ValuesKind,
    pub name: String,
    /// A key holding YAML to merge; without it every key becomes a value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// A dotted path the values are placed under (`cluster` puts the cluster-facts keys at
    /// `.Values.cluster.*`); default: the top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_path: Option<String>,
}

#[derive(Deserialize, Serialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ValuesKind {
    ConfigMap,
    Secret,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// When an apply last changed this status (RFC 3339). Drift correction runs `interval` after
    /// the last apply; one that finds everything unchanged writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_apply_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// How many objects the inventory holds, by kind.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory: Option<InventorySummary>,
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The last revisions tried, newest first (at most 10): the audit trail.
    #[serde(default)]
    pub history: Vec<HistoryEntry>,
    /// The chart of the last applied revision, when `spec.chart` names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_chart: Option<ChartStatus>,
}

#[derive(Deserialize, Serialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct InventorySummary {
    pub name: String,
    pub entries: usize,
}

#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub revision: String,
    /// Succeeded or Failed.
    pub outcome: String,
    pub time: String,
    /// Change summary or the error.
    pub message: String,
    /// `name@version (digest)` when the Sync renders a chart from a repository.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// The hooks the revision ran (Argo CD and Helm hooks), in order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hooks: Vec<HookStatus>,
    /// The sync waves of the revision's objects, in the order they were applied (only when it
    /// has more than one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waves: Vec<WaveStatus>,
}

/// What one hook did.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookStatus {
    pub kind: String,
    pub name: String,
    /// PreSync, Sync, PostSync or SyncFail.
    pub phase: String,
    /// Succeeded or Failed.
    pub result: String,
    /// How long it took, e.g. `3.2s`.
    pub duration: String,
}

/// One sync wave of a revision.
#[derive(Deserialize, Serialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaveStatus {
    pub wave: i64,
    /// How many of the revision's objects are in it.
    pub objects: usize,
}

/// The CRDs as YAML documents (what `gitfleet agent crds` prints and the template holds).
pub fn crds_yaml() -> String {
    use kube::CustomResourceExt;
    let mut out = String::new();
    for crd in [GitSource::crd(), Sync::crd()] {
        let mut v = serde_json::to_value(&crd).expect("CRD serializes");
        v["metadata"]["labels"] = serde_json::json!({
            "app.kubernetes.io/name": "gitfleet",
            "gitfleet.io/managed-by": "gitfleet",
        });
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&v).expect("CRD as YAML"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// templates/reconciler/crds.yaml.j2 is generated from these types; regenerate it with
    /// `gitfleet agent --print-crds` (keeping the two comment lines on top) when this fails.
    #[test]
    fn crd_template_is_generated_from_the_types() {
        let template = include_str!("../../templates/reconciler/crds.yaml.j2");
        let body = template
            .split_once("-#}\n")
            .map(|(_, b)| b)
            .expect("header comment");
        assert_eq!(
            body,
            crds_yaml(),
            "regenerate templates/reconciler/crds.yaml.j2"
        );
    }

    #[test]
    fn defaults_of_a_minimal_sync() {
        let spec: SyncSpec = serde_json::from_value(
            serde_json::json!({"sourceRef": {"name": "fleet"}, "path": "clusters/dev"}),
        )
        .unwrap();
        assert!(spec.prune && spec.wait && !spec.suspend);
        assert_eq!(spec.interval, "5m");
    }
}
