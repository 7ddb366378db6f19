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
        Value::Int(i) | Value::I64(i) => *i,
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
    let n = n as usize;
    // bytes below the largest multiple of the alphabet's size pick uniformly
    let zone = 256 - 256 % alphabet.len();
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for b in random_bytes((n - out.len()) * 2)? {
            if (b as usize) < zone && out.len() < n {
                out.push(alphabet[b as usize % alphabet.len()] as char);
            }
        }
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
    "biggest" => [Any], ...Any => |_, _, a| Ok(Value::I64(a.iter().map(to_i64).max().unwrap_or(0)));
    "round" => [Any, I], ...Any => |_, _, a| Ok(Value::Float(round(to_f64(&a[0]), i(&a[1]), a.get(2).map(to_f64).unwrap_or(0.5))));
    "toDecimal" => [Any] => |_, _, a| Ok(Value::I64(to_decimal(&a[0])));
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
    // crypto
    "bcrypt" => [S] => |st, _, a| { st.steps(COST_BCRYPT)?; ok_str(bcrypt_hash(s(&a[0]))?) };
    "htpasswd" => [S, S] => |st, _, a| {
        st.steps(COST_BCRYPT)?;
        if s(&a[0]).contains(':') { return ok_str(format!("invalid username: {}", s(&a[0]))); }
        ok_str(format!("{}:{}", s(&a[0]), bcrypt_hash(s(&a[1]))?))
    };
    "derivePassword" => [I, S, S, S, S] => |st, _, a| { st.steps(COST_SCRYPT)?; ok_str(derive_password(i(&a[0]) as u32, s(&a[1]), s(&a[2]), s(&a[3]), s(&a[4]))) };
    "encryptAES" => [S, S] => |_, _, a| ok_str(encrypt_aes(s(&a[0]), s(&a[1]))?);
    "decryptAES" => [S, S] => |_, _, a| ok_str(decrypt_aes(s(&a[0]), s(&a[1]))?);
    "genPrivateKey" => [S] => |st, _, a| { st.steps(if matches!(s(&a[0]), "" | "rsa") { COST_RSA4096 } else { COST_BCRYPT })?; ok_str(gen_private_key(s(&a[0]))?) };
    "genCA" => [S, I] => |st, _, a| { st.steps(COST_RSA2048)?; gen_ca(s(&a[0]), i(&a[1]), None) };
    "genCAWithKey" => [S, I, S] => |st, _, a| { st.steps(COST_SIGN)?; gen_ca(s(&a[0]), i(&a[1]), Some(&a[2])) };
    "genSelfSignedCert" => [S, Any, Any, I] => |st, _, a| { st.steps(COST_RSA2048)?; gen_self_signed(&a) };
    "genSelfSignedCertWithKey" => [S, Any, Any, I, S] => |st, _, a| { st.steps(COST_SIGN)?; gen_self_signed(&a) };
    "genSignedCert" => [S, Any, Any, I, Any] => |st, _, a| { st.steps(COST_RSA2048)?; gen_signed(&a) };
    "genSignedCertWithKey" => [S, Any, Any, I, Any, S] => |st, _, a| { st.steps(COST_SIGN)?; gen_signed(&a) };
    "buildCustomCert" => [S, S] => |_, _, a| build_custom_cert(s(&a[0]), s(&a[1]));
    "toYamlPretty" => [Any] => |st, _, a| ok_str(match to_yaml_pretty(&a[0]) {
        Ok(y) => y,
        Err(e) if e.starts_with("encoded value exceeds") => return Err(st.limit_error(e)),
        Err(_) => String::new(),
    });
    // TOML
    "toToml" => [Any] => |st, _, a| ok_str(match to_toml(&a[0]) {
        Ok(s) => s,
        Err(e) if e.starts_with("encoded value exceeds") => return Err(st.limit_error(e)),
        Err(e) if e.starts_with("reflect:") => return msg(e),
        Err(e) => e,
    });
    "fromToml" => [S] => |_, _, a| Ok(from_toml(s(&a[0])));
    "mustToToml" => [Any] => |_, _, a| ok_str(to_toml(&a[0]).map_err(Fail::Msg)?);
    // dates
    "now" => [] => |_, _, _| time_value(&GoTime::now());
    "date" => [S, Any] => |_, _, a| ok_str(date_in_zone(s(&a[0]), &a[1], "Local"));
    "dateInZone" => [S, Any, S] => |_, _, a| ok_str(date_in_zone(s(&a[0]), &a[1], s(&a[2])));
    "date_in_zone" => [S, Any, S] => |_, _, a| ok_str(date_in_zone(s(&a[0]), &a[1], s(&a[2])));
    "htmlDate" => [Any] => |_, _, a| ok_str(date_in_zone("2006-01-02", &a[0], "Local"));
    "htmlDateInZone" => [Any, S] => |_, _, a| ok_str(date_in_zone("2006-01-02", &a[0], s(&a[1])));
    "toDate" => [S, S] => |_, _, a| time_value(&go_parse(s(&a[0]), s(&a[1]), local_zone()).unwrap_or(GoTime { sec: -62135596800, nsec: 0, zone: Zone::Fixed(0, "UTC".into()) }));
    "mustToDate" => [S, S] => |_, _, a| time_value(&go_parse(s(&a[0]), s(&a[1]), local_zone()).map_err(Fail::Msg)?);
    "unixEpoch" => [Any] => |_, _, a| ok_str(time_param(&a[0])?.sec.to_string());
    "dateModify" => [S, Any] => |_, _, a| Ok(date_modify(s(&a[0]), &a[1])?.unwrap_or_else(|_| a[1].clone()));
    "date_modify" => [S, Any] => |_, _, a| Ok(date_modify(s(&a[0]), &a[1])?.unwrap_or_else(|_| a[1].clone()));
    "mustDateModify" => [S, Any] => |_, _, a| date_modify(s(&a[0]), &a[1])?.map_err(Fail::Msg);
    "must_date_modify" => [S, Any] => |_, _, a| date_modify(s(&a[0]), &a[1])?.map_err(Fail::Msg);
    "ago" => [Any] => |_, _, a| {
        let t = match &a[0] { Value::Int(n) | Value::I64(n) => GoTime::unix(*n), Value::Str(x) => GoTime::parse_string(x).unwrap_or_else(GoTime::now), _ => GoTime::now() };
        ok_str(duration_string(duration_round(since_ns(&t), 1_000_000_000)))
    };
    "duration" => [Any] => |_, _, a| {
        // sprig's type switch: a string or an int64; an int or a float64 is 0s
        let n: i64 = match &a[0] { Value::Str(x) => x.parse().unwrap_or(0), Value::I64(n) => *n, _ => 0 };
        ok_str(duration_string(n.wrapping_mul(1_000_000_000)))
    };
    "durationRound" => [Any] => |_, _, a| ok_str(duration_round_str(&a[0]));
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

// ------------------------------------------------------------ dates

/// A Go `time.Time`: an instant and the zone it prints in.
#[derive(Clone)]
struct GoTime {
    sec: i64,
    nsec: u32,
    zone: Zone,
}

#[derive(Clone)]
enum Zone {
    Tz(jiff::tz::TimeZone),
    Fixed(i32, String),
}

fn local_zone() -> Zone {
    Zone::Tz(jiff::tz::TimeZone::system())
}

/// time.LoadLocation; None where Go fails.
fn load_location(name: &str) -> Option<Zone> {
    match name {
        "" | "UTC" => Some(Zone::Fixed(0, "UTC".into())),
        "Local" => Some(local_zone()),
        n => jiff::tz::TimeZone::get(n).ok().map(Zone::Tz),
    }
}

impl Zone {
    /// Offset (seconds east) and abbreviation in effect at `sec`.
    fn at(&self, sec: i64) -> (i32, String) {
        match self {
            Zone::Fixed(o, n) => (*o, n.clone()),
            Zone::Tz(tz) => match jiff::Timestamp::new(sec, 0) {
                Ok(ts) => {
                    let info = tz.to_offset_info(ts);
                    (info.offset().seconds(), info.abbreviation().to_string())
                }
                Err(_) => (0, "UTC".into()),
            },
        }
    }
    /// The instant of a civil time in this zone (seconds since the epoch).
    fn instant(&self, civil_sec: i64) -> i64 {
        match self {
            Zone::Fixed(o, _) => civil_sec - i64::from(*o),
            Zone::Tz(tz) => {
                // Go's Date: the offset in effect just before, then re-checked
                let (o1, _) = self.at(civil_sec);
                let guess = civil_sec - i64::from(o1);
                let (o2, _) = self.at(guess);
                let _ = tz;
                if o1 == o2 {
                    guess
                } else {
                    let g2 = civil_sec - i64::from(o2);
                    if self.at(g2).0 == o2 { g2 } else { guess }
                }
            }
        }
    }
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in(m: i64, y: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The civil fields of a time in its zone.
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    min: i64,
    sec: i64,
    nsec: u32,
    wday: usize,
    yday: i64,
    offset: i32,
    abbr: String,
}

impl GoTime {
    fn civil(&self) -> Civil {
        let (offset, abbr) = self.zone.at(self.sec);
        let local = self.sec.saturating_add(i64::from(offset));
        let days = local.div_euclid(86400);
        let rem = local.rem_euclid(86400);
        let (year, month, day) = civil_from_days(days);
        Civil {
            year,
            month,
            day,
            hour: rem / 3600,
            min: rem % 3600 / 60,
            sec: rem % 60,
            nsec: self.nsec,
            wday: (days + 4).rem_euclid(7) as usize,
            yday: days - days_from_civil(year, 1, 1) + 1,
            offset,
            abbr,
        }
    }

