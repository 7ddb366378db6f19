//! The `patches`, `patchesStrategicMerge` and `patchesJson6902` fields, as kustomize v5.8.1
//! applies them (its `PatchTransformer`, `PatchStrategicMergeTransformer` and
//! `PatchJson6902Transformer`). What it does, each point checked against `kubectl kustomize`:
//!
//! * Targets ([`select`]): `group`, `version`, `kind`, `name` and `namespace` are anchored regular
//!   expressions (`kind: Config.*` selects ConfigMaps; `name: c` does not select `cm`), matched
//!   case-sensitively; an empty one matches anything. `name` matches the object's current name
//!   *or* the one it was read with (a patch in an overlay may use the base's name from before
//!   its `namePrefix`); likewise `namespace`, where an object without one is in `default` and a
//!   cluster-scoped one is in `_non_namespaceable_` whatever its `namespace` field says.
//!   `labelSelector` and `annotationSelector` use Kubernetes selector syntax.
//! * `patches`: the text is a strategic merge patch when every YAML document in it is an object
//!   with a `kind` and a `metadata.name`, a JSON 6902 patch when it is a list of operations
//!   (text starting with `[` must then be strict JSON; anything else is read as YAML). Empty text,
//!   comments only, `---` or `[]` do nothing. A strategic merge patch without a target applies
//!   to the one object with its `apiVersion`, `kind`, `name` and namespace (any name the object
//!   has had; no namespace means `default`); with a target it applies to every selected object
//!   whatever its own `apiVersion`, `kind` and name say, and then only one document is allowed.
//!   A JSON 6902 patch needs a target.
//! * A strategic merge patch never renames: after merging, the object gets back its name, kind
//!   and namespace (silently) — unless `options.allowNameChange` / `allowKindChange` let the
//!   patch's name / kind stay (the namespace is restored always). A JSON 6902 patch in
//!   `patches` may change anything; a renamed object keeps its old identity for name references.
//!   `$patch: delete` at the top of a strategic merge patch deletes the object.
//! * JSON 6902 operations behave as kustomize's library (evanphx/json-patch v4) does, not quite
//!   as RFC 6902 says: `replace` of a missing object key adds it, array indices may be negative
//!   (counted from the end), a path whose first segment is not empty (`spec/replicas`) is read
//!   as if that segment were not there. Operations are applied here by a port of that library
//!   (the `json-patch` crate differs on these points); messages are its own, prefixed with the
//!   operation's number. Written in YAML, a JSON 6902 patch is read as YAML 1.1 (unquoted `on`,
//!   `yes`, `n` are booleans there), strategic merge patches as resources are
//!   ([`yaml::load`]).
//! * `patchesStrategicMerge`: like an untargeted strategic merge patch. `patchesJson6902`: its
//!   own rules: the target must have a `name`; empty patches are errors; a patch that renames an
//!   object does not leave its old identity behind (name references do not follow it).
//! * A target that selects nothing is not an error (kustomize builds as if the patch were not
//!   there); here it is a warning.

use regex::Regex;
use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser as YamlParser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::kustomization::{Patch, Selector};
use crate::resource::ResId;
use crate::smp::{self, Schemas};
use crate::{Diag, Resource, Span, yaml};

/// kustomize's namespace for cluster-scoped objects when matching.
const NOT_NAMESPACEABLE: &str = "_non_namespaceable_";

// ---------------------------------------------------------------------------------------------
// Selection.

/// The indices of the objects a patch target selects, in order. Errors are a bad regular
/// expression or selector.
pub fn select(resources: &[Resource], sel: &Selector) -> Result<Vec<usize>, String> {
    let m = Matcher::new(sel)?;
    Ok(resources
        .iter()
        .enumerate()
        .filter(|(_, r)| m.matches(r))
        .map(|(i, _)| i)
        .collect())
}

struct Matcher {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: LabelSelector,
    annotations: LabelSelector,
}

fn anchored(what: &str, pattern: &str) -> Result<Option<Regex>, String> {
    if pattern.is_empty() {
        return Ok(None);
    }
    Regex::new(&format!("^(?:{pattern})$"))
        .map(Some)
        .map_err(|e| format!("target {what} `{pattern}` is not a valid regular expression: {e}"))
}

fn is_match(re: &Option<Regex>, s: &str) -> bool {
    re.as_ref().is_none_or(|re| re.is_match(s))
}

impl Matcher {
    fn new(sel: &Selector) -> Result<Self, String> {
        Ok(Matcher {
            group: anchored("group", &sel.group)?,
            version: anchored("version", &sel.version)?,
            kind: anchored("kind", &sel.kind)?,
            name: anchored("name", &sel.name)?,
            namespace: anchored("namespace", &sel.namespace)?,
            labels: LabelSelector::parse(&sel.label_selector)
                .map_err(|e| format!("labelSelector: {e}"))?,
            annotations: LabelSelector::parse(&sel.annotation_selector)
                .map_err(|e| format!("annotationSelector: {e}"))?,
        })
    }

    fn matches(&self, r: &Resource) -> bool {
        let cur = r.id();
        let org = r.original_id();
        (is_match(&self.namespace, effective_namespace(&org))
            || is_match(&self.namespace, effective_namespace(&cur)))
            && (is_match(&self.name, &org.name) || is_match(&self.name, &cur.name))
            && is_match(&self.group, &cur.group)
            && is_match(&self.version, &cur.version)
            && is_match(&self.kind, &cur.kind)
            && self.labels.matches(&r.labels())
            && self.annotations.matches(&r.annotations())
    }
}

fn api_version(id: &ResId) -> String {
    if id.group.is_empty() {
        id.version.clone()
    } else {
        format!("{}/{}", id.group, id.version)
    }
}

/// kustomize's `ResId.EffectiveNamespace`.
fn effective_namespace(id: &ResId) -> &str {
    if crate::transform::is_cluster_scoped(&api_version(id), &id.kind) {
        NOT_NAMESPACEABLE
    } else if id.namespace.is_empty() {
        "default"
    } else {
        &id.namespace
    }
}

/// kustomize's `ResId.Equals`: the same group, version, kind and name, the same effective
/// namespace.
fn same_id(a: &ResId, b: &ResId) -> bool {
    a.group == b.group
        && a.version == b.version
        && a.kind == b.kind
        && a.name == b.name
        && effective_namespace(a) == effective_namespace(b)
}

/// An id as kustomize prints one: `Deployment.v1.apps/web.[noNs]`.
fn id_string(id: &ResId) -> String {
    fn or<'a>(s: &'a str, none: &'a str) -> &'a str {
        if s.is_empty() { none } else { s }
    }
    format!(
        "{}.{}.{}/{}.{}",
        or(&id.kind, "[noKind]"),
        or(&id.version, "[noVer]"),
        or(&id.group, "[noGrp]"),
        or(&id.name, "[noName]"),
        or(&id.namespace, "[noNs]")
    )
}

fn describe(sel: &Selector) -> String {
    let parts: Vec<String> = [
        ("group", &sel.group),
        ("version", &sel.version),
        ("kind", &sel.kind),
        ("name", &sel.name),
        ("namespace", &sel.namespace),
        ("labelSelector", &sel.label_selector),
        ("annotationSelector", &sel.annotation_selector),
    ]
    .iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}: {v}"))
    .collect();
    if parts.is_empty() {
        "{}".into()
    } else {
        format!("{{{}}}", parts.join(", "))
    }
}

// ---------------------------------------------------------------------------------------------
// Label selectors (Kubernetes `labels.Parse`).

#[derive(Debug, Clone, PartialEq)]
enum Op {
    Exists,
    DoesNotExist,
    In,
    NotIn,
    Gt,
    Lt,
}

#[derive(Debug, Clone, PartialEq)]
struct Requirement {
    key: String,
    op: Op,
    values: Vec<String>,
}

/// A parsed label (or annotation) selector: requirements that must all hold.
#[derive(Debug, Clone, Default, PartialEq)]
struct LabelSelector(Vec<Requirement>);

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Not,
    NotEquals,
    Equals,
    DoubleEquals,
    Gt,
    Lt,
    Open,
    Close,
    Comma,
    End,
}

impl Tok {
    fn literal(&self) -> String {
        match self {
            Tok::Ident(s) => s.clone(),
            Tok::Not => "!".into(),
            Tok::NotEquals => "!=".into(),
            Tok::Equals => "=".into(),
            Tok::DoubleEquals => "==".into(),
            Tok::Gt => ">".into(),
            Tok::Lt => "<".into(),
            Tok::Open => "(".into(),
            Tok::Close => ")".into(),
            Tok::Comma => ",".into(),
            Tok::End => String::new(),
        }
    }
}

