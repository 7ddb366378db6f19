//! The rest of sprig v3 and Helm 4's functions: string case and wrapping,
//! the `must*` list variants, float math on decimals, paths, URLs, hashes,
//! base32, TOML, random strings, dates. `funcs::lookup` falls back to this
//! table.
//!
//! Dates: Go's `time.Time` is carried as a string in `Time.String()`'s form
//! (`2006-01-02 15:04:05.999999999 -0700 MST`); the date functions read such
//! a string back as the time it prints.

use super::{
    Func, P, deep_eq, empty, go_kind, list_of, map_of, msg, ok_str, regex, s, strval, to_f64,
    to_i64,
};
use crate::exec::{Fail, R, State};
use crate::gofmt::go_quote;
use crate::value::{Map, Value};
use crate::yaml;

use P::{Any, Int as I, Map as M, Str as S};

/// `table!` ends every lookup with `fallback`: here nothing further.
fn fallback(_: &str) -> Option<Func> {
    None
}

fn i(v: &Value) -> i64 {
    match v {
        Value::Int(i) => *i,
        _ => 0,
    }
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

// ------------------------------------------------------------ Go's unicode

fn go_upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

fn go_lower(c: char) -> char {
    let mut u = c.to_lowercase();
    match (u.next(), u.next()) {
        (Some(x), None) => x,
        _ => c,
    }
}

/// unicode.IsSpace.
fn go_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    ) || (c as u32 > 0xff && c.is_whitespace())
}

/// unicode.IsPunct (ASCII exactly; elsewhere the common punctuation blocks).
fn go_punct(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_punctuation() && !"$+<=>^`|~".contains(c);
    }
    matches!(c as u32, 0xa1 | 0xa7 | 0xab | 0xb6 | 0xb7 | 0xbb | 0xbf | 0x2010..=0x2027 | 0x2030..=0x205e | 0x3001..=0x3003 | 0x3008..=0x3011)
}

// ------------------------------------------------------------ goutils strings

/// goutils.AbbreviateFull (byte offsets, as Go slices strings).
fn abbreviate(s: &str, offset: i64, max: i64) -> String {
    let b = s.as_bytes();
    let n = b.len() as i64;
    if s.is_empty() || max < 4 {
        return if max < 4 { String::new() } else { s.into() };
    }
    if n <= max {
        return s.into();
    }
    let mut offset = offset.min(n);
    if n - offset < max - 3 {
        offset = n - (max - 3);
    }
    if offset <= 4 {
        return format!("{}...", lossy(&b[..(max - 3) as usize]));
    }
    if max < 7 {
        return String::new();
    }
    if offset + max - 3 < n {
        return format!(
            "...{}",
            abbreviate(&lossy(&b[offset as usize..]), 0, max - 3)
        );
    }
    format!("...{}", lossy(&b[(n - (max - 3)) as usize..]))
}

/// goutils.WrapCustom.
fn wrap_custom(s: &str, len: i64, nl: &str, long_words: bool) -> String {
    if s.is_empty() {
        return String::new();
    }
    let nl = if nl.is_empty() { "\n" } else { nl };
    let wl = len.max(1) as usize;
    let b = s.as_bytes();
    let n = b.len();
    let mut off = 0usize;
    let mut out: Vec<u8> = Vec::new();
    while n - off > wl {
        if b[off] == b' ' {
            off += 1;
            continue;
        }
        let end = wl + off + 1;
        let space = b[off..end].iter().rposition(|&c| c == b' ');
        if let Some(sp) = space {
            out.extend_from_slice(&b[off..off + sp]);
            out.extend_from_slice(nl.as_bytes());
            off += sp + 1;
        } else if long_words {
            out.extend_from_slice(&b[off..off + wl]);
            out.extend_from_slice(nl.as_bytes());
            off += wl;
        } else {
            let end = wl + off;
            match b[end..].iter().position(|&c| c == b' ') {
                Some(ix) => {
                    out.extend_from_slice(&b[off..end + ix]);
                    out.extend_from_slice(nl.as_bytes());
                    off = end + ix + 1;
                }
                None => {
                    out.extend_from_slice(&b[off..]);
                    off = n;
                }
            }
        }
    }
    out.extend_from_slice(&b[off..]);
    lossy(&out)
}

/// goutils.SwapCase.
fn swapcase(s: &str) -> String {
    let mut ws = true;
    s.chars()
        .map(|c| {
            if c.is_uppercase() {
                ws = false;
                go_lower(c)
            } else if c.is_lowercase() {
                if ws {
                    ws = false;
                }
                go_upper(c)
            } else {
                ws = go_space(c);
                c
            }
        })
        .collect()
}

/// goutils.Uncapitalize.
fn untitle(s: &str) -> String {
    let mut next = true;
    s.chars()
        .map(|c| {
            if go_space(c) {
                next = true;
                c
            } else if next {
                next = false;
                go_lower(c)
            } else {
                c
            }
        })
        .collect()
}

/// goutils.Initials: it walks bytes, each taken as a Latin-1 rune.
fn initials(s: &str) -> String {
    let mut out = String::new();
    let mut gap = true;
    for &b in s.as_bytes() {
        let c = b as char;
        if go_space(c) {
            gap = true;
        } else if gap {
            out.push(c);
            gap = false;
        }
    }
    out
}

