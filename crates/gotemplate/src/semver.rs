//! sprig's `semver`: a `*semver.Version` of Masterminds/semver v3 (the 3.4 that Helm 4 links),
//! with its methods as templates call them (`.Major`, `.Prerelease`, `.IncMinor`,
//! `.LessThan (semver "2.0.0")`, ...). `NewVersion` coerces (`1.2` is `1.2.0`, leading zeros in
//! the numbers are dropped) and checks the prerelease and metadata.

use std::cmp::Ordering;
use std::rc::Rc;
use std::sync::OnceLock;

use crate::value::want_args;
use crate::value::{Object, Value};

/// A parsed version (Masterminds' `Version`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    pub pre: String,
    pub metadata: String,
    pub original: String,
}

const NUM: &str = "0123456789";

fn allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-'
}

fn loose_regex() -> &'static regex::Regex {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::Regex::new(
            r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$",
        )
        .expect("the version regex")
    })
}

/// Go's `strconv.ParseUint(s, 10, 64)` of a string of digits, with NewVersion's wrapping.
fn segment(digits: &str) -> Result<u64, String> {
    digits.parse::<u64>().map_err(|_| {
        format!(
            "error parsing version segment: strconv.ParseUint: parsing {}: value out of range",
            crate::gofmt::go_quote(digits)
        )
    })
}

fn validate_prerelease(p: &str) -> Result<(), String> {
    for part in p.split('.') {
        if part.is_empty() {
            return Err("invalid prerelease string".into());
        } else if part.chars().all(|c| NUM.contains(c)) {
            if part.len() > 1 && part.starts_with('0') {
                return Err("version segment starts with 0".into());
            }
        } else if !part.chars().all(allowed) {
            return Err("invalid prerelease string".into());
        }
    }
    Ok(())
}

fn validate_metadata(m: &str) -> Result<(), String> {
    for part in m.split('.') {
        if part.is_empty() || !part.chars().all(allowed) {
            return Err("invalid metadata string".into());
        }
    }
    Ok(())
}

impl Version {
    /// `semver.NewVersion` (coercing, as `CoerceNewVersion` is by default).
    pub fn parse(v: &str) -> Result<Version, String> {
        let Some(m) = loose_regex().captures(v) else {
            return Err("invalid semantic version".into());
        };
        let part = |i: usize| m.get(i).map(|x| x.as_str()).unwrap_or("");
        let num = |i: usize| match part(i) {
            "" => Ok(0),
            p => segment(p.trim_start_matches('.')),
        };
        let out = Version {
            major: num(1)?,
            minor: num(2)?,
            patch: num(3)?,
            pre: part(5).to_string(),
            metadata: part(8).to_string(),
            original: v.to_string(),
        };
        if !out.pre.is_empty() {
            validate_prerelease(&out.pre)?;
        }
        if !out.metadata.is_empty() {
            validate_metadata(&out.metadata)?;
        }
        Ok(out)
    }

    /// The original's `v`, which the versions derived from it keep.
    fn v_prefix(&self) -> &'static str {
        if self.original.starts_with('v') {
            "v"
        } else {
            ""
        }
    }

    fn derived(mut self, v_prefix: &str) -> Version {
        self.original = format!("{v_prefix}{self}");
        self
    }

    /// `Compare`: the numbers, then the prerelease (none is greater); metadata is ignored.
    pub fn compare(&self, o: &Version) -> Ordering {
        (self.major, self.minor, self.patch)
            .cmp(&(o.major, o.minor, o.patch))
            .then_with(|| match (self.pre.is_empty(), o.pre.is_empty()) {
                (true, true) => Ordering::Equal,
                (true, false) => Ordering::Greater,
                (false, true) => Ordering::Less,
                (false, false) => compare_prerelease(&self.pre, &o.pre),
            })
    }
}

