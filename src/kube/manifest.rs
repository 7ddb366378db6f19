//! Reading manifests: plain YAML (multi-document files, directories walked recursively, `.yaml` and
//! `.yml`) and minijinja templates (`*.j2`, rendered with the given values). Every problem is
//! collected with file:line:column and the document number; nothing reaches the cluster if any
//! document is malformed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use minijinja::{AutoEscape, Environment, UndefinedBehavior};
use serde_json::{Map, Value};

use crate::build::helm as helm_build;
use crate::build::kustomize as kustomize_build;
use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::render::bounded;
use crate::source::{self, FileSource, LIMITS, Source};

/// One manifest document, as read.
#[derive(Debug, Clone)]
pub struct Object {
    /// The whole object as JSON (what is sent with server-side apply).
    pub value: Value,
    /// Where it starts: file, line of the document, column 1.
    pub span: Span,
    /// 1-based document number within the file.
    pub document: usize,
}

impl Object {
    pub fn api_version(&self) -> &str {
        self.value["apiVersion"].as_str().unwrap_or_default()
    }
    pub fn kind(&self) -> &str {
        self.value["kind"].as_str().unwrap_or_default()
    }
    pub fn name(&self) -> &str {
        self.value["metadata"]["name"].as_str().unwrap_or_default()
    }
    pub fn namespace(&self) -> Option<&str> {
        self.value["metadata"]["namespace"]
            .as_str()
            .filter(|s| !s.is_empty())
    }
    /// `file:line (document N)`, for messages about this object (objects a kustomization
    /// built carry no document number: `file:line`).
    pub fn source(&self) -> String {
        if self.document == 0 {
            return format!("{}:{}", self.span.file, self.span.line);
        }
        format!(
            "{}:{} (document {})",
            self.span.file, self.span.line, self.document
        )
    }
}

/// What templates see, and where the files are.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Template context: `values` and, where known, `cluster`.
    pub context: Map<String, Value>,
    /// The root every read must stay inside (the agent's checkout, `--root`). Without one, each
    /// path's root is the Git work tree that holds it, or the path itself.
    pub root: Option<PathBuf>,
    /// Where Kustomize remote bases are fetched to; `None`: a remote base is an error.
    pub remotes: Option<kustomize_build::Remotes>,
    /// How Helm charts are rendered (release, values, cluster).
    pub helm: helm_build::HelmOptions,
    /// Accept paths that yield no object at all (`spec.allowEmpty`, `--allow-empty`); without it
    /// that is an error naming the files that were not read, so a mistyped path or a format
    /// gitfleet does not read never applies (and prunes) everything away.
    pub allow_empty: bool,
    /// External variables, top-level arguments and library paths of `*.jsonnet` files.
    pub jsonnet: crate::build::jsonnet::JsonnetOptions,
    /// Age identities for SOPS-encrypted files (none: such a file is an error).
    pub decryption: crate::decrypt::Decryption,
}

/// Deep-merges template values: maps merge key by key, anything else in `from` replaces.
pub fn merge_values(into: &mut Value, from: Value) {
    match (into, from) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, v) in b {
                merge_values(a.entry(k).or_insert(Value::Null), v);
            }
        }
        (slot, v) => *slot = v,
    }
}

/// Reads every manifest under `paths` (files or directories), in a stable order (sorted paths,
/// then document order), through a [`Source`] confined to the root. With an explicit root, files
/// are named relative to it; otherwise as the path was given.
pub fn load(paths: &[PathBuf], opts: &LoadOptions) -> Result<Vec<Object>, Diagnostics> {
    load_with_warnings(paths, opts).map(|(objects, _)| objects)
}

