//! Shell command risk: a tolerant tokenizer (`parse`) and rules over its segments (`score_command`).
//!
//! `parse` splits a command line the way a POSIX shell would at the level that matters for risk:
//! quotes, escapes, `;` `&&` `||` `|` `&` and newlines, subshells, `$( … )`, backticks and process
//! substitution (parsed recursively up to `MAX_DEPTH`), redirections with their targets, leading
//! `NAME=value` assignments, here-documents, and the code argument of `sh -c`, `bash -c`, `eval`
//! and `su -c`, which is parsed as a nested command. It never fails: unbalanced quotes or parens
//! simply end at the end of input.
//!
//! `score_command` applies the rules to segments, not to the raw string, so quoted data stays
//! data (`echo "rm -rf /" > notes.txt` is benign). A few checks do look at the raw string because
//! they are about how it is written: `$IFS`, `${VAR:0:1}`, `\x72` escapes, fork bombs. Variables
//! assigned earlier on the same line (`a=r;b=m;$a$b -rf /`) are substituted before the rules run.
//!
//! Allow-prefixes: when every segment's argv starts with a configured prefix (word by word, so
//! `ls` does not allow `lsblk`), the result is a single `allow.prefix` reason with score 0. A
//! dangerous finding (score ≥ 40) always wins over the allow-list, and a truncated scan is never
//! allowed, so an allowed prefix cannot smuggle `; rm -rf /` or `$(curl …)`.
//!
//! Known blind spots: aliases and functions defined elsewhere, scripts run by name (their content
//! is not read), variables set outside this line, globbing (`/e?c/sh*`), arithmetic and brace
//! expansion used to build names, interpreters other than sh/python/perl/php/ruby/node for the
//! reverse-shell patterns, and anything the command downloads and runs later.

use super::reason::{Reason, SUSPICIOUS, ScanLimits, clip, push_capped, truncated};

const DETECTOR: &str = "command";

/// Deepest nesting of `$( … )`, backticks, subshells and `sh -c` that is parsed; deeper code is
/// skipped and reported as `obfuscation.deep_nesting`.
pub const MAX_DEPTH: usize = 4;

/// Most segments kept for one command line; the rest are not analysed (reported as deep nesting).
pub const MAX_SEGMENTS: usize = 1024;

/// How a segment is joined to the one before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// First segment of a list.
    Start,
    /// `;` or a newline.
    Seq,
    /// `&&`.
    And,
    /// `||`.
    Or,
    /// `|` or `|&`.
    Pipe,
    /// `&`.
    Background,
}

/// Where a segment came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nesting {
    /// The command line itself.
    Top,
    /// `( … )`; the segment with this nesting and an empty argv stands for the group.
    Subshell,
    /// `$( … )` or backticks.
    Substitution,
    /// `<( … )` or `>( … )`.
    ProcessSubst,
    /// The code argument of `sh -c`, `bash -c`, `su -c`, or the words of `eval`.
    ShellArg,
    /// The body of a here-document fed to a shell.
    Heredoc,
}

/// One simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// Words after quote removal (substitutions are kept as written, e.g. `$(curl x)`).
    pub argv: Vec<String>,
    /// `(op, target)`: `(">", "out.txt")`, `("2>&", "1")`; for `<<` the target is the body.
    pub redirects: Vec<(String, String)>,
    /// The operator before this segment at its own nesting level.
    pub op_before: Op,
    /// 0 for the command line, +1 per nesting.
    pub depth: usize,
    /// Leading `NAME=value` assignments.
    pub env: Vec<(String, String)>,
    /// Where it came from.
    pub via: Nesting,
    /// Index of the segment it is nested in.
    pub parent: Option<usize>,
}

impl Segment {
    fn new(op_before: Op, depth: usize, via: Nesting, parent: Option<usize>) -> Segment {
        Segment {
            argv: Vec::new(),
            redirects: Vec::new(),
            op_before,
            depth,
            env: Vec::new(),
            via,
            parent,
        }
    }
}

