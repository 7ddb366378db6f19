//! The one repository reader. Everything gitfleet reads from a repository (fleet definitions,
//! template overrides, manifests and `*.j2`, kubeconfigs named by existing clusters, and the
//! Kustomize and Helm readers) goes through a [`Source`]: confined to its root (absolute paths,
//! `..` and symbolic links that resolve outside it are errors and nothing is read), bounded (file
//! size, total bytes, directory entries), and every error names the file it is about.
//!
//! The parsers that read what a `Source` returns apply the rest of [`LIMITS`] (YAML depth, alias
//! expansion, documents, template fuel and output), so a hostile commit is an error, never a
//! leak, a hang or an exhausted process.

use std::collections::{BTreeMap, HashSet};
use std::fs;
use std::io::Read;
use std::path::{Component, Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::diagnostic::{Diagnostic, Span};

/// The bounds every reader and parser of repository content enforces.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// One file (a Kubernetes object is at most ~1.5 MiB in etcd; CRD bundles run to a few MiB).
    pub max_file_bytes: u64,
    /// Everything read through one source.
    pub max_total_bytes: u64,
    /// Directory entries one listing (glob, walk) may visit.
    pub max_entries: usize,
    /// Nesting of YAML collections (and of anything parsed from YAML or JSON).
    pub max_yaml_depth: usize,
    /// Nodes (scalars and collections) of one YAML file, aliases expanded.
    pub max_yaml_nodes: usize,
    /// Nodes that aliases may add to one YAML file (the billion-laughs bound).
    pub max_alias_nodes: usize,
    /// YAML documents in one file.
    pub max_documents: usize,
    /// Cluster definitions in one fleet.
    pub max_clusters: usize,
    /// minijinja fuel for one template render (roughly: instructions executed).
    pub template_fuel: u64,
    /// Bytes one template render may produce.
    pub max_template_output: usize,
}

/// The limits in force. Generous for real repositories (a 10,000-cluster fleet, CRD bundles),
/// small enough that no input can take the process down.
pub const LIMITS: Limits = Limits {
    max_file_bytes: 16 << 20,
    max_total_bytes: 512 << 20,
    max_entries: 200_000,
    max_yaml_depth: 100,
    max_yaml_nodes: 5_000_000,
    max_alias_nodes: 100_000,
    max_documents: 10_000,
    max_clusters: 50_000,
    template_fuel: 10_000_000,
    max_template_output: 16 << 20,
};

/// What is wrong with one path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    #[error("is an absolute path; paths in a repository are relative to its root")]
    Absolute,
    #[error("leaves the repository root through `..`")]
    DotDot,
    #[error("{target}, outside the repository root")]
    Outside { target: String },
    #[error("is a dangling symbolic link (its target does not exist)")]
    Dangling,
    #[error("is a symbolic link loop")]
    Loop,
    #[error("is a directory, not a file")]
    Directory,
    #[error("is not a directory")]
    NotDirectory,
    #[error("is a {0}, not a regular file")]
    Special(&'static str),
    #[error("is larger than {limit} bytes, the limit for one file")]
    TooLarge { limit: u64 },
    #[error("is not read: the repository's files exceed {limit} bytes in total")]
    TotalTooLarge { limit: u64 },
    #[error("is not UTF-8 text (the first invalid byte is here)")]
    NotUtf8 { line: u32, column: u32 },
    #[error("has more than {limit} entries to list")]
    TooManyEntries { limit: usize },
    #[error("does not exist")]
    NotFound,
    #[error("cannot be read: {0}")]
    Io(String),
    #[error(
        "is encrypted with SOPS and no decryption key is given (spec.decryption on the Sync; --decrypt with --age-key-file, SOPS_AGE_KEY_FILE or SOPS_AGE_KEY on the command line)"
    )]
    Encrypted,
    #[error("cannot be decrypted: {0}")]
    Decrypt(String),
}

/// One path and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct SourceError {
    /// As shown to the user (relative to the root, '/'-separated).
    pub path: String,
    pub problem: Problem,
}

impl SourceError {
    pub fn new(path: impl Into<String>, problem: Problem) -> Self {
        Self {
            path: path.into(),
            problem,
        }
    }

