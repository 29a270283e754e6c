//! Same-event incidents (同一事件): twenty reports of one broken traffic light
//! are one incident, a wave of one 冒充公安 script is one incident.
//!
//! In: enriched items, each read once into a [`Signature`] (its time, the
//! street-level places its text names, its district and topics, and its
//! content words weighted by IDF, each word by its synonym group). Out: for
//! each item its incident, or none when it stands alone.
//!
//! **The rule.** Each item links to the most similar *earlier* item — by
//! (`received_at`, `id`) — received at most `incident_window_hours` before
//! it, when the two are similar enough ([`Matcher::similar`]; the most
//! similar by `Likeness`, the later on a tie); an incident is
//! a chain of links, named after its first item ([`incident_id`]). An item
//! nothing links to and that links to nothing is alone (`incident_id`
//! null). Which earlier item an item links to depends only on the two
//! items' signatures and times, never on what other items were assigned,
//! so the incidents are a pure function of the *set* of items: any order of
//! arrival, any split between processes, gives the same incidents.
//!
//! **Similar enough** means the same matter at the same spot, and keeps
//! apart the hard negatives: the same road with another problem (the
//! places agree, the problem words do not), the same scam family with
//! another script (冒充公安 both, but 安全账户 against 快递藏毒), the same
//! topic in the same district on another matter (no shared place, few
//! shared words). Two items that both name street places must share one,
//! and then a few shared problem words suffice; a shared police station
//! vouches for less (it hears many matters a day); without a place the
//! items must share much more. Topic terms (诈骗, 冒充, 红绿灯) weigh
//! little: they say what kind of matter, which every event of the kind
//! shares. The thresholds are held by the labelled set
//! `tests/data/incidents/` (`tests/it/incidents.rs`).
//!
//! **Incremental and late items.** [`Assigner`] keeps the items of the last
//! two windows and an index from places and words to them. An item in time
//! order costs one nearest-neighbour search over the items that share a
//! place or one of its rarest words. An item arriving late (earlier than
//! items already assigned) also becomes the neighbour of later items where
//! it is the better match; the chains after it are recomputed and every
//! item whose incident changed is reported, so the state equals what the
//! items in time order would have given. An item later than the kept span
//! (two windows behind the newest) is linked against what is kept.

use std::collections::BTreeMap;
use std::sync::Arc;

use rustc_hash::{FxHashMap as HashMap, FxHasher};
use sha2::{Digest, Sha256};

use crate::enrich::Enricher;
use crate::model::EnrichedItem;

pub use crate::config::DEFAULT_INCIDENT_WINDOW_HOURS as DEFAULT_WINDOW_HOURS;

/// Words of one item compared at most (the rarest first): a letter of two
/// thousand characters is compared by its 32 most telling words, so the
/// cost of an item is bounded whatever its length.
const MAX_TERMS: usize = 32;
/// Words of an item looked up in the index to find candidates (its rarest).
const PROBE_TERMS: usize = 4;
/// Candidates per index entry, the most recent: a word that half the
/// window's items share (诈骗 in a scam wave) does not make an item cost
/// half the window.
const PROBE_DEPTH: usize = 8;

/// The incident id of a chain whose first item is `first_item_id`: `i-` and
/// 16 hex digits of its SHA-256. Stable (any process derives it alike) and
/// uniform whatever the item id looks like.
pub fn incident_id(first_item_id: &str) -> String {
    let digest = Sha256::digest(first_item_id.as_bytes());
    format!("i-{}", hex::encode(&digest[..8]))
}

