//! Concept extraction: the nodes of graph memory, found by a few simple rules.
//!
//! `extract` reads one entry's text and returns its concepts, each with a normalised `key`
//! (lowercase, diacritics folded, possessive `'s` dropped, words joined by one space; phrase
//! words are also stemmed with `text::stem`, names are not) and a `Kind`. The rules, in priority order (the first `MAX_CONCEPTS` distinct keys are kept):
//!
//! 1. URLs: a whitespace-separated chunk starting with `http://`, `https://` or `www.`, or a bare
//!    domain (`quietfox.dev`: dot-separated labels, the last one 2–6 letters). Key: host and
//!    path, lowercase, without scheme, `www.`, query, fragment or trailing `/`.
//! 2. Hashtags: `#` then letters/digits/`_` at the start of a chunk (not all digits: `#42` is
//!    an issue number). Key: `#tag`.
//! 3. Handles: `@` then letters/digits/`_.-@` at the start of a chunk (so `a@b.com` is not
//!    one). Key: `@handle`.
//! 4. Names: maximal runs of capitalised words, joined across `of`, `de`, `da`, `van`, `von`
//!    and `&`, within a sentence (one-letter keys are dropped). A sentence's first word is skipped when it is a stop word or a
//!    common opener (`Next`, `Every` …); titles (`Dr.`, `Mrs.` …) are dropped and do not end the
//!    sentence.
//! 5. Phrases: each pair of adjacent lowercase content words (letters only, 3+ letters, not stop
//!    words) inside a run unbroken by punctuation, names or numbers ("noun-phrase-ish": "dentist
//!    appointment", "grocery delivery"). Single common words are not concepts: they would be hub
//!    nodes that connect everything, and BM25 and the vectors already match them.
//! 6. Name parts: each word (3+ letters) of a multi-word name on its own, so "Novak" finds
//!    "Hana Novak".
//!
//! `query_keys` adds, for a query, every content word and adjacent stem pair as candidate keys:
//! queries are often typed in lowercase ("where does clara live"), and a lookup of a key no
//! node has costs one index probe.

use super::text::{self, is_stop, stem};

/// Concepts kept per entry (mention edges per entry are bounded by this).
pub const MAX_CONCEPTS: usize = 12;
/// Concepts per entry that get co-occurrence edges with each other (≤ 15 pairs per entry).
pub const MAX_EDGE_CONCEPTS: usize = 6;
/// Longest key, in bytes (longer URLs are cut at a character boundary).
pub const MAX_KEY_BYTES: usize = 96;
/// Most candidate keys `query_keys` returns.
pub const MAX_QUERY_KEYS: usize = 24;

/// What rule found a concept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A run of capitalised words.
    Name,
    /// A pair of adjacent lowercase content words.
    Phrase,
    /// `#tag`.
    Hashtag,
    /// A URL or bare domain.
    Url,
    /// `@handle`.
    Handle,
    /// One word of a multi-word name.
    NamePart,
    /// The session an entry came from (key `session:<session key>`; never a query key, so it
    /// records provenance in the graph without steering recall).
    Session,
}

impl Kind {
    /// Stored code.
    pub fn code(self) -> i64 {
        match self {
            Kind::Name => 1,
            Kind::Phrase => 2,
            Kind::Hashtag => 3,
            Kind::Url => 4,
            Kind::Handle => 5,
            Kind::NamePart => 6,
            Kind::Session => 7,
        }
    }

    /// From a stored code (unknown codes read as `Phrase`, the weakest full kind).
    pub fn from_code(c: i64) -> Kind {
        match c {
            1 => Kind::Name,
            3 => Kind::Hashtag,
            4 => Kind::Url,
            5 => Kind::Handle,
            6 => Kind::NamePart,
            7 => Kind::Session,
            _ => Kind::Phrase,
        }
    }

    /// How much a match on this kind says about an entry (used by the graph boost): names and
    /// explicit tags are specific, phrases less so, a lone name part least.
    pub fn weight(self) -> f64 {
        match self {
            Kind::Name | Kind::Hashtag | Kind::Url | Kind::Handle => 1.0,
            Kind::Phrase => 0.6,
            Kind::NamePart => 0.5,
            Kind::Session => 0.0,
        }
    }

    fn priority(self) -> u8 {
        match self {
            Kind::Url => 0,
            Kind::Hashtag => 1,
            Kind::Handle => 2,
            Kind::Name => 3,
            Kind::Phrase => 4,
            Kind::NamePart => 5,
            Kind::Session => 6,
        }
    }
}

