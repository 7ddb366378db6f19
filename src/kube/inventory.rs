//! The inventory: what one named apply last put in the cluster (object references and the
//! revision), kept in a ConfigMap. Prune works from it alone, so nothing outside it is ever deleted.

use std::collections::{BTreeMap, BTreeSet};

use ::kube::Api;
use ::kube::api::{Patch, PatchParams};
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::json;

use super::client::{self, Connection, Op};
use super::{Error, FIELD_MANAGER, ObjectRef};

/// Where an inventory lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InventoryRef {
    pub namespace: String,
    pub name: String,
}

impl InventoryRef {
    /// The value of the `gitfleet.io/inventory` annotation on owned objects.
    pub fn id(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Inventory {
    pub revision: String,
    pub objects: BTreeSet<ObjectRef>,
    /// What was last applied to each object, by [`ObjectRef::key`] text: the digest of the
    /// configuration and of the field set gitfleet owned right after (its managedFields
    /// entry). When both still match, the object is unchanged without a dry-run; an imperative
    /// edit moves a field to another manager and so changes the second.
    pub applied: BTreeMap<String, String>,
}

impl Inventory {
    /// Objects of `self` that are not in `next` (same group, kind, namespace and name, any
    /// version), in prune order: namespaced first, then cluster-scoped, namespaces, CRDs last.
    pub fn removed_from(&self, next: &BTreeSet<ObjectRef>) -> Vec<ObjectRef> {
        let keep: BTreeSet<_> = next.iter().map(ObjectRef::key).collect();
        let mut gone: Vec<ObjectRef> = self
            .objects
            .iter()
            .filter(|o| !keep.contains(&o.key()))
            .cloned()
            .collect();
        gone.sort_by(|a, b| b.phase().cmp(&a.phase()).then_with(|| a.cmp(b)));
        gone
    }
}

const DATA_REVISION: &str = "revision";
const DATA_OBJECTS: &str = "objects";
const DATA_APPLIED: &str = "applied";

/// The label every inventory ConfigMap carries (what the agent's watch selects).
pub const LABEL: (&str, &str) = ("app.kubernetes.io/managed-by", "gitfleet");

/// Inventories from a watch, trusted only at the version this process last read or wrote: a
/// ConfigMap the watch shows at any other version (changed by someone else, or the watch not
/// caught up with a write) is read from the API server again, so prune never works from a stale
/// list. Without a watch (the CLI), every read is a GET.
#[derive(Clone, Default)]
pub struct Cache(std::sync::Arc<CacheInner>);

#[derive(Default)]
struct CacheInner {
    store: std::sync::Mutex<Option<::kube::runtime::reflector::Store<ConfigMap>>>,
    known: std::sync::Mutex<std::collections::HashMap<String, String>>,
}

impl Cache {
    /// Reads from this watch's store from now on.
    pub fn watch(&self, store: ::kube::runtime::reflector::Store<ConfigMap>) {
        *self.0.store.lock().unwrap_or_else(|e| e.into_inner()) = Some(store);
    }

    fn cached(&self, at: &InventoryRef) -> Option<ConfigMap> {
        let store = self
            .0
            .store
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()?;
        let known = self
            .0
            .known
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&at.id())
            .cloned()?;
        let cm = store
            .get(&::kube::runtime::reflector::ObjectRef::new(&at.name).within(&at.namespace))?;
        (cm.metadata.resource_version.as_deref() == Some(known.as_str())).then(|| (*cm).clone())
    }

    fn remember(&self, at: &InventoryRef, cm: Option<&ConfigMap>) {
        let mut known = self.0.known.lock().unwrap_or_else(|e| e.into_inner());
        match cm.and_then(|c| c.metadata.resource_version.clone()) {
            Some(rv) => known.insert(at.id(), rv),
            None => known.remove(&at.id()),
        };
    }
}

impl std::fmt::Debug for Cache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("inventory::Cache")
    }
}

