//! The enrichment core: one raw feedback item in, one enriched item out.
//!
//! [`Enricher`] is built once from the pipeline files and is then immutable
//! and `Sync`: share it by reference across threads. `enrich` is a pure
//! function of the item, the files and the clock value passed in, and never
//! panics; a bad item is a [`Reject`] with the reason. The steps, in order:
//!
//! 1. [`validate`]: the contract (channel known, types, bounds);
//! 2. [`pii`]: personal data masked before anything else reads the text;
//!    `contact` replaced by its keyed hash;
//! 3. [`normalize`]: full-width and traditional forms folded for analysis;
//! 4. [`reply`]: on revisit channels a leading "1"/"满意" becomes the rating;
//! 5. [`tokenize`]: jieba tokens, each looked up once in the [`lexicon`]
//!    (what every later step needs to know of it); content tokens, TF-IDF
//!    keywords;
//! 6. [`sentiment`]: lexicon score fused with the rating;
//! 7. [`topics`]: multi-label topic tags with evidence, from rules, the
//!    text's commendation (read from the sentiment step), a linear model
//!    ([`topic_model`]) and the channel's revisit;
//! 8. [`regions`]: district and unit from the text when not sent.

pub mod lexicon;
pub mod normalize;
pub mod pii;
pub mod regions;
pub mod reply;
pub mod sentiment;
pub mod tokenize;
pub mod topic_model;
pub mod topics;
pub mod validate;

use std::borrow::Cow;

use rustc_hash::FxHashMap as HashMap;

use chrono::{DateTime, FixedOffset, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::model::{EnrichedItem, RawFeedback, Word};
use crate::pipelines::{ChannelDef, ChannelsFile, PipelineError, PipelineFiles};
pub use validate::Reject;

/// Settings of the enricher that are not pipeline data.
#[derive(Debug, Clone)]
pub struct EnrichSettings {
    /// Key of the contact HMAC.
    pub hmac_key: Vec<u8>,
    /// Zone of timestamps minyi assigns (`received_at` when absent,
    /// `ingested_at`).
    pub timezone: FixedOffset,
    /// Seconds a `received_at` or `at` may lie ahead of the clock.
    pub clock_skew: i64,
}

pub struct Enricher {
    channels: HashMap<String, ChannelDef>,
    channel_order: Vec<String>,
    normalizer: normalize::Normalizer,
    tokenizer: tokenize::Tokenizer,
    tagger: topics::TopicTagger,
    sentiment: sentiment::SentimentModel,
    gazetteer: regions::Gazetteer,
    lexicon: lexicon::Lexicon,
    settings: EnrichSettings,
    model_version: std::sync::Arc<str>,
    /// Words every item of this domain uses (`dict/generic.txt`): left out
    /// of the wall's hot words, kept everywhere else.
    generic_words: std::collections::HashSet<String>,
    /// Each word of `dict/synonyms.txt` and the word that stands for its
    /// group (for incidents: 信号灯 → 红绿灯).
    synonyms: HashMap<String, String>,
}

impl std::fmt::Debug for Enricher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Enricher")
            .field("model_version", &self.model_version)
            .finish()
    }
}

impl Enricher {
    /// The enricher a checked config describes: its pipeline files, key
    /// and zone.
    pub fn from_config(c: &crate::config::Checked) -> Result<Enricher, PipelineError> {
        Enricher::new(
            &PipelineFiles::load(c.pipelines_dir.as_deref())?,
            EnrichSettings {
                hmac_key: c.hmac_key.clone(),
                timezone: c.timezone,
                clock_skew: c.clock_skew,
            },
        )
    }

    pub fn new(files: &PipelineFiles, settings: EnrichSettings) -> Result<Enricher, PipelineError> {
        let channels_file: ChannelsFile = files.toml("channels.toml")?;
        let mut channels = HashMap::default();
        let mut channel_order = Vec::new();
        for c in channels_file.channel {
            channel_order.push(c.code.clone());
            if channels.insert(c.code.clone(), c).is_some() {
                return Err(PipelineError::Invalid {
                    file: "channels.toml".into(),
                    message: format!("channel {:?} is defined twice", channel_order.last()),
                });
            }
        }
        let normalizer = normalize::Normalizer::from_files(files)?;
        let tagger = topics::TopicTagger::from_files(files)?;
        for c in channels.values() {
            if let Some(code) = &c.rates
                && tagger.topic_index(code).is_none()
            {
                return Err(PipelineError::Invalid {
                    file: "channels.toml".into(),
                    message: format!("channel {:?} rates unknown topic {code:?}", c.code),
                });
            }
        }
        let sentiment = sentiment::SentimentModel::from_files(files)?;
        let gazetteer = regions::Gazetteer::from_files(files)?;
        let tokenizer = tokenize::Tokenizer::from_files(
            files,
            tagger
                .terms()
                .chain(sentiment.terms())
                .chain(gazetteer.names()),
        )?;
        let mut enricher = Enricher {
            channels,
            channel_order,
            normalizer,
            tokenizer,
            tagger,
            sentiment,
            gazetteer,
            lexicon: lexicon::Lexicon::default(),
            generic_words: files
                .lines("dict/generic.txt")
                .map(|(_, w)| w.to_owned())
                .collect(),
            synonyms: synonyms(files),
            settings,
            model_version: format!(
                "minyi-enrich/{}+{}",
                env!("CARGO_PKG_VERSION"),
                files.digest()
            )
            .into(),
        };
        let e = &enricher;
        let words: Vec<String> = e
            .tokenizer
            .words()
            .chain(e.tagger.terms())
            .chain(e.tagger.model().words())
            .chain(e.sentiment.terms())
            .chain(e.sentiment.compounds())
            .chain(e.gazetteer.names())
            .map(str::to_owned)
            .chain(sentiment::SentimentModel::marks())
            // The masker's star: a token of its own for each character
            // masked, a tenth of the tokens of a text with a phone in it.
            .chain(["*".to_owned()])
            // Numbers of up to four digits (times, amounts, the digits a
            // masked phone keeps), with their leading zeros.
            .chain((1..=4).flat_map(|width| {
                (0..10u32.pow(width)).map(move |n| format!("{n:0width$}", width = width as usize))
            }))
            .collect();
        enricher.lexicon = lexicon::Lexicon::new(words, |w| enricher.describe(w, true));
        Ok(enricher)
    }

    /// What every step needs to know of a token (see [`lexicon`]).
    /// `listed`: whether the token may be a word of a stop list or lexicon;
    /// false for a token outside the lexicon table, which holds them all, so
    /// their lookups are skipped. Both give the same answer for such a token
    /// (tested).
    fn describe(&self, token: &str, listed: bool) -> lexicon::TokenInfo {
        // Every term and place name of one character is in the table.
        let short = !listed && token.chars().nth(1).is_none();
        let lex = self.sentiment.lex(token, listed);
        let words = self.tokenizer.describe(token, listed);
        lexicon::TokenInfo {
            keyword: words.keyword && !lex.is_modifier(),
            lex,
            terms: if short {
                Box::default()
            } else {
                self.tagger.terms_in(token)
            },
            places: if short {
                Box::default()
            } else {
                self.gazetteer.places_in(token)
            },
            // Every token of the model is in the lexicon table.
            topic_feature: if listed {
                self.tagger.model().word(token)
            } else {
                None
            },
            topic_inside: self.tagger.model().inside(token),
            ..words
        }
    }

