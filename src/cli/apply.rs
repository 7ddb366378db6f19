//! `gitfleet apply` and `gitfleet diff`: the apply engine on manifests given on the command line.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde_json::{Map, Value};

use gitfleet::kube::engine::ObjectDiff;
use gitfleet::kube::inventory::InventoryRef;
use gitfleet::kube::manifest::merge_values;
use gitfleet::kube::{self as engine, Action, ApplyOptions, Engine, Error, LoadOptions};
use gitfleet::provider::{Progress, Silent};

use super::{EXIT_CHANGES, EXIT_ERROR, EXIT_OK, OutputFormat, parse_duration};

/// Where manifests come from: what `apply`, `diff` and `build` share.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// Manifest files or directories (walked recursively: *.yaml, *.yml, *.j2 templates, *.jsonnet;
    /// a directory with a kustomization or a Chart.yaml is built as one).
    #[arg(required = true, value_name = "DIR|FILE")]
    pub paths: Vec<PathBuf>,
    /// The directory no manifest read may leave (default: the Git work tree holding each path,
    /// or the path itself when it is in none).
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Values for *.j2 templates, from a YAML file (repeatable; later files win).
    #[arg(long = "values", value_name = "FILE")]
    pub values_files: Vec<PathBuf>,
    /// One template value, e.g. --set image.tag=1.2 (repeatable; wins over --values).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Helm charts: the release name (default: the chart's name).
    #[arg(long, value_name = "NAME")]
    pub release_name: Option<String>,
    /// Helm charts: `.Capabilities.KubeVersion`, e.g. v1.30.0 (default: Helm's, v1.36.0).
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// Helm charts: an API version added to `.Capabilities.APIVersions` (repeatable).
    #[arg(long = "api-versions", value_name = "GROUP/VERSION")]
    pub api_versions: Vec<String>,
    /// Helm charts: leave out the chart's crds/ directory.
    #[arg(long)]
    pub skip_crds: bool,
    /// Accept paths that yield no object (otherwise an error naming the files not read); with
    /// --prune that deletes everything the inventory holds.
    #[arg(long)]
    pub allow_empty: bool,
    /// Jsonnet: an external variable, a string, e.g. --ext-var env=prod (repeatable).
    #[arg(long = "ext-var", value_name = "NAME=VALUE")]
    pub ext_vars: Vec<String>,
    /// Jsonnet: an external variable given as Jsonnet code, e.g. --ext-code replicas=3.
    #[arg(long = "ext-code", value_name = "NAME=CODE")]
    pub ext_code: Vec<String>,
    /// Jsonnet: a top-level argument, a string (files that evaluate to a function).
    #[arg(long = "tla", value_name = "NAME=VALUE")]
    pub tlas: Vec<String>,
    /// Jsonnet: a top-level argument given as Jsonnet code.
    #[arg(long = "tla-code", value_name = "NAME=CODE")]
    pub tla_code: Vec<String>,
    /// Jsonnet: a library path, relative to the repository root, searched after the importing
    /// file's directory (repeatable; the last one first).
    #[arg(long = "jpath", short = 'J', value_name = "DIR")]
    pub jpath: Vec<String>,
    /// Decrypt SOPS-encrypted files (age) with the identities of --age-key-file, else
    /// SOPS_AGE_KEY_FILE, else SOPS_AGE_KEY, else sops's ~/.config/sops/age/keys.txt; without it
    /// an encrypted file is an error.
    #[arg(long)]
    pub decrypt: bool,
    /// An age identity file for --decrypt (implies it).
    #[arg(long, value_name = "FILE")]
    pub age_key_file: Option<PathBuf>,
}

