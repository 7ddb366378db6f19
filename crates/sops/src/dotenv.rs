//! dotenv: `KEY=VALUE` lines (newlines escaped as `\n`), `#` comments; sops' metadata flattened
//! into `sops_…` keys (`sops_age__list_0__map_enc`).

use crate::Error;
use crate::tree::{Entry, Node};

pub(crate) fn parse(bytes: &[u8]) -> Result<Node, Error> {
    let text = std::str::from_utf8(bytes).map_err(|_| Error::Parse {
        format: "dotenv",
        line: None,
        message: "not UTF-8".into(),
    })?;
    let mut entries = Vec::new();
    for (i, line) in text.split('\n').enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix('#') {
            entries.push(Entry::Comment(c.to_string()));
            continue;
        }
        let (k, v) = line.split_once('=').ok_or_else(|| Error::Parse {
            format: "dotenv",
            line: Some(i + 1),
            message: "a line that is neither KEY=VALUE nor a # comment".into(),
        })?;
        if k.is_empty() {
            return Err(Error::Parse {
                format: "dotenv",
                line: Some(i + 1),
                message: "an empty key".into(),
            });
        }
        entries.push(Entry::Pair(
            k.to_string(),
            Node::Str(v.replace("\\n", "\n")),
        ));
    }
    Ok(Node::Map(entries))
}

pub(crate) fn emit(doc: &Node) -> String {
    let mut out = String::new();
    if let Node::Map(entries) = doc {
        for e in entries {
            match e {
                Entry::Comment(c) => {
                    out.push('#');
                    out.push_str(c);
                }
                Entry::Pair(k, v) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(&v.as_text().unwrap_or_default().replace('\n', "\\n"));
                }
            }
            out.push('\n');
        }
    }
    out
}

fn insert(node: &mut Node, segs: &[&str], value: Node) {
    let Some((first, rest)) = segs.split_first() else {
        *node = value;
        return;
    };
    if let Some(idx) = first
        .strip_prefix("list_")
        .and_then(|n| n.parse::<usize>().ok())
    {
        if !matches!(node, Node::Seq(_)) {
            *node = Node::Seq(Vec::new());
        }
        if let Node::Seq(items) = node {
            if idx > items.len() || idx > 1000 {
                return;
            }
            if idx == items.len() {
                items.push(Node::Null);
            }
            insert(&mut items[idx], rest, value);
        }
        return;
    }
    let key = first.strip_prefix("map_").unwrap_or(first);
    if !matches!(node, Node::Map(_)) {
        *node = Node::Map(Vec::new());
    }
    if let Node::Map(entries) = node {
        let at = entries
            .iter()
            .position(|e| matches!(e, Entry::Pair(k, _) if k == key));
        let at = at.unwrap_or_else(|| {
            entries.push(Entry::Pair(key.to_string(), Node::Null));
            entries.len() - 1
        });
        if let Entry::Pair(_, v) = &mut entries[at] {
            insert(v, rest, value);
        }
    }
}

/// Removes the `sops_` keys, returning the metadata as a tree.
pub(crate) fn take_meta(doc: &mut Node) -> Option<Node> {
    let Node::Map(entries) = doc else { return None };
    let mut meta = Node::Map(Vec::new());
    let mut found = false;
    entries.retain(|e| match e {
        Entry::Pair(k, v) if k.starts_with("sops_") => {
            found = true;
            let segs: Vec<&str> = k["sops_".len()..].split("__").collect();
            insert(&mut meta, &segs, v.clone());
            false
        }
        _ => true,
    });
    found.then_some(meta)
}

fn flatten(prefix: &str, node: &Node, out: &mut Vec<Entry>) {
    match node {
        Node::Map(entries) => {
            for e in entries {
                if let Entry::Pair(k, v) = e {
                    let p = if prefix == "sops" {
                        format!("sops_{k}")
                    } else {
                        format!("{prefix}__map_{k}")
                    };
                    flatten(&p, v, out);
                }
            }
        }
        Node::Seq(items) => {
            for (i, v) in items.iter().enumerate() {
                flatten(&format!("{prefix}__list_{i}"), v, out);
            }
        }
        leaf => out.push(Entry::Pair(
            prefix.to_string(),
            Node::Str(leaf.as_text().unwrap_or_default()),
        )),
    }
}

/// Appends the metadata as flattened `sops_…` keys (sorted, as sops writes them).
pub(crate) fn push_meta(doc: &mut Node, meta: &Node) {
    let mut flat = Vec::new();
    flatten("sops", meta, &mut flat);
    flat.sort_by(|a, b| match (a, b) {
        (Entry::Pair(x, _), Entry::Pair(y, _)) => x.cmp(y),
        _ => std::cmp::Ordering::Equal,
    });
    if let Node::Map(entries) = doc {
        entries.extend(flat);
    }
}