    /// Where to point: the invalid byte of a non-UTF-8 file, else the file's start.
    pub fn span(&self) -> Span {
        let (line, column) = match self.problem {
            Problem::NotUtf8 { line, column } => (line, column),
            _ => (1, 1),
        };
        Span::new(self.path.as_str().into(), line, column)
    }

    pub fn to_diagnostic(&self) -> Diagnostic {
        let d = Diagnostic::error(self.span(), self.problem.to_string());
        match &self.problem {
            Problem::Outside { .. } | Problem::Absolute | Problem::DotDot => d.with_hint(
                "gitfleet reads only files inside the repository; copy the file into it",
            ),
            Problem::Dangling | Problem::Loop => d.with_hint(
                "fix or remove the link; gitfleet follows links only inside the repository",
            ),
            _ => d,
        }
    }
}

/// The files a listing found, and the entries it could not take.
#[derive(Debug, Default, Clone)]
pub struct Listing {
    /// Relative, '/'-separated, sorted.
    pub files: Vec<String>,
    pub errors: Vec<SourceError>,
}

/// Where repository files come from. Paths are relative to the root, '/'-separated.
pub trait FileSource {
    /// A file's text (a UTF-8 byte-order mark removed); `Ok(None)` when nothing is there.
    fn read(&self, path: &str) -> Result<Option<String>, SourceError>;
    /// Files matching a glob pattern (`*`, `?`, `[..]`, `**`), sorted; entries the pattern
    /// matches that cannot be read as files are errors, never silently left out.
    fn glob(&self, pattern: &str) -> Listing;
}

/// A directory on disk, as a confined and bounded source.
pub struct Source {
    given: PathBuf,
    root: OnceLock<Result<PathBuf, SourceError>>,
    read_bytes: AtomicU64,
    limits: Limits,
    decryption: crate::decrypt::Decryption,
}

