//! Diagnostics: one problem found in the user's files, with where it is, what is wrong and a hint.
//!
//! Every stage before the first cloud or cluster call (load, validate, render) reports through
//! this type and collects all problems instead of stopping at the first.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

/// A position in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
pub struct Span {
    /// Path as shown to the user, relative to the fleet directory.
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

impl Span {
    pub fn new(file: Arc<str>, line: u32, column: u32) -> Self {
        Self { file, line, column }
    }

    /// The start of a file: for problems about the file as a whole.
    pub fn file_start(file: Arc<str>) -> Self {
        Self::new(file, 1, 1)
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem in the user's files: where, how bad, what, and what to do.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, schemars::JsonSchema)]
pub struct Diagnostic {
    #[serde(flatten)]
    pub span: Span,
    pub severity: Severity,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Diagnostic {
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Self {
            span,
            severity: Severity::Error,
            message: message.into(),
            hint: None,
        }
    }

    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(span, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{}: {level}: {}", self.span, self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, "\n  hint: {hint}")?;
        }
        Ok(())
    }
}

/// A non-empty list of diagnostics, at least one of them an error: the error type of every
/// stage that reads user input.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct Diagnostics(pub Vec<Diagnostic>);

impl Diagnostics {
    /// Sorted by file and position, duplicates removed (defaults merged into many clusters
    /// would otherwise report the same problem once per cluster).
    pub fn normalized(mut list: Vec<Diagnostic>) -> Vec<Diagnostic> {
        // fleet.yaml first: its problems often explain those in the clusters.
        list.sort_by(|a, b| {
            (&*a.span.file != "fleet.yaml", a).cmp(&(&*b.span.file != "fleet.yaml", b))
        });
        list.dedup();
        list
    }

    pub fn errors(&self) -> usize {
        self.0.iter().filter(|d| d.is_error()).count()
    }
}

impl fmt::Display for Diagnostics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.0 {
            writeln!(f, "{d}")?;
        }
        let n = self.errors();
        write!(f, "{n} error{}", if n == 1 { "" } else { "s" })
    }
}

/// Closest candidate to `input` by edit distance, when it is close enough to be a likely typo.
pub fn did_you_mean<'a>(
    input: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = input.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|c| {
            let score = strsim::jaro_winkler(&lower, &c.to_ascii_lowercase());
            (c, score)
        })
        .filter(|(_, score)| *score >= 0.8)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

/// What an unusual character in a name or key is: invisible, a direction control, a look-alike
/// of an ASCII character, or just not ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CharKind {
    /// Takes no room on screen (zero-width characters, the byte order mark).
    Invisible,
    /// A space that is not U+0020.
    Space,
    /// Reorders the text around it on screen (bidirectional controls).
    Bidi,
    /// An ASCII control character (tab, newline, ...) or a C1 control.
    Control,
    /// Looks like the given ASCII character.
    LookAlike(char),
    /// Any other non-ASCII character.
    Other,
}