/// As [`load`], and the warnings found on the way (a Kustomize patch whose target selects
/// nothing, which kustomize accepts silently), for the caller to show.
pub fn load_with_warnings(
    paths: &[PathBuf],
    opts: &LoadOptions,
) -> Result<(Vec<Object>, Vec<Diagnostic>), Diagnostics> {
    let mut diags = Vec::new();
    let mut objects = Vec::new();
    let mut empty_paths = Vec::new();
    for path in paths {
        let before = (objects.len(), diags.len());
        let root = opts.root.clone().unwrap_or_else(|| source::root_of(path));
        let src = Arc::new(Source::new(&root).with_decryption(opts.decryption.clone()));
        let rel = match src.relative(path) {
            Ok(rel) => rel,
            Err(e) => {
                diags.push(e.to_diagnostic());
                continue;
            }
        };
        let has_root = opts.root.is_some();
        let (given, rel_owned) = (path.clone(), rel.clone());
        let shown_fn = move |file: &str| -> String {
            if has_root {
                return file.to_string();
            }
            let suffix = file.strip_prefix(rel_owned.as_str()).unwrap_or(file);
            let suffix = suffix.trim_start_matches('/');
            if suffix.is_empty() {
                given.to_string_lossy().into_owned()
            } else {
                given.join(suffix).to_string_lossy().into_owned()
            }
        };
        let shown_arc: kustomize_build::Shown = Arc::new(shown_fn);
        let shown = |file: &str| -> Arc<str> { shown_arc(file).into() };
        let files = match src.is_dir(&rel) {
            Ok(true) if kustomize_build::is_kustomization_dir(&src, &rel) => {
                kustomization(&src, &rel, &shown_arc, opts, &mut objects, &mut diags);
                if (objects.len(), diags.len()) == before {
                    empty_paths.push((shown(&rel), "the kustomization builds no object".into()));
                }
                continue;
            }
            Ok(true) if helm_build::is_chart_dir(&src, &rel) => {
                chart(&src, &rel, &shown, opts, &mut objects, &mut diags);
                if (objects.len(), diags.len()) == before {
                    empty_paths.push((shown(&rel), "the chart renders no object".into()));
                }
                continue;
            }
            Ok(true) => {
                let listing = src.walk(&rel, &|name| is_manifest(name) || name == "Kustomization");
                diags.extend(listing.errors.iter().map(|e| rename(e, &shown)));
                // A directory below that holds a kustomization is built as one (as Flux does),
                // one that holds a chart is rendered as one, and their files are not read one
                // by one.
                let mut roots: Vec<String> = listing
                    .files
                    .iter()
                    .filter_map(|f| {
                        let (dir, name) = f.rsplit_once('/').unwrap_or(("", f));
                        (kustomize_build::FILE_NAMES.contains(&name) || name == "Chart.yaml")
                            .then(|| dir.to_string())
                    })
                    .collect();
                roots.sort();
                roots.dedup();
                // Only the outermost kustomizations: inner ones are theirs to include.
                let outer: Vec<String> = roots
                    .iter()
                    .filter(|r| {
                        !roots
                            .iter()
                            .any(|o| o != *r && (o.is_empty() || r.starts_with(&format!("{o}/"))))
                    })
                    .cloned()
                    .collect();
                for dir in &outer {
                    if kustomize_build::is_kustomization_dir(&src, dir) {
                        kustomization(&src, dir, &shown_arc, opts, &mut objects, &mut diags);
                    } else {
                        chart(&src, dir, &shown, opts, &mut objects, &mut diags);
                    }
                }
                listing
                    .files
                    .into_iter()
                    .filter(|f| {
                        !outer
                            .iter()
                            .any(|o| o.is_empty() || f.starts_with(&format!("{o}/")))
                    })
                    .filter(|f| is_manifest(f.rsplit('/').next().unwrap_or(f)))
                    .collect()
            }
            Ok(false) => vec![rel.clone()],
            Err(e) => {
                diags.push(rename(&e, &shown));
                continue;
            }
        };
        for file in files {
            if file.ends_with(".jsonnet") {
                jsonnet_file(&src, &file, &shown, opts, &mut objects, &mut diags);
                continue;
            }
            match src.read(&file) {
                Ok(Some(text)) => parse_file(shown(&file), &text, opts, &mut objects, &mut diags),
                Ok(None) => diags.push(rename(
                    &source::SourceError::new(file.clone(), source::Problem::NotFound),
                    &shown,
                )),
                Err(e) => diags.push(rename(&e, &shown)),
            }
        }
        if (objects.len(), diags.len()) == before && matches!(src.is_dir(&rel), Ok(true)) {
            let listing = src.walk(&rel, &|_| true);
            let (read, ignored): (Vec<String>, Vec<String>) = listing
                .files
                .iter()
                .map(|f| f.rsplit('/').next().unwrap_or(f).to_string())
                .partition(|name| is_manifest(name));
            let why = match read.len() {
                0 => ignored_files(&ignored),
                n => format!(
                    "{n} file{} read ({}) yield{} no object{}",
                    if n == 1 { "" } else { "s" },
                    read.join(", "),
                    if n == 1 { "s" } else { "" },
                    if ignored.is_empty() {
                        String::new()
                    } else {
                        format!(", {}", ignored_files(&ignored))
                    }
                ),
            };
            empty_paths.push((shown(&rel), why));
        }
    }
    if !opts.allow_empty && objects.is_empty() && !diags.iter().any(Diagnostic::is_error) {
        for (shown, files) in empty_paths {
            diags.push(
                Diagnostic::error(
                    Span::file_start(shown.clone()),
                    format!("no manifests found in {shown}: {files}"),
                )
                .with_hint(
                    "gitfleet reads *.yaml, *.yml, *.json, *.j2 and *.jsonnet files, kustomizations and Helm charts; to apply nothing on purpose (and prune everything), set spec.allowEmpty: true on the Sync or pass --allow-empty",
                ),
            );
        }
    }
    check_duplicates(&objects, &mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    Ok((objects, diags))
}

/// `2 files ignored (a.txt, b.cue)`: why a directory yielded nothing.
fn ignored_files(ignored: &[String]) -> String {
    match ignored.len() {
        0 => "it holds no file".to_string(),
        n => {
            let mut names = ignored.to_vec();
            names.truncate(10);
            let more = if n > 10 { ", …" } else { "" };
            format!(
                "{n} file{} ignored ({}{more})",
                if n == 1 { "" } else { "s" },
                names.join(", ")
            )
        }
    }
}

/// Renders a chart archive fetched from a chart repository (`label` names it in messages); its
/// values files are read from `values_dir`, inside the root.
pub fn load_chart_archive(
    archive: &[u8],
    label: &str,
    values_dir: &std::path::Path,
    opts: &LoadOptions,
) -> Result<Vec<Object>, Diagnostics> {
    let root = opts
        .root
        .clone()
        .unwrap_or_else(|| source::root_of(values_dir));
    let src = Arc::new(Source::new(&root).with_decryption(opts.decryption.clone()));
    let rel = src
        .relative(values_dir)
        .map_err(|e| Diagnostics(vec![e.to_diagnostic()]))?;
    let shown = |file: &str| -> Arc<str> { file.into() };
    let mut diags = Vec::new();
    let mut objects = Vec::new();
    match helm_build::build_archive(archive, label, &src, &rel, &shown, &opts.helm) {
        Ok(rendered) => push_rendered(rendered, &mut objects, &mut diags),
        Err(ds) => diags.extend(ds),
    }
    check_duplicates(&objects, &mut diags);
    if diags.iter().any(Diagnostic::is_error) {
        return Err(Diagnostics(diags));
    }
    Ok(objects)
}

/// Builds the kustomization in `dir` into objects.
fn kustomization(
    src: &Arc<Source>,
    dir: &str,
    shown: &kustomize_build::Shown,
    opts: &LoadOptions,
    objects: &mut Vec<Object>,
    diags: &mut Vec<Diagnostic>,
) {
    match kustomize_build::build(src, dir, shown.clone(), opts.remotes.clone()) {
        Ok((resources, warnings)) => {
            diags.extend(warnings);
            for r in resources {
                let span = Span::new(
                    r.origin.file.clone(),
                    r.origin.line.min(u32::MAX as usize) as u32,
                    r.origin.column.min(u32::MAX as usize) as u32,
                );
                objects.push(Object {
                    value: r.value,
                    span,
                    document: 0,
                });
            }
        }
        Err(ds) => diags.extend(ds),
    }
}

/// Renders the Helm chart in `dir` into objects.
fn chart(
    src: &Arc<Source>,
    dir: &str,
    shown: &dyn Fn(&str) -> Arc<str>,
    opts: &LoadOptions,
    objects: &mut Vec<Object>,
    diags: &mut Vec<Diagnostic>,
) {
    match helm_build::build(src, dir, shown, &opts.helm) {
        Ok(rendered) => push_rendered(rendered, objects, diags),
        Err(ds) => diags.extend(ds),
    }
}

/// A chart's rendered objects, checked as every manifest is.
fn push_rendered(
    rendered: Vec<helm_build::Rendered>,
    objects: &mut Vec<Object>,
    diags: &mut Vec<Diagnostic>,
) {
    for r in rendered {
        let what = format!("{} (rendered by the chart)", r.span.file);
        if let Some(value) = check_object(&r.value, &r.span, &what, diags) {
            objects.push(Object {
                value,
                span: r.span,
                document: 0,
            });
        }
    }
}

/// Evaluates a `*.jsonnet` file into objects: it yields an object, an array of objects (arrays
/// nested in it are flattened) or a `List`, as Argo CD reads Jsonnet.
fn jsonnet_file(
    src: &Arc<Source>,
    file: &str,
    shown: &dyn Fn(&str) -> Arc<str>,
    opts: &LoadOptions,
    objects: &mut Vec<Object>,
    diags: &mut Vec<Diagnostic>,
) {
    let root = match src.root() {
        Ok(root) => root.to_path_buf(),
        Err(e) => {
            diags.push(rename(&e, shown));
            return;
        }
    };
    let json = match crate::build::jsonnet::evaluate(&root, file, &opts.jsonnet) {
        Ok(json) => json,
        Err(errors) => {
            for e in errors {
                let span = Span::new(shown(&e.file), e.line, e.column);
                diags.push(Diagnostic::error(span, format!("jsonnet: {}", e.message)));
            }
            return;
        }
    };
    let file = shown(file);
    let span = Span::file_start(file.clone());
    let value: Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => {
            diags.push(Diagnostic::error(
                span,
                format!("the Jsonnet output cannot be read: {e}"),
            ));
            return;
        }
    };
    let mut items = Vec::new();
    flatten(value, &mut items);
    for (i, item) in items.into_iter().enumerate() {
        let document = i + 1;
        if item.get("kind").and_then(Value::as_str) == Some("List")
            && item.get("items").is_some_and(Value::is_array)
        {
            let what = format!("Jsonnet output {document}");
            push_list_items(&item["items"], &span, document, &what, objects, diags);
            continue;
        }
        let what = format!("Jsonnet output {document}");
        if let Some(obj) = check_object(&item, &span, &what, diags) {
            objects.push(Object {
                value: obj,
                span: span.clone(),
                document,
            });
        }
    }
}

