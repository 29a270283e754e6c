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
//!   sentiment word to act on is a mild complaint (没有人管, 未处理), but
//!   not in a wish or a question (建议…没时间, 没上牌会被罚款吗?);
//! - praise between quotation marks of one clause is read as sarcasm and
//!   flipped (这就是你们的“好服务”), and a short scare quote after an
//!   intensifier is irony whatever its word (效率真是“高”, 可真“忙”): -1.0;
//! - after a contrast word the rest counts 1.5×, what came before 0.5×;
//! - after an irrealis marker (建议, 希望 …) to the end of the sentence,
//!   complaints count 0.3× and praise 0.1×: a wish is not a report, and
//!   wishing for the good (希望态度好一点) is no praise of the present;
//! - with a sarcasm marker anywhere (呵呵, 好一个 …) praise counts negative
//!   (looked for once the text has praise to turn);
//! - a clause ending in `!` counts 1.3×; a question with a rhetorical
//!   marker (难道…?, 凭什么…?, also earlier in its sentence: 为什么…，…没管过?)
//!   is a complaint whatever its words; any other question keeps only a
//!   third of its praise ("能办好吗?" is not praise);
//! - a sentence that asks — a question with an asking cue (还能报案吗?,
//!   需要什么材料?), or 请问… whatever its punctuation — keeps only 0.3× of
//!   its complaint words: a consultation is neutral even when it names a
//!   problem (`asking.txt`; the text model is then not asked either).
//!
//! Every contribution is recorded as evidence. The score is
//! `total / (|total| + 1.5)`, in (-1, 1).

use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::enrich::lexicon::Token;
use crate::model::{Rating, Sentiment, SentimentLabel};
use crate::pipelines::{PipelineError, PipelineFiles};

/// |score| below this is neutral.
pub const NEUTRAL_BAND: f32 = 0.15;

#[derive(Debug, Clone)]
pub struct SentimentModel {
    words: HashMap<String, f32>,
    negators: HashMap<String, f32>,
    /// The negators in a fixed order, so a [`Lex`] can name one by index.
    negator_names: Vec<String>,
    degree: HashMap<String, f32>,
    contrast: HashSet<String>,
    rhetorical: HashSet<String>,
    irrealis: HashSet<String>,
    /// Asking cues; 1.0 for one that asks by itself.
    asking: HashMap<String, f32>,
    sarcasm: Vec<String>,
    /// The sarcasm markers, found in one pass over the text.
    sarcasm_automaton: AhoCorasick,
    /// Compounds the tokenizer keeps whole: degree or negator + word (挺快,
    /// 不认可) and word + particle (感谢您, 满意了).
    compounds: HashMap<String, (Option<Prefix>, f32)>,
}

/// Particles that may follow a lexicon word inside one token.
const PARTICLES: &[&str] = &["您", "你", "了", "们", "的", "啊", "呀", "啦", "吧"];

/// Punctuation that ends a clause, and quotation marks: listed so the
/// lexicon holds them (see [`SentimentModel::terms`]).
const CLAUSE_ENDS: &str = ",.!?;，。！？；\n~～…";
/// At most this many tokens between quotation marks are a scare quote;
/// more are someone's words.
const MAX_QUOTED: usize = 3;
/// Intensifiers that make a scare quote after them irony (真是“高”).
const IRONY_CUES: &[&str] = &["真", "真是", "可真", "真够", "太", "好", "够"];
const QUOTES: &str = "\"“”「」『』'‘’";

/// What a token is to the scorer, worked out once per word by
/// [`SentimentModel::lex`] and kept in the enricher's lexicon.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Lex {
    flags: u16,
    /// A negator: its strength.
    negator: Option<f32>,
    /// A degree adverb: its multiplier.
    degree: Option<f32>,
    /// A sentiment word (or a compound, or a long token ending in one).
    value: Option<(Option<Prefix>, f32)>,
}

/// Whether a token outside the lexicon can still hold a lexicon word: a
/// long one may end in one (服务很好), and one with a particle after a
/// compound (太棒了).
fn may_hold_a_word(tok: &str) -> bool {
    tok.chars().nth(3).is_some()
        || (tok.chars().nth(2).is_some() && PARTICLES.iter().any(|p| tok.ends_with(p)))
}

fn is_clause_end(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| CLAUSE_ENDS.contains(c))
}

