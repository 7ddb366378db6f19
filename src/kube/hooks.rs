//! Hooks around a revision, as Argo CD and Helm run them. Argo CD's
//! `argocd.argoproj.io/hook: PreSync|Sync|PostSync|SyncFail|Skip` (comma-separated for several)
//! and Helm's `helm.sh/hook` (`pre-install`/`pre-upgrade` before the release's objects,
//! `post-install`/`post-upgrade` after; a chart's install hooks run on its first revision, its
//! upgrade hooks on later ones, as Helm runs them; `test` hooks never) are created once per
//! revision and waited for (a Job until it completes), in weight order
//! (`argocd.argoproj.io/sync-wave` or `helm.sh/hook-weight`), one weight at a time; `Sync` hooks
//! run after the PreSync hooks, once the objects are applied; `SyncFail` hooks run when anything
//! of the revision failed. Delete policies: `argocd.argoproj.io/hook-delete-policy` /
//! `helm.sh/hook-delete-policy` (`BeforeHookCreation`, the default of both, `HookSucceeded`,
//! `HookFailed`, in either spelling). A hook named by `generateName` gets a name derived from the
//! revision and its content, so a re-run of the revision finds the same object instead of
//! creating a second. Hooks are not in the inventory, so they are never pruned. The revision's
//! whole-set dry-run runs before its PreSync hooks, so a revision the API server rejects runs
//! none of them; a failing PreSync hook stops the revision before anything else changes. `Skip` objects are not applied at all.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::engine::{ApplyOptions, Engine};
use super::{Error, Object, ObjectRef};
use crate::provider::Progress;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum When {
    /// PreSync, pre-install, pre-upgrade.
    Before,
    /// Sync: once the objects are applied (before the PostSync hooks).
    During,
    /// PostSync, post-install, post-upgrade.
    After,
    /// SyncFail: after anything of the revision failed.
    Failed,
}

impl When {
    /// Argo CD's name of the phase.
    pub fn name(self) -> &'static str {
        match self {
            When::Before => "PreSync",
            When::During => "Sync",
            When::After => "PostSync",
            When::Failed => "SyncFail",
        }
    }
}

/// A hook object and how it runs.
#[derive(Debug, Clone)]
pub struct Hook {
    pub object: Object,
    pub when: When,
    pub weight: i64,
    pub before_creation: bool,
    pub delete_on_success: bool,
    pub delete_on_failure: bool,
}

/// The revision's objects, and its hooks for this event.
#[derive(Debug, Default)]
pub struct Split {
    pub objects: Vec<Object>,
    pub hooks: Vec<Hook>,
}

const ARGO_HOOK: &str = "argocd.argoproj.io/hook";
const ARGO_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";
/// Argo CD's wave annotation, which also orders hooks within a phase.
const ARGO_WAVE: &str = super::engine::WAVE_ANNOTATIONS[1];
const HELM_HOOK: &str = "helm.sh/hook";

