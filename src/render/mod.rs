//! Rendering: one minijinja environment (strict undefined, built-in templates embedded in the
//! binary, a fleet's own `templates/` overriding by relative path) turns a resolved cluster into
//! typed provider requests and reconciler manifests. Pure: overrides are passed in as text.

pub mod aks;
pub mod bounded;
pub mod eks;
pub mod kind;
pub mod manifest;
pub mod tags;

use std::collections::BTreeMap;
use std::sync::Arc;

use include_dir::{Dir, include_dir};
use minijinja::value::Serde;
use minijinja::{Environment, UndefinedBehavior, context};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::diagnostic::{Diagnostic, Diagnostics, Span};
use crate::fleet::types::{Fleet, ProviderKind};
use crate::fleet::{FileSource, LoadedFleet, ResolvedCluster};
use manifest::Manifest;

static BUILTIN: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// Directory of template overrides in a fleet repository.
pub const OVERRIDE_DIR: &str = "templates";

/// Labels and tags gitfleet puts on everything it creates, so it never touches what it does not own.
pub const OWNER_KEY: &str = "gitfleet.io/managed-by";
pub const FLEET_KEY: &str = "gitfleet.io/fleet";
pub const CLUSTER_KEY: &str = "gitfleet.io/cluster";

pub mod names {
    pub const EKS_CLUSTER: &str = "eks/cluster.yaml.j2";
    pub const EKS_NODEGROUP: &str = "eks/nodegroup.yaml.j2";
    pub const EKS_ADDON: &str = "eks/addon.yaml.j2";
    pub const AKS_RESOURCE_GROUP: &str = "aks/resource-group.yaml.j2";
    pub const AKS_CLUSTER: &str = "aks/managed-cluster.yaml.j2";
    pub const AKS_AGENT_POOL: &str = "aks/agent-pool.yaml.j2";
    pub const KIND_CLUSTER: &str = "kind/cluster.yaml.j2";
    pub const RECONCILER_CRDS: &str = "reconciler/crds.yaml.j2";
    pub const RECONCILER_INSTALL: &str = "reconciler/install.yaml.j2";
    pub const RECONCILER_SEED: &str = "reconciler/seed.yaml.j2";
}

