//! The kustomization file: every field kustomize v5 documents, typed. An unknown field is an
//! error that names it (kustomize itself refuses unknown fields too); the deprecated
//! `helmChartInflationGenerator` field is refused with a pointer to `helmCharts`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::fieldspec::FieldSpec;
use crate::yaml::{self, Doc};
use crate::{Diag, Span};

/// The names kustomize accepts for the file, in the order it looks for them.
pub const FILE_NAMES: [&str; 3] = ["kustomization.yaml", "kustomization.yml", "Kustomization"];

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Kustomization {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub metadata: Option<Value>,
    #[serde(default)]
    pub openapi: Option<BTreeMap<String, String>>,
    #[serde(default)]
    pub name_prefix: String,
    #[serde(default)]
    pub name_suffix: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub common_labels: BTreeMap<String, String>,
    #[serde(default)]
    pub labels: Vec<Label>,
    #[serde(default)]
    pub common_annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub patches_strategic_merge: Vec<String>,
    #[serde(default, rename = "patchesJson6902")]
    pub patches_json6902: Vec<Patch>,
    #[serde(default)]
    pub patches: Vec<Patch>,
    #[serde(default)]
    pub images: Vec<Image>,
    #[serde(default)]
    pub replacements: Vec<ReplacementField>,
    #[serde(default)]
    pub replicas: Vec<Replica>,
    #[serde(default)]
    pub vars: Vec<Var>,
    #[serde(default)]
    pub sort_options: Option<SortOptions>,
    #[serde(default)]
    pub resources: Vec<String>,
    #[serde(default)]
    pub crds: Vec<String>,
    #[serde(default)]
    pub bases: Vec<String>,
    #[serde(default)]
    pub components: Vec<String>,
    #[serde(default)]
    pub config_map_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub secret_generator: Vec<GeneratorArgs>,
    #[serde(default)]
    pub generator_options: Option<GeneratorOptions>,
    #[serde(default)]
    pub configurations: Vec<String>,
    #[serde(default)]
    pub generators: Vec<String>,
    #[serde(default)]
    pub transformers: Vec<String>,
    #[serde(default)]
    pub validators: Vec<String>,
    #[serde(default)]
    pub build_metadata: Vec<String>,
    #[serde(default)]
    pub helm_charts: Vec<HelmChart>,
    #[serde(default)]
    pub helm_globals: Option<HelmGlobals>,
    #[serde(default)]
    pub helm_chart_inflation_generator: Option<Value>,
}

/// One `helmCharts` entry (kustomize's HelmChartInflationGenerator arguments).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmChart {
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub repo: String,
    #[serde(default)]
    pub release_name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub values_file: String,
    #[serde(default)]
    pub additional_values_files: Vec<String>,
    #[serde(default)]
    pub values_inline: Option<Value>,
    #[serde(default)]
    pub values_merge: String,
    #[serde(default, rename = "includeCRDs")]
    pub include_crds: bool,
    #[serde(default)]
    pub skip_hooks: bool,
    #[serde(default)]
    pub skip_tests: bool,
    #[serde(default)]
    pub api_versions: Vec<String>,
    #[serde(default)]
    pub kube_version: String,
    #[serde(default)]
    pub name_template: String,
    #[serde(default)]
    pub skip_schema_validation: bool,
    #[serde(default)]
    pub devel: bool,
}

/// `helmGlobals`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HelmGlobals {
    #[serde(default)]
    pub chart_home: String,
    #[serde(default)]
    pub config_home: String,
}

/// One `labels` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Label {
    #[serde(default)]
    pub pairs: BTreeMap<String, String>,
    #[serde(default)]
    pub include_selectors: bool,
    #[serde(default)]
    pub include_templates: bool,
    #[serde(default)]
    pub fields: Vec<FieldSpec>,
}

/// A patch target: every given part must match (name and namespace are anchored regular
/// expressions; label and annotation selectors use Kubernetes selector syntax).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Selector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub label_selector: String,
    #[serde(default)]
    pub annotation_selector: String,
}

