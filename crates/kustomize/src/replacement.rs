//! `replacements` and the deprecated `vars`: copying a field of one object into fields of others.
//!
//! Everything here was checked against kustomize v5.8.1 (`kubectl kustomize`); the behaviours
//! that surprise are listed where they live. The main ones:
//!
//! * A replacement's **source** is selected exactly (group, version, kind, name, namespace; a
//!   namespace of `default` equals none) against every identity the object has had, so the name
//!   it was read with still selects it after a prefix. Its `fieldPath` uses exact list matching
//!   (`[name=app]` is the item whose `name` is `app`).
//! * A replacement's **targets** are selected with anchored regular expressions
//!   (`name: web-.*`), again against every identity; `reject` refuses an object when *any* of its
//!   identities matches, and a reject's label or annotation selector refuses on its own (a reject
//!   `{kind: ConfigMap, labelSelector: app=web}` refuses every ConfigMap *and* everything labelled
//!   `app=web`).
//! * In a target's `fieldPath`, `[name=app]` is an **unanchored** regular expression: it also
//!   matches `myapp` (write `[name=^app$]`). `*` enters every item of a list, a number one item.
//! * A target field that does not exist is an error, unless `options.create`.
//! * A scalar target keeps its type: `"7"` into `replicas: 2` gives `replicas: 7`, `7` into a
//!   string gives `"7"`, and `abc` into an integer is an error. A created field takes the type the
//!   text reads as (`"5432"` becomes the integer 5432, `""` becomes null).
//! * Values of `metadata.annotations` always come out as strings (kustomize rewrites them when it
//!   prints), so this module writes strings there.
//!
//! Vars (`$(NAME)` in the fields of the `varReference` table) are resolved once, at the end of
//! the top-level build, after names are final: see [`resolve_vars`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use regex::Regex;
use serde::Deserialize;
use serde_json::{Map, Number, Value};

use crate::fieldspec::{self, FieldSpec};
use crate::kustomization::{Selector, Var};
use crate::resource::{ResId, Resource};
use crate::yaml;
use crate::{Diag, Span};

/// The field a source reads and a target writes when they name none.
pub const DEFAULT_FIELD_PATH: &str = "metadata.name";

/// One replacement: a source field copied into target fields.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Replacement {
    /// Required (checked when applied, as kustomize does). Boxed so that a kustomization's
    /// `replacements` entry (a path or an inline replacement) stays small.
    #[serde(default)]
    pub source: Option<Box<SourceSelector>>,
    /// At least one (checked when applied).
    #[serde(default)]
    pub targets: Vec<TargetSelector>,
}

/// The one object a replacement reads, and where in it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SourceSelector {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    /// Dot-separated; empty means [`DEFAULT_FIELD_PATH`].
    #[serde(default)]
    pub field_path: String,
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

/// Objects a replacement writes into, and where.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TargetSelector {
    /// Required (checked when applied). Its parts are anchored regular expressions.
    #[serde(default)]
    pub select: Option<Selector>,
    #[serde(default)]
    pub reject: Vec<Selector>,
    /// Empty means `[metadata.name]`.
    #[serde(default)]
    pub field_paths: Vec<String>,
    #[serde(default)]
    pub options: Option<FieldOptions>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FieldOptions {
    /// On a source: split its value and take part `index`. On a target: split the target's
    /// value and replace part `index` (negative: prepend; past the end: append).
    #[serde(default)]
    pub delimiter: String,
    #[serde(default)]
    pub index: i64,
    /// Accepted and ignored, as kustomize v5.8.1 does.
    #[serde(default)]
    pub encoding: String,
    /// Targets only: make missing fields (and list items for `[name=value]` and index
    /// `len`) instead of failing.
    #[serde(default)]
    pub create: bool,
}

// ---------------------------------------------------------------------------------------------
// Paths

/// Splits a field path on dots as kustomize does: `\.` escapes a dot, and a bracketed part
/// keeps its dots (`[name=a.b]` stays one part; `[a.b/c]`, having no `=`, loses its brackets
/// and is the key `a.b/c`). A bracketed part without a dot keeps its brackets even without `=`
/// (`[k]` is then a malformed list selector, not the key `k`).
pub fn split_field_path(path: &str) -> Vec<String> {
    let mut pieces: Vec<String> = Vec::new();
    for piece in path.split('.') {
        match pieces.last_mut() {
            Some(last) if last.ends_with('\\') => {
                last.pop();
                last.push('.');
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_string()),
        }
    }
    let mut out = Vec::new();
    let mut i = 0;
    while i < pieces.len() {
        let piece = &pieces[i];
        if piece.starts_with('[') && !piece.ends_with(']') {
            let mut joined = vec![piece.as_str()];
            while i + 1 < pieces.len() {
                i += 1;
                joined.push(pieces[i].as_str());
                if pieces[i].ends_with(']') {
                    break;
                }
            }
            let s = joined.join(".");
            if s.contains('=') {
                out.push(s);
            } else {
                out.push(s.trim_matches(|c| c == '[' || c == ']').to_string());
            }
        } else {
            out.push(piece.clone());
        }
        i += 1;
    }
    out
}

/// A `[field=value]` part: `(field, value)`; the field is empty for `[=value]`.
fn list_selector(seg: &str) -> Option<Result<(&str, &str), String>> {
    let inner = seg.strip_prefix('[')?.strip_suffix(']')?;
    Some(inner.split_once('=').ok_or_else(|| {
        format!("`{seg}`: a list part must read [field=value] (or [=value] for a list of scalars)")
    }))
}

fn index_part(seg: &str) -> Option<usize> {
    if !seg.is_empty() && seg.bytes().all(|b| b.is_ascii_digit()) {
        seg.parse().ok()
    } else {
        None
    }
}

fn node_kind(v: &Value) -> &'static str {
    match v {
        Value::Object(_) => "a map",
        Value::Array(_) => "a list",
        Value::Null => "null",
        _ => "a scalar",
    }
}

fn wrong_kind(seg: &str, expected: &str, found: &Value) -> String {
    format!(
        "at `{seg}`: expected {expected} but found {}",
        node_kind(found)
    )
}

/// The text kustomize works with for a scalar (maps and lists read as the empty string).
fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null => "null".into(),
        Value::Object(_) | Value::Array(_) => String::new(),
    }
}

/// Looks a dot path up exactly (kustomize's `PathGetter`, used for replacement sources and
/// var values): `[field=value]` is the first item whose field equals the value, a number an
/// item, `-` the last item; empty parts are skipped. `Ok(None)` when something is missing.
fn lookup<'a>(mut node: &'a Value, segs: &[String]) -> Result<Option<&'a Value>, String> {
    for seg in segs.iter().filter(|s| !s.is_empty()) {
        if seg == "*" {
            return Err("wildcards (`*`) are not supported in a source's fieldPath".into());
        }
        let next = if let Some(sel) = list_selector(seg) {
            let (field, value) = sel?;
            let Value::Array(items) = node else {
                return Err(wrong_kind(seg, "a list", node));
            };
            items.iter().find(|item| {
                if field.is_empty() {
                    is_scalar(item) && text_of(item) == value
                } else {
                    item.get(field)
                        .is_some_and(|v| is_scalar(v) && text_of(v) == value)
                }
            })
        } else if let Some(i) = index_part(seg) {
            let Value::Array(items) = node else {
                return Err(wrong_kind(seg, "a list", node));
            };
            items.get(i)
        } else if let (Value::Array(items), "-") = (node, seg.as_str()) {
            items.last()
        } else {
            match node {
                Value::Object(map) => map.get(seg.as_str()),
                Value::Null => None,
                _ => return Err(wrong_kind(seg, "a map", node)),
            }
        };
        match next {
            Some(n) => node = n,
            None => return Ok(None),
        }
    }
    Ok(Some(node))
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// How a target walk treats what it reaches.
struct Walk<'f> {
    create: bool,
    /// Called with each field found (or made, then `true`).
    set: &'f mut dyn FnMut(&mut Value, bool) -> Result<(), String>,
}

/// Walks a target path (kustomize's `PathMatcher`), calling the setter on every match; returns
/// how many it found. `[field=regex]` keeps the items whose field matches the unanchored
/// regular expression, `*` every item, a number one item.
///
/// With `create`: a missing key is made (a list when the next part selects items, otherwise a
/// map), `[field=value]` matching nothing appends `{field: value}` (`[=value]` the scalar), and
/// an index equal to the length appends. Surprise kept from kustomize: a key that holds `null`
/// on the way is treated as missing, and with `create` the path then silently does nothing.
fn walk(node: &mut Value, segs: &[String], w: &mut Walk<'_>) -> Result<usize, String> {
    let Some((seg, rest)) = segs.split_first() else {
        (w.set)(node, false)?;
        return Ok(1);
    };
    if let Some(sel) = list_selector(seg) {
        let (field, pattern) = sel?;
        let re = Regex::new(pattern).map_err(|e| format!("at `{seg}`: {e}"))?;
        let Value::Array(items) = node else {
            return Err(wrong_kind(seg, "a list", node));
        };
        let mut found = 0;
        let mut matched = false;
        for item in items.iter_mut() {
            let hit = if field.is_empty() {
                is_scalar(item) && re.is_match(text_of(item).trim())
            } else {
                item.get(field)
                    .is_some_and(|v| !v.is_null() && re.is_match(text_of(v).trim()))
            };
            if hit {
                matched = true;
                found += walk(item, rest, w)?;
            }
        }
        if !matched && w.create {
            let fresh = if field.is_empty() {
                plain(pattern)
            } else {
                let mut m = Map::new();
                m.insert(field.to_string(), plain(pattern));
                Value::Object(m)
            };
            items.push(fresh);
            let last = items.len() - 1;
            if rest.is_empty() && field.is_empty() {
                (w.set)(&mut items[last], true)?;
                return Ok(1);
            }
            return walk(&mut items[last], rest, w);
        }
        return Ok(found);
    }
    if let Some(i) = index_part(seg) {
        let Value::Array(items) = node else {
            return Err(wrong_kind(seg, "a list", node));
        };
        if i < items.len() {
            return walk(&mut items[i], rest, w);
        }
        if w.create && i == items.len() {
            items.push(container_for(rest));
            return descend_created(&mut items[i], rest, w);
        }
        return Err(format!(
            "index {i} specified but only {} elements found",
            items.len()
        ));
    }
    if seg == "*" {
        let Value::Array(items) = node else {
            return Err(wrong_kind(seg, "a list", node));
        };
        let mut found = 0;
        for item in items.iter_mut() {
            found += walk(item, rest, w)?;
        }
        return Ok(found);
    }
    if seg.is_empty() {
        return Err("the path has an empty part (two dots in a row?)".into());
    }
    let Value::Object(map) = node else {
        return Err(wrong_kind(seg, "a map", node));
    };
    match map.get_mut(seg.as_str()) {
        Some(child) if child.is_null() && !rest.is_empty() => Ok(usize::from(w.create)),
        Some(child) => walk(child, rest, w),
        None if w.create => {
            let child = map
                .entry(seg.clone())
                .or_insert_with(|| container_for(rest));
            descend_created(child, rest, w)
        }
        None => Ok(0),
    }
}

/// A freshly made node: the final field is handed to the setter as made.
fn descend_created(node: &mut Value, rest: &[String], w: &mut Walk<'_>) -> Result<usize, String> {
    if rest.is_empty() {
        (w.set)(node, true)?;
        Ok(1)
    } else {
        walk(node, rest, w)
    }
}

/// What kustomize makes for a missing key, given the parts after it: a list when the next part
/// selects list items by `[..=..]` or index, otherwise a map (even for `*`, which then fails).
fn container_for(rest: &[String]) -> Value {
    match rest.first() {
        None => Value::Null,
        Some(next)
            if (next.starts_with('[') && next.ends_with(']')) || index_part(next).is_some() =>
        {
            Value::Array(Vec::new())
        }
        Some(_) => Value::Object(Map::new()),
    }
}

// ---------------------------------------------------------------------------------------------
// Scalars

/// What a plain (unquoted) YAML scalar with this text reads as, by the YAML 1.2 core rules
/// kustomize's YAML library applies: null, booleans, integers (decimal, `0x`, `0o`, `0b`, a
/// leading `0` as octal, `_` separators), floats; otherwise the string. Timestamps stay strings.
pub fn plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let first = text.as_bytes()[0];
    if first == b'.' {
        if let Some(n) = float_value(text) {
            return n;
        }
    } else if first.is_ascii_digit() || first == b'+' || first == b'-' {
        let digits = text.replace('_', "");
        if let Some(n) = go_int(&digits) {
            return n;
        }
        if yaml_float_syntax(&digits)
            && let Some(n) = float_value(&digits)
        {
            return n;
        }
    }
    Value::String(text.to_string())
}

fn float_value(text: &str) -> Option<Value> {
    let f: f64 = text.parse().ok()?;
    Number::from_f64(f).map(Value::Number)
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn yaml_float_syntax(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
        i += 1;
    }
    let digits = |i: &mut usize| {
        let start = *i;
        while *i < b.len() && b[*i].is_ascii_digit() {
            *i += 1;
        }
        *i - start
    };
    if i < b.len() && b[i] == b'.' {
        i += 1;
        if digits(&mut i) == 0 {
            return false;
        }
    } else {
        if digits(&mut i) == 0 {
            return false;
        }
        if i < b.len() && b[i] == b'.' {
            i += 1;
            digits(&mut i);
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'+' || b[i] == b'-') {
            i += 1;
        }
        if digits(&mut i) == 0 {
            return false;
        }
    }
    i == b.len()
}

