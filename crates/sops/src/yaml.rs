//! YAML: read with yaml-rust2's event parser (full-line comments recovered from the text and
//! attached to the item they precede, as sops keeps them), written as sops' yaml.v3 emitter
//! writes (4-space indentation, its quoting rules).

use std::sync::LazyLock;

use regex::Regex;
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

use crate::Error;
use crate::tree::{Entry, MAX_DEPTH, Node};

struct Collect {
    events: Vec<(Event, Marker)>,
}

impl MarkedEventReceiver for Collect {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        self.events.push((ev, mark));
    }
}

fn perr(line: Option<usize>, message: impl Into<String>) -> Error {
    Error::Parse {
        format: "YAML",
        line,
        message: message.into(),
    }
}

struct Comment {
    col: usize,
    text: String,
}

enum Frame {
    Map {
        entries: Vec<Entry>,
        key: Option<String>,
        col: usize,
    },
    Seq {
        items: Vec<Node>,
        col: usize,
    },
}

/// Parses every document of a YAML stream.
pub(crate) fn parse(text: &str) -> Result<Vec<Node>, Error> {
    let mut collect = Collect { events: Vec::new() };
    let mut parser = Parser::new_from_str(text);
    let mut depth = 0usize;
    // the parser itself is not recursive, but collect with a depth check as we go
    loop {
        match parser.next_token() {
            Ok((ev, mark)) => {
                match ev {
                    Event::MappingStart(..) | Event::SequenceStart(..) => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(perr(Some(mark.line()), "nested too deeply"));
                        }
                    }
                    Event::MappingEnd | Event::SequenceEnd => depth = depth.saturating_sub(1),
                    _ => {}
                }
                let end = ev == Event::StreamEnd;
                collect.events.push((ev, mark));
                if end {
                    break;
                }
            }
            Err(e) => return Err(perr(Some(e.marker().line()), e.info().to_string())),
        }
    }
    let lines: Vec<&str> = text.split('\n').collect();
    let mut excluded = vec![false; lines.len() + 2];
    let mut docs = Vec::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut comments: Vec<Comment> = Vec::new();
    let mut scanned_to = 0usize; // lines (1-based) up to this one are collected as comments
    let mut root: Option<Node> = None;

    // collects the full-line comments on lines before `line`
    let scan =
        |upto: usize, scanned_to: &mut usize, comments: &mut Vec<Comment>, excluded: &[bool]| {
            while *scanned_to + 1 < upto && *scanned_to < lines.len() {
                *scanned_to += 1;
                let l = lines[*scanned_to - 1];
                let trimmed = l.trim_start_matches([' ', '\t']);
                if trimmed.starts_with('#') && !excluded[*scanned_to] {
                    comments.push(Comment {
                        col: l.len() - trimmed.len(),
                        text: trimmed[1..].trim_end_matches('\r').to_string(),
                    });
                }
            }
        };

    for (ev, mark) in collect.events {
        let line = mark.line();
        let value: Option<Node> = match ev {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => None,
            Event::DocumentStart => {
                scan(line, &mut scanned_to, &mut comments, &excluded);

                None
            }
            Event::DocumentEnd => {
                scan(line.max(1) + 1, &mut scanned_to, &mut comments, &excluded);
                let mut doc = root.take().unwrap_or(Node::Null);
                if let Node::Map(entries) = &mut doc {
                    entries.extend(comments.drain(..).map(|c| Entry::Comment(c.text)));
                }
                comments.clear();
                docs.push(doc);
                None
            }
            Event::Alias(_) => return Err(perr(Some(line), "YAML aliases are not supported")),
            Event::Scalar(text, style, _, tag) => {
                let is_key = matches!(stack.last(), Some(Frame::Map { key: None, .. }));
                scan(line, &mut scanned_to, &mut comments, &excluded);
                if matches!(style, TScalarStyle::Literal | TScalarStyle::Folded) {
                    let owner = match stack.last() {
                        Some(Frame::Map { col, .. }) | Some(Frame::Seq { col, .. }) => *col,
                        None => 0,
                    };
                    let mut l = line + 1;
                    while l <= lines.len() {
                        let s = lines[l - 1];
                        let t = s.trim_start_matches(' ');
                        if !t.trim().is_empty() && s.len() - t.len() <= owner {
                            break;
                        }
                        excluded[l] = true;
                        l += 1;
                    }
                }
                if is_key {
                    if let Some(Frame::Map { entries, key, col }) = stack.last_mut() {
                        if entries.is_empty() && key.is_none() {
                            *col = mark.col();
                        }
                        entries.extend(comments.drain(..).map(|c| Entry::Comment(c.text)));
                        *key = Some(text);
                    }
                    None
                } else {
                    Some(resolve_scalar(
                        text,
                        style,
                        tag.as_ref().map(|t| t.suffix.as_str()),
                    ))
                }
            }
            Event::MappingStart(..) | Event::SequenceStart(..) => {
                if matches!(stack.last(), Some(Frame::Map { key: None, .. })) {
                    return Err(perr(Some(line), "a mapping key is not a string"));
                }
                scan(line, &mut scanned_to, &mut comments, &excluded);
                if let Some(Frame::Seq { items, .. }) = stack.last_mut() {
                    items.extend(comments.drain(..).map(|c| Node::Comment(c.text)));
                }
                stack.push(if matches!(ev, Event::MappingStart(..)) {
                    Frame::Map {
                        entries: Vec::new(),
                        key: None,
                        col: mark.col(),
                    }
                } else {
                    Frame::Seq {
                        items: Vec::new(),
                        col: mark.col(),
                    }
                });
                None
            }
            Event::MappingEnd | Event::SequenceEnd => {
                scan(line, &mut scanned_to, &mut comments, &excluded);
                let frame = stack.pop().ok_or_else(|| perr(Some(line), "unbalanced"))?;
                Some(match frame {
                    Frame::Map {
                        mut entries, col, ..
                    } => {
                        let keep = comments
                            .iter()
                            .take_while(|c| c.col >= col && !stack.is_empty())
                            .count();
                        entries.extend(comments.drain(..keep).map(|c| Entry::Comment(c.text)));
                        Node::Map(entries)
                    }
                    Frame::Seq { items, .. } => Node::Seq(items),
                })
            }
        };
        if let Some(v) = value {
            match stack.last_mut() {
                Some(Frame::Map { entries, key, .. }) => {
                    let k = key.take().unwrap_or_default();
                    entries.push(Entry::Pair(k, v));
                }
                Some(Frame::Seq { items, .. }) => {
                    items.extend(comments.drain(..).map(|c| Node::Comment(c.text)));
                    items.push(v);
                }
                None => root = Some(v),
            }
        }
    }
    Ok(docs)
}