/// The built-in template names and sources.
pub fn builtin_templates() -> impl Iterator<Item = (String, &'static str)> {
    fn walk(dir: &'static Dir<'static>, out: &mut Vec<(String, &'static str)>) {
        for f in dir.files() {
            if let Some(text) = f.contents_utf8() {
                out.push((f.path().to_string_lossy().replace('\\', "/"), text));
            }
        }
        for d in dir.dirs() {
            walk(d, out);
        }
    }
    let mut out = Vec::new();
    walk(&BUILTIN, &mut out);
    out.sort();
    out.into_iter()
}

/// Reads a fleet's template overrides (`templates/**/*.j2`) from its source; every file that
/// cannot be read is reported.
pub fn read_overrides(
    source: &dyn FileSource,
) -> Result<BTreeMap<String, String>, Vec<Diagnostic>> {
    let mut out = BTreeMap::new();
    let listing = source.glob(&format!("{OVERRIDE_DIR}/**/*.j2"));
    let mut errors: Vec<Diagnostic> = listing.errors.iter().map(|e| e.to_diagnostic()).collect();
    for path in listing.files {
        match source.read(&path) {
            Ok(Some(text)) => {
                let name = path
                    .trim_start_matches(&format!("{OVERRIDE_DIR}/"))
                    .to_string();
                out.insert(name, text);
            }
            Ok(None) => {}
            Err(e) => errors.push(e.to_diagnostic()),
        }
    }
    if errors.is_empty() {
        Ok(out)
    } else {
        Err(errors)
    }
}

/// The provider requests for one cluster, as the provider will send them.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase", tag = "provider")]
pub enum ProviderRequests {
    Eks {
        /// The definition's region; `None`: the AWS environment's, found when connecting.
        #[serde(skip_serializing_if = "Option::is_none")]
        region: Option<String>,
        create_cluster: eks::CreateCluster,
        nodegroups: Vec<eks::CreateNodegroup>,
        addons: Vec<eks::CreateAddon>,
    },
    Aks {
        subscription_id: Option<String>,
        resource_group_name: String,
        /// Present when the definition asks gitfleet to create the resource group.
        resource_group: Option<aks::ResourceGroup>,
        cluster_name: String,
        managed_cluster: aks::ManagedCluster,
        /// Pools beyond the system pool, created with separate agent pool PUTs.
        agent_pools: Vec<(String, aks::AgentPool)>,
    },
    Kind {
        config: kind::KindCluster,
    },
    Existing {
        kubeconfig: Option<String>,
        context: Option<String>,
    },
}

impl ProviderRequests {
    /// Adds to every tagged request the record of the tag keys gitfleet manages there, and to
    /// node pools the records of their label and taint keys ([`tags`]), so that a key that later
    /// leaves the definition can be removed, and only such.
    fn add_tag_records(&mut self) {
        match self {
            ProviderRequests::Eks {
                create_cluster,
                nodegroups,
                addons,
                ..
            } => {
                tags::add_record(&mut create_cluster.tags);
                for ng in nodegroups {
                    tags::add_record(&mut ng.tags);
                    let taint_keys: Vec<String> = ng.taints.iter().map(|t| t.key.clone()).collect();
                    tags::add_pool_records(&mut ng.tags, &ng.labels, &taint_keys);
                }
                for a in addons {
                    tags::add_record(&mut a.tags);
                }
            }
            ProviderRequests::Aks {
                managed_cluster,
                agent_pools,
                ..
            } => {
                tags::add_record(&mut managed_cluster.tags);
                for p in &mut managed_cluster.properties.agent_pool_profiles {
                    tags::add_record(&mut p.tags);
                    tags::add_pool_records(&mut p.tags, &p.node_labels, &p.node_taints);
                }
                for (_, p) in agent_pools {
                    let p = &mut p.properties;
                    tags::add_record(&mut p.tags);
                    tags::add_pool_records(&mut p.tags, &p.node_labels, &p.node_taints);
                }
            }
            ProviderRequests::Kind { .. } | ProviderRequests::Existing { .. } => {}
        }
    }
}

/// Everything rendered for one cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedCluster {
    pub name: String,
    pub provider: ProviderKind,
    pub requests: ProviderRequests,
    /// The reconciler: CRDs first, then namespace, RBAC, Deployment, Service.
    pub install: Vec<Manifest>,
    /// What seeds the reconciler: GitSource, Sync and the cluster facts ConfigMap.
    pub seed: Vec<Manifest>,
}

/// One rendered file: its path and how to write its text.
type FileEntry<'a> = (String, Box<dyn Fn(&mut YamlCache) -> String + 'a>);

impl RenderedCluster {
    /// The rendered files, as `render --out` writes them: `(relative path, YAML)`.
    pub fn files(&self) -> Vec<(String, String)> {
        self.files_with(&mut YamlCache::default())
    }

    /// [`Self::files`], serialising each manifest shared with clusters rendered before through
    /// `cache` only once (the reconciler's objects are the same text for most clusters of a
    /// fleet: without it, a 10,000-cluster fleet serialises its CRDs 10,000 times).
    pub fn files_with(&self, cache: &mut YamlCache) -> Vec<(String, String)> {
        self.entries()
            .into_iter()
            .map(|(path, text)| (path, text(cache)))
            .collect()
    }

    /// The relative paths of [`Self::files`], without serialising anything.
    pub fn paths(&self) -> Vec<String> {
        self.entries().into_iter().map(|(path, _)| path).collect()
    }