fn is_quote(t: &str) -> bool {
    !t.is_empty() && t.chars().all(|c| QUOTES.contains(c))
}

/// Appends ` ±v.v`, as `format!(" {v:+.1}")` writes it, without the
/// formatting machinery (this runs for every scored word of every item).
fn push_value(out: &mut String, v: f32) {
    let tenths = (f64::from(v) * 10.0).abs().round_ties_even() as u64;
    out.push(' ');
    out.push(if v.is_sign_negative() { '-' } else { '+' });
    out.push_str(itoa::Buffer::new().format(tenths / 10));
    out.push('.');
    out.push(char::from(b'0' + (tenths % 10) as u8));
}

const CLAUSE_END: u16 = 1;
const SENTENCE_END: u16 = 2;
const QUESTION: u16 = 4;
const EXCLAIM: u16 = 8;
const QUOTE: u16 = 16;
const IRREALIS: u16 = 32;
const CONTRAST: u16 = 64;
const RHETORICAL: u16 = 128;
const ASKING: u16 = 256;
/// An asking cue that asks whatever the punctuation (请问).
const ASKS_ALONE: u16 = 512;

impl Lex {
    /// Nothing the scorer acts on.
    pub fn is_none(&self) -> bool {
        *self == Lex::default()
    }

    fn has(&self, flag: u16) -> bool {
        self.flags & flag != 0
    }