/// Whether `s` has the shape of an [`incident_id`].
pub fn is_incident_id(s: &str) -> bool {
    s.len() == 18
        && s.starts_with("i-")
        && s[2..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The kinds of matter the rules found for an item: a tag of the topic
/// model alone (evidence `model:…`) is a guess, too loose to keep two
/// reports apart or bring them together.
pub fn rule_topics(topics: &[String], evidence: &[crate::model::TopicTag]) -> Vec<String> {
    let model_only = |code: &String| {
        evidence
            .iter()
            .any(|t| t.code == *code && t.by_model_alone())
    };
    topics.iter().filter(|t| !model_only(t)).cloned().collect()
}

/// The parts of an item a [`Signature`] reads.
#[derive(Debug, Clone, Copy)]
pub struct Parts<'a> {
    pub id: &'a str,
    /// `received_at` in milliseconds since the epoch.
    pub at: i64,
    /// The masked text.
    pub text: &'a str,
    /// Its content tokens ([`Enricher::content_tokens`]).
    pub tokens: &'a [crate::model::Word],
    pub district: Option<&'a str>,
    /// Its topics as the rules found them ([`rule_topics`]).
    pub topics: &'a [String],
}

/// What assignment reads of an item.
#[derive(Debug, Clone, PartialEq)]
pub struct Signature {
    pub id: String,
    /// `received_at` in milliseconds since the epoch.
    pub at: i64,
    /// Street-level places named in the text (see
    /// [`crate::enrich::regions::street_places`]), sorted.
    pub places: Vec<String>,
    /// The units (police stations, brigades) the text names, sorted.
    pub units: Vec<String>,
    pub district: Option<String>,
    /// Topic codes, sorted (`other` left out).
    pub topics: Vec<String>,
    /// Content words as hashes of their synonym group, with their weight
    /// as compared without a shared place (topic terms reduced) and at one
    /// (in full); sorted by hash, each once, at most [`MAX_TERMS`].
    terms: Vec<(u64, f32, f32)>,
    /// The sums of the two weights of `terms`.
    mass: (f32, f32),
    /// The index keys it is found by: its rarest words and its places.
    probes: Vec<u64>,
}

impl Signature {
    /// Reads an enriched item: its masked text for places, its content
    /// tokens for words (those inside a place name left out: the place is
    /// compared as a place), the enricher's IDF table and synonym groups
    /// (as `words` holds them).
    pub fn of(item: &EnrichedItem, words: &Vocabulary) -> Signature {
        Signature::read(
            Parts {
                id: &item.id,
                at: item.received_at.timestamp_millis(),
                text: &item.text,
                tokens: &item.tokens,
                district: item.district.as_deref(),
                topics: &rule_topics(&item.topics, &item.topic_evidence),
            },
            words,
        )
    }

    /// [`Signature::of`] from an item's parts (a stored item, read back).
    pub fn read(item: Parts<'_>, words: &Vocabulary) -> Signature {
        let gazetteer = words.enricher.gazetteer();
        let mut places: Vec<String> = crate::enrich::regions::street_places(item.text)
            .into_iter()
            .map(|p| gazetteer.without_district(&p).to_owned())
            .collect();
        let mut terms: Vec<(u64, f32, f32)> = Vec::with_capacity(item.tokens.len() * 3);
        let mut units: Vec<String> = Vec::new();
        // Tokens whose pairs of characters say no more than they do: the
        // names of units and districts (compared as places: 新马头派出所's
        // 马头 and 头派 made two thank-you notes to one station alike) and
        // generic words (派出所's 派出 and 出所 weighed six times 派出所).
        let mut whole: Vec<&str> = Vec::new();
        for token in item.tokens {
            if token
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_punctuation())
                || places.iter().any(|p| p.contains(token.as_str()))
            {
                continue;
            }
            match &*words.token(token) {
                Word::Skip => {}
                // District and unit names are places, compared as such.
                Word::Place(unit) => {
                    whole.push(token);
                    if let Some(unit) = unit
                        && !units.iter().any(|u| **u == **unit)
                    {
                        units.push(unit.to_string());
                    }
                }
                Word::Term(key, weight, full) => terms.push((*key, *weight, *full)),
                Word::Generic(key) => {
                    whole.push(token);
                    terms.push((*key, GENERIC_WEIGHT, GENERIC_WEIGHT));
                }
            }
        }
        // Pairs of characters: two reports of one event share them where
        // their words were cut differently (陵园路路灯 as 路路 + 灯) or say
        // the same with other words around it (电子警察 and 电子眼).
        let mut chars = item.text.chars();
        let mut last = chars.next();
        for c in chars {
            let Some(first) = last.replace(c) else {
                continue;
            };
            if ![first, c]
                .iter()
                .all(|c| is_han(*c) && !is_function_char(*c))
            {
                continue;
            }
            let mut buf = [0u8; 8];
            let len = first.encode_utf8(&mut buf).len();
            let len = len + c.encode_utf8(&mut buf[len..]).len();
            let word = std::str::from_utf8(&buf[..len]).expect("two chars");
            if places.iter().any(|p| p.contains(word)) || whole.iter().any(|t| t.contains(word)) {
                continue;
            }
            // A pair is a term or nothing (`describe_pair` weighs a generic
            // pair as a term of its own weight).
            if let Word::Term(key, weight, full) = words.pair(first, c, word) {
                terms.push((key, weight, full));
            }
        }
        terms.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.2.total_cmp(&a.2)));
        terms.dedup_by_key(|t| t.0);
        if terms.len() > MAX_TERMS {
            terms.sort_unstable_by(|a, b| b.2.total_cmp(&a.2).then(a.0.cmp(&b.0)));
            terms.truncate(MAX_TERMS);
            terms.sort_unstable_by_key(|t| t.0);
        }
        // Kept for two windows: the room for three entries a token (a
        // letter's thousand) would stay with it.
        terms.shrink_to_fit();
        places.sort();
        units.sort();
        let mut topics: Vec<String> = item
            .topics
            .iter()
            .filter(|t| *t != "other")
            .cloned()
            .collect();
        topics.sort();
        // The PROBE_TERMS heaviest (ties: the smaller key), heaviest first:
        // one pass keeping the best few, not a sort of them all.
        let heavier = |a: &(u64, f32, f32), b: &(u64, f32, f32)| {
            b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)).is_lt()
        };
        let mut best: Vec<&(u64, f32, f32)> = Vec::with_capacity(PROBE_TERMS + 1);
        for t in &terms {
            if best.len() == PROBE_TERMS && !heavier(t, best[PROBE_TERMS - 1]) {
                continue;
            }
            let at = best.partition_point(|b| heavier(b, t));
            best.insert(at, t);
            best.truncate(PROBE_TERMS);
        }
        let probes = best
            .into_iter()
            .map(|t| t.0)
            .chain(places.iter().map(|p| hash(p) ^ PLACE_SALT))
            .collect();
        Signature {
            probes,
            topics,
            id: item.id.to_owned(),
            at: item.at,
            places,
            units,
            district: item.district.map(str::to_owned),
            mass: (
                terms.iter().map(|t| t.1).sum(),
                terms.iter().map(|t| t.2).sum(),
            ),
            terms,
        }
    }

    /// The keys to look up in the index: the rarest few words and the
    /// places.
    fn probes(&self) -> &[u64] {
        &self.probes
    }
}

/// How a signature weighs a word (one of an item's tokens, or a pair of
/// its characters).
#[derive(Debug, Clone)]
enum Word {
    /// Says nothing of which event: a word of position (门口, 附近), or a
    /// pair inside a district or unit name.
    Skip,
    /// A district or unit name, compared as a place: the unit it names.
    Place(Option<Box<str>>),
    /// A word, by its synonym group's key, with its weights without and at
    /// a shared place.
    Term(u64, f32, f32),
    /// A word of the domain's every item (民警, 派出所: `dict/generic.txt`),
    /// by its key: it weighs little, and so do the pairs inside it.
    Generic(u64),
}

/// The enricher's words as signatures weigh them, worked out once: a
/// token is one lookup here instead of one each in the synonym groups, the
/// lexicon and the generic words, and a pair of characters one lookup by
/// the two characters, with no text hashed. Words outside it are weighed
/// as they come, alike.
pub struct Vocabulary {
    enricher: Arc<Enricher>,
    tokens: HashMap<Box<str>, Word>,
    /// The pairs of characters that are words the enricher knows (by
    /// [`pair_key`]): a pair missing here is no word of it.
    pairs: HashMap<u64, Word>,
    /// False: the tables are empty, each word is weighed as it comes (the
    /// reference the tables are tested against).
    memo: bool,
}

impl std::fmt::Debug for Vocabulary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vocabulary")
            .field("tokens", &self.tokens.len())
            .field("pairs", &self.pairs.len())
            .finish()
    }
}

impl Vocabulary {
    pub fn new(enricher: Arc<Enricher>) -> Vocabulary {
        let mut tokens = HashMap::default();
        let mut pairs = HashMap::default();
        let e = &*enricher;
        for word in e.known_words().chain(POSITION_WORDS.iter().copied()) {
            if tokens.contains_key(word) {
                continue;
            }
            tokens.insert(word.into(), describe_token(e, word));
            let mut chars = word.chars();
            if let (Some(a), Some(b), None) = (chars.next(), chars.next(), chars.next()) {
                pairs.insert(pair_key(a, b), describe_pair(e, word));
            }
        }
        Vocabulary {
            enricher,
            tokens,
            pairs,
            memo: true,
        }
    }

    /// Without the tables: every word weighed as it comes.
    #[cfg(test)]
    fn unmemoized(enricher: Arc<Enricher>) -> Vocabulary {
        Vocabulary {
            enricher,
            tokens: HashMap::default(),
            pairs: HashMap::default(),
            memo: false,
        }
    }

    pub fn enricher(&self) -> &Enricher {
        &self.enricher
    }

    fn token(&self, token: &str) -> std::borrow::Cow<'_, Word> {
        match self.tokens.get(token) {
            Some(word) => std::borrow::Cow::Borrowed(word),
            None => std::borrow::Cow::Owned(describe_token(&self.enricher, token)),
        }
    }

    /// The pair `a` `b`, written as `word`.
    fn pair(&self, a: char, b: char, word: &str) -> Word {
        if !self.memo {
            return describe_pair(&self.enricher, word);
        }
        match self.pairs.get(&pair_key(a, b)) {
            Some(known) => known.clone(),
            None => no_word_pair(word),
        }
    }
}

fn pair_key(a: char, b: char) -> u64 {
    (u64::from(a) << 32) | u64::from(b)
}

