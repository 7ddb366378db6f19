//! Runtime values: what Go's `interface{}` holds in a Helm render.
//!
//! Maps are shared by reference (as Go maps are), so `set`/`unset`/`merge`
//! mutate a dict that other variables also see.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

pub type Map = BTreeMap<String, Value>;

#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Go's nil interface (missing keys, `nil`, YAML null).
    #[default]
    Nil,
    Bool(bool),
    /// Go `int` (template literals, `len`, `int`, `atoi`).
    Int(i64),
    /// Go `int64` (`int64`, sprig's math: `add`, `sub`, `mul`, `max`, ...). Printed and compared
    /// as `Int`, but Go's type switches tell them apart (`duration`, `typeOf`, `deepEqual`).
    I64(i64),
    /// Go `float64` (every number in Helm values is one).
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    Map(Rc<RefCell<Map>>),
    /// A Go value with fields and methods (Helm's `.Files`,
    /// `.Capabilities.APIVersions`, ...).
    Object(Rc<dyn Object>),
}

/// A value with fields and methods, as Helm's render context holds them
/// (`.Files.Get "x"`, `.Capabilities.APIVersions.Has "apps/v1"`).
pub trait Object: std::fmt::Debug {
    /// Go's type name, as error messages print it.
    fn type_name(&self) -> &'static str;
    /// The field or method `name` called with `args` (empty for a field or a
    /// method without arguments); `None` when the type has no such member.
    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
    /// The value as plain data: what `range`, `len`, `index`, `toYaml` and
    /// comparisons see.
    fn to_value(&self) -> Value;
    /// How Go's fmt prints it (`print`, `printf`, `quote`), when not as its plain data.
    fn display(&self) -> Option<String> {
        None
    }
    /// How an action prints it (`{{ .X }}`), when that differs from fmt: a
    /// `String()` method on the pointer is used by text/template only.
    fn template_text(&self) -> Option<String> {
        self.display()
    }
    /// The object as `Any`, for methods whose arguments must be objects of their own type
    /// (`.LessThan (semver "2.0.0")`).
    fn as_any(&self) -> Option<&dyn std::any::Any> {
        None
    }
}

impl Value {
    pub fn str(s: impl Into<Rc<str>>) -> Value {
        Value::Str(s.into())
    }
    pub fn list(v: Vec<Value>) -> Value {
        Value::List(Rc::new(v))
    }
    pub fn map(m: Map) -> Value {
        Value::Map(Rc::new(RefCell::new(m)))
    }

