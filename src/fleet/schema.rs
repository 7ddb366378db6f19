//! The JSON Schema of the definitions (generated from the Rust types) and the structural check
//! of a positioned YAML document against it: unknown fields with "did you mean", wrong types,
//! missing fields, invalid enum values and out-of-range numbers, all collected in one pass.

use std::sync::OnceLock;

use schemars::JsonSchema;
use serde_json::{Value as J, json};

use super::types::{Cluster, Fleet};
use super::yaml::{Node, PathSeg, Value, path_string};
use crate::diagnostic::{Diagnostic, ascii_fold, did_you_mean, unusual_chars_note, visible};

/// Which document a schema describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DocKind {
    Fleet,
    Cluster,
}

/// The draft 2020-12 JSON Schema of `T` (definitions, and the documents commands print).
pub fn generate<T: JsonSchema>() -> J {
    let generator = schemars::generate::SchemaSettings::draft2020_12().into_generator();
    let mut generator = generator;
    generator.root_schema_for::<T>().to_value()
}

/// The schema of one document kind (generated once per process).
pub fn schema(kind: DocKind) -> &'static J {
    static FLEET: OnceLock<J> = OnceLock::new();
    static CLUSTER: OnceLock<J> = OnceLock::new();
    match kind {
        DocKind::Fleet => FLEET.get_or_init(generate::<Fleet>),
        DocKind::Cluster => CLUSTER.get_or_init(generate::<Cluster>),
    }
}

/// One schema for both files, picking `Fleet` or `Cluster` by `kind`, for editors
/// (yaml-language-server: `# yaml-language-server: $schema=gitfleet.schema.json`).
pub fn combined_schema() -> J {
    let mut defs = serde_json::Map::new();
    for (name, kind) in [("Fleet", DocKind::Fleet), ("Cluster", DocKind::Cluster)] {
        let mut root = schema(kind).clone();
        let obj = root
            .as_object_mut()
            .expect("schemars emits an object schema");
        if let Some(J::Object(d)) = obj.remove("$defs") {
            defs.extend(d);
        }
        obj.remove("$schema");
        defs.insert(name.to_string(), root);
    }
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://gitfleet.io/schemas/v1alpha1/gitfleet.json",
        "title": "gitfleet definitions (Fleet and Cluster)",
        "if": {"properties": {"kind": {"const": "Fleet"}}, "required": ["kind"]},
        "then": {"$ref": "#/$defs/Fleet"},
        "else": {"$ref": "#/$defs/Cluster"},
        "$defs": defs,
    })
}

/// Checks `doc` against the schema of `kind`, appending every problem to `out`.
pub fn check(doc: &Node, kind: DocKind, out: &mut Vec<Diagnostic>) {
    check_against(doc, schema(kind), out);
}

/// Checks `doc` against any schema [`generate`] made (e.g. a command's JSON output read back
/// against the schema `gitfleet schema` prints for it).
pub fn check_against(doc: &Node, root: &J, out: &mut Vec<Diagnostic>) {
    let mut checker = Checker {
        root,
        out,
        keys: Vec::new(),
    };
    let mut path = Vec::new();
    checker.node(doc, root, &mut path);
}

struct Checker<'a> {
    root: &'a J,
    out: &'a mut Vec<Diagnostic>,
    /// Positions of the keys leading to the current node (a missing field is reported at the
    /// key that names its mapping).
    keys: Vec<crate::diagnostic::Span>,
}

