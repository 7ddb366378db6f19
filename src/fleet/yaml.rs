//! YAML with source positions: a small value tree where every node and every mapping key keeps
//! the file, line and column it came from, so validation can point at the exact spot.
//!
//! yaml-rust2's event parser supplies the positions; scalars are resolved with the YAML 1.2 core
//! schema (as Kubernetes tooling does), so `1.30` is a number and `"1.30"` a string.

use std::collections::HashMap;
use std::sync::Arc;

use yaml_rust2::Yaml;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser, Tag};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::diagnostic::{Diagnostic, Span};

#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub value: Value,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    /// A number with a fraction, and the text it was written as (`1.30` reads as 1.3).
    Float(f64, String),
    /// A string, and the scalar text it came from was quoted (or a block scalar).
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub key_span: Span,
    pub value: Node,
}

impl Value {
    /// How the value is named in "expected X, found Y" messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Int(_) => "an integer",
            Value::Float(..) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key).map(|e| &e.value),
            _ => None,
        }
    }

    pub fn entry(&self, key: &str) -> Option<&Entry> {
        match &self.value {
            Value::Map(entries) => entries.iter().find(|e| e.key == key),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Walks a path of keys and list indices (as produced by validation) to the node it names.
    pub fn at(&self, path: &[PathSeg]) -> Option<&Node> {
        let mut node = self;
        for seg in path {
            node = match (seg, &node.value) {
                (PathSeg::Key(k), Value::Map(_)) => node.get(k)?,
                (PathSeg::Index(i), Value::Seq(items)) => items.get(*i)?,
                _ => return None,
            };
        }
        Some(node)
    }

    /// Converts to JSON for serde and for the template context. Non-finite floats become null.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match &self.value {
            Value::Null => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Float(f, _) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
            Value::Str(s) => J::String(s.clone()),
            Value::Seq(items) => J::Array(items.iter().map(Node::to_json).collect()),
            Value::Map(entries) => J::Object(
                entries
                    .iter()
                    .map(|e| (e.key.clone(), e.value.to_json()))
                    .collect(),
            ),
        }
    }
}

/// One step of a path into a document: `spec.nodePools[0].min`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Key(String),
    Index(usize),
}

/// Formats a path the way users write it: `spec.nodePools[0].min`.
pub fn path_string(path: &[PathSeg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            PathSeg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            PathSeg::Index(i) => {
                out.push_str(&format!("[{i}]"));
            }
        }
    }
    if out.is_empty() {
        out.push_str("the document");
    }
    out
}

/// Parses every document of a YAML stream. Errors (syntax, duplicate keys, non-string keys)
/// come back as diagnostics; the documents that parsed are still returned when possible.
///
/// Bounded by [`LIMITS`] through [`check_limits`], which runs first (nesting depth, nodes per
/// file with aliases expanded, documents per file): a limit is one error naming the file, the
/// position and the limit, and nothing is built. The tree is then built event by event, so
/// nothing recurses per level.
pub fn parse(file: &Arc<str>, text: &str) -> Result<Vec<Node>, Vec<Diagnostic>> {
    check_limits(file, text).map_err(|d| vec![d])?;
    let mut builder = Builder {
        file: file.clone(),
        stack: Vec::new(),
        docs: Vec::new(),
        anchors: HashMap::new(),
        errors: Vec::new(),
    };
    let mut parser = Parser::new_from_str(text);
    loop {
        match parser.next_token() {
            Ok((Event::StreamEnd, _)) => break,
            Ok((ev, mark)) => builder.on_event(ev, mark),
            Err(e) => {
                let m = e.marker();
                let d = if e.info().contains("recursion limit exceeded") {
                    // The scanner's own bound on flow nesting.
                    let max = crate::source::LIMITS.max_yaml_depth;
                    Diagnostic::error(
                        span_of(file, m),
                        format!("YAML nesting is deeper than {max} levels"),
                    )
                    .with_hint(
                        "gitfleet bounds what one file may hold so that no input can exhaust it",
                    )
                } else {
                    Diagnostic::error(span_of(file, m), format!("invalid YAML: {}", e.info()))
                        .with_hint(
                            "check the indentation and quoting on this line and the one above",
                        )
                };
                builder.errors.push(d);
                break;
            }
        }
    }
    if builder.errors.is_empty() {
        Ok(builder.docs)
    } else {
        Err(builder.errors)
    }
}

