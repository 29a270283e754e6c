//! The data files under `pipelines/` that make minyi a police-feedback
//! system rather than a generic text pipeline: channel and topic codes, the
//! gazetteer, the tokenizer's dictionaries and the sentiment lexicons.
//!
//! The repository's files are compiled into the binary, so `minyi` works
//! from any directory; `pipelines_dir` in the config points at a copy a
//! centre has edited, and then every file is read from there instead.
//! Each file is parsed and checked here, before any item is processed: a bad
//! file is one error naming the file and the line or key.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::{Digest, Sha256};

/// Every file the enricher reads, by its path below `pipelines/`.
const FILES: &[(&str, &str)] = &[
    ("channels.toml", include_str!("../pipelines/channels.toml")),
    ("topics.toml", include_str!("../pipelines/topics.toml")),
    (
        "topics/model.tsv",
        include_str!("../pipelines/topics/model.tsv"),
    ),
    ("regions.toml", include_str!("../pipelines/regions.toml")),
    ("dict/user.txt", include_str!("../pipelines/dict/user.txt")),
    (
        "dict/stopwords.txt",
        include_str!("../pipelines/dict/stopwords.txt"),
    ),
    ("dict/idf.txt", include_str!("../pipelines/dict/idf.txt")),
    (
        "dict/generic.txt",
        include_str!("../pipelines/dict/generic.txt"),
    ),
    (
        "dict/synonyms.txt",
        include_str!("../pipelines/dict/synonyms.txt"),
    ),
    ("dict/t2s.txt", include_str!("../pipelines/dict/t2s.txt")),
    (
        "sentiment/positive.txt",
        include_str!("../pipelines/sentiment/positive.txt"),
    ),
    (
        "sentiment/negative.txt",
        include_str!("../pipelines/sentiment/negative.txt"),
    ),
    (
        "sentiment/negators.txt",
        include_str!("../pipelines/sentiment/negators.txt"),
    ),
    (
        "sentiment/degree.txt",
        include_str!("../pipelines/sentiment/degree.txt"),
    ),
    (
        "sentiment/contrast.txt",
        include_str!("../pipelines/sentiment/contrast.txt"),
    ),
    (
        "sentiment/rhetorical.txt",
        include_str!("../pipelines/sentiment/rhetorical.txt"),
    ),
    (
        "sentiment/irrealis.txt",
        include_str!("../pipelines/sentiment/irrealis.txt"),
    ),
    (
        "sentiment/asking.txt",
        include_str!("../pipelines/sentiment/asking.txt"),
    ),
    (
        "sentiment/sarcasm.txt",
        include_str!("../pipelines/sentiment/sarcasm.txt"),
    ),
];

#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: String, message: String },
}

/// The ClickHouse schema steps built into the binary, in order.
pub const CLICKHOUSE_SCHEMA: &[(&str, &str)] = &[
    (
        "001_schema.sql",
        include_str!("../pipelines/clickhouse/001_schema.sql"),
    ),
    (
        "002_hourly_rollups.sql",
        include_str!("../pipelines/clickhouse/002_hourly_rollups.sql"),
    ),
    (
        "003_order_states.sql",
        include_str!("../pipelines/clickhouse/003_order_states.sql"),
    ),
    (
        "004_privacy.sql",
        include_str!("../pipelines/clickhouse/004_privacy.sql"),
    ),
    (
        "005_search.sql",
        include_str!("../pipelines/clickhouse/005_search.sql"),
    ),
    (
        "006_incidents.sql",
        include_str!("../pipelines/clickhouse/006_incidents.sql"),
    ),
    (
        "007_repeats.sql",
        include_str!("../pipelines/clickhouse/007_repeats.sql"),
    ),
    (
        "008_state_order.sql",
        include_str!("../pipelines/clickhouse/008_state_order.sql"),
    ),
    (
        "009_order_items.sql",
        include_str!("../pipelines/clickhouse/009_order_items.sql"),
    ),
    (
        "010_stored_batches.sql",
        include_str!("../pipelines/clickhouse/010_stored_batches.sql"),
    ),
    (
        "011_resolved_at.sql",
        include_str!("../pipelines/clickhouse/011_resolved_at.sql"),
    ),
];

/// The ClickHouse schema steps, (file name, SQL) in order: those of
/// `<pipelines_dir>/clickhouse/` when a folder is configured, else the
/// built-in ones.
pub fn clickhouse_schema(
    pipelines_dir: Option<&Path>,
) -> Result<Vec<(String, String)>, PipelineError> {
    match pipelines_dir {
        Some(dir) => clickhouse_schema_from(&dir.join("clickhouse")),
        None => Ok(CLICKHOUSE_SCHEMA
            .iter()
            .map(|(n, s)| ((*n).to_owned(), (*s).to_owned()))
            .collect()),
    }
}