    /// A word that only modifies others (negator, degree adverb, contrast,
    /// rhetorical or irrealis marker: 没, 有点, 但是, 难道, 希望): never a
    /// keyword.
    pub fn is_modifier(&self) -> bool {
        self.negator.is_some()
            || self.degree.is_some()
            || self.has(IRREALIS | CONTRAST | RHETORICAL)
    }
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
        let mut negator_names: Vec<String> = negators.keys().cloned().collect();
        negator_names.sort();
        for (w, &v) in &words {
            for (d, &m) in &degree {
                compounds.insert(format!("{d}{w}"), (Some(Prefix::Degree(m)), v));
            }
            for (i, n) in negator_names.iter().enumerate() {
                let prefix = Prefix::Negator(i as u16, negators[n]);
                compounds.insert(format!("{n}{w}"), (Some(prefix), v));
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
        let asking: HashMap<String, f32> = files
            .weighted("sentiment/asking.txt", 0.0)?
            .into_iter()
            .collect();
        let sarcasm: Vec<String> = files
            .lines("sentiment/sarcasm.txt")
            .map(|(_, l)| l.to_owned())
            .collect();
        Ok(SentimentModel {
            words,
            negators,
            negator_names,
            degree,
            contrast,
            rhetorical,
            irrealis,
            asking,
            sarcasm_automaton: AhoCorasickBuilder::new()
                .match_kind(MatchKind::LeftmostFirst)
                .build(&sarcasm)
                .map_err(|e| PipelineError::Invalid {
                    file: "sentiment/sarcasm.txt".into(),
                    message: e.to_string(),
                })?,
            sarcasm,
            compounds,
        })
    }

    /// Every compound of a lexicon word (不认可, 很满意, 感谢您): words the
    /// enricher's lexicon describes up front.
    pub fn compounds(&self) -> impl Iterator<Item = &str> {
        self.compounds.keys().map(String::as_str)
    }

    /// The punctuation and quotation marks the scorer reads, one by one.
    pub fn marks() -> impl Iterator<Item = String> {
        CLAUSE_ENDS.chars().chain(QUOTES.chars()).map(String::from)
    }

    /// What the token is to the scorer. `listed`: whether the token may be
    /// in a lexicon; the enricher passes false for a token outside its
    /// lexicon table (which holds every lexicon word and compound), and the
    /// lookups are skipped.
    pub fn lex(&self, tok: &str, listed: bool) -> Lex {
        let mut lex = Lex::default();
        if is_clause_end(tok) {
            lex.flags = CLAUSE_END;
            if tok.contains(['。', '.', '!', '?', '！', '？', '\n']) {
                lex.flags |= SENTENCE_END;
            }
            if tok.contains(['?', '？']) {
                lex.flags |= QUESTION;
            }
            if tok.contains(['!', '！']) {
                lex.flags |= EXCLAIM;
            }
            return lex;
        }
        if is_quote(tok) {
            lex.flags |= QUOTE;
        }
        if !listed {
            if may_hold_a_word(tok) {
                lex.value = self.lookup(tok);
            }
            return lex;
        }
        for (flag, set) in [
            (IRREALIS, &self.irrealis),
            (CONTRAST, &self.contrast),
            (RHETORICAL, &self.rhetorical),
        ] {
            if set.contains(tok) {
                lex.flags |= flag;
            }
        }
        if let Some(&alone) = self.asking.get(tok) {
            lex.flags |= if alone > 0.0 {
                ASKING | ASKS_ALONE
            } else {
                ASKING
            };
        }
        lex.negator = self.negators.get(tok).copied();
        lex.degree = self.degree.get(tok).copied();
        // Short tokens outside the lexicon carry nothing; long ones may end
        // in a lexicon word.
        let in_lexicon = lex.has(IRREALIS | CONTRAST | RHETORICAL | ASKING)
            || lex.negator.is_some()
            || lex.degree.is_some()
            || self.words.contains_key(tok)
            || self.compounds.contains_key(tok);
        if in_lexicon || may_hold_a_word(tok) {
            lex.value = self.lookup(tok);
        }
        lex
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
            .chain(self.asking.keys())
            .map(String::as_str)
    }

    /// The sentiment value of a token, also for compounds the tokenizer
    /// kept whole, and for a long token ending in a lexicon word (服务很好).
    fn lookup(&self, tok: &str) -> Option<(Option<Prefix>, f32)> {
        if let Some(&v) = self.words.get(tok) {
            return Some((None, v));
        }
        if let Some(&c) = self.compounds.get(tok) {
            return Some(c);
        }
        // A compound with a particle after it (太棒了 = 太 + 棒 + 了).
        if let Some(stem) = PARTICLES.iter().find_map(|p| tok.strip_suffix(p))
            && let Some(&c) = self.compounds.get(stem)
        {
            return Some(c);
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

    /// Scores the (normalised) text and its token stream alone: the sum of
    /// its values, the evidence, and whether some sentence asks or proposes
    /// (see [`Reading::asks`]).
    pub fn score_text<'a>(
        &'a self,
        normalized: &str,
        tokens: &[Token<'a>],
    ) -> (f32, Vec<String>, bool) {
        let mut evidence = Vec::new();
        // Looked for when the first praise needs it: most texts have none.
        let mut sarcasm: Option<Option<&str>> = None;
        let mut irrealis = false;
        let mut total = 0.0f32;
        // Weight of what follows a contrast word.
        let mut emphasis = 1.0f32;
        let mut clause = Clause::default();
        let mut sentence = Sentence::default();
        let mut asks = false;
        for (i, token) in tokens.iter().enumerate() {
            // Most tokens carry no sentiment: their lexicon entry says so.
            let lex = token.info.lex;
            if lex.is_none() {
                continue;
            }
            let tok = token.text;
            if lex.has(CLAUSE_END) {
                if clause.rhetorical.is_none() {
                    clause.rhetorical = sentence.rhetorical;
                }
                let (sum, complaints) = clause.close(lex, emphasis, irrealis, &mut evidence);
                total += sum;
                sentence.complaints += complaints;
                if lex.has(SENTENCE_END) {
                    let (back, asked) = sentence.close(lex, &mut evidence);
                    total += back;
                    asks |= asked;
                    irrealis = false;
                }
                continue;
            }
            if lex.has(QUOTE) {
                clause.quote_open = match clause.quote_open {
                    Some(_) => None,
                    None => {
                        if let Some(irony) = self.irony(tokens, i) {
                            clause.items.push(irony);
                        }
                        Some(i)
                    }
                };
                continue;
            }
            if lex.has(IRREALIS) {
                irrealis = true;
            }
            if lex.has(ASKING) {
                sentence.asking = Some(tok);
                sentence.alone |= lex.has(ASKS_ALONE);
            }
            if lex.has(CONTRAST) {
                let (sum, complaints) =
                    clause.close(Lex::default(), emphasis, irrealis, &mut evidence);
                total = (total + sum) * 0.5;
                sentence.complaints = (sentence.complaints + complaints) * 0.5;
                emphasis = 1.5;
                evidence.push([tok, " ×1.5 after"].concat());
                continue;
            }
            if lex.has(RHETORICAL) {
                clause.rhetorical = Some(tok);
                sentence.rhetorical = Some(tok);
            }
            if let Some(k) = lex.negator {
                clause.negation = Some((tok, k));
                continue;
            }
            if let Some(d) = lex.degree {
                clause.degree *= d;
                continue;
            }
            if let Some((prefix, v)) = lex.value {
                match prefix {
                    Some(Prefix::Degree(d)) => clause.degree *= d,
                    Some(Prefix::Negator(n, k)) => {
                        clause.negation = Some((&self.negator_names[usize::from(n)], k));
                    }
                    None => {}
                }
                // Between quotation marks of one clause ("好服务" quoted).
                let quoted = clause.quote_open.is_some()
                    && tokens[i + 1..]
                        .iter()
                        .map(|t| t.info.lex)
                        .take_while(|l| !l.has(CLAUSE_END))
                        .any(|l| l.has(QUOTE));
                let mut word = Scored {
                    word: tok,
                    negator: None,
                    quoted: false,
                    irrealis,
                    value: v * clause.degree,
                };
                if let Some((neg, k)) = clause.negation.take() {
                    word.value = if word.value > 0.0 {
                        -word.value * k
                    } else {
                        -word.value * 0.5 * k
                    };
                    word.negator = Some(neg);
                }
                let sarcastic = word.value > 0.0
                    && sarcasm
                        .get_or_insert_with(|| {
                            let marker = self.sarcasm_marker(normalized);
                            if let Some(m) = marker {
                                evidence.insert(0, [m, ": praise reads as sarcasm"].concat());
                            }
                            marker
                        })
                        .is_some();
                if (quoted || sarcastic) && word.value > 0.0 {
                    word.value = -word.value;
                    word.quoted = true;
                }
                if irrealis {
                    word.value *= if word.value > 0.0 { 0.1 } else { 0.3 };
                }
                clause.degree = 1.0;
                clause.items.push(word);
            }
        }
        let (sum, complaints) = clause.close(Lex::default(), emphasis, irrealis, &mut evidence);
        sentence.complaints += complaints;
        let (back, asked) = sentence.close(Lex::default(), &mut evidence);
        (total + sum + back, evidence, asks || asked)
    }

    /// Praise said in scare quotes after an intensifier (效率真是“高”, 可真
    /// “忙”): irony, whatever the quoted word; `open` is the opening mark.
    /// Quoted praise words are turned where they are scored.
    fn irony<'a>(&self, tokens: &[Token<'a>], open: usize) -> Option<Scored<'a>> {
        let before = tokens[..open].last()?.text;
        if !IRONY_CUES.iter().any(|c| before.ends_with(c)) {
            return None;
        }
        let inside = &tokens[open + 1..];
        let close = inside
            .iter()
            .take(MAX_QUOTED + 1)
            .position(|t| t.info.lex.has(QUOTE))?;
        let quoted = &inside[..close];
        let plain = quoted.iter().all(|t| t.info.lex.is_none());
        (plain
            && !quoted.is_empty()
            && quoted.iter().map(|t| t.text.chars().count()).sum::<usize>() <= 4)
            .then(|| Scored {
                word: quoted[0].text,
                negator: None,
                quoted: true,
                irrealis: false,
                value: -1.0,
            })
    }

