//! Tokenization with jieba-rs (its default dictionary plus the police-domain
//! user dictionary `pipelines/dict/user.txt` and every lexicon term, so that
//! 接处警, 和稀泥, 态度恶劣 come out as one token) and TF-IDF keywords over an
//! IDF table for feedback text (`pipelines/dict/idf.txt`).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use jieba_rs::Jieba;

use super::lexicon::{Token, TokenInfo};
use crate::model::Word;
use crate::pipelines::{PipelineError, PipelineFiles};

/// IDF of a word the table does not list: about the median of jieba's
/// table, i.e. an ordinary, fairly rare word.
pub const DEFAULT_IDF: f32 = 11.0;
/// How many keywords an item keeps.
pub const KEYWORDS_PER_ITEM: usize = 5;

/// A keyword candidate of [`Tokenizer::keywords`]: the word, its summed
/// IDF, the position of its first content token, its lexicon entry.
type Scored<'a> = (&'a str, f32, usize, Option<*const TokenInfo>);

pub struct Tokenizer {
    jieba: Jieba,
    /// The user dictionary's words, for the enricher's lexicon.
    user_words: Vec<String>,
    stop_words: HashSet<String>,
    idf: HashMap<String, f32>,
}

impl std::fmt::Debug for Tokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tokenizer")
            .field("stop_words", &self.stop_words.len())
            .finish()
    }
}

/// Whether a token carries content: some letter, digit or CJK character.
pub fn is_wordlike(token: &str) -> bool {
    token.chars().any(|c| {
        if c.is_ascii() {
            c.is_ascii_alphanumeric()
        } else {
            // CJK ideographs first: the common case, without the Unicode
            // table walk of `is_alphanumeric`.
            ('\u{4e00}'..='\u{9fff}').contains(&c) || c.is_alphanumeric()
        }
    })
}