/// One concept of an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    /// Normalised key (unique per agent in the store).
    pub key: String,
    /// The rule that found it.
    pub kind: Kind,
}

/// Sentence openers skipped as names when they start a sentence (besides stop words).
const OPENERS: &[&str] = &[
    "also",
    "best",
    "every",
    "last",
    "maybe",
    "need",
    "new",
    "next",
    "please",
    "today",
    "tomorrow",
    "yesterday",
];
/// Titles dropped from names; a following `.` does not end the sentence.
const TITLES: &[&str] = &["dr", "miss", "mr", "mrs", "ms", "prof", "st"];
/// Lowercase words that may join two capitalised words into one name.
const CONNECTORS: &[&str] = &["&", "da", "de", "of", "van", "von"];

enum Item<'a> {
    Word(&'a str),
    Break,
    Sentence,
}

/// Normalised tokens of `raw` joined by one space (not stemmed: names are not inflected, and
/// "Hughes" must not become "hugh").
fn norm_key(raw: &str) -> String {
    let mut key = String::new();
    text::for_each_token(raw, |t| {
        if !key.is_empty() {
            key.push(' ');
        }
        key.push_str(t);
    });
    key
}

fn cut(mut s: String) -> String {
    if s.len() > MAX_KEY_BYTES {
        let mut end = MAX_KEY_BYTES;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

fn trim_trailing_punct(s: &str) -> &str {
    s.trim_end_matches(|c: char| ".,;:!?)]}'\"".contains(c))
}

fn url_key(chunk: &str) -> Option<String> {
    let lower = trim_trailing_punct(chunk).to_lowercase();
    let rest = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .unwrap_or(&lower);
    let explicit = rest.len() != lower.len() || rest.starts_with("www.");
    let rest = rest.strip_prefix("www.").unwrap_or(rest);
    let rest = rest.split(['?', '#']).next().unwrap_or("");
    let rest = rest.trim_end_matches('/');
    let host = rest.split(['/', ':']).next().unwrap_or("");
    if host.is_empty() {
        return None;
    }
    if !explicit {
        let labels: Vec<&str> = host.split('.').collect();
        let tld = labels.last().copied().unwrap_or("");
        let ok = labels.len() >= 2
            && (2..=6).contains(&tld.len())
            && tld.bytes().all(|b| b.is_ascii_lowercase())
            && labels.iter().all(|l| {
                !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if !ok {
            return None;
        }
    }
    Some(cut(rest.to_string()))
}

fn tag_key(prefix: char, body: &str, extra: &str) -> Option<String> {
    let body = trim_trailing_punct(body);
    let end = body
        .char_indices()
        .find(|(_, c)| !(c.is_alphanumeric() || *c == '_' || extra.contains(*c)))
        .map_or(body.len(), |(i, _)| i);
    let body = trim_trailing_punct(&body[..end]);
    if body.chars().count() < 2 || body.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut key = String::with_capacity(body.len() + 1);
    key.push(prefix);
    key.push_str(&body.to_lowercase());
    Some(cut(key))
}

/// Splits a chunk into words and breaks; `.`, `!`, `?`, `;` and `:` end a sentence (except
/// after a title), other punctuation only breaks a run.
fn words<'a>(chunk: &'a str, items: &mut Vec<Item<'a>>) {
    let mut start: Option<usize> = None;
    let b = chunk.as_bytes();
    let mut iter = chunk.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let inner = (c == '\'' || c == '\u{2019}' || c == '-')
            && start.is_some()
            && iter.peek().is_some_and(|(_, n)| n.is_alphanumeric());
        if c.is_alphanumeric() || inner {
            start.get_or_insert(i);
            continue;
        }
        if let Some(s) = start.take() {
            items.push(Item::Word(&chunk[s..i]));
        }
        if c == '&' {
            items.push(Item::Word("&"));
            continue;
        }
        let ends_sentence = matches!(c, '.' | '!' | '?' | ';' | ':')
            && (i + c.len_utf8() >= b.len() || !b[i + c.len_utf8()].is_ascii_alphanumeric());
        let after_title = matches!(items.last(), Some(Item::Word(w)) if TITLES.contains(&w.to_lowercase().as_str()));
        if ends_sentence && !after_title {
            items.push(Item::Sentence);
        } else if !after_title {
            items.push(Item::Break);
        }
    }
    if let Some(s) = start {
        items.push(Item::Word(&chunk[s..]));
    }
}

fn flush_name<'a>(name: &mut Vec<&'a str>, names: &mut Vec<Vec<&'a str>>) {
    while name.last().is_some_and(|w| CONNECTORS.contains(w)) {
        name.pop();
    }
    if !name.is_empty() {
        names.push(std::mem::take(name));
    }
}

fn is_capitalised(w: &str) -> bool {
    w.chars().next().is_some_and(char::is_uppercase)
}

fn push(out: &mut Vec<Concept>, key: String, kind: Kind) {
    if key.is_empty() || out.iter().any(|c| c.key == key) {
        return;
    }
    out.push(Concept { key, kind });
}

/// The concepts of `text`, most specific first, at most `MAX_CONCEPTS`.
pub fn extract(text: &str) -> Vec<Concept> {
    let mut out: Vec<Concept> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut at_start = true;
    for chunk in text.split_whitespace() {
        let first = chunk.chars().next().unwrap_or(' ');
        let lower = chunk.to_ascii_lowercase();
        let special = if lower.starts_with("http://")
            || lower.starts_with("https://")
            || lower.starts_with("www.")
        {
            url_key(chunk).map(|k| (k, Kind::Url))
        } else if first == '#' {
            tag_key('#', &chunk[1..], "").map(|k| (k, Kind::Hashtag))
        } else if first == '@' {
            tag_key('@', &chunk[1..], ".-@").map(|k| (k, Kind::Handle))
        } else if chunk.contains('.') && !chunk.ends_with('.') {
            url_key(chunk).map(|k| (k, Kind::Url))
        } else {
            None
        };
        match special {
            Some((k, kind)) => {
                push(&mut out, k, kind);
                items.push(Item::Break);
            }
            None => words(chunk, &mut items),
        }
    }
    // Names and phrases from the word stream.
    let mut name: Vec<&str> = Vec::new();
    let mut phrase: Vec<String> = Vec::new();
    let mut names: Vec<Vec<&str>> = Vec::new();
    let mut phrases: Vec<String> = Vec::new();
    let flush_phrase = |phrase: &mut Vec<String>, phrases: &mut Vec<String>| {
        for pair in phrase.windows(2) {
            phrases.push(format!("{} {}", pair[0], pair[1]));
        }
        phrase.clear();
    };
    for item in &items {
        let w = match item {
            Item::Word(w) => *w,
            Item::Break | Item::Sentence => {
                flush_name(&mut name, &mut names);
                flush_phrase(&mut phrase, &mut phrases);
                if matches!(item, Item::Sentence) {
                    at_start = true;
                }
                continue;
            }
        };
        let starts = std::mem::replace(&mut at_start, false);
        let low = w.to_lowercase();
        let low_norm = norm_key(w);
        if TITLES.contains(&low.as_str()) && is_capitalised(w) {
            flush_phrase(&mut phrase, &mut phrases);
            continue;
        }
        if is_capitalised(w) {
            if starts && (is_stop(&low_norm) || OPENERS.contains(&low_norm.as_str())) {
                continue;
            }
            if low_norm == "i" {
                flush_name(&mut name, &mut names);
                continue;
            }
            flush_phrase(&mut phrase, &mut phrases);
            name.push(w);
            continue;
        }
        if !name.is_empty() && CONNECTORS.contains(&low.as_str()) {
            name.push(w);
            continue;
        }
        flush_name(&mut name, &mut names);
        let content = !is_stop(&low_norm)
            && low_norm.chars().count() >= 3
            && low_norm.chars().all(char::is_alphabetic);
        if content {
            phrase.push(stem(&low_norm).into_owned());
        } else {
            flush_phrase(&mut phrase, &mut phrases);
        }
    }
    flush_name(&mut name, &mut names);
    flush_phrase(&mut phrase, &mut phrases);

    for n in &names {
        let joined: Vec<&str> = n.iter().copied().filter(|w| *w != "&").collect();
        let key = cut(norm_key(&joined.join(" ")));
        if key.chars().count() >= 2 {
            push(&mut out, key, Kind::Name);
        }
    }
    for p in phrases {
        push(&mut out, p, Kind::Phrase);
    }
    for n in names.iter().filter(|n| n.len() > 1) {
        for w in n.iter().filter(|w| !CONNECTORS.contains(w)) {
            let k = norm_key(w);
            if k.chars().count() >= 3 && !k.contains(' ') {
                push(&mut out, k, Kind::NamePart);
            }
        }
    }
    out.sort_by_key(|c| c.kind.priority());
    out.truncate(MAX_CONCEPTS);
    out
}

/// Candidate node keys for a query: its concepts, then every content word (as names are keyed)
/// and adjacent pair of content stems (as phrases are keyed), deduplicated, at most
/// `MAX_QUERY_KEYS`.
pub fn query_keys(query: &str) -> Vec<String> {
    let mut keys: Vec<String> = extract(query).into_iter().map(|c| c.key).collect();
    let words = text::content_tokens(query);
    let stems: Vec<String> = words.iter().map(|t| stem(t).into_owned()).collect();
    let mut add = |k: String| {
        if keys.len() < MAX_QUERY_KEYS && !keys.contains(&k) {
            keys.push(k);
        }
    };
    for w in &words {
        add(w.clone());
    }
    for p in stems.windows(2) {
        add(format!("{} {}", p[0], p[1]));
    }
    keys
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(text: &str) -> Vec<(String, Kind)> {
        extract(text).into_iter().map(|c| (c.key, c.kind)).collect()
    }

    fn has(text: &str, key: &str, kind: Kind) -> bool {
        keys(text).iter().any(|(k, c)| k == key && *c == kind)
    }

    #[test]
    fn names_are_capitalised_runs_without_titles_or_sentence_openers() {
        let t = "The vet is Dr. Hana Novak at Riverside Veterinary Clinic. Next week Biscuit goes.";
        assert!(has(t, "hana novak", Kind::Name), "{:?}", keys(t));
        assert!(has(t, "riverside veterinary clinic", Kind::Name));
        assert!(has(t, "biscuit", Kind::Name));
        assert!(has(t, "novak", Kind::NamePart));
        assert!(
            !keys(t)
                .iter()
                .any(|(k, _)| k == "the" || k == "next" || k == "dr")
        );
        assert!(has(
            "Paint is Farrow & Ball Elephant's Breath",
            "farrow ball elephant breath",
            Kind::Name
        ));
        assert!(
            has("Dan's new number", "dan", Kind::Name),
            "possessive folded"
        );
        assert!(!keys("I think so").iter().any(|(k, _)| k == "i"));
    }

    #[test]
    fn phrases_are_adjacent_lowercase_content_words() {
        let t = "Weekly grocery delivery arrives on Saturday; my dentist appointment is at 3pm.";
        assert!(has(t, "grocery delivery", Kind::Phrase), "{:?}", keys(t));
        assert!(
            has(t, "delivery arriv", Kind::Phrase),
            "stemmed like everything else"
        );
        assert!(has(t, "dentist appointment", Kind::Phrase));
        assert!(
            !keys(t).iter().any(|(k, _)| k == "appointment 3pm"),
            "numbers break runs"
        );
        assert!(keys("the cat").is_empty(), "single words are not concepts");
    }

    #[test]
    fn hashtags_handles_and_urls() {
        let t = "See https://Tidepool.QuietFox.dev/tides/?x=1 and quietfox.dev, ping @quietfox or \
                 #Rust #42; mail a@b.com; e.g. 192.168.1.1";
        let k = keys(t);
        assert!(has(t, "tidepool.quietfox.dev/tides", Kind::Url), "{k:?}");
        assert!(has(t, "quietfox.dev", Kind::Url));
        assert!(has(t, "@quietfox", Kind::Handle));
        assert!(has(t, "#rust", Kind::Hashtag));
        assert!(
            !k.iter()
                .any(|(k, _)| k == "#42" || k.contains("b.com") || k.contains("192"))
        );
        assert!(has(
            "on @quietfox@hachyderm.io.",
            "@quietfox@hachyderm.io",
            Kind::Handle
        ));
        assert!(has(
            "open http://homeassistant.local:8123",
            "homeassistant.local:8123",
            Kind::Url
        ));
    }

    #[test]
    fn concepts_are_bounded_deduplicated_and_ordered_by_kind() {
        let t = "Anna Bell, Carl Dunn, Eve Fox, Gil Hart, Ian Jude, Kai Lowe and Max Nye met \
                 #one #two at www.example.org about garden furniture";
        let c = extract(t);
        assert_eq!(c.len(), MAX_CONCEPTS);
        assert_eq!(c[0].kind, Kind::Url);
        assert_eq!(c[1].kind, Kind::Hashtag);
        let mut seen: Vec<&str> = c.iter().map(|c| c.key.as_str()).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), c.len());
        let long = format!("https://example.org/{}", "é".repeat(200));
        assert!(extract(&long)[0].key.len() <= MAX_KEY_BYTES);
    }

    #[test]
    fn query_keys_cover_lowercase_names() {
        let k = query_keys("where does clara live now");
        assert!(k.contains(&"clara".to_string()), "{k:?}");
        assert!(k.contains(&"clara live".to_string()));
        assert!(query_keys(&"word ".repeat(100)).len() <= MAX_QUERY_KEYS);
    }
}