impl SourceArgs {
    /// The Jsonnet options the flags give.
    pub fn jsonnet(&self) -> anyhow::Result<gitfleet::build::jsonnet::JsonnetOptions> {
        use gitfleet::build::jsonnet::{JsonnetOptions, JsonnetVar};
        fn vars(
            flag: &str,
            given: &[String],
            code: bool,
            into: &mut Vec<JsonnetVar>,
        ) -> anyhow::Result<()> {
            for kv in given {
                let Some((name, value)) = kv.split_once('=') else {
                    anyhow::bail!("--{flag} {kv}: write NAME=VALUE");
                };
                into.push(JsonnetVar {
                    name: name.to_string(),
                    value: value.to_string(),
                    code,
                });
            }
            Ok(())
        }
        let mut o = JsonnetOptions {
            libs: self.jpath.clone(),
            ..Default::default()
        };
        vars("ext-var", &self.ext_vars, false, &mut o.ext_vars)?;
        vars("ext-code", &self.ext_code, true, &mut o.ext_vars)?;
        vars("tla", &self.tlas, false, &mut o.tlas)?;
        vars("tla-code", &self.tla_code, true, &mut o.tlas)?;
        Ok(o)
    }
}

/// What both commands share: manifests, cluster, inventory.
#[derive(Debug, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", env = "GITFLEET_KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// Namespace of namespaced objects that name none (default: the context's namespace).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
    /// Record what is applied in this inventory (a ConfigMap); needed by --prune.
    #[arg(long, value_name = "NAME")]
    pub inventory: Option<String>,
    /// Namespace of the inventory ConfigMap (default: --namespace, then the context's).
    #[arg(long, value_name = "NS")]
    pub inventory_namespace: Option<String>,
    /// Take over fields that another server-side-apply manager owns.
    #[arg(long)]
    pub force_conflicts: bool,
    /// With --inventory: also consider (apply: delete) objects of the previous apply that left the set.
    #[arg(long)]
    pub prune: bool,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = OutputFormat::Text)]
    pub output: OutputFormat,
}

#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Validate with a server-side dry-run and report what would change; change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Wait until every applied object is ready (rolled out, complete, established, Ready).
    #[arg(long)]
    pub wait: bool,
    /// How long --wait (and waiting for CRDs) may take.
    #[arg(long, value_parser = parse_duration, default_value = "5m", value_name = "DURATION")]
    pub timeout: Duration,
    /// Revision recorded in the inventory (e.g. a Git commit); default: a digest of the manifests.
    #[arg(long, value_name = "REV")]
    pub revision: Option<String>,
    /// Requests in flight at once within an apply phase.
    #[arg(long, default_value_t = 16, value_name = "N")]
    pub concurrency: usize,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    pub target: TargetArgs,
}

/// Template context from --values files and --set.
fn template_context(t: &SourceArgs) -> anyhow::Result<Map<String, Value>> {
    let mut values = Value::Object(Map::new());
    for file in &t.values_files {
        let text = gitfleet::source::read_user_file(file)?;
        let v: Value = serde_yaml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{}: invalid YAML: {e}", file.display()))?;
        merge_values(&mut values, v);
    }
    for kv in &t.set {
        let Some((key, raw)) = kv.split_once('=') else {
            anyhow::bail!("--set {kv}: write KEY=VALUE");
        };
        let value: Value = serde_yaml::from_str(raw).unwrap_or(Value::String(raw.to_string()));
        let mut nested = value;
        for part in key.split('.').rev() {
            let mut m = Map::new();
            m.insert(part.to_string(), nested);
            nested = Value::Object(m);
        }
        merge_values(&mut values, nested);
    }
    let mut ctx = Map::new();
    ctx.insert("values".into(), values);
    Ok(ctx)
}

