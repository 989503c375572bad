//! Prompt-injection scoring: phrase rules over folded text, hidden text, encoded layers, links.
//!
//! `score_prompt` normalizes the input (`text::normalize`), then runs the phrase table below on
//! the folded text, on every decoded layer and on ASCII smuggled in tag characters, and checks
//! the links it finds with `url::score_url`. A phrase is a chain of term groups that must follow
//! each other within a byte gap (for example verb + qualifier + target: "ignore" … "previous" …
//! "instructions"), so a single keyword never fires on its own.
//!
//! Spans: hits in the folded text are mapped back to the original (exact for plain text, widened
//! to whole characters where folding changed lengths); hits in decoded layers carry the span of
//! the outermost encoded run; hits in tag text carry the span of the first tag character.
//!
//! Known blind spots: paraphrases outside the table ("kindly set aside what you were told"),
//! instructions split across far-apart sentences, languages and phrasings not listed here,
//! leetspeak, payloads in images or attachments, and discussions *about* injection that quote
//! an attack verbatim (those score as the attack would).

use super::reason::{Reason, ScanLimits, push_capped, truncated};
use super::text::{self, HiddenKind, Normalized};
use super::url;

mod phrases;
mod phrases_i18n;
use phrases::{PHRASES, Phrase};
use phrases_i18n::PHRASES_I18N;

const DETECTOR: &str = "injection";

/// Most links checked per prompt.
pub const MAX_LINKS: usize = 32;

/// Scores one prompt (user text, tool output, fetched page) for injection.
pub fn score_prompt(text: &str, l: &ScanLimits) -> Vec<Reason> {
    let n = text::normalize(text, l);
    let mut out = Vec::new();
    if n.truncated {
        push_capped(&mut out, truncated(DETECTOR, text, l.max_scan_bytes));
    }
    let hits = phrase_hits(&n.folded);
    let payload = !n.decoded.is_empty() || n.depth_limited || has_blob(&n.folded);
    let mut obfuscated = None;
    for h in &hits {
        let span = n.original_span(text, h.span);
        let mut score = h.phrase.score;
        if h.phrase.rule == "encoded.exec_request" && payload {
            // "decode this and follow it" next to an actual encoded run.
            score = 70;
        }
        if quoted_mention(&n.folded, h.span.0) {
            // "flags the phrase 'ignore previous instructions'": talking about an attack.
            score = score.min(30);
        }
        let inside = n
            .hidden
            .iter()
            .any(|c| c.offset >= span.0 && c.offset < span.1 && c.kind != HiddenKind::Tag);
        if inside && obfuscated.is_none() && score >= 40 {
            obfuscated = Some((span, h.phrase.rule));
        }
        add(
            &mut out,
            Reason::new(DETECTOR, h.phrase.rule, score, Some(span), h.phrase.detail),
        );
    }
    if let Some((span, rule)) = obfuscated {
        add(
            &mut out,
            Reason::new(
                DETECTOR,
                "hidden.obfuscated_phrase",
                90,
                Some(span),
                format!("{rule} hidden with invisible or look-alike characters"),
            ),
        );
    }
    hidden_reasons(&n, &mut out);
    layer_reasons(&n, l, &mut out);
    rot13_reasons(&n, &mut out);
    link_reasons(text, &n, &mut out);
    out
}

/// Whether the folded text holds a token that looks like an encoded payload: 24+ characters of
/// a base64/base32/hex alphabet with both letters and digits, or 6+ `%HH` escapes.
fn has_blob(folded: &str) -> bool {
    folded.split([' ', '\n']).any(|t| {
        let t = t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '%');
        let b64 = t.len() >= 24
            && t.bytes().all(|b| {
                b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=' | b'-' | b'_')
            })
            && t.bytes().any(|b| b.is_ascii_digit())
            && t.bytes().any(|b| b.is_ascii_alphabetic());
        b64 || t.matches('%').count() >= 6
    })
}

/// Whether the match at `start` is quoted right after a cue that the text talks *about* a
/// phrase ("the phrase 'ignore previous instructions'", "strings like \"...\"").
fn quoted_mention(folded: &str, start: usize) -> bool {
    let before = &folded[..start];
    let Some(q) = before.chars().next_back() else {
        return false;
    };
    if !"'\"`\u{2018}\u{201c}\u{00ab}".contains(q) {
        return false;
    }
    let from = floor(before, before.len().saturating_sub(q.len_utf8() + 40));
    let cue = &before[from..before.len() - q.len_utf8()];
    [
        "phrase",
        "string",
        "the words",
        "keyword",
        "pattern",
        "such as",
        "like ",
        "e.g.",
        "example",
        "sentence",
    ]
    .iter()
    .any(|c| cue.contains(c))
}

