//! Data of the memory bench (`memory.rs` includes this file as `mod data`): the notes it
//! imports and the queries it recalls with, both from a seeded PRNG, so every run sends the same.
//!
//! Notes are short personal-assistant memories in ten shapes (appointments, reminders, allergies,
//! bookings, preferences, payments, door codes, shopping lists …) with names, made-up surnames,
//! places, days and times; a third get a second sentence. Queries are paraphrases, typos of
//! paraphrases, names that occur in the notes, and keyword lists; each carries a word that a
//! relevant hit contains, so the bench can tell an answer on topic from any answer.

use std::collections::HashSet;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::common::{R, Rng};

/// Sessions the entries are spread over (consecutive entries share a session, like a chat).
pub const SESSIONS: usize = 400;
/// The entries' `time`s are spread evenly over this many days before the run.
pub const SPAN_DAYS: u64 = 90;
/// Shortest and longest entry text (bytes); a text outside is generated again.
const TEXT_MIN: usize = 60;
const TEXT_MAX: usize = 200;

const WHO: &[&str] = &[
    "Anna", "Ben", "Clara", "Dev", "Elif", "Femi", "Greta", "Hiro", "Ines", "Jonas", "Kofi",
    "Lena", "Marco", "Nadia", "Olu", "Priya", "Quinn", "Rosa", "Sam", "Tomás",
];
const SYL: &[&str] = &[
    "ka", "ro", "mi", "len", "dor", "sa", "vi", "ber", "tal", "no", "gu", "wen", "fro", "li", "ma",
    "zek", "pa", "ron", "hil", "ta",
];
const WHAT: &[&str] = &[
    "dentist appointment",
    "birthday dinner",
    "flight to Lisbon",
    "gym session",
    "school pickup",
    "boiler service",
    "team standup",
    "piano lesson",
    "car MOT",
    "book club",
    "vet visit",
    "rent payment",
    "passport renewal",
    "parents evening",
    "football practice",
    "grocery delivery",
    "concert tickets",
    "tax return",
];
const WHERE: &[&str] = &[
    "Leeds",
    "the office",
    "Harrogate",
    "the community centre",
    "Roundhay Park",
    "Manchester",
    "the clinic",
    "home",
    "the station",
    "Chapel Allerton",
    "the library",
    "Headingley",
    "the garden centre",
    "Otley",
];
const WHEN: &[&str] = &[
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
    "next week",
    "in March",
    "after lunch",
    "every other Friday",
    "the first of the month",
];
const TAIL: &[&str] = &[
    "bring the blue folder",
    "remember to pay online",
    "booked through the app",
    "ask about the discount",
    "take the umbrella",
    "it costs about £40",
    "confirm by email",
    "the code is on the fridge",
    "park on the side street",
    "cancel if it rains",
    "the invite is in my inbox",
];
const TASK: &[&str] = &[
    "call the garage",
    "renew the parking permit",
    "order printer ink",
    "book a table",
    "send the invoice",
    "water the tomatoes",
    "pick up the dry cleaning",
    "charge the camera",
    "print the tickets",
    "cancel the trial subscription",
];
const RELATION: &[&str] = &[
    "sister",
    "brother",
    "mum",
    "dad",
    "partner",
    "son",
    "daughter",
    "neighbour",
    "colleague",
    "flatmate",
];
const FOOD: &[&str] = &[
    "peanuts",
    "shellfish",
    "gluten",
    "dairy",
    "sesame",
    "eggs",
    "kiwi",
    "mustard",
];
const PREF: &[&str] = &[
    "oat milk in coffee",
    "window seats on trains",
    "texts over calls",
    "early meetings",
    "the quiet carriage",
    "vegetarian food",
    "green tea",
    "an aisle seat",
];
const FOLDER: &[&str] = &[
    "Receipts", "Home", "Car", "Travel", "Taxes", "Kids", "Health",
];
const THING: &[&str] = &["door", "gate", "garage", "bike lock", "alarm", "locker"];
const ITEM: &[&str] = &[
    "candles",
    "paper plates",
    "lemonade",
    "a cake",
    "balloons",
    "crisps",
    "napkins",
    "sparkling water",
    "bread rolls",
    "strawberries",
];
const PERIOD: &[&str] = &["month", "quarter", "spring", "year", "few weeks"];

/// A made-up surname of three syllables, capitalised ("Kalenmi").
fn surname(r: &mut Rng) -> String {
    let s = format!("{}{}{}", r.pick(SYL), r.pick(SYL), r.pick(SYL));
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_ascii_uppercase())
        .into_iter()
        .chain(c)
        .collect()
}