/// Loads the manifests (exit 1 with every problem on bad input, before connecting); `namespace`
/// is a chart's release namespace.
pub fn load(t: &SourceArgs, namespace: Option<&str>) -> Result<Vec<engine::Object>, u8> {
    let context = match template_context(t).and_then(|c| {
        let decryption = if t.decrypt || t.age_key_file.is_some() {
            gitfleet::decrypt::Decryption::new(gitfleet::decrypt::user_keys(
                t.age_key_file.as_deref(),
            )?)
        } else {
            Default::default()
        };
        Ok((c, t.jsonnet()?, decryption))
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e:#}");
            return Err(EXIT_ERROR);
        }
    };
    let (context, jsonnet, decryption) = context;
    // A chart gets the same values as templates do: --values files, then --set.
    let chart_values = match context.get("values") {
        Some(Value::Object(m)) => m.clone(),
        _ => Map::new(),
    };
    let opts = LoadOptions {
        context,
        root: t.root.clone(),
        remotes: gitfleet::build::kustomize::Remotes::user_default(),
        helm: gitfleet::build::helm::HelmOptions {
            release_name: t.release_name.clone(),
            namespace: namespace.map(str::to_string),
            values: chart_values,
            kube_version: t.kube_version.clone(),
            api_versions: t.api_versions.clone(),
            skip_crds: t.skip_crds,
            // dependencies a chart declares but does not vendor: fetched into the user's cache
            chart_cache: gitfleet::build::kustomize::Remotes::user_default()
                .and_then(|r| r.cache.parent().map(|p| p.join("charts"))),
            ..Default::default()
        },
        allow_empty: t.allow_empty,
        jsonnet,
        decryption,
    };
    match engine::manifest::load_with_warnings(&t.paths, &opts) {
        Ok((objects, warnings)) => {
            for w in &warnings {
                eprintln!("{w}");
            }
            Ok(objects)
        }
        Err(d) => {
            super::print_diagnostics(&d);
            Err(EXIT_ERROR)
        }
    }
}

fn options(t: &TargetArgs, default_ns: &str) -> ApplyOptions {
    ApplyOptions {
        namespace: t.namespace.clone(),
        inventory: t.inventory.as_ref().map(|name| InventoryRef {
            namespace: t
                .inventory_namespace
                .clone()
                .or_else(|| t.namespace.clone())
                .unwrap_or_else(|| default_ns.to_string()),
            name: name.clone(),
        }),
        prune: t.prune,
        force_conflicts: t.force_conflicts,
        poll_interval: super::poll_interval().unwrap_or(Duration::from_secs(2)),
        ..ApplyOptions::default()
    }
}

fn report_error(e: &Error, format: OutputFormat) -> u8 {
    match format {
        OutputFormat::Json => {
            let body = match e {
                Error::Rejected(r) => serde_json::json!({"error": "rejected", "rejections": r}),
                Error::Conflicts(c) => serde_json::json!({"error": "conflicts", "conflicts": c}),
                other => serde_json::json!({"error": other.to_string()}),
            };
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
        }
        OutputFormat::Text => eprintln!("error: {e}"),
    }
    EXIT_ERROR
}

