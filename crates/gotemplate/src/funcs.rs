//! Functions: Go's builtins, the sprig functions Helm ships, and Helm's own.

use std::rc::Rc;

use base64::Engine as _;
use sha2::Digest as _;

use crate::exec::{Fail, R, State};
use crate::gofmt::{go_quote, sprint, sprint_value, sprintf, sprintln};
use crate::value::{Map, Value};
use crate::yaml;

/// A parameter's Go type, as far as argument checking needs it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum P {
    Any,
    Str,
    Int,
    Bool,
    Map,
}

pub type F = fn(&mut State, &Value, Vec<Value>) -> R<Value>;

pub struct Func {
    pub params: &'static [P],
    pub variadic: Option<P>,
    pub f: F,
}

use P::{Any, Bool as B, Int as I, Map as M, Str as S};

macro_rules! table {
    ($( $name:literal => [$($p:expr),*] $(, ...$v:expr)? => $f:expr ;)*) => {
        pub fn lookup(name: &str) -> Option<Func> {
            match name {
                $( $name => Some(Func { params: &[$($p),*], variadic: table!(@v $($v)?), f: $f }), )*
                _ => fallback(name),
            }
        }
    };
    (@v) => { None };
    (@v $v:expr) => { Some($v) };
}

#[path = "sprig.rs"]
mod sprig;
use sprig::lookup as fallback;

pub fn exists(name: &str) -> bool {
    name == "and" || name == "or" || lookup(name).is_some()
}

fn msg<T>(s: impl Into<String>) -> R<T> {
    Err(Fail::Msg(s.into()))
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or("")
}
fn i(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i,
        _ => 0,
    }
}
fn ok_str(x: impl Into<Rc<str>>) -> R<Value> {
    Ok(Value::Str(x.into()))
}

/// sprig's strval.
pub fn strval(v: &Value) -> String {
    sprint_value(v)
}

/// sprig's empty().
pub fn empty(v: &Value) -> bool {
    !v.truth()
}

/// cast.ToInt64 as sprig uses it (errors become 0).
pub fn to_i64(v: &Value) -> i64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i,
        Value::Float(f) => {
            if f.is_nan() {
                0
            } else {
                f.trunc().clamp(i64::MIN as f64, i64::MAX as f64) as i64
            }
        }
        Value::Bool(b) => i64::from(*b),
        Value::Str(s) => {
            let t = s.trim();
            let t = t.strip_suffix(".0").unwrap_or(t);
            crate::parse::parse_number(t)
                .and_then(|n| match n {
                    crate::parse::Num::Int(i) => Some(i),
                    _ => None,
                })
                .unwrap_or(0)
        }
        _ => 0,
    }
}

pub fn to_f64(v: &Value) -> f64 {
    match v {
        Value::Int(i) | Value::I64(i) => *i as f64,
        Value::Float(f) => *f,
        Value::Bool(b) => f64::from(u8::from(*b)),
        Value::Str(s) => s.trim().parse().unwrap_or(0.0),
        _ => 0.0,
    }
}

fn strslice(v: &Value) -> Vec<String> {
    match v {
        Value::List(l) => l
            .iter()
            .filter(|x| !matches!(x, Value::Nil))
            .map(strval)
            .collect(),
        Value::Nil => Vec::new(),
        v => vec![strval(v)],
    }
}

fn list_of(v: &Value, fname: &str) -> R<Rc<Vec<Value>>> {
    match v {
        Value::List(l) => Ok(l.clone()),
        Value::Nil => msg("runtime error: invalid memory address or nil pointer dereference"),
        v => msg(format!("Cannot {fname} on type {}", go_kind(v))),
    }
}

fn map_of(v: &Value) -> Rc<std::cell::RefCell<Map>> {
    match v {
        Value::Map(m) => m.clone(),
        _ => Rc::new(std::cell::RefCell::new(Map::new())),
    }
}

// ------------------------------------------------------------ comparisons

#[derive(PartialEq, Eq, Clone, Copy)]
enum Kind {
    Invalid,
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Nil => Kind::Invalid,
        Value::Bool(_) => Kind::Bool,
        Value::Int(_) | Value::I64(_) => Kind::Int,
        Value::Float(_) => Kind::Float,
        Value::Str(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn bad_cmp(a: &Value, b: &Value) -> Fail {
    Fail::Msg(format!(
        "incompatible types for comparison: {} and {}",
        a.type_name(),
        b.type_name()
    ))
}

fn eq2(a: &Value, b: &Value) -> R<bool> {
    let (k1, k2) = (kind(a), kind(b));
    if k1 != k2 {
        if k1 != Kind::Invalid && k2 != Kind::Invalid {
            return Err(bad_cmp(a, b));
        }
        return Ok(false);
    }
    Ok(match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x) | Value::I64(x), Value::Int(y) | Value::I64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        _ => {
            if a.type_name() != b.type_name() {
                return msg(format!(
                    "non-comparable types {}: {}, {}: {}",
                    sprint_value(a),
                    a.type_name(),
                    b.type_name(),
                    sprint_value(b)
                ));
            }
            return msg(format!(
                "non-comparable type {}: {}",
                sprintf("%s", std::slice::from_ref(b)),
                b.type_name()
            ));
        }
    })
}

fn lt2(a: &Value, b: &Value) -> R<bool> {
    let (k1, k2) = (kind(a), kind(b));
    if matches!(k1, Kind::Invalid | Kind::Other | Kind::Bool)
        || matches!(k2, Kind::Invalid | Kind::Other | Kind::Bool)
    {
        return msg("invalid type for comparison");
    }
    if k1 != k2 {
        return Err(bad_cmp(a, b));
    }
    Ok(match (a, b) {
        (Value::Int(x) | Value::I64(x), Value::Int(y) | Value::I64(y)) => x < y,
        (Value::Float(x), Value::Float(y)) => x < y,
        (Value::Str(x), Value::Str(y)) => x < y,
        _ => false,
    })
}

fn f_eq(_: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    if a.len() < 2 {
        return msg("missing argument for comparison");
    }
    for b in &a[1..] {
        if eq2(&a[0], b)? {
            return Ok(Value::Bool(true));
        }
    }
    Ok(Value::Bool(false))
}

