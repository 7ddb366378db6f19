//! `helmCharts`: kustomize's HelmChartInflationGenerator, with gitfleet's own Helm engine in
//! place of `helm template`. The chart is read from `helmGlobals.chartHome` (default `charts`)
//! below the kustomization, through the kustomization's loader (so the same confinement and
//! bounds hold); its rendered documents join the kustomization's resources, where the
//! kustomization's transformers and patches apply to them.

use serde_json::Value;

use crate::dir::Dir;
use crate::kustomization::{HelmChart, HelmGlobals};
use crate::resource::Resource;
use crate::{Diag, Loader, Span};

/// A chart directory read through a kustomize [`Loader`].
struct ChartDir<'a> {
    loader: &'a dyn Loader,
    base: String,
    problems: std::cell::RefCell<Vec<Diag>>,
}

fn join(a: &str, b: &str) -> String {
    match (a.is_empty(), b.is_empty()) {
        (true, _) => b.to_string(),
        (_, true) => a.to_string(),
        _ => format!("{a}/{b}"),
    }
}

impl ChartDir<'_> {
    fn problem(&self, d: Diag) -> String {
        let text = d.message.clone();
        self.problems.borrow_mut().push(d);
        text
    }
}

impl helm::Dir for ChartDir<'_> {
    fn entries(&self, rel: &str) -> Result<Vec<(String, bool)>, String> {
        self.loader
            .list(&join(&self.base, rel))
            .map_err(|d| self.problem(d))
    }

    fn read(&self, rel: &str, limit: u64) -> Result<Vec<u8>, String> {
        let path = join(&self.base, rel);
        let at = Span::file(self.loader.display(&path));
        match self.loader.read_bytes(&path) {
            Ok(Some(b)) if b.len() as u64 <= limit => Ok(b),
            Ok(Some(_)) => Err(self.problem(Diag::error(
                at,
                format!("the file is larger than {} MiB", limit >> 20),
            ))),
            Ok(None) => Err(self.problem(Diag::error(at, "does not exist"))),
            Err(d) => Err(self.problem(d)),
        }
    }
}

fn yaml_map(text: &str, at: &Span, what: &str) -> Result<serde_json::Map<String, Value>, Diag> {
    match gotemplate::parse_yaml(text).map(|v| v.to_json()) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(Value::Null) => Ok(Default::default()),
        Ok(_) => Err(Diag::error(
            at.clone(),
            format!("{what} must hold a mapping"),
        )),
        Err(e) => Err(Diag::error(at.clone(), format!("{what}: {e}"))),
    }
}