/// Go's `strconv.ParseInt(s, 0, 64)` then `ParseUint`: sign, `0x`/`0o`/`0b` prefixes, and a
/// leading `0` meaning octal.
fn go_int(s: &str) -> Option<Value> {
    let (negative, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let lower = body.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty() || digits.starts_with('+') || digits.starts_with('-') {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if negative {
        if magnitude <= i64::MAX as u64 + 1 {
            let v = (magnitude as i128).wrapping_neg() as i64;
            return Some(Value::Number(v.into()));
        }
        return None;
    }
    Some(Value::Number(magnitude.into()))
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an integer",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a map",
    }
}

/// The value an existing scalar field gets from `text`: kustomize keeps the field's type, so
/// the text must read as that type (an integer into a float is allowed).
fn retyped(target: &Value, text: &str) -> Result<Value, String> {
    let read = plain(text);
    let ok = match (target, &read) {
        (Value::String(_), _) => return Ok(Value::String(text.to_string())),
        (Value::Null, Value::Null) | (Value::Bool(_), Value::Bool(_)) => true,
        (Value::Number(t), Value::Number(r)) => t.is_f64() || !r.is_f64(),
        _ => false,
    };
    if ok {
        Ok(read)
    } else {
        Err(format!(
            "`{text}` reads as {} and cannot replace {} (kustomize keeps the type of the field it \
             replaces)",
            type_name(&read),
            type_name(target)
        ))
    }
}

// ---------------------------------------------------------------------------------------------
// Selection

/// Kinds with no namespace (kustomize asks its built-in schema; these are the built-in ones).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "SelfSubjectAccessReview",
    "SelfSubjectRulesReview",
    "StorageClass",
    "SubjectAccessReview",
    "TokenReview",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

fn is_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

/// An empty namespace reads as `default` when namespaces are compared.
fn or_default(namespace: &str) -> &str {
    if namespace.is_empty() {
        "default"
    } else {
        namespace
    }
}

/// Every identity an object has had, as kustomize records them: earlier identities keep
/// their effective namespace (`default` for none), the current one its namespace as written.
fn known_ids(res: &Resource) -> Vec<ResId> {
    let mut ids: Vec<ResId> = res
        .previous
        .iter()
        .map(|id| {
            let mut id = id.clone();
            if id.namespace.is_empty() && !is_cluster_scoped(&id.kind) {
                id.namespace = "default".into();
            }
            id
        })
        .collect();
    ids.push(res.id());
    ids
}

/// Whether a source selector selects an identity: every part given must be equal, and a
/// namespace `default` equals none, for every kind (the oracle selects a Namespace object with
/// `namespace: default`, but not with `namespace: foo`).
fn source_selects(s: &SourceSelector, id: &ResId) -> bool {
    (s.group.is_empty() || s.group == id.group)
        && (s.version.is_empty() || s.version == id.version)
        && (s.kind.is_empty() || s.kind == id.kind)
        && (s.name.is_empty() || s.name == id.name)
        && (s.namespace.is_empty() || or_default(&s.namespace) == or_default(&id.namespace))
}

fn describe_source(s: &SourceSelector) -> String {
    let parts: Vec<String> = [
        ("group", &s.group),
        ("version", &s.version),
        ("kind", &s.kind),
        ("name", &s.name),
        ("namespace", &s.namespace),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}: {v}"))
    .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A target selector's identity part, compiled: anchored regular expressions.
struct IdMatcher {
    parts: [Option<Regex>; 5],
}

impl IdMatcher {
    fn new(s: &Selector) -> Result<IdMatcher, String> {
        let compile = |field: &str, p: &str| -> Result<Option<Regex>, String> {
            if p.is_empty() {
                return Ok(None);
            }
            Regex::new(&format!("^(?:{p})$")).map(Some).map_err(|e| {
                format!("target selector {field} `{p}` is not a regular expression: {e}")
            })
        };
        Ok(IdMatcher {
            parts: [
                compile("group", &s.group)?,
                compile("version", &s.version)?,
                compile("kind", &s.kind)?,
                compile("name", &s.name)?,
                compile("namespace", &s.namespace)?,
            ],
        })
    }
    fn is_empty(&self) -> bool {
        self.parts.iter().all(Option::is_none)
    }
    fn matches(&self, id: &ResId) -> bool {
        let values = [&id.group, &id.version, &id.kind, &id.name, &id.namespace];
        self.parts
            .iter()
            .zip(values)
            .all(|(re, v)| re.as_ref().is_none_or(|re| re.is_match(v)))
    }
}

/// A target selector, compiled.
struct Matcher {
    id: IdMatcher,
    labels: LabelSelector,
    annotations: LabelSelector,
}

impl Matcher {
    fn new(s: &Selector) -> Result<Matcher, String> {
        Ok(Matcher {
            id: IdMatcher::new(s)?,
            labels: LabelSelector::parse(&s.label_selector)
                .map_err(|e| format!("labelSelector `{}`: {e}", s.label_selector))?,
            annotations: LabelSelector::parse(&s.annotation_selector)
                .map_err(|e| format!("annotationSelector `{}`: {e}", s.annotation_selector))?,
        })
    }
    fn has_meta_selectors(&self) -> bool {
        !self.labels.0.is_empty() || !self.annotations.0.is_empty()
    }
    fn meta_matches(&self, res: &Resource) -> bool {
        self.labels.matches(&res.labels()) && self.annotations.matches(&res.annotations())
    }
}

fn target_selects(res: &Resource, select: &Matcher, rejects: &[Matcher]) -> bool {
    if !select.meta_matches(res) {
        return false;
    }
    if rejects
        .iter()
        .any(|r| r.has_meta_selectors() && r.meta_matches(res))
    {
        return false;
    }
    let ids = known_ids(res);
    if !ids.iter().any(|id| select.id.matches(id)) {
        return false;
    }
    !rejects
        .iter()
        .any(|r| !r.id.is_empty() && ids.iter().any(|id| r.id.matches(id)))
}

// ---------------------------------------------------------------------------------------------
// Label selectors (Kubernetes syntax: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`,
// `!a`, `a>1`, `a<1`, comma-separated, all must hold).

#[derive(Debug, Clone, PartialEq)]
enum Req {
    Exists(String),
    Absent(String),
    Equals(String, String),
    NotEquals(String, String),
    In(String, BTreeSet<String>),
    NotIn(String, BTreeSet<String>),
    Greater(String, i64),
    Less(String, i64),
}

#[derive(Debug, Clone, Default, PartialEq)]
struct LabelSelector(Vec<Req>);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Not,
    NotEquals,
    Equals,
    DoubleEquals,
    Greater,
    Less,
    Open,
    Close,
    Comma,
}

fn tok_text(t: Option<&Tok>) -> String {
    match t {
        None => "end of string".into(),
        Some(Tok::Ident(s)) => format!("'{s}'"),
        Some(Tok::Not) => "'!'".into(),
        Some(Tok::NotEquals) => "'!='".into(),
        Some(Tok::Equals) => "'='".into(),
        Some(Tok::DoubleEquals) => "'=='".into(),
        Some(Tok::Greater) => "'>'".into(),
        Some(Tok::Less) => "'<'".into(),
        Some(Tok::Open) => "'('".into(),
        Some(Tok::Close) => "')'".into(),
        Some(Tok::Comma) => "','".into(),
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let special = |c: char| matches!(c, '=' | '!' | '(' | ')' | ',' | '>' | '<');
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if special(c) {
            chars.next();
            let two = chars.peek() == Some(&'=');
            out.push(match c {
                '!' if two => {
                    chars.next();
                    Tok::NotEquals
                }
                '!' => Tok::Not,
                '=' if two => {
                    chars.next();
                    Tok::DoubleEquals
                }
                '=' => Tok::Equals,
                '>' => Tok::Greater,
                '<' => Tok::Less,
                '(' => Tok::Open,
                ')' => Tok::Close,
                _ => Tok::Comma,
            });
            continue;
        }
        let mut ident = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || special(c) {
                break;
            }
            ident.push(c);
            chars.next();
        }
        out.push(Tok::Ident(ident));
    }
    out
}

impl LabelSelector {
    fn parse(s: &str) -> Result<LabelSelector, String> {
        let toks = lex(s);
        let mut i = 0;
        let mut reqs = Vec::new();
        if toks.is_empty() {
            return Ok(LabelSelector(reqs));
        }
        loop {
            reqs.push(Self::requirement(&toks, &mut i)?);
            match toks.get(i) {
                None => break,
                Some(Tok::Comma) => {
                    i += 1;
                    if i >= toks.len() {
                        return Err("found end of string, expected a requirement after ','".into());
                    }
                }
                t => {
                    return Err(format!(
                        "found {}, expected ',' or end of string",
                        tok_text(t)
                    ));
                }
            }
        }
        Ok(LabelSelector(reqs))
    }

    fn requirement(toks: &[Tok], i: &mut usize) -> Result<Req, String> {
        let negated = toks.get(*i) == Some(&Tok::Not);
        if negated {
            *i += 1;
        }
        let key = match toks.get(*i) {
            Some(Tok::Ident(k)) => k.clone(),
            t => return Err(format!("found {}, expected a label key", tok_text(t))),
        };
        *i += 1;
        if negated {
            return Ok(Req::Absent(key));
        }
        let op = match toks.get(*i) {
            None | Some(Tok::Comma) => return Ok(Req::Exists(key)),
            Some(t) => t.clone(),
        };
        *i += 1;
        let single = |i: &mut usize| -> String {
            match toks.get(*i) {
                Some(Tok::Ident(v)) => {
                    *i += 1;
                    v.clone()
                }
                _ => String::new(),
            }
        };
        match op {
            Tok::Equals | Tok::DoubleEquals => Ok(Req::Equals(key, single(i))),
            Tok::NotEquals => Ok(Req::NotEquals(key, single(i))),
            Tok::Greater | Tok::Less => {
                let v = single(i);
                let n: i64 = v.parse().map_err(|_| {
                    format!("for '<' and '>', the value must be an integer, not '{v}'")
                })?;
                Ok(if op == Tok::Greater {
                    Req::Greater(key, n)
                } else {
                    Req::Less(key, n)
                })
            }
            Tok::Ident(word) if word == "in" || word == "notin" => {
                if toks.get(*i) != Some(&Tok::Open) {
                    return Err(format!("found {}, expected '('", tok_text(toks.get(*i))));
                }
                *i += 1;
                let mut values = BTreeSet::new();
                loop {
                    match toks.get(*i) {
                        Some(Tok::Ident(v)) => {
                            values.insert(v.clone());
                            *i += 1;
                        }
                        Some(Tok::Comma) | Some(Tok::Close) => {
                            values.insert(String::new());
                        }
                        t => {
                            return Err(format!(
                                "found {}, expected ',', ')' or identifier",
                                tok_text(t)
                            ));
                        }
                    }
                    match toks.get(*i) {
                        Some(Tok::Comma) => *i += 1,
                        Some(Tok::Close) => {
                            *i += 1;
                            break;
                        }
                        t => return Err(format!("found {}, expected ',' or ')'", tok_text(t))),
                    }
                }
                Ok(if word == "in" {
                    Req::In(key, values)
                } else {
                    Req::NotIn(key, values)
                })
            }
            t => Err(format!(
                "found {}, expected one of '=', '==', '!=', 'in', 'notin', '<', '>'",
                tok_text(Some(&t))
            )),
        }
    }

    fn matches(&self, labels: &Map<String, Value>) -> bool {
        let get = |k: &str| labels.get(k).map(text_of);
        self.0.iter().all(|req| match req {
            Req::Exists(k) => labels.contains_key(k),
            Req::Absent(k) => !labels.contains_key(k),
            Req::Equals(k, v) => get(k).as_deref() == Some(v.as_str()),
            Req::NotEquals(k, v) => get(k).as_deref() != Some(v.as_str()),
            Req::In(k, vs) => get(k).is_some_and(|x| vs.contains(&x)),
            Req::NotIn(k, vs) => get(k).is_none_or(|x| !vs.contains(&x)),
            Req::Greater(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x > *n),
            Req::Less(k, n) => get(k)
                .and_then(|x| x.parse::<i64>().ok())
                .is_some_and(|x| x < *n),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Applying replacements

struct Fail {
    message: String,
    hint: Option<String>,
}

impl From<String> for Fail {
    fn from(message: String) -> Self {
        Fail {
            message,
            hint: None,
        }
    }
}

/// Applies replacements in order (each sees what the earlier ones wrote). The first problem is
/// reported at `span` (the caller's `replacements` entry) and stops the rest, as kustomize stops.
pub fn apply(
    resources: &mut [Resource],
    replacements: &[Replacement],
    span: &Span,
    diags: &mut Vec<Diag>,
) {
    for (i, r) in replacements.iter().enumerate() {
        if let Err(fail) = apply_one(resources, r) {
            let message = if replacements.len() > 1 {
                format!("replacement {}: {}", i + 1, fail.message)
            } else {
                fail.message
            };
            let mut d = Diag::error(span.clone(), message);
            if let Some(h) = fail.hint {
                d = d.with_hint(h);
            }
            diags.push(d);
            return;
        }
    }
}

fn apply_one(resources: &mut [Resource], r: &Replacement) -> Result<(), Fail> {
    let Some(source) = r.source.as_ref().filter(|_| !r.targets.is_empty()) else {
        return Err("replacements must specify a source and at least one target"
            .to_string()
            .into());
    };
    let value = source_value(resources, source)?;
    for target in &r.targets {
        let Some(select) = &target.select else {
            return Err("target must specify resources to select (`select:`)"
                .to_string()
                .into());
        };
        let select = Matcher::new(select)?;
        let rejects = target
            .reject
            .iter()
            .map(Matcher::new)
            .collect::<Result<Vec<_>, _>>()?;
        let default_paths = [DEFAULT_FIELD_PATH.to_string()];
        let paths = if target.field_paths.is_empty() {
            &default_paths[..]
        } else {
            &target.field_paths[..]
        };
        let options = target.options.clone().unwrap_or_default();
        for res in resources.iter_mut() {
            if !target_selects(res, &select, &rejects) {
                continue;
            }
            for fp in paths {
                set_target(res, fp, &value, &options)?;
            }
        }
    }
    Ok(())
}

fn source_value(resources: &[Resource], source: &SourceSelector) -> Result<Value, Fail> {
    let matches: Vec<&Resource> = resources
        .iter()
        .filter(|r| known_ids(r).iter().any(|id| source_selects(source, id)))
        .collect();
    let res = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(Fail {
                message: format!(
                    "nothing selected by replacement source {}",
                    describe_source(source)
                ),
                hint: Some(
                    "a source selects exactly (no regular expressions) by group, version, kind, \
                     name and namespace"
                        .into(),
                ),
            });
        }
        many => {
            let names: Vec<String> = many.iter().map(|r| r.id().to_string()).collect();
            return Err(Fail {
                message: format!(
                    "multiple matches for replacement source {}: {}",
                    describe_source(source),
                    names.join(", ")
                ),
                hint: Some("a source must select exactly one object".into()),
            });
        }
    };
    let fp = if source.field_path.is_empty() {
        DEFAULT_FIELD_PATH
    } else {
        &source.field_path
    };
    let found = lookup(&res.value, &split_field_path(fp))
        .map_err(|e| format!("replacement source fieldPath `{fp}` in {}: {e}", res.id()))?;
    let value = match found {
        None | Some(Value::Null) => None,
        Some(Value::Object(m)) if m.is_empty() => None,
        Some(Value::Array(a)) if a.is_empty() => None,
        Some(v) => Some(v.clone()),
    }
    .ok_or_else(|| {
        format!(
            "fieldPath `{fp}` is missing for replacement source {} ({})",
            describe_source(source),
            res.id()
        )
    })?;
    let options = source.options.clone().unwrap_or_default();
    if options.delimiter.is_empty() {
        return Ok(value);
    }
    if !is_scalar(&value) {
        return Err(
            "delimiter option can only be used with scalar nodes (the source is not a scalar)"
                .to_string()
                .into(),
        );
    }
    let text = text_of(&value);
    let parts: Vec<&str> = text.split(options.delimiter.as_str()).collect();
    let part = usize::try_from(options.index)
        .ok()
        .and_then(|i| parts.get(i))
        .ok_or_else(|| {
            format!(
                "options.index {} is out of bounds for value {text}",
                options.index
            )
        })?;
    Ok(match value {
        Value::String(_) => Value::String((*part).to_string()),
        _ => plain(part),
    })
}

fn set_target(
    res: &mut Resource,
    fp: &str,
    value: &Value,
    options: &FieldOptions,
) -> Result<(), Fail> {
    let segs = split_field_path(fp);
    let annotation = segs.len() == 3 && segs[0] == "metadata" && segs[1] == "annotations";
    let mut set = |node: &mut Value, created: bool| -> Result<(), String> {
        *node = new_value(node, created, value, options)?;
        if annotation && is_scalar(node) && !node.is_string() {
            *node = Value::String(text_of(node));
        }
        Ok(())
    };
    let mut w = Walk {
        create: options.create,
        set: &mut set,
    };
    let id = res.id();
    let verb = if options.create {
        "unable to find or create"
    } else {
        "unable to find"
    };
    match walk(&mut res.value, &segs, &mut w) {
        Ok(0) => Err(Fail {
            message: format!("{verb} field \"{fp}\" in replacement target {id}"),
            hint: (!options.create).then(|| {
                "set `options: {create: true}` on the target to make missing fields".into()
            }),
        }),
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{verb} field \"{fp}\" in replacement target {id}: {e}").into()),
    }
}

