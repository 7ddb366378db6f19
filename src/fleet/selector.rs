//! Kubernetes label selectors (`env=prod,tier!=web,region in (eu,us),!legacy`): parsing with
//! positioned errors, and matching against a cluster's labels.

use std::collections::BTreeMap;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    pub requirements: Vec<Requirement>,
    source: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid label selector \"{selector}\": {message} at position {position}")]
pub struct SelectorError {
    pub selector: String,
    pub message: String,
    /// 1-based character position in the selector.
    pub position: usize,
}

impl Selector {
    pub fn parse(input: &str) -> Result<Self, SelectorError> {
        let mut p = Parser {
            chars: input.char_indices().collect(),
            pos: 0,
            input,
        };
        let mut requirements = Vec::new();
        p.skip_ws();
        if p.at_end() {
            return Ok(Self {
                requirements,
                source: input.to_string(),
            });
        }
        loop {
            requirements.push(p.requirement()?);
            p.skip_ws();
            if p.at_end() {
                break;
            }
            p.expect(',')?;
        }
        Ok(Self {
            requirements,
            source: input.to_string(),
        })
    }

    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.requirements.iter().all(|r| match r {
            Requirement::Equals(k, v) => labels.get(k) == Some(v),
            Requirement::NotEquals(k, v) => labels.get(k) != Some(v),
            Requirement::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Requirement::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Requirement::Exists(k) => labels.contains_key(k),
            Requirement::NotExists(k) => !labels.contains_key(k),
        })
    }
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

struct Parser<'a> {
    chars: Vec<(usize, char)>,
    pos: usize,
    input: &'a str,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|c| c.1)
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn err(&self, message: impl Into<String>) -> SelectorError {
        SelectorError {
            selector: self.input.to_string(),
            message: message.into(),
            position: self.pos + 1,
        }
    }

    fn expect(&mut self, c: char) -> Result<(), SelectorError> {
        self.skip_ws();
        if self.peek() == Some(c) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.err(match self.peek() {
                Some(found) => format!("expected '{c}', found '{found}'"),
                None => format!("expected '{c}'"),
            }))
        }
    }

    fn word(&mut self, what: &str) -> Result<String, SelectorError> {
        self.skip_ws();
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'))
        {
            self.pos += 1;
        }
        if start == self.pos {
            return Err(self.err(match self.peek() {
                Some(found) => format!("expected {what}, found '{found}'"),
                None => format!("expected {what}"),
            }));
        }
        Ok(self.chars[start..self.pos].iter().map(|c| c.1).collect())
    }

    fn value(&mut self) -> Result<String, SelectorError> {
        self.skip_ws();
        // An empty value is allowed (`env=`), as in Kubernetes.
        if self.at_end() || matches!(self.peek(), Some(',') | Some(')')) {
            return Ok(String::new());
        }
        self.word("a label value")
    }

    fn requirement(&mut self) -> Result<Requirement, SelectorError> {
        self.skip_ws();
        if self.peek() == Some('!') {
            self.pos += 1;
            let key = self.word("a label key after '!'")?;
            return Ok(Requirement::NotExists(key));
        }
        let key = self.word("a label key")?;
        self.skip_ws();
        match self.peek() {
            None | Some(',') => Ok(Requirement::Exists(key)),
            Some('=') => {
                self.pos += 1;
                if self.peek() == Some('=') {
                    self.pos += 1;
                }
                Ok(Requirement::Equals(key, self.value()?))
            }
            Some('!') => {
                self.pos += 1;
                if self.peek() != Some('=') {
                    return Err(self.err("expected '=' after '!'"));
                }
                self.pos += 1;
                Ok(Requirement::NotEquals(key, self.value()?))
            }
            Some(_) => {
                let op_start = self.pos;
                let op = self.word("an operator")?;
                let set = |p: &mut Self| -> Result<Vec<String>, SelectorError> {
                    p.expect('(')?;
                    let mut values = vec![p.value()?];
                    loop {
                        p.skip_ws();
                        match p.peek() {
                            Some(',') => {
                                p.pos += 1;
                                values.push(p.value()?);
                            }
                            Some(')') => {
                                p.pos += 1;
                                return Ok(values);
                            }
                            _ => return Err(p.err("expected ',' or ')' in a value set")),
                        }
                    }
                };
                match op.as_str() {
                    "in" => Ok(Requirement::In(key, set(self)?)),
                    "notin" => Ok(Requirement::NotIn(key, set(self)?)),
                    _ => {
                        self.pos = op_start;
                        Err(self.err(format!(
                            "unknown operator '{op}' (use =, ==, !=, in, notin, or !key)"
                        )))
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_and_matches_every_form() {
        let l = labels(&[("env", "prod"), ("region", "eu")]);
        for (sel, want) in [
            ("", true),
            ("env=prod", true),
            ("env==prod", true),
            ("env!=prod", false),
            ("env in (dev, prod)", true),
            ("env notin (prod)", false),
            ("region", true),
            ("!region", false),
            ("!legacy,env=prod, region in (eu)", true),
            ("tier!=web", true),
            ("tier in (web)", false),
        ] {
            assert_eq!(Selector::parse(sel).unwrap().matches(&l), want, "{sel}");
        }
    }

    #[test]
    fn errors_name_the_position() {
        let e = Selector::parse("env in prod").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid label selector \"env in prod\": expected '(', found 'p' at position 8"
        );
        let e = Selector::parse("env >= 3").unwrap_err();
        assert_eq!(e.position, 5);
        assert!(Selector::parse("env=prod,").is_err());
        assert!(Selector::parse("a in (x").is_err());
    }
}
