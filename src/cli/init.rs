//! `gitfleet init`: scaffold a fleet repository without overwriting anything.

use std::path::PathBuf;

use anyhow::{Context, bail};
use clap::Args;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Directory to create the fleet in (created if missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Repository URL the reconciler will pull (default: the directory's Git remote "origin",
    /// else a placeholder to edit).
    #[arg(long, value_name = "URL")]
    pub repo: Option<String>,
    /// Fleet name (default: the directory name).
    #[arg(long)]
    pub name: Option<String>,
}

fn origin_url(dir: &std::path::Path) -> Option<String> {
    let config = std::fs::read_to_string(dir.join(".git/config")).ok()?;
    let mut in_origin = false;
    for line in config.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_origin = line == "[remote \"origin\"]";
        } else if in_origin && let Some(url) = line.strip_prefix("url") {
            return Some(url.trim_start().trim_start_matches('=').trim().to_string());
        }
    }
    None
}

/// A remote that is a local path (`/srv/fleet.git`, `../fleet.git`) as an absolute `file://` URL,
/// which validation accepts; relative paths are relative to the clone (`dir`), as Git reads them.
/// URLs (`https://…`, `file://…`) and scp-like remotes (`git@host:org/repo.git`) are kept.
fn remote_as_url(remote: &str, dir: &std::path::Path) -> String {
    let scp_like = remote
        .find(':')
        .is_some_and(|colon| !remote[..colon].contains('/'));
    if remote.contains("://") || scp_like || remote.is_empty() {
        return remote.to_string();
    }
    let path = dir.join(remote);
    let path = std::fs::canonicalize(&path)
        .or_else(|_| std::path::absolute(&path))
        .unwrap_or(path);
    format!("file://{}", path.display())
}

pub fn run(args: InitArgs) -> anyhow::Result<u8> {
    let dir = &args.dir;
    let abs = std::path::absolute(dir).context("resolving the directory")?;
    let name = args.name.clone().unwrap_or_else(|| {
        let raw = abs
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_else(|| "fleet".into());
        let cleaned: String = raw
            .to_ascii_lowercase()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
            .collect();
        let cleaned = cleaned.trim_matches('-').to_string();
        if cleaned.is_empty() {
            "fleet".into()
        } else {
            cleaned
        }
    });
    if !gitfleet::fleet::validate::is_dns1123_label(&name) {
        bail!("fleet name \"{name}\" is not a valid DNS-1123 label; pass --name");
    }
    let repo = args
        .repo
        .clone()
        .or_else(|| origin_url(dir).map(|remote| remote_as_url(&remote, dir)))
        .unwrap_or_else(|| "https://github.com/example/fleet.git".into());
    let files = gitfleet::scaffold::new_fleet(&name, &repo);
    let existing: Vec<String> = files
        .iter()
        .filter(|(p, _)| dir.join(p).exists())
        .map(|(p, _)| dir.join(p).display().to_string())
        .collect();
    if !existing.is_empty() {
        bail!(
            "refusing to overwrite existing files: {}\n(move them away or run init in an empty directory)",
            existing.join(", ")
        );
    }
    for (path, text) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        // create_new: never overwrite, even if a file appeared since the check.
        use std::io::Write;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&full)
            .with_context(|| format!("creating {}", full.display()))?;
        f.write_all(text.as_bytes())
            .with_context(|| format!("writing {}", full.display()))?;
        println!("created {}", full.display());
    }
    let schema_path = dir.join("gitfleet.schema.json");
    if !schema_path.exists() {
        let schema = serde_json::to_string_pretty(&gitfleet::fleet::schema::combined_schema())?;
        std::fs::write(&schema_path, schema + "\n")
            .with_context(|| format!("writing {}", schema_path.display()))?;
        println!("created {}", schema_path.display());
    }
    if args.repo.is_none() && origin_url(dir).is_none() {
        println!("\nset spec.repository.url in fleet.yaml to the URL of this repository");
    }
    println!("\nnext: gitfleet plan --offline --fleet {}", dir.display());
    Ok(super::EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::remote_as_url;
    use std::path::Path;

    #[test]
    fn a_local_path_remote_becomes_an_absolute_file_url() {
        let dir = tempfile::tempdir().unwrap();
        let bare = dir.path().join("fleet.git");
        std::fs::create_dir(&bare).unwrap();
        let clone = dir.path().join("clone");
        std::fs::create_dir(&clone).unwrap();
        let expected = format!("file://{}", bare.canonicalize().unwrap().display());
        assert_eq!(remote_as_url(bare.to_str().unwrap(), &clone), expected);
        assert_eq!(remote_as_url("../fleet.git", &clone), expected);
        for kept in [
            "https://example.com/acme/fleet.git",
            "file:///srv/fleet.git",
            "git@github.com:acme/fleet.git",
            "ssh://git@host/acme/fleet.git",
        ] {
            assert_eq!(remote_as_url(kept, Path::new("/")), kept);
        }
    }
}
