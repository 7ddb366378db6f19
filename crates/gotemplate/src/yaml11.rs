//! YAML read as Helm reads it: go-yaml v2 (YAML 1.1 scalars: `yes`/`no`/`on`/`off`
//! are booleans, `0777` is octal), then through JSON, so every number is a float64
//! and every key a string.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, Parser};
use yaml_rust2::scanner::TScalarStyle;

use crate::value::{Map, Value};

const MAX_NODES: usize = 1_000_000;
const MAX_DEPTH: usize = 500;

enum Frame {
    Seq(Vec<Value>, usize),
    Map(Map, Option<String>, usize, Vec<Value>),
}

/// Parses the first document; `Ok(None)` for an empty stream. Like the
/// YAML-to-JSON conversion Helm runs, infinities and NaN are refused.
pub fn parse(s: &str) -> Result<Option<Value>, String> {
    let v = parse_raw(s)?;
    if let Some(v) = &v
        && let Some(f) = non_finite(v, 0, &mut std::collections::HashSet::new())
    {
        return Err(format!(
            "json: unsupported value: {}",
            crate::gofmt::format_float_g(f)
        ));
    }
    Ok(v)
}

/// The first infinity or NaN; shared (aliased) nodes are visited once.
fn non_finite(v: &Value, depth: usize, seen: &mut std::collections::HashSet<usize>) -> Option<f64> {
    if depth > MAX_DEPTH {
        return None;
    }
    match v {
        Value::Float(f) if !f.is_finite() => Some(*f),
        Value::List(l) => {
            if !seen.insert(std::rc::Rc::as_ptr(l) as *const u8 as usize) {
                return None;
            }
            l.iter().find_map(|x| non_finite(x, depth + 1, seen))
        }
        Value::Map(m) => {
            if !seen.insert(std::rc::Rc::as_ptr(m) as *const u8 as usize) {
                return None;
            }
            m.borrow()
                .values()
                .find_map(|x| non_finite(x, depth + 1, seen))
        }
        _ => None,
    }
}

