//! Multi-label topic tagging from the rules in `pipelines/topics.toml`.
//!
//! All terms and exclusions of all topics are compiled into one
//! Aho-Corasick automaton (leftmost-longest), so tagging costs one pass over
//! the text whatever the number of rules. A topic is tagged when the summed
//! weight of its distinct matched terms reaches its `min_score` and none of
//! its exclusions matched; `other` is the tag when nothing else is.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::model::TopicTag;
use crate::pipelines::{PipelineError, PipelineFiles, TopicsFile};

/// The code given when no rule matches.
pub const OTHER: &str = "other";

#[derive(Debug, Clone, Copy)]
enum Hit {
    Term { topic: usize, weight: f32 },
    Exclude { topic: usize },
}

#[derive(Debug)]
pub struct TopicTagger {
    codes: Vec<String>,
    names: Vec<String>,
    min_scores: Vec<f32>,
    automaton: AhoCorasick,
    /// For pattern i, what a match means (a term may belong to several
    /// topics, so several hits per pattern).
    hits: Vec<Vec<Hit>>,
    patterns: Vec<String>,
}

impl TopicTagger {
    pub fn from_files(files: &PipelineFiles) -> Result<TopicTagger, PipelineError> {
        let file: TopicsFile = files.toml("topics.toml")?;
        let invalid = |message: String| PipelineError::Invalid {
            file: "topics.toml".into(),
            message,
        };
        let mut patterns: Vec<String> = Vec::new();
        let mut hits: Vec<Vec<Hit>> = Vec::new();
        let mut add = |pattern: &str, hit: Hit| {
            let p = pattern.to_lowercase();
            match patterns.iter().position(|q| *q == p) {
                Some(i) => hits[i].push(hit),
                None => {
                    patterns.push(p);
                    hits.push(vec![hit]);
                }
            }
        };
        let mut codes = Vec::new();
        for (topic, def) in file.topic.iter().enumerate() {
            if codes.contains(&def.code) {
                return Err(invalid(format!("topic {:?} is defined twice", def.code)));
            }
            codes.push(def.code.clone());
            for (term, &weight) in &def.terms {
                if term.trim().is_empty() || !weight.is_finite() {
                    return Err(invalid(format!(
                        "topic {:?}: empty term or bad weight",
                        def.code
                    )));
                }
                add(term, Hit::Term { topic, weight });
            }
            for term in &def.exclude {
                add(term, Hit::Exclude { topic });
            }
        }
        if !codes.iter().any(|c| c == OTHER) {
            return Err(invalid(format!("the catch-all topic {OTHER:?} is missing")));
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(TopicTagger {
            codes,
            names: file.topic.iter().map(|t| t.name.clone()).collect(),
            min_scores: file.topic.iter().map(|t| t.min_score).collect(),
            automaton,
            hits,
            patterns,
        })
    }

    pub fn codes(&self) -> &[String] {
        &self.codes
    }

    /// (code, display name) of every topic, in file order.
    pub fn names(&self) -> impl Iterator<Item = (&str, &str)> {
        self.codes
            .iter()
            .map(String::as_str)
            .zip(self.names.iter().map(String::as_str))
    }

    /// Every term (not the exclusions, which are phrases), for the
    /// tokenizer's dictionary.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.patterns
            .iter()
            .zip(&self.hits)
            .filter(|(_, hits)| hits.iter().any(|h| matches!(h, Hit::Term { .. })))
            .map(|(p, _)| p.as_str())
    }

    /// Tags normalised text; best score first.
    pub fn tag(&self, normalized: &str) -> Vec<TopicTag> {
        let n = self.codes.len();
        let mut score = vec![0.0f32; n];
        let mut excluded = vec![false; n];
        let mut evidence: Vec<Vec<usize>> = vec![Vec::new(); n];
        for m in self.automaton.find_iter(normalized) {
            let p = m.pattern().as_usize();
            for hit in &self.hits[p] {
                match *hit {
                    Hit::Term { topic, weight } => {
                        // Each distinct term counts once: repetition is not
                        // more evidence of the topic.
                        if !evidence[topic].contains(&p) {
                            evidence[topic].push(p);
                            score[topic] += weight;
                        }
                    }
                    Hit::Exclude { topic } => excluded[topic] = true,
                }
            }
        }
        let mut tags: Vec<TopicTag> = (0..n)
            .filter(|&t| !excluded[t] && score[t] >= self.min_scores[t] && self.codes[t] != OTHER)
            .map(|t| TopicTag {
                code: self.codes[t].clone(),
                score: score[t],
                evidence: evidence[t]
                    .iter()
                    .map(|&p| self.patterns[p].clone())
                    .collect(),
            })
            .collect();
        tags.sort_by(|a, b| b.score.total_cmp(&a.score));
        if tags.is_empty() {
            tags.push(TopicTag {
                code: OTHER.to_owned(),
                score: 0.0,
                evidence: Vec::new(),
            });
        }
        tags
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codes(text: &str) -> Vec<String> {
        let t = TopicTagger::from_files(&PipelineFiles::builtin()).unwrap();
        t.tag(text).into_iter().map(|t| t.code).collect()
    }

    #[test]
    fn multi_label_with_evidence() {
        let t = TopicTagger::from_files(&PipelineFiles::builtin()).unwrap();
        let tags = t.tag("报警后出警太慢，民警态度也很差");
        let got: Vec<&str> = tags.iter().map(|t| t.code.as_str()).collect();
        assert!(
            got.contains(&"response") && got.contains(&"attitude"),
            "{got:?}"
        );
        let response = tags.iter().find(|t| t.code == "response").unwrap();
        assert!(
            response.evidence.iter().any(|e| e == "出警"),
            "{:?}",
            response.evidence
        );
    }

    #[test]
    fn default_taxonomy() {
        assert!(codes("想咨询一下身份证补办要多久").contains(&"household".to_owned()));
        assert!(codes("护照办理预约不上").contains(&"exit_entry".to_owned()));
        assert!(codes("路口红绿灯被树枝遮挡").contains(&"traffic".to_owned()));
        assert!(codes("接到冒充客服的电话被骗了两万").contains(&"fraud".to_owned()));
        assert!(codes("送锦旗感谢民警").contains(&"praise".to_owned()));
    }

    #[test]
    fn nothing_matched_is_other() {
        assert_eq!(codes("今天天气不错"), vec!["other".to_owned()]);
    }
}
