//! `gitfleet agent`: the in-cluster reconciler. Two kube-runtime controllers in one small process:
//! GitSource (fetch a repository when its ref moved) and Sync (apply a path of it with the apply
//! engine, prune, wait for health, correct drift on an interval), behind Lease leader election,
//! with Events, Prometheus metrics, health endpoints and a push-webhook receiver.

pub mod http;
pub mod leader;
pub mod metrics;
pub mod source;
pub mod sync;
pub mod types;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};
use serde_json::json;
use tokio::sync::{Mutex, RwLock};

use crate::git::{Checkout, Credentials};
use crate::kube::Connection;
use types::{GitSource, REQUESTED_AT, Sync};

/// How the agent runs.
#[derive(Debug, Clone)]
pub struct AgentOptions {
    /// Watch only this namespace (default: all).
    pub namespace: Option<String>,
    pub cache_dir: PathBuf,
    pub listen: SocketAddr,
    pub webhook_secret: Option<String>,
    /// Lease leader election (namespace of the Lease); None: run without it (one replica).
    pub leader_lease_namespace: Option<String>,
    pub identity: String,
    /// Poll interval of health waits.
    pub poll: Duration,
}

/// The checkout of one GitSource in this process.
pub type CheckoutSlot = Arc<RwLock<Option<Fetched>>>;

/// A GitSource's checkout and the credentials it was fetched with: a Sync of it fetches the
/// private remote bases beside the repository with them, without reading the Secret again on
/// every pass (the next fetch of the source reads it anew).
#[derive(Clone)]
pub struct Fetched {
    pub checkout: Checkout,
    pub creds: Credentials,
}

/// Shared by every reconcile.
pub struct Context {
    pub client: Client,
    pub conn: Connection,
    pub cache_dir: PathBuf,
    pub metrics: Arc<metrics::Metrics>,
    pub recorder: Recorder,
    pub poll: Duration,
    /// Per GitSource: the checkout this process holds (read by Syncs, rewritten by fetches).
    checkouts: Mutex<HashMap<(String, String), CheckoutSlot>>,
    /// The GitSources and Syncs as the controllers' watches see them: a reconcile reads its
    /// source and dependencies here instead of asking the API server.
    pub sources: Store<GitSource>,
    pub syncs: Store<Sync>,
    /// When each object (kind, namespace, name) was last fetched or applied by this process. A
    /// resync that changes nothing writes no status, so the status's time can be older.
    last_run: std::sync::Mutex<HashMap<(&'static str, String, String), Instant>>,
}

impl Context {
    pub async fn checkout_slot(&self, key: &(String, String)) -> CheckoutSlot {
        self.checkouts
            .lock()
            .await
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// How long until `interval` has passed since the object's last fetch or apply: the later of
    /// the time in its status (`persisted`) and the one this process remembers.
    pub fn due(
        &self,
        kind: &'static str,
        ns: &str,
        name: &str,
        persisted: Option<&str>,
        interval: Duration,
    ) -> Duration {
        let remembered = self
            .last_run
            .lock()
            .ok()
            .and_then(|m| m.get(&(kind, ns.to_string(), name.to_string())).copied())
            .map_or(Duration::ZERO, |at| interval.saturating_sub(at.elapsed()));
        due(persisted, interval).max(remembered)
    }

    /// Remembers that the object was fetched or applied now.
    pub fn ran(&self, kind: &'static str, ns: &str, name: &str) {
        if let Ok(mut m) = self.last_run.lock() {
            m.insert((kind, ns.to_string(), name.to_string()), Instant::now());
        }
    }

    /// A GitSource as the watch sees it, else (not seen yet, e.g. just after start) from the API.
    pub async fn source(&self, ns: &str, name: &str) -> Result<Option<GitSource>, kube::Error> {
        if let Some(found) = self.sources.get(&ObjectRef::new(name).within(ns)) {
            return Ok(Some((*found).clone()));
        }
        Api::<GitSource>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
    }

    /// A Sync as the watch sees it, else from the API.
    pub async fn sync(&self, ns: &str, name: &str) -> Result<Option<Sync>, kube::Error> {
        if let Some(found) = self.syncs.get(&ObjectRef::new(name).within(ns)) {
            return Ok(Some((*found).clone()));
        }
        Api::<Sync>::namespaced(self.client.clone(), ns)
            .get_opt(name)
            .await
    }

    /// Publishes a Kubernetes Event on `obj` (failures are logged, never fatal).
    pub async fn event<K: Resource<DynamicType = ()>>(
        &self,
        obj: &K,
        type_: EventType,
        reason: &str,
        action: &str,
        note: &str,
    ) {
        let ev = Event {
            type_,
            reason: reason.into(),
            note: Some(note.into()),
            action: action.into(),
            secondary: None,
        };
        if let Err(e) = self.recorder.publish(&ev, &obj.object_ref(&())).await {
            tracing::debug!(error = %e, "could not publish an event");
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    #[error("Kubernetes API: {0}")]
    Kube(#[source] kube::Error),
}

impl ReconcileError {
    pub fn metric_label(&self) -> &'static str {
        match self {
            ReconcileError::Kube(_) => "kube",
        }
    }
}

/// Hands freed heap back to the OS after a reconcile: an apply of many objects builds large
/// short-lived JSON values, and glibc keeps their pages otherwise (steady memory is what a
/// reconciler is judged by).
pub fn release_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory to the OS; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// One malloc arena for the whole process, before its threads start (unless `MALLOC_ARENA_MAX`
/// says otherwise): glibc gives each thread that allocates concurrently an arena of its own, and
/// memory freed after a reconcile stays spread over them; a long-running, mostly idle agent is
/// judged by its steady memory, not by allocation throughput (measured: 1.4 MiB less steady RSS).
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; no allocation is in flight here
        // that it could affect.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 1);
        }
    }
}

/// The server's message of an API error (never a request body).
pub fn api_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({})", s.message, s.code),
        other => other.to_string(),
    }
}

