//! Helm charts rendered natively, as `helm template` renders them: chart
//! loading (directories through the caller's reader, `.tgz` archives),
//! Helm's value coalescing, dependency conditions, tags, aliases and
//! `import-values`, `values.schema.json`, and the templates through
//! [`gotemplate`] with Helm's render context.

mod chart;
mod dir;
mod engine;
pub mod ignore;
mod objects;
mod schema;
pub mod values;

pub use chart::{Chart, Dependency, File, Metadata, load_files, read_archive};
pub use dir::{Dir, FsDir, load_dir};
pub use engine::{
    DEFAULT_LIMITS, LookupFn, Manifest, Options, Rendered, Usage, render, split_manifests,
};
pub use objects::{DEFAULT_API_VERSIONS, DEFAULT_KUBE_VERSION, HELM_VERSION};
pub use values::Vals;

use std::fmt;

/// An error, with the chart file it is about when there is one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    /// Relative to the chart's directory (`templates/x.yaml`, `charts/sub/values.yaml`).
    pub file: Option<String>,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl Error {
    pub fn plain(message: String) -> Error {
        Error {
            file: None,
            line: 0,
            col: 0,
            message,
        }
    }

    pub(crate) fn in_file(within: &str, name: &str, message: String) -> Error {
        Error::at(within, name, 0, 0, message)
    }

    pub(crate) fn at(within: &str, name: &str, line: usize, col: usize, message: String) -> Error {
        Error {
            file: Some(if within.is_empty() {
                name.to_string()
            } else {
                format!("{within}/{name}")
            }),
            line,
            col,
            message,
        }
    }

    pub(crate) fn within(mut self, prefix: &str) -> Error {
        self.file = Some(match self.file {
            Some(f) => format!("{prefix}/{f}"),
            None => prefix.to_string(),
        });
        self
    }

    /// A template error: Helm's wording, placed at the template's line and column.
    pub(crate) fn template(source: &str, e: &gotemplate::Error) -> Error {
        let message = e.helm_message();
        let (mut line, mut col) = (0, 0);
        // the first "NAME:LINE[:COL]" of Go's message
        if let Some(rest) = e.message.strip_prefix("template: ") {
            let loc = rest.split(": ").next().unwrap_or("");
            let mut nums = loc.rsplit(':').map_while(|p| p.parse::<usize>().ok());
            let last = nums.next();
            let prev = nums.next();
            match (prev, last) {
                (Some(l), Some(c)) => (line, col) = (l, c),
                (None, Some(l)) => line = l,
                _ => {}
            }
        }
        Error {
            file: Some(source.to_string()),
            line,
            col,
            message,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), 0) => write!(f, "{file}: {}", self.message),
            (Some(file), l) if self.col == 0 => write!(f, "{file}:{l}: {}", self.message),
            (Some(file), l) => write!(f, "{file}:{l}:{}: {}", self.col, self.message),
            (None, _) => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Error {}

/// How Go's fmt prints a JSON value (`map[a:1]`).
pub(crate) fn go_print_json(v: &serde_json::Value) -> String {
    gotemplate::gofmt::sprint_value(&gotemplate::Value::from_json_helm(v))
}
