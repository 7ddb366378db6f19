//! Mapping objects to API resources: discovery of the group versions a set uses (cached for the
//! run), and, for kinds whose CustomResourceDefinition is in the same set, the CRD itself (so a CR
//! and its CRD can be applied in one run: no "no matches for kind").

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

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

/// How long a group version's discovery answer is reused by later runs on the same connection.
/// A kind that is missing from a reused answer is asked for again, so a CRD installed meanwhile
/// (or a version served since) is found at once; the age bounds only how long a removed resource
/// can still be believed served.
const SHARED_DISCOVERY_TTL: Duration = Duration::from_secs(300);

/// Discovery answers by group version, with the time they were fetched; shared by the runs of one
/// [`Connection`] (one per agent process).
pub type SharedDiscovery = Arc<std::sync::Mutex<HashMap<String, (Instant, GroupResources)>>>;

/// Discovery, one request per group version, cached for the run and reused across runs on the
/// same connection for [`SHARED_DISCOVERY_TTL`].
pub struct Resolver {
    conn: Connection,
    /// This run's view: (answer, fetched by this run rather than reused).
    cache: Mutex<HashMap<String, (GroupResources, bool)>>,
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
        let (mut resources, fresh) = self.group_version(&group, &version, false).await?;
        let find = |resources: &GroupResources| {
            resources
                .iter()
                .flatten()
                .find(|(ar, _)| ar.kind == kind)
                .map(|(ar, caps)| Resolved {
                    resource: ar.clone(),
                    namespaced: caps.scope == Scope::Namespaced,
                    pending_crd: false,
                })
        };
        if find(&resources).is_none() && !fresh {
            // a reused answer without the kind: ask the server now
            resources = self.group_version(&group, &version, true).await?.0;
        }
        if let Some(found) = find(&resources) {
            return Ok(Some(found));
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
        let other_group = |k: &String| k.split_once('/').map(|(g, _)| g) != Some(group);
        self.cache.lock().await.retain(|k, _| other_group(k));
        if let Ok(mut shared) = self.conn.discovery.lock() {
            shared.retain(|k, _| other_group(k));
        }
    }

    /// The resources of a group version: this run's answer, else a recent one of an earlier run
    /// on the connection (unless `refresh`), else the server's. The flag says whether the answer
    /// was fetched by this run.
    async fn group_version(
        &self,
        group: &str,
        version: &str,
        refresh: bool,
    ) -> Result<(GroupResources, bool), Error> {
        let key = format!("{group}/{version}");
        let mut cache = self.cache.lock().await;
        if let Some((hit, fresh)) = cache.get(&key)
            && (*fresh || !refresh)
        {
            return Ok((hit.clone(), *fresh));
        }
        if !refresh {
            let reused = self.conn.discovery.lock().ok().and_then(|shared| {
                shared
                    .get(&key)
                    .filter(|(at, _)| at.elapsed() < SHARED_DISCOVERY_TTL)
                    .map(|(_, r)| r.clone())
            });
            if let Some(reused) = reused {
                cache.insert(key, (reused.clone(), false));
                return Ok((reused, false));
            }
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
        if let Ok(mut shared) = self.conn.discovery.lock() {
            shared.insert(key.clone(), (Instant::now(), found.clone()));
        }
        cache.insert(key, (found.clone(), true));
        Ok((found, true))
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