/// Unicode names of the characters that most often hide in names and keys: invisible and
/// direction-changing characters, odd spaces and the Cyrillic and Greek letters that look like
/// Latin ones. Others are shown by code point only.
const CHAR_TABLE: &[(char, &str, CharKind)] = {
    use CharKind::*;
    &[
        ('\u{0009}', "CHARACTER TABULATION", Control),
        ('\u{000A}', "LINE FEED", Control),
        ('\u{000D}', "CARRIAGE RETURN", Control),
        ('\u{007F}', "DELETE", Control),
        ('\u{0085}', "NEXT LINE", Control),
        ('\u{00A0}', "NO-BREAK SPACE", Space),
        ('\u{00AD}', "SOFT HYPHEN", Invisible),
        ('\u{0131}', "LATIN SMALL LETTER DOTLESS I", LookAlike('i')),
        ('\u{034F}', "COMBINING GRAPHEME JOINER", Invisible),
        ('\u{061C}', "ARABIC LETTER MARK", Bidi),
        ('\u{1680}', "OGHAM SPACE MARK", Space),
        ('\u{180E}', "MONGOLIAN VOWEL SEPARATOR", Invisible),
        ('\u{2000}', "EN QUAD", Space),
        ('\u{2001}', "EM QUAD", Space),
        ('\u{2002}', "EN SPACE", Space),
        ('\u{2003}', "EM SPACE", Space),
        ('\u{2004}', "THREE-PER-EM SPACE", Space),
        ('\u{2005}', "FOUR-PER-EM SPACE", Space),
        ('\u{2006}', "SIX-PER-EM SPACE", Space),
        ('\u{2007}', "FIGURE SPACE", Space),
        ('\u{2008}', "PUNCTUATION SPACE", Space),
        ('\u{2009}', "THIN SPACE", Space),
        ('\u{200A}', "HAIR SPACE", Space),
        ('\u{200B}', "ZERO WIDTH SPACE", Invisible),
        ('\u{200C}', "ZERO WIDTH NON-JOINER", Invisible),
        ('\u{200D}', "ZERO WIDTH JOINER", Invisible),
        ('\u{200E}', "LEFT-TO-RIGHT MARK", Bidi),
        ('\u{200F}', "RIGHT-TO-LEFT MARK", Bidi),
        ('\u{2010}', "HYPHEN", LookAlike('-')),
        ('\u{2011}', "NON-BREAKING HYPHEN", LookAlike('-')),
        ('\u{2012}', "FIGURE DASH", LookAlike('-')),
        ('\u{2013}', "EN DASH", LookAlike('-')),
        ('\u{2014}', "EM DASH", LookAlike('-')),
        ('\u{2018}', "LEFT SINGLE QUOTATION MARK", LookAlike('\'')),
        ('\u{2019}', "RIGHT SINGLE QUOTATION MARK", LookAlike('\'')),
        ('\u{201C}', "LEFT DOUBLE QUOTATION MARK", LookAlike('"')),
        ('\u{201D}', "RIGHT DOUBLE QUOTATION MARK", LookAlike('"')),
        ('\u{2024}', "ONE DOT LEADER", LookAlike('.')),
        ('\u{2028}', "LINE SEPARATOR", Control),
        ('\u{2029}', "PARAGRAPH SEPARATOR", Control),
        ('\u{202A}', "LEFT-TO-RIGHT EMBEDDING", Bidi),
        ('\u{202B}', "RIGHT-TO-LEFT EMBEDDING", Bidi),
        ('\u{202C}', "POP DIRECTIONAL FORMATTING", Bidi),
        ('\u{202D}', "LEFT-TO-RIGHT OVERRIDE", Bidi),
        ('\u{202E}', "RIGHT-TO-LEFT OVERRIDE", Bidi),
        ('\u{202F}', "NARROW NO-BREAK SPACE", Space),
        ('\u{205F}', "MEDIUM MATHEMATICAL SPACE", Space),
        ('\u{2060}', "WORD JOINER", Invisible),
        ('\u{2061}', "FUNCTION APPLICATION", Invisible),
        ('\u{2062}', "INVISIBLE TIMES", Invisible),
        ('\u{2063}', "INVISIBLE SEPARATOR", Invisible),
        ('\u{2064}', "INVISIBLE PLUS", Invisible),
        ('\u{2066}', "LEFT-TO-RIGHT ISOLATE", Bidi),
        ('\u{2067}', "RIGHT-TO-LEFT ISOLATE", Bidi),
        ('\u{2068}', "FIRST STRONG ISOLATE", Bidi),
        ('\u{2069}', "POP DIRECTIONAL ISOLATE", Bidi),
        ('\u{2212}', "MINUS SIGN", LookAlike('-')),
        ('\u{3000}', "IDEOGRAPHIC SPACE", Space),
        ('\u{FEFF}', "ZERO WIDTH NO-BREAK SPACE", Invisible),
        ('\u{FFFD}', "REPLACEMENT CHARACTER", Other),
        // Greek capitals and small letters that look like Latin ones.
        ('\u{0391}', "GREEK CAPITAL LETTER ALPHA", LookAlike('A')),
        ('\u{0392}', "GREEK CAPITAL LETTER BETA", LookAlike('B')),
        ('\u{0395}', "GREEK CAPITAL LETTER EPSILON", LookAlike('E')),
        ('\u{0396}', "GREEK CAPITAL LETTER ZETA", LookAlike('Z')),
        ('\u{0397}', "GREEK CAPITAL LETTER ETA", LookAlike('H')),
        ('\u{0399}', "GREEK CAPITAL LETTER IOTA", LookAlike('I')),
        ('\u{039A}', "GREEK CAPITAL LETTER KAPPA", LookAlike('K')),
        ('\u{039C}', "GREEK CAPITAL LETTER MU", LookAlike('M')),
        ('\u{039D}', "GREEK CAPITAL LETTER NU", LookAlike('N')),
        ('\u{039F}', "GREEK CAPITAL LETTER OMICRON", LookAlike('O')),
        ('\u{03A1}', "GREEK CAPITAL LETTER RHO", LookAlike('P')),
        ('\u{03A4}', "GREEK CAPITAL LETTER TAU", LookAlike('T')),
        ('\u{03A5}', "GREEK CAPITAL LETTER UPSILON", LookAlike('Y')),
        ('\u{03A7}', "GREEK CAPITAL LETTER CHI", LookAlike('X')),
        ('\u{03B1}', "GREEK SMALL LETTER ALPHA", LookAlike('a')),
        ('\u{03B9}', "GREEK SMALL LETTER IOTA", LookAlike('i')),
        ('\u{03BA}', "GREEK SMALL LETTER KAPPA", LookAlike('k')),
        ('\u{03BD}', "GREEK SMALL LETTER NU", LookAlike('v')),
        ('\u{03BF}', "GREEK SMALL LETTER OMICRON", LookAlike('o')),
        ('\u{03C1}', "GREEK SMALL LETTER RHO", LookAlike('p')),
        ('\u{03C5}', "GREEK SMALL LETTER UPSILON", LookAlike('u')),
        ('\u{03C7}', "GREEK SMALL LETTER CHI", LookAlike('x')),
        // Cyrillic.
        ('\u{0405}', "CYRILLIC CAPITAL LETTER DZE", LookAlike('S')),
        (
            '\u{0406}',
            "CYRILLIC CAPITAL LETTER BYELORUSSIAN-UKRAINIAN I",
            LookAlike('I'),
        ),
        ('\u{0408}', "CYRILLIC CAPITAL LETTER JE", LookAlike('J')),
        ('\u{0410}', "CYRILLIC CAPITAL LETTER A", LookAlike('A')),
        ('\u{0412}', "CYRILLIC CAPITAL LETTER VE", LookAlike('B')),
        ('\u{0415}', "CYRILLIC CAPITAL LETTER IE", LookAlike('E')),
        ('\u{041A}', "CYRILLIC CAPITAL LETTER KA", LookAlike('K')),
        ('\u{041C}', "CYRILLIC CAPITAL LETTER EM", LookAlike('M')),
        ('\u{041D}', "CYRILLIC CAPITAL LETTER EN", LookAlike('H')),
        ('\u{041E}', "CYRILLIC CAPITAL LETTER O", LookAlike('O')),
        ('\u{0420}', "CYRILLIC CAPITAL LETTER ER", LookAlike('P')),
        ('\u{0421}', "CYRILLIC CAPITAL LETTER ES", LookAlike('C')),
        ('\u{0422}', "CYRILLIC CAPITAL LETTER TE", LookAlike('T')),
        ('\u{0425}', "CYRILLIC CAPITAL LETTER HA", LookAlike('X')),
        ('\u{0430}', "CYRILLIC SMALL LETTER A", LookAlike('a')),
        ('\u{0435}', "CYRILLIC SMALL LETTER IE", LookAlike('e')),
        ('\u{043E}', "CYRILLIC SMALL LETTER O", LookAlike('o')),
        ('\u{0440}', "CYRILLIC SMALL LETTER ER", LookAlike('p')),
        ('\u{0441}', "CYRILLIC SMALL LETTER ES", LookAlike('c')),
        ('\u{0443}', "CYRILLIC SMALL LETTER U", LookAlike('y')),
        ('\u{0445}', "CYRILLIC SMALL LETTER HA", LookAlike('x')),
        ('\u{0455}', "CYRILLIC SMALL LETTER DZE", LookAlike('s')),
        (
            '\u{0456}',
            "CYRILLIC SMALL LETTER BYELORUSSIAN-UKRAINIAN I",
            LookAlike('i'),
        ),
        ('\u{0458}', "CYRILLIC SMALL LETTER JE", LookAlike('j')),
        ('\u{04BB}', "CYRILLIC SMALL LETTER SHHA", LookAlike('h')),
        ('\u{04CF}', "CYRILLIC SMALL LETTER PALOCHKA", LookAlike('l')),
        ('\u{0501}', "CYRILLIC SMALL LETTER KOMI DE", LookAlike('d')),
        ('\u{051B}', "CYRILLIC SMALL LETTER QA", LookAlike('q')),
        ('\u{051D}', "CYRILLIC SMALL LETTER WE", LookAlike('w')),
    ]
};