/// The `*.sql` files of `dir`, (name, SQL) sorted by name.
pub fn clickhouse_schema_from(dir: &Path) -> Result<Vec<(String, String)>, PipelineError> {
    let read_err = |source| PipelineError::Read {
        file: dir.to_owned(),
        source,
    };
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(read_err)? {
        let path = entry.map_err(read_err)?.path();
        if path.extension().is_some_and(|x| x == "sql") {
            let sql = std::fs::read_to_string(&path).map_err(|source| PipelineError::Read {
                file: path.clone(),
                source,
            })?;
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            out.push((name, sql));
        }
    }
    out.sort();
    Ok(out)
}

/// The raw text of every pipeline file, plus a short digest of all of them
/// that becomes part of `model_version`: two items enriched with different
/// lexicons never claim the same model.
#[derive(Debug, Clone)]
pub struct PipelineFiles {
    texts: HashMap<&'static str, String>,
    digest: String,
}

impl PipelineFiles {
    /// The files compiled into this binary.
    pub fn builtin() -> PipelineFiles {
        let texts = FILES.iter().map(|(n, t)| (*n, (*t).to_owned())).collect();
        PipelineFiles::with_texts(texts)
    }

    /// The same set of files read from `dir` (every file must be there).
    /// The files of `pipelines_dir` when one is configured, else the
    /// built-in ones.
    pub fn load(pipelines_dir: Option<&Path>) -> Result<PipelineFiles, PipelineError> {
        match pipelines_dir {
            Some(dir) => PipelineFiles::from_dir(dir),
            None => Ok(PipelineFiles::builtin()),
        }
    }

    pub fn from_dir(dir: &Path) -> Result<PipelineFiles, PipelineError> {
        let mut texts = HashMap::new();
        for (name, _) in FILES {
            let path = dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|source| PipelineError::Read { file: path, source })?;
            texts.insert(*name, text);
        }
        Ok(PipelineFiles::with_texts(texts))
    }

    /// The same files with one replaced (tests of a file's checks).
    #[cfg(test)]
    pub fn with_file(mut self, name: &str, text: &str) -> PipelineFiles {
        let (name, _) = FILES
            .iter()
            .find(|(n, _)| *n == name)
            .expect("one of the pipeline files");
        self.texts.insert(name, text.to_owned());
        PipelineFiles::with_texts(self.texts)
    }

    fn with_texts(texts: HashMap<&'static str, String>) -> PipelineFiles {
        let mut hasher = Sha256::new();
        for (name, _) in FILES {
            hasher.update(name.as_bytes());
            hasher.update(texts[name].as_bytes());
        }
        let digest = hex::encode(&hasher.finalize()[..4]);
        PipelineFiles { texts, digest }
    }

    /// The text of one of the files; a name outside the set is a bug (the
    /// file would read as empty and its rules silently do nothing).
    pub fn text(&self, name: &str) -> &str {
        match self.texts.get(name) {
            Some(text) => text,
            None => panic!("{name} is not one of the pipeline files (add it to FILES)"),
        }
    }

    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Parses a TOML file into `T` with the file's name in any error.
    pub fn toml<T: for<'de> Deserialize<'de>>(&self, name: &str) -> Result<T, PipelineError> {
        toml::from_str(self.text(name)).map_err(|e| PipelineError::Invalid {
            file: name.to_owned(),
            message: e.to_string(),
        })
    }

    /// The lines of a word-list file, trimmed, without blanks and `#` comments.
    pub fn lines<'a>(&'a self, name: &str) -> impl Iterator<Item = (usize, &'a str)> + 'a {
        self.text(name)
            .lines()
            .enumerate()
            .map(|(i, l)| (i + 1, l.trim()))
            .filter(|(_, l)| !l.is_empty() && !l.starts_with('#'))
    }

    /// A `word weight` file as pairs; a line without a weight gets `default`.
    pub fn weighted(&self, name: &str, default: f32) -> Result<Vec<(String, f32)>, PipelineError> {
        let mut out = Vec::new();
        for (no, line) in self.lines(name) {
            let mut parts = line.split_whitespace();
            let word = parts.next().unwrap_or_default();
            let weight = match parts.next() {
                None => default,
                Some(w) => w.parse::<f32>().map_err(|_| PipelineError::Invalid {
                    file: name.to_owned(),
                    message: format!("line {no}: weight {w:?} of {word:?} is not a number"),
                })?,
            };
            out.push((word.to_owned(), weight));
        }
        Ok(out)
    }
}

