//! Sync reconcile: when the source revision or the spec changed, a reconcile was requested, or the
//! interval elapsed (drift correction), render the Sync's path of the source checkout and apply it
//! with the engine (whole-set dry-run, ordered apply, prune from the Sync's inventory, health).
//! A failing revision changes nothing (the dry-run rejects it first) and is reported; the last good
//! revision stays applied.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use kube::{Api, ResourceExt};
use serde_json::{Map, Value, json};

use super::types::{HistoryEntry, InventorySummary, REQUESTED_AT, Sync, SyncStatus, ValuesKind};
use super::{
    Context, ReconcileError, condition, now_rfc3339, parse_interval, remove_condition,
    set_condition,
};
use crate::kube::inventory::InventoryRef;
use crate::kube::manifest::merge_values;
use crate::kube::{ApplyOptions, Engine, LoadOptions};
use crate::provider::Silent;

const HISTORY: usize = 10;

/// The inventory ConfigMap of a Sync.
pub fn inventory_name(sync: &str) -> String {
    format!("gitfleet-sync-{sync}")
}

pub async fn reconcile(sync: Arc<Sync>, ctx: Arc<Context>) -> Result<Action, ReconcileError> {
    let start = Instant::now();
    let ns = sync.namespace().unwrap_or_default();
    let name = sync.name_any();
    let status = sync.status.clone().unwrap_or_default();
    let interval = parse_interval(&sync.spec.interval, Duration::from_secs(300));
    let requested = sync.annotations().get(REQUESTED_AT).cloned();
    let generation = sync.metadata.generation;

    if sync.spec.suspend {
        let mut new = status.clone();
        set_condition(
            &mut new.conditions,
            condition(
                "Ready",
                ready_now(&status),
                "Suspended",
                "reconciliation is suspended",
                generation,
            ),
        );
        new.observed_generation = generation;
        write_status(&ctx, &ns, &name, &status, &new).await?;
        return Ok(Action::await_change());
    }

    // The source's revision and its checkout in this process.
    let source_name = &sync.spec.source_ref.name;
    let Some(source) = ctx
        .source(&ns, source_name)
        .await
        .map_err(ReconcileError::Kube)?
    else {
        return not_ready(
            &ctx,
            &sync,
            &status,
            "SourceNotFound",
            &format!("GitSource {source_name} not found"),
            Duration::from_secs(10),
        )
        .await;
    };
    let Some(revision) = source.status.as_ref().and_then(|s| s.revision.clone()) else {
        return not_ready(
            &ctx,
            &sync,
            &status,
            "SourceNotReady",
            &format!("GitSource {source_name} has no revision yet"),
            Duration::from_secs(2),
        )
        .await;
    };
    let slot = ctx.checkout_slot(&(ns.clone(), source_name.clone())).await;
    let checkout = slot.read().await;
    let Some(fetched) = checkout
        .as_ref()
        .filter(|f| f.checkout.commit == revision)
        .cloned()
    else {
        // This process has not fetched it yet (the GitSource reconcile will): look again soon.
        return Ok(Action::requeue(Duration::from_millis(500)));
    };

    let spec_changed = status.observed_generation != generation;
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let new_revision = status.last_attempted_revision.as_deref() != Some(revision.as_str());
    let wait = ctx.due(
        "Sync",
        &ns,
        &name,
        status.last_apply_time.as_deref(),
        interval,
    );
    if !spec_changed && !request_pending && !new_revision && wait > Duration::ZERO {
        return Ok(Action::requeue(wait));
    }

    // dependsOn: each must be Ready at this revision.
    for dep in &sync.spec.depends_on {
        let ok = match ctx
            .sync(&ns, &dep.name)
            .await
            .map_err(ReconcileError::Kube)?
        {
            Some(d) => {
                let st = d.status.unwrap_or_default();
                ready_now(&st) && st.last_applied_revision.as_deref() == Some(revision.as_str())
            }
            None => false,
        };
        if !ok {
            return not_ready(
                &ctx,
                &sync,
                &status,
                "DependencyNotReady",
                &format!(
                    "waiting for Sync {} to be Ready at revision {revision}",
                    dep.name
                ),
                Duration::from_secs(1),
            )
            .await;
        }
    }

    // Reconciling while the apply runs, once it takes long enough to be worth a status write (it
    // may wait for health for minutes); a quick resync writes nothing until it is done.
    let mut ran = Ran::default();
    let (result, status) = {
        let applying = apply(&ctx, &sync, &source, &ns, &fetched, &mut ran);
        tokio::pin!(applying);
        tokio::select! {
            r = &mut applying => (r, status),
            _ = tokio::time::sleep(PROGRESS_AFTER) => {
                let mut progressing = status.clone();
                set_condition(
                    &mut progressing.conditions,
                    condition(
                        "Reconciling",
                        true,
                        "Progressing",
                        &format!("applying revision {revision}"),
                        generation,
                    ),
                );
                write_status(&ctx, &ns, &name, &status, &progressing).await?;
                (applying.await, progressing)
            }
        }
    };
    // A value decrypted from the repository never reaches a status, an event or a log, even
    // when the API server quotes it in a rejection.
    let result = result.map_err(|(reason, message)| (reason, crate::decrypt::redact(&message)));
    ctx.ran("Sync", &ns, &name);
    let mut new = status.clone();
    remove_condition(&mut new.conditions, "Reconciling");
    new.observed_generation = generation;
    new.last_attempted_revision = Some(revision.clone());
    new.last_apply_time = Some(now_rfc3339());
    new.last_handled_reconcile_at = requested.clone();
    let (outcome, message) = match &result {
        Ok((summary, entries, chart)) => {
            new.last_applied_revision = Some(revision.clone());
            new.last_applied_chart = chart.clone();
            new.inventory = Some(InventorySummary {
                name: inventory_name(&name),
                entries: *entries,
            });
            set_condition(
                &mut new.conditions,
                condition(
                    "Ready",
                    true,
                    "ReconciliationSucceeded",
                    &format!("applied revision {revision}: {summary}"),
                    generation,
                ),
            );
            remove_condition(&mut new.conditions, "Stalled");
            ctx.metrics.set_ready("Sync", &ns, &name, true);
            ctx.metrics.set_revision(&ns, &name, &revision);
            ("Succeeded", summary.clone())
        }
        Err((reason, message)) => {
            set_condition(
                &mut new.conditions,
                condition(
                    "Ready",
                    false,
                    reason,
                    &format!("revision {revision}: {message}"),
                    generation,
                ),
            );
            // Invalid manifests will not apply until Git changes: stalled, not retrying.
            if reason == "ValidationFailed" {
                set_condition(
                    &mut new.conditions,
                    condition(
                        "Stalled",
                        true,
                        reason,
                        &format!(
                            "revision {revision} cannot be applied; waiting for a new revision"
                        ),
                        generation,
                    ),
                );
            } else {
                remove_condition(&mut new.conditions, "Stalled");
            }
            ctx.metrics.set_ready("Sync", &ns, &name, false);
            ("Failed", message.clone())
        }
    };
    // The audit trail: one entry per revision and outcome (drift corrections at the same revision
    // only refresh the newest entry's time).
    let entry = HistoryEntry {
        revision: revision.clone(),
        outcome: outcome.into(),
        time: now_rfc3339(),
        message: truncate(&message, 1024),
        chart: match &result {
            Ok((_, _, Some(c))) => Some(format!("{}@{} ({})", c.name, c.version, c.digest)),
            _ => None,
        },
        hooks: ran
            .hooks
            .iter()
            .map(|h| super::types::HookStatus {
                kind: h.kind.clone(),
                name: h.name.clone(),
                phase: h.phase.name().into(),
                result: if h.succeeded { "Succeeded" } else { "Failed" }.into(),
                duration: format!("{:.1}s", h.duration.as_secs_f64()),
            })
            .collect(),
        waves: if ran.waves.len() > 1 {
            ran.waves
                .iter()
                .map(|(wave, objects)| super::types::WaveStatus {
                    wave: *wave,
                    objects: *objects,
                })
                .collect()
        } else {
            Vec::new()
        },
    };
    match new.history.first_mut() {
        Some(first) if first.revision == entry.revision && first.outcome == entry.outcome => {
            // Hooks run once per revision: a resync of it runs none, and the entry keeps the
            // ones that ran.
            let mut entry = entry;
            if entry.hooks.is_empty() {
                entry.hooks = std::mem::take(&mut first.hooks);
            }
            *first = entry
        }
        _ => new.history.insert(0, entry),
    }
    new.history.truncate(HISTORY);
    // A resync that found everything as it was writes nothing: the times alone are not a change
    // (the next resync is timed from this process's memory).
    if !only_times_changed(&status, &new) {
        write_status(&ctx, &ns, &name, &status, &new).await?;
    }
    match &result {
        Ok((summary, _, _)) => {
            if new_revision || !summary.starts_with("0 created, 0 configured") {
                ctx.event(
                    &*sync,
                    EventType::Normal,
                    "ReconciliationSucceeded",
                    "Apply",
                    &format!("revision {revision}: {summary}"),
                )
                .await;
            }
        }
        Err((reason, message)) => {
            ctx.event(
                &*sync,
                EventType::Warning,
                reason,
                "Apply",
                &truncate(&format!("revision {revision}: {message}"), 1000),
            )
            .await;
        }
    }
    ctx.metrics.observe("Sync", start.elapsed().as_secs_f64());
    super::release_memory();
    tracing::info!(namespace = %ns, sync = %name, %revision, outcome, elapsed_ms = start.elapsed().as_millis() as u64, "{message}");
    Ok(Action::requeue(if result.is_ok() {
        interval
    } else {
        interval.min(Duration::from_secs(60))
    }))
}