/// Parses a command line into segments, nested ones included (parents before children).
pub fn parse(cmd: &str) -> Vec<Segment> {
    Parsed::of(cmd).segs
}

/// Parse result with the tokenizer's observations.
struct Parsed {
    segs: Vec<Segment>,
    /// Nesting deeper than `MAX_DEPTH` or more than `MAX_SEGMENTS` was skipped.
    too_deep: bool,
    /// Empty quotes or a backslash split a word (`r''m`, `c\url`).
    split_word: bool,
}

impl Parsed {
    fn of(cmd: &str) -> Parsed {
        let mut p = Parser {
            src: cmd.as_bytes(),
            pos: 0,
            segs: Vec::new(),
            too_deep: false,
            split_word: false,
        };
        p.list(0, Nesting::Top, None, Stop::Eof);
        let segs = compact(p.segs);
        Parsed {
            segs,
            too_deep: p.too_deep,
            split_word: p.split_word,
        }
    }
}

/// Drops empty segments (reserved but never filled) and renumbers parents.
fn compact(segs: Vec<Segment>) -> Vec<Segment> {
    let mut map = vec![None; segs.len()];
    let mut out: Vec<Segment> = Vec::with_capacity(segs.len());
    for (i, mut s) in segs.into_iter().enumerate() {
        let keep = !s.argv.is_empty()
            || !s.redirects.is_empty()
            || !s.env.is_empty()
            || s.via == Nesting::Subshell;
        if keep {
            s.parent = s.parent.and_then(|p| map.get(p).copied().flatten());
            map[i] = Some(out.len());
            out.push(s);
        }
    }
    out
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stop {
    Eof,
    Paren,
    Backtick,
}

struct Parser<'a> {
    src: &'a [u8],
    pos: usize,
    segs: Vec<Segment>,
    too_deep: bool,
    split_word: bool,
}

/// Per-list tokenizer state.
struct List {
    depth: usize,
    via: Nesting,
    parent: Option<usize>,
    cur: Option<usize>,
    next_op: Op,
    word: Vec<u8>,
    in_word: bool,
    redirect: Option<String>,
    heredocs: Vec<(usize, usize, String, bool)>,
}

const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "ash", "zsh", "ksh", "mksh", "fish", "busybox",
];