const DIGIT_NAMES: [&str; 10] = [
    "ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE",
];

/// The Unicode name (for the characters in the table and fullwidth letters and digits) and kind
/// of a character that is not printable ASCII; `None` for printable ASCII.
pub fn char_info(c: char) -> Option<(Option<String>, CharKind)> {
    if (' '..='~').contains(&c) {
        return None;
    }
    if let Some((_, name, kind)) = CHAR_TABLE.iter().find(|(t, _, _)| *t == c) {
        return Some((Some((*name).to_string()), *kind));
    }
    // Fullwidth forms of ASCII: U+FF01..U+FF5E mirror U+0021..U+007E.
    if ('\u{FF01}'..='\u{FF5E}').contains(&c) {
        let ascii = char::from_u32(c as u32 - 0xFEE0).unwrap_or('?');
        let name = if ascii.is_ascii_lowercase() {
            Some(format!(
                "FULLWIDTH LATIN SMALL LETTER {}",
                ascii.to_ascii_uppercase()
            ))
        } else if ascii.is_ascii_uppercase() {
            Some(format!("FULLWIDTH LATIN CAPITAL LETTER {ascii}"))
        } else {
            ascii
                .to_digit(10)
                .map(|d| format!("FULLWIDTH DIGIT {}", DIGIT_NAMES[d as usize]))
        };
        return Some((name, CharKind::LookAlike(ascii)));
    }
    let kind = if c.is_control() {
        CharKind::Control
    } else if matches!(c, '\u{E0000}'..='\u{E007F}' | '\u{FE00}'..='\u{FE0F}') {
        // Tag characters and variation selectors draw nothing either.
        CharKind::Invisible
    } else if c.is_whitespace() {
        CharKind::Space
    } else {
        CharKind::Other
    };
    Some((None, kind))
}

