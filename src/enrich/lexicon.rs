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

#[derive(Debug, Default)]
pub struct Lexicon {
    /// A word → its description's place in `infos`: the table probed per
    /// token stays small (a description is a few hundred bytes).
    known: HashMap<Box<str>, u32>,
    infos: Vec<TokenInfo>,
}

impl Lexicon {
    /// Describes each of `words` once.
    pub fn new<S: AsRef<str>>(
        words: impl IntoIterator<Item = S>,
        describe: impl Fn(&str) -> TokenInfo,
    ) -> Lexicon {
        let mut known = HashMap::default();
        let mut infos = Vec::new();
        for w in words {
            let w = w.as_ref();
            if !w.is_empty() && !known.contains_key(w) {
                known.insert(w.into(), infos.len() as u32);
                infos.push(describe(w));
            }
        }
        Lexicon { known, infos }
    }

    pub fn get(&self, token: &str) -> Option<&TokenInfo> {
        self.known.get(token).map(|&i| &self.infos[i as usize])
    }

    pub fn len(&self) -> usize {
        self.known.len()
    }

    /// The words described.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.known.keys().map(|w| &**w)
    }

    pub fn is_empty(&self) -> bool {
        self.known.is_empty()
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
