//! Kustomize builds through gitfleet's repository reader: the `kustomize` crate asks for files
//! by path, this adapter answers through a [`Source`] (confined to the repository root,
//! bounded, links that leave the root refused) and checks YAML against the same absolute
//! bounds as every other manifest before the engine parses it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use kustomize::{Diag, Entry, Loader, Remote};

use crate::diagnostic::{Diagnostic, Severity, Span};
use crate::source::{FileSource, Problem, Source, SourceError};

/// The file names that make a directory a kustomization.
pub use kustomize::kustomization::FILE_NAMES;

/// How a loader shows a path (relative to the root) in messages.
pub type Shown = Arc<dyn Fn(&str) -> String + Send + Sync>;

/// Where remote bases are fetched to, and with which credentials.
#[derive(Clone)]
pub struct Remotes {
    /// One directory per repository and reference is made below it.
    pub cache: PathBuf,
    pub creds: crate::git::Credentials,
    /// The repository `creds` are for: they are offered to remote bases at the same origin
    /// (transport, host, port) only, never to another host a commit names.
    pub creds_origin: Option<String>,
}

impl std::fmt::Debug for Remotes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the credentials.
        f.debug_struct("Remotes")
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

impl Remotes {
    /// The cache for commands run by hand: `$XDG_CACHE_HOME/gitfleet/remote-bases` (or
    /// `~/.cache/...`), anonymous access.
    pub fn user_default() -> Option<Self> {
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))?;
        Some(Remotes {
            cache: base.join("gitfleet").join("remote-bases"),
            creds: crate::git::Credentials::None,
            creds_origin: None,
        })
    }
}

/// A [`Loader`] over a [`Source`].
pub struct SourceLoader {
    src: Arc<Source>,
    shown: Shown,
    remotes: Option<Remotes>,
}

impl SourceLoader {
    pub fn new(src: Arc<Source>, shown: Shown, remotes: Option<Remotes>) -> Self {
        SourceLoader {
            src,
            shown,
            remotes,
        }
    }
}

fn is_yaml(path: &str) -> bool {
    let name = path.rsplit('/').next().unwrap_or(path);
    name.ends_with(".yaml")
        || name.ends_with(".yml")
        || name.ends_with(".json")
        || name == "Kustomization"
}

impl SourceLoader {
    fn diag(&self, e: &SourceError) -> Diag {
        let d = e.to_diagnostic();
        from_diagnostic(&d, (self.shown)(&e.path))
    }
}

fn from_diagnostic(d: &Diagnostic, file: String) -> Diag {
    let span = kustomize::Span::new(file, d.span.line as usize, d.span.column as usize);
    let mut out = if d.is_error() {
        Diag::error(span, d.message.clone())
    } else {
        Diag::warning(span, d.message.clone())
    };
    out.hint = d.hint.clone();
    out
}

impl Loader for SourceLoader {
    fn read(&self, path: &str) -> Result<Option<String>, Diag> {
        match self.src.read(path) {
            Ok(Some(text)) => {
                if is_yaml(path) && text.contains('&') {
                    let file: Arc<str> = (self.shown)(path).into();
                    if let Err(d) = crate::fleet::yaml::check_limits(&file, &text) {
                        return Err(from_diagnostic(&d, file.to_string()));
                    }
                }
                Ok(Some(text))
            }
            Ok(None) => Ok(None),
            Err(e) if e.problem == Problem::Directory => Ok(None),
            Err(e) => Err(self.diag(&e)),
        }
    }

    fn read_bytes(&self, path: &str) -> Result<Option<Vec<u8>>, Diag> {
        match self.src.read_bytes(path) {
            Ok(b) => Ok(b),
            Err(e) if e.problem == Problem::Directory => Ok(None),
            Err(e) => Err(self.diag(&e)),
        }
    }

    fn canonical(&self, path: &str) -> Result<Option<String>, Diag> {
        let root = self.src.root().map_err(|e| self.diag(&e))?.to_path_buf();
        match self.src.resolve(path) {
            Ok(None) => Ok(None),
            Ok(Some(real)) => Ok(Some(
                real.strip_prefix(&root)
                    .map(|r| r.to_string_lossy().replace('\\', "/"))
                    .unwrap_or_else(|_| path.to_string()),
            )),
            Err(e) => Err(self.diag(&e)),
        }
    }

    fn entry(&self, path: &str) -> Result<Option<Entry>, Diag> {
        match self.src.resolve(path) {
            Ok(None) => Ok(None),
            Ok(Some(real)) if real.is_dir() => Ok(Some(Entry::Dir)),
            Ok(Some(_)) => Ok(Some(Entry::File)),
            Err(e) => Err(self.diag(&e)),
        }
    }

    fn pull_chart(
        &self,
        repo: &str,
        name: &str,
        version: &str,
        at: &kustomize::Span,
    ) -> Result<(String, Vec<u8>), Diag> {
        let Some(remotes) = &self.remotes else {
            return Err(Diag::error(
                at.clone(),
                format!("chart {name} cannot be pulled here: no cache directory"),
            ));
        };
        let cache = remotes
            .cache
            .parent()
            .map(|p| p.join("charts"))
            .unwrap_or_else(|| remotes.cache.join("charts"));
        let r = crate::build::chart_repo::ChartRef {
            repository: repo.to_string(),
            name: name.to_string(),
            version: version.to_string(),
        };
        crate::build::chart_repo::fetch(&r, &Default::default(), Some(&cache))
            .map(|f| (f.version, f.archive))
            .map_err(|e| Diag::error(at.clone(), e))
    }