pub fn now_rfc3339() -> String {
    Timestamp::now()
        .round(k8s_openapi::jiff::Unit::Second)
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// `1m`, `30s`, `1h30m`; `fallback` when unreadable or zero.
pub fn parse_interval(s: &str, fallback: Duration) -> Duration {
    crate::fleet::validate::parse_duration(s)
        .filter(|d| !d.is_zero())
        .unwrap_or(fallback)
}

/// How long until `interval` has passed since `last` (zero: due now).
pub fn due(last: Option<&str>, interval: Duration) -> Duration {
    let Some(last) = last.and_then(|l| l.parse::<Timestamp>().ok()) else {
        return Duration::ZERO;
    };
    let elapsed = Timestamp::now().duration_since(last).unsigned_abs();
    interval.saturating_sub(elapsed)
}

pub fn condition(
    type_: &str,
    ok: bool,
    reason: &str,
    message: &str,
    generation: Option<i64>,
) -> Condition {
    Condition {
        type_: type_.into(),
        status: if ok { "True" } else { "False" }.into(),
        reason: reason.into(),
        message: message.into(),
        observed_generation: generation,
        last_transition_time: Time(
            Timestamp::now()
                .round(k8s_openapi::jiff::Unit::Second)
                .unwrap_or(Timestamp::now()),
        ),
    }
}

/// Replaces the condition of the same type; keeps its transition time when the status is unchanged.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    if let Some(old) = conditions.iter_mut().find(|c| c.type_ == new.type_) {
        if old.status == new.status
            && old.reason == new.reason
            && old.message == new.message
            && old.observed_generation == new.observed_generation
        {
            return;
        }
        if old.status == new.status {
            new.last_transition_time = old.last_transition_time.clone();
        }
        *old = new;
    } else {
        conditions.push(new);
    }
}

/// Drops the condition of a type (Reconciling once done, Stalled once unstuck).
pub fn remove_condition(conditions: &mut Vec<Condition>, type_: &str) {
    conditions.retain(|c| c.type_ != type_);
}

/// Asks for an immediate reconcile of a GitSource or Sync (what the webhook and
/// `gitfleet reconcile` do): sets the `gitfleet.io/reconcile-requested-at` annotation.
pub async fn request_reconcile<K>(api: &Api<K>, name: &str) -> Result<String, kube::Error>
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let at = Timestamp::now().to_string();
    let patch = json!({"metadata": {"annotations": {REQUESTED_AT: at}}});
    api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await?;
    Ok(at)
}

