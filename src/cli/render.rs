//! `gitfleet render`: write each cluster's provider requests and reconciler manifests.

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;

use super::{FleetArgs, OutputFormat, SelectArgs, report_failure};
use gitfleet::source::Source;

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub fleet: FleetArgs,
    #[command(flatten)]
    pub select: SelectArgs,
    /// Write files under DIR/<cluster>/... instead of printing a YAML stream.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

use std::io::Write as _;

pub fn run(args: RenderArgs) -> anyhow::Result<u8> {
    let mut out = std::io::stdout().lock();
    let source = Source::new(&args.fleet.fleet);
    let prepared = match gitfleet::pipeline::prepare(
        &source,
        &args.select.clusters,
        args.select.selector.as_ref(),
    ) {
        Ok(p) => p,
        Err(e) => return Ok(report_failure(&e, OutputFormat::Text)),
    };
    super::print_warnings(&prepared.fleet.warnings);
    if prepared.rendered.is_empty() {
        eprintln!("no cluster matches the selection");
    }
    // Every file goes under --out: a name that would leave it (a `../` in an add-on or node-group
    // name an overriding template produced) is refused before anything is written.
    if let Some(dir) = &args.out {
        let bad: Vec<String> = prepared
            .rendered
            .iter()
            .flat_map(|c| c.paths())
            .filter_map(|path| out_path_problem(&path).map(|p| format!("{path}: {p}")))
            .collect();
        if !bad.is_empty() {
            for b in &bad {
                eprintln!("error: {b}");
            }
            eprintln!(
                "nothing written to {}: {} output path{} would leave it",
                dir.display(),
                bad.len(),
                if bad.len() == 1 { "" } else { "s" }
            );
            return Ok(super::EXIT_ERROR);
        }
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let out_root = match &args.out {
        Some(dir) => Some(
            std::fs::canonicalize(dir).with_context(|| format!("resolving {}", dir.display()))?,
        ),
        None => None,
    };
    let mut cache = gitfleet::render::YamlCache::default();
    for cluster in &prepared.rendered {
        for (path, text) in cluster.files_with(&mut cache) {
            match (&args.out, &out_root) {
                (Some(dir), Some(root)) => {
                    let full = dir.join(&path);
                    // Directories are made one at a time under --out, and one that is a link
                    // (to anywhere) is refused before anything is created through it.
                    let mut at = root.clone();
                    let parents: Vec<_> = std::path::Path::new(&path)
                        .parent()
                        .into_iter()
                        .flat_map(|p| p.components())
                        .collect();
                    for c in parents {
                        at.push(c);
                        match std::fs::symlink_metadata(&at) {
                            Ok(m) if m.file_type().is_symlink() => anyhow::bail!(
                                "{} is a symbolic link; refusing to write through it (nothing more written)",
                                at.display()
                            ),
                            Ok(_) => {}
                            Err(_) => std::fs::create_dir(&at)
                                .with_context(|| format!("creating {}", at.display()))?,
                        }
                    }
                    if std::fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
                        anyhow::bail!(
                            "{} is a symbolic link; refusing to write through it",
                            full.display()
                        );
                    }
                    std::fs::write(&full, &text)
                        .with_context(|| format!("writing {}", full.display()))?;
                    writeln!(out, "wrote {}", full.display())?;
                }
                _ => {
                    writeln!(out, "---\n# Source: {path}")?;
                    write!(out, "{text}")?;
                }
            }
        }
    }
    Ok(super::EXIT_OK)
}

/// Why a rendered file's relative path cannot be written under the output directory.
fn out_path_problem(path: &str) -> Option<&'static str> {
    use std::path::Component;
    let p = std::path::Path::new(path);
    if path.is_empty() || path.contains('\0') {
        return Some("is not a file name");
    }
    for c in p.components() {
        match c {
            Component::Normal(_) => {}
            Component::ParentDir => return Some("climbs out of the output directory with `..`"),
            Component::RootDir | Component::Prefix(_) => return Some("is an absolute path"),
            Component::CurDir => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn output_paths_stay_inside() {
        assert_eq!(super::out_path_problem("c/eks/addon-vpc-cni.yaml"), None);
        assert!(super::out_path_problem("c/eks/addon-../../x.yaml").is_some());
        assert!(super::out_path_problem("/etc/x.yaml").is_some());
    }
}
