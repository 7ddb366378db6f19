//! `gitfleet build`: print the objects a path builds into (a plain directory, a Kustomize
//! overlay or a Helm chart), exactly what `apply` and the agent would send, without contacting
//! a cluster.

use std::io::Write as _;

use clap::{Args, ValueEnum};

use super::EXIT_OK;
use super::apply::{SourceArgs, load};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, ValueEnum)]
pub enum BuildFormat {
    /// A YAML stream, one document per object.
    #[default]
    Yaml,
    /// One JSON `List` holding every object.
    Json,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    #[command(flatten)]
    pub source: SourceArgs,
    /// Output format.
    #[arg(long, short = 'o', value_enum, default_value_t = BuildFormat::Yaml)]
    pub output: BuildFormat,
    /// Helm charts: the release namespace (default: `default`).
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,
}

pub fn run(args: BuildArgs) -> anyhow::Result<u8> {
    let objects = match load(&args.source, args.namespace.as_deref()) {
        Ok(o) => o,
        Err(code) => return Ok(code),
    };
    let mut out = std::io::stdout().lock();
    match args.output {
        BuildFormat::Json => {
            let list = serde_json::json!({
                "apiVersion": "v1",
                "kind": "List",
                "items": objects.iter().map(|o| &o.value).collect::<Vec<_>>(),
            });
            writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        }
        BuildFormat::Yaml => {
            // Printed as kustomize prints: sorted keys, and every string a YAML 1.1 reader
            // (`kubectl apply -f -`) could misread quoted.
            for (i, o) in objects.iter().enumerate() {
                if i > 0 {
                    writeln!(out, "---")?;
                }
                write!(out, "{}", kustomize::emit::to_yaml(&o.value))?;
            }
        }
    }
    Ok(EXIT_OK)
}