impl Tokenizer {
    /// `extra_words` are added to the dictionary so they are never split
    /// (lexicon and topic terms).
    pub fn from_files<'a>(
        files: &PipelineFiles,
        extra_words: impl IntoIterator<Item = &'a str>,
    ) -> Result<Tokenizer, PipelineError> {
        let mut jieba = Jieba::new();
        let mut user_words = Vec::new();
        for (_, line) in files.lines("dict/user.txt") {
            let mut parts = line.split_whitespace();
            let word = parts.next().unwrap_or_default();
            let freq = parts.next().and_then(|f| f.parse().ok());
            jieba.add_word(word, freq, parts.next());
            user_words.push(word.to_owned());
        }
        for word in extra_words {
            // Only multi-character CJK terms: a single character or an ASCII
            // code must not glue onto its neighbours. A term jieba knows but
            // would split (its dictionary has 被骗 too rare to beat 被 + 骗)
            // gets the frequency that keeps it whole.
            if word.chars().count() >= 2
                && !word.is_ascii()
                && (!jieba.has_word(word) || jieba.cut(word, false).len() > 1)
            {
                jieba.add_word(word, None, None);
            }
        }
        let stop_words = files
            .lines("dict/stopwords.txt")
            .map(|(_, w)| w.to_owned())
            .collect();
        let idf = files
            .weighted("dict/idf.txt", DEFAULT_IDF)?
            .into_iter()
            .collect::<HashMap<_, _>>();
        Ok(Tokenizer {
            jieba,
            user_words,
            stop_words,
            idf,
        })
    }

    /// Every token, punctuation included, in order (HMM on, for names and
    /// words the dictionaries lack).
    pub fn cut<'a>(&self, text: &'a str) -> impl Iterator<Item = &'a str> {
        self.jieba.cut(text, true).into_iter().map(|t| t.word)
    }

    /// The words this tokenizer has data for (IDF table, stop words, user
    /// dictionary), for the enricher's lexicon.
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.idf
            .keys()
            .chain(&self.stop_words)
            .chain(&self.user_words)
            .map(String::as_str)
    }

    pub fn is_stop_word(&self, token: &str) -> bool {
        self.stop_words.contains(token)
    }

    /// The token's `content`, `keyword` and `idf` (see [`TokenInfo`]);
    /// `listed`: whether it may be one of [`Tokenizer::words`] (when not,
    /// the lookups are skipped).
    pub fn describe(&self, token: &str, listed: bool) -> TokenInfo {
        let content =
            is_wordlike(token) && !token.trim().is_empty() && !(listed && self.is_stop_word(token));
        let idf = if listed {
            self.idf.get(token).copied()
        } else {
            None
        };
        TokenInfo {
            content,
            keyword: content
                && token.chars().nth(1).is_some()
                && !token.chars().all(|c| c.is_ascii_digit()),
            idf: idf.unwrap_or(DEFAULT_IDF),
            ..TokenInfo::default()
        }
    }

    /// Top terms by TF-IDF among the keyword tokens, best first; ties keep
    /// text order.
    pub fn keywords(&self, tokens: &[Token]) -> Vec<Word> {
        /// Distinct words looked up by a scan up to this many, then by a
        /// hash map (a long text has thousands of tokens).
        const SCAN: usize = 24;
        // (word, summed IDF, position of its first content token, its entry
        // in the lexicon table if it has one: one entry a word, so the scan
        // compares two words of the table by their entries, not their texts).
        let mut scores: Vec<Scored> = Vec::with_capacity(tokens.len());
        let mut index: HashMap<&str, usize> = HashMap::default();
        for (pos, t) in tokens.iter().filter(|t| t.info.content).enumerate() {
            if !t.info.keyword {
                continue;
            }
            let entry = t.entry();
            let seen = if scores.len() <= SCAN {
                scores.iter().position(|(w, _, _, e)| match (e, entry) {
                    (Some(a), Some(b)) => *a == b,
                    _ => *w == t.text,
                })
            } else {
                if index.is_empty() {
                    index.reserve(tokens.len() / 2);
                    index.extend(scores.iter().enumerate().map(|(i, s)| (s.0, i)));
                }
                index.get(t.text).copied()
            };
            match seen {
                Some(i) => scores[i].1 += t.info.idf,
                None => {
                    if !index.is_empty() {
                        index.insert(t.text, scores.len());
                    }
                    scores.push((t.text, t.info.idf, pos, entry));
                }
            }
        }
        // Positions differ, so the order is total: the best few are kept in
        // order while the words are read once.
        let before = |a: &Scored, b: &Scored| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)).is_lt();
        let mut best: Vec<&Scored> = Vec::with_capacity(KEYWORDS_PER_ITEM + 1);
        for s in &scores {
            if best.len() == KEYWORDS_PER_ITEM && before(best[KEYWORDS_PER_ITEM - 1], s) {
                continue;
            }
            let at = best.partition_point(|b| before(b, s));
            if at < KEYWORDS_PER_ITEM {
                best.insert(at, s);
                best.truncate(KEYWORDS_PER_ITEM);
            }
        }
        best.into_iter().map(|(w, ..)| Word::from(*w)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn tokenizer() -> Tokenizer {
        Tokenizer::from_files(&PipelineFiles::builtin(), ["态度恶劣"]).unwrap()
    }

    fn tokens<'a>(t: &Tokenizer, text: &'a str) -> Vec<Token<'a>> {
        t.cut(text)
            .map(|w| Token {
                text: w,
                info: Cow::Owned(t.describe(w, true)),
            })
            .collect()
    }

    #[test]
    fn domain_words_stay_whole() {
        let t = tokenizer();
        let tokens: Vec<&str> = t
            .cut("民警接处警时和稀泥，踢皮球，态度恶劣，扫码评警给了差评，拼多多上被骗")
            .collect();
        for w in [
            "接处警",
            "和稀泥",
            "踢皮球",
            "态度恶劣",
            "扫码评警",
            "拼多多",
        ] {
            assert!(tokens.contains(&w), "{w} in {tokens:?}");
        }
    }

    #[test]
    fn content_drops_stop_words_and_punctuation() {
        let t = tokenizer();
        let tokens = tokens(&t, "我的户籍证明办好了，谢谢！");
        let content: Vec<&str> = tokens
            .iter()
            .filter(|t| t.info.content)
            .map(|t| t.text)
            .collect();
        assert!(content.contains(&"户籍证明"), "{content:?}");
        assert!(
            !content
                .iter()
                .any(|w| ["的", "了", "，", "！", "我"].contains(w)),
            "{content:?}"
        );
    }

    #[test]
    fn keywords_prefer_specific_terms() {
        let t = tokenizer();
        let kw = t.keywords(&tokens(
            &t,
            "我们小区门口的红绿灯被树枝遮挡，我们希望交巡警尽快处理红绿灯",
        ));
        assert_eq!(kw.first().map(Word::as_str), Some("红绿灯"), "{kw:?}");
        assert!(kw.len() <= KEYWORDS_PER_ITEM);
        assert!(!kw.iter().any(|w| w == "我们"));
    }

    #[test]
    fn keywords_of_a_long_text_are_those_of_the_plain_definition() {
        // Past a few dozen distinct words they are found by a hash map.
        let t = tokenizer();
        let text = "民警接处警时和稀泥，踢皮球，态度恶劣，扫码评警给了差评。我们小区门口的红绿灯\
                    被树枝遮挡，希望交巡警尽快处理红绿灯。户籍证明办了三次，窗口推诿，电话没人接，\
                    派出所说去社区，社区说去派出所。诈骗电话冒充客服，被骗两万，报警后立案很快，\
                    反诈中心民警连夜追回，送锦旗感谢。"
            .repeat(3);
        let tokens = tokens(&t, &text);
        let mut sums: Vec<(&str, f32, usize)> = Vec::new();
        let content = tokens.iter().filter(|t| t.info.content).enumerate();
        for (pos, tok) in content.filter(|(_, t)| t.info.keyword) {
            match sums.iter_mut().find(|s| s.0 == tok.text) {
                Some(s) => s.1 += tok.info.idf,
                None => sums.push((tok.text, tok.info.idf, pos)),
            }
        }
        assert!(sums.len() > 30, "{} distinct keyword tokens", sums.len());
        sums.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.2.cmp(&b.2)));
        let expected: Vec<&str> = sums.iter().take(KEYWORDS_PER_ITEM).map(|s| s.0).collect();
        assert_eq!(t.keywords(&tokens), expected);
    }

    #[test]
    fn numbers_and_single_characters_are_no_keywords() {
        let t = tokenizer();
        assert!(t.describe("2025", true).content && !t.describe("2025", true).keyword);
        assert!(t.describe("车", true).content && !t.describe("车", true).keyword);
        assert!(t.describe("红绿灯", true).keyword);
    }
}