/// How a signature weighs one token of an item.
fn describe_token(enricher: &Enricher, token: &str) -> Word {
    let word = enricher.synonym(token);
    if is_position_word(word) {
        return Word::Skip;
    }
    let lexicon = enricher.lexicon();
    let info = lexicon.get(word).or_else(|| lexicon.get(token));
    if info.is_some_and(|i| !i.places.is_empty()) {
        return Word::Place(
            enricher
                .gazetteer()
                .unit_named(token)
                .map(|(unit, _)| unit.into()),
        );
    }
    if enricher.is_generic_word(token) {
        return Word::Generic(hash(word));
    }
    let (weight, full) = word_weight(info);
    Word::Term(hash(word), weight, full)
}

/// How a signature weighs a pair of characters (`word`) of an item's text.
fn describe_pair(enricher: &Enricher, word: &str) -> Word {
    if is_position_word(word) {
        return Word::Skip;
    }
    let word = enricher.synonym(word);
    let Some(info) = enricher.lexicon().get(word) else {
        return no_word_pair(word);
    };
    if !info.places.is_empty() {
        return Word::Skip;
    }
    let (w, f) = if enricher.is_generic_word(word) {
        (GENERIC_WEIGHT, GENERIC_WEIGHT)
    } else {
        word_weight(Some(info))
    };
    Word::Term(
        hash(word) ^ PAIR_SALT,
        PAIR_WEIGHT * w / 7.0,
        PAIR_WEIGHT * f / 7.0,
    )
}

/// How a signature weighs a pair of characters that is no word of the
/// enricher's: half a pair's weight, at and away from a place.
fn no_word_pair(pair: &str) -> Word {
    Word::Term(hash(pair) ^ PAIR_SALT, PAIR_WEIGHT * 0.5, PAIR_WEIGHT * 0.5)
}

/// The IDF below which a word weighs (almost) nothing: a rare word (IDF
/// 11) weighs 7, an ordinary one (IDF 6) 2.
const IDF_FLOOR: f32 = 4.0;

/// What a word says of which event: more the rarer it is (IDF − 4: a rare
/// word weighs 7, an ordinary one 2), little for the domain's generic words
/// (民警, 办理), and — compared without a shared place — less for a
/// topic's terms (诈骗, 冒充, 红绿灯): they say what kind of matter, which
/// every event of that kind shares. At one place the kind of matter is
/// what tells two events apart, so there they weigh in full (the second
/// weight).
fn word_weight(info: Option<&crate::enrich::lexicon::TokenInfo>) -> (f32, f32) {
    let idf = info.map_or(crate::enrich::tokenize::DEFAULT_IDF, |i| i.idf);
    let weight = (idf - IDF_FLOOR).max(0.25);
    if info.is_some_and(|i| !i.terms.is_empty()) {
        (weight * TOPIC_TERM_FACTOR, weight)
    } else {
        (weight, weight)
    }
}

/// The weight of a generic word (民警, 办理), at and away from a place.
const GENERIC_WEIGHT: f32 = 0.25;

/// How much a topic's term weighs beside another word as rare.
pub const TOPIC_TERM_FACTOR: f32 = 0.4;

/// Words that say where at a place (门口, 路口, 附近): two reports of
/// different matters at one place share them as often as two of one.
const POSITION_WORDS: &[&str] = &[
    "门口",
    "路口",
    "路边",
    "附近",
    "旁边",
    "广场",
    "出口",
    "入口",
    "出站口",
    "进站口",
    "东门",
    "西门",
    "南门",
    "北门",
    "路段",
    "一带",
    "周边",
    "对面",
    "路上",
    "街上",
    "里面",
    "外面",
    "那边",
    "这边",
    "段",
    "口",
    "站口",
    "路面",
    "马路",
    "晚上",
    "每天",
    "夜里",
    "半夜",
    "早上",
];

fn is_position_word(word: &str) -> bool {
    POSITION_WORDS.contains(&word)
}

/// The weight of a pair of characters that is a rare word (less for a
/// common word, half for a pair that is no word).
const PAIR_WEIGHT: f32 = 3.0;

/// Characters that carry no content of their own: pairs with them are
/// left out.
fn is_function_char(c: char) -> bool {
    matches!(
        c,
        '的' | '了'
            | '着'
            | '过'
            | '是'
            | '在'
            | '和'
            | '与'
            | '及'
            | '我'
            | '你'
            | '他'
            | '她'
            | '它'
            | '们'
            | '这'
            | '那'
            | '个'
            | '也'
            | '都'
            | '就'
            | '还'
            | '又'
            | '很'
            | '吗'
            | '呢'
            | '吧'
            | '啊'
            | '呀'
            | '把'
            | '被'
            | '让'
            | '给'
            | '对'
            | '从'
            | '到'
            | '向'
            | '说'
            | '有'
    )
}

