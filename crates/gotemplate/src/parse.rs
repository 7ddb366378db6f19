//! Lexer and parser for Go's text/template syntax.

use std::fmt;
use std::rc::Rc;

use crate::Error;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Text(String),
    Left,
    Right,
    Space,
    Ident(String),
    Field(String),
    Var(String),
    Dot,
    Str(String, String),
    Char(String, i64),
    Number(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
    Kw(&'static str),
    Other(char),
    /// A lexing error: Go's lexer emits it as an item, so the parser reports it only when it
    /// reaches it (an earlier parse error wins, as in Go).
    LexError(Error),
    Eof,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
}

const KEYWORDS: &[&str] = &[
    "block", "break", "continue", "define", "else", "end", "if", "range", "template", "with",
];

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    toks: Vec<Token>,
    name: &'a str,
}

fn is_space(c: u8) -> bool {
    c == b' ' || c == b'\t' || c == b'\r' || c == b'\n'
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

impl<'a> Lexer<'a> {
    fn line(&self, pos: usize) -> usize {
        1 + self.src[..pos.min(self.src.len())].matches('\n').count()
    }
    fn err(&self, pos: usize, msg: impl fmt::Display) -> Error {
        Error::parse(format!(
            "template: {}:{}: {}",
            self.name,
            self.line(pos),
            msg
        ))
    }

    fn run(mut self) -> Result<Vec<Token>, Error> {
        if let Err(e) = self.run_inner() {
            let pos = self.src.len();
            self.toks.push(Token {
                tok: Tok::LexError(e),
                pos,
            });
            self.toks.push(Token { tok: Tok::Eof, pos });
        }
        Ok(self.toks)
    }

    fn run_inner(&mut self) -> Result<(), Error> {
        let bytes = self.src.as_bytes();
        let mut trim_next = false;
        loop {
            let start = self.pos;
            let next = self.src[start..].find("{{").map(|i| start + i);
            let text_end = next.unwrap_or(self.src.len());
            let mut text = &self.src[start..text_end];
            if trim_next {
                text = text.trim_start_matches([' ', '\t', '\r', '\n']);
            }
            trim_next = false;
            let Some(ld) = next else {
                if !text.is_empty() {
                    self.toks.push(Token {
                        tok: Tok::Text(text.to_string()),
                        pos: start,
                    });
                }
                self.toks.push(Token {
                    tok: Tok::Eof,
                    pos: self.src.len(),
                });
                return Ok(());
            };
            // left trim marker
            let mut after = ld + 2;
            let left_trim = bytes.get(after) == Some(&b'-')
                && bytes.get(after + 1).is_some_and(|c| is_space(*c));
            if left_trim {
                text = text.trim_end_matches([' ', '\t', '\r', '\n']);
                after += 2;
            }
            if !text.is_empty() {
                self.toks.push(Token {
                    tok: Tok::Text(text.to_string()),
                    pos: start,
                });
            }
            // comment
            if self.src[after..].starts_with("/*") {
                let Some(end) = self.src[after + 2..].find("*/") else {
                    return Err(self.err(ld, "unclosed comment"));
                };
                let mut p = after + 2 + end + 2;
                let rest = &self.src[p..];
                if rest.starts_with(" -}}")
                    || rest.starts_with("\t-}}")
                    || rest.starts_with("\n-}}")
                    || rest.starts_with("\r-}}")
                {
                    trim_next = true;
                    p += 4;
                } else if rest.starts_with("}}") {
                    p += 2;
                } else {
                    return Err(self.err(ld, "comment ends before closing delimiter"));
                }
                self.pos = p;
                continue;
            }
            self.toks.push(Token {
                tok: Tok::Left,
                pos: ld,
            });
            self.pos = after;
            trim_next = self.inside(ld)?;
        }
    }

    /// Lexes inside an action; returns whether the right delimiter trims.
    fn inside(&mut self, left: usize) -> Result<bool, Error> {
        let bytes = self.src.as_bytes();
        let mut paren = 0i32;
        loop {
            let p = self.pos;
            let rest = &self.src[p..];
            // right delim with trim
            if rest.len() >= 4 && is_space(bytes[p]) && rest[1..].starts_with("-}}") {
                self.toks.push(Token {
                    tok: Tok::Right,
                    pos: p,
                });
                self.pos = p + 4;
                return Ok(true);
            }
            if rest.starts_with("}}") {
                if paren > 0 {
                    return Err(self.err(p, "unclosed left paren"));
                }
                self.toks.push(Token {
                    tok: Tok::Right,
                    pos: p,
                });
                self.pos = p + 2;
                return Ok(false);
            }
            let Some(c) = rest.chars().next() else {
                return Err(self.err(left, "unclosed action"));
            };
            match c {
                ' ' | '\t' | '\r' | '\n' => {
                    let n = rest.bytes().take_while(|b| is_space(*b)).count();
                    // a space run ending in " -}}" leaves the last space for the delimiter
                    let n = if rest[n..].starts_with("-}}") {
                        n - 1
                    } else {
                        n
                    };
                    if n == 0 {
                        continue;
                    }
                    self.toks.push(Token {
                        tok: Tok::Space,
                        pos: p,
                    });
                    self.pos += n;
                }
                '=' => {
                    self.toks.push(Token {
                        tok: Tok::Assign,
                        pos: p,
                    });
                    self.pos += 1;
                }
                ':' => {
                    if rest.starts_with(":=") {
                        self.toks.push(Token {
                            tok: Tok::Declare,
                            pos: p,
                        });
                        self.pos += 2;
                    } else {
                        return Err(self.err(p, "expected :="));
                    }
                }
                '|' => {
                    self.toks.push(Token {
                        tok: Tok::Pipe,
                        pos: p,
                    });
                    self.pos += 1;
                }
                ',' => {
                    self.toks.push(Token {
                        tok: Tok::Comma,
                        pos: p,
                    });
                    self.pos += 1;
                }
                '(' => {
                    paren += 1;
                    self.toks.push(Token {
                        tok: Tok::LParen,
                        pos: p,
                    });
                    self.pos += 1;
                }
                ')' => {
                    paren -= 1;
                    if paren < 0 {
                        return Err(self.err(p, "unexpected right paren"));
                    }
                    self.toks.push(Token {
                        tok: Tok::RParen,
                        pos: p,
                    });
                    self.pos += 1;
                }
                '"' => {
                    let mut i = 1;
                    let b = rest.as_bytes();
                    loop {
                        match b.get(i) {
                            None | Some(b'\n') => {
                                return Err(self.err(p, "unterminated quoted string"));
                            }
                            Some(b'\\') => i += 2,
                            Some(b'"') => break,
                            _ => i += 1,
                        }
                    }
                    let raw = &rest[..=i];
                    let val = unquote(raw)
                        .ok_or_else(|| self.err(p, format!("invalid syntax: {raw}")))?;
                    self.toks.push(Token {
                        tok: Tok::Str(raw.to_string(), val),
                        pos: p,
                    });
                    self.pos += i + 1;
                }
                '`' => {
                    let Some(end) = rest[1..].find('`') else {
                        return Err(self.err(p, "unterminated raw quoted string"));
                    };
                    let raw = &rest[..end + 2];
                    let val = rest[1..end + 1].replace('\r', "");
                    self.toks.push(Token {
                        tok: Tok::Str(raw.to_string(), val),
                        pos: p,
                    });
                    self.pos += end + 2;
                }
                '\'' => {
                    let b = rest.as_bytes();
                    let mut i = 1;
                    loop {
                        match b.get(i) {
                            None | Some(b'\n') => {
                                return Err(self.err(p, "unterminated character constant"));
                            }
                            Some(b'\\') => i += 2,
                            Some(b'\'') => break,
                            _ => i += 1,
                        }
                    }
                    let raw = &rest[..=i];
                    let inner = &raw[1..raw.len() - 1];
                    let val = unquote_char(inner).ok_or_else(|| {
                        self.err(p, format!("malformed character constant: {raw}"))
                    })?;
                    self.toks.push(Token {
                        tok: Tok::Char(raw.to_string(), val as i64),
                        pos: p,
                    });
                    self.pos += i + 1;
                }
                '$' => {
                    let n = 1 + rest[1..]
                        .chars()
                        .take_while(|c| is_alnum(*c))
                        .map(|c| c.len_utf8())
                        .sum::<usize>();
                    self.toks.push(Token {
                        tok: Tok::Var(rest[..n].to_string()),
                        pos: p,
                    });
                    self.pos += n;
                }
                '.' => {
                    let second = rest[1..].chars().next();
                    if second.is_some_and(|c| c.is_ascii_digit()) {
                        self.number(p)?;
                    } else {
                        let n = rest[1..]
                            .chars()
                            .take_while(|c| is_alnum(*c))
                            .map(|c| c.len_utf8())
                            .sum::<usize>();
                        if n == 0 {
                            self.toks.push(Token {
                                tok: Tok::Dot,
                                pos: p,
                            });
                            self.pos += 1;
                        } else {
                            self.toks.push(Token {
                                tok: Tok::Field(rest[1..=n].to_string()),
                                pos: p,
                            });
                            self.pos += n + 1;
                        }
                    }
                }
                '+' | '-' | '0'..='9' => self.number(p)?,
                c if is_alnum(c) => {
                    let n = rest
                        .chars()
                        .take_while(|c| is_alnum(*c))
                        .map(|c| c.len_utf8())
                        .sum::<usize>();
                    let w = &rest[..n];
                    let tok = if let Some(k) = KEYWORDS.iter().find(|k| **k == w) {
                        Tok::Kw(k)
                    } else if w == "true" || w == "false" {
                        Tok::Bool(w == "true")
                    } else if w == "nil" {
                        Tok::Nil
                    } else {
                        Tok::Ident(w.to_string())
                    };
                    self.toks.push(Token { tok, pos: p });
                    self.pos += n;
                }
                c if c.is_ascii() && !c.is_ascii_control() => {
                    self.toks.push(Token {
                        tok: Tok::Other(c),
                        pos: p,
                    });
                    self.pos += 1;
                }
                c => {
                    return Err(self.err(
                        p,
                        format!("unrecognized character in action: {}", go_char(c)),
                    ));
                }
            }
        }
    }

    fn number(&mut self, p: usize) -> Result<(), Error> {
        let rest = &self.src[p..];
        let n = rest
            .char_indices()
            .take_while(|(i, c)| {
                c.is_ascii_alphanumeric()
                    || *c == '.'
                    || *c == '_'
                    || ((*c == '+' || *c == '-')
                        && (*i == 0 || matches!(rest.as_bytes()[i - 1], b'e' | b'E' | b'p' | b'P')))
            })
            .count();
        let text = &rest[..n];
        if parse_number(text).is_none() {
            return Err(self.err(p, format!("{:?}", text)));
        }
        self.toks.push(Token {
            tok: Tok::Number(text.to_string()),
            pos: p,
        });
        self.pos += n;
        Ok(())
    }
}

fn go_char(c: char) -> String {
    format!("U+{:04X} '{}'", c as u32, c)
}

/// A parsed number literal: an int when it is one, else a float.
#[derive(Debug, Clone, Copy)]
pub enum Num {
    Int(i64),
    Float(f64),
}

pub fn parse_number(text: &str) -> Option<Num> {
    let t = text.replace('_', "");
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b.to_string()),
        None => (false, t.strip_prefix('+').unwrap_or(&t).to_string()),
    };
    if body.is_empty() {
        return None;
    }
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        if h.contains('p') || h.contains('.') {
            None
        } else {
            i64::from_str_radix(h, 16).ok()
        }
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|c| c.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else if lower.bytes().all(|c| c.is_ascii_digit()) {
        lower.parse::<i64>().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Some(Num::Int(if neg { -i } else { i }));
    }
    if lower.starts_with("0x") || lower.starts_with("0o") || lower.starts_with("0b") {
        return None;
    }
    if !lower
        .bytes()
        .all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'+' | b'-'))
    {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Some(Num::Float(if neg { -f } else { f }))
}