impl<'a> Checker<'a> {
    /// Follows `$ref`s to the schema they name.
    fn resolve(&self, mut schema: &'a J) -> &'a J {
        for _ in 0..32 {
            match schema.get("$ref").and_then(J::as_str) {
                Some(r) => {
                    let pointer = r.strip_prefix('#').unwrap_or(r);
                    match self.root.pointer(pointer) {
                        Some(target) => schema = target,
                        None => return schema,
                    }
                }
                None => return schema,
            }
        }
        schema
    }

    fn node(&mut self, node: &Node, schema: &'a J, path: &mut Vec<PathSeg>) {
        let schema = self.resolve(schema);
        if schema == &J::Bool(true) {
            return;
        }
        if let Some(branches) = schema
            .get("anyOf")
            .or_else(|| schema.get("oneOf"))
            .and_then(J::as_array)
        {
            self.alternatives(node, branches, path);
            return;
        }
        if let Some(allowed) = schema.get("enum").and_then(J::as_array) {
            self.enumeration(node, allowed, path);
            return;
        }
        if let Some(c) = schema.get("const") {
            self.enumeration(node, std::slice::from_ref(c), path);
            return;
        }
        if !self.type_matches(node, schema, path) {
            return;
        }
        match &node.value {
            Value::Map(entries) => {
                let props = schema.get("properties").and_then(J::as_object);
                let extra = schema.get("additionalProperties");
                let mut suggested: Vec<String> = Vec::new();
                for entry in entries {
                    path.push(PathSeg::Key(entry.key.clone()));
                    self.keys.push(entry.key_span.clone());
                    match props.and_then(|p| p.get(&entry.key)) {
                        Some(sub) => self.node(&entry.value, sub, path),
                        None => match extra {
                            Some(J::Bool(false)) => {
                                path.pop();
                                self.keys.pop();
                                if let Some(s) = self.unknown_field(entry, props, path) {
                                    suggested.push(s);
                                }
                                continue;
                            }
                            Some(sub) => self.node(&entry.value, sub, path),
                            None => {}
                        },
                    }
                    path.pop();
                    self.keys.pop();
                }
                if let Some(required) = schema.get("required").and_then(J::as_array) {
                    for name in required.iter().filter_map(J::as_str) {
                        // A misspelt field is reported once, as unknown with a suggestion.
                        if !entries.iter().any(|e| e.key == name)
                            && !suggested.iter().any(|s| s == name)
                        {
                            let what = if path.is_empty() {
                                "at the top level".to_string()
                            } else {
                                format!("in `{}`", path_string(path))
                            };
                            let at = if path.is_empty() {
                                node.span.clone()
                            } else {
                                self.keys
                                    .last()
                                    .cloned()
                                    .unwrap_or_else(|| node.span.clone())
                            };
                            let mut d = Diagnostic::error(
                                at,
                                format!("missing required field `{name}` {what}"),
                            );
                            if let Some(desc) = props
                                .and_then(|p| p.get(name))
                                .map(|s| self.resolve(s))
                                .and_then(|s| s.get("description"))
                                .and_then(J::as_str)
                            {
                                d = d.with_hint(format!("`{name}`: {}", first_sentence(desc)));
                            }
                            self.out.push(d);
                        }
                    }
                }
            }
            Value::Seq(items) => {
                if let Some(item_schema) = schema.get("items") {
                    for (i, item) in items.iter().enumerate() {
                        path.push(PathSeg::Index(i));
                        self.node(item, item_schema, path);
                        path.pop();
                    }
                }
            }
            Value::Int(i) => {
                let v = *i as f64;
                if let Some(min) = schema.get("minimum").and_then(J::as_f64)
                    && v < min
                {
                    self.out.push(Diagnostic::error(
                        node.span.clone(),
                        format!("`{}` must be at least {min}, found {i}", path_string(path)),
                    ));
                }
                if let Some(max) = schema.get("maximum").and_then(J::as_f64)
                    && v > max
                {
                    self.out.push(Diagnostic::error(
                        node.span.clone(),
                        format!("`{}` must be at most {max}, found {i}", path_string(path)),
                    ));
                }
                if schema.get("format").and_then(J::as_str) == Some("uint32")
                    && *i > u32::MAX as i64
                {
                    self.out.push(Diagnostic::error(
                        node.span.clone(),
                        format!("`{}` is too large: {i}", path_string(path)),
                    ));
                }
            }
            _ => {}
        }
    }

    /// Reports an unknown field; returns the field suggested instead, if any.
    fn unknown_field(
        &mut self,
        entry: &super::yaml::Entry,
        props: Option<&serde_json::Map<String, J>>,
        path: &[PathSeg],
    ) -> Option<String> {
        let where_ = if path.is_empty() {
            "at the top level".to_string()
        } else {
            format!("in `{}`", path_string(path))
        };
        let names: Vec<&str> = props
            .map(|p| p.keys().map(String::as_str).collect())
            .unwrap_or_default();
        let mut d = Diagnostic::error(
            entry.key_span.clone(),
            format!("unknown field `{}` {where_}", visible(&entry.key)),
        );
        // A key with invisible or look-alike characters: name them, and compare what it reads
        // as, so that "did you mean `nodePools`?" never answers a key that looks the same.
        if let Some(note) = unusual_chars_note(&entry.key, entry.key_span.column) {
            let folded = ascii_fold(&entry.key);
            let (suggestion, rest) = match names.iter().find(|n| **n == folded) {
                Some(n) => (Some(*n), format!("retype it as `{n}`")),
                None => match did_you_mean(&folded, names.iter().copied()) {
                    Some(s) => (Some(s), format!("did you mean `{s}`?")),
                    None if names.is_empty() => (None, "this mapping takes no fields".into()),
                    None => (None, format!("expected one of: {}", names.join(", "))),
                },
            };
            self.out
                .push(d.with_hint(format!("the key {note}; {rest}")));
            return suggestion.map(str::to_string);
        }
        let suggestion = did_you_mean(&entry.key, names.iter().copied());
        d = match suggestion {
            Some(s) => d.with_hint(format!("did you mean `{s}`?")),
            None if names.is_empty() => d.with_hint("this mapping takes no fields"),
            None => d.with_hint(format!("expected one of: {}", names.join(", "))),
        };
        self.out.push(d);
        suggestion.map(str::to_string)
    }

    fn alternatives(&mut self, node: &Node, branches: &'a [J], path: &mut Vec<PathSeg>) {
        // Option<T>: `anyOf: [T, {type: null}]`.
        let non_null: Vec<&J> = branches
            .iter()
            .filter(|b| b.get("type").and_then(J::as_str) != Some("null"))
            .collect();
        if non_null.len() < branches.len() && matches!(node.value, Value::Null) {
            return;
        }
        if let [only] = non_null.as_slice() {
            self.node(node, only, path);
            return;
        }
        // An enum written as `oneOf` of constants.
        let consts: Option<Vec<J>> = non_null
            .iter()
            .map(|b| self.resolve(b).get("const").cloned())
            .collect();
        if let Some(consts) = consts {
            self.enumeration(node, &consts, path);
            return;
        }
        // General case: valid when one branch has no error, else report the first branch's.
        let mut first = None;
        for b in &non_null {
            let mut errs = Vec::new();
            let mut sub = Checker {
                root: self.root,
                out: &mut errs,
                keys: self.keys.clone(),
            };
            sub.node(node, b, path);
            if errs.is_empty() {
                return;
            }
            first.get_or_insert(errs);
        }
        self.out.extend(first.unwrap_or_default());
    }

    fn enumeration(&mut self, node: &Node, allowed: &[J], path: &[PathSeg]) {
        let found = node.to_json();
        if allowed.contains(&found) {
            return;
        }
        let names: Vec<String> = allowed
            .iter()
            .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string))
            .collect();
        let shown = match &node.value {
            Value::Str(s) => format!("\"{}\"", visible(s)),
            other => other.type_name().to_string(),
        };
        let mut d = Diagnostic::error(
            node.span.clone(),
            format!("invalid value {shown} for `{}`", path_string(path)),
        );
        let list = names.join(", ");
        let note = node
            .as_str()
            .and_then(|s| unusual_chars_note(s, node.span.column));
        let folded = node.as_str().map(ascii_fold);
        d = match (note, folded) {
            (Some(note), Some(folded)) if names.contains(&folded) => {
                d.with_hint(format!("the value {note}; retype it as \"{folded}\""))
            }
            (Some(note), _) => d.with_hint(format!("the value {note}; expected one of: {list}")),
            (None, _) => match node
                .as_str()
                .and_then(|s| did_you_mean(s, names.iter().map(String::as_str)))
            {
                Some(s) => d.with_hint(format!("did you mean \"{s}\"? expected one of: {list}")),
                None => d.with_hint(format!("expected one of: {list}")),
            },
        };
        self.out.push(d);
    }

    /// Checks `type`; reports and returns false on a mismatch.
    fn type_matches(&mut self, node: &Node, schema: &J, path: &[PathSeg]) -> bool {
        let types: Vec<&str> = match schema.get("type") {
            Some(J::String(t)) => vec![t.as_str()],
            Some(J::Array(ts)) => ts.iter().filter_map(J::as_str).collect(),
            _ => return true,
        };
        let ok = types.iter().any(|t| {
            matches!(
                (*t, &node.value),
                ("null", Value::Null)
                    | ("boolean", Value::Bool(_))
                    | ("integer", Value::Int(_))
                    | ("number", Value::Int(_) | Value::Float(..))
                    | ("string", Value::Str(_))
                    | ("array", Value::Seq(_))
                    | ("object", Value::Map(_))
            )
        });
        if ok {
            return true;
        }
        let expected: Vec<&str> = types
            .iter()
            .filter(|t| **t != "null")
            .map(|t| match *t {
                "boolean" => "a boolean (true or false)",
                "integer" => "an integer",
                "number" => "a number",
                "string" => "a string",
                "array" => "a list",
                "object" => "a mapping",
                other => other,
            })
            .collect();
        let found = match &node.value {
            Value::Str(s) => format!("a string (\"{s}\")"),
            Value::Int(i) => format!("an integer ({i})"),
            Value::Float(_, raw) => format!("a number ({raw})"),
            Value::Bool(b) => format!("a boolean ({b})"),
            other => other.type_name().to_string(),
        };
        let mut d = Diagnostic::error(
            node.span.clone(),
            format!(
                "expected {} for `{}`, found {found}",
                expected.join(" or "),
                path_string(path)
            ),
        );
        if types.contains(&"string") {
            let raw = match &node.value {
                Value::Float(_, raw) => Some(raw.clone()),
                Value::Int(i) => Some(i.to_string()),
                Value::Bool(b) => Some(b.to_string()),
                _ => None,
            };
            if let Some(raw) = raw {
                d = d.with_hint(format!("quote it so YAML reads it as a string: \"{raw}\""));
            }
        } else if types.contains(&"array") && !matches!(node.value, Value::Null) {
            d = d.with_hint("write a list: one `- item` per line, or `[a, b]`");
        }
        self.out.push(d);
        false
    }
}

