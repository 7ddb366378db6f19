//! Rendering: the render context Helm builds for every chart and sub-chart,
//! the templates of all of them parsed into one set (in Helm's order, so a
//! parent's `define` wins), every non-partial template executed, and the
//! output split into documents.

use std::collections::BTreeMap;
use std::rc::Rc;

use gotemplate::{Budget, Map, TemplateSet, Value};
use serde_json::Value as Json;

use crate::Error;
use crate::chart::Chart;
use crate::objects::{self, Files, HelmVersion, KubeVersion, VersionSet};
use crate::values::{self, Vals};

/// How to render: the release and the cluster it is rendered for.
#[derive(Clone)]
pub struct Options {
    pub release_name: String,
    pub namespace: String,
    pub revision: i64,
    pub is_upgrade: bool,
    /// The cluster's version (`v1.30.2`); Helm's default without one.
    pub kube_version: Option<String>,
    /// API versions the cluster serves, from discovery; replaces Helm's defaults.
    pub discovered_api_versions: Option<Vec<String>>,
    /// API versions added to the set (`helm template --api-versions`).
    pub api_versions: Vec<String>,
    pub skip_schema_validation: bool,
    /// Bounds on the render: `fuel` and `output_bytes` for the whole chart, every execution of
    /// every template (sub-charts', `include`'s and `tpl`'s included) drawing on one budget;
    /// `depth` per execution. Default: [`DEFAULT_LIMITS`].
    pub limits: gotemplate::Limits,
    /// How `lookup` is answered (the agent: from the cluster); `None`: an empty map, as
    /// `helm template` answers.
    pub lookup: Option<LookupFn>,
}

/// Answers `lookup apiVersion kind namespace name` with the object (or, for a `name` of `""`,
/// a list) as JSON, `Null` when there is none, or an error message.
pub type LookupFn =
    std::sync::Arc<dyn Fn(&str, &str, &str, &str) -> Result<Json, String> + Send + Sync>;

impl std::fmt::Debug for Options {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Options")
            .field("release_name", &self.release_name)
            .field("namespace", &self.namespace)
            .field("kube_version", &self.kube_version)
            .field("lookup", &self.lookup.is_some())
            .finish_non_exhaustive()
    }
}

impl Default for Options {
    fn default() -> Options {
        Options {
            release_name: "release-name".into(),
            namespace: "default".into(),
            revision: 1,
            is_upgrade: false,
            kube_version: None,
            discovered_api_versions: None,
            api_versions: Vec::new(),
            skip_schema_validation: false,
            limits: DEFAULT_LIMITS,
            lookup: None,
        }
    }
}

/// The bounds of one chart's render (all its templates and its sub-charts' together).
///
/// Fuel: the 206-template benchmark chart (benches/render.rs) takes about 77,000 steps and the
/// largest chart of tests/helm/charts about 1,200; 50 million is room for charts hundreds of
/// times larger, and a hostile chart (a loop in every template) spends it in about a second
/// (four unoptimised). Output counts every string written or built (an `include` where it is
/// built and again where it is written): about 1 MiB for the benchmark chart's 245 kB of
/// documents.
pub const DEFAULT_LIMITS: gotemplate::Limits = gotemplate::Limits {
    fuel: 50_000_000,
    output_bytes: 64 << 20,
    depth: 100,
};

/// One YAML document of the output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Manifest {
    /// The file it came from, relative to the chart's directory
    /// (`templates/deployment.yaml`, `charts/redis/templates/svc.yaml`, `crds/crd.yaml`).
    pub source: String,
    /// The template's name as Helm prints it in `# Source:` (`mychart/templates/deployment.yaml`).
    pub template: String,
    pub text: String,
}

/// What a chart renders to.
#[derive(Clone, Debug, Default)]
pub struct Rendered {
    /// The `crds/` files of the chart and its enabled sub-charts, not templated.
    pub crds: Vec<Manifest>,
    /// Every document of every template, hooks included, in template order.
    pub manifests: Vec<Manifest>,
    /// The root chart's rendered NOTES.txt.
    pub notes: Option<String>,
    /// Values as the templates saw them (`.Values` of the root chart).
    pub values: Vals,
    /// What the templates took of the render's budget ([`Options::limits`]).
    pub usage: Usage,
}

/// The budget a render took: evaluation steps, and bytes of output (and of the strings
/// functions built).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub fuel: u64,
    pub output_bytes: usize,
}

struct Tpl {
    name: String,
    source: String,
    text: String,
    ctx: Value,
    base_path: String,
}

