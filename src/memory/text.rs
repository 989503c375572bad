//! Memory text: normalisation, tokens, a small stop-word list, light stemming, character n-grams.
//!
//! Everything the lexical side of memory agrees on lives here, so the hashed vectors
//! (`vector`), the concept rules (`concepts`) and the FTS5 query builder (`store::memory`) see
//! the same words. Pure and allocation-light: tokens are handed to a callback one at a time.
//!
//! Normalisation: lowercase, Latin diacritics folded (`é` → `e`, `ß` → `ss`), a token is a run
//! of alphanumeric characters; an apostrophe inside a word joins it (`don't` → `dont`) except a
//! possessive `'s`, which is dropped (`Dan's` → `dan`). Tokens longer than `MAX_TOKEN_CHARS`
//! are cut there. Deliberately English-centred: the stop words and suffixes are English; other
//! languages still tokenise and match, just without stemming.

/// Longest token kept, in characters; the rest of a longer run is dropped (hashes, base64 …).
pub const MAX_TOKEN_CHARS: usize = 32;

/// Function words and question words that carry no topic. Kept tiny and sorted (binary search):
/// content words, numbers, weekdays and months are never stop words, so a query like "when is the
/// dentist" keeps "dentist" and drops the rest. Contractions appear without the apostrophe.
pub const STOP_WORDS: &[&str] = &[
    "a", "about", "after", "again", "all", "also", "am", "an", "and", "any", "are", "as", "at",
    "be", "because", "been", "before", "being", "but", "by", "can", "could", "did", "do", "does",
    "doing", "dont", "for", "from", "get", "got", "had", "has", "have", "he", "her", "here",
    "hers", "him", "his", "how", "i", "id", "if", "im", "in", "into", "is", "it", "its", "ive",
    "just", "me", "my", "myself", "no", "not", "of", "on", "or", "our", "ours", "she", "should",
    "so", "some", "than", "that", "thats", "the", "their", "them", "then", "there", "these",
    "they", "this", "those", "to", "too", "us", "very", "was", "we", "were", "what", "whats",
    "when", "where", "which", "while", "who", "whom", "whose", "why", "will", "with", "would",
    "you", "your", "yours",
];

/// Whether a normalised token is a stop word.
pub fn is_stop(word: &str) -> bool {
    STOP_WORDS.binary_search(&word).is_ok()
}

/// Folds one character: lowercase, diacritics removed for Latin letters. Writes 0–2 chars.
fn fold_into(c: char, out: &mut String) {
    if c.is_ascii() {
        out.push(c.to_ascii_lowercase());
        return;
    }
    let base = match c {
        'À'..='Å' | 'à'..='å' | 'Ā' | 'ā' | 'Ă' | 'ă' | 'Ą' | 'ą' => 'a',
        'Ç' | 'ç' | 'Ć' | 'ć' | 'Č' | 'č' => 'c',
        'Ď' | 'ď' | 'Đ' | 'đ' => 'd',
        'È'..='Ë' | 'è'..='ë' | 'Ē' | 'ē' | 'Ė' | 'ė' | 'Ę' | 'ę' | 'Ě' | 'ě' => 'e',
        'Ì'..='Ï' | 'ì'..='ï' | 'Ī' | 'ī' | 'Į' | 'į' | 'İ' | 'ı' => 'i',
        'Ł' | 'ł' | 'Ľ' | 'ľ' => 'l',
        'Ñ' | 'ñ' | 'Ń' | 'ń' | 'Ň' | 'ň' => 'n',
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō' | 'ō' | 'Ő' | 'ő' => 'o',
        'Ř' | 'ř' => 'r',
        'Ś' | 'ś' | 'Š' | 'š' | 'Ş' | 'ş' => 's',
        'Ť' | 'ť' | 'Ţ' | 'ţ' => 't',
        'Ù'..='Ü' | 'ù'..='ü' | 'Ū' | 'ū' | 'Ů' | 'ů' | 'Ű' | 'ű' => 'u',
        'Ý' | 'ý' | 'ÿ' | 'Ÿ' => 'y',
        'Ź' | 'ź' | 'Ż' | 'ż' | 'Ž' | 'ž' => 'z',
        'ß' => {
            out.push_str("ss");
            return;
        }
        'Æ' | 'æ' => {
            out.push_str("ae");
            return;
        }
        'Œ' | 'œ' => {
            out.push_str("oe");
            return;
        }
        _ => {
            out.extend(c.to_lowercase());
            return;
        }
    };
    out.push(base);
}

