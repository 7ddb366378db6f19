//! A loader over files held in memory: for tests, and for callers that already hold the files.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::{Diag, Entry, Loader, Remote, Span};

#[derive(Debug, Clone, Default)]
pub struct MemLoader {
    files: BTreeMap<String, String>,
}

impl MemLoader {
    /// Files as `(path, text)` pairs; directories are implied by the paths.
    pub fn new<'a>(files: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        MemLoader {
            files: files
                .into_iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        }
    }
}

impl Loader for MemLoader {
    fn read(&self, path: &str) -> Result<Option<String>, Diag> {
        Ok(self.files.get(path).cloned())
    }
    fn entry(&self, path: &str) -> Result<Option<Entry>, Diag> {
        if self.files.contains_key(path) {
            return Ok(Some(Entry::File));
        }
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        Ok(self
            .files
            .keys()
            .any(|k| k.starts_with(&prefix))
            .then_some(Entry::Dir))
    }
    fn list(&self, path: &str) -> Result<Vec<(String, bool)>, Diag> {
        let prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{path}/")
        };
        let mut out: Vec<(String, bool)> = Vec::new();
        for k in self.files.keys() {
            if let Some(rest) = k.strip_prefix(&prefix) {
                let (name, is_dir) = match rest.split_once('/') {
                    Some((d, _)) => (d.to_string(), true),
                    None => (rest.to_string(), false),
                };
                if !out.iter().any(|(n, _)| *n == name) {
                    out.push((name, is_dir));
                }
            }
        }
        out.sort();
        Ok(out)
    }
    fn display(&self, path: &str) -> String {
        path.to_string()
    }
    fn remote(&self, remote: &Remote, at: &Span) -> Result<Arc<dyn Loader>, Diag> {
        Err(Diag::error(
            at.clone(),
            format!("remote base {} cannot be fetched here", remote.written),
        ))
    }
}
