//! Reply formatting: splitting model answers into Telegram-sized chunks, Markdown to Telegram HTML.
//!
//! The bridge calls `split` on the model's Markdown first, then `to_html` on each chunk, and
//! sends it with `parse_mode=HTML`; when Telegram rejects the markup it resends `plain(chunk)`.
//! Splitting happens before conversion so every chunk converts to balanced HTML on its own:
//! `to_html` only emits a tag when it has found both ends of a construct, and a fenced code block
//! cut by `split` is closed at the end of one chunk and reopened in the next.
//!
//! Lengths are counted in UTF-16 code units, as Telegram counts them (`MAX_MESSAGE_UNITS`).
//!
//! Supported Markdown, the subset models emit: `**bold**`/`__bold__`, `*italic*`/`_italic_`,
//! `~~strike~~`, `` `code` ``, fenced code blocks with a language, `[text](http(s)://…)` links
//! and `#` headings (rendered bold). Everything else, and anything unbalanced, stays literal text.
//! Pure functions, no I/O.

/// Telegram's limit on a message's text, in UTF-16 code units.
pub const MAX_MESSAGE_UNITS: usize = 4096;

/// Nesting depth past which inline markup is left literal (keeps pathological input linear-ish).
const MAX_INLINE_DEPTH: usize = 6;

/// Length of `s` in UTF-16 code units.
pub fn utf16_len(s: &str) -> usize {
    s.chars().map(char::len_utf16).sum()
}

// ---------------------------------------------------------------------------------------------
// Fenced code blocks

/// A fenced code block, as byte offsets into the text it was found in.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Fence<'a> {
    /// Start of the opening line.
    open: usize,
    /// Start of the first body line.
    body: usize,
    /// Start of the closing line (the text's end when unclosed).
    close: usize,
    /// Just after the closing line and its newline (the text's end when unclosed).
    end: usize,
    /// Backticks in the opening marker.
    ticks: usize,
    /// The info string (language first), trimmed.
    info: &'a str,
}

impl Fence<'_> {
    fn lang(&self) -> &str {
        self.info.split_whitespace().next().unwrap_or("")
    }
}

/// `(start, end without newline, start of next line)` for every line.
fn lines(text: &str) -> impl Iterator<Item = (usize, usize, usize)> + '_ {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= text.len() {
            return None;
        }
        let line = match text[start..].find('\n') {
            Some(n) => (start, start + n, start + n + 1),
            None => (start, text.len(), text.len()),
        };
        start = line.2;
        Some(line)
    })
}

/// Backtick count and info string of a fence marker line (up to three spaces of indent).
fn fence_marker(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start_matches(' ');
    if line.len() - trimmed.len() > 3 {
        return None;
    }
    let ticks = trimmed.bytes().take_while(|&b| b == b'`').count();
    (ticks >= 3).then(|| (ticks, trimmed[ticks..].trim()))
}

