//! Helm charts through gitfleet's repository reader: the `helm` crate walks a chart directory
//! through [`ChartDir`], which answers from a [`Source`] (confined to the repository root,
//! bounded, links that leave the root refused), renders it, and this module turns the output
//! into objects with the file each came from.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::diagnostic::{Diagnostic, Span};
use crate::source::{Problem, Source};

/// How a chart is rendered: the release, its values and the cluster it is rendered for.
#[derive(Debug, Clone, Default)]
pub struct HelmOptions {
    /// `.Release.Name` (default: the chart's name).
    pub release_name: Option<String>,
    /// `.Release.Namespace` (default: `default`).
    pub namespace: Option<String>,
    /// Values files, relative to the chart's directory (they may name files elsewhere in the
    /// repository, never outside it), merged in order, under `values`.
    pub values_files: Vec<String>,
    /// Inline values, merged last.
    pub values: Map<String, Value>,
    /// `.Capabilities.KubeVersion` (default: Helm's, v1.36.0).
    pub kube_version: Option<String>,
    /// API versions added to `.Capabilities.APIVersions`.
    pub api_versions: Vec<String>,
    /// The cluster's API versions from discovery: they replace Helm's defaults.
    pub discovered_api_versions: Option<Vec<String>>,
    /// Leave out the chart's `crds/`.
    pub skip_crds: bool,
    /// `.Release.IsUpgrade` (the agent: a revision after the first).
    pub is_upgrade: bool,
    /// Where dependencies a chart declares but does not vendor in `charts/` are fetched to
    /// (from their `https://` or `oci://` repository, at the `Chart.lock` version, else the
    /// newest match); `None`: such a dependency is an error. `file://` ones are read from the
    /// repository either way.
    pub chart_cache: Option<std::path::PathBuf>,
    /// How templates' `lookup` is answered (the agent: from the cluster it applies to).
    pub lookup: Lookup,
}

/// Helm's `lookup`, answered by the caller; none: an empty map, as `helm template` answers.
#[derive(Clone, Default)]
pub struct Lookup(pub Option<helm::LookupFn>);

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Lookup(cluster)"
        } else {
            "Lookup(none)"
        })
    }
}

/// A chart directory read through a [`Source`]; what it cannot read is kept as gitfleet's own
/// diagnostics (with their hints), and the engine only hears that reading failed.
struct ChartDir<'a> {
    src: Arc<Source>,
    base: String,
    shown: &'a dyn Fn(&str) -> Arc<str>,
    problems: std::cell::RefCell<Vec<Diagnostic>>,
}

impl ChartDir<'_> {
    fn problem(&self, e: crate::source::SourceError) -> String {
        let mut d = e.to_diagnostic();
        d.span.file = (self.shown)(&e.path);
        let text = d.message.clone();
        self.problems.borrow_mut().push(d);
        text
    }
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

impl helm::Dir for ChartDir<'_> {
    fn entries(&self, rel: &str) -> Result<Vec<(String, bool)>, String> {
        self.src
            .entries(&join(&self.base, rel))
            .map_err(|e| self.problem(e))
    }

    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        let path = join(&self.base, rel);
        match self.src.read_bytes(&path) {
            Ok(Some(b)) if b.len() as u64 <= limit => Ok(b),
            Ok(Some(_)) => Err(self.problem(crate::source::SourceError::new(
                path,
                Problem::TooLarge { limit },
            ))),
            Ok(None) => Err(self.problem(crate::source::SourceError::new(path, Problem::NotFound))),
            Err(e) => Err(self.problem(e)),
        }
    }
}

/// Whether the directory `rel` holds a chart (`Chart.yaml`).
pub fn is_chart_dir(src: &Source, rel: &str) -> bool {
    matches!(src.resolve(&join(rel, "Chart.yaml")), Ok(Some(p)) if p.is_file())
}

/// One rendered object and the chart file it came from.
pub struct Rendered {
    pub value: Value,
    pub span: Span,
}

/// Renders the chart in `dir` (relative to the source's root); `shown` names files as the
/// caller shows them. Every error at once; nothing is returned if any template fails.
pub fn build(
    src: &Arc<Source>,
    dir: &str,
    shown: &dyn Fn(&str) -> Arc<str>,
    opts: &HelmOptions,
) -> Result<Vec<Rendered>, Vec<Diagnostic>> {
    let at = |file: Option<&str>, line: usize, col: usize| -> Span {
        let f = match file {
            Some(f) => shown(&join(dir, f)),
            None => shown(&join(dir, "Chart.yaml")),
        };
        Span::new(f, line.max(1) as u32, col.max(1) as u32)
    };
    let mut chart = load_chart_dir(src, dir, shown)?;
    vendor_dependencies(&mut chart, src, Some(dir), shown, &at, opts, 0)?;
    render_chart(&chart, src, dir, shown, &at, opts)
}