// ------------------------------------------------------------ Go builtins

fn go_index(_: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    let mut item = a[0].clone();
    if let Value::Nil = item {
        return msg("index of untyped nil");
    }
    for idx in &a[1..] {
        item = match &item {
            Value::Nil => return msg("index of nil pointer"),
            Value::List(l) => {
                let x = index_arg(idx, l.len())?;
                l[x].clone()
            }
            Value::Str(s) => {
                let x = index_arg(idx, s.len())?;
                Value::Int(i64::from(s.as_bytes()[x]))
            }
            Value::Map(m) => match idx {
                Value::Str(k) => m.borrow().get(&**k).cloned().unwrap_or(Value::Nil),
                Value::Nil => return msg("value is nil; should be of type string"),
                v => {
                    return msg(format!(
                        "value has type {}; should be string",
                        v.type_name()
                    ));
                }
            },
            v => return msg(format!("can't index item of type {}", v.type_name())),
        };
    }
    Ok(item)
}

fn index_arg(idx: &Value, len: usize) -> R<usize> {
    match idx {
        Value::Int(x) | Value::I64(x) => {
            if *x < 0 || *x as u64 >= len as u64 {
                return msg(format!("index out of range: {x}"));
            }
            Ok(*x as usize)
        }
        Value::Nil => msg("cannot index slice/array with nil"),
        v => msg(format!(
            "cannot index slice/array with type {}",
            v.type_name()
        )),
    }
}

#[allow(dead_code)]
fn go_slice(_: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    let item = &a[0];
    let len = match item {
        Value::Nil => return msg("slice of untyped nil"),
        Value::List(l) => l.len(),
        Value::Str(s) => s.len(),
        v => return msg(format!("can't slice item of type {}", v.type_name())),
    };
    let idx = &a[1..];
    if idx.len() > 3 || (idx.len() == 3 && matches!(item, Value::Str(_))) {
        return msg(format!("too many slice indexes: {}", idx.len()));
    }
    let mut ix = [0usize, len, len];
    for (k, v) in idx.iter().enumerate() {
        let x = match v {
            Value::Int(x) | Value::I64(x) => *x,
            Value::Nil => return msg("cannot index slice/array with nil"),
            v => {
                return msg(format!(
                    "cannot index slice/array with type {}",
                    v.type_name()
                ));
            }
        };
        if x < 0 || x as u64 > len as u64 {
            return msg(format!("index out of range: {x}"));
        }
        ix[k] = x as usize;
    }
    if idx.len() < 2 {
        ix[1] = len;
    }
    if ix[0] > ix[1] {
        return msg(format!("invalid slice index: {} > {}", ix[0], ix[1]));
    }
    if idx.len() == 3 && ix[1] > ix[2] {
        return msg(format!("invalid slice index: {} > {}", ix[1], ix[2]));
    }
    match item {
        Value::List(l) => Ok(Value::list(l[ix[0]..ix[1]].to_vec())),
        Value::Str(s) => match s.get(ix[0]..ix[1]) {
            Some(sub) => ok_str(sub),
            None => ok_str(String::from_utf8_lossy(&s.as_bytes()[ix[0]..ix[1]]).into_owned()),
        },
        _ => Ok(Value::Nil),
    }
}

/// sprig's `slice` (it replaces Go's builtin in Helm): lists only.
fn sprig_slice(_: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    let l = match &a[0] {
        Value::List(l) => l.clone(),
        Value::Nil => return msg("list should be type of slice or array but <nil>"),
        v => {
            return msg(format!(
                "list should be type of slice or array but {}",
                go_kind(v)
            ));
        }
    };
    let n = l.len() as i64;
    let start = a.get(1).map(to_i64).unwrap_or(0);
    let end = a.get(2).map(to_i64).unwrap_or(n);
    if start < 0 || end < start || end > n {
        return msg(format!(
            "runtime error: slice bounds out of range [{start}:{end}] with capacity {n}"
        ));
    }
    Ok(Value::list(l[start as usize..end as usize].to_vec()))
}

/// reflect.Kind's name.
fn go_kind(v: &Value) -> &'static str {
    match v {
        Value::Nil => "invalid",
        Value::Bool(_) => "bool",
        Value::Int(_) => "int",
        Value::I64(_) => "int64",
        Value::Float(_) => "float64",
        Value::Str(_) => "string",
        Value::List(_) => "slice",
        Value::Map(_) => "map",
        Value::Object(o) => go_kind(&o.to_value()),
    }
}

fn deep_eq(a: &Value, b: &Value, depth: usize) -> bool {
    let mut budget = 1_000_000usize;
    deep_eq_b(a, b, depth, &mut budget)
}

fn deep_eq_b(a: &Value, b: &Value, depth: usize, budget: &mut usize) -> bool {
    if depth > crate::value::MAX_DEPTH || *budget == 0 {
        return false;
    }
    *budget -= 1;
    match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        (Value::Int(x), Value::Int(y)) | (Value::I64(x), Value::I64(y)) => x == y,
        (Value::Float(x), Value::Float(y)) => x == y,
        (Value::Str(x), Value::Str(y)) => x == y,
        (Value::List(x), Value::List(y)) => {
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|(p, q)| deep_eq(p, q, depth + 1))
        }
        (Value::Map(x), Value::Map(y)) => {
            if Rc::ptr_eq(x, y) {
                return true;
            }
            let (x, y) = (x.borrow(), y.borrow());
            x.len() == y.len()
                && x.iter()
                    .zip(y.iter())
                    .all(|((k1, v1), (k2, v2))| k1 == k2 && deep_eq(v1, v2, depth + 1))
        }
        _ => false,
    }
}

fn go_path_base(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let t = p.trim_end_matches('/');
    if t.is_empty() {
        return "/".into();
    }
    t.rsplit('/').next().unwrap_or(t).to_string()
}

fn go_len(_: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    match &a[0] {
        Value::Str(s) => Ok(Value::Int(crate::value::to_go_bytes(s).len() as i64)),
        Value::List(l) => Ok(Value::Int(l.len() as i64)),
        Value::Map(m) => Ok(Value::Int(m.borrow().len() as i64)),
        Value::Nil => msg("len of nil pointer"),
        v => msg(format!("len of type {}", v.type_name())),
    }
}