impl Source {
    /// A source rooted at `root` (resolved, with its own symlinks, on first use).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            given: root.into(),
            root: OnceLock::new(),
            read_bytes: AtomicU64::new(0),
            limits: LIMITS,
            decryption: Default::default(),
        }
    }

    /// The same, decrypting SOPS-encrypted files with these identities as it reads them
    /// (without any, such a file is an error: it is never read as if it were plain).
    pub fn with_decryption(mut self, decryption: crate::decrypt::Decryption) -> Self {
        self.decryption = decryption;
        self
    }

    /// The same with other limits (tests of the limits themselves).
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// The root as given.
    pub fn given_root(&self) -> &Path {
        &self.given
    }

    /// The canonical root directory.
    pub fn root(&self) -> Result<&Path, SourceError> {
        self.root
            .get_or_init(|| {
                let shown = self.given.to_string_lossy().into_owned();
                match fs::canonicalize(&self.given) {
                    Ok(p) if p.is_dir() => Ok(p),
                    Ok(_) => Err(SourceError::new(shown, Problem::NotDirectory)),
                    Err(e) => Err(SourceError::new(shown, io_problem(&e))),
                }
            })
            .as_ref()
            .map(PathBuf::as_path)
            .map_err(Clone::clone)
    }

    /// A path given on the command line (absolute, or relative to the working directory) as a
    /// path relative to the root; an error when it is outside the root.
    pub fn relative(&self, path: &Path) -> Result<String, SourceError> {
        let root = self.root()?;
        let shown = path.to_string_lossy().into_owned();
        let canonical = match fs::canonicalize(path) {
            Ok(p) => p,
            Err(e) => return Err(SourceError::new(shown, io_problem(&e))),
        };
        match canonical.strip_prefix(root) {
            Ok(rel) => Ok(rel_string(rel)),
            Err(_) => Err(SourceError::new(
                shown,
                Problem::Outside {
                    target: canonical.to_string_lossy().into_owned(),
                },
            )),
        }
    }

    /// Resolves a relative path to the real path inside the root, following symbolic links
    /// (which must stay inside). `Ok(None)` when nothing is there.
    pub fn resolve(&self, rel: &str) -> Result<Option<PathBuf>, SourceError> {
        let root = self.root()?;
        let normal = normalize(rel).map_err(|p| SourceError::new(rel, p))?;
        let full = root.join(&normal);
        match fs::canonicalize(&full) {
            Ok(real) => {
                if real.starts_with(root) {
                    Ok(Some(real))
                } else {
                    // Name the link as written when the path itself is one (what the user sees
                    // in the repository), else where the path ends up.
                    let target = match fs::read_link(&full) {
                        Ok(t) => format!("is a symbolic link to {}", t.to_string_lossy()),
                        Err(_) => format!("resolves to {}", real.to_string_lossy()),
                    };
                    Err(SourceError::new(rel, Problem::Outside { target }))
                }
            }
            Err(e) if is_loop(&e) => Err(SourceError::new(rel, Problem::Loop)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                // A link whose target is missing is an error, an absent path is not.
                if fs::symlink_metadata(&full).is_ok_and(|m| m.file_type().is_symlink()) {
                    Err(SourceError::new(rel, Problem::Dangling))
                } else {
                    Ok(None)
                }
            }
            Err(e) => Err(SourceError::new(rel, io_problem(&e))),
        }
    }

    /// Whether `rel` is a directory inside the root.
    pub fn is_dir(&self, rel: &str) -> Result<bool, SourceError> {
        Ok(self.resolve(rel)?.is_some_and(|p| p.is_dir()))
    }

    /// Every file under the directory `rel` whose name `wanted` accepts, recursively, sorted.
    /// Names starting with `.` are left out (`.git`, editor files). Links are followed inside
    /// the root; a link to a directory outside it, or a wanted file that cannot be read as one,
    /// is an error.
    pub fn walk(&self, rel: &str, wanted: &dyn Fn(&str) -> bool) -> Listing {
        let mut listing = Listing::default();
        let mut walker = Walker {
            source: self,
            visited: HashSet::new(),
            entries: 0,
            listing: &mut listing,
            matches: &|path: &str| wanted(path.rsplit_once('/').map_or(path, |(_, name)| name)),
            dir_match_is_error: false,
            max_depth: usize::MAX,
        };
        let start = match normalize(rel) {
            Ok(p) => rel_string(&p),
            Err(p) => {
                walker.listing.errors.push(SourceError::new(rel, p));
                return listing;
            }
        };
        walker.dir(&start, 0);
        listing.files.sort();
        listing.files.dedup();
        listing
    }

    /// The entries of the directory `rel` (dot-files included), sorted: each name and whether
    /// it is a directory. Links are followed inside the root; one that leaves it, dangles or
    /// loops is an error. At most [`Limits::max_entries`] entries.
    pub fn entries(&self, rel: &str) -> Result<Vec<(String, bool)>, SourceError> {
        let shown = if rel.is_empty() { "." } else { rel };
        let Some(real) = self.resolve(shown)? else {
            return Err(SourceError::new(shown, Problem::NotFound));
        };
        let read = fs::read_dir(&real).map_err(|e| SourceError::new(shown, io_problem(&e)))?;
        let mut out = Vec::new();
        for entry in read {
            let entry = entry.map_err(|e| SourceError::new(shown, io_problem(&e)))?;
            let Some(name) = entry.file_name().to_str().map(str::to_string) else {
                return Err(SourceError::new(
                    shown,
                    Problem::Io("a file name in it is not UTF-8".into()),
                ));
            };
            if out.len() >= self.limits.max_entries {
                let limit = self.limits.max_entries;
                return Err(SourceError::new(shown, Problem::TooManyEntries { limit }));
            }
            let child = join(rel, &name);
            let is_dir = match self.resolve(&child)? {
                Some(p) => p.is_dir(),
                None => return Err(SourceError::new(child, Problem::Dangling)),
            };
            out.push((name, is_dir));
        }
        out.sort();
        Ok(out)
    }

    /// The bytes of a file inside the root (no UTF-8 check: generators may hold binary
    /// files), bounded as [`FileSource::read`] is. `Ok(None)` when nothing is there.
    pub fn read_bytes(&self, rel: &str) -> Result<Option<Vec<u8>>, SourceError> {
        match self.resolve(rel)? {
            None => Ok(None),
            Some(real) => self.read_real_bytes(rel, &real).map(Some),
        }
    }

    fn read_real(&self, rel: &str, real: &Path) -> Result<String, SourceError> {
        let bytes = self.read_real_bytes(rel, real)?;
        decode(bytes).map_err(|p| SourceError::new(rel, p))
    }

    fn read_real_bytes(&self, rel: &str, real: &Path) -> Result<Vec<u8>, SourceError> {
        let err = |p| SourceError::new(rel, p);
        let file = open_regular(real).map_err(err)?;
        let bytes = read_bounded(file, self.limits.max_file_bytes).map_err(err)?;
        let total = self
            .read_bytes
            .fetch_add(bytes.len() as u64, Ordering::Relaxed)
            + bytes.len() as u64;
        if total > self.limits.max_total_bytes {
            return Err(err(Problem::TotalTooLarge {
                limit: self.limits.max_total_bytes,
            }));
        }
        crate::decrypt::maybe_decrypt(rel, bytes, self.decryption.keys()).map_err(err)
    }
}