fn is_han(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Keeps pairs of characters apart from words in the terms.
const PAIR_SALT: u64 = 0x51_7cc1_b727_220a;

/// Keeps place keys apart from word keys in the index.
const PLACE_SALT: u64 = 0x9e37_79b9_7f4a_7c15;

fn hash(word: &str) -> u64 {
    use std::hash::Hasher;
    let mut h = FxHasher::default();
    h.write(word.as_bytes());
    h.finish()
}

/// When two items are one event. The thresholds were chosen on the
/// labelled set `tests/data/incidents/` and are held there by a test.
#[derive(Debug, Clone)]
pub struct Matcher {
    /// Items further apart than this (milliseconds) are never linked.
    pub window_ms: i64,
    /// The weight of shared words (a rare word weighs about 7) two items
    /// that name one street place need: the place vouches for half.
    pub at_place: f32,
    /// The same when they name one unit (police station) and no shared
    /// street place.
    pub at_unit: f32,
    /// The same when no shared place vouches for them.
    pub without_place: f32,
    /// The shared weight as a share of the smaller item's, at least: a long
    /// letter shares a few words with everything.
    pub min_share: f32,
    /// Whether two items tagged with topics must share one.
    pub same_topic: bool,
}

impl Matcher {
    pub fn new(window_hours: u32) -> Matcher {
        Matcher {
            window_ms: i64::from(window_hours) * 3_600_000,
            at_place: 3.5,
            at_unit: 5.0,
            without_place: 15.0,
            min_share: 0.05,
            same_topic: true,
        }
    }

    /// How alike two items are (the weight of what they share, a shared
    /// place counting as much as a rare word), or None when they cannot be
    /// one event: too far apart in time, different spots, too little
    /// shared.
    pub fn similar(&self, a: &Signature, b: &Signature) -> Option<f32> {
        self.likeness(a, b).map(|l| l.shared)
    }

    /// How alike two items are ([`Likeness`]), or None when they cannot be
    /// one event ([`Matcher::similar`]).
    fn likeness(&self, a: &Signature, b: &Signature) -> Option<Likeness> {
        self.similar_above(a, b, Likeness::NONE)
    }

    /// [`Matcher::likeness`] when it exceeds `floor`, else None — sooner
    /// where the words' weights show it cannot (a nearest-neighbour search
    /// skips most candidates without comparing their words).
    fn similar_above(&self, a: &Signature, b: &Signature, floor: Likeness) -> Option<Likeness> {
        if (a.at - b.at).abs() > self.window_ms {
            return None;
        }
        let both_placed = !a.places.is_empty() && !b.places.is_empty();
        let shared_place = both_placed
            && a.places
                .iter()
                .any(|p| b.places.iter().any(|q| same_place(p, q)));
        if both_placed && !shared_place {
            return None;
        }
        // Two junctions of one road are two spots: 人民路与中华大街 is not
        // 人民路与陵园路.
        let roads = |s: &'_ Signature| s.places.iter().filter(|p| is_road(p)).count();
        if roads(a) >= 2
            && roads(b) >= 2
            && a.places
                .iter()
                .any(|p| is_road(p) && !b.places.iter().any(|q| same_place(p, q)))
            && b.places
                .iter()
                .any(|q| is_road(q) && !a.places.iter().any(|p| same_place(p, q)))
        {
            return None;
        }
        // Items in different districts are different spots, even when
        // they name a place alike: every county town has its 北环路 and
        // 人民路 (a spot on a boundary is filed under one district).
        if let (Some(da), Some(db)) = (&a.district, &b.district)
            && da != db
            && (!a.places.is_empty() || !b.places.is_empty())
        {
            return None;
        }
        // Reports of one event are of one kind: two items tagged with
        // topics share one.
        if self.same_topic
            && !a.topics.is_empty()
            && !b.topics.is_empty()
            && !a.topics.iter().any(|t| b.topics.contains(t))
        {
            return None;
        }
        // Reports naming two different stations are about two matters;
        // one station named by both vouches for less than a street place
        // (a station hears many matters a day).
        let both_units = !a.units.is_empty() && !b.units.is_empty();
        let shared_unit = both_units && a.units.iter().any(|u| b.units.contains(u));
        if both_units && !shared_unit {
            return None;
        }
        let placed = shared_place || shared_unit;
        let (mass_a, mass_b) = if placed {
            (a.mass.1, b.mass.1)
        } else {
            (a.mass.0, b.mass.0)
        };
        let needed = if shared_place {
            self.at_place
        } else if shared_unit {
            self.at_unit
        } else {
            self.without_place
        };
        let bonus = if shared_place { 7.0 } else { 0.0 };
        // The shared weight is at most the smaller mass, exactly: both sum
        // the same terms in the same order, the shared sum each at its
        // smaller weight or not at all, and rounding is monotone (so is the
        // division by the larger mass).
        let most = mass_a.min(mass_b);
        let larger = mass_a.max(mass_b).max(f32::EPSILON);
        // Whether the two say alike where: both name no place, or both
        // one place or unit.
        let spot = u8::from(placed || (a.places.is_empty() && b.places.is_empty()));
        let bound = Likeness {
            shared: most + bonus,
            spot,
            alike: most / larger,
        };
        if most < needed || bound <= floor {
            return None;
        }
        let shared = shared_weight(&a.terms, &b.terms, placed);
        let share = shared / most.max(f32::EPSILON);
        let likeness = Likeness {
            shared: shared + bonus,
            spot,
            alike: shared / larger,
        };
        (shared >= needed && share >= self.min_share && likeness > floor).then_some(likeness)
    }
}

/// How alike two items are, compared first by what they share (the weight
/// of their shared words, a shared place counting as a rare word), then by
/// whether they say alike where (both name no place, or both one place),
/// then by how much of the larger of the two they share: of candidates
/// that share as much with an item, the one that says the same and no
/// more is the nearer. A report that names no place shares as much with a
/// report of its words at an estate (the estate's name is compared as a
/// place, not as words) as with its own twin; linking to the later of the
/// two, a burst of one sentence followed one estate's report, then, after
/// a second report at another estate, that one (two estates never link):
/// two incidents of one matter at one time (seen on the demo: 228 and 137
/// items in 永年区, 00:58–01:22).
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
struct Likeness {
    shared: f32,
    /// 1 when both name no place or share one (or a unit), else 0.
    spot: u8,
    /// `shared` (without the place's bonus) ÷ the larger item's mass.
    alike: f32,
}

impl Likeness {
    /// Below every likeness.
    const NONE: Likeness = Likeness {
        shared: f32::NEG_INFINITY,
        spot: 0,
        alike: f32::NEG_INFINITY,
    };
    /// Above every likeness: a restored link, never beaten.
    const RESTORED: Likeness = Likeness {
        shared: f32::INFINITY,
        spot: 1,
        alike: f32::INFINITY,
    };
}

/// Whether a place is a road or street (a junction is two of them).
fn is_road(place: &str) -> bool {
    ["路", "街", "道"].iter().any(|w| place.ends_with(w))
}

/// Two names of one place: equal, or one the other with more before it
/// (市中心医院 and 中心医院).
fn same_place(a: &str, b: &str) -> bool {
    a.ends_with(b) || b.ends_with(a)
}

/// The summed weight of the words two sorted term lists share (each word
/// at the smaller of its two weights; `full`: the weights at a shared
/// place).
///
/// Without branches on the keys (which of two random hashes is smaller is a
/// coin toss the processor mispredicts half the time): each step adds the
/// shared weight or +0.0, which leaves the sum as it was, so the sum is the
/// one the branching merge makes, bit for bit.
fn shared_weight(a: &[(u64, f32, f32)], b: &[(u64, f32, f32)], full: bool) -> f32 {
    if full {
        merge_sum(a, b, |t| t.2)
    } else {
        merge_sum(a, b, |t| t.1)
    }
}

#[inline(always)]
fn merge_sum(
    a: &[(u64, f32, f32)],
    b: &[(u64, f32, f32)],
    weight: impl Fn(&(u64, f32, f32)) -> f32,
) -> f32 {
    let (mut i, mut j, mut sum) = (0, 0, 0.0f32);
    while i < a.len() && j < b.len() {
        let (x, y) = (&a[i], &b[j]);
        let shared = weight(x).min(weight(y));
        sum += if x.0 == y.0 { shared } else { 0.0 };
        i += usize::from(x.0 <= y.0);
        j += usize::from(y.0 <= x.0);
    }
    sum
}

/// The order of assignment: (`received_at`, `id`).
type Key = (i64, Arc<str>);

#[derive(Debug)]
struct Node {
    sig: Arc<Signature>,
    /// The earlier item this one links to, and how alike they are.
    link: Option<(Key, Likeness)>,
    /// The first item of its chain (itself when it links to nothing).
    root: Arc<str>,
}

/// An incident as the assigner knows it: how many items its chain holds
/// (also those no longer kept).
#[derive(Debug, Clone)]
struct Chain {
    size: u32,
    /// Time of its newest item, for forgetting the chain.
    last_at: i64,
    /// Time of its first item (the root, whose id names the chain): with
    /// the id, the root's key.
    first_at: i64,
    /// Its incident id: the stored id of a restored incident whose first
    /// item was not restored ([`Assigner::restore`]), or else its root's
    /// [`incident_id`], worked out once when the chain reaches two items;
    /// None: not yet (named after its root).
    name: Option<Arc<str>>,
}

/// One item's incident changed: the id to store beside the item (None:
/// alone).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub item_id: String,
    /// The item's `received_at`, milliseconds since the epoch.
    pub at: i64,
    pub incident_id: Option<String>,
}

