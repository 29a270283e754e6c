//! One table of what the enrichment knows about a token, so that each token
//! of an item costs one hash lookup, however many stop words, lexicons,
//! topic rules and place names there are: whether it is content, its IDF,
//! its role in sentiment scoring, the topic terms and the place names it
//! holds, its feature in the topic model.
//!
//! The table is a cache. It holds the description of every word the
//! pipeline files name (the IDF table, stop words, the user dictionary, the
//! sentiment lexicons and their compounds, topic terms, place names,
//! punctuation); any other token is described on the fly by the same
//! function, so a token means the same thing whether it was listed or not.

use std::borrow::Cow;

use aho_corasick::AhoCorasick;
use rustc_hash::FxHashMap as HashMap;

use super::sentiment::Lex;

/// What a token is to every later step.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TokenInfo {
    /// Word-like and not a stop word: kept in the item's `tokens`.
    pub content: bool,
    /// A content token that may be a keyword (two or more characters, not a
    /// number).
    pub keyword: bool,
    pub idf: f32,
    /// Its role in sentiment scoring.
    pub lex: Lex,
    /// The topic terms inside it (pattern ids of the topic tagger).
    pub terms: Box<[u16]>,
    /// The place names inside it (pattern ids of the gazetteer).
    pub places: Box<[u16]>,
    /// Its feature id in the topic model, when it is one.
    pub topic_feature: Option<u32>,
    /// The summed topic-model weights of the character n-grams inside it.
    pub topic_inside: super::topic_model::Sums,
}

/// A token of an item's normalised text and what it is.
#[derive(Debug, Clone)]
pub struct Token<'a> {
    pub text: &'a str,
    pub info: Cow<'a, TokenInfo>,
}

impl Token<'_> {
    /// Its description's place in the lexicon table, when it has one: two
    /// tokens with entries are the same word exactly when their entries are
    /// the same (the table describes each word once).
    pub fn entry(&self) -> Option<*const TokenInfo> {
        match &self.info {
            Cow::Borrowed(info) => Some(*info as *const TokenInfo),
            Cow::Owned(_) => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct Lexicon {
    /// A word of at most [`PACKED`] bytes → its description's place in
    /// `infos`, the word packed into an integer with its length: most
    /// tokens are such words, and an integer compares in one step where a
    /// string compares by a call. The table probed per token stays small (a
    /// description is a few hundred bytes).
    short: HashMap<u64, u32>,
    /// A longer word → its description's place.
    long: HashMap<Box<str>, u32>,
    /// Each word described, by its place.
    words: Vec<Box<str>>,
    infos: Vec<TokenInfo>,
}

/// The longest word [`Lexicon`] keys as an integer: two Chinese
/// characters.
const PACKED: usize = 7;

/// A word of at most [`PACKED`] bytes as an integer: its bytes, and its
/// length in the last byte.
fn packed(word: &str) -> Option<u64> {
    let bytes = word.as_bytes();
    if bytes.len() > PACKED {
        return None;
    }
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    buf[PACKED] = bytes.len() as u8;
    Some(u64::from_le_bytes(buf))
}

impl Lexicon {
    /// Describes each of `words` once.
    pub fn new<S: AsRef<str>>(
        words: impl IntoIterator<Item = S>,
        describe: impl Fn(&str) -> TokenInfo,
    ) -> Lexicon {
        let mut lexicon = Lexicon::default();
        for w in words {
            let w = w.as_ref();
            if w.is_empty() || lexicon.place(w).is_some() {
                continue;
            }
            let at = lexicon.infos.len() as u32;
            match packed(w) {
                Some(key) => lexicon.short.insert(key, at),
                None => lexicon.long.insert(w.into(), at),
            };
            lexicon.words.push(w.into());
            lexicon.infos.push(describe(w));
        }
        lexicon
    }

    fn place(&self, token: &str) -> Option<u32> {
        match packed(token) {
            Some(key) => self.short.get(&key),
            None => self.long.get(token),
        }
        .copied()
    }

    pub fn get(&self, token: &str) -> Option<&TokenInfo> {
        self.place(token).map(|i| &self.infos[i as usize])
    }

    pub fn len(&self) -> usize {
        self.infos.len()
    }

    /// The words described.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words.iter().map(|w| &**w)
    }

    pub fn is_empty(&self) -> bool {
        self.infos.is_empty()
    }
}

/// The patterns an automaton finds inside one token, as pattern ids (its
/// builder checked there are at most 65,535 patterns).
pub fn patterns_in(automaton: &AhoCorasick, token: &str) -> Box<[u16]> {
    automaton
        .find_iter(token)
        .map(|m| m.pattern().as_usize() as u16)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Words short enough to be keyed as integers and longer ones are found
    /// alike, and a word is not found by another that packs alike but for
    /// its length (`a` and `a` with a trailing NUL).
    #[test]
    fn every_word_is_found_by_itself_alone() {
        let words = [
            "a",
            "ab",
            "出警",
            "出警慢",
            "1234567",
            "12345678",
            "态度恶劣的民警",
        ];
        let lexicon = Lexicon::new(words, |w| TokenInfo {
            idf: w.len() as f32,
            ..TokenInfo::default()
        });
        assert_eq!(lexicon.len(), words.len());
        for w in words {
            assert_eq!(lexicon.get(w).map(|i| i.idf), Some(w.len() as f32), "{w}");
        }
        for absent in ["", "a\0", "a\0\0", "出", "出警慢了", "123456", "123456789"] {
            assert!(lexicon.get(absent).is_none(), "{absent:?}");
        }
        let mut listed: Vec<&str> = lexicon.words().collect();
        listed.sort();
        let mut want = words.to_vec();
        want.sort();
        assert_eq!(listed, want);
    }
}