fn lex(s: &str) -> Vec<Tok> {
    let special = |c: char| matches!(c, '!' | '=' | '(' | ')' | ',' | '<' | '>');
    let mut toks = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if special(c) {
            chars.next();
            let next = chars.peek().copied();
            toks.push(match (c, next) {
                ('!', Some('=')) => {
                    chars.next();
                    Tok::NotEquals
                }
                ('=', Some('=')) => {
                    chars.next();
                    Tok::DoubleEquals
                }
                ('!', _) => Tok::Not,
                ('=', _) => Tok::Equals,
                ('(', _) => Tok::Open,
                (')', _) => Tok::Close,
                (',', _) => Tok::Comma,
                ('<', _) => Tok::Lt,
                _ => Tok::Gt,
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
        toks.push(Tok::Ident(ident));
    }
    toks.push(Tok::End);
    toks
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Tok {
        self.toks.get(self.pos).cloned().unwrap_or(Tok::End)
    }
    fn next(&mut self) -> Tok {
        let t = self.peek();
        self.pos += 1;
        t
    }
}

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

fn validate_key(k: &str) -> Result<(), String> {
    let ok = match k.split_once('/') {
        Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
        None => is_label_name(k),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "invalid label key {k:?}: a qualified name must consist of alphanumeric characters, \
             '-', '_' or '.', and must start and end with an alphanumeric character, with an \
             optional DNS subdomain prefix and '/'"
        ))
    }
}

fn validate_value(v: &str) -> Result<(), String> {
    if v.is_empty() || is_label_name(v) {
        Ok(())
    } else {
        Err(format!(
            "invalid label value: {v:?}: a valid label must be an empty string or consist of \
             alphanumeric characters, '-', '_' or '.', and must start and end with an \
             alphanumeric character (at most 63)"
        ))
    }
}

impl LabelSelector {
    fn parse(s: &str) -> Result<Self, String> {
        let mut p = Parser {
            toks: lex(s),
            pos: 0,
        };
        let mut reqs = Vec::new();
        loop {
            match p.peek() {
                Tok::Ident(_) | Tok::Not => {
                    let r = parse_requirement(&mut p)
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    reqs.push(r);
                    match p.next() {
                        Tok::End => return Ok(LabelSelector(reqs)),
                        Tok::Comma => match p.peek() {
                            Tok::Ident(_) | Tok::Not => {}
                            t => {
                                return Err(format!(
                                    "found '{}', expected: identifier after ','",
                                    t.literal()
                                ));
                            }
                        },
                        t => {
                            return Err(format!(
                                "found '{}', expected: ',' or 'end of string'",
                                t.literal()
                            ));
                        }
                    }
                }
                Tok::End => return Ok(LabelSelector(reqs)),
                t => {
                    return Err(format!(
                        "found '{}', expected: !, identifier, or 'end of string'",
                        t.literal()
                    ));
                }
            }
        }
    }

    fn matches(&self, labels: &Map<String, Value>) -> bool {
        self.0.iter().all(|r| {
            let value = labels.get(&r.key).map(|v| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            });
            match r.op {
                Op::Exists => value.is_some(),
                Op::DoesNotExist => value.is_none(),
                Op::In => value.is_some_and(|v| r.values.contains(&v)),
                Op::NotIn => value.is_none_or(|v| !r.values.contains(&v)),
                Op::Gt | Op::Lt => {
                    let (Some(have), Some(want)) = (
                        value.and_then(|v| v.parse::<i64>().ok()),
                        r.values.first().and_then(|v| v.parse::<i64>().ok()),
                    ) else {
                        return false;
                    };
                    if r.op == Op::Gt {
                        have > want
                    } else {
                        have < want
                    }
                }
            }
        })
    }
}

fn parse_requirement(p: &mut Parser) -> Result<Requirement, String> {
    let mut tok = p.next();
    let mut negated = false;
    if tok == Tok::Not {
        negated = true;
        tok = p.next();
    }
    let Tok::Ident(key) = tok else {
        return Err(format!("found '{}', expected: identifier", tok.literal()));
    };
    validate_key(&key)?;
    if negated || matches!(p.peek(), Tok::End | Tok::Comma) {
        let op = if negated {
            Op::DoesNotExist
        } else {
            Op::Exists
        };
        return Ok(Requirement {
            key,
            op,
            values: Vec::new(),
        });
    }
    let op_tok = p.next();
    let (op, set) = match &op_tok {
        Tok::Ident(s) if s == "in" => (Op::In, true),
        Tok::Ident(s) if s == "notin" => (Op::NotIn, true),
        Tok::Equals | Tok::DoubleEquals => (Op::In, false),
        Tok::NotEquals => (Op::NotIn, false),
        Tok::Gt => (Op::Gt, false),
        Tok::Lt => (Op::Lt, false),
        t => {
            return Err(format!(
                "found '{}', expected: in, notin, =, ==, !=, gt, lt",
                t.literal()
            ));
        }
    };
    let values = if set {
        parse_values(p)?
    } else {
        match p.peek() {
            Tok::End | Tok::Comma => vec![String::new()],
            _ => match p.next() {
                Tok::Ident(v) => vec![v],
                t => return Err(format!("found '{}', expected: identifier", t.literal())),
            },
        }
    };
    if set && values.is_empty() {
        return Err("for 'in', 'notin' operators, values set can't be empty".into());
    }
    if matches!(op, Op::Gt | Op::Lt) {
        if values.first().is_none_or(|v| v.parse::<i64>().is_err()) {
            return Err(format!(
                "for 'Gt', 'Lt' operators, the value must be an integer: {:?}",
                values.first().cloned().unwrap_or_default()
            ));
        }
    } else {
        for v in &values {
            validate_value(v)?;
        }
    }
    Ok(Requirement { key, op, values })
}

fn parse_values(p: &mut Parser) -> Result<Vec<String>, String> {
    let t = p.next();
    if t != Tok::Open {
        return Err(format!("found '{}' expected: '('", t.literal()));
    }
    let mut set: Vec<String> = Vec::new();
    let insert = |set: &mut Vec<String>, v: String| {
        if !set.contains(&v) {
            set.push(v);
        }
    };
    match p.peek() {
        Tok::Close => {
            p.next();
            return Ok(vec![String::new()]);
        }
        Tok::Ident(_) | Tok::Comma => {}
        t => {
            return Err(format!(
                "found '{}', expected: ',', ')' or identifier",
                t.literal()
            ));
        }
    }
    loop {
        match p.next() {
            Tok::Ident(v) => {
                insert(&mut set, v);
                match p.peek() {
                    Tok::Comma => {}
                    Tok::Close => break,
                    t => return Err(format!("found '{}', expected: ',' or ')'", t.literal())),
                }
            }
            Tok::Comma => {
                if set.is_empty() {
                    insert(&mut set, String::new());
                }
                match p.peek() {
                    Tok::Close => {
                        insert(&mut set, String::new());
                        break;
                    }
                    Tok::Comma => {
                        p.next();
                        insert(&mut set, String::new());
                    }
                    _ => {}
                }
            }
            t => {
                return Err(format!(
                    "found '{}', expected: ',', or identifier",
                    t.literal()
                ));
            }
        }
    }
    match p.next() {
        Tok::Close => Ok(set),
        t => Err(format!("found '{}', expected: ')'", t.literal())),
    }
}

// ---------------------------------------------------------------------------------------------
// Reading patches.

/// The documents of a strategic merge patch. Empty documents (nothing, `null`, `{}` or `[]`)
/// are dropped; every other one must be an object with a `kind` and (unless its kind ends in
/// `List`) a `metadata.name`. A `…List` with `items` stands for its items.
fn parse_sm(text: &str) -> Result<Vec<Value>, String> {
    let mut docs = Vec::new();
    for (line, doc) in yaml::documents(text) {
        let value = yaml::load(&doc).map_err(|(l, c, e)| {
            format!(
                "line {}, column {c}: invalid YAML: {e}",
                line + l.max(1) - 1
            )
        })?;
        let is_empty = match &value {
            Value::Null => true,
            Value::Object(m) => m.is_empty(),
            Value::Array(a) => a.is_empty(),
            _ => false,
        };
        if is_empty {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if kind.ends_with("List")
            && let Some(items) = value.get("items").and_then(Value::as_array)
        {
            for item in items {
                validate_sm(item, line)?;
                docs.push(item.clone());
            }
            continue;
        }
        validate_sm(&value, line)?;
        docs.push(value);
    }
    Ok(docs)
}

fn validate_sm(value: &Value, line: usize) -> Result<(), String> {
    if !value.is_object() {
        return Err(format!("line {line}: not an object"));
    }
    let kind = value
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if kind.is_empty() {
        return Err(format!("line {line}: missing kind"));
    }
    let name = value
        .get("metadata")
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or_default();
    if name.is_empty() && !kind.ends_with("List") {
        return Err(format!("line {line}: missing metadata.name"));
    }
    Ok(())
}

/// The operations of a JSON 6902 patch: text starting with `[` is JSON, anything else YAML (its
/// first document, read as YAML 1.1: see [`load_yaml11`]); either must be a list of objects.
fn parse_json(text: &str) -> Result<Vec<Map<String, Value>>, String> {
    if text.is_empty() {
        return Err("empty json patch operations".into());
    }
    let value: Value = if text.starts_with('[') {
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?
    } else {
        load_yaml11(text)?
    };
    let Value::Array(items) = value else {
        return Err("not a list of operations".into());
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::Object(m) => Ok(m),
            Value::Null => Ok(Map::new()),
            other => Err(format!("an operation is not an object: {other}")),
        })
        .collect()
}