    fn list(&self, path: &str) -> Result<Vec<(String, bool)>, Diag> {
        self.src.entries(path).map_err(|e| self.diag(&e))
    }

    fn display(&self, path: &str) -> String {
        (self.shown)(path)
    }

    fn remote(&self, remote: &Remote, at: &kustomize::Span) -> Result<Arc<dyn Loader>, Diag> {
        let shown_url = crate::diagnostic::mask_userinfo(&remote.written);
        let fail = |m: String| Diag::error(at.clone(), m);
        let Some(remotes) = &self.remotes else {
            return Err(fail(format!(
                "remote base {shown_url} cannot be fetched here: no cache directory (set HOME or XDG_CACHE_HOME)"
            )));
        };
        let repo = remote.repo.as_str();
        if !["https://", "ssh://", "git://", "git@"]
            .iter()
            .any(|p| repo.starts_with(p))
            && !repo.contains('@')
        {
            return Err(fail(format!(
                "remote base {shown_url}: only https://, ssh:// and git:// repositories are fetched"
            ))
            .with_hint("a local path is named as a relative directory inside the repository"));
        }
        let Some(written_ref) = remote.reference.as_deref() else {
            return Err(
                fail(format!("remote base {shown_url} names no revision")).with_hint(
                    "pin it with ?ref=TAG or ?ref=COMMIT, so every build reads the same files",
                ),
            );
        };
        let candidates: Vec<crate::git::Reference> =
            if let Ok(c) = crate::git::Reference::commit(written_ref) {
                vec![c]
            } else {
                [
                    crate::git::Reference::tag(written_ref),
                    crate::git::Reference::branch(written_ref),
                ]
                .into_iter()
                .filter_map(Result::ok)
                .collect()
            };
        let key = hex::encode(Sha256::digest(format!("{repo}\n{written_ref}").as_bytes()));
        let cache = remotes.cache.join(&key[..32]);
        // One fetch at a time into the cache: two Syncs (or two bases of one build) naming the
        // same repository and revision would otherwise write one checkout concurrently.
        static FETCHING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one_at_a_time = FETCHING.lock().unwrap_or_else(|e| e.into_inner());
        let creds = match &remotes.creds_origin {
            Some(origin) if crate::git::same_origin(origin, repo) => &remotes.creds,
            _ => &crate::git::Credentials::None,
        };
        let mut last = None;
        for reference in candidates {
            match crate::git::fetch(repo, &reference, creds, &cache) {
                Ok(checkout) => {
                    let prefix = format!("{}//", remote.repo.split('?').next().unwrap_or_default());
                    let prefix = crate::diagnostic::mask_userinfo(&prefix);
                    let shown: Shown = Arc::new(move |p: &str| format!("{prefix}{p}"));
                    return Ok(Arc::new(SourceLoader::new(
                        Arc::new(Source::new(checkout.dir)),
                        shown,
                        self.remotes.clone(),
                    )));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(fail(match last {
            Some(e) => format!("remote base {shown_url} cannot be fetched: {e}"),
            None => format!(
                "remote base {shown_url}: `{written_ref}` is not a valid tag, branch or commit"
            ),
        }))
    }
}

/// Whether the directory `rel` (relative to the source's root) holds a kustomization file.
pub fn is_kustomization_dir(src: &Source, rel: &str) -> bool {
    FILE_NAMES.iter().any(|name| {
        let path = if rel.is_empty() {
            name.to_string()
        } else {
            format!("{rel}/{name}")
        };
        matches!(src.resolve(&path), Ok(Some(p)) if p.is_file())
    })
}

/// An engine diagnostic in gitfleet's form.
pub fn to_diagnostic(d: &Diag) -> Diagnostic {
    let span = Span::new(
        d.span.file.clone(),
        d.span.line.min(u32::MAX as usize) as u32,
        d.span.column.min(u32::MAX as usize) as u32,
    );
    let mut out = Diagnostic::error(span, d.message.clone());
    if d.warning {
        out.severity = Severity::Warning;
    }
    out.hint = d.hint.clone();
    out
}

/// Builds the kustomization in `dir` (relative to the source's root).
pub fn build(
    src: &Arc<Source>,
    dir: &str,
    shown: Shown,
    remotes: Option<Remotes>,
) -> Result<(Vec<kustomize::Resource>, Vec<Diagnostic>), Vec<Diagnostic>> {
    let loader: Arc<dyn Loader> = Arc::new(SourceLoader::new(src.clone(), shown, remotes));
    match kustomize::build(loader, dir) {
        Ok(b) => Ok((b.resources, b.warnings.iter().map(to_diagnostic).collect())),
        Err(ds) => Err(ds.iter().map(to_diagnostic).collect()),
    }
}

/// `path` relative to the root as the `/`-separated form the engine uses.
pub fn engine_path(rel: &Path) -> String {
    rel.to_string_lossy().replace('\\', "/")
}
