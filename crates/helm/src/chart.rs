//! A chart as Helm's loader builds it: metadata, default values, schema,
//! templates, other files and sub-charts (directories or `.tgz` archives).

use std::collections::BTreeMap;
use std::io::Read;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value as Json;

use crate::Error;

/// One file of a chart, named relative to the chart's root.
#[derive(Clone, Debug)]
pub struct File {
    pub name: String,
    pub data: Vec<u8>,
}

/// `Chart.yaml`.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub home: String,
    #[serde(default)]
    pub sources: Vec<String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub description: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    #[serde(default)]
    pub maintainers: Vec<Maintainer>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub icon: String,
    #[serde(default, rename = "apiVersion", deserialize_with = "lenient_string")]
    pub api_version: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub condition: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub tags: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub app_version: String,
    #[serde(default)]
    pub deprecated: bool,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub kube_version: String,
    #[serde(default)]
    pub dependencies: Vec<Dependency>,
    #[serde(default, rename = "type", deserialize_with = "lenient_string")]
    pub kind: String,
}

#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct Maintainer {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub url: String,
}

/// A `dependencies:` entry of `Chart.yaml` (or `requirements.yaml`).
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Dependency {
    #[serde(default, deserialize_with = "lenient_string")]
    pub name: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub version: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub repository: String,
    #[serde(default, deserialize_with = "lenient_string")]
    pub condition: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub enabled: bool,
    #[serde(default)]
    pub import_values: Vec<Json>,
    #[serde(default, deserialize_with = "lenient_string")]
    pub alias: String,
}

/// Chart.yaml scalars written unquoted (`version: 1.0`, `appVersion: 2`) are
/// read as their text, as Helm's users expect.
fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(match Json::deserialize(d)? {
        Json::Null => String::new(),
        Json::String(s) => s,
        Json::Bool(b) => b.to_string(),
        Json::Number(n) => match n.as_f64() {
            Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
            _ => n.to_string(),
        },
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a string, got {other}"
            )));
        }
    })
}

/// A loaded chart.
#[derive(Clone, Debug)]
pub struct Chart {
    pub metadata: Metadata,
    /// `values.yaml`, as Helm reads it (every number a float64).
    pub values: serde_json::Map<String, Json>,
    pub schema: Option<Json>,
    /// Files under `templates/`.
    pub templates: Vec<File>,
    /// Every other file (what `.Files` serves), `crds/` included.
    pub files: Vec<File>,
    /// Sub-charts from `charts/`, sorted by name.
    pub dependencies: Vec<Chart>,
    /// `Chart.lock` (or a v1 chart's `requirements.lock`): the versions `helm dependency
    /// build` would fetch.
    pub lock: Vec<Dependency>,
}

impl Chart {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn is_library(&self) -> bool {
        self.metadata.kind == "library"
    }

    /// The `crds/` files (not templated), in name order.
    pub fn crd_files(&self) -> Vec<&File> {
        let mut v: Vec<&File> = self
            .files
            .iter()
            .filter(|f| f.name.starts_with("crds/") && is_yaml_name(&f.name))
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }
}

fn is_yaml_name(n: &str) -> bool {
    n.ends_with(".yaml") || n.ends_with(".yml") || n.ends_with(".json")
}

/// Bounds on what a chart may hold (Helm's own: 100 MiB decompressed, 5 MiB per file).
pub const MAX_CHART_BYTES: u64 = 100 << 20;
pub const MAX_FILE_BYTES: u64 = 5 << 20;
pub const MAX_FILES: usize = 10_000;
const MAX_NESTING: usize = 20;

fn utf8<'a>(f: &'a File, chart: &str) -> Result<&'a str, Error> {
    let s = std::str::from_utf8(&f.data)
        .map_err(|_| Error::in_file(chart, &f.name, "the file is not valid UTF-8".into()))?;
    Ok(s.strip_prefix('\u{feff}').unwrap_or(s))
}

/// Builds a chart from its files (Helm's `loader.LoadFiles`).
pub fn load_files(files: Vec<File>) -> Result<Chart, Error> {
    load_files_depth(files, 0, "")
}