// ------------------------------------------------------------ xstrings case

fn is_connector(c: char) -> bool {
    c == '-' || c == '_' || go_space(c)
}

/// xstrings' isAlphabet: a letter, not a CJK ideograph.
fn is_alphabet(c: char) -> bool {
    c.is_alphabetic()
        && !matches!(c as u32, 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xf900..=0xfaff | 0x20000..=0x2fa1f)
}

/// xstrings.ToPascalCase (what sprig's camelcase is in Helm 4).
fn camelcase(s: &str) -> String {
    let cs: Vec<char> = s.chars().collect();
    if cs.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let mut k = 0;
    let mut first_upper = false;
    let mut r0 = '\0';
    while k < cs.len() {
        r0 = cs[k];
        k += 1;
        if !is_connector(r0) {
            first_upper = r0.is_uppercase();
            r0 = go_upper(r0);
            break;
        }
        out.push(r0);
    }
    if k >= cs.len() {
        if !is_connector(r0) {
            out.push(r0);
        }
        return out;
    }
    while k < cs.len() {
        let r1 = r0;
        r0 = cs[k];
        k += 1;
        if is_connector(r0) && is_connector(r1) {
            out.push(r1);
            continue;
        }
        if is_connector(r1) {
            first_upper = r0.is_uppercase();
            r0 = go_upper(r0);
        } else {
            if first_upper {
                if r0.is_uppercase() {
                    r0 = go_lower(r0);
                } else {
                    first_upper = false;
                }
            }
            out.push(r1);
        }
    }
    out.push(r0);
    out
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Wt {
    Invalid,
    Number,
    Upper,
    Alpha,
    Connector,
    Punct,
    Other,
}

/// xstrings' nextWord.
fn next_word(s: &str) -> (Wt, &str, &str) {
    let mut it = s.char_indices().peekable();
    let Some((_, r)) = it.next() else {
        return (Wt::Invalid, "", "");
    };
    let rest_from = |it: &mut std::iter::Peekable<std::str::CharIndices>| {
        it.peek().map(|(p, _)| *p).unwrap_or(s.len())
    };
    let take_while = |it: &mut std::iter::Peekable<std::str::CharIndices>,
                      f: &dyn Fn(char) -> bool| {
        while let Some((_, c)) = it.peek() {
            if !f(*c) {
                break;
            }
            it.next();
        }
    };
    let wt;
    if is_connector(r) {
        wt = Wt::Connector;
        take_while(&mut it, &is_connector);
    } else if go_punct(r) {
        wt = Wt::Punct;
        take_while(&mut it, &go_punct);
    } else if r.is_uppercase() {
        wt = Wt::Upper;
        if let Some((_, c)) = it.peek().copied() {
            if c.is_uppercase() {
                let mut prev_at = rest_from(&mut it);
                it.next();
                while let Some((p, c)) = it.peek().copied() {
                    if !c.is_uppercase() {
                        break;
                    }
                    prev_at = p;
                    it.next();
                }
                // "HTTPStatus": the S belongs to the next word
                if let Some((_, c)) = it.peek().copied()
                    && is_alphabet(c)
                {
                    return (wt, &s[..prev_at], &s[prev_at..]);
                }
            } else if is_alphabet(c) {
                take_while(&mut it, &|c| is_alphabet(c) && !c.is_uppercase());
            }
        }
    } else if is_alphabet(r) {
        wt = Wt::Alpha;
        take_while(&mut it, &|c| is_alphabet(c) && !c.is_uppercase());
    } else if r.is_numeric() {
        wt = Wt::Number;
        take_while(&mut it, &|c: char| c.is_numeric());
    } else {
        wt = Wt::Other;
        take_while(&mut it, &|c| {
            !(is_connector(c) || is_alphabet(c) || c.is_numeric() || go_punct(c))
        });
    }
    let at = rest_from(&mut it);
    (wt, &s[..at], &s[at..])
}

fn to_lower_word(out: &mut String, wt: Wt, w: &str, conn: char) {
    if wt != Wt::Upper && wt != Wt::Connector {
        out.push_str(w);
        return;
    }
    for c in w.chars() {
        if is_connector(c) {
            out.push(conn);
        } else if c.is_uppercase() {
            out.push(go_lower(c));
        } else {
            out.push(c);
        }
    }
}

/// xstrings' camelCaseToLowerCase (ToSnakeCase, ToKebabCase).
fn to_lower_case(s: &str, conn: char) -> String {
    if s.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    let (mut wt, mut word, mut rem) = next_word(s);
    while !rem.is_empty() {
        if wt != Wt::Connector {
            to_lower_word(&mut out, wt, word, conn);
        }
        let prev = wt;
        let last = word;
        (wt, word, rem) = next_word(rem);
        match prev {
            Wt::Number => {
                while wt == Wt::Alpha || wt == Wt::Number {
                    to_lower_word(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Wt::Invalid && wt != Wt::Punct && wt != Wt::Connector {
                    out.push(conn);
                }
            }
            Wt::Connector => to_lower_word(&mut out, prev, last, conn),
            Wt::Punct => {}
            _ => {
                if wt != Wt::Number {
                    if wt != Wt::Connector && wt != Wt::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                if rem.is_empty() {
                    continue;
                }
                let last = word;
                (wt, word, rem) = next_word(rem);
                if wt != Wt::Alpha {
                    to_lower_word(&mut out, Wt::Number, last, conn);
                    if wt != Wt::Connector && wt != Wt::Punct {
                        out.push(conn);
                    }
                    continue;
                }
                out.push(conn);
                to_lower_word(&mut out, Wt::Number, last, conn);
                while wt == Wt::Alpha || wt == Wt::Number {
                    to_lower_word(&mut out, wt, word, conn);
                    (wt, word, rem) = next_word(rem);
                }
                if wt != Wt::Invalid && wt != Wt::Connector && wt != Wt::Punct {
                    out.push(conn);
                }
            }
        }
    }
    to_lower_word(&mut out, wt, word, conn);
    out
}

// ------------------------------------------------------------ encodings

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn b32enc(src: &[u8]) -> String {
    let mut out = String::new();
    for chunk in src.chunks(5) {
        let mut buf = [0u8; 5];
        buf[..chunk.len()].copy_from_slice(chunk);
        let n = u64::from_be_bytes([0, 0, 0, buf[0], buf[1], buf[2], buf[3], buf[4]]);
        let chars = match chunk.len() {
            1 => 2,
            2 => 4,
            3 => 5,
            4 => 7,
            _ => 8,
        };
        for k in 0..8 {
            if k < chars {
                out.push(B32[((n >> (35 - 5 * k)) & 31) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// base32.StdEncoding.DecodeString; the error as Go words it.
fn b32dec(src: &str) -> Result<Vec<u8>, String> {
    let src: Vec<u8> = src.bytes().filter(|&c| c != b'\r' && c != b'\n').collect();
    let bad = |k: usize| Err(format!("illegal base32 data at input byte {k}"));
    if !src.len().is_multiple_of(8) {
        // Go reports the first position it cannot decode
        for (k, &c) in src.iter().enumerate() {
            if c != b'=' && !B32.contains(&c) {
                return bad(k);
            }
        }
        return bad(src.len() / 8 * 8);
    }
    let mut out = Vec::new();
    for (g, chunk) in src.chunks(8).enumerate() {
        let mut n: u64 = 0;
        let mut len = 8;
        for (k, &c) in chunk.iter().enumerate() {
            if c == b'=' {
                if g * 8 + 8 != src.len() || k < 2 || chunk[k..].iter().any(|&x| x != b'=') {
                    return bad(g * 8 + k);
                }
                if !matches!(k, 2 | 4 | 5 | 7) {
                    return bad(g * 8 + k);
                }
                len = k;
                break;
            }
            let Some(v) = B32.iter().position(|&x| x == c) else {
                return bad(g * 8 + k);
            };
            n |= (v as u64) << (35 - 5 * k);
        }
        let bytes = n.to_be_bytes();
        let nb = match len {
            2 => 1,
            4 => 2,
            5 => 3,
            7 => 4,
            _ => 5,
        };
        out.extend_from_slice(&bytes[3..3 + nb]);
    }
    Ok(out)
}

fn adler32(b: &[u8]) -> u32 {
    let (mut a, mut c) = (1u32, 0u32);
    for &x in b {
        a = (a + u32::from(x)) % 65521;
        c = (c + a) % 65521;
    }
    (c << 16) | a
}

/// encoding/json with SetEscapeHTML(false): `<`, `>`, `&` stay as they are.
fn raw_json(v: &Value) -> Result<String, String> {
    let j = yaml::to_json(v)?;
    let mut out = String::with_capacity(j.len());
    let mut it = j.char_indices();
    while let Some((p, c)) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let tail = &j[p..];
        let un = [("\\u003c", '<'), ("\\u003e", '>'), ("\\u0026", '&')]
            .iter()
            .find(|(e, _)| tail.starts_with(e));
        if let Some((_, ch)) = un {
            out.push(*ch);
            for _ in 0..5 {
                it.next();
            }
        } else {
            out.push('\\');
            if let Some((_, n)) = it.next() {
                out.push(n);
            }
        }
    }
    Ok(out)
}

/// Helm's fromJsonArray: a list, or a one-element list holding the error.
fn from_json_array(s: &str) -> Value {
    match serde_json::from_str::<serde_json::Value>(s) {
        Ok(v @ serde_json::Value::Array(_)) => Value::from_json_helm(&v),
        Ok(serde_json::Value::Null) => Value::list(Vec::new()),
        Ok(other) => Value::list(vec![Value::str(format!(
            "json: cannot unmarshal {} into Go value of type []interface {{}}",
            match other {
                serde_json::Value::Object(_) => "object",
                serde_json::Value::String(_) => "string",
                serde_json::Value::Number(_) => "number",
                _ => "bool",
            }
        ))]),
        Err(_) => match yaml::from_json(s) {
            Value::Map(m) => {
                Value::list(vec![m.borrow().get("Error").cloned().unwrap_or_default()])
            }
            _ => Value::list(Vec::new()),
        },
    }
}

/// regexp.QuoteMeta.
fn quote_meta(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

// ------------------------------------------------------------ paths

/// path.Clean.
fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let b = p.as_bytes();
    let rooted = b[0] == b'/';
    let n = b.len();
    let mut out: Vec<u8> = Vec::new();
    let (mut r, mut dotdot) = (0, 0);
    if rooted {
        out.push(b'/');
        r = 1;
        dotdot = 1;
    }
    while r < n {
        if b[r] == b'/' || (b[r] == b'.' && (r + 1 == n || b[r + 1] == b'/')) {
            r += 1;
        } else if b[r] == b'.' && b[r + 1] == b'.' && (r + 2 == n || b[r + 2] == b'/') {
            r += 2;
            if out.len() > dotdot {
                let mut w = out.len() - 1;
                while w > dotdot && out[w] != b'/' {
                    w -= 1;
                }
                out.truncate(w);
            } else if !rooted {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(b"..");
                dotdot = out.len();
            }
        } else {
            if (rooted && out.len() != 1) || (!rooted && !out.is_empty()) {
                out.push(b'/');
            }
            while r < n && b[r] != b'/' {
                out.push(b[r]);
                r += 1;
            }
        }
    }
    if out.is_empty() {
        return ".".into();
    }
    lossy(&out)
}

/// path.Dir.
fn dir(p: &str) -> String {
    let cut = p.rfind('/').map(|k| k + 1).unwrap_or(0);
    clean(&p[..cut])
}

// ------------------------------------------------------------ URLs

fn unhex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// url.PathUnescape / QueryUnescape-free unescape of `%XX`.
fn unescape(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut k = 0;
    while k < b.len() {
        if b[k] == b'%' {
            let h = b.get(k + 1).copied().and_then(unhex);
            let l = b.get(k + 2).copied().and_then(unhex);
            match (h, l) {
                (Some(h), Some(l)) => out.push(h << 4 | l),
                _ => {
                    let end = (k + 3).min(b.len());
                    return Err(format!(
                        "invalid URL escape {}",
                        go_quote(&lossy(&b[k..end]))
                    ));
                }
            }
            k += 3;
        } else {
            out.push(b[k]);
            k += 1;
        }
    }
    Ok(lossy(&out))
}

/// url.URL's escaping: `mode` is the part being written.
#[derive(Clone, Copy, PartialEq)]
enum Enc {
    Path,
    Userinfo,
    Fragment,
}

fn should_escape(c: u8, mode: Enc) -> bool {
    if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.' | b'~') {
        return false;
    }
    if matches!(
        c,
        b'$' | b'&' | b'+' | b',' | b'/' | b':' | b';' | b'=' | b'?' | b'@'
    ) {
        return match mode {
            Enc::Path => c == b'?',
            Enc::Userinfo => matches!(c, b'@' | b'/' | b'?' | b':'),
            Enc::Fragment => false,
        };
    }
    if mode == Enc::Fragment && matches!(c, b'!' | b'(' | b')' | b'*') {
        return false;
    }
    if mode == Enc::Path && matches!(c, b'!' | b'(' | b')' | b'*' | b'\'') {
        return false;
    }
    true
}

fn escape(s: &str, mode: Enc) -> String {
    let mut out = String::new();
    for &c in s.as_bytes() {
        if should_escape(c, mode) {
            out.push_str(&format!("%{c:02X}"));
        } else {
            out.push(c as char);
        }
    }
    out
}

/// sprig's urlParse over Go's url.Parse (the common forms).
fn url_parse(raw: &str) -> R<Value> {
    let fail = |e: String| Fail::Msg(format!("unable to parse url: parse {}: {e}", go_quote(raw)));
    let (rest, frag) = match raw.split_once('#') {
        Some((a, f)) => (a, unescape(f).map_err(fail)?),
        None => (raw, String::new()),
    };
    if rest.bytes().any(|c| c < 0x20 || c == 0x7f) {
        return Err(fail("net/url: invalid control character in URL".into()));
    }
    let mut scheme = String::new();
    let mut rest = rest;
    if let Some(k) = rest.find(':') {
        let cand = &rest[..k];
        let ok = !cand.is_empty()
            && cand.as_bytes()[0].is_ascii_alphabetic()
            && cand
                .bytes()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'));
        if k == 0 {
            return Err(fail("missing protocol scheme".into()));
        }
        if ok {
            scheme = cand.to_ascii_lowercase();
            rest = &rest[k + 1..];
        }
    }
    let (mut rest, query) = match rest.split_once('?') {
        Some((a, q)) => (a, q.to_string()),
        None => (rest, String::new()),
    };
    let mut m = Map::new();
    let (mut host, mut user, mut opaque) = (String::new(), String::new(), String::new());
    let mut path = String::new();
    if !rest.starts_with('/') && !scheme.is_empty() {
        opaque = rest.to_string();
    } else {
        if (!scheme.is_empty() || !rest.starts_with("///")) && rest.starts_with("//") {
            let auth_end = rest[2..].find('/').map(|k| k + 2).unwrap_or(rest.len());
            let auth = &rest[2..auth_end];
            rest = &rest[auth_end..];
            let h = match auth.rfind('@') {
                Some(k) => {
                    let u = &auth[..k];
                    let (name, pw) = match u.split_once(':') {
                        Some((n, p)) => {
                            (unescape(n).map_err(fail)?, Some(unescape(p).map_err(fail)?))
                        }
                        None => (unescape(u).map_err(fail)?, None),
                    };
                    user = escape(&name, Enc::Userinfo);
                    if let Some(p) = pw {
                        user.push(':');
                        user.push_str(&escape(&p, Enc::Userinfo));
                    }
                    &auth[k + 1..]
                }
                None => auth,
            };
            if let Some(c) = h.chars().find(|&c| {
                c.is_ascii() && !c.is_ascii_alphanumeric() && !"-_.~!$&'()*+,;=:[]<>\"%".contains(c)
            }) {
                return Err(fail(format!(
                    "invalid character {} in host name",
                    go_quote(&c.to_string())
                )));
            }
            host = unescape(h).map_err(fail)?;
        }
        path = unescape(rest).map_err(fail)?;
    }
    let hostname = if let Some(h) = host.strip_prefix('[') {
        h.split(']').next().unwrap_or("").to_string()
    } else {
        host.rsplit_once(':')
            .filter(|(_, p)| p.bytes().all(|c| c.is_ascii_digit()))
            .map(|(h, _)| h.to_string())
            .unwrap_or_else(|| host.clone())
    };
    m.insert("scheme".into(), Value::from(scheme));
    m.insert("host".into(), Value::from(host));
    m.insert("hostname".into(), Value::from(hostname));
    m.insert("path".into(), Value::from(path));
    m.insert("query".into(), Value::from(query));
    m.insert("opaque".into(), Value::from(opaque));
    m.insert("fragment".into(), Value::from(frag));
    m.insert("userinfo".into(), Value::from(user));
    Ok(Value::map(m))
}

/// sprig's urlJoin: url.URL.String() of the dict's parts.
fn url_join(d: &Value) -> R<Value> {
    let m = map_of(d);
    let m = m.borrow();
    let get = |k: &str| -> R<String> {
        match m.get(k) {
            None => Ok(String::new()),
            Some(Value::Str(s)) => Ok(s.to_string()),
            Some(v) => msg(format!(
                "unable to parse {k} key, must be of type string, but {} found",
                go_kind(v)
            )),
        }
    };
    let (scheme, host, path, query, opaque, frag) = (
        get("scheme")?,
        get("host")?,
        get("path")?,
        get("query")?,
        get("opaque")?,
        get("fragment")?,
    );
    let userinfo = get("userinfo")?;
    let mut out = String::new();
    if !scheme.is_empty() {
        out.push_str(&scheme);
        out.push(':');
    }
    if !opaque.is_empty() {
        out.push_str(&opaque);
    } else {
        if !scheme.is_empty() || !host.is_empty() || !userinfo.is_empty() {
            if !host.is_empty() || !path.is_empty() || !userinfo.is_empty() {
                out.push_str("//");
            }
            if !userinfo.is_empty() {
                let (n, p) = match userinfo.split_once(':') {
                    Some((n, p)) => (
                        unescape(n).unwrap_or_default(),
                        Some(unescape(p).unwrap_or_default()),
                    ),
                    None => (unescape(&userinfo).unwrap_or_default(), None),
                };
                out.push_str(&escape(&n, Enc::Userinfo));
                if let Some(p) = p {
                    out.push(':');
                    out.push_str(&escape(&p, Enc::Userinfo));
                }
                out.push('@');
            }
            out.push_str(&host);
        }
        let ep = escape(&path, Enc::Path);
        if !ep.is_empty() && !ep.starts_with('/') && !host.is_empty() {
            out.push('/');
        }
        if out.is_empty()
            && let Some(k) = ep.find(':')
            && !ep[..k].contains('/')
        {
            out.push_str("./");
        }
        out.push_str(&ep);
    }
    if !query.is_empty() {
        out.push('?');
        out.push_str(&query);
    }
    if !frag.is_empty() {
        out.push('#');
        out.push_str(&escape(&frag, Enc::Fragment));
    }
    ok_str(out)
}

// ------------------------------------------------------------ math

/// A decimal as shopspring/decimal keeps it: mantissa × 10^-scale.
#[derive(Clone, Copy)]
struct Dec {
    m: i128,
    scale: u32,
}

fn dec(f: f64) -> Option<Dec> {
    if !f.is_finite() {
        return None;
    }
    // shortest digits that read back as f
    let (neg, digits, exp) = crate::gofmt::shortest_digits(f);
    let m: i128 = digits.parse().ok()?;
    let m = if neg { -m } else { m };
    // value = 0.digits × 10^(exp+1) = digits × 10^(exp + 1 - len)
    let e = exp + 1 - digits.len() as i32;
    if e >= 0 {
        Some(Dec {
            m: m.checked_mul(10i128.checked_pow(e as u32)?)?,
            scale: 0,
        })
    } else {
        Some(Dec {
            m,
            scale: (-e) as u32,
        })
    }
}

fn rescale(a: Dec, scale: u32) -> Option<i128> {
    a.m.checked_mul(10i128.checked_pow(scale - a.scale)?)
}

fn dec_f64(d: Dec) -> f64 {
    format!("{}e-{}", d.m, d.scale).parse().unwrap_or(0.0)
}

/// sprig's execDecimalOp; falls back to f64 where i128 cannot hold the digits.
fn decimal_op(first: f64, rest: &[f64], op: char) -> R<f64> {
    let mut acc = first;
    let mut d = dec(first);
    for &x in rest {
        let y = dec(x);
        let r = match (d, y) {
            (Some(a), Some(b)) => match op {
                '+' | '-' => {
                    let s = a.scale.max(b.scale);
                    let (p, q) = (rescale(a, s), rescale(b, s));
                    p.zip(q)
                        .and_then(|(p, q)| {
                            if op == '+' {
                                p.checked_add(q)
                            } else {
                                p.checked_sub(q)
                            }
                        })
                        .map(|m| Dec { m, scale: s })
                }
                '*' => a.m.checked_mul(b.m).map(|m| Dec {
                    m,
                    scale: a.scale + b.scale,
                }),
                _ => {
                    if b.m == 0 {
                        return msg("decimal division by 0");
                    }
                    // DivRound(b, 16): truncated quotient, half away from zero
                    let shift = 16 + b.scale as i64 - a.scale as i64;
                    let p = |e: i64| 10i128.checked_pow(e as u32);
                    let nd = if shift >= 0 {
                        p(shift).and_then(|x| a.m.checked_mul(x)).map(|n| (n, b.m))
                    } else {
                        p(-shift).and_then(|x| b.m.checked_mul(x)).map(|d| (a.m, d))
                    };
                    nd.and_then(|(n, d)| {
                        let (q, r) = (n / d, n % d);
                        let up = r.unsigned_abs().checked_mul(2)? >= d.unsigned_abs();
                        let q = if up { q + n.signum() * d.signum() } else { q };
                        Some(Dec { m: q, scale: 16 })
                    })
                }
            },
            _ => None,
        };
        match r {
            Some(v) => {
                acc = dec_f64(v);
                d = Some(v);
            }
            None => {
                acc = match op {
                    '+' => acc + x,
                    '-' => acc - x,
                    '*' => acc * x,
                    _ => acc / x,
                };
                d = dec(acc);
            }
        }
    }
    Ok(acc)
}

fn floats(a: &[Value]) -> Vec<f64> {
    a.iter().map(to_f64).collect()
}

/// sprig's round(a, places, roundOn).
fn round(v: f64, places: i64, on: f64) -> f64 {
    let pow = 10f64.powf(places as f64);
    let digit = pow * v;
    let frac = digit - digit.trunc();
    let r = if frac >= on {
        digit.ceil()
    } else {
        digit.floor()
    };
    r / pow
}

/// strconv.ParseInt(fmt.Sprint(v), 8, 64), 0 on error.
fn to_decimal(v: &Value) -> i64 {
    let t = strval(v);
    let (neg, d) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(&t)),
    };
    if d.is_empty() || !d.bytes().all(|c| (b'0'..=b'7').contains(&c)) {
        return 0;
    }
    match i64::from_str_radix(d, 8) {
        Ok(n) => {
            if neg {
                -n
            } else {
                n
            }
        }
        Err(_) => 0,
    }
}

// ------------------------------------------------------------ random

fn random_bytes(n: usize) -> R<Vec<u8>> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| Fail::Msg(e.to_string()))?;
    Ok(b)
}

/// A uniform index below `n` (rejection sampling on u64).
fn random_below(n: u64) -> R<u64> {
    let zone = u64::MAX - (u64::MAX % n);
    loop {
        let b = random_bytes(8)?;
        let x = u64::from_le_bytes(b.try_into().unwrap_or([0; 8]));
        if x < zone {
            return Ok(x % n);
        }
    }
}

fn random_from(st: &mut State, n: i64, alphabet: &[u8]) -> R<Value> {
    if n <= 0 {
        return ok_str("");
    }
    st.charge_output(n as usize)?;
    let mut out = String::with_capacity(n as usize);
    for _ in 0..n {
        out.push(alphabet[random_below(alphabet.len() as u64)? as usize] as char);
    }
    ok_str(out)
}

const ALPHA: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const DIGITS: &[u8] = b"0123456789";

fn ascii_printable() -> Vec<u8> {
    (32u8..127).collect()
}

fn uuidv4() -> R<String> {
    let mut b = random_bytes(16)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex(&b);
    Ok(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

fn shuffle(s: &str) -> R<String> {
    let mut cs: Vec<char> = s.chars().collect();
    for k in (1..cs.len()).rev() {
        let j = random_below(k as u64 + 1)? as usize;
        cs.swap(k, j);
    }
    Ok(cs.into_iter().collect())
}

// ------------------------------------------------------------ lists

fn chunk(size: i64, l: &Value) -> R<Value> {
    let l = match l {
        Value::List(_) | Value::Nil => list_of(l, "chunk")?,
        v => return msg(format!("Cannot chunk type {}", go_kind(v))),
    };
    if size <= 0 {
        return msg("runtime error: integer divide by zero");
    }
    Ok(Value::list(
        l.chunks(size as usize)
            .map(|c| Value::list(c.to_vec()))
            .collect(),
    ))
}

fn prepend(l: &Value, v: &Value) -> R<Value> {
    let l = list_of(l, "prepend")?;
    let mut out = Vec::with_capacity(l.len() + 1);
    out.push(v.clone());
    out.extend(l.iter().cloned());
    Ok(Value::list(out))
}

/// The function an existing name (in funcs.rs) is, for the must* twins.
fn same_as(name: &str) -> super::F {
    super::lookup(name)
        .map(|f| f.f)
        .unwrap_or(|_, _, _| msg("missing"))
}

macro_rules! alias {
    ($name:literal) => {
        |st, dot, a| same_as($name)(st, dot, a)
    };
}

table! {
    // strings
    "hello" => [] => |_, _, _| ok_str("Hello!");
    "abbrev" => [I, S] => |_, _, a| ok_str(if i(&a[0]) < 4 { s(&a[1]).to_string() } else { abbreviate(s(&a[1]), 0, i(&a[0])) });
    "abbrevboth" => [I, I, S] => |_, _, a| {
        let (l, r) = (i(&a[0]), i(&a[1]));
        ok_str(if r < 4 || (l > 0 && r < 7) { s(&a[2]).to_string() } else { abbreviate(s(&a[2]), l, r) })
    };
    "untitle" => [S] => |_, _, a| ok_str(untitle(s(&a[0])));
    "swapcase" => [S] => |_, _, a| ok_str(swapcase(s(&a[0])));
    "camelcase" => [S] => |_, _, a| ok_str(camelcase(s(&a[0])));
    "snakecase" => [S] => |_, _, a| ok_str(to_lower_case(s(&a[0]), '_'));
    "kebabcase" => [S] => |_, _, a| ok_str(to_lower_case(s(&a[0]), '-'));
    "initials" => [S] => |_, _, a| ok_str(initials(s(&a[0])));
    "wrap" => [I, S] => |_, _, a| ok_str(wrap_custom(s(&a[1]), i(&a[0]), "", false));
    "wrapWith" => [I, S, S] => |st, _, a| {
        st.charge_output(s(&a[2]).len().saturating_mul(s(&a[1]).len()))?;
        ok_str(wrap_custom(s(&a[2]), i(&a[0]), s(&a[1]), true))
    };
    "plural" => [S, S, I] => |_, _, a| Ok(if i(&a[2]) == 1 { a[0].clone() } else { a[1].clone() });
    "trimall" => [S, S] => |_, _, a| { let cut: Vec<char> = s(&a[0]).chars().collect(); ok_str(s(&a[1]).trim_matches(&cut[..])) };
    "shuffle" => [S] => |_, _, a| ok_str(shuffle(s(&a[0]))?);
    "sha1sum" => [S] => |_, _, a| { use sha1::Digest as _; ok_str(hex(&sha1::Sha1::digest(s(&a[0]).as_bytes()))) };
    "sha512sum" => [S] => |_, _, a| { use sha2::Digest as _; ok_str(hex(&sha2::Sha512::digest(s(&a[0]).as_bytes()))) };
    "adler32sum" => [S] => |_, _, a| ok_str(adler32(s(&a[0]).as_bytes()).to_string());
    "b32enc" => [S] => |_, _, a| ok_str(b32enc(s(&a[0]).as_bytes()));
    "b32dec" => [S] => |_, _, a| ok_str(match b32dec(s(&a[0])) { Ok(b) => lossy(&b), Err(e) => e });
    "regexQuoteMeta" => [S] => |_, _, a| ok_str(quote_meta(s(&a[0])));
    "regexReplaceAllLiteral" => [S, S, S] => |_, _, a| ok_str(regex(s(&a[0]))?.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned());
    "mustRegexReplaceAllLiteral" => [S, S, S] => |_, _, a| ok_str(regex(s(&a[0]))?.replace_all(s(&a[1]), regex::NoExpand(s(&a[2]))).into_owned());
    "mustRegexFind" => [S, S] => alias!("regexFind");
    "mustRegexFindAll" => [S, S, I] => alias!("regexFindAll");
    "mustRegexSplit" => [S, S, I] => alias!("regexSplit");
    // encodings
    "toRawJson" => [Any] => |_, _, a| ok_str(raw_json(&a[0]).map_err(Fail::Msg)?);
    "mustToRawJson" => [Any] => |_, _, a| ok_str(raw_json(&a[0]).map_err(Fail::Msg)?);
    "mustToPrettyJson" => [Any] => |_, _, a| ok_str(yaml::to_json_pretty(&a[0]).map_err(Fail::Msg)?);
    "fromJsonArray" => [S] => |_, _, a| Ok(from_json_array(s(&a[0])));
    // flow, reflection
    "all" => [], ...Any => |_, _, a| Ok(Value::Bool(a.iter().all(|v| !empty(v))));
    "any" => [], ...Any => |_, _, a| Ok(Value::Bool(a.iter().any(|v| !empty(v))));
    "deepEqual" => [Any, Any] => |_, _, a| Ok(Value::Bool(deep_eq(&a[0], &a[1], 0)));
    "typeIsLike" => [S, Any] => |_, _, a| { let t = a[1].type_name(); Ok(Value::Bool(s(&a[0]) == t || format!("*{}", s(&a[0])) == t)) };
    "mustDeepCopy" => [Any] => alias!("deepCopy");
    // lists
    "prepend" => [Any, Any] => |_, _, a| prepend(&a[0], &a[1]);
    "mustPrepend" => [Any, Any] => |_, _, a| prepend(&a[0], &a[1]);
    "mustAppend" => [Any, Any] => alias!("push");
    "mustPush" => [Any, Any] => alias!("push");
    "chunk" => [I, Any] => |_, _, a| chunk(i(&a[0]), &a[1]);
    "mustChunk" => [I, Any] => |_, _, a| chunk(i(&a[0]), &a[1]);
    "mustFirst" => [Any] => alias!("first");
    "mustLast" => [Any] => alias!("last");
    "mustRest" => [Any] => alias!("rest");
    "mustInitial" => [Any] => alias!("initial");
    "mustReverse" => [Any] => alias!("reverse");
    "mustUniq" => [Any] => alias!("uniq");
    "mustWithout" => [Any], ...Any => alias!("without");
    "mustHas" => [Any, Any] => alias!("has");
    "mustCompact" => [Any] => alias!("compact");
    "mustSlice" => [Any], ...Any => alias!("slice");
    // math
    "add1f" => [Any] => |_, _, a| Ok(Value::Float(decimal_op(to_f64(&a[0]), &[1.0], '+')?));
    "addf" => [], ...Any => |_, _, a| Ok(Value::Float(decimal_op(0.0, &floats(&a), '+')?));
    "subf" => [Any], ...Any => |_, _, a| Ok(Value::Float(decimal_op(to_f64(&a[0]), &floats(&a[1..]), '-')?));
    "mulf" => [Any], ...Any => |_, _, a| Ok(Value::Float(decimal_op(to_f64(&a[0]), &floats(&a[1..]), '*')?));
    "divf" => [Any], ...Any => |_, _, a| Ok(Value::Float(decimal_op(to_f64(&a[0]), &floats(&a[1..]), '/')?));
    "maxf" => [Any], ...Any => |_, _, a| Ok(Value::Float(floats(&a[1..]).into_iter().fold(to_f64(&a[0]), go_max)));
    "minf" => [Any], ...Any => |_, _, a| Ok(Value::Float(floats(&a[1..]).into_iter().fold(to_f64(&a[0]), go_min)));
    "biggest" => [Any], ...Any => |_, _, a| Ok(Value::Int(a.iter().map(to_i64).max().unwrap_or(0)));
    "round" => [Any, I], ...Any => |_, _, a| Ok(Value::Float(round(to_f64(&a[0]), i(&a[1]), a.get(2).map(to_f64).unwrap_or(0.5))));
    "toDecimal" => [Any] => |_, _, a| Ok(Value::Int(to_decimal(&a[0])));
    "randInt" => [I, I] => |_, _, a| {
        let (lo, hi) = (i(&a[0]), i(&a[1]));
        let n = hi.wrapping_sub(lo);
        if n <= 0 { return msg("invalid argument to Intn"); }
        Ok(Value::Int(lo + random_below(n as u64)? as i64))
    };
    // random
    "randAlpha" => [I] => |st, _, a| random_from(st, i(&a[0]), ALPHA);
    "randAlphaNum" => [I] => |st, _, a| random_from(st, i(&a[0]), ALNUM);
    "randNumeric" => [I] => |st, _, a| random_from(st, i(&a[0]), DIGITS);
    "randAscii" => [I] => |st, _, a| random_from(st, i(&a[0]), &ascii_printable());
    "randBytes" => [I] => |st, _, a| {
        use base64::Engine as _;
        let n = i(&a[0]).max(0) as usize;
        st.charge_output(n.saturating_mul(2))?;
        ok_str(base64::engine::general_purpose::STANDARD.encode(random_bytes(n)?))
    };
    "uuidv4" => [] => |_, _, _| ok_str(uuidv4()?);
    // network: a renderer does not resolve names (Helm's template mode neither)
    "getHostByName" => [S] => |_, _, _| ok_str("");
    // paths (Linux: the filepath functions are the path ones)
    "dir" => [S] => |_, _, a| ok_str(dir(s(&a[0])));
    "clean" => [S] => |_, _, a| ok_str(clean(s(&a[0])));
    "isAbs" => [S] => |_, _, a| Ok(Value::Bool(s(&a[0]).starts_with('/')));
    "osBase" => [S] => alias!("base");
    "osDir" => [S] => |_, _, a| ok_str(dir(s(&a[0])));
    "osClean" => [S] => |_, _, a| ok_str(clean(s(&a[0])));
    "osExt" => [S] => alias!("ext");
    "osIsAbs" => [S] => |_, _, a| Ok(Value::Bool(s(&a[0]).starts_with('/')));
    // URLs
    "urlParse" => [S] => |_, _, a| url_parse(s(&a[0]));
    "urlJoin" => [M] => |_, _, a| url_join(&a[0]);
}

/// math.Max / math.Min (NaN wins, -0 < +0).
fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { b } else { a };
    }
    a.max(b)
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() {
        return f64::NAN;
    }
    if a == 0.0 && b == 0.0 {
        return if a.is_sign_negative() { a } else { b };
    }
    a.min(b)
}
