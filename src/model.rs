//! The data contracts of docs/DESIGN.md as Rust types: what a producer sends
//! ([`RawFeedback`]) and what every consumer of the enrichment reads
//! ([`EnrichedItem`]). Field names here are the wire names; changing one
//! breaks stored data, the API and the dashboards.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// The explicit satisfaction rating of the SMS / phone revisit
/// ("满意回1;基本满意回2;不满意回3"). Serialized as the number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Rating {
    /// 1 满意
    Satisfied,
    /// 2 基本满意
    BasicallySatisfied,
    /// 3 不满意
    Dissatisfied,
}

impl Rating {
    pub fn from_number(n: u8) -> Option<Rating> {
        match n {
            1 => Some(Rating::Satisfied),
            2 => Some(Rating::BasicallySatisfied),
            3 => Some(Rating::Dissatisfied),
            _ => None,
        }
    }

    pub fn number(self) -> u8 {
        match self {
            Rating::Satisfied => 1,
            Rating::BasicallySatisfied => 2,
            Rating::Dissatisfied => 3,
        }
    }

    /// Counts towards 满意率 (satisfied or basically satisfied).
    pub fn is_satisfied(self) -> bool {
        self != Rating::Dissatisfied
    }
}

impl Serialize for Rating {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(self.number())
    }
}

impl<'de> Deserialize<'de> for Rating {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let n = u8::deserialize(d)?;
        Rating::from_number(n)
            .ok_or_else(|| serde::de::Error::custom(format!("rating must be 1, 2 or 3, got {n}")))
    }
}

/// One validated raw feedback item. Built only by
/// [`crate::enrich::validate::parse_raw`], so every value here has passed
/// the checks of the contract (channel known, text bounded, ...).
#[derive(Debug, Clone, PartialEq)]
pub struct RawFeedback {
    pub id: Option<String>,
    pub channel: String,
    pub received_at: Option<DateTime<FixedOffset>>,
    pub text: String,
    pub rating: Option<Rating>,
    pub district: Option<String>,
    pub unit: Option<String>,
    pub case_ref: Option<String>,
    pub contact: Option<String>,
}

/// The kinds of personal data the masker recognises; `pii` on an item lists
/// the kinds that were found and masked in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PiiKind {
    Mobile,
    Landline,
    IdNumber,
    BankCard,
    LongNumber,
    Plate,
    Email,
    /// A passport or permit number after its label (护照号E12345678).
    Document,
    /// A QQ number or WeChat id after its label (QQ号123456789).
    Account,
    /// A person's name after a cue (我叫王小明).
    Name,
    /// An address's house, building, unit or room number.
    Address,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SentimentLabel {
    Positive,
    Neutral,
    Negative,
}

impl SentimentLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            SentimentLabel::Positive => "positive",
            SentimentLabel::Neutral => "neutral",
            SentimentLabel::Negative => "negative",
        }
    }

    pub fn parse(s: &str) -> Option<SentimentLabel> {
        match s {
            "positive" => Some(SentimentLabel::Positive),
            "neutral" => Some(SentimentLabel::Neutral),
            "negative" => Some(SentimentLabel::Negative),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sentiment {
    pub label: SentimentLabel,
    /// In [-1, 1]; negative means dissatisfied.
    pub score: f32,
    /// Human-readable reasons, e.g. `"态度恶劣 -2"`, `"不…及时 -0.8"`,
    /// `"rating 3"`: what an analyst needs to trust or correct the label.
    pub evidence: Vec<String>,
}

/// A word of an item (a content token, a keyword): up to 24 bytes (eight
/// Chinese characters) it is held inline, without an allocation of its own —
/// enrichment makes a dozen a item, and their allocations were a measurable
/// part of its cost.
pub type Word = compact_str::CompactString;

/// A topic tag with the terms that triggered it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicTag {
    pub code: String,
    pub score: f32,
    pub evidence: Vec<String>,
}

impl TopicTag {
    /// A tag of the topic model alone (its evidence is the model's
    /// features, `model:…`): a guess from the words, not a matter the
    /// rules found.
    pub fn by_model_alone(&self) -> bool {
        !self.evidence.is_empty() && self.evidence.iter().all(|e| e.starts_with("model:"))
    }
}

/// The enriched item: the raw fields (text PII-masked, contact hashed) plus
/// what enrichment derived. This is the row of the store and the output of
/// `minyi enrich`; the SSE `item` event carries a compact, shortened form of
/// it ([`crate::live::compact_item`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnrichedItem {
    pub id: String,
    pub channel: String,
    /// RFC 3339 with the producer's zone kept.
    pub received_at: DateTime<FixedOffset>,
    /// PII-masked. For revisit replies, the text after the rating ("3，出警太慢" → "出警太慢").
    pub text: String,
    pub rating: Option<Rating>,
    /// A district of the gazetteer (its canonical name), or None (未识别).
    pub district: Option<String>,
    /// A unit of the gazetteer, or None.
    pub unit: Option<String>,
    pub case_ref: Option<String>,
    /// Places the producer sent that the gazetteer does not know, masked
    /// (`district: 138****5678`): never a dimension value — the item counts
    /// as unknown there — but kept for the analyst and the gazetteer's
    /// keeper.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unknown_places: Vec<String>,
    /// HMAC-SHA256 of the normalised contact under the deployment's key, hex.
    pub contact_hash: Option<String>,
    /// Kinds of personal data masked in `text` (sorted, unique).
    pub pii: Vec<PiiKind>,
    /// Content tokens (no stop words, no punctuation), in text order.
    pub tokens: Vec<Word>,
    /// Top terms by TF-IDF, best first.
    pub keywords: Vec<Word>,
    /// Topic codes, multi-label, best first; `["other"]` when nothing matched.
    pub topics: Vec<String>,
    /// The evidence for each code in `topics`, same order.
    pub topic_evidence: Vec<TopicTag>,
    pub sentiment: Sentiment,
    pub ingested_at: DateTime<FixedOffset>,
    /// Shared by every item of one enricher (one allocation, not one per item).
    pub model_version: std::sync::Arc<str>,
}