impl FileSource for Source {
    fn read(&self, rel: &str) -> Result<Option<String>, SourceError> {
        match self.resolve(rel)? {
            None => Ok(None),
            Some(real) => self.read_real(rel, &real).map(Some),
        }
    }

    fn glob(&self, pattern: &str) -> Listing {
        let mut listing = Listing::default();
        let (pattern_text, matches) = match compile(pattern) {
            Ok(Some(c)) => c,
            Ok(None) => return listing, // an invalid pattern is reported by validation
            Err(e) => {
                listing.errors.push(e);
                return listing;
            }
        };
        let parts: Vec<&str> = pattern_text.split('/').collect();
        let literal = parts
            .iter()
            .take_while(|p| !p.contains(['*', '?', '[']))
            .count();
        let recursive = parts.contains(&"**");
        if literal == parts.len() {
            // No wildcard: the one path itself.
            match self.read_check(&pattern_text) {
                Ok(true) => listing.files.push(pattern_text),
                Ok(false) => {}
                Err(e) => listing.errors.push(e),
            }
            return listing;
        }
        let start = parts[..literal].join("/");
        let mut walker = Walker {
            source: self,
            visited: HashSet::new(),
            entries: 0,
            listing: &mut listing,
            matches: &matches,
            dir_match_is_error: true,
            max_depth: if recursive {
                usize::MAX
            } else {
                parts.len() - literal
            },
        };
        walker.dir(&start, 0);
        listing.files.sort();
        listing.files.dedup();
        listing
    }
}

impl Source {
    /// Whether a path names a regular file (an error when it names something else).
    fn read_check(&self, rel: &str) -> Result<bool, SourceError> {
        match self.resolve(rel)? {
            None => Ok(false),
            Some(real) => match fs::metadata(&real) {
                Ok(m) if m.is_file() => Ok(true),
                Ok(m) if m.is_dir() => Err(SourceError::new(rel, Problem::Directory)),
                Ok(m) => Err(SourceError::new(rel, Problem::Special(special_kind(&m)))),
                Err(e) => Err(SourceError::new(rel, io_problem(&e))),
            },
        }
    }
}

struct Walker<'a> {
    source: &'a Source,
    /// Real directories already listed: a link cycle is walked once.
    visited: HashSet<PathBuf>,
    entries: usize,
    listing: &'a mut Listing,
    matches: &'a dyn Fn(&str) -> bool,
    /// For glob patterns: a directory the whole pattern matches is an error.
    dir_match_is_error: bool,
    max_depth: usize,
}