fn compare_prerelease(a: &str, b: &str) -> Ordering {
    let (sa, sb): (Vec<&str>, Vec<&str>) = (a.split('.').collect(), b.split('.').collect());
    for i in 0..sa.len().max(sb.len()) {
        let (x, y) = (
            sa.get(i).copied().unwrap_or(""),
            sb.get(i).copied().unwrap_or(""),
        );
        let o = compare_pre_part(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

fn compare_pre_part(s: &str, o: &str) -> Ordering {
    if s == o {
        return Ordering::Equal;
    }
    if s.is_empty() {
        return Ordering::Less;
    }
    if o.is_empty() {
        return Ordering::Greater;
    }
    match (s.parse::<u64>(), o.parse::<u64>()) {
        (Err(_), Err(_)) => s.cmp(o),
        // a number is less than a string
        (Ok(_), Err(_)) => Ordering::Less,
        (Err(_), Ok(_)) => Ordering::Greater,
        (Ok(x), Ok(y)) => x.cmp(&y),
    }
}

impl std::fmt::Display for Version {
    /// `String()`: `MAJOR.MINOR.PATCH[-PRE][+METADATA]`, without the original's `v`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)?;
        if !self.pre.is_empty() {
            write!(f, "-{}", self.pre)?;
        }
        if !self.metadata.is_empty() {
            write!(f, "+{}", self.metadata)?;
        }
        Ok(())
    }
}

/// The value templates hold: `*semver.Version` (what `semver` returns) or, from the methods
/// that return one by value (`IncMajor`, `SetPrerelease`, ...), `semver.Version`, which has
/// no pointer methods (`Original`, `LessThan`, `Compare`, ...).
#[derive(Debug, Clone)]
pub(crate) struct SemverValue {
    pub v: Version,
    pub pointer: bool,
}

impl SemverValue {
    pub fn pointer(v: Version) -> Value {
        Value::Object(Rc::new(SemverValue { v, pointer: true }))
    }

    fn by_value(v: Version) -> Value {
        Value::Object(Rc::new(SemverValue { v, pointer: false }))
    }
}

fn uint(n: u64) -> Value {
    match i64::try_from(n) {
        Ok(i) => Value::Int(i),
        Err(_) => Value::str(n.to_string()),
    }
}

impl Object for SemverValue {
    fn type_name(&self) -> &'static str {
        if self.pointer {
            "*semver.Version"
        } else {
            "semver.Version"
        }
    }

    fn member(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
        let v = &self.v;
        let niladic = |out: Value| Some(want_args(name, args, 0).map(|_| out));
        match name {
            "Major" => niladic(uint(v.major)),
            "Minor" => niladic(uint(v.minor)),
            "Patch" => niladic(uint(v.patch)),
            "Prerelease" => niladic(Value::str(v.pre.as_str())),
            "Metadata" => niladic(Value::str(v.metadata.as_str())),
            "String" | "Value" => niladic(Value::str(v.to_string())),
            "Original" if self.pointer => niladic(Value::str(v.original.as_str())),
            "IncPatch" | "IncMinor" | "IncMajor" => {
                let mut n = v.clone();
                let had_pre = !n.pre.is_empty();
                n.pre.clear();
                n.metadata.clear();
                match name {
                    "IncPatch" if !had_pre => n.patch += 1,
                    "IncPatch" => {}
                    "IncMinor" => (n.minor, n.patch) = (n.minor + 1, 0),
                    _ => (n.major, n.minor, n.patch) = (n.major + 1, 0, 0),
                }
                niladic(SemverValue::by_value(n.derived(v.v_prefix())))
            }
            "SetPrerelease" | "SetMetadata" => Some(want_args(name, args, 1).and_then(|_| {
                let Value::Str(s) = &args[0] else {
                    return Err(format!(
                        "wrong type for value; expected string; got {}",
                        args[0].type_name()
                    ));
                };
                let mut n = v.clone();
                let check = if name == "SetPrerelease" {
                    n.pre = s.to_string();
                    validate_prerelease(s)
                } else {
                    n.metadata = s.to_string();
                    validate_metadata(s)
                };
                if !s.is_empty() {
                    check.map_err(|e| format!("error calling {name}: {e}"))?;
                }
                Ok(SemverValue::by_value(n.derived(v.v_prefix())))
            })),
            "LessThan" | "LessThanEqual" | "GreaterThan" | "GreaterThanEqual" | "Equal"
            | "Compare"
                if self.pointer =>
            {
                Some(want_args(name, args, 1).and_then(|_| {
                    let other = match &args[0] {
                        Value::Nil if name == "Equal" => return Ok(Value::Bool(false)),
                        Value::Nil => {
                            return Err(format!(
                                "error calling {name}: runtime error: invalid memory address or nil pointer dereference"
                            ));
                        }
                        Value::Object(o) => match o.as_any().and_then(|a| a.downcast_ref::<SemverValue>()) {
                            Some(s) if s.pointer => &s.v,
                            _ => return Err(format!(
                                "wrong type for value; expected *semver.Version; got {}",
                                o.type_name()
                            )),
                        },
                        a => {
                            return Err(format!(
                                "wrong type for value; expected *semver.Version; got {}",
                                a.type_name()
                            ));
                        }
                    };
                    let o = v.compare(other);
                    Ok(match name {
                        "LessThan" => Value::Bool(o == Ordering::Less),
                        "LessThanEqual" => Value::Bool(o != Ordering::Greater),
                        "GreaterThan" => Value::Bool(o == Ordering::Greater),
                        "GreaterThanEqual" => Value::Bool(o != Ordering::Less),
                        "Equal" => Value::Bool(o == Ordering::Equal),
                        _ => Value::Int(o as i64),
                    })
                }))
            }
            _ => None,
        }
    }

    /// What `toJson`, `toYaml` (MarshalJSON), comparisons and `len` see: the string form.
    fn to_value(&self) -> Value {
        Value::str(self.v.to_string())
    }

    /// `String()` has a value receiver: fmt prints it for the pointer and the value alike.
    fn display(&self) -> Option<String> {
        Some(self.v.to_string())
    }

    fn as_any(&self) -> Option<&dyn std::any::Any> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_as_masterminds_parses_them() {
        let v = Version::parse("v1.2.3-beta.1+build.5").unwrap();
        assert_eq!((v.major, v.minor, v.patch), (1, 2, 3));
        assert_eq!((v.pre.as_str(), v.metadata.as_str()), ("beta.1", "build.5"));
        assert_eq!(v.to_string(), "1.2.3-beta.1+build.5");
        assert_eq!(Version::parse("1.2").unwrap().to_string(), "1.2.0");
        assert_eq!(Version::parse("01.02.3").unwrap().to_string(), "1.2.3");
        assert_eq!(Version::parse("1-rc").unwrap().to_string(), "1.0.0-rc");
        for bad in [
            "",
            "foo",
            " 1.2.3",
            "V1.2.3",
            "1.2.3.4",
            "1.2.3-",
            "1.2.3+",
            "1.2.3-a_b",
        ] {
            assert_eq!(
                Version::parse(bad).unwrap_err(),
                "invalid semantic version",
                "{bad:?}"
            );
        }
        assert_eq!(
            Version::parse("1.2.3-01").unwrap_err(),
            "version segment starts with 0"
        );
        assert!(
            Version::parse("99999999999999999999")
                .unwrap_err()
                .contains("value out of range")
        );
    }

    #[test]
    fn prereleases_order_as_semver_orders_them() {
        let c = |a: &str, b: &str| {
            Version::parse(a)
                .unwrap()
                .compare(&Version::parse(b).unwrap())
        };
        assert_eq!(c("1.2.3", "1.2.3-rc"), Ordering::Greater);
        assert_eq!(c("1.2.3-rc.2", "1.2.3-rc.10"), Ordering::Less);
        assert_eq!(c("1.2.3-b", "1.2.3-a.1"), Ordering::Greater);
        assert_eq!(c("1.2.3-1", "1.2.3-a"), Ordering::Less);
        assert_eq!(c("1.2.3-a", "1.2.3-a.1"), Ordering::Less);
        assert_eq!(c("1.2.3+x", "1.2.3+y"), Ordering::Equal);
    }
}