/// How long an apply runs before the Sync shows `Reconciling`.
const PROGRESS_AFTER: Duration = Duration::from_secs(2);

/// Whether `new` differs from `old` only in when it happened: the last apply time and the newest
/// history entry's time.
fn only_times_changed(old: &SyncStatus, new: &SyncStatus) -> bool {
    let mut new = new.clone();
    new.last_apply_time = old.last_apply_time.clone();
    if let (Some(n), Some(o)) = (new.history.first_mut(), old.history.first()) {
        n.time = o.time.clone();
    }
    &new == old
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn ready_now(status: &SyncStatus) -> bool {
    status
        .conditions
        .iter()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

async fn not_ready(
    ctx: &Context,
    sync: &Sync,
    status: &SyncStatus,
    reason: &str,
    message: &str,
    retry: Duration,
) -> Result<Action, ReconcileError> {
    let mut new = status.clone();
    set_condition(
        &mut new.conditions,
        condition("Ready", false, reason, message, sync.metadata.generation),
    );
    write_status(
        ctx,
        &sync.namespace().unwrap_or_default(),
        &sync.name_any(),
        status,
        &new,
    )
    .await?;
    Ok(Action::requeue(retry))
}

async fn write_status(
    ctx: &Context,
    ns: &str,
    name: &str,
    old: &SyncStatus,
    new: &SyncStatus,
) -> Result<(), ReconcileError> {
    if old == new {
        return Ok(());
    }
    let api: Api<Sync> = Api::namespaced(ctx.client.clone(), ns);
    api.patch_status(
        name,
        &PatchParams::default(),
        &Patch::Merge(json!({"status": new})),
    )
    .await
    .map(|_| ())
    .map_err(ReconcileError::Kube)
}

/// Values for templates: valuesFrom (in order), then the inline values on top.
async fn values(ctx: &Context, sync: &Sync, ns: &str) -> Result<Value, String> {
    let mut out = values_from(ctx, &sync.spec.values_from, ns).await?;
    if let Some(inline) = &sync.spec.values {
        merge_values(&mut out, inline.clone());
    }
    Ok(out)
}

/// How the chart at the Sync's path is rendered: `spec.helm`'s release and values (its
/// valuesFrom read now), the cluster's version and API versions from discovery.
async fn helm_options(
    ctx: &Context,
    sync: &Sync,
    ns: &str,
    chart_at_path: bool,
) -> Result<crate::build::helm::HelmOptions, String> {
    let spec = sync.spec.helm.clone().unwrap_or_default();
    let mut values = values_from(ctx, &spec.values_from, ns).await?;
    if let Some(inline) = &spec.values {
        merge_values(&mut values, inline.clone());
    }
    let target_ns = sync
        .spec
        .target_namespace
        .clone()
        .unwrap_or_else(|| ns.to_string());
    // Discovery only for a chart: a Sync of plain manifests costs no extra request.
    let (kube_version, discovered) = if chart_at_path || sync.spec.helm.is_some() {
        match ctx.client.apiserver_version().await {
            Ok(v) => (Some(v.git_version), discovered_api_versions(ctx).await),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    Ok(crate::build::helm::HelmOptions {
        release_name: Some(spec.release_name.unwrap_or_else(|| sync.name_any())),
        namespace: Some(spec.namespace.unwrap_or(target_ns)),
        values_files: spec.values_files,
        values: match values {
            Value::Object(m) => m,
            _ => Map::new(),
        },
        kube_version: spec.kube_version.or(kube_version),
        api_versions: spec.api_versions,
        discovered_api_versions: discovered,
        skip_crds: spec.skip_crds,
        chart_cache: Some(ctx.cache_dir.join("charts")),
        lookup: cluster_lookup(ctx),
        is_upgrade: sync
            .status
            .as_ref()
            .is_some_and(|s| s.last_applied_revision.is_some()),
    })
}

/// Helm's `lookup`, answered from the cluster the Sync applies to (as `helm install` does):
/// the object, or for an empty name the list, with the agent's own rights; nothing there is
/// an empty map. The chart renders synchronously, so each lookup blocks its worker thread
/// while the request runs.
fn cluster_lookup(ctx: &Context) -> crate::build::helm::Lookup {
    use tokio::runtime::{Handle, RuntimeFlavor};
    let Ok(handle) = Handle::try_current() else {
        return Default::default();
    };
    if handle.runtime_flavor() != RuntimeFlavor::MultiThread {
        return Default::default();
    }
    let client = ctx.client.clone();
    crate::build::helm::Lookup(Some(Arc::new(
        move |api_version: &str, kind: &str, ns: &str, name: &str| {
            let (api_version, kind, ns, name) = (
                api_version.to_string(),
                kind.to_string(),
                ns.to_string(),
                name.to_string(),
            );
            let client = client.clone();
            tokio::task::block_in_place(|| {
                handle.block_on(lookup_object(client, api_version, kind, ns, name))
            })
        },
    )))
}

async fn lookup_object(
    client: kube::Client,
    api_version: String,
    kind: String,
    ns: String,
    name: String,
) -> Result<Value, String> {
    use kube::api::{DynamicObject, ListParams};
    use kube::core::GroupVersionKind;
    let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
    let gvk = GroupVersionKind::gvk(group, version, &kind);
    let (ar, caps) = kube::discovery::pinned_kind(&client, &gvk)
        .await
        .map_err(|e| format!("lookup {api_version} {kind}: {}", super::api_message(&e)))?;
    let namespaced = caps.scope == kube::discovery::Scope::Namespaced;
    let api: Api<DynamicObject> = if namespaced && !ns.is_empty() {
        Api::namespaced_with(client, &ns, &ar)
    } else {
        Api::all_with(client, &ar)
    };
    if name.is_empty() {
        let list = api
            .list(&ListParams::default())
            .await
            .map_err(|e| format!("lookup {kind}: {}", super::api_message(&e)))?;
        let items: Vec<Value> = list
            .items
            .into_iter()
            .filter_map(|o| serde_json::to_value(o).ok())
            .collect();
        return Ok(json!({"apiVersion": "v1", "kind": format!("{kind}List"), "items": items}));
    }
    match api.get_opt(&name).await {
        Ok(Some(o)) => serde_json::to_value(o).map_err(|e| e.to_string()),
        Ok(None) => Ok(Value::Null),
        Err(e) => Err(format!("lookup {kind} {name}: {}", super::api_message(&e))),
    }
}

/// The group/versions the API server serves (what Helm's `.Capabilities.APIVersions` holds
/// when it talks to a cluster); `None` if discovery fails (Helm's defaults are used).
async fn discovered_api_versions(ctx: &Context) -> Option<Vec<String>> {
    // as Helm's GetVersionSet: every group/version, and group/version/Kind of its resources
    // (charts ask `.Capabilities.APIVersions.Has "monitoring.coreos.com/v1/ServiceMonitor"`)
    let discovery = kube::discovery::Discovery::new(ctx.client.clone())
        .run()
        .await
        .ok()?;
    let mut out = Vec::new();
    for group in discovery.groups() {
        for version in group.versions() {
            let gv = if group.name().is_empty() {
                version.to_string()
            } else {
                format!("{}/{version}", group.name())
            };
            out.push(gv.clone());
            for (ar, _) in group.versioned_resources(version) {
                out.push(format!("{gv}/{}", ar.kind));
            }
        }
    }
    out.dedup();
    Some(out)
}

/// Fetches `spec.chart` (credentials and CA from its Secret) into the agent's chart cache.
async fn fetch_chart(
    ctx: &Context,
    chart: &super::types::ChartSpec,
    ns: &str,
) -> Result<crate::build::chart_repo::Fetched, (String, String)> {
    let fail = |m: String| ("ChartFetchFailed".to_string(), m);
    let mut auth = crate::build::chart_repo::RepoAuth::default();
    if let Some(secret) = &chart.secret_ref {
        let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
        let data = api
            .get_opt(&secret.name)
            .await
            .map_err(|e| fail(super::api_message(&e)))?
            .ok_or_else(|| {
                fail(format!(
                    "Secret {} (chart secretRef) not found",
                    secret.name
                ))
            })?
            .data
            .unwrap_or_default();
        let text = |k: &str| {
            data.get(k).map(|v| {
                String::from_utf8_lossy(&v.0)
                    .trim_end_matches('\n')
                    .to_string()
            })
        };
        auth.username = text("username");
        auth.password = text("password");
        auth.ca_pem = data
            .get("ca.crt")
            .or_else(|| data.get("caFile"))
            .map(|v| v.0.clone());
    }
    let r = crate::build::chart_repo::ChartRef {
        repository: chart.repository.clone(),
        name: chart.name.clone(),
        version: chart.version.clone(),
    };
    let cache = ctx.cache_dir.join("charts");
    tokio::task::spawn_blocking(move || crate::build::chart_repo::fetch(&r, &auth, Some(&cache)))
        .await
        .map_err(|e| fail(format!("fetching the chart: {e}")))?
        .map_err(fail)
}

/// The age identities of `spec.decryption`, read from its Secret for this run (never kept).
async fn decryption(
    ctx: &Context,
    sync: &Sync,
    ns: &str,
) -> Result<crate::decrypt::Decryption, (String, String)> {
    let Some(spec) = &sync.spec.decryption else {
        return Ok(Default::default());
    };
    let fail = |m: String| ("DecryptionFailed".to_string(), m);
    if spec.provider != "sops" {
        return Err(fail(format!(
            "spec.decryption.provider {:?} is not supported (only sops)",
            spec.provider
        )));
    }
    let name = &spec.secret_ref.name;
    let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
    let secret = api
        .get_opt(name)
        .await
        .map_err(|e| fail(super::api_message(&e)))?
        .ok_or_else(|| {
            fail(format!(
                "Secret {name} (spec.decryption.secretRef) not found"
            ))
        })?;
    let data = secret.data.unwrap_or_default();
    let keys = crate::decrypt::secret_keys(name, data.iter().map(|(k, v)| (k, v.0.as_slice())))
        .map_err(fail)?;
    Ok(crate::decrypt::Decryption::new(keys))
}

/// valuesFrom, in order, merged.
async fn values_from(
    ctx: &Context,
    list: &[super::types::ValuesFrom],
    ns: &str,
) -> Result<Value, String> {
    let mut out = Value::Object(Map::new());
    for from in list {
        let mut part = Value::Object(Map::new());
        let data: BTreeMap<String, String> = match from.kind {
            ValuesKind::ConfigMap => {
                let api: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), ns);
                api.get_opt(&from.name)
                    .await
                    .map_err(|e| super::api_message(&e))?
                    .ok_or_else(|| format!("ConfigMap {} (valuesFrom) not found", from.name))?
                    .data
                    .unwrap_or_default()
            }
            ValuesKind::Secret => {
                let api: Api<Secret> = Api::namespaced(ctx.client.clone(), ns);
                api.get_opt(&from.name)
                    .await
                    .map_err(|e| super::api_message(&e))?
                    .ok_or_else(|| format!("Secret {} (valuesFrom) not found", from.name))?
                    .data
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned()))
                    .collect()
            }
        };
        match &from.key {
            Some(key) => {
                let text = data
                    .get(key)
                    .ok_or_else(|| format!("{:?} {} has no key {key}", from.kind, from.name))?;
                let v: Value = serde_yaml::from_str(text).map_err(|e| {
                    format!("{:?} {} key {key} is not YAML: {e}", from.kind, from.name)
                })?;
                merge_values(&mut part, v);
            }
            None => {
                for (k, v) in data {
                    merge_values(&mut part, json!({ k: v }));
                }
            }
        }
        if let Some(path) = from.target_path.as_deref().filter(|p| !p.is_empty()) {
            for key in path.rsplit('.') {
                part = json!({ key: part });
            }
        }
        merge_values(&mut out, part);
    }
    Ok(out)
}

