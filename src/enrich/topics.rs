//! Multi-label topic tagging by the annotation guide (docs/TOPICS.md): the
//! rules in `pipelines/topics.toml`, the text's commendation, the model of
//! [`super::topic_model`] beside them, and the revisit rule.
//!
//! Terms are found inside the item's tokens: every term is in the
//! tokenizer's dictionary, so it comes out as a token of its own or inside a
//! longer one, and what a token holds is worked out once, in the enricher's
//! lexicon ([`TopicTagger::terms_in`], one Aho-Corasick automaton,
//! leftmost-longest). Tagging an item is then a walk over its tokens,
//! whatever the number of rules. Exclusions are phrases and are looked for
//! in the whole text (a second, small automaton). A topic is tagged when the
//! summed weight of its distinct matched terms reaches its `min_score` and
//! none of its exclusions matched, and it gives way to no topic of its
//! `not_with` the rules tagged (public order to enforcement: a theft with a
//! word on its case).
//!
//! The model tags a topic the rules did not when its probability reaches
//! the topic's threshold (exclusions rule it out alike; `model_when_positive`
//! and `model_not_with` hold praise to a positive text naming the police
//! and keep it off a scam report); its evidence is
//! the tokens that weighed most, each as `model:<token>`. On a
//! channel whose revisits rate a topic (`rates` in `channels.toml`), an
//! answer tagged with no matter (a topic with `matter = true`) is tagged
//! with that topic, evidence `revisit`. A topic with `when_positive`
//! (praise) is tagged when the text reads positive on its own and names the
//! police (`positive_about`) or answers a revisit, evidence
//! `positive:<word>` for each word that commends. `other` is the tag when
//! nothing else is. [`TopicTagger::complaint_of`] reads a neutral text of
//! a `reads_negative` topic (misconduct reported) as a complaint.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use super::lexicon::Token;
use super::topic_model::{Scores, TopicModel};
use crate::model::TopicTag;
use crate::pipelines::{PipelineError, PipelineFiles, TopicsFile};

/// The code given when no rule matches.
pub const OTHER: &str = "other";

/// A set of topics by index, without allocating.
#[derive(Debug, Default)]
struct TopicSet([u64; 4]);

impl TopicSet {
    const CAPACITY: usize = 256;

    fn insert(&mut self, topic: usize) {
        self.0[topic / 64] |= 1 << (topic % 64);
    }

    fn contains(&self, topic: usize) -> bool {
        self.0[topic / 64] & (1 << (topic % 64)) != 0
    }
}

#[derive(Debug)]
pub struct TopicTagger {
    codes: Vec<String>,
    names: Vec<String>,
    min_scores: Vec<f32>,
    /// Distinct terms (lower case); a term may count for several topics.
    terms: Vec<String>,
    term_hits: Vec<Vec<(usize, f32)>>,
    term_automaton: AhoCorasick,
    /// Each exclusion phrase and the topics it rules out.
    exclusion_topics: Vec<Vec<usize>>,
    exclusion_automaton: AhoCorasick,
    has_exclusions: Vec<bool>,
    /// Per topic: whether it is a matter (see `matter` in `topics.toml`).
    matter: Vec<bool>,
    /// Per topic: whether commending words tag it (`when_positive`).
    when_positive: Vec<bool>,
    /// Each `positive_about` phrase and the topics it lets commending
    /// words tag; per topic, whether it needs one.
    about_topics: Vec<Vec<usize>>,
    about_automaton: AhoCorasick,
    needs_about: Vec<bool>,
    /// Per topic: whether the model tags it only on a positive text
    /// (`model_when_positive`), and the topics beside which it does not
    /// (`model_not_with`, by index).
    model_when_positive: Vec<bool>,
    model_not_with: Vec<Vec<usize>>,
    /// Per topic: the topics beside which it is not tagged (`not_with`).
    not_with: Vec<Vec<usize>>,
    any_not_with: bool,
    /// Per topic: whether a neutral text of it is a complaint
    /// (`reads_negative`).
    reads_negative: Vec<bool>,
    model: TopicModel,
}