fn load_files_depth(files: Vec<File>, depth: usize, within: &str) -> Result<Chart, Error> {
    if depth > MAX_NESTING {
        return Err(Error::plain(format!(
            "{within}: sub-charts nested deeper than {MAX_NESTING} levels"
        )));
    }
    let label = if within.is_empty() {
        "the chart"
    } else {
        within
    };
    let Some(chart_yaml) = files.iter().find(|f| f.name == "Chart.yaml") else {
        return Err(Error::plain(format!("{label}: Chart.yaml file is missing")));
    };
    let text = utf8(chart_yaml, within)?;
    let meta_json = gotemplate::parse_yaml(text)
        .map_err(|e| yaml_error(within, "Chart.yaml", e))?
        .to_json();
    let mut metadata: Metadata = if meta_json.is_null() {
        Metadata::default()
    } else {
        serde_json::from_value(meta_json)
            .map_err(|e| Error::in_file(within, "Chart.yaml", e.to_string()))?
    };
    if metadata.api_version.is_empty() {
        metadata.api_version = "v1".into();
    }
    let chart_label = if within.is_empty() {
        metadata.name.clone()
    } else {
        within.to_string()
    };
    validate_metadata(&metadata, &chart_label, within)?;

    let mut chart = Chart {
        metadata,
        values: Default::default(),
        schema: None,
        templates: Vec::new(),
        files: Vec::new(),
        dependencies: Vec::new(),
        lock: Vec::new(),
    };
    let mut subcharts: BTreeMap<String, Vec<File>> = BTreeMap::new();
    for f in files {
        match f.name.as_str() {
            "Chart.yaml" => {}
            "Chart.lock" => chart.lock = read_lock(&f, within)?,
            "values.yaml" => {
                let text = utf8(&f, within)?;
                let v = gotemplate::parse_yaml(text)
                    .map_err(|e| yaml_error(within, "values.yaml", e))?
                    .to_json();
                chart.values = match v {
                    Json::Null => Default::default(),
                    Json::Object(m) => m,
                    other => {
                        return Err(Error::in_file(
                            within,
                            "values.yaml",
                            format!("values must be a map, not {}", json_kind(&other)),
                        ));
                    }
                };
            }
            "values.schema.json" => {
                let text = utf8(&f, within)?;
                chart.schema = Some(serde_json::from_str(text).map_err(|e| {
                    Error::at(
                        within,
                        "values.schema.json",
                        e.line(),
                        e.column(),
                        e.to_string(),
                    )
                })?);
            }
            "requirements.yaml" => {
                // read for every apiVersion (Helm warns for v2); only a v1
                // chart serves the file through .Files
                let text = utf8(&f, within)?;
                let v = gotemplate::parse_yaml(text)
                    .map_err(|e| yaml_error(within, "requirements.yaml", e))?
                    .to_json();
                #[derive(Deserialize)]
                struct Reqs {
                    #[serde(default)]
                    dependencies: Vec<Dependency>,
                }
                if !v.is_null() {
                    let r: Reqs = serde_json::from_value(v)
                        .map_err(|e| Error::in_file(within, "requirements.yaml", e.to_string()))?;
                    chart.metadata.dependencies = r.dependencies;
                }
                if chart.metadata.api_version == "v1" {
                    chart.files.push(f);
                }
            }
            "requirements.lock" => {
                chart.lock = read_lock(&f, within)?;
                if chart.metadata.api_version == "v1" {
                    chart.files.push(f);
                }
            }
            n if n.starts_with("templates/") => chart.templates.push(f),
            n if n.starts_with("charts/") => {
                let rest = &n["charts/".len()..];
                let first = rest.split('/').next().unwrap_or("").to_string();
                subcharts.entry(first).or_default().push(f);
            }
            _ => chart.files.push(f),
        }
    }
    for (n, files) in subcharts {
        if n.starts_with(['_', '.']) || n.is_empty() {
            continue;
        }
        let inner = if within.is_empty() {
            format!("charts/{n}")
        } else {
            format!("{within}/charts/{n}")
        };
        let sub = if n.ends_with(".tgz") {
            let Some(file) = files.iter().find(|f| f.name == format!("charts/{n}")) else {
                continue;
            };
            let files = read_archive(&file.data).map_err(|e| e.within(&inner))?;
            load_files_depth(files, depth + 1, &inner)?
        } else {
            let prefix = format!("charts/{n}/");
            let files: Vec<File> = files
                .into_iter()
                .filter_map(|f| {
                    let name = f.name.strip_prefix(&prefix)?.to_string();
                    Some(File { name, data: f.data })
                })
                .collect();
            if !files.iter().any(|f| f.name == "Chart.yaml") {
                // a directory under charts/ that is not a chart (Helm fails the same way)
                return Err(Error::in_file(
                    &inner,
                    "Chart.yaml",
                    "Chart.yaml file is missing".into(),
                ));
            }
            load_files_depth(files, depth + 1, &inner)?
        };
        chart.dependencies.push(sub);
    }
    chart.dependencies.sort_by(|a, b| a.name().cmp(b.name()));
    Ok(chart)
}