/// Renders one `helmCharts` entry into resources.
pub fn inflate(
    here: Dir<'_>,
    chart: &HelmChart,
    globals: Option<&HelmGlobals>,
    at: &Span,
) -> Result<Vec<Resource>, Vec<Diag>> {
    let one = |d: Diag| vec![d];
    if chart.name.is_empty() {
        return Err(one(Diag::error(at.clone(), "chart name cannot be empty")));
    }
    if !matches!(
        chart.values_merge.as_str(),
        "" | "override" | "merge" | "replace"
    ) {
        return Err(one(Diag::error(
            at.clone(),
            "valuesMerge must be one of [merge override replace]",
        )));
    }
    let home = globals
        .map(|g| g.chart_home.as_str())
        .filter(|h| !h.is_empty())
        .unwrap_or("charts");
    let chart_rel = format!("{home}/{}", chart.name);
    let chart_dir = here.resolve_file(&chart_rel, at).map_err(one)?;
    let vendored = here.loader.entry(&chart_dir).map_err(one)? == Some(crate::Entry::Dir);
    let place = |e: &helm::Error| {
        let file = e.file.as_deref().unwrap_or("Chart.yaml");
        Diag::error(
            Span::new(
                here.loader.display(&join(&chart_dir, file)),
                e.line.max(1),
                e.col.max(1),
            ),
            e.message.clone(),
        )
    };
    let loaded = if vendored {
        let reader = ChartDir {
            loader: here.loader,
            base: chart_dir.clone(),
            problems: Default::default(),
        };
        let loaded = helm::load_dir(&reader);
        let problems = reader.problems.take();
        if !problems.is_empty() {
            return Err(problems);
        }
        loaded
    } else if chart.repo.is_empty() {
        return Err(one(Diag::error(
            at.clone(),
            format!("no repo specified for pull, no chart found at '{chart_rel}'"),
        )
        .with_hint(format!(
            "vendor the chart into {home}/{} or name its repository in `repo`",
            chart.name
        ))));
    } else {
        // as `helm pull --repo REPO NAME --version V`, into the loader's chart cache
        // (nothing is written into the repository)
        let (_version, archive) = here
            .loader
            .pull_chart(&chart.repo, &chart.name, &chart.version, at)
            .map_err(one)?;
        helm::read_archive(&archive)
            .and_then(helm::load_files)
            .map_err(|e| vec![e])
    };
    let loaded = loaded.map_err(|es| es.iter().map(place).collect::<Vec<_>>())?;

    // the values file (default: the chart's own values.yaml), valuesInline merged into it
    let values_rel = if chart.values_file.is_empty() {
        format!("{chart_rel}/values.yaml")
    } else {
        chart.values_file.clone()
    };
    let mut values = if !vendored && chart.values_file.is_empty() {
        // pulled: kustomize reads the pulled chart's own values.yaml
        loaded.values.clone()
    } else {
        match here.read_file(&values_rel, at) {
            Ok((_, text)) => yaml_map(&text, at, &values_rel).map_err(one)?,
            // a chart without values.yaml (and no valuesFile named): no values
            Err(_) if chart.values_file.is_empty() => Default::default(),
            Err(d) => return Err(one(d)),
        }
    };
    if let Some(inline) = &chart.values_inline {
        let inline = match gotemplate::Value::from_json_helm(inline).to_json() {
            Value::Object(m) => m,
            Value::Null => Default::default(),
            _ => {
                return Err(one(Diag::error(
                    at.clone(),
                    "valuesInline must be a mapping",
                )));
            }
        };
        if chart.values_merge == "replace" {
            values = inline;
        } else {
            // mergo, as kustomize merges: `override` lets the inline values win, `merge`
            // only fills what the file lacks
            let dst = gotemplate::Value::from_json(&Value::Object(values));
            let src = gotemplate::Value::from_json(&Value::Object(inline));
            gotemplate::mergo(&dst, &src, chart.values_merge != "merge");
            values = match dst.to_json() {
                Value::Object(m) => m,
                _ => Default::default(),
            };
        }
    }
    for f in &chart.additional_values_files {
        let (_, text) = here.read_file(f, at).map_err(one)?;
        let more = yaml_map(&text, at, f).map_err(one)?;
        values = helm::values::merge_maps(&values, &more);
    }
    let opts = helm::Options {
        release_name: if chart.release_name.is_empty() {
            "release-name".into()
        } else {
            chart.release_name.clone()
        },
        namespace: if chart.namespace.is_empty() {
            "default".into()
        } else {
            chart.namespace.clone()
        },
        kube_version: (!chart.kube_version.is_empty()).then(|| chart.kube_version.clone()),
        api_versions: chart.api_versions.clone(),
        skip_schema_validation: chart.skip_schema_validation,
        ..Default::default()
    };
    let rendered = helm::render(&loaded, &values, &opts)
        .map_err(|es| es.iter().map(place).collect::<Vec<_>>())?;
    let mut out = Vec::new();
    let mut diags = Vec::new();
    let mut docs: Vec<&helm::Manifest> = Vec::new();
    if chart.include_crds {
        docs.extend(rendered.crds.iter());
    }
    docs.extend(rendered.manifests.iter());
    for m in docs {
        let file: std::sync::Arc<str> = here.loader.display(&join(&chart_dir, &m.source)).into();
        match crate::build::parse_resources(&file, &m.text) {
            Ok(rs) => {
                for mut r in rs {
                    let hook = r.value["metadata"]["annotations"]["helm.sh/hook"]
                        .as_str()
                        .map(str::to_string);
                    if let Some(h) = hook {
                        if chart.skip_hooks {
                            continue;
                        }
                        if chart.skip_tests && h.split(',').any(|e| e.trim().starts_with("test")) {
                            continue;
                        }
                    }
                    r.origin = at.clone();
                    out.push(r);
                }
            }
            Err(ds) => diags.extend(ds),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}
