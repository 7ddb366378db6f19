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
    /// Go `int`/`int64`.
    Int(i64),
    /// Go `float64` (every number in Helm values is one).
    Float(f64),
    Str(Rc<str>),
    List(Rc<Vec<Value>>),
    Map(Rc<RefCell<Map>>),
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
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::List(_) => "[]interface {}",
            Value::Map(_) => "map[string]interface {}",
        }
    }

    /// Go template truth (`if`, `and`, `or`, `not`).
    pub fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::List(l) => !l.is_empty(),
            Value::Map(m) => !m.borrow().is_empty(),
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
            Value::Int(i) => serde_json::Value::from(*i),
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
