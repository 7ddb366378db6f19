//! Helm hooks around a revision: `helm.sh/hook` `pre-install`/`pre-upgrade` objects are applied
//! (and waited for: a Job until it completes) before the rest, `post-install`/`post-upgrade`
//! after it, in `helm.sh/hook-weight` order, one weight at a time; `helm.sh/hook-delete-policy`
//! (`before-hook-creation`, Helm's default, `hook-succeeded`, `hook-failed`) is honoured.
//! Hooks are not in the inventory, so they are never pruned. A failing pre hook stops the
//! revision before anything else changes.

use std::collections::BTreeMap;

use serde_json::Value;

use super::engine::{ApplyOptions, Engine};
use super::{Error, Object, ObjectRef};
use crate::provider::Progress;

/// When a hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum When {
    Before,
    After,
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

/// The release's objects, and its hooks for this event.
#[derive(Debug, Default)]
pub struct Split {
    pub objects: Vec<Object>,
    pub hooks: Vec<Hook>,
}

/// Separates the hooks of an install (`upgrade == false`) or an upgrade from the objects;
/// hooks of the other event are left out.
pub fn split(objects: Vec<Object>, upgrade: bool) -> Split {
    let mut out = Split::default();
    for o in objects {
        let ann = o.value["metadata"]["annotations"].clone();
        let Some(events) = ann["helm.sh/hook"].as_str() else {
            out.objects.push(o);
            continue;
        };
        let events: Vec<&str> = events.split(',').map(str::trim).collect();
        let (pre, post) = if upgrade {
            ("pre-upgrade", "post-upgrade")
        } else {
            ("pre-install", "post-install")
        };
        let when = if events.contains(&pre) {
            When::Before
        } else if events.contains(&post) {
            When::After
        } else {
            continue;
        };
        let weight = ann["helm.sh/hook-weight"]
            .as_str()
            .and_then(|w| w.trim().parse::<i64>().ok())
            .unwrap_or(0);
        let policies: Vec<&str> = ann["helm.sh/hook-delete-policy"]
            .as_str()
            .map(|p| p.split(',').map(str::trim).collect())
            .unwrap_or_default();
        out.hooks.push(Hook {
            object: o,
            when,
            weight,
            // Helm's default policy when none is given
            before_creation: policies.is_empty() || policies.contains(&"before-hook-creation"),
            delete_on_success: policies.contains(&"hook-succeeded"),
            delete_on_failure: policies.contains(&"hook-failed"),
        });
    }
    out
}

fn object_ref(o: &Object, default_ns: Option<&str>) -> ObjectRef {
    let (group, version) = match o.api_version().rsplit_once('/') {
        Some((g, v)) => (g.to_string(), v.to_string()),
        None => (String::new(), o.api_version().to_string()),
    };
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

/// Runs the hooks that run `when`, weight by weight: each applied (outside the inventory) and
/// waited for; the first failure stops them. Returns a line per hook for the history.
pub async fn run(
    engine: &Engine,
    hooks: &[Hook],
    when: When,
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<Vec<String>, Error> {
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
    let mut report = Vec::new();
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
            report.push(format!(
                "hook {}/{} {}: {} in {:.1}s",
                r.kind,
                r.name,
                if when == When::Before {
                    "before"
                } else {
                    "after"
                },
                if ok { "succeeded" } else { "failed" },
                started.elapsed().as_secs_f64()
            ));
        }
        if let Err(e) = result {
            return Err(Error::Other(format!("a Helm hook failed: {e}")));
        }
    }
    Ok(report)
}

/// Applies a revision with its hooks around it: the hooks that run before, the objects, then
/// (when the objects applied) the hooks that run after. The outer error is a failing hook
/// (nothing after it ran); the inner result is the apply's. Also returns a line per hook run.
pub async fn apply_with_hooks(
    engine: &Engine,
    objects: Vec<Object>,
    hooks: &[Hook],
    opts: &ApplyOptions,
    progress: &dyn Progress,
) -> Result<(Result<super::ChangeSet, Error>, Vec<String>), Error> {
    let mut ran = run(engine, hooks, When::Before, opts, progress).await?;
    let applied = engine.apply(objects, opts, progress).await;
    if applied.is_ok() {
        ran.extend(run(engine, hooks, When::After, opts, progress).await?);
    }
    Ok((applied, ran))
}

/// A hook that asks for `generateName` gets a name derived from its content, so a re-run of
/// the same revision finds (and does not create twice) the same object.
pub fn name_generated(value: &mut Value) {
    let meta = &value["metadata"];
    if meta["name"].as_str().is_some_and(|n| !n.is_empty()) {
        return;
    }
    let Some(prefix) = meta["generateName"].as_str().map(str::to_string) else {
        return;
    };
    use sha2::Digest as _;
    let digest = hex::encode(sha2::Sha256::digest(value.to_string().as_bytes()));
    if let Some(m) = value["metadata"].as_object_mut() {
        m.remove("generateName");
        m.insert(
            "name".into(),
            Value::String(format!("{prefix}{}", &digest[..5])),
        );
    }
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