    /// The first sarcasm marker in the text.
    fn sarcasm_marker(&self, normalized: &str) -> Option<&str> {
        self.sarcasm_automaton
            .find(normalized)
            .map(|m| self.sarcasm[m.pattern().as_usize()].as_str())
    }

    /// The sentiment of an item: text score fused with the rating.
    pub fn assess(&self, normalized: &str, tokens: &[Token], rating: Option<Rating>) -> Sentiment {
        self.assess_scored(normalized, tokens, rating).0
    }

    /// [`SentimentModel::assess`] and the reading of the text alone,
    /// before the rating is fused in.
    pub fn assess_scored(
        &self,
        normalized: &str,
        tokens: &[Token],
        rating: Option<Rating>,
    ) -> (Sentiment, Reading) {
        let (total, mut evidence, asks) = self.score_text(normalized, tokens);
        let text_score = total / (total.abs() + 1.5);
        let has_text = tokens
            .iter()
            .any(|t| crate::enrich::tokenize::is_wordlike(t.text));
        let score = match rating {
            None => text_score,
            // The citizen's own verdict decides the label; the words only
            // move the score within it.
            Some(Rating::Dissatisfied) => -0.5 + 0.5 * text_score.min(0.0),
            Some(Rating::Satisfied) => 0.5 + 0.5 * text_score.max(0.0),
            // 基本满意 with words is as lukewarm as they are: reservations
            // ("人有点多", "还行吧") read neutral, praise positive.
            Some(Rating::BasicallySatisfied) if has_text => 0.05 + 0.6 * text_score,
            Some(Rating::BasicallySatisfied) => 0.3,
        };
        if let Some(r) = rating {
            evidence
                .push(["rating 1", "rating 2", "rating 3"][usize::from(r.number() - 1)].to_owned());
        }
        let label = if score >= NEUTRAL_BAND {
            SentimentLabel::Positive
        } else if score <= -NEUTRAL_BAND {
            SentimentLabel::Negative
        } else {
            SentimentLabel::Neutral
        };
        let sentiment = Sentiment {
            label,
            score: (score * 1000.0).round() / 1000.0,
            evidence,
        };
        (
            sentiment,
            Reading {
                score: text_score,
                asks,
            },
        )
    }
}