fn eval_args_str(a: &[Value]) -> String {
    if a.len() == 1
        && let Value::Str(s) = &a[0]
    {
        return s.to_string();
    }
    sprint(a)
}

fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\0' => out.push('\u{fffd}'),
            '"' => out.push_str("&#34;"),
            '\'' => out.push_str("&#39;"),
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            c => out.push(c),
        }
    }
    out
}

fn js_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' => out.push_str("\\u003C"),
            '>' => out.push_str("\\u003E"),
            '&' => out.push_str("\\u0026"),
            '=' => out.push_str("\\u003D"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c if (c as u32) >= 0x80 && c.is_control() => {
                out.push_str(&format!("\\u{:04X}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

fn query_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

// ------------------------------------------------------------ sprig helpers

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev = ' ';
    for c in s.chars() {
        let sep = if prev.is_ascii() {
            !(prev.is_ascii_alphanumeric() || prev == '_')
        } else {
            prev.is_whitespace()
        };
        if sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev = c;
    }
    out
}

fn trunc(c: i64, s: &str) -> String {
    let n = s.len() as i64;
    let cut = |a: usize, b: usize| String::from_utf8_lossy(&s.as_bytes()[a..b]).into_owned();
    if c < 0 && n + c > 0 {
        return cut((n + c) as usize, n as usize);
    }
    if c >= 0 && n > c {
        return cut(0, c as usize);
    }
    s.to_string()
}

fn pre_indent(st: &mut State, a: &[Value]) -> R<()> {
    let lines = s(&a[1]).matches('\n').count() + 1;
    st.charge_output(lines.saturating_mul(i(&a[0]).clamp(0, 10_000) as usize))
}

fn indent(n: i64, s: &str) -> String {
    let pad = " ".repeat(n.clamp(0, 10_000) as usize);
    format!("{pad}{}", s.replace('\n', &format!("\n{pad}")))
}

/// mergo's map merge as sprig calls it: `merge` fills keys that are missing
/// or empty in `dst`; `mergeOverwrite` sets every key of `src` (empty values
/// and nil included), except that a map or list never replaces a non-empty
/// non-map value; maps merge recursively either way.
pub(crate) fn merge_into(
    dst: &Rc<std::cell::RefCell<Map>>,
    src: &Map,
    overwrite: bool,
    depth: usize,
) {
    if depth > crate::value::MAX_DEPTH {
        return;
    }
    for (k, sv) in src {
        let dv = dst.borrow().get(k).cloned();
        match (&dv, sv) {
            (Some(Value::Map(d)), Value::Map(s)) => {
                if Rc::ptr_eq(d, s) {
                    continue;
                }
                let s = s.borrow().clone();
                merge_into(d, &s, overwrite, depth + 1);
            }
            (_, Value::Nil) => {
                if overwrite {
                    dst.borrow_mut().insert(k.clone(), Value::Nil);
                }
            }
            (Some(d), Value::Map(_)) if !empty(d) => {}
            (Some(d), _) if !empty(d) => {
                if overwrite {
                    dst.borrow_mut().insert(k.clone(), sv.clone());
                }
            }
            _ => {
                dst.borrow_mut().insert(k.clone(), sv.clone());
            }
        }
    }
}

/// Go's strings.Split: an empty separator splits into characters.
fn go_split<'a>(text: &'a str, sep: &str) -> Vec<&'a str> {
    if sep.is_empty() {
        return text
            .char_indices()
            .map(|(i, c)| &text[i..i + c.len_utf8()])
            .collect();
    }
    text.split(sep).collect()
}

fn until_step(start: i64, stop: i64, step: i64, st: &mut State) -> R<Vec<Value>> {
    let mut v = Vec::new();
    if step == 0 || (stop < start && step > 0) || (stop > start && step < 0) {
        return Ok(v);
    }
    let mut i = start;
    while (step > 0 && i < stop) || (step < 0 && i > stop) {
        st.step()?;
        v.push(Value::Int(i));
        i = match i.checked_add(step) {
            Some(n) => n,
            None => break,
        };
    }
    Ok(v)
}

fn regex(re: &str) -> R<regex::Regex> {
    regex::RegexBuilder::new(re)
        .size_limit(1 << 20)
        .build()
        .or_else(|e| msg(format!("error parsing regexp: {e}")))
}

/// Go's regexp replacement syntax ($1, ${name}) into the regex crate's.
fn go_repl(r: &str) -> String {
    // both use $name / ${name}; Go treats $1x as ${1x}, so does the regex crate
    r.to_string()
}

// ------------------------------------------------------------ semver

#[derive(Debug, Clone, PartialEq, Eq)]
struct Ver {
    major: u64,
    minor: u64,
    patch: u64,
    pre: Vec<String>,
}

fn parse_ver(s: &str) -> Option<Ver> {
    let s = s.trim();
    let s = s.strip_prefix('v').unwrap_or(s);
    let (core, _meta) = s.split_once('+').unwrap_or((s, ""));
    let (core, pre) = match core.split_once('-') {
        Some((c, p)) => (c, p.split('.').map(str::to_string).collect()),
        None => (core, Vec::new()),
    };
    let parts: Vec<&str> = core.split('.').collect();
    if parts.is_empty() || parts.len() > 3 {
        return None;
    }
    let num = |i: usize| -> Option<u64> {
        match parts.get(i) {
            None => Some(0),
            Some(p) => p.parse().ok(),
        }
    };
    Some(Ver {
        major: num(0)?,
        minor: num(1)?,
        patch: num(2)?,
        pre,
    })
}

fn cmp_pre(a: &[String], b: &[String]) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a.is_empty(), b.is_empty()) {
        (true, true) => return Equal,
        (true, false) => return Greater,
        (false, true) => return Less,
        _ => {}
    }
    for (x, y) in a.iter().zip(b.iter()) {
        let o = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(p), Ok(q)) => p.cmp(&q),
            (Ok(_), Err(_)) => Less,
            (Err(_), Ok(_)) => Greater,
            _ => x.cmp(y),
        };
        if o != Equal {
            return o;
        }
    }
    a.len().cmp(&b.len())
}

