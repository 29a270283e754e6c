//! `minyi.toml`: parsed, validated, then used. Every field has a default,
//! so no config file is needed to start; a bad file is one error naming the
//! file and the key.

use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::Deserialize;

use crate::enrich::{EnrichSettings, Enricher};
use crate::pipelines::{PipelineError, PipelineFiles};

/// Environment variable that supplies the contact HMAC key (wins over the file).
pub const HMAC_KEY_ENV: &str = "MINYI_HMAC_KEY";

/// Used when no key is configured, with a warning: contact hashes are then
/// only as private as this source file.
const DEV_HMAC_KEY: &str = "minyi-development-key-change-me";

/// The centre's wall clock when the config names none: Asia/Shanghai,
/// which keeps +08:00 all year.
pub fn default_timezone() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).expect("+08:00 is a valid offset")
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Directory holding edited copies of the pipeline files; absent means
    /// the files built into the binary.
    pub pipelines_dir: Option<PathBuf>,
    /// UTC offset of the centre's wall clock ("+08:00"): buckets of the
    /// dashboards and timestamps minyi assigns. Default Asia/Shanghai.
    pub timezone: Option<String>,
    /// Key of the HMAC that replaces `contact`. Prefer the environment
    /// variable MINYI_HMAC_KEY over writing it here.
    pub hmac_key: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}: {message}")]
    Invalid { file: PathBuf, message: String },
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
}

/// A config that passed validation.
#[derive(Debug, Clone)]
pub struct Checked {
    pub pipelines_dir: Option<PathBuf>,
    pub timezone: FixedOffset,
    pub hmac_key: Vec<u8>,
    /// True when the development key is in use (callers warn).
    pub dev_key: bool,
}

impl Config {
    pub fn load(path: Option<&Path>) -> Result<Config, ConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_owned(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Invalid {
            file: path.to_owned(),
            message: e.to_string(),
        })
    }

    pub fn validate(self, file: Option<&Path>) -> Result<Checked, ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            file: file
                .map(Path::to_owned)
                .unwrap_or_else(|| "(defaults)".into()),
            message,
        };
        let timezone = match &self.timezone {
            None => default_timezone(),
            Some(tz) => parse_offset(tz).ok_or_else(|| {
                invalid(format!(
                    "timezone: {tz:?} is not a UTC offset like \"+08:00\""
                ))
            })?,
        };
        let env_key = std::env::var(HMAC_KEY_ENV).ok().filter(|k| !k.is_empty());
        let (hmac_key, dev_key) = match env_key.or(self.hmac_key) {
            Some(k) if k.len() < 16 => {
                return Err(invalid("hmac_key: use at least 16 bytes".into()));
            }
            Some(k) => (k.into_bytes(), false),
            None => (DEV_HMAC_KEY.as_bytes().to_vec(), true),
        };
        Ok(Checked {
            pipelines_dir: self.pipelines_dir,
            timezone,
            hmac_key,
            dev_key,
        })
    }
}

fn parse_offset(s: &str) -> Option<FixedOffset> {
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if !(0..=14).contains(&h) || !(0..60).contains(&m) {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

impl Checked {
    pub fn pipeline_files(&self) -> Result<PipelineFiles, PipelineError> {
        match &self.pipelines_dir {
            Some(dir) => PipelineFiles::from_dir(dir),
            None => Ok(PipelineFiles::builtin()),
        }
    }

    pub fn enricher(&self) -> Result<Enricher, PipelineError> {
        Enricher::new(
            &self.pipeline_files()?,
            EnrichSettings {
                hmac_key: self.hmac_key.clone(),
                timezone: self.timezone,
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(parse_offset("+08:00"), FixedOffset::east_opt(8 * 3600));
        assert_eq!(
            parse_offset("-05:30"),
            FixedOffset::east_opt(-(5 * 3600 + 30 * 60))
        );
        assert_eq!(parse_offset("08:00"), None);
        assert_eq!(parse_offset("+25:00"), None);
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let err = toml::from_str::<Config>("timezon = \"+08:00\"").unwrap_err();
        assert!(err.to_string().contains("timezon"), "{err}");
    }

    #[test]
    fn short_keys_are_refused() {
        let c = Config {
            hmac_key: Some("short".into()),
            ..Config::default()
        };
        // The environment variable would win; only check when it is unset.
        if std::env::var(HMAC_KEY_ENV).is_err() {
            assert!(c.validate(None).is_err());
        }
    }
}