    fn entries(&self) -> Vec<FileEntry<'_>> {
        fn yaml<'a, T: Serialize>(v: &'a T) -> Box<dyn Fn(&mut YamlCache) -> String + 'a> {
            Box::new(move |_| to_yaml(v))
        }
        let mut out: Vec<FileEntry<'_>> = Vec::new();
        let c = &self.name;
        match &self.requests {
            ProviderRequests::Eks {
                create_cluster,
                nodegroups,
                addons,
                ..
            } => {
                out.push((format!("{c}/eks/create-cluster.yaml"), yaml(create_cluster)));
                for ng in nodegroups {
                    out.push((
                        format!("{c}/eks/nodegroup-{}.yaml", ng.nodegroup_name),
                        yaml(ng),
                    ));
                }
                for addon in addons {
                    out.push((
                        format!("{c}/eks/addon-{}.yaml", addon.addon_name),
                        yaml(addon),
                    ));
                }
            }
            ProviderRequests::Aks {
                resource_group,
                managed_cluster,
                agent_pools,
                ..
            } => {
                // as ARM receives them (its spelling of gitfleet's tag names)
                fn sent<'a, T: Serialize>(v: &'a T) -> Box<dyn Fn(&mut YamlCache) -> String + 'a> {
                    Box::new(move |_| to_yaml(&aks::as_sent(v)))
                }
                if let Some(rg) = resource_group {
                    out.push((format!("{c}/aks/resource-group.yaml"), sent(rg)));
                }
                out.push((
                    format!("{c}/aks/managed-cluster.yaml"),
                    sent(managed_cluster),
                ));
                for (name, pool) in agent_pools {
                    out.push((format!("{c}/aks/agent-pool-{name}.yaml"), sent(pool)));
                }
            }
            ProviderRequests::Kind { config } => {
                out.push((format!("{c}/kind/cluster.yaml"), yaml(config)));
            }
            ProviderRequests::Existing { .. } => {}
        }
        out.push((
            format!("{c}/reconciler/install.yaml"),
            Box::new(|cache: &mut YamlCache| cache.stream(&self.install)),
        ));
        out.push((
            format!("{c}/reconciler/seed.yaml"),
            Box::new(|cache: &mut YamlCache| cache.stream(&self.seed)),
        ));
        out
    }
}

/// The YAML of manifests by their shared body (see [`Manifest::body`]), each kept with the
/// manifest it was made from, so a hit is the same object, not merely the same address.
#[derive(Default)]
pub struct YamlCache {
    by_body: std::collections::HashMap<usize, (Manifest, Arc<str>)>,
}

impl YamlCache {
    /// Manifests remembered: the reconciler's handful of objects, with room to spare.
    const MAX: usize = 256;

    /// `items` as one YAML stream.
    fn stream(&mut self, items: &[Manifest]) -> String {
        items
            .iter()
            .map(|m| self.yaml(m))
            .collect::<Vec<_>>()
            .join("---\n")
    }

    fn yaml(&mut self, m: &Manifest) -> Arc<str> {
        let key = Arc::as_ptr(&m.body) as usize;
        if let Some((kept, text)) = self.by_body.get(&key)
            && Arc::ptr_eq(&kept.body, &m.body)
            && kept == m
        {
            return text.clone();
        }
        let text: Arc<str> = to_yaml(m).into();
        if self.by_body.len() < Self::MAX {
            self.by_body.insert(key, (m.clone(), text.clone()));
        }
        text
    }
}

fn to_yaml<T: Serialize>(v: &T) -> String {
    serde_yaml::to_string(v).expect("rendered requests serialise")
}

/// The value of `r`, or `None` with its error recorded.
fn keep<T>(errors: &mut Vec<Diagnostic>, r: Result<T, Diagnostic>) -> Option<T> {
    match r {
        Ok(v) => Some(v),
        Err(e) => {
            errors.push(e);
            None
        }
    }
}

/// The template environment, built once and used for every cluster.
pub struct Renderer {
    env: Environment<'static>,
    /// Parsed manifests by rendered text: the reconciler's templates render the same text for
    /// most clusters, and parsing it once keeps a large fleet fast and its memory shared.
    parsed: std::sync::Mutex<std::collections::HashMap<String, Vec<Manifest>>>,
    /// Names overridden by the fleet (for error messages).
    overridden: Arc<Vec<String>>,
}

