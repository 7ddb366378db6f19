//! The build: a kustomization directory, recursively, into resources, in kustomize v5's order
//! of work. For each kustomization: its resources (files, and other kustomizations built
//! first, each on its own), transformer configurations, components (which act on what the
//! kustomization has gathered so far), generators, then the builtin transformers in
//! kustomize's fixed order (strategic-merge patches, patches, namespace, prefix, suffix,
//! labels, annotations, JSON 6902 patches, replicas, images, replacements), then the
//! `transformers:` plugins. Once, at the top: content-hash name suffixes, name references,
//! vars, build metadata, and the output order.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use crate::dir::{self, Dir};
use crate::fieldspec::{Config, FieldSpec};
use crate::kustomization::{
    self, FILE_NAMES, GeneratorArgs, GeneratorOptions, Image, Parsed, Patch, PatchOptions,
    ReplacementField, Replica, Selector, Var,
};
use crate::resource::Resource;
use crate::yaml::{self, Seg};
use crate::{Diag, Entry, Loader, Remote, Span};
use crate::{generator, hash, nameref, order, patch, replacement, smp, transform};

/// How deep kustomizations may include one another.
pub const MAX_DEPTH: usize = 64;
/// How many objects one build may hold (a base included many times over multiplies).
pub const MAX_OBJECTS: usize = 100_000;

/// What a build produced: the objects in output order, and warnings (for example a patch
/// whose target selects nothing, which kustomize accepts silently).
#[derive(Debug)]
pub struct Build {
    pub resources: Vec<Resource>,
    pub warnings: Vec<Diag>,
}

/// What one kustomization has gathered.
#[derive(Default)]
struct Acc {
    resources: Vec<Resource>,
    config: Config,
    vars: Vec<(Var, Span)>,
    /// The ids of `resources` and where each is, while nothing but [`append`] has changed
    /// them (generators and transformers rename objects: they drop it).
    index: Option<std::collections::HashMap<crate::ResId, usize>>,
}

struct Ctx {
    diags: Vec<Diag>,
    /// The kustomizations being built, outermost first: (loader identity, directory).
    stack: Vec<(usize, String, String)>,
    /// Objects read so far, against [`MAX_OBJECTS`].
    objects: usize,
    /// The directory of the top kustomization, for origin annotations.
    top: String,
    origins: bool,
    /// `buildMetadata: [transformerAnnotations]`: each builtin transformer a kustomization
    /// configures is recorded on every object it runs over.
    transformations: bool,
    /// The OpenAPI schemas strategic merges consult, as kustomize holds them: for the whole
    /// build, set by the first kustomization that names one (see [`openapi`]).
    schemas: smp::Schemas,
    /// `openapi.version` as set (`""` while none is).
    openapi_version: String,
}

impl Ctx {
    fn error(&mut self, d: Diag) {
        self.diags.push(d);
    }
}

fn loader_id(loader: &Arc<dyn Loader>) -> usize {
    Arc::as_ptr(loader) as *const () as usize
}

/// Builds the kustomization in `dir` (relative to the loader's root; `""` for the root).
pub fn build(loader: Arc<dyn Loader>, dir: &str) -> Result<Build, Vec<Diag>> {
    let mut ctx = Ctx {
        diags: Vec::new(),
        stack: Vec::new(),
        objects: 0,
        top: dir.to_string(),
        origins: false,
        transformations: false,
        schemas: smp::Schemas::default(),
        openapi_version: String::new(),
    };
    let at = Span::file(loader.display(if dir.is_empty() { "." } else { dir }));
    let Some(top) = read_kustomization(&mut ctx, &loader, dir, &at) else {
        return Err(ctx.diags);
    };
    if top.is_component() {
        return Err(vec![Diag::error(
            top.span(&[Seg::Key("kind")]),
            "a Component cannot be built on its own: include it from a Kustomization's \
             `components`",
        )]);
    }
    let metadata = build_metadata(&mut ctx, &top);
    ctx.origins = metadata.origins;
    ctx.transformations = metadata.transformations;
    let mut acc = Acc {
        config: default_config(),
        ..Acc::default()
    };
    kustomize(&mut ctx, &loader, dir, &top, &mut acc, 0);
    if ctx.diags.iter().any(|d| !d.warning) {
        return Err(ctx.diags);
    }

    // Content hashes, once, on the final content.
    for r in &mut acc.resources {
        if let Some(map) = r
            .value
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut)
            && map.remove(NEEDS_HASH).is_some()
        {
            r.needs_hash = true;
            if map.is_empty() {
                r.metadata_mut().remove("annotations");
            }
        }
    }
    for r in acc.resources.iter_mut().filter(|r| r.needs_hash) {
        match hash::name_suffix(&r.value) {
            Ok(suffix) => {
                let name = format!("{}-{suffix}", r.name());
                r.set_name(&name);
            }
            Err(e) => ctx.error(Diag::error(r.origin.clone(), e)),
        }
    }
    nameref::fix(
        &mut acc.resources,
        &acc.config.name_reference,
        &mut ctx.diags,
    );
    replacement::resolve_vars(
        &mut acc.resources,
        &acc.vars,
        &acc.config.var_reference,
        &mut ctx.diags,
    );
    if metadata.managed_by {
        for r in &mut acc.resources {
            r.meta_map_mut("labels").insert(
                "app.kubernetes.io/managed-by".into(),
                Value::String(format!("kustomize-{}", KUSTOMIZE_VERSION)),
            );
        }
    }
    // kustomize prints every annotation value as a string.
    for r in &mut acc.resources {
        if let Some(map) = r
            .value
            .get_mut("metadata")
            .and_then(|m| m.get_mut("annotations"))
            .and_then(Value::as_object_mut)
        {
            for v in map.values_mut() {
                if !v.is_string() {
                    let text = match &*v {
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    *v = Value::String(text);
                }
            }
        }
    }
    if let Err(e) = order::sort(&mut acc.resources, top.k.sort_options.as_ref()) {
        ctx.error(Diag::error(top.field("sortOptions"), e));
    }
    let (errors, warnings): (Vec<Diag>, Vec<Diag>) =
        ctx.diags.into_iter().partition(|d| !d.warning);
    if !errors.is_empty() {
        let mut all = errors;
        all.extend(warnings);
        return Err(all);
    }
    Ok(Build {
        resources: acc.resources,
        warnings,
    })
}

/// The annotation that asks kustomize to add the content hash to a plain resource's name.
const NEEDS_HASH: &str = "internal.config.kubernetes.io/needsHashSuffix";