/// The items of a `kind: List`, each checked as an object of its own (`what, item N`).
fn push_list_items(
    items: &Value,
    span: &Span,
    document: usize,
    what: &str,
    objects: &mut Vec<Object>,
    diags: &mut Vec<Diagnostic>,
) {
    for (i, item) in items.as_array().into_iter().flatten().enumerate() {
        let what = format!("{what}, item {}", i + 1);
        if let Some(obj) = check_object(item, span, &what, diags) {
            objects.push(Object {
                value: obj,
                span: span.clone(),
                document,
            });
        }
    }
}

fn flatten(value: Value, into: &mut Vec<Value>) {
    match value {
        Value::Array(items) => items.into_iter().for_each(|v| flatten(v, into)),
        Value::Null => {}
        other => into.push(other),
    }
}

/// A source error as a diagnostic, its path shown the way the caller names files.
fn rename(e: &source::SourceError, shown: &dyn Fn(&str) -> Arc<str>) -> Diagnostic {
    let mut d = e.to_diagnostic();
    d.span.file = shown(&e.path);
    d
}

/// Whether a file name is a manifest.
fn is_manifest(name: &str) -> bool {
    name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
        || name.ends_with(".j2")
        || name.ends_with(".jsonnet")
}

/// Parses one file's text (rendering it first when it is a template) into objects.
pub fn parse_file(
    file: Arc<str>,
    text: &str,
    opts: &LoadOptions,
    objects: &mut Vec<Object>,
    diags: &mut Vec<Diagnostic>,
) {
    let rendered;
    let template = file.ends_with(".j2");
    let text = if template {
        match render(&file, text, opts) {
            Ok(t) => {
                rendered = t;
                rendered.as_str()
            }
            Err(d) => {
                diags.push(d);
                return;
            }
        }
    } else {
        text
    };
    // serde_yaml bounds aliases relative to the input only: check them (and the nesting, and
    // the documents) against the absolute limits first.
    if text.contains('&')
        && let Err(mut d) = crate::fleet::yaml::check_limits(&file, text)
    {
        if template {
            d.message = format!(
                "the rendered template: {} (at rendered line {})",
                d.message, d.span.line
            );
            d.span = Span::file_start(file.clone());
        }
        diags.push(d);
        return;
    }
    let docs = documents(text);
    if docs.len() > LIMITS.max_documents {
        diags.push(Diagnostic::error(
            Span::file_start(file.clone()),
            format!(
                "the file holds more than {} YAML documents",
                LIMITS.max_documents
            ),
        ));
        return;
    }
    for (index, (start_line, chunk)) in docs.into_iter().enumerate() {
        let document = index + 1;
        // A template's output lines are not its source lines: point at the template, and say
        // where in the output.
        let doc_span = Span::new(file.clone(), if template { 1 } else { start_line }, 1);
        // Read as kubectl and kustomize read YAML: `0644` is the octal 420 Kubernetes expects,
        // `yes` stays a string, merge keys merge.
        let value: Value = match kustomize::yaml::load(&chunk) {
            Ok(v) => v,
            Err((l, c, message)) => {
                let line = start_line + l.max(1) as u32 - 1;
                let column = c as u32;
                let (span, message) = if template {
                    (
                        Span::file_start(file.clone()),
                        format!(
                            "document {document} of the rendered template: invalid YAML at rendered line {line}, column {column}: {message}"
                        ),
                    )
                } else {
                    (
                        Span::new(file.clone(), line, column),
                        format!("document {document}: invalid YAML: {message}"),
                    )
                };
                diags.push(Diagnostic::error(span, message));
                continue;
            }
        };
        if value.is_null() {
            continue; // an empty document (comments only, trailing ---)
        }
        let key_line = |key: &str| -> u32 {
            if template {
                return 1;
            }
            chunk
                .lines()
                .position(|l| l.starts_with(&format!("{key}:")))
                .map(|i| start_line + i as u32)
                .unwrap_or(start_line)
        };
        if value.get("kind").and_then(Value::as_str) == Some("List")
            && value.get("items").is_some_and(Value::is_array)
        {
            let span = Span::new(file.clone(), key_line("items"), 1);
            let what = format!("document {document}");
            push_list_items(&value["items"], &span, document, &what, objects, diags);
            continue;
        }
        let what = format!("document {document}");
        if is_fleet_definition(&value) {
            continue;
        }
        // A JSON file that is not a Kubernetes object at all (package.json, a JSON Schema, a
        // dashboard a generator reads) is not a manifest; one that is, is checked as any.
        if file.ends_with(".json")
            && value.get("apiVersion").is_none()
            && value.get("kind").is_none()
        {
            continue;
        }
        if let Some(obj) = check_object(&value, &doc_span, &what, diags) {
            objects.push(Object {
                value: obj,
                span: doc_span,
                document,
            });
        }
    }
}

