//! Feature-hashed text vectors: the model-free embedding memory recall uses by default.
//!
//! `embed` turns text into `DIM` signed hashed features: each content word's stem (unigram) and
//! each character 2-, 3- and 4-gram of each content word with boundary markers (`<word>`), so
//! "dentist" and "denitst" still share `<d`, `<de`, `st>`, `ist>`… Word bigrams are supported
//! (`HashParams::w_bigram`) but weighted 0: on the fixture they were neutral at best and cost
//! recall at 256 dimensions, where every extra feature adds collisions. The index and the sign
//! of a feature come from one 64-bit FNV-1a hash finished with a SplitMix64 mix (written here,
//! fixed forever for `MODEL`: anything that moves a hash needs a new model id, so stored vectors
//! are re-embedded through `store::memory::needs_embedding`). The vector is L2-normalised and
//! quantised to `i8` with a per-vector scale; `cosine` and the store's scan work on the
//! quantised form, so stored BLOBs are compared without decoding.
//!
//! `PARAMS` (dimensions, n-gram sizes, weights) were tuned on the recall fixture; the
//! measurements are in the `memory` module doc. `DIM` bytes per entry is also what the vector
//! scan reads and multiplies per row, which is why it stays at 256.

use super::text::{for_each_char_ngram, for_each_token, is_stop, stem};

/// Dimensions (and bytes per stored vector).
pub const DIM: usize = 256;

/// Model id stored with hashed vectors (`vec_model`); a real embedding model uses its own id.
pub const MODEL: &str = "hash-v1";

/// The hashing parameters: dimensions, feature weights and character n-gram sizes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HashParams {
    /// Dimensions.
    pub dim: usize,
    /// Weight of a content word's stem.
    pub w_word: f32,
    /// Weight of a pair of adjacent content stems.
    pub w_bigram: f32,
    /// Weight of each character n-gram of a content word.
    pub w_char: f32,
    /// Character n-gram sizes.
    pub ngrams: &'static [usize],
}

/// The parameters of `MODEL` (tuned on the recall fixture; see the `memory` module doc).
pub const PARAMS: HashParams = HashParams {
    dim: DIM,
    w_word: 1.0,
    w_bigram: 0.0,
    w_char: 0.6,
    ngrams: &[2, 3, 4],
};

/// Content words considered per text; the rest of a very long text adds no features (bounds the
/// work per ingest; memory entries are capped well below this anyway).
pub const MAX_WORDS: usize = 2048;

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// 64-bit FNV-1a over `bytes`, starting from `seed` (use `fnv1a_seed` for a plain hash).
pub fn fnv1a(seed: u64, bytes: &[u8]) -> u64 {
    let mut h = seed;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The standard FNV-1a offset basis.
pub fn fnv1a_seed() -> u64 {
    FNV_OFFSET
}

/// Final avalanche (from SplitMix64) so low bits used for the index are well mixed.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Feature kinds get different seeds so the word "tea" and the trigram "tea" do not collide.
const SEED_WORD: u8 = 1;
const SEED_BIGRAM: u8 = 2;
const SEED_CHAR: u8 = 3;

fn add(acc: &mut [f32], kind: u8, parts: &[&[u8]], w: f32) {
    let mut h = fnv1a(FNV_OFFSET, &[kind]);
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h = fnv1a(h, b" ");
        }
        h = fnv1a(h, p);
    }
    let h = mix(h);
    let idx = (h % acc.len() as u64) as usize;
    let sign = if h >> 63 == 0 { 1.0 } else { -1.0 };
    acc[idx] += sign * w;
}

/// Accumulates the hashed features of `text` into `acc` (`p.dim` long, zeroed by the caller)
/// and L2-normalises it (all zeros when the text has no content word).
pub fn embed_into(text: &str, p: &HashParams, acc: &mut [f32]) {
    let mut prev: Option<String> = None;
    let mut words = 0usize;
    for_each_token(text, |t| {
        if is_stop(t) || words >= MAX_WORDS {
            return;
        }
        words += 1;
        let s = stem(t);
        if p.w_word != 0.0 {
            add(acc, SEED_WORD, &[s.as_bytes()], p.w_word);
        }
        if let Some(prev) = &prev {
            if p.w_bigram != 0.0 {
                add(
                    acc,
                    SEED_BIGRAM,
                    &[prev.as_bytes(), s.as_bytes()],
                    p.w_bigram,
                );
            }
        }
        if p.w_char != 0.0 {
            for n in p.ngrams {
                for_each_char_ngram(t, *n, |g| add(acc, SEED_CHAR, &[g.as_bytes()], p.w_char));
            }
        }
        prev = Some(s.into_owned());
    });
    let norm = acc.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        acc.iter_mut().for_each(|x| *x /= norm);
    }
}

/// The hashed vector of `text` as floats (L2-normalised; all zeros when it has no content word).
pub fn embed_f32(text: &str) -> [f32; DIM] {
    let mut acc = [0f32; DIM];
    embed_into(text, &PARAMS, &mut acc);
    acc
}