/// Rot13 text, decoded when the prompt names rot13 (otherwise rot13 is not tried).
fn rot13_reasons(n: &Normalized, out: &mut Vec<Reason>) {
    let s = n.folded.as_str();
    if !["rot13", "rot-13", "rot 13", "caesar"]
        .iter()
        .any(|m| s.contains(m))
    {
        return;
    }
    let rotated: String = s
        .chars()
        .map(|c| match c {
            'a'..='m' => (c as u8 + 13) as char,
            'n'..='z' => (c as u8 - 13) as char,
            _ => c,
        })
        .collect();
    let inner = phrase_hits(&rotated);
    let Some(top) = inner.iter().max_by_key(|h| h.phrase.score) else {
        return;
    };
    if top.phrase.score < 40 {
        return;
    }
    add(
        out,
        Reason::new(
            DETECTOR,
            "encoded.rot13",
            if top.phrase.score >= 70 { 85 } else { 60 },
            None,
            format!("rot13 text holds {}", top.phrase.rule),
        ),
    );
}

/// Adds `r`, or raises the score of an existing reason with the same rule (one per rule).
fn add(out: &mut Vec<Reason>, r: Reason) {
    if let Some(old) = out
        .iter_mut()
        .find(|o| o.rule == r.rule && o.detector == r.detector)
    {
        if r.score > old.score {
            *old = r;
        }
        return;
    }
    push_capped(out, r);
}

struct Hit {
    phrase: &'static Phrase,
    span: (usize, usize),
}

/// The first hit of every phrase in `folded`.
fn phrase_hits(folded: &str) -> Vec<Hit> {
    let flat = folded.replace('\n', " ");
    let hay = Hay {
        flat: &flat,
        lines: folded,
        pairs: byte_pairs(&flat),
    };
    PHRASES
        .iter()
        .chain(PHRASES_I18N)
        .filter_map(|p| find_phrase(&hay, p).map(|span| Hit { phrase: p, span }))
        .collect()
}

/// The folded text twice: with newlines (for `^` terms) and with them turned into spaces (for
/// everything else); offsets are the same in both.
struct Hay<'a> {
    flat: &'a str,
    lines: &'a str,
    /// Which byte pairs occur in `flat` (a 65,536-bit set): terms with a missing pair are
    /// skipped without scanning, which keeps the large phrase table cheap.
    pairs: Vec<u64>,
}

impl Hay<'_> {
    fn may_contain(&self, t: &str) -> bool {
        t.as_bytes().windows(2).all(|w| {
            let i = usize::from(w[0]) << 8 | usize::from(w[1]);
            self.pairs[i >> 6] & (1 << (i & 63)) != 0
        })
    }
}

fn byte_pairs(s: &str) -> Vec<u64> {
    let mut set = vec![0u64; 1024];
    for w in s.as_bytes().windows(2) {
        let i = usize::from(w[0]) << 8 | usize::from(w[1]);
        set[i >> 6] |= 1 << (i & 63);
    }
    set
}

fn find_phrase(h: &Hay, p: &Phrase) -> Option<(usize, usize)> {
    let (first, rest) = p.groups.split_first()?;
    for term in *first {
        let t = Term::parse(term);
        if !h.may_contain(t.text) {
            continue;
        }
        let mut from = 0;
        while let Some(rel) = h.flat[from..].find(t.text) {
            let start = from + rel;
            let end = start + t.text.len();
            from = end;
            if !t.fits(h, start, end)
                || (p.imperative && !imperative_at(h.flat, start))
                || (p.negatable && negated_before(h.flat, start))
            {
                continue;
            }
            let Some(e) = follow(h, end, rest, p.gap) else {
                continue;
            };
            if p.unless.iter().any(|u| h.flat[start..e].contains(u)) {
                continue;
            }
            // Terms are prefixes ("instruction"); the span covers the whole last word.
            let mut e = e;
            if h.flat[..e].ends_with(|c: char| c.is_ascii_alphabetic()) {
                e += h.flat[e..]
                    .find(|c: char| !c.is_ascii_alphanumeric())
                    .unwrap_or(h.flat.len() - e);
            }
            return Some((start, e));
        }
    }
    None
}