/// gitfleet's own definitions (`cluster.yaml`, `fleet.yaml`) live beside a cluster's manifests
/// in the repository; they are read by gitfleet, never sent to a cluster.
fn is_fleet_definition(v: &Value) -> bool {
    v["apiVersion"]
        .as_str()
        .is_some_and(|a| a.starts_with("gitfleet.io/"))
        && matches!(v["kind"].as_str(), Some("Cluster" | "Fleet"))
}

/// Checks the fields every object needs; returns it with empty namespace removed.
fn check_object(v: &Value, span: &Span, what: &str, diags: &mut Vec<Diagnostic>) -> Option<Value> {
    let Some(map) = v.as_object() else {
        diags.push(Diagnostic::error(
            span.clone(),
            format!("{what}: a Kubernetes object must be a mapping"),
        ));
        return None;
    };
    let mut ok = true;
    for key in ["apiVersion", "kind"] {
        match map.get(key) {
            Some(Value::String(s)) if !s.is_empty() => {}
            Some(_) => {
                diags.push(Diagnostic::error(
                    span.clone(),
                    format!("{what}: `{key}` must be a non-empty string"),
                ));
                ok = false;
            }
            None => {
                diags.push(
                    Diagnostic::error(span.clone(), format!("{what}: `{key}` is missing"))
                        .with_hint("every manifest needs apiVersion, kind and metadata.name"),
                );
                ok = false;
            }
        }
    }
    let generate_name = map
        .get("metadata")
        .and_then(|m| m.get("generateName"))
        .is_some_and(|g| g.as_str().is_some_and(|g| !g.is_empty()));
    match map.get("metadata").and_then(|m| m.get("name")) {
        Some(Value::String(s)) if !s.is_empty() => {}
        // a hook is created once per revision: its name is derived from the revision then
        None if generate_name && crate::kube::hooks::is_hook(v) => {}
        _ => {
            let hint = if generate_name {
                "generateName cannot be applied declaratively: give the object a name, or make it a hook (argocd.argoproj.io/hook: PreSync, Sync, PostSync or SyncFail, or helm.sh/hook), which is created once per revision"
            } else {
                "every manifest needs apiVersion, kind and metadata.name"
            };
            diags.push(
                Diagnostic::error(
                    span.clone(),
                    format!("{what}: `metadata.name` is missing or not a string"),
                )
                .with_hint(hint),
            );
            ok = false;
        }
    }
    if let Some(ns) = map.get("metadata").and_then(|m| m.get("namespace"))
        && !ns.is_string()
        && !ns.is_null()
    {
        diags.push(Diagnostic::error(
            span.clone(),
            format!("{what}: `metadata.namespace` must be a string"),
        ));
        ok = false;
    }
    if !ok {
        return None;
    }
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut)
        && meta
            .get("namespace")
            .is_some_and(|n| n.is_null() || n.as_str() == Some(""))
    {
        meta.remove("namespace");
    }
    Some(v)
}

