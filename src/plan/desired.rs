//! The desired state of a cluster in provider-neutral terms, read off the rendered requests (so
//! a template override that changes a request also changes the plan).

use std::collections::BTreeMap;

use serde::Serialize;

use crate::fleet::ResolvedCluster;
use crate::fleet::types::{Fleet, ProviderKind};
use crate::render::{ProviderRequests, RenderedCluster};

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Desired {
    /// The fleet's name (ownership tags carry it).
    pub fleet: String,
    pub cluster: String,
    pub provider: ProviderKind,
    /// Whether gitfleet provisions the cluster (false for existing clusters).
    pub managed: bool,
    /// Whether the provider upgrades in place (kind clusters are recreated instead).
    pub upgradable: bool,
    pub version: Option<String>,
    pub resource_group: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub pools: Vec<DesiredPool>,
    pub addons: Vec<DesiredAddon>,
    /// Settings fixed at creation (`eks.subnetIds`, `aks.dnsPrefix`, ...): a change is an error.
    pub immutable: BTreeMap<String, String>,
    pub reconciler_namespace: String,
    pub reconciler_image: String,
    pub repository: String,
    pub sync_path: String,
    /// Where `up` commits the reconciler's own manifests.
    pub self_manifests_path: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredAddon {
    pub name: String,
    /// `None`: EKS's default version for the cluster.
    pub version: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DesiredPool {
    pub name: String,
    pub instance_type: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub labels: BTreeMap<String, String>,
    /// `key=value:Effect`
    pub taints: Vec<String>,
    /// Created by the cluster's own create request (the AKS system pool), not separately.
    pub with_cluster: bool,
    /// The cloud resource's tags (not the nodes' Kubernetes labels).
    pub tags: BTreeMap<String, String>,
}

pub fn desired_state(
    fleet: &Fleet,
    cluster: &ResolvedCluster,
    rendered: &RenderedCluster,
) -> Desired {
    let mut d = Desired {
        fleet: fleet.metadata.name.clone(),
        cluster: cluster.name.clone(),
        provider: cluster.provider,
        managed: cluster.provider != ProviderKind::Existing,
        upgradable: matches!(cluster.provider, ProviderKind::Eks | ProviderKind::Aks),
        version: cluster.spec.version.clone(),
        resource_group: None,
        tags: BTreeMap::new(),
        pools: Vec::new(),
        addons: Vec::new(),
        immutable: BTreeMap::new(),
        reconciler_namespace: fleet.spec.reconciler.namespace.clone(),
        reconciler_image: fleet.spec.reconciler.image.clone(),
        repository: format!(
            "{}@{}",
            fleet.spec.repository.url, fleet.spec.repository.branch
        ),
        sync_path: cluster.path.clone(),
        self_manifests_path: format!(
            "{}/{}",
            cluster.path.trim_end_matches('/'),
            fleet.spec.reconciler.namespace
        ),
    };
    match &rendered.requests {
        ProviderRequests::Eks {
            region,
            create_cluster,
            nodegroups,
            addons,
        } => {
            d.addons = addons
                .iter()
                .map(|a| DesiredAddon {
                    name: a.addon_name.clone(),
                    version: a.addon_version.clone(),
                    tags: a.tags.clone(),
                })
                .collect();
            d.version = Some(create_cluster.version.clone());
            d.tags = create_cluster.tags.clone();
            if let Some(region) = region {
                d.immutable.insert("eks.region".into(), region.clone());
            }
            d.immutable.insert(
                "eks.subnetIds".into(),
                create_cluster.resources_vpc_config.subnet_ids.join(","),
            );
            d.immutable
                .insert("eks.roleArn".into(), create_cluster.role_arn.clone());
            d.pools = nodegroups
                .iter()
                .map(|ng| DesiredPool {
                    name: ng.nodegroup_name.clone(),
                    instance_type: ng.instance_types.join(","),
                    min: ng.scaling_config.min_size,
                    max: ng.scaling_config.max_size,
                    desired: ng.scaling_config.desired_size,
                    labels: ng.labels.clone(),
                    taints: ng
                        .taints
                        .iter()
                        .map(|t| {
                            let effect = serde_json::to_value(t.effect)
                                .ok()
                                .and_then(|v| v.as_str().map(str::to_string))
                                .unwrap_or_default();
                            match &t.value {
                                Some(v) => format!("{}={v}:{effect}", t.key),
                                None => format!("{}:{effect}", t.key),
                            }
                        })
                        .collect(),
                    with_cluster: false,
                    tags: ng.tags.clone(),
                })
                .collect();
        }
        ProviderRequests::Aks {
            resource_group,
            resource_group_name,
            managed_cluster,
            agent_pools,
            ..
        } => {
            if resource_group.is_some() {
                d.resource_group = Some(resource_group_name.clone());
            }
            let props = &managed_cluster.properties;
            d.version = Some(props.kubernetes_version.clone());
            d.tags = managed_cluster.tags.clone();
            d.immutable
                .insert("aks.location".into(), managed_cluster.location.clone());
            d.immutable
                .insert("aks.dnsPrefix".into(), props.dns_prefix.clone());
            let pool = |name: &str, p: &crate::render::aks::AgentPoolProperties, with_cluster| {
                DesiredPool {
                    name: name.to_string(),
                    instance_type: p.vm_size.clone(),
                    min: p.min_count.unwrap_or(p.count),
                    max: p.max_count.unwrap_or(p.count),
                    desired: p.count,
                    labels: p.node_labels.clone(),
                    taints: p.node_taints.clone(),
                    with_cluster,
                    tags: p.tags.clone(),
                }
            };
            d.pools = props
                .agent_pool_profiles
                .iter()
                .map(|p| pool(p.name.as_deref().unwrap_or_default(), p, true))
                .chain(
                    agent_pools
                        .iter()
                        .map(|(n, p)| pool(n, &p.properties, false)),
                )
                .collect();
        }
        ProviderRequests::Kind { config } => {
            d.immutable
                .insert("kind.nodes".into(), config.nodes.len().to_string());
        }
        ProviderRequests::Existing { .. } => {}
    }
    d
}
