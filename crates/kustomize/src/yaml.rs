//! Where things are in a YAML file: a tree of positions (every mapping key and sequence item with
//! its line and column), so that a problem found after deserialising (a missing resource, a
//! patch that matches nothing) points at the entry that causes it. Values themselves are read
//! with serde_yaml; this tree holds positions only.

use std::sync::Arc;

use serde_json::Value;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::{Diag, Span};

/// Positions of one YAML node.
#[derive(Debug, Clone, Default)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
    /// Mapping entries: key, position of the key, the value's positions.
    pub entries: Vec<(String, Pos, Pos)>,
    /// Sequence items.
    pub items: Vec<Pos>,
}

impl Pos {
    pub fn key(&self, key: &str) -> Option<&Pos> {
        self.entries.iter().find(|e| e.0 == key).map(|e| &e.2)
    }
    /// The position of a mapping key itself.
    pub fn key_pos(&self, key: &str) -> Option<&Pos> {
        self.entries.iter().find(|e| e.0 == key).map(|e| &e.1)
    }
    pub fn item(&self, index: usize) -> Option<&Pos> {
        self.items.get(index)
    }
    pub fn span(&self, file: &Arc<str>) -> Span {
        Span::new(file.clone(), self.line.max(1), self.column.max(1))
    }
}

/// A path into a document, for [`Doc::span`]: keys and item indices.
#[derive(Debug, Clone, Copy)]
pub enum Seg<'a> {
    Key(&'a str),
    Index(usize),
}

/// The positions of one document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    pub file: Arc<str>,
    pub root: Pos,
}

impl Doc {
    /// The span of the deepest node along the path that exists (so a path into a field that is
    /// missing still points at its parent).
    pub fn span(&self, path: &[Seg<'_>]) -> Span {
        let mut pos = &self.root;
        for seg in path {
            let next = match seg {
                Seg::Key(k) => pos.key(k),
                Seg::Index(i) => pos.item(*i),
            };
            match next {
                Some(p) => pos = p,
                None => break,
            }
        }
        pos.span(&self.file)
    }
    /// The span of a top-level key (the key itself, not its value).
    pub fn key_span(&self, key: &str) -> Span {
        self.root
            .key_pos(key)
            .map_or_else(|| Span::file(self.file.clone()), |p| p.span(&self.file))
    }
}

/// A collection being built: its positions, a mapping's pending key, and whether it is a
/// mapping.
type Open = (Pos, Option<(String, Pos)>, bool);

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    docs: Vec<Pos>,
}

impl Builder {
    fn push_value(&mut self, value: Pos, scalar: Option<String>) {
        match self.stack.last_mut() {
            None => self.docs.push(value),
            Some((parent, key, is_map)) => {
                if *is_map {
                    match key.take() {
                        None => {
                            *key = Some((scalar.unwrap_or_default(), value));
                        }
                        Some((k, kp)) => parent.entries.push((k, kp, value)),
                    }
                } else {
                    parent.items.push(value);
                }
            }
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let pos = Pos {
            line: mark.line(),
            column: mark.col() + 1,
            ..Pos::default()
        };
        match ev {
            Event::Scalar(text, ..) => self.push_value(pos, Some(text)),
            Event::Alias(_) => self.push_value(pos, None),
            Event::SequenceStart(..) => self.stack.push((pos, None, false)),
            Event::MappingStart(..) => self.stack.push((pos, None, true)),
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some((done, _, _)) = self.stack.pop() {
                    self.push_value(done, None);
                }
            }
            _ => {}
        }
    }
}

/// Positions of every document in a file. The text has passed the caller's YAML bounds already;
/// a syntax error is reported with its place.
pub fn positions(file: &Arc<str>, text: &str) -> Result<Vec<Doc>, Diag> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    drive(&mut parser, &mut builder, |b| b.stack.len() > MAX_DEPTH).map_err(|e| {
        let m = e.marker();
        Diag::error(
            Span::new(file.clone(), m.line(), m.col() + 1),
            format!("invalid YAML: {}", e.info()),
        )
    })?;
    Ok(builder
        .docs
        .into_iter()
        .map(|root| Doc {
            file: file.clone(),
            root,
        })
        .collect())
}

