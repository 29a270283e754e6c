//! The topic classifier beside the rules: one-vs-rest logistic regression
//! over the character 1–3-grams of the normalised text and the item's
//! content tokens, read from `pipelines/topics/model.tsv`.
//!
//! The weights are data, trained on the dev split by `scripts/train-topics`
//! (reproducible: same data, same file); each topic has a bias and a
//! probability threshold chosen there. Scoring is a sum of weights: one
//! hash lookup per character n-gram (n-grams packed into a `u64`), none per
//! token (the enricher's lexicon holds each token's feature, see
//! [`TopicModel::word`]), and no `exp`: a threshold is compared as a logit.
//! The evidence of a topic the model tags is its features that weighed most
//! for it.
//!
//! File format (tab-separated, `#` comments):
//!
//! ```text
//! topic   <code>  <bias>  <threshold, a probability in (0, 1)>
//! c:<1–3 characters>  <code>=<weight> …     # a character n-gram
//! w:<token>           <code>=<weight> …     # a content token
//! ```

use rustc_hash::FxHashMap as HashMap;

use super::lexicon::Token;
use crate::pipelines::{PipelineError, PipelineFiles};

/// The model file, below `pipelines/`.
pub const FILE: &str = "topics/model.tsv";

/// A feature's weight for one topic (topic index of the tagger).
#[derive(Debug, Clone, Copy)]
struct Weight {
    topic: u8,
    weight: f32,
}

#[derive(Debug, Default)]
pub struct TopicModel {
    /// Per topic index of the tagger: bias, and the threshold as a logit
    /// (infinite for a topic the model does not tag).
    bias: Vec<f32>,
    cut: Vec<f32>,
    /// A character n-gram (see [`key`]) → feature id.
    ngrams: HashMap<u64, u32>,
    /// The longest n-gram length in the file (0: none).
    max_n: usize,
    /// A token → feature id.
    words: HashMap<Box<str>, u32>,
    /// Feature id → its weights: `weights[starts[f]..starts[f + 1]]`.
    starts: Vec<u32>,
    weights: Vec<Weight>,
    /// Feature id → the n-gram or token, for evidence.
    names: Vec<Box<str>>,
}

/// One character n-gram as a number: each character plus one in 21 bits
/// (a `char` is at most 0x10FFFF), so "a" and "a\0" differ.
fn key(chars: &[char]) -> u64 {
    chars
        .iter()
        .enumerate()
        .fold(0, |k, (i, &c)| k | ((c as u64 + 1) << (21 * i)))
}