    /// Go's type name, as error messages print it.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "<nil>",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::I64(_) => "int64",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
            Value::Object(o) => o.type_name(),
        }
    }

    /// Go template truth (`if`, `and`, `or`, `not`).
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) | Value::I64(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
            Value::Object(o) => o.to_value().truth(),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Converts JSON into a value as Helm sees it: every number a float64
    /// (Helm reads values through sigs.k8s.io/yaml, i.e. encoding/json).
    pub fn from_json_helm(v: &serde_json::Value) -> Value {
        Self::from_json_inner(v, true)
    }

    /// Converts JSON keeping integers as Go ints.
    pub fn from_json(v: &serde_json::Value) -> Value {
        Self::from_json_inner(v, false)
    }

    fn from_json_inner(v: &serde_json::Value, floats: bool) -> Value {
        match v {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if !floats && let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    Value::Float(n.as_f64().unwrap_or(0.0))
                }
            }
            serde_json::Value::String(s) => Value::str(s.as_str()),
            serde_json::Value::Array(a) => {
                Value::list(a.iter().map(|x| Self::from_json_inner(x, floats)).collect())
            }
            serde_json::Value::Object(o) => Value::map(
                o.iter()
                    .map(|(k, x)| (k.clone(), Self::from_json_inner(x, floats)))
                    .collect(),
            ),
        }
    }

    /// Converts to JSON (ints stay ints, floats stay floats); nesting is
    /// bounded so a dict that contains itself cannot recurse forever.
    pub fn to_json(&self) -> serde_json::Value {
        self.to_json_depth(0)
    }

    fn to_json_depth(&self, depth: usize) -> serde_json::Value {
        if depth > MAX_DEPTH {
            return serde_json::Value::Null;
        }
        match self {
            Value::Nil => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) | Value::I64(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => {
                serde_json::Value::Array(l.iter().map(|x| x.to_json_depth(depth + 1)).collect())
            }
            Value::Map(m) => serde_json::Value::Object(
                m.borrow()
                    .iter()
                    .map(|(k, x)| (k.clone(), x.to_json_depth(depth + 1)))
                    .collect(),
            ),
            Value::Object(o) => o.to_value().to_json_depth(depth + 1),
        }
    }

    /// The value itself, or an object's plain data.
    pub fn plain(&self) -> Value {
        match self {
            Value::Object(o) => o.to_value(),
            v => v.clone(),
        }
    }

    /// A deep copy of at most `budget` nodes (`None` past it): aliased YAML
    /// can make a small value stand for an enormous tree.
    pub fn deep_copy(&self, budget: &mut usize) -> Option<Value> {
        self.deep_copy_depth(0, budget)
    }
    fn deep_copy_depth(&self, depth: usize, budget: &mut usize) -> Option<Value> {
        if depth > MAX_DEPTH || *budget == 0 {
            return None;
        }
        *budget -= 1;
        Some(match self {
            Value::List(l) => {
                let mut v = Vec::with_capacity(l.len());
                for x in l.iter() {
                    v.push(x.deep_copy_depth(depth + 1, budget)?);
                }
                Value::list(v)
            }
            Value::Map(m) => {
                let mut out = Map::new();
                for (k, x) in m.borrow().iter() {
                    out.insert(k.clone(), x.deep_copy_depth(depth + 1, budget)?);
                }
                Value::map(out)
            }
            v => v.clone(),
        })
    }
}

/// Nesting bound for printing, encoding and copying values.
pub const MAX_DEPTH: usize = 200;

thread_local! {
    static OUTPUT_CAP: std::cell::Cell<usize> = const { std::cell::Cell::new(usize::MAX) };
}

/// The most bytes one printed or encoded value may take (the execution's
/// output bound): writers stop there, and the caller's output check fails.
pub fn output_cap() -> usize {
    OUTPUT_CAP.with(|c| c.get())
}

pub(crate) fn set_output_cap(n: usize) -> usize {
    OUTPUT_CAP.with(|c| c.replace(n))
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::str(s)
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::str(s)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Value {
        Value::Int(i)
    }
}

/// Go strings hold bytes, a Rust `str` holds UTF-8: bytes that are not valid
/// UTF-8 (a binary file read with `.Files.Get`) are carried as the
/// private-use characters U+10FF00 + byte, and [`to_go_bytes`] restores them
/// where bytes are consumed (`b64enc`, `sha256sum`, `len`).
pub fn from_go_bytes(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for chunk in b.utf8_chunks() {
        out.push_str(chunk.valid());
        for &x in chunk.invalid() {
            out.push(char::from_u32(0x10FF00 + x as u32).unwrap_or('\u{FFFD}'));
        }
    }
    out
}

/// The bytes a string stands for (see [`from_go_bytes`]).
pub fn to_go_bytes(s: &str) -> std::borrow::Cow<'_, [u8]> {
    if !s
        .chars()
        .any(|c| (0x10FF00..=0x10FFFF).contains(&(c as u32)))
    {
        return std::borrow::Cow::Borrowed(s.as_bytes());
    }
    let mut out = Vec::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        if (0x10FF00..=0x10FFFF).contains(&u) {
            out.push((u - 0x10FF00) as u8);
        } else {
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
        }
    }
    std::borrow::Cow::Owned(out)
}

/// A method's argument count as Go checks it when a template calls it: `wrong number of args for
/// NAME: want N got M`.
pub fn want_args(name: &str, args: &[Value], n: usize) -> Result<(), String> {
    if args.len() != n {
        return Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ));
    }
    Ok(())
}