/// Feeds a parser's events to a receiver one at a time until the stream ends or `stop` says so.
/// (yaml-rust2's own `load` recurses once per nesting level, so a deeply nested input would
/// overflow the stack before any bound is checked.)
fn drive<R: MarkedEventReceiver>(
    parser: &mut Parser<std::str::Chars<'_>>,
    recv: &mut R,
    stop: impl Fn(&R) -> bool,
) -> Result<(), yaml_rust2::ScanError> {
    loop {
        let (ev, mark) = parser.next_token()?;
        let end = matches!(ev, Event::StreamEnd);
        recv.on_event(ev, mark);
        if end || stop(recv) {
            return Ok(());
        }
    }
}

/// A serde_yaml error as a diagnostic at its place in the file.
pub fn serde_diag(file: &Arc<str>, e: &serde_yaml::Error, what: &str) -> Diag {
    let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
    let mut message = e.to_string();
    // serde_yaml appends " at line L column C": the span says it already.
    if let Some(i) = message.find(" at line ") {
        message.truncate(i);
    }
    Diag::error(
        Span::new(file.clone(), line, column),
        format!("{what}: {message}"),
    )
}

/// Splits a YAML stream into documents, each with the 1-based line it starts on. Documents
/// that hold nothing (only comments, or an empty `---`) are dropped, as kustomize drops them.
pub fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_end();
        if trimmed == "---" || trimmed.starts_with("--- ") || trimmed.starts_with("---\t") {
            docs.push((start, std::mem::take(&mut cur)));
            start = i + 2;
            let rest = trimmed[3..].trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                cur.push_str(rest);
                cur.push('\n');
            }
            continue;
        }
        if trimmed == "..." {
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs.into_iter()
        .filter(|(_, d)| {
            d.lines().any(|l| {
                let t = l.trim();
                !t.is_empty() && !t.starts_with('#')
            })
        })
        .map(|(start, d)| {
            // Point at the first line with content.
            let skip = d
                .lines()
                .take_while(|l| {
                    let t = l.trim();
                    t.is_empty() || t.starts_with('#')
                })
                .count();
            (start + skip, d)
        })
        .collect()
}

/// Reads one YAML document into JSON values the way kustomize (Go's yaml.v3 through kyaml)
/// reads it: plain scalars resolve as Go does (`0644` is octal 420, `0x1F` and `0b101` are
/// integers, `true`/`false` in three spellings are booleans while `yes`/`on` stay strings, `~`
/// and empty are null), quoted scalars are strings, `<<` merge keys merge, aliases expand (the
/// caller has bounded them), and keys that are not strings are written as text. Errors carry
/// the 1-based line and column.
pub fn load(text: &str) -> Result<Value, (usize, usize, String)> {
    let mut loader = JsonLoader::default();
    let mut parser = Parser::new_from_str(text);
    drive(&mut parser, &mut loader, |l| l.error.is_some()).map_err(|e| {
        let info = if e.info().starts_with("recursion limit exceeded") {
            format!("YAML nesting is deeper than {MAX_DEPTH} levels, the limit")
        } else {
            e.info().to_string()
        };
        (e.marker().line(), e.marker().col() + 1, info)
    })?;
    if let Some(e) = loader.error {
        return Err(e);
    }
    Ok(loader.docs.into_iter().next().unwrap_or(Value::Null))
}

enum Frame {
    Seq(Vec<Value>, usize),
    Map(
        serde_json::Map<String, Value>,
        Option<String>,
        usize,
        Vec<Value>,
    ),
}

#[derive(Default)]
struct JsonLoader {
    stack: Vec<Frame>,
    docs: Vec<Value>,
    /// Anchored values and how many nodes each holds.
    anchors: std::collections::HashMap<usize, (Value, usize)>,
    /// Nodes added by expanding aliases so far, against [`MAX_ALIAS_NODES`].
    alias_nodes: usize,
    error: Option<(usize, usize, String)>,
}

/// How many nodes aliases may add to one document: the reader bounds itself, so no caller
/// can forget to (the same bound as gitfleet's other YAML readers).
pub const MAX_ALIAS_NODES: usize = 100_000;

/// Nodes in a value, counted without recursion.
fn node_count(v: &Value) -> usize {
    let mut n = 0;
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        n += 1;
        match v {
            Value::Array(items) => todo.extend(items),
            Value::Object(map) => todo.extend(map.values()),
            _ => {}
        }
    }
    n
}