    /// The tokens of a normalised text, each with what it is.
    pub fn analyze<'a>(&'a self, normalized: &'a str) -> Vec<lexicon::Token<'a>> {
        self.tokenizer
            .cut(normalized)
            .map(|text| lexicon::Token {
                text,
                info: match self.lexicon.get(text) {
                    Some(info) => Cow::Borrowed(info),
                    None => Cow::Owned(self.describe(text, false)),
                },
            })
            .collect()
    }

    /// The words described up front (see [`lexicon`]).
    pub fn lexicon(&self) -> &lexicon::Lexicon {
        &self.lexicon
    }

    /// An enricher over the built-in pipeline files in the default zone
    /// (+08:00): for tests, benches and tools that have no config.
    pub fn builtin(hmac_key: &[u8]) -> Result<Enricher, PipelineError> {
        Enricher::new(
            &PipelineFiles::builtin(),
            EnrichSettings {
                hmac_key: hmac_key.to_vec(),
                timezone: crate::config::default_timezone(),
                clock_skew: crate::config::DEFAULT_CLOCK_SKEW,
            },
        )
    }

    pub fn model_version(&self) -> &str {
        &self.model_version
    }

    pub fn timezone(&self) -> FixedOffset {
        self.settings.timezone
    }

    /// The configured channels, in file order.
    pub fn channels(&self) -> impl Iterator<Item = &ChannelDef> {
        self.channel_order.iter().map(|c| &self.channels[c])
    }

    pub fn topics(&self) -> &topics::TopicTagger {
        &self.tagger
    }

    pub fn gazetteer(&self) -> &regions::Gazetteer {
        &self.gazetteer
    }

    /// Whether `word` is domain-generic (`dict/generic.txt`: 民警, 办理 …),
    /// too common in this domain to say what is hot.
    pub fn is_generic_word(&self, word: &str) -> bool {
        self.generic_words.contains(word)
    }

    /// The word that stands for `word`'s group of `dict/synonyms.txt`, or
    /// `word` itself.
    pub fn synonym<'a>(&'a self, word: &'a str) -> &'a str {
        self.synonyms.get(word).map_or(word, String::as_str)
    }

    /// Every word the enricher knows something of: the lexicon's, the
    /// synonyms' and the generic words (each once or more), for tables
    /// worked out once per word.
    pub fn known_words(&self) -> impl Iterator<Item = &str> {
        self.lexicon
            .words()
            .chain(self.synonyms.keys().map(String::as_str))
            .chain(self.generic_words.iter().map(String::as_str))
    }

    pub fn tokenizer(&self) -> &tokenize::Tokenizer {
        &self.tokenizer
    }

    /// A text as the analysis steps read it (full-width and traditional
    /// forms folded): for tools that look at what enrichment saw.
    pub fn normalize(&self, text: &str) -> String {
        self.normalizer.normalize(text).into_owned()
    }

    /// The topic codes of an enriched item by the rules alone: no model, no
    /// revisit rule (what the topic model is trained to add to, see
    /// `examples/topic_features.rs`).
    pub fn rule_topics(&self, item: &EnrichedItem) -> Vec<String> {
        let normalized = self.normalize(&item.text);
        let tokens = self.analyze(&normalized);
        let revisit = self.channels.get(&item.channel).is_some_and(|c| c.revisit);
        let (sentiment, text) = self
            .sentiment
            .assess_scored(&normalized, &tokens, item.rating);
        let commends = sentiment::commending_words(&sentiment, text.score, revisit);
        let cx = topics::Context {
            rates: None,
            commends: &commends,
            revisit,
            positive: text.score >= sentiment::NEUTRAL_BAND,
        };
        self.tagger
            .tag_by_rules(&normalized, &tokens, cx)
            .into_iter()
            .map(|t| t.code)
            .collect()
    }

    /// What the sentiment lexicon alone reads in an enriched item's text
    /// (no rating, no model): what the text model is trained beside (see
    /// `examples/topic_features.rs`).
    pub fn lexicon_reading(&self, item: &EnrichedItem) -> sentiment::Reading {
        let normalized = self.normalize(&item.text);
        let tokens = self.analyze(&normalized);
        self.sentiment.assess_scored(&normalized, &tokens, None).1
    }

    /// Whether an enriched item's topics make a neutral reading of it a
    /// complaint ([`topics::TopicTagger::complaint_of`]): for the trainer of
    /// the text model, which decides the neutral reading.
    pub fn reported_complaint(&self, item: &EnrichedItem) -> bool {
        let mut neutral = crate::model::Sentiment {
            label: crate::model::SentimentLabel::Neutral,
            score: 0.0,
            evidence: Vec::new(),
        };
        self.tagger.complaint_of(&item.topic_evidence, &mut neutral);
        neutral.label == crate::model::SentimentLabel::Negative
    }

    pub fn now(&self) -> DateTime<FixedOffset> {
        Utc::now().with_timezone(&self.settings.timezone)
    }

    /// Checks one work-order event at `now`, with this enricher's clock
    /// skew; ids holding personal data are replaced as items' are (so an
    /// event still finds its item), and a unit the gazetteer does not know
    /// is dropped (units are a closed vocabulary).
    pub fn parse_event(
        &self,
        value: &Value,
        now: DateTime<FixedOffset>,
    ) -> Result<crate::workorder::WorkOrderEvent, Reject> {
        let mut e = crate::workorder::parse_event_within(value, now, self.settings.clock_skew)?;
        e.order_id = self.safe_id(e.order_id);
        e.feedback_id = e.feedback_id.map(|f| self.safe_id(f));
        e.unit = e.unit.and_then(|u| {
            self.gazetteer
                .unit_named(&u)
                .map(|(name, _)| name.to_owned())
        });
        Ok(e)
    }

    /// An id as stored: itself, or — when it holds personal data (a phone
    /// number used as a ticket number) — `p-` and 24 hex digits of its keyed
    /// hash: still unique and stable (re-sent copies are recognised), never
    /// the number.
    pub fn safe_id(&self, id: String) -> String {
        if !pii::personal_in_id(&id) {
            return id;
        }
        let hash = pii::contact_hash(&self.settings.hmac_key, &id);
        format!("p-{}", &hash[..24])
    }

    /// Enriches one item given as JSON bytes (a Kafka value, a JSONL line).
    pub fn enrich_bytes(
        &self,
        bytes: &[u8],
        now: DateTime<FixedOffset>,
    ) -> Result<EnrichedItem, Reject> {
        let text = std::str::from_utf8(bytes).map_err(|e| Reject::Utf8(e.valid_up_to()))?;
        let value: Value = serde_json::from_str(text).map_err(|e| Reject::Json(e.to_string()))?;
        self.enrich_value(&value, now)
    }

    pub fn enrich_value(
        &self,
        value: &Value,
        now: DateTime<FixedOffset>,
    ) -> Result<EnrichedItem, Reject> {
        let raw = validate::parse_raw(value, |c| self.channels.contains_key(c))?;
        self.enrich(raw, now)
    }

