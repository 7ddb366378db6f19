//! The definition types: what `fleet.yaml` and `clusters/*/cluster.yaml` may contain.
//!
//! These types are the single source of truth for the format: serde reads them, schemars turns
//! them into the JSON Schema that `gitfleet schema` prints and that validation checks every
//! document against (so unknown fields, wrong types and missing fields are found in one pass).

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only API version this release understands.
pub const API_VERSION: &str = "gitfleet.io/v1alpha1";

/// Object metadata shared by `Fleet` and `Cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Metadata {
    /// Name of the object: a DNS-1123 label (lowercase letters, digits and '-', at most 63).
    pub name: String,
    /// Labels, matched by label selectors (`gitfleet plan -l env=prod`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `fleet.yaml`: the repository the reconcilers pull, shared defaults and reconciler settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "gitfleet Fleet")]
pub struct Fleet {
    /// Must be `gitfleet.io/v1alpha1`.
    pub api_version: String,
    /// Must be `Fleet`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: FleetSpec,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetSpec {
    /// The Git repository the in-cluster reconciler pulls (normally this repository).
    pub repository: Repository,
    /// Which cluster definitions belong to the fleet.
    #[serde(default)]
    pub clusters: ClusterSelection,
    /// Defaults deep-merged under every cluster's `spec` (maps merge; lists and scalars replace).
    /// A provider block here (`eks`, `aks`, ...) only applies to clusters of that provider.
    #[serde(default)]
    pub defaults: ClusterDefaults,
    /// Settings of the in-cluster reconciler installed by `gitfleet up`.
    #[serde(default)]
    pub reconciler: ReconcilerSettings,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Repository {
    /// Clone URL: https://, ssh:// (or scp-like git@host:path) or file://.
    pub url: String,
    /// Branch the reconciler follows.
    #[serde(default = "default_branch")]
    pub branch: String,
}

fn default_branch() -> String {
    "main".into()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSelection {
    /// Glob patterns, relative to the fleet directory, of cluster definition files.
    #[serde(default = "default_include")]
    pub include: Vec<String>,
    /// Only clusters whose labels match this selector belong to the fleet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
}

impl Default for ClusterSelection {
    fn default() -> Self {
        Self {
            include: default_include(),
            selector: None,
        }
    }
}

fn default_include() -> Vec<String> {
    vec!["clusters/*/cluster.yaml".into()]
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReconcilerSettings {
    /// Namespace the reconciler runs in.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// Container image of the reconciler (`gitfleet agent`).
    #[serde(default = "default_image")]
    pub image: String,
    /// How often the reconciler polls the repository and corrects drift (e.g. `30s`, `5m`, `1h`).
    #[serde(default = "default_interval")]
    pub interval: String,
}

impl Default for ReconcilerSettings {
    fn default() -> Self {
        Self {
            namespace: default_namespace(),
            image: default_image(),
            interval: default_interval(),
        }
    }
}

fn default_namespace() -> String {
    "gitfleet-system".into()
}

fn default_image() -> String {
    format!("ghcr.io/gitfleet/gitfleet:v{}", env!("CARGO_PKG_VERSION"))
}

fn default_interval() -> String {
    "1m".into()
}

/// A cluster definition file (`clusters/<name>/cluster.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(title = "gitfleet Cluster")]
pub struct Cluster {
    /// Must be `gitfleet.io/v1alpha1`.
    pub api_version: String,
    /// Must be `Cluster`.
    pub kind: String,
    pub metadata: Metadata,
    pub spec: ClusterSpec,
}

/// The desired state of one cluster. Exactly one provider block must be present.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterSpec {
    /// Kubernetes minor version, quoted: `"1.30"` (a patch is allowed: `"1.30.2"`).
    /// Required for eks, aks and kind; ignored for existing clusters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<EksSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks: Option<AksSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KindSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub existing: Option<ExistingSpec>,
    /// Node pools (EKS managed node groups, AKS agent pools). The first AKS pool is the system pool.
    #[serde(default)]
    pub node_pools: Vec<NodePool>,
    /// Free-form values, passed to templates as `values`.
    #[serde(default)]
    pub values: serde_json::Map<String, serde_json::Value>,
    /// Path in the repository the reconciler syncs into this cluster
    /// (default: the directory holding this cluster.yaml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// `fleet.yaml` `spec.defaults`: every field of a cluster spec, all optional.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClusterDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eks: Option<EksDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aks: Option<AksDefaults>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<KindSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_pools: Option<Vec<NodePool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<serde_json::Map<String, serde_json::Value>>,
}

/// AWS EKS: the cluster and its managed node groups.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EksSpec {
    /// AWS region, e.g. `eu-west-1`. When left out, gitfleet uses the region the AWS tools
    /// would: `AWS_REGION`, else `AWS_DEFAULT_REGION`, else the AWS profile's `region`
    /// (`AWS_PROFILE`, `~/.aws/config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// IAM role ARN the EKS control plane assumes.
    pub role_arn: String,
    /// IAM role ARN of the worker nodes (required when there are node pools).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_role_arn: Option<String>,
    /// Subnets of the cluster (at least two, in different availability zones).
    pub subnet_ids: Vec<String>,
    /// Extra security groups for the control-plane network interfaces.
    #[serde(default)]
    pub security_group_ids: Vec<String>,
    #[serde(default)]
    pub endpoint_access: EndpointAccess,
    /// Control-plane log types sent to CloudWatch.
    #[serde(default)]
    pub logging: Vec<EksLogType>,
    /// Tags on the cluster and node groups (gitfleet adds its ownership tags).
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// EKS add-ons (vpc-cni, coredns, kube-proxy, aws-ebs-csi-driver, ...).
    #[serde(default)]
    pub addons: Vec<EksAddon>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EksAddon {
    /// Add-on name, e.g. `vpc-cni`.
    pub name: String,
    /// Add-on version, e.g. `v1.18.1-eksbuild.1` (default: EKS picks the default for the cluster version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// IAM role for the add-on's service account (IRSA).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_role_arn: Option<String>,
}

/// Defaults for `eks` blocks: every field optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EksDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_group_ids: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_access: Option<EndpointAccess>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logging: Option<Vec<EksLogType>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub addons: Option<Vec<EksAddon>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EndpointAccess {
    #[serde(default = "yes")]
    pub public: bool,
    #[serde(default)]
    pub private: bool,
    /// CIDR blocks allowed to reach the public endpoint (default: anywhere).
    #[serde(default)]
    pub public_cidrs: Vec<String>,
}

impl Default for EndpointAccess {
    fn default() -> Self {
        Self {
            public: true,
            private: false,
            public_cidrs: Vec::new(),
        }
    }
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum EksLogType {
    Api,
    Audit,
    Authenticator,
    ControllerManager,
    Scheduler,
}

/// Azure AKS: the managed cluster and its agent pools.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AksSpec {
    /// Subscription id (default: `AZURE_SUBSCRIPTION_ID` at apply time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    pub resource_group: String,
    /// Create the resource group when it does not exist.
    #[serde(default)]
    pub create_resource_group: bool,
    /// Azure region, e.g. `westeurope`.
    pub location: String,
    /// DNS prefix of the API server (default: the cluster name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_prefix: Option<String>,
    #[serde(default)]
    pub network_plugin: AksNetworkPlugin,
    #[serde(default)]
    pub identity: AksIdentity,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
}

/// Defaults for `aks` blocks: every field optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AksDefaults {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub create_resource_group: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_plugin: Option<AksNetworkPlugin>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<AksIdentity>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AksNetworkPlugin {
    #[default]
    Azure,
    Kubenet,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AksIdentity {
    #[serde(rename = "type", default)]
    pub kind: AksIdentityType,
    /// Resource id of the user-assigned identity (only with `type: UserAssigned`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_assigned_identity_id: Option<String>,
}

impl Default for AksIdentity {
    fn default() -> Self {
        Self {
            kind: AksIdentityType::SystemAssigned,
            user_assigned_identity_id: None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum AksIdentityType {
    #[default]
    SystemAssigned,
    UserAssigned,
}

/// A local kind cluster (Kubernetes in Docker), for development and tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KindSpec {
    /// Worker nodes besides the control-plane node.
    #[serde(default)]
    #[schemars(range(max = 20))]
    pub workers: u32,
    /// Node image (default: `kindest/node:v<version>`, `.0` added to a bare minor version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
}

/// A cluster gitfleet does not provision: reached through a kubeconfig.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExistingSpec {
    /// Path of the kubeconfig (default: `KUBECONFIG` or `~/.kube/config` at apply time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// Context in the kubeconfig (default: its current context).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NodePool {
    /// Pool name: a DNS-1123 label (AKS: lowercase letters and digits, at most 12).
    pub name: String,
    /// EC2 instance type (EKS) or VM size (AKS), e.g. `m6i.large`, `Standard_D4s_v5`.
    pub instance_type: String,
    pub min: u32,
    pub max: u32,
    /// Desired node count (default: `min`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired: Option<u32>,
    /// Disk size per node in GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_size_gb: Option<u32>,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub taints: Vec<Taint>,
}

impl NodePool {
    pub fn desired_size(&self) -> u32 {
        self.desired.unwrap_or(self.min)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Taint {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub effect: TaintEffect,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub enum TaintEffect {
    NoSchedule,
    PreferNoSchedule,
    NoExecute,
}

impl TaintEffect {
    pub fn as_str(self) -> &'static str {
        match self {
            TaintEffect::NoSchedule => "NoSchedule",
            TaintEffect::PreferNoSchedule => "PreferNoSchedule",
            TaintEffect::NoExecute => "NoExecute",
        }
    }
}

/// The provider a cluster names.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Eks,
    Aks,
    Kind,
    Existing,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 4] = [Self::Eks, Self::Aks, Self::Kind, Self::Existing];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Eks => "eks",
            Self::Aks => "aks",
            Self::Kind => "kind",
            Self::Existing => "existing",
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