fn read_lock(f: &File, within: &str) -> Result<Vec<Dependency>, Error> {
    let text = utf8(f, within)?;
    let v = gotemplate::parse_yaml(text)
        .map_err(|e| yaml_error(within, &f.name, e))?
        .to_json();
    #[derive(Deserialize)]
    struct Lock {
        #[serde(default)]
        dependencies: Vec<Dependency>,
    }
    if v.is_null() {
        return Ok(Vec::new());
    }
    let l: Lock =
        serde_json::from_value(v).map_err(|e| Error::in_file(within, &f.name, e.to_string()))?;
    Ok(l.dependencies)
}

/// A YAML error placed at the line go-yaml's message names.
fn yaml_error(within: &str, name: &str, e: String) -> Error {
    let line = e
        .split("line ")
        .nth(1)
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.trim().parse::<usize>().ok())
        .unwrap_or(0);
    Error::at(within, name, line, 0, e)
}

fn json_kind(v: &Json) -> &'static str {
    match v {
        Json::Array(_) => "a list",
        Json::String(_) => "a string",
        Json::Number(_) => "a number",
        Json::Bool(_) => "a boolean",
        _ => "a value",
    }
}

fn validate_metadata(m: &Metadata, label: &str, within: &str) -> Result<(), Error> {
    let fail = |msg: String| {
        Err(Error::in_file(
            within,
            "Chart.yaml",
            format!("{label}: {msg}"),
        ))
    };
    if m.name.is_empty() {
        return fail("validation: chart.metadata.name is required".into());
    }
    if m.name.contains('/') || m.name.contains("..") || m.name.contains('\\') {
        return fail(format!(
            "validation: chart.metadata.name {:?} is not a valid chart name",
            m.name
        ));
    }
    if m.version.is_empty() {
        return fail("validation: chart.metadata.version is required".into());
    }
    if gotemplate::semver_order(&m.version, &m.version).is_none() {
        return fail(format!(
            "validation: chart.metadata.version {:?} is invalid",
            m.version
        ));
    }
    if m.api_version != "v1" && m.api_version != "v2" {
        return fail(format!(
            "apiVersion '{}' is not valid. The value must be either \"v1\" or \"v2\"",
            m.api_version
        ));
    }
    if !m.kind.is_empty() && m.kind != "application" && m.kind != "library" {
        return fail(format!("chart type is not valid: {}", m.kind));
    }
    Ok(())
}

/// Reads a chart archive (`.tgz`): the first path component (the chart's
/// directory) is dropped from every name; names that leave the chart, links
/// and oversized content are refused.
pub fn read_archive(data: &[u8]) -> Result<Vec<File>, Error> {
    let gz = flate2::read::GzDecoder::new(data);
    let mut ar = tar::Archive::new(gz.take(MAX_CHART_BYTES + 1));
    let mut out = Vec::new();
    let mut total = 0u64;
    let entries = ar
        .entries()
        .map_err(|e| Error::plain(format!("reading the chart archive: {e}")))?;
    for entry in entries {
        let mut entry =
            entry.map_err(|e| Error::plain(format!("reading the chart archive: {e}")))?;
        let kind = entry.header().entry_type();
        if kind.is_dir() || kind.is_pax_global_extensions() || kind.is_pax_local_extensions() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| Error::plain(format!("reading the chart archive: {e}")))?
            .to_string_lossy()
            .replace('\\', "/");
        if !kind.is_file() {
            return Err(Error::plain(format!(
                "the chart archive holds {path:?}, which is not a regular file"
            )));
        }
        if path.starts_with('/') || path.split('/').any(|c| c == "..") {
            return Err(Error::plain(format!(
                "chart illegally contains content outside the base directory: {path:?}"
            )));
        }
        let Some((_, name)) = path.split_once('/') else {
            // a file at the archive's top level (Helm skips it too: "pax_global_header")
            continue;
        };
        if name.is_empty() {
            continue;
        }
        let size = entry.header().size().unwrap_or(0);
        if size > MAX_FILE_BYTES {
            return Err(Error::plain(format!(
                "the chart archive's file {name:?} is larger than {} MiB",
                MAX_FILE_BYTES >> 20
            )));
        }
        total += size;
        if total > MAX_CHART_BYTES || out.len() >= MAX_FILES {
            return Err(Error::plain(format!(
                "the chart archive is larger than {} MiB or {MAX_FILES} files",
                MAX_CHART_BYTES >> 20
            )));
        }
        let mut data = Vec::with_capacity(size as usize);
        (&mut entry)
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut data)
            .map_err(|e| Error::plain(format!("reading the chart archive: {e}")))?;
        out.push(File {
            name: name.to_string(),
            data,
        });
    }
    if out.is_empty() {
        return Err(Error::plain("no files in chart archive".into()));
    }
    Ok(out)
}