impl Walker<'_> {
    fn error(&mut self, path: &str, problem: Problem) {
        self.listing.errors.push(SourceError::new(path, problem));
    }

    fn dir(&mut self, rel: &str, depth: usize) {
        let real = match self.source.resolve(if rel.is_empty() { "." } else { rel }) {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => return self.listing.errors.push(e),
        };
        if !real.is_dir() {
            return;
        }
        if !self.visited.insert(real.clone()) {
            return;
        }
        let read = match fs::read_dir(&real) {
            Ok(r) => r,
            Err(e) => return self.error(shown_dir(rel), io_problem(&e)),
        };
        let mut names = Vec::new();
        for entry in read {
            match entry {
                Ok(e) => names.push(e.file_name()),
                Err(e) => return self.error(shown_dir(rel), io_problem(&e)),
            }
            self.entries += 1;
            if self.entries > self.source.limits.max_entries {
                let limit = self.source.limits.max_entries;
                return self.error(shown_dir(rel), Problem::TooManyEntries { limit });
            }
        }
        names.sort();
        for name in names {
            let Some(name) = name.to_str().map(str::to_string) else {
                let lossy = name.to_string_lossy().into_owned();
                let path = join(rel, &lossy);
                if (self.matches)(&path) {
                    self.error(&path, Problem::Io("the file name is not UTF-8".into()));
                }
                continue;
            };
            if name.starts_with('.') {
                continue;
            }
            let path = join(rel, &name);
            let wanted = (self.matches)(&path);
            let descend = depth + 1 < self.max_depth;
            let target = match self.source.resolve(&path) {
                Ok(Some(t)) => t,
                Ok(None) => continue, // removed while listing
                Err(e) => {
                    // Only an entry gitfleet would read (or descend into) is an error.
                    let outside_dir = matches!(e.problem, Problem::Outside { .. })
                        && fs::metadata(real.join(&name)).is_ok_and(|m| m.is_dir());
                    if wanted || (descend && outside_dir) {
                        self.listing.errors.push(e);
                    }
                    continue;
                }
            };
            match fs::metadata(&target) {
                Ok(m) if m.is_dir() => {
                    if wanted && self.dir_match_is_error {
                        self.error(&path, Problem::Directory);
                    } else if descend {
                        self.dir(&path, depth + 1);
                    }
                }
                Ok(m) if m.is_file() => {
                    if wanted {
                        self.listing.files.push(path);
                    }
                }
                Ok(m) => {
                    if wanted {
                        self.error(&path, Problem::Special(special_kind(&m)));
                    }
                }
                Err(e) => {
                    if wanted {
                        self.error(&path, io_problem(&e));
                    }
                }
            }
        }
    }
}

/// A glob pattern, normalised and confined (an absolute or climbing pattern is an error), as its
/// text and a matcher for '/'-separated relative paths; `None` when it is not a valid pattern.
type Matcher = Box<dyn Fn(&str) -> bool>;

fn compile(pattern: &str) -> Result<Option<(String, Matcher)>, SourceError> {
    let text = rel_string(&normalize(pattern).map_err(|p| SourceError::new(pattern, p))?);
    let Ok(compiled) = glob::Pattern::new(&text) else {
        return Ok(None);
    };
    let opts = glob::MatchOptions {
        case_sensitive: true,
        require_literal_separator: true,
        require_literal_leading_dot: true,
    };
    Ok(Some((
        text,
        Box::new(move |p: &str| compiled.matches_with(p, opts)),
    )))
}

fn shown_dir(rel: &str) -> &str {
    if rel.is_empty() { "." } else { rel }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() || dir == "." {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

fn rel_string(p: &Path) -> String {
    let s = p.to_string_lossy().replace('\\', "/");
    if s.is_empty() { String::new() } else { s }
}

/// The path with `.` removed and `..` applied; an error when it is absolute or climbs out.
pub fn normalize(rel: &str) -> Result<PathBuf, Problem> {
    let path = Path::new(rel);
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for c in path.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => return Err(Problem::Absolute),
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return Err(Problem::DotDot);
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(n) => {
                out.push(n);
                depth += 1;
            }
        }
    }
    Ok(out)
}

fn is_loop(e: &std::io::Error) -> bool {
    e.raw_os_error() == Some(libc::ELOOP)
}

/// An I/O error as a problem, without repeating the path (the error names it already).
fn io_problem(e: &std::io::Error) -> Problem {
    use std::io::ErrorKind as K;
    if is_loop(e) {
        return Problem::Loop;
    }
    match e.kind() {
        K::NotFound => Problem::NotFound,
        K::PermissionDenied => Problem::Io("permission denied".into()),
        K::IsADirectory => Problem::Directory,
        K::NotADirectory => Problem::NotDirectory,
        _ => {
            let text = e.to_string();
            // std appends " (os error N)"; keep the words.
            let words = text.split(" (os error").next().unwrap_or(&text);
            Problem::Io(words.to_lowercase())
        }
    }
}

