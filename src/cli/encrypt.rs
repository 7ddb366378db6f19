//! `gitfleet encrypt FILE`: encrypts a file for the age recipients `.sops.yaml` names for its
//! path (the first creation rule whose `path_regex` matches the path relative to `.sops.yaml`'s
//! directory, as sops matches it), so `sops -d` and gitfleet's decryption read it back.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;

use super::EXIT_OK;

#[derive(Debug, Args)]
pub struct EncryptArgs {
    /// The file to encrypt (YAML, JSON, .env; anything else as a binary file).
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Write the result over FILE instead of printing it.
    #[arg(long, short = 'i')]
    pub in_place: bool,
    /// The sops configuration (default: the nearest `.sops.yaml` in FILE's directory or above).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

fn find_config(file: &Path) -> Option<PathBuf> {
    let abs = std::path::absolute(file).ok()?;
    let mut dir = abs.parent();
    while let Some(d) = dir {
        let candidate = d.join(".sops.yaml");
        if candidate.is_file() {
            return Some(candidate);
        }
        dir = d.parent();
    }
    None
}

pub fn run(args: EncryptArgs) -> anyhow::Result<u8> {
    let config = match args.config.clone().or_else(|| find_config(&args.file)) {
        Some(c) => c,
        None => bail!(
            "{}: no .sops.yaml in its directory or above (or pass --config)",
            args.file.display()
        ),
    };
    let rules = gitfleet::source::read_user_file(&config)?;
    let abs = std::path::absolute(&args.file)?;
    let base = std::path::absolute(&config)?
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default();
    let rel = abs
        .strip_prefix(&base)
        .unwrap_or(&abs)
        .to_string_lossy()
        .into_owned();
    let Some(rule) = sops::creation_rule(&rules, &rel)
        .map_err(|e| anyhow::anyhow!("{}: {e}", config.display()))?
    else {
        bail!(
            "{}: no creation rule of {} matches {rel}",
            args.file.display(),
            config.display()
        );
    };
    let bytes = std::fs::read(&args.file)
        .with_context(|| format!("cannot read {}", args.file.display()))?;
    let format = sops::format_for_path(&rel);
    if sops::is_encrypted(&bytes, format) {
        bail!("{}: already encrypted with SOPS", args.file.display());
    }
    let out = sops::encrypt(&bytes, format, &rule)
        .map_err(|e| anyhow::anyhow!("{}: {e}", args.file.display()))?;
    if args.in_place {
        std::fs::write(&args.file, out)
            .with_context(|| format!("cannot write {}", args.file.display()))?;
    } else {
        std::io::stdout().lock().write_all(&out)?;
    }
    Ok(EXIT_OK)
}