/// The incremental assigner. Not thread-safe by design: one assigner
/// follows the stored items of a deployment (see docs/DESIGN.md,
/// "Incidents").
#[derive(Debug)]
pub struct Assigner {
    matcher: Matcher,
    nodes: BTreeMap<Key, Node>,
    /// Place and word keys to the kept items holding them, in key order
    /// (with their signatures: a candidate costs no lookup).
    index: HashMap<u64, Vec<(Key, Arc<Signature>)>>,
    chains: HashMap<Arc<str>, Chain>,
    /// The newest time added.
    newest: i64,
}

impl Assigner {
    pub fn new(matcher: Matcher) -> Assigner {
        Assigner {
            matcher,
            nodes: BTreeMap::new(),
            index: HashMap::default(),
            chains: HashMap::default(),
            newest: i64::MIN,
        }
    }

    pub fn matcher(&self) -> &Matcher {
        &self.matcher
    }

    /// Items kept (those of the last two windows, and up to an eighth of a
    /// window more until the next pass forgets them).
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The incident of a kept item (None: alone, or not kept).
    pub fn incident_of(&self, item_id: &str, at: i64) -> Option<String> {
        let node = self.nodes.get(&(at, Arc::from(item_id)))?;
        self.shown(&node.root)
    }

    /// Counts an item received at `at` into the chain of `root` (a new
    /// chain when it has none).
    fn count_into(&mut self, root: &Arc<str>, at: i64) -> &mut Chain {
        let chain = self.chains.entry(root.clone()).or_insert(Chain {
            size: 0,
            last_at: at,
            first_at: at,
            name: None,
        });
        chain.size += 1;
        chain.last_at = chain.last_at.max(at);
        if chain.size >= 2 && chain.name.is_none() {
            chain.name = Some(incident_id(root).into());
        }
        chain
    }

    /// The id an item of chain `root` shows: the incident's, once the chain
    /// holds two items.
    fn shown(&self, root: &Arc<str>) -> Option<String> {
        let chain = self.chains.get(root).filter(|c| c.size >= 2)?;
        Some(match &chain.name {
            Some(name) => name.to_string(),
            None => incident_id(root),
        })
    }

    /// Adds items already assigned, read back from the store after a
    /// restart, each with the incident stored for it (None: alone), in any
    /// order: kept as they were, the neighbours of later items. Each member
    /// of an incident links to the member before it, with a likeness no
    /// late item beats, so a restart renames nothing: a late item can only
    /// link an incident's first member to an earlier chain, as it would
    /// have before the restart. An incident whose first item is not among
    /// them (older than what the caller read) keeps its stored id.
    pub fn restore(&mut self, mut items: Vec<(Signature, Option<String>)>) {
        items.sort_by(|a, b| (a.0.at, &a.0.id).cmp(&(b.0.at, &b.0.id)));
        // Each incident's newest restored member so far.
        let mut last: HashMap<String, Key> = HashMap::default();
        for (sig, incident) in items {
            let key: Key = (sig.at, Arc::from(sig.id.as_str()));
            if self.nodes.contains_key(&key) {
                continue;
            }
            let link = incident.as_ref().and_then(|i| last.get(i)).cloned();
            let root = match &link {
                Some(to) => self.nodes[to].root.clone(),
                None => key.1.clone(),
            };
            let chain = self.count_into(&root, key.0);
            if link.is_none()
                && let Some(id) = &incident
                && *id != incident_id(&root)
            {
                // Its first item was not read: the incident keeps its id,
                // and counts it.
                chain.name = Some(Arc::from(id.as_str()));
                chain.size += 1;
            }
            if let Some(id) = incident {
                last.insert(id, key.clone());
            }
            let sig = Arc::new(sig);
            self.index_node(&key, &sig);
            self.newest = self.newest.max(sig.at);
            self.nodes.insert(
                key,
                Node {
                    sig,
                    link: link.map(|to| (to, Likeness::RESTORED)),
                    root,
                },
            );
        }
        self.forget_old();
    }

    /// Adds one item and returns every item whose incident changed (the
    /// new item first, when it is in an incident). A re-sent item (same
    /// id and time) changes nothing.
    pub fn add(&mut self, sig: Signature) -> Vec<Change> {
        let key: Key = (sig.at, Arc::from(sig.id.as_str()));
        if self.nodes.contains_key(&key) {
            return Vec::new();
        }
        let link = self.nearest(&sig, &key);
        let late = self
            .nodes
            .range((
                std::ops::Bound::Excluded(key.clone()),
                std::ops::Bound::Unbounded,
            ))
            .next()
            .is_some();
        let sig = Arc::new(sig);
        self.index_node(&key, &sig);
        self.newest = self.newest.max(sig.at);
        let root = match &link {
            Some((to, _)) => self.nodes[to].root.clone(),
            None => key.1.clone(),
        };
        self.nodes.insert(
            key.clone(),
            Node {
                sig,
                link,
                root: root.clone(),
            },
        );
        let mut changes = Vec::new();
        if late && self.relink_after(&key) {
            changes = self.recompute_roots_from(&key);
        } else {
            let alone_before = self.chains.get(&root).is_none_or(|c| c.size < 2);
            self.count_into(&root, key.0);
            let after = self.shown(&root);
            if after.is_some() {
                changes.push(Change {
                    item_id: key.1.to_string(),
                    at: key.0,
                    incident_id: after.clone(),
                });
            }
            if alone_before && after.is_some() {
                // The chain held one item, the one this item links to,
                // which stood alone until now.
                if let Some(((first_at, first), _)) = &self.nodes[&key].link {
                    changes.push(Change {
                        item_id: first.to_string(),
                        at: *first_at,
                        incident_id: after,
                    });
                }
            }
        }
        self.forget_old();
        changes
    }

    /// The most similar kept item before `key` within the window, by
    /// (similarity, later key): deterministic whatever the order of adding.
    fn nearest(&self, sig: &Signature, key: &Key) -> Option<(Key, Likeness)> {
        let from = sig.at - self.matcher.window_ms;
        // Each candidate once, though it holds several of the probes.
        let mut candidates: Vec<&(Key, Arc<Signature>)> = Vec::new();
        for probe in sig.probes() {
            let Some(list) = self.index.get(probe) else {
                continue;
            };
            // Items come mostly in time order: the newest of a list is
            // most often before this one.
            let end = if list.last().is_some_and(|(k, _)| k < key) {
                list.len()
            } else {
                list.partition_point(|(k, _)| k < key)
            };
            let recent = &list[end.saturating_sub(PROBE_DEPTH)..end];
            let start = recent.partition_point(|(k, _)| k.0 < from);
            candidates.extend(&recent[start..]);
        }
        candidates.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        candidates.dedup_by(|a, b| a.0 == b.0);
        // The latest first: a tie goes to the later item, so a candidate
        // must beat the best so far, and one that cannot is skipped early.
        let mut best: Option<(&Key, Likeness)> = None;
        for (k, other) in candidates.into_iter().rev() {
            let floor = best.map_or(Likeness::NONE, |(_, bs)| bs);
            if let Some(s) = self.matcher.similar_above(sig, other, floor) {
                best = Some((k, s));
            }
        }
        best.map(|(k, s)| (k.clone(), s))
    }