/// What a target field becomes.
fn new_value(
    target: &Value,
    created: bool,
    source: &Value,
    options: &FieldOptions,
) -> Result<Value, String> {
    if !options.delimiter.is_empty() {
        if (!created && !is_scalar(target)) || (created && !is_scalar(source)) {
            return Err("delimiter option can only be used with scalar nodes".into());
        }
        let current = if created {
            String::new()
        } else {
            text_of(target)
        };
        let mut parts: Vec<&str> = current.split(options.delimiter.as_str()).collect();
        let v = text_of(source);
        match usize::try_from(options.index) {
            Err(_) => parts.insert(0, &v),
            Ok(i) if i >= parts.len() => parts.push(&v),
            Ok(i) => parts[i] = &v,
        }
        let joined = parts.join(&options.delimiter);
        return if created {
            Ok(plain(&joined))
        } else {
            retyped(target, &joined)
        };
    }
    if created {
        return Ok(if is_scalar(source) {
            plain(&text_of(source))
        } else {
            source.clone()
        });
    }
    if !is_scalar(target) {
        return Ok(source.clone());
    }
    retyped(target, &text_of(source))
}

// ---------------------------------------------------------------------------------------------
// Replacement files

/// The fields kustomize knows in a replacement file, per level, for case-insensitive matching.
const REPLACEMENT_KEYS: &[&str] = &["source", "targets"];
const SOURCE_KEYS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "fieldPath",
    "options",
];
const TARGET_KEYS: &[&str] = &["select", "reject", "fieldPaths", "options"];
const SELECTOR_KEYS: &[&str] = &[
    "group",
    "version",
    "kind",
    "name",
    "namespace",
    "labelSelector",
    "annotationSelector",
];
const OPTION_KEYS: &[&str] = &["delimiter", "index", "encoding", "create"];

/// Keeps the known keys of a map (matched case-insensitively, as Go's JSON decoder matches
/// them), renamed to their proper spelling; drops unknown keys and nulls.
fn known_keys(v: &Value, keys: &[&str]) -> Value {
    let Value::Object(m) = v else {
        return v.clone();
    };
    let mut out = Map::new();
    for (k, val) in m {
        if val.is_null() {
            continue;
        }
        let Some(name) = keys
            .iter()
            .find(|n| **n == k.as_str())
            .or_else(|| keys.iter().find(|n| n.eq_ignore_ascii_case(k)))
        else {
            continue;
        };
        let val = match *name {
            "source" => known_keys(val, SOURCE_KEYS),
            "options" => known_keys(val, OPTION_KEYS),
            "select" => known_keys(val, SELECTOR_KEYS),
            "reject" => each(val, SELECTOR_KEYS),
            "targets" => each(val, TARGET_KEYS),
            _ => val.clone(),
        };
        out.insert((*name).to_string(), val);
    }
    Value::Object(out)
}

fn each(v: &Value, keys: &[&str]) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(|i| known_keys(i, keys)).collect()),
        other => other.clone(),
    }
}

/// Parses a file named by `replacements: - path: file.yaml`: one replacement (a map) or a list
/// of them.
///
/// Kustomize reads such a file leniently, and so does this: only the first document counts
/// (later `---` documents are ignored), unknown fields are ignored, and field names match
/// regardless of case (`fieldpath`). A file with no document, or whose document is neither a
/// map nor a list, is an error.
pub fn parse_file(text: &str, file: &Arc<str>) -> Result<Vec<Replacement>, Vec<Diag>> {
    let Some((start, doc)) = yaml::documents(text).into_iter().next() else {
        return Err(vec![
            Diag::error(
                Span::file(file.clone()),
                "the replacements file holds no replacement",
            )
            .with_hint("it holds one replacement (source and targets) or a list of them"),
        ]);
    };
    let shift = |mut s: Span| {
        s.line += start - 1;
        s
    };
    let value: Value = match serde_yaml::from_str(&doc) {
        Ok(v) => v,
        Err(e) => {
            let mut d = yaml::serde_diag(file, &e, "replacements file");
            d.span = shift(d.span);
            return Err(vec![d]);
        }
    };
    let positions = yaml::positions(file, &doc).ok();
    let root = positions
        .as_ref()
        .and_then(|d| d.first())
        .map(|d| d.root.clone())
        .unwrap_or_default();
    let (items, item_pos): (Vec<&Value>, Vec<yaml::Pos>) = match &value {
        Value::Object(_) => (vec![&value], vec![root.clone()]),
        Value::Array(list) => (
            list.iter().collect(),
            (0..list.len())
                .map(|i| root.item(i).cloned().unwrap_or_else(|| root.clone()))
                .collect(),
        ),
        _ => {
            return Err(vec![Diag::error(
                shift(root.span(file)),
                "the replacements file must hold a replacement (a map) or a list of them",
            )]);
        }
    };
    let mut out = Vec::new();
    let mut diags = Vec::new();
    for (item, pos) in items.into_iter().zip(item_pos) {
        if !item.is_object() {
            diags.push(Diag::error(
                shift(pos.span(file)),
                format!("a replacement must be a map, not {}", node_kind(item)),
            ));
            continue;
        }
        match serde_json::from_value::<Replacement>(known_keys(item, REPLACEMENT_KEYS)) {
            Ok(r) => out.push(r),
            Err(e) => diags.push(Diag::error(
                shift(pos.span(file)),
                format!("invalid replacement: {e}"),
            )),
        }
    }
    if diags.is_empty() {
        Ok(out)
    } else {
        Err(diags)
    }
}

// ---------------------------------------------------------------------------------------------
// Vars

