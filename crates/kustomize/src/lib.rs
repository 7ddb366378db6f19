//! Kustomize v5 builds, natively: a directory holding `kustomization.yaml` (or `.yml`, or
//! `Kustomization`) becomes the list of objects `kustomize build` / `kubectl kustomize` prints, in
//! the same order with the same content.
//!
//! The crate is pure: every file is read through a [`Loader`] (the caller's confined, bounded
//! repository reader; remote bases are fetched by it too), and every problem comes back as a
//! [`Diag`] with file, line and column. It is its own crate so that its engine and its many unit
//! tests build in seconds, apart from the cloud SDKs of the main binary.

use std::fmt;
use std::sync::Arc;

use serde_json::Value;

mod build;
pub mod dir;
pub mod emit;
pub mod fieldspec;
pub mod generator;
pub mod hash;
mod helmchart;
pub mod kustomization;
mod mem;
pub mod nameref;
pub mod order;
pub mod patch;
pub mod replacement;
pub mod resource;
pub mod smp;
pub mod transform;
pub mod yaml;

pub use build::{Build, build};
pub use mem::MemLoader;
pub use resource::{ResId, Resource};

/// A place in a file: 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Span {
    pub file: Arc<str>,
    pub line: usize,
    pub column: usize,
}

impl Span {
    pub fn new(file: impl Into<Arc<str>>, line: usize, column: usize) -> Self {
        Span {
            file: file.into(),
            line,
            column,
        }
    }
    /// The start of a file, for problems that belong to the file as a whole.
    pub fn file(file: impl Into<Arc<str>>) -> Self {
        Span::new(file, 1, 1)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// One problem (or warning) found while building, located in the file that causes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diag {
    pub span: Span,
    pub message: String,
    pub hint: Option<String>,
    pub warning: bool,
}

impl Diag {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diag {
            span,
            message: message.into(),
            hint: None,
            warning: false,
        }
    }
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diag {
            warning: true,
            ..Diag::error(span, message)
        }
    }
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Diag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = if self.warning { "warning" } else { "error" };
        write!(f, "{}: {level}: {}", self.span, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// What a path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    File,
    Dir,
}

/// A remote base: `https://host/org/repo//sub/dir?ref=v1`, `git@host:org/repo.git//dir?ref=..`,
/// `ssh://…`, `git::…`. `repo` is what Git clones; `path` the directory inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remote {
    pub repo: String,
    pub path: String,
    pub reference: Option<String>,
    /// As written in the kustomization.
    pub written: String,
}

/// The repository reader the build goes through. Paths are relative to the loader's root,
/// `/`-separated and already normalised (no `.`, no `..`, never absolute): the build checks
/// that a path stays inside the root before it asks. Implementations enforce their own bounds
/// (file size, total bytes) and refuse symlinks that leave the root.
pub trait Loader: Send + Sync {
    /// The text of a file, `None` when nothing is there. Errors are located at the file.
    fn read(&self, path: &str) -> Result<Option<String>, Diag>;
    /// The bytes of a file (generators' `files:` may be binary), `None` when nothing is there.
    fn read_bytes(&self, path: &str) -> Result<Option<Vec<u8>>, Diag> {
        Ok(self.read(path)?.map(String::into_bytes))
    }
    /// Whether the path is a file, a directory, or absent.
    fn entry(&self, path: &str) -> Result<Option<Entry>, Diag>;
    /// Where the path really is (symbolic links followed), relative to the root; `None` when
    /// nothing is there. Used to hold files to kustomize's rule that a kustomization reads only
    /// in or below its own directory, which a link may not get around either.
    fn canonical(&self, path: &str) -> Result<Option<String>, Diag> {
        Ok(self.entry(path)?.map(|_| path.to_string()))
    }
    /// The entries of a directory (dot-files included): each name and whether it is a
    /// directory (`helmCharts` reads whole chart directories).
    fn list(&self, path: &str) -> Result<Vec<(String, bool)>, Diag> {
        Err(Diag::error(
            Span::file(self.display(path)),
            "this loader cannot list directories",
        ))
    }
    /// How a path is shown in messages (for example relative to the repository, or prefixed
    /// with a remote base's URL).
    fn display(&self, path: &str) -> String;
    /// Fetches a remote base and returns a loader rooted at the top of its repository (the
    /// build then descends into `remote.path`). `at` is the kustomization entry that names it.
    fn remote(&self, remote: &Remote, at: &Span) -> Result<Arc<dyn Loader>, Diag>;
    /// Fetches a chart archive (`helmCharts` with a `repo` the chart is not vendored from):
    /// the version chosen and the `.tgz` bytes. Loaders without network access refuse.
    fn pull_chart(
        &self,
        repo: &str,
        name: &str,
        version: &str,
        at: &Span,
    ) -> Result<(String, Vec<u8>), Diag> {
        let _ = (repo, version);
        Err(Diag::error(
            at.clone(),
            format!("chart {name} cannot be pulled here"),
        ))
    }
}

/// The YAML value used throughout: JSON's data model, as Kubernetes objects are.
pub type Object = Value;
