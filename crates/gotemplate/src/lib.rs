//! Go `text/template`, with Helm's function set (the sprig functions charts
//! use and Helm's own `include`, `tpl`, `required`, `fail`, `lookup`).
//!
//! ```
//! use gotemplate::{TemplateSet, Value};
//! let mut set = TemplateSet::new();
//! set.parse("c/templates/_helpers.tpl", r#"{{ define "name" }}{{ .Values.name | default "app" }}{{ end }}"#).unwrap();
//! set.parse("c/templates/cm.yaml", r#"name: {{ include "name" . | quote }}"#).unwrap();
//! let data = Value::from_json_helm(&serde_json::json!({"Values": {}}));
//! assert_eq!(set.execute_helm("c/templates/cm.yaml", &data).unwrap(), "name: \"app\"");
//! ```

mod exec;
mod funcs;
pub mod gofmt;
mod parse;
mod semver;
pub mod value;
mod yaml;
mod yaml11;

use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;

pub use exec::Budget;
pub use funcs::{semver_matches, semver_order};
pub use value::{Map, Object, Value};

use parse::{Parser, Tree};

/// What kind of failure an [`Error`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The template text does not parse (`template: NAME:LINE: ...`).
    Parse,
    /// Execution failed (`template: NAME:LINE:COL: executing "NAME" at <...>: ...`).
    Exec,
    /// A bound was hit: steps, output size or template recursion.
    Limit,
}

/// A parse or execution error, its message formatted as Go's text/template formats it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
}

impl Error {
    pub(crate) fn parse(message: String) -> Error {
        Error {
            kind: ErrorKind::Parse,
            message,
        }
    }
}

impl Error {
    /// The message as Helm 4 prints it: parse errors as `parse error at
    /// (FILE:LINE): ...`, `required`/`fail` as `execution error at
    /// (FILE:LINE:COL): MESSAGE`, a chain of plain execution errors (through
    /// `include`) as one `FILE:LINE:COL` / `executing "NAME" at <NODE>:` /
    /// message block per template, and any other error (a function's own,
    /// `tpl`'s) in Go's form.
    pub fn helm_message(&self) -> String {
        match self.kind {
            ErrorKind::Parse => match self
                .message
                .strip_prefix("template: ")
                .and_then(|r| r.split_once(": "))
            {
                Some((loc, msg)) => format!("parse error at ({loc}): {msg}"),
                None => self.message.clone(),
            },
            ErrorKind::Limit => self.message.clone(),
            ErrorKind::Exec => helm_exec_message(&self.message),
        }
    }
}

/// One `template: LOC: executing "NAME" at <NODE>: ` segment of a Go message.
fn split_segment(m: &str) -> Option<(&str, &str, &str, &str)> {
    let rest = m.strip_prefix("template: ")?;
    let (loc, rest) = rest.split_once(": executing \"")?;
    let (name, rest) = rest.split_once("\" at <")?;
    let (node, msg) = rest.split_once(">: ")?;
    Some((loc, name, node, msg))
}

fn helm_exec_message(m: &str) -> String {
    let Some((loc, _, _, first_msg)) = split_segment(m) else {
        return m.to_string();
    };
    for f in ["required", "fail"] {
        let marker = format!("error calling {f}: ");
        if let Some(i) = first_msg.rfind(&marker)
            && !first_msg[..i].contains("error calling tpl")
        {
            return format!(
                "execution error at ({loc}): {}",
                &first_msg[i + marker.len()..]
            );
        }
    }
    let mut blocks = Vec::new();
    let mut cur = m;
    loop {
        let Some((loc, name, node, msg)) = split_segment(cur) else {
            return m.to_string();
        };
        if let Some(inner) = msg.strip_prefix("error calling include: ") {
            blocks.push(format!(
                "{loc}\n  executing \"{name}\" at <{node}>:\n    error calling include:"
            ));
            if split_segment(inner).is_some() {
                cur = inner;
                continue;
            }
            blocks.push(inner.to_string());
            break;
        }
        if msg.starts_with("error calling ") {
            return m.to_string();
        }
        blocks.push(format!(
            "{loc}\n  executing \"{name}\" at <{node}>:\n    {msg}"
        ));
        break;
    }
    blocks.join("\n")
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {}

/// Bounds on one execution, or (fuel and output) on every execution that draws on one shared
/// [`Budget`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Evaluation steps (nodes walked plus function calls).
    pub fuel: u64,
    /// Bytes written in total (including the output of `include` and `tpl`, and the strings
    /// functions build).
    pub output_bytes: usize,
    /// Nesting of `template`, `include` and `tpl` calls (always per execution).
    pub depth: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            fuel: 50_000_000,
            output_bytes: 64 << 20,
            depth: 100,
        }
    }
}

/// A set of named templates, as Helm builds one from every file of a chart.
///
/// Each parsed file is a template named by the file's name; `define` and
/// `block` add more. A later definition replaces an earlier one, except that
/// an empty body never replaces a non-empty one (as Go's `AddParseTree`).
#[derive(Clone, Default)]
pub struct TemplateSet {
    trees: Rc<Defs>,
    limits: Limits,
    lookup: Option<Lookup>,
    budget: Option<Rc<Budget>>,
}

/// Answers Helm's `lookup apiVersion kind namespace name` (a `name` of `""` lists): the object
/// (or a `List`) as a value, an empty map when there is none, or an error message.
pub type Lookup = Rc<dyn Fn(&str, &str, &str, &str) -> Result<Value, String>>;