impl Parser<'_> {
    fn peek(&self, k: usize) -> Option<u8> {
        self.src.get(self.pos + k).copied()
    }

    fn list(&mut self, depth: usize, via: Nesting, parent: Option<usize>, stop: Stop) {
        let mut l = List {
            depth,
            via,
            parent,
            cur: None,
            next_op: Op::Start,
            word: Vec::new(),
            in_word: false,
            redirect: None,
            heredocs: Vec::new(),
        };
        while let Some(c) = self.peek(0) {
            match c {
                b')' if stop == Stop::Paren => {
                    self.pos += 1;
                    break;
                }
                b'`' if stop == Stop::Backtick => {
                    self.pos += 1;
                    break;
                }
                b' ' | b'\t' | b'\r' => {
                    self.word_end(&mut l);
                    self.pos += 1;
                }
                b'\n' => {
                    self.seg_end(&mut l, Op::Seq);
                    self.pos += 1;
                    self.heredoc_bodies(&mut l);
                }
                b'\\' => {
                    match self.peek(1) {
                        Some(b'\n') => {}
                        Some(n) => {
                            if n.is_ascii_alphanumeric()
                                && l.word.last().is_some_and(u8::is_ascii_alphanumeric)
                            {
                                self.split_word = true;
                            }
                            self.word_byte(&mut l, n);
                        }
                        None => {}
                    }
                    self.pos += 2;
                }
                b'\'' => self.single_quoted(&mut l),
                b'"' => self.double_quoted(&mut l),
                b'$' if self.peek(1) == Some(b'(') && self.peek(2) != Some(b'(') => {
                    self.nested_word(&mut l, 2, Nesting::Substitution, Stop::Paren);
                }
                b'$' if self.peek(1) == Some(b'{') || self.peek(1) == Some(b'(') => {
                    let start = self.pos;
                    self.skip_balanced(1);
                    self.word_bytes(&mut l, start);
                }
                b'`' => self.nested_word(&mut l, 1, Nesting::Substitution, Stop::Backtick),
                b'<' | b'>' if self.peek(1) == Some(b'(') && !l.in_word => {
                    self.nested_word(&mut l, 2, Nesting::ProcessSubst, Stop::Paren);
                }
                b'#' if !l.in_word => {
                    while self.peek(0).is_some_and(|b| b != b'\n') {
                        self.pos += 1;
                    }
                }
                b';' => {
                    self.seg_end(&mut l, Op::Seq);
                    self.pos += 1;
                }
                b'&' => match self.peek(1) {
                    Some(b'&') => {
                        self.seg_end(&mut l, Op::And);
                        self.pos += 2;
                    }
                    Some(b'>') => self.redirect_op(&mut l),
                    _ => {
                        self.seg_end(&mut l, Op::Background);
                        self.pos += 1;
                    }
                },
                b'|' => {
                    let (op, n) = match self.peek(1) {
                        Some(b'|') => (Op::Or, 2),
                        Some(b'&') => (Op::Pipe, 2),
                        _ => (Op::Pipe, 1),
                    };
                    self.seg_end(&mut l, op);
                    self.pos += n;
                }
                b'<' | b'>' => self.redirect_op(&mut l),
                b'(' if l.in_word && self.peek(1) == Some(b')') => {
                    self.word_byte(&mut l, b'(');
                    self.word_byte(&mut l, b')');
                    self.pos += 2;
                }
                b'(' if !l.in_word => self.subshell(&mut l),
                b')' => {
                    self.word_end(&mut l);
                    self.pos += 1;
                }
                _ => {
                    self.word_byte(&mut l, c);
                    self.pos += 1;
                }
            }
        }
        self.seg_end(&mut l, Op::Seq);
    }

    /// The segment being filled, reserved on first use so nested segments know their parent.
    fn seg(&mut self, l: &mut List) -> Option<usize> {
        if l.cur.is_none() && self.segs.len() < MAX_SEGMENTS {
            self.segs
                .push(Segment::new(l.next_op, l.depth, l.via, l.parent));
            l.cur = Some(self.segs.len() - 1);
        } else if l.cur.is_none() {
            self.too_deep = true;
        }
        l.cur
    }

    fn word_byte(&mut self, l: &mut List, b: u8) {
        self.seg(l);
        l.word.push(b);
        l.in_word = true;
    }

    fn word_bytes(&mut self, l: &mut List, start: usize) {
        self.seg(l);
        let end = self.pos.min(self.src.len());
        l.word.extend_from_slice(&self.src[start..end]);
        l.in_word = true;
    }

    fn single_quoted(&mut self, l: &mut List) {
        self.seg(l);
        let start = self.pos + 1;
        let end = self.src[start.min(self.src.len())..]
            .iter()
            .position(|&b| b == b'\'')
            .map_or(self.src.len(), |e| start + e);
        self.note_empty_quotes(l, start, end);
        l.word.extend_from_slice(&self.src[start.min(end)..end]);
        l.in_word = true;
        self.pos = end + 1;
    }

    fn double_quoted(&mut self, l: &mut List) {
        self.seg(l);
        let open = self.pos;
        self.pos += 1;
        l.in_word = true;
        while let Some(c) = self.peek(0) {
            match c {
                b'"' => {
                    self.note_empty_quotes(l, open + 1, self.pos);
                    self.pos += 1;
                    return;
                }
                b'\\' if matches!(self.peek(1), Some(b'"' | b'\\' | b'$' | b'`')) => {
                    if let Some(n) = self.peek(1) {
                        l.word.push(n);
                    }
                    self.pos += 2;
                }
                b'$' if self.peek(1) == Some(b'(') && self.peek(2) != Some(b'(') => {
                    self.nested_word(l, 2, Nesting::Substitution, Stop::Paren);
                }
                b'`' => self.nested_word(l, 1, Nesting::Substitution, Stop::Backtick),
                _ => {
                    l.word.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `r''m`, `r""m`: empty quotes between word characters do nothing but hide the word.
    fn note_empty_quotes(&mut self, l: &List, start: usize, end: usize) {
        if start == end
            && l.word.last().is_some_and(u8::is_ascii_alphanumeric)
            && self.src.get(end + 1).is_some_and(u8::is_ascii_alphanumeric)
        {
            self.split_word = true;
        }
    }

    /// `$( … )`, backticks, `<( … )`: parsed as nested segments; the text stays in the word.
    fn nested_word(&mut self, l: &mut List, open: usize, via: Nesting, stop: Stop) {
        let parent = self.seg(l);
        let start = self.pos;
        self.pos += open;
        if l.depth + 1 > MAX_DEPTH {
            self.too_deep = true;
            if stop == Stop::Backtick {
                while self.peek(0).is_some_and(|b| b != b'`') {
                    self.pos += 1;
                }
                self.pos += 1;
            } else {
                self.pos -= 1;
                self.skip_balanced(0);
            }
        } else {
            self.list(l.depth + 1, via, parent, stop);
        }
        self.word_bytes(l, start);
    }

    /// Moves past the bracket at `pos + k` and its match (quote-aware, iterative).
    fn skip_balanced(&mut self, k: usize) {
        self.pos += k;
        let (open, close) = match self.peek(0) {
            Some(b'{') => (b'{', b'}'),
            _ => (b'(', b')'),
        };
        let mut level = 0usize;
        while let Some(c) = self.peek(0) {
            self.pos += 1;
            match c {
                b'\\' => self.pos += 1,
                b'\'' => {
                    while self.peek(0).is_some_and(|b| b != b'\'') {
                        self.pos += 1;
                    }
                    self.pos += 1;
                }
                _ if c == open => level += 1,
                _ if c == close => {
                    level = level.saturating_sub(1);
                    if level == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        self.pos = self.pos.min(self.src.len());
    }

    fn subshell(&mut self, l: &mut List) {
        self.seg_end(l, l.next_op);
        let idx = self.seg(l);
        if let Some(i) = idx {
            self.segs[i].via = Nesting::Subshell;
        }
        l.cur = None;
        if l.depth + 1 > MAX_DEPTH {
            self.too_deep = true;
            self.skip_balanced(0);
        } else {
            self.pos += 1;
            self.list(l.depth + 1, Nesting::Subshell, idx, Stop::Paren);
        }
        l.next_op = Op::Seq;
    }

    fn redirect_op(&mut self, l: &mut List) {
        let mut op = String::new();
        if l.in_word && !l.word.is_empty() && l.word.iter().all(u8::is_ascii_digit) {
            op.push_str(&String::from_utf8_lossy(&l.word));
            l.word.clear();
            l.in_word = false;
        } else {
            self.word_end(l);
        }
        self.seg(l);
        let rest = &self.src[self.pos..];
        let ops: [&[u8]; 12] = [
            b"&>>", b"&>", b"<<<", b"<<-", b"<<", b">>", b">|", b">&", b"<&", b"<>", b">", b"<",
        ];
        let sym = ops
            .iter()
            .find(|o| rest.starts_with(o))
            .copied()
            .unwrap_or(b">");
        op.push_str(&String::from_utf8_lossy(sym));
        self.pos += sym.len();
        if sym == b">&" || sym == b"<&" {
            let t = self.src[self.pos..]
                .iter()
                .take_while(|b| b.is_ascii_digit() || **b == b'-')
                .count();
            if t > 0 {
                let target =
                    String::from_utf8_lossy(&self.src[self.pos..self.pos + t]).into_owned();
                self.pos += t;
                if let Some(i) = l.cur {
                    self.segs[i].redirects.push((op, target));
                }
                return;
            }
        }
        l.redirect = Some(op);
    }

    fn word_end(&mut self, l: &mut List) {
        if !l.in_word {
            return;
        }
        let word = String::from_utf8_lossy(&l.word).into_owned();
        l.word.clear();
        l.in_word = false;
        let Some(i) = self.seg(l) else {
            return;
        };
        let seg = &mut self.segs[i];
        if let Some(op) = l.redirect.take() {
            if op.ends_with("<<") || op.ends_with("<<-") {
                l.heredocs
                    .push((i, seg.redirects.len(), word.clone(), op.ends_with('-')));
            }
            seg.redirects.push((op, word));
            return;
        }
        if seg.argv.is_empty() {
            if let Some((name, value)) = assignment(&word) {
                seg.env.push((name.to_string(), value.to_string()));
                return;
            }
            if matches!(
                word.as_str(),
                "{" | "}" | "!" | "then" | "do" | "else" | "elif" | "if" | "while" | "until"
            ) {
                return;
            }
        }
        seg.argv.push(word);
    }

    fn seg_end(&mut self, l: &mut List, next: Op) {
        self.word_end(l);
        if let Some(i) = l.cur.take() {
            self.nest_code(i);
        }
        l.redirect = None;
        l.next_op = next;
    }

    /// Reads here-document bodies after a newline and parses them when a shell reads them.
    fn heredoc_bodies(&mut self, l: &mut List) {
        for (seg, slot, delim, strip) in std::mem::take(&mut l.heredocs) {
            let start = self.pos;
            let mut end = self.src.len();
            while self.pos < self.src.len() {
                let line_end = self.src[self.pos..]
                    .iter()
                    .position(|&b| b == b'\n')
                    .map_or(self.src.len(), |e| self.pos + e);
                let line = &self.src[self.pos..line_end];
                let line = if strip { trim_tabs(line) } else { line };
                if line == delim.as_bytes() {
                    end = self.pos;
                    self.pos = (line_end + 1).min(self.src.len());
                    break;
                }
                self.pos = (line_end + 1).min(self.src.len());
            }
            let body = String::from_utf8_lossy(&self.src[start..end.max(start)]).into_owned();
            let prog = self.segs[seg].argv.first().map(|a| basename(a).to_string());
            if prog.as_deref().is_some_and(|p| SHELLS.contains(&p)) {
                self.nested_code(&body, seg, Nesting::Heredoc);
            }
            if let Some(r) = self.segs[seg].redirects.get_mut(slot) {
                r.1 = body;
            }
        }
    }

    /// `sh -c CODE`, `su -c CODE`, `eval WORDS`: parse the code as nested segments.
    fn nest_code(&mut self, i: usize) {
        let argv = &self.segs[i].argv;
        let eff = strip_wrappers(argv);
        let Some(prog) = eff.first().map(|p| basename(p)) else {
            return;
        };
        let code = if prog == "eval" {
            Some(eff[1..].join(" "))
        } else if SHELLS.contains(&prog) || prog == "su" {
            let c = eff
                .iter()
                .position(|a| a.starts_with('-') && !a.starts_with("--") && a.contains('c'));
            c.and_then(|c| eff.get(c + 1)).cloned()
        } else {
            None
        };
        if let Some(code) = code {
            self.nested_code(&code, i, Nesting::ShellArg);
        }
    }

    fn nested_code(&mut self, code: &str, parent: usize, via: Nesting) {
        let depth = self.segs[parent].depth + 1;
        if depth > MAX_DEPTH {
            self.too_deep = true;
            return;
        }
        let mut sub = Parser {
            src: code.as_bytes(),
            pos: 0,
            segs: Vec::new(),
            too_deep: false,
            split_word: false,
        };
        sub.list(depth, via, None, Stop::Eof);
        let offset = self.segs.len();
        for mut s in sub.segs {
            if self.segs.len() >= MAX_SEGMENTS {
                self.too_deep = true;
                break;
            }
            s.parent = Some(s.parent.map_or(parent, |p| p + offset));
            self.segs.push(s);
        }
        self.too_deep |= sub.too_deep;
        self.split_word |= sub.split_word;
    }
}

fn trim_tabs(b: &[u8]) -> &[u8] {
    let n = b.iter().take_while(|&&c| c == b'\t').count();
    &b[n..]
}

/// `NAME=value` with a shell identifier name.
fn assignment(word: &str) -> Option<(&str, &str)> {
    let (name, value) = word.split_once('=')?;
    let mut chars = name.chars();
    let ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    ok.then_some((name, value))
}

/// The last path component.
pub fn basename(w: &str) -> &str {
    w.rsplit('/').next().unwrap_or(w)
}

/// `argv` without leading wrappers (`sudo -u x`, `env A=1`, `nohup`, `timeout 5`, `xargs -I{}` …).
fn strip_wrappers(argv: &[String]) -> &[String] {
    let mut i = 0;
    while let Some(w) = argv.get(i) {
        let (takes_value, positional): (&[&str], usize) = match basename(w) {
            "sudo" | "doas" => (&["-u", "-g", "-C", "-D", "-h", "-p", "-r", "-t", "-U"], 0),
            "env" => (&["-u", "-C", "-S"], 0),
            "nice" => (&["-n"], 0),
            "timeout" => (&["-s", "-k"], 1),
            "xargs" => (&["-I", "-n", "-P", "-d", "-L", "-s", "-E", "-a"], 0),
            "watch" => (&["-n", "-d"], 0),
            "ionice" => (&["-c", "-n", "-p"], 0),
            "taskset" | "chrt" => (&[], 1),
            "nohup" | "time" | "command" | "exec" | "builtin" | "setsid" | "stdbuf"
            | "unbuffer" | "proxychains" | "proxychains4" | "strace" | "ltrace" => (&[], 0),
            _ => break,
        };
        i += 1;
        while let Some(a) = argv.get(i) {
            if a.starts_with('-') {
                i += if takes_value.contains(&a.as_str()) {
                    2
                } else {
                    1
                };
            } else if assignment(a).is_some() {
                i += 1;
            } else {
                break;
            }
        }
        i += positional;
    }
    &argv[i.min(argv.len())..]
}

mod line;
mod paths;
mod rules;
mod vars;

/// Scores one shell command line.
pub fn score_command(cmd: &str, allow_prefixes: &[String], l: &ScanLimits) -> Vec<Reason> {
    let (s, cut) = clip(cmd, l.max_scan_bytes);
    let parsed = Parsed::of(s);
    let mut out = Vec::new();
    line::raw(s, &parsed, &mut out);
    rules::segments(&parsed.segs, &mut out);
    if parsed.too_deep {
        push_capped(
            &mut out,
            Reason::new(
                DETECTOR,
                "obfuscation.deep_nesting",
                50,
                None,
                format!(
                    "nesting deeper than {MAX_DEPTH} levels or {MAX_SEGMENTS} segments was not analysed"
                ),
            ),
        );
    }
    let dangerous = out.iter().any(|r| r.score >= SUSPICIOUS);
    if !dangerous && !cut && allowed(&parsed.segs, allow_prefixes) {
        return vec![Reason::new(
            DETECTOR,
            "allow.prefix",
            0,
            None,
            "every segment starts with an allowed prefix",
        )];
    }
    if cut {
        push_capped(&mut out, truncated(DETECTOR, cmd, l.max_scan_bytes));
    }
    out
}

/// Whether every segment with words starts, word by word, with one of `prefixes`.
fn allowed(segs: &[Segment], prefixes: &[String]) -> bool {
    let mut any = false;
    for s in segs {
        if s.argv.is_empty() {
            if s.via == Nesting::Subshell || s.redirects.is_empty() {
                continue;
            }
            return false;
        }
        any = true;
        let ok = prefixes.iter().any(|p| {
            let words: Vec<&str> = p.split_whitespace().collect();
            !words.is_empty()
                && words.len() <= s.argv.len()
                && words.iter().zip(&s.argv).all(|(w, a)| w == a)
        });
        if !ok {
            return false;
        }
    }
    any
}

#[cfg(test)]
mod tests;