fn cmp_ver(a: &Ver, b: &Ver) -> std::cmp::Ordering {
    (a.major, a.minor, a.patch)
        .cmp(&(b.major, b.minor, b.patch))
        .then_with(|| cmp_pre(&a.pre, &b.pre))
}

/// One Masterminds constraint term: operator and a possibly partial version.
fn check_term(term: &str, v: &Ver) -> Option<bool> {
    use std::cmp::Ordering::*;
    let term = term.trim();
    let ops = ["!=", ">=", "=>", "<=", "=<", ">", "<", "=", "~>", "~", "^"];
    let (op, rest) = ops
        .iter()
        .find_map(|o| term.strip_prefix(o).map(|r| (*o, r.trim())))
        .unwrap_or(("", term));
    let rest = rest.strip_prefix('v').unwrap_or(rest);
    // wildcard parts
    let core = rest.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    let wild = |p: &&str| *p == "x" || *p == "X" || *p == "*";
    let nparts = parts.iter().position(wild).unwrap_or(parts.len());
    let c = if rest.is_empty() || nparts == 0 {
        Ver {
            major: 0,
            minor: 0,
            patch: 0,
            pre: Vec::new(),
        }
    } else {
        let fixed: Vec<&str> = parts[..nparts].to_vec();
        let tail = if nparts == parts.len() {
            &rest[core.len()..]
        } else {
            ""
        };
        parse_ver(&format!("{}{}", fixed.join("."), tail))?
    };
    let dirty = nparts < 3;
    // prerelease versions only match constraints that carry a prerelease
    if !v.pre.is_empty() && c.pre.is_empty() {
        return Some(false);
    }
    let o = cmp_ver(v, &c);
    let lower_major = |v: &Ver| v.major == c.major;
    Some(match op {
        "" | "=" => {
            if rest.is_empty() || nparts == 0 {
                true
            } else if dirty {
                v.major == c.major && (nparts < 2 || v.minor == c.minor)
            } else {
                o == Equal
            }
        }
        "!=" => {
            if dirty {
                !(v.major == c.major && (nparts < 2 || v.minor == c.minor))
            } else {
                o != Equal
            }
        }
        ">" => {
            if dirty {
                if nparts == 1 {
                    v.major > c.major
                } else {
                    (v.major, v.minor) > (c.major, c.minor)
                }
            } else {
                o == Greater
            }
        }
        ">=" | "=>" => o != Less,
        "<" => o == Less,
        "<=" | "=<" => {
            if dirty {
                if nparts <= 1 {
                    v.major <= c.major
                } else {
                    (v.major, v.minor) <= (c.major, c.minor)
                }
            } else {
                o != Greater
            }
        }
        "~" | "~>" => o != Less && lower_major(v) && (nparts == 1 || v.minor == c.minor),
        "^" => {
            if o == Less {
                false
            } else if c.major > 0 || nparts == 1 {
                v.major == c.major
            } else if c.minor > 0 || nparts == 2 {
                v.major == 0 && v.minor == c.minor
            } else {
                v.major == 0 && v.minor == 0 && v.patch == c.patch
            }
        }
        _ => return None,
    })
}

/// A constraint's `||` alternatives, each a list of terms; every term is checked first, so an
/// improper constraint is an error whatever the version (Masterminds' `NewConstraint`).
fn parse_constraint(constraint: &str) -> R<Vec<Vec<String>>> {
    let dummy = Ver {
        major: 0,
        minor: 0,
        patch: 0,
        pre: Vec::new(),
    };
    let mut alts = Vec::new();
    for raw in constraint.split("||") {
        let alt = raw.trim();
        // hyphen ranges: "1.2 - 1.4"
        let terms: Vec<String> = if let Some((a, b)) = alt.split_once(" - ") {
            vec![format!(">={}", a.trim()), format!("<={}", b.trim())]
        } else {
            let mut ts = Vec::new();
            let mut cur = String::new();
            for tok in alt.split([' ', ',']).filter(|t| !t.is_empty()) {
                if ["=", "!=", ">", "<", ">=", "<=", "~", "^", "~>", "=>", "=<"].contains(&tok) {
                    cur.push_str(tok);
                } else {
                    cur.push_str(tok);
                    ts.push(std::mem::take(&mut cur));
                }
            }
            ts
        };
        if terms.iter().any(|t| check_term(t, &dummy).is_none()) {
            return msg(format!("improper constraint: {}", go_quote(raw)));
        }
        alts.push(terms);
    }
    Ok(alts)
}

fn semver_compare(constraint: &str, version: &str) -> R<bool> {
    let alts = parse_constraint(constraint)?;
    let v = crate::semver::Version::parse(version).map_err(Fail::Msg)?;
    let v = Ver {
        major: v.major,
        minor: v.minor,
        patch: v.patch,
        pre: if v.pre.is_empty() {
            Vec::new()
        } else {
            v.pre.split('.').map(str::to_string).collect()
        },
    };
    Ok(alts
        .iter()
        .any(|terms| terms.iter().all(|t| check_term(t, &v) == Some(true))))
}

// ------------------------------------------------------------ Helm

fn f_include(st: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    let name = s(&a[0]).to_string();
    let out = st.include(&name, &a[1])?;
    ok_str(out)
}

fn f_tpl(st: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    let text = s(&a[0]).to_string();
    // the tpl text's own templates over the set's, not a copy of them all
    let mut defs = crate::Defs::over(st.defs.clone());
    let name = "gotpl";
    crate::add_parse(&mut defs, name, &text)
        .map_err(|e| Fail::Msg(format!("cannot parse template {text:?}: {}", e.message)))?;
    let Some(tree) = defs.get(name).cloned() else {
        return ok_str("");
    };
    let defs = Rc::new(defs);
    match st.nested(tree, defs, &a[1], name) {
        Ok(out) => ok_str(out.replace("<no value>", "")),
        Err(Fail::Done(e)) if e.kind == crate::ErrorKind::Limit => Err(Fail::Done(e)),
        Err(Fail::Done(e)) => msg(format!(
            "error during tpl function execution for {text:?}: {}",
            e.message
        )),
        Err(Fail::Msg(m)) => msg(format!(
            "error during tpl function execution for {text:?}: {m}"
        )),
    }
}