    fn now() -> GoTime {
        let ts = jiff::Timestamp::now();
        GoTime {
            sec: ts.as_second(),
            nsec: ts.subsec_nanosecond().max(0) as u32,
            zone: local_zone(),
        }
    }

    fn unix(sec: i64) -> GoTime {
        GoTime {
            sec,
            nsec: 0,
            zone: local_zone(),
        }
    }

    fn in_zone(mut self, z: Zone) -> GoTime {
        self.zone = z;
        self
    }

    /// Time.String() without the monotonic clock reading.
    fn string(&self) -> String {
        go_format(self, "2006-01-02 15:04:05.999999999 -0700 MST")
    }

    /// Reads back what `string` printed.
    fn parse_string(s: &str) -> Option<GoTime> {
        let re = regex::Regex::new(
            r"^(-?\d{4,9})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))? ([+-])(\d\d)(\d\d)(\d\d)? (\S+)$",
        )
        .ok()?;
        let c = re.captures(s)?;
        let n = |k: usize| {
            c.get(k)
                .map(|m| m.as_str().parse::<i64>().unwrap_or(0))
                .unwrap_or(0)
        };
        let frac = c.get(7).map(|m| m.as_str()).unwrap_or("");
        let nsec: u32 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().ok()?
        };
        let mut off = (n(9) * 3600 + n(10) * 60 + n(11)) as i32;
        if &c[8] == "-" {
            off = -off;
        }
        let civil = days_from_civil(n(1), n(2), n(3)) * 86400 + n(4) * 3600 + n(5) * 60 + n(6);
        let name = c[12].to_string();
        let name = if name.starts_with(['+', '-']) {
            String::new()
        } else {
            name
        };
        Some(GoTime {
            sec: civil - i64::from(off),
            nsec,
            zone: Zone::Fixed(off, name),
        })
    }
}

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const DAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Std {
    LongMonth,
    Month,
    NumMonth,
    ZeroMonth,
    LongWeekDay,
    WeekDay,
    Day,
    UnderDay,
    ZeroDay,
    UnderYearDay,
    ZeroYearDay,
    Hour,
    Hour12,
    ZeroHour12,
    Minute,
    ZeroMinute,
    Second,
    ZeroSecond,
    LongYear,
    Year,
    PM,
    Pm,
    Tz,
    Iso(&'static str),
    Num(&'static str),
    Frac(usize, bool, u8),
}

/// time's nextStdChunk: literal prefix, the element, its layout text, the rest.
fn next_std(layout: &str) -> (&str, Option<(Std, &str)>, &str) {
    let b = layout.as_bytes();
    let n = b.len();
    let at = |k: usize, s: &str| layout[k..].starts_with(s);
    let lower_at = |k: usize| k < n && b[k].is_ascii_lowercase();
    for k in 0..n {
        let found: Option<(Std, usize)> = match b[k] {
            b'J' if at(k, "Jan") => {
                if at(k, "January") {
                    Some((Std::LongMonth, 7))
                } else if !lower_at(k + 3) {
                    Some((Std::Month, 3))
                } else {
                    None
                }
            }
            b'M' if at(k, "Mon") => {
                if at(k, "Monday") {
                    Some((Std::LongWeekDay, 6))
                } else if !lower_at(k + 3) {
                    Some((Std::WeekDay, 3))
                } else {
                    None
                }
            }
            b'M' if at(k, "MST") => Some((Std::Tz, 3)),
            b'0' if k + 1 < n && (b'1'..=b'6').contains(&b[k + 1]) => Some((
                [
                    Std::ZeroMonth,
                    Std::ZeroDay,
                    Std::ZeroHour12,
                    Std::ZeroMinute,
                    Std::ZeroSecond,
                    Std::Year,
                ][(b[k + 1] - b'1') as usize],
                2,
            )),
            b'0' if at(k, "002") => Some((Std::ZeroYearDay, 3)),
            b'1' => Some(if at(k, "15") {
                (Std::Hour, 2)
            } else {
                (Std::NumMonth, 1)
            }),
            b'2' => Some(if at(k, "2006") {
                (Std::LongYear, 4)
            } else {
                (Std::Day, 1)
            }),
            b'_' if at(k, "_2") => {
                if at(k, "_2006") {
                    return (
                        &layout[..k + 1],
                        Some((Std::LongYear, &layout[k + 1..k + 5])),
                        &layout[k + 5..],
                    );
                }
                Some((Std::UnderDay, 2))
            }
            b'_' if at(k, "__2") => Some((Std::UnderYearDay, 3)),
            b'3' => Some((Std::Hour12, 1)),
            b'4' => Some((Std::Minute, 1)),
            b'5' => Some((Std::Second, 1)),
            b'P' if at(k, "PM") => Some((Std::PM, 2)),
            b'p' if at(k, "pm") => Some((Std::Pm, 2)),
            b'-' => ["-070000", "-07:00:00", "-0700", "-07:00", "-07"]
                .iter()
                .find(|p| at(k, p))
                .map(|p| (Std::Num(p), p.len())),
            b'Z' => ["Z070000", "Z07:00:00", "Z0700", "Z07:00", "Z07"]
                .iter()
                .find(|p| at(k, p))
                .map(|p| (Std::Iso(p), p.len())),
            c @ (b'.' | b',') if k + 1 < n && (b[k + 1] == b'0' || b[k + 1] == b'9') => {
                let ch = b[k + 1];
                let mut j = k + 1;
                while j < n && b[j] == ch {
                    j += 1;
                }
                if j < n && b[j].is_ascii_digit() {
                    None
                } else {
                    Some((Std::Frac(j - k - 1, ch == b'9', c), j - k))
                }
            }
            _ => None,
        };
        if let Some((std, len)) = found {
            return (
                &layout[..k],
                Some((std, &layout[k..k + len])),
                &layout[k + len..],
            );
        }
    }
    (layout, None, "")
}

fn pad(n: i64, w: usize) -> String {
    if n < 0 {
        format!("-{:0w$}", -n)
    } else {
        format!("{n:0w$}")
    }
}

/// Time.Format.
fn go_format(t: &GoTime, layout: &str) -> String {
    let c = t.civil();
    let mut out = String::new();
    let mut rest = layout;
    loop {
        let (prefix, std, suffix) = next_std(rest);
        out.push_str(prefix);
        let Some((std, _)) = std else { break };
        rest = suffix;
        let h12 = if c.hour % 12 == 0 { 12 } else { c.hour % 12 };
        match std {
            Std::Year => out.push_str(&pad(c.year.rem_euclid(100), 2)),
            Std::LongYear => out.push_str(&pad(c.year, 4)),
            Std::Month => out.push_str(&MONTHS[c.month as usize - 1][..3]),
            Std::LongMonth => out.push_str(MONTHS[c.month as usize - 1]),
            Std::NumMonth => out.push_str(&c.month.to_string()),
            Std::ZeroMonth => out.push_str(&pad(c.month, 2)),
            Std::WeekDay => out.push_str(&DAYS[c.wday][..3]),
            Std::LongWeekDay => out.push_str(DAYS[c.wday]),
            Std::Day => out.push_str(&c.day.to_string()),
            Std::UnderDay => out.push_str(&format!("{:>2}", c.day)),
            Std::ZeroDay => out.push_str(&pad(c.day, 2)),
            Std::UnderYearDay => out.push_str(&format!("{:>3}", c.yday)),
            Std::ZeroYearDay => out.push_str(&pad(c.yday, 3)),
            Std::Hour => out.push_str(&pad(c.hour, 2)),
            Std::Hour12 => out.push_str(&h12.to_string()),
            Std::ZeroHour12 => out.push_str(&pad(h12, 2)),
            Std::Minute => out.push_str(&c.min.to_string()),
            Std::ZeroMinute => out.push_str(&pad(c.min, 2)),
            Std::Second => out.push_str(&c.sec.to_string()),
            Std::ZeroSecond => out.push_str(&pad(c.sec, 2)),
            Std::PM => out.push_str(if c.hour >= 12 { "PM" } else { "AM" }),
            Std::Pm => out.push_str(if c.hour >= 12 { "pm" } else { "am" }),
            Std::Iso(p) | Std::Num(p) => {
                if matches!(std, Std::Iso(_)) && c.offset == 0 {
                    out.push('Z');
                    continue;
                }
                let zone = c.offset / 60;
                let abs = c.offset.abs();
                out.push(if zone < 0 { '-' } else { '+' });
                let zone = zone.abs();
                out.push_str(&pad(i64::from(zone / 60), 2));
                let colon = p.contains(':');
                if p.len() > 3 {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&pad(i64::from(zone % 60), 2));
                }
                if p.ends_with("0000") || p.ends_with(":00:00") {
                    if colon {
                        out.push(':');
                    }
                    out.push_str(&pad(i64::from(abs % 60), 2));
                }
            }
            Std::Tz => {
                if !c.abbr.is_empty() {
                    out.push_str(&c.abbr);
                } else {
                    let zone = c.offset / 60;
                    out.push(if zone < 0 { '-' } else { '+' });
                    out.push_str(&pad(i64::from(zone.abs() / 60), 2));
                    out.push_str(&pad(i64::from(zone.abs() % 60), 2));
                }
            }
            Std::Frac(digits, nines, sep) => {
                let f = format!("{:09}", c.nsec);
                let f = &f[..digits.min(9)];
                if nines {
                    let t = f.trim_end_matches('0');
                    if !t.is_empty() {
                        out.push(sep as char);
                        out.push_str(t);
                    }
                } else {
                    out.push(sep as char);
                    out.push_str(f);
                }
            }
        }
    }
    out
}

fn parse_err(value: &str, layout: &str, velem: &str, lelem: &str) -> String {
    format!(
        "parsing time {} as {}: cannot parse {} as {}",
        go_quote(value),
        go_quote(layout),
        go_quote(velem),
        go_quote(lelem)
    )
}

/// getnum: one or two digits (exactly two when `fixed`).
fn getnum(s: &str, fixed: bool) -> Option<(i64, &str)> {
    let b = s.as_bytes();
    if b.is_empty() || !b[0].is_ascii_digit() {
        return None;
    }
    if b.len() < 2 || !b[1].is_ascii_digit() {
        if fixed {
            return None;
        }
        return Some((i64::from(b[0] - b'0'), &s[1..]));
    }
    Some((
        i64::from(b[0] - b'0') * 10 + i64::from(b[1] - b'0'),
        &s[2..],
    ))
}

fn cutspace(s: &str) -> &str {
    s.trim_start_matches(' ')
}

/// time.skip: layout spaces match any run of spaces.
fn skip<'a>(mut value: &'a str, mut prefix: &str) -> Result<&'a str, ()> {
    while !prefix.is_empty() {
        if prefix.starts_with(' ') {
            if !value.is_empty() && !value.starts_with(' ') {
                return Err(());
            }
            prefix = cutspace(prefix);
            value = cutspace(value);
            continue;
        }
        let c = prefix.chars().next().unwrap_or(' ');
        if !value.starts_with(c) {
            return Err(());
        }
        prefix = &prefix[c.len_utf8()..];
        value = &value[c.len_utf8()..];
    }
    Ok(value)
}