fn key_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "null".into(),
        other => other.to_string(),
    }
}

impl JsonLoader {
    fn push(&mut self, v: Value, anchor: usize, mark: Marker) {
        if anchor > 0 {
            self.anchors.insert(anchor, (v.clone(), node_count(&v)));
        }
        match self.stack.last_mut() {
            None => self.docs.push(v),
            Some(Frame::Seq(items, _)) => items.push(v),
            Some(Frame::Map(map, key, _, merges)) => match key.take() {
                None => *key = Some(key_text(&v)),
                Some(k) if k == "<<" => match v {
                    Value::Object(_) => merges.push(v),
                    Value::Array(items) => merges.extend(items),
                    _ => {
                        self.error.get_or_insert((
                            mark.line(),
                            mark.col() + 1,
                            "a `<<` merge key needs a mapping or a list of mappings".into(),
                        ));
                    }
                },
                Some(k) => {
                    if map.contains_key(&k) {
                        // yaml.v3 (kustomize) and kubectl refuse a key given twice.
                        self.error.get_or_insert((
                            mark.line(),
                            mark.col() + 1,
                            format!("mapping key `{k}` is defined twice"),
                        ));
                    }
                    map.insert(k, v);
                }
            },
        }
    }
}

/// A plain scalar as Go's yaml.v3 resolves it.
pub fn resolve_plain(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" | "-.inf" | "-.Inf" | "-.INF"
        | ".nan" | ".NaN" | ".NAN" => return Value::String(s.to_string()),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'-' | b'+' | b'.')) {
        return Value::String(s.to_string());
    }
    // yaml.v3 drops underscores from numbers before parsing them.
    let digits = s.replace('_', "");
    if let Some(i) = go_int(&digits) {
        return Value::from(i);
    }
    if is_go_float(&digits)
        && let Ok(f) = digits.parse::<f64>()
    {
        // kustomize prints a whole float as an integer (`1.0`, `1e3`, `3.` come out as 1,
        // 1000, 3).
        if f.fract() == 0.0 && f.abs() < 9.0e15 {
            return Value::from(f as i64);
        }
        if let Some(n) = serde_json::Number::from_f64(f) {
            return Value::Number(n);
        }
    }
    Value::String(s.to_string())
}

/// Go's `strconv.ParseInt(s, 0, 64)` as yaml.v3 calls it (with `0o`, `0x`, `0b` and a leading
/// `0` for octal), on text whose underscores are already gone.
fn go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes()[0] {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    let (radix, digits) =
        if let Some(d) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, d)
        } else if let Some(d) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, d)
        } else if let Some(d) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, d)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() {
        return None;
    }
    let magnitude = i128::from_str_radix(digits, radix).ok()?;
    let value = if neg { -magnitude } else { magnitude };
    i64::try_from(value).ok()
}

fn is_go_float(s: &str) -> bool {
    // yaml.v3: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    let b = s.trim_start_matches(['-', '+']).as_bytes();
    if s.len() - b.len() > 1 {
        return false;
    }
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    if i < b.len() && b[i] == b'.' {
        i += 1;
        let frac = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if int_digits == 0 && frac == 0 {
            return false;
        }
        i += frac;
    } else if int_digits == 0 {
        return false;
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        i += 1;
        if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
            i += 1;
        }
        let exp = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp == 0 {
            return false;
        }
        i += exp;
    }
    i == b.len()
}

/// How deeply collections may nest (as serde_yaml and Kubernetes' own readers bound it); a
/// deeper document is refused before its values could overflow a stack when dropped.
pub const MAX_DEPTH: usize = 128;