/// `channels.toml`: the channel codes producers may use.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelsFile {
    pub channel: Vec<ChannelDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelDef {
    /// The stable code (`hotline_12345`), used in data and URLs.
    pub code: String,
    /// The display name on screens (`12345热线`).
    pub name: String,
    /// Replies to a satisfaction revisit: a leading "1"/"满意"... is parsed
    /// into `rating`.
    #[serde(default)]
    pub revisit: bool,
    /// The topic code of what a revisit here asks the citizen to rate: an
    /// answer that names no other matter is about it (docs/TOPICS.md, rule
    /// R). None: the channel does not say.
    #[serde(default)]
    pub rates: Option<String>,
}

/// `topics.toml`: the multi-label topic taxonomy and its matching rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicsFile {
    pub topic: Vec<TopicDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDef {
    pub code: String,
    pub name: String,
    /// Summed weight of matched terms needed to tag the topic.
    #[serde(default = "default_min_score")]
    pub min_score: f32,
    /// Term (a word or phrase, matched as a substring of the normalised
    /// text, longest match first) → weight.
    #[serde(default)]
    pub terms: HashMap<String, f32>,
    /// Any of these in the text vetoes the topic (e.g. 假警察 is fraud, not
    /// a complaint about an officer).
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Whether the topic is a matter an item is about; false for acts that
    /// go with a matter (praise, suggestion): a revisit answer with only
    /// those is about what the revisit rates.
    #[serde(default = "default_matter")]
    pub matter: bool,
    /// Tagged when the item's text reads positive on its own (the words
    /// that commend, apart from a revisit's rating): praise.
    #[serde(default)]
    pub when_positive: bool,
    /// With `when_positive`: the commending words count only when one of
    /// these phrases (the police or their work named) is in the text, or
    /// the item is a revisit answer (which rates the police); empty: no
    /// such need. "今天天气不错" reads positive and commends no one.
    #[serde(default)]
    pub positive_about: Vec<String>,
    /// The model tags the topic only when the text reads positive on its
    /// own and, as for `when_positive`, names the police (`positive_about`)
    /// or answers a revisit (praise: a complaint or a scam report naming
    /// the police is no commendation, nor is a fine day, whatever their
    /// words weigh in the model).
    #[serde(default)]
    pub model_when_positive: bool,
    /// The model does not tag the topic beside these topics (tagged by
    /// rules or model); the rules still may.
    #[serde(default)]
    pub model_not_with: Vec<String>,
    /// Neither the rules nor the model tag the topic beside these topics
    /// tagged by the rules (a theft with a word on its case is the case's:
    /// public order gives way to enforcement).
    #[serde(default)]
    pub not_with: Vec<String>,
    /// A text with no rating that reads neutral and is tagged with the
    /// topic by the rules is a complaint (misconduct reported in plain
    /// words), unless it proposes or commends: sentiment negative.
    #[serde(default)]
    pub reads_negative: bool,
}

fn default_min_score() -> f32 {
    1.0
}

fn default_matter() -> bool {
    true
}

/// `regions.toml`: the gazetteer used when `district`/`unit` are absent.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegionsFile {
    pub district: Vec<DistrictDef>,
    /// Units above district level (city bureau detachments).
    #[serde(default)]
    pub unit: Vec<UnitDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DistrictDef {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// Police stations and brigades of this district.
    #[serde(default)]
    pub units: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitDef {
    pub name: String,
    #[serde(default)]
    pub aliases: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every data file of the enrichment under `pipelines/` is one of
    /// [`FILES`]: a file left out reads as nothing, and its rules quietly
    /// never apply (irrealis and sarcasm markers did not, for weeks).
    #[test]
    fn every_enrichment_file_is_built_in() {
        fn walk(dir: &Path, root: &Path, out: &mut Vec<String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, root, out);
                } else {
                    let name = path.strip_prefix(root).unwrap().to_string_lossy();
                    out.push(name.replace('\\', "/"));
                }
            }
        }
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("pipelines");
        let mut on_disk = Vec::new();
        walk(&root, &root, &mut on_disk);
        // Loaded on their own: the alert rules (config) and the ClickHouse
        // schema steps (CLICKHOUSE_SCHEMA).
        on_disk.retain(|n| n != "alerts.toml" && !n.starts_with("clickhouse/"));
        on_disk.sort();
        let mut built_in: Vec<String> = FILES.iter().map(|(n, _)| (*n).to_owned()).collect();
        built_in.sort();
        assert_eq!(on_disk, built_in);
        for (name, text) in FILES {
            assert!(!text.trim().is_empty(), "{name} is empty");
        }
    }

    #[test]
    #[should_panic(expected = "not one of the pipeline files")]
    fn a_file_outside_the_set_is_a_bug_not_an_empty_text() {
        PipelineFiles::builtin().text("sentiment/missing.txt");
    }
}