fn lookup_name<'a>(names: &[&str], short: bool, v: &'a str) -> Option<(usize, &'a str)> {
    for (k, n) in names.iter().enumerate() {
        let n = if short { &n[..3] } else { n };
        if v.len() >= n.len() && v.is_char_boundary(n.len()) && v[..n.len()].eq_ignore_ascii_case(n)
        {
            return Some((k, &v[n.len()..]));
        }
    }
    None
}

/// time.parseTimeZone's length of a zone abbreviation.
fn tz_len(v: &str) -> Option<usize> {
    let b = v.as_bytes();
    if b.len() < 3 {
        return None;
    }
    if b.len() >= 4 && (&b[..4] == b"ChST" || &b[..4] == b"MeST") {
        return Some(4);
    }
    if &b[..3] == b"GMT" {
        let r = &b[3..];
        if r.is_empty() || !(r[0] == b'+' || r[0] == b'-') {
            return Some(3);
        }
        let digits = r[1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 {
            return Some(3);
        }
        return Some(3 + 1 + digits);
    }
    if b[0] == b'+' || b[0] == b'-' {
        return None;
    }
    let up = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
    match up {
        0 | 1 | 2 | 6 => None,
        5 if b[4] == b'T' => Some(5),
        4 if b[3] == b'T' || &b[..4] == b"WITA" => Some(4),
        3 => Some(3),
        _ => None,
    }
}

/// time.ParseInLocation.
fn go_parse(layout: &str, value: &str, loc: Zone) -> Result<GoTime, String> {
    let (alayout, avalue) = (layout, value);
    let mut layout = layout;
    let mut value = value;
    let (mut year, mut month, mut day, mut yday) = (0i64, -1i64, -1i64, -1i64);
    let (mut hour, mut min, mut sec, mut nsec) = (0i64, 0i64, 0i64, 0u32);
    let (mut pm, mut am) = (false, false);
    let mut utc = false;
    let mut zone_offset: Option<i32> = None;
    let mut zone_name = String::new();
    let range = |what: &str| {
        Err(format!(
            "parsing time {}: {what} out of range",
            go_quote(avalue)
        ))
    };
    loop {
        let (prefix, std, suffix) = next_std(layout);
        let stdstr = std.map(|(_, s)| s).unwrap_or("");
        value = skip(value, prefix).map_err(|_| parse_err(avalue, alayout, value, prefix))?;
        let Some((std, _)) = std else {
            if !value.is_empty() {
                return Err(format!(
                    "parsing time {}: extra text: {}",
                    go_quote(avalue),
                    go_quote(value)
                ));
            }
            break;
        };
        layout = suffix;
        let hold = value;
        let bad = || parse_err(avalue, alayout, hold, stdstr);
        match std {
            Std::Year => {
                if value.len() < 2 || !value.is_char_boundary(2) {
                    return Err(bad());
                }
                let y: i64 = value[..2].parse().map_err(|_| bad())?;
                year = if y >= 69 { y + 1900 } else { y + 2000 };
                value = &value[2..];
            }
            Std::LongYear => {
                if value.len() < 4
                    || !value.as_bytes()[0].is_ascii_digit()
                    || !value.is_char_boundary(4)
                {
                    return Err(bad());
                }
                year = value[..4].parse().map_err(|_| bad())?;
                value = &value[4..];
            }
            Std::Month | Std::LongMonth => {
                let (m, r) = lookup_name(&MONTHS, std == Std::Month, value).ok_or_else(bad)?;
                month = m as i64 + 1;
                value = r;
            }
            Std::NumMonth | Std::ZeroMonth => {
                let (m, r) = getnum(value, std == Std::ZeroMonth).ok_or_else(bad)?;
                if !(1..=12).contains(&m) {
                    return range("month");
                }
                month = m;
                value = r;
            }
            Std::WeekDay | Std::LongWeekDay => {
                value = lookup_name(&DAYS, std == Std::WeekDay, value)
                    .ok_or_else(bad)?
                    .1;
            }
            Std::Day | Std::UnderDay | Std::ZeroDay => {
                if std == Std::UnderDay && value.starts_with(' ') {
                    value = &value[1..];
                }
                let (d, r) = getnum(value, std == Std::ZeroDay).ok_or_else(bad)?;
                day = d;
                value = r;
            }
            Std::UnderYearDay | Std::ZeroYearDay => {
                let mut v = value;
                if std == Std::UnderYearDay {
                    v = v.trim_start_matches(' ');
                }
                let digits = v.bytes().take(3).take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 || (std == Std::ZeroYearDay && digits < 3) {
                    return Err(bad());
                }
                yday = v[..digits].parse().map_err(|_| bad())?;
                value = &v[digits..];
            }
            Std::Hour => {
                let (h, r) = getnum(value, false).ok_or_else(bad)?;
                if !(0..24).contains(&h) {
                    return range("hour");
                }
                hour = h;
                value = r;
            }
            Std::Hour12 | Std::ZeroHour12 => {
                let (h, r) = getnum(value, std == Std::ZeroHour12).ok_or_else(bad)?;
                if !(0..=12).contains(&h) {
                    return range("hour");
                }
                hour = h;
                value = r;
            }
            Std::Minute | Std::ZeroMinute => {
                let (m, r) = getnum(value, std == Std::ZeroMinute).ok_or_else(bad)?;
                if !(0..60).contains(&m) {
                    return range("minute");
                }
                min = m;
                value = r;
            }
            Std::Second | Std::ZeroSecond => {
                let (s_, r) = getnum(value, std == Std::ZeroSecond).ok_or_else(bad)?;
                if !(0..60).contains(&s_) {
                    return range("second");
                }
                sec = s_;
                value = r;
                // a fraction the layout does not spell out is still read
                let vb = value.as_bytes();
                if vb.len() >= 2 && (vb[0] == b'.' || vb[0] == b',') && vb[1].is_ascii_digit() {
                    let (_, next, _) = next_std(layout);
                    if !matches!(next, Some((Std::Frac(..), _))) {
                        let n = 1 + vb[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                        nsec = frac_nanos(&value[1..n]);
                        value = &value[n..];
                    }
                }
            }
            Std::PM | Std::Pm => {
                if value.len() < 2 || !value.is_char_boundary(2) {
                    return Err(bad());
                }
                let p = &value[..2];
                let (up, down) = if std == Std::PM {
                    ("PM", "AM")
                } else {
                    ("pm", "am")
                };
                if p == up {
                    pm = true;
                } else if p == down {
                    am = true;
                } else {
                    return Err(bad());
                }
                value = &value[2..];
            }
            Std::Iso(p) | Std::Num(p) => {
                if matches!(std, Std::Iso(_)) && value.starts_with('Z') {
                    value = &value[1..];
                    utc = true;
                    continue;
                }
                let vb = value.as_bytes();
                let shape: &[u8] = match p.trim_start_matches(['Z', '-']) {
                    "07:00" => b"s00:00",
                    "07" => b"s00",
                    "07:00:00" => b"s00:00:00",
                    "070000" => b"s000000",
                    _ => b"s0000",
                };
                if vb.len() < shape.len() {
                    return Err(bad());
                }
                let mut digits = Vec::new();
                for (k, &want) in shape.iter().enumerate() {
                    match want {
                        b':' if vb[k] != b':' => return Err(bad()),
                        b'0' if !vb[k].is_ascii_digit() => return Err(bad()),
                        b'0' => digits.push(i32::from(vb[k] - b'0')),
                        _ => {}
                    }
                }
                let two = |k: usize| {
                    digits.get(k).copied().unwrap_or(0) * 10
                        + digits.get(k + 1).copied().unwrap_or(0)
                };
                let mut off = (two(0) * 60 + two(2)) * 60 + two(4);
                match vb[0] {
                    b'+' => {}
                    b'-' => off = -off,
                    _ => return Err(bad()),
                }
                zone_offset = Some(off);
                value = &value[shape.len()..];
            }
            Std::Tz => {
                if value.starts_with("UTC") {
                    utc = true;
                    value = &value[3..];
                    continue;
                }
                let n = tz_len(value).ok_or_else(bad)?;
                zone_name = value[..n].to_string();
                value = &value[n..];
            }
            Std::Frac(digits, nines, _) => {
                let vb = value.as_bytes();
                if !nines {
                    let nd = 1 + digits;
                    if vb.len() < nd
                        || !(vb[0] == b'.' || vb[0] == b',')
                        || !vb[1..nd].iter().all(|c| c.is_ascii_digit())
                    {
                        return Err(bad());
                    }
                    nsec = frac_nanos(&value[1..nd]);
                    value = &value[nd..];
                } else {
                    if vb.len() < 2 || !(vb[0] == b'.' || vb[0] == b',') || !vb[1].is_ascii_digit()
                    {
                        continue;
                    }
                    let n = 1 + vb[1..].iter().take_while(|c| c.is_ascii_digit()).count();
                    nsec = frac_nanos(&value[1..n]);
                    value = &value[n..];
                }
            }
        }
    }
    if pm && hour < 12 {
        hour += 12;
    } else if am && hour == 12 {
        hour = 0;
    }
    if yday >= 0 {
        let (mut m, mut d) = (1, yday);
        let leap_days = if is_leap(year) { 366 } else { 365 };
        if yday < 1 || yday > leap_days {
            return range("day-of-year");
        }
        while d > days_in(m, year) {
            d -= days_in(m, year);
            m += 1;
        }
        if (month >= 0 && month != m) || (day >= 0 && day != d) {
            return range("day-of-year");
        }
        month = m;
        day = d;
    } else {
        if month < 0 {
            month = 1;
        }
        if day < 0 {
            day = 1;
        }
    }
    if day < 1 || day > days_in(month, year) {
        return Err(format!(
            "parsing time {}: day out of range",
            go_quote(avalue)
        ));
    }
    let civil = days_from_civil(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
    let mk = |s: i64, zone: Zone| GoTime { sec: s, nsec, zone };
    if utc {
        return Ok(mk(civil, Zone::Fixed(0, "UTC".into())));
    }
    if let Some(off) = zone_offset {
        let t = civil - i64::from(off);
        let (lo, lname) = loc.at(t);
        if lo == off && (zone_name.is_empty() || lname == zone_name) {
            return Ok(mk(t, loc));
        }
        return Ok(mk(t, Zone::Fixed(off, zone_name)));
    }
    if !zone_name.is_empty() {
        // a known abbreviation of the location at about that time
        let (lo, lname) = loc.at(civil);
        if lname == zone_name {
            return Ok(mk(civil - i64::from(lo), loc));
        }
        let off = zone_name
            .strip_prefix("GMT")
            .and_then(|r| r.parse::<i32>().ok())
            .map(|h| h * 3600)
            .unwrap_or(0);
        return Ok(mk(civil, Zone::Fixed(off, zone_name)));
    }
    Ok(mk(loc.instant(civil), loc))
}

fn frac_nanos(digits: &str) -> u32 {
    let d: String = digits.chars().take(9).collect();
    format!("{d:0<9}").parse().unwrap_or(0)
}

/// The time a date function's argument stands for, as sprig's type switch
/// reads it: time.Time (our time strings) and ints; anything else is now.
fn time_arg(v: &Value) -> GoTime {
    match v {
        Value::Int(n) | Value::I64(n) => GoTime::unix(*n),
        Value::Str(s) => GoTime::parse_string(s).unwrap_or_else(GoTime::now),
        _ => GoTime::now(),
    }
}

/// A parameter typed time.Time.
fn time_param(v: &Value) -> R<GoTime> {
    match v {
        Value::Str(s) => match GoTime::parse_string(s) {
            Some(t) => Ok(t),
            None => msg("wrong type for value; expected time.Time; got string"),
        },
        Value::Nil => msg("invalid value; expected time.Time"),
        v => msg(format!(
            "wrong type for value; expected time.Time; got {}",
            v.type_name()
        )),
    }
}

fn date_in_zone(layout: &str, date: &Value, zone: &str) -> String {
    let t = time_arg(date);
    let z = load_location(zone).unwrap_or(Zone::Fixed(0, "UTC".into()));
    go_format(&t.in_zone(z), layout)
}

/// time.Duration.String.
fn duration_string(d: i64) -> String {
    let neg = d < 0;
    let mut u = d.unsigned_abs();
    let frac = |u: u64, prec: u32| -> (String, u64) {
        let p = 10u64.pow(prec);
        let f = u % p;
        if f == 0 {
            return (String::new(), u / p);
        }
        let s = format!("{f:0w$}", w = prec as usize);
        (format!(".{}", s.trim_end_matches('0')), u / p)
    };
    let mut out = String::new();
    if u < 1_000_000_000 {
        if u == 0 {
            return "0s".into();
        }
        let (prec, unit) = if u < 1_000 {
            (0, "ns")
        } else if u < 1_000_000 {
            (3, "µs")
        } else {
            (6, "ms")
        };
        let (f, whole) = frac(u, prec);
        out = format!("{whole}{f}{unit}");
    } else {
        let (f, secs) = frac(u, 9);
        u = secs;
        let s = format!("{}{f}s", u % 60);
        u /= 60;
        if u > 0 {
            let m = format!("{}m", u % 60);
            u /= 60;
            if u > 0 {
                out.push_str(&format!("{u}h"));
            }
            out.push_str(&m);
        }
        out.push_str(&s);
    }
    if neg {
        out.insert(0, '-');
    }
    out
}

/// time.ParseDuration.
fn parse_duration(orig: &str) -> Result<i64, String> {
    let invalid = || format!("time: invalid duration {}", go_quote(orig));
    let mut s = orig;
    let mut neg = false;
    if let Some(c) = s.chars().next()
        && (c == '-' || c == '+')
    {
        neg = c == '-';
        s = &s[1..];
    }
    if s == "0" {
        return Ok(0);
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut d: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes();
        if !(b[0] == b'.' || b[0].is_ascii_digit()) {
            return Err(invalid());
        }
        let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
        let mut v: u64 = 0;
        for &c in &b[..n] {
            v = v
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(c - b'0')))
                .filter(|v| *v <= 1 << 63)
                .ok_or_else(invalid)?;
        }
        let pre = n > 0;
        s = &s[n..];
        let (mut f, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(r) = s.strip_prefix('.') {
            s = r;
            let b = s.as_bytes();
            let n = b.iter().take_while(|c| c.is_ascii_digit()).count();
            let mut overflow = false;
            for &c in &b[..n] {
                if overflow {
                    continue;
                }
                if f > (1u64 << 63) / 10 {
                    overflow = true;
                    continue;
                }
                let y = f * 10 + u64::from(c - b'0');
                if y > 1 << 63 {
                    overflow = true;
                    continue;
                }
                f = y;
                scale *= 10.0;
            }
            post = n > 0;
            s = &s[n..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let k = s
            .bytes()
            .take_while(|c| !(*c == b'.' || c.is_ascii_digit()))
            .count();
        if k == 0 {
            return Err(format!("time: missing unit in duration {}", go_quote(orig)));
        }
        let u = &s[..k];
        s = &s[k..];
        let unit: u64 = match u {
            "ns" => 1,
            "us" | "µs" | "μs" => 1_000,
            "ms" => 1_000_000,
            "s" => 1_000_000_000,
            "m" => 60_000_000_000,
            "h" => 3_600_000_000_000,
            _ => {
                return Err(format!(
                    "time: unknown unit {} in duration {}",
                    go_quote(u),
                    go_quote(orig)
                ));
            }
        };
        if v > (1u64 << 63) / unit {
            return Err(invalid());
        }
        v *= unit;
        if f > 0 {
            v += (f as f64 * (unit as f64 / scale)) as u64;
            if v > 1 << 63 {
                return Err(invalid());
            }
        }
        d = d
            .checked_add(v)
            .filter(|d| *d <= 1 << 63)
            .ok_or_else(invalid)?;
    }
    if neg {
        return Ok((d as i128).wrapping_neg() as i64);
    }
    if d > i64::MAX as u64 {
        return Err(invalid());
    }
    Ok(d as i64)
}

/// Duration.Round.
fn duration_round(d: i64, m: i64) -> i64 {
    let r = d % m;
    let less_half = |x: i64| (x as u64).wrapping_add(x as u64) < m as u64;
    if d < 0 {
        let r = -r;
        if less_half(r) {
            return d + r;
        }
        return d.checked_sub(m - r).unwrap_or(i64::MIN);
    }
    if less_half(r) {
        return d - r;
    }
    d.checked_add(m - r).unwrap_or(i64::MAX)
}

fn since_ns(t: &GoTime) -> i64 {
    let now = GoTime::now();
    let s = (i128::from(now.sec) - i128::from(t.sec)) * 1_000_000_000 + i128::from(now.nsec)
        - i128::from(t.nsec);
    s.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

/// sprig's durationRound: the largest unit, truncated.
fn duration_round_str(v: &Value) -> String {
    let d: i64 = match v {
        Value::Str(s) => match GoTime::parse_string(s) {
            Some(t) => since_ns(&t),
            None => parse_duration(s).unwrap_or(0),
        },
        // sprig: an int64 is nanoseconds; an int or a float64 is 0
        Value::I64(n) => *n,
        _ => 0,
    };
    let u = d.unsigned_abs();
    let h: u64 = 3_600_000_000_000;
    let steps: [(u64, &str); 6] = [
        (h * 24 * 365, "y"),
        (h * 24 * 30, "m"),
        (h * 24, "d"),
        (h, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
    ];
    for (unit, name) in steps {
        if u > unit {
            return format!("{}{name}", u / unit);
        }
    }
    "0s".into()
}

fn time_value(t: &GoTime) -> R<Value> {
    ok_str(t.string())
}

fn date_modify(d: &str, t: &Value) -> R<Result<Value, String>> {
    let mut t = time_param(t)?;
    Ok(match parse_duration(d) {
        Ok(ns) => {
            let total = i128::from(t.nsec) + i128::from(ns);
            t.sec = t.sec.saturating_add(total.div_euclid(1_000_000_000) as i64);
            t.nsec = total.rem_euclid(1_000_000_000) as u32;
            Ok(Value::str(t.string()))
        }
        Err(e) => Err(e),
    })
}

// ------------------------------------------------------------ TOML

/// strconv.FormatFloat(f, 'g', -1, 64), plus ".0" where that reads as an int
/// (BurntSushi/toml's float form).
fn toml_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if f == 0.0 {
        return if f.is_sign_negative() {
            "-0.0".into()
        } else {
            "0.0".into()
        };
    }
    let (neg, digits, exp) = crate::gofmt::shortest_digits(f);
    let mut s = String::new();
    if neg {
        s.push('-');
    }
    if !(-4..6).contains(&exp) {
        s.push_str(&digits[..1]);
        if digits.len() > 1 {
            s.push('.');
            s.push_str(&digits[1..]);
        }
        s.push_str(&format!(
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.abs()
        ));
        return s;
    }
    let nd = digits.len() as i32;
    if exp < 0 {
        s.push_str("0.");
        s.push_str(&"0".repeat((-exp - 1) as usize));
        s.push_str(&digits);
    } else if exp + 1 >= nd {
        s.push_str(&digits);
        s.push_str(&"0".repeat((exp + 1 - nd) as usize));
        s.push_str(".0");
    } else {
        s.push_str(&digits[..(exp + 1) as usize]);
        s.push('.');
        s.push_str(&digits[(exp + 1) as usize..]);
    }
    s
}

fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{8}' => out.push_str("\\b"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\u{c}' => out.push_str("\\f"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_key(k: &str) -> String {
    if !k.is_empty()
        && k.bytes()
            .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
    {
        k.to_string()
    } else {
        toml_string(k)
    }
}

fn is_table_array(v: &Value) -> bool {
    match v {
        Value::List(l) => !l.is_empty() && l.iter().all(|x| matches!(x, Value::Map(_))),
        _ => false,
    }
}

/// BurntSushi/toml's Encoder (two-space indent), as Helm's toToml runs it.
struct Toml {
    out: String,
}

impl Toml {
    fn newline(&mut self) {
        if !self.out.is_empty() {
            self.out.push('\n');
        }
    }

    fn element(&mut self, v: &Value, depth: usize) -> Result<(), String> {
        if depth > crate::value::MAX_DEPTH {
            return Err("toml: value nested too deeply".into());
        }
        match v {
            Value::Bool(b) => self.out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) | Value::I64(i) => self.out.push_str(&i.to_string()),
            Value::Float(f) => self.out.push_str(&toml_float(*f)),
            Value::Str(s) => self.out.push_str(&toml_string(s)),
            Value::List(l) => {
                if l.iter().any(|x| matches!(x, Value::Nil)) {
                    return Err("toml: cannot encode array with nil element".into());
                }
                self.out.push('[');
                for (k, x) in l.iter().enumerate() {
                    if k > 0 {
                        self.out.push_str(", ");
                    }
                    self.element(x, depth + 1)?;
                }
                self.out.push(']');
            }
            Value::Map(m) => {
                self.out.push('{');
                let mut first = true;
                for (k, x) in m.borrow().iter() {
                    if matches!(x, Value::Nil) {
                        continue;
                    }
                    if !first {
                        self.out.push_str(", ");
                    }
                    first = false;
                    self.out.push_str(&toml_key(k));
                    self.out.push_str(" = ");
                    self.element(x, depth + 1)?;
                }
                self.out.push('}');
            }
            _ => return Err("reflect: call of reflect.Value.Type on zero Value".into()),
        }
        Ok(())
    }

    fn table(&mut self, key: &[String], m: &Map, depth: usize) -> Result<(), String> {
        if depth > crate::value::MAX_DEPTH {
            return Err("toml: value nested too deeply".into());
        }
        let indent = "  ".repeat(key.len());
        let (mut direct, mut sub) = (Vec::new(), Vec::new());
        for (k, v) in m {
            match v {
                Value::Nil => {}
                Value::Map(_) => sub.push((k, v)),
                v if is_table_array(v) => sub.push((k, v)),
                v => direct.push((k, v)),
            }
        }
        for (k, v) in direct {
            self.out.push_str(&indent);
            self.out.push_str(&toml_key(k));
            self.out.push_str(" = ");
            self.element(v, depth + 1)?;
            self.newline();
        }
        for (k, v) in sub {
            let mut key = key.to_vec();
            key.push(k.clone());
            let name = key
                .iter()
                .map(|k| toml_key(k))
                .collect::<Vec<_>>()
                .join(".");
            match v {
                Value::Map(sm) => {
                    if key.len() == 1 {
                        self.newline();
                    }
                    self.out.push_str(&format!("{indent}[{name}]"));
                    self.newline();
                    let sm = sm.borrow().clone();
                    self.table(&key, &sm, depth + 1)?;
                }
                Value::List(l) => {
                    for x in l.iter() {
                        let Value::Map(sm) = x else { continue };
                        self.newline();
                        self.out.push_str(&format!("{indent}[[{name}]]"));
                        self.newline();
                        let sm = sm.borrow().clone();
                        self.table(&key, &sm, depth + 1)?;
                    }
                }
                _ => {}
            }
            if self.out.len() > crate::value::output_cap() {
                return Err("encoded value exceeds the output size limit".into());
            }
        }
        Ok(())
    }
}

fn to_toml(v: &Value) -> Result<String, String> {
    let mut t = Toml { out: String::new() };
    match v {
        Value::Map(m) => {
            let m = m.borrow().clone();
            t.table(&[], &m, 0)?;
        }
        v => t.element(v, 0)?,
    }
    Ok(t.out)
}

// ------------------------------------------------------------ crypto

/// What the expensive functions cost in evaluation steps (a step is about
/// 100 ns), so that the step budget bounds a render that calls them in a
/// loop as it bounds any other work.
const COST_BCRYPT: usize = 500_000;
const COST_SCRYPT: usize = 1_000_000;
const COST_SIGN: usize = 100_000;
const COST_RSA2048: usize = 1_000_000;
const COST_RSA4096: usize = 10_000_000;

/// golang.org/x/crypto/bcrypt's GenerateFromPassword at DefaultCost.
fn bcrypt_hash(pw: &str) -> R<String> {
    if pw.len() > 72 {
        return Ok(
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes".into(),
        );
    }
    let salt: [u8; 16] = random_bytes(16)?.try_into().unwrap_or([0; 16]);
    match bcrypt::hash_with_salt(pw, 10, salt) {
        Ok(h) => Ok(h.format_for_version(bcrypt::Version::TwoA)),
        Err(e) => Ok(format!("failed to encrypt string with bcrypt: {e}")),
    }
}

const MP_SEED: &str = "com.lyndir.masterpassword";

fn mp_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

fn mp_chars(c: u8) -> &'static [u8] {
    match c {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        _ => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
    }
}

/// sprig's derivePassword: the Master Password algorithm (scrypt, HMAC-SHA256).
fn derive_password(counter: u32, kind: &str, password: &str, user: &str, site: &str) -> String {
    use hmac::{KeyInit as _, Mac as _};
    let Some(templates) = mp_templates(kind) else {
        return format!("cannot find password template {kind}");
    };
    let mut salt = MP_SEED.as_bytes().to_vec();
    salt.extend_from_slice(&(user.len() as u32).to_be_bytes());
    salt.extend_from_slice(user.as_bytes());
    let mut key = [0u8; 64];
    let params = scrypt::Params::new(15, 8, 2, 64).expect("N=32768, r=8, p=2 are valid");
    if let Err(e) = scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key) {
        return format!("failed to derive password: {e}");
    }
    let mut msg = MP_SEED.as_bytes().to_vec();
    msg.extend_from_slice(&(site.len() as u32).to_be_bytes());
    msg.extend_from_slice(site.as_bytes());
    msg.extend_from_slice(&counter.to_be_bytes());
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key) else {
        return "failed to derive password".into();
    };
    mac.update(&msg);
    let seed = mac.finalize().into_bytes();
    let t = templates[seed[0] as usize % templates.len()];
    t.bytes()
        .enumerate()
        .map(|(k, c)| {
            let cs = mp_chars(c);
            cs[seed[k + 1] as usize % cs.len()] as char
        })
        .collect()
}

fn aes_key(password: &str) -> aes::Aes256 {
    use aes::cipher::KeyInit as _;
    let mut key = [0u8; 32];
    let n = password.len().min(32);
    key[..n].copy_from_slice(&password.as_bytes()[..n]);
    aes::Aes256::new(&key.into())
}

/// sprig's encryptAES: AES-256-CBC, PKCS#7 padding, random IV first, base64.
fn encrypt_aes(password: &str, plain: &str) -> R<String> {
    use aes::cipher::BlockEncrypt as _;
    use base64::Engine as _;
    if plain.is_empty() {
        return Ok(String::new());
    }
    let cipher = aes_key(password);
    let mut content = plain.as_bytes().to_vec();
    let pad = 16 - content.len() % 16;
    content.extend(std::iter::repeat_n(pad as u8, pad));
    let mut out = random_bytes(16)?;
    let mut prev: [u8; 16] = out[..16].try_into().unwrap_or([0; 16]);
    for block in content.chunks(16) {
        let mut b = [0u8; 16];
        for k in 0..16 {
            b[k] = block[k] ^ prev[k];
        }
        let mut ga = b.into();
        cipher.encrypt_block(&mut ga);
        prev = ga.into();
        out.extend_from_slice(&prev);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}

/// Go's base64.StdEncoding.DecodeString error position (the common cases).
fn b64_go(s: &str) -> Result<Vec<u8>, String> {
    use base64::Engine as _;
    let clean: String = s.chars().filter(|c| *c != '\r' && *c != '\n').collect();
    match base64::engine::general_purpose::STANDARD.decode(&clean) {
        Ok(b) => Ok(b),
        Err(base64::DecodeError::InvalidByte(k, _))
        | Err(base64::DecodeError::InvalidLastSymbol(k, _)) => {
            Err(format!("illegal base64 data at input byte {k}"))
        }
        Err(_) => {
            let k = clean.trim_end_matches('=').len() / 4 * 4;
            Err(format!(
                "illegal base64 data at input byte {}",
                k.min(clean.len())
            ))
        }
    }
}

/// sprig's decryptAES, including where Go's slicing panics.
fn decrypt_aes(password: &str, crypt64: &str) -> R<String> {
    use aes::cipher::BlockDecrypt as _;
    if crypt64.is_empty() {
        return Ok(String::new());
    }
    let crypt = b64_go(crypt64).map_err(Fail::Msg)?;
    if crypt.len() < 16 {
        return msg(format!(
            "runtime error: slice bounds out of range [:16] with capacity {}",
            crypt.len()
        ));
    }
    let (iv, body) = crypt.split_at(16);
    if body.len() % 16 != 0 {
        return msg("crypto/cipher: input not full blocks");
    }
    if body.is_empty() {
        return msg("runtime error: index out of range [-1]");
    }
    let cipher = aes_key(password);
    let mut prev: [u8; 16] = iv.try_into().unwrap_or([0; 16]);
    let mut out = Vec::with_capacity(body.len());
    for block in body.chunks(16) {
        let cur: [u8; 16] = block.try_into().unwrap_or([0; 16]);
        let mut ga = cur.into();
        cipher.decrypt_block(&mut ga);
        let b: [u8; 16] = ga.into();
        out.extend(b.iter().zip(prev.iter()).map(|(x, y)| x ^ y));
        prev = cur;
    }
    let pad = out[out.len() - 1] as usize;
    if pad > out.len() {
        return msg(format!(
            "runtime error: slice bounds out of range [:{}]",
            out.len() as i64 - pad as i64
        ));
    }
    Ok(lossy(&out[..out.len() - pad]))
}

/// A TOML datetime as BurntSushi/toml decodes it: a time.Time whose zone
/// is the offset, or one of its "date-local"-style names for local forms.
fn toml_datetime(d: &toml_edit::Datetime) -> Value {
    let (y, mo, da) = d
        .date
        .map(|x| (i64::from(x.year), i64::from(x.month), i64::from(x.day)))
        .unwrap_or((0, 1, 1));
    let (h, mi, se, ns) = d
        .time
        .map(|t| {
            (
                i64::from(t.hour),
                i64::from(t.minute),
                i64::from(t.second.unwrap_or(0)),
                t.nanosecond.unwrap_or(0),
            )
        })
        .unwrap_or((0, 0, 0, 0));
    let civil = days_from_civil(y, mo, da) * 86400 + h * 3600 + mi * 60 + se;
    let zone = match (d.offset, d.date.is_some(), d.time.is_some()) {
        (Some(toml_edit::Offset::Z), ..) => Zone::Fixed(0, "UTC".into()),
        (Some(toml_edit::Offset::Custom { minutes }), ..) => {
            Zone::Fixed(i32::from(minutes) * 60, String::new())
        }
        (None, true, true) => Zone::Fixed(0, "datetime-local".into()),
        (None, true, false) => Zone::Fixed(0, "date-local".into()),
        _ => Zone::Fixed(0, "time-local".into()),
    };
    let off = match &zone {
        Zone::Fixed(o, _) => i64::from(*o),
        _ => 0,
    };
    Value::str(
        GoTime {
            sec: civil - off,
            nsec: ns,
            zone,
        }
        .string(),
    )
}

fn toml_value(v: &toml_edit::Value, depth: usize) -> Value {
    if depth > crate::value::MAX_DEPTH {
        return Value::Nil;
    }
    match v {
        toml_edit::Value::String(s) => Value::str(s.value().as_str()),
        toml_edit::Value::Integer(n) => Value::I64(*n.value()),
        toml_edit::Value::Float(f) => Value::Float(*f.value()),
        toml_edit::Value::Boolean(b) => Value::Bool(*b.value()),
        toml_edit::Value::Datetime(d) => toml_datetime(d.value()),
        toml_edit::Value::Array(a) => {
            Value::list(a.iter().map(|x| toml_value(x, depth + 1)).collect())
        }
        toml_edit::Value::InlineTable(t) => Value::map(
            t.iter()
                .map(|(k, x)| (k.to_string(), toml_value(x, depth + 1)))
                .collect(),
        ),
    }
}

fn toml_item(v: &toml_edit::Item, depth: usize) -> Value {
    if depth > crate::value::MAX_DEPTH {
        return Value::Nil;
    }
    match v {
        toml_edit::Item::Value(x) => toml_value(x, depth),
        toml_edit::Item::Table(t) => Value::map(
            t.iter()
                .map(|(k, x)| (k.to_string(), toml_item(x, depth + 1)))
                .collect(),
        ),
        toml_edit::Item::ArrayOfTables(a) => Value::list(
            a.iter()
                .map(|t| toml_item(&toml_edit::Item::Table(t.clone()), depth + 1))
                .collect(),
        ),
        toml_edit::Item::None => Value::Nil,
    }
}

/// Helm's fromToml: a map, or a map holding `Error` (toml_edit's wording,
/// prefixed with the line as BurntSushi/toml does).
fn from_toml(s: &str) -> Value {
    match s.parse::<toml_edit::DocumentMut>() {
        Ok(doc) => toml_item(doc.as_item(), 0),
        Err(e) => {
            let line = e
                .span()
                .map(|r| s[..r.start.min(s.len())].matches('\n').count() + 1)
                .unwrap_or(1);
            let mut m = Map::new();
            m.insert(
                "Error".into(),
                Value::from(format!("toml: line {line}: {}", e.message())),
            );
            Value::map(m)
        }
    }
}

// ------------------------------------------------------------ certificates

/// A private key as sprig holds one, with rcgen's signing key for it.
struct PrivKey {
    /// The PEM that pemBlockForKey writes: "RSA PRIVATE KEY" (PKCS#1),
    /// "EC PRIVATE KEY" (SEC1), "PRIVATE KEY" (PKCS#8, Ed25519).
    pem: String,
    pair: rcgen::KeyPair,
}

fn cert_err(e: impl std::fmt::Display) -> Fail {
    Fail::Msg(e.to_string())
}

fn rsa_key(bits: usize) -> R<PrivKey> {
    let key = rsa::RsaPrivateKey::new(&mut rand_core::OsRng, bits)
        .map_err(|e| Fail::Msg(format!("error generating rsa key: {e}")))?;
    rsa_priv(&key)
}

fn rsa_priv(key: &rsa::RsaPrivateKey) -> R<PrivKey> {
    use rsa::pkcs1::EncodeRsaPrivateKey as _;
    use rsa::pkcs8::EncodePrivateKey as _;
    let pem = key
        .to_pkcs1_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(cert_err)?
        .to_string();
    let p8 = key
        .to_pkcs8_pem(rsa::pkcs8::LineEnding::LF)
        .map_err(cert_err)?;
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&p8, &rcgen::PKCS_RSA_SHA256)
        .map_err(cert_err)?;
    Ok(PrivKey { pem, pair })
}

fn ec_priv(key: &p256::SecretKey) -> R<PrivKey> {
    use p256::pkcs8::EncodePrivateKey as _;
    let pem = key
        .to_sec1_pem(p256::pkcs8::LineEnding::LF)
        .map_err(cert_err)?
        .to_string();
    let der = key.to_pkcs8_der().map_err(cert_err)?;
    let pair = rcgen::KeyPair::try_from(der.as_bytes()).map_err(cert_err)?;
    Ok(PrivKey { pem, pair })
}

/// An Ed25519 key as Go's MarshalPKCS8PrivateKey writes it (version 1).
fn ed_priv(seed: &[u8]) -> R<PrivKey> {
    use base64::Engine as _;
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(seed);
    let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
    let pem = format!("-----BEGIN PRIVATE KEY-----\n{b64}\n-----END PRIVATE KEY-----\n");
    let pair = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&pem, &rcgen::PKCS_ED25519)
        .map_err(cert_err)?;
    Ok(PrivKey { pem, pair })
}

/// sprig's genPrivateKey.
fn gen_private_key(kind: &str) -> R<String> {
    Ok(match kind {
        "" | "rsa" => rsa_key(4096)?.pem,
        "ecdsa" => {
            let pair =
                rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(cert_err)?;
            let key = {
                use p256::pkcs8::DecodePrivateKey as _;
                p256::SecretKey::from_pkcs8_der(pair.serialized_der()).map_err(cert_err)?
            };
            ec_priv(&key)?.pem
        }
        "ed25519" => {
            let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).map_err(cert_err)?;
            ed_priv(&pair.serialized_der()[16..48])?.pem
        }
        "dsa" => "failed to generate private key: DSA keys are not supported here".into(),
        other => format!("Unknown type {other}"),
    })
}

