//! `toYaml`/`toJson` as Helm produces them (sigs.k8s.io/yaml over go-yaml v2,
//! and encoding/json), and `fromYaml`/`fromJson`.

use crate::gofmt::{format_float_g, shortest_digits};
use crate::value::{MAX_DEPTH, Map, Value};

/// encoding/json's float formatting.
fn json_float(f: f64) -> String {
    if f.is_nan() || f.is_infinite() {
        return "null".into();
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        // 'e' format, with exponent without leading zero padding beyond 2 digits
        let (neg, digits, exp) = shortest_digits(f);
        let mut s = String::new();
        if neg {
            s.push('-');
        }
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push('e');
        s.push(if exp < 0 { '-' } else { '+' });
        s.push_str(&exp.abs().to_string());
        s
    } else {
        let s = format!("{}", f);
        if s == "-0" { "-0".into() } else { s }
    }
}

fn json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// json.Marshal.
pub fn to_json(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json(&mut out, v, 0)?;
    Ok(out)
}

fn too_long(out: &str) -> Result<(), String> {
    if out.len() > crate::value::output_cap() {
        return Err("encoded value exceeds the output size limit".into());
    }
    Ok(())
}

fn write_json(out: &mut String, v: &Value, depth: usize) -> Result<(), String> {
    too_long(out)?;
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    match v {
        Value::Nil => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Int(i) | Value::I64(i) => out.push_str(&i.to_string()),
        Value::Float(f) => {
            if f.is_nan() || f.is_infinite() {
                return Err(format!("json: unsupported value: {}", format_float_g(*f)));
            }
            out.push_str(&json_float(*f))
        }
        Value::Str(s) => json_string(out, s),
        Value::Object(o) => write_json(out, &o.to_value(), depth + 1)?,
        Value::List(l) => {
            out.push('[');
            for (i, x) in l.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, x, depth + 1)?;
            }
            out.push(']');
        }
        Value::Map(m) => {
            out.push('{');
            for (i, (k, x)) in m.borrow().iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                json_string(out, k);
                out.push(':');
                write_json(out, x, depth + 1)?;
            }
            out.push('}');
        }
    }
    Ok(())
}

/// json.MarshalIndent(v, "", "  ").
pub fn to_json_pretty(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    write_json_pretty(&mut out, v, 0)?;
    Ok(out)
}

fn write_json_pretty(out: &mut String, v: &Value, depth: usize) -> Result<(), String> {
    too_long(out)?;
    if depth > MAX_DEPTH {
        return Err("json: unsupported value: encountered a cycle".into());
    }
    let pad = "  ".repeat(depth + 1);
    let end = "  ".repeat(depth);
    match v {
        Value::List(l) if !l.is_empty() => {
            out.push_str("[\n");
            for (i, x) in l.iter().enumerate() {
                out.push_str(&pad);
                write_json_pretty(out, x, depth + 1)?;
                out.push_str(if i + 1 < l.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end);
            out.push(']');
        }
        Value::Map(m) if !m.borrow().is_empty() => {
            let m = m.borrow();
            out.push_str("{\n");
            for (i, (k, x)) in m.iter().enumerate() {
                out.push_str(&pad);
                json_string(out, k);
                out.push_str(": ");
                write_json_pretty(out, x, depth + 1)?;
                out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
            }
            out.push_str(&end);
            out.push('}');
        }
        v => write_json(out, v, depth)?,
    }
    Ok(())
}

/// yaml.v2 resolve(): does this plain scalar read back as something other than a string?
fn resolves_non_string(s: &str) -> bool {
    const SPECIAL: &[&str] = &[
        "", "~", "null", "Null", "NULL", "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO",
        "true", "True", "TRUE", "false", "False", "FALSE", "on", "On", "ON", "off", "Off", "OFF",
        ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
        ".NaN", ".NAN", "<<",
    ];
    if SPECIAL.contains(&s) {
        return true;
    }
    let first = s.as_bytes()[0];
    if !(first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.')) {
        return false;
    }
    let plain = s.replace('_', "");
    // ints (Go ParseInt base 0), binary
    let (neg_stripped, _) = match plain.strip_prefix(['-', '+']) {
        Some(r) => (r.to_string(), true),
        None => (plain.clone(), false),
    };
    let n = neg_stripped.to_ascii_lowercase();
    if let Some(h) = n.strip_prefix("0x") {
        if !h.is_empty() && h.bytes().all(|c| c.is_ascii_hexdigit()) {
            return true;
        }
    } else if let Some(b) = n.strip_prefix("0b") {
        if !b.is_empty() && b.bytes().all(|c| c == b'0' || c == b'1') {
            return true;
        }
    } else if let Some(o) = n.strip_prefix("0o") {
        if !o.is_empty() && o.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
            return true;
        }
    } else if !n.is_empty() && n.bytes().all(|c| c.is_ascii_digit()) {
        return true;
    }
    // yaml float: ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$
    if is_yaml_float(&plain) {
        return true;
    }
    // timestamps (yyyy-mm-dd...)
    let b = s.as_bytes();
    if b.len() >= 10
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b[5..7].iter().all(u8::is_ascii_digit)
        && b[7] == b'-'
        && b[8..10].iter().all(u8::is_ascii_digit)
    {
        return true;
    }
    false
}

fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let mant_ok = if let Some(frac) = mant.strip_prefix('.') {
        !frac.is_empty() && frac.bytes().all(|c| c.is_ascii_digit())
    } else {
        let (a, b) = mant.split_once('.').unwrap_or((mant, ""));
        !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    };
    let exp_ok = match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        }
    };
    mant_ok && exp_ok
}

/// yaml_emitter_analyze_scalar's verdict on plain style (block context).
fn plain_allowed(s: &str) -> bool {
    let b = s.as_bytes();
    if b.is_empty() {
        return false;
    }
    if s.starts_with("---") || s.starts_with("...") {
        return false;
    }
    let first = b[0];
    if matches!(
        first,
        b'#' | b','
            | b'['
            | b']'
            | b'{'
            | b'}'
            | b'&'
            | b'*'
            | b'!'
            | b'|'
            | b'>'
            | b'\''
            | b'"'
            | b'%'
            | b'@'
            | b'`'
    ) {
        return false;
    }
    if (first == b'-' || first == b'?' || first == b':')
        && (b.len() == 1 || b[1] == b' ' || b[1] == b'\t')
    {
        return false;
    }
    if b[0] == b' ' || b[b.len() - 1] == b' ' || b[0] == b'\t' || b[b.len() - 1] == b'\t' {
        return false;
    }
    for (i, &c) in b.iter().enumerate() {
        if c == b':' && (i + 1 == b.len() || b[i + 1] == b' ' || b[i + 1] == b'\t') {
            return false;
        }
        if c == b'#' && i > 0 && (b[i - 1] == b' ' || b[i - 1] == b'\t') {
            return false;
        }
        if c < 0x20 || c == 0x7f {
            return false;
        }
    }
    !s.chars().any(|c| !is_printable(c))
}

fn is_printable(c: char) -> bool {
    let u = c as u32;
    u == 0x0a
        || (0x20..=0x7e).contains(&u)
        || u == 0x85
        || (0xa0..=0xd7ff).contains(&u)
        || ((0xe000..=0xfffd).contains(&u) && u != 0xfeff)
        || (0x10000..=0x10ffff).contains(&u)
}