/// `U+200B ZERO WIDTH SPACE (invisible)`, `U+043E CYRILLIC SMALL LETTER O (looks like 'o')`,
/// `U+00E9 (non-ASCII character)`.
pub fn describe_char(c: char) -> String {
    let code = format!("U+{:04X}", c as u32);
    let Some((name, kind)) = char_info(c) else {
        return format!("{code} '{c}'");
    };
    let what = match kind {
        CharKind::Invisible if c == '\u{FEFF}' => "invisible, a byte order mark".to_string(),
        CharKind::Invisible => "invisible".to_string(),
        CharKind::Space => "a space that is not ASCII".to_string(),
        CharKind::Bidi => "reorders the text around it".to_string(),
        CharKind::Control => "a control character".to_string(),
        CharKind::LookAlike(a) => format!("looks like '{a}'"),
        CharKind::Other => "non-ASCII character".to_string(),
    };
    match name {
        Some(n) => format!("{code} {n} ({what})"),
        None => format!("{code} ({what})"),
    }
}

/// Whether a character would mislead when printed as is: it draws nothing, moves other text,
/// breaks the line, or imitates an ASCII character.
fn misleading(c: char) -> bool {
    matches!(
        char_info(c),
        Some((
            _,
            CharKind::Invisible
                | CharKind::Space
                | CharKind::Bidi
                | CharKind::Control
                | CharKind::LookAlike(_)
        ))
    )
}