fn list(v: &Value) -> Vec<String> {
    v.as_str()
        .map(|s| {
            s.split(',')
                .map(|p| p.trim().to_string())
                .filter(|p| !p.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// When an object runs as a hook of an install (`upgrade == false`) or an upgrade: `None` for an
/// ordinary object, `Some(vec![])` for one that is not applied at all (Argo CD's `Skip`, a hook of
/// another event).
fn phases(value: &Value, upgrade: bool) -> Option<Vec<When>> {
    let ann = &value["metadata"]["annotations"];
    // Argo CD's annotation takes precedence over Helm's, as in Argo CD
    if ann.get(ARGO_HOOK).is_some() {
        let names = list(&ann[ARGO_HOOK]);
        if names.iter().any(|n| n == "Skip") {
            return Some(Vec::new());
        }
        let mut whens: Vec<When> = names
            .iter()
            .filter_map(|n| match n.as_str() {
                "PreSync" => Some(When::Before),
                "Sync" => Some(When::During),
                "PostSync" => Some(When::After),
                "SyncFail" => Some(When::Failed),
                // PostDelete: gitfleet deletes no application
                _ => None,
            })
            .collect();
        whens.sort();
        whens.dedup();
        return Some(whens);
    }
    if ann.get(HELM_HOOK).is_some() {
        let events = list(&ann[HELM_HOOK]);
        let (pre, post) = if upgrade {
            ("pre-upgrade", "post-upgrade")
        } else {
            ("pre-install", "post-install")
        };
        let mut whens = Vec::new();
        if events.iter().any(|e| e == pre) {
            whens.push(When::Before);
        }
        if events.iter().any(|e| e == post) {
            whens.push(When::After);
        }
        return Some(whens);
    }
    None
}

/// Separates the hooks of an install (`upgrade == false`) or an upgrade from the objects, names
/// the hooks that ask for `generateName` from `revision`, and leaves out what is not applied
/// (`Skip`, hooks of other events).
pub fn split(objects: Vec<Object>, upgrade: bool, revision: &str) -> Split {
    let mut out = Split::default();
    for mut o in objects {
        let Some(whens) = phases(&o.value, upgrade) else {
            out.objects.push(o);
            continue;
        };
        if whens.is_empty() {
            continue;
        }
        name_generated(&mut o.value, revision);
        let ann = o.value["metadata"]["annotations"].clone();
        let weight = [ARGO_WAVE, "helm.sh/hook-weight"]
            .iter()
            .find_map(|k| ann[*k].as_str())
            .and_then(|w| w.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let mut policies = list(&ann[ARGO_DELETE_POLICY]);
        if ann.get(ARGO_DELETE_POLICY).is_none() {
            policies = list(&ann["helm.sh/hook-delete-policy"]);
        }
        let has = |argo: &str, helm: &str| policies.iter().any(|p| p == argo || p == helm);
        for when in whens {
            out.hooks.push(Hook {
                object: o.clone(),
                when,
                weight,
                // the default policy of both when none is given
                before_creation: policies.is_empty()
                    || has("BeforeHookCreation", "before-hook-creation"),
                delete_on_success: has("HookSucceeded", "hook-succeeded"),
                delete_on_failure: has("HookFailed", "hook-failed"),
            });
        }
    }
    out
}

/// What a hook did: for the Sync's history and `gitfleet status`.
#[derive(Debug, Clone, PartialEq)]
pub struct HookRun {
    pub kind: String,
    pub name: String,
    pub phase: When,
    pub succeeded: bool,
    pub duration: Duration,
}

impl std::fmt::Display for HookRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "hook {}/{} {}: {} in {:.1}s",
            self.kind,
            self.name,
            self.phase.name(),
            if self.succeeded {
                "succeeded"
            } else {
                "failed"
            },
            self.duration.as_secs_f64()
        )
    }
}

fn object_ref(o: &Object, default_ns: Option<&str>) -> ObjectRef {
    let (group, version) = super::resolve::split_api_version(o.api_version());
    ObjectRef {
        group,
        version,
        kind: o.kind().to_string(),
        namespace: o
            .namespace()
            .map(str::to_string)
            .or_else(|| default_ns.map(str::to_string)),
        name: o.name().to_string(),
    }
}

/// Runs the hooks that run `when`, weight by weight: each created (outside the inventory) and
/// waited for; the first failure stops them. Records each hook's outcome in `report`.
pub async fn run(
    engine: &Engine,
    hooks: &[Hook],
    when: When,
    opts: &ApplyOptions,
    progress: &dyn Progress,
    report: &mut Vec<HookRun>,
) -> Result<(), Error> {
    let mut by_weight: BTreeMap<i64, Vec<&Hook>> = BTreeMap::new();
    for h in hooks.iter().filter(|h| h.when == when) {
        by_weight.entry(h.weight).or_default().push(h);
    }
    let hook_opts = ApplyOptions {
        inventory: None,
        prune: false,
        wait: true,
        ..opts.clone()
    };
    for (_, group) in by_weight {
        for h in &group {
            if h.before_creation {
                engine
                    .delete_object(&object_ref(&h.object, opts.namespace.as_deref()))
                    .await?;
            }
        }
        let objects: Vec<Object> = group.iter().map(|h| h.object.clone()).collect();
        let started = std::time::Instant::now();
        let result = engine.apply(objects, &hook_opts, progress).await;
        let ok = result.is_ok();
        for h in &group {
            let r = object_ref(&h.object, opts.namespace.as_deref());
            if (ok && h.delete_on_success) || (!ok && h.delete_on_failure) {
                engine.delete_object(&r).await?;
            }
            report.push(HookRun {
                kind: r.kind.clone(),
                name: r.name.clone(),
                phase: when,
                succeeded: ok,
                duration: started.elapsed(),
            });
        }
        if let Err(e) = result {
            return Err(Error::Other(format!("a {} hook failed: {e}", when.name())));
        }
    }
    Ok(())
}

/// The outcome of a revision with its hooks.
#[derive(Debug)]
pub struct Hooked {
    /// The apply's change set, or what failed: the apply, or a hook.
    pub result: Result<super::ChangeSet, Error>,
    /// Whether the failure is a hook's (a PreSync failure changed nothing else).
    pub hook_failed: bool,
    /// What each hook that ran did, in order.
    pub hooks: Vec<HookRun>,
}

/// Applies a revision with its hooks around it: the PreSync hooks, the objects, the Sync hooks,
/// then the PostSync hooks; when any of them fails, the SyncFail hooks.
pub async fn apply_with_hooks(
    engine: &Engine,
    objects: Vec<Object>,
    hooks: &[Hook],
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Hooked {
    let mut ran = Vec::new();
    let hook_failure = |e: Error, ran: Vec<HookRun>| Hooked {
        result: Err(e),
        hook_failed: true,
        hooks: ran,
    };
    // The whole-set dry-run comes first, as Argo CD's: a revision the API server would reject
    // runs no PreSync hook (a database migration for a revision that never applies).
    if !opts.dry_run && hooks.iter().any(|h| h.when == When::Before) {
        let check = ApplyOptions {
            dry_run: true,
            wait: false,
            ..opts.clone()
        };
        if let Err(e) = engine.apply(objects.clone(), &check, progress).await {
            if let Err(e) = run(engine, hooks, When::Failed, opts, progress, &mut ran).await {
                tracing::warn!(error = %e, "a SyncFail hook failed");
            }
            return Hooked {
                result: Err(e),
                hook_failed: false,
                hooks: ran,
            };
        }
    }
    // The namespaces of the set that PreSync hooks run in exist before them (Argo CD's hooks
    // would fail there otherwise): an empty namespace is all that may stay if a hook fails.
    let hook_namespaces: std::collections::BTreeSet<String> = hooks
        .iter()
        .filter(|h| h.when == When::Before)
        .filter_map(|h| {
            h.object
                .namespace()
                .map(str::to_string)
                .or_else(|| opts.namespace.clone())
        })
        .collect();
    let namespaces: Vec<Object> = objects
        .iter()
        .filter(|o| {
            o.api_version() == "v1" && o.kind() == "Namespace" && hook_namespaces.contains(o.name())
        })
        .cloned()
        .collect();
    if !namespaces.is_empty() {
        let first = ApplyOptions {
            inventory: None,
            prune: false,
            wait: false,
            ..opts.clone()
        };
        if let Err(e) = engine.apply(namespaces, &first, progress).await {
            return Hooked {
                result: Err(e),
                hook_failed: false,
                hooks: ran,
            };
        }
    }
    if let Err(e) = run(engine, hooks, When::Before, opts, progress, &mut ran).await {
        let e = with_fail_hooks(engine, hooks, opts, progress, e, &mut ran).await;
        return hook_failure(e, ran);
    }
    let applied = engine.apply(objects, opts, progress).await;
    if applied.is_ok() {
        for when in [When::During, When::After] {
            if let Err(e) = run(engine, hooks, when, opts, progress, &mut ran).await {
                let e = with_fail_hooks(engine, hooks, opts, progress, e, &mut ran).await;
                return hook_failure(e, ran);
            }
        }
    } else if let Err(e) = run(engine, hooks, When::Failed, opts, progress, &mut ran).await {
        tracing::warn!(error = %e, "a SyncFail hook failed");
    }
    Hooked {
        result: applied,
        hook_failed: false,
        hooks: ran,
    }
}

/// Runs the SyncFail hooks after `failure`; returns the failure (with theirs, if one failed too).
async fn with_fail_hooks(
    engine: &Engine,
    hooks: &[Hook],
    opts: &ApplyOptions,
    progress: &dyn Progress,
    failure: Error,
    ran: &mut Vec<HookRun>,
) -> Error {
    match run(engine, hooks, When::Failed, opts, progress, ran).await {
        Ok(()) => failure,
        Err(e) => Error::Other(format!("{failure}; then {e}")),
    }
}

/// A hook that asks for `generateName` gets a name derived from the revision and its content, so
/// a re-run of the same revision finds (and does not create twice) the same object, and the next
/// revision creates its own.
pub fn name_generated(value: &mut Value, revision: &str) {
    let meta = &value["metadata"];
    if meta["name"].as_str().is_some_and(|n| !n.is_empty()) {
        return;
    }
    let Some(prefix) = meta["generateName"].as_str().map(str::to_string) else {
        return;
    };
    use sha2::Digest as _;
    let mut hasher = sha2::Sha256::new();
    hasher.update(revision.as_bytes());
    hasher.update([0]);
    hasher.update(value.to_string().as_bytes());
    let digest = hex::encode(hasher.finalize());
    if let Some(m) = value["metadata"].as_object_mut() {
        m.remove("generateName");
        m.insert(
            "name".into(),
            Value::String(format!("{prefix}{}", &digest[..5])),
        );
    }
}

/// Whether an object is a hook gitfleet runs (and may so be named by `generateName`): an Argo CD
/// hook of a phase it runs, or a Helm install/upgrade hook.
pub fn is_hook(value: &Value) -> bool {
    [false, true]
        .iter()
        .any(|&upgrade| phases(value, upgrade).is_some_and(|w| !w.is_empty()))
}

/// Whether an object is a Helm hook that gitfleet runs (install/upgrade events).
pub fn is_run_hook(value: &Value) -> bool {
    value["metadata"]["annotations"]["helm.sh/hook"]
        .as_str()
        .is_some_and(|h| {
            h.split(',').map(str::trim).any(|e| {
                matches!(
                    e,
                    "pre-install" | "post-install" | "pre-upgrade" | "post-upgrade"
                )
            })
        })
}
