//! Explainable sentiment: lexicon scoring over the token stream, fused with
//! the explicit rating when there is one.
//!
//! The lexicons are this project's own files under `pipelines/sentiment/`:
//! `positive.txt` / `negative.txt` (word and weight; police-domain terms such
//! as 推诿, 不作为, 和稀泥, 锦旗 among general ones), `negators.txt`,
//! `degree.txt` (很 1.5, 有点 0.6 …), `contrast.txt` (但是, 不过 …) and
//! `rhetorical.txt` (难道, 凭什么 …). The rules, in the order they apply:
//! - a degree adverb multiplies the next sentiment word of its clause;
//! - a negator flips the next sentiment word of its clause (a negated
//!   negative only half-way: 不差 is faint praise); a negator with no
//!   sentiment word to act on is a mild complaint (没有人管, 未处理);
//! - a sentiment word in quotation marks is read as sarcasm and flipped;
//! - after a contrast word the rest counts 1.5×, what came before 0.5×;
//! - after an irrealis marker (建议, 希望 …) to the end of the sentence,
//!   values count 0.3×: a wish is not a report;
//! - with a sarcasm marker anywhere (呵呵, 好一个 …) praise counts negative;
//! - a clause ending in `!` counts 1.3×; a question with a rhetorical
//!   marker (难道…?, 凭什么…?) is a complaint whatever its words; any other
//!   question keeps only a third of its praise ("能办好吗?" is not praise).
//!
//! Every contribution is recorded as evidence. The score is
//! `total / (|total| + 1.5)`, in (-1, 1).

use std::collections::{HashMap, HashSet};

use crate::model::{Rating, Sentiment, SentimentLabel};
use crate::pipelines::{PipelineError, PipelineFiles};

/// |score| below this is neutral.
pub const NEUTRAL_BAND: f32 = 0.15;

#[derive(Debug, Clone)]
pub struct SentimentModel {
    words: HashMap<String, f32>,
    negators: HashMap<String, f32>,
    degree: HashMap<String, f32>,
    contrast: HashSet<String>,
    rhetorical: HashSet<String>,
    irrealis: HashSet<String>,
    sarcasm: Vec<String>,
}

fn is_clause_end(t: &str) -> bool {
    t.chars().all(|c| ",.!?;，。！？；\n~～…".contains(c))
}

fn is_quote(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| "\"“”「」『』'‘’".contains(c))
}

impl SentimentModel {
    pub fn from_files(files: &PipelineFiles) -> Result<SentimentModel, PipelineError> {
        let mut words = HashMap::new();
        for (w, v) in files.weighted("sentiment/positive.txt", 1.0)? {
            words.insert(w, v.abs());
        }
        for (w, v) in files.weighted("sentiment/negative.txt", 1.0)? {
            words.insert(w, -v.abs());
        }
        let set = |name: &str| {
            files
                .lines(name)
                .map(|(_, l)| l.to_owned())
                .collect::<HashSet<_>>()
        };
        Ok(SentimentModel {
            words,
            negators: files
                .weighted("sentiment/negators.txt", 1.0)?
                .into_iter()
                .collect(),
            degree: files
                .weighted("sentiment/degree.txt", 1.5)?
                .into_iter()
                .collect(),
            contrast: set("sentiment/contrast.txt"),
            rhetorical: set("sentiment/rhetorical.txt"),
            irrealis: set("sentiment/irrealis.txt"),
            sarcasm: files
                .lines("sentiment/sarcasm.txt")
                .map(|(_, l)| l.to_owned())
                .collect(),
        })
    }