    pub fn enrich(
        &self,
        raw: RawFeedback,
        now: DateTime<FixedOffset>,
    ) -> Result<EnrichedItem, Reject> {
        // An item sent without an id may need its raw text for its id
        // ([`keyed_id`]).
        let raw_text = raw.id.is_none().then(|| raw.text.clone());
        let masked = pii::mask(raw.text);
        let mut text = masked.text;
        let mut rating = raw.rating;
        let channel = self.channels.get(&raw.channel);
        let revisit = channel.is_some_and(|c| c.revisit);
        let rates = channel
            .and_then(|c| c.rates.as_deref())
            .and_then(|code| self.tagger.topic_index(code));
        if revisit
            && rating.is_none()
            && let Some((r, skip)) = reply::parse_reply(&self.normalizer.normalize(&text))
        {
            rating = Some(r);
            // Normalisation maps char to char, so the offset holds in both.
            let at = text.char_indices().nth(skip).map_or(text.len(), |(i, _)| i);
            text.drain(..at);
        }
        if is_blank(&text) && rating.is_none() {
            return Err(Reject::Empty);
        }
        // Refused before the costly steps.
        if raw
            .received_at
            .is_some_and(|t| (t - now).num_seconds() > self.settings.clock_skew)
        {
            return Err(Reject::FutureTime("received_at", self.settings.clock_skew));
        }
        if raw.received_at.is_some_and(|t| t.timestamp() < 0) {
            return Err(Reject::AncientTime("received_at"));
        }
        let normalized = self.normalizer.normalize(&text);

        let mut tokens = self.analyze(&normalized);
        drop_hints(&normalized, &mut tokens);
        let keywords = self.tokenizer.keywords(&tokens);
        let (mut sentiment, reading) = self.sentiment.assess_scored(&normalized, &tokens, rating);
        let scores = self.tagger.model().score(&tokens);
        let commends = sentiment::commending_words(&sentiment, reading.score, revisit);
        let topic_tags = self.tagger.tag(
            &normalized,
            &tokens,
            topics::Context {
                rates,
                commends: &commends,
                revisit,
                positive: reading.score >= sentiment::NEUTRAL_BAND,
            },
            &scores,
        );
        // The text model reads police feedback: a text in which the rules
        // find no matter of it is left to the lexicon (it read ordinary
        // reviews worse, and its own topic guesses there too), as is a
        // question (it reads what is named, not that it is asked about).
        if rating.is_none()
            && !reading.asks
            && topic_tags
                .iter()
                .any(|t| t.code != topics::OTHER && !t.by_model_alone())
            && let Some((label, p)) = self.tagger.model().sentiment(&scores, reading.score)
        {
            sentiment::relabel(&mut sentiment, label, p);
        }
        self.tagger.complaint_of(&topic_tags, &mut sentiment);
        // Sent places must be names of the gazetteer (a closed vocabulary:
        // every district or unit is a dimension value on every chart); an
        // unknown one is kept masked beside the item, and the item's place
        // comes from its text as if none was sent.
        let mut unknown_places = Vec::new();
        let mut sent_district = raw.district.as_deref().and_then(|d| {
            let known = self.gazetteer.district_named(d);
            if known.is_none() {
                unknown_places.push(format!("district: {}", unknown_place(d)));
            }
            known.map(str::to_owned)
        });
        let sent_unit = raw.unit.as_deref().and_then(|u| {
            let known = self.gazetteer.unit_named(u);
            if known.is_none() {
                unknown_places.push(format!("unit: {}", unknown_place(u)));
            }
            let (unit, district) = known?;
            if sent_district.is_none() {
                sent_district = district.map(str::to_owned);
            }
            Some(unit.to_owned())
        });
        let (district, unit) = match (sent_district, sent_unit) {
            (Some(d), Some(u)) => (Some(d), Some(u)),
            (d, u) => {
                let places = tokens.iter().flat_map(|t| t.info.places.iter().copied());
                let (td, tu) = self.gazetteer.locate(places);
                (d.or(td), u.or(tu))
            }
        };

        let received_at = raw.received_at.unwrap_or(now);
        let id = match raw.id {
            Some(id) => self.safe_id(id),
            // Nothing masked, no contact: the derivation of every version.
            None if masked.kinds.is_empty() && raw.contact.is_none() => {
                derived_id(&raw.channel, received_at, &text, rating)
            }
            None => keyed_id(
                &self.settings.hmac_key,
                &raw.channel,
                received_at,
                raw_text.as_deref().unwrap_or(&text),
                raw.contact.as_deref(),
                rating,
            ),
        };
        let contact_hash = raw
            .contact
            .as_deref()
            .map(|c| pii::contact_hash(&self.settings.hmac_key, c));

        let content = content_of(&tokens);
        let topics = topic_tags.iter().map(|t| t.code.clone()).collect();
        drop(normalized);
        Ok(EnrichedItem {
            id,
            channel: raw.channel,
            received_at,
            text,
            rating,
            district,
            unit,
            unknown_places,
            // As an order id is (it names one): a reference holding
            // personal data becomes its keyed hash, so two cases stay two
            // and a reply links to its order; masked, `15011115678` and
            // `15022225678` were one case.
            case_ref: raw.case_ref.map(|c| self.safe_id(c)),
            contact_hash,
            pii: masked.kinds,
            tokens: content,
            keywords,
            topics,
            topic_evidence: topic_tags,
            sentiment,
            ingested_at: now,
            model_version: self.model_version.clone(),
        })
    }
}

impl Enricher {
    /// The content tokens of a masked text, as enrichment stores them in
    /// `tokens` (an item read back from a store has its text, not its tokens).
    /// The same as enrichment's, without describing unlisted tokens
    /// whole (their topic terms, places and model sums are not needed).
    pub fn content_tokens(&self, masked: &str) -> Vec<Word> {
        let normalized = self.normalizer.normalize(masked);
        let hints = Hints::of(&normalized);
        self.tokenizer
            .cut(&normalized)
            .filter(|t| {
                let content = match self.lexicon.get(t) {
                    Some(info) => info.content,
                    None => self.tokenizer.describe(t, false).content,
                };
                content && !hints.hide(&normalized, t)
            })
            .map(Word::from)
            .collect()
    }
}