/// One note in one of ten shapes; returns the text and the surname it names, if any.
fn note(r: &mut Rng) -> (String, Option<String>) {
    let hhmm = |r: &mut Rng| format!("{:02}:{:02}", 7 + r.below(14), 15 * r.below(4));
    let digits = |r: &mut Rng| format!("{:04}", r.below(10_000));
    match r.below(10) {
        0 => {
            let s = surname(r);
            let t = format!(
                "{} {s} mentioned the {} at {} on {}; {}.",
                r.pick(WHO),
                r.pick(WHAT),
                r.pick(WHERE),
                r.pick(WHEN),
                r.pick(TAIL)
            );
            (t, Some(s))
        }
        1 => (
            format!(
                "Remind me to {} before the {} on {} at {}.",
                r.pick(TASK),
                r.pick(WHAT),
                r.pick(WHEN),
                hhmm(r)
            ),
            None,
        ),
        2 => {
            let food = r.pick(FOOD);
            let t = format!(
                "{}'s {} is allergic to {food}, so keep {food} off the menu for the {}.",
                r.pick(WHO),
                r.pick(RELATION),
                r.pick(WHAT)
            );
            (t, None)
        }
        3 => {
            let s = surname(r);
            let t = format!(
                "Booked the {} for {} at {} with {} {s} at {}; {}.",
                r.pick(WHAT),
                r.pick(WHEN),
                hhmm(r),
                r.pick(WHO),
                r.pick(WHERE),
                r.pick(TAIL)
            );
            (t, Some(s))
        }
        4 => {
            let s = surname(r);
            let t = format!(
                "{} {s} prefers {} and lives near {}; their number ends in {}.",
                r.pick(WHO),
                r.pick(PREF),
                r.pick(WHERE),
                digits(r)
            );
            (t, Some(s))
        }
        5 => (
            format!(
                "Paid £{}.{:02} for the {} on {}; the receipt is in the {} folder.",
                5 + r.below(400),
                r.below(100),
                r.pick(WHAT),
                r.pick(WHEN),
                r.pick(FOLDER)
            ),
            None,
        ),
        6 => (
            format!(
                "Note from {}: {} said the {} moved to {} at {}, and {}.",
                r.pick(WHEN),
                r.pick(WHO),
                r.pick(WHAT),
                r.pick(WHERE),
                hhmm(r),
                r.pick(TAIL)
            ),
            None,
        ),
        7 => {
            let s = surname(r);
            let t = format!(
                "The {} code at {} is {}; {} {s} changes it every {}.",
                r.pick(THING),
                r.pick(WHERE),
                digits(r),
                r.pick(WHO),
                r.pick(PERIOD)
            );
            (t, Some(s))
        }
        8 => (
            format!(
                "Shopping for the {}: {}, {} and {}; {} will bring {}.",
                r.pick(WHAT),
                r.pick(ITEM),
                r.pick(ITEM),
                r.pick(ITEM),
                r.pick(WHO),
                r.pick(ITEM)
            ),
            None,
        ),
        _ => {
            let s = surname(r);
            let t = format!(
                "{} {s} asked me to {} on {} after the {}; {}.",
                r.pick(WHO),
                r.pick(TASK),
                r.pick(WHEN),
                r.pick(WHAT),
                r.pick(TAIL)
            );
            (t, Some(s))
        }
    }
}

/// A second sentence for about a third of the notes (longer texts, more names per entry).
fn more(r: &mut Rng) -> Option<String> {
    Some(match r.below(12) {
        0 => format!(" {} will confirm the day before.", r.pick(WHO)),
        1 => format!(
            " Also ask {} whether the {} is still on.",
            r.pick(WHO),
            r.pick(WHAT)
        ),
        2 => format!(
            " {} said to bring {} and {}.",
            r.pick(WHO),
            r.pick(ITEM),
            r.pick(ITEM)
        ),
        3 => format!(
            " Last time it ran late because of roadworks near {}, so leave early.",
            r.pick(WHERE)
        ),
        _ => return None,
    })
}

/// The entries to import, as `memory.import` entries, and facts about them.
pub struct Data {
    pub entries: Vec<Value>,
    /// Surnames that occur in the texts (names a query can look for).
    pub surnames: Vec<String>,
    pub text_bytes: u64,
    pub text_min: usize,
    pub text_max: usize,
    /// Texts generated again because they repeated an earlier one (or fell outside the sizes).
    pub regenerated: usize,
}

/// The words of `t`, lowercased: two texts with the same key would be one entry in the store
/// (it deduplicates on the token sequence).
fn dedup_key(t: &str) -> String {
    t.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect::<Vec<_>>()
        .join(" ")
}