/// sprig's parsePrivateKeyPEM (RSA, P-256 and Ed25519 keys).
fn parse_private_key(text: &str) -> Result<PrivKey, String> {
    let Some(block) = pem_block(text) else {
        return Err("no PEM data in input".into());
    };
    let (label, der) = block;
    if label == "PRIVATE KEY" {
        use rsa::pkcs8::DecodePrivateKey as _;
        if let Ok(k) = rsa::RsaPrivateKey::from_pkcs8_der(&der) {
            return rsa_priv(&k).map_err(fail_text);
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
            return ec_priv(&k).map_err(fail_text);
        }
        if der.len() >= 48 && der[5..12] == [0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70] {
            return ed_priv(&der[16..48]).map_err(fail_text);
        }
        return Err("decoding PEM as PKCS#8: x509: PKCS#8 wrapping contained private key with unknown algorithm".into());
    }
    let Some(kind) = label.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {label}"));
    };
    match kind {
        "RSA" => {
            use rsa::pkcs1::DecodeRsaPrivateKey as _;
            let k = rsa::RsaPrivateKey::from_pkcs1_der(&der)
                .map_err(|e| format!("parsing RSA private key from PEM: {e}"))?;
            rsa_priv(&k).map_err(fail_text)
        }
        "EC" => {
            let k = p256::SecretKey::from_sec1_der(&der)
                .map_err(|e| format!("parsing EC private key from PEM: {e}"))?;
            ec_priv(&k).map_err(fail_text)
        }
        _ => Err(format!("invalid private key type {label}")),
    }
}

