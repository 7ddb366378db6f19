//! Plans: the desired state (from the rendered cluster) diffed against the observed state
//! (from a provider) into an ordered list of steps. Pure: the same inputs give the same plan,
//! and `plan` prints the very value that `up` executes.

mod desired;

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

pub use desired::{Desired, DesiredAddon, DesiredPool, desired_state};

use crate::fleet::types::ProviderKind;
use crate::fleet::validate::parse_version;

/// What a provider found. `None`/empty means absent, which is a normal state.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// AKS: whether the resource group exists (`None` when not applicable or unknown).
    pub resource_group: Option<bool>,
    pub control_plane: Option<ObservedControlPlane>,
    pub pools: Vec<ObservedPool>,
    pub addons: Vec<ObservedAddon>,
    pub reconciler: Option<ObservedReconciler>,
    /// Whether the reconciler's manifests in the repository already match the rendered ones.
    pub manifests_committed: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedControlPlane {
    /// Carries gitfleet's ownership tags for this fleet and cluster. A cluster that does not is
    /// never modified, tagged or deleted.
    pub owned: bool,
    pub version: String,
    pub tags: BTreeMap<String, String>,
    /// Settings that cannot change after creation, keyed like [`Desired::immutable`].
    pub immutable: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPool {
    pub name: String,
    pub instance_type: String,
    pub min: u32,
    pub max: u32,
    pub desired: u32,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<String>,
    pub version: Option<String>,
    /// Carries gitfleet's ownership tags: only such pools may be deleted.
    pub owned: bool,
    /// The cloud resource's tags (not the nodes' Kubernetes labels).
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedAddon {
    pub name: String,
    pub version: Option<String>,
    /// Carries gitfleet's ownership tags: only such add-ons may be deleted.
    pub owned: bool,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedReconciler {
    pub image: String,
    pub seeded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Create,
    Update,
    Upgrade,
    Delete,
    Install,
    Seed,
    Commit,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Upgrade => "upgrade",
            Action::Delete => "delete",
            Action::Install => "install",
            Action::Seed => "seed",
            Action::Commit => "commit",
        })
    }
}

/// One field that changes in a step.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Change {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl Change {
    fn new(field: &str, from: Option<String>, to: Option<String>) -> Self {
        Self {
            field: field.to_string(),
            from,
            to,
        }
    }
}

/// What a step acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Target {
    ResourceGroup,
    ControlPlane,
    NodePool,
    Addon,
    Reconciler,
    Repository,
}

impl Target {
    /// Whether a cloud provider carries out steps on this target (the rest is the bootstrap).
    pub fn is_provider(self) -> bool {
        matches!(
            self,
            Target::ResourceGroup | Target::ControlPlane | Target::NodePool | Target::Addon
        )
    }
}

/// One step of a cluster's plan, in the order `up` carries it out.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
pub struct Step {
    pub action: Action,
    pub target: Target,
    /// Name of the thing acted on (cluster, pool, resource group, repository path).
    pub name: String,
    /// The fields that change (left out when none do).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Whether the state this step starts from was observed (`false`: assumed, because the
    /// plan is offline or the cluster could not be reached from here).
    pub observed: bool,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match self.target {
            Target::ResourceGroup => "resource group",
            Target::ControlPlane => "cluster",
            Target::NodePool => "node pool",
            Target::Addon => "add-on",
            Target::Reconciler => "reconciler",
            Target::Repository => "manifests in",
        };
        write!(f, "{} {what} {}", self.action, self.name)?;
        let changes: Vec<String> = self
            .changes
            .iter()
            .map(|c| match (&c.from, &c.to) {
                (Some(a), Some(b)) => format!("{}: {a} → {b}", c.field),
                (None, Some(b)) => format!("{}: {b}", c.field),
                (Some(a), None) => format!("{}: {a} → (removed)", c.field),
                (None, None) => c.field.clone(),
            })
            .collect();
        if !changes.is_empty() {
            write!(f, " ({})", changes.join(", "))?;
        }
        Ok(())
    }
}