    fn index_node(&mut self, key: &Key, sig: &Arc<Signature>) {
        for probe in sig.probes() {
            let list = self.index.entry(*probe).or_default();
            if list.last().is_none_or(|(k, _)| k < key) {
                list.push((key.clone(), sig.clone()));
            } else {
                let at = list.partition_point(|(k, _)| k < key);
                list.insert(at, (key.clone(), sig.clone()));
            }
        }
    }

    /// After a late item at `key`: the later items within its window for
    /// which it is now the better neighbour link to it. Whether any did.
    fn relink_after(&mut self, key: &Key) -> bool {
        // The items that would have found this one among their candidates
        // (see `nearest`): those after it, within the window and within
        // PROBE_DEPTH of it in a list of one of its probes.
        let until = key.0 + self.matcher.window_ms;
        let mut later: Vec<Key> = Vec::new();
        for probe in self.nodes[key].sig.probes() {
            let Some(list) = self.index.get(probe) else {
                continue;
            };
            let at = list.partition_point(|(k, _)| k <= key);
            later.extend(
                list[at..]
                    .iter()
                    .take(PROBE_DEPTH)
                    .take_while(|(k, _)| k.0 <= until)
                    .map(|(k, _)| k.clone()),
            );
        }
        later.sort();
        later.dedup();
        let mut changed = false;
        for k in later {
            let node = &self.nodes[&k];
            let Some(s) = self.matcher.likeness(&node.sig, &self.nodes[key].sig) else {
                continue;
            };
            let better = match &node.link {
                None => true,
                Some((bk, bs)) => s > *bs || (s == *bs && key > bk),
            };
            // A restored member's link is never beaten (see `restore`).
            if better {
                self.nodes.get_mut(&k).expect("kept").link = Some((key.clone(), s));
                changed = true;
            }
        }
        changed
    }

    /// Re-derives the chains of every kept item from `key` on, in order,
    /// and returns the items whose shown incident changed. Items before
    /// `key` keep their chain; of them only a chain's first item can change
    /// what it shows (its chain crossing two items either way), and it is
    /// found by its chain, so a late item costs the items after it, not
    /// all that are kept.
    fn recompute_roots_from(&mut self, key: &Key) -> Vec<Change> {
        let keys: Vec<Key> = self
            .nodes
            .range(key.clone()..)
            .map(|(k, _)| k.clone())
            .collect();
        let before: Vec<Option<String>> = keys
            .iter()
            .map(|k| self.shown(&self.nodes[k].root))
            .collect();
        // The size each chain touched had before.
        let mut touched: HashMap<Arc<str>, u32> = HashMap::default();
        for k in &keys {
            let node = &self.nodes[k];
            let old = node.root.clone();
            let new = match &node.link {
                // A neighbour no longer kept keeps the chain it gave.
                Some((to, _)) => self.nodes.get(to).map_or(old.clone(), |n| n.root.clone()),
                None => k.1.clone(),
            };
            for r in [&old, &new] {
                let size = self.chains.get(r).map_or(0, |c| c.size);
                touched.entry(r.clone()).or_insert(size);
            }
            if k == key {
                self.count_into(&new, k.0);
            } else if old != new {
                if let Some(c) = self.chains.get_mut(&old) {
                    c.size = c.size.saturating_sub(1);
                }
                self.count_into(&new, k.0);
            }
            self.nodes.get_mut(k).expect("kept").root = new;
        }
        let mut changes = Vec::new();
        if let Some(n) = self.nodes.get(key)
            && let Some(id) = self.shown(&n.root)
        {
            changes.push(Change {
                item_id: key.1.to_string(),
                at: key.0,
                incident_id: Some(id),
            });
        }
        for (k, was) in keys.iter().zip(before) {
            let now = self.shown(&self.nodes[k].root);
            if now != was && k != key {
                changes.push(Change {
                    item_id: k.1.to_string(),
                    at: k.0,
                    incident_id: now,
                });
            }
        }
        // The first items before `key` of the chains that crossed two.
        let mut crossed: Vec<(Key, Option<String>)> = Vec::new();
        for (root, size_before) in touched {
            let Some(chain) = self.chains.get(&root) else {
                continue;
            };
            if (size_before >= 2) == (chain.size >= 2) {
                continue;
            }
            let first: Key = (chain.first_at, root.clone());
            if first < *key && self.nodes.get(&first).is_some_and(|n| n.root == root) {
                crossed.push((first, self.shown(&root)));
            }
        }
        crossed.sort();
        for (k, now) in crossed {
            changes.push(Change {
                item_id: k.1.to_string(),
                at: k.0,
                incident_id: now,
            });
        }
        changes
    }

    /// Drops the items older than two windows behind the newest, and the
    /// chains whose newest item is that old, once the oldest kept is an
    /// eighth of a window older than that: a pass over the whole index per
    /// eighth of a window, not per item (per item, it cost more than all
    /// the rest of assignment in a steady stream).
    fn forget_old(&mut self) {
        let cutoff = self.newest.saturating_sub(2 * self.matcher.window_ms);
        let Some(((first, _), _)) = self.nodes.first_key_value() else {
            return;
        };
        if *first >= cutoff.saturating_sub(self.matcher.window_ms / 8) {
            return;
        }
        let keep = self.nodes.split_off(&(cutoff, Arc::from("")));
        self.nodes = keep;
        self.index.retain(|_, list| {
            let old = list.partition_point(|(k, _)| k.0 < cutoff);
            list.drain(..old);
            !list.is_empty()
        });
        self.chains.retain(|_, c| c.last_at >= cutoff);
    }
}