fn fail_text(f: Fail) -> String {
    match f {
        Fail::Msg(m) => m,
        Fail::Done(e) => e.message,
    }
}

/// encoding/pem's Decode of the first block: its label and bytes.
fn pem_block(text: &str) -> Option<(String, Vec<u8>)> {
    use base64::Engine as _;
    let start = text.find("-----BEGIN ")?;
    let rest = &text[start + 11..];
    let (label, rest) = rest.split_once("-----")?;
    let end = rest.find(&format!("-----END {label}-----"))?;
    let body: String = rest[..end].chars().filter(|c| !c.is_whitespace()).collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(body)
        .ok()?;
    Some((label.to_string(), der))
}

fn str_list(v: &Value, what: &str) -> R<Vec<String>> {
    match v {
        Value::Nil => Ok(Vec::new()),
        Value::List(l) => l
            .iter()
            .map(|x| match x {
                Value::Str(s) => Ok(s.to_string()),
                x => msg(format!(
                    "{what}: {} is not a string",
                    crate::gofmt::sprint_value(x)
                )),
            })
            .collect(),
        v => msg(format!(
            "wrong type for value; expected []interface {{}}; got {}",
            v.type_name()
        )),
    }
}

/// sprig's getBaseCertTemplate.
fn base_params(cn: &str, ips: &Value, dns: &Value, days: i64) -> R<rcgen::CertificateParams> {
    let ips = str_list(ips, "error parsing ip")?;
    let dns = str_list(dns, "error processing alternate dns name")?;
    let mut p = rcgen::CertificateParams::default();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, cn);
    p.distinguished_name = dn;
    for d in dns {
        let name = d.as_str().try_into().map_err(cert_err)?;
        p.subject_alt_names.push(rcgen::SanType::DnsName(name));
    }
    for ip in ips {
        let addr: std::net::IpAddr = ip
            .parse()
            .map_err(|_| Fail::Msg(format!("error parsing ip: {ip}")))?;
        p.subject_alt_names.push(rcgen::SanType::IpAddress(addr));
    }
    let mut serial = random_bytes(16)?;
    serial[0] &= 0x7f;
    p.serial_number = Some(rcgen::SerialNumber::from(serial));
    let now = GoTime::now().sec;
    let at = |s: i64| time::OffsetDateTime::from_unix_timestamp(s).map_err(cert_err);
    p.not_before = at(now)?;
    p.not_after = at(now.saturating_add(days.saturating_mul(86400)))?;
    p.key_usages = vec![
        rcgen::KeyUsagePurpose::KeyEncipherment,
        rcgen::KeyUsagePurpose::DigitalSignature,
    ];
    p.extended_key_usages = vec![
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
        rcgen::ExtendedKeyUsagePurpose::ClientAuth,
    ];
    p.is_ca = rcgen::IsCa::ExplicitNoCa;
    Ok(p)
}

