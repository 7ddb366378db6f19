//! The fleet definitions: loading `fleet.yaml` and the cluster files from a source, resolving
//! defaults, and validating everything before anything else runs.
//!
//! `load` reads through a [`FileSource`] (a directory today, a Git revision later) and is
//! otherwise pure: it returns either a fully valid [`LoadedFleet`] or every problem found.

pub mod resolve;
pub mod schema;
pub mod selector;
pub mod types;
pub mod validate;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use serde::Serialize;

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::source::SourceError;
use schema::DocKind;
use selector::Selector;
use types::{Cluster, ClusterSpec, Fleet, ProviderKind};
use yaml::{Node, Value};

pub const FLEET_FILE: &str = "fleet.yaml";

pub use crate::source::{FileSource, MemSource, Source};

/// One cluster after defaults were merged and everything validated: what render sees.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedCluster {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    /// The definition file, relative to the fleet directory.
    pub file: String,
    pub provider: ProviderKind,
    /// Path the reconciler syncs (the cluster's directory unless `spec.path` says otherwise).
    pub path: String,
    pub spec: ClusterSpec,
}

#[derive(Debug, Clone)]
pub struct LoadedFleet {
    pub fleet: Fleet,
    /// Clusters in the fleet (after the fleet's own selector), sorted by name.
    pub clusters: Vec<ResolvedCluster>,
    /// Problems that do not stop the run.
    pub warnings: Vec<Diagnostic>,
}

impl LoadedFleet {
    /// The clusters a command works on: by names and/or a label selector.
    pub fn select(
        &self,
        names: &[String],
        selector: Option<&Selector>,
    ) -> Result<Vec<&ResolvedCluster>, String> {
        for n in names {
            if !self.clusters.iter().any(|c| &c.name == n) {
                let known: Vec<&str> = self.clusters.iter().map(|c| c.name.as_str()).collect();
                let hint = match crate::diagnostic::did_you_mean(n, known.iter().copied()) {
                    Some(s) => format!("did you mean \"{s}\"?"),
                    None => format!("the fleet has: {}", known.join(", ")),
                };
                return Err(format!("no cluster named \"{n}\" in the fleet ({hint})"));
            }
        }
        Ok(self
            .clusters
            .iter()
            .filter(|c| names.is_empty() || names.contains(&c.name))
            .filter(|c| selector.is_none_or(|s| s.matches(&c.labels)))
            .collect())
    }
}