/// What a copy of a tree costs: its nodes (a scalar is one) and the bytes of its text.
#[derive(Debug, Clone, Copy)]
struct Weight {
    nodes: usize,
    bytes: usize,
}

/// Checks a YAML stream against [`LIMITS`] without building it: nesting depth, documents, and
/// what aliases expand to (nodes and bytes, anchors inside anchors included). For text that
/// another YAML reader (serde_yaml, whose alias bound is relative to the input) reads next.
pub fn check_limits(file: &Arc<str>, text: &str) -> Result<(), Diagnostic> {
    check_limits_with(file, text, &crate::source::LIMITS)
}

/// [`check_limits`] with other limits (tests of the limits themselves).
fn check_limits_with(
    file: &Arc<str>,
    text: &str,
    limits: &crate::source::Limits,
) -> Result<(), Diagnostic> {
    let mut parser = Parser::new_from_str(text);
    // Per open collection: its anchor and the weight gathered so far.
    let mut open: Vec<(usize, Weight)> = Vec::new();
    let mut anchors: HashMap<usize, Weight> = HashMap::new();
    let mut total = Weight { nodes: 0, bytes: 0 };
    let mut alias = Weight { nodes: 0, bytes: 0 };
    let mut documents = 0usize;
    let fail = |m: &Marker, message: String| {
        Err(Diagnostic::error(span_of(file, m), message)
            .with_hint("gitfleet bounds what one file may hold so that no input can exhaust it"))
    };
    loop {
        let (ev, mark) = match parser.next_token() {
            Ok(x) => x,
            // Syntax errors are the next reader's to report, with its own wording.
            Err(_) => return Ok(()),
        };
        let (added, anchor) = match ev {
            Event::StreamEnd => return Ok(()),
            Event::DocumentStart => {
                documents += 1;
                anchors.clear();
                if documents > limits.max_documents {
                    let max = limits.max_documents;
                    return fail(
                        &mark,
                        format!("the file holds more than {max} YAML documents"),
                    );
                }
                continue;
            }
            Event::Scalar(text, _, anchor, _) => (
                Weight {
                    nodes: 1,
                    bytes: text.len(),
                },
                anchor,
            ),
            Event::Alias(id) => {
                let w = anchors
                    .get(&id)
                    .copied()
                    .unwrap_or(Weight { nodes: 1, bytes: 0 });
                alias.nodes += w.nodes;
                alias.bytes += w.bytes;
                if alias.nodes > limits.max_alias_nodes
                    || alias.bytes > limits.max_file_bytes as usize
                {
                    let max = limits.max_alias_nodes;
                    return fail(
                        &mark,
                        format!(
                            "YAML aliases expand to more than {max} nodes or the size of a file"
                        ),
                    );
                }
                (w, 0)
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) => {
                if open.len() >= limits.max_yaml_depth {
                    let max = limits.max_yaml_depth;
                    return fail(&mark, format!("YAML nesting is deeper than {max} levels"));
                }
                open.push((anchor, Weight { nodes: 1, bytes: 0 }));
                continue;
            }
            Event::SequenceEnd | Event::MappingEnd => match open.pop() {
                Some((anchor, w)) => (w, anchor),
                None => continue,
            },
            _ => continue,
        };
        if anchor > 0 {
            anchors.insert(anchor, added);
        }
        match open.last_mut() {
            Some((_, w)) => {
                w.nodes += added.nodes;
                w.bytes += added.bytes;
            }
            None => {
                total.nodes += added.nodes;
                total.bytes += added.bytes;
            }
        }
        if total.nodes > limits.max_yaml_nodes {
            let max = limits.max_yaml_nodes;
            return fail(&mark, format!("the file holds more than {max} YAML nodes"));
        }
    }
}

fn span_of(file: &Arc<str>, m: &Marker) -> Span {
    // yaml-rust2 markers: line is 1-based, column 0-based.
    Span::new(file.clone(), m.line() as u32, m.col() as u32 + 1)
}