/// Where `$(VAR)` is substituted by default: kustomize v5.8.1's `varReference` table, in its
/// order. Kinds match in any group and version. Kept as kustomize has them: the CronJob volume
/// path lacks a `spec/` (`spec/jobTemplate/spec/template/volumes/nfs/server`), StatefulSets have
/// `spec/volumeClaimTemplates/spec/nfs/server` instead of their pod volumes, and Deployments (only
/// they) also get their pod template's annotations.
pub fn default_var_reference() -> Vec<FieldSpec> {
    const CONTAINER_FIELDS: [&str; 4] = ["args", "command", "env/value", "volumeMounts/mountPath"];
    let mut specs = Vec::new();
    let mut add = |kind: &str, path: &str| specs.push(FieldSpec::new("", "", kind, path, false));
    let pods: [(&str, &str, Option<&str>); 8] = [
        (
            "CronJob",
            "spec/jobTemplate/spec/template/spec",
            Some("spec/jobTemplate/spec/template/volumes/nfs/server"),
        ),
        (
            "DaemonSet",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        (
            "Deployment",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        ("Ingress", "", None),
        (
            "Job",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        ("Pod", "spec", Some("spec/volumes/nfs/server")),
        (
            "ReplicaSet",
            "spec/template/spec",
            Some("spec/template/spec/volumes/nfs/server"),
        ),
        ("Service", "", None),
    ];
    for (kind, prefix, volume) in pods {
        match kind {
            "Ingress" => {
                add(kind, "spec/rules/host");
                add(kind, "spec/tls/hosts");
                add(kind, "spec/tls/secretName");
                continue;
            }
            "Service" => {
                add(kind, "spec/ports/port");
                add(kind, "spec/ports/targetPort");
                continue;
            }
            _ => {}
        }
        for containers in ["containers", "initContainers"] {
            for field in CONTAINER_FIELDS {
                add(kind, &format!("{prefix}/{containers}/{field}"));
            }
        }
        if let Some(v) = volume {
            add(kind, v);
        }
        if kind == "Deployment" {
            add(kind, "spec/template/metadata/annotations");
        }
    }
    for containers in ["containers", "initContainers"] {
        for field in CONTAINER_FIELDS {
            add(
                "StatefulSet",
                &format!("spec/template/spec/{containers}/{field}"),
            );
        }
    }
    add("StatefulSet", "spec/volumeClaimTemplates/spec/nfs/server");
    add("PersistentVolume", "spec/nfs/server");
    add("", "metadata/labels");
    add("", "metadata/annotations");
    specs
}

/// A var's value.
enum VarValue {
    /// A string, number or boolean: substituted.
    Usable(Value),
    /// A map or list: kustomize leaves `$(NAME)` as written.
    Unusable(&'static str),
}

/// Splits a var's `fieldPath`: as [`split_field_path`], and `ports[0]` (or `[0]`) is the item
/// `0` of `ports`.
fn var_path(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in split_field_path(path) {
        if let Some(open) = seg
            .strip_suffix(']')
            .and_then(|s| s.rfind('[').map(|i| (s, i)))
        {
            let (body, i) = open;
            let digits = &body[i + 1..];
            if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                if i > 0 {
                    out.push(body[..i].to_string());
                }
                out.push(digits.to_string());
                continue;
            }
        }
        out.push(seg);
    }
    out
}

fn describe_var(v: &Var) -> String {
    let o = &v.objref;
    let mut parts = vec![format!("kind: {}", o.kind)];
    if !o.api_version.is_empty() {
        parts.push(format!("apiVersion: {}", o.api_version));
    }
    if !o.group.is_empty() {
        parts.push(format!("group: {}", o.group));
    }
    if !o.version.is_empty() {
        parts.push(format!("version: {}", o.version));
    }
    parts.push(format!("name: {}", o.name));
    if !o.namespace.is_empty() {
        parts.push(format!("namespace: {}", o.namespace));
    }
    format!("{{{}}}", parts.join(", "))
}

fn var_field_path(v: &Var) -> &str {
    match &v.fieldref {
        Some(f) if !f.field_path.is_empty() => &f.field_path,
        _ => DEFAULT_FIELD_PATH,
    }
}

/// The value of one var: its `objref` object (matched by any identity it has had, group,
/// version and kind compared exactly) at its `fieldref.fieldPath`.
fn var_value(resources: &[Resource], v: &Var) -> Result<VarValue, Fail> {
    let o = &v.objref;
    let (mut group, mut version) = (o.group.as_str(), o.version.as_str());
    if !o.api_version.is_empty() {
        let parts: Vec<&str> = o.api_version.split('/').collect();
        match parts.as_slice() {
            [g, ver] => (group, version) = (g, ver),
            [ver] => version = ver,
            _ => {}
        }
    }
    // Namespaces: for a cluster-scoped kind compared as written (so `namespace: default`
    // matches no ClusterRole); otherwise only when the objref names one, `default` equalling
    // none.
    let cluster = is_cluster_scoped(&o.kind);
    let selects = |id: &ResId| {
        id.group == group
            && id.version == version
            && id.kind == o.kind
            && id.name == o.name
            && if cluster {
                o.namespace == id.namespace
            } else {
                o.namespace.is_empty() || or_default(&o.namespace) == or_default(&id.namespace)
            }
    };
    let matches: Vec<&Resource> = resources
        .iter()
        .filter(|r| known_ids(r).iter().any(selects))
        .collect();
    let res = match matches.as_slice() {
        [one] => *one,
        [] => {
            let hint = if version.is_empty() {
                "the objref names no version: kustomize compares group, version and kind \
                 exactly, so give it the object's `apiVersion` (for example `apiVersion: v1`)"
            } else {
                "the objref must name an object of the build by kind, apiVersion and name"
            };
            return Err(Fail {
                message: format!(
                    "var '{}' cannot be mapped to a field in the set of known resources: no \
                     object matches its objref {}",
                    v.name,
                    describe_var(v)
                ),
                hint: Some(hint.into()),
            });
        }
        many => {
            let names: Vec<String> = many.iter().map(|r| r.id().to_string()).collect();
            return Err(Fail {
                message: format!(
                    "found {} resId matches for var '{}' (unable to disambiguate): {}",
                    many.len(),
                    v.name,
                    names.join(", ")
                ),
                hint: Some("give the objref a namespace".into()),
            });
        }
    };
    let fp = var_field_path(v);
    let not_found = || -> Fail {
        format!(
            "field specified in var '{}' (fieldPath `{fp}`) not found in {}",
            v.name,
            res.id()
        )
        .into()
    };
    let found = lookup(&res.value, &var_path(fp))
        .map_err(|_| not_found())?
        .ok_or_else(not_found)?;
    Ok(match found {
        Value::Null => VarValue::Usable(Value::String("null".into())),
        Value::Object(_) => VarValue::Unusable("a map"),
        Value::Array(_) => VarValue::Unusable("a list"),
        v => VarValue::Usable(v.clone()),
    })
}

/// Go's `%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e21 on.
fn go_float(f: f64) -> String {
    if f == 0.0 || !f.is_finite() {
        return match f {
            f if f.is_nan() => "NaN".into(),
            f if f == f64::INFINITY => "+Inf".into(),
            f if f == f64::NEG_INFINITY => "-Inf".into(),
            _ => "0".into(),
        };
    }
    let e = format!("{f:e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if (-4..21).contains(&exp) {
        format!("{f}")
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    }
}

/// How a var value reads inside a longer string.
fn var_text(v: &Value) -> String {
    match v {
        Value::Number(n) if n.is_f64() => go_float(n.as_f64().unwrap_or_default()),
        other => text_of(other),
    }
}

/// Replaces `$(NAME)` in `input`. A string that is exactly one `$(NAME)` takes the var's value
/// with its type (a number stays a number); inside a longer string the value's text is spliced
/// in. `$$` is a literal `$` (so `$$(NAME)` gives `$(NAME)`); an unknown name, an unterminated
/// `$(`, and `$` before anything else stay as written.
fn expand(input: &str, lookup: &mut dyn FnMut(&str) -> Option<Value>) -> Value {
    let bytes = input.as_bytes();
    let mut out: Vec<u8> = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'$' || i + 1 >= bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        match bytes[i + 1] {
            b'$' => {
                out.push(b'$');
                i += 2;
            }
            b'(' => match bytes[i + 2..].iter().position(|&b| b == b')') {
                Some(len) => {
                    let end = i + 2 + len;
                    let name = &input[i + 2..end];
                    let mapped = lookup(name);
                    if i == 0 && end + 1 == bytes.len() {
                        return mapped.unwrap_or_else(|| Value::String(input.to_string()));
                    }
                    match mapped {
                        Some(v) => out.extend_from_slice(var_text(&v).as_bytes()),
                        None => out.extend_from_slice(&bytes[i..=end]),
                    }
                    i = end + 1;
                }
                None => {
                    out.extend_from_slice(b"$(");
                    i += 2;
                }
            },
            other => {
                out.push(b'$');
                out.push(other);
                i += 2;
            }
        }
    }
    Value::String(
        String::from_utf8(out)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Substitutes vars in one field found by a var-reference spec: a string, the string values
/// of a map, or the items of a list (which must all be strings, as kustomize demands).
fn substitute(
    node: &mut Value,
    lookup: &mut dyn FnMut(&str) -> Option<Value>,
    stringify: bool,
) -> Result<(), String> {
    let mut one = |s: &str| {
        let v = expand(s, lookup);
        if stringify && !v.is_string() {
            Value::String(match &v {
                Value::Number(n) if n.is_f64() => format!("{}", n.as_f64().unwrap_or_default()),
                other => text_of(other),
            })
        } else {
            v
        }
    };
    match node {
        Value::String(s) => {
            let v = one(s);
            *node = v;
        }
        Value::Object(map) => {
            for v in map.values_mut() {
                if let Value::String(s) = v {
                    let new = one(s);
                    *v = new;
                }
            }
        }
        Value::Array(items) => {
            if let Some(bad) = items.iter().find(|i| !i.is_string()) {
                return Err(format!(
                    "invalid value type expect a string: a list item is {}",
                    type_name(bad)
                ));
            }
            for item in items.iter_mut() {
                if let Value::String(s) = item {
                    let new = one(s);
                    *item = new;
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Resolves vars: each var's value is read from its `objref` object, then `$(NAME)` is replaced
/// in every field the `specs` (the merged `varReference` table, see [`default_var_reference`])
/// name, in every object. The caller runs this once, on the final objects, after names
/// (prefixes, suffixes, hashes) and name references are final, so `metadata.name` yields the
/// name the object ends up with.
///
/// Errors (at the var's span): two vars of the same name (even identical ones, even from
/// different kustomizations), an objref matching no object or several, a fieldPath the object
/// does not have. Nothing is substituted when any var fails. Surprises kept from kustomize:
/// an objref without `apiVersion`/`version` matches nothing; a var whose value is a map or list
/// leaves `$(NAME)` as written (a warning); a var never used is only a warning; a list field
/// holding a non-string item is an error once any var is defined; values of
/// `metadata.annotations` stay strings, while elsewhere a field that is exactly `$(NAME)` takes
/// the value's type (`args: [$(PORT)]` gives the integer).
pub fn resolve_vars(
    resources: &mut [Resource],
    vars: &[(Var, Span)],
    specs: &[FieldSpec],
    diags: &mut Vec<Diag>,
) {
    if vars.is_empty() {
        return;
    }
    let mut failed = false;
    let mut first: BTreeMap<&str, &Span> = BTreeMap::new();
    let mut unique: Vec<(&Var, &Span)> = Vec::new();
    for (v, span) in vars {
        if let Some(at) = first.get(v.name.as_str()) {
            diags.push(
                Diag::error(
                    span.clone(),
                    format!("var '{}' already encountered", v.name),
                )
                .with_hint(format!(
                    "it is defined at {at} too: var names must be unique in the whole build"
                )),
            );
            failed = true;
        } else {
            first.insert(&v.name, span);
            unique.push((v, span));
        }
    }
    let mut values: BTreeMap<String, Value> = BTreeMap::new();
    let mut unusable: Vec<(&Var, &Span, &'static str)> = Vec::new();
    for (v, span) in &unique {
        match var_value(resources, v) {
            Ok(VarValue::Usable(value)) => {
                values.insert(v.name.clone(), value);
            }
            Ok(VarValue::Unusable(what)) => unusable.push((v, span, what)),
            Err(fail) => {
                let mut d = Diag::error((*span).clone(), fail.message);
                if let Some(h) = fail.hint {
                    d = d.with_hint(h);
                }
                diags.push(d);
                failed = true;
            }
        }
    }
    if failed {
        return;
    }
    let mut used: BTreeSet<String> = BTreeSet::new();
    let mut lookup = |name: &str| {
        let v = values.get(name).cloned();
        if v.is_some() {
            used.insert(name.to_string());
        }
        v
    };
    for res in resources.iter_mut() {
        let id = res.id();
        for spec in specs.iter().filter(|s| s.applies_to(&id)) {
            let segs = spec.segments();
            let stringify = segs.len() >= 2 && segs[0] == "metadata" && segs[1] == "annotations";
            let result = fieldspec::visit(&mut res.value, &segs, false, &mut |node| {
                substitute(node, &mut lookup, stringify)
            });
            if let Err(e) = result {
                diags.push(Diag::error(
                    res.origin.clone(),
                    format!("considering field '{}' of {id}: {e}", spec.path),
                ));
                return;
            }
        }
    }
    for (v, span, what) in unusable {
        diags.push(Diag::warning(
            span.clone(),
            format!(
                "var '{}' holds {what} (fieldPath `{}`): vars substitute only strings, numbers \
                 and booleans, so $({}) stays as written",
                v.name,
                var_field_path(v),
                v.name
            ),
        ));
    }
    for (v, span) in unique {
        if values.contains_key(&v.name) && !used.contains(&v.name) {
            diags.push(
                Diag::warning(
                    span.clone(),
                    format!(
                        "var '{}' is defined but $({}) is never replaced",
                        v.name, v.name
                    ),
                )
                .with_hint(
                    "vars are substituted only in the varReference fields (container command, \
                     args, env values, mount paths, labels, annotations, ...); a \
                     `configurations:` file can add others",
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests_support {
    use super::*;

    pub fn objects(yaml_text: &str) -> Vec<Resource> {
        yaml::documents(yaml_text)
            .into_iter()
            .map(|(line, doc)| {
                let v: Value = serde_yaml::from_str(&doc).unwrap();
                Resource::new(v, Span::new("res.yaml", line, 1))
            })
            .collect()
    }

    pub fn var(name: &str, objref: &str, field_path: Option<&str>) -> (Var, Span) {
        let mut y = format!("name: {name}\nobjref: {objref}\n");
        if let Some(fp) = field_path {
            y.push_str(&format!("fieldref: {{fieldPath: '{fp}'}}\n"));
        }
        (
            serde_yaml::from_str(&y).unwrap(),
            Span::new("kustomization.yaml", 2, 3),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::tests_support::*;
    use super::*;
    use serde_json::json;

    fn file() -> Arc<str> {
        "kustomization.yaml".into()
    }

    /// The objects a var-reference probe substitutes into: `$(V)` in every field a table
    /// might name, for every kind kustomize's table knows (and some it does not).
    fn var_probe() -> Vec<Resource> {
        let v = "$(V)";
        let container = |name: &str| {
            json!({"name": name, "image": v, "workingDir": v, "command": [v], "args": [v],
                "env": [{"name": "E", "value": v}],
                "volumeMounts": [{"name": "m", "mountPath": v, "subPath": v}],
                "livenessProbe": {"exec": {"command": [v]}}})
        };
        let pod = json!({"containers": [container("c")], "initContainers": [container("i")],
            "ephemeralContainers": [container("e")],
            "volumes": [{"name": "n", "nfs": {"server": v, "path": v}}],
            "hostname": v, "nodeSelector": {"k": v}});
        let template = json!({"metadata": {"labels": {"x": v}, "annotations": {"x": v}},
            "spec": pod});
        let mut out = vec![json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "src"}})];
        for (api, kind) in [
            ("apps/v1", "Deployment"),
            ("apps/v1", "DaemonSet"),
            ("apps/v1", "StatefulSet"),
            ("apps/v1", "ReplicaSet"),
            ("batch/v1", "Job"),
            ("v1", "ReplicationController"),
            ("x.io/v1", "Custom"),
        ] {
            out.push(json!({"apiVersion": api, "kind": kind,
                "metadata": {"name": kind.to_lowercase(), "labels": {"l": v},
                    "annotations": {"a": v}, "finalizers": [v]},
                "spec": {"template": template, "serviceName": v,
                    "selector": {"matchLabels": {"m": v}},
                    "volumeClaimTemplates": [{"metadata": {"name": "v"},
                        "spec": {"nfs": {"server": v}, "storageClassName": v}}]}}));
        }
        out.push(json!({"apiVersion": "batch/v1", "kind": "CronJob",
            "metadata": {"name": "cronjob"},
            "spec": {"schedule": v, "jobTemplate": {
                "metadata": {"labels": {"x": v}, "annotations": {"x": v}},
                "spec": {"template": {"metadata": {"annotations": {"x": v}}, "spec": pod,
                    "volumes": [{"name": "n", "nfs": {"server": v}}]}}}}}));
        out.push(
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "pod"},
            "spec": pod}),
        );
        out.push(
            json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
            "metadata": {"name": "ingress"},
            "spec": {"ingressClassName": v,
                "rules": [{"host": v, "http": {"paths": [{"path": v,
                    "backend": {"service": {"name": v}}}]}}],
                "tls": [{"hosts": [v], "secretName": v}]}}),
        );
        out.push(
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "service"},
            "spec": {"ports": [{"port": v, "targetPort": v, "name": v}], "externalName": v,
                "selector": {"s": v}}}),
        );
        out.push(json!({"apiVersion": "v1", "kind": "PersistentVolume",
            "metadata": {"name": "pv"},
            "spec": {"nfs": {"server": v, "path": v}, "storageClassName": v}}));
        out.push(json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "pvc"}, "spec": {"storageClassName": v, "volumeName": v}}));
        out.push(
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "secret"},
            "stringData": {"d": v}}),
        );
        out.into_iter()
            .map(|v| Resource::new(v, Span::file("res.yaml")))
            .collect()
    }

    /// The fixture of most replacement tests (the oracle runs used the same objects).
    const RES: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    app: web
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: nginx:1.0
        args: ["--port=80", "-jar", "x"]
        env:
        - name: A
          value: a
      - name: myapp
        image: busybox:2.0
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  host: db.example.com
  port: "5432"
  num: "7"
  list: a,b,c
  flag: "true"
---
apiVersion: v1
kind: Service
metadata:
  name: svc
spec:
  ports:
  - port: 80
    targetPort: 8080
---
apiVersion: v1
kind: Target
metadata:
  name: tgt
s: old
path: a/b/c
"#;

    /// Scalars of every type, for the type rules.
    const TYPES: &str = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: src
  labels: {a: b}
data:
  str: abc
  num: "5432"
  t: "true"
  empty: ""
  nulls: "null"
  hex: "0x1F"
  flts: "1.5"
  yes: "yes"
int: 7
bool: true
flt: 1.5
nul: null
lst: [p, q]
emap: {}
elst: []
---
apiVersion: v1
kind: Target
metadata:
  name: tgt
s: old
i: 1
b: false
nu: null
l: [x, z]
m: {k: v}
f: 2.5
"#;

    fn run_on(resources: &mut [Resource], replacements: &str) -> Result<(), String> {
        let reps: Vec<Replacement> = serde_yaml::from_str(replacements).unwrap();
        let mut diags = Vec::new();
        apply(resources, &reps, &Span::file(file()), &mut diags);
        match diags.into_iter().find(|d| !d.warning) {
            Some(d) => Err(d.message),
            None => Ok(()),
        }
    }

    fn run(fixture: &str, replacements: &str) -> Result<Vec<Value>, String> {
        let mut rs = objects(fixture);
        run_on(&mut rs, replacements)?;
        Ok(rs.into_iter().map(|r| r.value).collect())
    }

    /// One source field into one target field path of the Target object (last in both
    /// fixtures); the Target after, or the error.
    fn one(fixture: &str, source: &str, target: &str, options: &str) -> Result<Value, String> {
        let kind = if fixture == TYPES {
            "ConfigMap"
        } else {
            "Deployment"
        };
        let src = if source.contains(':') {
            source.to_string()
        } else {
            format!("{{kind: {kind}, fieldPath: '{source}'}}")
        };
        let reps = format!(
            "- source: {src}\n  targets:\n  - select: {{kind: Target}}\n    fieldPaths: ['{target}']\n    options: {{{options}}}\n"
        );
        run(fixture, &reps).map(|mut v| v.pop().unwrap())
    }

    fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
        v.pointer(pointer)
            .unwrap_or_else(|| panic!("no {pointer} in {v}"))
    }

    // --- field paths ----------------------------------------------------------------------

    #[test]
    fn paths_split_like_kustomize() {
        let s = |p: &str| split_field_path(p);
        assert_eq!(s("spec.replicas"), ["spec", "replicas"]);
        assert_eq!(
            s("spec.data.[name=first].key"),
            ["spec", "data", "[name=first]", "key"]
        );
        assert_eq!(
            s("spec.data.[.name=.first].key"),
            ["spec", "data", "[.name=.first]", "key"]
        );
        assert_eq!(
            s("spec.data.[name=f.i.r.s.t.].key"),
            ["spec", "data", "[name=f.i.r.s.t.]", "key"]
        );
        assert_eq!(s(r"spec\.replicas"), ["spec.replicas"]);
        assert_eq!(
            s("spec.data.[name=f.i.[r.s.t..key"),
            ["spec", "data", "[name=f.i.[r.s.t..key"]
        );
        assert_eq!(
            s("metadata.annotations.[a.b.c/d.e.f-g.]"),
            ["metadata", "annotations", "a.b.c/d.e.f-g."]
        );
        // No dot inside: the brackets stay (and make a malformed list selector).
        assert_eq!(
            s("metadata.annotations.[k]"),
            ["metadata", "annotations", "[k]"]
        );
        assert_eq!(
            var_path("spec.ports[1].name"),
            ["spec", "ports", "1", "name"]
        );
        assert_eq!(
            var_path("spec.ports.[1].name"),
            ["spec", "ports", "1", "name"]
        );
        assert_eq!(
            var_path("spec.ports.[name=a.b].port"),
            ["spec", "ports", "[name=a.b]", "port"]
        );
    }

    #[test]
    fn plain_scalars_read_as_yaml_does() {
        assert_eq!(plain("5432"), json!(5432));
        assert_eq!(plain("0x1F"), json!(31));
        assert_eq!(plain("0o17"), json!(15));
        assert_eq!(plain("017"), json!(15));
        assert_eq!(plain("-12"), json!(-12));
        assert_eq!(plain("1_000"), json!(1000));
        assert_eq!(plain("1.5"), json!(1.5));
        assert_eq!(plain(".5"), json!(0.5));
        assert_eq!(plain("1e3"), json!(1000.0));
        assert_eq!(plain("true"), json!(true));
        assert_eq!(plain("False"), json!(false));
        assert_eq!(plain("yes"), json!("yes"));
        assert_eq!(plain(""), Value::Null);
        assert_eq!(plain("~"), Value::Null);
        assert_eq!(plain("1.2.3"), json!("1.2.3"));
        assert_eq!(plain("-"), json!("-"));
        assert_eq!(plain("0x"), json!("0x"));
    }

    // --- targets ----------------------------------------------------------------------------

    #[test]
    fn list_selectors_in_targets_are_unanchored_regular_expressions() {
        // Oracle: `[name=app]` also hits the container `myapp`; "7" into `replicas: 2` and
        // into a Service port stays an integer.
        let out = run(
            RES,
            r#"
- source: {kind: ConfigMap, name: cfg, fieldPath: data.host}
  targets:
  - select: {kind: Deployment}
    fieldPaths:
    - spec.template.spec.containers.[name=app].env.[name=A].value
    - spec.template.spec.containers.[name=app].image
- source: {kind: ConfigMap, fieldPath: data.num}
  targets:
  - select: {kind: Deployment}
    fieldPaths: [spec.replicas]
  - select: {kind: Service}
    fieldPaths: [spec.ports.0.port]
"#,
        )
        .unwrap();
        let c = at(&out[0], "/spec/template/spec/containers");
        assert_eq!(c[0]["image"], "db.example.com");
        assert_eq!(c[0]["env"][0]["value"], "db.example.com");
        assert_eq!(c[1]["image"], "db.example.com");
        assert_eq!(out[0]["spec"]["replicas"], json!(7));
        assert_eq!(out[2]["spec"]["ports"][0]["port"], json!(7));
    }

    #[test]
    fn target_paths_wildcards_indexes_and_scalar_items() {
        let dep = |fp: &str| -> Result<Value, String> {
            run(
                RES,
                &format!(
                    "- source: {{kind: ConfigMap, fieldPath: data.host}}\n  targets:\n  - select: {{kind: Deployment}}\n    fieldPaths: ['{fp}']\n"
                ),
            )
            .map(|v| v[0]["spec"]["template"]["spec"]["containers"].clone())
        };
        let all = dep("spec.template.spec.containers.*.image").unwrap();
        assert_eq!(
            (all[0]["image"].as_str(), all[1]["image"].as_str()),
            (Some("db.example.com"), Some("db.example.com"))
        );
        let second = dep("spec.template.spec.containers.1.image").unwrap();
        assert_eq!(
            (second[0]["image"].as_str(), second[1]["image"].as_str()),
            (Some("nginx:1.0"), Some("db.example.com"))
        );
        let arg = dep("spec.template.spec.containers.[name=^app$].args.[=ja]").unwrap();
        assert_eq!(arg[0]["args"], json!(["--port=80", "db.example.com", "x"]));
        let args = dep("spec.template.spec.containers.[name=app].args.*").unwrap();
        assert_eq!(
            args[0]["args"],
            json!(["db.example.com", "db.example.com", "db.example.com"])
        );
        let env = dep("spec.template.spec.containers.[name=app].env.*.value").unwrap();
        assert_eq!(env[0]["env"][0]["value"], "db.example.com");
        let by_image = dep("spec.template.spec.containers.[image=nginx:1.0].name").unwrap();
        assert_eq!(by_image[0]["name"], "db.example.com");

        for (fp, says) in [
            (
                "spec.template.spec.containers.[name=zzz].image",
                "unable to find field",
            ),
            (
                "spec.template.spec.containers.[name=app].args.[=^ja$]",
                "unable to find field",
            ),
            (
                "spec.template.spec.containers.[name=app].args.[name=x]",
                "unable to find field",
            ),
            (
                "spec.nothere",
                "unable to find field \"spec.nothere\" in replacement target",
            ),
            ("spec.nothere.x", "unable to find field"),
            (
                "spec.template.spec.containers.5.image",
                "index 5 specified but only 2 elements found",
            ),
            (
                "spec.template.spec.containers.-.image",
                "expected a map but found a list",
            ),
            (
                "spec.template.spec.containers.image",
                "expected a map but found a list",
            ),
            (
                "spec.template.spec.containers.*.*",
                "expected a list but found a map",
            ),
            ("spec.replicas.foo", "expected a map but found a scalar"),
            ("metadata.0", "expected a list but found a map"),
            ("metadata.labels.[app]", "[field=value]"),
            (
                "spec.template.spec.containers.[name].image",
                "[field=value]",
            ),
            (
                "spec.template.spec.containers.[name=app].image.[=x]",
                "expected a list but found a scalar",
            ),
            ("spec..replicas", "empty part"),
        ] {
            let e = dep(fp).unwrap_err();
            assert!(e.contains(says), "{fp}: {e}");
        }
    }

    #[test]
    fn keys_with_dots_are_bracketed_or_escaped() {
        let fixture = r#"
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
  annotations:
    a.b/c: old
    x.y: old2
data:
  host: db.example.com
  "a.b": dotted
---
apiVersion: v1
kind: Target
metadata:
  name: tgt
"#;
        let ann = |fp: &str| -> Result<Value, String> {
            run(
                fixture,
                &format!(
                    "- source: {{kind: ConfigMap, fieldPath: data.host}}\n  targets:\n  - select: {{kind: ConfigMap}}\n    fieldPaths: ['{fp}']\n"
                ),
            )
            .map(|v| v[0]["metadata"]["annotations"].clone())
        };
        assert_eq!(
            ann("metadata.annotations.[a.b/c]").unwrap()["a.b/c"],
            "db.example.com"
        );
        assert_eq!(
            ann(r"metadata.annotations.a\.b/c").unwrap()["a.b/c"],
            "db.example.com"
        );
        assert_eq!(
            ann("metadata.annotations.[x.y]").unwrap()["x.y"],
            "db.example.com"
        );
        assert!(
            ann("metadata.annotations.x.y")
                .unwrap_err()
                .contains("unable to find field")
        );
        assert!(
            ann("metadata.annotations.new")
                .unwrap_err()
                .contains("unable to find field")
        );

        for source in ["data.[a.b]", r"data.a\.b"] {
            let out = run(
                fixture,
                &format!(
                    "- source: {{kind: ConfigMap, fieldPath: '{source}'}}\n  targets:\n  - select: {{kind: Target}}\n    fieldPaths: [s]\n    options: {{create: true}}\n"
                ),
            )
            .unwrap();
            assert_eq!(out[1]["s"], "dotted");
        }
    }

    #[test]
    fn scalar_targets_keep_their_type() {
        // Each row checked with the oracle: source field, target field, result (Err: fails).
        let cases: &[(&str, &str, Result<Value, ()>)] = &[
            ("data.str", "s", Ok(json!("abc"))),
            ("data.str", "i", Err(())),
            ("data.str", "b", Err(())),
            ("data.str", "nu", Err(())),
            ("data.num", "s", Ok(json!("5432"))),
            ("data.num", "i", Ok(json!(5432))),
            ("data.num", "b", Err(())),
            ("data.num", "f", Ok(json!(5432))),
            ("data.t", "s", Ok(json!("true"))),
            ("data.t", "i", Err(())),
            ("data.t", "b", Ok(json!(true))),
            ("data.flts", "s", Ok(json!("1.5"))),
            ("data.flts", "i", Err(())),
            ("int", "s", Ok(json!("7"))),
            ("int", "i", Ok(json!(7))),
            ("int", "b", Err(())),
            ("int", "f", Ok(json!(7))),
            ("bool", "s", Ok(json!("true"))),
            ("bool", "b", Ok(json!(true))),
            ("bool", "i", Err(())),
            ("flt", "s", Ok(json!("1.5"))),
            ("flt", "i", Err(())),
            ("data.empty", "s", Ok(json!(""))),
            ("data.empty", "i", Err(())),
            ("data.empty", "nu", Ok(Value::Null)),
            ("data.nulls", "s", Ok(json!("null"))),
            ("data.nulls", "nu", Ok(Value::Null)),
            ("data.hex", "s", Ok(json!("0x1F"))),
            ("data.hex", "i", Ok(json!(31))),
            ("data.hex", "b", Err(())),
            // Maps and lists read as the empty string into scalars...
            ("metadata.labels", "s", Ok(json!(""))),
            ("lst", "s", Ok(json!(""))),
            ("metadata.labels", "i", Err(())),
            // ... and replace maps and lists whole, as scalars do.
            ("data.str", "l", Ok(json!("abc"))),
            ("data.str", "m", Ok(json!("abc"))),
            ("metadata.labels", "l", Ok(json!({"a": "b"}))),
        ];
        for (source, target, expected) in cases {
            let got = one(TYPES, source, target, "").map(|t| t[*target].clone());
            match expected {
                Ok(v) => assert_eq!(got.as_ref(), Ok(v), "{source} -> {target}"),
                Err(()) => {
                    let e = got.unwrap_err();
                    assert!(
                        e.contains("kustomize keeps the type"),
                        "{source} -> {target}: {e}"
                    );
                }
            }
        }
    }

    #[test]
    fn created_fields_take_the_type_their_text_reads_as() {
        let cases: &[(&str, &str, Value)] = &[
            ("data.num", "new", json!(5432)),
            ("data.t", "new", json!(true)),
            ("data.nulls", "new", Value::Null),
            ("data.empty", "new", Value::Null),
            ("data.flts", "new", json!(1.5)),
            ("data.hex", "new", json!(31)),
            ("data.yes", "new", json!("yes")),
            ("int", "new", json!(7)),
            ("metadata.labels", "new", json!({"a": "b"})),
            ("lst", "m", json!(["p", "q"])),
            ("data.str", "l", json!("abc")),
            ("data.str", "s", json!("abc")),
        ];
        for (source, target, expected) in cases {
            let t = one(TYPES, source, target, "create: true").unwrap();
            assert_eq!(&t[*target], expected, "{source} -> {target}");
        }
        let t = one(TYPES, "data.num", "new2.x", "create: true").unwrap();
        assert_eq!(t["new2"], json!({"x": 5432}));
        let t = one(TYPES, "data.str", "m.a.b.c", "create: true").unwrap();
        assert_eq!(t["m"], json!({"k": "v", "a": {"b": {"c": "abc"}}}));
    }

    #[test]
    fn create_appends_list_items() {
        let t = |source: &str, target: &str| one(TYPES, source, target, "create: true");
        assert_eq!(
            t("data.num", "l.[=q]").unwrap()["l"],
            json!(["x", "z", 5432])
        );
        assert_eq!(t("data.str", "l.[=x]").unwrap()["l"], json!(["abc", "z"]));
        assert_eq!(t("data.num", "new.[=q]").unwrap()["new"], json!([5432]));
        assert_eq!(
            t("data.num", "new.[port=80].x").unwrap()["new"],
            json!([{"port": 80, "x": 5432}])
        );
        assert_eq!(
            t("data.str", "l.[name=q].v").unwrap()["l"],
            json!(["x", "z", {"name": "q", "v": "abc"}])
        );
        assert_eq!(t("data.num", "l.2").unwrap()["l"], json!(["x", "z", 5432]));
        // An existing string item stays a string.
        assert_eq!(t("data.num", "l.1").unwrap()["l"], json!(["x", "5432"]));
        assert_eq!(t("data.str", "l.0").unwrap()["l"], json!(["abc", "z"]));
        assert_eq!(t("data.str", "l.*").unwrap()["l"], json!(["abc", "abc"]));
        let e = t("data.str", "l.5").unwrap_err();
        assert!(e.contains("unable to find or create field \"l.5\""), "{e}");
        assert!(
            e.contains("index 5 specified but only 2 elements found"),
            "{e}"
        );
        let e = t("data.num", "new.1.x").unwrap_err();
        assert!(
            e.contains("index 1 specified but only 0 elements found"),
            "{e}"
        );
        let e = t("data.str", "s.x").unwrap_err();
        assert!(e.contains("expected a map but found a scalar"), "{e}");
    }

    #[test]
    fn create_in_deployment_containers() {
        let dep = |fp: &str| -> Result<Value, String> {
            run(
                RES,
                &format!(
                    "- source: {{kind: ConfigMap, fieldPath: data.host}}\n  targets:\n  - select: {{kind: Deployment}}\n    fieldPaths: ['{fp}']\n    options: {{create: true}}\n"
                ),
            )
            .map(|v| v[0]["spec"]["template"]["spec"].clone())
        };
        // Still an unanchored regular expression with create.
        let s = dep("spec.template.spec.containers.[name=app].newf").unwrap();
        assert_eq!(s["containers"][0]["newf"], "db.example.com");
        assert_eq!(s["containers"][1]["newf"], "db.example.com");
        let s = dep("spec.template.spec.containers.[name=^app$].image").unwrap();
        assert_eq!(s["containers"][1]["image"], "busybox:2.0");
        let s = dep("spec.template.spec.containers.[name=zz].image").unwrap();
        assert_eq!(
            s["containers"][2],
            json!({"name": "zz", "image": "db.example.com"})
        );
        // `[=jar]` matches `-jar` in the first container; the second gets `args: [..]` made.
        let s = dep("spec.template.spec.containers.[name=app].args.[=jar]").unwrap();
        assert_eq!(
            s["containers"][0]["args"],
            json!(["--port=80", "db.example.com", "x"])
        );
        assert_eq!(s["containers"][1]["args"], json!(["db.example.com"]));
        let s = dep("spec.template.spec.newlist.[name=x].image").unwrap();
        assert_eq!(
            s["newlist"],
            json!([{"name": "x", "image": "db.example.com"}])
        );
        let s = dep("spec.template.spec.newlist2.0.image").unwrap();
        assert_eq!(s["newlist2"], json!([{"image": "db.example.com"}]));
        let e = dep("spec.template.spec.newlist3.*.image").unwrap_err();
        assert!(e.contains("expected a list but found a map"), "{e}");
        let e = dep("spec.template.spec.containers.-").unwrap_err();
        assert!(e.contains("unable to find or create field"), "{e}");
    }

    #[test]
    fn null_on_the_way_is_missing_and_create_then_does_nothing() {
        let e = one(TYPES, "data.str", "nu.x", "").unwrap_err();
        assert!(e.contains("unable to find field \"nu.x\""), "{e}");
        let t = one(TYPES, "data.str", "nu.x", "create: true").unwrap();
        assert_eq!(t["nu"], Value::Null);
        let t = one(TYPES, "data.str", "nu.[name=a].v", "create: true").unwrap();
        assert_eq!(t["nu"], Value::Null);
        // A null field itself is a scalar: only text reading as null may replace it.
        assert!(one(TYPES, "data.str", "nu", "create: true").is_err());
    }

    // --- sources ----------------------------------------------------------------------------

    #[test]
    fn source_paths_match_exactly() {
        let s = |fp: &str| one(RES, fp, "s", "").map(|t| t["s"].clone());
        assert_eq!(
            s("spec.template.spec.containers.[name=app].image").unwrap(),
            "nginx:1.0"
        );
        assert_eq!(
            s("spec.template.spec.containers.[name=myapp].image").unwrap(),
            "busybox:2.0"
        );
        assert_eq!(
            s("spec.template.spec.containers.1.image").unwrap(),
            "busybox:2.0"
        );
        assert_eq!(
            s("spec.template.spec.containers.[name=app].args.[=-jar]").unwrap(),
            "-jar"
        );
        assert_eq!(s("metadata..name").unwrap(), "web");
        let missing = s("spec.template.spec.containers.[name=my].image").unwrap_err();
        assert!(
            missing.contains("is missing for replacement source"),
            "{missing}"
        );
        assert!(
            s("spec.nothere")
                .unwrap_err()
                .contains("`spec.nothere` is missing")
        );
        assert!(
            s("spec.template.spec.containers.5.image")
                .unwrap_err()
                .contains("is missing")
        );
        assert!(
            s("spec.template.spec.containers.*.image")
                .unwrap_err()
                .contains("wildcards")
        );
        assert!(
            s("spec.replicas.x")
                .unwrap_err()
                .contains("expected a map but found a scalar")
        );
        assert!(
            s("metadata.0")
                .unwrap_err()
                .contains("expected a list but found a map")
        );
        let svc = |fp: &str| {
            one(
                RES,
                &format!("{{kind: Service, fieldPath: '{fp}'}}"),
                "s",
                "",
            )
            .map(|t| t["s"].clone())
        };
        assert_eq!(svc("spec.ports.-.port").unwrap(), "80");
        assert_eq!(svc("spec.ports.[port=80].targetPort").unwrap(), "8080");
        assert_eq!(svc("spec.ports.[port=80]").unwrap(), "");
        assert!(
            svc("spec.ports[0].port")
                .unwrap_err()
                .contains("is missing")
        );
        assert!(
            svc("spec.ports.[0].port")
                .unwrap_err()
                .contains("[field=value]")
        );
        assert!(
            svc("spec.ports.port")
                .unwrap_err()
                .contains("expected a map but found a list")
        );
        for empty in ["nul", "emap", "elst"] {
            let e = one(TYPES, empty, "s", "").unwrap_err();
            assert!(e.contains(&format!("`{empty}` is missing")), "{e}");
        }
    }

    #[test]
    fn source_delimiters_pick_a_part() {
        let cm = |options: &str, fp: &str| {
            one(
                RES,
                &format!("{{kind: ConfigMap, fieldPath: {fp}, options: {{{options}}}}}"),
                "s",
                "",
            )
            .map(|t| t["s"].clone())
        };
        assert_eq!(cm("delimiter: ',', index: 1", "data.list").unwrap(), "b");
        assert_eq!(cm("index: 2", "data.list").unwrap(), "a,b,c");
        assert_eq!(
            cm("delimiter: ',', index: 3", "data.list").unwrap_err(),
            "options.index 3 is out of bounds for value a,b,c"
        );
        assert!(
            cm("delimiter: ',', index: -1", "data.list")
                .unwrap_err()
                .contains("options.index -1")
        );
        assert!(
            cm("delimiter: ','", "data")
                .unwrap_err()
                .contains("delimiter option can only be used with scalar nodes")
        );
    }

    #[test]
    fn target_delimiters_replace_prepend_or_append() {
        let t = |target: &str, options: &str| {
            one(
                RES,
                "{kind: ConfigMap, fieldPath: data.host}",
                target,
                options,
            )
        };
        assert_eq!(
            t("path", "delimiter: /, index: 1").unwrap()["path"],
            "a/db.example.com/c"
        );
        assert_eq!(
            t("path", "delimiter: /, index: -1").unwrap()["path"],
            "db.example.com/a/b/c"
        );
        assert_eq!(
            t("path", "delimiter: /, index: 7").unwrap()["path"],
            "a/b/c/db.example.com"
        );
        assert_eq!(
            t("newp", "delimiter: /, create: true").unwrap()["newp"],
            "db.example.com"
        );
        assert_eq!(
            t("newp", "delimiter: /, index: 1, create: true").unwrap()["newp"],
            "/db.example.com"
        );
        assert_eq!(
            t("newp", "delimiter: /, index: -1, create: true").unwrap()["newp"],
            "db.example.com/"
        );
        assert_eq!(
            t("path", "delimiter: '', index: 1").unwrap()["path"],
            "db.example.com"
        );
        assert_eq!(
            t("path", "encoding: base64").unwrap()["path"],
            "db.example.com"
        );
        let e = t("metadata", "delimiter: /, index: 1").unwrap_err();
        assert!(
            e.contains("delimiter option can only be used with scalar nodes"),
            "{e}"
        );
    }

    #[test]
    fn required_parts_and_defaults() {
        let r = |reps: &str| run(RES, reps).map(|mut v| v.pop().unwrap());
        assert_eq!(
            r("- targets: [{select: {kind: Target}, fieldPaths: [s]}]").unwrap_err(),
            "replacements must specify a source and at least one target"
        );
        assert!(r("- source: {kind: ConfigMap}").is_err());
        assert!(r("- source: {kind: ConfigMap}\n  targets: []").is_err());
        assert!(
            r("- source: {kind: ConfigMap}\n  targets: [{fieldPaths: [s]}]")
                .unwrap_err()
                .starts_with("target must specify resources to select")
        );
        // fieldPaths default to metadata.name, the source's fieldPath too.
        let t = r("- source: {kind: ConfigMap, fieldPath: data.host}\n  targets: [{select: {kind: Target}}]").unwrap();
        assert_eq!(t["metadata"]["name"], "db.example.com");
        let t = r(
            "- source: {kind: ConfigMap}\n  targets: [{select: {kind: Target}, fieldPaths: [s]}]",
        )
        .unwrap();
        assert_eq!(t["s"], "cfg");
        let e = r("- source: {kind: Nope}\n  targets: [{select: {kind: Target}, fieldPaths: [s]}]")
            .unwrap_err();
        assert!(
            e.starts_with("nothing selected by replacement source {kind: Nope}"),
            "{e}"
        );
        let e =
            r("- source: {}\n  targets: [{select: {kind: Target}, fieldPaths: [s]}]").unwrap_err();
        assert!(
            e.starts_with("multiple matches for replacement source"),
            "{e}"
        );
        // An empty select selects everything (so the Deployment lacks `s`).
        let e = r("- source: {kind: ConfigMap, fieldPath: data.host}\n  targets: [{select: {}, fieldPaths: [s]}]").unwrap_err();
        assert!(e.contains("unable to find field \"s\""), "{e}");
    }

    #[test]
    fn several_replacements_apply_in_order_and_stop_at_the_first_error() {
        let mut rs = objects(RES);
        let reps: Vec<Replacement> = serde_yaml::from_str(
            r#"
- source: {kind: ConfigMap, fieldPath: data.host}
  targets: [{select: {kind: Target}, fieldPaths: [s]}]
- source: {kind: Target, fieldPath: s}
  targets: [{select: {kind: Target}, fieldPaths: [path]}]
- source: {kind: Nope}
  targets: [{select: {kind: Target}}]
- source: {kind: ConfigMap, fieldPath: data.num}
  targets: [{select: {kind: Target}, fieldPaths: [s]}]
"#,
        )
        .unwrap();
        let mut diags = Vec::new();
        apply(&mut rs, &reps, &Span::new("k.yaml", 4, 3), &mut diags);
        assert_eq!(rs[3].value["path"], "db.example.com");
        assert_eq!(rs[3].value["s"], "db.example.com");
        assert_eq!(diags.len(), 1);
        assert!(
            diags[0]
                .message
                .starts_with("replacement 3: nothing selected"),
            "{}",
            diags[0].message
        );
        assert_eq!(diags[0].span.line, 4);
    }

    // --- selection --------------------------------------------------------------------------

    #[test]
    fn target_selectors_are_anchored_regular_expressions_sources_are_exact() {
        let names = |select: &str| -> Vec<String> {
            let reps = format!(
                "- source: {{kind: ConfigMap, fieldPath: data.host}}\n  targets: [{{select: {select}, fieldPaths: [metadata.annotations.hit], options: {{create: true}}}}]"
            );
            run(RES, &reps)
                .unwrap()
                .into_iter()
                .filter(|v| v["metadata"]["annotations"]["hit"].is_string())
                .map(|v| v["kind"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("{name: 't.*'}"), ["Target"]);
        assert!(names("{name: gt}").is_empty());
        assert_eq!(names("{kind: 'Tar.*'}"), ["Target"]);
        assert_eq!(names("{name: 'w.*|svc'}"), ["Deployment", "Service"]);
        assert_eq!(
            names("{kind: Target, version: 'v.*', group: ''}"),
            ["Target"]
        );
        assert_eq!(names("{labelSelector: app=web}"), ["Deployment"]);
        assert_eq!(names("{labelSelector: 'app in (web)'}"), ["Deployment"]);
        assert!(names("{labelSelector: 'app in (web)', annotationSelector: x}").is_empty());
        assert!(names("{labelSelector: 'app=='}").is_empty());
        // A selector namespace `default` does not match an object without one...
        assert!(names("{kind: Target, namespace: default}").is_empty());

        let e = run(RES, "- source: {kind: ConfigMap, fieldPath: data.host}\n  targets: [{select: {name: '('}, fieldPaths: [s]}]").unwrap_err();
        assert!(e.contains("is not a regular expression"), "{e}");
        let e = run(RES, "- source: {kind: ConfigMap, fieldPath: data.host}\n  targets: [{select: {labelSelector: 'app in ('}, fieldPaths: [s]}]").unwrap_err();
        assert!(e.contains("labelSelector"), "{e}");
        let e = one(RES, "{kind: 'Conf.*', fieldPath: data.host}", "s", "").unwrap_err();
        assert!(e.starts_with("nothing selected"), "{e}");
        let e = one(
            RES,
            "{kind: ConfigMap, name: 'c.*', fieldPath: data.host}",
            "s",
            "",
        )
        .unwrap_err();
        assert!(e.starts_with("nothing selected"), "{e}");
        // ... but in a source it does.
        let t = one(
            RES,
            "{kind: ConfigMap, namespace: default, fieldPath: data.host}",
            "s",
            "",
        )
        .unwrap();
        assert_eq!(t["s"], "db.example.com");
        let t = one(
            RES,
            "{kind: ConfigMap, group: '', version: v1, fieldPath: data.host}",
            "s",
            "",
        )
        .unwrap();
        assert_eq!(t["s"], "db.example.com");
    }

    /// RES after a base/overlay with `namespace: ns1` then `namePrefix: p-`: the identities
    /// kustomize's transformers leave behind.
    fn renamed() -> Vec<Resource> {
        let mut rs = objects(RES);
        for r in &mut rs {
            r.set_namespace("ns1");
            let name = format!("p-{}", r.name());
            r.set_name(&name);
        }
        rs
    }

    #[test]
    fn selection_sees_every_identity_an_object_had() {
        let mut rs = renamed();
        run_on(
            &mut rs,
            r#"
- source: {kind: ConfigMap, name: cfg, fieldPath: metadata.name}
  targets:
  - select: {name: tgt}
    fieldPaths: [s]
  - select: {name: p-svc}
    fieldPaths: [metadata.annotations.x]
    options: {create: true}
  - select: {name: web, namespace: ns1}
    fieldPaths: [metadata.annotations.y]
    options: {create: true}
  - select: {name: web, namespace: default}
    fieldPaths: [metadata.annotations.z]
    options: {create: true}
- source: {kind: ConfigMap, name: p-cfg, namespace: ns1, fieldPath: metadata.namespace}
  targets:
  - select: {name: tgt}
    fieldPaths: [path]
- source: {kind: ConfigMap, name: cfg, namespace: default, fieldPath: metadata.namespace}
  targets:
  - select: {name: tgt}
    fieldPaths: [metadata.annotations.w]
    options: {create: true}
"#,
        )
        .unwrap();
        let v = |i: usize| &rs[i].value;
        assert_eq!(v(3)["s"], "p-cfg");
        assert_eq!(v(3)["path"], "ns1");
        assert_eq!(v(3)["metadata"]["annotations"]["w"], "ns1");
        assert_eq!(v(2)["metadata"]["annotations"]["x"], "p-cfg");
        assert_eq!(
            v(0)["metadata"]["annotations"],
            json!({"y": "p-cfg", "z": "p-cfg"})
        );
    }

    #[test]
    fn rejects_refuse_on_any_identity_and_label_selectors_refuse_alone() {
        let mut rs = objects(RES);
        for r in &mut rs {
            let name = format!("p-{}", r.name());
            r.set_name(&name);
        }
        run_on(
            &mut rs,
            r#"
- source: {kind: ConfigMap, name: cfg, fieldPath: data.host}
  targets:
  - select: {name: web}
    reject: [{name: p-web}]
    fieldPaths: [metadata.annotations.a]
    options: {create: true}
  - select: {name: p-web}
    reject: [{name: web}]
    fieldPaths: [metadata.annotations.b]
    options: {create: true}
  - select: {kind: Deployment}
    reject: [{name: web}]
    fieldPaths: [metadata.annotations.c]
    options: {create: true}
  - select: {kind: Service}
    reject: [{kind: Deployment, labelSelector: "app=web"}]
    fieldPaths: [metadata.annotations.d]
    options: {create: true}
  - select: {}
    reject: [{kind: ConfigMap, labelSelector: "app=web"}]
    fieldPaths: [metadata.annotations.e]
    options: {create: true}
  - select: {name: p-svc, namespace: default}
    fieldPaths: [metadata.annotations.f]
    options: {create: true}
  - select: {name: svc, namespace: default}
    fieldPaths: [metadata.annotations.g]
    options: {create: true}
"#,
        )
        .unwrap();
        let ann = |i: usize| rs[i].value["metadata"]["annotations"].clone();
        assert_eq!(ann(0), Value::Null);
        assert_eq!(ann(1), Value::Null);
        let h = "db.example.com";
        assert_eq!(ann(2), json!({"d": h, "e": h, "g": h}));
        assert_eq!(ann(3), json!({"e": h}));
    }

    #[test]
    fn label_selectors_follow_kubernetes_syntax() {
        let labels: Map<String, Value> =
            serde_json::from_value(json!({"app": "web", "tier": "front", "n": 5})).unwrap();
        let m = |s: &str| LabelSelector::parse(s).unwrap().matches(&labels);
        assert!(m(""));
        assert!(m("app=web"));
        assert!(m("app==web,tier"));
        assert!(m("app != db, !missing"));
        assert!(m("tier in (front, back)"));
        assert!(m("tier notin (back)"));
        assert!(m("missing notin (x)"));
        assert!(m("n>4"));
        assert!(m("n<6"));
        assert!(!m("app=db"));
        assert!(!m("!app"));
        assert!(!m("missing"));
        assert!(!m("missing in (x)"));
        assert!(!m("app="));
        assert!(LabelSelector::parse("app in (").is_err());
        assert!(LabelSelector::parse("app,").is_err());
        assert!(LabelSelector::parse("a b").is_err());
        assert!(LabelSelector::parse("n > x").is_err());
    }

    #[test]
    fn annotation_values_come_out_as_strings() {
        let t = one(TYPES, "int", "metadata.annotations.n1", "create: true").unwrap();
        assert_eq!(t["metadata"]["annotations"]["n1"], "7");
        let t = one(TYPES, "bool", "metadata.annotations.n1", "create: true").unwrap();
        assert_eq!(t["metadata"]["annotations"]["n1"], "true");
        let t = one(TYPES, "int", "metadata.labels.n2", "create: true").unwrap();
        assert_eq!(t["metadata"]["labels"]["n2"], json!(7));
    }

    // --- parsing ----------------------------------------------------------------------------

    #[test]
    fn inline_replacements_are_strict() {
        let parse = |y: &str| serde_yaml::from_str::<Replacement>(y).map_err(|e| e.to_string());
        for bad in [
            "source: {kind: ConfigMap, options: {bogus: 1}}",
            "source: {kind: ConfigMap, bogus: 1}",
            "source: {kind: ConfigMap, labelSelector: a=b}",
            "source: {kind: ConfigMap, apiVersion: v1}",
            "targets: [{select: {kind: Target, bogus: 1}}]",
            "bogus: 1",
        ] {
            let e = parse(bad).unwrap_err();
            assert!(e.contains("unknown field"), "{bad}: {e}");
        }
        let r = parse(
            "source: {kind: ConfigMap, fieldPath: data.host, options: {encoding: base64}}\n\
             targets: [{select: {kind: T, labelSelector: a=b}, reject: [{name: x}], \
             fieldPaths: [s], options: {delimiter: '/', index: -1, create: true}}]",
        )
        .unwrap();
        let t = &r.targets[0];
        assert_eq!(t.select.as_ref().unwrap().label_selector, "a=b");
        assert_eq!(t.reject[0].name, "x");
        let o = t.options.as_ref().unwrap();
        assert_eq!((o.delimiter.as_str(), o.index, o.create), ("/", -1, true));
        assert_eq!(r.source.unwrap().options.unwrap().encoding, "base64");
    }

    #[test]
    fn replacement_files_hold_one_or_a_list_and_only_the_first_document_counts() {
        let f = file();
        let one = parse_file(
            "source: {kind: ConfigMap, fieldPath: data.host}\ntargets: [{select: {kind: Target}, fieldPaths: [s]}]\n",
            &f,
        )
        .unwrap();
        assert_eq!(one.len(), 1);
        let list = parse_file(
            "- source: {kind: ConfigMap, fieldPath: data.host}\n  targets: [{select: {kind: Target}, fieldPaths: [s]}]\n- source: {kind: ConfigMap, fieldPath: data.port}\n  targets: [{select: {kind: Target}, fieldPaths: [path]}]\n",
            &f,
        )
        .unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].source.as_ref().unwrap().field_path, "data.port");
        let docs = parse_file(
            "# c\n---\nsource: {kind: ConfigMap, fieldPath: data.host}\ntargets: [{select: {kind: Target}, fieldPaths: [s]}]\n---\nsource: {kind: ConfigMap, fieldPath: data.port}\ntargets: [{select: {kind: Target}, fieldPaths: [path]}]\n",
            &f,
        )
        .unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].source.as_ref().unwrap().field_path, "data.host");
        assert!(parse_file("[]\n", &f).unwrap().is_empty());
        assert!(parse_file("", &f).is_err());
        assert!(parse_file("hello\n", &f).is_err());
        let e = parse_file(
            "source: {kind: ConfigMap}\ntargets: [{select: {kind: Target}, fieldPaths: s}]\n",
            &f,
        )
        .unwrap_err();
        assert!(
            e[0].message.starts_with("invalid replacement"),
            "{}",
            e[0].message
        );
        let e = parse_file("x: [\n", &f).unwrap_err();
        assert_eq!(e.len(), 1);
        let e = parse_file("# c\n---\n- source: {kind: A}\n- 5\n", &f).unwrap_err();
        assert_eq!(e[0].span.line, 4);
    }

    #[test]
    fn replacement_files_are_lenient_about_names() {
        // Oracle: unknown fields in the file are ignored, names match regardless of case.
        let r = parse_file(
            "source: {kind: ConfigMap, fieldpath: data.host, bogus: 1, options: {DELIMITER: ',', x: 1}}\ntargets: [{select: {KIND: Target, extra: 1}, FieldPaths: [s]}]\nbogus: 1\n",
            &file(),
        )
        .unwrap();
        let s = r[0].source.as_ref().unwrap();
        assert_eq!(s.field_path, "data.host");
        assert_eq!(s.options.as_ref().unwrap().delimiter, ",");
        assert_eq!(r[0].targets[0].select.as_ref().unwrap().kind, "Target");
        assert_eq!(r[0].targets[0].field_paths, ["s"]);
    }

    // --- vars -------------------------------------------------------------------------------

    fn resolve(resources: &mut [Resource], vars: &[(Var, Span)], specs: &[FieldSpec]) -> Vec<Diag> {
        let mut diags = Vec::new();
        resolve_vars(resources, vars, specs, &mut diags);
        diags
    }

    const VARS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels:
    l1: $(SVC)
    l2: x-$(PORT)-y
    l3: $(PORT)
    l4: $(FLAG)
  annotations:
    a1: $(PORT)
    a2: $(FLAG)
    a3: $$(SVC)
    a4: $(NOPE)
    a5: $(SVC
    a6: $SVC $(SVC)$(SVC)
    a7: $(LABELS)
    a8: $(FLT)
    a9: $(NUMS)
spec:
  replicas: 2
  template:
    spec:
      containers:
      - name: app
        image: nginx
        command: ["run", "$(SVC)"]
        args: ["--port=$(PORT)", "$(PORT)", "$(FLAG)"]
        env:
        - name: A
          value: $(SVC).$(NS).svc
        - name: B
          value: $(PORT)
        volumeMounts:
        - name: v
          mountPath: /data/$(SVC)
      initContainers:
      - name: init
        image: busybox
        args: ["$(SVC)"]
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  namespace: prod
  labels: {x: y}
spec:
  selector:
    s1: $(PORT)
  ports:
  - port: 80
    targetPort: $(PORT)
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: cfg
data:
  n: "42"
nums:
  flag: true
  flt: 1.5
"#;

    fn vars_fixture() -> Vec<(Var, Span)> {
        let svc = "{kind: Service, name: svc, apiVersion: v1}";
        let cfg = "{kind: ConfigMap, name: cfg, apiVersion: v1}";
        vec![
            var("SVC", svc, None),
            var("NS", svc, Some("metadata.namespace")),
            var("PORT", svc, Some("spec.ports[0].port")),
            var("FLAG", cfg, Some("nums.flag")),
            var("LABELS", svc, Some("metadata.labels")),
            var("FLT", cfg, Some("nums.flt")),
            var("NUMS", cfg, Some("data.n")),
        ]
    }

    #[test]
    fn vars_substitute_with_types_and_escapes() {
        let mut rs = objects(VARS);
        let diags = resolve(&mut rs, &vars_fixture(), &default_var_reference());
        let d = &rs[0].value;
        // Oracle output, field by field.
        assert_eq!(
            d["metadata"]["labels"],
            json!({"l1": "svc", "l2": "x-80-y", "l3": 80, "l4": true})
        );
        assert_eq!(
            d["metadata"]["annotations"],
            json!({"a1": "80", "a2": "true", "a3": "$(SVC)", "a4": "$(NOPE)", "a5": "$(SVC",
                "a6": "$SVC svcsvc", "a7": "$(LABELS)", "a8": "1.5", "a9": "42"})
        );
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["command"], json!(["run", "svc"]));
        assert_eq!(c["args"], json!(["--port=80", 80, true]));
        assert_eq!(c["env"][0]["value"], "svc.prod.svc");
        assert_eq!(c["env"][1]["value"], json!(80));
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/data/svc");
        assert_eq!(
            d["spec"]["template"]["spec"]["initContainers"][0]["args"],
            json!(["svc"])
        );
        // Service: targetPort is in the table, a selector is not.
        assert_eq!(rs[1].value["spec"]["ports"][0]["targetPort"], json!(80));
        assert_eq!(rs[1].value["spec"]["selector"]["s1"], "$(PORT)");
        // A map value is a warning and stays; nothing else is reported.
        assert!(diags.iter().all(|d| d.warning), "{diags:?}");
        assert_eq!(diags.len(), 1, "{diags:?}");
        assert!(
            diags[0].message.contains("'LABELS' holds a map"),
            "{}",
            diags[0].message
        );
    }

    #[test]
    fn var_expansion_edge_cases() {
        let mut look = |n: &str| match n {
            "A" => Some(json!("x")),
            "N" => Some(json!(2.0)),
            "B" => Some(json!(1e21)),
            _ => None,
        };
        assert_eq!(expand("$(A)", &mut look), json!("x"));
        assert_eq!(expand("$(N)", &mut look), json!(2.0));
        assert_eq!(expand("n=$(N)", &mut look), json!("n=2"));
        assert_eq!(expand("b=$(B)", &mut look), json!("b=1e+21"));
        assert_eq!(expand("$$$(A)", &mut look), json!("$x"));
        assert_eq!(expand("é$é$(A)$", &mut look), json!("é$éx$"));
        assert_eq!(expand("$()", &mut look), json!("$()"));
        assert_eq!(expand("$(A)$(Z)", &mut look), json!("x$(Z)"));
        assert_eq!(go_float(1.5), "1.5");
        assert_eq!(go_float(100000.0), "100000");
        assert_eq!(go_float(0.00001), "1e-05");
    }

    #[test]
    fn vars_in_custom_fields_and_lists_of_non_strings() {
        let mut rs = objects(VARS);
        let mut specs = default_var_reference();
        specs.push(FieldSpec::new("", "", "Service", "spec/selector", false));
        resolve(&mut rs, &vars_fixture(), &specs);
        assert_eq!(rs[1].value["spec"]["selector"]["s1"], json!(80));

        let mut rs = objects(
            "apiVersion: v1\nkind: Service\nmetadata: {name: svc}\nspec:\n  extra: [$(V), 7]\n",
        );
        specs.push(FieldSpec::new("", "", "Service", "spec/extra", false));
        let diags = resolve(
            &mut rs,
            &[var("V", "{kind: Service, name: svc, apiVersion: v1}", None)],
            &specs,
        );
        let errors: Vec<&Diag> = diags.iter().filter(|d| !d.warning).collect();
        assert_eq!(errors.len(), 1);
        assert!(
            errors[0].message.contains("considering field 'spec/extra'"),
            "{}",
            errors[0].message
        );
        assert!(
            errors[0]
                .message
                .contains("invalid value type expect a string")
        );
    }

    const POD_AND_SERVICES: &str = r#"
apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  containers:
  - name: app
    image: nginx
    args: ["$(V)"]
---
apiVersion: v1
kind: Service
metadata:
  name: svc
  annotations: {a.b: dotted}
spec:
  clusterIP: null
  ports:
  - {name: http, port: 80}
  - {name: https, port: 443}
  - {name: a.b, port: 1}
"#;

    /// The Pod's single arg after resolving one var `V`, or the error.
    fn var_arg(fixture: &str, objref: &str, field_path: Option<&str>) -> Result<Value, String> {
        let mut rs = objects(fixture);
        let diags = resolve(
            &mut rs,
            &[var("V", objref, field_path)],
            &default_var_reference(),
        );
        if let Some(e) = diags.iter().find(|d| !d.warning) {
            return Err(e.message.clone());
        }
        Ok(rs[0].value["spec"]["containers"][0]["args"][0].clone())
    }

    #[test]
    fn var_field_paths() {
        let svc = "{kind: Service, name: svc, apiVersion: v1}";
        let arg = |fp: &str| var_arg(POD_AND_SERVICES, svc, Some(fp));
        assert_eq!(arg("spec.ports.[name=https].port").unwrap(), json!(443));
        assert_eq!(arg("spec.ports[1].name").unwrap(), "https");
        assert_eq!(arg("spec.ports.[1].name").unwrap(), "https");
        assert_eq!(arg("spec.ports.1.name").unwrap(), "https");
        assert_eq!(arg("spec.ports.[name=a.b].port").unwrap(), json!(1));
        assert_eq!(arg("metadata.annotations.[a.b]").unwrap(), "dotted");
        assert_eq!(arg(r"metadata.annotations.a\.b").unwrap(), "dotted");
        assert_eq!(arg("spec.clusterIP").unwrap(), "null");
        for missing in [
            "spec.ports.[name=http].nope",
            "spec.ports.[name=htt].port",
            "spec.ports.*.name",
            "spec.ports.-1.port",
            "spec.ports.port",
            "metadata.namespace",
        ] {
            let e = arg(missing).unwrap_err();
            assert!(
                e.starts_with("field specified in var 'V'"),
                "{missing}: {e}"
            );
            assert!(e.contains("not found in Service svc"), "{missing}: {e}");
        }
        // A map leaves $(V) (with a warning).
        assert_eq!(arg("spec").unwrap(), "$(V)");
    }

    #[test]
    fn var_objrefs_match_exactly_by_any_identity() {
        let f = POD_AND_SERVICES;
        assert_eq!(
            var_arg(f, "{kind: Service, name: svc, version: v1}", None).unwrap(),
            "svc"
        );
        assert_eq!(
            var_arg(
                f,
                "{kind: Service, name: svc, group: '', version: v1}",
                None
            )
            .unwrap(),
            "svc"
        );
        assert_eq!(
            var_arg(
                f,
                "{kind: Service, name: svc, apiVersion: v1, namespace: default}",
                None
            )
            .unwrap(),
            "svc"
        );
        let e = var_arg(f, "{kind: Service, name: svc}", None).unwrap_err();
        assert!(
            e.starts_with("var 'V' cannot be mapped to a field in the set of known resources"),
            "{e}"
        );
        assert!(var_arg(f, "{kind: Service, name: nope, apiVersion: v1}", None).is_err());
        assert!(
            var_arg(
                f,
                "{kind: Service, name: svc, apiVersion: v1, namespace: other}",
                None
            )
            .is_err()
        );

        let two = "apiVersion: v1\nkind: Pod\nmetadata: {name: pod}\nspec:\n  containers: [{name: a, args: [$(V)]}]\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: a}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: svc, namespace: b}\n";
        let e = var_arg(two, "{kind: Service, name: svc, apiVersion: v1}", None).unwrap_err();
        assert!(
            e.starts_with("found 2 resId matches for var 'V' (unable to disambiguate)"),
            "{e}"
        );
        assert_eq!(
            var_arg(
                two,
                "{kind: Service, name: svc, apiVersion: v1, namespace: b}",
                Some("metadata.namespace")
            )
            .unwrap(),
            "b"
        );

        // Renamed by a base's prefix then an overlay's: the original, middle and final names
        // all select it, and the value is the final name.
        let mut rs = objects(f);
        for r in &mut rs {
            for prefix in ["b-", "o-"] {
                let name = format!("{prefix}{}", r.name());
                r.set_name(&name);
            }
        }
        for name in ["svc", "b-svc", "o-b-svc"] {
            let mut rs = rs.clone();
            let objref = format!("{{kind: Service, name: {name}, apiVersion: v1}}");
            let diags = resolve(
                &mut rs,
                &[var("V", &objref, None)],
                &default_var_reference(),
            );
            assert!(diags.is_empty(), "{diags:?}");
            assert_eq!(rs[0].value["spec"]["containers"][0]["args"][0], "o-b-svc");
        }
    }

    #[test]
    fn var_names_are_unique_and_unused_vars_are_warnings() {
        let svc = "{kind: Service, name: svc, apiVersion: v1}";
        let mut rs = objects(POD_AND_SERVICES);
        let diags = resolve(
            &mut rs,
            &[var("V", svc, None), var("V", svc, None)],
            &default_var_reference(),
        );
        assert_eq!(diags.len(), 1);
        assert_eq!(diags[0].message, "var 'V' already encountered");
        assert!(!diags[0].warning);
        assert_eq!(rs[0].value["spec"]["containers"][0]["args"][0], "$(V)");

        let mut rs = objects(POD_AND_SERVICES);
        let diags = resolve(
            &mut rs,
            &[var("V", svc, None), var("W", svc, None)],
            &default_var_reference(),
        );
        assert_eq!(diags.len(), 1);
        assert!(diags[0].warning);
        assert!(
            diags[0]
                .message
                .contains("'W' is defined but $(W) is never replaced")
        );
        assert_eq!(rs[0].value["spec"]["containers"][0]["args"][0], "svc");

        // No vars, nothing checked (not even list items).
        let mut rs = objects(
            "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers: [{name: a, args: [1]}]\n",
        );
        assert!(resolve(&mut rs, &[], &default_var_reference()).is_empty());
    }

    /// Every field of [`var_probe`] that kustomize v5.8.1 substituted (from `kubectl kustomize`
    /// on the same objects).
    const VAR_REFERENCE_ORACLE: &str = "\
CronJob spec/jobTemplate/spec/template/spec/containers/args
CronJob spec/jobTemplate/spec/template/spec/containers/command
CronJob spec/jobTemplate/spec/template/spec/containers/env/value
CronJob spec/jobTemplate/spec/template/spec/containers/volumeMounts/mountPath
CronJob spec/jobTemplate/spec/template/spec/initContainers/args
CronJob spec/jobTemplate/spec/template/spec/initContainers/command
CronJob spec/jobTemplate/spec/template/spec/initContainers/env/value
CronJob spec/jobTemplate/spec/template/spec/initContainers/volumeMounts/mountPath
CronJob spec/jobTemplate/spec/template/volumes/nfs/server
Custom metadata/annotations/a
Custom metadata/labels/l
DaemonSet metadata/annotations/a
DaemonSet metadata/labels/l
DaemonSet spec/template/spec/containers/args
DaemonSet spec/template/spec/containers/command
DaemonSet spec/template/spec/containers/env/value
DaemonSet spec/template/spec/containers/volumeMounts/mountPath
DaemonSet spec/template/spec/initContainers/args
DaemonSet spec/template/spec/initContainers/command
DaemonSet spec/template/spec/initContainers/env/value
DaemonSet spec/template/spec/initContainers/volumeMounts/mountPath
DaemonSet spec/template/spec/volumes/nfs/server
Deployment metadata/annotations/a
Deployment metadata/labels/l
Deployment spec/template/metadata/annotations/x
Deployment spec/template/spec/containers/args
Deployment spec/template/spec/containers/command
Deployment spec/template/spec/containers/env/value
Deployment spec/template/spec/containers/volumeMounts/mountPath
Deployment spec/template/spec/initContainers/args
Deployment spec/template/spec/initContainers/command
Deployment spec/template/spec/initContainers/env/value
Deployment spec/template/spec/initContainers/volumeMounts/mountPath
Deployment spec/template/spec/volumes/nfs/server
Ingress spec/rules/host
Ingress spec/tls/hosts
Ingress spec/tls/secretName
Job metadata/annotations/a
Job metadata/labels/l
Job spec/template/spec/containers/args
Job spec/template/spec/containers/command
Job spec/template/spec/containers/env/value
Job spec/template/spec/containers/volumeMounts/mountPath
Job spec/template/spec/initContainers/args
Job spec/template/spec/initContainers/command
Job spec/template/spec/initContainers/env/value
Job spec/template/spec/initContainers/volumeMounts/mountPath
Job spec/template/spec/volumes/nfs/server
PersistentVolume spec/nfs/server
Pod spec/containers/args
Pod spec/containers/command
Pod spec/containers/env/value
Pod spec/containers/volumeMounts/mountPath
Pod spec/initContainers/args
Pod spec/initContainers/command
Pod spec/initContainers/env/value
Pod spec/initContainers/volumeMounts/mountPath
Pod spec/volumes/nfs/server
ReplicaSet metadata/annotations/a
ReplicaSet metadata/labels/l
ReplicaSet spec/template/spec/containers/args
ReplicaSet spec/template/spec/containers/command
ReplicaSet spec/template/spec/containers/env/value
ReplicaSet spec/template/spec/containers/volumeMounts/mountPath
ReplicaSet spec/template/spec/initContainers/args
ReplicaSet spec/template/spec/initContainers/command
ReplicaSet spec/template/spec/initContainers/env/value
ReplicaSet spec/template/spec/initContainers/volumeMounts/mountPath
ReplicaSet spec/template/spec/volumes/nfs/server
ReplicationController metadata/annotations/a
ReplicationController metadata/labels/l
Service spec/ports/port
Service spec/ports/targetPort
StatefulSet metadata/annotations/a
StatefulSet metadata/labels/l
StatefulSet spec/template/spec/containers/args
StatefulSet spec/template/spec/containers/command
StatefulSet spec/template/spec/containers/env/value
StatefulSet spec/template/spec/containers/volumeMounts/mountPath
StatefulSet spec/template/spec/initContainers/args
StatefulSet spec/template/spec/initContainers/command
StatefulSet spec/template/spec/initContainers/env/value
StatefulSet spec/template/spec/initContainers/volumeMounts/mountPath
StatefulSet spec/volumeClaimTemplates/spec/nfs/server
";

    #[test]
    fn the_default_var_reference_table_is_kustomizes() {
        fn walk(v: &Value, path: &mut Vec<String>, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    for (k, x) in m {
                        path.push(k.clone());
                        walk(x, path, out);
                        path.pop();
                    }
                }
                Value::Array(items) => items.iter().for_each(|x| walk(x, path, out)),
                Value::String(s) if s == "src" => out.push(path.join("/")),
                _ => {}
            }
        }
        let mut rs = var_probe();
        let diags = resolve(
            &mut rs,
            &[var(
                "V",
                "{kind: ConfigMap, name: src, apiVersion: v1}",
                None,
            )],
            &default_var_reference(),
        );
        assert!(diags.is_empty(), "{diags:?}");
        let mut got = BTreeSet::new();
        for r in &rs {
            let mut paths = Vec::new();
            walk(&r.value, &mut Vec::new(), &mut paths);
            for p in paths.into_iter().filter(|p| p != "metadata/name") {
                got.insert(format!("{} {p}", r.kind()));
            }
        }
        let expected: BTreeSet<String> = VAR_REFERENCE_ORACLE.lines().map(String::from).collect();
        assert_eq!(got, expected);
    }
}