/// The kustomize release whose behaviour this engine reproduces (what `managedByLabel` says).
pub const KUSTOMIZE_VERSION: &str = "v5.8.1";

struct Metadata {
    managed_by: bool,
    origins: bool,
    transformations: bool,
}

/// `buildMetadata` of the top kustomization (kustomize reads it there only).
fn build_metadata(ctx: &mut Ctx, top: &Parsed) -> Metadata {
    let mut m = Metadata {
        managed_by: false,
        origins: false,
        transformations: false,
    };
    for (i, item) in top.k.build_metadata.iter().enumerate() {
        match item.as_str() {
            "managedByLabel" => m.managed_by = true,
            "originAnnotations" => m.origins = true,
            "transformerAnnotations" => m.transformations = true,
            other => ctx.error(Diag::error(
                top.item("buildMetadata", i),
                format!(
                    "unknown buildMetadata option `{other}`: expected managedByLabel, \
                     originAnnotations or transformerAnnotations"
                ),
            )),
        }
    }
    m
}

fn default_config() -> Config {
    let mut config = transform::default_config();
    config.name_reference = nameref::default_rules();
    config.var_reference = replacement::default_var_reference();
    config
}

/// Finds and parses the kustomization file of a directory.
fn read_kustomization(
    ctx: &mut Ctx,
    loader: &Arc<dyn Loader>,
    dir: &str,
    at: &Span,
) -> Option<Parsed> {
    let mut found = Vec::new();
    for name in FILE_NAMES {
        let path = dir::join(dir, name).unwrap_or_else(|| name.to_string());
        match loader.read(&path) {
            Ok(Some(text)) => found.push((path, text)),
            Ok(None) => {}
            Err(d) => {
                ctx.error(d);
                return None;
            }
        }
    }
    if found.len() > 1 {
        let names: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        ctx.error(Diag::error(
            at.clone(),
            format!(
                "found more than one kustomization file in {}: {}",
                shown_dir(loader, dir),
                names.join(", ")
            ),
        ));
        return None;
    }
    let Some((path, text)) = found.pop() else {
        ctx.error(Diag::error(
            at.clone(),
            format!(
                "no kustomization in {}: expected one of kustomization.yaml, \
                     kustomization.yml or Kustomization",
                shown_dir(loader, dir)
            ),
        ));
        return None;
    };
    let file: Arc<str> = loader.display(&path).into();
    match kustomization::parse(&file, &text) {
        Ok(p) => Some(p),
        Err(ds) => {
            ctx.diags.extend(ds);
            None
        }
    }
}

fn shown_dir(loader: &Arc<dyn Loader>, dir: &str) -> String {
    loader.display(if dir.is_empty() { "." } else { dir })
}

/// Runs one kustomization (or component) onto `acc`.
fn kustomize(
    ctx: &mut Ctx,
    loader: &Arc<dyn Loader>,
    dir: &str,
    p: &Parsed,
    acc: &mut Acc,
    depth: usize,
) {
    let id = (loader_id(loader), dir.to_string(), p.file.to_string());
    if let Some(i) = ctx
        .stack
        .iter()
        .position(|(l, d, _)| *l == id.0 && *d == id.1)
    {
        let mut chain: Vec<String> = ctx.stack[i..].iter().map(|e| e.2.clone()).collect();
        chain.push(p.file.to_string());
        ctx.error(Diag::error(
            Span::file(p.file.clone()),
            format!(
                "kustomizations include each other in a cycle: {}",
                chain.join(" → ")
            ),
        ));
        return;
    }
    if depth > MAX_DEPTH {
        ctx.error(Diag::error(
            Span::file(p.file.clone()),
            format!("kustomizations nest more than {MAX_DEPTH} levels deep"),
        ));
        return;
    }
    ctx.stack.push(id);
    let here = Dir::new(loader.as_ref(), dir);
    let k = &p.k;
    if let Some(field) = &k.openapi {
        openapi(ctx, here, p, field, depth == 0);
    }

    for (field, list) in [("resources", &k.resources), ("bases", &k.bases)] {
        for (i, entry) in list.iter().enumerate() {
            let span = p.item(field, i);
            resource_entry(ctx, loader, dir, entry, &span, acc, depth);
        }
    }
    for (i, entry) in k.configurations.iter().enumerate() {
        let span = p.item("configurations", i);
        match here.read_file(entry, &span) {
            Ok((path, text)) => match serde_yaml::from_str::<Config>(&text) {
                Ok(c) => acc.config.merge(c),
                Err(e) => ctx.error(yaml::serde_diag(
                    &loader.display(&path).into(),
                    &e,
                    "transformer configuration",
                )),
            },
            Err(d) => ctx.error(d),
        }
    }
    for (i, entry) in k.crds.iter().enumerate() {
        let span = p.item("crds", i);
        match here.read_file(entry, &span) {
            Ok((path, text)) => crds(ctx, &loader.display(&path).into(), &text, acc),
            Err(d) => ctx.error(d),
        }
    }
    for (i, entry) in k.components.iter().enumerate() {
        let span = p.item("components", i);
        let Ok(sub) = here.resolve(entry, &span).map_err(|d| ctx.error(d)) else {
            continue;
        };
        match loader.entry(&sub) {
            Ok(Some(Entry::Dir)) => {}
            Ok(_) => {
                ctx.error(Diag::error(
                    span,
                    format!("component {entry} is not a directory holding a kustomization"),
                ));
                continue;
            }
            Err(d) => {
                ctx.error(d);
                continue;
            }
        }
        let Some(cp) = read_kustomization(ctx, loader, &sub, &span) else {
            continue;
        };
        if !cp.is_component() {
            ctx.error(Diag::error(
                span,
                format!(
                    "{entry} is listed in `components` but its kind is {}: expected Component",
                    if cp.k.kind.is_empty() {
                        "Kustomization"
                    } else {
                        &cp.k.kind
                    }
                ),
            ));
            continue;
        }
        kustomize(ctx, loader, &sub, &cp, acc, depth + 1);
    }

    acc.index = None;
    generators(ctx, loader, dir, p, acc);
    transformers(ctx, loader, dir, p, acc);
    acc.index = None;
    for (i, _) in k.validators.iter().enumerate() {
        ctx.error(Diag::error(
            p.item("validators", i),
            "`validators` plugins are not run by gitfleet",
        ));
    }
    for (i, v) in k.vars.iter().enumerate() {
        let span = p.item("vars", i);
        acc.vars.push((v.clone(), span));
    }
    ctx.stack.pop();
}

