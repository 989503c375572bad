//! Text normalization for the detectors: folding, hidden characters, encoded layers.
//!
//! `normalize` turns untrusted text into a `Normalized` view the phrase matchers can search:
//! lowercase, fullwidth and "mathematical" letters mapped to ASCII, Cyrillic/Greek look-alikes
//! folded to Latin inside mixed-script words, invisible and combining characters dropped,
//! whitespace collapsed and spaced-out letters (`i g n o r e`) joined. On the way it records the
//! suspicious invisible characters (`hidden`), decodes ASCII smuggled in Unicode tag characters
//! (`tag_text`) and peels base64 / hex / percent-encoded layers (`decoded`).
//!
//! Bounds: only `ScanLimits::max_scan_bytes` of input are read; decoding stops at
//! `max_decode_depth` layers and `max_decode_bytes` in total, and says so (`depth_limited`,
//! `budget_exhausted`). Every pass is linear in the input.
//!
//! Deliberate limits: homoglyphs are folded only in words that mix Latin with look-alikes, so
//! real Russian or Greek words stay intact (an all-Cyrillic spelling of an English word is not
//! folded); leetspeak (`1gn0r3`) is not undone (letters spaced with one repeated punctuation mark,
//! `i.g.n.o.r.e`, are joined like spaced letters); spans into the original are best effort where folding changed lengths.

use super::reason::{ScanLimits, clip};

/// Most hidden characters recorded per input; the rest are counted in `hidden_total` only.
pub const MAX_HIDDEN: usize = 256;

/// Most decoded layers kept per input; more candidates are skipped as over budget.
pub const MAX_LAYERS: usize = 64;

/// Shortest base64 or hex run tried as an encoded layer.
pub const MIN_ENCODED_RUN: usize = 16;

/// What kind of invisible or deceptive character was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HiddenKind {
    /// Zero-width space/joiner/non-joiner, word joiner, BOM or soft hyphen between ASCII letters.
    ZeroWidth,
    /// A bidi override (U+202D/U+202E) anywhere, or other bidi controls in text with no RTL script.
    Bidi,
    /// A Unicode tag character (U+E0000–U+E007F) outside an emoji flag sequence.
    Tag,
    /// A word mixing Latin letters with Cyrillic/Greek look-alikes (offset of its first look-alike).
    Homoglyph,
}

/// One suspicious character (or mixed-script word) with its byte offset in the original.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HiddenChar {
    /// What it is.
    pub kind: HiddenKind,
    /// The character itself (the first look-alike for `Homoglyph`).
    pub ch: char,
    /// Byte offset in the original input.
    pub offset: usize,
}

/// Which encoding a decoded layer used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    /// Standard or URL-safe base64, padded or not.
    Base64,
    /// Plain hex digits or `\xHH` escapes.
    Hex,
    /// `%HH` escapes.
    Percent,
}

impl Encoding {
    /// Lowercase name for rule ids and details.
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Base64 => "base64",
            Encoding::Hex => "hex",
            Encoding::Percent => "percent",
        }
    }
}

/// One decoded layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decoded {
    /// The encoding peeled to get `text`.
    pub kind: Encoding,
    /// 1 for a layer found in the input, 2 for one found inside a layer, and so on.
    pub depth: usize,
    /// Byte range in the original input of the outermost encoded run this layer came from.
    pub span: (usize, usize),
    /// The decoded text (lossy UTF-8), not folded.
    pub text: String,
}

/// Folded text plus what folding found.
#[derive(Debug, Clone, Default)]
pub struct Normalized {
    /// Lowercase, look-alikes folded, invisible characters removed, whitespace collapsed to one
    /// space (or one `\n` when the run held a line break), spaced letters joined.
    pub folded: String,
    /// Suspicious invisible characters and mixed-script words, at most `MAX_HIDDEN`.
    pub hidden: Vec<HiddenChar>,
    /// How many suspicious characters there were in all (may exceed `hidden.len()`).
    pub hidden_total: usize,
    /// Printable ASCII smuggled as Unicode tag characters, decoded.
    pub tag_text: String,
    /// Encoded layers, outermost first within each run.
    pub decoded: Vec<Decoded>,
    /// The input was longer than `max_scan_bytes`; only its prefix was looked at.
    pub truncated: bool,
    /// A layer at `max_decode_depth` held yet another encoded layer that was not peeled.
    pub depth_limited: bool,
    /// Decoding stopped because `max_decode_bytes` (or `MAX_LAYERS`) was reached.
    pub budget_exhausted: bool,
    /// folded -> pass-1 text offsets.
    collapse_map: OffsetMap,
    /// pass-1 text -> original offsets.
    fold_map: OffsetMap,
}