fn escape_dq(c: char) -> String {
    let mut out = String::new();
    {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\x0b' => out.push_str("\\v"),
            '\x0c' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            '\x1b' => out.push_str("\\e"),
            '\u{85}' => out.push_str("\\N"),
            '\u{a0}' => out.push_str("\\_"),
            '\u{2028}' => out.push_str("\\L"),
            '\u{2029}' => out.push_str("\\P"),
            c if !is_printable(c) || c == '\u{feff}' => {
                let u = c as u32;
                if u <= 0xff {
                    out.push_str(&format!("\\x{u:02X}"))
                } else if u <= 0xffff {
                    out.push_str(&format!("\\u{u:04X}"))
                } else {
                    out.push_str(&format!("\\U{u:08X}"))
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// A double-quoted scalar, folded at 80 columns as libyaml's emitter does:
/// a space past the width becomes a line break (escaped with `\` when the
/// next character is a space too).
fn double_quoted(s: &str, indent: usize, start_col: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    let mut out = String::from("\"");
    let mut col = start_col + 1;
    let mut spaces = false;
    for (i, &c) in chars.iter().enumerate() {
        if c == ' ' {
            if !spaces && col > 80 && i != 0 && i + 1 != chars.len() {
                out.push('\n');
                out.push_str(&" ".repeat(indent));
                col = indent;
                if chars.get(i + 1) == Some(&' ') {
                    out.push('\\');
                    col += 1;
                }
            } else {
                out.push(' ');
                col += 1;
            }
            spaces = true;
        } else {
            let e = escape_dq(c);
            col += e.chars().count();
            out.push_str(&e);
            spaces = false;
        }
    }
    out.push('"');
    out
}

/// Folds a plain or single-quoted scalar at 80 columns, as go-yaml v2 does
/// (a break replaces a single space once the line passes the width).
fn fold(s: &str, indent: usize, start_col: usize) -> String {
    let mut out = String::new();
    let mut col = start_col;
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == ' '
            && col > 80
            && i + 1 < chars.len()
            && chars[i + 1] != ' '
            && i > 0
            && chars[i - 1] != ' '
        {
            out.push('\n');
            out.push_str(&" ".repeat(indent));
            col = indent;
        } else {
            out.push(c);
            col += 1;
        }
        i += 1;
    }
    out
}

fn scalar_string(s: &str, indent: usize, col: usize) -> String {
    if s.contains('\n') {
        if s.chars().all(is_printable) && !s.contains(" \n") && !s.contains("\n ")
            || (s.contains("\n ") && !s.contains(" \n") && s.chars().all(is_printable))
        {
            return literal(s, indent);
        }
        return double_quoted(s, indent, col);
    }
    if resolves_non_string(s) {
        return double_quoted(s, indent, col);
    }
    if plain_allowed(s) {
        return fold(s, indent, col);
    }
    if s.chars().all(is_printable) && !s.starts_with(' ') && !s.ends_with(' ')
        || s.chars().all(is_printable)
    {
        return format!("'{}'", fold(&s.replace('\'', "''"), indent, col + 1));
    }
    double_quoted(s, indent, col)
}

fn literal(s: &str, indent: usize) -> String {
    let chomp = if !s.ends_with('\n') {
        "-"
    } else if s.ends_with("\n\n") || s == "\n" {
        "+"
    } else {
        ""
    };
    let ind = if s.starts_with(' ') || s.starts_with('\n') {
        "2"
    } else {
        ""
    };
    let mut out = format!("|{ind}{chomp}");
    let body = s.strip_suffix('\n').unwrap_or(s);
    let body = if chomp == "+" {
        s.strip_suffix('\n').unwrap_or(s)
    } else {
        body
    };
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&" ".repeat(indent));
            out.push_str(line);
        }
    }
    out
}

fn scalar(v: &Value, indent: usize, col: usize) -> Option<String> {
    if let Value::Object(o) = v {
        return scalar(&o.to_value(), indent, col);
    }
    Some(match v {
        Value::Nil => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) | Value::I64(i) => i.to_string(),
        Value::Float(f) => {
            if f.fract() == 0.0 && f.abs() < 1e21 {
                format!("{}", *f as i128)
            } else if f.is_nan() {
                ".nan".into()
            } else if f.is_infinite() {
                if *f > 0.0 {
                    ".inf".into()
                } else {
                    "-.inf".into()
                }
            } else {
                format_float_g(*f)
            }
        }
        Value::Str(s) => scalar_string(s, indent, col),
        Value::List(l) if l.is_empty() => "[]".into(),
        Value::Map(m) if m.borrow().is_empty() => "{}".into(),
        _ => return None,
    })
}