fn is_apostrophe(c: char) -> bool {
    c == '\'' || c == '\u{2019}'
}

/// Calls `f` with each normalised token of `text`, stop words included, in order.
pub fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut tok = String::with_capacity(MAX_TOKEN_CHARS * 2);
    let mut chars = 0usize;
    let mut it = text.chars().peekable();
    while let Some(c) = it.next() {
        if c.is_alphanumeric() {
            if chars < MAX_TOKEN_CHARS {
                fold_into(c, &mut tok);
                chars += 1;
            }
            continue;
        }
        if is_apostrophe(c) && !tok.is_empty() && it.peek().is_some_and(|n| n.is_alphanumeric()) {
            // "Dan's" → "dan"; "don't" → "dont".
            let mut ahead = it.clone();
            let next = ahead.next();
            if matches!(next, Some('s' | 'S')) && !ahead.peek().is_some_and(|n| n.is_alphanumeric())
            {
                it.next();
            } else {
                continue;
            }
        }
        if !tok.is_empty() {
            f(&tok);
            tok.clear();
            chars = 0;
        }
    }
    if !tok.is_empty() {
        f(&tok);
    }
}

/// The normalised tokens of `text` (stop words included).
pub fn tokens(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for_each_token(text, |t| v.push(t.to_string()));
    v
}

/// The normalised non-stop tokens of `text`, in order, duplicates kept.
pub fn content_tokens(text: &str) -> Vec<String> {
    let mut v = Vec::new();
    for_each_token(text, |t| {
        if !is_stop(t) {
            v.push(t.to_string());
        }
    });
    v
}

fn is_vowel(b: u8) -> bool {
    matches!(b, b'a' | b'e' | b'i' | b'o' | b'u')
}

/// Suffix rules of `stem`, tried in order: (suffix, shortest word it applies to, bytes cut,
/// replacement). A plain plural `-s` is the fallback when none applies.
const SUFFIXES: &[(&str, usize, usize, &str)] = &[
    ("ies", 5, 3, "y"),
    ("sses", 5, 2, ""),
    ("ied", 5, 3, "y"),
    ("ing", 6, 3, ""),
    ("ed", 5, 2, ""),
    ("ly", 7, 2, ""),
];

/// Light English suffix stripping on a normalised token, so "appointments", "appointment" and
/// "booked"/"booking"/"book" meet. One rule at most, ASCII words longer than four letters only:
/// `-ies` → `-y`, `-sses` → `-ss`, `-s` (not `-ss`, `-us`, `-is`), `-ing`, `-ied` → `-y`, `-ed`,
/// `-ly` (7+ letters, so "family" stays); a doubled final consonant left behind is undoubled (`running` → `run`) and a final
/// `-e` is dropped (`practise`/`practising` → `practis`). Not Porter: it never looks at
/// measure or vowel patterns beyond that, and a few words come out odd (`morning` → `morn`),
/// which is harmless because every side stems the same way.
pub fn stem(word: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    let b = word.as_bytes();
    if b.len() <= 4 || !word.is_ascii() || b.iter().any(u8::is_ascii_digit) {
        return Cow::Borrowed(word);
    }
    let n = b.len();
    let plural = word.ends_with('s') && !["ss", "us", "is"].iter().any(|e| word.ends_with(e));
    let rule = SUFFIXES
        .iter()
        .find(|(suffix, min_len, _, _)| n >= *min_len && word.ends_with(suffix));
    let (keep, add) = match rule {
        Some((_, _, cut, add)) => (n - cut, *add),
        None if plural => (n - 1, ""),
        None => (n, ""),
    };
    let mut base = &word[..keep];
    if add.is_empty() {
        let bb = base.as_bytes();
        let m = bb.len();
        // A doubled final consonant ("runn") or a final "e" ("practise") goes.
        let doubled = m >= 4
            && bb[m - 1] == bb[m - 2]
            && !is_vowel(bb[m - 1])
            && !matches!(bb[m - 1], b'l' | b's' | b'z');
        if doubled || (m >= 5 && bb[m - 1] == b'e') {
            base = &base[..m - 1];
        }
    }
    if keep == n && base.len() == n {
        return Cow::Borrowed(word);
    }
    let mut s = String::with_capacity(base.len() + add.len());
    s.push_str(base);
    s.push_str(add);
    Cow::Owned(s)
}