/// The incidents of a set of items, in any order: each item id and its
/// incident (None: alone). What the assigner gives when fed the items in
/// (`received_at`, `id`) order, and so what any order gives.
pub fn assign_all(matcher: &Matcher, mut sigs: Vec<Signature>) -> Vec<(String, Option<String>)> {
    sigs.sort_by(|a, b| a.at.cmp(&b.at).then_with(|| a.id.cmp(&b.id)));
    let ids: Vec<(String, i64)> = sigs.iter().map(|s| (s.id.clone(), s.at)).collect();
    let mut assigner = Assigner::new(Matcher {
        // Keep everything: a batch is assigned as a whole.
        window_ms: matcher.window_ms,
        ..matcher.clone()
    });
    let mut out: HashMap<String, Option<String>> = HashMap::default();
    for sig in sigs {
        for c in assigner.add(sig) {
            out.insert(c.item_id, c.incident_id);
        }
    }
    ids.into_iter()
        .map(|(id, _)| {
            let inc = out.get(&id).cloned().flatten();
            (id, inc)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words() -> Vocabulary {
        Vocabulary::new(Arc::new(Enricher::builtin(b"incident-test-key").unwrap()))
    }

    fn sig(words: &Vocabulary, id: &str, minutes: i64, text: &str) -> Signature {
        let e = words.enricher();
        let at = chrono::DateTime::parse_from_rfc3339("2025-06-01T08:00:00+08:00").unwrap()
            + chrono::Duration::minutes(minutes);
        let item = e
            .enrich_value(
                &serde_json::json!({"id": id, "channel": "hotline_12345",
                    "received_at": at.to_rfc3339(), "text": text}),
                at + chrono::Duration::hours(1),
            )
            .unwrap();
        Signature::of(&item, words)
    }

    #[test]
    fn one_event_across_reports_and_its_hard_negatives_apart() {
        let e = words();
        let m = Matcher::new(DEFAULT_WINDOW_HOURS);
        let a = sig(
            &e,
            "a",
            0,
            "人民路和中华大街交叉口的红绿灯从早上就不亮了，请交警来看看",
        );
        let b = sig(
            &e,
            "b",
            30,
            "中华大街与人民路交叉口信号灯故障，没有交警指挥，很危险",
        );
        // The same road, another problem; another junction of the road.
        let c = sig(
            &e,
            "c",
            40,
            "人民路中华大街路口西北角有人摆摊卖水果，占了半条人行道",
        );
        let d = sig(
            &e,
            "d",
            50,
            "陵园路与人民路交叉口的红绿灯绿灯时间太短，老人走到一半就变灯了",
        );
        assert!(m.similar(&b, &a).is_some());
        assert!(m.similar(&c, &a).is_none() && m.similar(&c, &b).is_none());
        assert!(m.similar(&d, &a).is_none() && m.similar(&d, &b).is_none());
        // Beyond the window, never.
        let late = sig(
            &e,
            "e",
            73 * 60,
            "人民路和中华大街交叉口的红绿灯又不亮了，请交警来看看",
        );
        assert!(m.similar(&late, &a).is_none());
    }

    /// A burst of one sentence that names no place, beside reports of the
    /// sentence at two estates (which never link to each other): the burst
    /// is one incident. Each of its reports shares as much with a report at
    /// an estate as with its own twin; linking to the later of them, the
    /// burst's first half followed one estate's report and, after a second
    /// report at the other estate (linked there by its place), its second
    /// half that one: two incidents of one complaint at one time (the demo
    /// showed 228 and 137 items in 永年区, 00:58–01:22).
    #[test]
    fn a_burst_naming_no_place_is_one_incident_beside_reports_at_estates() {
        let e = words();
        let said = "公司门口总有人堵门闹事，影响正常经营，报警多次没解决";
        let m = Matcher::new(DEFAULT_WINDOW_HOURS);
        let east = sig(&e, "east", 0, &format!("东平小区：{said}"));
        let kang = sig(&e, "kang", 5, &format!("康福小区：{said}"));
        let east_again = sig(&e, "east2", 12, &format!("东平小区：{said}"));
        assert!(m.similar(&kang, &east).is_none(), "two estates, two places");
        let burst: Vec<Signature> = (6..12)
            .chain(13..19)
            .map(|i| sig(&e, &format!("b{i:02}"), i, said))
            .collect();
        let (east_at, east_again_at) = (east.at, east_again.at);
        let mut a = Assigner::new(m);
        let mut all: Vec<Signature> = burst.clone();
        all.extend([east, kang, east_again]);
        all.sort_by_key(|s| s.at);
        for s in all {
            a.add(s);
        }
        let shown: std::collections::BTreeSet<Option<String>> =
            burst.iter().map(|s| a.incident_of(&s.id, s.at)).collect();
        assert_eq!(shown.len(), 1, "{shown:?}");
        assert!(shown.iter().all(Option::is_some));
        // The second report at the estate stays with the first.
        assert_eq!(
            a.incident_of("east2", east_again_at),
            a.incident_of("east", east_at)
        );
    }

    /// A station's name is compared as a unit, not also as its pairs of
    /// characters (马头, 头派 of 新马头派出所 weighed as rare words): two
    /// notes of thanks to one station from one estate tell two stories,
    /// while two reports of one breakdown at a station are one.
    #[test]
    fn a_station_named_vouches_once_not_by_the_letters_of_its_name() {
        let e = words();
        let m = Matcher::new(DEFAULT_WINDOW_HOURS);
        let wallet = sig(
            &e,
            "w",
            0,
            "滨城小区：感谢新马头派出所的民警同志，帮我找回了丢失的钱包，人民警察为人民",
        );
        let patrol = sig(
            &e,
            "p",
            60,
            "滨城小区：自从新马头派出所加强夜间巡逻，我们小区安全多了，感谢",
        );
        let polite = sig(
            &e,
            "k",
            90,
            "滨城小区：新马头派出所的民警态度特别好，耐心解答了我所有问题",
        );
        assert_eq!(m.similar(&patrol, &wallet), None);
        assert_eq!(m.similar(&polite, &wallet), None);
        let down = sig(
            &e,
            "d1",
            0,
            "今天去胜利桥派出所换身份证，窗口说系统升级办不了，也没提前通知",
        );
        let broken = sig(
            &e,
            "d2",
            40,
            "胜利桥派出所户籍窗口说系统坏了，办不了身份证，白跑一趟",
        );
        assert!(m.similar(&broken, &down).is_some());
    }

    #[test]
    fn restored_items_keep_their_incident_and_take_later_reports() {
        let e = words();
        let light = [
            "人民路和中华大街交叉口的红绿灯从早上就不亮了，请交警来看看",
            "中华大街与人民路交叉口信号灯故障，没有交警指挥，很危险",
            "反映一下，人民路中华大街十字路口红绿灯失灵，早高峰堵了半个多小时",
        ];
        let s: Vec<Signature> = light
            .iter()
            .enumerate()
            .map(|(i, t)| sig(&e, &format!("r{i}"), i as i64 * 20, t))
            .collect();
        // As stored: r1 and r2 under a name their first item (r0, not
        // read back) gave, another stall report alone.
        let stall = sig(
            &e,
            "q",
            50,
            "人民路中华大街路口有人摆摊卖水果，占了半条人行道",
        );
        let named = "i-00000000000000aa".to_owned();
        let mut a = Assigner::new(Matcher::new(72));
        a.restore(vec![
            (s[2].clone(), Some(named.clone())),
            (stall.clone(), None),
            (s[1].clone(), Some(named.clone())),
        ]);
        assert_eq!(a.incident_of("r1", s[1].at), Some(named.clone()));
        assert_eq!(a.incident_of("q", stall.at), None);
        // A later report joins the stored incident, by its stored name.
        let later = sig(&e, "r3", 90, "人民路中华大街交叉口红绿灯还是不亮，请尽快修");
        assert_eq!(
            a.add(later.clone()),
            [Change {
                item_id: "r3".into(),
                at: later.at,
                incident_id: Some(named.clone()),
            }]
        );
        // A late report, more like r2 than r1 is, leaves r2's link alone:
        // restored links are never beaten.
        let late = sig(&e, "r4", 30, light[2]);
        let changes = a.add(late);
        assert!(
            changes.iter().all(|c| c.item_id == "r4"),
            "nothing restored changes: {changes:?}"
        );
        assert_eq!(a.incident_of("r2", s[2].at), Some(named));
    }

    #[test]
    fn the_incident_is_named_after_its_first_item_whatever_the_order() {
        let e = words();
        let texts = [
            "人民路和中华大街交叉口的红绿灯从早上就不亮了，请交警来看看",
            "中华大街与人民路交叉口信号灯故障，没有交警指挥，很危险",
            "反映一下，人民路中华大街十字路口红绿灯失灵，早高峰堵了半个多小时",
        ];
        let sigs: Vec<Signature> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| sig(&e, &format!("x{i}"), i as i64 * 20, t))
            .collect();
        let mut forward = Assigner::new(Matcher::new(72));
        let first = forward.add(sigs[0].clone());
        assert!(first.is_empty(), "alone at first");
        let second = forward.add(sigs[1].clone());
        assert_eq!(
            second,
            [
                Change {
                    item_id: "x1".into(),
                    at: sigs[1].at,
                    incident_id: Some(incident_id("x0"))
                },
                Change {
                    item_id: "x0".into(),
                    at: sigs[0].at,
                    incident_id: Some(incident_id("x0"))
                },
            ]
        );
        forward.add(sigs[2].clone());
        // Backwards: the first item arrives last and renames the chain.
        let mut backward = Assigner::new(Matcher::new(72));
        for s in sigs.iter().rev() {
            backward.add(s.clone());
        }
        for s in &sigs {
            assert_eq!(
                backward.incident_of(&s.id, s.at),
                Some(incident_id("x0")),
                "{}",
                s.id
            );
            assert_eq!(forward.incident_of(&s.id, s.at), Some(incident_id("x0")));
        }
        assert_eq!(incident_id("x0"), incident_id("x0"));
        assert!(incident_id("x0").starts_with("i-") && incident_id("x0").len() == 18);
    }

    /// The nearest-neighbour search skips a candidate by the weights alone
    /// only when comparing its words could not beat the best so far: for
    /// every pair and every floor, the shortcut answers what the whole
    /// comparison answers above the floor.
    #[test]
    fn the_shortcut_of_the_search_answers_as_the_whole_comparison() {
        let e = words();
        let m = Matcher::new(DEFAULT_WINDOW_HOURS);
        let texts = [
            "人民路和中华大街交叉口的红绿灯从早上就不亮了，请交警来看看",
            "中华大街与人民路交叉口信号灯故障，没有交警指挥，很危险",
            "人民路与中华大街路口红绿灯不亮，车辆乱成一团",
            "人民路和中华大街交叉口有人打架",
            "接到自称公安局民警的电话，说我涉嫌洗钱，要把钱转到安全账户",
            "有人冒充公安打电话说我涉嫌洗钱，让我把存款转入安全账户",
            "冒充公安说我的快递里有毒品，要求配合调查",
            "光明桥派出所民警态度很好，办事效率高",
            "光明桥派出所办户口排队两个小时没人管",
        ];
        let sigs: Vec<Signature> = texts
            .iter()
            .enumerate()
            .map(|(i, t)| sig(&e, &format!("s{i}"), i as i64 * 7, t))
            .collect();
        let mut linked = 0;
        for a in &sigs {
            for b in &sigs {
                let whole = m.likeness(a, b);
                linked += usize::from(whole.is_some());
                let mut floors: Vec<Likeness> = [f32::NEG_INFINITY, 0.0, 5.0, 20.0, 1e9]
                    .into_iter()
                    .flat_map(|shared| {
                        [(0, 0.0), (1, 0.0), (0, 1.0), (1, 1.0), (1, f32::INFINITY)].map(
                            |(spot, alike)| Likeness {
                                shared,
                                spot,
                                alike,
                            },
                        )
                    })
                    .chain([Likeness::NONE, Likeness::RESTORED])
                    .collect();
                if let Some(l) = whole {
                    for shared in [
                        l.shared,
                        l.shared.next_down(),
                        l.shared.next_up(),
                        l.shared - 7.0,
                    ] {
                        for alike in [l.alike, l.alike.next_down(), l.alike.next_up(), 0.0, 1.0] {
                            for spot in [0, 1] {
                                floors.push(Likeness {
                                    shared,
                                    spot,
                                    alike,
                                });
                            }
                        }
                    }
                }
                for floor in floors {
                    assert_eq!(
                        m.similar_above(a, b, floor),
                        whole.filter(|l| *l > floor),
                        "{} / {} above {floor:?}",
                        a.id,
                        b.id
                    );
                }
            }
        }
        // Not only the pairs with themselves: some pairs are alike.
        assert!(linked > sigs.len(), "{linked}");
    }

    /// A stream longer than the two windows kept: the assigner forgets as
    /// it goes (a pass per eighth of a window), never holding much more.
    #[test]
    fn a_long_stream_is_forgotten_as_it_goes() {
        let e = words();
        let template = sig(&e, "t", 0, "人民路和中华大街交叉口的红绿灯不亮了");
        let mut assigner = Assigner::new(Matcher::new(1));
        let mut most = 0;
        // One item a minute for ten hours: ten windows of one hour.
        for i in 0..600 {
            let mut s = template.clone();
            s.id = format!("x{i}");
            s.at = template.at + i * 60_000;
            assigner.add(s);
            most = most.max(assigner.len());
        }
        // Two windows and an eighth of items a minute apart, at most.
        assert!(most <= 2 * 60 + 60 / 8 + 1, "{most}");
        assert!(assigner.len() >= 2 * 60, "{}", assigner.len());
        assert!(assigner.chains.len() <= most, "{}", assigner.chains.len());
    }

    /// The tables worked out once weigh every word as weighing it when it
    /// comes does: the signatures of the dev set's and the labelled
    /// incidents' texts are the same either way.
    #[test]
    fn the_tables_of_words_weigh_as_the_words_themselves() {
        let memo = words();
        let plain = Vocabulary::unmemoized(memo.enricher.clone());
        let root = env!("CARGO_MANIFEST_DIR");
        let mut texts = Vec::new();
        for dir in ["tests/data/dev", "tests/data/incidents"] {
            for entry in std::fs::read_dir(format!("{root}/{dir}")).unwrap() {
                let path = entry.unwrap().path();
                if path.extension().is_some_and(|x| x == "tsv") {
                    let file = std::fs::read_to_string(&path).unwrap();
                    texts.extend(
                        file.lines()
                            .filter_map(|l| l.rsplit('\t').next())
                            .map(str::to_owned),
                    );
                }
            }
        }
        assert!(texts.len() > 900, "{}", texts.len());
        let mut pairs = 0;
        for (i, text) in texts.iter().enumerate() {
            let a = sig(&memo, &format!("t{i}"), 0, text);
            let b = sig(&plain, &format!("t{i}"), 0, text);
            pairs += a.terms.len();
            assert_eq!(a, b, "{text}");
        }
        assert!(pairs > 10 * texts.len(), "{pairs}");
    }
}