fn special_kind(m: &fs::Metadata) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    let t = m.file_type();
    if t.is_fifo() {
        "named pipe"
    } else if t.is_socket() {
        "socket"
    } else if t.is_char_device() {
        "character device"
    } else if t.is_block_device() {
        "block device"
    } else {
        "special file"
    }
}

/// Opens a file for reading only when it is a regular file: a named pipe would block the open
/// and a device would never end. Opened non-blocking, and checked again on the handle.
fn open_regular(path: &Path) -> Result<fs::File, Problem> {
    use std::os::unix::fs::OpenOptionsExt;
    let meta = fs::metadata(path).map_err(|e| io_problem(&e))?;
    if meta.is_dir() {
        return Err(Problem::Directory);
    }
    if !meta.is_file() {
        return Err(Problem::Special(special_kind(&meta)));
    }
    let file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| io_problem(&e))?;
    let meta = file.metadata().map_err(|e| io_problem(&e))?;
    if !meta.is_file() {
        return Err(Problem::Special(special_kind(&meta)));
    }
    Ok(file)
}

/// UTF-8 text from bytes, a leading byte-order mark dropped; an invalid byte is located.
pub fn decode(mut bytes: Vec<u8>) -> Result<String, Problem> {
    if bytes.starts_with(&[0xEF, 0xBB, 0xBF]) {
        bytes.drain(..3);
    }
    String::from_utf8(bytes).map_err(|e| {
        let bytes = e.as_bytes();
        let good = &bytes[..e.utf8_error().valid_up_to()];
        let line = good.iter().filter(|b| **b == b'\n').count() as u32 + 1;
        let line_start = good.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() as u32 + 1;
        Problem::NotUtf8 { line, column }
    })
}

/// Reads a file named on the command line (not by a repository): any path, but bounded and
/// with errors that name it.
pub fn read_user_file(path: &Path) -> Result<String, SourceError> {
    let err = |p| SourceError::new(path.to_string_lossy(), p);
    // The user's own choice: a pipe (`--values <(…)`) is fine, the size is still bounded.
    let file = fs::File::open(path).map_err(|e| err(io_problem(&e)))?;
    if file.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(err(Problem::Directory));
    }
    decode(read_bounded(file, LIMITS.max_file_bytes).map_err(err)?).map_err(err)
}

/// At most `limit` bytes of an open file; more is an error, not a truncation.
fn read_bounded(file: fs::File, limit: u64) -> Result<Vec<u8>, Problem> {
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_problem(&e))?;
    if bytes.len() as u64 > limit {
        return Err(Problem::TooLarge { limit });
    }
    Ok(bytes)
}

/// The root a command-line path belongs to: the Git work tree that holds it, or the path itself
/// (its directory, for a file) when it is in none.
///
/// The work tree is found from the path as written, not from where its links lead: a file or
/// directory of a repository that is a link out of it must not carry the root along (the read
/// is then refused as outside the root). A work tree reached through a link of an outer one
/// counts as the outer one's. Only a path in no work tree is followed to where it leads, since
/// the user, not a repository, named it.
pub fn root_of(path: &Path) -> PathBuf {
    if let Some(root) = lexical_work_tree(path) {
        return root;
    }
    let start = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    let dir = if start.is_dir() {
        start.clone()
    } else {
        start
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or(start.clone())
    };
    let mut at = Some(dir.as_path());
    while let Some(d) = at {
        if d.join(".git").exists() {
            return d.to_path_buf();
        }
        at = d.parent();
    }
    dir
}