/// What the lexicon reads in a text alone, before a rating is fused in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading {
    /// In (-1, 1); neutral within [`NEUTRAL_BAND`].
    pub score: f32,
    /// Some sentence asks (a question with an asking cue, or 请问…) rather
    /// than reports: such a text is neutral unless its words say otherwise,
    /// and the text model, which reads what is named, is not asked.
    pub asks: bool,
}

/// An unrated item's label as the text model reads it (see
/// [`super::topic_model::TopicModel::sentiment`]), `p` its probability: the
/// score stays the lexicon's, moved into the label's band where it lies
/// outside it, and the evidence says so when the label changed.
pub fn relabel(sentiment: &mut Sentiment, label: SentimentLabel, p: f32) {
    if sentiment.label == label {
        return;
    }
    let edge = NEUTRAL_BAND - 0.001;
    sentiment.score = match label {
        SentimentLabel::Positive => sentiment.score.max(NEUTRAL_BAND),
        SentimentLabel::Negative => sentiment.score.min(-NEUTRAL_BAND),
        SentimentLabel::Neutral => sentiment.score.clamp(-edge, edge),
    };
    sentiment.label = label;
    sentiment
        .evidence
        .push(format!("model: {} {p:.2}", label.as_str()));
}

/// The words of a text that reads positive on its own (`text_score`, before
/// any rating), from its sentiment evidence: what commends the police, for
/// the praise rule of the topics (docs/TOPICS.md, rule P). On a revisit
/// channel the rating words (满意, 非常满意 …) are the answer, not
/// commendation, and do not count.
pub fn commending_words(sentiment: &Sentiment, text_score: f32, revisit: bool) -> Vec<String> {
    if text_score < NEUTRAL_BAND {
        return Vec::new();
    }
    sentiment
        .evidence
        .iter()
        .filter_map(|e| {
            // "word +1.8"; negated, quoted or irrealis words are no praise.
            let (word, value) = e.rsplit_once(' ')?;
            let plain = !word.contains(['…', '“', '(']);
            (value.starts_with('+') && plain && !(revisit && word.ends_with("满意")))
                .then(|| word.to_owned())
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Prefix {
    Degree(f32),
    /// A negator by its index in the model's list, and its strength.
    Negator(u16, f32),
}

/// The clause being read: pending modifiers and scored words.
struct Clause<'a> {
    degree: f32,
    negation: Option<(&'a str, f32)>,
    rhetorical: Option<&'a str>,
    /// After an opening quotation mark: its place in the token stream.
    quote_open: Option<usize>,
    items: Vec<Scored<'a>>,
}

/// The sentence being read, across its clauses: a rhetorical marker makes
/// its question rhetorical (为什么…，…没管过？), and the complaint words of
/// one that asks count 0.3× (请问…被骗了两千块，会立案吗？), see
/// `pipelines/sentiment/asking.txt`.
#[derive(Default)]
struct Sentence<'a> {
    rhetorical: Option<&'a str>,
    /// The last asking cue.
    asking: Option<&'a str>,
    /// An asking cue that asks by itself (请问).
    alone: bool,
    /// The complaint words' contributions so far (≤ 0).
    complaints: f32,
}

impl Sentence<'_> {
    /// What the sentence's question takes back from its complaints, given
    /// the punctuation that ends it, and whether it asks; the sentence is
    /// empty again after.
    fn close(&mut self, end: Lex, evidence: &mut Vec<String>) -> (f32, bool) {
        let asks =
            self.rhetorical.is_none() && self.asking.is_some() && (self.alone || end.has(QUESTION));
        let back = match self.asking {
            Some(cue) if asks && self.complaints < 0.0 => {
                evidence.push([cue, "…? complaints ×0.3"].concat());
                -0.7 * self.complaints
            }
            _ => 0.0,
        };
        *self = Sentence::default();
        (back, asks)
    }
}

/// A sentiment word as scored, written out as evidence when its clause
/// closes: `word`, `negator…word`, `“word”` (quoted or sarcastic, which
/// wins over the negator), each in parentheses when irrealis; then its
/// value.
struct Scored<'a> {
    word: &'a str,
    negator: Option<&'a str>,
    quoted: bool,
    irrealis: bool,
    value: f32,
}

