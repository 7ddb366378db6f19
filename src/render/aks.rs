//! The AKS request bodies gitfleet renders: mirrors of the ARM ManagedCluster and AgentPool
//! bodies of api-version 2023-01-02-preview (JSON field names), checked before any call.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub const API_VERSION: &str = "2023-01-02-preview";

/// gitfleet's own tag names (`gitfleet.io/managed-by`, `gitfleet.io/managed-tags`...) as ARM
/// stores them: Azure refuses `/` in a tag name (`InvalidTagNameCharacters`: `< > % & \ ? /`),
/// so they are written `gitfleet.io_managed-by`, as Cluster API's Azure provider writes
/// `sigs.k8s.io_…`. `render --out` writes the bodies so, as they are sent; the rest of
/// gitfleet sees one spelling on every cloud.
const OWN_PREFIX: &str = "gitfleet.io/";
const OWN_PREFIX_ARM: &str = "gitfleet.io_";

fn rename_keys(tags: Option<&mut serde_json::Value>, from: &str, to: &str) {
    if let Some(map) = tags.and_then(serde_json::Value::as_object_mut) {
        let renamed: Vec<String> = map
            .keys()
            .filter(|k| k.starts_with(from))
            .cloned()
            .collect();
        for k in renamed {
            if let Some(v) = map.remove(&k) {
                map.insert(format!("{to}{}", &k[from.len()..]), v);
            }
        }
    }
}

/// The tags of an ARM body (`tags`, and `properties.tags` of an agent pool, and those of the
/// agent pool profiles of a managed cluster) in ARM's spelling (`to_arm`) or gitfleet's.
pub fn arm_tag_names(body: &mut serde_json::Value, to_arm: bool) {
    let (from, to) = if to_arm {
        (OWN_PREFIX, OWN_PREFIX_ARM)
    } else {
        (OWN_PREFIX_ARM, OWN_PREFIX)
    };
    rename_keys(body.get_mut("tags"), from, to);
    if let Some(props) = body.get_mut("properties") {
        rename_keys(props.get_mut("tags"), from, to);
        if let Some(profiles) = props
            .get_mut("agentPoolProfiles")
            .and_then(serde_json::Value::as_array_mut)
        {
            for p in profiles {
                rename_keys(p.get_mut("tags"), from, to);
            }
        }
    }
}

/// An ARM body as it is sent: gitfleet's tag names in ARM's spelling.
pub fn as_sent<T: Serialize>(body: &T) -> serde_json::Value {
    let mut v = serde_json::to_value(body).unwrap_or(serde_json::Value::Null);
    arm_tag_names(&mut v, true);
    v
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedCluster {
    pub location: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    pub identity: ManagedClusterIdentity,
    pub properties: ManagedClusterProperties,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedClusterIdentity {
    #[serde(rename = "type")]
    pub kind: IdentityType,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub user_assigned_identities: BTreeMap<String, serde_json::Map<String, serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IdentityType {
    SystemAssigned,
    UserAssigned,
    None,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ManagedClusterProperties {
    pub kubernetes_version: String,
    pub dns_prefix: String,
    /// Pool profiles inside the cluster body; each must carry a `name`.
    pub agent_pool_profiles: Vec<AgentPoolProperties>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_profile: Option<NetworkProfile>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "enableRBAC"
    )]
    pub enable_rbac: Option<bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkProfile {
    pub network_plugin: NetworkPlugin,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum NetworkPlugin {
    Azure,
    Kubenet,
    None,
}

/// The body of a separate agent pool PUT (`.../agentPools/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPool {
    pub properties: AgentPoolProperties,
}

/// An agent pool: inside the ManagedCluster body (with `name`) or as a separate pool's
/// `properties` (without).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AgentPoolProperties {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub count: u32,
    pub vm_size: String,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "osDiskSizeGB"
    )]
    pub os_disk_size_gb: Option<u32>,
    pub enable_auto_scaling: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_count: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_count: Option<u32>,
    pub mode: AgentPoolMode,
    #[serde(rename = "type")]
    pub kind: AgentPoolType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestrator_version: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub node_labels: BTreeMap<String, String>,
    /// `key=value:Effect` strings.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub node_taints: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentPoolMode {
    System,
    User,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AgentPoolType {
    VirtualMachineScaleSets,
    AvailabilitySet,
}

/// A resource group PUT body (`/subscriptions/{id}/resourcegroups/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResourceGroup {
    pub location: String,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}