/// The content tokens (no stop words, no punctuation), in text order.
fn content_of(tokens: &[lexicon::Token<'_>]) -> Vec<Word> {
    tokens
        .iter()
        .filter(|t| t.info.content)
        .map(|t| Word::from(t.text))
        .collect()
}

/// `dict/synonyms.txt`: each word to the first word of its line.
fn synonyms(files: &PipelineFiles) -> HashMap<String, String> {
    let mut out = HashMap::default();
    for (_, line) in files.lines("dict/synonyms.txt") {
        let mut words = line.split_whitespace();
        let Some(head) = words.next() else { continue };
        for w in words {
            out.entry(w.to_owned()).or_insert_with(|| head.to_owned());
        }
    }
    out
}

/// Whether a text shows nothing: white space, control characters and
/// zero-width marks only.
fn is_blank(text: &str) -> bool {
    text.chars().all(|c| {
        c.is_whitespace()
            || c.is_control()
            || matches!(c, '\u{200b}'..='\u{200d}' | '\u{2060}' | '\u{feff}')
    })
}

/// The clock value for the `index`-th item of a batch enriched at `now`:
/// one nanosecond apart, so items that carry neither an id nor a time get
/// distinct arrival times and so distinct ids (fifty "1" replies in one
/// batch are fifty answers, not one answer and 49 duplicates).
pub fn arrival(now: DateTime<FixedOffset>, index: usize) -> DateTime<FixedOffset> {
    now + chrono::Duration::nanoseconds(index as i64)
}

/// Words a place's or an office's name ends with (丛台区, 光明桥派出所,
/// 交警支队, 12345热线中心).
const PLACE_ENDS: &[&str] = &[
    "区", "县", "市", "镇", "乡", "街道", "村", "社区", "所", "队", "局", "科", "室", "站", "中心",
    "处", "办", "厅", "部", "组", "岗",
];

/// What is kept of a district or unit sent that the gazetteer does not
/// know: the name masked, when it reads as a place's or an office's name
/// (so a centre can see which names its feed sends that are not
/// configured), else nothing (a person's name sent in the field, as a
/// careless client does, has no cue the masker would know it by).
fn unknown_place(sent: &str) -> String {
    let name = sent.trim();
    let place_like = (2..=30).contains(&name.chars().count())
        && PLACE_ENDS.iter().any(|end| name.ends_with(end));
    if place_like {
        pii::mask(name).text
    } else {
        "（不像地名，未保留）".to_owned()
    }
}

/// Tokens inside masked personal data (`002x` of `110***********002X`,
/// `qq.com` of `z***@qq.com`; see [`pii::hint_spans`]) are fragments of a
/// hint, not words: neither content nor keywords. Nor is the surname left
/// of a masked name (`欧阳` of `欧阳**`): a word right before a `*`.
fn drop_hints(normalized: &str, tokens: &mut [lexicon::Token]) {
    let hints = Hints::of(normalized);
    if !hints.starred {
        return;
    }
    for t in tokens {
        if t.info.content && hints.hide(normalized, t.text) {
            let info = t.info.to_mut();
            info.content = false;
            info.keyword = false;
        }
    }
}

/// What a masked text keeps of its personal data (see [`drop_hints`]).
struct Hints {
    /// Whether the text holds a `*` at all (else nothing is hidden).
    starred: bool,
    spans: Vec<std::ops::Range<usize>>,
}

impl Hints {
    fn of(normalized: &str) -> Hints {
        let starred = normalized.contains('*');
        Hints {
            starred,
            spans: if starred {
                pii::hint_spans(normalized)
            } else {
                Vec::new()
            },
        }
    }

    /// Whether `token`, a slice of `normalized`, is part of a hint or a
    /// word right before a masked span.
    fn hide(&self, normalized: &str, token: &str) -> bool {
        if !self.starred {
            return false;
        }
        // Tokens are slices of the text they were cut from.
        let start = token.as_ptr() as usize - normalized.as_ptr() as usize;
        let end = start + token.len();
        let before_stars = normalized[end..].starts_with('*') && !token.is_ascii();
        before_stars || self.spans.iter().any(|s| s.start < end && start < s.end)
    }
}

/// The id of an item sent without one, nothing of its text masked and no
/// contact: a hash of what identifies it (channel, time, text, rating), so
/// a re-sent copy gets the same id, in every version.
fn derived_id(
    channel: &str,
    received_at: DateTime<FixedOffset>,
    masked_text: &str,
    rating: Option<crate::model::Rating>,
) -> String {
    let mut h = Sha256::new();
    hash_place(&mut h, channel, received_at);
    h.update(masked_text.as_bytes());
    h.update([rating.map_or(0, |r| r.number())]);
    hex_id(&h.finalize())
}

/// The id of an item sent without one whose text had personal data masked
/// or that came with a contact: keyed with the deployment's key, over the
/// raw text and the contact. Two texts that differ only where masking
/// stars them (two callers' phone numbers), or two 满意 replies of one
/// second from two phones, are two items; a re-sent copy is one; and the
/// id gives no way back to the number (unkeyed, the ten thousand numbers a
/// masked `138****5678` leaves could be tried against it).
fn keyed_id(
    key: &[u8],
    channel: &str,
    received_at: DateTime<FixedOffset>,
    raw_text: &str,
    contact: Option<&str>,
    rating: Option<crate::model::Rating>,
) -> String {
    let mut h = Sha256::new();
    h.update(b"keyed\0");
    h.update((key.len() as u64).to_le_bytes());
    h.update(key);
    hash_place(&mut h, channel, received_at);
    h.update(raw_text.as_bytes());
    h.update([0]);
    h.update(contact.unwrap_or("").as_bytes());
    h.update([0, rating.map_or(0, |r| r.number())]);
    hex_id(&h.finalize())
}

/// The channel and the time, each closed by a 0.
fn hash_place(h: &mut Sha256, channel: &str, received_at: DateTime<FixedOffset>) {
    h.update(channel.as_bytes());
    h.update([0]);
    let mut time = [0u8; RFC3339_MAX];
    match write_rfc3339(received_at, &mut time) {
        Some(n) => h.update(&time[..n]),
        None => h.update(received_at.to_rfc3339().as_bytes()),
    }
    h.update([0]);
}

/// "h-" and 24 hex digits of a digest, written in place (`hex::encode`
/// plus `format!` cost two allocations and a char iterator per item).
fn hex_id(digest: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut id = String::with_capacity(26);
    id.push_str("h-");
    for b in &digest[..12] {
        id.push(HEX[usize::from(b >> 4)] as char);
        id.push(HEX[usize::from(b & 15)] as char);
    }
    id
}

/// The longest RFC 3339 time [`write_rfc3339`] writes:
/// `YYYY-MM-DDTHH:MM:SS.nnnnnnnnn+HH:MM`.
const RFC3339_MAX: usize = 35;

/// `t` as `DateTime::to_rfc3339` writes it, into `out`, without its
/// allocation and formatting machinery (the id hash reads it for every item
/// sent without an id); the length written. `None` for what chrono writes
/// in its own ways — years outside 0–9999, a leap second, an offset with
/// seconds — and for times whose local form is out of range: the caller
/// then asks chrono.
fn write_rfc3339(t: DateTime<FixedOffset>, out: &mut [u8; RFC3339_MAX]) -> Option<usize> {
    use chrono::{Datelike, Timelike};
    let offset = t.offset().local_minus_utc();
    let local = t.naive_utc().checked_add_offset(*t.offset())?;
    let nano = local.nanosecond();
    if !(0..=9999).contains(&local.year()) || nano >= 1_000_000_000 || offset % 60 != 0 {
        return None;
    }
    fn two(out: &mut [u8], at: usize, v: u32) {
        out[at] = b'0' + (v / 10) as u8;
        out[at + 1] = b'0' + (v % 10) as u8;
    }
    let year = local.year() as u32;
    two(out, 0, year / 100);
    two(out, 2, year % 100);
    out[4] = b'-';
    two(out, 5, local.month());
    out[7] = b'-';
    two(out, 8, local.day());
    out[10] = b'T';
    two(out, 11, local.hour());
    out[13] = b':';
    two(out, 14, local.minute());
    out[16] = b':';
    two(out, 17, local.second());
    let mut n = 19;
    // Subseconds as chrono's `SecondsFormat::AutoSi`: none, or 3, 6 or 9
    // digits.
    let (digits, mut frac) = match nano {
        0 => (0, 0),
        _ if nano % 1_000_000 == 0 => (3, nano / 1_000_000),
        _ if nano % 1_000 == 0 => (6, nano / 1_000),
        _ => (9, nano),
    };
    if digits > 0 {
        out[n] = b'.';
        for i in (0..digits).rev() {
            out[n + 1 + i] = b'0' + (frac % 10) as u8;
            frac /= 10;
        }
        n += 1 + digits;
    }
    out[n] = if offset < 0 { b'-' } else { b'+' };
    let minutes = offset.unsigned_abs() / 60;
    two(out, n + 1, minutes / 60);
    out[n + 3] = b':';
    two(out, n + 4, minutes % 60);
    Some(n + 6)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{PiiKind, Rating, SentimentLabel};
    use proptest::strategy::Strategy;
    use serde_json::json;

    pub(crate) fn enricher() -> Enricher {
        Enricher::builtin(b"test-key").unwrap()
    }

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2025-06-01T10:00:00+08:00").unwrap()
    }

    /// What the incident tracker reads of a stored text is what enrichment
    /// stored as the item's tokens: the dev set's texts, and each with
    /// personal data masked inside it.
    #[test]
    fn content_tokens_of_a_stored_text_are_the_items_tokens() {
        let e = enricher();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut texts = Vec::new();
        for entry in std::fs::read_dir(format!("{root}/tests/data/dev")).unwrap() {
            let file = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in file.lines().filter(|l| !l.starts_with('#')) {
                let text = line.rsplit('\t').next().unwrap();
                texts.push(text.to_owned());
                texts.push(format!(
                    "我叫欧阳娜娜，{text}电话13812345678，邮箱zhang@qq.com"
                ));
            }
        }
        assert!(texts.len() > 1000, "{}", texts.len());
        for text in &texts {
            let Ok(item) = e.enrich_value(&json!({"channel": "wechat", "text": text}), now())
            else {
                continue;
            };
            assert_eq!(e.content_tokens(&item.text), item.tokens, "{text}");
        }
    }

    /// Keywords compare two words of the lexicon table by their entries:
    /// the same keywords as comparing every word by its text (each token's
    /// description owned, as a token outside the table has it).
    #[test]
    fn keywords_by_table_entries_are_keywords_by_text() {
        let e = enricher();
        let root = env!("CARGO_MANIFEST_DIR");
        let mut checked = 0;
        for entry in std::fs::read_dir(format!("{root}/tests/data/dev")).unwrap() {
            let file = std::fs::read_to_string(entry.unwrap().path()).unwrap();
            for line in file.lines().filter(|l| !l.starts_with('#')) {
                let text = line.rsplit('\t').next().unwrap();
                let long = format!("{text}。{text}，又是{text}");
                for text in [text, long.as_str()] {
                    let normalized = e.normalizer.normalize(text);
                    let tokens = e.analyze(&normalized);
                    let owned: Vec<lexicon::Token> = tokens
                        .iter()
                        .map(|t| lexicon::Token {
                            text: t.text,
                            info: Cow::Owned(t.info.clone().into_owned()),
                        })
                        .collect();
                    assert_eq!(
                        e.tokenizer.keywords(&tokens),
                        e.tokenizer.keywords(&owned),
                        "{text}"
                    );
                    checked += 1;
                }
            }
        }
        assert!(checked > 2000, "{checked}");
    }

    #[test]
    fn side_fields_are_a_closed_vocabulary_and_ids_hold_no_personal_data() {
        let e = enricher();
        let item = e
            .enrich_value(
                &json!({"channel": "wechat", "text": "出警太慢", "id": "13812345678",
                        "district": "13812345678", "unit": "编造的派出所"}),
                now(),
            )
            .unwrap();
        assert!(
            item.id.starts_with("p-") && !item.id.contains("12345678"),
            "{}",
            item.id
        );
        assert_eq!(item.district, None);
        assert_eq!(item.unit, None);
        assert_eq!(
            item.unknown_places,
            ["district: （不像地名，未保留）", "unit: 编造的派出所"]
        );
        // A person's name sent as a place is not kept; a place's name is,
        // masked.
        let named = e
            .enrich_value(
                &json!({"channel": "wechat", "text": "出警太慢",
                        "district": "王小明", "unit": "13812345678派出所"}),
                now(),
            )
            .unwrap();
        assert_eq!(
            named.unknown_places,
            ["district: （不像地名，未保留）", "unit: 138****5678派出所"]
        );
        // The same raw id gives the same stored id (re-sends are recognised);
        // an event naming it as its item finds it.
        let again = e
            .enrich_value(
                &json!({"channel": "wechat", "text": "x", "id": "13812345678"}),
                now(),
            )
            .unwrap();
        assert_eq!(again.id, item.id);
        let ev = e
            .parse_event(
                &json!({"order_id": "13912345678", "feedback_id": "13812345678", "event": "created", "unit": "13812345678"}),
                now(),
            )
            .unwrap();
        assert_eq!(ev.feedback_id.as_deref(), Some(item.id.as_str()));
        assert!(!ev.order_id.contains("12345678"));
        assert_eq!(ev.unit, None);
        // Known names and aliases are kept in their canonical form; a known
        // unit names its district; ticket numbers stay as they are.
        let item = e
            .enrich_value(
                &json!({"channel": "wechat", "text": "谢谢", "id": "2025060100123", "unit": "天台山派出所"}),
                now(),
            )
            .unwrap();
        assert_eq!(item.id, "2025060100123");
        assert_eq!(item.unit.as_deref(), Some("天台山派出所"));
        assert_eq!(item.district.as_deref(), Some("肥乡区"));
        assert!(item.unknown_places.is_empty());
    }

    #[test]
    fn invisible_characters_hide_no_number_and_cut_no_word() {
        let e = enricher();
        let item = e
            .enrich_value(
                &json!({"channel": "wechat", "text": "民\u{200b}警态度差，电话1\u{200b}38\u{2060}1234\u{feff}5678"}),
                now(),
            )
            .unwrap();
        assert!(!item.text.contains("1234"), "{}", item.text);
        assert!(item.text.contains("138****5678"), "{}", item.text);
        assert!(item.tokens.iter().any(|t| t == "民警"), "{:?}", item.tokens);
        // A right-to-left override would turn the wall's line around.
        let item = e
            .enrich_value(
                &json!({"channel": "wechat", "text": "民警\u{202e}态度差\u{2066}，谢谢\u{2069}"}),
                now(),
            )
            .unwrap();
        assert_eq!(item.text, "民警态度差，谢谢");
    }

    #[test]
    fn a_received_at_beyond_the_clock_skew_is_refused() {
        let e = enricher();
        let v = |t: &str| json!({"channel": "wechat", "text": "谢谢", "received_at": t});
        let err = e
            .enrich_value(&v("9999-12-31T00:00:00Z"), now())
            .unwrap_err();
        assert_eq!(err, Reject::FutureTime("received_at", 600));
        // Before 1970, even a second: no query reaches it.
        for t in ["1960-01-01T00:00:00Z", "1970-01-01T05:00:00+14:00"] {
            assert_eq!(
                e.enrich_value(&v(t), now()).unwrap_err(),
                Reject::AncientTime("received_at"),
                "{t}"
            );
        }
        // Nine minutes ahead: a drifting clock, kept.
        assert!(
            e.enrich_value(&v("2025-06-01T10:09:00+08:00"), now())
                .is_ok()
        );
        assert!(
            e.enrich_value(&v("2025-06-01T10:11:00+08:00"), now())
                .is_err()
        );
    }

    #[test]
    fn the_article_example() {
        let e = enricher();
        let item = e
            .enrich_value(
                &json!({"channel": "director_mailbox", "text": "户籍业务不打烊，天台山派出所民警服务好，办事效率高！"}),
                now(),
            )
            .unwrap();
        assert_eq!(
            item.sentiment.label,
            SentimentLabel::Positive,
            "{:?}",
            item.sentiment
        );
        assert!(
            item.topics.contains(&"household".to_owned()),
            "{:?}",
            item.topics
        );
        assert_eq!(item.district.as_deref(), Some("肥乡区"));
        assert_eq!(item.unit.as_deref(), Some("天台山派出所"));
        assert_eq!(item.received_at, now());
        assert!(item.id.starts_with("h-"));
    }

    #[test]
    fn sms_reply_becomes_rating_and_text() {
        let e = enricher();
        let item = e
            .enrich_value(
                &json!({"channel": "sms_revisit", "text": "３，出警太慢，打电话13812345678没人接"}),
                now(),
            )
            .unwrap();
        assert_eq!(item.rating, Some(Rating::Dissatisfied));
        assert_eq!(item.text, "出警太慢，打电话138****5678没人接");
        assert_eq!(item.pii, vec![PiiKind::Mobile]);
        assert_eq!(item.sentiment.label, SentimentLabel::Negative);
        assert!(item.topics.contains(&"response".to_owned()));
        let rating_only = e
            .enrich_value(&json!({"channel": "sms_revisit", "text": "1"}), now())
            .unwrap();
        assert_eq!(rating_only.rating, Some(Rating::Satisfied));
        assert_eq!(rating_only.text, "");
    }

    /// The topics of a text posted on `channel`, and their evidence.
    fn topics_of(
        e: &Enricher,
        channel: &str,
        text: &str,
    ) -> (Vec<String>, Vec<crate::model::TopicTag>) {
        let item = e
            .enrich_value(&json!({"channel": channel, "text": text}), now())
            .unwrap();
        (item.topics, item.topic_evidence)
    }

    /// docs/TOPICS.md, rules R and P.
    #[test]
    fn revisit_answers_and_commendation_by_the_guide() {
        let e = enricher();
        let tags = |channel: &str, text: &str| topics_of(&e, channel, text);
        // A revisit answer naming no other matter is about what it rates.
        let (topics, evidence) = tags("sms_revisit", "1");
        assert_eq!(topics, ["response"]);
        assert_eq!(evidence[0].evidence, ["revisit"]);
        assert_eq!(tags("phone_revisit", "群众表示满意").0, ["response"]);
        assert_eq!(tags("enterprise_sms", "3").0, ["business"]);
        // The window is not known.
        assert_eq!(tags("window_rating", "满意").0, ["other"]);
        // Another matter named: that matter.
        assert_eq!(tags("sms_revisit", "3，民警态度太差了").0, ["attitude"]);
        // Praise is no matter: the answer is still about the call handling.
        let (mut topics, evidence) = tags("sms_revisit", "1，辛苦了");
        topics.sort();
        assert_eq!(topics, ["praise", "response"], "{evidence:?}");
        // The rating is the answer, not commendation; the words after it
        // may be.
        assert!(
            !tags("sms_revisit", "非常满意")
                .0
                .contains(&"praise".to_owned())
        );
        let (topics, evidence) = tags("sms_revisit", "满意，处理得很好");
        assert!(topics.contains(&"praise".to_owned()), "{evidence:?}");
        // Commendation anywhere else is praise; sarcasm is not.
        let (topics, evidence) = tags("scan_rate", "很满意，效率高");
        assert_eq!(topics, ["praise"]);
        assert!(
            evidence[0]
                .evidence
                .iter()
                .all(|e| e.starts_with("positive:")),
            "{evidence:?}"
        );
        assert!(
            !tags("opinion_hotline", "真是谢谢你们的不作为")
                .0
                .contains(&"praise".to_owned())
        );
    }

    /// docs/TOPICS.md, rule P: praise commends or thanks the police. A
    /// scam report naming the police (冒充公安) is no praise, whatever the
    /// model weighs its words at, nor is a positive text about something
    /// else (the weather).
    #[test]
    fn no_praise_for_a_scam_report_or_the_weather() {
        let e = enricher();
        let topics = |channel: &str, text: &str| topics_of(&e, channel, text);
        for (channel, text) in [
            (
                "hotline_110",
                "冒充公安、冒充警察打电话说我涉嫌洗钱，让我转账到安全账户",
            ),
            (
                "hotline_12345",
                "接到自称派出所民警的电话，说我的银行卡涉嫌洗钱，要我把钱转到安全账户",
            ),
            (
                "online_message",
                "我们小区好几个老人都接到冒充警察的电话，说他们涉嫌洗钱，让把存款转到安全账户",
            ),
            (
                "wechat",
                "有人自称是公安局的警察，说我们的快递里有违禁品，要我们配合调查并转账",
            ),
            ("online_message", "今天天气不错"),
            ("wechat", "今天天气真好，心情不错"),
        ] {
            let (got, evidence) = topics(channel, text);
            assert!(
                !got.contains(&"praise".to_owned()),
                "{text}: {got:?} {evidence:?}"
            );
        }
        // Fraud, by the rules (冒充) or by the model (安全账户, 洗钱: the model
        // learnt them from the dev split; as rule terms they would weigh
        // less in incident matching).
        for text in [
            "冒充公安、冒充警察打电话说我涉嫌洗钱，让我转账到安全账户",
            "接到自称派出所民警的电话，说我的银行卡涉嫌洗钱，要我把钱转到安全账户",
        ] {
            let (got, evidence) = topics("hotline_110", text);
            assert_eq!(got, ["fraud"], "{text}: {evidence:?}");
        }
        assert_eq!(topics("online_message", "今天天气不错").0, ["other"]);
        // Commendation of the police is praise still, named or on a revisit.
        assert!(
            topics("online_message", "民警处理得很及时，态度也好")
                .0
                .contains(&"praise".to_owned())
        );
        assert!(
            topics("sms_revisit", "1，效率很高")
                .0
                .contains(&"praise".to_owned())
        );
        // Thanks for stopping a scam: praise beside fraud, by its words.
        let (mut got, _) = topics(
            "hotline_12345",
            "差点被冒充客服的骗了，多亏反诈民警及时劝阻，非常感谢",
        );
        got.sort();
        assert_eq!(got, ["fraud", "praise"]);
    }

    /// Misconduct reported in plain words is a complaint (docs/TOPICS.md,
    /// sentiment labels); a proposal about conduct is not.
    #[test]
    fn misconduct_reported_plainly_is_a_complaint() {
        let e = enricher();
        let item = |text: &str| {
            e.enrich_value(&json!({"channel": "online_message", "text": text}), now())
                .unwrap()
        };
        let got = item("派出所的人上班时间在里面打扑克，我亲眼看到的");
        assert_eq!(got.sentiment.label, SentimentLabel::Negative, "{got:?}");
        // The text model reads it negative, or the complaint rule does
        // after a neutral reading; either says so.
        assert!(
            got.sentiment
                .evidence
                .iter()
                .any(|e| e == "discipline: reported" || e.starts_with("model: negative")),
            "{got:?}"
        );
        let mut neutral = got.sentiment.clone();
        neutral.label = SentimentLabel::Neutral;
        neutral.evidence.clear();
        e.topics().complaint_of(&got.topic_evidence, &mut neutral);
        assert_eq!(neutral.label, SentimentLabel::Negative);
        assert_eq!(neutral.evidence, ["discipline: reported"]);
        let got = item("建议值班室晚上也安排人值守，别出现脱岗");
        assert_eq!(got.sentiment.label, SentimentLabel::Neutral, "{got:?}");
    }

    #[test]
    fn a_channel_rating_an_unknown_topic_is_refused() {
        let text = PipelineFiles::builtin()
            .text("channels.toml")
            .replace(r#"rates = "business""#, r#"rates = "nope""#);
        let files = PipelineFiles::builtin().with_file("channels.toml", &text);
        let settings = EnrichSettings {
            hmac_key: b"k".to_vec(),
            timezone: crate::config::default_timezone(),
            clock_skew: 600,
        };
        let err = Enricher::new(&files, settings).unwrap_err().to_string();
        assert!(err.contains("rates unknown topic \"nope\""), "{err}");
    }

    #[test]
    fn masked_data_leaves_no_tokens_or_keywords() {
        let item = enricher()
            .enrich_value(
                &json!({"channel": "wechat", "text": "身份证11010519491231002X丢了，\
                    邮箱zhang.san@qq.com，手机13912345678，车牌冀DA1234，请帮忙找回"}),
                now(),
            )
            .unwrap();
        assert_eq!(
            item.text,
            "身份证110***********002X丢了，邮箱z***@qq.com，手机139****5678，车牌冀D***34，请帮忙找回"
        );
        for fragment in [
            "110", "002x", "z", "qq.com", "qq", "139", "5678", "冀", "d", "34",
        ] {
            assert!(
                !item.tokens.iter().any(|t| t == fragment),
                "{fragment} in {:?}",
                item.tokens
            );
        }
        assert!(
            item.tokens.iter().any(|w| w == "身份证"),
            "{:?}",
            item.tokens
        );
        assert!(
            item.keywords.iter().any(|w| w == "身份证"),
            "{:?}",
            item.keywords
        );
        assert!(item.tokens.iter().any(|w| w == "找回"), "{:?}", item.tokens);
    }

    #[test]
    fn modifiers_are_no_keywords() {
        let item = enricher()
            .enrich_value(
                &json!({"channel": "wechat", "text": "户籍窗口实在有点慢，难道就没人管吗？但是民警态度一点都不差"}),
                now(),
            )
            .unwrap();
        for word in ["实在", "有点", "难道", "但是", "一点都不"] {
            assert!(
                !item.keywords.iter().any(|w| w == word),
                "{word} in {:?}",
                item.keywords
            );
        }
        assert!(
            item.keywords.iter().any(|w| w == "户籍窗口"),
            "{:?}",
            item.keywords
        );
        // Still content, for search.
        assert!(item.tokens.iter().any(|w| w == "有点"), "{:?}", item.tokens);
    }

    #[test]
    fn replies_are_not_parsed_on_other_channels() {
        let item = enricher()
            .enrich_value(
                &json!({"channel": "hotline_12345", "text": "3，出警太慢"}),
                now(),
            )
            .unwrap();
        assert_eq!(item.rating, None);
        assert_eq!(item.text, "3，出警太慢");
    }

    #[test]
    fn empty_items_are_rejected() {
        let e = enricher();
        assert_eq!(
            e.enrich_value(&json!({"channel": "wechat", "text": "  "}), now())
                .unwrap_err(),
            Reject::Empty
        );
        assert_eq!(
            e.enrich_value(&json!({"channel": "wechat"}), now())
                .unwrap_err(),
            Reject::Empty
        );
        assert_eq!(
            e.enrich_value(
                &json!({"channel": "wechat", "text": "\u{0}\u{200b}\u{feff}\t"}),
                now()
            )
            .unwrap_err(),
            Reject::Empty
        );
        assert!(
            e.enrich_value(&json!({"channel": "sms_revisit", "rating": 2}), now())
                .is_ok()
        );
    }

    #[test]
    fn bytes_errors_are_precise() {
        let e = enricher();
        assert!(matches!(
            e.enrich_bytes(b"{\"channel\":", now()),
            Err(Reject::Json(_))
        ));
        assert_eq!(
            e.enrich_bytes(b"{\"a\":\"\xff\"}", now()).unwrap_err(),
            Reject::Utf8(6)
        );
    }

    #[test]
    fn contact_is_hashed_never_kept() {
        let item = enricher()
            .enrich_value(
                &json!({"channel": "wechat", "text": "谢谢", "contact": "13812345678"}),
                now(),
            )
            .unwrap();
        let out = serde_json::to_string(&item).unwrap();
        assert!(!out.contains("13812345678"));
        assert_eq!(item.contact_hash.unwrap().len(), 64);
    }

    #[test]
    fn ids_are_stable_and_sent_ids_kept() {
        let e = enricher();
        let v = json!({"channel": "wechat", "text": "谢谢", "received_at": "2025-06-01T09:00:00+08:00"});
        assert_eq!(
            e.enrich_value(&v, now()).unwrap().id,
            e.enrich_value(&v, now()).unwrap().id
        );
        // The derivation is part of the contract: stored items keep their
        // ids across versions (SHA-256 of channel, time, text and rating).
        assert_eq!(
            e.enrich_value(&v, now()).unwrap().id,
            "h-5254da70265164ad8740338a"
        );
        let v = json!({"channel": "wechat", "text": "谢谢", "id": "wx-1"});
        assert_eq!(e.enrich_value(&v, now()).unwrap().id, "wx-1");

        // Two callers whose texts differ only in their masked numbers, or
        // the same reply from two phones in one second, are two items; a
        // re-sent copy is one.
        let id = |v: Value| e.enrich_value(&v, now()).unwrap().id;
        let call = |text: &str, contact: Option<&str>| {
            json!({"channel": "hotline_12345", "text": text, "contact": contact,
                   "received_at": "2025-06-01T09:00:00+08:00"})
        };
        let a = call("我的电话13812345678 请回电", None);
        let b = call("我的电话13800005678 请回电", None);
        assert_ne!(id(a.clone()), id(b));
        assert_eq!(id(a.clone()), id(a));
        let reply = |contact| {
            json!({"channel": "sms_revisit", "text": "1", "contact": contact,
                   "received_at": "2025-06-01T09:00:00+08:00"})
        };
        assert_ne!(id(reply("13812345678")), id(reply("13912345678")));
        assert_eq!(id(reply("13812345678")), id(reply("13812345678")));
        // The key is in it: another deployment's ids are other ids.
        let other = Enricher::builtin(b"another key").unwrap();
        let c = call("我的电话13812345678 请回电", None);
        assert_ne!(other.enrich_value(&c, now()).unwrap().id, id(c));
    }

    #[test]
    fn references_holding_personal_data_stay_apart() {
        let e = enricher();
        let reply = |case_ref: &str| {
            e.enrich_value(
                &json!({"channel": "sms_revisit", "text": "3", "case_ref": case_ref}),
                now(),
            )
            .unwrap()
            .case_ref
            .unwrap()
        };
        let (a, b) = (reply("15011115678"), reply("15022225678"));
        assert_ne!(a, b, "two cases, not one masked alike");
        assert!(a.starts_with("p-") && !a.contains("5678"), "{a}");
        // A reply names its order by the id the order was stored under.
        let order = e
            .parse_event(
                &json!({"order_id": "15011115678", "event": "created"}),
                now(),
            )
            .unwrap();
        assert_eq!(order.order_id, a);
        // Case numbers are kept as sent.
        assert_eq!(reply("J13010020241120001"), "J13010020241120001");
    }

    #[test]
    fn a_masked_names_surname_is_no_keyword() {
        let item = enricher()
            .enrich_value(
                &json!({"channel": "hotline_12345", "text": "我叫欧阳娜娜，民警态度很差"}),
                now(),
            )
            .unwrap();
        assert_eq!(item.text, "我叫欧阳**，民警态度很差");
        assert!(
            !item.keywords.iter().any(|k| k.contains("欧阳")),
            "{:?}",
            item.keywords
        );
        assert!(
            !item.tokens.iter().any(|k| k.contains("欧阳")),
            "{:?}",
            item.tokens
        );
        assert!(
            item.keywords.iter().any(|k| k == "民警"),
            "{:?}",
            item.keywords
        );
    }

    #[test]
    fn ids_holding_personal_data_become_pseudonyms() {
        let e = enricher();
        for id in [
            "13812345678",
            "110101199003071234", // an ID number, its check digit wrong
            "11010519491231002X",
            "冀D12345",
            "probe-王小明-冀D12345",
            "zhang.san@qq.com",
            "4111111111111111",
        ] {
            let safe = e.safe_id(id.to_owned());
            assert!(safe.starts_with("p-") && safe.len() == 26, "{id}: {safe}");
        }
        for id in [
            "J13010020241120001",
            "HD20241120000123",
            "202411200000012345",
            "wx-1",
            "12345-20261203-0001",
        ] {
            assert_eq!(e.safe_id(id.to_owned()), id);
        }
    }

    #[test]
    fn tokens_outside_the_lexicon_are_described_alike_either_way() {
        let e = enricher();
        let texts = [
            "邯山街上三轮车抛锚，十几万的保健品被骗，诈骗案证据不足！！",
            "民警都说会处理，结果好几年了都没人管……真棒“服务”",
            "APP上办个户籍证明要排四十分钟，KTV门口1101飙车",
            "鸭嘴兽骑着独轮车去撒哈拉沙漠看极光，袋鼠和企鹅在旁边跳华尔兹",
        ];
        let mut outside = 0;
        for text in texts {
            for t in e.tokenizer.cut(text) {
                if e.lexicon.get(t).is_none() {
                    outside += 1;
                    assert_eq!(e.describe(t, false), e.describe(t, true), "{t}");
                }
            }
        }
        assert!(outside >= 10, "only {outside} tokens outside the lexicon");
        // Listed only to be found at once: a number, a star — as a listed
        // token is described (a number the model weighs, `w:12`, carries
        // its feature).
        for t in ["0", "7", "12", "138", "0001", "5678", "9999", "*"] {
            assert_eq!(e.lexicon.get(t), Some(&e.describe(t, true)), "{t}");
        }
    }

    #[test]
    fn the_id_hash_writes_times_as_chrono_does() {
        let check = |t: DateTime<FixedOffset>| {
            let mut out = [0u8; RFC3339_MAX];
            if let Some(n) = write_rfc3339(t, &mut out) {
                assert_eq!(std::str::from_utf8(&out[..n]).unwrap(), t.to_rfc3339());
                true
            } else {
                false
            }
        };
        for text in [
            "2025-06-01T09:00:00+08:00",
            "2025-06-01T09:00:00.5+08:00",
            "2025-06-01T09:00:00.000120Z",
            "2025-06-01T09:00:00.000000001-05:30",
            "0000-01-01T00:00:00+00:00",
            "9999-12-31T23:59:59.999999999+14:00",
        ] {
            assert!(check(DateTime::parse_from_rfc3339(text).unwrap()), "{text}");
        }
        // chrono's own ways: a leap second, an offset with seconds, a year
        // past 9999.
        let leap = DateTime::parse_from_rfc3339("2016-12-31T23:59:60+00:00").unwrap();
        assert!(!check(leap));
        let odd = FixedOffset::east_opt(3600 + 30).unwrap();
        assert!(!check(leap.with_timezone(&odd)));
        let far = chrono::NaiveDate::from_ymd_opt(10000, 1, 1).unwrap();
        assert!(!check(
            far.and_hms_opt(0, 0, 0).unwrap().and_utc().fixed_offset()
        ));
    }

    proptest::proptest! {
        #[test]
        fn the_id_hash_writes_any_time_as_chrono_does(
            secs in -62_000_000_000i64..253_000_000_000,
            nanos in proptest::prop_oneof![
                proptest::strategy::Just(0u32),
                (0u32..1000).prop_map(|m| m * 1_000_000),
                (0u32..1_000_000).prop_map(|u| u * 1000),
                0u32..1_000_000_000,
            ],
            offset_minutes in -1439i32..=1439,
        ) {
            let zone = FixedOffset::east_opt(offset_minutes * 60).unwrap();
            let t = DateTime::from_timestamp(secs, nanos).unwrap().with_timezone(&zone);
            let mut out = [0u8; RFC3339_MAX];
            let n = write_rfc3339(t, &mut out);
            proptest::prop_assert!(n.is_some(), "{t:?}");
            proptest::prop_assert_eq!(
                std::str::from_utf8(&out[..n.unwrap()]).unwrap(),
                t.to_rfc3339()
            );
        }
    }

    #[test]
    fn sent_district_wins_over_text() {
        let item = enricher()
            .enrich_value(
                &json!({"channel": "wechat", "text": "峰峰的路口", "district": "磁县"}),
                now(),
            )
            .unwrap();
        assert_eq!(item.district.as_deref(), Some("磁县"));
    }
}