/// Quantises a vector to `i8` with a per-vector scale (largest magnitude → 127).
pub fn quantize(v: &[f32]) -> Vec<i8> {
    let max = v.iter().fold(0f32, |m, x| m.max(x.abs()));
    if max == 0.0 {
        return vec![0; v.len()];
    }
    let scale = 127.0 / max;
    v.iter()
        .map(|x| (x * scale).round().clamp(-127.0, 127.0) as i8)
        .collect()
}

/// The stored form of `text`: `DIM` quantised bytes.
pub fn embed(text: &str) -> Vec<i8> {
    quantize(&embed_f32(text))
}

/// Dot product of two quantised vectors (over the shorter length).
///
/// A plain single-accumulator loop on purpose: the release profile is built for size
/// (`opt-level = "z"`), where LLVM does not vectorise, and this form measured fastest there
/// (about 95 ns per 256-dim product on the x86 dev box, against 155 ns for a 16-lane version
/// written for the auto-vectoriser).
pub fn dot(a: &[i8], b: &[i8]) -> i32 {
    let mut s = 0i32;
    for (x, y) in a.iter().zip(b) {
        s += i32::from(*x) * i32::from(*y);
    }
    s
}

/// `dot` against a stored BLOB (its bytes are the `i8`s, see `to_bytes`).
pub fn dot_bytes(q: &[i8], stored: &[u8]) -> i32 {
    let mut s = 0i32;
    for (x, y) in q.iter().zip(stored) {
        s += i32::from(*x) * i32::from(*y as i8);
    }
    s
}

/// Euclidean norm of a quantised vector (stored beside it, so the scan needs one dot per row).
pub fn norm(v: &[i8]) -> f32 {
    (dot(v, v) as f32).sqrt()
}

/// A quantised vector as BLOB bytes (two's complement, one byte per dimension).
pub fn to_bytes(v: &[i8]) -> Vec<u8> {
    v.iter().map(|x| *x as u8).collect()
}

/// Cosine similarity of two quantised vectors; 0 when either is all zeros.
pub fn cosine(a: &[i8], b: &[i8]) -> f32 {
    let (ab, aa, bb) = (dot(a, b), dot(a, a), dot(b, b));
    if aa == 0 || bb == 0 {
        return 0.0;
    }
    ab as f32 / ((aa as f32).sqrt() * (bb as f32).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_matches_the_reference_values() {
        // Test vectors from the FNV reference (http://www.isthe.com/chongo/tech/comp/fnv/).
        assert_eq!(fnv1a(fnv1a_seed(), b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(fnv1a_seed(), b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a(fnv1a_seed(), b"foobar"), 0x8594_4171_f739_67e8);
    }

    #[test]
    fn vectors_are_deterministic_normalised_and_quantised() {
        let a = embed("My dentist appointment is on Tuesday");
        assert_eq!(a.len(), DIM);
        assert_eq!(a, embed("My dentist appointment is on Tuesday"));
        assert_eq!(a.iter().map(|x| x.unsigned_abs()).max(), Some(127));
        let f = embed_f32("My dentist appointment is on Tuesday");
        let n: f32 = f.iter().map(|x| x * x).sum();
        assert!((n - 1.0).abs() < 1e-4);
        assert!(
            embed("the of and").iter().all(|x| *x == 0),
            "stop words only"
        );
        assert_eq!(cosine(&embed("the"), &a), 0.0);
    }

    #[test]
    fn similar_texts_are_closer_than_unrelated_ones() {
        let fact = embed("Dentist appointment with Dr. Lewis on Tuesday at 3:15pm");
        let typo = embed("denitst apointment");
        let para = embed("when do I see the dentist");
        let other = embed("The printer toner is the TN-2420 cartridge");
        let c_typo = cosine(&fact, &typo);
        let c_para = cosine(&fact, &para);
        let c_other = cosine(&fact, &other);
        assert!(c_typo > c_other + 0.05, "{c_typo} vs {c_other}");
        assert!(c_para > c_other + 0.05, "{c_para} vs {c_other}");
        assert!((cosine(&fact, &fact) - 1.0).abs() < 1e-3);
    }

    #[test]
    fn dot_covers_the_extremes_and_the_shorter_length() {
        assert_eq!(
            dot(&[-128; 256], &[-128; 256]),
            256 * 16384,
            "no overflow at the extremes"
        );
        assert_eq!(dot(&[1, 2, 3], &[4, 5]), 14, "shorter length wins");
        assert_eq!(dot_bytes(&[-1, 2], &[255, 254]), 1 - 4);
    }

    #[test]
    fn stored_bytes_give_the_same_dot_product() {
        let v = embed("Biscuit the cocker spaniel");
        let q = embed("cocker spaniel");
        assert_eq!(dot_bytes(&q, &to_bytes(&v)), dot(&q, &v));
        assert!((norm(&v) - (dot(&v, &v) as f32).sqrt()).abs() < 1e-6);
    }
}
