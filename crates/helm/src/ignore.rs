//! `.helmignore`, with the rules of Helm's `pkg/ignore`: one pattern per
//! line (`filepath.Match` syntax, no `**`), `#` comments, `!` negation, a
//! trailing `/` for directories only, a leading `/` anchored at the chart
//! root, patterns without `/` matched against the base name.

use glob::{MatchOptions, Pattern};

struct Rule {
    pattern: Pattern,
    negate: bool,
    must_dir: bool,
    base_only: bool,
}

pub struct Ignore {
    rules: Vec<Rule>,
}

const OPTS: MatchOptions = MatchOptions {
    case_sensitive: true,
    require_literal_separator: true,
    require_literal_leading_dot: false,
};

impl Ignore {
    /// The rules of a `.helmignore` text, after Helm's default rule
    /// (`templates/.?*`: hidden files in templates/ are never templates).
    pub fn parse(text: &str) -> Result<Ignore, String> {
        let mut ig = Ignore { rules: Vec::new() };
        ig.add("templates/.?*", 0)?;
        for (i, line) in text.lines().enumerate() {
            ig.add(line, i + 1)?;
        }
        Ok(ig)
    }

    fn add(&mut self, line: &str, lineno: usize) -> Result<(), String> {
        let rule = line.trim();
        if rule.is_empty() || rule.starts_with('#') {
            return Ok(());
        }
        if rule.contains("**") {
            return Err(format!(
                ".helmignore:{lineno}: double-star (**) syntax is not supported"
            ));
        }
        let mut rule = rule;
        let negate = rule.starts_with('!');
        if negate {
            rule = &rule[1..];
        }
        let must_dir = rule.ends_with('/');
        let rule = rule.trim_end_matches('/');
        let anchored = rule.starts_with('/');
        let rule = rule.trim_start_matches('/');
        let base_only = !anchored && !rule.contains('/');
        let pattern = Pattern::new(&rule.replace("[^", "[!"))
            .map_err(|e| format!(".helmignore:{lineno}: {e}"))?;
        self.rules.push(Rule {
            pattern,
            negate,
            must_dir,
            base_only,
        });
        Ok(())
    }

    /// Whether `path` (relative to the chart root, `/`-separated) is ignored.
    pub fn ignored(&self, path: &str, is_dir: bool) -> bool {
        if path.is_empty() || path == "." || path == "./" {
            return false;
        }
        let base = path.rsplit('/').next().unwrap_or(path);
        for r in &self.rules {
            let m = |p: &str| r.pattern.matches_with(p, OPTS);
            let hit = if r.base_only { m(base) } else { m(path) };
            if r.negate {
                if r.must_dir && !is_dir {
                    return true;
                }
                if !hit {
                    return true;
                }
                continue;
            }
            if r.must_dir && !is_dir {
                continue;
            }
            if hit {
                return true;
            }
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_as_helm_applies_them() {
        let ig = Ignore::parse("# c\n*.swp\n/ci/\ndocs/*.md\n.git/\n").unwrap();
        assert!(ig.ignored("a.swp", false));
        assert!(ig.ignored("templates/x.swp", false));
        assert!(ig.ignored("ci", true));
        assert!(!ig.ignored("ci", false));
        assert!(ig.ignored("docs/a.md", false));
        assert!(!ig.ignored("docs/sub/a.md", false));
        assert!(ig.ignored("templates/.hidden", false));
        assert!(!ig.ignored("templates/a.yaml", false));
        assert!(Ignore::parse("a/**/b").is_err());
    }
}