/// One `resources` (or `bases`) entry: a file, a directory with a kustomization, or a remote
/// base.
fn resource_entry(
    ctx: &mut Ctx,
    loader: &Arc<dyn Loader>,
    dir: &str,
    entry: &str,
    span: &Span,
    acc: &mut Acc,
    depth: usize,
) {
    let here = Dir::new(loader.as_ref(), dir);
    let local = dir::join(dir, entry);
    let kind = match &local {
        Some(path) => match loader.entry(path) {
            Ok(kind) => kind,
            Err(d) => return ctx.error(d),
        },
        None => None,
    };
    if kind.is_none()
        && let Some(remote) = parse_remote(entry)
    {
        let remote_loader = match loader.remote(&remote, span) {
            Ok(l) => l,
            Err(d) => return ctx.error(d),
        };
        let sub = dir::join("", &remote.path).unwrap_or_default();
        let Some(sp) = read_kustomization(ctx, &remote_loader, &sub, span) else {
            return;
        };
        return sub_kustomization(ctx, &remote_loader, &sub, &sp, span, entry, acc, depth);
    }
    if entry.starts_with("http://") || entry.starts_with("https://") {
        return ctx.error(Diag::error(
            span.clone(),
            format!("resource {entry} is a URL that is not a Git repository"),
        ).with_hint("gitfleet fetches remote bases from Git (`https://host/org/repo//path?ref=v1`); it does not download single files"));
    }
    match kind {
        None => {
            let Ok(_) = here.resolve(entry, span).map_err(|d| ctx.error(d)) else {
                return;
            };
            ctx.error(Diag::error(
                span.clone(),
                format!("resource {entry} does not exist"),
            ));
        }
        Some(Entry::Dir) => {
            let sub = local.unwrap_or_default();
            let Some(sp) = read_kustomization(ctx, loader, &sub, span) else {
                return;
            };
            sub_kustomization(ctx, loader, &sub, &sp, span, entry, acc, depth);
        }
        Some(Entry::File) => {
            let (path, text) = match here.read_file(entry, span) {
                Ok(x) => x,
                Err(d) => return ctx.error(d),
            };
            let file: Arc<str> = loader.display(&path).into();
            match parse_resources(&file, &text) {
                Ok(list) => {
                    for mut r in list {
                        if ctx.origins {
                            let origin = dir::join("", &path)
                                .map(|p| relative_to(&ctx.top, &p))
                                .unwrap_or_default();
                            r.meta_map_mut("annotations").insert(
                                "config.kubernetes.io/origin".into(),
                                Value::String(format!("path: {origin}\n")),
                            );
                        }
                        append(ctx, acc, r);
                    }
                }
                Err(ds) => ctx.diags.extend(ds),
            }
        }
    }
}

/// `path` as seen from directory `from` (both relative to the same root).
fn relative_to(from: &str, path: &str) -> String {
    let from: Vec<&str> = from.split('/').filter(|s| !s.is_empty()).collect();
    let to: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<&str> = std::iter::repeat_n("..", from.len() - common).collect();
    parts.extend(&to[common..]);
    parts.join("/")
}

#[allow(clippy::too_many_arguments)]
fn sub_kustomization(
    ctx: &mut Ctx,
    loader: &Arc<dyn Loader>,
    sub: &str,
    sp: &Parsed,
    span: &Span,
    entry: &str,
    acc: &mut Acc,
    depth: usize,
) {
    if sp.is_component() {
        return ctx.error(Diag::error(
            span.clone(),
            format!("{entry} is a Component: list it under `components`, not `resources`"),
        ));
    }
    let mut sub_acc = Acc {
        config: default_config(),
        ..Acc::default()
    };
    let before = ctx.diags.iter().filter(|d| !d.warning).count();
    kustomize(ctx, loader, sub, sp, &mut sub_acc, depth + 1);
    if ctx.diags.iter().filter(|d| !d.warning).count() > before {
        return;
    }
    for r in sub_acc.resources {
        append(ctx, acc, r);
    }
    acc.config.merge(sub_acc.config);
    acc.vars.extend(sub_acc.vars);
}

/// Adds an object, refusing a second object of the same id.
fn append(ctx: &mut Ctx, acc: &mut Acc, r: Resource) {
    ctx.objects += 1;
    if ctx.objects == MAX_OBJECTS + 1 {
        ctx.error(Diag::error(
            r.origin.clone(),
            format!("the build holds more than {MAX_OBJECTS} objects"),
        ));
    }
    if ctx.objects > MAX_OBJECTS {
        return;
    }
    let id = r.id();
    let index = acc.index.get_or_insert_with(|| {
        acc.resources
            .iter()
            .enumerate()
            .map(|(i, e)| (e.id(), i))
            .collect()
    });
    if let Some(existing) = index.get(&id).map(|&i| &acc.resources[i]) {
        let d = Diag::error(
            r.origin.clone(),
            format!(
                "{} ({}) is already in the build, from {}",
                id,
                id.gvk(),
                existing.origin
            ),
        )
        .with_hint("an object may appear once: give one of them another name or namespace (namePrefix, nameSuffix, namespace)");
        ctx.error(d);
        return;
    }
    index.insert(id, acc.resources.len());
    acc.resources.push(r);
}