/// What a revision's apply ran besides its objects: its hooks and its waves (wave → objects).
#[derive(Default)]
struct Ran {
    hooks: Vec<crate::kube::hooks::HookRun>,
    waves: BTreeMap<i64, usize>,
}

/// Loads and applies; Ok((summary, inventory entries)) or Err((reason, message)). The hooks that
/// ran and the waves go to `ran`, whatever the outcome.
async fn apply(
    ctx: &Context,
    sync: &Sync,
    source: &super::types::GitSource,
    ns: &str,
    fetched: &super::Fetched,
    ran: &mut Ran,
) -> Result<(String, usize, Option<super::types::ChartStatus>), (String, String)> {
    let checkout = &fetched.checkout;
    let values = values(ctx, sync, ns)
        .await
        .map_err(|m| ("ValuesFailed".to_string(), m))?;
    let path = sync.spec.path.trim_matches('/');
    if path.split('/').any(|p| p == "..") {
        return Err((
            "ValidationFailed".into(),
            format!("path {path} leaves the repository"),
        ));
    }
    let dir = if path.is_empty() {
        checkout.dir.clone()
    } else {
        checkout.dir.join(path)
    };
    if !dir.is_dir() {
        return Err((
            "ValidationFailed".into(),
            format!("path {path} does not exist at this revision"),
        ));
    }
    let decryption = decryption(ctx, sync, ns).await?;
    let mut context = Map::new();
    context.insert("values".into(), values);
    let root = checkout.dir.to_string_lossy().to_string();
    // Every read stays inside the checkout and is bounded: a hostile commit (a link out of the
    // repository, an alias bomb, an endless template) is an error on the Sync, never a leak.
    let load_opts = LoadOptions {
        context,
        root: Some(checkout.dir.clone()),
        // Kustomize remote bases, into the agent's cache, one checkout per repository and
        // revision: with the GitSource's credentials where they are on its host (a private base
        // beside the repository), anonymously anywhere else (a commit cannot send them away).
        remotes: Some(crate::build::kustomize::Remotes {
            cache: ctx.cache_dir.join("remote-bases"),
            creds: fetched.creds.clone(),
            creds_origin: Some(source.spec.url.clone()),
        }),
        helm: helm_options(
            ctx,
            sync,
            ns,
            dir.join("Chart.yaml").is_file() || sync.spec.chart.is_some(),
        )
        .await
        .map_err(|m| ("ValuesFailed".to_string(), m))?,
        allow_empty: sync.spec.allow_empty,
        jsonnet: sync.spec.jsonnet.clone().unwrap_or_default(),
        decryption,
    };
    let mut applied_chart = None;
    let loaded = match &sync.spec.chart {
        Some(chart) => {
            let fetched = fetch_chart(ctx, chart, ns).await?;
            let label = format!(
                "{}/{}@{}",
                crate::build::chart_repo::shown(chart.repository.trim_end_matches('/')),
                chart.name,
                fetched.version
            );
            applied_chart = Some(super::types::ChartStatus {
                name: chart.name.clone(),
                version: fetched.version.clone(),
                digest: fetched.digest.clone(),
            });
            crate::kube::manifest::load_chart_archive(&fetched.archive, &label, &dir, &load_opts)
                .map(|o| (o, Vec::new()))
        }
        None => crate::kube::manifest::load_with_warnings(&[dir], &load_opts),
    };
    let (objects, warnings) = loaded.map_err(|d| {
        (
            "ValidationFailed".to_string(),
            d.to_string().replace(&format!("{root}/"), ""),
        )
    })?;
    for w in &warnings {
        let text = w.to_string().replace(&format!("{root}/"), "");
        tracing::warn!(sync = %sync.name_any(), "{text}");
    }
    let opts = ApplyOptions {
        // a chart's objects that name no namespace go to its release namespace, as Helm
        // installs them
        namespace: Some(
            sync.spec
                .helm
                .as_ref()
                .and_then(|h| h.namespace.clone())
                .or_else(|| sync.spec.target_namespace.clone())
                .unwrap_or_else(|| ns.to_string()),
        ),
        inventory: Some(InventoryRef {
            namespace: ns.to_string(),
            name: inventory_name(&sync.name_any()),
        }),
        prune: sync.spec.prune,
        wait: sync.spec.wait,
        timeout: sync
            .spec
            .timeout
            .as_deref()
            .map(|t| parse_interval(t, Duration::from_secs(300)))
            .unwrap_or(Duration::from_secs(300)),
        revision: Some(checkout.commit.clone()),
        poll_interval: ctx.poll,
        ..ApplyOptions::default()
    };
    // Helm hooks run once per revision: a drift correction at the revision already applied
    // applies the release's objects only.
    let status = sync.status.clone().unwrap_or_default();
    let upgrade = status.last_applied_revision.is_some();
    let new_revision = status.last_applied_revision.as_deref() != Some(checkout.commit.as_str());
    let split = crate::kube::hooks::split(objects, upgrade, &checkout.commit);
    let hooks = if new_revision {
        split.hooks
    } else {
        Vec::new()
    };
    let objects = split.objects;
    for o in &objects {
        if let Ok(w) = crate::kube::engine::wave_of(&o.value) {
            *ran.waves.entry(w).or_default() += 1;
        }
    }
    let entries = objects.len();
    let engine = Engine::new(ctx.conn.clone());
    let hooked =
        crate::kube::hooks::apply_with_hooks(&engine, objects, &hooks, &opts, &Silent).await;
    ran.hooks = hooked.hooks;
    let lines: Vec<String> = ran.hooks.iter().map(|h| h.to_string()).collect();
    let with_hooks = |summary: String| {
        if lines.is_empty() {
            summary
        } else {
            format!("{summary}; {}", lines.join("; "))
        }
    };
    if hooked.hook_failed {
        let e = hooked
            .result
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        return Err((
            "HookFailed".to_string(),
            with_hooks(e.replace(&format!("{root}/"), "")),
        ));
    }
    let applied = hooked.result;
    match applied {
        Ok(set) => Ok((with_hooks(set.summary()), entries, applied_chart)),
        Err(e) => {
            let reason = match &e {
                crate::kube::Error::NotReady { .. } => "HealthCheckFailed",
                crate::kube::Error::Manifests(_)
                | crate::kube::Error::Unresolved(_)
                | crate::kube::Error::Rejected(_)
                | crate::kube::Error::Conflicts(_) => "ValidationFailed",
                _ => "ApplyFailed",
            };
            Err((
                reason.to_string(),
                e.to_string().replace(&format!("{root}/"), ""),
            ))
        }
    }
}