/// `n` distinct notes over `SESSIONS` sessions, times spread over the last `SPAN_DAYS` days.
pub fn generate(n: usize) -> R<Data> {
    let mut r = Rng(0x6A09_E667_F3BC_C908);
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let span = SPAN_DAYS * 86_400_000;
    let base = now.saturating_sub(span);
    let mut seen = HashSet::with_capacity(n);
    let mut d = Data {
        entries: Vec::with_capacity(n),
        surnames: Vec::new(),
        text_bytes: 0,
        text_min: usize::MAX,
        text_max: 0,
        regenerated: 0,
    };
    for i in 0..n {
        let mut got = None;
        for _ in 0..64 {
            let (mut t, s) = note(&mut r);
            if let Some(m) = more(&mut r) {
                t.push_str(&m);
            }
            if (TEXT_MIN..=TEXT_MAX).contains(&t.len()) && seen.insert(dedup_key(&t)) {
                got = Some((t, s));
                break;
            }
            d.regenerated += 1;
        }
        let (t, s) =
            got.ok_or_else(|| format!("no new distinct text for entry {i} in 64 tries"))?;
        if let Some(s) = s
            && d.surnames.len() < 4096
        {
            d.surnames.push(s);
        }
        d.text_bytes += t.len() as u64;
        d.text_min = d.text_min.min(t.len());
        d.text_max = d.text_max.max(t.len());
        let session = format!("agent:main:bench-{}", i * SESSIONS / n);
        let time = base + i as u64 * (span / n as u64);
        d.entries
            .push(json!({"text": t, "session": session, "time": time}));
    }
    if d.surnames.is_empty() {
        return Err("the generated notes name nobody".into());
    }
    Ok(d)
}

/// One recall query: its text, kind and a word (lowercase) a relevant hit contains.
pub struct Query {
    pub text: String,
    pub kind: Kind,
    pub expect: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Paraphrase,
    Typo,
    Name,
    Keywords,
}

pub const KINDS: [Kind; 4] = [Kind::Paraphrase, Kind::Typo, Kind::Name, Kind::Keywords];

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Paraphrase => "paraphrase",
            Kind::Typo => "typo",
            Kind::Name => "name",
            Kind::Keywords => "keywords",
        }
    }
}

/// `q` with one typo in its longest word of ≥ 5 letters (swapped, dropped or doubled letter).
fn typo(q: &str, r: &mut Rng) -> String {
    let words: Vec<&str> = q.split(' ').collect();
    let Some((at, w)) = words
        .iter()
        .enumerate()
        .filter(|(_, w)| w.chars().count() >= 5 && w.chars().all(char::is_alphabetic))
        .max_by_key(|(i, w)| (w.len(), usize::MAX - i))
    else {
        return q.to_string();
    };
    let mut c: Vec<char> = w.chars().collect();
    let p = 1 + r.below(c.len() - 2);
    match r.below(3) {
        0 => c.swap(p, p + 1),
        1 => {
            c.remove(p);
        }
        _ => c.insert(p, c[p]),
    }
    let bad: String = c.into_iter().collect();
    let mut out: Vec<String> = words.iter().map(|w| w.to_string()).collect();
    out[at] = bad;
    out.join(" ")
}

/// A paraphrase-style question and the word its answers contain.
fn paraphrase(r: &mut Rng) -> (String, String) {
    let what = r.pick(WHAT);
    let food = r.pick(FOOD);
    let thing = r.pick(THING);
    let (q, expect) = match r.below(8) {
        0 => (format!("when is the {what}"), what),
        1 => (
            format!("what did {} say about the {what}", r.pick(WHO)),
            what,
        ),
        2 => (format!("how much did I pay for the {what}"), what),
        3 => (format!("who is allergic to {food}"), food),
        4 => (
            format!("what is the {thing} code at {}", r.pick(WHERE)),
            thing,
        ),
        5 => (format!("what do I need to do before the {what}"), what),
        6 => (
            format!("who will bring {} to the {what}", r.pick(ITEM)),
            what,
        ),
        _ => (
            format!("where is the {what} {}", r.pick(WHEN).to_lowercase()),
            what,
        ),
    };
    (q, expect.to_lowercase())
}

/// `n` queries: 40% paraphrases, 25% typos of paraphrases, 20% names from the data (full name,
/// surname question, 5-letter prefix: expected is then the prefix), 15% keyword lists.
pub fn queries(n: usize, surnames: &[String]) -> Vec<Query> {
    let mut r = Rng(0xBB67_AE85_84CA_A73B);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let roll = r.below(20);
        let q = if roll < 8 {
            let (text, expect) = paraphrase(&mut r);
            Query {
                text,
                kind: Kind::Paraphrase,
                expect,
            }
        } else if roll < 13 {
            let (text, expect) = paraphrase(&mut r);
            Query {
                text: typo(&text, &mut r),
                kind: Kind::Typo,
                expect,
            }
        } else if roll < 17 {
            let s = &surnames[r.below(surnames.len())];
            // A 5-letter prefix is shared by many surnames ("Ronle": Ronlenli, Ronlenron …), so
            // any name starting with it is on topic.
            let (text, expect) = match r.below(3) {
                0 => (format!("{} {s}", r.pick(WHO)), s.to_lowercase()),
                1 => (format!("what do I know about {s}"), s.to_lowercase()),
                _ => {
                    let p: String = s.chars().take(5).collect();
                    let e = p.to_lowercase();
                    (p, e)
                }
            };
            Query {
                text,
                kind: Kind::Name,
                expect,
            }
        } else {
            let what = r.pick(WHAT);
            Query {
                text: format!("{what} {} {}", r.pick(WHEN), r.pick(WHERE)),
                kind: Kind::Keywords,
                expect: what.to_lowercase(),
            }
        };
        out.push(q);
    }
    out
}
