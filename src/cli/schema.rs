//! `gitfleet schema`: the JSON Schema of the definitions, for yaml-language-server and editors.

use clap::{Args, ValueEnum};

use gitfleet::fleet::schema::{DocKind, combined_schema, schema};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Which {
    /// One schema for both files, choosing by `kind`.
    All,
    Fleet,
    Cluster,
}

#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema to print.
    #[arg(long, value_enum, default_value = "all")]
    pub kind: Which,
}

use std::io::Write as _;

pub fn run(args: SchemaArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let value = match args.kind {
        Which::All => combined_schema(),
        Which::Fleet => schema(DocKind::Fleet).clone(),
        Which::Cluster => schema(DocKind::Cluster).clone(),
    };
    writeln!(out, "{}", serde_json::to_string_pretty(&value)?)?;
    Ok(super::EXIT_OK)
}