fn f_required(_: &mut State, _: &Value, a: Vec<Value>) -> R<Value> {
    match &a[1] {
        Value::Nil => msg(s(&a[0])),
        Value::Str(x) if x.is_empty() => msg(s(&a[0])),
        v => Ok(v.clone()),
    }
}

/// Helm's toYaml/toJson print nothing for a value that does not encode;
/// hitting the output bound is an error.
fn encoded(st: &mut State, r: Result<String, String>) -> R<String> {
    match r {
        Ok(s) => Ok(s),
        Err(e) if e.starts_with("encoded value exceeds") => Err(st.limit_error(e)),
        Err(_) => Ok(String::new()),
    }
}

fn num_op(a: &[Value], f: impl Fn(i64, i64) -> Option<i64>, what: &str) -> R<Value> {
    let mut acc = to_i64(&a[0]);
    for x in &a[1..] {
        acc = match f(acc, to_i64(x)) {
            Some(v) => v,
            None => return msg(format!("runtime error: {what}")),
        };
    }
    Ok(Value::I64(acc))
}

table! {
    // Go builtins
    "not" => [Any] => |_, _, a| Ok(Value::Bool(!a[0].truth()));
    "eq" => [Any], ...Any => f_eq;
    "ne" => [Any, Any] => |_, _, a| Ok(Value::Bool(!eq2(&a[0], &a[1])?));
    "lt" => [Any, Any] => |_, _, a| Ok(Value::Bool(lt2(&a[0], &a[1])?));
    "le" => [Any, Any] => |_, _, a| Ok(Value::Bool(lt2(&a[0], &a[1])? || eq2(&a[0], &a[1])?));
    "gt" => [Any, Any] => |_, _, a| Ok(Value::Bool(!(lt2(&a[0], &a[1])? || eq2(&a[0], &a[1])?)));
    "ge" => [Any, Any] => |_, _, a| Ok(Value::Bool(!lt2(&a[0], &a[1])?));
    "len" => [Any] => go_len;
    "index" => [Any], ...Any => go_index;
    "slice" => [Any], ...Any => sprig_slice;
    "print" => [], ...Any => |_, _, a| ok_str(sprint(&a));
    "println" => [], ...Any => |_, _, a| ok_str(sprintln(&a));
    "printf" => [S], ...Any => |_, _, a| ok_str(sprintf(s(&a[0]), &a[1..]));
    "html" => [], ...Any => |_, _, a| ok_str(html_escape(&eval_args_str(&a)));
    "js" => [], ...Any => |_, _, a| ok_str(js_escape(&eval_args_str(&a)));
    "urlquery" => [], ...Any => |_, _, a| ok_str(query_escape(&eval_args_str(&a)));
    "call" => [Any], ...Any => |_, _, a| match &a[0] {
        Value::Nil => msg("call of nil"),
        v => msg(format!("non-function of type {}", v.type_name())),
    };
    // Helm
    "include" => [S, Any] => f_include;
    "tpl" => [S, Any] => f_tpl;
    "required" => [S, Any] => f_required;
    "fail" => [S] => |_, _, a| msg(s(&a[0]));
    "lookup" => [S, S, S, S] => |st, _, a| match st.run.lookup.clone() {
        Some(f) => {
            st.steps(1000)?;
            f(s(&a[0]), s(&a[1]), s(&a[2]), s(&a[3])).map_err(Fail::Msg)
        }
        None => Ok(Value::map(Map::new())),
    };
    "toYaml" => [Any] => |st, _, a| { let y = encoded(st, yaml::to_yaml(&a[0]))?; ok_str(y.strip_suffix('\n').unwrap_or(&y)) };
    "mustToYaml" => [Any] => |_, _, a| { let y = yaml::to_yaml(&a[0]).map_err(Fail::Msg)?; ok_str(y.strip_suffix('\n').unwrap_or(&y)) };
    "toJson" => [Any] => |st, _, a| ok_str(encoded(st, yaml::to_json(&a[0]))?);
    "mustToJson" => [Any] => |_, _, a| ok_str(yaml::to_json(&a[0]).map_err(Fail::Msg)?);
    "fromYaml" => [S] => |_, _, a| Ok(yaml::from_yaml(s(&a[0])));
    "fromJson" => [S] => |_, _, a| Ok(yaml::from_json(s(&a[0])));
    // sprig: defaults and flow
    "default" => [Any], ...Any => |_, _, a| Ok(match a.get(1) {
        Some(g) if !empty(g) => g.clone(),
        _ => a[0].clone(),
    });
    "empty" => [Any] => |_, _, a| Ok(Value::Bool(empty(&a[0])));
    "coalesce" => [], ...Any => |_, _, a| Ok(a.iter().find(|v| !empty(v)).cloned().unwrap_or_default());
    "ternary" => [Any, Any, B] => |_, _, a| Ok(if a[2].truth() { a[0].clone() } else { a[1].clone() });
    // sprig: strings
    "quote" => [], ...Any => |_, _, a| ok_str(a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| go_quote(&strval(v))).collect::<Vec<_>>().join(" "));
    "squote" => [], ...Any => |_, _, a| ok_str(a.iter().filter(|v| !matches!(v, Value::Nil)).map(|v| format!("'{}'", strval(v))).collect::<Vec<_>>().join(" "));
    "upper" => [S] => |_, _, a| ok_str(s(&a[0]).to_uppercase());
    "lower" => [S] => |_, _, a| ok_str(s(&a[0]).to_lowercase());
    "title" => [S] => |_, _, a| ok_str(title(s(&a[0])));
    "trim" => [S] => |_, _, a| ok_str(s(&a[0]).trim());
    "trimAll" => [S, S] => |_, _, a| { let cut: Vec<char> = s(&a[0]).chars().collect(); ok_str(s(&a[1]).trim_matches(&cut[..])) };
    "trimSuffix" => [S, S] => |_, _, a| ok_str(s(&a[1]).strip_suffix(s(&a[0])).unwrap_or(s(&a[1])));
    "trimPrefix" => [S, S] => |_, _, a| ok_str(s(&a[1]).strip_prefix(s(&a[0])).unwrap_or(s(&a[1])));
    "trunc" => [I, S] => |_, _, a| ok_str(trunc(i(&a[0]), s(&a[1])));
    "replace" => [S, S, S] => |st, _, a| {
        let n = if s(&a[0]).is_empty() { s(&a[2]).chars().count() + 1 } else { s(&a[2]).matches(s(&a[0])).count() };
        st.charge_output(n.saturating_mul(s(&a[1]).len()))?;
        ok_str(s(&a[2]).replace(s(&a[0]), s(&a[1])))
    };
    "contains" => [S, S] => |_, _, a| Ok(Value::Bool(s(&a[1]).contains(s(&a[0]))));
    "hasPrefix" => [S, S] => |_, _, a| Ok(Value::Bool(s(&a[1]).starts_with(s(&a[0]))));
    "hasSuffix" => [S, S] => |_, _, a| Ok(Value::Bool(s(&a[1]).ends_with(s(&a[0]))));
    "indent" => [I, S] => |st, _, a| { pre_indent(st, &a)?; ok_str(indent(i(&a[0]), s(&a[1]))) };
    "nindent" => [I, S] => |st, _, a| { pre_indent(st, &a)?; ok_str(format!("\n{}", indent(i(&a[0]), s(&a[1])))) };
    "repeat" => [I, S] => |st, _, a| {
        let n = i(&a[0]).max(0) as usize;
        let total = n.saturating_mul(s(&a[1]).len());
        st.charge_output(total)?;
        ok_str(s(&a[1]).repeat(n))
    };
    "toString" => [Any] => |_, _, a| ok_str(strval(&a[0]));
    "toStrings" => [Any] => |_, _, a| Ok(Value::list(strslice(&a[0]).into_iter().map(Value::from).collect()));
    "join" => [S, Any] => |_, _, a| ok_str(strslice(&a[1]).join(s(&a[0])));
    "split" => [S, S] => |_, _, a| {
        let m: Map = go_split(s(&a[1]), s(&a[0])).into_iter().enumerate().map(|(k, p)| (format!("_{k}"), Value::from(p))).collect();
        Ok(Value::map(m))
    };
    "splitList" => [S, S] => |_, _, a| Ok(Value::list(go_split(s(&a[1]), s(&a[0])).into_iter().map(Value::from).collect()));
    "b64enc" => [S] => |_, _, a| ok_str(base64::engine::general_purpose::STANDARD.encode(crate::value::to_go_bytes(s(&a[0]))));
    "b64dec" => [S] => |_, _, a| ok_str(match base64::engine::general_purpose::STANDARD.decode(s(&a[0])) {
        Ok(b) => String::from_utf8_lossy(&b).into_owned(),
        Err(e) => e.to_string(),
    });
    "sha256sum" => [S] => |_, _, a| ok_str(sha2::Sha256::digest(crate::value::to_go_bytes(s(&a[0]))).iter().map(|b| format!("{b:02x}")).collect::<String>());
    "regexMatch" => [S, S] => |_, _, a| Ok(Value::Bool(regex(s(&a[0]))?.is_match(s(&a[1]))));
    "regexReplaceAll" => [S, S, S] => |_, _, a| ok_str(regex(s(&a[0]))?.replace_all(s(&a[1]), go_repl(s(&a[2])).as_str()).into_owned());
    "semverCompare" => [S, S] => |_, _, a| Ok(Value::Bool(semver_compare(s(&a[0]), s(&a[1]))?));
    "semver" => [S] => |_, _, a| crate::semver::Version::parse(s(&a[0])).map(crate::semver::SemverValue::pointer).map_err(Fail::Msg);
    // sprig: lists and dicts
    "list" => [], ...Any => |_, _, a| Ok(Value::list(a));
    "dict" => [], ...Any => |_, _, a| {
        let mut m = Map::new();
        for kv in a.chunks(2) {
            m.insert(strval(&kv[0]), kv.get(1).cloned().unwrap_or(Value::str("")));
        }
        Ok(Value::map(m))
    };
    "get" => [M, S] => |_, _, a| Ok(map_of(&a[0]).borrow().get(s(&a[1])).cloned().unwrap_or(Value::str("")));
    "set" => [M, S, Any] => |_, _, a| {
        let Value::Map(m) = &a[0] else { return msg("assignment to entry in nil map") };
        m.borrow_mut().insert(s(&a[1]).to_string(), a[2].clone());
        Ok(a[0].clone())
    };
    "unset" => [M, S] => |_, _, a| {
        if let Value::Map(m) = &a[0] { m.borrow_mut().remove(s(&a[1])); }
        Ok(a[0].clone())
    };
    "hasKey" => [M, S] => |_, _, a| Ok(Value::Bool(map_of(&a[0]).borrow().contains_key(s(&a[1]))));
    "keys" => [], ...M => |_, _, a| {
        let mut ks: Vec<String> = Vec::new();
        for d in &a { ks.extend(map_of(d).borrow().keys().cloned()); }
        ks.sort();
        Ok(Value::list(ks.into_iter().map(Value::from).collect()))
    };
    "values" => [M] => |_, _, a| Ok(Value::list(map_of(&a[0]).borrow().values().cloned().collect()));
    "pluck" => [S], ...M => |_, _, a| {
        let k = s(&a[0]);
        Ok(Value::list(a[1..].iter().filter_map(|d| map_of(d).borrow().get(k).cloned()).collect()))
    };
    "merge" => [M], ...M => |_, _, a| {
        let dst = map_of(&a[0]);
        for src in &a[1..] { let s = map_of(src).borrow().clone(); merge_into(&dst, &s, false, 0); }
        Ok(Value::Map(dst))
    };
    "mergeOverwrite" => [M], ...M => |_, _, a| {
        let dst = map_of(&a[0]);
        for src in &a[1..] { let s = map_of(src).borrow().clone(); merge_into(&dst, &s, true, 0); }
        Ok(Value::Map(dst))
    };
    "deepCopy" => [Any] => |st, _, a| {
        let mut budget = 1_000_000usize;
        match a[0].deep_copy(&mut budget) {
            Some(v) => { st.steps(1_000_000 - budget)?; Ok(v) }
            None => Err(st.limit_error("deepCopy: value too large or too deeply nested".into())),
        }
    };
    "append" => [Any, Any] => |st, _, a| { let l = list_of(&a[0], "push")?; st.steps(l.len())?; let mut v = (*l).clone(); v.push(a[1].clone()); Ok(Value::list(v)) };
    "push" => [Any, Any] => |st, _, a| { let l = list_of(&a[0], "push")?; st.steps(l.len())?; let mut v = (*l).clone(); v.push(a[1].clone()); Ok(Value::list(v)) };
    "concat" => [], ...Any => |st, _, a| {
        let mut v = Vec::new();
        for l in &a { if let Value::List(x) = l { st.steps(x.len())?; } }
        for l in &a { match l { Value::List(x) => v.extend(x.iter().cloned()), Value::Nil => {}, other => return msg(format!("Cannot concat type {} as list", other.type_name())) } }
        Ok(Value::list(v))
    };
    "first" => [Any] => |_, _, a| Ok(list_of(&a[0], "find first")?.first().cloned().unwrap_or_default());
    "last" => [Any] => |_, _, a| Ok(list_of(&a[0], "find last")?.last().cloned().unwrap_or_default());
    "until" => [I] => |st, _, a| { let n = i(&a[0]); let step = if n < 0 { -1 } else { 1 }; Ok(Value::list(until_step(0, n, step, st)?)) };
    "untilStep" => [I, I, I] => |st, _, a| Ok(Value::list(until_step(i(&a[0]), i(&a[1]), i(&a[2]), st)?));
    "seq" => [], ...I => |st, _, a| {
        let p: Vec<i64> = a.iter().map(i).collect();
        let v = match p.len() {
            0 => Vec::new(),
            1 => { let e = p[0]; if e >= 1 { until_step(1, e + 1, 1, st)? } else { until_step(1, e - 1, -1, st)? } }
            2 => { let (b, e) = (p[0], p[1]); if e >= b { until_step(b, e + 1, 1, st)? } else { until_step(b, e - 1, -1, st)? } }
            _ => { let (b, s_, e) = (p[0], p[1], p[2]); if s_ > 0 && e >= b { until_step(b, e + 1, s_, st)? } else if s_ < 0 && e <= b { until_step(b, e - 1, s_, st)? } else { Vec::new() } }
        };
        ok_str(v.iter().map(sprint_value).collect::<Vec<_>>().join(" "))
    };

    // sprig: more of what charts use
    "tuple" => [], ...Any => |_, _, a| Ok(Value::list(a));
    "sortAlpha" => [Any] => |_, _, a| { let mut v = strslice(&a[0]); v.sort(); Ok(Value::list(v.into_iter().map(Value::from).collect())) };
    "uniq" => [Any] => |st, _, a| {
        let l = list_of(&a[0], "find uniq")?;
        st.steps(l.len().saturating_mul(l.len()) / 8)?;
        let mut out: Vec<Value> = Vec::new();
        for x in l.iter() { if !out.iter().any(|y| deep_eq(x, y, 0)) { out.push(x.clone()); } }
        Ok(Value::list(out))
    };
    "has" => [Any, Any] => |_, _, a| Ok(Value::Bool(match &a[1] { Value::List(l) => l.iter().any(|x| deep_eq(x, &a[0], 0)), Value::Nil => false, v => return msg(format!("Cannot find has on type {}", go_kind(v))) }));
    "without" => [Any], ...Any => |_, _, a| { let l = list_of(&a[0], "find without")?; Ok(Value::list(l.iter().filter(|x| !a[1..].iter().any(|y| deep_eq(x, y, 0))).cloned().collect())) };
    "rest" => [Any] => |_, _, a| { let l = list_of(&a[0], "find rest")?; Ok(Value::list(l.iter().skip(1).cloned().collect())) };
    "initial" => [Any] => |_, _, a| { let l = list_of(&a[0], "find initial")?; Ok(Value::list(l[..l.len().saturating_sub(1)].to_vec())) };
    "reverse" => [Any] => |_, _, a| { let l = list_of(&a[0], "find reverse")?; Ok(Value::list(l.iter().rev().cloned().collect())) };
    "compact" => [Any] => |_, _, a| { let l = list_of(&a[0], "compact")?; Ok(Value::list(l.iter().filter(|x| !empty(x)).cloned().collect())) };
    "nospace" => [S] => |_, _, a| ok_str(s(&a[0]).chars().filter(|c| !c.is_whitespace()).collect::<String>());
    "cat" => [], ...Any => |_, _, a| ok_str(a.iter().filter(|v| !matches!(v, Value::Nil)).map(strval).collect::<Vec<_>>().join(" "));
    "substr" => [I, I, S] => |_, _, a| {
        let (st_, en, x) = (i(&a[0]), i(&a[1]), s(&a[2]));
        let b = x.as_bytes();
        let n = b.len() as i64;
        let cut = |p: i64, q: i64| if p < 0 || q > n || p > q { Err(Fail::Msg(format!("runtime error: slice bounds out of range [{p}:{q}]"))) } else { Ok(String::from_utf8_lossy(&b[p as usize..q as usize]).into_owned()) };
        ok_str(if st_ < 0 { cut(0, en)? } else if en < 0 || en > n { cut(st_, n)? } else { cut(st_, en)? })
    };
    "typeOf" => [Any] => |_, _, a| ok_str(a[0].type_name());
    "kindOf" => [Any] => |_, _, a| ok_str(go_kind(&a[0]));
    "kindIs" => [S, Any] => |_, _, a| Ok(Value::Bool(s(&a[0]) == go_kind(&a[1])));
    "typeIs" => [S, Any] => |_, _, a| Ok(Value::Bool(s(&a[0]) == a[1].type_name()));
    "toPrettyJson" => [Any] => |st, _, a| ok_str(encoded(st, yaml::to_json_pretty(&a[0]))?);
    "fromYamlArray" => [S] => |_, _, a| Ok(yaml::from_yaml_array(s(&a[0])));
    "dig" => [Any], ...Any => |_, _, a| {
        if a.len() < 3 { return msg("dig needs at least three arguments"); }
        let n = a.len();
        let (keys, def, dict) = (&a[..n - 2], &a[n - 2], &a[n - 1]);
        let mut cur = dict.clone();
        for k in keys {
            let next = match &cur { Value::Map(m) => m.borrow().get(s(k)).cloned(), _ => None };
            match next { Some(v) => cur = v, None => return Ok(def.clone()) }
        }
        Ok(cur)
    };
    "omit" => [M], ...S => |_, _, a| { let m = map_of(&a[0]); let out: Map = m.borrow().iter().filter(|(k, _)| !a[1..].iter().any(|x| s(x) == k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(); Ok(Value::map(out)) };
    "pick" => [M], ...S => |_, _, a| { let m = map_of(&a[0]); let out: Map = m.borrow().iter().filter(|(k, _)| a[1..].iter().any(|x| s(x) == k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(); Ok(Value::map(out)) };
    "atoi" => [S] => |_, _, a| Ok(Value::Int(s(&a[0]).parse().unwrap_or(0)));
    "ceil" => [Any] => |_, _, a| Ok(Value::Float(to_f64(&a[0]).ceil()));
    "floor" => [Any] => |_, _, a| Ok(Value::Float(to_f64(&a[0]).floor()));
    "regexFind" => [S, S] => |_, _, a| ok_str(regex(s(&a[0]))?.find(s(&a[1])).map(|m| m.as_str().to_string()).unwrap_or_default());
    "regexFindAll" => [S, S, I] => |_, _, a| {
        let n = i(&a[2]);
        let re = regex(s(&a[0]))?;
        let it = re.find_iter(s(&a[1])).map(|m| Value::from(m.as_str()));
        Ok(Value::list(if n < 0 { it.collect() } else { it.take(n as usize).collect() }))
    };
    "regexSplit" => [S, S, I] => |_, _, a| {
        let n = i(&a[2]);
        let re = regex(s(&a[0]))?;
        if n == 0 { return Ok(Value::list(Vec::new())); }
        let parts: Vec<Value> = if n < 0 { re.split(s(&a[1])).map(Value::from).collect() } else { re.splitn(s(&a[1]), n as usize).map(Value::from).collect() };
        Ok(Value::list(parts))
    };
    "splitn" => [S, I, S] => |_, _, a| {
        let n = i(&a[1]);
        let parts: Vec<&str> = if n < 0 { s(&a[2]).split(s(&a[0])).collect() } else { s(&a[2]).splitn(n as usize, s(&a[0])).collect() };
        Ok(Value::map(parts.into_iter().enumerate().map(|(k, p)| (format!("_{k}"), Value::from(p))).collect()))
    };
    "mustMerge" => [M], ...M => |_, _, a| { let dst = map_of(&a[0]); for src in &a[1..] { let s = map_of(src).borrow().clone(); merge_into(&dst, &s, false, 0); } Ok(Value::Map(dst)) };
    "mustMergeOverwrite" => [M], ...M => |_, _, a| { let dst = map_of(&a[0]); for src in &a[1..] { let s = map_of(src).borrow().clone(); merge_into(&dst, &s, true, 0); } Ok(Value::Map(dst)) };
    "mustRegexMatch" => [S, S] => |_, _, a| Ok(Value::Bool(regex(s(&a[0]))?.is_match(s(&a[1]))));
    "mustRegexReplaceAll" => [S, S, S] => |_, _, a| ok_str(regex(s(&a[0]))?.replace_all(s(&a[1]), go_repl(s(&a[2])).as_str()).into_owned());
    "mustFromJson" => [S] => |_, _, a| Ok(yaml::from_json(s(&a[0])));
    "base" => [S] => |_, _, a| ok_str(go_path_base(s(&a[0])));
    "ext" => [S] => |_, _, a| { let b = s(&a[0]); ok_str(b.rfind(['.', '/']).filter(|i| b.as_bytes()[*i] == b'.').map(|i| &b[i..]).unwrap_or("")) };
    // sprig: conversions and math
    "int" => [Any] => |_, _, a| Ok(Value::Int(to_i64(&a[0])));
    "int64" => [Any] => |_, _, a| Ok(Value::I64(to_i64(&a[0])));
    "float64" => [Any] => |_, _, a| Ok(Value::Float(to_f64(&a[0])));
    "add" => [], ...Any => |_, _, a| { let mut t: i64 = 0; for x in &a { t = t.wrapping_add(to_i64(x)); } Ok(Value::I64(t)) };
    "add1" => [Any] => |_, _, a| Ok(Value::I64(to_i64(&a[0]).wrapping_add(1)));
    "sub" => [Any, Any] => |_, _, a| Ok(Value::I64(to_i64(&a[0]).wrapping_sub(to_i64(&a[1]))));
    "mul" => [Any], ...Any => |_, _, a| num_op(&a, |x, y| Some(x.wrapping_mul(y)), "");
    "div" => [Any, Any] => |_, _, a| num_op(&a, |x, y| x.checked_div(y), "integer divide by zero");
    "mod" => [Any, Any] => |_, _, a| num_op(&a, |x, y| x.checked_rem(y), "integer divide by zero");
    "max" => [Any], ...Any => |_, _, a| Ok(Value::I64(a.iter().map(to_i64).max().unwrap_or(0)));
    "min" => [Any], ...Any => |_, _, a| Ok(Value::I64(a.iter().map(to_i64).min().unwrap_or(0)));
}

/// Whether `version` satisfies `constraint` (Masterminds/semver, as
/// `semverCompare` and Helm's dependency and repository resolution use it).
pub fn semver_matches(constraint: &str, version: &str) -> Result<bool, String> {
    semver_compare(constraint, version).map_err(|e| match e {
        Fail::Msg(m) => m,
        Fail::Done(e) => e.message,
    })
}

/// Orders two versions by semver precedence; `None` when either is not a version.
pub fn semver_order(a: &str, b: &str) -> Option<std::cmp::Ordering> {
    Some(cmp_ver(&parse_ver(a)?, &parse_ver(b)?))
}