/// Loads and validates a fleet from a directory (the root every file must stay inside).
pub fn load_dir(dir: &Path) -> Result<LoadedFleet, LoadError> {
    load(&Source::new(dir))
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Every problem found, each naming its file (unreadable files included).
    #[error("{0}")]
    Invalid(#[from] Diagnostics),
}

fn parse_single(
    file: &Arc<str>,
    text: &str,
    what: &str,
    errors: &mut Vec<Diagnostic>,
) -> Option<Node> {
    match yaml::parse(file, text) {
        Err(errs) => {
            errors.extend(errs);
            None
        }
        Ok(mut docs) => {
            if docs.len() > 1 {
                errors.push(
                    Diagnostic::error(
                        docs[1].span.clone(),
                        format!("{what} holds more than one YAML document"),
                    )
                    .with_hint("keep one document per file; remove the `---` separator"),
                );
            }
            match docs.first() {
                None => {
                    errors.push(Diagnostic::error(
                        Span::file_start(file.clone()),
                        format!("{what} is empty"),
                    ));
                    None
                }
                Some(doc) if !matches!(doc.value, Value::Map(_)) => {
                    errors.push(Diagnostic::error(
                        doc.span.clone(),
                        format!("{what} must be a mapping, found {}", doc.value.type_name()),
                    ));
                    None
                }
                Some(_) => Some(docs.swap_remove(0)),
            }
        }
    }
}

/// Loads and validates a fleet: every problem in every file is reported at once.
pub fn load(source: &dyn FileSource) -> Result<LoadedFleet, LoadError> {
    let mut errors: Vec<Diagnostic> = Vec::new();
    let fleet_file: Arc<str> = Arc::from(FLEET_FILE);
    let fleet_text = match source.read(FLEET_FILE) {
        Ok(t) => t,
        Err(e) => return Err(Diagnostics(vec![e.to_diagnostic()]).into()),
    };
    let Some(fleet_text) = fleet_text else {
        return Err(Diagnostics(vec![
            Diagnostic::error(Span::file_start(fleet_file), "no fleet.yaml in the fleet directory")
                .with_hint("pass the directory holding fleet.yaml with --fleet, or create one with `gitfleet init`"),
        ])
        .into());
    };

    // The fleet document.
    let fleet_doc = parse_single(&fleet_file, &fleet_text, "fleet.yaml", &mut errors);
    let mut fleet: Option<Fleet> = None;
    if let Some(doc) = &fleet_doc {
        let before = errors.len();
        schema::check(doc, DocKind::Fleet, &mut errors);
        if errors.len() == before {
            match serde_json::from_value::<Fleet>(doc.to_json()) {
                Ok(f) => {
                    validate::check_fleet(doc, &f, &mut errors);
                    fleet = Some(f);
                }
                Err(e) => errors.push(Diagnostic::error(
                    doc.span.clone(),
                    format!("fleet.yaml: {e}"),
                )),
            }
        }
    }
    let defaults: Option<&Node> = fleet_doc
        .as_ref()
        .and_then(|d| d.get("spec"))
        .and_then(|s| s.get("defaults"))
        .filter(|d| matches!(d.value, Value::Map(_)));
    let include = fleet
        .as_ref()
        .map(|f| f.spec.clusters.include.clone())
        .unwrap_or_else(|| types::ClusterSelection::default().include);

    // Cluster files.
    let mut files: Vec<String> = Vec::new();
    let mut unlisted = 0;
    for pattern in &include {
        if glob::Pattern::new(pattern).is_err() {
            continue; // reported by check_fleet
        }
        if pattern.starts_with('/') || pattern.split('/').any(|p| p == "..") {
            continue; // reported by check_fleet, and never read
        }
        let listing = source.glob(pattern);
        unlisted += listing.errors.len();
        errors.extend(listing.errors.iter().map(SourceError::to_diagnostic));
        files.extend(listing.files);
    }
    files.sort();
    files.dedup();
    let max = crate::source::LIMITS.max_clusters;
    if files.len() > max {
        errors.push(
            Diagnostic::error(
                Span::file_start(fleet_file.clone()),
                format!(
                    "the fleet includes {} cluster files, more than the limit of {max}",
                    files.len()
                ),
            )
            .with_hint("split the fleet into several fleet directories"),
        );
        files.truncate(max);
    }
    if files.is_empty() && fleet.is_some() && unlisted == 0 {
        errors.push(
            Diagnostic::error(
                Span::file_start(fleet_file.clone()),
                "no cluster definitions found",
            )
            .with_hint(format!(
                "the fleet includes {}; add clusters/<name>/cluster.yaml",
                include.join(", ")
            )),
        );
    }

    let mut clusters: Vec<ResolvedCluster> = Vec::new();
    let mut first_seen: BTreeMap<String, Span> = BTreeMap::new();
    let mut warnings = Vec::new();
    for rel in &files {
        let file: Arc<str> = Arc::from(rel.as_str());
        let text = match source.read(rel) {
            Ok(Some(t)) => t,
            Ok(None) => continue,
            Err(e) => {
                errors.push(e.to_diagnostic());
                continue;
            }
        };
        let Some(doc) = parse_single(&file, &text, rel, &mut errors) else {
            continue;
        };
        let merged = match (defaults, doc.entry("spec")) {
            (Some(defaults), Some(spec)) if matches!(spec.value.value, Value::Map(_)) => {
                let applicable = resolve::applicable_defaults(defaults, &spec.value);
                let merged_spec = resolve::merge(&applicable, &spec.value);
                let mut doc = doc.clone();
                if let Value::Map(entries) = &mut doc.value
                    && let Some(e) = entries.iter_mut().find(|e| e.key == "spec")
                {
                    e.value = merged_spec;
                }
                doc
            }
            _ => doc,
        };
        let mut structural = Vec::new();
        schema::check(&merged, DocKind::Cluster, &mut structural);
        if !structural.is_empty() {
            // Structural problems inside inherited defaults were already reported by the
            // fleet.yaml check (under their real path); report only the cluster's own.
            errors.extend(
                structural
                    .into_iter()
                    .filter(|d| &*d.span.file != FLEET_FILE),
            );
            continue;
        }
        let cluster: Cluster = match serde_json::from_value(merged.to_json()) {
            Ok(c) => c,
            Err(e) => {
                errors.push(Diagnostic::error(
                    merged.span.clone(),
                    format!("{rel}: {e}"),
                ));
                continue;
            }
        };
        let mut found = Vec::new();
        let provider = validate::check_cluster(&merged, &cluster, rel, &mut found);
        let failed = found.iter().any(Diagnostic::is_error);
        for d in found {
            if d.is_error() {
                errors.push(d);
            } else {
                warnings.push(d);
            }
        }
        let name_span = merged
            .get("metadata")
            .and_then(|m| m.get("name"))
            .map_or_else(|| merged.span.clone(), |n| n.span.clone());
        if let Some(first) = first_seen.get(&cluster.metadata.name) {
            errors.push(
                Diagnostic::error(
                    name_span,
                    format!("duplicate cluster name \"{}\"", cluster.metadata.name),
                )
                .with_hint(format!(
                    "already defined at {first}; cluster names must be unique in a fleet"
                )),
            );
            continue;
        }
        first_seen.insert(cluster.metadata.name.clone(), name_span);
        let (Some(provider), false) = (provider, failed) else {
            continue;
        };
        let dir = rel.rsplit_once('/').map_or("", |(d, _)| d).to_string();
        clusters.push(ResolvedCluster {
            name: cluster.metadata.name.clone(),
            labels: cluster.metadata.labels.clone(),
            file: rel.clone(),
            provider,
            path: cluster.spec.path.clone().unwrap_or(if dir.is_empty() {
                ".".into()
            } else {
                dir
            }),
            spec: cluster.spec,
        });
    }

    if errors.iter().any(Diagnostic::is_error) {
        let mut all = errors;
        all.extend(warnings);
        return Err(Diagnostics(Diagnostics::normalized(all)).into());
    }
    let fleet = fleet.expect("no errors means fleet.yaml parsed");
    if let Some(sel) = &fleet.spec.clusters.selector {
        let sel = Selector::parse(sel).expect("validated");
        clusters.retain(|c| sel.matches(&c.labels));
    }
    clusters.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(LoadedFleet {
        fleet,
        clusters,
        warnings: Diagnostics::normalized(warnings),
    })
}