/// The work tree holding `path` by its written (absolute, `..` resolved lexically) ancestors.
/// Links in the current directory's own ancestry are the user's (a checkout under a linked
/// `~/src`); a link below it, in the part of the path the user typed, is the repository's.
fn lexical_work_tree(path: &Path) -> Option<PathBuf> {
    let cwd = std::env::current_dir().ok();
    let absolute = std::path::absolute(path).ok()?;
    let mut clean = PathBuf::new();
    for c in absolute.components() {
        match c {
            std::path::Component::ParentDir => {
                clean.pop();
            }
            std::path::Component::CurDir => {}
            other => clean.push(other),
        }
    }
    let is_link = |p: &Path| fs::symlink_metadata(p).is_ok_and(|m| m.file_type().is_symlink());
    // a directory that is a link is looked at from its parent, as a file is
    let start = if clean.is_dir() && !is_link(&clean) {
        clean.clone()
    } else {
        clean.parent()?.to_path_buf()
    };
    let mut found: Option<PathBuf> = None;
    let mut crossed_link = false;
    for d in start.ancestors() {
        if d.join(".git").exists() && (found.is_none() || crossed_link) {
            found = Some(d.to_path_buf());
            crossed_link = false;
        }
        let typed = cwd.as_deref().is_some_and(|c| d.starts_with(c) && d != c);
        if found.is_some() && typed && is_link(d) {
            crossed_link = true;
        }
    }
    found
}

/// A source held in memory (tests, benchmarks, a Git tree read at a revision).
#[derive(Debug, Default, Clone)]
pub struct MemSource {
    pub files: BTreeMap<String, String>,
}

impl FileSource for MemSource {
    fn read(&self, path: &str) -> Result<Option<String>, SourceError> {
        let normal = normalize(path).map_err(|p| SourceError::new(path, p))?;
        let key = rel_string(&normal);
        match self.files.get(&key) {
            None => Ok(None),
            Some(text) if text.len() as u64 > LIMITS.max_file_bytes => Err(SourceError::new(
                path,
                Problem::TooLarge {
                    limit: LIMITS.max_file_bytes,
                },
            )),
            Some(text) => Ok(Some(
                text.strip_prefix('\u{feff}').unwrap_or(text).to_string(),
            )),
        }
    }