/// Reads the inventory; `None` when there is none yet.
pub async fn read(conn: &Connection, at: &InventoryRef) -> Result<Option<Inventory>, Error> {
    let cm = match conn.inventories.cached(at) {
        Some(cm) => cm,
        None => {
            let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), &at.namespace);
            let op = Op {
                verb: "get",
                resource: "configmaps",
                namespace: Some(&at.namespace),
                name: Some(&at.name),
            };
            let cm = client::retry(|| api.get_opt(&at.name))
                .await
                .map_err(|e| client::describe(conn, &op, e))?;
            conn.inventories.remember(at, cm.as_ref());
            match cm {
                Some(cm) => cm,
                None => return Ok(None),
            }
        }
    };
    let data = cm.data.unwrap_or_default();
    let objects: BTreeSet<ObjectRef> = match data.get(DATA_OBJECTS) {
        Some(text) => serde_json::from_str(text).map_err(|e| {
            Error::Other(format!(
                "the inventory ConfigMap {} is not readable ({e}); refusing to prune from it",
                at.id()
            ))
        })?,
        None => BTreeSet::new(),
    };
    // an unreadable record only costs the fast path: every object is dry-run again
    let applied: BTreeMap<String, String> = data
        .get(DATA_APPLIED)
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_default();
    Ok(Some(Inventory {
        applied,
        revision: data.get(DATA_REVISION).cloned().unwrap_or_default(),
        objects,
    }))
}

/// Writes the inventory (server-side apply, so re-writing the same content changes nothing).
pub async fn write(conn: &Connection, at: &InventoryRef, inv: &Inventory) -> Result<(), Error> {
    let api: Api<ConfigMap> = Api::namespaced(conn.client.clone(), &at.namespace);
    let objects: Vec<&ObjectRef> = inv.objects.iter().collect();
    let mut data = BTreeMap::new();
    data.insert(DATA_REVISION, inv.revision.clone());
    data.insert(
        DATA_OBJECTS,
        serde_json::to_string(&objects).map_err(|e| Error::Other(e.to_string()))?,
    );
    if !inv.applied.is_empty() {
        data.insert(
            DATA_APPLIED,
            serde_json::to_string(&inv.applied).map_err(|e| Error::Other(e.to_string()))?,
        );
    }
    let cm = json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": at.name,
            "namespace": at.namespace,
            "labels": {LABEL.0: LABEL.1},
        },
        "data": data,
    });
    let pp = PatchParams::apply(FIELD_MANAGER).force();
    let patch = Patch::Apply(&cm);
    client::retry(|| api.patch(&at.name, &pp, &patch))
        .await
        .map(|written| conn.inventories.remember(at, Some(&written)))
        .map_err(|e| {
            client::describe(
                conn,
                &Op {
                    verb: "patch",
                    resource: "configmaps",
                    namespace: Some(&at.namespace),
                    name: Some(&at.name),
                },
                e,
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(group: &str, kind: &str, ns: Option<&str>, name: &str) -> ObjectRef {
        ObjectRef {
            group: group.into(),
            version: "v1".into(),
            kind: kind.into(),
            namespace: ns.map(Into::into),
            name: name.into(),
        }
    }

    #[test]
    fn removed_objects_in_prune_order() {
        let crd = r(
            "apiextensions.k8s.io",
            "CustomResourceDefinition",
            None,
            "widgets.example.com",
        );
        let ns = r("", "Namespace", None, "apps");
        let role = r("rbac.authorization.k8s.io", "ClusterRole", None, "reader");
        let cm = r("", "ConfigMap", Some("apps"), "settings");
        let cr = r("example.com", "Widget", Some("apps"), "w");
        let kept = r("", "ConfigMap", Some("apps"), "kept");
        let old = Inventory {
            revision: "a".into(),
            objects: [&crd, &ns, &role, &cm, &cr, &kept]
                .into_iter()
                .cloned()
                .collect(),
            applied: Default::default(),
        };
        let mut kept_v2 = kept.clone();
        kept_v2.version = "v2".into();
        let next: BTreeSet<_> = [kept_v2].into_iter().collect();
        assert_eq!(old.removed_from(&next), vec![cm, cr, role, ns, crd]);
    }
}