/// Loads the chart directory `dir` through the confined reader: every file it cannot read is
/// reported with gitfleet's own diagnostic (and hint), chart errors at their file and line.
fn load_chart_dir(
    src: &Arc<Source>,
    dir: &str,
    shown: &dyn Fn(&str) -> Arc<str>,
) -> Result<helm::Chart, Vec<Diagnostic>> {
    let reader = ChartDir {
        src: src.clone(),
        base: dir.to_string(),
        shown,
        problems: Default::default(),
    };
    let loaded = helm::load_dir(&reader);
    let problems = reader.problems.take();
    if !problems.is_empty() {
        return Err(problems);
    }
    loaded.map_err(|es| {
        es.iter()
            .map(|e| {
                let file = shown(&join(dir, e.file.as_deref().unwrap_or("Chart.yaml")));
                Diagnostic::error(
                    Span::new(file, e.line.max(1) as u32, e.col.max(1) as u32),
                    e.message.clone(),
                )
            })
            .collect()
    })
}

/// What `helm dependency build` would do: every dependency Chart.yaml declares that `charts/`
/// does not hold is read (`file://`, inside the repository) or fetched (`https://`, `oci://`).
fn vendor_dependencies(
    chart: &mut helm::Chart,
    src: &Arc<Source>,
    dir: Option<&str>,
    shown: &dyn Fn(&str) -> Arc<str>,
    at: &dyn Fn(Option<&str>, usize, usize) -> Span,
    opts: &HelmOptions,
    depth: usize,
) -> Result<(), Vec<Diagnostic>> {
    let missing: Vec<helm::Dependency> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.dependencies.iter().any(|c| c.name() == d.name))
        .cloned()
        .collect();
    let fail = |m: String| vec![Diagnostic::error(at(Some("Chart.yaml"), 1, 1), m)];
    for dep in missing {
        let repo = dep.repository.trim();
        if repo.is_empty() {
            continue; // reported by the renderer as missing from charts/
        }
        let loaded = if let Some(path) = repo.strip_prefix("file://") {
            let Some(dir) = dir else {
                return Err(fail(format!(
                    "dependency {}: a file:// repository in a chart archive",
                    dep.name
                )));
            };
            if depth > 8 {
                return Err(fail(format!(
                    "dependency {}: file:// dependencies nest too deep",
                    dep.name
                )));
            }
            let sub_dir = match crate::source::normalize(&join(dir, path)) {
                Ok(p) => p.to_string_lossy().replace('\\', "/"),
                Err(p) => {
                    return Err(vec![
                        crate::source::SourceError::new(path.to_string(), p).to_diagnostic(),
                    ]);
                }
            };
            let sub_at = |file: Option<&str>, line: usize, col: usize| -> Span {
                Span::new(
                    shown(&join(&sub_dir, file.unwrap_or("Chart.yaml"))),
                    line.max(1) as u32,
                    col.max(1) as u32,
                )
            };
            let mut sub = load_chart_dir(src, &sub_dir, shown)?;
            vendor_dependencies(
                &mut sub,
                src,
                Some(&sub_dir),
                shown,
                &sub_at,
                opts,
                depth + 1,
            )?;
            sub
        } else if repo.starts_with("https://")
            || repo.starts_with("http://")
            || repo.starts_with("oci://")
        {
            let Some(cache) = &opts.chart_cache else {
                return Err(fail(format!(
                    "dependency {} is not in charts/ and cannot be fetched here (no chart cache)",
                    dep.name
                )));
            };
            let version = chart
                .lock
                .iter()
                .find(|l| l.name == dep.name)
                .map(|l| l.version.clone())
                .unwrap_or_else(|| dep.version.clone());
            let r = super::chart_repo::ChartRef {
                repository: repo.to_string(),
                name: dep.name.clone(),
                version,
            };
            let fetched = super::chart_repo::fetch(&r, &Default::default(), Some(cache))
                .map_err(|e| fail(format!("dependency {}: {e}", dep.name)))?;
            helm::read_archive(&fetched.archive)
                .and_then(helm::load_files)
                .map_err(|e| fail(format!("dependency {} {}: {e}", dep.name, fetched.version)))?
        } else {
            return Err(fail(format!(
                "dependency {}: repository {} is not file://, https:// or oci:// (repository names from `helm repo add` are not known here)",
                dep.name,
                super::chart_repo::shown(repo)
            )));
        };
        if loaded.name() != dep.name {
            return Err(fail(format!(
                "dependency {}: the chart found there is named {}",
                dep.name,
                loaded.name()
            )));
        }
        chart.dependencies.push(loaded);
    }
    chart.dependencies.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(())
}

/// Renders a chart archive (fetched from a chart repository); `label` names it in messages
/// (`oci://host/charts/web@1.2.3`), values files are read from `values_dir` in the source.
pub fn build_archive(
    archive: &[u8],
    label: &str,
    src: &Arc<Source>,
    values_dir: &str,
    shown: &dyn Fn(&str) -> Arc<str>,
    opts: &HelmOptions,
) -> Result<Vec<Rendered>, Vec<Diagnostic>> {
    let at = |file: Option<&str>, line: usize, col: usize| -> Span {
        let f: Arc<str> = match file {
            Some(f) => format!("{label}/{f}").into(),
            None => label.into(),
        };
        Span::new(f, line.max(1) as u32, col.max(1) as u32)
    };
    let to_diag = |e: &helm::Error| {
        Diagnostic::error(at(e.file.as_deref(), e.line, e.col), e.message.clone())
    };
    let mut chart = helm::read_archive(archive)
        .and_then(helm::load_files)
        .map_err(|e| vec![to_diag(&e)])?;
    vendor_dependencies(&mut chart, src, None, shown, &at, opts, 0)?;
    render_chart(&chart, src, values_dir, shown, &at, opts)
}