/// Parses a file of YAML documents into objects (a `List` is expanded into its items).
pub fn parse_resources(file: &Arc<str>, text: &str) -> Result<Vec<Resource>, Vec<Diag>> {
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for (start, chunk) in yaml::documents(text) {
        let value: Value = match yaml::load(&chunk) {
            Ok(v) => v,
            Err((line, column, message)) => {
                diags.push(Diag::error(
                    Span::new(file.clone(), start + line.max(1) - 1, column),
                    format!("invalid YAML: {message}"),
                ));
                continue;
            }
        };
        let span = Span::new(file.clone(), start, 1);
        if value.is_null() {
            continue;
        }
        let is_list = value["kind"]
            .as_str()
            .is_some_and(|k| k == "List" || (k.ends_with("List") && value["items"].is_array()));
        if is_list && value["items"].is_array() {
            for item in value["items"].as_array().into_iter().flatten() {
                check_object(item, &span, &mut diags);
                out.push(Resource::new(item.clone(), span.clone()));
            }
            continue;
        }
        if check_object(&value, &span, &mut diags) {
            out.push(Resource::new(value, span));
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

fn check_object(value: &Value, span: &Span, diags: &mut Vec<Diag>) -> bool {
    if !value.is_object() {
        diags.push(Diag::error(
            span.clone(),
            "a resource document must be a mapping with apiVersion, kind and metadata",
        ));
        return false;
    }
    let mut ok = true;
    for (field, what) in [("kind", "kind"), ("apiVersion", "apiVersion")] {
        if value[field].as_str().is_none_or(str::is_empty) {
            diags.push(Diag::error(
                span.clone(),
                format!("the object has no {what}"),
            ));
            ok = false;
        }
    }
    if value["metadata"]["name"].as_str().is_none_or(str::is_empty)
        && value["metadata"]["generateName"].as_str().is_none()
    {
        diags.push(Diag::error(span.clone(), "the object has no metadata.name"));
        ok = false;
    }
    ok
}

/// Parses a remote base reference, as kustomize recognises them.
pub fn parse_remote(entry: &str) -> Option<Remote> {
    let written = entry.to_string();
    let s = entry.strip_prefix("git::").unwrap_or(entry);
    let (s, query) = match s.split_once('?') {
        Some((a, q)) => (a, Some(q)),
        None => (s, None),
    };
    let mut reference = None;
    for pair in query.into_iter().flat_map(|q| q.split('&')) {
        if let Some((k, v)) = pair.split_once('=')
            && (k == "ref" || k == "version")
        {
            reference = Some(v.to_string());
        }
    }
    let (scheme_end, is_scp) = if let Some(i) = s.find("://") {
        (i + 3, false)
    } else if s.starts_with("git@") || (s.contains(':') && s.split(':').next()?.contains('@')) {
        (0, true)
    } else if s.starts_with("github.com/") || s.starts_with("gitlab.com/") {
        (0, false)
    } else {
        return None;
    };
    let rest = &s[scheme_end..];
    let (repo, path) = if let Some(i) = rest.find("//") {
        (
            format!("{}{}", &s[..scheme_end], &rest[..i]),
            rest[i + 2..].to_string(),
        )
    } else if let Some(i) = rest.find(".git/") {
        (
            format!("{}{}", &s[..scheme_end], &rest[..i + 4]),
            rest[i + 5..].to_string(),
        )
    } else {
        // host/org/repo/path...: the first two path segments name the repository.
        let (host, tail) = if is_scp {
            rest.split_once(':')?
        } else {
            rest.split_once('/')?
        };
        let mut segs = tail.splitn(3, '/');
        let org = segs.next()?;
        let name = segs.next()?;
        let path = segs.next().unwrap_or("").to_string();
        let sep = if is_scp { ":" } else { "/" };
        (format!("{}{host}{sep}{org}/{name}", &s[..scheme_end]), path)
    };
    let repo = if scheme_end == 0 && !is_scp {
        format!("https://{repo}")
    } else {
        repo
    };
    Some(Remote {
        repo,
        path,
        reference,
        written,
    })
}

/// `crds:` files: kustomize's legacy OpenAPI definitions (a mapping from Go type names to
/// `{Schema: {properties}}`). Each definition that looks like a Kubernetes type (it has `kind`,
/// `apiVersion` and `metadata` properties) names a kind (the type name after its last `.`);
/// its properties, followed through `$ref`s, add name references
/// (`x-kubernetes-object-ref-kind` + `-api-version`, the name under `x-kubernetes-object-ref-name-key`
/// or `name`), label fields (`x-kubernetes-label-selector`), annotation fields
/// (`x-kubernetes-annotation`) and prefixed names (`x-kubernetes-identity`).
fn crds(ctx: &mut Ctx, file: &Arc<str>, text: &str, acc: &mut Acc) {
    let value: Value = match yaml::load(text) {
        Ok(v) => v,
        Err((line, column, message)) => {
            return ctx.error(Diag::error(
                Span::new(file.clone(), line, column),
                format!("crds file: invalid YAML or JSON: {message}"),
            ));
        }
    };
    let Some(defs) = value.as_object() else {
        return ctx.error(Diag::error(
            Span::file(file.clone()),
            "a `crds` file holds OpenAPI definitions: a mapping from type names to schemas",
        ));
    };
    let mut config = Config::default();
    for (name, def) in defs {
        let props = &schema_of(def)["properties"];
        if !["kind", "apiVersion", "metadata"]
            .iter()
            .all(|k| props.get(k).is_some())
        {
            continue;
        }
        let last = name.rsplit('/').next().unwrap_or(name);
        let kind = last.rsplit('.').next().unwrap_or(last);
        collect_refs(defs, name, kind, &mut Vec::new(), &mut config, 0);
    }
    acc.config.merge(config);
}

fn schema_of(def: &Value) -> &Value {
    def.get("Schema").unwrap_or(def)
}

fn collect_refs(
    defs: &serde_json::Map<String, Value>,
    name: &str,
    kind: &str,
    path: &mut Vec<String>,
    config: &mut Config,
    depth: usize,
) {
    let Some(def) = defs.get(name.trim_start_matches("#/definitions/")) else {
        return;
    };
    if depth > 32 {
        return;
    }
    let Some(props) = schema_of(def)["properties"].as_object() else {
        return;
    };
    for (prop_name, prop) in props {
        path.push(prop_name.clone());
        let spec = |extra: Option<&str>| {
            let mut p = path.join("/");
            if let Some(e) = extra {
                p = format!("{p}/{e}");
            }
            FieldSpec::new("", "", kind, &p, false)
        };
        if prop.get("x-kubernetes-annotation").is_some() {
            config.common_annotations.push(spec(None));
        }
        if prop.get("x-kubernetes-label-selector").is_some() {
            config.common_labels.push(spec(None));
        }
        if prop.get("x-kubernetes-identity").is_some() {
            config.name_prefix.push(spec(None));
        }
        if let (Some(version), Some(ref_kind)) = (
            prop["x-kubernetes-object-ref-api-version"].as_str(),
            prop["x-kubernetes-object-ref-kind"].as_str(),
        ) {
            let key = prop["x-kubernetes-object-ref-name-key"]
                .as_str()
                .unwrap_or("name");
            config.merge(Config {
                name_reference: vec![crate::fieldspec::NameBackRef {
                    group: String::new(),
                    version: version.into(),
                    kind: ref_kind.into(),
                    field_specs: vec![spec(Some(key))],
                }],
                ..Config::default()
            });
        }
        if let Some(r) = prop["$ref"].as_str() {
            collect_refs(defs, r, kind, path, config, depth + 1);
        }
        path.pop();
    }
}

/// `openapi:`, as kustomize's `openapi.SetSchema` (the state is global to the build). The top
/// kustomization sets it; another kustomization (a base, a component) sets it only while none
/// is set (no custom schema, no `version`), before its own resources and patches, and it stays
/// for the rest of the build, overlays included. `path` names a schema file (JSON or YAML,
/// read as kustomize reads it even when it is then not used); `version` may only be
/// kustomize's built-in `v1.21.2` (or empty), and not together with `path`. Other keys are
/// ignored, as kustomize ignores them.
fn openapi(ctx: &mut Ctx, here: Dir<'_>, p: &Parsed, field: &BTreeMap<String, String>, top: bool) {
    for key in field.keys().filter(|k| *k != "path" && *k != "version") {
        ctx.diags.push(Diag::warning(
            p.span(&[Seg::Key("openapi"), Seg::Key(key)]),
            format!("openapi `{key}` is not a field kustomize reads: it is ignored"),
        ));
    }
    let mut schema = None;
    if let Some(path) = field.get("path") {
        let span = p.span(&[Seg::Key("openapi"), Seg::Key("path")]);
        match here.read_file(path, &span) {
            Ok((file, text)) => schema = Some((file, text, span)),
            Err(d) => return ctx.error(d),
        }
    }
    let is_set = !ctx.openapi_version.is_empty() || ctx.schemas.has_custom();
    if is_set && !top {
        return;
    }
    let version = field.get("version");
    if let Some((file, text, span)) = schema {
        if version.is_some() {
            return ctx.error(Diag::error(
                p.field("openapi"),
                "builtin version and custom schema provided, cannot use both",
            ));
        }
        match smp::OpenApi::parse(&text) {
            Ok(api) => {
                ctx.schemas.set_custom(api);
                ctx.openapi_version = "custom".into();
            }
            Err(e) => ctx.error(Diag::error(
                span,
                format!("invalid schema file {}: {e}", here.loader.display(&file)),
            )),
        }
        return;
    }
    let version = version.map(String::as_str).unwrap_or_default();
    if !version.is_empty() && version != BUILTIN_OPENAPI_VERSION {
        return ctx.error(
            Diag::error(
                p.span(&[Seg::Key("openapi"), Seg::Key("version")]),
                "the specified OpenAPI version is not built in",
            )
            .with_hint(format!(
                "kustomize {KUSTOMIZE_VERSION} has one built-in schema: {BUILTIN_OPENAPI_VERSION}"
            )),
        );
    }
    ctx.openapi_version = version.to_string();
}

/// The Kubernetes version of the schema kustomize has built in (`openapi: {version}`).
const BUILTIN_OPENAPI_VERSION: &str = "v1.21.2";

fn generators(ctx: &mut Ctx, loader: &Arc<dyn Loader>, dir: &str, p: &Parsed, acc: &mut Acc) {
    let here = Dir::new(loader.as_ref(), dir);
    let defaults = p.k.generator_options.as_ref();
    for (field, list, secret) in [
        ("configMapGenerator", &p.k.config_map_generator, false),
        ("secretGenerator", &p.k.secret_generator, true),
    ] {
        for (i, args) in list.iter().enumerate() {
            let span = p.item(field, i);
            match generator::generate(here, args, secret, defaults, &span) {
                Ok(mut r) => {
                    if ctx.origins {
                        let name = p.file.rsplit('/').next().unwrap_or_default();
                        let file = dir::join(dir, name).unwrap_or_default();
                        let kind = if secret {
                            "SecretGenerator"
                        } else {
                            "ConfigMapGenerator"
                        };
                        r.meta_map_mut("annotations").insert(
                            "config.kubernetes.io/origin".into(),
                            Value::String(format!(
                                "configuredIn: {}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}\n",
                                relative_to(&ctx.top, &file)
                            )),
                        );
                    }
                    generator::absorb(&mut acc.resources, r, &mut ctx.diags)
                }
                Err(ds) => ctx.diags.extend(ds),
            }
        }
    }
    // kustomize runs its builtin generators in this order: ConfigMaps, Secrets, Helm charts
    for (i, chart) in p.k.helm_charts.iter().enumerate() {
        let span = p.item("helmCharts", i);
        match crate::helmchart::inflate(here, chart, p.k.helm_globals.as_ref(), &span) {
            Ok(rs) => {
                for r in rs {
                    append(ctx, acc, r);
                }
            }
            Err(ds) => ctx.diags.extend(ds),
        }
    }
    for (i, entry) in p.k.generators.iter().enumerate() {
        let span = p.item("generators", i);
        for (config, cspan) in plugin_configs(ctx, loader, dir, entry, &span) {
            run_generator_plugin(ctx, here, &config, &cspan, acc);
        }
    }
}

fn transformers(ctx: &mut Ctx, loader: &Arc<dyn Loader>, dir: &str, p: &Parsed, acc: &mut Acc) {
    let here = Dir::new(loader.as_ref(), dir);
    let k = &p.k;
    let res = &mut acc.resources;
    let on = ctx.transformations;
    let file_name = p.file.rsplit('/').next().unwrap_or_default();
    let configured_in = relative_to(&ctx.top, &dir::join(dir, file_name).unwrap_or_default());
    let note = |res: &mut Vec<Resource>, kind: &str| record(on, res, &configured_in, kind);
    if !k.patches_strategic_merge.is_empty() {
        note(res, "PatchStrategicMergeTransformer");
    }
    for (i, entry) in k.patches_strategic_merge.iter().enumerate() {
        let span = p.item("patchesStrategicMerge", i);
        let content = if looks_inline(entry) {
            entry.clone()
        } else {
            match here.read_file(entry, &span) {
                Ok((_, text)) => text,
                Err(d) => {
                    ctx.error(d);
                    continue;
                }
            }
        };
        patch::strategic_merge_field(res, &mut ctx.schemas, &content, &span, &mut ctx.diags);
    }
    for (i, entry) in k.patches.iter().enumerate() {
        let span = p.item("patches", i);
        if let Some(content) = patch_content(ctx, here, entry, &span) {
            patch::patches(
                res,
                &mut ctx.schemas,
                entry,
                &content,
                &span,
                &mut ctx.diags,
            );
        }
        note(res, "PatchTransformer");
    }
    let mut failed = |field: &str, r: Result<(), String>| {
        if let Err(e) = r {
            ctx.diags.push(Diag::error(p.field(field), e));
        }
    };
    if !k.namespace.is_empty() {
        note(res, "NamespaceTransformer");
        failed(
            "namespace",
            transform::namespace(
                res,
                &k.namespace,
                &acc.config.name_space,
                false,
                transform::SubjectMode::DefaultOnly,
            ),
        );
    }
    if !k.name_prefix.is_empty() {
        note(res, "PrefixTransformer");
        failed(
            "namePrefix",
            transform::name_prefix(res, &k.name_prefix, &acc.config.name_prefix),
        );
    }
    if !k.name_suffix.is_empty() {
        note(res, "SuffixTransformer");
        failed(
            "nameSuffix",
            transform::name_suffix(res, &k.name_suffix, &acc.config.name_suffix),
        );
    }
    if !k.common_labels.is_empty() || !k.labels.is_empty() {
        // kustomize configures one LabelTransformer for commonLabels (even an empty one)
        // and one per `labels` entry.
        for _ in 0..=k.labels.len() {
            note(res, "LabelTransformer");
        }
    }
    if !k.common_labels.is_empty() {
        let specs = transform::common_label_specs(&acc.config);
        failed(
            "commonLabels",
            transform::labels(res, &k.common_labels, &specs),
        );
    }
    for (i, label) in k.labels.iter().enumerate() {
        match transform::label_specs(
            &acc.config,
            label.include_selectors,
            label.include_templates,
            &label.fields,
        ) {
            Ok(specs) => {
                if let Err(e) = transform::labels(res, &label.pairs, &specs) {
                    ctx.error(Diag::error(p.item("labels", i), e));
                }
            }
            Err(e) => ctx.error(Diag::error(p.item("labels", i), e)),
        }
    }
    if !k.common_annotations.is_empty() {
        note(res, "AnnotationsTransformer");
    }
    if !k.common_annotations.is_empty()
        && let Err(e) =
            transform::annotations(res, &k.common_annotations, &acc.config.common_annotations)
    {
        ctx.error(Diag::error(p.field("commonAnnotations"), e));
    }
    for (i, entry) in k.patches_json6902.iter().enumerate() {
        let span = p.item("patchesJson6902", i);
        let Some(target) = &entry.target else {
            ctx.error(Diag::error(
                span,
                "a patchesJson6902 entry needs a `target`",
            ));
            continue;
        };
        if let Some(content) = patch_content(ctx, here, entry, &span) {
            patch::json6902_field(res, target, &content, &span, &mut ctx.diags);
        }
        note(res, "PatchJson6902Transformer");
    }
    for _ in &k.replicas {
        note(res, "ReplicaCountTransformer");
    }
    if !k.replicas.is_empty() {
        transform::replicas(
            res,
            &k.replicas,
            &acc.config.replicas,
            &p.field("replicas"),
            &mut ctx.diags,
        );
    }
    for _ in &k.images {
        note(res, "ImageTagTransformer");
    }
    if !k.images.is_empty()
        && let Err(e) = transform::images(res, &k.images, &acc.config.images)
    {
        ctx.error(Diag::error(p.field("images"), e));
    }
    if !k.replacements.is_empty() {
        note(res, "ReplacementTransformer");
    }
    for (i, entry) in k.replacements.iter().enumerate() {
        let span = p.item("replacements", i);
        match entry {
            ReplacementField::Inline(r) => {
                replacement::apply(res, std::slice::from_ref(r), &span, &mut ctx.diags)
            }
            ReplacementField::Path { path } => match here.read_file(path, &span) {
                Ok((file, text)) => {
                    match replacement::parse_file(&text, &loader.display(&file).into()) {
                        Ok(list) => replacement::apply(res, &list, &span, &mut ctx.diags),
                        Err(ds) => ctx.diags.extend(ds),
                    }
                }
                Err(d) => ctx.error(d),
            },
        }
    }
    for (i, entry) in k.transformers.iter().enumerate() {
        let span = p.item("transformers", i);
        for (config, cspan) in plugin_configs(ctx, loader, dir, entry, &span) {
            run_transformer_plugin(ctx, here, &config, &cspan, acc);
        }
    }
}

const TRANSFORMATIONS: &str = "alpha.config.kubernetes.io/transformations";

/// Records that a builtin transformer configured in `configured_in` ran over every object.
fn record(on: bool, res: &mut [Resource], configured_in: &str, kind: &str) {
    if !on {
        return;
    }
    let entry = format!(
        "- configuredIn: {configured_in}\n  configuredBy:\n    apiVersion: builtin\n    kind: {kind}\n"
    );
    for r in res {
        let notes = r.meta_map_mut("annotations");
        let text = notes
            .get(TRANSFORMATIONS)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        notes.insert(TRANSFORMATIONS.into(), Value::String(text + &entry));
    }
}

/// kustomize treats a `patchesStrategicMerge` entry as an inline patch when it is not a path.
fn looks_inline(entry: &str) -> bool {
    entry.contains('\n') || entry.trim_start().starts_with('{') || entry.contains(": ")
}

fn patch_content(ctx: &mut Ctx, here: Dir<'_>, entry: &Patch, span: &Span) -> Option<String> {
    match (entry.path.is_empty(), entry.patch.is_empty()) {
        (false, false) => {
            ctx.error(Diag::error(
                span.clone(),
                "a patch has both `path` and `patch`: give one",
            ));
            None
        }
        (true, true) => {
            ctx.error(Diag::error(
                span.clone(),
                "a patch needs `path` (a file) or `patch` (inline)",
            ));
            None
        }
        (false, true) => match here.read_file(&entry.path, span) {
            Ok((_, text)) => Some(text),
            Err(d) => {
                ctx.error(d);
                None
            }
        },
        (true, false) => Some(entry.patch.clone()),
    }
}

/// The plugin configurations a `generators:` / `transformers:` entry names: a file (one or
/// more documents), a directory holding a kustomization (built, its objects are the
/// configurations), or inline YAML.
fn plugin_configs(
    ctx: &mut Ctx,
    loader: &Arc<dyn Loader>,
    dir: &str,
    entry: &str,
    span: &Span,
) -> Vec<(Value, Span)> {
    let here = Dir::new(loader.as_ref(), dir);
    if entry.contains('\n') || entry.contains(": ") {
        return match parse_resources(&span.file, entry) {
            Ok(list) => list.into_iter().map(|r| (r.value, span.clone())).collect(),
            Err(ds) => {
                ctx.diags.extend(ds);
                Vec::new()
            }
        };
    }
    let Ok(path) = here.resolve(entry, span).map_err(|d| ctx.error(d)) else {
        return Vec::new();
    };
    match loader.entry(&path) {
        Ok(Some(Entry::Dir)) => {
            let Some(sp) = read_kustomization(ctx, loader, &path, span) else {
                return Vec::new();
            };
            let mut sub = Acc {
                config: default_config(),
                ..Acc::default()
            };
            let depth = ctx.stack.len();
            kustomize(ctx, loader, &path, &sp, &mut sub, depth + 1);
            sub.resources
                .into_iter()
                .map(|r| (r.value, r.origin))
                .collect()
        }
        Ok(_) => match here.read_file(entry, span) {
            Ok((file, text)) => match parse_resources(&loader.display(&file).into(), &text) {
                Ok(list) => list.into_iter().map(|r| (r.value, r.origin)).collect(),
                Err(ds) => {
                    ctx.diags.extend(ds);
                    Vec::new()
                }
            },
            Err(d) => {
                ctx.error(d);
                Vec::new()
            }
        },
        Err(d) => {
            ctx.error(d);
            Vec::new()
        }
    }
}

fn not_builtin(ctx: &mut Ctx, config: &Value, span: &Span) -> bool {
    let api = config["apiVersion"].as_str().unwrap_or_default();
    if api == "builtin" || api.is_empty() {
        return false;
    }
    ctx.error(
        Diag::error(
            span.clone(),
            format!(
                "plugin {} {} is not a builtin plugin: gitfleet runs builtin plugins only",
                api,
                config["kind"].as_str().unwrap_or_default()
            ),
        )
        .with_hint(
            "exec and KRM-function plugins run programs from the repository; gitfleet never does",
        ),
    );
    true
}

fn from_config<T: for<'de> Deserialize<'de>>(
    ctx: &mut Ctx,
    config: &Value,
    span: &Span,
) -> Option<T> {
    let mut body = config.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("apiVersion");
        map.remove("kind");
    }
    match serde_json::from_value(body) {
        Ok(t) => Some(t),
        Err(e) => {
            ctx.error(Diag::error(
                span.clone(),
                format!(
                    "plugin {}: {e}",
                    config["kind"].as_str().unwrap_or_default()
                ),
            ));
            None
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PluginMeta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(flatten)]
    _rest: BTreeMap<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct GeneratorPlugin {
    metadata: PluginMeta,
    #[serde(default)]
    behavior: String,
    #[serde(default)]
    files: Vec<String>,
    #[serde(default)]
    literals: Vec<String>,
    #[serde(default)]
    envs: Vec<String>,
    #[serde(default)]
    env: String,
    #[serde(default, rename = "type")]
    kind: String,
    #[serde(default)]
    options: Option<GeneratorOptions>,
}

fn run_generator_plugin(ctx: &mut Ctx, here: Dir<'_>, config: &Value, span: &Span, acc: &mut Acc) {
    if not_builtin(ctx, config, span) {
        return;
    }
    let kind = config["kind"].as_str().unwrap_or_default();
    let secret = match kind {
        "ConfigMapGenerator" => false,
        "SecretGenerator" => true,
        "HelmChartInflationGenerator" => {
            return ctx.error(Diag::error(
                span.clone(),
                "HelmChartInflationGenerator is not supported by this build of gitfleet",
            ));
        }
        other => {
            return ctx.error(Diag::error(
                span.clone(),
                format!("{other} is not a builtin generator: expected ConfigMapGenerator or SecretGenerator"),
            ));
        }
    };
    let Some(g) = from_config::<GeneratorPlugin>(ctx, config, span) else {
        return;
    };
    let args = GeneratorArgs {
        name: g.metadata.name,
        namespace: g.metadata.namespace,
        behavior: g.behavior,
        files: g.files,
        literals: g.literals,
        envs: g.envs,
        env: g.env,
        kind: g.kind,
        options: g.options,
    };
    match generator::generate(here, &args, secret, None, span) {
        Ok(r) => generator::absorb(&mut acc.resources, r, &mut ctx.diags),
        Err(ds) => ctx.diags.extend(ds),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PrefixSuffixPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    prefix: String,
    #[serde(default)]
    suffix: String,
    #[serde(default)]
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct MapPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    #[serde(default)]
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct NamespacePlugin {
    metadata: PluginMeta,
    #[serde(default)]
    field_specs: Option<Vec<FieldSpec>>,
    #[serde(default)]
    unset_only: bool,
    #[serde(default)]
    set_role_binding_subjects: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ImagePlugin {
    #[serde(default)]
    metadata: Option<Value>,
    image_tag: Image,
    #[serde(default)]
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplicaPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    replica: Replica,
    #[serde(default)]
    field_specs: Option<Vec<FieldSpec>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct PatchPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    path: String,
    #[serde(default)]
    patch: String,
    #[serde(default)]
    target: Option<Selector>,
    #[serde(default)]
    options: PatchOptions,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct SmpPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    paths: Vec<String>,
    #[serde(default)]
    patches: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct JsonPatchPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    target: Selector,
    #[serde(default)]
    path: String,
    #[serde(default)]
    json_op: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ReplacementPlugin {
    #[serde(default)]
    metadata: Option<Value>,
    #[serde(default)]
    replacements: Vec<ReplacementField>,
}

fn run_transformer_plugin(
    ctx: &mut Ctx,
    here: Dir<'_>,
    config: &Value,
    span: &Span,
    acc: &mut Acc,
) {
    if not_builtin(ctx, config, span) {
        return;
    }
    let kind = config["kind"].as_str().unwrap_or_default().to_string();
    match kind.as_str() {
        "PrefixSuffixTransformer" | "PrefixTransformer" | "SuffixTransformer" => {
            let Some(t) = from_config::<PrefixSuffixPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let specs = t.field_specs.unwrap_or_else(|| acc.config.name_prefix.clone());
            let r = match kind.as_str() {
                "PrefixTransformer" => transform::name_prefix(&mut acc.resources, &t.prefix, &specs),
                "SuffixTransformer" => transform::name_suffix(&mut acc.resources, &t.suffix, &specs),
                _ => transform::prefix_suffix(&mut acc.resources, &t.prefix, &t.suffix, &specs),
            };
            if let Err(e) = r {
                ctx.error(Diag::error(span.clone(), e));
            }
        }
        "LabelTransformer" => {
            let Some(t) = from_config::<MapPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let specs = t
                .field_specs
                .unwrap_or_else(|| transform::common_label_specs(&acc.config));
            if let Err(e) = transform::labels(&mut acc.resources, &t.labels, &specs) {
                ctx.error(Diag::error(span.clone(), e));
            }
        }
        "AnnotationsTransformer" => {
            let Some(t) = from_config::<MapPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let specs = t
                .field_specs
                .unwrap_or_else(|| acc.config.common_annotations.clone());
            if let Err(e) = transform::annotations(&mut acc.resources, &t.annotations, &specs) {
                ctx.error(Diag::error(span.clone(), e));
            }
        }
        "NamespaceTransformer" => {
            let Some(t) = from_config::<NamespacePlugin>(ctx, config, span) else {
                return;
            };
            let mode = match t.set_role_binding_subjects.as_str() {
                "" | "defaultOnly" => transform::SubjectMode::DefaultOnly,
                "allServiceAccounts" => transform::SubjectMode::AllServiceAccounts,
                "none" => transform::SubjectMode::None,
                other => {
                    return ctx.error(Diag::error(
                        span.clone(),
                        format!("setRoleBindingSubjects `{other}`: expected defaultOnly, allServiceAccounts or none"),
                    ));
                }
            };
            let _ = t.metadata.name;
            let specs = t.field_specs.unwrap_or_else(|| acc.config.name_space.clone());
            if let Err(e) = transform::namespace(
                &mut acc.resources,
                &t.metadata.namespace,
                &specs,
                t.unset_only,
                mode,
            ) {
                ctx.error(Diag::error(span.clone(), e));
            }
        }
        "ImageTagTransformer" => {
            let Some(t) = from_config::<ImagePlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let specs = t.field_specs.unwrap_or_else(|| acc.config.images.clone());
            if let Err(e) =
                transform::images(&mut acc.resources, std::slice::from_ref(&t.image_tag), &specs)
            {
                ctx.error(Diag::error(span.clone(), e));
            }
        }
        "ReplicaCountTransformer" => {
            let Some(t) = from_config::<ReplicaPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let specs = t.field_specs.unwrap_or_else(|| acc.config.replicas.clone());
            transform::replicas(
                &mut acc.resources,
                std::slice::from_ref(&t.replica),
                &specs,
                span,
                &mut ctx.diags,
            );
        }
        "PatchTransformer" => {
            let Some(t) = from_config::<PatchPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let entry = Patch {
                path: t.path,
                patch: t.patch,
                target: t.target,
                options: t.options,
            };
            if let Some(content) = patch_content(ctx, here, &entry, span) {
                patch::patches(
                    &mut acc.resources,
                    &mut ctx.schemas,
                    &entry,
                    &content,
                    span,
                    &mut ctx.diags,
                );
            }
        }
        "PatchStrategicMergeTransformer" => {
            let Some(t) = from_config::<SmpPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            for path in &t.paths {
                match here.read_file(path, span) {
                    Ok((_, text)) => {
                        patch::strategic_merge_field(
                            &mut acc.resources,
                            &mut ctx.schemas,
                            &text,
                            span,
                            &mut ctx.diags,
                        )
                    }
                    Err(d) => ctx.error(d),
                }
            }
            if !t.patches.is_empty() {
                patch::strategic_merge_field(
                    &mut acc.resources,
                    &mut ctx.schemas,
                    &t.patches,
                    span,
                    &mut ctx.diags,
                );
            }
        }
        "PatchJson6902Transformer" => {
            let Some(t) = from_config::<JsonPatchPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            let entry = Patch {
                path: t.path,
                patch: t.json_op,
                target: None,
                options: PatchOptions::default(),
            };
            if let Some(content) = patch_content(ctx, here, &entry, span) {
                patch::json6902_field(&mut acc.resources, &t.target, &content, span, &mut ctx.diags);
            }
        }
        "ReplacementTransformer" => {
            let Some(t) = from_config::<ReplacementPlugin>(ctx, config, span) else {
                return;
            };
            let _ = t.metadata;
            for entry in &t.replacements {
                match entry {
                    ReplacementField::Inline(r) => replacement::apply(
                        &mut acc.resources,
                        std::slice::from_ref(r),
                        span,
                        &mut ctx.diags,
                    ),
                    ReplacementField::Path { path } => match here.read_file(path, span) {
                        Ok((file, text)) => {
                            match replacement::parse_file(&text, &here.loader.display(&file).into()) {
                                Ok(list) => {
                                    replacement::apply(&mut acc.resources, &list, span, &mut ctx.diags)
                                }
                                Err(ds) => ctx.diags.extend(ds),
                            }
                        }
                        Err(d) => ctx.error(d),
                    },
                }
            }
        }
        other => ctx.error(Diag::error(
            span.clone(),
            format!("{other} is not a builtin transformer gitfleet runs"),
        ).with_hint("builtin transformers: PrefixSuffixTransformer, LabelTransformer, AnnotationsTransformer, NamespaceTransformer, ImageTagTransformer, ReplicaCountTransformer, PatchTransformer, PatchStrategicMergeTransformer, PatchJson6902Transformer, ReplacementTransformer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_bases_parse_as_kustomize_names_them() {
        let r = parse_remote("https://github.com/org/repo//deploy/base?ref=v1.2.0").unwrap();
        assert_eq!(r.repo, "https://github.com/org/repo");
        assert_eq!(r.path, "deploy/base");
        assert_eq!(r.reference.as_deref(), Some("v1.2.0"));
        let r = parse_remote("git@github.com:org/repo.git//path?ref=main").unwrap();
        assert_eq!(r.repo, "git@github.com:org/repo.git");
        assert_eq!(r.path, "path");
        let r = parse_remote("github.com/org/repo/sub/dir?ref=x").unwrap();
        assert_eq!(r.repo, "https://github.com/org/repo");
        assert_eq!(r.path, "sub/dir");
        let r = parse_remote("git::https://host/org/repo.git/dir?version=1").unwrap();
        assert_eq!(r.repo, "https://host/org/repo.git");
        assert_eq!(r.path, "dir");
        assert_eq!(r.reference.as_deref(), Some("1"));
        assert!(parse_remote("../base").is_none());
        assert!(parse_remote("deployment.yaml").is_none());
    }

    #[test]
    fn relative_paths_from_the_top() {
        assert_eq!(
            relative_to("overlays/prod", "base/d.yaml"),
            "../../base/d.yaml"
        );
        assert_eq!(relative_to("", "base/d.yaml"), "base/d.yaml");
    }
}