/// The first YAML document of `text` as kustomize converts a JSON 6902 patch written in YAML
/// (`sigs.k8s.io/yaml`'s `YAMLToJSON`, which reads YAML 1.1 as go-yaml v2 does): unlike
/// resources and strategic merge patches, unquoted `yes`, `no`, `on`, `off`, `y` and `n` (in
/// their capitalisations) are booleans, underscores in numbers are dropped, whole floats are
/// integers (`1e3` is 1000), keys that are not strings are written as text (`on:` is
/// `"true"`). Checked against `kubectl kustomize`.
fn load_yaml11(text: &str) -> Result<Value, String> {
    let mut loader = Yaml11::default();
    let mut parser = YamlParser::new_from_str(text);
    parser.load(&mut loader, false).map_err(|e| {
        format!(
            "invalid YAML at line {}, column {}: {}",
            e.marker().line(),
            e.marker().col() + 1,
            e.info()
        )
    })?;
    if let Some(e) = loader.error {
        return Err(e);
    }
    Ok(loader.doc.unwrap_or(Value::Null))
}

/// Bounds alias expansion (a patch file has passed the reader's bounds, an inline one has not).
const MAX_YAML_NODES: usize = 1_000_000;

enum Frame11 {
    Seq(Vec<Value>, usize),
    /// Entries, the key waiting for its value (`None` inside: a `<<` merge key), anchor,
    /// mappings to merge in.
    Map(
        Map<String, Value>,
        Option<Option<String>>,
        usize,
        Vec<Value>,
    ),
}

#[derive(Default)]
struct Yaml11 {
    stack: Vec<Frame11>,
    doc: Option<Value>,
    anchors: std::collections::HashMap<usize, Value>,
    nodes: usize,
    error: Option<String>,
}

fn resolve_yaml11(s: &str) -> Value {
    match s {
        "y" | "Y" | "yes" | "Yes" | "YES" | "on" | "On" | "ON" => return Value::Bool(true),
        "n" | "N" | "no" | "No" | "NO" | "off" | "Off" | "OFF" => return Value::Bool(false),
        _ => {}
    }
    let number = match yaml::resolve_plain(&s.replace('_', "")) {
        Value::Number(n)
            if !s.is_empty() && (s.as_bytes()[0].is_ascii_digit() || "+-.".contains(&s[..1])) =>
        {
            Some(n)
        }
        _ => None,
    };
    match number {
        Some(n) => match n.as_f64() {
            Some(f) if !n.is_i64() && !n.is_u64() && f.fract() == 0.0 && f.abs() < 9.0e15 => {
                Value::from(f as i64)
            }
            _ => Value::Number(n),
        },
        None => yaml::resolve_plain(s),
    }
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

impl Yaml11 {
    fn push(&mut self, v: Value, anchor: usize, merge_key: bool) {
        self.nodes += 1;
        if self.nodes > MAX_YAML_NODES {
            self.error
                .get_or_insert_with(|| "the YAML expands to too many values".into());
            return;
        }
        if anchor > 0 {
            self.anchors.insert(anchor, v.clone());
        }
        match self.stack.last_mut() {
            None => {
                self.doc.get_or_insert(v);
            }
            Some(Frame11::Seq(items, _)) => items.push(v),
            Some(Frame11::Map(map, key, _, merges)) => match key.take() {
                None => *key = Some((!merge_key).then(|| key_text(&v))),
                Some(None) => match v {
                    Value::Object(_) => merges.push(v),
                    Value::Array(items) => merges.extend(items),
                    _ => {
                        self.error.get_or_insert_with(|| {
                            "a `<<` merge key needs a mapping or a list of mappings".into()
                        });
                    }
                },
                Some(Some(k)) => {
                    map.insert(k, v);
                }
            },
        }
    }
}

impl MarkedEventReceiver for Yaml11 {
    fn on_event(&mut self, ev: Event, _mark: Marker) {
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let is_str_tag = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let plain = style == TScalarStyle::Plain && !is_str_tag;
                let merge_key = plain && text == "<<";
                let v = if plain {
                    resolve_yaml11(&text)
                } else {
                    Value::String(text)
                };
                self.push(v, anchor, merge_key);
            }
            Event::Alias(id) => {
                let v = self.anchors.get(&id).cloned().unwrap_or(Value::Null);
                self.nodes += count_values(&v);
                self.push(v, 0, false);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame11::Seq(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame11::Map(Map::new(), None, anchor, Vec::new()))
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame11::Seq(items, anchor)) => self.push(Value::Array(items), anchor, false),
                Some(Frame11::Map(mut map, _, anchor, merges)) => {
                    for m in merges {
                        if let Value::Object(m) = m {
                            for (k, v) in m {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                    self.push(Value::Object(map), anchor, false)
                }
                None => {}
            },
            _ => {}
        }
    }
}

fn count_values(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(count_values).sum::<usize>(),
        Value::Object(m) => 1 + m.values().map(count_values).sum::<usize>(),
        _ => 1,
    }
}

// ---------------------------------------------------------------------------------------------
// The three fields.

/// Options of a strategic merge patch.
#[derive(Clone, Copy, Default)]
struct SmOptions {
    allow_name_change: bool,
    allow_kind_change: bool,
}

/// One `patches:` entry whose patch text is `content` (the inline `patch:` or the `path:` file's
/// text); problems are located at `span` (the entry).
pub fn patches(
    resources: &mut Vec<Resource>,
    schemas: &mut Schemas,
    entry: &Patch,
    content: &str,
    span: &Span,
    diags: &mut Vec<Diag>,
) {
    if entry.path.is_empty() && entry.patch.trim().is_empty() {
        diags.push(Diag::error(
            span.clone(),
            "must specify one of patch and path",
        ));
        return;
    }
    if !entry.path.is_empty() && !entry.patch.trim().is_empty() {
        diags.push(Diag::error(
            span.clone(),
            "patch and path can't be set at the same time",
        ));
        return;
    }
    // kustomize trims an inline patch, not a file's text.
    let text = if entry.path.is_empty() {
        content.trim()
    } else {
        content
    };
    let source = if entry.path.is_empty() {
        "the inline patch".to_string()
    } else {
        format!("patch file {}", entry.path)
    };
    let opts = SmOptions {
        allow_name_change: entry.options.allow_name_change,
        allow_kind_change: entry.options.allow_kind_change,
    };
    match (parse_sm(text), parse_json(text)) {
        (Ok(docs), _) if !docs.is_empty() => match &entry.target {
            Some(target) => {
                if docs.len() > 1 {
                    diags.push(Diag::error(
                        span.clone(),
                        format!(
                            "{source} holds {} strategic merge patches: a `patches` entry with \
                             a target may hold only one",
                            docs.len()
                        ),
                    ));
                    return;
                }
                let Some(idxs) = selected(resources, target, span, diags) else {
                    return;
                };
                if let Err(e) = apply_sm_to(resources, schemas, &idxs, &docs[0], opts) {
                    diags.push(Diag::error(span.clone(), e));
                }
            }
            None => {
                let n = docs.len();
                for (k, doc) in docs.iter().enumerate() {
                    if let Err(e) = apply_sm_by_id(resources, schemas, doc, opts, true) {
                        diags.push(Diag::error(span.clone(), doc_prefix(k, n, e)));
                        return;
                    }
                }
            }
        },
        (Ok(_), Err(_)) => {}
        (_, Ok(ops)) => {
            if ops.is_empty() {
                return;
            }
            let Some(target) = &entry.target else {
                diags.push(
                    Diag::error(
                        span.clone(),
                        format!("must specify a target for JSON patch ({source})"),
                    )
                    .with_hint("a JSON 6902 patch applies to the objects its `target` selects"),
                );
                return;
            };
            let Some(idxs) = selected(resources, target, span, diags) else {
                return;
            };
            for i in idxs {
                let before = resources[i].id();
                if let Err(e) = apply_ops(&mut resources[i].value, &ops) {
                    diags.push(Diag::error(span.clone(), format!("patching {before}: {e}")));
                    return;
                }
                if resources[i].id() != before {
                    resources[i].previous.push(before);
                }
            }
        }
        (Err(sm), Err(js)) => diags.push(
            Diag::error(
                span.clone(),
                format!("unable to parse SM or JSON patch from {source}"),
            )
            .with_hint(format!(
                "as a strategic merge patch: {sm}; as a JSON 6902 patch: {js}"
            )),
        ),
    }
}

/// One `patchesStrategicMerge` entry: `content` is the inline patch or the file's text (which may
/// hold several documents).
pub fn strategic_merge_field(
    resources: &mut Vec<Resource>,
    schemas: &mut Schemas,
    content: &str,
    span: &Span,
    diags: &mut Vec<Diag>,
) {
    let docs = match parse_sm(content) {
        Ok(docs) => docs,
        Err(e) => {
            diags.push(Diag::error(
                span.clone(),
                format!("not a strategic merge patch: {e}"),
            ));
            return;
        }
    };
    let n = docs.len();
    for (k, doc) in docs.iter().enumerate() {
        if let Err(e) = apply_sm_by_id(resources, schemas, doc, SmOptions::default(), false) {
            diags.push(Diag::error(span.clone(), doc_prefix(k, n, e)));
            return;
        }
    }
}