impl Renderer {
    /// Built-in templates, overridden by `overrides` (relative name → source).
    pub fn new(overrides: BTreeMap<String, String>) -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .keep_trailing_newline(true)
                .build()
                .expect("the default delimiters are valid"),
        );
        env.set_debug(true);
        bounded::limit(&mut env);
        env.add_filter(
            "to_yaml_taint",
            |t: minijinja::Value| -> Result<String, minijinja::Error> {
                let key = t.get_attr("key")?;
                let value = t.get_attr("value")?;
                let effect = t.get_attr("effect")?;
                Ok(if value.is_none() || value.is_undefined() {
                    format!("{key}:{effect}")
                } else {
                    format!("{key}={value}:{effect}")
                })
            },
        );
        env.add_filter("screaming_snake", |s: String| -> String {
            let mut out = String::new();
            for (i, c) in s.chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        });
        let overridden = Arc::new(overrides.keys().cloned().collect::<Vec<_>>());
        let overrides = Arc::new(overrides);
        env.set_loader(move |name| {
            if let Some(text) = overrides.get(name) {
                return Ok(Some(text.clone()));
            }
            Ok(BUILTIN
                .get_file(name)
                .and_then(|f| f.contents_utf8())
                .map(str::to_string))
        });
        Self {
            env,
            parsed: Default::default(),
            overridden,
        }
    }

    fn template_file(&self, name: &str) -> Arc<str> {
        if self.overridden.iter().any(|n| n == name) {
            Arc::from(format!("{OVERRIDE_DIR}/{name}"))
        } else {
            Arc::from(format!("<built-in>/{name}"))
        }
    }

    fn render_text(&self, name: &str, ctx: &minijinja::Value) -> Result<String, Diagnostic> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| self.template_error(name, &e))?;
        bounded::render(&tmpl, ctx.clone()).map_err(|e| match e {
            bounded::RenderError::Template(e) => self.template_error(name, &e),
            bounded::RenderError::OutputTooLarge { limit } => Diagnostic::error(
                Span::new(self.template_file(name), 1, 1),
                format!("template output is larger than {limit} bytes, the limit for one template"),
            ),
        })
    }

    fn template_error(&self, name: &str, e: &minijinja::Error) -> Diagnostic {
        let file = e
            .name()
            .map(|n| self.template_file(n))
            .unwrap_or_else(|| self.template_file(name));
        let line = e.line().unwrap_or(1) as u32;
        let column = bounded::column(e);
        let message = bounded::message(e);
        Diagnostic::error(Span::new(file, line, column), message).with_hint(
            "the template context has `cluster`, `fleet`, `values`, `owner_tags` (and `pool` in pool templates)",
        )
    }

    /// Renders a template and reads its output as `T` (unknown field = error).
    fn render_typed<T: DeserializeOwned>(
        &self,
        name: &str,
        ctx: &minijinja::Value,
        what: &str,
    ) -> Result<T, Diagnostic> {
        let text = self.render_text(name, ctx)?;
        self.check_output(name, &text)?;
        serde_yaml::from_str(&text).map_err(|e| self.output_error(name, what, &text, &e))
    }

    /// Template output with YAML aliases is checked against the absolute limits before
    /// serde_yaml (whose bound is relative to the input) reads it.
    fn check_output(&self, name: &str, text: &str) -> Result<(), Diagnostic> {
        if !text.contains('&') {
            return Ok(());
        }
        crate::fleet::yaml::check_limits(&self.template_file(name), text).map_err(|mut d| {
            d.message = format!(
                "template output: {} (at rendered line {})",
                d.message, d.span.line
            );
            d.span = Span::new(self.template_file(name), 1, 1);
            d
        })
    }

    fn render_manifests(
        &self,
        name: &str,
        ctx: &minijinja::Value,
    ) -> Result<Vec<Manifest>, Diagnostic> {
        /// Distinct texts remembered (a fleet whose every cluster renders differently gains
        /// nothing from more).
        const MEMO: usize = 64;
        let text = self.render_text(name, ctx)?;
        if let Some(hit) = self.parsed.lock().ok().and_then(|m| m.get(&text).cloned()) {
            return Ok(hit);
        }
        self.check_output(name, &text)?;
        let mut out = Vec::new();
        // Read with the one YAML reader manifests go through everywhere (the agent reads these
        // same manifests back from Git), so both send identical values.
        for (i, (start, doc)) in kustomize::yaml::documents(&text).into_iter().enumerate() {
            let value = kustomize::yaml::load(&doc).map_err(|(line, _, message)| {
                let line = start + line.max(1) - 1;
                self.text_error(
                    name,
                    &format!("YAML document {}", i + 1),
                    &text,
                    line,
                    &message,
                )
            })?;
            if value.is_null() {
                continue;
            }
            let m: Manifest = serde_json::from_value(value).map_err(|e| {
                self.text_error(
                    name,
                    &format!("Kubernetes object (document {})", i + 1),
                    &text,
                    start,
                    &e.to_string(),
                )
            })?;
            out.push(m);
        }
        if let Ok(mut memo) = self.parsed.lock()
            && memo.len() < MEMO
        {
            memo.insert(text, out.clone());
        }
        Ok(out)
    }

    /// As [`Self::output_error`], for an error given as text and a rendered line.
    fn text_error(&self, name: &str, what: &str, text: &str, line: usize, e: &str) -> Diagnostic {
        let mut d = Diagnostic::error(
            Span::new(self.template_file(name), 1, 1),
            format!("template output is not a valid {what}: {e}"),
        );
        if let Some(l) = text.lines().nth(line.saturating_sub(1)) {
            d = d.with_hint(format!("rendered line {line}: {}", l.trim_end()));
        }
        d
    }

    fn output_error(
        &self,
        name: &str,
        what: &str,
        text: &str,
        e: &serde_yaml::Error,
    ) -> Diagnostic {
        let mut d = Diagnostic::error(
            Span::new(self.template_file(name), 1, 1),
            format!("template output is not a valid {what}: {e}"),
        );
        if let Some(loc) = e.location()
            && let Some(line) = text.lines().nth(loc.line().saturating_sub(1))
        {
            d = d.with_hint(format!("rendered line {}: {}", loc.line(), line.trim_end()));
        }
        d
    }

    /// Renders every cluster; all problems are collected.
    pub fn render_fleet<'a>(
        &self,
        fleet: &LoadedFleet,
        clusters: impl IntoIterator<Item = &'a ResolvedCluster>,
    ) -> Result<Vec<RenderedCluster>, Diagnostics> {
        let mut out = Vec::new();
        let mut errors = Vec::new();
        for c in clusters {
            match self.render_cluster(&fleet.fleet, c) {
                Ok(r) => out.push(r),
                Err(mut e) => errors.append(&mut e),
            }
        }
        if errors.is_empty() {
            Ok(out)
        } else {
            Err(Diagnostics(Diagnostics::normalized(errors)))
        }
    }

    pub fn render_cluster(
        &self,
        fleet: &Fleet,
        c: &ResolvedCluster,
    ) -> Result<RenderedCluster, Vec<Diagnostic>> {
        let owner_tags: BTreeMap<&str, &str> = [
            (OWNER_KEY, "gitfleet"),
            (FLEET_KEY, fleet.metadata.name.as_str()),
            (CLUSTER_KEY, c.name.as_str()),
        ]
        .into();
        let base = context! {
            cluster => Serde(c),
            fleet => Serde(fleet),
            values => Serde(&c.spec.values),
            owner_tags => Serde(&owner_tags),
            gitfleet => context! { version => env!("CARGO_PKG_VERSION") },
        };
        let mut errors = Vec::new();
        let mut requests = self.render_requests(c, &base, &mut errors);
        if let Some(r) = requests.as_mut() {
            r.add_tag_records();
        }
        let mut manifests = |name: &str| match self.render_manifests(name, &base) {
            Ok(m) => m,
            Err(e) => {
                errors.push(e);
                Vec::new()
            }
        };
        let mut install = manifests(names::RECONCILER_CRDS);
        install.extend(manifests(names::RECONCILER_INSTALL));
        let seed = manifests(names::RECONCILER_SEED);
        match requests {
            Some(requests) if errors.is_empty() => Ok(RenderedCluster {
                name: c.name.clone(),
                provider: c.provider,
                requests,
                install,
                seed,
            }),
            _ => Err(errors),
        }
    }

    fn render_requests(
        &self,
        c: &ResolvedCluster,
        base: &minijinja::Value,
        errors: &mut Vec<Diagnostic>,
    ) -> Option<ProviderRequests> {
        let with_pool = |pool: &crate::fleet::types::NodePool, index: usize| {
            context! { pool => Serde(pool), pool_index => index, ..base.clone() }
        };
        match c.provider {
            ProviderKind::Eks => {
                let spec = c.spec.eks.as_ref().expect("eks cluster has an eks block");
                let create_cluster = keep(
                    errors,
                    self.render_typed(names::EKS_CLUSTER, base, "EKS CreateCluster request"),
                );
                let nodegroups: Vec<Option<eks::CreateNodegroup>> = c
                    .spec
                    .node_pools
                    .iter()
                    .enumerate()
                    .map(|(i, p)| {
                        keep(
                            errors,
                            self.render_typed(
                                names::EKS_NODEGROUP,
                                &with_pool(p, i),
                                "EKS CreateNodegroup request",
                            ),
                        )
                    })
                    .collect();
                let addons: Vec<Option<eks::CreateAddon>> = spec
                    .addons
                    .iter()
                    .map(|a| {
                        let ctx = context! { addon => Serde(a), ..base.clone() };
                        keep(
                            errors,
                            self.render_typed(names::EKS_ADDON, &ctx, "EKS CreateAddon request"),
                        )
                    })
                    .collect();
                Some(ProviderRequests::Eks {
                    region: spec.region.clone(),
                    create_cluster: create_cluster?,
                    nodegroups: nodegroups.into_iter().collect::<Option<_>>()?,
                    addons: addons.into_iter().collect::<Option<_>>()?,
                })
            }
            ProviderKind::Aks => {
                let spec = c.spec.aks.as_ref().expect("aks cluster has an aks block");
                let resource_group = if spec.create_resource_group {
                    Some(keep(
                        errors,
                        self.render_typed(names::AKS_RESOURCE_GROUP, base, "ARM resource group"),
                    )?)
                } else {
                    None
                };
                let managed_cluster: Option<aks::ManagedCluster> = keep(
                    errors,
                    self.render_typed(names::AKS_CLUSTER, base, "AKS ManagedCluster"),
                );
                if let Some(mc) = &managed_cluster
                    && mc
                        .properties
                        .agent_pool_profiles
                        .iter()
                        .any(|p| p.name.is_none())
                {
                    errors.push(Diagnostic::error(
                        Span::new(self.template_file(names::AKS_CLUSTER), 1, 1),
                        "template output is not a valid AKS ManagedCluster: every agentPoolProfiles entry needs a `name`",
                    ));
                    return None;
                }
                let pools: Vec<Option<(String, aks::AgentPool)>> = c
                    .spec
                    .node_pools
                    .iter()
                    .enumerate()
                    .skip(1)
                    .map(|(i, p)| {
                        keep(
                            errors,
                            self.render_typed(
                                names::AKS_AGENT_POOL,
                                &with_pool(p, i),
                                "AKS AgentPool",
                            ),
                        )
                        .map(|body| (p.name.clone(), body))
                    })
                    .collect();
                Some(ProviderRequests::Aks {
                    subscription_id: spec.subscription_id.clone(),
                    resource_group_name: spec.resource_group.clone(),
                    resource_group,
                    cluster_name: c.name.clone(),
                    managed_cluster: managed_cluster?,
                    agent_pools: pools.into_iter().collect::<Option<_>>()?,
                })
            }
            ProviderKind::Kind => Some(ProviderRequests::Kind {
                config: keep(
                    errors,
                    self.render_typed(names::KIND_CLUSTER, base, "kind cluster config"),
                )?,
            }),
            ProviderKind::Existing => {
                let spec = c
                    .spec
                    .existing
                    .as_ref()
                    .expect("existing cluster has an existing block");
                Some(ProviderRequests::Existing {
                    kubeconfig: spec.kubeconfig.clone(),
                    context: spec.context.clone(),
                })
            }
        }
    }
}