fn unquote_char(inner: &str) -> Option<char> {
    let s = unquote_body(inner, '\'')?;
    let mut it = s.chars();
    let c = it.next()?;
    if it.next().is_some() { None } else { Some(c) }
}

/// strconv.Unquote of a double-quoted literal.
pub fn unquote(raw: &str) -> Option<String> {
    unquote_body(raw.strip_prefix('"')?.strip_suffix('"')?, '"')
}

fn unquote_body(s: &str, quote: char) -> Option<String> {
    let mut out = String::new();
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\\' {
            if c == quote {
                return None;
            }
            out.push(c);
            continue;
        }
        let e = it.next()?;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' => out.push('\\'),
            '\'' if quote == '\'' => out.push('\''),
            '"' if quote == '"' => out.push('"'),
            'x' | 'u' | 'U' => {
                let n = match e {
                    'x' => 2,
                    'u' => 4,
                    _ => 8,
                };
                let h: String = (0..n).filter_map(|_| it.next()).collect();
                if h.len() != n {
                    return None;
                }
                let v = u32::from_str_radix(&h, 16).ok()?;
                if e == 'x' {
                    // a byte; only ASCII keeps the string valid UTF-8
                    out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{fffd}'));
                } else {
                    out.push(char::from_u32(v)?);
                }
            }
            '0'..='7' => {
                let mut v = e.to_digit(8)?;
                for _ in 0..2 {
                    v = v * 8 + it.next()?.to_digit(8)?;
                }
                if v > 255 {
                    return None;
                }
                out.push(char::from_u32(v).filter(|_| v < 0x80).unwrap_or('\u{fffd}'));
            }
            _ => return None,
        }
    }
    Some(out)
}