/// One `patchesJson6902` entry: `content` is a YAML or JSON list of operations.
// The same signature as the other two fields' (this one never adds or removes objects).
#[allow(clippy::ptr_arg)]
pub fn json6902_field(
    resources: &mut Vec<Resource>,
    target: &Selector,
    content: &str,
    span: &Span,
    diags: &mut Vec<Diag>,
) {
    if target.name.is_empty() {
        diags.push(
            Diag::error(span.clone(), "must specify the target name").with_hint(
                "`patchesJson6902` entries need `target.name`; `patches` entries do not",
            ),
        );
        return;
    }
    if content.is_empty() {
        diags.push(Diag::error(span.clone(), "the JSON patch is empty"));
        return;
    }
    let ops = match parse_json(content) {
        Ok(ops) => ops,
        Err(e) => {
            diags.push(Diag::error(
                span.clone(),
                format!("not a JSON 6902 patch: {e}"),
            ));
            return;
        }
    };
    if ops.is_empty() {
        diags.push(Diag::error(span.clone(), "patch appears to be empty"));
        return;
    }
    let Some(idxs) = selected(resources, target, span, diags) else {
        return;
    };
    for i in idxs {
        let id = resources[i].id();
        if let Err(e) = apply_ops(&mut resources[i].value, &ops) {
            diags.push(Diag::error(span.clone(), format!("patching {id}: {e}")));
            return;
        }
    }
}

fn doc_prefix(k: usize, n: usize, e: String) -> String {
    if n > 1 {
        format!("strategic merge patch {} of {n}: {e}", k + 1)
    } else {
        e
    }
}

/// The selected objects, or `None` after an error; a warning when nothing is selected.
fn selected(
    resources: &[Resource],
    target: &Selector,
    span: &Span,
    diags: &mut Vec<Diag>,
) -> Option<Vec<usize>> {
    match select(resources, target) {
        Ok(idxs) => {
            if idxs.is_empty() {
                diags.push(Diag::warning(
                    span.clone(),
                    format!(
                        "patch target {} selects no object; the patch changes nothing",
                        describe(target)
                    ),
                ));
            }
            Some(idxs)
        }
        Err(e) => {
            diags.push(Diag::error(span.clone(), format!("patch target: {e}")));
            None
        }
    }
}

fn patch_id(patch: &Value) -> ResId {
    Resource::new(patch.clone(), Span::file("patch")).id()
}

/// An untargeted strategic merge patch: the one object whose any identity equals the patch's.
fn apply_sm_by_id(
    resources: &mut Vec<Resource>,
    schemas: &mut Schemas,
    patch: &Value,
    opts: SmOptions,
    in_patches: bool,
) -> Result<(), String> {
    let pid = patch_id(patch);
    let matches: Vec<usize> = resources
        .iter()
        .enumerate()
        .filter(|(_, r)| r.ids().any(|id| same_id(&id, &pid)))
        .map(|(i, _)| i)
        .collect();
    let id = id_string(&pid);
    let problem = match matches.len() {
        1 => None,
        0 => Some("no matches"),
        _ => Some("multiple matches"),
    };
    if let Some(problem) = problem {
        let detail = format!("{problem} for Id {id}; failed to find unique target for patch {id}");
        return Err(if in_patches {
            format!("no resource matches strategic merge patch \"{id}\": {detail}")
        } else {
            detail
        });
    }
    let i = matches[0];
    if apply_sm(&mut resources[i], schemas, patch, opts)? {
        resources.remove(i);
    }
    Ok(())
}

/// A targeted strategic merge patch: each selected object, the patch taking its apiVersion.
fn apply_sm_to(
    resources: &mut Vec<Resource>,
    schemas: &mut Schemas,
    idxs: &[usize],
    patch: &Value,
    opts: SmOptions,
) -> Result<(), String> {
    let mut deleted = Vec::new();
    for &i in idxs {
        let mut p = patch.clone();
        if let Some(obj) = p.as_object_mut() {
            match resources[i].value.get("apiVersion") {
                Some(av) => obj.insert("apiVersion".into(), av.clone()),
                None => obj.remove("apiVersion"),
            };
        }
        if apply_sm(&mut resources[i], schemas, &p, opts)? {
            deleted.push(i);
        }
    }
    for i in deleted.into_iter().rev() {
        resources.remove(i);
    }
    Ok(())
}

/// kustomize's `Resource.ApplySmPatch`. `Ok(true)` when the patch deleted the object.
fn apply_sm(
    res: &mut Resource,
    schemas: &mut Schemas,
    patch: &Value,
    opts: SmOptions,
) -> Result<bool, String> {
    let before = res.id();
    let (name, namespace, kind) = (
        res.name().to_string(),
        res.namespace().to_string(),
        res.kind().to_string(),
    );
    let merged = smp::merge_with(&res.value, patch, schemas)
        .map_err(|e| format!("patching {before}: {e}"))?;
    let empty = match &merged {
        Value::Null => true,
        Value::Object(m) => m.is_empty(),
        _ => false,
    };
    if empty {
        return Ok(true);
    }
    res.value = merged;
    if !opts.allow_kind_change
        && let Some(obj) = res.value.as_object_mut()
    {
        obj.insert("kind".into(), Value::String(kind));
    }
    let meta = res.metadata_mut();
    if !opts.allow_name_change {
        meta.insert("name".into(), Value::String(name));
    }
    if namespace.is_empty() {
        meta.remove("namespace");
    } else {
        meta.insert("namespace".into(), Value::String(namespace));
    }
    if res.id() != before {
        res.previous.push(before);
    }
    Ok(false)
}

// ---------------------------------------------------------------------------------------------
// JSON 6902, as evanphx/json-patch v4 applies it.

fn op_str(op: &Map<String, Value>, field: &str) -> Option<Result<String, String>> {
    match op.get(field) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(Ok(s.clone())),
        Some(other) => Some(Err(format!(
            "json: cannot unmarshal {} into Go value of type string",
            json_type(other)
        ))),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Applies JSON 6902 operations; the first failing one stops (the document is then partly
/// patched, and the caller fails the build).
fn apply_ops(doc: &mut Value, ops: &[Map<String, Value>]) -> Result<(), String> {
    for (i, op) in ops.iter().enumerate() {
        let kind = match op_str(op, "op") {
            Some(Ok(k)) => k,
            _ => "unknown".to_string(),
        };
        let path = match op_str(op, "path") {
            Some(Ok(p)) => p,
            _ => String::new(),
        };
        apply_op(doc, op, &kind).map_err(|e| {
            if path.is_empty() {
                format!("JSON patch operation {} ({kind}): {e}", i + 1)
            } else {
                format!("JSON patch operation {} ({kind} {path}): {e}", i + 1)
            }
        })?;
    }
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Map<String, Value>, kind: &str) -> Result<(), String> {
    let path = |what: &str| match op_str(op, "path") {
        Some(Ok(p)) => Ok(p),
        _ => Err(format!(
            "{what} operation failed to decode path: missing value"
        )),
    };
    let from = |what: &str| match op_str(op, "from") {
        Some(Ok(p)) => Ok(p),
        _ => Err(format!(
            "{what} operation failed to decode from: missing value"
        )),
    };
    // A missing `value` adds null, as the library does.
    let value = op.get("value").cloned().unwrap_or(Value::Null);
    match kind {
        "add" => {
            let path = path("add")?;
            let (con, key) = find_object(doc, &path).ok_or_else(|| {
                format!(
                    "add operation does not apply: doc is missing path: \"{path}\": missing value"
                )
            })?;
            con_add(con, &key, value).map_err(|e| format!("error in add for path: '{path}': {e}"))
        }
        "remove" => {
            let path = path("remove")?;
            let (con, key) = find_object(doc, &path).ok_or_else(|| {
                format!(
                    "remove operation does not apply: doc is missing path: \"{path}\": missing value"
                )
            })?;
            con_remove(con, &key)
                .map(drop)
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "replace" => {
            let path = path("replace")?;
            let (con, key) = find_object(doc, &path).ok_or_else(|| {
                format!(
                    "replace operation does not apply: doc is missing path: {path}: missing value"
                )
            })?;
            if con_get(con, &key).is_err() {
                return Err(format!(
                    "replace operation does not apply: doc is missing key: {path}: missing value"
                ));
            }
            con_set(con, &key, value)
                .map_err(|e| format!("error in remove for path: '{path}': {e}"))
        }
        "move" => {
            let from = from("move")?;
            let (con, key) = find_object(doc, &from).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing from path: {from}: missing value"
                )
            })?;
            con_get(con, &key).map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let val = con_remove(con, &key)
                .map_err(|e| format!("error in move for path: '{key}': {e}"))?;
            let path = path("move")?;
            let (con, key) = find_object(doc, &path).ok_or_else(|| {
                format!(
                    "move operation does not apply: doc is missing destination path: {path}: \
                     missing value"
                )
            })?;
            con_add(con, &key, val).map_err(|e| format!("error in move for path: '{path}': {e}"))
        }
        "copy" => {
            let from = from("copy")?;
            let (con, key) = find_object(doc, &from).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing from path: {from}: missing value"
                )
            })?;
            let val = con_get(con, &key)
                .map_err(|e| format!("error in copy for from: '{from}': {e}"))?
                .unwrap_or(Value::Null);
            let path = path("copy")?;
            let (con, key) = find_object(doc, &path).ok_or_else(|| {
                format!(
                    "copy operation does not apply: doc is missing destination path: {path}: \
                     missing value"
                )
            })?;
            con_add(con, &key, val)
                .map_err(|e| format!("error while adding value during copy: {e}"))
        }
        "test" => {
            let path = path("test")?;
            if path.is_empty() {
                // The whole document.
                return if *doc == value {
                    Ok(())
                } else {
                    Err("testing value  failed: test failed".into())
                };
            }
            let (con, key) = find_object(doc, &path).ok_or_else(|| {
                format!("test operation does not apply: is missing path: {path}: missing value")
            })?;
            let have =
                con_get(con, &key).map_err(|e| format!("error in test for path: '{path}': {e}"))?;
            let failed = || format!("testing value {path} failed: test failed");
            match have {
                None if value.is_null() => Ok(()),
                None => Err(failed()),
                Some(_) if !op.contains_key("value") => Err(failed()),
                Some(v) if v == value => Ok(()),
                Some(_) => Err(failed()),
            }
        }
        other => Err(format!("Unexpected kind: {other}")),
    }
}