/// Splits a YAML stream into documents: (1-based line of the document's first line, text).
fn documents(text: &str) -> Vec<(u32, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1u32;
    for (i, line) in text.lines().enumerate() {
        let n = i as u32 + 1;
        let is_separator = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_separator || line == "..." {
            if !current.trim().is_empty() {
                docs.push((start, std::mem::take(&mut current)));
            }
            current.clear();
            start = n + 1;
            if let Some(rest) = line.strip_prefix("--- ") {
                // `--- key: value` starts the document on the separator line.
                if !rest.trim().is_empty() && !rest.trim_start().starts_with('#') {
                    start = n;
                    current.push_str(rest);
                    current.push('\n');
                }
            }
            continue;
        }
        current.push_str(line);
        current.push('\n');
    }
    if !current.trim().is_empty() {
        docs.push((start, current));
    }
    docs
}

/// Renders a `*.j2` manifest. Values are inserted as written (as Helm does); use `| tojson` to
/// quote. Undefined values are errors naming the expression; the work and the output are bounded.
fn render(file: &Arc<str>, text: &str, opts: &LoadOptions) -> Result<String, Diagnostic> {
    let mut env = Environment::new();
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| AutoEscape::None);
    env.set_debug(true);
    bounded::limit(&mut env);
    let err = |e: &minijinja::Error| {
        let line = e.line().unwrap_or(1) as u32;
        Diagnostic::error(
            Span::new(file.clone(), line, bounded::column(e)),
            bounded::message(e),
        )
    };
    let name = file.to_string();
    let tmpl = env
        .template_from_named_str(&name, text)
        .map_err(|e| err(&e))?;
    let ctx = minijinja::Value::from(minijinja::value::Serde(&opts.context));
    bounded::render(&tmpl, ctx).map_err(|e| match e {
        bounded::RenderError::Template(e) => err(&e),
        bounded::RenderError::OutputTooLarge { limit } => Diagnostic::error(
            Span::file_start(file.clone()),
            format!("template output is larger than {limit} bytes, the limit for one template"),
        ),
    })
}