/// Every fenced code block; one left open runs to the end of the text (as in CommonMark).
fn fences(text: &str) -> Vec<Fence<'_>> {
    let mut out = Vec::new();
    let mut open: Option<Fence> = None;
    for (start, end, next) in lines(text) {
        let marker = fence_marker(&text[start..end]);
        match (&mut open, marker) {
            (None, Some((ticks, info))) if !info.contains('`') => {
                open = Some(Fence {
                    open: start,
                    body: next,
                    close: 0,
                    end: 0,
                    ticks,
                    info,
                });
            }
            (Some(f), Some((ticks, ""))) if ticks >= f.ticks => {
                f.close = start;
                f.end = next;
                out.extend(open.take());
            }
            _ => {}
        }
    }
    if let Some(mut f) = open {
        f.close = text.len();
        f.end = text.len();
        out.push(f);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Splitting

/// Splits `text` into chunks of at most `max` UTF-16 code units, for sending one message each.
///
/// Breaks are preferred, in order, at paragraph boundaries (blank lines, before and after code
/// blocks), line ends, sentence ends, then spaces; only a run with none of these is cut mid-word,
/// and then not between a character and its combining marks, joiners or flag partner. A fenced
/// code block is kept whole when it fits; one longer than `max` is cut at its line ends, closed
/// at the end of each chunk and reopened (same language) at the start of the next. Spaces and
/// links are not broken inside inline code, links or emphasis when another space is available.
///
/// Chunks are trimmed at the end and whitespace between chunks is dropped; a text that is only
/// whitespace gives no chunks. A `max` too small to hold one character still makes progress
/// (that chunk holds the one character).
pub fn split(text: &str, max: usize) -> Vec<String> {
    let max = max.max(1);
    let fences = fences(text);
    let mut out = Vec::new();
    let mut pos = skip_ws(text, 0);
    while pos < text.len() {
        // Inside a code block cut by the previous chunk: reopen it.
        let cont = fences.iter().find(|f| f.body <= pos && pos < f.close);
        let prefix = cont
            .map(|f| format!("{}{}\n", "`".repeat(f.ticks), f.info))
            .unwrap_or_default();
        let budget = max.saturating_sub(utf16_len(&prefix));
        let rest = &text[pos..];
        if utf16_len(rest) <= budget {
            out.push(prefix + rest.trim_end());
            break;
        }
        let limit = advance(text, pos, budget);
        if let Some(b) = best_break(text, pos, limit, &fences) {
            out.push(prefix + text[pos..b].trim_end());
            pos = skip_ws(text, b);
            continue;
        }
        if let Some(f) = fences.iter().find(|f| f.open <= pos && pos < f.close) {
            let fence_close = "`".repeat(f.ticks);
            let limit = advance(text, pos, budget.saturating_sub(f.ticks + 1)).min(f.close - 1);
            if let Some(b) = code_break(text, pos.max(f.body), limit) {
                let mut chunk = prefix + &text[pos..b];
                if !chunk.ends_with('\n') {
                    chunk.push('\n');
                }
                chunk.push_str(&fence_close);
                out.push(chunk);
                pos = b;
                continue;
            }
        }
        let b = hard_cut(text, pos, limit);
        let in_code = !prefix.is_empty();
        out.push(prefix + &text[pos..b]);
        pos = if in_code { b } else { skip_ws(text, b) };
    }
    out
}

fn skip_ws(text: &str, mut pos: usize) -> usize {
    while let Some(c) = text[pos..].chars().next().filter(|c| c.is_whitespace()) {
        pos += c.len_utf8();
    }
    pos
}

/// The furthest char boundary `b` with `text[pos..b]` at most `budget` UTF-16 units.
fn advance(text: &str, pos: usize, budget: usize) -> usize {
    let mut used = 0;
    for (i, c) in text[pos..].char_indices() {
        used += c.len_utf16();
        if used > budget {
            return pos + i;
        }
    }
    text.len()
}

/// The best break in `(pos, limit]` that is not inside a code block, by preference tier.
fn best_break(text: &str, pos: usize, limit: usize, fences: &[Fence]) -> Option<usize> {
    let outside = |b: usize| !fences.iter().any(|f| f.open < b && b < f.end);
    let is_fence_edge = |b: usize| fences.iter().any(|f| f.open == b || f.end == b);
    let blank = |s: &str| s.trim().is_empty();
    // Whitespace past the limit is trimmed off the chunk, so breaks there still fit.
    let limit = text.len() - text[limit..].trim_start().len();
    let window = &text[pos..limit];
    let newlines = || {
        window
            .char_indices()
            .rev()
            .filter(|&(_, c)| c == '\n')
            .map(|(i, _)| pos + i + 1)
            .filter(|&b| outside(b))
    };
    // Paragraphs: a blank line on either side, or the edge of a code block.
    let paragraph = newlines().find(|&b| {
        let before = &text[..b - 1];
        let line_before = &before[before.rfind('\n').map_or(0, |n| n + 1)..];
        let line_after = text[b..].split('\n').next().unwrap_or("");
        blank(line_before) || blank(line_after) || is_fence_edge(b)
    });
    if let Some(b) = paragraph.or_else(|| newlines().next()) {
        return Some(b);
    }
    // No newline outside code in the window: it is all code, or part of one line.
    if fences
        .iter()
        .any(|f| f.open <= pos && pos < f.end && limit < f.end)
    {
        return None;
    }
    let line_end = text[pos..].find('\n').map_or(text.len(), |n| pos + n);
    let spans = inline_spans(&text[pos..line_end]);
    let protected = |b: usize| spans.iter().any(|&(s, e)| pos + s < b && b < pos + e);
    let cjk_stop = |c: char| matches!(c, '。' | '！' | '？');
    let spaces: Vec<usize> = window
        .char_indices()
        .filter(|&(_, c)| c == ' ' || c == '\t' || cjk_stop(c))
        .map(|(i, c)| pos + i + c.len_utf8())
        .collect();
    let sentence = |b: usize| {
        let before = text[..b].trim_end_matches([' ', '\t']);
        (before.len() < b && before.ends_with(['.', '!', '?', '…', ';', ':']))
            || text[..b].ends_with(cjk_stop)
    };
    let pick = |pred: &dyn Fn(usize) -> bool| spaces.iter().rev().copied().find(|&b| pred(b));
    // A sentence end only wins in the back half of the window: no tiny chunks.
    let half = pos + (limit - pos) / 2;
    pick(&|b| b >= half && sentence(b) && !protected(b))
        .or_else(|| pick(&|b| !protected(b)))
        .or_else(|| pick(&|_| true))
}

/// Break inside a code block in `(lo, limit]`: after a newline, else after a space.
fn code_break(text: &str, lo: usize, limit: usize) -> Option<usize> {
    if limit <= lo {
        return None;
    }
    let window = &text[lo..limit];
    let after = |pat: char| window.rfind(pat).map(|i| lo + i + 1).filter(|&b| b > lo);
    after('\n').or_else(|| after(' ')).or_else(|| {
        let b = hard_cut(text, lo, limit);
        (b <= limit).then_some(b)
    })
}

/// A cut at or before `limit` (after `pos`) that keeps graphemes whole when it can; at least one
/// character.
fn hard_cut(text: &str, pos: usize, limit: usize) -> usize {
    let mut b = limit;
    while b > pos && !grapheme_boundary(text, b) {
        b = floor_boundary(text, b - 1);
    }
    if b > pos {
        return b;
    }
    if limit > pos {
        return limit;
    }
    pos + text[pos..].chars().next().map_or(0, char::len_utf8)
}

fn floor_boundary(text: &str, mut i: usize) -> usize {
    while !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// True when `b` is not inside a user-perceived character, for the cheap cases: combining marks,
/// variation selectors, zero-width joiner sequences, skin tones, tag sequences, flag pairs, CRLF.
fn grapheme_boundary(text: &str, b: usize) -> bool {
    let (Some(prev), Some(next)) = (text[..b].chars().next_back(), text[b..].chars().next()) else {
        return true;
    };
    let extends = |c: char| {
        matches!(c as u32,
            0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
            | 0x200C | 0x200D | 0xFE00..=0xFE0F | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F
            | 0xE0100..=0xE01EF)
    };
    let regional = |c: char| matches!(c as u32, 0x1F1E6..=0x1F1FF);
    if extends(next) || prev == '\u{200D}' || (prev == '\r' && next == '\n') {
        return false;
    }
    if regional(prev) && regional(next) {
        let run = text[..b].chars().rev().take_while(|&c| regional(c)).count();
        return run % 2 == 0;
    }
    true
}

// ---------------------------------------------------------------------------------------------
// Inline Markdown

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node<'a> {
    Text(&'a str),
    Code(&'a str),
    Bold(Vec<Node<'a>>),
    Italic(Vec<Node<'a>>),
    Strike(Vec<Node<'a>>),
    Link { label: Vec<Node<'a>>, url: &'a str },
}

/// Byte ranges of the inline constructs of one line (top level only).
fn inline_spans(line: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    scan_inline(line, false, 0, &mut |start, end, _| out.push((start, end)));
    out
}

fn parse_inline(s: &str, in_link: bool, depth: usize) -> Vec<Node<'_>> {
    let mut out = Vec::new();
    let mut text_start = 0;
    scan_inline(s, in_link, depth, &mut |start, end, node| {
        if text_start < start {
            out.push(Node::Text(&s[text_start..start]));
        }
        out.push(node);
        text_start = end;
    });
    if text_start < s.len() {
        out.push(Node::Text(&s[text_start..]));
    }
    out
}

/// Calls `found(start, end, node)` for each construct, left to right; the rest is text.
fn scan_inline<'a>(
    s: &'a str,
    in_link: bool,
    depth: usize,
    found: &mut dyn FnMut(usize, usize, Node<'a>),
) {
    if depth >= MAX_INLINE_DEPTH {
        return;
    }
    let b = s.as_bytes();
    // Delimiters with no closer after a position never get one from a later opener either.
    let mut dead_from = [usize::MAX; 6];
    let mut i = 0;
    while i < b.len() {
        let hit = match b[i] {
            b'`' => {
                let n = run_len(b, i, b'`');
                match find_code_close(b, i + n, n) {
                    Some(j) => Some((j + n, Node::Code(trim_code(&s[i + n..j])))),
                    None => {
                        i += n;
                        continue;
                    }
                }
            }
            b'[' if !in_link => link_at(s, i, depth),
            b'*' | b'_' | b'~' => delimited_at(s, i, depth, &mut dead_from),
            _ => None,
        };
        match hit {
            Some((end, node)) => {
                found(i, end, node);
                i = end;
            }
            None => i += s[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
}

fn run_len(b: &[u8], i: usize, c: u8) -> usize {
    b[i..].iter().take_while(|&&x| x == c).count()
}

/// Start of the next run of exactly `n` backticks at or after `from`.
fn find_code_close(b: &[u8], mut from: usize, n: usize) -> Option<usize> {
    while from < b.len() {
        if b[from] == b'`' {
            let m = run_len(b, from, b'`');
            if m == n {
                return Some(from);
            }
            from += m;
        } else {
            from += 1;
        }
    }
    None
}

/// CommonMark: one space is stripped from both ends when both are there.
fn trim_code(code: &str) -> &str {
    if code.len() >= 2 && code.starts_with(' ') && code.ends_with(' ') && !code.trim().is_empty() {
        &code[1..code.len() - 1]
    } else {
        code
    }
}

/// `[label](http(s)://url)` at `i`.
fn link_at(s: &str, i: usize, depth: usize) -> Option<(usize, Node<'_>)> {
    let close = i + 1 + s[i + 1..].find(']')?;
    let label = &s[i + 1..close];
    if label.trim().is_empty() || label.contains('[') || !s[close + 1..].starts_with('(') {
        return None;
    }
    let url_start = close + 2;
    let mut parens = 0usize;
    let mut url_end = None;
    for (k, c) in s[url_start..].char_indices() {
        match c {
            '(' => parens += 1,
            ')' if parens == 0 => {
                url_end = Some(url_start + k);
                break;
            }
            ')' => parens -= 1,
            c if c.is_whitespace() || c == '<' || c == '>' || c == '"' => return None,
            _ => {}
        }
    }
    let url_end = url_end?;
    let url = &s[url_start..url_end];
    let strip = |p: &str| {
        url.get(..p.len())
            .filter(|h| h.eq_ignore_ascii_case(p))
            .map(|_| &url[p.len()..])
    };
    if strip("https://")
        .or_else(|| strip("http://"))
        .is_none_or(str::is_empty)
    {
        return None;
    }
    let label = parse_inline(label, true, depth + 1);
    Some((url_end + 1, Node::Link { label, url }))
}

/// `**x**`, `__x__`, `~~x~~`, `*x*` or `_x_` at `i`.
fn delimited_at<'a>(
    s: &'a str,
    i: usize,
    depth: usize,
    dead_from: &mut [usize; 6],
) -> Option<(usize, Node<'a>)> {
    let b = s.as_bytes();
    let d = b[i];
    let word = |k: Option<&u8>| k.is_some_and(|c| c.is_ascii_alphanumeric());
    let double = b.get(i + 1) == Some(&d);
    let width = if double { 2 } else { 1 };
    if d == b'~' && !double {
        return None;
    }
    // Underscores inside words (snake_case) are not emphasis.
    if d == b'_' && i > 0 && word(b.get(i - 1)) {
        return None;
    }
    let next = s[i + width..].chars().next()?;
    if next.is_whitespace() || (!double && next as u32 == d as u32) {
        return None;
    }
    let slot = match (d, double) {
        (b'*', true) => 0,
        (b'*', false) => 1,
        (b'_', true) => 2,
        (b'_', false) => 3,
        _ => 4,
    };
    if i >= dead_from[slot] {
        return None;
    }
    let mut j = i + width;
    while j < b.len() {
        if b[j] == b'`' {
            let n = run_len(b, j, b'`');
            j = find_code_close(b, j + n, n).map_or(j + n, |k| k + n);
            continue;
        }
        if b[j] != d {
            j += 1;
            continue;
        }
        let run = run_len(b, j, d);
        let run_end = j + run;
        // The closer is the last `width` characters of the run.
        let fits = if double { run >= 2 } else { run != 2 };
        let closer = run_end - width;
        let valid = fits
            && closer > i + width
            && !s[..closer].ends_with(char::is_whitespace)
            && !(d == b'_' && word(b.get(run_end)));
        if valid {
            let inner = parse_inline(&s[i + width..closer], false, depth + 1);
            let node = match (d, double) {
                (b'~', _) => Node::Strike(inner),
                (_, true) => Node::Bold(inner),
                _ => Node::Italic(inner),
            };
            return Some((run_end, node));
        }
        j = run_end;
    }
    dead_from[slot] = i;
    None
}

// ---------------------------------------------------------------------------------------------
// Rendering

fn escape_into(out: &mut String, s: &str) {
    escape_with(out, s, false);
}

fn escape_with(out: &mut String, s: &str, attribute: bool) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' if attribute => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

fn html_nodes(out: &mut String, nodes: &[Node]) {
    for node in nodes {
        match node {
            Node::Text(t) => escape_into(out, t),
            Node::Code(c) => {
                out.push_str("<code>");
                escape_into(out, c);
                out.push_str("</code>");
            }
            Node::Bold(n) => wrap(out, "b", n),
            Node::Italic(n) => wrap(out, "i", n),
            Node::Strike(n) => wrap(out, "s", n),
            Node::Link { label, url } => {
                out.push_str("<a href=\"");
                escape_with(out, url, true);
                out.push_str("\">");
                html_nodes(out, label);
                out.push_str("</a>");
            }
        }
    }
}

fn wrap(out: &mut String, tag: &str, nodes: &[Node]) {
    out.push('<');
    out.push_str(tag);
    out.push('>');
    html_nodes(out, nodes);
    out.push_str("</");
    out.push_str(tag);
    out.push('>');
}

fn plain_nodes(out: &mut String, nodes: &[Node]) {
    for node in nodes {
        match node {
            Node::Text(t) | Node::Code(t) => out.push_str(t),
            Node::Bold(n) | Node::Italic(n) | Node::Strike(n) => plain_nodes(out, n),
            Node::Link { label, url } => {
                let start = out.len();
                plain_nodes(out, label);
                if out[start..] != **url {
                    out.push_str(" (");
                    out.push_str(url);
                    out.push(')');
                }
            }
        }
    }
}

/// `# Title` (one to six `#` and a space): the title, without trailing `#`s.
fn heading(line: &str) -> Option<&str> {
    let hashes = line.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&hashes) || !line[hashes..].starts_with([' ', '\t']) {
        return None;
    }
    let title = line[hashes..].trim().trim_end_matches('#').trim_end();
    (!title.is_empty()).then_some(title)
}

/// Walks `markdown` as code blocks and lines of inline text.
fn render(
    markdown: &str,
    code_block: &mut dyn FnMut(&mut String, &str, &str),
    line: &mut dyn FnMut(&mut String, &str),
) -> String {
    let mut out = String::with_capacity(markdown.len() + markdown.len() / 8);
    let mut pos = 0;
    let mut first = true;
    let mut text_lines = |out: &mut String, region: &str, first: &mut bool| {
        for (start, end, _) in lines(region) {
            if !std::mem::take(first) {
                out.push('\n');
            }
            line(out, region[start..end].trim_end_matches('\r'));
        }
    };
    for f in fences(markdown) {
        text_lines(&mut out, &markdown[pos..f.open], &mut first);
        if !std::mem::take(&mut first) {
            out.push('\n');
        }
        let body = &markdown[f.body.min(f.close)..f.close];
        code_block(&mut out, f.lang(), body.strip_suffix('\n').unwrap_or(body));
        pos = f.end;
    }
    text_lines(&mut out, &markdown[pos..], &mut first);
    out
}

/// A model's Markdown answer as the HTML messages to send: split at `MAX_MESSAGE_UNITS`, each
/// part rendered by `to_html` (empty for empty text).
pub fn html_chunks(markdown: &str) -> Vec<String> {
    split(markdown, MAX_MESSAGE_UNITS)
        .iter()
        .map(|c| to_html(c))
        .collect()
}

/// Telegram HTML (`parse_mode=HTML`) for a Markdown chunk: `<b> <i> <s> <code> <a href>` and
/// `<pre><code class="language-x">`; `&`, `<` and `>` are escaped everywhere else (and `"` in `href`). Links
/// other than http(s) and unbalanced markers stay literal. A code block left open runs to the end.
pub fn to_html(markdown: &str) -> String {
    render(
        markdown,
        &mut |out, lang, body| {
            let lang: String = lang
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '+' | '#' | '.'))
                .collect();
            if lang.is_empty() {
                out.push_str("<pre>");
                escape_into(out, body);
                out.push_str("</pre>");
            } else {
                out.push_str("<pre><code class=\"language-");
                out.push_str(&lang);
                out.push_str("\">");
                escape_into(out, body);
                out.push_str("</code></pre>");
            }
        },
        &mut |out, line| match heading(line) {
            Some(title) => wrap(out, "b", &parse_inline(title, false, 0)),
            None => html_nodes(out, &parse_inline(line, false, 0)),
        },
    )
}

/// Plain text for a Markdown chunk, sent without parse mode when Telegram rejects the HTML:
/// markers removed, code blocks as their bare body, links as `label (url)`.
pub fn plain(markdown: &str) -> String {
    render(
        markdown,
        &mut |out, _lang, body| out.push_str(body),
        &mut |out, line| plain_nodes(out, &parse_inline(heading(line).unwrap_or(line), false, 0)),
    )
}

#[cfg(test)]
mod tests;
