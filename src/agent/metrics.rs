//! Prometheus metrics of the agent (`/metrics`).

use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ObjectLabels {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RevisionLabels {
    pub namespace: String,
    pub name: String,
    pub revision: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub ready: Family<ObjectLabels, Gauge>,
    pub applied_revision: Family<RevisionLabels, Gauge>,
    pub fetch_errors: Family<ObjectLabels, Counter>,
    /// The revision label currently set per (namespace, name) of a Sync, to remove it on change.
    current: Mutex<std::collections::HashMap<(String, String), String>>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("gitfleet");
        let reconcile_duration = Family::<KindLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 14))
        });
        let ready = Family::<ObjectLabels, Gauge>::default();
        let applied_revision = Family::<RevisionLabels, Gauge>::default();
        let fetch_errors = Family::<ObjectLabels, Counter>::default();
        registry.register(
            "reconcile_duration_seconds",
            "Duration of one reconcile, by kind (GitSource, Sync)",
            reconcile_duration.clone(),
        );
        registry.register(
            "ready",
            "1 when the object's Ready condition is True, else 0",
            ready.clone(),
        );
        registry.register(
            "sync_applied_revision_info",
            "The revision a Sync last applied successfully (value 1)",
            applied_revision.clone(),
        );
        registry.register(
            "fetch_errors",
            "Failed fetches of a GitSource",
            fetch_errors.clone(),
        );
        Self {
            registry,
            reconcile_duration,
            ready,
            applied_revision,
            fetch_errors,
            current: Mutex::new(Default::default()),
        }
    }
}

impl Metrics {
    pub fn observe(&self, kind: &str, seconds: f64) {
        self.reconcile_duration
            .get_or_create(&KindLabels { kind: kind.into() })
            .observe(seconds);
    }

    pub fn set_ready(&self, kind: &str, namespace: &str, name: &str, ready: bool) {
        self.ready
            .get_or_create(&ObjectLabels {
                kind: kind.into(),
                namespace: namespace.into(),
                name: name.into(),
            })
            .set(i64::from(ready));
    }

    pub fn fetch_failed(&self, namespace: &str, name: &str) {
        self.fetch_errors
            .get_or_create(&ObjectLabels {
                kind: "GitSource".into(),
                namespace: namespace.into(),
                name: name.into(),
            })
            .inc();
    }

    pub fn set_revision(&self, namespace: &str, name: &str, revision: &str) {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let key = (namespace.to_string(), name.to_string());
        if let Some(old) = current.get(&key)
            && old != revision
        {
            self.applied_revision.remove(&RevisionLabels {
                namespace: namespace.into(),
                name: name.into(),
                revision: old.clone(),
            });
        }
        self.applied_revision
            .get_or_create(&RevisionLabels {
                namespace: namespace.into(),
                name: name.into(),
                revision: revision.into(),
            })
            .set(1);
        current.insert(key, revision.to_string());
    }

    /// The text exposition format.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