// ---------------------------------------------------------------- AST

#[derive(Debug, Clone)]
pub enum Arg {
    Field(usize, Vec<String>),
    Chain(usize, Box<Arg>, Vec<String>),
    Ident(usize, String),
    Pipe(usize, Pipe),
    Var(usize, String, Vec<String>),
    Dot(usize),
    Nil(usize),
    Bool(usize, bool),
    Number(usize, String, Num),
    Str(usize, String, String),
}

impl Arg {
    pub fn pos(&self) -> usize {
        match self {
            Arg::Field(p, _)
            | Arg::Chain(p, _, _)
            | Arg::Ident(p, _)
            | Arg::Pipe(p, _)
            | Arg::Var(p, _, _)
            | Arg::Dot(p)
            | Arg::Nil(p)
            | Arg::Bool(p, _)
            | Arg::Number(p, _, _)
            | Arg::Str(p, _, _) => *p,
        }
    }
}

impl fmt::Display for Arg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Arg::Field(_, idents) => {
                for i in idents {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Chain(_, node, fields) => {
                match &**node {
                    Arg::Pipe(_, p) => write!(f, "({p})")?,
                    n => write!(f, "{n}")?,
                }
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Ident(_, s) => write!(f, "{s}"),
            Arg::Pipe(_, p) => write!(f, "({p})"),
            Arg::Var(_, name, fields) => {
                write!(f, "{name}")?;
                for i in fields {
                    write!(f, ".{i}")?;
                }
                Ok(())
            }
            Arg::Dot(_) => write!(f, "."),
            Arg::Nil(_) => write!(f, "nil"),
            Arg::Bool(_, b) => write!(f, "{b}"),
            Arg::Number(_, t, _) => write!(f, "{t}"),
            Arg::Str(_, raw, _) => write!(f, "{raw}"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Command {
    pub pos: usize,
    pub args: Vec<Arg>,
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, a) in self.args.iter().enumerate() {
            if i > 0 {
                write!(f, " ")?;
            }
            write!(f, "{a}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
#[allow(dead_code)]
pub struct Pipe {
    pub pos: usize,
    pub is_assign: bool,
    pub decl: Vec<String>,
    pub cmds: Vec<Command>,
}

impl fmt::Display for Pipe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.decl.is_empty() {
            write!(f, "{}", self.decl.join(", "))?;
            write!(f, "{}", if self.is_assign { " = " } else { " := " })?;
        }
        for (i, c) in self.cmds.iter().enumerate() {
            if i > 0 {
                write!(f, " | ")?;
            }
            write!(f, "{c}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Clone)]
#[allow(dead_code)]
pub enum Node {
    Text(String),
    Action(usize, Pipe),
    If(usize, Pipe, Vec<Node>, Option<Vec<Node>>),
    Range(usize, Pipe, Vec<Node>, Option<Vec<Node>>),
    With(usize, Pipe, Vec<Node>, Option<Vec<Node>>),
    Template(usize, String, Option<Pipe>),
    Break(usize),
    Continue(usize),
}

/// One parsed template: its name, the file it came from and the file's text
/// (for `file:line:col` in errors).
#[derive(Debug)]
pub struct Tree {
    pub name: String,
    pub parse_name: String,
    pub source: Rc<str>,
    pub root: Vec<Node>,
}

impl Tree {
    /// Go's ErrorContext location: `file:line:col`.
    pub fn location(&self, pos: usize) -> String {
        let pos = pos.min(self.source.len());
        let before = &self.source[..pos];
        let line = 1 + before.matches('\n').count();
        let col = match before.rfind('\n') {
            Some(i) => pos - i - 1,
            None => pos,
        };
        format!("{}:{}:{}", self.parse_name, line, col)
    }
}

const MAX_NEST: usize = 200;

/// Templates defined by a parse, in order.
pub type Defs = Vec<(String, Vec<Node>)>;

pub struct Parser<'a> {
    toks: Vec<Token>,
    i: usize,
    name: &'a str,
    src: &'a str,
    vars: Vec<String>,
    funcs: &'a dyn Fn(&str) -> bool,
    range_depth: usize,
    nest: usize,
    pub defs: Vec<(String, Vec<Node>)>,
}

#[allow(clippy::enum_variant_names)]
enum End {
    End,
    Else(usize),
    Eof,
}

impl<'a> Parser<'a> {
    pub fn parse(
        name: &'a str,
        src: &'a str,
        funcs: &'a dyn Fn(&str) -> bool,
    ) -> Result<(Vec<Node>, Defs), Error> {
        let toks = Lexer {
            src,
            pos: 0,
            toks: Vec::new(),
            name,
        }
        .run()?;
        let mut p = Parser {
            toks,
            i: 0,
            name,
            src,
            vars: vec!["$".into()],
            funcs,
            range_depth: 0,
            nest: 0,
            defs: Vec::new(),
        };
        let lex_error = p
            .toks
            .iter()
            .position(|t| matches!(t.tok, Tok::LexError(_)));
        let parsed = p.list(true);
        if let Some(k) = lex_error
            && (parsed.is_ok() || p.i >= k)
            && let Tok::LexError(e) = &p.toks[k].tok
        {
            return Err(e.clone());
        }
        let (root, end) = parsed?;
        match end {
            End::Eof => {}
            End::End => return Err(p.err_at(p.prev_pos(), "unexpected {{end}}")),
            End::Else(_) => return Err(p.err_at(p.prev_pos(), "unexpected {{else}}")),
        }
        Ok((root, p.defs))
    }

    fn prev_pos(&self) -> usize {
        self.toks
            .get(self.i.saturating_sub(1))
            .map(|t| t.pos)
            .unwrap_or(0)
    }

    fn err_at(&self, pos: usize, msg: impl fmt::Display) -> Error {
        let line = 1 + self.src[..pos.min(self.src.len())].matches('\n').count();
        Error::parse(format!("template: {}:{}: {}", self.name, line, msg))
    }

    fn peek(&self) -> &Token {
        &self.toks[self.i.min(self.toks.len() - 1)]
    }
    fn next(&mut self) -> Token {
        let t = self.peek().clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }
    fn peek_non_space(&mut self) -> Token {
        while self.peek().tok == Tok::Space {
            self.i += 1;
        }
        self.peek().clone()
    }
    fn next_non_space(&mut self) -> Token {
        self.peek_non_space();
        self.next()
    }

    fn unexpected(&self, t: &Token, ctx: &str) -> Error {
        let desc = match &t.tok {
            Tok::Eof => "EOF".to_string(),
            Tok::Right => "\"}}\"".to_string(),
            Tok::RParen => "\")\"".to_string(),
            Tok::Text(s) | Tok::Ident(s) | Tok::Number(s) => format!("{s:?}"),
            Tok::Field(s) => format!("<.{s}>"),
            Tok::Var(s) => format!("<{s}>"),
            Tok::Str(raw, _) | Tok::Char(raw, _) => raw.clone(),
            Tok::Kw(k) => format!("<{k}>"),
            Tok::Pipe => "\"|\"".to_string(),
            Tok::Declare => "\":=\"".to_string(),
            Tok::Assign => "\"=\"".to_string(),
            Tok::Other(c) => format!("{:?}", c.to_string()),
            other => format!("{other:?}"),
        };
        self.err_at(t.pos, format!("unexpected {desc} in {ctx}"))
    }

    fn list(&mut self, top: bool) -> Result<(Vec<Node>, End), Error> {
        let mut nodes = Vec::new();
        loop {
            let t = self.next();
            match t.tok {
                Tok::Eof => {
                    if !top {
                        return Err(self.err_at(t.pos, "unexpected EOF"));
                    }
                    return Ok((nodes, End::Eof));
                }
                Tok::Text(s) => nodes.push(Node::Text(s)),
                Tok::Left => {
                    let kw = self.peek_non_space();
                    match kw.tok {
                        Tok::Kw("end") => {
                            self.next();
                            self.expect_right("end")?;
                            return Ok((nodes, End::End));
                        }
                        Tok::Kw("else") => {
                            self.next();
                            return Ok((nodes, End::Else(kw.pos)));
                        }
                        Tok::Kw("define") => {
                            if !top || self.nest > 0 {
                                return Err(self.unexpected(&kw, "command"));
                            }
                            self.next();
                            self.define()?;
                        }
                        _ => {
                            if let Some(n) = self.action()? {
                                nodes.push(n);
                            }
                        }
                    }
                }
                _ => return Err(self.unexpected(&t, "input")),
            }
        }
    }

    fn expect_right(&mut self, ctx: &str) -> Result<(), Error> {
        let t = self.next_non_space();
        if t.tok != Tok::Right {
            return Err(self.unexpected(&t, ctx));
        }
        Ok(())
    }

    fn template_name(&mut self, ctx: &str) -> Result<String, Error> {
        let t = self.next_non_space();
        match t.tok {
            Tok::Str(_, v) => Ok(v),
            _ => Err(self.unexpected(&t, ctx)),
        }
    }

    fn define(&mut self) -> Result<(), Error> {
        let name = self.template_name("define clause")?;
        self.expect_right("define clause")?;
        let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
        self.nest += 1;
        let (body, end) = self.list(false)?;
        self.nest -= 1;
        self.vars = saved;
        match end {
            End::End => {}
            _ => return Err(self.err_at(self.prev_pos(), "unexpected {{else}} in define clause")),
        }
        self.defs.push((name, body));
        Ok(())
    }

    fn action(&mut self) -> Result<Option<Node>, Error> {
        let t = self.peek_non_space();
        match t.tok {
            Tok::Kw("if") => {
                self.next();
                self.control("if").map(Some)
            }
            Tok::Kw("range") => {
                self.next();
                self.control("range").map(Some)
            }
            Tok::Kw("with") => {
                self.next();
                self.control("with").map(Some)
            }
            Tok::Kw("block") => {
                self.next();
                let name = self.template_name("block clause")?;
                let npos = self.prev_pos();
                let pipe = self.pipeline("block clause", true)?;
                let saved = std::mem::replace(&mut self.vars, vec!["$".into()]);
                self.nest += 1;
                let (body, end) = self.list(false)?;
                self.nest -= 1;
                self.vars = saved;
                if !matches!(end, End::End) {
                    return Err(self.err_at(self.prev_pos(), "unexpected {{else}} in block clause"));
                }
                self.defs.push((name.clone(), body));
                Ok(Some(Node::Template(npos, name, Some(pipe))))
            }
            Tok::Kw("template") => {
                self.next();
                let name = self.template_name("template clause")?;
                let npos = self.prev_pos();
                let nt = self.peek_non_space();
                let pipe = if nt.tok == Tok::Right {
                    self.next();
                    None
                } else {
                    Some(self.pipeline("template clause", true)?)
                };
                Ok(Some(Node::Template(npos, name, pipe)))
            }
            Tok::Kw("break") | Tok::Kw("continue") => {
                self.next();
                let is_break = t.tok == Tok::Kw("break");
                let kw = if is_break { "break" } else { "continue" };
                if self.range_depth == 0 {
                    return Err(self.err_at(t.pos, format!("{{{{{kw}}}}} outside {{{{range}}}}")));
                }
                let r = self.next_non_space();
                if r.tok != Tok::Right {
                    return Err(self.unexpected(&r, &format!("{{{{{kw}}}}}")));
                }
                Ok(Some(if is_break {
                    Node::Break(t.pos)
                } else {
                    Node::Continue(t.pos)
                }))
            }
            Tok::Kw(k) => Err(self.unexpected(&t, k)),
            _ => {
                let pipe = self.pipeline("command", true)?;
                Ok(Some(Node::Action(t.pos, pipe)))
            }
        }
    }

    fn control(&mut self, ctx: &'static str) -> Result<Node, Error> {
        let mark = self.vars.len();
        let pos = self.prev_pos();
        let pipe = self.pipeline(ctx, true)?;
        if ctx == "range" {
            self.range_depth += 1;
        }
        self.nest += 1;
        if self.nest > MAX_NEST {
            return Err(self.err_at(pos, "template nesting too deep"));
        }
        let (list, end) = self.list(false)?;
        if ctx == "range" {
            self.range_depth -= 1;
        }
        let else_list = match end {
            End::End => None,
            End::Else(epos) => {
                let nt = self.peek_non_space();
                if (ctx == "if" && nt.tok == Tok::Kw("if"))
                    || (ctx == "with" && nt.tok == Tok::Kw("with"))
                {
                    // {{else if}} / {{else with}}: a nested control ending at our {{end}}
                    self.next();
                    let inner = self.control(ctx)?;
                    Some(vec![inner])
                } else {
                    let r = self.next_non_space();
                    if r.tok != Tok::Right {
                        return Err(self.unexpected(&r, "else"));
                    }
                    let (el, end2) = self.list(false)?;
                    match end2 {
                        End::End => {}
                        _ => return Err(self.err_at(epos, "expected end; found {{else}}")),
                    }
                    Some(el)
                }
            }
            End::Eof => return Err(self.err_at(pos, "unexpected EOF")),
        };
        self.nest -= 1;
        self.vars.truncate(mark);
        Ok(match ctx {
            "if" => Node::If(pos, pipe, list, else_list),
            "range" => Node::Range(pos, pipe, list, else_list),
            _ => Node::With(pos, pipe, list, else_list),
        })
    }

    fn pipeline(&mut self, ctx: &str, to_right: bool) -> Result<Pipe, Error> {
        let start = self.peek_non_space();
        let mut pipe = Pipe {
            pos: start.pos,
            is_assign: false,
            decl: Vec::new(),
            cmds: Vec::new(),
        };
        // declarations
        if let Tok::Var(name) = &start.tok {
            let save = self.i;
            self.next_non_space();
            let nt = self.peek().clone();
            let after = self.peek_non_space();
            match after.tok {
                Tok::Declare | Tok::Assign => {
                    self.next();
                    pipe.is_assign = after.tok == Tok::Assign;
                    pipe.decl.push(name.clone());
                    if !pipe.is_assign {
                        self.vars.push(name.clone());
                    }
                }
                Tok::Comma if ctx == "range" => {
                    self.next();
                    let second = self.next_non_space();
                    let Tok::Var(n2) = second.tok else {
                        return Err(self.err_at(second.pos, "range can only initialize variables"));
                    };
                    let d = self.next_non_space();
                    if d.tok != Tok::Declare && d.tok != Tok::Assign {
                        return Err(self.unexpected(&d, "range"));
                    }
                    pipe.is_assign = d.tok == Tok::Assign;
                    pipe.decl.push(name.clone());
                    pipe.decl.push(n2.clone());
                    if !pipe.is_assign {
                        self.vars.push(name.clone());
                        self.vars.push(n2);
                    }
                }
                Tok::Comma => {
                    return Err(self.err_at(after.pos, format!("too many declarations in {ctx}")));
                }
                _ => {
                    let _ = nt;
                    self.i = save;
                }
            }
        }
        loop {
            let t = self.peek_non_space();
            match t.tok {
                Tok::Right if to_right => {
                    self.next();
                    break;
                }
                Tok::RParen if !to_right => {
                    self.next();
                    break;
                }
                Tok::Right | Tok::RParen | Tok::Eof => {
                    return Err(self.unexpected(&t, ctx));
                }
                _ => {
                    let c = self.command()?;
                    pipe.cmds.push(c);
                }
            }
        }
        if pipe.cmds.is_empty() {
            return Err(self.err_at(start.pos, format!("missing value for {ctx}")));
        }
        for (i, c) in pipe.cmds.iter().enumerate().skip(1) {
            if let Some(a) = c.args.first()
                && matches!(
                    a,
                    Arg::Bool(..) | Arg::Dot(_) | Arg::Nil(_) | Arg::Number(..) | Arg::Str(..)
                )
            {
                let _ = i;
                return Err(self.err_at(
                    a.pos(),
                    format!("non executable command in pipeline stage {}", i + 1),
                ));
            }
        }
        Ok(pipe)
    }

    fn command(&mut self) -> Result<Command, Error> {
        let start = self.peek_non_space();
        let mut cmd = Command {
            pos: start.pos,
            args: Vec::new(),
        };
        loop {
            self.peek_non_space();
            let op = self.operand()?;
            if let Some(a) = op {
                cmd.args.push(a);
            }
            let t = self.peek().clone();
            match t.tok {
                Tok::Space => {
                    let n = self.peek_non_space();
                    match n.tok {
                        Tok::Right | Tok::RParen => break,
                        Tok::Pipe => {
                            self.next();
                            break;
                        }
                        _ => continue,
                    }
                }
                Tok::Right | Tok::RParen => break,
                Tok::Pipe => {
                    self.next();
                    break;
                }
                _ => return Err(self.unexpected(&t, "operand")),
            }
        }
        if cmd.args.is_empty() {
            return Err(self.err_at(start.pos, "empty command"));
        }
        Ok(cmd)
    }

    fn operand(&mut self) -> Result<Option<Arg>, Error> {
        let Some(node) = self.term()? else {
            let t = self.peek().clone();
            return Err(self.unexpected(&t, "operand"));
        };
        if let Tok::Field(_) = self.peek().tok {
            let cpos = self.peek().pos;
            let mut fields = Vec::new();
            while let Tok::Field(f) = &self.peek().tok {
                fields.push(f.clone());
                self.next();
            }
            return Ok(Some(match node {
                Arg::Field(_, mut idents) => {
                    idents.extend(fields);
                    Arg::Field(cpos, idents)
                }
                Arg::Var(_, name, mut idents) => {
                    idents.extend(fields);
                    Arg::Var(cpos, name, idents)
                }
                Arg::Bool(..) | Arg::Str(..) | Arg::Number(..) | Arg::Nil(_) | Arg::Dot(_) => {
                    return Err(self.err_at(
                        cpos,
                        format!("unexpected . after term {:?}", node.to_string()),
                    ));
                }
                other => Arg::Chain(cpos, Box::new(other), fields),
            }));
        }
        Ok(Some(node))
    }

    fn term(&mut self) -> Result<Option<Arg>, Error> {
        self.peek_non_space();
        let save = self.i;
        let t = self.next();
        Ok(Some(match t.tok {
            Tok::Ident(name) => {
                if !(self.funcs)(&name) {
                    return Err(self.err_at(t.pos, format!("function {:?} not defined", name)));
                }
                Arg::Ident(t.pos, name)
            }
            Tok::Dot => Arg::Dot(t.pos),
            Tok::Nil => Arg::Nil(t.pos),
            Tok::Var(name) => {
                if !self.vars.contains(&name) {
                    return Err(self.err_at(t.pos, format!("undefined variable {:?}", name)));
                }
                Arg::Var(t.pos, name, Vec::new())
            }
            Tok::Field(f) => Arg::Field(t.pos, vec![f]),
            Tok::Bool(b) => Arg::Bool(t.pos, b),
            Tok::Char(raw, v) => Arg::Number(t.pos, raw, Num::Int(v)),
            Tok::Number(text) => match parse_number(&text) {
                Some(n) => Arg::Number(t.pos, text, n),
                None => {
                    return Err(self.err_at(t.pos, format!("illegal number syntax: {:?}", text)));
                }
            },
            Tok::Str(raw, v) => Arg::Str(t.pos, raw, v),
            Tok::LParen => {
                self.nest += 1;
                if self.nest > MAX_NEST {
                    return Err(self.err_at(t.pos, "template nesting too deep"));
                }
                let p = self.pipeline("parenthesized pipeline", false)?;
                self.nest -= 1;
                Arg::Pipe(t.pos, p)
            }
            _ => {
                self.i = save;
                return Ok(None);
            }
        }))
    }
}