/// `s` made safe to print: characters that would mislead (invisible, direction controls, control
/// characters, look-alikes of ASCII) are written as `<U+XXXX>`; other text is unchanged.
pub fn visible(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if misleading(c) {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// `s` without invisible characters and with look-alikes replaced by the ASCII character they
/// imitate: what the author most likely meant to write.
pub fn ascii_fold(s: &str) -> String {
    s.chars()
        .filter_map(|c| match char_info(c) {
            Some((_, CharKind::Invisible | CharKind::Bidi)) => None,
            Some((_, CharKind::LookAlike(a))) => Some(a),
            Some((_, CharKind::Space)) => Some(' '),
            _ => Some(c),
        })
        .collect()
}

/// The characters of `s` that are not printable ASCII, each with its 0-based character offset.
pub fn unusual_chars(s: &str) -> Vec<(usize, char)> {
    s.chars()
        .enumerate()
        .filter(|(_, c)| char_info(*c).is_some())
        .collect()
}

/// Names every character of `s` that is not printable ASCII and where it is, for a hint:
/// `contains U+200B ZERO WIDTH SPACE (invisible) at column 12`. `column` is the file column of the
/// first character of `s` (a quoted scalar's text starts one column after its quote). `None` when
/// `s` is printable ASCII.
pub fn unusual_chars_note(s: &str, column: u32) -> Option<String> {
    const SHOWN: usize = 3;
    let found = unusual_chars(s);
    if found.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = found
        .iter()
        .take(SHOWN)
        .map(|(i, c)| {
            let col = u32::try_from(*i).map_or(u32::MAX, |i| column.saturating_add(i));
            format!("{} at column {col}", describe_char(*c))
        })
        .collect();
    if found.len() > SHOWN {
        parts.push(format!("{} more", found.len() - SHOWN));
    }
    let list = match parts.len() {
        1 => parts.remove(0),
        _ => {
            let last = parts.pop().unwrap_or_default();
            format!("{} and {last}", parts.join(", "))
        }
    };
    Some(format!("contains {list}"))
}

/// The URL with any userinfo (`user:password@`) replaced by `***`, so it can be printed:
/// `https://***@host/org/repo.git`. scp-like `git@host:path` (a user name, no password) is left as
/// it is.
pub fn mask_userinfo(url: &str) -> String {
    let url = match userinfo_range(url) {
        Some((start, end, scp_user)) if !scp_user => {
            format!("{}***{}", &url[..start], &url[end..])
        }
        _ => url.to_string(),
    };
    mask_query_credentials(&url)
}

/// Whether a query parameter's name says it carries a credential (`?access_token=`,
/// `private_token`, `X-Amz-Signature`, `sig`, `password`, ...).
fn credential_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "token",
        "secret",
        "passw",
        "key",
        "auth",
        "sig",
        "credential",
    ]
    .iter()
    .any(|w| name.contains(w))
}

/// The query parameters of `url` (between `?` and `#`), as (name, value byte range).
fn query_parameters(url: &str) -> Vec<(&str, std::ops::Range<usize>)> {
    let Some(q) = url.find('?') else {
        return Vec::new();
    };
    let end = url[q..].find('#').map_or(url.len(), |i| q + i);
    let mut out = Vec::new();
    let mut at = q + 1;
    for part in url[q + 1..end].split('&') {
        let (name, value_start) = match part.find('=') {
            Some(i) => (&part[..i], at + i + 1),
            None => (part, at + part.len()),
        };
        out.push((name, value_start..at + part.len()));
        at += part.len() + 1;
    }
    out
}

fn mask_query_credentials(url: &str) -> String {
    let mut out = url.to_string();
    for (_, range) in query_parameters(url)
        .into_iter()
        .rev()
        .filter(|(name, range)| credential_parameter(name) && !range.is_empty())
    {
        out.replace_range(range, "***");
    }
    out
}

/// Whether the URL carries credentials: any userinfo in an `http(s)://` URL (a user name there is
/// as likely a token as a name), a password anywhere else (`ssh://git:pw@host/...`), a query
/// parameter named like a credential (`?access_token=...`).
pub fn url_credentials(url: &str) -> bool {
    if query_parameters(url)
        .iter()
        .any(|(name, range)| credential_parameter(name) && !range.is_empty())
    {
        return true;
    }
    let Some((start, end, scp_user)) = userinfo_range(url) else {
        return false;
    };
    if scp_user {
        return false;
    }
    let scheme = url
        .split_once("://")
        .map(|(s, _)| s.to_ascii_lowercase())
        .unwrap_or_default();
    matches!(scheme.as_str(), "http" | "https") || url[start..end].contains(':')
}