static FLOAT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$").unwrap());
static DATE: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})$").unwrap());
static DATETIME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$").unwrap()
});
static BASE60: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$").unwrap());

fn go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(r) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, r)
        } else if let Some(r) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, r)
        } else if let Some(r) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, r)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i128::from_str_radix(digits, radix).ok()?;
    i64::try_from(if neg { -v } else { v }).ok()
}

/// What yaml.v3 decodes a plain scalar to.
fn resolve_plain(text: &str) -> Node {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Node::Null,
        "true" | "True" | "TRUE" => return Node::Bool(true),
        "false" | "False" | "FALSE" => return Node::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Node::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Node::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Node::Float(f64::NAN),
        _ => {}
    }
    if let Some(c) = DATE.captures(text) {
        let (y, m, d) = (
            &c[1],
            c[2].parse::<u32>().unwrap_or(0),
            c[3].parse::<u32>().unwrap_or(0),
        );
        if (1..=12).contains(&m) && (1..=31).contains(&d) {
            return Node::Time(format!("{y}-{m:02}-{d:02}T00:00:00Z"));
        }
    }
    if DATETIME.is_match(text) {
        return Node::Time(text.to_string());
    }
    let first = text.as_bytes()[0];
    if first.is_ascii_digit() || first == b'-' || first == b'+' || first == b'.' {
        let plain = text.replace('_', "");
        if let Some(i) = go_int(&plain) {
            return Node::Int(i);
        }
        if FLOAT.is_match(&plain)
            && let Ok(f) = plain.parse::<f64>()
        {
            return Node::Float(f);
        }
    }
    Node::Str(text.to_string())
}

fn resolve_scalar(text: String, style: TScalarStyle, tag: Option<&str>) -> Node {
    match (style, tag) {
        (_, Some("str")) => Node::Str(text),
        (TScalarStyle::Plain, _) => resolve_plain(&text),
        _ => Node::Str(text),
    }
}