fn cert_value(cert: &str, key: &str) -> Value {
    let mut m = Map::new();
    m.insert("Cert".into(), Value::from(cert));
    m.insert("Key".into(), Value::from(key));
    Value::map(m)
}

fn with_key(pem: Option<&Value>, bits: usize) -> R<PrivKey> {
    match pem {
        Some(p) => {
            parse_private_key(s(p)).map_err(|e| Fail::Msg(format!("parsing private key: {e}")))
        }
        None => rsa_key(bits),
    }
}

/// genCA / genCAWithKey.
fn gen_ca(cn: &str, days: i64, pem: Option<&Value>) -> R<Value> {
    let key = with_key(pem, 2048)?;
    let mut p = base_params(cn, &Value::Nil, &Value::Nil, days)?;
    p.key_usages.push(rcgen::KeyUsagePurpose::KeyCertSign);
    p.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let cert = p
        .self_signed(&key.pair)
        .map_err(|e| Fail::Msg(format!("error creating certificate: {e}")))?;
    Ok(cert_value(&cert.pem(), &key.pem))
}

/// genSelfSignedCert / genSelfSignedCertWithKey.
fn gen_self_signed(a: &[Value]) -> R<Value> {
    let key = with_key(a.get(4), 2048)?;
    let p = base_params(s(&a[0]), &a[1], &a[2], i(&a[3]))?;
    let cert = p
        .self_signed(&key.pair)
        .map_err(|e| Fail::Msg(format!("error creating certificate: {e}")))?;
    Ok(cert_value(&cert.pem(), &key.pem))
}