    /// Every lexicon entry, for the tokenizer's dictionary.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.words
            .keys()
            .chain(self.negators.keys())
            .chain(self.degree.keys())
            .chain(self.contrast.iter())
            .chain(self.rhetorical.iter())
            .chain(self.irrealis.iter())
            .map(String::as_str)
    }

    /// The sentiment value of a token, also for compounds the tokenizer
    /// kept whole: a degree adverb or negator glued to a lexicon word
    /// (挺快, 不认可) or a lexicon word with a tail (感谢您, 满意了).
    fn lookup(&self, tok: &str) -> Option<(Option<Prefix>, f32)> {
        if let Some(&v) = self.words.get(tok) {
            return Some((None, v));
        }
        let chars = tok.char_indices().map(|(i, _)| i).skip(1);
        for split in chars {
            let (head, tail) = tok.split_at(split);
            if let Some(&v) = self.words.get(tail) {
                if let Some(&d) = self.degree.get(head) {
                    return Some((Some(Prefix::Degree(d)), v));
                }
                if let Some(&k) = self.negators.get(head) {
                    return Some((Some(Prefix::Negator(head.to_owned(), k)), v));
                }
            }
        }
        // A lexicon word of two or more characters ending the token (服务很好).
        for (split, _) in tok.char_indices().skip(1) {
            let tail = &tok[split..];
            if tail.chars().count() >= 2
                && let Some(&v) = self.words.get(tail)
            {
                return Some((None, v));
            }
        }
        // A lexicon word followed by a particle (感谢您, 满意了); not any
        // tail, or 负责人 would be praise.
        let (last_at, last) = tok.char_indices().last()?;
        if "您你了们的啊呀啦吧".contains(last) {
            return self.words.get(&tok[..last_at]).map(|&v| (None, v));
        }
        None
    }

    /// Scores the (normalised) text and its token stream alone.
    pub fn score_text(&self, normalized: &str, tokens: &[&str]) -> (f32, Vec<String>) {
        let mut evidence = Vec::new();
        let sarcasm = self
            .sarcasm
            .iter()
            .find(|m| normalized.contains(m.as_str()));
        if let Some(m) = sarcasm {
            evidence.push(format!("{m}: praise reads as sarcasm"));
        }
        let mut irrealis = false;
        let mut total = 0.0f32;
        // Weight of what follows a contrast word.
        let mut emphasis = 1.0f32;
        let mut clause = Clause::default();
        for (i, &tok) in tokens.iter().enumerate() {
            if is_clause_end(tok) {
                total += clause.close(tok, emphasis, &mut evidence);
                clause = Clause::default();
                if tok.contains(['。', '.', '!', '?', '！', '？', '\n']) {
                    irrealis = false;
                }
                continue;
            }
            if self.irrealis.contains(tok) {
                irrealis = true;
            }
            if self.contrast.contains(tok) {
                total += clause.close("", emphasis, &mut evidence);
                clause = Clause::default();
                total *= 0.5;
                emphasis = 1.5;
                evidence.push(format!("{tok} ×1.5 after"));
                continue;
            }
            if self.rhetorical.contains(tok) {
                clause.rhetorical = Some(tok.to_owned());
            }
            if let Some(&k) = self.negators.get(tok) {
                clause.negation = Some((tok.to_owned(), k));
                continue;
            }
            if let Some(&d) = self.degree.get(tok) {
                clause.degree *= d;
                continue;
            }
            if let Some((prefix, v)) = self.lookup(tok) {
                if let Some(p) = prefix {
                    match p {
                        Prefix::Degree(d) => clause.degree *= d,
                        Prefix::Negator(neg, k) => clause.negation = Some((neg, k)),
                    }
                }
                let quoted = i > 0
                    && is_quote(tokens[i - 1])
                    && tokens.get(i + 1).is_some_and(|t| is_quote(t));
                let mut value = v * clause.degree;
                let mut label = tok.to_owned();
                if let Some((neg, k)) = clause.negation.take() {
                    value = if value > 0.0 {
                        -value * k
                    } else {
                        -value * 0.5 * k
                    };
                    label = format!("{neg}…{tok}");
                }
                if (quoted || sarcasm.is_some()) && value > 0.0 {
                    value = -value;
                    label = format!("“{tok}”");
                }
                if irrealis {
                    value *= 0.3;
                    label = format!("({label})");
                }
                clause.degree = 1.0;
                clause.items.push((label, value));
            }
        }
        total += clause.close("", emphasis, &mut evidence);
        (total, evidence)
    }

    /// The sentiment of an item: text score fused with the rating.
    pub fn assess(&self, normalized: &str, tokens: &[&str], rating: Option<Rating>) -> Sentiment {
        let (total, mut evidence) = self.score_text(normalized, tokens);
        let text_score = total / (total.abs() + 1.5);
        let has_text = tokens
            .iter()
            .any(|t| crate::enrich::tokenize::is_wordlike(t));
        let score = match rating {
            None => text_score,
            // The citizen's own verdict decides the label; the words only
            // move the score within it.
            Some(Rating::Dissatisfied) => -0.5 + 0.5 * text_score.min(0.0),
            Some(Rating::Satisfied) => 0.5 + 0.5 * text_score.max(0.0),
            Some(Rating::BasicallySatisfied) if has_text => 0.2 + 0.6 * text_score,
            Some(Rating::BasicallySatisfied) => 0.3,
        };
        if let Some(r) = rating {
            evidence.push(format!("rating {}", r.number()));
        }
        let label = if score >= NEUTRAL_BAND {
            SentimentLabel::Positive
        } else if score <= -NEUTRAL_BAND {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        };
        Sentiment {
            label,
            score: (score * 1000.0).round() / 1000.0,
            evidence,
        }
    }
}

enum Prefix {
    Degree(f32),
    Negator(String, f32),
}

/// The clause being read: pending modifiers and scored words.
struct Clause {
    degree: f32,
    negation: Option<(String, f32)>,
    rhetorical: Option<String>,
    items: Vec<(String, f32)>,
}

impl Default for Clause {
    fn default() -> Self {
        Clause {
            degree: 1.0,
            negation: None,
            rhetorical: None,
            items: Vec::new(),
        }
    }
}

impl Clause {
    /// The clause's contribution, given the punctuation that ends it.
    fn close(self, end: &str, emphasis: f32, evidence: &mut Vec<String>) -> f32 {
        let question = end.contains(['?', '？']);
        let exclaim = end.contains(['!', '！']);
        let mut sum = 0.0;
        for (label, v) in &self.items {
            let v = if question && *v > 0.0 && self.rhetorical.is_none() {
                v / 3.0
            } else {
                *v
            };
            evidence.push(format!("{label} {v:+.1}"));
            sum += v;
        }
        if self.items.is_empty()
            && let Some((neg, _)) = &self.negation
            && matches!(neg.as_str(), "没" | "没有" | "未" | "无人" | "没人")
        {
            evidence.push(format!("{neg}… -0.3"));
            sum -= 0.3;
        }
        if question && let Some(marker) = &self.rhetorical {
            // A rhetorical question asserts the opposite of its praise.
            sum = -sum.abs() - 0.8;
            evidence.push(format!("{marker}…? -0.8"));
        }
        if exclaim {
            sum *= 1.3;
        }
        sum * emphasis
    }
}