// ---- emitting ----

#[derive(Default)]
struct Analysis {
    flow_plain: bool,
    block_plain: bool,
    single: bool,
    block: bool,
}

fn is_printable(c: char) -> bool {
    let c = c as u32;
    c == 0x0A
        || (0x20..=0x7E).contains(&c)
        || c == 0x85
        || (0xA0..=0xD7FF).contains(&c)
        || ((0xE000..=0xFFFD).contains(&c) && c != 0xFEFF)
}

fn is_break(c: char) -> bool {
    matches!(c, '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_blankz(c: Option<char>) -> bool {
    match c {
        None => true,
        Some(c) => c == ' ' || c == '\t' || c == '\0' || is_break(c),
    }
}

/// libyaml's `yaml_emitter_analyze_scalar`.
fn analyze(s: &str) -> Analysis {
    if s.is_empty() {
        return Analysis {
            flow_plain: false,
            block_plain: true,
            single: true,
            block: false,
        };
    }
    let (mut flow_ind, mut block_ind) = (false, false);
    if s.starts_with("---") || s.starts_with("...") {
        flow_ind = true;
        block_ind = true;
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut line_breaks, mut special) = (false, false);
    let (mut leading_space, mut leading_break, mut trailing_space, mut trailing_break) =
        (false, false, false, false);
    let (mut break_space, mut space_break) = (false, false);
    let (mut prev_space, mut prev_break) = (false, false);
    let mut preceded_ws = true;
    let n = chars.len();
    for i in 0..n {
        let c = chars[i];
        let followed_ws = is_blankz(chars.get(i + 1).copied());
        if i == 0 {
            match c {
                '#' | ',' | '[' | ']' | '{' | '}' | '&' | '*' | '!' | '|' | '>' | '\'' | '"'
                | '%' | '@' | '`' => {
                    flow_ind = true;
                    block_ind = true;
                }
                '?' | ':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '-' if followed_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        } else {
            match c {
                ',' | '?' | '[' | ']' | '{' | '}' => flow_ind = true,
                ':' => {
                    flow_ind = true;
                    if followed_ws {
                        block_ind = true;
                    }
                }
                '#' if preceded_ws => {
                    flow_ind = true;
                    block_ind = true;
                }
                _ => {}
            }
        }
        if !is_printable(c) {
            special = true;
        }
        if is_break(c) {
            line_breaks = true;
        }
        if c == ' ' {
            if i == 0 {
                leading_space = true;
            }
            if i == n - 1 {
                trailing_space = true;
            }
            if prev_break {
                break_space = true;
            }
            prev_space = true;
            prev_break = false;
        } else if is_break(c) {
            if i == 0 {
                leading_break = true;
            }
            if i == n - 1 {
                trailing_break = true;
            }
            if prev_space {
                space_break = true;
            }
            prev_space = false;
            prev_break = true;
        } else {
            prev_space = false;
            prev_break = false;
        }
        preceded_ws = is_blankz(Some(c));
    }
    let mut a = Analysis {
        flow_plain: true,
        block_plain: true,
        single: true,
        block: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if trailing_space {
        a.block = false;
    }
    if break_space {
        a.flow_plain = false;
        a.block_plain = false;
        a.single = false;
    }
    if space_break || special {
        a = Analysis::default();
    }
    if line_breaks {
        a.flow_plain = false;
        a.block_plain = false;
    }
    if flow_ind {
        a.flow_plain = false;
    }
    if block_ind {
        a.block_plain = false;
    }
    a
}

fn old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "on"
            | "On"
            | "ON"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "off"
            | "Off"
            | "OFF"
    )
}

fn double_quoted(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\0' => out.push_str("\\0"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{b}' => out.push_str("\\v"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\u{1b}' => out.push_str("\\e"),
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{feff}' => {
                let v = c as u32;
                if v <= 0xFF {
                    out.push_str(&format!("\\x{v:02X}"));
                } else if v <= 0xFFFF {
                    out.push_str(&format!("\\u{v:04X}"));
                } else {
                    out.push_str(&format!("\\U{v:08X}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A string scalar as yaml.v3 writes it; `indent` is the indentation of block-scalar content.
fn string_scalar(s: &str, simple_key: bool, indent: usize) -> String {
    let can_plain = matches!(resolve_plain(s), Node::Str(_)) && !BASE60.is_match(s) && !old_bool(s);
    let a = analyze(s);
    if s.contains('\n') && !simple_key {
        if a.block {
            return literal(s, indent);
        }
        return double_quoted(s);
    }
    if !can_plain {
        return double_quoted(s);
    }
    if a.block_plain && !(s.is_empty() && simple_key) {
        return s.to_string();
    }
    if a.single && !(s.contains('\n')) {
        return format!("'{}'", s.replace('\'', "''"));
    }
    double_quoted(s)
}

fn literal(s: &str, indent: usize) -> String {
    let mut out = String::from("|");
    let first = s.chars().next();
    if matches!(first, Some(' ') | Some('\n')) {
        out.push('4');
    }
    if !s.ends_with('\n') {
        out.push('-');
    } else if s == "\n" || s.ends_with("\n\n") {
        out.push('+');
    }
    out.push('\n');
    let body = s.strip_suffix('\n').unwrap_or(s);
    for line in body.split('\n') {
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
        out.push('\n');
    }
    // the caller ends the line; drop ours
    out.pop();
    out
}

fn scalar(node: &Node, indent: usize) -> String {
    match node {
        Node::Null => "null".into(),
        Node::Bool(b) => b.to_string(),
        Node::Int(i) => i.to_string(),
        Node::Float(f) => crate::num::yaml_float(*f),
        Node::Str(s) => string_scalar(s, false, indent),
        Node::Time(t) => t.clone(),
        Node::Comment(c) => format!("#{c}"),
        Node::Map(_) => "{}".into(),
        Node::Seq(_) => "[]".into(),
    }
}

fn is_block(node: &Node) -> bool {
    match node {
        Node::Map(e) => !e.is_empty(),
        Node::Seq(s) => !s.is_empty(),
        _ => false,
    }
}

const STEP: usize = 4;

/// Writes map entries at `indent`; the first one continues the current line when `inline`.
fn emit_map(entries: &[Entry], indent: usize, mut inline: bool, in_seq: bool, out: &mut String) {
    for e in entries {
        if !inline {
            out.push_str(&" ".repeat(indent));
        }
        inline = false;
        match e {
            Entry::Comment(c) => {
                out.push('#');
                out.push_str(c);
                out.push('\n');
            }
            Entry::Pair(k, v) => {
                out.push_str(&string_scalar(k, true, indent));
                out.push(':');
                emit_value(v, indent, in_seq, out);
            }
        }
    }
}

fn emit_value(v: &Node, indent: usize, in_seq: bool, out: &mut String) {
    match v {
        Node::Map(e) if !e.is_empty() => {
            out.push('\n');
            emit_map(e, indent + STEP, false, false, out);
        }
        Node::Seq(s) if !s.is_empty() => {
            out.push('\n');
            // yaml.v3 (indent 4) puts a sequence under a key of a mapping that is itself a
            // sequence item only 2 columns in
            emit_seq(s, indent + if in_seq { 2 } else { STEP }, false, out);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, indent + STEP));
            out.push('\n');
        }
    }
}

fn emit_seq(items: &[Node], indent: usize, mut inline: bool, out: &mut String) {
    for item in items {
        if !inline {
            out.push_str(&" ".repeat(indent));
        }
        inline = false;
        if let Node::Comment(c) = item {
            out.push('#');
            out.push_str(c);
            out.push('\n');
            continue;
        }
        out.push_str("- ");
        match item {
            Node::Map(e) if is_block(item) => emit_map(e, indent + 2, true, true, out),
            Node::Seq(s) if is_block(item) => emit_seq(s, indent + 2, true, out),
            other => {
                out.push_str(&scalar(other, indent + STEP));
                out.push('\n');
            }
        }
    }
}

fn emit_doc(doc: &Node, out: &mut String) {
    match doc {
        Node::Map(e) if !e.is_empty() => emit_map(e, 0, false, false, out),
        Node::Seq(s) if !s.is_empty() => emit_seq(s, 0, false, out),
        other => {
            out.push_str(&scalar(other, STEP));
            out.push('\n');
        }
    }
}

/// Writes the documents as `sops -d` prints them.
pub(crate) fn emit(docs: &[Node]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        emit_doc(doc, &mut out);
    }
    out
}