/// yaml.Marshal output (with the trailing newline).
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    match scalar(v, 2, 0) {
        Some(s) => {
            out.push_str(&s);
            out.push('\n');
        }
        None => write_block(&mut out, v, 0, 0)?,
    }
    Ok(out)
}

fn write_block(out: &mut String, v: &Value, indent: usize, depth: usize) -> Result<(), String> {
    too_long(out)?;
    if depth > MAX_DEPTH {
        return Err("value nesting too deep".into());
    }
    if let Value::Object(o) = v {
        return write_block(out, &o.to_value(), indent, depth + 1);
    }
    let pad = " ".repeat(indent);
    match v {
        Value::Map(m) => {
            let m = m.borrow();
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                let key = scalar_string(k, indent + 2, indent);
                out.push_str(&key);
                out.push(':');
                let col = indent + key.chars().count() + 2;
                match scalar(x, indent + 2, col) {
                    Some(s) => {
                        out.push(' ');
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => {
                        out.push('\n');
                        let child = if matches!(x, Value::List(_)) {
                            indent
                        } else {
                            indent + 2
                        };
                        write_block(out, x, child, depth + 1)?;
                    }
                }
            }
        }
        Value::List(l) => {
            for (i, x) in l.iter().enumerate() {
                if i > 0 || !out.ends_with("- ") {
                    out.push_str(&pad);
                }
                out.push_str("- ");
                match scalar(x, indent + 2, indent + 2) {
                    Some(s) => {
                        out.push_str(&s);
                        out.push('\n');
                    }
                    None => write_block(out, x, indent + 2, depth + 1)?,
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Values read as Helm reads JSON: every number a float64.
fn json_to_value(v: serde_json::Value) -> Value {
    Value::from_json_helm(&v)
}

/// Helm's fromYaml: a map, or a map holding `Error` on failure.
pub fn from_yaml(s: &str) -> Value {
    match crate::yaml11::parse(s) {
        Ok(None) | Ok(Some(Value::Nil)) => Value::map(Map::new()),
        Ok(Some(v @ Value::Map(_))) => v,
        Ok(Some(other)) => error_map(&format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            json_kind(&other)
        )),
        Err(e) => error_map(&format!("error converting YAML to JSON: {e}")),
    }
}

/// Helm's fromYamlArray: a list, or a one-element list holding the error.
pub fn from_yaml_array(s: &str) -> Value {
    match crate::yaml11::parse(s) {
        Ok(None) | Ok(Some(Value::Nil)) => Value::list(Vec::new()),
        Ok(Some(v @ Value::List(_))) => v,
        Ok(Some(other)) => Value::list(vec![Value::str(format!(
            "error unmarshaling JSON: while decoding JSON: json: cannot unmarshal {} into Go value of type []interface {{}}",
            json_kind(&other)
        ))]),
        Err(e) => Value::list(vec![Value::str(format!(
            "error converting YAML to JSON: {e}"
        ))]),
    }
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::List(_) => "array",
        Value::Map(_) => "object",
        Value::Str(_) => "string",
        Value::Bool(_) => "bool",
        _ => "number",
    }
}

pub fn from_json(s: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v @ serde_json::Value::Object(_)) => json_to_value(v),
        Ok(serde_json::Value::Null) => Value::Nil,
        Ok(other) => error_map(&format!(
            "json: cannot unmarshal {} into Go value of type map[string]interface {{}}",
            match other {
                serde_json::Value::Array(_) => "array",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            }
        )),
        Err(e) => error_map(&go_json_error(s, &e)),
    }
}

/// encoding/json's syntax error for `s`: its scanner's states and wording (serde_json found
/// the error; this says it as Go does). Iterative, so nesting cannot overflow the stack.
fn go_json_error(s: &str, e: &serde_json::Error) -> String {
    go_json_syntax(s).unwrap_or_else(|| e.to_string())
}

fn quote_char(c: char) -> String {
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = crate::gofmt::go_quote(&c.to_string());
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

pub(crate) fn go_json_syntax(s: &str) -> Option<String> {
    #[derive(Clone, Copy, PartialEq)]
    enum Ctx {
        Obj,
        Arr,
    }
    #[derive(Clone, Copy, PartialEq)]
    enum St {
        Value,
        ObjKeyOrEnd,
        ObjKey,
        Colon,
        ObjNext,
        ArrValueOrEnd,
        ArrNext,
        Top,
    }
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    let mut stack: Vec<Ctx> = Vec::new();
    let mut st = St::Value;
    let bad = |c: char, ctx: &str| Some(format!("invalid character {} {ctx}", quote_char(c)));
    let ws = |c: char| matches!(c, ' ' | '\t' | '\n' | '\r');
    loop {
        while i < chars.len() && ws(chars[i]) {
            i += 1;
        }
        let Some(&c) = chars.get(i) else {
            return if st == St::Top {
                None
            } else {
                Some("unexpected end of JSON input".into())
            };
        };
        let after_value = |stack: &Vec<Ctx>| match stack.last() {
            Some(Ctx::Obj) => St::ObjNext,
            Some(Ctx::Arr) => St::ArrNext,
            None => St::Top,
        };
        match st {
            St::Top => return bad(c, "after top-level value"),
            St::Colon => {
                if c != ':' {
                    return bad(c, "after object key");
                }
                i += 1;
                st = St::Value;
                continue;
            }
            St::ObjNext => {
                i += 1;
                match c {
                    ',' => st = St::ObjKey,
                    '}' => {
                        stack.pop();
                        st = after_value(&stack);
                    }
                    _ => return bad(c, "after object key:value pair"),
                }
                continue;
            }
            St::ArrNext => {
                i += 1;
                match c {
                    ',' => st = St::Value,
                    ']' => {
                        stack.pop();
                        st = after_value(&stack);
                    }
                    _ => return bad(c, "after array element"),
                }
                continue;
            }
            St::ObjKeyOrEnd | St::ObjKey => {
                if c == '}' && st == St::ObjKeyOrEnd {
                    i += 1;
                    stack.pop();
                    st = after_value(&stack);
                    continue;
                }
                if c != '"' {
                    return bad(c, "looking for beginning of object key string");
                }
            }
            St::ArrValueOrEnd if c == ']' => {
                i += 1;
                stack.pop();
                st = after_value(&stack);
                continue;
            }
            St::Value | St::ArrValueOrEnd => {}
        }
        let is_key = matches!(st, St::ObjKeyOrEnd | St::ObjKey);
        // a value (or a key string)
        match c {
            '{' => {
                i += 1;
                stack.push(Ctx::Obj);
                st = St::ObjKeyOrEnd;
                continue;
            }
            '[' => {
                i += 1;
                stack.push(Ctx::Arr);
                st = St::ArrValueOrEnd;
                continue;
            }
            '"' => {
                i += 1;
                loop {
                    let Some(&d) = chars.get(i) else {
                        return Some("unexpected end of JSON input".into());
                    };
                    i += 1;
                    match d {
                        '"' => break,
                        '\\' => {
                            let Some(&e) = chars.get(i) else {
                                return Some("unexpected end of JSON input".into());
                            };
                            i += 1;
                            match e {
                                '"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't' => {}
                                'u' => {
                                    for _ in 0..4 {
                                        let Some(&h) = chars.get(i) else {
                                            return Some("unexpected end of JSON input".into());
                                        };
                                        if !h.is_ascii_hexdigit() {
                                            return bad(h, "in \\u hexadecimal character escape");
                                        }
                                        i += 1;
                                    }
                                }
                                e => return bad(e, "in string escape code"),
                            }
                        }
                        d if (d as u32) < 0x20 => return bad(d, "in string literal"),
                        _ => {}
                    }
                }
                st = if is_key {
                    St::Colon
                } else {
                    after_value(&stack)
                };
                continue;
            }
            _ => {}
        }
        if c == '-' || c.is_ascii_digit() {
            if c == '-' {
                i += 1;
                match chars.get(i) {
                    None => return Some("unexpected end of JSON input".into()),
                    Some(d) if d.is_ascii_digit() => {}
                    Some(&d) => return bad(d, "in numeric literal"),
                }
            }
            if chars[i] == '0' {
                i += 1;
            } else {
                while chars.get(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
            }
            if chars.get(i) == Some(&'.') {
                i += 1;
                match chars.get(i) {
                    None => return Some("unexpected end of JSON input".into()),
                    Some(d) if d.is_ascii_digit() => {}
                    Some(&d) => return bad(d, "after decimal point in numeric literal"),
                }
                while chars.get(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
            }
            if matches!(chars.get(i), Some('e' | 'E')) {
                i += 1;
                if matches!(chars.get(i), Some('+' | '-')) {
                    i += 1;
                }
                match chars.get(i) {
                    None => return Some("unexpected end of JSON input".into()),
                    Some(d) if d.is_ascii_digit() => {}
                    Some(&d) => return bad(d, "in exponent of numeric literal"),
                }
                while chars.get(i).is_some_and(|d| d.is_ascii_digit()) {
                    i += 1;
                }
            }
            st = after_value(&stack);
            continue;
        }
        for lit in ["true", "false", "null"] {
            if c == lit.chars().next().unwrap_or(' ') {
                i += 1;
                for want in lit.chars().skip(1) {
                    match chars.get(i) {
                        None => return Some("unexpected end of JSON input".into()),
                        Some(&d) if d == want => i += 1,
                        Some(&d) => {
                            return bad(
                                d,
                                &format!("in literal {lit} (expecting {})", quote_char(want)),
                            );
                        }
                    }
                }
                st = after_value(&stack);
                break;
            }
        }
        if matches!(c, 't' | 'f' | 'n') {
            continue;
        }
        return bad(c, "looking for beginning of value");
    }
}

fn error_map(msg: &str) -> Value {
    let mut m = Map::new();
    m.insert("Error".into(), Value::str(msg));
    Value::map(m)
}

#[cfg(test)]
mod json_error_tests {
    use super::go_json_syntax;

    #[test]
    fn go_wording() {
        let cases = [
            (
                "{not json}",
                "invalid character 'n' looking for beginning of object key string",
            ),
            ("{\"a\" 1}", "invalid character '1' after object key"),
            (
                "{\"a\":1 \"b\"}",
                "invalid character '\"' after object key:value pair",
            ),
            ("[1 2]", "invalid character '2' after array element"),
            ("tru", "unexpected end of JSON input"),
            (
                "trux",
                "invalid character 'x' in literal true (expecting 'e')",
            ),
            (
                "1.x",
                "invalid character 'x' after decimal point in numeric literal",
            ),
            ("{} x", "invalid character 'x' after top-level value"),
            (
                "'a'",
                "invalid character '\\'' looking for beginning of value",
            ),
            (
                "{\"a\":1,}",
                "invalid character '}' looking for beginning of object key string",
            ),
        ];
        for (input, want) in cases {
            assert_eq!(go_json_syntax(input).as_deref(), Some(want), "{input}");
        }
        assert_eq!(
            go_json_syntax("{\"a\": [1, 2.5e3, true, null, \"x\\u00e9\"]}"),
            None
        );
    }
}