/// The first sentence of a description, without its full stop. A sentence ends at a '.' followed
/// by a space and an uppercase letter, or at the end of the line, so "e.g. `eu-west-1`" survives.
fn first_sentence(text: &str) -> &str {
    let line = text.lines().next().unwrap_or(text).trim_end();
    let mut end = line.len();
    for (i, _) in line.match_indices(". ") {
        let next = line[i + 2..].chars().next();
        let abbreviation = ["e.g", "i.e", "etc"].iter().any(|a| line[..i].ends_with(a));
        if next.is_some_and(char::is_uppercase) && !abbreviation {
            end = i;
            break;
        }
    }
    let sentence = &line[..end];
    sentence.strip_suffix('.').unwrap_or(sentence)
}

/// Every JSON Schema keyword the checker understands; a test keeps the generated schema within it.
#[cfg(test)]
const SUPPORTED: &[&str] = &[
    "$schema",
    "$ref",
    "$defs",
    "title",
    "description",
    "default",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "const",
    "anyOf",
    "oneOf",
    "minimum",
    "maximum",
    "format",
];

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::fleet::yaml::parse;

    fn keywords(schema: &J, out: &mut std::collections::BTreeSet<String>) {
        match schema {
            J::Object(map) => {
                for (k, v) in map {
                    out.insert(k.clone());
                    match k.as_str() {
                        "properties" | "$defs" => {
                            for sub in v.as_object().unwrap().values() {
                                keywords(sub, out);
                            }
                        }
                        "default" | "enum" | "const" => {}
                        _ => keywords(v, out),
                    }
                }
            }
            J::Array(items) => items.iter().for_each(|i| keywords(i, out)),
            _ => {}
        }
    }

    #[test]
    fn the_checker_understands_every_keyword_the_schema_uses() {
        for kind in [DocKind::Fleet, DocKind::Cluster] {
            let mut used = Default::default();
            keywords(schema(kind), &mut used);
            let unknown: Vec<_> = used
                .iter()
                .filter(|k| !SUPPORTED.contains(&k.as_str()))
                .collect();
            assert!(unknown.is_empty(), "unsupported keywords: {unknown:?}");
        }
    }

    fn errors(text: &str) -> Vec<String> {
        let file: Arc<str> = Arc::from("c.yaml");
        let doc = parse(&file, text).unwrap().remove(0);
        let mut out = Vec::new();
        check(&doc, DocKind::Cluster, &mut out);
        out.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn reports_every_problem_in_one_pass() {
        let errs = errors(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec:\n  verison: \"1.30\"\n  nodePools:\n    - {name: p, instanceType: t, min: x, max: 2, taints: [{key: k, effect: NoSchedul}]}\n",
        );
        assert_eq!(errs.len(), 3, "{errs:#?}");
        assert!(errs[0].contains("c.yaml:5:3: error: unknown field `verison` in `spec`"));
        assert!(errs[0].contains("did you mean `version`?"));
        assert!(errs[1].contains("expected an integer for `spec.nodePools[0].min`"));
        assert!(errs[2].contains("invalid value \"NoSchedul\""));
    }

    #[test]
    fn hints_keep_abbreviations_and_cut_at_a_sentence_end() {
        assert_eq!(
            first_sentence("AWS region, e.g. `eu-west-1`."),
            "AWS region, e.g. `eu-west-1`"
        );
        assert_eq!(
            first_sentence("Node pools, i.e. groups of nodes. Each has a name."),
            "Node pools, i.e. groups of nodes"
        );
        assert_eq!(
            first_sentence("Version 1.30 of Kubernetes. More text."),
            "Version 1.30 of Kubernetes"
        );
        assert_eq!(first_sentence("One line.\nSecond line."), "One line");
        assert_eq!(first_sentence("no full stop"), "no full stop");
        assert_eq!(first_sentence(""), "");
    }

    #[test]
    fn a_hint_is_not_cut_mid_word() {
        let errs = errors(
            "apiVersion: gitfleet.io/v1alpha1\nkind: Cluster\nmetadata: {name: a}\nspec:\n  version: \"1.30\"\n  eks: {addons: [{}]}\n",
        );
        let all = errs.join("\n");
        assert!(
            all.contains("`name`: Add-on name, e.g. `vpc-cni`\n"),
            "{all}"
        );
    }

    #[test]
    fn a_valid_document_passes() {
        assert!(
            errors("apiVersion: x\nkind: Cluster\nmetadata: {name: a}\nspec: {kind: {}}\n")
                .is_empty()
        );
    }
}