/// Two documents for the same object: the second is an error pointing at the first.
fn check_duplicates(objects: &[Object], diags: &mut Vec<Diagnostic>) {
    let mut seen: HashMap<(String, String, Option<String>, String), &Object> = HashMap::new();
    for o in objects {
        if o.name().is_empty() {
            // a hook named by generateName: each is its own object
            continue;
        }
        let group = o
            .api_version()
            .split_once('/')
            .map(|(g, _)| g.to_string())
            .unwrap_or_default();
        let key = (
            group,
            o.kind().to_string(),
            o.namespace().map(str::to_string),
            o.name().to_string(),
        );
        if let Some(first) = seen.get(&key) {
            diags.push(
                Diagnostic::error(
                    o.span.clone(),
                    format!(
                        "document {}: {} \"{}\" is defined twice",
                        o.document,
                        o.kind(),
                        o.name()
                    ),
                )
                .with_hint(format!("first defined at {}", first.source())),
            );
        } else {
            seen.insert(key, o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Vec<Object>, Vec<Diagnostic>) {
        let mut objects = Vec::new();
        let mut diags = Vec::new();
        parse_file(
            "m.yaml".into(),
            text,
            &LoadOptions::default(),
            &mut objects,
            &mut diags,
        );
        check_duplicates(&objects, &mut diags);
        (objects, diags)
    }

    #[test]
    fn multi_document_with_positions() {
        let (objs, diags) = parse(
            "# leading comment\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: x\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(objs.len(), 2);
        assert_eq!((objs[0].span.line, objs[0].document), (1, 1));
        assert_eq!((objs[1].span.line, objs[1].document), (7, 2));
        assert_eq!(objs[1].namespace(), Some("x"));
    }

    #[test]
    fn every_problem_reported_with_line() {
        let (objs, diags) = parse(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\nkind: Secret\nmetadata: {name: s}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n---\n- 1\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n",
        );
        assert_eq!(objs.len(), 2);
        let text: Vec<String> = diags.iter().map(|d| d.to_string()).collect();
        assert_eq!(diags.len(), 4, "{text:#?}");
        assert!(text[0].starts_with("m.yaml:5:1: error: document 2: `apiVersion` is missing"));
        assert!(
            text[1].starts_with("m.yaml:12:1: error: document 3: invalid YAML"),
            "{}",
            text[1]
        );
        assert!(text[2].contains("document 4: a Kubernetes object must be a mapping"));
        assert!(text[3].contains("document 5: ConfigMap \"a\" is defined twice"));
        assert!(text[3].contains("first defined at m.yaml:1 (document 1)"));
    }

    #[test]
    fn list_kind_expands() {
        let (objs, diags) = parse(
            "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n",
        );
        assert!(diags.is_empty());
        assert_eq!(
            objs.iter().map(Object::name).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn templates_render_with_values_and_report_undefined() {
        let mut ctx = Map::new();
        ctx.insert("values".into(), serde_json::json!({"replicas": 3}));
        let opts = LoadOptions {
            context: ctx,
            ..Default::default()
        };
        let mut objects = Vec::new();
        let mut diags = Vec::new();
        parse_file(
            "d.yaml.j2".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  n: \"{{ values.replicas }}\"\n",
            &opts,
            &mut objects,
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(objects[0].value["data"]["n"], "3");
        parse_file(
            "e.yaml.j2".into(),
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\ndata:\n  n: \"{{ values.missing.x }}\"\n",
            &opts,
            &mut objects,
            &mut diags,
        );
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0]
                .to_string()
                .starts_with("e.yaml.j2:5:16: error: template error: undefined value: `values.missing` is undefined"),
            "{}",
            diags[0]
        );
    }
}