impl Scored<'_> {
    fn evidence(&self, value: f32) -> String {
        let mut out = String::with_capacity(self.word.len() + 24);
        if self.irrealis {
            out.push('(');
        }
        match self.negator {
            _ if self.quoted => out.extend(["“", self.word, "”"]),
            Some(neg) => out.extend([neg, "…", self.word]),
            None => out.push_str(self.word),
        }
        if self.irrealis {
            out.push(')');
        }
        push_value(&mut out, value);
        out
    }
}

impl Default for Clause<'_> {
    fn default() -> Self {
        Clause {
            degree: 1.0,
            negation: None,
            rhetorical: None,
            quote_open: None,
            items: Vec::new(),
        }
    }
}

impl Clause<'_> {
    /// The clause's contribution, given the punctuation that ends it; the
    /// clause is empty again after (its word list kept for the next).
    /// A bare negator in a wish or a question (建议…没时间, 没上牌会被罚款吗)
    /// asks, it does not complain.
    fn close(
        &mut self,
        end: Lex,
        emphasis: f32,
        irrealis: bool,
        evidence: &mut Vec<String>,
    ) -> (f32, f32) {
        let question = end.has(QUESTION);
        let exclaim = end.has(EXCLAIM);
        let mut sum = 0.0;
        let mut complaints = 0.0;
        for word in &self.items {
            let v = if question && word.value > 0.0 && self.rhetorical.is_none() {
                word.value / 3.0
            } else {
                word.value
            };
            evidence.push(word.evidence(v));
            sum += v;
            complaints += v.min(0.0);
        }
        if self.items.is_empty()
            && !irrealis
            && !question
            && let Some((neg, _)) = self.negation
            && matches!(neg, "没" | "没有" | "未" | "无人" | "没人")
        {
            evidence.push([neg, "… -0.3"].concat());
            sum -= 0.3;
            complaints -= 0.3;
        }
        if question && let Some(marker) = self.rhetorical {
            // A rhetorical question asserts the opposite of its praise.
            sum = -sum.abs() - 0.8;
            evidence.push([marker, "…? -0.8"].concat());
        }
        if exclaim {
            sum *= 1.3;
            complaints *= 1.3;
        }
        let mut items = std::mem::take(&mut self.items);
        items.clear();
        *self = Clause {
            items,
            ..Clause::default()
        };
        (sum * emphasis, complaints * emphasis)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::OnceLock;

    use super::*;
    use crate::enrich::Enricher;

    fn enricher() -> &'static Enricher {
        static E: OnceLock<Enricher> = OnceLock::new();
        E.get_or_init(crate::enrich::tests::enricher)
    }

    fn rated(text: &str, rating: Option<Rating>) -> Sentiment {
        let e = enricher();
        let normalized = e.normalizer.normalize(text);
        e.sentiment
            .assess(&normalized, &e.analyze(&normalized), rating)
    }

    fn assess(text: &str) -> Sentiment {
        rated(text, None)
    }

    fn score(text: &str) -> f32 {
        assess(text).score
    }

    #[test]
    fn domain_words_carry_their_sign() {
        for text in [
            "推诿",
            "不作为",
            "踢皮球",
            "和稀泥",
            "态度恶劣",
            "爱答不理",
            "收红包",
            "才接通",
        ] {
            let s = assess(&format!("民警{text}"));
            assert_eq!(s.label, SentimentLabel::Negative, "{text}: {s:?}");
        }
        for text in ["点赞", "送锦旗", "暖心", "处理及时"] {
            let s = assess(&format!("民警{text}"));
            assert_eq!(s.label, SentimentLabel::Positive, "{text}: {s:?}");
        }
        assert_eq!(assess("我去派出所办了户籍").label, SentimentLabel::Neutral);
    }

    #[test]
    fn negation_flips_the_next_sentiment_word_of_its_clause() {
        for text in [
            "处理不及时",
            "民警没有及时处理",
            "并不满意",
            "一直未解决",
            "没解决问题",
        ] {
            assert!(score(text) < 0.0, "{text}: {:?}", assess(text));
        }
        // A negated complaint is faint praise, weaker than the praise word.
        assert!(score("服务不差") > 0.0);
        assert!(score("服务不差") < score("服务好"));
        // The scope ends with the clause: the praise after the comma stands.
        let s = assess("路不远，民警服务很好");
        assert_eq!(s.label, SentimentLabel::Positive, "{s:?}");
        // A negator with nothing to negate is a mild complaint.
        let s = assess("报案三个月了也没有进展");
        assert!(s.score < 0.0, "{s:?}");
    }

    #[test]
    fn compounds_are_read_with_a_particle_after_them() {
        let s = assess("警察叔叔太棒了");
        assert!(s.score > score("警察叔叔棒了"), "{s:?}");
        assert_eq!(s.evidence, ["太棒了 +3.1"]);
    }

    #[test]
    fn emoji_count() {
        assert_eq!(assess("民警来了").label, SentimentLabel::Neutral);
        assert_eq!(assess("民警来了👍").label, SentimentLabel::Positive);
        assert_eq!(assess("收到派出所的回复").label, SentimentLabel::Neutral);
        assert_eq!(
            assess("收到派出所的回复😡😡").label,
            SentimentLabel::Negative
        );
    }

    #[test]
    fn degree_adverbs_scale_the_next_word() {
        assert!(
            score("非常满意") > score("满意"),
            "{:?}",
            assess("非常满意")
        );
        assert!(
            score("满意") > score("有点满意"),
            "{:?}",
            assess("有点满意")
        );
        assert!(score("太慢") < score("慢"), "{:?}", assess("太慢"));
    }

    #[test]
    fn after_a_contrast_the_rest_weighs_more() {
        let s = assess("民警态度很好，但是效率太低");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        assert!(
            s.evidence.iter().any(|e| e.starts_with("但是 ×1.5")),
            "{s:?}"
        );
        let s = assess("等了很久，不过民警处理得非常好");
        assert_eq!(s.label, SentimentLabel::Positive, "{s:?}");
        let s = assess("民警处理得挺好，不过就是效率不高");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
    }

    #[test]
    fn questions_rhetorical_and_plain() {
        let s = assess("难道报警了就没人管吗？");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        assert!(s.evidence.iter().any(|e| e == "难道…? -0.8"), "{s:?}");
        // A rhetorical question turns even its praise.
        assert!(score("凭什么说你们服务好？") < 0.0);
        // A plain question keeps a third of its praise.
        assert!(score("民警态度好吗？") < score("民警态度好。"));
        assert!(score("民警态度好吗？") >= 0.0);
    }

    #[test]
    fn a_question_that_asks_names_no_complaint() {
        // An asking cue and a question mark: the complaint words count 0.3×.
        let asked = assess("电动车被偷了没有发票，还能报案吗？");
        let told = assess("电动车被偷了没有发票，还能报案。");
        assert_eq!(asked.label, SentimentLabel::Neutral, "{asked:?}");
        assert!(asked.score > told.score, "{asked:?} {told:?}");
        assert!(
            asked.evidence.iter().any(|e| e == "还能…? complaints ×0.3"),
            "{asked:?}"
        );
        // 请问 asks without the mark; 询问 only tells of asking.
        let s = assess("请问在网上买东西被骗了两千块，派出所会立案吗");
        assert_eq!(s.label, SentimentLabel::Neutral, "{s:?}");
        let s = assess("接警员询问地址后称会通知派出所，等了一小时也没人来，太不负责了");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        // A rhetorical marker earlier in the sentence wins: it complains.
        let s = assess("为什么黑车天天拉客，交警就在对面，从来没管过？");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        assert!(s.evidence.iter().any(|e| e == "为什么…? -0.8"), "{s:?}");
        // A question without an asking cue keeps its complaint.
        let s = assess("投诉了半个月都没有人理，你们的信箱是摆设吗？");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
    }

    #[test]
    fn a_scare_quote_after_an_intensifier_is_irony() {
        for text in [
            "派出所的效率真是“高”，上午问的事下周一答复",
            "那个所的民警可真“忙”",
        ] {
            let s = assess(text);
            assert_eq!(s.label, SentimentLabel::Negative, "{text}: {s:?}");
        }
        // A name in quotes, or a quoted sentence, is no irony.
        assert_eq!(assess("建议设置“护学岗”").label, SentimentLabel::Neutral);
        let s = assess("民警说“马上到”");
        assert_eq!(s.label, SentimentLabel::Neutral, "{s:?}");
    }

    #[test]
    fn a_bare_negator_asks_in_a_question_or_a_wish() {
        assert!(score("没有人管") < 0.0);
        assert_eq!(score("请问电动车没上牌会被罚款吗"), 0.0);
        assert_eq!(score("建议户籍窗口周末也开放，上班族平时没时间"), 0.0);
    }

    #[test]
    fn an_exclamation_strengthens_its_clause() {
        assert!(score("态度太差了！") < score("态度太差了。"));
        assert!(score("民警真好！") > score("民警真好。"));
    }

    #[test]
    fn quoted_or_sarcastic_praise_is_a_complaint() {
        let s = assess("这就是你们的“好服务”");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        let s = assess("呵呵，你们的效率真高啊，一个月了还没消息");
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        assert!(
            s.evidence.first().is_some_and(|e| e.starts_with("呵呵")),
            "{s:?}"
        );
    }

    #[test]
    fn a_wish_is_not_a_report() {
        let wish = assess("希望民警态度好一点");
        assert_ne!(wish.label, SentimentLabel::Positive, "{wish:?}");
        assert!(wish.evidence.iter().all(|e| e.starts_with('(')), "{wish:?}");
        // The wish ends with its sentence.
        assert_eq!(
            assess("希望快点处理。民警态度很好").label,
            SentimentLabel::Positive
        );
    }

    #[test]
    fn the_rating_decides_the_label_and_the_words_the_score() {
        let s = rated("民警态度很好，服务热情", Some(Rating::Dissatisfied));
        assert_eq!(s.label, SentimentLabel::Negative, "{s:?}");
        assert_eq!(s.evidence.last().map(String::as_str), Some("rating 3"));
        let s = rated("等了很久", Some(Rating::Satisfied));
        assert_eq!(s.label, SentimentLabel::Positive, "{s:?}");
        assert!(
            rated("出警太慢，态度恶劣", Some(Rating::Dissatisfied)).score
                < rated("", Some(Rating::Dissatisfied)).score
        );
        assert_eq!(rated("", Some(Rating::BasicallySatisfied)).score, 0.3);
        assert_eq!(
            rated("", Some(Rating::BasicallySatisfied)).label,
            SentimentLabel::Positive
        );
        // With words, they decide: a reservation is neutral.
        for (text, label) in [
            ("人有点多", SentimentLabel::Neutral),
            ("民警很耐心，谢谢", SentimentLabel::Positive),
            ("来得太慢了", SentimentLabel::Negative),
        ] {
            let s = rated(text, Some(Rating::BasicallySatisfied));
            assert_eq!(s.label, label, "{text}: {s:?}");
        }
    }

    #[test]
    fn scores_stay_inside_minus_one_to_one() {
        let rant = "态度恶劣！推诿！踢皮球！和稀泥！不作为！".repeat(20);
        let praise = "非常感谢！点赞！锦旗！暖心！及时！".repeat(20);
        for (text, rating) in [
            (rant.as_str(), None),
            (praise.as_str(), None),
            (rant.as_str(), Some(Rating::Satisfied)),
            (praise.as_str(), Some(Rating::Dissatisfied)),
        ] {
            let s = rated(text, rating);
            assert!(s.score > -1.0 && s.score < 1.0, "{s:?}");
        }
    }
}