fn decode_key(k: &str) -> String {
    k.replace("~1", "/").replace("~0", "~")
}

/// evanphx's `findObject`: the container holding the path's last segment, and that segment.
/// The path's first segment is skipped whatever it is.
fn find_object<'a>(doc: &'a mut Value, path: &str) -> Option<(&'a mut Value, String)> {
    let split: Vec<&str> = path.split('/').collect();
    if split.len() < 2 {
        return None;
    }
    let key = decode_key(split[split.len() - 1]);
    let mut cur = doc;
    for part in &split[1..split.len() - 1] {
        let part = decode_key(part);
        cur = match cur {
            Value::Object(m) => m.get_mut(&part)?,
            Value::Array(a) => {
                let idx = array_index(a.len(), &part).ok()?;
                a.get_mut(idx)?
            }
            _ => return None,
        };
        if !(cur.is_object() || cur.is_array()) {
            return None;
        }
    }
    Some((cur, key))
}

fn atoi(key: &str) -> Result<i64, String> {
    key.parse::<i64>()
        .map_err(|_| format!("strconv.Atoi: parsing {key:?}: invalid syntax"))
}

fn invalid_index(idx: i64) -> String {
    format!("Unable to access invalid index: {idx}: invalid index referenced")
}

/// An existing element's index (negative ones count from the end).
fn array_index(len: usize, key: &str) -> Result<usize, String> {
    let len = len as i64;
    let mut idx = atoi(key)?;
    if idx < 0 {
        if idx < -len {
            return Err(invalid_index(idx));
        }
        idx += len;
    }
    if idx >= len {
        return Err(invalid_index(idx));
    }
    Ok(idx as usize)
}

fn con_get(con: &Value, key: &str) -> Result<Option<Value>, String> {
    match con {
        Value::Object(m) => Ok(m.get(key).filter(|v| !v.is_null()).cloned()),
        Value::Array(a) => Ok(Some(a[array_index(a.len(), key)?].clone())),
        _ => Ok(None),
    }
}

fn con_set(con: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            let i = array_index(a.len(), key)?;
            a[i] = val;
            Ok(())
        }
        _ => Err("unknown object type".into()),
    }
}

fn con_add(con: &mut Value, key: &str, val: Value) -> Result<(), String> {
    match con {
        Value::Object(m) => {
            m.insert(key.to_string(), val);
            Ok(())
        }
        Value::Array(a) => {
            if key == "-" {
                a.push(val);
                return Ok(());
            }
            let mut idx = atoi(key)
                .map_err(|e| format!("value was not a proper array index: '{key}': {e}"))?;
            let size = a.len() as i64 + 1;
            if idx >= size {
                return Err(invalid_index(idx));
            }
            if idx < 0 {
                if idx < -size {
                    return Err(invalid_index(idx));
                }
                idx += size;
            }
            a.insert(idx as usize, val);
            Ok(())
        }
        _ => Err("unknown object type".into()),
    }
}

