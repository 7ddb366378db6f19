//! The apply run: resolve, read live state, validate the whole set with a server-side dry-run,
//! apply phase by phase with bounded concurrency, record the inventory, prune, wait for health.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use ::kube::Api;
use ::kube::api::{DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use ::kube::core::ApiResource;
use futures::{StreamExt, TryStreamExt, stream};
use serde::Serialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::{self, Connection, Op};
use super::health::{Health, health};
use super::inventory::{self, Inventory, InventoryRef};
use super::resolve::{Resolved, Resolver, resource_name, split_api_version};
use super::{
    Action, Change, ChangeSet, Conflict, Error, FIELD_MANAGER, INVENTORY_ANNOTATION, Object,
    ObjectRef, PRUNE_ANNOTATION, Phase, Rejection, diff,
};
use crate::provider::Progress;

/// How to apply.
#[derive(Debug, Clone)]
pub struct ApplyOptions {
    /// Namespace of namespaced objects that name none (default: the kubeconfig context's).
    pub namespace: Option<String>,
    /// Where to record what was applied; required for `prune`.
    pub inventory: Option<InventoryRef>,
    pub prune: bool,
    /// Validate and report, change nothing.
    pub dry_run: bool,
    /// Take over fields another declarative manager (server-side apply) owns.
    pub force_conflicts: bool,
    pub wait: bool,
    pub timeout: Duration,
    /// Requests in flight within one phase.
    pub concurrency: usize,
    /// Revision recorded in the inventory (a Git commit); default: a digest of the set.
    pub revision: Option<String>,
    pub poll_interval: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            namespace: None,
            inventory: None,
            prune: false,
            dry_run: false,
            force_conflicts: false,
            wait: false,
            timeout: Duration::from_secs(5 * 60),
            concurrency: 16,
            revision: None,
            poll_interval: Duration::from_secs(2),
        }
    }
}

/// One object's before/after, for `gitfleet diff`.
#[derive(Debug, Clone, Serialize)]
pub struct ObjectDiff {
    #[serde(flatten)]
    pub object: ObjectRef,
    pub action: Action,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// Live object (display form, secrets masked); None when it does not exist.
    pub before: Option<Value>,
    /// After the apply (display form, secrets masked); None when it will be pruned.
    pub after: Option<Value>,
}

impl ObjectDiff {
    /// The diff as text; values decrypted from the repository masked wherever they appear.
    pub fn unified(&self) -> String {
        crate::decrypt::redact(&diff::unified(
            &self.object.to_string(),
            self.before.as_ref(),
            self.after.as_ref(),
        ))
    }
}

/// One object on its way through a run.
struct Item {
    obj: Object,
    r: ObjectRef,
    resource: ApiResource,
    namespaced: bool,
    /// Cannot be validated before an earlier phase of this run: its CRD or its namespace is
    /// created by the run.
    deferred: Option<String>,
    live: Option<Value>,
    /// The object as the dry-run said it would be.
    planned: Option<Value>,
    action: Action,
    force: bool,
    detail: Option<String>,
    /// Its sync wave (`gitfleet.io/wave` or Argo CD's `argocd.argoproj.io/sync-wave`, default 0):
    /// waves apply in ascending order, each once the previous one is healthy.
    wave: i64,
}

/// The annotations that place an object in a wave, the first present deciding.
pub const WAVE_ANNOTATIONS: [&str; 2] = ["gitfleet.io/wave", "argocd.argoproj.io/sync-wave"];

/// An object's wave: `Ok(0)` without the annotations, `Err` naming the annotation when its value
/// is not an integer.
pub fn wave_of(value: &Value) -> Result<i64, String> {
    let annotations = &value["metadata"]["annotations"];
    for key in WAVE_ANNOTATIONS {
        if let Some(v) = annotations.get(key) {
            return v
                .as_str()
                .and_then(|t| t.trim().parse::<i64>().ok())
                .ok_or_else(|| format!("annotation {key}: {v} is not an integer wave"));
        }
    }
    Ok(0)
}

/// The apply engine over one cluster connection.
pub struct Engine {
    conn: Connection,
}

enum Outcome {
    Ok(Value),
    Conflicts(Vec<(String, String)>),
    Rejected(Box<::kube::core::Status>),
}

