//! `gitfleet schema`: the JSON Schema of the definitions, for yaml-language-server and editors,
//! and of the documents `plan`, `up` and `down` print with `-o json`, for CI.

use clap::{Args, ValueEnum};
use serde_json::Value as J;

use super::{ErrorReport, InvalidReport};
use gitfleet::bootstrap::rollout::{ClusterResult, DownResult, Report};
use gitfleet::fleet::schema::{DocKind, combined_schema, generate, schema};
use gitfleet::pipeline::PlanReport;

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Which {
    /// One schema for both files, choosing by `kind`.
    All,
    Fleet,
    Cluster,
    /// What `plan -o json` prints.
    Plan,
    /// What `up -o json` prints.
    Up,
    /// What `down -o json` prints.
    Down,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema to print: the definitions (all, fleet, cluster) or a command's JSON output.
    #[arg(long, value_enum, default_value = "all")]
    pub kind: Which,
}

// The documents below exist for their schemas only: each command prints one of the variants.

/// `gitfleet plan -o json`: a plan, or why there is none.
#[derive(schemars::JsonSchema)]
#[schemars(title = "gitfleet plan -o json")]
#[serde(untagged)]
#[allow(dead_code)]
enum PlanOutput {
    /// The plan of every selected cluster.
    Plan(PlanReport),
    /// The fleet is invalid: nothing was planned.
    Invalid(InvalidReport),
    /// The fleet is valid but could not be planned (e.g. an unknown cluster name).
    Error(ErrorReport),
}

/// `gitfleet up -o json`: what was done to each cluster, or why nothing was.
#[derive(schemars::JsonSchema)]
#[schemars(title = "gitfleet up -o json")]
#[serde(untagged)]
#[allow(dead_code)]
enum UpOutput {
    /// Every selected cluster's result.
    Done(Report<ClusterResult>),
    /// The fleet is invalid: nothing was changed.
    Invalid(InvalidReport),
    /// The fleet is valid but could not be worked on.
    Error(ErrorReport),
}

/// `gitfleet down -o json`: what was deleted or refused, or why nothing was.
#[derive(schemars::JsonSchema)]
#[schemars(title = "gitfleet down -o json")]
#[serde(untagged)]
#[allow(dead_code)]
enum DownOutput {
    /// Every selected cluster's result.
    Done(Report<DownResult>),
    /// The fleet is invalid: nothing was deleted.
    Invalid(InvalidReport),
    /// The fleet is valid but could not be worked on.
    Error(ErrorReport),
}

/// A command output's schema, with an `$id` naming it.
fn output_schema(mut value: J, name: &str) -> J {
    if let Some(obj) = value.as_object_mut() {
        obj.insert(
            "$id".into(),
            J::String(format!(
                "https://gitfleet.io/schemas/v1alpha1/{name}-output.json"
            )),
        );
    }
    value
}

/// The schema `gitfleet schema --kind KIND` prints.
pub fn schema_of(kind: Which) -> J {
    match kind {
        Which::All => combined_schema(),
        Which::Fleet => schema(DocKind::Fleet).clone(),
        Which::Cluster => schema(DocKind::Cluster).clone(),
        Which::Plan => output_schema(generate::<PlanOutput>(), "plan"),
        Which::Up => output_schema(generate::<UpOutput>(), "up"),
        Which::Down => output_schema(generate::<DownOutput>(), "down"),
    }
}

use std::io::Write as _;

pub fn run(args: SchemaArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{}",
        serde_json::to_string_pretty(&schema_of(args.kind))?
    )?;
    Ok(super::EXIT_OK)
}