fn con_remove(con: &mut Value, key: &str) -> Result<Value, String> {
    match con {
        Value::Object(m) => m
            .remove(key)
            .ok_or_else(|| format!("Unable to remove nonexistent key: {key}: missing value")),
        Value::Array(a) => {
            let len = a.len() as i64;
            let mut idx = atoi(key)?;
            if idx >= len {
                return Err(invalid_index(idx));
            }
            if idx < 0 {
                if idx < -len {
                    return Err(invalid_index(idx));
                }
                idx += len;
            }
            Ok(a.remove(idx as usize))
        }
        _ => Err("unknown object type".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The objects every case starts from (as `resources:` of the kustomization).
    const BASE: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, labels: {app: web, tier: front}, annotations: {team: a}}
spec:
  replicas: 1
  template:
    spec:
      containers: [{name: app, image: app:1}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm, namespace: default, labels: {app: web}}
data: {k: v}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: cm2, namespace: other}
data: {k: v}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: cr}
rules: []
---
apiVersion: example.com/v1
kind: Foo
metadata: {name: foo}
spec: {a: 1}
"#;

    fn base() -> Vec<Resource> {
        yaml::documents(BASE)
            .into_iter()
            .map(|(line, doc)| {
                Resource::new(
                    serde_yaml::from_str(&doc).unwrap(),
                    Span::new("base.yaml", line, 1),
                )
            })
            .collect()
    }

    /// Applies the field's entries (YAML, as in a kustomization) to [`BASE`].
    fn run_on(mut rs: Vec<Resource>, field: &str, entries: &str) -> (Vec<Resource>, Vec<Diag>) {
        let span = Span::new("kustomization.yaml", 2, 3);
        let mut diags = Vec::new();
        match field {
            "patches" => {
                let entries: Vec<Patch> = serde_yaml::from_str(entries).unwrap();
                for e in &entries {
                    patches(
                        &mut rs,
                        &mut Schemas::default(),
                        e,
                        &e.patch,
                        &span,
                        &mut diags,
                    );
                }
            }
            "patchesStrategicMerge" => {
                let entries: Vec<String> = serde_yaml::from_str(entries).unwrap();
                for e in &entries {
                    strategic_merge_field(&mut rs, &mut Schemas::default(), e, &span, &mut diags);
                }
            }
            _ => {
                let entries: Vec<Patch> = serde_yaml::from_str(entries).unwrap();
                for e in &entries {
                    let target = e.target.clone().unwrap_or_default();
                    json6902_field(&mut rs, &target, &e.patch, &span, &mut diags);
                }
            }
        }
        (rs, diags)
    }

    fn run(field: &str, entries: &str) -> (Vec<Resource>, Vec<Diag>) {
        run_on(base(), field, entries)
    }

    fn key(r: &Value) -> String {
        format!(
            "{}/{}",
            r["kind"].as_str().unwrap_or_default(),
            r["metadata"]["name"].as_str().unwrap_or_default()
        )
    }

    /// JSON text with every map's keys sorted, whatever order the map keeps (serde_json keeps
    /// insertion order when another crate of the build enables `preserve_order`).
    fn canon(v: &Value) -> String {
        let mut out = String::new();
        write_sorted(v, &mut out);
        out
    }

    fn write_sorted(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                out.push('{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write_sorted(&m[k], out);
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_sorted(x, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }

    /// `changed` holds the objects `kubectl kustomize` printed that differ from [`BASE`]'s,
    /// `removed` the `Kind/name` of [`BASE`]'s objects it no longer printed.
    fn check(field: &str, entries: &str, changed: &str, removed: &[&str], warning: Option<&str>) {
        let (rs, diags) = run(field, entries);
        let errors: Vec<&Diag> = diags.iter().filter(|d| !d.warning).collect();
        assert!(errors.is_empty(), "{errors:?}");
        let base: Vec<Value> = base().into_iter().map(|r| r.value).collect();
        let got: Vec<Value> = rs.into_iter().map(|r| r.value).collect();
        let mut got_changed: Vec<String> = got
            .iter()
            .filter(|v| !base.contains(v))
            .map(canon)
            .collect();
        got_changed.sort();
        let mut want_changed: Vec<String> = yaml::documents(changed)
            .into_iter()
            .map(|(_, d)| canon(&serde_yaml::from_str::<Value>(&d).unwrap()))
            .collect();
        want_changed.sort();
        assert_eq!(got_changed, want_changed);
        let keys: Vec<String> = got.iter().map(key).collect();
        let got_removed: Vec<String> = base.iter().map(key).filter(|k| !keys.contains(k)).collect();
        assert_eq!(got_removed, removed);
        let warnings: Vec<&Diag> = diags.iter().filter(|d| d.warning).collect();
        match warning {
            Some(w) => assert!(
                warnings.iter().any(|d| d.message.contains(w)),
                "{warnings:?}"
            ),
            None => assert!(warnings.is_empty(), "{warnings:?}"),
        }
    }

    /// kustomize fails the build too (its message is in the comment above each call); ours must
    /// hold `want`.
    fn check_err(field: &str, entries: &str, want: &str) {
        let (_, diags) = run(field, entries);
        assert!(
            diags.iter().any(|d| !d.warning && d.message.contains(want)),
            "{diags:?}"
        );
    }

    /// An untargeted strategic merge patch applies to the object with its id; no namespace means `default`.
    #[test]
    fn smp_untargeted_by_id() {
        check(
            "patches",
            r#"- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm}
    data: {l: w}
"#,
            r#"apiVersion: v1
data:
  k: v
  l: w
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
"#,
            &[],
            None,
        );
    }

    /// Several documents apply in order.
    #[test]
    fn smp_untargeted_several_documents() {
        check(
            "patches",
            r#"- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm}
    data: {l: w}
    ---
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: web}
    spec: {replicas: 3}
"#,
            r#"apiVersion: v1
data:
  k: v
  l: w
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
      - image: app:1
        name: app
"#,
            &[],
            None,
        );
    }

    #[test]
    fn smp_untargeted_no_match() {
        // kustomize: error: no resource matches strategic merge patch \"Deployment.v1.apps/nope.[noNs]\": no matches for Id Deployment.v1.apps/nope.[noNs]; failed to find unique target for patch Deployment.v1.apps/nope.[noNs]
        check_err(
            "patches",
            r#"- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    metadata: {name: nope}
    spec: {replicas: 3}
"#,
            "no resource matches strategic merge patch \"Deployment.v1.apps/nope.[noNs]\"",
        );
    }

    #[test]
    fn smp_untargeted_wrong_namespace() {
        // kustomize: error: no resource matches strategic merge patch \"ConfigMap.v1.[noGrp]/cm2.zz\": no matches for Id ConfigMap.v1.[noGrp]/cm2.zz; failed to find unique target for patch ConfigMap.v1.[noGrp]/cm2.zz
        check_err(
            "patches",
            r#"- patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm2, namespace: zz}
    data: {l: w}
"#,
            "no matches for Id ConfigMap.v1.[noGrp]/cm2.zz",
        );
    }

    #[test]
    fn smp_untargeted_version_must_match() {
        // kustomize: error: no resource matches strategic merge patch \"ConfigMap.v2.[noGrp]/cm.[noNs]\": no matches for Id ConfigMap.v2.[noGrp]/cm.[noNs]; failed to find unique target for patch ConfigMap.v2.[noGrp]/cm.[noNs]
        check_err(
            "patches",
            r#"- patch: |-
    apiVersion: v2
    kind: ConfigMap
    metadata: {name: cm}
    data: {l: w}
"#,
            "ConfigMap.v2.[noGrp]/cm.[noNs]",
        );
    }

    /// A cluster-scoped object matches whatever namespace the patch names; the namespace is not added.
    #[test]
    fn smp_cluster_scoped_ignores_namespace() {
        check(
            "patches",
            r#"- patch: |-
    apiVersion: rbac.authorization.k8s.io/v1
    kind: ClusterRole
    metadata: {name: cr, namespace: zz}
    rules: [{verbs: [get]}]
"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cr
rules:
- verbs:
  - get
"#,
            &[],
            None,
        );
    }

    /// With a target, the patch's apiVersion, kind, name and namespace neither restrict nor rename.
    #[test]
    fn smp_targeted_ignores_patch_identity() {
        check(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    apiVersion: v1
    kind: Whatever
    metadata: {name: other, namespace: zz, labels: {p: q}}
    spec: {replicas: 3}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    p: q
    tier: front
  name: web
spec:
  replicas: 3
  template:
    spec:
      containers:
      - image: app:1
        name: app
"#,
            &[],
            None,
        );
    }

    /// allowNameChange / allowKindChange keep the patch's name and kind (the namespace never changes; apiVersion stays the target's).
    #[test]
    fn smp_targeted_allow_name_and_kind_change() {
        check(
            "patches",
            r#"- target: {kind: Deployment}
  options: {allowNameChange: true, allowKindChange: true}
  patch: |-
    apiVersion: v1
    kind: Whatever
    metadata: {name: other, namespace: zz}
    spec: {replicas: 3}
"#,
            r#"apiVersion: apps/v1
kind: Whatever
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: other
spec:
  replicas: 3
  template:
    spec:
      containers:
      - image: app:1
        name: app
"#,
            &["Deployment/web"],
            None,
        );
    }

    #[test]
    fn smp_targeted_several_objects() {
        check(
            "patches",
            r#"- target: {kind: ConfigMap}
  patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: any}
    data: {z: '1'}
"#,
            r#"apiVersion: v1
data:
  k: v
  z: '1'
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
---
apiVersion: v1
data:
  k: v
  z: '1'
kind: ConfigMap
metadata:
  name: cm2
  namespace: other
"#,
            &[],
            None,
        );
    }

    #[test]
    fn smp_targeted_several_documents_refused() {
        // kustomize: error: Multiple Strategic-Merge Patches in one `patches` entry is not allowed to set `patches.target` field: [patch: \"apiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: cm}\\n---\\napiVersion: v1\\nkind: ConfigMap\\nmetadata: {name: cm2}\"]
        check_err(
            "patches",
            r#"- target: {kind: ConfigMap}
  patch: |-
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm}
    ---
    apiVersion: v1
    kind: ConfigMap
    metadata: {name: cm2}
"#,
            "may hold only one",
        );
    }

    /// `$patch: delete` deletes every selected object.
    #[test]
    fn smp_targeted_delete() {
        check(
            "patches",
            r#"- target: {kind: ConfigMap}
  patch: |-
    $patch: delete
    apiVersion: v1
    kind: X
    metadata: {name: x}
"#,
            r#""#,
            &["ConfigMap/cm", "ConfigMap/cm2"],
            None,
        );
    }

    #[test]
    fn smp_untargeted_delete() {
        check(
            "patches",
            r#"- patch: |-
    {apiVersion: example.com/v1, kind: Foo, metadata: {name: foo}, $patch: delete}
"#,
            r#""#,
            &["Foo/foo"],
            None,
        );
    }

    /// A strategic merge patch may be written as JSON.
    #[test]
    fn smp_as_json_object() {
        check(
            "patches",
            r#"- patch: '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm"}, "data": {"j": "1"}}'
"#,
            r#"apiVersion: v1
data:
  j: '1'
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
"#,
            &[],
            None,
        );
    }

    /// A document without kind (or name) is no strategic merge patch, and no list of operations.
    #[test]
    fn smp_without_kind_is_neither() {
        // kustomize: `: unable to parse SM or JSON patch from [patch: \"apiVersion: apps/v1\\nmetadata: {name: web}\\nspec: {replicas: 3}\"]
        check_err(
            "patches",
            r#"- patch: |-
    apiVersion: apps/v1
    metadata: {name: web}
    spec: {replicas: 3}
"#,
            "unable to parse SM or JSON patch",
        );
    }

    #[test]
    fn smp_without_name_is_neither() {
        // kustomize: `: unable to parse SM or JSON patch from [patch: \"apiVersion: apps/v1\\nkind: Deployment\\nspec: {replicas: 3}\"]
        check_err(
            "patches",
            r#"- patch: |-
    apiVersion: apps/v1
    kind: Deployment
    spec: {replicas: 3}
"#,
            "unable to parse SM or JSON patch",
        );
    }

    #[test]
    fn json_needs_target() {
        // kustomize: error: must specify a target for JSON patch [patch: \"- {op: replace, path: /spec/replicas, value: 3}\"]
        check_err(
            "patches",
            r#"- patch: |-
    - {op: replace, path: /spec/replicas, value: 3}
"#,
            "must specify a target for JSON patch",
        );
    }

    /// Empty text, comments, `---` and `[]` change nothing, with or without a target.
    #[test]
    fn empty_patches_do_nothing() {
        check(
            "patches",
            r#"- patch: '[]'
"#,
            r#""#,
            &[],
            None,
        );
    }

    #[test]
    fn empty_patch_comment() {
        check(
            "patches",
            r#"- patch: '# nothing'
  target: {kind: Deployment}
"#,
            r#""#,
            &[],
            None,
        );
    }

    /// Text starting with `[` must be JSON: flow YAML there is neither kind of patch.
    #[test]
    fn json_flow_yaml_starting_with_bracket_is_refused() {
        // kustomize: `: unable to parse SM or JSON patch from [patch: \"[{op: add, path: /data/x, value: hit}]\"]
        check_err(
            "patches",
            r#"- target: {kind: ConfigMap}
  patch: '[{op: add, path: /data/x, value: hit}]'
"#,
            "unable to parse SM or JSON patch",
        );
    }

    #[test]
    fn json_strict_list() {
        check(
            "patches",
            r#"- target: {kind: ConfigMap, name: cm}
  patch: '[{"op": "add", "path": "/data/x", "value": "hit"}]'
"#,
            r#"apiVersion: v1
data:
  k: v
  x: hit
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
"#,
            &[],
            None,
        );
    }

    /// `replace` of a missing object key adds it (evanphx/json-patch v4).
    #[test]
    fn json_replace_missing_key_adds() {
        check(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: replace, path: /spec/paused, value: true}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  paused: true
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
"#,
            &[],
            None,
        );
    }

    #[test]
    fn json_add_missing_parent() {
        // kustomize: error: add operation does not apply: doc is missing path: \"/spec/a/b\": missing value
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: add, path: /spec/a/b, value: 3}
"#,
            "add operation does not apply: doc is missing path: \"/spec/a/b\": missing value",
        );
    }

    #[test]
    fn json_remove_missing() {
        // kustomize: error: error in remove for path: '/spec/nope': Unable to remove nonexistent key: nope: missing value
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: remove, path: /spec/nope}
"#,
            "error in remove for path: '/spec/nope': Unable to remove nonexistent key: nope: missing value",
        );
    }

    #[test]
    fn json_test_fails() {
        // kustomize: error: testing value /spec/replicas failed: test failed
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: test, path: /spec/replicas, value: 3}
"#,
            "testing value /spec/replicas failed: test failed",
        );
    }

    #[test]
    fn json_test_passes_then_ops() {
        check(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: test, path: /spec/replicas, value: 1}
    - {op: copy, from: /spec/replicas, path: /spec/template/spec/containers/0/x}
    - {op: add, path: /spec/template/spec/containers/-, value: {name: c}}
    - {op: move, from: /metadata/labels/tier, path: /metadata/labels/layer}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    layer: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
        x: 1
      - name: c
"#,
            &[],
            None,
        );
    }

    #[test]
    fn json_move_missing() {
        // kustomize: error: error in move for path: 'nope': Unable to remove nonexistent key: nope: missing value
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: move, from: /spec/nope, path: /spec/x}
"#,
            "error in move for path: 'nope': Unable to remove nonexistent key: nope: missing value",
        );
    }

    #[test]
    fn json_unknown_op() {
        // kustomize: error: Unexpected kind: bogus
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: bogus, path: /spec/replicas}
"#,
            "Unexpected kind: bogus",
        );
    }

    #[test]
    fn json_index_out_of_range() {
        // kustomize: error: error in add for path: '/spec/template/spec/containers/5': Unable to access invalid index: 5: invalid index referenced
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: add, path: /spec/template/spec/containers/5, value: {name: c}}
"#,
            "error in add for path: '/spec/template/spec/containers/5': Unable to access invalid index: 5: invalid index referenced",
        );
    }

    /// Negative indices count from the end; a path's first segment is skipped.
    #[test]
    fn json_negative_index() {
        check(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: add, path: /spec/template/spec/containers/-1, value: {name: before-last}}
    - {op: replace, path: /spec/template/spec/containers/-1/image, value: app:2}
    - {op: add, path: spec/foo, value: bar}
"#,
            r#"apiVersion: apps/v1
foo: bar
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
      - image: app:2
        name: before-last
"#,
            &[],
            None,
        );
    }

    #[test]
    fn json_replace_out_of_range() {
        // kustomize: error: replace operation does not apply: doc is missing key: /spec/template/spec/containers/3: missing value
        check_err(
            "patches",
            r#"- target: {kind: Deployment}
  patch: |-
    - {op: replace, path: /spec/template/spec/containers/3, value: {}}
"#,
            "replace operation does not apply: doc is missing key: /spec/template/spec/containers/3: missing value",
        );
    }

    /// A JSON patch in `patches` may rename.
    #[test]
    fn json_rename() {
        check(
            "patches",
            r#"- target: {kind: ConfigMap, name: cm}
  patch: |-
    - {op: replace, path: /metadata/name, value: renamed}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: renamed
  namespace: default
"#,
            &["ConfigMap/cm"],
            None,
        );
    }

    #[test]
    fn target_name_is_anchored_regex() {
        check(
            "patches",
            r#"- target: {name: 'cm.'}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  name: cm2
  namespace: other
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_name_partial_does_not_match() {
        check(
            "patches",
            r#"- target: {name: c}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#""#,
            &[],
            Some("selects no object"),
        );
    }

    #[test]
    fn target_kind_regex() {
        check(
            "patches",
            r#"- target: {kind: 'Config.*'}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
x: hit
---
apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  name: cm2
  namespace: other
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_kind_case_sensitive() {
        check(
            "patches",
            r#"- target: {kind: configmap}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#""#,
            &[],
            Some("selects no object"),
        );
    }

    /// `namespace: default` selects objects without a namespace too, never cluster-scoped ones.
    #[test]
    fn target_namespace_default() {
        check(
            "patches",
            r#"- target: {namespace: default}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
x: hit
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
x: hit
---
apiVersion: example.com/v1
kind: Foo
metadata:
  name: foo
spec:
  a: 1
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_namespace_cluster_scoped() {
        check(
            "patches",
            r#"- target: {namespace: _non_namespaceable_}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: cr
rules: []
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_group_version() {
        check(
            "patches",
            r#"- target: {group: apps, version: v1}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_label_selectors() {
        check(
            "patches",
            r#"- target: {labelSelector: 'app=web,tier!=back'}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
x: hit
---
apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_label_in_notin() {
        check(
            "patches",
            r#"- target: {labelSelector: 'app in (web, x), tier notin (front)'}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_label_exists_not_exists() {
        check(
            "patches",
            r#"- target: {labelSelector: '!tier', kind: ConfigMap}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
x: hit
---
apiVersion: v1
data:
  k: v
kind: ConfigMap
metadata:
  name: cm2
  namespace: other
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_annotation_selector() {
        check(
            "patches",
            r#"- target: {annotationSelector: 'team==a'}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            r#"apiVersion: apps/v1
kind: Deployment
metadata:
  annotations:
    team: a
  labels:
    app: web
    tier: front
  name: web
spec:
  replicas: 1
  template:
    spec:
      containers:
      - image: app:1
        name: app
x: hit
"#,
            &[],
            None,
        );
    }

    #[test]
    fn target_bad_label_selector() {
        // kustomize: error: unable to parse requirement: found '', expected: ',' or ')'
        check_err(
            "patches",
            r#"- target: {labelSelector: 'app in (a'}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            "unable to parse requirement: found '', expected: ',' or ')'",
        );
    }

    #[test]
    fn target_bad_regex() {
        // kustomize: error: error parsing regexp: missing closing ): `^(?:()$`
        check_err(
            "patches",
            r#"- target: {name: '('}
  patch: |-
    - {op: add, path: /x, value: hit}
"#,
            "not a valid regular expression",
        );
    }

    #[test]
    fn psm_by_id() {
        check(
            "patchesStrategicMerge",
            r#"- |-
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm2, namespace: other}
  data: {l: w}
"#,
            r#"apiVersion: v1
data:
  k: v
  l: w
kind: ConfigMap
metadata:
  name: cm2
  namespace: other
"#,
            &[],
            None,
        );
    }

    #[test]
    fn psm_no_match() {
        // kustomize: error: no matches for Id Deployment.v1.apps/nope.[noNs]; failed to find unique target for patch Deployment.v1.apps/nope.[noNs]
        check_err(
            "patchesStrategicMerge",
            r#"- |-
  apiVersion: apps/v1
  kind: Deployment
  metadata: {name: nope}
"#,
            "no matches for Id Deployment.v1.apps/nope.[noNs]; failed to find unique target for patch Deployment.v1.apps/nope.[noNs]",
        );
    }

    #[test]
    fn psm_restores_name() {
        check(
            "patchesStrategicMerge",
            r#"- |-
  apiVersion: v1
  kind: ConfigMap
  metadata: {name: cm2, namespace: other}
  $patch: replace
  data: {only: this}
"#,
            r#""#,
            &[],
            None,
        );
    }

    #[test]
    fn json6902_needs_target_name() {
        // kustomize: `: must specify the target name
        check_err(
            "patchesJson6902",
            r#"- target: {kind: ConfigMap}
  patch: '- {op: add, path: /data/q, value: x}'
"#,
            "must specify the target name",
        );
    }

    #[test]
    fn json6902_applies() {
        check(
            "patchesJson6902",
            r#"- target: {kind: ConfigMap, name: 'cm.*'}
  patch: '- {op: add, path: /data/q, value: x}'
"#,
            r#"apiVersion: v1
data:
  k: v
  q: x
kind: ConfigMap
metadata:
  labels:
    app: web
  name: cm
  namespace: default
---
apiVersion: v1
data:
  k: v
  q: x
kind: ConfigMap
metadata:
  name: cm2
  namespace: other
"#,
            &[],
            None,
        );
    }

    #[test]
    fn json6902_empty() {
        // kustomize: `: patch appears to be empty; file=, JsonOp=[]
        check_err(
            "patchesJson6902",
            r#"- target: {kind: ConfigMap, name: cm}
  patch: '[]'
"#,
            "patch appears to be empty",
        );
    }

    #[test]
    fn json6902_not_a_list() {
        // kustomize: `: decoding {\"apiVersion\":\"v1\"}: json: cannot unmarshal object into Go value of type jsonpatch.Patch
        check_err(
            "patchesJson6902",
            r#"- target: {kind: ConfigMap, name: cm}
  patch: 'apiVersion: v1'
"#,
            "not a JSON 6902 patch",
        );
    }

    #[test]
    fn json6902_selects_nothing() {
        check(
            "patchesJson6902",
            r#"- target: {kind: ConfigMap, name: nomatch}
  patch: '- {op: add, path: /data/q, value: x}'
"#,
            r#""#,
            &[],
            Some("selects no object"),
        );
    }

    fn renamed_base() -> Vec<Resource> {
        // As a base's `namePrefix: p-` leaves them.
        let mut rs = base();
        for r in &mut rs {
            let name = format!("p-{}", r.name());
            r.set_name(&name);
        }
        rs
    }

    /// Checked with a base (`namePrefix: p-`) and an overlay: a target's name matches the name
    /// before the prefix and the current one.
    #[test]
    fn target_name_matches_original_and_current_names() {
        for name in ["cm", "p-cm"] {
            let entries = format!(
                "- target: {{kind: ConfigMap, name: {name}}}\n  patch: |-\n    - {{op: add, path: /data/x, value: hit}}\n"
            );
            let (rs, diags) = run_on(renamed_base(), "patches", &entries);
            assert!(diags.is_empty(), "{diags:?}");
            let hit: Vec<&str> = rs
                .iter()
                .filter(|r| r.value["data"]["x"] == "hit")
                .map(|r| r.name())
                .collect();
            assert_eq!(hit, ["p-cm"]);
        }
    }

    /// An untargeted patch naming the base's name applies, and the object keeps its current name.
    #[test]
    fn untargeted_smp_matches_an_earlier_name() {
        let entries = "- patch: |-\n    {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {x: orig}}\n";
        let (rs, diags) = run_on(renamed_base(), "patches", entries);
        assert!(diags.is_empty(), "{diags:?}");
        let cm = rs.iter().find(|r| r.value["data"]["x"] == "orig").unwrap();
        assert_eq!(cm.name(), "p-cm");
        assert_eq!(cm.previous.len(), 1);
        let (rs, diags) = run_on(
            renamed_base(),
            "patchesStrategicMerge",
            "- |-\n  {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {x: orig}}\n",
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert!(rs.iter().any(|r| r.value["data"]["x"] == "orig"));
    }

    /// Checked: an object renamed to `x`'s old name… kustomize refuses a patch two objects answer
    /// to (`multiple matches for Id ConfigMap.v1.[noGrp]/x.[noNs]`).
    #[test]
    fn untargeted_smp_matching_two_objects_is_an_error() {
        let mut rs = base();
        let mut other = rs[1].clone();
        other.set_name("p-cm");
        rs[1].previous.clear();
        rs.push(other);
        let (_, diags) = run_on(
            rs,
            "patches",
            "- patch: |-\n    {apiVersion: v1, kind: ConfigMap, metadata: {name: cm}, data: {x: y}}\n",
        );
        assert!(
            diags[0].message.contains(
                "multiple matches for Id ConfigMap.v1.[noGrp]/cm.[noNs]; failed to find unique \
                 target for patch ConfigMap.v1.[noGrp]/cm.[noNs]"
            ),
            "{diags:?}"
        );
    }

    /// Checked with a Pod mounting the ConfigMap: after a JSON patch in `patches` renames it,
    /// the Pod's reference follows (the old identity is kept); after one in `patchesJson6902`,
    /// it does not; a strategic merge patch renames only with `allowNameChange`.
    #[test]
    fn renames_keep_the_old_identity_except_in_patches_json6902() {
        let rename = "- target: {kind: ConfigMap, name: cm}\n  patch: |-\n    - {op: replace, path: /metadata/name, value: renamed}\n";
        let (rs, _) = run("patches", rename);
        let r = rs.iter().find(|r| r.name() == "renamed").unwrap();
        assert_eq!(r.previous.len(), 1);
        assert_eq!(r.previous[0].name, "cm");

        let (rs, _) = run("patchesJson6902", rename);
        let r = rs.iter().find(|r| r.name() == "renamed").unwrap();
        assert!(r.previous.is_empty());

        let smp = "- target: {kind: ConfigMap, name: cm}\n  OPTIONSpatch: |-\n    {apiVersion: v1, kind: ConfigMap, metadata: {name: renamed}}\n";
        let (rs, _) = run(
            "patches",
            &smp.replace("OPTIONS", "options: {allowNameChange: true}\n  "),
        );
        let r = rs.iter().find(|r| r.name() == "renamed").unwrap();
        assert_eq!(r.previous[0].name, "cm");
        let (rs, _) = run("patches", &smp.replace("OPTIONS", ""));
        assert!(
            rs.iter()
                .all(|r| r.name() != "renamed" && r.previous.is_empty())
        );
    }

    /// Checked: a patch file's text is not trimmed, so a leading newline before `[` makes it
    /// YAML (flow YAML then works); an inline patch is trimmed.
    #[test]
    fn file_text_starting_with_newline_is_yaml() {
        let entry: Patch =
            serde_yaml::from_str("{path: p.yaml, target: {kind: ConfigMap, name: cm}}").unwrap();
        let span = Span::new("kustomization.yaml", 2, 3);
        let mut rs = base();
        let mut diags = Vec::new();
        patches(
            &mut rs,
            &mut Schemas::default(),
            &entry,
            "\n[{op: add, path: /data/x, value: hit}]\n",
            &span,
            &mut diags,
        );
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(rs[1].value["data"]["x"], "hit");
        patches(
            &mut rs,
            &mut Schemas::default(),
            &entry,
            "[{op: add, path: /data/y, value: hit}]\n",
            &span,
            &mut diags,
        );
        assert!(
            diags[0]
                .message
                .contains("unable to parse SM or JSON patch")
        );
    }

    #[test]
    fn label_selector_syntax() {
        let labels: Map<String, Value> =
            serde_json::from_str(r#"{"app": "web", "n": "5", "e": ""}"#).unwrap();
        let yes = [
            "",
            "app",
            "app=web",
            "app==web",
            "app!=db",
            "x!=y",
            "!x",
            "app in (web,db)",
            "app notin (db)",
            "x notin (db)",
            "n>4",
            "n<6",
            "e=",
            "e in ()",
            " app = web , n > 1 ",
        ];
        for s in yes {
            assert!(LabelSelector::parse(s).unwrap().matches(&labels), "{s}");
        }
        let no = [
            "x",
            "!app",
            "app=db",
            "app in (db)",
            "app notin (web)",
            "n>5",
            "x>1",
            "app=web,x",
        ];
        for s in no {
            assert!(!LabelSelector::parse(s).unwrap().matches(&labels), "{s}");
        }
        for (s, e) in [
            (
                "app in (a",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            ("app in a", "found 'a' expected: '('"),
            ("app,", "found '', expected: identifier after ','"),
            (
                "=a",
                "found '=', expected: !, identifier, or 'end of string'",
            ),
            ("n>a", "the value must be an integer"),
            ("a b", "found 'b', expected: in, notin, =, ==, !=, gt, lt"),
            ("-a=b", "invalid label key"),
        ] {
            let got = LabelSelector::parse(s).unwrap_err();
            assert!(got.contains(e), "{s}: {got}");
        }
    }

    /// Checked: in a JSON 6902 patch written as YAML, kustomize reads YAML 1.1 (`on`, `y`, `NO`
    /// are booleans; `0644` is octal; whole floats are integers; keys become text), unlike in
    /// resources and strategic merge patches.
    #[test]
    fn json_patch_yaml_is_yaml_1_1() {
        let ops = parse_json(
            "- op: add\n  path: /x\n  value: [on, yes, y, Y, n, NO, off, \"on\", 0644, 0o644, 1_000, 0x1F, ~, Null, 1e3, 1.5, .5, +1, -0, 0b101, 08, 3., True, TRUE, tRue, abc]\n- op: add\n  path: /y\n  value: {on: 1, 2: b}\n",
        )
        .unwrap();
        assert_eq!(
            ops[0]["value"],
            serde_json::json!([
                true, true, true, true, false, false, false, "on", 420, 420, 1000, 31, null, null,
                1000, 1.5, 0.5, 1, 0, 5, 8, 3, true, true, "tRue", "abc"
            ])
        );
        assert_eq!(ops[1]["value"], serde_json::json!({"true": 1, "2": "b"}));
        let ops = parse_json("- &a {op: add, path: /a, value: 1}\n- <<: *a\n  path: /b\n").unwrap();
        assert_eq!(ops[1]["path"], "/b");
        assert_eq!(ops[1]["op"], "add");
        assert!(parse_json("- [").is_err());
    }
}