/// Evidence features a model tag shows.
const MODEL_EVIDENCE: usize = 3;

/// What the other steps know of an item that topic tagging reads.
#[derive(Debug, Default, Clone, Copy)]
pub struct Context<'a> {
    /// The topic index the item's channel's revisits rate.
    pub rates: Option<usize>,
    /// The words that commend, when the text reads positive on its own
    /// ([`super::sentiment::commending_words`]): a topic with
    /// `when_positive` is tagged on them.
    pub commends: &'a [String],
    /// Whether the item is a revisit answer (it rates the police: their
    /// commendation needs no naming of them, see `positive_about`).
    pub revisit: bool,
    /// Whether the text reads positive on its own (sentiment before any
    /// rating): a topic with `model_when_positive` needs it.
    pub positive: bool,
}

impl TopicTagger {
    pub fn from_files(files: &PipelineFiles) -> Result<TopicTagger, PipelineError> {
        let file: TopicsFile = files.toml("topics.toml")?;
        let invalid = |message: String| PipelineError::Invalid {
            file: "topics.toml".into(),
            message,
        };
        let mut terms: Vec<String> = Vec::new();
        let mut term_hits: Vec<Vec<(usize, f32)>> = Vec::new();
        let mut exclusions: Vec<String> = Vec::new();
        let mut exclusion_topics: Vec<Vec<usize>> = Vec::new();
        let mut abouts: Vec<String> = Vec::new();
        let mut about_topics: Vec<Vec<usize>> = Vec::new();
        fn add<T>(patterns: &mut Vec<String>, hits: &mut Vec<Vec<T>>, pattern: &str, hit: T) {
            let p = pattern.to_lowercase();
            match patterns.iter().position(|q| *q == p) {
                Some(i) => hits[i].push(hit),
                None => {
                    patterns.push(p);
                    hits.push(vec![hit]);
                }
            }
        }
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
                add(&mut terms, &mut term_hits, term, (topic, weight));
            }
            for term in &def.exclude {
                add(&mut exclusions, &mut exclusion_topics, term, topic);
            }
            for term in &def.positive_about {
                add(&mut abouts, &mut about_topics, term, topic);
            }
        }
        if !codes.iter().any(|c| c == OTHER) {
            return Err(invalid(format!("the catch-all topic {OTHER:?} is missing")));
        }
        // A term listed twice for one topic (in other case) counts once.
        for hits in &mut term_hits {
            let mut topics = Vec::with_capacity(hits.len());
            hits.retain(|&(topic, _)| {
                let first = !topics.contains(&topic);
                topics.push(topic);
                first
            });
        }
        if codes.len() > TopicSet::CAPACITY {
            return Err(invalid(format!(
                "{} topics, at most {}",
                codes.len(),
                TopicSet::CAPACITY
            )));
        }
        if terms.len() > usize::from(u16::MAX) {
            return Err(invalid(format!("{} terms, at most 65,535", terms.len())));
        }
        let term_automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&terms)
            .map_err(|e| invalid(e.to_string()))?;
        let exclusion_automaton =
            AhoCorasick::new(&exclusions).map_err(|e| invalid(e.to_string()))?;
        let about_automaton = AhoCorasick::new(&abouts).map_err(|e| invalid(e.to_string()))?;
        let needs_about = file
            .topic
            .iter()
            .map(|t| !t.positive_about.is_empty())
            .collect();
        let indices = |def: &crate::pipelines::TopicDef, field: &str, list: &[String]| {
            list.iter()
                .map(|code| {
                    codes.iter().position(|c| c == code).ok_or_else(|| {
                        invalid(format!(
                            "topic {:?}: {field} unknown topic {code:?}",
                            def.code
                        ))
                    })
                })
                .collect::<Result<Vec<usize>, _>>()
        };
        let mut model_not_with = Vec::with_capacity(codes.len());
        let mut not_with = Vec::with_capacity(codes.len());
        for def in &file.topic {
            model_not_with.push(indices(def, "model_not_with", &def.model_not_with)?);
            not_with.push(indices(def, "not_with", &def.not_with)?);
        }
        let has_exclusions = (0..codes.len())
            .map(|t| exclusion_topics.iter().any(|ts| ts.contains(&t)))
            .collect();
        let model = TopicModel::from_files(files, &codes)?;
        Ok(TopicTagger {
            matter: file.topic.iter().map(|t| t.matter).collect(),
            when_positive: file.topic.iter().map(|t| t.when_positive).collect(),
            about_topics,
            about_automaton,
            needs_about,
            model_when_positive: file.topic.iter().map(|t| t.model_when_positive).collect(),
            model_not_with,
            any_not_with: not_with.iter().any(|n| !n.is_empty()),
            not_with,
            reads_negative: file.topic.iter().map(|t| t.reads_negative).collect(),
            model,
            codes,
            names: file.topic.iter().map(|t| t.name.clone()).collect(),
            min_scores: file.topic.iter().map(|t| t.min_score).collect(),
            terms,
            term_hits,
            term_automaton,
            has_exclusions,
            exclusion_topics,
            exclusion_automaton,
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
    /// tokenizer's dictionary and the enricher's lexicon.
    pub fn terms(&self) -> impl Iterator<Item = &str> {
        self.terms.iter().map(String::as_str)
    }

    /// The index of a topic code.
    pub fn topic_index(&self, code: &str) -> Option<usize> {
        self.codes.iter().position(|c| c == code)
    }

    pub fn model(&self) -> &TopicModel {
        &self.model
    }

    /// The terms inside one token, leftmost-longest, as term ids.
    pub fn terms_in(&self, token: &str) -> Box<[u16]> {
        super::lexicon::patterns_in(&self.term_automaton, token)
    }

    /// Tags an item from its tokens (terms, model features) and its
    /// normalised text (n-grams, exclusions) in its context. Best score
    /// first.
    /// `scores`: the model's of the tokens ([`TopicModel::score`]).
    pub fn tag(
        &self,
        normalized: &str,
        tokens: &[Token],
        cx: Context,
        scores: &Scores,
    ) -> Vec<TopicTag> {
        self.tag_with(normalized, tokens, cx, Some(scores))
    }

    /// The tags of the rules alone, without the model (what the model is
    /// trained to add to: `examples/topic_features.rs`).
    pub fn tag_by_rules(&self, normalized: &str, tokens: &[Token], cx: Context) -> Vec<TopicTag> {
        self.tag_with(normalized, tokens, cx, None)
    }

    fn tag_with(
        &self,
        normalized: &str,
        tokens: &[Token],
        cx: Context,
        scores: Option<&Scores>,
    ) -> Vec<TopicTag> {
        // (topic, term, weight) of each distinct term hit, in text order: a
        // term repeated is not more evidence of the topic (and a term counts
        // for a topic at most once, see `from_files`).
        let mut hits: Vec<(usize, u16, f32)> = Vec::new();
        for &term in tokens.iter().flat_map(|t| t.info.terms.iter()) {
            // Every term counts for some topic, so a term seen has hits.
            if hits.iter().any(|h| h.1 == term) {
                continue;
            }
            for &(topic, weight) in &self.term_hits[usize::from(term)] {
                hits.push((topic, term, weight));
            }
        }
        // Topics in file order (a stable sort keeps each topic's terms in
        // text order), then best score first.
        hits.sort_by_key(|h| h.0);
        let mut tags: Vec<TopicTag> = Vec::new();
        let mut tagged = TopicSet::default();
        // Topics the text rules out, found in one pass when first needed.
        let mut excluded: Option<TopicSet> = None;
        let mut ruled_out = |topic: usize| {
            self.has_exclusions[topic]
                && excluded
                    .get_or_insert_with(|| self.excluded(normalized))
                    .contains(topic)
        };
        for group in hits.chunk_by(|a, b| a.0 == b.0) {
            let topic = group[0].0;
            if self.codes[topic] == OTHER {
                continue;
            }
            let score = group.iter().map(|h| h.2).sum::<f32>();
            if score >= self.min_scores[topic] && !ruled_out(topic) {
                tagged.insert(topic);
                tags.push(TopicTag {
                    code: self.codes[topic].clone(),
                    score,
                    evidence: group
                        .iter()
                        .map(|h| self.terms[usize::from(h.1)].clone())
                        .collect(),
                });
            }
        }
        // A topic that gives way to another the rules tagged: dropped, and
        // marked done so that neither commendation nor the model tags it.
        if self.any_not_with {
            let before = TopicSet(tagged.0);
            tags.retain(|t| {
                self.topic_index(&t.code)
                    .is_none_or(|topic| !self.not_with[topic].iter().any(|&o| before.contains(o)))
            });
            for (topic, others) in self.not_with.iter().enumerate() {
                if others.iter().any(|&o| before.contains(o)) {
                    // Ruled out for what follows (commendation, the model).
                    tagged.insert(topic);
                }
            }
        }
        if !cx.commends.is_empty() {
            for topic in 0..self.codes.len() {
                if self.when_positive[topic]
                    && !tagged.contains(topic)
                    && self.commends_police(normalized, topic, cx)
                    && !ruled_out(topic)
                {
                    tagged.insert(topic);
                    tags.push(TopicTag {
                        code: self.codes[topic].clone(),
                        score: 1.0,
                        evidence: cx
                            .commends
                            .iter()
                            .map(|w| format!("positive:{w}"))
                            .collect(),
                    });
                }
            }
        }
        if let Some(scores) = scores {
            for topic in 0..self.codes.len() {
                if tagged.contains(topic)
                    || !self.model.tags(scores, topic)
                    || self.codes[topic] == OTHER
                    || (self.model_when_positive[topic]
                        && !(cx.positive && self.commends_police(normalized, topic, cx)))
                    || self.model_not_with[topic]
                        .iter()
                        .any(|&t| tagged.contains(t))
                    || ruled_out(topic)
                {
                    continue;
                }
                tagged.insert(topic);
                tags.push(TopicTag {
                    code: self.codes[topic].clone(),
                    score: TopicModel::probability(scores, topic),
                    evidence: self
                        .model
                        .evidence(tokens, topic, MODEL_EVIDENCE)
                        .into_iter()
                        .map(|f| format!("model:{f}"))
                        .collect(),
                });
            }
        }
        if let Some(topic) = cx.rates
            && !tags.iter().any(|t| self.is_matter(&t.code))
            && !tagged.contains(topic)
        {
            tags.push(TopicTag {
                code: self.codes[topic].clone(),
                score: 1.0,
                evidence: vec!["revisit".to_owned()],
            });
        }
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

    /// A text with no rating that reads neutral and is tagged (by the rules
    /// or the model) with a topic of `reads_negative` (misconduct or
    /// rudeness reported: 上班时间打游戏, 喝完酒开警车, 把材料往窗口外一推) is a
    /// complaint, unless it proposes or commends (a suggestion or praise
    /// tag): its label becomes negative, evidence `<code>: reported`.
    pub fn complaint_of(&self, tags: &[TopicTag], sentiment: &mut crate::model::Sentiment) {
        use crate::model::SentimentLabel;
        if sentiment.label != SentimentLabel::Neutral
            || sentiment.evidence.iter().any(|e| e.starts_with("rating "))
            || tags.iter().any(|t| !self.is_matter(&t.code))
        {
            return;
        }
        if let Some(tag) = tags.iter().find(|t| {
            self.topic_index(&t.code)
                .is_some_and(|i| self.reads_negative[i])
        }) {
            sentiment.label = SentimentLabel::Negative;
            sentiment.score = sentiment.score.min(0.0) - super::sentiment::NEUTRAL_BAND;
            sentiment.score = (sentiment.score * 1000.0).round() / 1000.0;
            sentiment.evidence.push(format!("{}: reported", tag.code));
        }
    }

    /// Whether a topic is a matter an item is about (`matter` in
    /// `topics.toml`), not an act that goes with one (praise, suggestion).
    pub fn is_matter(&self, code: &str) -> bool {
        self.topic_index(code).is_some_and(|t| self.matter[t])
    }

    /// Whether commending words of the item may be about the police, for
    /// the topic: a revisit answer rates them; otherwise one of the
    /// topic's `positive_about` phrases must be in the text (if it has any).
    fn commends_police(&self, normalized: &str, topic: usize, cx: Context) -> bool {
        cx.revisit || !self.needs_about[topic] || self.about(normalized, topic)
    }

    /// Whether a `positive_about` phrase of the topic is in the text.
    fn about(&self, normalized: &str, topic: usize) -> bool {
        self.about_automaton
            .find_overlapping_iter(normalized)
            .any(|m| self.about_topics[m.pattern().as_usize()].contains(&topic))
    }

    /// Which topics an exclusion in the text rules out, by topic index
    /// (looked for only when a topic with exclusions would be tagged).
    fn excluded(&self, normalized: &str) -> TopicSet {
        let mut excluded = TopicSet::default();
        for m in self.exclusion_automaton.find_overlapping_iter(normalized) {
            for &topic in &self.exclusion_topics[m.pattern().as_usize()] {
                excluded.insert(topic);
            }
        }
        excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(text: &str) -> Vec<TopicTag> {
        let e = crate::enrich::tests::enricher();
        let tokens = e.analyze(text);
        let scores = e.topics().model().score(&tokens);
        e.topics().tag(text, &tokens, Context::default(), &scores)
    }

    fn codes(text: &str) -> Vec<String> {
        tag(text).into_iter().map(|t| t.code).collect()
    }

    #[test]
    fn multi_label_with_evidence() {
        let tags = tag("报警后出警太慢，民警态度也很差");
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
        assert!(codes("等了一个小时才来人").contains(&"response".to_owned()));
        assert!(codes("楼上天天半夜吵闹").contains(&"public_order".to_owned()));
        assert!(codes("收到陌生短信说我中奖了").contains(&"fraud".to_owned()));
        assert!(codes("网上说贷款无抵押，交了保证金就联系不上了").contains(&"fraud".to_owned()));
        assert!(codes("在永年区广府古城被小偷偷了手机").contains(&"public_order".to_owned()));
        assert!(codes("涉县有人开车不让行人").contains(&"traffic".to_owned()));
        assert!(codes("邯郸东站附近有黑车拉客").contains(&"traffic".to_owned()));
        assert!(codes("小区门口天天有人乱停车").contains(&"traffic".to_owned()));
        assert!(codes("接电话的人说话很难听").contains(&"attitude".to_owned()));
        // A theft with a word on its case is the case's (not_with).
        let got = codes("我家电动车被盗，报案两个月没有任何进展");
        assert!(got.contains(&"enforcement".to_owned()), "{got:?}");
        assert!(!got.contains(&"public_order".to_owned()), "{got:?}");
        assert!(codes("楼道里的电动车电瓶又被偷了").contains(&"public_order".to_owned()));
        // A call named in passing is no complaint about the call handling.
        assert!(
            !codes("在网上刷单被骗了八千，报警后一直没有消息").contains(&"response".to_owned())
        );
        assert!(codes("报警后四十分钟才到").contains(&"response".to_owned()));
        // A manner of speaking is no quarrel.
        assert!(!codes("接电话的人说话很冲，像吵架一样").contains(&"public_order".to_owned()));
        assert!(codes("网上认识的人让我投资理财，现在钱取不出来了").contains(&"fraud".to_owned()));
        // One weak cue is not a topic.
        assert_eq!(codes("彩票中奖了"), vec!["other".to_owned()]);
    }

    #[test]
    fn exclusions_rule_a_topic_out() {
        assert!(codes("锦旗送给你们").contains(&"praise".to_owned()));
        assert!(!codes("真是谢谢你们的不作为，锦旗送给你们").contains(&"praise".to_owned()));
    }

    #[test]
    fn nothing_matched_is_other() {
        assert_eq!(codes("今天天气不错"), vec!["other".to_owned()]);
    }
}
