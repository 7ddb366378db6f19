//! A kustomization's directory: resolving the paths it names, and kustomize's load
//! restriction (files a kustomization reads must be in or below its own directory; other
//! kustomizations, named as directories, may be anywhere inside the loader's root).

use crate::{Diag, Entry, Loader, Span};

/// A directory inside a loader's root.
#[derive(Clone, Copy)]
pub struct Dir<'a> {
    pub loader: &'a dyn Loader,
    /// Relative to the loader's root, `/`-separated, `""` for the root itself.
    pub path: &'a str,
}

/// Joins and normalises `rel` onto `base` (both `/`-separated); `None` when the result would
/// leave the root (or `rel` is absolute).
pub fn join(base: &str, rel: &str) -> Option<String> {
    if rel.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

/// Whether `path` is `dir` or below it.
pub fn is_within(dir: &str, path: &str) -> bool {
    dir.is_empty() || path == dir || path.starts_with(&format!("{dir}/"))
}

impl<'a> Dir<'a> {
    pub fn new(loader: &'a dyn Loader, path: &'a str) -> Self {
        Dir { loader, path }
    }

    /// How the directory is shown in messages.
    pub fn shown(&self) -> String {
        if self.path.is_empty() {
            self.loader.display(".")
        } else {
            self.loader.display(self.path)
        }
    }

    /// `rel` resolved against this directory, refused when it leaves the loader's root.
    pub fn resolve(&self, rel: &str, at: &Span) -> Result<String, Diag> {
        join(self.path, rel).ok_or_else(|| {
            Diag::error(
                at.clone(),
                format!("`{rel}` is outside the repository root"),
            )
            .with_hint("kustomizations may only read files inside the repository")
        })
    }

    /// Resolves a file this kustomization reads (a patch, a generator's file) and enforces
    /// kustomize's default `LoadRestrictionsRootOnly`: it must be in or below this directory.
    pub fn resolve_file(&self, rel: &str, at: &Span) -> Result<String, Diag> {
        let path = self.resolve(rel, at)?;
        let real = self.loader.canonical(&path)?;
        if real.is_some_and(|r| is_within(self.path, &path) && !is_within(self.path, &r)) {
            return Err(Diag::error(
                at.clone(),
                format!(
                    "`{rel}` is a symbolic link that leads out of the kustomization's directory {}",
                    self.shown()
                ),
            )
            .with_hint(
                "kustomize (with its default load restrictions) reads files only in or below \
                 the kustomization's own directory",
            ));
        }
        if !is_within(self.path, &path) {
            return Err(Diag::error(
                at.clone(),
                format!(
                    "`{rel}` is not in or below the kustomization's directory {}",
                    self.shown()
                ),
            )
            .with_hint(
                "kustomize (with its default load restrictions) reads files only in or below \
                 the kustomization's own directory",
            ));
        }
        Ok(path)
    }

    /// Reads a file this kustomization names as bytes (see [`Dir::resolve_file`]).
    pub fn read_file_bytes(&self, rel: &str, at: &Span) -> Result<(String, Vec<u8>), Diag> {
        let path = self.resolve_file(rel, at)?;
        match self.loader.read_bytes(&path)? {
            Some(bytes) => Ok((path, bytes)),
            None => {
                let what = match self.loader.entry(&path)? {
                    Some(Entry::Dir) => "is a directory, not a file",
                    _ => "does not exist",
                };
                Err(Diag::error(at.clone(), format!("{rel} {what}")))
            }
        }
    }

    /// Reads a file this kustomization names (see [`Dir::resolve_file`]): its path and text.
    pub fn read_file(&self, rel: &str, at: &Span) -> Result<(String, String), Diag> {
        let path = self.resolve_file(rel, at)?;
        match self.loader.read(&path)? {
            Some(text) => Ok((path, text)),
            None => {
                let what = match self.loader.entry(&path)? {
                    Some(Entry::Dir) => "is a directory, not a file",
                    _ => "does not exist",
                };
                Err(Diag::error(at.clone(), format!("{rel} {what}")))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_stay_inside_the_root() {
        assert_eq!(join("a/b", "../c").as_deref(), Some("a/c"));
        assert_eq!(join("", "./x/./y").as_deref(), Some("x/y"));
        assert_eq!(join("a", "../../x"), None);
        assert_eq!(join("a", "/etc/passwd"), None);
        assert!(is_within("a", "a/b"));
        assert!(!is_within("a", "ab"));
        assert!(is_within("", "anything"));
    }
}