impl Normalized {
    /// The byte range in `original` that `folded[start..end]` came from (best effort: exact
    /// where folding kept lengths, widened to whole characters otherwise).
    pub fn original_span(&self, original: &str, (start, end): (usize, usize)) -> (usize, usize) {
        let to_orig = |o: usize| self.fold_map.lookup(self.collapse_map.lookup(o));
        let mut s = to_orig(start).min(original.len());
        while !original.is_char_boundary(s) {
            s -= 1;
        }
        if end <= start {
            return (s, s);
        }
        let mut e = to_orig(end - 1).min(original.len());
        while !original.is_char_boundary(e) {
            e -= 1;
        }
        let e = original[e..]
            .chars()
            .next()
            .map_or(e, |c| e + c.len_utf8())
            .max(s);
        (s, e)
    }
}

/// Checkpoints mapping offsets of a derived string back to its source: each entry says "from
/// this output offset on, output byte `o` came from source byte `s + (o - out)`".
#[derive(Debug, Clone, Default)]
struct OffsetMap {
    cps: Vec<(usize, usize)>,
}

impl OffsetMap {
    fn lookup(&self, out: usize) -> usize {
        let idx = self.cps.partition_point(|cp| cp.0 <= out);
        match idx.checked_sub(1).and_then(|i| self.cps.get(i)) {
            Some(&(o, s)) => s + (out - o),
            None => out,
        }
    }
}

/// A string under construction with its offset map; a checkpoint is added only when the
/// output stops tracking the source byte for byte, so plain ASCII needs almost none.
struct Builder {
    out: String,
    map: OffsetMap,
}

impl Builder {
    fn with_capacity(n: usize) -> Builder {
        Builder {
            out: String::with_capacity(n),
            map: OffsetMap::default(),
        }
    }

    fn push(&mut self, c: char, src: usize) {
        let o = self.out.len();
        let predicted = match self.map.cps.last() {
            Some(&(lo, ls)) => ls + (o - lo),
            None => o,
        };
        if predicted != src {
            self.map.cps.push((o, src));
        }
        self.out.push(c);
    }
}

/// Normalizes `s` (its first `l.max_scan_bytes`) for the detectors.
pub fn normalize(s: &str, l: &ScanLimits) -> Normalized {
    let (s, truncated) = clip(s, l.max_scan_bytes);
    let mut n = Normalized {
        truncated,
        ..Normalized::default()
    };
    let pass1 = fold_chars(s, Some(&mut n));
    let pass2 = collapse(&pass1.out);
    n.folded = pass2.out;
    n.collapse_map = pass2.map;
    n.fold_map = pass1.map;
    let mut st = DecodeState {
        limits: *l,
        used_bytes: 0,
        layers: Vec::new(),
        depth_limited: false,
        budget_exhausted: false,
    };
    find_layers(s, 1, None, &mut st);
    n.decoded = st.layers;
    n.depth_limited = st.depth_limited;
    n.budget_exhausted = st.budget_exhausted;
    n
}

/// Folds `s` like `Normalized::folded` without recording or decoding anything (used on decoded
/// layers and smuggled text).
pub fn fold(s: &str) -> String {
    collapse(&fold_chars(s, None).out).out
}

fn is_zero_width(c: char) -> bool {
    matches!(
        c,
        '\u{200B}'..='\u{200D}' | '\u{2060}'..='\u{2064}' | '\u{FEFF}' | '\u{00AD}' | '\u{180E}'
    )
}