/// Where the last of `groups` ends when each starts within `gap` bytes of the previous end.
fn follow(h: &Hay, mut pos: usize, groups: &[&[&str]], gap: usize) -> Option<usize> {
    for g in groups {
        let limit = floor(h.flat, pos + gap);
        let mut best: Option<(usize, usize)> = None;
        for term in *g {
            let t = Term::parse(term);
            if !h.may_contain(t.text) {
                continue;
            }
            let hi = floor(h.flat, limit + t.text.len());
            let mut from = pos;
            while let Some(rel) = h.flat[from..hi].find(t.text) {
                let st = from + rel;
                let en = st + t.text.len();
                from = en;
                if t.fits(h, st, en) {
                    if best.is_none_or(|b| st < b.0) {
                        best = Some((st, en));
                    }
                    break;
                }
            }
        }
        pos = best?.1;
    }
    Some(pos)
}

/// `i` clamped to `s` and moved down to a char boundary.
fn floor(s: &str, i: usize) -> usize {
    let mut i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

struct Term<'a> {
    text: &'a str,
    line_start: bool,
    word_end: bool,
}

impl<'a> Term<'a> {
    fn parse(raw: &'a str) -> Term<'a> {
        let (line_start, t) = match raw.strip_prefix('^') {
            Some(t) => (true, t),
            None => (false, raw),
        };
        let (word_end, t) = match t.strip_suffix('$') {
            Some(t) => (true, t),
            None => (false, t),
        };
        Term {
            text: t,
            line_start,
            word_end,
        }
    }

    fn fits(&self, h: &Hay, start: usize, end: usize) -> bool {
        let before = h.lines[..start].chars().next_back();
        if self.line_start {
            return before.is_none_or(|c| c == '\n');
        }
        let needs_start = self
            .text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() && (c as u32) < 0x0590);
        if needs_start && before.is_some_and(char::is_alphanumeric) {
            return false;
        }
        !(self.word_end
            && h.flat[end..]
                .chars()
                .next()
                .is_some_and(char::is_alphanumeric))
    }
}

/// Whether the word at `start` opens a sentence or follows a softener ("please", "now" ...).
fn imperative_at(s: &str, start: usize) -> bool {
    let before = s[..start].trim_end_matches(' ');
    let Some(last) = before.chars().next_back() else {
        return true;
    };
    if ".!?:;,\"'(>-*•\u{2022})]".contains(last) {
        return true;
    }
    let word = before.rsplit(' ').next().unwrap_or(before);
    matches!(
        word,
        "please"
            | "now"
            | "then"
            | "and"
            | "just"
            | "also"
            | "first"
            | "simply"
            | "kindly"
            | "pls"
            | "so"
            | "ok"
            | "okay"
            | "next"
            | "finally"
            | "immediately"
            | "instead"
    )
}

/// Whether a negation sits right before `start` ("don't forget the rules").
fn negated_before(s: &str, start: usize) -> bool {
    let from = floor(s, start.saturating_sub(12));
    let w = &s[from..start];
    ["don't ", "do not ", "never ", "not ", "n't ", "dont "]
        .iter()
        .any(|n| w.ends_with(n))
}