/// Topics an item scores for, and the features it has.
#[derive(Debug)]
pub struct Scores {
    /// Per topic index: bias plus the weights of the item's features.
    pub logits: Vec<f32>,
    features: Vec<u32>,
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
            codes
                .iter()
                .position(|c| c == code)
                .ok_or_else(|| invalid(no, format!("unknown topic {code:?}")))
        };
        let number = |no: usize, s: &str| {
            s.parse::<f32>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| invalid(no, format!("{s:?} is not a number")))
        };
        let mut m = TopicModel {
            bias: vec![0.0; codes.len()],
            cut: vec![f32::INFINITY; codes.len()],
            starts: vec![0],
            ..TopicModel::default()
        };
        for (no, line) in files.lines(FILE) {
            let cols: Vec<&str> = line.split('\t').collect();
            if cols[0] == "topic" {
                let [_, code, bias, threshold] = cols[..] else {
                    return Err(invalid(no, "want: topic, code, bias, threshold".into()));
                };
                let t = topic_of(no, code)?;
                let p = number(no, threshold)?;
                if !(0.0 < p && p < 1.0) {
                    return Err(invalid(no, format!("threshold {p} is not in (0, 1)")));
                }
                m.bias[t] = number(no, bias)?;
                m.cut[t] = (p / (1.0 - p)).ln();
                continue;
            }
            let id = m.names.len() as u32;
            let (kind, text) = cols[0].split_at_checked(2).unwrap_or_default();
            match kind {
                "c:" => {
                    let chars: Vec<char> = text.chars().collect();
                    if !(1..=3).contains(&chars.len()) {
                        return Err(invalid(
                            no,
                            format!("n-gram {text:?} is not 1–3 characters"),
                        ));
                    }
                    m.max_n = m.max_n.max(chars.len());
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
                    topic: u8::try_from(topic)
                        .map_err(|_| invalid(no, "more than 256 topics".into()))?,
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

    /// Whether the model tags any topic at all.
    pub fn is_empty(&self) -> bool {
        self.cut.iter().all(|c| c.is_infinite())
    }

    /// The logits of every topic for an item.
    pub fn score(&self, normalized: &str, tokens: &[Token]) -> Scores {
        let mut s = Scores {
            logits: self.bias.clone(),
            features: Vec::new(),
        };
        if self.is_empty() {
            return s;
        }
        let mut window = ['\0'; 3];
        let mut seen = 0usize;
        for c in normalized.chars() {
            window.rotate_left(1);
            window[2] = c;
            seen += 1;
            for n in 1..=self.max_n.min(seen) {
                if let Some(&f) = self.ngrams.get(&key(&window[3 - n..])) {
                    self.add(&mut s, f);
                }
            }
        }
        for t in tokens.iter().filter(|t| t.info.content) {
            if let Some(f) = t.info.topic_feature {
                self.add(&mut s, f);
            }
        }
        s
    }

    fn add(&self, s: &mut Scores, f: u32) {
        let (a, b) = (self.starts[f as usize], self.starts[f as usize + 1]);
        for w in &self.weights[a as usize..b as usize] {
            s.logits[usize::from(w.topic)] += w.weight;
        }
        s.features.push(f);
    }

    /// Whether the model tags `topic` at these scores.
    pub fn tags(&self, s: &Scores, topic: usize) -> bool {
        s.logits[topic] >= self.cut[topic]
    }

    /// The probability of `topic` at these scores.
    pub fn probability(s: &Scores, topic: usize) -> f32 {
        1.0 / (1.0 + (-s.logits[topic]).exp())
    }

    /// The item's features that weighed most for `topic` (distinct, at most
    /// `n`, heaviest first; only those for it).
    pub fn evidence(&self, s: &Scores, topic: usize, n: usize) -> Vec<String> {
        let mut by_weight: Vec<(f32, u32)> = Vec::new();
        for &f in &s.features {
            let (a, b) = (self.starts[f as usize], self.starts[f as usize + 1]);
            let w = self.weights[a as usize..b as usize]
                .iter()
                .find(|w| usize::from(w.topic) == topic)
                .map_or(0.0, |w| w.weight);
            if w > 0.0 && !by_weight.iter().any(|&(_, g)| g == f) {
                by_weight.push((w, f));
            }
        }
        by_weight.sort_by(|a, b| b.0.total_cmp(&a.0));
        by_weight
            .iter()
            .take(n)
            .map(|&(_, f)| self.names[f as usize].to_string())
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
    fn a_bad_model_file_names_the_line() {
        let codes: Vec<String> = ["praise", "other"].map(String::from).into();
        let files = |text: &str| PipelineFiles::builtin().with_file(FILE, text);
        for (text, want) in [
            ("topic\tnope\t0\t0.5\n", "unknown topic"),
            ("topic\tpraise\t0\t1.5\n", "not in (0, 1)"),
            ("c:点赞了吗\tpraise=1\n", "1–3 characters"),
            ("x:赞\tpraise=1\n", "want c: or w:"),
            ("c:赞\tpraise=a\n", "not a number"),
            ("c:赞\tpraise=1\nc:赞\tpraise=1\n", "listed twice"),
        ] {
            let err = TopicModel::from_files(&files(text), &codes).unwrap_err();
            assert!(err.to_string().contains(want), "{text:?}: {err}");
        }
        let m = TopicModel::from_files(
            &files("topic\tpraise\t-1\t0.5\nc:点赞\tpraise=2\nw:辛苦\tpraise=0.5\n"),
            &codes,
        )
        .unwrap();
        assert!(!m.is_empty());
        assert_eq!(m.word("辛苦"), Some(1));
        let s = m.score("给他点赞", &[]);
        assert!(m.tags(&s, 0) && !m.tags(&s, 1), "{:?}", s.logits);
        assert_eq!(m.evidence(&s, 0, 3), ["点赞"]);
        assert!(!m.tags(&m.score("一般", &[]), 0));
    }
}
