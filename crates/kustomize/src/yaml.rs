//! Where things are in a YAML file: a tree of positions (every mapping key and sequence item with
//! its line and column), so that a problem found after deserialising (a missing resource, a
//! patch that matches nothing) points at the entry that causes it. Values themselves are read
//! with serde_yaml; this tree holds positions only.

use std::sync::Arc;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

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

#[derive(Default)]
struct Builder {
    stack: Vec<(Pos, Option<(String, Pos)>, bool)>,
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
    parser.load(&mut builder, true).map_err(|e| {
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
    fn documents_split_and_empty_ones_drop() {
        let docs = documents("# c\n---\na: 1\n---\n# only\n---\nb: 2\n");
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].0, 3);
        assert_eq!(docs[1].0, 7);
    }
}