impl Engine {
    pub fn new(conn: Connection) -> Self {
        Self { conn }
    }

    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// Makes the cluster match `objects`. See the module docs for the order of events.
    pub async fn apply(
        &self,
        objects: Vec<Object>,
        opts: &ApplyOptions,
        progress: &dyn Progress,
    ) -> Result<ChangeSet, Error> {
        if opts.prune && opts.inventory.is_none() {
            return Err(Error::Other(
                "--prune needs an inventory (--inventory NAME): gitfleet only deletes what its own inventory recorded".into(),
            ));
        }
        let revision = opts.revision.clone().unwrap_or_else(|| digest(&objects));
        let resolver = Resolver::new(self.conn.clone(), &objects);
        let previous = match &opts.inventory {
            Some(at) => inventory::read(&self.conn, at).await?,
            None => None,
        };
        let mut items = self
            .prepare(objects, opts, &resolver, previous.as_ref())
            .await?;
        let new_refs: BTreeSet<ObjectRef> = items.iter().map(|i| i.r.clone()).collect();
        let to_prune = match (&previous, opts.prune) {
            (Some(prev), true) => prev.removed_from(&new_refs),
            _ => Vec::new(),
        };

        let mut set = ChangeSet {
            revision: revision.clone(),
            dry_run: opts.dry_run,
            changes: Vec::new(),
        };
        if opts.dry_run {
            for item in &items {
                set.changes.push(Change {
                    object: item.r.clone(),
                    action: item.action,
                    detail: item.detail.clone(),
                });
            }
            for r in to_prune {
                let (action, detail) = self.prune_decision(&r, opts, &new_refs, &previous).await?;
                set.changes.push(Change {
                    object: r,
                    action,
                    detail,
                });
            }
            return Ok(set);
        }

        // Apply, phase by phase. On failure the inventory still records what was applied, so
        // nothing gitfleet created is ever orphaned from its inventory.
        let mut applied: Vec<ObjectRef> = Vec::new();
        let result = self
            .apply_phases(&mut items, opts, &resolver, &mut applied, progress)
            .await;
        if let Err(e) = result {
            if let Some(at) = &opts.inventory {
                let (mut objects, records) =
                    previous.map(|p| (p.objects, p.applied)).unwrap_or_default();
                objects.extend(applied);
                // the records of re-applied objects no longer match their configuration, so
                // they are dry-run again next time
                let inv = Inventory {
                    revision: String::new(),
                    objects,
                    applied: records,
                };
                if let Err(e2) = inventory::write(&self.conn, at, &inv).await {
                    tracing::warn!(error = %e2, "could not record the inventory after a failed apply");
                }
            }
            return Err(e);
        }
        for item in &items {
            set.changes.push(Change {
                object: item.r.clone(),
                action: item.action,
                detail: item.detail.clone(),
            });
        }

        // Prune, then record: objects that could not be deleted stay in the inventory.
        let mut kept: BTreeSet<ObjectRef> = match (&previous, opts.prune) {
            (Some(prev), false) => prev.removed_from(&new_refs).into_iter().collect(),
            _ => BTreeSet::new(),
        };
        let mut prune_error = None;
        for r in to_prune {
            let (action, detail) = self.prune_decision(&r, opts, &new_refs, &previous).await?;
            if action == Action::Pruned
                && let Err(e) = self.delete(&r).await
            {
                kept.insert(r.clone());
                prune_error.get_or_insert(e);
                continue;
            }
            set.changes.push(Change {
                object: r,
                action,
                detail,
            });
        }
        if let Some(at) = &opts.inventory {
            let mut objects = new_refs.clone();
            objects.extend(kept);
            let applied = items
                .iter()
                .filter_map(|i| {
                    let observed = i.planned.as_ref().or(i.live.as_ref())?;
                    // no digest of decrypted plaintext in the inventory (a weak secret could be
                    // guessed from it): such an object is dry-run on every apply instead
                    let config = i.obj.value.to_string();
                    if crate::decrypt::holds_decrypted(&config) {
                        return None;
                    }
                    Some((record_key(&i.r), fingerprint_of(&config, observed)))
                })
                .collect();
            let inv = Inventory {
                revision,
                objects,
                applied,
            };
            if previous.as_ref() != Some(&inv) {
                inventory::write(&self.conn, at, &inv).await?;
            }
        }
        if let Some(e) = prune_error {
            return Err(e);
        }
        if opts.wait {
            self.wait(&items, opts, progress).await?;
        }
        Ok(set)
    }

    /// Deletes `refs` (in prune order) where the inventory still owns them, with the same
    /// safety checks as prune, and drops them from the inventory.
    pub async fn remove(
        &self,
        refs: &[ObjectRef],
        opts: &ApplyOptions,
    ) -> Result<ChangeSet, Error> {
        let Some(at) = &opts.inventory else {
            return Err(Error::Other("removing objects needs an inventory".into()));
        };
        let Some(previous) = inventory::read(&self.conn, at).await? else {
            return Ok(ChangeSet::default());
        };
        let wanted: HashSet<_> = refs.iter().map(ObjectRef::key).collect();
        let remaining: BTreeSet<ObjectRef> = previous
            .objects
            .iter()
            .filter(|o| !wanted.contains(&o.key()))
            .cloned()
            .collect();
        let mut set = ChangeSet::default();
        let mut kept = remaining.clone();
        let previous = Some(previous);
        for r in previous
            .as_ref()
            .map(|p| p.removed_from(&remaining))
            .unwrap_or_default()
        {
            let (action, detail) = self.prune_decision(&r, opts, &remaining, &previous).await?;
            if action == Action::Pruned {
                self.delete(&r).await?;
            } else if detail.as_deref() != Some("already gone") {
                kept.insert(r.clone());
            }
            set.changes.push(Change {
                object: r,
                action,
                detail,
            });
        }
        inventory::write(
            &self.conn,
            at,
            &Inventory {
                applied: previous
                    .as_ref()
                    .map(|p| p.applied.clone())
                    .unwrap_or_default(),
                revision: previous.map(|p| p.revision).unwrap_or_default(),
                objects: kept,
            },
        )
        .await?;
        Ok(set)
    }

    /// What `apply` would change, object by object (server-side dry-run).
    pub async fn diff(
        &self,
        objects: Vec<Object>,
        opts: &ApplyOptions,
    ) -> Result<Vec<ObjectDiff>, Error> {
        let resolver = Resolver::new(self.conn.clone(), &objects);
        let recorded = match &opts.inventory {
            Some(at) => inventory::read(&self.conn, at).await?,
            None => None,
        };
        let items = self
            .prepare(objects, opts, &resolver, recorded.as_ref())
            .await?;
        let mut out = Vec::new();
        for item in items {
            let mut before = item.live.as_ref().map(diff::for_display);
            let mut after = item.planned.as_ref().map(diff::for_display);
            diff::mask_secrets(&mut before, &mut after);
            out.push(ObjectDiff {
                object: item.r,
                action: item.action,
                detail: item.detail,
                before,
                after,
            });
        }
        if let (true, Some(at)) = (opts.prune, &opts.inventory)
            && let Some(prev) = inventory::read(&self.conn, at).await?
        {
            let new_refs: BTreeSet<ObjectRef> = out.iter().map(|d| d.object.clone()).collect();
            for r in prev.removed_from(&new_refs) {
                let (action, detail) = self
                    .prune_decision(&r, opts, &new_refs, &Some(prev.clone()))
                    .await?;
                let mut before = if action == Action::Pruned {
                    self.get(&r).await?.map(|v| diff::for_display(&v))
                } else {
                    None
                };
                let mut after = None;
                diff::mask_secrets(&mut before, &mut after);
                out.push(ObjectDiff {
                    object: r,
                    action,
                    detail,
                    before,
                    after,
                });
            }
        }
        Ok(out)
    }