fn is_bidi(c: char) -> bool {
    matches!(c, '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

fn is_tag(c: char) -> bool {
    matches!(c, '\u{E0000}'..='\u{E007F}')
}

fn is_combining(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

fn is_invisible(c: char) -> bool {
    is_zero_width(c)
        || is_bidi(c)
        || is_tag(c)
        || is_combining(c)
        || matches!(c, '\u{FE00}'..='\u{FE0F}')
}

fn is_rtl_letter(c: char) -> bool {
    matches!(
        c,
        '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFE}'
    )
}

/// Fullwidth, mathematical and circled letters and digits mapped to ASCII.
fn ascii_form(c: char) -> Option<char> {
    let cp = c as u32;
    let ascii = |v: u32| char::from_u32(v);
    match cp {
        0xFF01..=0xFF5E => ascii(cp - 0xFEE0),
        0x3000 => Some(' '),
        // Mathematical alphanumeric letters: 13 alphabets of 52 (A-Z, a-z), some holes.
        0x1D400..=0x1D6A3 => {
            let i = (cp - 0x1D400) % 52;
            ascii(if i < 26 { 0x41 + i } else { 0x61 + i - 26 })
        }
        0x1D7CE..=0x1D7FF => ascii(0x30 + (cp - 0x1D7CE) % 10),
        0x24B6..=0x24CF => ascii(0x61 + cp - 0x24B6),
        0x24D0..=0x24E9 => ascii(0x61 + cp - 0x24D0),
        0x1F130..=0x1F149 => ascii(0x61 + cp - 0x1F130),
        0x1F150..=0x1F169 => ascii(0x61 + cp - 0x1F150),
        0x1F170..=0x1F189 => ascii(0x61 + cp - 0x1F170),
        0x1F1E6..=0x1F1FF => None, // regional indicators are flags, not letters
        _ => None,
    }
}

/// Cyrillic, Greek and other look-alikes of Latin letters (lowercase result).
fn confusable(c: char) -> Option<char> {
    Some(match c {
        'а' | 'А' | 'α' | 'Α' => 'a',
        'в' | 'В' | 'β' | 'Β' => 'b',
        'с' | 'С' | 'ϲ' => 'c',
        'ԁ' => 'd',
        'е' | 'Е' | 'ё' | 'Ё' | 'ε' | 'Ε' => 'e',
        'һ' | 'Һ' | 'н' | 'Н' | 'Η' => 'h',
        'і' | 'І' | 'ї' | 'ι' | 'Ι' | 'Ӏ' => 'i',
        'ј' | 'Ј' => 'j',
        'к' | 'К' | 'κ' | 'Κ' => 'k',
        'ӏ' | 'ℓ' => 'l',
        'м' | 'М' | 'Μ' => 'm',
        'п' | 'Ν' => 'n',
        'о' | 'О' | 'ο' | 'Ο' | 'օ' => 'o',
        'р' | 'Р' | 'ρ' | 'Ρ' => 'p',
        'ԛ' => 'q',
        'ѕ' | 'Ѕ' => 's',
        'т' | 'Т' | 'τ' | 'Τ' => 't',
        'υ' | 'ս' => 'u',
        'ν' | 'ѵ' => 'v',
        'ԝ' | 'ѡ' => 'w',
        'х' | 'Х' | 'χ' | 'Χ' => 'x',
        'у' | 'У' | 'γ' | 'Υ' => 'y',
        'Ζ' => 'z',
        _ => return None,
    })
}

/// Whether the word starting at `start` mixes ASCII letters (after `ascii_form`) with
/// look-alikes; returns the word's end and the first look-alike (with its offset) when it does.
fn scan_word(s: &str, start: usize) -> (usize, Option<(char, usize)>) {
    let mut latin = false;
    let mut first_conf = None;
    let mut end = start;
    for (i, c) in s[start..].char_indices() {
        if !(c.is_alphanumeric() || is_invisible(c)) {
            break;
        }
        end = start + i + c.len_utf8();
        let a = ascii_form(c).unwrap_or(c);
        if a.is_ascii_alphabetic() {
            latin = true;
        } else if first_conf.is_none() && confusable(c).is_some() {
            first_conf = Some((c, start + i));
        }
    }
    (end, if latin { first_conf } else { None })
}

/// Pass 1: per-character folding; when `rec` is given, records hidden characters and tag text.
fn fold_chars(s: &str, mut rec: Option<&mut Normalized>) -> Builder {
    let mut b = Builder::with_capacity(s.len());
    let has_rtl = rec.is_some() && s.chars().any(is_rtl_letter);
    let mut word_end = 0usize;
    let mut fold_word = false;
    let mut prev_visible: Option<char> = None;
    let mut in_flag = false;
    for (off, c) in s.char_indices() {
        if off >= word_end && c.is_alphanumeric() {
            let (end, conf) = scan_word(s, off);
            word_end = end;
            fold_word = conf.is_some();
            if let (Some(n), Some((ch, at))) = (rec.as_deref_mut(), conf) {
                record(n, HiddenKind::Homoglyph, ch, at);
            }
        }
        if is_tag(c) {
            let cp = c as u32 - 0xE0000;
            // Subdivision flags (England, Scotland, Wales) are U+1F3F4 followed by tag letters.
            in_flag = in_flag || prev_visible == Some('\u{1F3F4}');
            if let Some(n) = rec.as_deref_mut().filter(|_| !in_flag) {
                record(n, HiddenKind::Tag, c, off);
                if (0x20..=0x7E).contains(&cp) {
                    n.tag_text.push(char::from(cp as u8));
                }
            }
            if cp == 0x7F {
                in_flag = false;
            }
            continue;
        }
        in_flag = false;
        if is_zero_width(c) || is_bidi(c) {
            if let Some(n) = rec.as_deref_mut() {
                let suspicious = if is_bidi(c) {
                    matches!(c, '\u{202D}' | '\u{202E}') || !has_rtl
                } else if c == '\u{FEFF}' && off > 0 {
                    true
                } else {
                    let next = s[off + c.len_utf8()..]
                        .chars()
                        .take(8)
                        .find(|&n| !is_invisible(n));
                    prev_visible.is_some_and(|p| p.is_ascii_alphanumeric())
                        && next.is_some_and(|n| n.is_ascii_alphanumeric())
                };
                if suspicious {
                    let kind = if is_bidi(c) {
                        HiddenKind::Bidi
                    } else {
                        HiddenKind::ZeroWidth
                    };
                    record(n, kind, c, off);
                }
            }
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        prev_visible = Some(c);
        if c.is_whitespace() {
            let ws = if matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}') {
                '\n'
            } else {
                ' '
            };
            b.push(ws, off);
            continue;
        }
        let c = ascii_form(c).unwrap_or(c);
        let c = if fold_word {
            confusable(c).unwrap_or(c)
        } else {
            c
        };
        if c.is_ascii() {
            b.push(c.to_ascii_lowercase(), off);
        } else {
            for lc in c.to_lowercase() {
                if !is_combining(lc) {
                    b.push(lc, off);
                }
            }
        }
    }
    b
}

fn record(n: &mut Normalized, kind: HiddenKind, ch: char, offset: usize) {
    n.hidden_total += 1;
    if n.hidden.len() < MAX_HIDDEN {
        n.hidden.push(HiddenChar { kind, ch, offset });
    }
}

/// Pass 2: collapses whitespace runs (to `\n` if the run held one) and joins runs of single
/// letters separated by single spaces (`i g n o r e  a l l` -> `ignore all`).
fn collapse(a: &str) -> Builder {
    let bytes = a.as_bytes();
    let mut b = Builder::with_capacity(a.len());
    let mut i = 0;
    let mut after_run = false;
    while i < bytes.len() {
        if matches!(bytes[i], b' ' | b'\n') {
            let start = i;
            let mut nl = false;
            while i < bytes.len() && matches!(bytes[i], b' ' | b'\n') {
                nl |= bytes[i] == b'\n';
                i += 1;
            }
            if !b.out.is_empty() && i < bytes.len() {
                b.push(if nl { '\n' } else { ' ' }, start);
            }
            continue;
        }
        let min = if after_run { 2 } else { 4 };
        if let Some(end) = spaced_run(a, i, min) {
            let mut p = i;
            while p < end {
                if let Some(c) = a[p..].chars().next() {
                    if c != ' ' {
                        b.push(c, p);
                    }
                    p += c.len_utf8();
                } else {
                    break;
                }
            }
            i = end;
            after_run = true;
            continue;
        }
        if let Some((end, sep)) = dotted_run(a, i, min) {
            for (k, c) in a[i..end].char_indices() {
                if c != sep {
                    b.push(c, i + k);
                }
            }
            i = end;
            after_run = true;
            continue;
        }
        after_run = false;
        for c in a[i..].chars() {
            if c == ' ' || c == '\n' {
                break;
            }
            b.push(c, i);
            i += c.len_utf8();
        }
    }
    b
}

/// End of a run of at least `min` single ASCII letters joined by one repeated punctuation mark
/// (`i.g.n.o.r.e`, `d-i-s-r-e-g-a-r-d`), from `start`, and that mark.
fn dotted_run(a: &str, start: usize, min: usize) -> Option<(usize, char)> {
    let bytes = a.as_bytes();
    let sep = *bytes.get(start + 1)?;
    if !bytes[start].is_ascii_alphabetic() || !b".-_*|/~+".contains(&sep) {
        return None;
    }
    let mut p = start;
    let mut n = 0;
    while p < bytes.len() && bytes[p].is_ascii_alphabetic() {
        n += 1;
        let next = bytes.get(p + 1).copied();
        if next == Some(sep) && bytes.get(p + 2).is_some_and(u8::is_ascii_alphabetic) {
            p += 2;
        } else if next.is_none_or(|c| !c.is_ascii_alphanumeric()) {
            break;
        } else {
            return None;
        }
    }
    (n >= min).then_some((p + 1, char::from(sep)))
}

/// End of a run of at least `min` one-letter tokens separated by single spaces, from `start`.
fn spaced_run(a: &str, start: usize, min: usize) -> Option<usize> {
    let bytes = a.as_bytes();
    let mut p = start;
    let mut n = 0;
    let mut end = start;
    while let Some(c) = a[p..].chars().next() {
        if !c.is_alphanumeric() {
            break;
        }
        let q = p + c.len_utf8();
        if q < bytes.len() && !matches!(bytes[q], b' ' | b'\n') {
            break;
        }
        n += 1;
        end = q;
        if q + 1 < bytes.len() && bytes[q] == b' ' && !matches!(bytes[q + 1], b' ' | b'\n') {
            p = q + 1;
        } else {
            break;
        }
    }
    (n >= min).then_some(end)
}

struct DecodeState {
    limits: ScanLimits,
    used_bytes: usize,
    layers: Vec<Decoded>,
    depth_limited: bool,
    budget_exhausted: bool,
}

/// Finds encoded runs in `src` and peels them, recursing into each decoded layer. `outer` is
/// the original-input span of the depth-1 run (None at depth 1: spans are offsets in `src`).
fn find_layers(src: &str, depth: usize, outer: Option<(usize, usize)>, st: &mut DecodeState) {
    let probe_only = depth > st.limits.max_decode_depth;
    let bytes = src.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if st.budget_exhausted || (probe_only && st.depth_limited) {
            return;
        }
        if bytes[i].is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        while i < bytes.len() && !bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        scan_token(src, start, i, depth, outer, probe_only, st);
    }
}

/// Tries one whitespace-delimited token: percent or `\x` escapes as a whole, else its base64 and
/// hex runs.
fn scan_token(
    src: &str,
    start: usize,
    end: usize,
    depth: usize,
    outer: Option<(usize, usize)>,
    probe_only: bool,
    st: &mut DecodeState,
) {
    let tok = &src.as_bytes()[start..end];
    let escapes = |lead: &[u8]| {
        tok.windows(lead.len() + 2)
            .filter(|w| w.starts_with(lead) && w[lead.len()..].iter().all(u8::is_ascii_hexdigit))
            .count()
    };
    if tok.contains(&b'%') && escapes(b"%") >= 3 {
        let dec = unescape(tok, b"%");
        layer(
            Encoding::Percent,
            dec,
            (start, end),
            depth,
            outer,
            probe_only,
            st,
        );
        return;
    }
    if tok.windows(2).any(|w| w == b"\\x") && escapes(b"\\x") >= 8 {
        let dec = unescape(tok, b"\\x");
        layer(
            Encoding::Hex,
            dec,
            (start, end),
            depth,
            outer,
            probe_only,
            st,
        );
        return;
    }
    let is_b64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_');
    let mut i = 0;
    while i < tok.len() {
        if !is_b64(tok[i]) {
            i += 1;
            continue;
        }
        let s = i;
        while i < tok.len() && is_b64(tok[i]) {
            i += 1;
        }
        let run = &tok[s..i];
        let mut e = i;
        while e < tok.len() && e - i < 2 && tok[e] == b'=' {
            e += 1;
        }
        if run.len() < MIN_ENCODED_RUN {
            continue;
        }
        let span = (start + s, start + e);
        let hex_run = run.len() % 2 == 0 && run.iter().all(u8::is_ascii_hexdigit);
        if let Some(dec) = hex_run.then(|| hex(run)).flatten().filter(|d| printable(d)) {
            layer(Encoding::Hex, dec, span, depth, outer, probe_only, st);
            continue;
        }
        if let Some(dec) = base64(run) {
            layer(Encoding::Base64, dec, span, depth, outer, probe_only, st);
        }
    }
}

/// Accepts a decoded candidate if it looks like text, then recurses into it.
fn layer(
    kind: Encoding,
    dec: Vec<u8>,
    span: (usize, usize),
    depth: usize,
    outer: Option<(usize, usize)>,
    probe_only: bool,
    st: &mut DecodeState,
) {
    if !printable(&dec) {
        return;
    }
    if probe_only {
        st.depth_limited = true;
        return;
    }
    if st.used_bytes + dec.len() > st.limits.max_decode_bytes || st.layers.len() >= MAX_LAYERS {
        st.budget_exhausted = true;
        return;
    }
    st.used_bytes += dec.len();
    let text = String::from_utf8_lossy(&dec).into_owned();
    let span = outer.unwrap_or(span);
    st.layers.push(Decoded {
        kind,
        depth,
        span,
        text,
    });
    // Recurse on a copy's index so the borrow of `st.layers` ends first.
    let idx = st.layers.len() - 1;
    let inner = std::mem::take(&mut st.layers[idx].text);
    find_layers(&inner, depth + 1, Some(span), st);
    st.layers[idx].text = inner;
}

/// Mostly printable UTF-8 with some letters: at least 4 chars, valid UTF-8, at most 5% control.
fn printable(d: &[u8]) -> bool {
    let Ok(s) = std::str::from_utf8(d) else {
        return false;
    };
    let (mut n, mut bad, mut letters) = (0usize, 0usize, 0usize);
    for c in s.chars() {
        n += 1;
        if c.is_control() && !matches!(c, '\n' | '\r' | '\t') {
            bad += 1;
        }
        if c.is_alphabetic() {
            letters += 1;
        }
    }
    n >= 4 && bad * 20 <= n && letters * 4 >= n
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn hex(run: &[u8]) -> Option<Vec<u8>> {
    run.chunks_exact(2)
        .map(|p| Some(hex_val(p[0])? << 4 | hex_val(p[1])?))
        .collect()
}

/// Replaces `lead` + two hex digits by the byte they name; other bytes are kept.
fn unescape(tok: &[u8], lead: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(tok.len());
    let mut i = 0;
    while i < tok.len() {
        if tok[i..].starts_with(lead) && i + lead.len() + 2 <= tok.len() {
            let h = &tok[i + lead.len()..i + lead.len() + 2];
            if let (Some(a), Some(b)) = (hex_val(h[0]), hex_val(h[1])) {
                out.push(a << 4 | b);
                i += lead.len() + 2;
                continue;
            }
        }
        out.push(tok[i]);
        i += 1;
    }
    out
}

/// Decodes standard or URL-safe base64 (the two alphabets are accepted together, padding is
/// optional); `None` when the length cannot be base64.
pub fn base64(run: &[u8]) -> Option<Vec<u8>> {
    let val = |b: u8| -> Option<u32> {
        Some(match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let run = match run.iter().position(|&b| b == b'=') {
        Some(p) => &run[..p],
        None => run,
    };
    if run.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(run.len() * 3 / 4);
    for chunk in run.chunks(4) {
        let mut acc = 0u32;
        for (k, &b) in chunk.iter().enumerate() {
            acc |= val(b)? << (18 - 6 * k);
        }
        let bytes = acc.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    Some(out)
}

#[cfg(test)]
mod tests;