/// One `patches` (or `patchesJson6902`) entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Patch {
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub patch: String,
    #[serde(default)]
    pub target: Option<Selector>,
    #[serde(default)]
    pub options: PatchOptions,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PatchOptions {
    #[serde(default)]
    pub allow_name_change: bool,
    #[serde(default)]
    pub allow_kind_change: bool,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Image {
    pub name: String,
    #[serde(default)]
    pub new_name: String,
    #[serde(default)]
    pub new_tag: String,
    #[serde(default)]
    pub tag_suffix: String,
    #[serde(default)]
    pub digest: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Replica {
    pub name: String,
    pub count: i64,
}

/// A `replacements` entry: inline, or a file holding one or more.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum ReplacementField {
    Path { path: String },
    Inline(crate::replacement::Replacement),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Var {
    pub name: String,
    pub objref: ObjRef,
    #[serde(default)]
    pub fieldref: Option<FieldRef>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ObjRef {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldRef {
    /// kustomize reads its fields case-insensitively (Go's JSON decoding); `fieldpath` is the
    /// spelling its own documentation used for years.
    #[serde(default, alias = "fieldpath", alias = "FieldPath")]
    pub field_path: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SortOptions {
    #[serde(default)]
    pub order: String,
    #[serde(default)]
    pub legacy_sort_options: Option<LegacySortOptions>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct LegacySortOptions {
    #[serde(default)]
    pub order_first: Vec<String>,
    #[serde(default)]
    pub order_last: Vec<String>,
}

/// A `configMapGenerator` or `secretGenerator` entry.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorArgs {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub behavior: String,
    #[serde(default)]
    pub files: Vec<String>,
    #[serde(default)]
    pub literals: Vec<String>,
    #[serde(default)]
    pub envs: Vec<String>,
    /// Deprecated singular form of `envs`.
    #[serde(default)]
    pub env: String,
    /// Secrets only: the Secret's `type` (default `Opaque`).
    #[serde(default, rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub options: Option<GeneratorOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct GeneratorOptions {
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub disable_name_suffix_hash: Option<bool>,
    #[serde(default)]
    pub immutable: Option<bool>,
}

/// A parsed kustomization and where each of its fields is.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub k: Kustomization,
    pub doc: Doc,
    pub file: Arc<str>,
}

impl Parsed {
    pub fn span(&self, path: &[yaml::Seg<'_>]) -> Span {
        self.doc.span(path)
    }
    pub fn item(&self, field: &str, index: usize) -> Span {
        self.doc
            .span(&[yaml::Seg::Key(field), yaml::Seg::Index(index)])
    }
    pub fn field(&self, field: &str) -> Span {
        self.doc.key_span(field)
    }
    pub fn is_component(&self) -> bool {
        self.k.kind == "Component"
    }
}

/// Parses a kustomization file's text. `file` is how it is shown in messages.
pub fn parse(file: &Arc<str>, text: &str) -> Result<Parsed, Vec<Diag>> {
    let docs = yaml::positions(file, text).map_err(|d| vec![d])?;
    let doc = docs.into_iter().next().unwrap_or_else(|| Doc {
        file: file.clone(),
        root: yaml::Pos::default(),
    });
    let k: Kustomization = if text.trim().is_empty() {
        Kustomization::default()
    } else {
        serde_yaml::from_str(text).map_err(|e| {
            vec![unknown_field_hint(yaml::serde_diag(
                file,
                &e,
                "kustomization",
            ))]
        })?
    };
    let parsed = Parsed {
        k,
        doc,
        file: file.clone(),
    };
    let mut diags = Vec::new();
    match parsed.k.kind.as_str() {
        "" | "Kustomization" | "Component" => {}
        other => diags.push(Diag::error(
            parsed.span(&[yaml::Seg::Key("kind")]),
            format!("kind {other} is not a kustomization: expected Kustomization or Component"),
        )),
    }
    for field in ["helmChartInflationGenerator"] {
        if parsed.doc.root.key(field).is_some() {
            diags.push(
                Diag::error(
                    parsed.field(field),
                    format!("`{field}` is not supported by this build of gitfleet"),
                )
                .with_hint("list the charts under `helmCharts:`, which gitfleet renders natively"),
            );
        }
    }
    if diags.is_empty() {
        Ok(parsed)
    } else {
        Err(diags)
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`, …" as "unknown field `x`" with the
/// closest known field as a hint, instead of the whole list.
fn unknown_field_hint(mut d: Diag) -> Diag {
    let Some(rest) = d
        .message
        .split_once("unknown field `")
        .map(|(_, r)| r.to_string())
    else {
        return d;
    };
    let Some((field, expected)) = rest.split_once('`') else {
        return d;
    };
    let candidates: Vec<&str> = expected.split('`').skip(1).step_by(2).collect();
    let best = candidates
        .iter()
        .map(|c| {
            (
                strsim::levenshtein(&field.to_ascii_lowercase(), &c.to_ascii_lowercase()),
                *c,
            )
        })
        .min();
    let prefix = d
        .message
        .split("unknown field")
        .next()
        .unwrap_or_default()
        .to_string();
    d.message = format!("{prefix}unknown field `{field}`");
    if let Some((distance, c)) = best
        && distance <= 3
    {
        d.hint = Some(format!("did you mean `{c}`?"));
    }
    d
}