/// Calls `f` with each character `n`-gram of `word` wrapped in boundary markers (`<word>`), so
/// prefixes and suffixes are their own features. A word shorter than `n - 2` gives one gram (the
/// whole marked word).
pub fn for_each_char_ngram(word: &str, n: usize, mut f: impl FnMut(&str)) {
    let mut buf = String::with_capacity(word.len() + 2);
    buf.push('<');
    buf.push_str(word);
    buf.push('>');
    let idx: Vec<usize> = buf
        .char_indices()
        .map(|(i, _)| i)
        .chain(std::iter::once(buf.len()))
        .collect();
    let count = idx.len() - 1;
    if count <= n {
        f(&buf);
        return;
    }
    for s in 0..=count - n {
        f(&buf[idx[s]..idx[s + n]]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted_for_binary_search() {
        assert!(STOP_WORDS.windows(2).all(|w| w[0] < w[1]));
        assert!(is_stop("the") && is_stop("whats") && !is_stop("dentist"));
    }

    #[test]
    fn tokens_fold_case_diacritics_and_possessives() {
        assert_eq!(
            tokens("Dan's café, DON'T stop — Zoë’s naïve Straße!"),
            ["dan", "cafe", "dont", "stop", "zoe", "naive", "strasse"]
        );
        assert_eq!(tokens("stand-up at 9:30"), ["stand", "up", "at", "9", "30"]);
        assert_eq!(tokens("''' ' s"), ["s"]);
        let long = "x".repeat(100);
        assert_eq!(tokens(&long)[0].len(), MAX_TOKEN_CHARS);
        assert_eq!(content_tokens("When is the dentist?"), ["dentist"]);
    }

    #[test]
    fn stemming_meets_inflections() {
        let s = |w: &str| stem(w).into_owned();
        assert_eq!(s("appointments"), s("appointment"));
        assert_eq!(s("booked"), "book");
        assert_eq!(s("booking"), "book");
        assert_eq!(s("running"), "run");
        assert_eq!(s("batteries"), "battery");
        assert_eq!(s("married"), "marry");
        assert_eq!(s("practising"), s("practise"));
        assert_eq!(s("monthly"), "month");
        assert_eq!(s("bus"), "bus");
        assert_eq!(s("glass"), "glass");
        assert_eq!(s("07700"), "07700");
        assert_eq!(s("cafés"), "cafés", "non-ASCII words are left alone");
    }

    #[test]
    fn char_ngrams_have_boundary_markers() {
        let mut v = Vec::new();
        for_each_char_ngram("tea", 3, |g| v.push(g.to_string()));
        assert_eq!(v, ["<te", "tea", "ea>"]);
        v.clear();
        for_each_char_ngram("a", 4, |g| v.push(g.to_string()));
        assert_eq!(v, ["<a>"]);
        v.clear();
        for_each_char_ngram("żółw", 4, |g| v.push(g.to_string()));
        assert_eq!(v.len(), 3);
    }
}