/// Runs the agent until it fails or loses leadership.
pub async fn run(conn: Connection, opts: AgentOptions) -> anyhow::Result<()> {
    let client = conn.client.clone();
    let metrics = Arc::new(metrics::Metrics::default());
    let push_client = client.clone();
    let state = Arc::new(http::HttpState {
        metrics: metrics.clone(),
        ready: Default::default(),
        webhook_secret: opts.webhook_secret.clone(),
        on_push: Box::new(move |ns, name| {
            let api: Api<GitSource> = Api::namespaced(push_client.clone(), &ns);
            tokio::spawn(async move {
                if let Err(e) = request_reconcile(&api, &name).await {
                    tracing::warn!(namespace = %ns, name = %name, error = %api_message(&e), "could not request a fetch");
                }
            });
        }),
    });
    let server = tokio::spawn(http::serve(opts.listen, state.clone()));

    std::fs::create_dir_all(&opts.cache_dir).map_err(|e| {
        anyhow::anyhow!(
            "cannot create the cache directory {}: {e}",
            opts.cache_dir.display()
        )
    })?;
    let (sources, syncs): (Api<GitSource>, Api<Sync>) = match &opts.namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    // Fail early and clearly when the CRDs are missing.
    sources
        .list(&kube::api::ListParams::default().limit(1))
        .await
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot list GitSources ({}); are the gitfleet CRDs installed?",
                api_message(&e)
            )
        })?;
    // Ready (for the Deployment's probe) once the API answers; a standby replica is ready too.
    state.ready.store(true, Ordering::SeqCst);
    let elector = match &opts.leader_lease_namespace {
        Some(ns) => {
            let e =
                leader::Elector::new(client.clone(), ns, "gitfleet-agent-leader", &opts.identity);
            e.acquire().await?;
            Some(e)
        }
        None => None,
    };

    // Inventories from a watch: a resync reads its inventory without a request (see
    // kube::inventory::Cache); until the watch has it, or if it cannot run, a GET.
    let (inventory_store, inventory_writer) = kube::runtime::reflector::store();
    let config_maps: Api<k8s_openapi::api::core::v1::ConfigMap> = match &opts.namespace {
        Some(ns) => Api::namespaced(client.clone(), ns),
        None => Api::all(client.clone()),
    };
    let (key, value) = crate::kube::inventory::LABEL;
    let inventory_watch = kube::runtime::reflector(
        inventory_writer,
        watcher(
            config_maps,
            watcher::Config::default().labels(&format!("{key}={value}")),
        )
        .default_backoff(),
    )
    .for_each(|r| async move {
        if let Err(e) = r {
            tracing::debug!(error = %e, "inventory watch");
        }
    });
    let inventory_watch = tokio::spawn(inventory_watch);
    conn.inventories.watch(inventory_store);

    let source_controller = Controller::new(sources.clone(), watcher::Config::default());
    let sync_controller = Controller::new(syncs, watcher::Config::default());
    let ctx = Arc::new(Context {
        client: client.clone(),
        conn: conn.clone(),
        cache_dir: opts.cache_dir.clone(),
        metrics,
        recorder: Recorder::new(
            client.clone(),
            Reporter {
                controller: "gitfleet-agent".into(),
                instance: Some(opts.identity.clone()),
            },
        ),
        poll: opts.poll,
        checkouts: Mutex::new(HashMap::new()),
        sources: source_controller.store(),
        syncs: sync_controller.store(),
        last_run: Default::default(),
    });

    let source_controller = source_controller
        .run(source::reconcile, error_policy_source, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "GitSource reconcile");
            }
        });
    let store = ctx.syncs.clone();
    let sync_controller = sync_controller
        // A GitSource's new revision (not its every status write) wakes the Syncs that use it.
        .watches(
            sources,
            watcher::Config::default(),
            move |src: GitSource| {
                let ns = src.namespace();
                let name = src.name_any();
                let revision = src.status.as_ref().and_then(|s| s.revision.clone());
                store
                    .state()
                    .into_iter()
                    .filter(|s| s.namespace() == ns && s.spec.source_ref.name == name)
                    // Only Syncs that have not tried this revision yet.
                    .filter(|s| {
                        revision.is_some()
                            && s.status
                                .as_ref()
                                .and_then(|st| st.last_attempted_revision.clone())
                                != revision
                    })
                    .map(|s| ObjectRef::from_obj(&*s))
                    .collect::<Vec<_>>()
            },
        )
        .run(sync::reconcile, error_policy_sync, ctx.clone())
        .for_each(|r| async move {
            if let Err(e) = r {
                tracing::debug!(error = %e, "Sync reconcile");
            }
        });
    tracing::info!(
        namespace = opts.namespace.as_deref().unwrap_or("(all)"),
        "agent started"
    );
    let keep = async {
        match &elector {
            Some(e) => e.keep().await,
            None => futures::future::pending().await,
        }
    };
    let _abort_on_exit = AbortOnDrop(inventory_watch);
    tokio::select! {
        _ = source_controller => anyhow::bail!("the GitSource controller stopped"),
        _ = sync_controller => anyhow::bail!("the Sync controller stopped"),
        r = keep => r,
        r = server => match r {
            Ok(Ok(())) => anyhow::bail!("the HTTP server stopped"),
            Ok(Err(e)) => Err(e),
            Err(e) => Err(e.into()),
        },
    }
}

/// Stops a background task when the agent's run ends.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

fn error_policy_source(_: Arc<GitSource>, e: &ReconcileError, _: Arc<Context>) -> Action {
    tracing::warn!(error = %e, kind = e.metric_label(), "GitSource reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}

fn error_policy_sync(_: Arc<Sync>, e: &ReconcileError, _: Arc<Context>) -> Action {
    tracing::warn!(error = %e, kind = e.metric_label(), "Sync reconcile failed; retrying");
    Action::requeue(Duration::from_secs(5))
}