    /// Resolve, default namespaces, read live objects, and dry-run everything that can be
    /// validated now. Any unknown kind, conflict or rejection ends the run here, before any write.
    async fn prepare(
        &self,
        objects: Vec<Object>,
        opts: &ApplyOptions,
        resolver: &Resolver,
        previous: Option<&Inventory>,
    ) -> Result<Vec<Item>, Error> {
        let default_ns = opts
            .namespace
            .clone()
            .unwrap_or_else(|| self.conn.default_namespace.clone());
        let mut unresolved = Vec::new();
        let mut items = Vec::new();
        for mut obj in objects {
            let Some(Resolved {
                resource,
                namespaced,
                pending_crd,
            }) = resolver.resolve(obj.api_version(), obj.kind()).await?
            else {
                unresolved.push(format!(
                    "{}: no API resource for kind {} in {} (is its CustomResourceDefinition installed or part of the set?)",
                    obj.source(),
                    obj.kind(),
                    obj.api_version()
                ));
                continue;
            };
            let source = obj.source();
            let kind = obj.kind().to_string();
            let meta = obj.value["metadata"]
                .as_object_mut()
                .expect("checked on load");
            if namespaced {
                if !meta.contains_key("namespace") {
                    meta.insert("namespace".into(), Value::String(default_ns.clone()));
                }
            } else if let Some(ns) = meta.get("namespace") {
                unresolved.push(format!(
                    "{source}: {kind} is cluster-scoped but names namespace {ns}; remove metadata.namespace"
                ));
                continue;
            }
            if let Some(at) = &opts.inventory {
                let annotations = meta
                    .entry("annotations")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(a) = annotations.as_object_mut() {
                    a.insert(INVENTORY_ANNOTATION.into(), Value::String(at.id()));
                }
            }
            let wave = match wave_of(&obj.value) {
                Ok(w) => w,
                Err(e) => {
                    unresolved.push(format!("{source}: {e}"));
                    continue;
                }
            };
            let (group, version) = split_api_version(obj.api_version());
            let r = ObjectRef {
                group,
                version,
                kind: obj.kind().to_string(),
                namespace: obj.namespace().map(str::to_string),
                name: obj.name().to_string(),
            };
            items.push(Item {
                obj,
                r,
                resource,
                namespaced,
                deferred: pending_crd
                    .then(|| "its CustomResourceDefinition is created by this apply".to_string()),
                live: None,
                planned: None,
                action: Action::Created,
                force: opts.force_conflicts,
                detail: None,
                wave,
            });
        }
        if !unresolved.is_empty() {
            return Err(Error::Unresolved(unresolved));
        }
        items.sort_by_key(|i| (i.wave, i.r.phase()));

        // Namespaces the set needs but the cluster does not have yet.
        let in_set: HashSet<String> = items
            .iter()
            .filter(|i| i.r.phase() == Phase::Namespaces)
            .map(|i| i.r.name.clone())
            .collect();
        let needed: BTreeSet<String> = items.iter().filter_map(|i| i.r.namespace.clone()).collect();
        let to_check: Vec<String> = needed
            .into_iter()
            .filter(|ns| in_set.contains(ns))
            .collect();
        // The live state of the set's namespaces first: it says which of them are missing (objects
        // in those cannot be read or dry-run yet), with no request of its own.
        let namespace_items: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].r.phase() == Phase::Namespaces)
            .collect();
        self.read_live(&mut items, &namespace_items, opts).await?;
        let missing: HashSet<String> = to_check
            .into_iter()
            .filter(|ns| {
                !items.iter().any(|i| {
                    i.r.phase() == Phase::Namespaces && &i.r.name == ns && i.live.is_some()
                })
            })
            .collect();
        for item in &mut items {
            if item.deferred.is_none()
                && let Some(ns) = &item.r.namespace
                && missing.contains(ns)
            {
                item.deferred = Some(format!("its namespace {ns} is created by this apply"));
            }
        }

        // Live state, then validation of everything that can be validated now.
        let rest: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].r.phase() != Phase::Namespaces && items[i].deferred.is_none())
            .collect();
        self.read_live(&mut items, &rest, opts).await?;
        if opts.inventory.is_none() {
            keep_inventory_membership(&mut items);
        }
        // Unchanged without a dry-run: the configuration is the one last applied and the field
        // set gitfleet owns is the one it owned right after (no other manager took a field).
        let mut known_unchanged = HashSet::new();
        if let Some(prev) = previous {
            for (i, item) in items.iter_mut().enumerate() {
                let Some(live) = &item.live else { continue };
                if item.deferred.is_none()
                    && !opts.force_conflicts
                    && prev.applied.get(&record_key(&item.r))
                        == Some(&fingerprint(&item.obj.value, live))
                {
                    item.action = Action::Unchanged;
                    item.planned = Some(live.clone());
                    known_unchanged.insert(i);
                }
            }
        }
        let validate: Vec<usize> = (0..items.len())
            .filter(|&i| items[i].deferred.is_none() && !known_unchanged.contains(&i))
            .collect();
        self.dry_run(&mut items, &validate, opts).await?;
        for item in &mut items {
            if let Some(why) = &item.deferred {
                item.action = Action::Created;
                item.planned = Some(item.obj.value.clone());
                item.detail = Some(format!(
                    "validated by the server only during the apply: {why}"
                ));
            }
        }
        Ok(items)
    }

    /// Reads the live object of each of `which` items. Many objects of one resource in one
    /// namespace are read with one LIST; the rest with a GET each, at bounded concurrency.
    async fn read_live(
        &self,
        items: &mut [Item],
        which: &[usize],
        opts: &ApplyOptions,
    ) -> Result<(), Error> {
        let mut groups: HashMap<(String, String, Option<String>), Vec<usize>> = HashMap::new();
        for &i in which {
            groups.entry(list_key(&items[i])).or_default().push(i);
        }
        let mut listed: HashMap<(String, String, Option<String>), HashMap<String, Value>> =
            HashMap::new();
        for (key, members) in groups {
            if members.len() >= LIST_THRESHOLD {
                listed.insert(key, self.list_item_resource(&items[members[0]]).await?);
            }
        }
        let items_ref = &*items;
        let listed_ref = &listed;
        let lives: Vec<(usize, Option<Value>)> = stream::iter(which.iter().copied())
            .map(|i| async move {
                let item = &items_ref[i];
                let live = match listed_ref.get(&list_key(item)) {
                    Some(objects) => objects.get(&item.r.name).cloned(),
                    None => self.get_item(item).await?,
                };
                Ok::<_, Error>((i, live))
            })
            .buffered(opts.concurrency.max(1))
            .try_collect()
            .await?;
        for (i, live) in lives {
            items[i].live = live;
        }
        Ok(())
    }

    /// Server-side dry-run of `which` items; sets their planned object, action and force flag.
    /// All rejections and conflicts are collected and returned together.
    async fn dry_run(
        &self,
        items: &mut [Item],
        which: &[usize],
        opts: &ApplyOptions,
    ) -> Result<(), Error> {
        let outcomes: Vec<(usize, Outcome, bool)> = stream::iter(which.iter().copied())
            .map(|idx| {
                let item = &items[idx];
                async move {
                    let mut force = item.force;
                    let mut outcome = self.server_apply(item, true, force).await?;
                    if let Outcome::Conflicts(found) = &outcome {
                        // Fields changed by imperative updates (kubectl edit, scale) are drift: Git
                        // wins. Fields another declarative applier owns are a real conflict.
                        let declarative = found
                            .iter()
                            .any(|(manager, _)| applies(item.live.as_ref(), manager));
                        if !declarative || opts.force_conflicts {
                            force = true;
                            outcome = self.server_apply(item, true, true).await?;
                        }
                    }
                    Ok::<_, Error>((idx, outcome, force))
                }
            })
            .buffer_unordered(opts.concurrency.max(1))
            .try_collect()
            .await?;
        let mut rejections = Vec::new();
        let mut conflicts = Vec::new();
        for (idx, outcome, force) in outcomes {
            let item = &mut items[idx];
            match outcome {
                Outcome::Ok(planned) => {
                    if force && !item.force {
                        item.detail = Some(drift_detail(item.live.as_ref(), &planned));
                    }
                    item.force = force;
                    item.action = match &item.live {
                        None => Action::Created,
                        Some(live) if diff::comparable(live) == diff::comparable(&planned) => {
                            Action::Unchanged
                        }
                        Some(_) => Action::Configured,
                    };
                    item.planned = Some(planned);
                }
                Outcome::Conflicts(found) => {
                    for (manager, field) in found {
                        conflicts.push(Conflict {
                            object: item.r.clone(),
                            source: item.obj.source(),
                            manager,
                            field,
                        });
                    }
                }
                Outcome::Rejected(s) => rejections.push(Rejection {
                    object: item.r.clone(),
                    source: item.obj.source(),
                    code: s.code,
                    reason: s.reason.clone(),
                    message: s.message.clone(),
                }),
            }
        }
        let by_source = |a: &Rejection, b: &Rejection| a.source.cmp(&b.source);
        rejections.sort_by(by_source);
        conflicts.sort_by(|a, b| (&a.source, &a.field).cmp(&(&b.source, &b.field)));
        if !rejections.is_empty() {
            return Err(Error::Rejected(rejections));
        }
        if !conflicts.is_empty() {
            return Err(Error::Conflicts(conflicts));
        }
        Ok(())
    }

    async fn apply_phases(
        &self,
        items: &mut [Item],
        opts: &ApplyOptions,
        resolver: &Resolver,
        applied: &mut Vec<ObjectRef>,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let waves: BTreeSet<i64> = items.iter().map(|i| i.wave).collect();
        let last = waves.last().copied();
        for wave in waves {
            self.apply_wave(items, wave, opts, resolver, applied, progress)
                .await?;
            if Some(wave) != last {
                // the next wave starts once this one is healthy (as Argo CD's waves do)
                let members: Vec<&Item> = items.iter().filter(|i| i.wave == wave).collect();
                self.wait_items(&members, opts.timeout, opts.poll_interval, progress)
                    .await?;
            }
        }
        Ok(())
    }

    /// Applies one wave's objects, phase by phase.
    async fn apply_wave(
        &self,
        items: &mut [Item],
        wave: i64,
        opts: &ApplyOptions,
        resolver: &Resolver,
        applied: &mut Vec<ObjectRef>,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        for phase in [
            Phase::Crds,
            Phase::Namespaces,
            Phase::ClusterScoped,
            Phase::Namespaced,
        ] {
            if phase == Phase::ClusterScoped {
                // Everything deferred can be validated now that CRDs and namespaces exist.
                let which: Vec<usize> = (0..items.len())
                    .filter(|&i| items[i].wave == wave && items[i].deferred.is_some())
                    .collect();
                for item in items
                    .iter_mut()
                    .filter(|i| i.wave == wave && i.deferred.is_some())
                {
                    if let Some(r) = resolver
                        .resolve(item.obj.api_version(), item.obj.kind())
                        .await?
                        && !r.pending_crd
                    {
                        item.resource = r.resource;
                        item.namespaced = r.namespaced;
                    }
                    item.deferred = None;
                    item.detail = None;
                }
                if let Err(e) = self.dry_run(items, &which, opts).await {
                    return Err(match e {
                        Error::Rejected(rejections) => Error::PartiallyApplied {
                            applied: applied.len(),
                            rejections,
                        },
                        other => other,
                    });
                }
            }
            let which: Vec<usize> = (0..items.len())
                .filter(|&i| {
                    items[i].wave == wave
                        && items[i].r.phase() == phase
                        && items[i].action != Action::Unchanged
                })
                .collect();
            let results: Vec<(usize, Result<Outcome, Error>)> = stream::iter(which)
                .map(|idx| {
                    let item = &items[idx];
                    async move { (idx, self.server_apply(item, false, item.force).await) }
                })
                .buffer_unordered(opts.concurrency.max(1))
                .collect()
                .await;
            let mut rejections = Vec::new();
            let mut fatal = None;
            for (idx, result) in results {
                let item = &mut items[idx];
                match result {
                    Ok(Outcome::Ok(after)) => {
                        applied.push(item.r.clone());
                        // the object as applied: its health and gitfleet's field set now
                        item.planned = Some(after);
                    }
                    Ok(Outcome::Rejected(s)) => rejections.push(Rejection {
                        object: item.r.clone(),
                        source: item.obj.source(),
                        code: s.code,
                        reason: s.reason.clone(),
                        message: s.message.clone(),
                    }),
                    Ok(Outcome::Conflicts(found)) => rejections.push(Rejection {
                        object: item.r.clone(),
                        source: item.obj.source(),
                        code: 409,
                        reason: "Conflict".into(),
                        message: found
                            .iter()
                            .map(|(m, f)| format!("{f} is managed by \"{m}\""))
                            .collect::<Vec<_>>()
                            .join(", "),
                    }),
                    Err(e) => {
                        fatal.get_or_insert(e);
                    }
                }
            }
            if let Some(e) = fatal {
                return Err(e);
            }
            if !rejections.is_empty() {
                rejections.sort_by(|a, b| a.source.cmp(&b.source));
                return Err(Error::PartiallyApplied {
                    applied: applied.len(),
                    rejections,
                });
            }
            if phase == Phase::Crds {
                let crds: Vec<&Item> = items
                    .iter()
                    .filter(|i| i.wave == wave && i.r.is_crd())
                    .collect();
                self.wait_items(
                    &crds,
                    opts.timeout,
                    opts.poll_interval.min(Duration::from_millis(500)),
                    progress,
                )
                .await?;
                let groups: BTreeSet<String> = crds
                    .iter()
                    .filter_map(|i| i.obj.value["spec"]["group"].as_str().map(str::to_string))
                    .collect();
                for g in &groups {
                    resolver.invalidate(g).await;
                }
                // Served once Established on a real server; wait for discovery to agree (for the
                // kinds of the CRDs this wave created; a later wave's CRDs are not applied yet).
                let start = Instant::now();
                for item in items.iter().filter(|i| {
                    groups.contains(&i.r.group)
                        && i.deferred
                            .as_deref()
                            .is_some_and(|d| d.contains("CustomResourceDefinition"))
                }) {
                    loop {
                        match resolver
                            .resolve(item.obj.api_version(), item.obj.kind())
                            .await?
                        {
                            Some(r) if !r.pending_crd => break,
                            _ if start.elapsed() > opts.timeout => {
                                return Err(Error::Other(format!(
                                    "{}: kind {} is still not served {:?} after its CRD was established",
                                    item.obj.source(),
                                    item.obj.kind(),
                                    start.elapsed()
                                )));
                            }
                            _ => {
                                tokio::time::sleep(Duration::from_millis(200)).await;
                                resolver.invalidate(&item.r.group).await;
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.conn.client.clone(), ns, resource),
            None => Api::all_with(self.conn.client.clone(), resource),
        }
    }

    fn op<'a>(verb: &'a str, resource: &'a str, r: &'a ObjectRef) -> Op<'a> {
        Op {
            verb,
            resource,
            namespace: r.namespace.as_deref(),
            name: Some(&r.name),
        }
    }

    /// Every object of an item's resource in its namespace, by name.
    async fn list_item_resource(&self, item: &Item) -> Result<HashMap<String, Value>, Error> {
        let ns = if item.namespaced {
            item.r.namespace.as_deref()
        } else {
            None
        };
        let api = self.api(&item.resource, ns);
        let lp = ListParams::default();
        let list = client::retry(|| api.list(&lp)).await.map_err(|e| {
            client::describe(
                &self.conn,
                &Op {
                    verb: "list",
                    resource: &resource_name(&item.resource),
                    namespace: ns,
                    name: None,
                },
                e,
            )
        })?;
        Ok(list
            .items
            .into_iter()
            .map(|o| {
                let mut v = to_value(o);
                // List items of built-in kinds come without apiVersion and kind.
                if let Some(map) = v.as_object_mut() {
                    map.insert(
                        "apiVersion".into(),
                        Value::String(item.resource.api_version.clone()),
                    );
                    map.insert("kind".into(), Value::String(item.resource.kind.clone()));
                }
                let name = v["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                (name, v)
            })
            .collect())
    }

    async fn get_item(&self, item: &Item) -> Result<Option<Value>, Error> {
        let ns = if item.namespaced {
            item.r.namespace.as_deref()
        } else {
            None
        };
        let api = self.api(&item.resource, ns);
        match client::retry(|| api.get_opt(&item.r.name)).await {
            Ok(v) => Ok(v.map(to_value)),
            Err(e) => Err(client::describe(
                &self.conn,
                &Self::op("get", &resource_name(&item.resource), &item.r),
                e,
            )),
        }
    }

    /// One server-side apply (or its dry-run). API refusals come back as outcomes; auth and
    /// connectivity failures as errors.
    async fn server_apply(
        &self,
        item: &Item,
        dry_run: bool,
        force: bool,
    ) -> Result<Outcome, Error> {
        let ns = if item.namespaced {
            item.r.namespace.as_deref()
        } else {
            None
        };
        let api = self.api(&item.resource, ns);
        let mut pp = PatchParams::apply(FIELD_MANAGER);
        if force {
            pp = pp.force();
        }
        if dry_run {
            pp = pp.dry_run();
        }
        let patch = Patch::Apply(&item.obj.value);
        match client::retry(|| api.patch(&item.r.name, &pp, &patch)).await {
            Ok(obj) => Ok(Outcome::Ok(to_value(obj))),
            Err(::kube::Error::Api(s)) if s.code == 409 && s.reason == "Conflict" && !force => {
                let found = conflicts_of(&s);
                if found.is_empty() {
                    Ok(Outcome::Rejected(s))
                } else {
                    Ok(Outcome::Conflicts(found))
                }
            }
            Err(::kube::Error::Api(s))
                if matches!(s.code, 400 | 404 | 409 | 410 | 415 | 422 | 500) =>
            {
                Ok(Outcome::Rejected(s))
            }
            Err(e) => Err(client::describe(
                &self.conn,
                &Self::op("patch", &resource_name(&item.resource), &item.r),
                e,
            )),
        }
    }

    /// The resource of an inventory entry (which may be of a kind no longer served).
    async fn resource_of(&self, r: &ObjectRef) -> Result<Option<(ApiResource, bool)>, Error> {
        let resolver = Resolver::new(self.conn.clone(), &[]);
        Ok(resolver
            .resolve(&r.api_version(), &r.kind)
            .await?
            .map(|res| (res.resource, res.namespaced)))
    }

    /// The live object `r` names, or None when it is absent or its kind is not served (yet).
    pub async fn live(&self, r: &ObjectRef) -> Result<Option<Value>, Error> {
        self.get(r).await
    }

    async fn get(&self, r: &ObjectRef) -> Result<Option<Value>, Error> {
        let Some((ar, namespaced)) = self.resource_of(r).await? else {
            return Ok(None);
        };
        let api = self.api(
            &ar,
            if namespaced {
                r.namespace.as_deref()
            } else {
                None
            },
        );
        client::retry(|| api.get_opt(&r.name))
            .await
            .map(|o| o.map(to_value))
            .map_err(|e| client::describe(&self.conn, &Self::op("get", &resource_name(&ar), r), e))
    }

    /// Whether an object that left the set may be deleted: it must still carry this inventory's
    /// annotation, not opt out, and (namespaces, CRDs) not hold objects outside the inventory.
    async fn prune_decision(
        &self,
        r: &ObjectRef,
        opts: &ApplyOptions,
        new_refs: &BTreeSet<ObjectRef>,
        previous: &Option<Inventory>,
    ) -> Result<(Action, Option<String>), Error> {
        let Some(at) = &opts.inventory else {
            return Ok((Action::Skipped, None));
        };
        let Some(live) = self.get(r).await? else {
            return Ok((Action::Skipped, Some("already gone".into())));
        };
        let annotations = &live["metadata"]["annotations"];
        if annotations[INVENTORY_ANNOTATION].as_str() != Some(at.id().as_str()) {
            return Ok((
                Action::Skipped,
                Some(format!(
                    "not deleted: it no longer carries {INVENTORY_ANNOTATION}={}",
                    at.id()
                )),
            ));
        }
        if let Some(why) = kept_from_prune(annotations) {
            return Ok((Action::Skipped, Some(format!("not deleted: {why}"))));
        }
        let ours: HashSet<(String, String, Option<String>, String)> = previous
            .iter()
            .flat_map(|p| p.objects.iter())
            .chain(new_refs.iter())
            .map(ObjectRef::key)
            .collect();
        if r.group.is_empty() && r.kind == "Namespace" {
            if let Some(foreign) = self.foreign_in_namespace(&r.name, &ours).await? {
                return Ok((
                    Action::Skipped,
                    Some(format!(
                        "not deleted: the namespace still holds {foreign}, which gitfleet does not own"
                    )),
                ));
            }
        } else if r.is_crd()
            && let Some((group, version, plural, namespaced)) = super::resolve::crd_served(&live)
        {
            let ar = ApiResource {
                api_version: format!("{group}/{version}"),
                group: group.clone(),
                version,
                kind: live["spec"]["names"]["kind"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                plural,
            };
            let list = self
                .api(&ar, None)
                .list(&ListParams::default())
                .await
                .map(|l| l.items)
                .unwrap_or_default();
            if let Some(o) = list.iter().find(|o| {
                !ours.contains(&(
                    group.clone(),
                    ar.kind.clone(),
                    if namespaced {
                        o.metadata.namespace.clone()
                    } else {
                        None
                    },
                    o.metadata.name.clone().unwrap_or_default(),
                ))
            }) {
                return Ok((
                    Action::Skipped,
                    Some(format!(
                        "not deleted: {} {} still exists and is not gitfleet's",
                        ar.kind,
                        o.metadata.name.clone().unwrap_or_default()
                    )),
                ));
            }
        }
        Ok((Action::Pruned, None))
    }

    /// The first object in namespace `ns` that is not in `ours` (ignoring what Kubernetes itself
    /// creates in every namespace), across every listable namespaced resource.
    async fn foreign_in_namespace(
        &self,
        ns: &str,
        ours: &HashSet<(String, String, Option<String>, String)>,
    ) -> Result<Option<String>, Error> {
        let discovery = ::kube::discovery::Discovery::new(self.conn.client.clone())
            .run()
            .await
            .map_err(|e| {
                client::describe(
                    &self.conn,
                    &Op {
                        verb: "discover",
                        resource: "/apis",
                        namespace: None,
                        name: None,
                    },
                    e,
                )
            })?;
        for group in discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if caps.scope != ::kube::discovery::Scope::Namespaced
                    || !caps.supports_operation(::kube::discovery::verbs::LIST)
                    || ar.plural == "events"
                {
                    continue;
                }
                let list = match self.api(&ar, Some(ns)).list(&ListParams::default()).await {
                    Ok(l) => l,
                    Err(_) => continue,
                };
                for o in list.items {
                    let name = o.metadata.name.clone().unwrap_or_default();
                    let builtin = (ar.plural == "serviceaccounts" && name == "default")
                        || (ar.plural == "configmaps" && name == "kube-root-ca.crt")
                        || !o
                            .metadata
                            .owner_references
                            .clone()
                            .unwrap_or_default()
                            .is_empty();
                    if builtin {
                        continue;
                    }
                    if !ours.contains(&(
                        ar.group.clone(),
                        ar.kind.clone(),
                        Some(ns.to_string()),
                        name.clone(),
                    )) {
                        return Ok(Some(format!("{} {name}", ar.kind)));
                    }
                }
            }
        }
        Ok(None)
    }

    /// Deletes one object (absent is fine): a Helm hook's delete policy.
    pub async fn delete_object(&self, r: &ObjectRef) -> Result<(), Error> {
        self.delete(r).await
    }

    async fn delete(&self, r: &ObjectRef) -> Result<(), Error> {
        let Some((ar, namespaced)) = self.resource_of(r).await? else {
            return Ok(());
        };
        let api = self.api(
            &ar,
            if namespaced {
                r.namespace.as_deref()
            } else {
                None
            },
        );
        let dp = DeleteParams::background();
        match client::retry(|| api.delete(&r.name, &dp)).await {
            Ok(_) => Ok(()),
            Err(e) if client::is_not_found(&e) => Ok(()),
            Err(e) => Err(client::describe(
                &self.conn,
                &Self::op("delete", &resource_name(&ar), r),
                e,
            )),
        }
    }

    async fn wait(
        &self,
        items: &[Item],
        opts: &ApplyOptions,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let all: Vec<&Item> = items.iter().collect();
        self.wait_items(&all, opts.timeout, opts.poll_interval, progress)
            .await
    }

    /// Polls until every item is ready; on timeout names the first (in apply order) that is not.
    async fn wait_items(
        &self,
        items: &[&Item],
        timeout: Duration,
        poll: Duration,
        progress: &dyn Progress,
    ) -> Result<(), Error> {
        let start = Instant::now();
        // What the server said the object looks like after this apply is as good as a GET for
        // objects that are ready as written (ConfigMaps, unchanged rolled-out Deployments...):
        // a changed workload's new generation is not observed yet, so it is read again.
        let mut pending: Vec<&Item> = Vec::new();
        for item in items {
            match item.planned.as_ref().map(health) {
                Some(Health::Ready) if !item.r.is_crd() => {
                    progress.status(&item.r.to_string(), "Ready", start.elapsed())
                }
                _ => pending.push(item),
            }
        }
        let mut last: HashMap<ObjectRef, String> = HashMap::new();
        loop {
            let pending_ref = &pending;
            let states: Vec<(usize, Health)> = stream::iter(0..pending.len())
                .map(|i| async move {
                    let item: &Item = pending_ref[i];
                    let h = match self.get_item(item).await? {
                        Some(live) => health(&live),
                        None => Health::Progressing("not found".into()),
                    };
                    Ok::<_, Error>((i, h))
                })
                .buffered(16)
                .try_collect()
                .await?;
            let mut still = Vec::new();
            for (i, h) in states {
                let item = pending[i];
                let what = item.r.to_string();
                match h {
                    Health::Ready => progress.status(&what, "Ready", start.elapsed()),
                    Health::Failed(msg) => {
                        progress.status(&what, &msg, start.elapsed());
                        return Err(Error::Other(format!("{what} failed: {msg}")));
                    }
                    Health::Progressing(msg) => {
                        progress.status(&what, &msg, start.elapsed());
                        last.insert(item.r.clone(), msg);
                        still.push(item);
                    }
                }
            }
            pending = still;
            if pending.is_empty() {
                return Ok(());
            }
            if start.elapsed() >= timeout {
                let first = pending[0];
                return Err(Error::NotReady {
                    object: first.r.clone(),
                    status: last.get(&first.r).cloned().unwrap_or_default(),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(poll).await;
        }
    }
}

/// Objects of one resource in one namespace: read with one LIST from this many on.
const LIST_THRESHOLD: usize = 8;

fn list_key(item: &Item) -> (String, String, Option<String>) {
    (
        item.resource.api_version.clone(),
        item.resource.plural.clone(),
        if item.namespaced {
            item.r.namespace.clone()
        } else {
            None
        },
    )
}

fn to_value(obj: DynamicObject) -> Value {
    serde_json::to_value(obj).unwrap_or(Value::Null)
}

/// (manager, field) pairs of a server-side apply conflict.
fn conflicts_of(s: &::kube::core::Status) -> Vec<(String, String)> {
    let causes = s
        .details
        .as_ref()
        .map(|d| d.causes.clone())
        .unwrap_or_default();
    causes
        .iter()
        .filter(|c| c.reason == "FieldManagerConflict" || c.message.starts_with("conflict with"))
        .map(|c| {
            let manager = c
                .message
                .split('"')
                .nth(1)
                .unwrap_or(&c.message)
                .to_string();
            (manager, c.field.clone())
        })
        .collect()
}

/// Whether `manager` owns fields of `live` through server-side apply (a declarative tool), as
/// opposed to imperative updates (kubectl edit/scale/patch).
fn applies(live: Option<&Value>, manager: &str) -> bool {
    let Some(fields) = live.and_then(|l| l["metadata"]["managedFields"].as_array()) else {
        return true;
    };
    let entries: Vec<&Value> = fields.iter().filter(|f| f["manager"] == manager).collect();
    entries.is_empty() || entries.iter().any(|f| f["operation"] == "Apply")
}

/// Without `--inventory`, an object that already belongs to an inventory (an agent's Sync, an
/// earlier `apply --inventory`) keeps its `gitfleet.io/inventory` annotation: applying it as it is
/// would strip the field gitfleet's manager set, and with it the object from its inventory (and a
/// `diff` would show that removal on every converged object).
fn keep_inventory_membership(items: &mut [Item]) {
    for item in items {
        let Some(id) = item.live.as_ref().and_then(|l| {
            l["metadata"]["annotations"][INVENTORY_ANNOTATION]
                .as_str()
                .map(str::to_string)
        }) else {
            continue;
        };
        let Some(meta) = item.obj.value["metadata"].as_object_mut() else {
            continue;
        };
        let annotations = meta
            .entry("annotations")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(a) = annotations.as_object_mut() {
            a.entry(INVENTORY_ANNOTATION).or_insert(Value::String(id));
        }
    }
}

/// The inventory's record key of an object: group, kind, namespace and name (any version).
fn record_key(r: &ObjectRef) -> String {
    format!(
        "{}/{}/{}/{}",
        r.group,
        r.kind,
        r.namespace.as_deref().unwrap_or(""),
        r.name
    )
}

/// What was applied and what gitfleet owned afterwards: the digest of the configuration sent,
/// and of gitfleet's Apply entry in `observed`'s managedFields (its field set).
fn fingerprint(desired: &Value, observed: &Value) -> String {
    fingerprint_of(&desired.to_string(), observed)
}

/// [`fingerprint`] of a configuration already serialised.
fn fingerprint_of(desired: &str, observed: &Value) -> String {
    use sha2::Digest as _;
    let owned = observed["metadata"]["managedFields"]
        .as_array()
        .and_then(|fields| {
            fields.iter().find(|f| {
                f["manager"] == FIELD_MANAGER
                    && f["operation"] == "Apply"
                    && f["subresource"].as_str().is_none_or(str::is_empty)
            })
        })
        .map(|f| f["fieldsV1"].to_string())
        .unwrap_or_default();
    let d = hex::encode(sha2::Sha256::digest(desired.as_bytes()));
    let o = hex::encode(sha2::Sha256::digest(owned.as_bytes()));
    format!("{}:{}", &d[..32], &o[..32])
}

/// "drift corrected: changed by kubectl-edit".
fn drift_detail(live: Option<&Value>, planned: &Value) -> String {
    let mut managers: BTreeSet<String> = BTreeSet::new();
    let before: BTreeSet<String> = live
        .and_then(|l| l["metadata"]["managedFields"].as_array())
        .into_iter()
        .flatten()
        .filter(|f| {
            f["operation"] == "Update" && f["subresource"].as_str().is_none_or(str::is_empty)
        })
        .filter_map(|f| f["manager"].as_str().map(str::to_string))
        .collect();
    let after: Vec<&Value> = planned["metadata"]["managedFields"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    for m in before {
        let still = after
            .iter()
            .find(|f| f["manager"] == m.as_str() && f["operation"] == "Update");
        let lost = match (
            live.and_then(|l| {
                l["metadata"]["managedFields"].as_array().and_then(|a| {
                    a.iter()
                        .find(|f| f["manager"] == m.as_str() && f["operation"] == "Update")
                })
            }),
            still,
        ) {
            (Some(a), Some(b)) => a["fieldsV1"] != b["fieldsV1"],
            (Some(_), None) => true,
            _ => false,
        };
        if lost {
            managers.insert(m);
        }
    }
    if managers.is_empty() {
        "drift corrected".to_string()
    } else {
        format!(
            "drift corrected: fields changed by {} restored",
            managers.into_iter().collect::<Vec<_>>().join(", ")
        )
    }
}

/// A digest of the set, as the revision when none is given: `sha256:<12 hex>`.
/// The revision of a set that names none: a digest of its objects.
/// The annotation that keeps an object from being pruned, as the tools whose repositories
/// gitfleet reads write it: gitfleet's `gitfleet.io/prune: disabled`, Flux's
/// `kustomize.toolkit.fluxcd.io/prune: disabled`, Argo CD's
/// `argocd.argoproj.io/sync-options: Prune=false` and Helm's `helm.sh/resource-policy: keep`.
pub fn kept_from_prune(annotations: &Value) -> Option<String> {
    for key in [PRUNE_ANNOTATION, "kustomize.toolkit.fluxcd.io/prune"] {
        if annotations[key].as_str() == Some("disabled") {
            return Some(format!("{key}: disabled"));
        }
    }
    let argo = "argocd.argoproj.io/sync-options";
    if annotations[argo]
        .as_str()
        .is_some_and(|o| o.split(',').any(|o| o.trim() == "Prune=false"))
    {
        return Some(format!("{argo}: Prune=false"));
    }
    let helm = "helm.sh/resource-policy";
    if annotations[helm].as_str() == Some("keep") {
        return Some(format!("{helm}: keep"));
    }
    None
}

pub fn digest(objects: &[Object]) -> String {
    let mut texts: Vec<String> = objects.iter().map(|o| o.value.to_string()).collect();
    texts.sort();
    let mut h = Sha256::new();
    for t in texts {
        h.update(t.as_bytes());
        h.update(b"\n");
    }
    let hex: String = h
        .finalize()
        .iter()
        .take(6)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256:{hex}")
}