/// The plan of one cluster.
#[derive(Debug, Clone, PartialEq, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClusterPlan {
    pub cluster: String,
    pub provider: ProviderKind,
    pub steps: Vec<Step>,
    /// Why part of the cluster could not be observed (its steps are then assumed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unobserved: Option<String>,
}

impl ClusterPlan {
    /// Marks the steps on `targets` as assumed, not observed.
    pub fn assume(&mut self, targets: &[Target], why: Option<String>) {
        for s in self
            .steps
            .iter_mut()
            .filter(|s| targets.contains(&s.target))
        {
            s.observed = false;
        }
        if why.is_some() {
            self.unobserved = why;
        }
    }

    /// Whether any step rests on an assumption.
    pub fn has_assumptions(&self) -> bool {
        self.steps.iter().any(|s| !s.observed)
    }
}

/// Changes a provider cannot make, found while planning.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
#[serde(tag = "reason", rename_all = "camelCase")]
pub enum PlanError {
    #[error(
        "`{field}` cannot change after creation (is {observed}, definition says {desired}); create a new cluster instead"
    )]
    Immutable {
        field: String,
        observed: String,
        desired: String,
    },
    #[error("cannot downgrade Kubernetes from {observed} to {desired}")]
    Downgrade { observed: String, desired: String },
    #[error("cannot read Kubernetes version \"{0}\" reported by the provider")]
    UnknownVersion(String),
    #[error(
        "{what} exists and is not managed by gitfleet (it lacks gitfleet's ownership tags {owner}, {fleet_key}, {cluster_key}); nothing is changed on it: rename the definition, or hand it over with `gitfleet adopt {cluster}`"
    )]
    NotManaged {
        what: String,
        cluster: String,
        owner: &'static str,
        fleet_key: &'static str,
        cluster_key: &'static str,
    },
}

impl PlanError {
    fn not_managed(what: String, cluster: &str) -> Self {
        PlanError::NotManaged {
            what,
            cluster: cluster.to_string(),
            owner: crate::render::OWNER_KEY,
            fleet_key: crate::render::FLEET_KEY,
            cluster_key: crate::render::CLUSTER_KEY,
        }
    }
}

fn minor(v: &str) -> Result<u32, PlanError> {
    parse_version(v)
        .map(|(_, m, _)| m)
        .ok_or_else(|| PlanError::UnknownVersion(v.to_string()))
}

fn map_changes(
    field: &str,
    from: &BTreeMap<String, String>,
    to: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut out = added_or_changed(field, from, to);
    for (k, v) in from {
        if !to.contains_key(k) {
            out.push(Change::new(&format!("{field}.{k}"), Some(v.clone()), None));
        }
    }
    out
}

fn added_or_changed(
    field: &str,
    from: &BTreeMap<String, String>,
    to: &BTreeMap<String, String>,
) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, v) in to {
        match from.get(k) {
            Some(old) if old == v => {}
            old => out.push(Change::new(
                &format!("{field}.{k}"),
                old.cloned(),
                Some(v.clone()),
            )),
        }
    }
    out
}

/// Tag changes on a cloud resource. Tags may be set by others (cost allocation, security
/// tooling): gitfleet adds and updates the ones it defines, and removes a tag only when the
/// resource's record says gitfleet set it ([`crate::render::tags`]).
fn tag_changes(from: &BTreeMap<String, String>, to: &BTreeMap<String, String>) -> Vec<Change> {
    let mut out = added_or_changed("tags", from, to);
    for (k, v) in from {
        if !to.contains_key(k) && crate::render::tags::removable(k, from) {
            out.push(Change::new(&format!("tags.{k}"), Some(v.clone()), None));
        }
    }
    out
}

/// The tags a resource ends up with when `changes` (a step's `tags.*` changes) are applied to
/// the `current` ones: for APIs that replace the whole tag set (ARM PUTs), so that tags set by
/// others are sent back unchanged.
pub fn apply_tag_changes(
    current: &BTreeMap<String, String>,
    changes: &[Change],
) -> BTreeMap<String, String> {
    apply_map_changes("tags.", current, changes)
}