impl MarkedEventReceiver for JsonLoader {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        if matches!(ev, Event::SequenceStart(..) | Event::MappingStart(..))
            && self.stack.len() >= MAX_DEPTH
        {
            self.error = Some((
                mark.line(),
                mark.col() + 1,
                format!("YAML nesting is deeper than {MAX_DEPTH} levels, the limit"),
            ));
            self.stack.clear();
            return;
        }
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let tag_name = tag.as_ref().map(|t| t.suffix.as_str());
                let v = match (style, tag_name) {
                    (_, Some("str")) => Value::String(text),
                    (TScalarStyle::Plain, Some("int" | "float" | "bool" | "null"))
                    | (TScalarStyle::Plain, None) => resolve_plain(&text),
                    _ => Value::String(text),
                };
                self.push(v, anchor, mark);
            }
            Event::Alias(id) => {
                let (v, nodes) = self.anchors.get(&id).cloned().unwrap_or((Value::Null, 1));
                self.alias_nodes += nodes;
                if self.alias_nodes > MAX_ALIAS_NODES {
                    self.error = Some((
                        mark.line(),
                        mark.col() + 1,
                        format!("YAML aliases expand to more than {MAX_ALIAS_NODES} nodes"),
                    ));
                    self.stack.clear();
                    return;
                }
                self.push(v, 0, mark);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq(Vec::new(), anchor)),
            Event::MappingStart(anchor, _) => {
                self.stack
                    .push(Frame::Map(serde_json::Map::new(), None, anchor, Vec::new()))
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor)) = self.stack.pop() {
                    self.push(Value::Array(items), anchor, mark);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(mut map, _, anchor, merges)) = self.stack.pop() {
                    // Merged keys never override the mapping's own; earlier merges win.
                    for m in merges {
                        if let Value::Object(src) = m {
                            for (k, v) in src {
                                map.entry(k).or_insert(v);
                            }
                        }
                    }
                    self.push(Value::Object(map), anchor, mark);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_items_keep_their_lines() {
        let file: Arc<str> = "k.yaml".into();
        let docs = positions(&file, "a: 1\nresources:\n- x.yaml\n- y.yaml\nb:\n  c: d\n").unwrap();
        let doc = &docs[0];
        assert_eq!(doc.span(&[Seg::Key("resources"), Seg::Index(1)]).line, 4);
        assert_eq!(doc.span(&[Seg::Key("resources"), Seg::Index(1)]).column, 3);
        assert_eq!(doc.span(&[Seg::Key("b"), Seg::Key("c")]).line, 6);
        assert_eq!(doc.key_span("b").line, 5);
        assert_eq!(doc.span(&[Seg::Key("b"), Seg::Key("zz")]).line, 6);
    }

    #[test]
    fn scalars_resolve_as_kustomize_reads_them() {
        let v = load("a: 0644\nb: '0644'\nc: yes\nd: 0x1F\ne: 1.50\nf: ~\ng: True\nh: 1e3\ni: 08\nj: 1_000\nk: -0o17\nl: .5\n").unwrap();
        assert_eq!(v["a"], 420);
        assert_eq!(v["b"], "0644");
        assert_eq!(v["c"], "yes");
        assert_eq!(v["d"], 31);
        assert_eq!(v["e"], 1.5);
        assert_eq!(v["f"], Value::Null);
        assert_eq!(v["g"], true);
        assert_eq!(v["h"], 1000);
        assert_eq!(
            v["i"], 8,
            "not octal: a float as Go reads it, printed whole"
        );
        assert_eq!(v["j"], 1000);
        assert_eq!(v["k"], -15);
        assert_eq!(v["l"], 0.5);
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let e = load(&deep).unwrap_err();
        assert!(e.2.contains("deeper than 128"), "{e:?}");
        assert!(load(&format!("{}1{}", "[".repeat(128), "]".repeat(128))).is_ok());
        let block = format!("x:\n  {}x\n", "- ".repeat(100_000));
        assert!(
            load(&block)
                .unwrap_err()
                .2
                .contains("deeper than 128 levels")
        );
    }

    #[test]
    fn alias_bombs_are_refused() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..9 {
            let p = i - 1;
            bomb.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = load(&bomb).unwrap_err();
        assert!(e.2.contains("aliases expand to more than"), "{e:?}");
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let v =
            load("base: &b {x: 1, y: 2}\nuse:\n  <<: *b\n  y: 3\nlist: [*b]\n1: one\n").unwrap();
        assert_eq!(v["use"], serde_json::json!({"x": 1, "y": 3}));
        assert_eq!(v["list"][0]["x"], 1);
        assert_eq!(v["1"], "one");
        assert!(
            load("a: 1\nb: 2\na: 3\n")
                .unwrap_err()
                .2
                .contains("`a` is defined twice")
        );
        assert!(load("a: [1\n").is_err());
    }

    #[test]
    fn documents_split_and_empty_ones_drop() {
        let docs = documents("# c\n---\na: 1\n---\n# only\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 3);
        assert_eq!(docs[1].0, 7);
    }
}