fn render_chart(
    chart: &helm::Chart,
    src: &Arc<Source>,
    dir: &str,
    shown: &dyn Fn(&str) -> Arc<str>,
    at: &dyn Fn(Option<&str>, usize, usize) -> Span,
    opts: &HelmOptions,
) -> Result<Vec<Rendered>, Vec<Diagnostic>> {
    let to_diag = |e: &helm::Error| {
        Diagnostic::error(at(e.file.as_deref(), e.line, e.col), e.message.clone())
    };
    // values files in order, then the inline values (Helm's -f then --set)
    let mut values = helm::Vals::new();
    let mut diags = Vec::new();
    for f in &opts.values_files {
        let path = match crate::source::normalize(&join(dir, f)) {
            Ok(p) => p.to_string_lossy().replace('\\', "/"),
            Err(p) => {
                diags.push(crate::source::SourceError::new(f.clone(), p).to_diagnostic());
                continue;
            }
        };
        let text = match crate::source::FileSource::read(&**src, &path) {
            Ok(Some(t)) => t,
            Ok(None) => {
                diags.push(
                    crate::source::SourceError::new(path.clone(), Problem::NotFound)
                        .to_diagnostic(),
                );
                continue;
            }
            Err(e) => {
                diags.push(e.to_diagnostic());
                continue;
            }
        };
        match gotemplate::parse_yaml(&text).map(|v| v.to_json()) {
            Ok(Value::Object(m)) => values = helm::values::merge_maps(&values, &m),
            Ok(Value::Null) => {}
            Ok(_) => diags.push(Diagnostic::error(
                Span::file_start(shown(&path)),
                "a values file must hold a mapping",
            )),
            Err(e) => diags.push(Diagnostic::error(Span::file_start(shown(&path)), e)),
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    // the same reading as a values file: every number a float64, as Helm sees values
    let inline =
        match gotemplate::Value::from_json_helm(&Value::from(opts.values.clone())).to_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
    values = helm::values::merge_maps(&values, &inline);

    let ropts = helm::Options {
        release_name: opts
            .release_name
            .clone()
            .unwrap_or_else(|| chart.name().to_string()),
        namespace: opts.namespace.clone().unwrap_or_else(|| "default".into()),
        revision: 1,
        is_upgrade: opts.is_upgrade,
        kube_version: opts.kube_version.clone(),
        discovered_api_versions: opts.discovered_api_versions.clone(),
        api_versions: opts.api_versions.clone(),
        skip_schema_validation: false,
        limits: helm::DEFAULT_LIMITS,
        lookup: opts.lookup.0.clone(),
    };
    let rendered = helm::render(chart, &values, &ropts)
        .map_err(|es| es.iter().map(to_diag).collect::<Vec<_>>())?;

    let mut out = Vec::new();
    let mut docs: Vec<&helm::Manifest> = Vec::new();
    if !opts.skip_crds {
        docs.extend(rendered.crds.iter());
    }
    docs.extend(rendered.manifests.iter());
    for m in docs {
        let span = at(Some(&m.source), 1, 1);
        let parts: Vec<String> = if m.source.starts_with("crds/") || m.source.contains("/crds/") {
            helm::split_manifests(&m.text)
        } else {
            vec![m.text.clone()]
        };
        for text in parts {
            let value = match gotemplate::parse_yaml(&text) {
                Ok(v) => whole_numbers(v.to_json()),
                Err(e) => {
                    diags.push(Diagnostic::error(
                        span.clone(),
                        format!(
                            "YAML parse error on {}: error converting YAML to JSON: {e}",
                            m.template
                        ),
                    ));
                    continue;
                }
            };
            if value.is_null() {
                continue;
            }
            // `test` hooks and delete/rollback-only hooks are not applied (Helm runs them on
            // other commands); install/upgrade hooks are, around the release
            let is_hook = value["metadata"]["annotations"]["helm.sh/hook"].is_string();
            if is_hook && !crate::kube::hooks::is_hook(&value) {
                continue;
            }
            out.push(Rendered {
                value,
                span: span.clone(),
            });
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    Ok(out)
}

/// Numbers as Kubernetes receives them from Helm: Helm reads YAML into float64 and writes
/// JSON, where a whole float64 is an integer (`3`, not `3.0`).
fn whole_numbers(v: Value) -> Value {
    match v {
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        Value::Array(a) => Value::Array(a.into_iter().map(whole_numbers).collect()),
        Value::Object(m) => {
            Value::Object(m.into_iter().map(|(k, x)| (k, whole_numbers(x))).collect())
        }
        v => v,
    }
}