    fn glob(&self, pattern: &str) -> Listing {
        let mut listing = Listing::default();
        match compile(pattern) {
            Ok(Some((_, matches))) => {
                listing.files = self.files.keys().filter(|k| matches(k)).cloned().collect();
            }
            Ok(None) => {}
            Err(e) => listing.errors.push(e),
        }
        listing
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, Source) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        fs::create_dir_all(root.join("clusters/a")).unwrap();
        fs::write(root.join("clusters/a/cluster.yaml"), "a: 1\n").unwrap();
        fs::write(dir.path().join("secret.txt"), "TOKEN=hunter2\n").unwrap();
        let src = Source::new(&root);
        (dir, src)
    }

    #[test]
    fn reads_inside_and_refuses_outside() {
        let (dir, src) = tree();
        let root = dir.path().join("repo");
        assert_eq!(
            src.read("clusters/a/cluster.yaml").unwrap().unwrap(),
            "a: 1\n"
        );
        assert_eq!(
            src.read("./clusters/x/../a/cluster.yaml").unwrap().unwrap(),
            "a: 1\n"
        );
        assert_eq!(src.read("nothing.yaml").unwrap(), None);
        assert_eq!(
            src.read("../secret.txt").unwrap_err().problem,
            Problem::DotDot
        );
        assert_eq!(
            src.read("/etc/passwd").unwrap_err().problem,
            Problem::Absolute
        );
        symlink(dir.path().join("secret.txt"), root.join("leak.yaml")).unwrap();
        let e = src.read("leak.yaml").unwrap_err();
        assert!(matches!(e.problem, Problem::Outside { .. }), "{e}");
        assert!(!e.to_string().contains("hunter2"));
        symlink("clusters/a/cluster.yaml", root.join("inside.yaml")).unwrap();
        assert_eq!(src.read("inside.yaml").unwrap().unwrap(), "a: 1\n");
        symlink("missing", root.join("dangling.yaml")).unwrap();
        assert_eq!(
            src.read("dangling.yaml").unwrap_err().problem,
            Problem::Dangling
        );
        symlink("loop2", root.join("loop1")).unwrap();
        symlink("loop1", root.join("loop2")).unwrap();
        assert_eq!(src.read("loop1").unwrap_err().problem, Problem::Loop);
        assert_eq!(
            src.read("clusters").unwrap_err().problem,
            Problem::Directory
        );
        let e = Source::new(&root).read("/dev/zero").unwrap_err();
        assert_eq!(e.problem, Problem::Absolute);
    }

    #[test]
    fn bounded_and_decoded() {
        let (dir, _) = tree();
        let root = dir.path().join("repo");
        let small = Limits {
            max_file_bytes: 8,
            ..LIMITS
        };
        fs::write(root.join("big.yaml"), "0123456789").unwrap();
        let src = Source::new(&root).with_limits(small);
        assert_eq!(
            src.read("big.yaml").unwrap_err().problem,
            Problem::TooLarge { limit: 8 }
        );
        fs::write(root.join("bom.yaml"), b"\xEF\xBB\xBFa: 1\n").unwrap();
        fs::write(root.join("latin1.yaml"), b"a: 1\nb: caf\xE9\n").unwrap();
        let src = Source::new(&root);
        assert_eq!(src.read("bom.yaml").unwrap().unwrap(), "a: 1\n");
        let e = src.read("latin1.yaml").unwrap_err();
        assert_eq!(e.problem, Problem::NotUtf8 { line: 2, column: 7 });
        assert_eq!(e.span().to_string(), "latin1.yaml:2:7");
    }

    #[test]
    fn glob_reports_what_it_cannot_take() {
        let (dir, src) = tree();
        let root = dir.path().join("repo");
        fs::create_dir_all(root.join("clusters/b/cluster.yaml")).unwrap();
        symlink("nowhere", root.join("clusters/c")).unwrap();
        fs::create_dir_all(root.join("clusters/d")).unwrap();
        symlink("nowhere", root.join("clusters/d/cluster.yaml")).unwrap();
        symlink(dir.path(), root.join("clusters/e")).unwrap();
        let l = src.glob("clusters/*/cluster.yaml");
        assert_eq!(l.files, vec!["clusters/a/cluster.yaml"]);
        let errors: Vec<String> = l.errors.iter().map(ToString::to_string).collect();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("clusters/b/cluster.yaml: is a directory"));
        assert!(errors[1].starts_with("clusters/d/cluster.yaml: is a dangling"));
        assert!(
            errors[2].starts_with("clusters/e: is a symbolic link to"),
            "{errors:?}"
        );
        let l = src.glob("../*/cluster.yaml");
        assert_eq!(l.errors[0].problem, Problem::DotDot);
    }

    #[test]
    fn listings_and_total_reads_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        fs::create_dir_all(root.join("many")).unwrap();
        for i in 0..5 {
            fs::write(root.join(format!("many/{i}.yaml")), "a: 1\n").unwrap();
        }
        let src = Source::new(&root).with_limits(Limits {
            max_entries: 3,
            max_total_bytes: 10,
            ..LIMITS
        });
        let too_many = Problem::TooManyEntries { limit: 3 };
        let e = src.entries("many").unwrap_err();
        assert_eq!((e.path.as_str(), &e.problem), ("many", &too_many));
        for listing in [
            src.glob("many/*.yaml"),
            src.walk("many", &|n| n.ends_with(".yaml")),
        ] {
            assert!(
                listing.errors.iter().any(|e| e.problem == too_many),
                "{:?}",
                listing.errors
            );
            assert!(
                listing
                    .errors
                    .iter()
                    .all(|e| e.to_string().starts_with("many")),
                "the error names the directory: {:?}",
                listing.errors
            );
        }
        // 5 bytes each: the third read passes the total of 10 and names its file
        assert!(src.read("many/0.yaml").is_ok() && src.read("many/1.yaml").is_ok());
        let e = src.read("many/2.yaml").unwrap_err();
        assert_eq!(e.problem, Problem::TotalTooLarge { limit: 10 });
        assert!(e.to_string().starts_with("many/2.yaml"), "{e}");
    }

    #[test]
    fn recursive_walks_end_on_link_cycles() {
        let (dir, src) = tree();
        let root = dir.path().join("repo");
        symlink("..", root.join("clusters/a/up")).unwrap();
        let l = src.glob("**/*.yaml");
        assert_eq!(l.files, vec!["clusters/a/cluster.yaml"]);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        let l = src.walk("clusters", &|n| n.ends_with(".yaml"));
        assert_eq!(l.files, vec!["clusters/a/cluster.yaml"]);
    }
}