/// genSignedCert / genSignedCertWithKey: `a[4]` is the CA (Cert and Key).
fn gen_signed(a: &[Value]) -> R<Value> {
    let ca = map_of(&a[4]);
    let (ca_cert, ca_key) = {
        let m = ca.borrow();
        let get = |k: &str| m.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
        (get("Cert"), get("Key"))
    };
    let Some((_, der)) = pem_block(&ca_cert) else {
        return msg("unable to decode certificate");
    };
    if x509_parser::parse_x509_certificate(&der).is_err() {
        return msg(
            "error parsing certificate: decodedSignerCert.Bytes: x509: malformed certificate",
        );
    }
    let signer = parse_private_key(&ca_key)
        .map_err(|e| Fail::Msg(format!("error parsing private key: {e}")))?;
    let issuer = rcgen::Issuer::from_ca_cert_der(&der.into(), signer.pair).map_err(|e| {
        Fail::Msg(format!(
            "error parsing certificate: decodedSignerCert.Bytes: {e}"
        ))
    })?;
    let key = with_key(a.get(5), 2048)?;
    let mut p = base_params(s(&a[0]), &a[1], &a[2], i(&a[3]))?;
    p.use_authority_key_identifier_extension = true;
    let cert = p
        .signed_by(&key.pair, &issuer)
        .map_err(|e| Fail::Msg(format!("error creating certificate: {e}")))?;
    Ok(cert_value(&cert.pem(), &key.pem))
}

