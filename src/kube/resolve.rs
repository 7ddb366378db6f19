//! Mapping objects to API resources: discovery of the group versions a set uses (cached for the
//! run), and, for kinds whose CustomResourceDefinition is in the same set, the CRD itself (so a CR
//! and its CRD can be applied in one run: no "no matches for kind").

use std::collections::HashMap;

use ::kube::core::{ApiResource, GroupVersion};
use ::kube::discovery::{ApiCapabilities, Scope};
use serde_json::Value;
use tokio::sync::Mutex;

use super::client::{self, Connection, Op};
use super::{Error, Object};

/// An object's resource.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub resource: ApiResource,
    pub namespaced: bool,
    /// Known only from a CRD of the set that the server does not serve yet.
    pub pending_crd: bool,
}

type GroupResources = Option<Vec<(ApiResource, ApiCapabilities)>>;

/// Discovery, one request per group version, cached for the run.
pub struct Resolver {
    conn: Connection,
    cache: Mutex<HashMap<String, GroupResources>>,
    /// (group, version, kind) → (plural, namespaced) from CRDs in the set.
    from_set: HashMap<(String, String, String), (String, bool)>,
}

pub fn split_api_version(api_version: &str) -> (String, String) {
    match api_version.split_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), api_version.to_string()),
    }
}

impl Resolver {
    pub fn new(conn: Connection, objects: &[Object]) -> Self {
        let mut from_set = HashMap::new();
        for o in objects {
            if o.api_version().starts_with("apiextensions.k8s.io/")
                && o.kind() == "CustomResourceDefinition"
            {
                let spec = &o.value["spec"];
                let group = spec["group"].as_str().unwrap_or_default().to_string();
                let kind = spec["names"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let plural = spec["names"]["plural"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let namespaced = spec["scope"].as_str() != Some("Cluster");
                for v in spec["versions"].as_array().into_iter().flatten() {
                    if v["served"].as_bool() == Some(false) {
                        continue;
                    }
                    if let Some(version) = v["name"].as_str() {
                        from_set.insert(
                            (group.clone(), version.to_string(), kind.clone()),
                            (plural.clone(), namespaced),
                        );
                    }
                }
            }
        }
        Self {
            conn,
            cache: Mutex::new(HashMap::new()),
            from_set,
        }
    }

    /// The resource of `apiVersion`/`kind`, or None when neither the server nor a CRD of the set
    /// knows it.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Option<Resolved>, Error> {
        let (group, version) = split_api_version(api_version);
        let resources = self.group_version(&group, &version).await?;
        if let Some((ar, caps)) = resources.iter().flatten().find(|(ar, _)| ar.kind == kind) {
            return Ok(Some(Resolved {
                resource: ar.clone(),
                namespaced: caps.scope == Scope::Namespaced,
                pending_crd: false,
            }));
        }
        Ok(self
            .from_set
            .get(&(group.clone(), version.clone(), kind.to_string()))
            .map(|(plural, namespaced)| Resolved {
                resource: ApiResource {
                    group,
                    version,
                    api_version: api_version.to_string(),
                    kind: kind.to_string(),
                    plural: plural.clone(),
                },
                namespaced: *namespaced,
                pending_crd: true,
            }))
    }

    /// Forgets what discovery said about a group (after its CRD was established).
    pub async fn invalidate(&self, group: &str) {
        self.cache
            .lock()
            .await
            .retain(|k, _| k.split_once('/').map(|(g, _)| g) != Some(group));
    }

    async fn group_version(&self, group: &str, version: &str) -> Result<GroupResources, Error> {
        let key = format!("{group}/{version}");
        let mut cache = self.cache.lock().await;
        if let Some(hit) = cache.get(&key) {
            return Ok(hit.clone());
        }
        let gv = GroupVersion::gv(group, version);
        let found =
            match client::retry(|| ::kube::discovery::pinned_group(&self.conn.client, &gv)).await {
                Ok(g) => Some(g.versioned_resources(version)),
                Err(e) if client::is_not_found(&e) => None,
                Err(e) => {
                    let path = if group.is_empty() {
                        format!("/api/{version}")
                    } else {
                        format!("/apis/{group}/{version}")
                    };
                    return Err(client::describe(
                        &self.conn,
                        &Op {
                            verb: "discover",
                            resource: &path,
                            namespace: None,
                            name: None,
                        },
                        e,
                    ));
                }
            };
        cache.insert(key, found.clone());
        Ok(found)
    }
}

/// `deployments.apps`, `configmaps`: how RBAC and messages name a resource.
pub fn resource_name(ar: &ApiResource) -> String {
    if ar.group.is_empty() {
        ar.plural.clone()
    } else {
        format!("{}.{}", ar.plural, ar.group)
    }
}

/// The CRD's (group, kind) pairs, for prune safety checks.
pub fn crd_served(crd: &Value) -> Option<(String, String, String, bool)> {
    let spec = &crd["spec"];
    let group = spec["group"].as_str()?.to_string();
    let plural = spec["names"]["plural"].as_str()?.to_string();
    let version = spec["versions"]
        .as_array()?
        .iter()
        .find(|v| v["storage"].as_bool() == Some(true))
        .or_else(|| spec["versions"].as_array()?.first())?["name"]
        .as_str()?
        .to_string();
    Some((
        group,
        version,
        plural,
        spec["scope"].as_str() != Some("Cluster"),
    ))
}
