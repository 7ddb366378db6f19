//! The ordered document tree SOPS works on: maps keep their key order and carry comments as
//! items of their own, as sops' `TreeBranch` does.

/// A value of the tree.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Node {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// A YAML timestamp, kept as its RFC 3339 text (sops' `type:time`).
    Time(String),
    /// A comment inside a sequence.
    Comment(String),
    Map(Vec<Entry>),
    Seq(Vec<Node>),
}

/// An item of a map: a key and its value, or a comment line.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Entry {
    Comment(String),
    Pair(String, Node),
}

/// The deepest nesting the parsers accept (hostile input must not exhaust the stack).
pub(crate) const MAX_DEPTH: usize = 200;

impl Node {
    pub(crate) fn get<'a>(&'a self, key: &str) -> Option<&'a Node> {
        match self {
            Node::Map(entries) => entries.iter().find_map(|e| match e {
                Entry::Pair(k, v) if k == key => Some(v),
                _ => None,
            }),
            _ => None,
        }
    }

    /// The text of a scalar (what sops would read as a string field of its metadata).
    pub(crate) fn as_text(&self) -> Option<String> {
        match self {
            Node::Str(s) | Node::Time(s) => Some(s.clone()),
            Node::Int(i) => Some(i.to_string()),
            Node::Bool(b) => Some(b.to_string()),
            Node::Float(f) => Some(crate::num::go_f(*f)),
            _ => None,
        }
    }
}

/// Removes the top-level `sops` key of a document, returning its value.
pub(crate) fn take_sops(doc: &mut Node) -> Option<Node> {
    if let Node::Map(entries) = doc {
        let at = entries
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == "sops"))?;
        if let Entry::Pair(_, v) = entries.remove(at) {
            return Some(v);
        }
    }
    None
}