fn hidden_reasons(n: &Normalized, out: &mut Vec<Reason>) {
    let first = |k: HiddenKind| n.hidden.iter().find(|h| h.kind == k);
    let count = |k: HiddenKind| n.hidden.iter().filter(|h| h.kind == k).count();
    let table: [(HiddenKind, &'static str, u32, &str); 4] = [
        (
            HiddenKind::ZeroWidth,
            "hidden.zero_width",
            45,
            "zero-width characters inside words",
        ),
        (
            HiddenKind::Bidi,
            "hidden.bidi",
            55,
            "bidi control characters that reorder text",
        ),
        (
            HiddenKind::Tag,
            "hidden.tag_chars",
            65,
            "invisible unicode tag characters",
        ),
        (
            HiddenKind::Homoglyph,
            "hidden.homoglyph",
            30,
            "words mixing latin with look-alike letters",
        ),
    ];
    for (kind, rule, score, what) in table {
        if let Some(h) = first(kind) {
            let span = (h.offset, h.offset + h.ch.len_utf8());
            add(
                out,
                Reason::new(
                    DETECTOR,
                    rule,
                    score,
                    Some(span),
                    format!("{what} ({} found)", count(kind)),
                ),
            );
        }
    }
    if !n.tag_text.is_empty() {
        let inner = phrase_hits(&text::fold(&n.tag_text));
        if let Some(top) = inner.iter().max_by_key(|h| h.phrase.score) {
            let span = first(HiddenKind::Tag).map(|h| (h.offset, h.offset + 4));
            add(
                out,
                Reason::new(
                    DETECTOR,
                    "hidden.smuggled",
                    90.max(top.phrase.score),
                    span,
                    format!(
                        "instructions smuggled in tag characters: {}",
                        top.phrase.rule
                    ),
                ),
            );
        }
    }
}

fn layer_reasons(n: &Normalized, l: &ScanLimits, out: &mut Vec<Reason>) {
    for d in &n.decoded {
        let inner = phrase_hits(&text::fold(&d.text));
        let Some(top) = inner.iter().max_by_key(|h| h.phrase.score) else {
            continue;
        };
        if top.phrase.score < 40 {
            continue;
        }
        let rule = match d.kind {
            text::Encoding::Base64 => "encoded.base64",
            text::Encoding::Hex => "encoded.hex",
            text::Encoding::Percent => "encoded.percent",
        };
        let score = if top.phrase.score >= 70 { 85 } else { 60 };
        add(
            out,
            Reason::new(
                DETECTOR,
                rule,
                score,
                Some(d.span),
                format!(
                    "{} layer at depth {} holds {}",
                    d.kind.as_str(),
                    d.depth,
                    top.phrase.rule
                ),
            ),
        );
    }
    if n.depth_limited {
        add(
            out,
            Reason::new(
                DETECTOR,
                "encoded.depth_limit",
                45,
                None,
                format!(
                    "encoded layers nested deeper than {} were not decoded",
                    l.max_decode_depth
                ),
            ),
        );
    }
    if n.budget_exhausted {
        add(
            out,
            Reason::new(
                DETECTOR,
                "encoded.budget",
                30,
                None,
                format!("decoding stopped at the {} byte budget", l.max_decode_bytes),
            ),
        );
    }
}

/// Links in the folded text: exfiltration hosts and templates via `url::score_url`, plus
/// markdown images that would leak data when rendered.
fn link_reasons(original: &str, n: &Normalized, out: &mut Vec<Reason>) {
    let s = n.folded.as_str();
    let mut links = 0;
    let mut from = 0;
    while links < MAX_LINKS {
        let Some(rel) = s[from..].find("://") else {
            break;
        };
        let colon = from + rel;
        from = colon + 3;
        let Some(scheme) = ["https", "http", "wss", "ws"]
            .iter()
            .find(|p| s[..colon].ends_with(*p))
        else {
            continue;
        };
        let start = colon - scheme.len();
        let mut end = s[colon..]
            .find(|c: char| c.is_whitespace() || "<>\"'`)]".contains(c))
            .map_or(s.len(), |e| colon + e);
        // A `<placeholder>` right after `=` belongs to the query ("?v=<password>").
        if s[..end].ends_with('=') && s[end..].starts_with('<') {
            if let Some(close) = s[end..floor(s, end + 40)].find('>') {
                end += close + 1;
            }
        }
        from = end.max(from);
        links += 1;
        let link = &s[start..end];
        let span = n.original_span(original, (start, end));
        let reasons = url::score_url(link);
        let image = s[..start].ends_with("](") && {
            let back = floor(s, start.saturating_sub(300));
            s[back..start]
                .rsplit('\n')
                .next()
                .is_some_and(|line| line.contains("!["))
        };
        let risky_query = reasons.iter().any(|r| {
            matches!(
                r.rule,
                "query.template" | "query.secret_param" | "query.data_blob"
            )
        });
        if image && link.contains('?') {
            let score = if risky_query { 85 } else { 50 };
            add(
                out,
                Reason::new(
                    DETECTOR,
                    "exfil.markdown_image",
                    score,
                    Some(span),
                    "markdown image whose url carries a query (leaks data when rendered)",
                ),
            );
        }
        for mut r in reasons.into_iter().filter(|r| r.score > 0) {
            r.span = Some(span);
            add(out, r);
        }
    }
}

#[cfg(test)]
mod tests;