/// Byte range of the userinfo of `url` (before the `@` of the authority), and whether it is the
/// plain user name of scp-like syntax (`git@host:path`).
fn userinfo_range(url: &str) -> Option<(usize, usize, bool)> {
    let (start, authority) = match url.find("://") {
        Some(i) => {
            let rest = &url[i + 3..];
            let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            (i + 3, &rest[..end])
        }
        None => {
            let end = url.find('/').unwrap_or(url.len());
            (0, &url[..end])
        }
    };
    let at = authority.rfind('@')?;
    let user = &authority[..at];
    // scp-like: no scheme, `user@host:path`, a user without a password.
    let scp_user = start == 0 && !user.contains(':') && authority[at + 1..].contains(':');
    Some((start, start + at, scp_user))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let c = ["nodePools", "version", "values"];
        assert_eq!(did_you_mean("nodepools", c), Some("nodePools"));
        assert_eq!(did_you_mean("verison", c), Some("version"));
        assert_eq!(did_you_mean("zzz", c), None);
    }

    #[test]
    fn unusual_characters_are_named_and_placed() {
        assert_eq!(unusual_chars_note("nodePools", 3), None);
        assert_eq!(
            unusual_chars_note("nodePools\u{200b}", 3).as_deref(),
            Some("contains U+200B ZERO WIDTH SPACE (invisible) at column 12")
        );
        assert_eq!(
            unusual_chars_note("n\u{43e}de\u{a0}", 1).as_deref(),
            Some(
                "contains U+043E CYRILLIC SMALL LETTER O (looks like 'o') at column 2 and U+00A0 NO-BREAK SPACE (a space that is not ASCII) at column 5"
            )
        );
        assert_eq!(describe_char('\u{e9}'), "U+00E9 (non-ASCII character)");
        assert_eq!(
            describe_char('\u{ff41}'),
            "U+FF41 FULLWIDTH LATIN SMALL LETTER A (looks like 'a')"
        );
        assert_eq!(
            describe_char('\u{202e}'),
            "U+202E RIGHT-TO-LEFT OVERRIDE (reorders the text around it)"
        );
        assert_eq!(visible("a\u{202e}b\u{e9}"), "a<U+202E>b\u{e9}");
        assert_eq!(ascii_fold("n\u{43e}de\u{200b}P\u{43e}ols"), "nodePools");
        let many = unusual_chars_note("\u{200b}\u{200c}\u{200d}\u{feff}\u{a0}", 1).unwrap();
        assert!(many.ends_with("and 2 more"), "{many}");
    }

    #[test]
    fn userinfo_is_masked_and_credentials_found() {
        let cases = [
            (
                "https://user:pw@github.com/org/r.git",
                "https://***@github.com/org/r.git",
                true,
            ),
            (
                "https://ghp_token@github.com/org/r.git",
                "https://***@github.com/org/r.git",
                true,
            ),
            ("HTTP://u@h/r", "HTTP://***@h/r", true),
            (
                "ssh://git@github.com/org/r.git",
                "ssh://***@github.com/org/r.git",
                false,
            ),
            (
                "ssh://git:pw@github.com/org/r.git",
                "ssh://***@github.com/org/r.git",
                true,
            ),
            (
                "git@github.com:org/r.git",
                "git@github.com:org/r.git",
                false,
            ),
            (
                "git:pw@github.com:org/r.git",
                "***@github.com:org/r.git",
                true,
            ),
            ("user:token@github.com/org/r", "***@github.com/org/r", true),
            (
                "https://github.com/org/r.git",
                "https://github.com/org/r.git",
                false,
            ),
            (
                "https://github.com/org/r@v1",
                "https://github.com/org/r@v1",
                false,
            ),
            ("https://a@b@host/x?q=@", "https://***@host/x?q=@", true),
            ("file:///srv/fleet.git", "file:///srv/fleet.git", false),
            (
                "https://gitlab.com/org/r.git?private_token=glpat-x1&ref=main#top",
                "https://gitlab.com/org/r.git?private_token=***&ref=main#top",
                true,
            ),
            (
                "https://h/r.git?ref=v1&access_token=ghp_1",
                "https://h/r.git?ref=v1&access_token=***",
                true,
            ),
            (
                "https://h/r.tgz?X-Amz-Signature=abc&X-Amz-Credential=k",
                "https://h/r.tgz?X-Amz-Signature=***&X-Amz-Credential=***",
                true,
            ),
            ("https://h/r.git?ref=v1", "https://h/r.git?ref=v1", false),
            ("https://h/r.git?token=", "https://h/r.git?token=", false),
        ];
        for (url, masked, creds) in cases {
            assert_eq!(mask_userinfo(url), masked, "{url}");
            assert_eq!(url_credentials(url), creds, "{url}");
        }
    }
}
