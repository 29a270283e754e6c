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

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

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
    /// Compounds the tokenizer keeps whole, precomputed so scoring is one
    /// lookup per token: degree or negator + word (挺快, 不认可) and word +
    /// particle (感谢您, 满意了).
    compounds: HashMap<String, (Option<Prefix>, f32)>,
    /// Every token that means anything here; the rest are skipped with one
    /// lookup.
    known: HashSet<String>,
}

/// Particles that may follow a lexicon word inside one token.
const PARTICLES: &[&str] = &["您", "你", "了", "们", "的", "啊", "呀", "啦", "吧"];

fn is_clause_end(t: &str) -> bool {
    t.chars().all(|c| ",.!?;，。！？；\n~～…".contains(c))
}

fn is_quote(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| "\"“”「」『』'‘’".contains(c))
}

impl SentimentModel {
    pub fn from_files(files: &PipelineFiles) -> Result<SentimentModel, PipelineError> {
        let mut words = HashMap::default();
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
        let negators: HashMap<String, f32> = files
            .weighted("sentiment/negators.txt", 1.0)?
            .into_iter()
            .collect();
        let degree: HashMap<String, f32> = files
            .weighted("sentiment/degree.txt", 1.5)?
            .into_iter()
            .collect();
        let mut compounds = HashMap::default();
        for (w, &v) in &words {
            for (d, &m) in &degree {
                compounds.insert(format!("{d}{w}"), (Some(Prefix::Degree(m)), v));
            }
            for (n, &k) in &negators {
                compounds.insert(format!("{n}{w}"), (Some(Prefix::Negator(n.clone(), k)), v));
            }
            for p in PARTICLES {
                compounds.insert(format!("{w}{p}"), (None, v));
            }
        }
        // A word of the lexicon itself is never read as a compound.
        compounds.retain(|k, _| {
            !words.contains_key(k) && !negators.contains_key(k) && !degree.contains_key(k)
        });
        let contrast = set("sentiment/contrast.txt");
        let rhetorical = set("sentiment/rhetorical.txt");
        let irrealis = set("sentiment/irrealis.txt");
        let known = words
            .keys()
            .chain(negators.keys())
            .chain(degree.keys())
            .chain(&contrast)
            .chain(&rhetorical)
            .chain(&irrealis)
            .chain(compounds.keys())
            .cloned()
            .collect();
        Ok(SentimentModel {
            words,
            negators,
            degree,
            contrast,
            rhetorical,
            irrealis,
            sarcasm: files
                .lines("sentiment/sarcasm.txt")
                .map(|(_, l)| l.to_owned())
                .collect(),
            compounds,
            known,
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
    /// kept whole, and for a long token ending in a lexicon word (服务很好).
    fn lookup(&self, tok: &str) -> Option<(Option<Prefix>, f32)> {
        if let Some(&v) = self.words.get(tok) {
            return Some((None, v));
        }
        if let Some(c) = self.compounds.get(tok) {
            return Some(c.clone());
        }
        for (split, _) in tok.char_indices().skip(1) {
            let tail = &tok[split..];
            if tail.chars().nth(1).is_some()
                && let Some(&v) = self.words.get(tail)
            {
                return Some((None, v));
            }
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
            // Most tokens carry no sentiment: one lookup and on. Long tokens
            // may still end in a lexicon word.
            let clause_end = is_clause_end(tok);
            if !clause_end && !self.known.contains(tok) && tok.chars().nth(3).is_none() {
                continue;
            }
            if clause_end {
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

#[derive(Debug, Clone)]
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