/// Renders `chart` with the user's values (already merged file after file).
pub fn render(chart: &Chart, user_values: &Vals, opts: &Options) -> Result<Rendered, Vec<Error>> {
    if chart.is_library() {
        return Err(vec![Error::plain(format!(
            "{}: library charts are not installable",
            chart.name()
        ))]);
    }
    let kube = match &opts.kube_version {
        Some(v) => KubeVersion::parse(v)
            .ok_or_else(|| vec![Error::plain(format!("invalid Kubernetes version {v:?}"))])?,
        None => KubeVersion::parse(objects::DEFAULT_KUBE_VERSION).expect("default version"),
    };
    if !chart.metadata.kube_version.is_empty() {
        let ok = gotemplate::semver_matches(&chart.metadata.kube_version, &kube.version).map_err(
            |e| {
                vec![Error::in_file(
                    "",
                    "Chart.yaml",
                    format!("kubeVersion: {e}"),
                )]
            },
        )?;
        if !ok {
            return Err(vec![Error::plain(format!(
                "chart requires kubeVersion: {} which is incompatible with Kubernetes {}",
                chart.metadata.kube_version, kube.version
            ))]);
        }
    }
    let missing: Vec<&str> = chart
        .metadata
        .dependencies
        .iter()
        .filter(|d| !chart.dependencies.iter().any(|c| c.name() == d.name))
        .map(|d| d.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(vec![Error::in_file(
            "",
            "Chart.yaml",
            format!(
                "found in Chart.yaml, but missing in charts/ directory: {}",
                missing.join(", ")
            ),
        )]);
    }

    let mut chart = chart.clone();
    values::process_dependencies(&mut chart, user_values).map_err(|e| vec![Error::plain(e)])?;
    let vals = values::coalesce_values(&chart, user_values).map_err(|e| vec![Error::plain(e)])?;
    if !opts.skip_schema_validation {
        let mut report = String::new();
        crate::schema::validate(&chart, &vals, &mut report);
        if !report.is_empty() {
            return Err(vec![Error::plain(format!(
                "values don't meet the specifications of the schema(s) in the following chart(s):\n{}",
                report.trim_end()
            ))]);
        }
    }

    let mut api: Vec<String> = match &opts.discovered_api_versions {
        Some(v) => v.clone(),
        None => objects::DEFAULT_API_VERSIONS
            .iter()
            .map(|s| s.to_string())
            .collect(),
    };
    api.extend(opts.api_versions.iter().cloned());
    let mut caps = Map::new();
    caps.insert("KubeVersion".into(), Value::Object(Rc::new(kube)));
    caps.insert(
        "APIVersions".into(),
        Value::Object(Rc::new(VersionSet(api))),
    );
    caps.insert("HelmVersion".into(), Value::Object(Rc::new(HelmVersion)));
    let caps = Value::map(caps);
    let mut release = Map::new();
    release.insert("Name".into(), Value::str(opts.release_name.as_str()));
    release.insert("Namespace".into(), Value::str(opts.namespace.as_str()));
    release.insert("IsUpgrade".into(), Value::Bool(opts.is_upgrade));
    release.insert("IsInstall".into(), Value::Bool(!opts.is_upgrade));
    release.insert("Revision".into(), Value::Int(opts.revision));
    release.insert("Service".into(), Value::str("Helm"));
    let release = Value::map(release);

    let root_values = Value::from_json_helm(&Json::Object(vals.clone()));
    let mut tpls: Vec<Tpl> = Vec::new();
    let mut crds = Vec::new();
    collect(
        &chart,
        "",
        chart.name(),
        None,
        &root_values,
        &release,
        &caps,
        &mut tpls,
        &mut crds,
    );

    // Helm's sortTemplates: deeper paths first, then reverse lexical order
    tpls.sort_by(|a, b| {
        let (ca, cb) = (a.name.matches('/').count(), b.name.matches('/').count());
        cb.cmp(&ca).then_with(|| b.name.cmp(&a.name))
    });
    let mut set = TemplateSet::with_limits(opts.limits);
    // one budget for the whole chart: many templates that each stay in bounds must not add up
    // to an unbounded render
    let budget = Rc::new(Budget::shared_by(
        opts.limits,
        format!(
            "every template of chart {:?} and its sub-charts",
            chart.name()
        ),
    ));
    set.set_budget(Some(budget.clone()));
    if let Some(f) = opts.lookup.clone() {
        // Helm's lookup: the object as a map, an empty map when it does not exist
        set.set_lookup(Some(Rc::new(
            move |api: &str, kind: &str, ns: &str, name: &str| {
                f(api, kind, ns, name).map(|v| match v {
                    Json::Null => Value::map(Map::new()),
                    v => Value::from_json(&v),
                })
            },
        )));
    }
    let mut errors = Vec::new();
    for t in &tpls {
        if let Err(e) = set.parse(&t.name, &t.text) {
            errors.push(Error::template(&t.source, &e));
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        return Err(errors);
    }
    let mut out = Rendered {
        crds,
        values: vals,
        ..Default::default()
    };
    let root_notes = format!("{}/templates/NOTES.txt", chart.name());
    for t in &tpls {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if base.starts_with('_') {
            continue;
        }
        if let Value::Map(m) = &t.ctx {
            let mut tm = Map::new();
            tm.insert("Name".into(), Value::str(t.name.as_str()));
            tm.insert("BasePath".into(), Value::str(t.base_path.as_str()));
            m.borrow_mut().insert("Template".into(), Value::map(tm));
        }
        let text = match set.execute_helm(&t.name, &t.ctx) {
            Ok(s) => s,
            Err(e) => {
                errors.push(Error::template(&t.source, &e));
                if budget.is_exhausted() {
                    // every template after it would fail the same way
                    break;
                }
                continue;
            }
        };
        if t.name.ends_with("NOTES.txt") {
            if t.name == root_notes {
                out.notes = Some(text);
            }
            continue;
        }
        for doc in split_manifests(&text) {
            out.manifests.push(Manifest {
                source: t.source.clone(),
                template: t.name.clone(),
                text: doc,
            });
        }
    }
    if !errors.is_empty() {
        errors.sort_by(|a, b| (&a.file, a.line, a.col).cmp(&(&b.file, b.line, b.col)));
        return Err(errors);
    }
    out.usage = Usage {
        fuel: budget.fuel_used(),
        output_bytes: budget.output_used(),
    };
    // template order (as Helm renders) is reversed lexical; present it in path order
    out.manifests.sort_by(|a, b| a.template.cmp(&b.template));
    Ok(out)
}

/// Builds the render context of `c` and its sub-charts (Helm's `recAllTpls`).
#[allow(clippy::too_many_arguments)]
fn collect(
    c: &Chart,
    rel: &str,
    full_path: &str,
    parent: Option<&Value>,
    root_values: &Value,
    release: &Value,
    caps: &Value,
    tpls: &mut Vec<Tpl>,
    crds: &mut Vec<Manifest>,
) -> Value {
    let values = match parent {
        None => root_values.clone(),
        Some(p) => {
            let pv = match p {
                Value::Map(m) => m.borrow().get("Values").cloned().unwrap_or_default(),
                _ => Value::Nil,
            };
            match pv {
                Value::Map(m) => match m.borrow().get(c.name()) {
                    Some(v @ Value::Map(_)) => v.clone(),
                    _ => Value::map(Map::new()),
                },
                _ => Value::map(Map::new()),
            }
        }
    };
    let files: BTreeMap<String, Rc<[u8]>> = c
        .files
        .iter()
        .map(|f| (f.name.clone(), Rc::from(f.data.as_slice())))
        .collect();
    let subcharts = Value::map(Map::new());
    let mut next = Map::new();
    next.insert("Chart".into(), chart_value(c, parent.is_none()));
    next.insert(
        "Files".into(),
        Value::Object(Rc::new(Files(Rc::new(files)))),
    );
    next.insert("Release".into(), release.clone());
    next.insert("Capabilities".into(), caps.clone());
    next.insert("Values".into(), values);
    next.insert("Subcharts".into(), subcharts.clone());
    let next = Value::map(next);
    for f in c.crd_files() {
        crds.push(Manifest {
            source: join(rel, &f.name),
            template: format!("{full_path}/{}", f.name),
            text: String::from_utf8_lossy(&f.data).into_owned(),
        });
    }
    for child in &c.dependencies {
        let child_rel = join(rel, &format!("charts/{}", child.name()));
        let child_full = format!("{full_path}/charts/{}", child.name());
        let v = collect(
            child,
            &child_rel,
            &child_full,
            Some(&next),
            root_values,
            release,
            caps,
            tpls,
            crds,
        );
        if let Value::Map(m) = &subcharts {
            m.borrow_mut().insert(child.name().to_string(), v);
        }
    }
    for t in &c.templates {
        let base = t.name.rsplit('/').next().unwrap_or(&t.name);
        if c.is_library() && !base.starts_with('_') {
            continue;
        }
        tpls.push(Tpl {
            name: format!("{full_path}/{}", t.name),
            source: join(rel, &t.name),
            text: String::from_utf8_lossy(&t.data).into_owned(),
            ctx: next.clone(),
            base_path: format!("{full_path}/templates"),
        });
    }
    next
}

fn join(a: &str, b: &str) -> String {
    if a.is_empty() {
        b.to_string()
    } else {
        format!("{a}/{b}")
    }
}

/// `.Chart`: the metadata with Go's field names, and `IsRoot`.
fn chart_value(c: &Chart, is_root: bool) -> Value {
    let m = &c.metadata;
    let s = |x: &str| Value::str(x);
    let strs = |v: &[String]| Value::list(v.iter().map(|x| Value::str(x.as_str())).collect());
    let mut out = Map::new();
    out.insert("Name".into(), s(&m.name));
    out.insert("Home".into(), s(&m.home));
    out.insert("Sources".into(), strs(&m.sources));
    out.insert("Version".into(), s(&m.version));
    out.insert("Description".into(), s(&m.description));
    out.insert("Keywords".into(), strs(&m.keywords));
    out.insert(
        "Maintainers".into(),
        Value::list(
            m.maintainers
                .iter()
                .map(|x| {
                    let mut mm = Map::new();
                    mm.insert("Name".into(), s(&x.name));
                    mm.insert("Email".into(), s(&x.email));
                    mm.insert("URL".into(), s(&x.url));
                    Value::map(mm)
                })
                .collect(),
        ),
    );
    out.insert("Icon".into(), s(&m.icon));
    out.insert("APIVersion".into(), s(&m.api_version));
    out.insert("Condition".into(), s(&m.condition));
    out.insert("Tags".into(), s(&m.tags));
    out.insert("AppVersion".into(), s(&m.app_version));
    out.insert("Deprecated".into(), Value::Bool(m.deprecated));
    out.insert(
        "Annotations".into(),
        Value::map(
            m.annotations
                .iter()
                .map(|(k, v)| (k.clone(), s(v)))
                .collect(),
        ),
    );
    out.insert("KubeVersion".into(), s(&m.kube_version));
    out.insert(
        "Dependencies".into(),
        Value::list(
            m.dependencies
                .iter()
                .map(|d| {
                    let mut mm = Map::new();
                    mm.insert("Name".into(), s(&d.name));
                    mm.insert("Version".into(), s(&d.version));
                    mm.insert("Repository".into(), s(&d.repository));
                    mm.insert("Condition".into(), s(&d.condition));
                    mm.insert("Tags".into(), strs(&d.tags));
                    mm.insert("Enabled".into(), Value::Bool(d.enabled));
                    mm.insert(
                        "ImportValues".into(),
                        Value::from_json(&Json::Array(d.import_values.clone())),
                    );
                    mm.insert("Alias".into(), s(&d.alias));
                    Value::map(mm)
                })
                .collect(),
        ),
    );
    out.insert("Type".into(), s(&m.kind));
    out.insert("IsRoot".into(), Value::Bool(is_root));
    Value::map(out)
}

/// Helm's `SplitManifests`: documents separated by `---` lines, trimmed,
/// empty ones dropped.
pub fn split_manifests(text: &str) -> Vec<String> {
    let text = text.trim();
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut first = true;
    for line in text.split('\n') {
        if let Some(rest) = line.strip_prefix("---") {
            // text after `---` on the separator line (a comment) starts the next document
            docs.push(std::mem::take(&mut cur));
            cur.push_str(rest.trim_start());
            first = false;
            continue;
        }
        if !cur.is_empty() || !first {
            cur.push('\n');
        }
        cur.push_str(line);
        first = false;
    }
    docs.push(cur);
    docs.into_iter()
        .map(|d| d.trim().to_string())
        .filter(|d| !d.is_empty())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_split_as_helm_splits_them() {
        assert_eq!(
            split_manifests("a: 1\n---\nb: 2\n--- \n\n---\nc: 3"),
            vec!["a: 1", "b: 2", "c: 3"]
        );
        assert_eq!(split_manifests("---\na: 1\n"), vec!["a: 1"]);
        assert_eq!(
            split_manifests("a: |\n  ---x\nb: ---"),
            vec!["a: |\n  ---x\nb: ---"]
        );
        assert_eq!(
            split_manifests("a: 1\n---# c\nb: 2"),
            vec!["a: 1", "# c\nb: 2"]
        );
    }
}