/// Named templates: this layer's, then its parent's (`tpl` parses its text into a layer over
/// the set's templates instead of copying them all).
#[derive(Clone, Default)]
pub(crate) struct Defs {
    map: HashMap<String, Rc<Tree>>,
    parent: Option<Rc<Defs>>,
}

impl Defs {
    pub(crate) fn over(parent: Rc<Defs>) -> Defs {
        Defs {
            map: HashMap::new(),
            parent: Some(parent),
        }
    }
    pub(crate) fn get(&self, name: &str) -> Option<&Rc<Tree>> {
        let mut cur = self;
        loop {
            if let Some(t) = cur.map.get(name) {
                return Some(t);
            }
            cur = cur.parent.as_deref()?;
        }
    }
    fn contains_key(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
    fn keys(&self) -> Vec<String> {
        let mut v: Vec<String> = self.map.keys().cloned().collect();
        if let Some(p) = &self.parent {
            v.extend(p.keys());
        }
        v.sort();
        v.dedup();
        v
    }
}

impl TemplateSet {
    pub fn new() -> TemplateSet {
        TemplateSet::default()
    }

    pub fn with_limits(limits: Limits) -> TemplateSet {
        TemplateSet {
            trees: Rc::default(),
            limits,
            lookup: None,
            budget: None,
        }
    }

    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Makes every execution of this set (and of its clones) draw its fuel and output from
    /// `budget`, shared with whatever else holds it, instead of a fresh budget of the set's
    /// limits each time: a bound on a whole render of many templates (Helm's chart with its
    /// sub-charts). The nesting depth stays the set's, per execution. `None`: a fresh budget
    /// per execution again.
    pub fn set_budget(&mut self, budget: Option<Rc<Budget>>) {
        self.budget = budget;
    }

    /// The shared budget executions draw on, if one is set.
    pub fn budget(&self) -> Option<&Rc<Budget>> {
        self.budget.as_ref()
    }

    /// How `lookup` is answered (without one it answers an empty map, as `helm template`).
    pub fn set_lookup(&mut self, lookup: Option<Lookup>) {
        self.lookup = lookup;
    }

    /// Parses `text` as the template `name` (a file of the chart), adding
    /// the templates it defines.
    pub fn parse(&mut self, name: &str, text: &str) -> Result<(), Error> {
        add_parse(Rc::make_mut(&mut self.trees), name, text)
    }

    /// Whether a template of that name is defined.
    pub fn contains(&self, name: &str) -> bool {
        self.trees.contains_key(name)
    }

    /// The names of every template, sorted.
    pub fn names(&self) -> Vec<String> {
        self.trees.keys()
    }

    /// Executes the named template with `data` as dot, returning the text as Go prints it
    /// (a missing value prints `<no value>`).
    pub fn execute(&self, name: &str, data: &Value) -> Result<String, Error> {
        let budget = match &self.budget {
            Some(b) => b.clone(),
            None => Rc::new(Budget::new(self.limits)),
        };
        exec::execute(
            self.trees.clone(),
            budget,
            self.limits.depth,
            self.lookup.clone(),
            name,
            data,
        )
    }

    /// Executes as Helm renders a file: `<no value>` is removed from the output.
    pub fn execute_helm(&self, name: &str, data: &Value) -> Result<String, Error> {
        Ok(self.execute(name, data)?.replace("<no value>", ""))
    }
}

/// Reads YAML as Helm reads values files and `fromYaml` input: YAML 1.1
/// scalars (go-yaml v2), numbers as float64, keys as strings; the first
/// document only (`Value::Nil` for an empty one).
pub fn parse_yaml(text: &str) -> Result<Value, String> {
    Ok(yaml11::parse(text)?.unwrap_or_default())
}

/// mergo's map merge as sprig's `merge` (`overwrite == false`: fill what `dst` lacks or has
/// empty) and `mergeOverwrite` run it; also kustomize's `helmCharts` `valuesMerge`.
pub fn mergo(dst: &Value, src: &Value, overwrite: bool) {
    if let (Value::Map(d), Value::Map(s)) = (dst, src) {
        let s = s.borrow().clone();
        funcs::merge_into(d, &s, overwrite, 0);
    }
}

/// Encodes a value as Helm's `toYaml` does (sigs.k8s.io/yaml: sorted keys,
/// go-yaml v2 scalars), with the trailing newline.
pub fn to_yaml(v: &Value) -> Result<String, String> {
    yaml::to_yaml(v)
}

pub(crate) fn add_parse(trees: &mut Defs, name: &str, text: &str) -> Result<(), Error> {
    let source: Rc<str> = Rc::from(text);
    let known = |f: &str| funcs::exists(f);
    let (root, defs) = Parser::parse(name, text, &known)?;
    let mut all = defs;
    all.push((name.to_string(), root));
    for (n, body) in all {
        let empty = body
            .iter()
            .all(|node| matches!(node, parse::Node::Text(t) if t.trim().is_empty()));
        if empty && trees.contains_key(&n) {
            continue;
        }
        trees.map.insert(
            n.clone(),
            Rc::new(Tree {
                name: n,
                parse_name: name.to_string(),
                source: source.clone(),
                root: body,
            }),
        );
    }
    Ok(())
}