/// sprig's buildCustomCert: checks both halves, returns them as they are.
fn build_custom_cert(b64cert: &str, b64key: &str) -> R<Value> {
    let cert =
        b64_go(b64cert).map_err(|_| Fail::Msg("unable to decode base64 certificate".into()))?;
    let key =
        b64_go(b64key).map_err(|_| Fail::Msg("unable to decode base64 private key".into()))?;
    let (cert, key) = (lossy(&cert), lossy(&key));
    let Some((_, der)) = pem_block(&cert) else {
        return msg("unable to decode certificate");
    };
    if let Err(e) = x509_parser::parse_x509_certificate(&der) {
        return msg(format!("error parsing certificate: decodedCert.Bytes: {e}"));
    }
    parse_private_key(&key).map_err(|e| Fail::Msg(format!("error parsing private key: {e}")))?;
    Ok(cert_value(&cert, &key))
}

// ------------------------------------------------------------ toYamlPretty

/// A scalar as go-yaml writes it, on one line (no 80-column folding: the
/// v3 encoder behind toYamlPretty does not fold), or as a block scalar
/// whose content lines are re-indented to `indent`.
fn pretty_scalar(v: &Value, indent: usize) -> Result<String, String> {
    let y = yaml::to_yaml(v)?;
    let y = y.strip_suffix('\n').unwrap_or(&y);
    if y.starts_with('|') || y.starts_with('>') {
        // go-yaml indents the content two past its parent's column
        let pad = " ".repeat(indent.saturating_sub(2));
        let mut lines = y.split('\n');
        let mut out = lines.next().unwrap_or("").to_string();
        for l in lines {
            out.push('\n');
            if !l.is_empty() {
                out.push_str(&pad);
                out.push_str(l);
            }
        }
        return Ok(out);
    }
    // undo the folds: a line break (and its indentation) was one space
    let dq = y.starts_with('"');
    let mut out = String::with_capacity(y.len());
    let mut it = y.chars().peekable();
    while let Some(c) = it.next() {
        if c != '\n' {
            out.push(c);
            continue;
        }
        while it.peek() == Some(&' ') {
            it.next();
        }
        out.push(' ');
        if dq && it.peek() == Some(&'\\') {
            let mut look = it.clone();
            look.next();
            if look.peek() == Some(&' ') {
                it.next();
            }
        }
    }
    Ok(out)
}

fn is_block_collection(v: &Value) -> bool {
    match v {
        Value::List(l) => !l.is_empty(),
        Value::Map(m) => !m.borrow().is_empty(),
        _ => false,
    }
}

/// yaml.v3's encoder with SetIndent(2): go-yaml's scalars, but a sequence
/// under a mapping key is indented by two.
fn pretty(out: &mut String, v: &Value, indent: usize, depth: usize) -> Result<(), String> {
    if depth > crate::value::MAX_DEPTH {
        return Err("value nested too deeply".into());
    }
    if out.len() > crate::value::output_cap() {
        return Err("encoded value exceeds the output size limit".into());
    }
    let pad = " ".repeat(indent);
    match v {
        Value::Map(m) if !m.borrow().is_empty() => {
            for (k, (key, x)) in m.borrow().iter().enumerate() {
                if k > 0 {
                    out.push('\n');
                    out.push_str(&pad);
                }
                if key.contains('\n') {
                    // a complex key: "? " and the block scalar, then ":"
                    out.push_str("? ");
                    out.push_str(&pretty_scalar(&Value::str(key.as_str()), indent + 2)?);
                    out.push('\n');
                    out.push_str(&pad);
                } else {
                    out.push_str(&pretty_scalar(&Value::str(key.as_str()), 0)?);
                }
                out.push(':');
                if is_block_collection(x) {
                    out.push('\n');
                    out.push_str(&pad);
                    out.push_str("  ");
                    pretty(out, x, indent + 2, depth + 1)?;
                } else {
                    out.push(' ');
                    pretty(out, x, indent + 2, depth + 1)?;
                }
            }
        }
        Value::List(l) if !l.is_empty() => {
            for (k, x) in l.iter().enumerate() {
                if k > 0 {
                    out.push('\n');
                    out.push_str(&pad);
                }
                out.push_str("- ");
                pretty(out, x, indent + 2, depth + 1)?;
            }
        }
        Value::Map(_) => out.push_str("{}"),
        Value::List(_) => out.push_str("[]"),
        v => out.push_str(&pretty_scalar(v, indent)?),
    }
    Ok(())
}

/// Helm's toYamlPretty ("" when the value does not encode).
fn to_yaml_pretty(v: &Value) -> Result<String, String> {
    let mut out = String::new();
    pretty(&mut out, v, 0, 0)?;
    Ok(out)
}