/// The same for the map field `prefix` names (`"labels."`: a pool's node labels).
pub fn apply_map_changes(
    prefix: &str,
    current: &BTreeMap<String, String>,
    changes: &[Change],
) -> BTreeMap<String, String> {
    let mut tags = current.clone();
    for c in changes {
        if let Some(key) = c.field.strip_prefix(prefix) {
            match &c.to {
                Some(v) => {
                    tags.insert(key.to_string(), v.clone());
                }
                None => {
                    tags.remove(key);
                }
            }
        }
    }
    tags
}

/// The steps that take `observed` to `desired`, in the order they must run.
pub fn plan_cluster(desired: &Desired, observed: &Observed) -> Result<ClusterPlan, PlanError> {
    let mut steps = Vec::new();
    let cluster = desired.cluster.clone();
    let step = |action, target, name: &str, changes| Step {
        action,
        target,
        name: name.to_string(),
        changes,
        observed: true,
    };

    if let Some(rg) = &desired.resource_group
        && observed.resource_group != Some(true)
    {
        steps.push(step(Action::Create, Target::ResourceGroup, rg, vec![]));
    }

    if desired.managed {
        let version = desired.version.clone().unwrap_or_default();
        match &observed.control_plane {
            None => steps.push(step(
                Action::Create,
                Target::ControlPlane,
                &cluster,
                vec![Change::new("version", None, Some(version.clone()))],
            )),
            Some(cp) => {
                if !cp.owned {
                    return Err(PlanError::not_managed(
                        format!("cluster {cluster}"),
                        &cluster,
                    ));
                }
                for (field, want) in &desired.immutable {
                    if let Some(have) = cp.immutable.get(field)
                        && have != want
                    {
                        return Err(PlanError::Immutable {
                            field: field.clone(),
                            observed: have.clone(),
                            desired: want.clone(),
                        });
                    }
                }
                let (have, want) = (minor(&cp.version)?, minor(&version)?);
                if want < have {
                    return Err(PlanError::Downgrade {
                        observed: cp.version.clone(),
                        desired: version,
                    });
                }
                if want > have && !desired.upgradable {
                    return Err(PlanError::Immutable {
                        field: "version".into(),
                        observed: cp.version.clone(),
                        desired: version,
                    });
                }
                // One minor version at a time, as EKS and AKS require.
                for m in have..want {
                    steps.push(step(
                        Action::Upgrade,
                        Target::ControlPlane,
                        &cluster,
                        vec![Change::new(
                            "version",
                            Some(format!("1.{m}")),
                            Some(format!("1.{}", m + 1)),
                        )],
                    ));
                }
                let tags = tag_changes(&cp.tags, &desired.tags);
                if !tags.is_empty() {
                    steps.push(step(Action::Update, Target::ControlPlane, &cluster, tags));
                }
            }
        }

        let creating_cluster = observed.control_plane.is_none();
        for pool in &desired.pools {
            match observed.pools.iter().find(|p| p.name == pool.name) {
                None if creating_cluster && pool.with_cluster => {}
                None => steps.push(step(
                    Action::Create,
                    Target::NodePool,
                    &pool.name,
                    vec![
                        Change::new("instanceType", None, Some(pool.instance_type.clone())),
                        Change::new(
                            "size",
                            None,
                            Some(format!(
                                "{}..{} (desired {})",
                                pool.min, pool.max, pool.desired
                            )),
                        ),
                    ],
                )),
                Some(have) if !have.owned => {
                    return Err(PlanError::not_managed(
                        format!("node pool {} of cluster {cluster}", have.name),
                        &cluster,
                    ));
                }
                Some(have) => {
                    if have.instance_type != pool.instance_type {
                        return Err(PlanError::Immutable {
                            field: format!("nodePools[{}].instanceType", pool.name),
                            observed: have.instance_type.clone(),
                            desired: pool.instance_type.clone(),
                        });
                    }
                    let mut changes = Vec::new();
                    for (field, a, b) in [
                        ("min", have.min, pool.min),
                        ("max", have.max, pool.max),
                        ("desired", have.desired, pool.desired),
                    ] {
                        if a != b {
                            changes.push(Change::new(
                                field,
                                Some(a.to_string()),
                                Some(b.to_string()),
                            ));
                        }
                    }
                    // labels and taints others set on the pool stay (only the keys gitfleet's
                    // records list are ever removed)
                    let labels =
                        crate::render::tags::labels_to_keep(&have.labels, &have.tags, &pool.labels);
                    changes.extend(map_changes("labels", &have.labels, &labels));
                    changes.extend(tag_changes(&have.tags, &pool.tags));
                    let taints =
                        crate::render::tags::taints_to_keep(&have.taints, &have.tags, &pool.taints);
                    let mut have_taints = have.taints.clone();
                    have_taints.sort();
                    if have_taints != taints {
                        changes.push(Change::new(
                            "taints",
                            Some(have_taints.join(",")),
                            Some(taints.join(",")),
                        ));
                    }
                    if !changes.is_empty() {
                        steps.push(step(Action::Update, Target::NodePool, &pool.name, changes));
                    }
                }
            }
        }
        // Pools are upgraded after the control plane.
        for pool in &desired.pools {
            if let Some(have) = observed.pools.iter().find(|p| p.name == pool.name)
                && let (Some(hv), Some(want)) = (&have.version, &desired.version)
                && minor(hv)? < minor(want)?
            {
                steps.push(step(
                    Action::Upgrade,
                    Target::NodePool,
                    &pool.name,
                    vec![Change::new("version", Some(hv.clone()), Some(want.clone()))],
                ));
            }
        }
        // Only pools gitfleet created are ever deleted.
        for have in &observed.pools {
            if have.owned && !desired.pools.iter().any(|p| p.name == have.name) {
                steps.push(step(Action::Delete, Target::NodePool, &have.name, vec![]));
            }
        }
        // Add-ons after the nodes they run on. A version left out means "EKS's default":
        // whatever is installed then matches.
        for addon in &desired.addons {
            match observed.addons.iter().find(|a| a.name == addon.name) {
                None => steps.push(step(
                    Action::Create,
                    Target::Addon,
                    &addon.name,
                    addon
                        .version
                        .iter()
                        .map(|v| Change::new("version", None, Some(v.clone())))
                        .collect(),
                )),
                Some(have) if !have.owned => {
                    return Err(PlanError::not_managed(
                        format!("add-on {} of cluster {cluster}", have.name),
                        &cluster,
                    ));
                }
                Some(have) => {
                    let mut changes = Vec::new();
                    if let Some(want) = &addon.version
                        && have.version.as_ref() != Some(want)
                    {
                        changes.push(Change::new(
                            "version",
                            have.version.clone(),
                            Some(want.clone()),
                        ));
                    }
                    changes.extend(tag_changes(&have.tags, &addon.tags));
                    if !changes.is_empty() {
                        steps.push(step(Action::Update, Target::Addon, &addon.name, changes));
                    }
                }
            }
        }
        for have in &observed.addons {
            if have.owned && !desired.addons.iter().any(|a| a.name == have.name) {
                steps.push(step(Action::Delete, Target::Addon, &have.name, vec![]));
            }
        }
    }

    match &observed.reconciler {
        None => steps.push(step(
            Action::Install,
            Target::Reconciler,
            &desired.reconciler_namespace,
            vec![Change::new(
                "image",
                None,
                Some(desired.reconciler_image.clone()),
            )],
        )),
        Some(r) if r.image != desired.reconciler_image => steps.push(step(
            Action::Update,
            Target::Reconciler,
            &desired.reconciler_namespace,
            vec![Change::new(
                "image",
                Some(r.image.clone()),
                Some(desired.reconciler_image.clone()),
            )],
        )),
        Some(_) => {}
    }
    if !observed.reconciler.as_ref().is_some_and(|r| r.seeded) {
        steps.push(step(
            Action::Seed,
            Target::Reconciler,
            &desired.reconciler_namespace,
            vec![
                Change::new("repository", None, Some(desired.repository.clone())),
                Change::new("path", None, Some(desired.sync_path.clone())),
            ],
        ));
    }
    if !observed.manifests_committed {
        steps.push(step(
            Action::Commit,
            Target::Repository,
            &desired.self_manifests_path,
            vec![],
        ));
    }
    Ok(ClusterPlan {
        cluster,
        provider: desired.provider,
        steps,
        unobserved: None,
    })
}

#[cfg(test)]
mod tests;