pub fn run_apply(a: ApplyArgs) -> anyhow::Result<u8> {
    if a.target.prune && a.target.inventory.is_none() {
        eprintln!(
            "error: --prune needs --inventory NAME: gitfleet only deletes what its own inventory recorded"
        );
        return Ok(EXIT_ERROR);
    }
    let objects = match load(&a.target.source, a.target.namespace.as_deref()) {
        Ok(o) => o,
        Err(code) => return Ok(code),
    };
    let format = a.target.output;
    super::runtime()?.block_on(async {
        let conn = match engine::connect(
            a.target.kubeconfig.as_deref(),
            a.target.context.as_deref(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => return Ok(report_error(&e, format)),
        };
        let mut opts = options(&a.target, &conn.default_namespace);
        opts.dry_run = a.dry_run;
        opts.wait = a.wait;
        opts.timeout = a.timeout;
        opts.revision = a.revision.clone();
        opts.concurrency = a.concurrency.max(1);
        let progress: Box<dyn Progress> = match format {
            OutputFormat::Json => Box::new(Silent),
            OutputFormat::Text => super::progress::for_cluster("apply"),
        };
        // Helm hooks: an upgrade when the inventory already records a release
        let recorded = match &opts.inventory {
            Some(at) => gitfleet::kube::inventory::read(&conn, at)
                .await
                .ok()
                .flatten(),
            None => None,
        };
        let upgrade = recorded.is_some();
        let revision = opts
            .revision
            .clone()
            .unwrap_or_else(|| gitfleet::kube::engine::digest(&objects));
        // the inventory records this very revision (hooks included in its digest), so that a
        // re-run of the same set finds it there and does not run the hooks again
        opts.revision = Some(revision.clone());
        let split = gitfleet::kube::hooks::split(objects, upgrade, &revision);
        // Hooks run once per revision, as in the agent: not again when the inventory records
        // this revision as applied (it records a revision only once all of it applied)
        let already_applied = recorded.is_some_and(|inv| inv.revision == revision);
        if already_applied && !split.hooks.is_empty() && format == OutputFormat::Text {
            eprintln!("hooks: revision {revision} already applied; its hooks do not run again");
        }
        let hooks = if opts.dry_run || already_applied {
            Vec::new()
        } else {
            split.hooks
        };
        let objects = split.objects;
        let engine = Engine::new(conn);
        let hooked = gitfleet::kube::hooks::apply_with_hooks(
            &engine,
            objects,
            &hooks,
            &opts,
            progress.as_ref(),
        )
        .await;
        if format == OutputFormat::Text {
            for run in &hooked.hooks {
                println!("{run}");
            }
        }
        let applied = hooked.result;
        match applied {
            Ok(set) => {
                match format {
                    OutputFormat::Json => println!("{}", serde_json::to_string_pretty(&set)?),
                    OutputFormat::Text => {
                        let would = if set.dry_run { " (dry run)" } else { "" };
                        for c in &set.changes {
                            let detail = c
                                .detail
                                .as_ref()
                                .map(|d| format!("  ({d})"))
                                .unwrap_or_default();
                            println!("{:<11}{}{detail}", c.action.to_string(), c.object);
                        }
                        println!(
                            "apply{would}: {} (revision {})",
                            set.summary(),
                            set.revision
                        );
                    }
                }
                Ok(EXIT_OK)
            }
            Err(e) => Ok(report_error(&e, format)),
        }
    })
}

pub fn run_diff(a: DiffArgs) -> anyhow::Result<u8> {
    if a.target.prune && a.target.inventory.is_none() {
        eprintln!("error: --prune needs --inventory NAME");
        return Ok(EXIT_ERROR);
    }
    let objects = match load(&a.target.source, a.target.namespace.as_deref()) {
        Ok(o) => o,
        Err(code) => return Ok(code),
    };
    // Helm hooks are run by apply, not part of the release's state: not diffed
    let objects = gitfleet::kube::hooks::split(objects, true, "").objects;
    let format = a.target.output;
    super::runtime()?.block_on(async {
        let conn = match engine::connect(
            a.target.kubeconfig.as_deref(),
            a.target.context.as_deref(),
        )
        .await
        {
            Ok(c) => c,
            Err(e) => return Ok(report_error(&e, format)),
        };
        let opts = options(&a.target, &conn.default_namespace);
        let diffs = match Engine::new(conn).diff(objects, &opts).await {
            Ok(d) => d,
            Err(e) => return Ok(report_error(&e, format)),
        };
        let changed: Vec<&ObjectDiff> = diffs
            .iter()
            .filter(|d| {
                matches!(
                    d.action,
                    Action::Created | Action::Configured | Action::Pruned
                )
            })
            .collect();
        match format {
            OutputFormat::Json => {
                let mut counts = BTreeMap::new();
                for d in &diffs {
                    *counts.entry(d.action.to_string()).or_insert(0usize) += 1;
                }
                let out = serde_json::json!({
                    "changes": !changed.is_empty(),
                    "counts": counts,
                    "objects": diffs,
                });
                println!("{}", serde_json::to_string_pretty(&out)?);
            }
            OutputFormat::Text => {
                for d in &changed {
                    let detail = d
                        .detail
                        .as_ref()
                        .map(|s| format!(" ({s})"))
                        .unwrap_or_default();
                    println!("# {} {}{detail}", d.action, d.object);
                    print!("{}", d.unified());
                }
                for d in diffs.iter().filter(|d| d.action == Action::Skipped) {
                    eprintln!(
                        "note: {} left the set but would be kept: {}",
                        d.object,
                        d.detail.clone().unwrap_or_default()
                    );
                }
                let n = |a: Action| diffs.iter().filter(|d| d.action == a).count();
                eprintln!(
                    "diff: {} to create, {} to configure, {} unchanged, {} to prune",
                    n(Action::Created),
                    n(Action::Configured),
                    n(Action::Unchanged),
                    n(Action::Pruned)
                );
            }
        }
        Ok(if changed.is_empty() {
            EXIT_OK
        } else {
            EXIT_CHANGES
        })
    })
}