fn parse_raw(s: &str) -> Result<Option<Value>, String> {
    let mut p = Parser::new_from_str(s);
    let mut stack: Vec<Frame> = Vec::new();
    let mut anchors: HashMap<usize, Value> = HashMap::new();
    let mut nodes = 0usize;
    // Nodes as if every alias were expanded (what converting to JSON builds): an alias adds
    // its anchor's whole size, so a small alias bomb is refused here, not when copied.
    let mut expanded = 0usize;
    let mut starts: Vec<usize> = Vec::new();
    let mut sizes: HashMap<usize, usize> = HashMap::new();
    loop {
        let (ev, mark) = p.next_token().map_err(|e| {
            // go-yaml v2's wording: no line number for an error on the first line
            let line = e.marker().line();
            if line > 1 {
                format!("yaml: line {line}: {}", e.info())
            } else {
                format!("yaml: {}", e.info())
            }
        })?;
        let line = mark.line();
        let value = match ev {
            Event::StreamEnd => return Ok(None),
            Event::Nothing | Event::StreamStart | Event::DocumentStart | Event::DocumentEnd => {
                continue;
            }
            Event::SequenceStart(anchor, _) => {
                if stack.len() > MAX_DEPTH {
                    return Err(format!("yaml: line {line}: exceeded max depth"));
                }
                stack.push(Frame::Seq(Vec::new(), anchor));
                starts.push(expanded);
                continue;
            }
            Event::MappingStart(anchor, _) => {
                if stack.len() > MAX_DEPTH {
                    return Err(format!("yaml: line {line}: exceeded max depth"));
                }
                stack.push(Frame::Map(Map::new(), None, anchor, Vec::new()));
                starts.push(expanded);
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(v, anchor)) => {
                    let v = Value::list(v);
                    let start = starts.pop().unwrap_or(0);
                    if anchor > 0 {
                        anchors.insert(anchor, v.clone());
                        sizes.insert(anchor, expanded - start + 1);
                    }
                    v
                }
                _ => return Err("yaml: unbalanced sequence".into()),
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(mut m, _, anchor, merges)) => {
                    // merge keys never override explicit keys
                    for mv in merges {
                        let srcs = match &mv {
                            Value::List(l) => l.iter().cloned().collect(),
                            v => vec![v.clone()],
                        };
                        for src in srcs {
                            if let Value::Map(sm) = src {
                                for (k, v) in sm.borrow().iter() {
                                    m.entry(k.clone()).or_insert_with(|| v.clone());
                                }
                            }
                        }
                    }
                    let v = Value::map(m);
                    let start = starts.pop().unwrap_or(0);
                    if anchor > 0 {
                        anchors.insert(anchor, v.clone());
                        sizes.insert(anchor, expanded - start + 1);
                    }
                    v
                }
                _ => return Err("yaml: unbalanced mapping".into()),
            },
            Event::Alias(id) => match anchors.get(&id) {
                Some(v) => {
                    // the alias stands for its anchor's nodes (one is counted below)
                    expanded += sizes.get(&id).copied().unwrap_or(1).saturating_sub(1);
                    v.clone()
                }
                None => return Err(format!("yaml: line {line}: unknown anchor referenced")),
            },
            Event::Scalar(text, style, anchor, tag) => {
                let v = if let Some(t) = &tag
                    && t.suffix == "str"
                {
                    Value::str(text.as_str())
                } else if style == TScalarStyle::Plain {
                    resolve(&text)
                } else {
                    Value::str(text.as_str())
                };
                if anchor > 0 {
                    anchors.insert(anchor, v.clone());
                }
                // a plain `<<` key is a merge
                if style == TScalarStyle::Plain
                    && text == "<<"
                    && let Some(Frame::Map(_, key @ None, ..)) = stack.last_mut()
                {
                    *key = Some("\u{0}<<".into());
                    continue;
                }
                v
            }
        };
        nodes += 1;
        expanded += 1;
        if nodes > MAX_NODES || expanded > MAX_NODES {
            return Err(format!(
                "yaml: line {line}: the document expands to more than {MAX_NODES} nodes (aliases included)"
            ));
        }
        match stack.last_mut() {
            None => return Ok(Some(value)),
            Some(Frame::Seq(v, _)) => v.push(value),
            Some(Frame::Map(m, key, _, merges)) => match key.take() {
                None => {
                    let k = match &value {
                        Value::Str(s) => s.to_string(),
                        Value::Nil => "null".to_string(),
                        Value::Bool(_) | Value::Int(_) | Value::I64(_) | Value::Float(_) => {
                            crate::gofmt::sprint_value(&value)
                        }
                        _ => {
                            return Err(format!(
                                "error converting YAML to JSON: yaml: line {line}: invalid map key: {}",
                                crate::gofmt::sprint_value(&value)
                            ));
                        }
                    };
                    *key = Some(k);
                }
                Some(k) if k == "\u{0}<<" => merges.push(value),
                Some(k) => {
                    m.insert(k, value);
                }
            },
        }
    }
}

/// yaml.v2's resolve() for plain scalars, numbers as float64 (via JSON).
fn resolve(s: &str) -> Value {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Nil,
        "y" | "Y" | "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => {
            return Value::Bool(true);
        }
        "n" | "N" | "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => {
            return Value::Bool(false);
        }
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'.') {
        let plain = s.replace('_', "");
        if let Some(i) = go_parse_int(&plain) {
            return Value::Float(i as f64);
        }
        if is_float(&plain)
            && let Ok(f) = plain.parse::<f64>()
        {
            return Value::Float(f);
        }
    }
    Value::str(s)
}

/// strconv.ParseInt(s, 0, 64).
fn go_parse_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) =
        if let Some(h) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
            (16, h)
        } else if let Some(b) = body.strip_prefix("0b").or_else(|| body.strip_prefix("0B")) {
            (2, b)
        } else if let Some(o) = body.strip_prefix("0o").or_else(|| body.strip_prefix("0O")) {
            (8, o)
        } else if body.len() > 1 && body.starts_with('0') {
            (8, &body[1..])
        } else {
            (10, body)
        };
    if digits.is_empty() || digits.starts_with(['+', '-']) {
        return None;
    }
    let v = i64::from_str_radix(digits, radix).ok()?;
    Some(if neg { -v } else { v })
}

fn is_float(s: &str) -> bool {
    let t = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let mant_ok = if let Some(f) = mant.strip_prefix('.') {
        !f.is_empty() && f.bytes().all(|c| c.is_ascii_digit())
    } else {
        let (a, b) = mant.split_once('.').unwrap_or((mant, ""));
        !a.is_empty()
            && a.bytes().all(|c| c.is_ascii_digit())
            && b.bytes().all(|c| c.is_ascii_digit())
    };
    mant_ok
        && exp.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && e.bytes().all(|c| c.is_ascii_digit())
        })
}