enum Frame {
    Seq {
        anchor: usize,
        span: Span,
        items: Vec<Node>,
    },
    Map {
        anchor: usize,
        span: Span,
        entries: Vec<Entry>,
        pending_key: Option<(String, Span)>,
        /// Keys seen, for the duplicate check once a mapping grows large.
        seen: Option<HashMap<String, u32>>,
    },
}

struct Builder {
    file: Arc<str>,
    stack: Vec<Frame>,
    docs: Vec<Node>,
    /// Anchored nodes (what aliases copy; `check_limits` has bounded the copies).
    anchors: HashMap<usize, Node>,
    errors: Vec<Diagnostic>,
}

impl Builder {
    fn push_node(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map {
                entries,
                pending_key,
                seen,
                ..
            }) => match pending_key.take() {
                None => {
                    // A key position.
                    let key = match node.value {
                        Value::Str(s) => s,
                        Value::Int(i) => i.to_string(),
                        Value::Bool(b) => b.to_string(),
                        Value::Float(_, raw) => raw,
                        Value::Null => {
                            self.errors.push(Diagnostic::error(
                                node.span.clone(),
                                "a mapping key is empty",
                            ));
                            String::new()
                        }
                        Value::Seq(_) | Value::Map(_) => {
                            self.errors.push(Diagnostic::error(
                                node.span.clone(),
                                "a mapping key must be a plain string, not a list or mapping",
                            ));
                            String::new()
                        }
                    };
                    // Linear for small mappings, a map once they grow (a file of many
                    // distinct keys stays linear in time).
                    if seen.is_none() && entries.len() >= 16 {
                        *seen = Some(
                            entries
                                .iter()
                                .map(|e| (e.key.clone(), e.key_span.line))
                                .collect(),
                        );
                    }
                    let first_line = match seen {
                        Some(seen) => seen.get(&key).copied(),
                        None => entries
                            .iter()
                            .find(|e| e.key == key)
                            .map(|e| e.key_span.line),
                    };
                    if let Some(line) = first_line {
                        self.errors.push(
                            Diagnostic::error(node.span.clone(), format!("duplicate key `{key}`"))
                                .with_hint(format!(
                                    "`{key}` is already set at line {line}; remove one of them"
                                )),
                        );
                    } else if let Some(seen) = seen {
                        seen.insert(key.clone(), node.span.line);
                    }
                    *pending_key = Some((key, node.span));
                }
                Some((key, key_span)) => entries.push(Entry {
                    key,
                    key_span,
                    value: node,
                }),
            },
        }
    }
}

fn resolve_plain(text: &str) -> Value {
    match Yaml::from_str(text) {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::Int(i),
        Yaml::Real(r) => {
            let f = r.parse::<f64>().unwrap_or(match r.as_str() {
                ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => f64::INFINITY,
                "-.inf" | "-.Inf" | "-.INF" => f64::NEG_INFINITY,
                _ => f64::NAN,
            });
            Value::Float(f, r)
        }
        _ => Value::Str(text.to_string()),
    }
}