#[cfg(test)]
mod cluster_scoped_tests {
    use super::tests_support::*;
    use super::*;

    const CLUSTER: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: team
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cr
---
apiVersion: v1
kind: Pod
metadata:
  name: pod
spec:
  containers:
  - name: app
    image: nginx
    args: ["$(V)"]
"#;

    #[test]
    fn sources_read_no_namespace_as_default_for_every_kind() {
        let source = |src: &str| {
            let mut rs = objects(CLUSTER);
            let reps: Vec<Replacement> = serde_yaml::from_str(&format!(
                "- source: {src}\n  targets: [{{select: {{kind: Pod}}, fieldPaths: [metadata.annotations.a], options: {{create: true}}}}]"
            ))
            .unwrap();
            let mut diags = Vec::new();
            apply(&mut rs, &reps, &Span::file("k.yaml"), &mut diags);
            diags.first().map_or_else(
                || Ok(rs[2].value["metadata"]["annotations"]["a"].clone()),
                |d| Err(d.message.clone()),
            )
        };
        // Oracle results.
        assert_eq!(
            source("{kind: Namespace, name: team, namespace: default}").unwrap(),
            "team"
        );
        assert_eq!(
            source("{kind: ClusterRole, name: cr, namespace: default}").unwrap(),
            "cr"
        );
        assert_eq!(source("{name: team, namespace: default}").unwrap(), "team");
        assert!(source("{kind: Namespace, name: team, namespace: foo}").is_err());
    }

    #[test]
    fn var_objrefs_compare_a_cluster_scoped_namespace_as_written() {
        let arg = |objref: &str| {
            let mut rs = objects(CLUSTER);
            let mut diags = Vec::new();
            resolve_vars(
                &mut rs,
                &[var("V", objref, None)],
                &default_var_reference(),
                &mut diags,
            );
            diags.first().map_or_else(
                || Ok(rs[2].value["spec"]["containers"][0]["args"][0].clone()),
                |d| Err(d.message.clone()),
            )
        };
        let cr = "kind: ClusterRole, name: cr, apiVersion: rbac.authorization.k8s.io/v1";
        assert_eq!(arg(&format!("{{{cr}}}")).unwrap(), "cr");
        assert!(arg(&format!("{{{cr}, namespace: default}}")).is_err());
        assert!(arg(&format!("{{{cr}, namespace: zz}}")).is_err());
        assert_eq!(
            arg("{kind: Namespace, name: team, apiVersion: v1}").unwrap(),
            "team"
        );
        assert!(arg("{kind: Namespace, name: team, apiVersion: v1, namespace: default}").is_err());
    }
}