fn is_str_tag(tag: &Option<Tag>) -> bool {
    matches!(tag, Some(t) if t.suffix == "str" || t.suffix == "tag:yaml.org,2002:str")
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        let span = span_of(&self.file, &mark);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                let value = if style == TScalarStyle::Plain && !is_str_tag(&tag) {
                    resolve_plain(&text)
                } else {
                    Value::Str(text)
                };
                self.push_node(Node { value, span }, anchor);
            }
            Event::Alias(id) => {
                let node = match self.anchors.get(&id) {
                    Some(n) => Node {
                        value: n.value.clone(),
                        span,
                    },
                    None => {
                        self.errors
                            .push(Diagnostic::error(span.clone(), "unknown YAML alias"));
                        Node {
                            value: Value::Null,
                            span,
                        }
                    }
                };
                self.push_node(node, 0);
            }
            Event::SequenceStart(anchor, _) => self.stack.push(Frame::Seq {
                anchor,
                span,
                items: Vec::new(),
            }),
            Event::MappingStart(anchor, _) => self.stack.push(Frame::Map {
                anchor,
                span,
                entries: Vec::new(),
                pending_key: None,
                seen: None,
            }),
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq {
                    anchor,
                    span,
                    items,
                }) => self.push_node(
                    Node {
                        value: Value::Seq(items),
                        span,
                    },
                    anchor,
                ),
                Some(Frame::Map {
                    anchor,
                    span,
                    entries,
                    ..
                }) => {
                    // The parser marks a block mapping's start at its first ':'; the first key
                    // is where users see the mapping begin.
                    let span = entries.first().map_or(span, |e| e.key_span.clone());
                    self.push_node(
                        Node {
                            value: Value::Map(entries),
                            span,
                        },
                        anchor,
                    )
                }
                None => {}
            },
            Event::DocumentStart => self.anchors.clear(),
            Event::Nothing | Event::StreamStart | Event::StreamEnd | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Node {
        let file: Arc<str> = Arc::from("t.yaml");
        parse(&file, text).unwrap().remove(0)
    }

    #[test]
    fn positions_are_one_based() {
        let doc = one("a: 1\nb:\n  c: \"x\"\n");
        let b = doc.entry("b").unwrap();
        assert_eq!((b.key_span.line, b.key_span.column), (2, 1));
        let c = doc.get("b").unwrap().entry("c").unwrap();
        assert_eq!((c.key_span.line, c.key_span.column), (3, 3));
        assert_eq!((c.value.span.line, c.value.span.column), (3, 6));
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let doc = one("a: 1.30\nb: \"1.30\"\nc: true\nd: ~\ne: 0x10\nf: !!str 12\n");
        assert_eq!(
            doc.get("a").unwrap().value,
            Value::Float(1.3, "1.30".into())
        );
        assert_eq!(doc.get("b").unwrap().value, Value::Str("1.30".into()));
        assert_eq!(doc.get("c").unwrap().value, Value::Bool(true));
        assert_eq!(doc.get("d").unwrap().value, Value::Null);
        assert_eq!(doc.get("e").unwrap().value, Value::Int(16));
        assert_eq!(doc.get("f").unwrap().value, Value::Str("12".into()));
    }

    #[test]
    fn duplicate_keys_and_syntax_errors_are_reported() {
        let file: Arc<str> = Arc::from("t.yaml");
        let errs = parse(&file, "a: 1\na: 2\n").unwrap_err();
        assert_eq!(errs[0].span.line, 2);
        assert!(errs[0].message.contains("duplicate key `a`"));
        let errs = parse(&file, "a: [1, 2\nb: 3\n").unwrap_err();
        assert!(errs[0].message.starts_with("invalid YAML"));
    }

    #[test]
    fn documents_and_nodes_are_bounded() {
        let file: Arc<str> = Arc::from("t.yaml");
        let limits = crate::source::Limits {
            max_documents: 3,
            max_yaml_nodes: 10,
            ..crate::source::LIMITS
        };
        let check = |text: &str| check_limits_with(&file, text, &limits);
        let docs = "---\na: 1\n".repeat(3);
        assert!(check(&docs).is_ok());
        let e = check(&format!("{docs}---\na: 1\n")).unwrap_err();
        assert_eq!(e.message, "the file holds more than 3 YAML documents");
        // the document that is one too many, on its `---` line
        assert_eq!((&*e.span.file, e.span.line), ("t.yaml", 7));
        // a sequence of 9 scalars is 10 nodes; one more is too many, aliases included
        assert!(check("[1, 2, 3, 4, 5, 6, 7, 8, 9]").is_ok());
        for text in [
            "[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]",
            "a: &x [1, 2, 3, 4]\nb: *x\n",
        ] {
            let e = check(text).unwrap_err();
            assert_eq!(
                e.message, "the file holds more than 10 YAML nodes",
                "{text}"
            );
        }
    }

    #[test]
    fn aliases_copy_the_anchored_value() {
        let doc = one("a: &x {k: v}\nb: *x\n");
        assert_eq!(doc.get("b").unwrap().get("k").unwrap().as_str(), Some("v"));
    }
}
