//! `minyi.toml`: parsed, validated, then used. Every field has a default,
//! so no config file is needed to start; a bad file is one error naming the
//! file and the key.

use std::path::{Path, PathBuf};

use chrono::FixedOffset;
use serde::Deserialize;

/// Environment variable that supplies the contact HMAC key (wins over the file).
pub const HMAC_KEY_ENV: &str = "MINYI_HMAC_KEY";

/// Seconds a timestamp may lie ahead of the server's clock (producers'
/// clocks drift) before it is refused, when the config does not say.
pub const DEFAULT_CLOCK_SKEW: i64 = 600;

/// SHA-256 of the empty string: never a valid token's hash.
const EMPTY_TOKEN_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Used when no key is configured, with a warning: contact hashes are then
/// only as private as this source file. Only on loopback: `serve` and `api`
/// refuse it on any other address.
const DEV_HMAC_KEY: &str = "minyi-development-key-change-me";

/// Days a work order may stay open before it is overdue (超期), when the
/// config does not say.
pub const DEFAULT_SLA_DAYS: f64 = 5.0;
/// Hours to create and dispatch a work order for a dissatisfied item.
pub const DEFAULT_DISPATCH_HOURS: f64 = 24.0;
/// Hours after dispatch for the unit to contact the citizen.
pub const DEFAULT_CALLBACK_HOURS: f64 = 48.0;

/// Hours within which two reports of one event are grouped into an
/// incident, when the config does not say.
pub const DEFAULT_INCIDENT_WINDOW_HOURS: u32 = 72;

/// The demo feed's items per second at its busiest hour: about 42,000 a
/// day with their follow-ups, so a first start backfills its week of
/// history (~300,000 items) in about half a minute.
pub const DEFAULT_DEMO_RATE: f64 = 0.7;

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
    /// Seconds a `received_at` or work-order `at` may lie ahead of the
    /// server's clock before the item is refused. Default 600.
    pub max_clock_skew_seconds: Option<u32>,
    /// Days a work order may stay unresolved before it counts as overdue
    /// (超期). Default 5.
    pub sla_days: Option<f64>,
    /// Hours after a dissatisfied item is received within which a work
    /// order must be created and dispatched for it (督办台账: 待派发).
    /// Default 24.
    pub dispatch_hours: Option<f64>,
    /// Hours after dispatch within which the unit must have contacted the
    /// citizen (the `responded` event; 督办台账: 待联系). Default 48.
    pub callback_hours: Option<f64>,
    /// Seconds between two computations of the wall-screen panels (the SSE
    /// `panels` event). Default 2.
    pub tick_seconds: Option<f64>,
    /// Items per second of the demo feed at its busiest hour. Default 0.7
    /// ([`DEFAULT_DEMO_RATE`]).
    pub demo_rate: Option<f64>,
    /// Whether the demo feed, on a first start, backfills history (the
    /// seven days before today and today so far, at the live rate).
    /// Default true.
    pub demo_backfill: Option<bool>,
    /// Folder of the dashboard definitions (`*.json`; the built-in ones when
    /// it has none) and the maps (`geo/<name>.json`). Default `./dashboards`.
    pub dashboards_dir: Option<PathBuf>,
    /// Serve the web assets (pages, CSS, scripts) from this folder instead
    /// of the copies built into the binary: for front-end development
    /// (e.g. `dashboards/web` after `npm ci`). Default: built in.
    pub web_dir: Option<PathBuf>,
    /// Host names the server answers to besides IP literals and localhost
    /// (its DNS names: a page of another site that resolves its own name to
    /// this server — DNS rebinding — is refused). Default none.
    #[serde(default)]
    pub allowed_hosts: Vec<String>,
    /// Origins (`https://wall.example`) whose pages may write (POST,
    /// DELETE) besides the server's own. Default none.
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    /// Open HTTP connections at most (wall screens' streams included); one
    /// more is closed at once. Default 2048.
    pub max_connections: Option<usize>,
    /// Seconds a client has to send its request headers. Default 10.
    pub header_timeout_seconds: Option<f64>,
    /// Seconds a client has to send a request body. Default 30.
    pub body_timeout_seconds: Option<f64>,
    /// Seconds open connections get to finish on shutdown before they are
    /// dropped (stored batches stay stored). Default 10.
    pub shutdown_seconds: Option<f64>,
    /// Alert rules; absent means the built-in `pipelines/alerts.toml`.
    pub alerts_file: Option<PathBuf>,
    /// Seconds between two evaluations of the alert rules. Default 5.
    pub alert_every_seconds: Option<f64>,
    /// Seconds new alerts of one rule wait to go out together. Default 2.
    pub alert_group_wait_seconds: Option<u32>,
    /// Partitions of the input topics `minyi ingest` creates when they are
    /// missing. Default 6.
    pub kafka_partitions: Option<u32>,
    /// `minyi ingest` writes a batch at this many messages ... Default 20000.
    pub ingest_batch_rows: Option<usize>,
    /// ... or this many MiB ... Default 32.
    pub ingest_batch_mib: Option<usize>,
    /// ... or when its first message waited this long. Default 0.25.
    pub ingest_batch_seconds: Option<f64>,
    /// Webhook targets of alert rules (WeCom, DingTalk, Feishu, generic).
    #[serde(default)]
    pub target: Vec<TargetConfig>,
    /// Where alerts go by the place they concern, first match: a district
    /// bureau's alerts to its own robot, the rest to the default route (the
    /// one without `districts` and `units`, last). Added to each rule's own
    /// `targets`. Default none: the rules' targets alone.
    #[serde(default)]
    pub route: Vec<RouteConfig>,
    /// Quiet hours: alerts that fire inside a window are recorded and shown
    /// on the walls but not sent. Default none.
    #[serde(default)]
    pub mute: Vec<MuteConfig>,
    /// Scheduled reports (分析研判) to robots. Default none.
    #[serde(default)]
    pub report: Vec<ReportConfig>,
    /// API tokens, as SHA-256 hashes (`minyi hash-token` prints one). With
    /// none, the server is open, and it refuses to listen beyond loopback.
    #[serde(default)]
    pub token: Vec<TokenConfig>,
    /// Days an item keeps its text, tokens, keywords, evidence, contact
    /// hash and case reference; older items keep only their counts. 0 (the
    /// default) keeps them.
    pub retention_days: Option<u32>,
    /// Days the access audit is kept. Default 180.
    pub audit_retention_days: Option<u32>,
    /// Hours within which a report joins an earlier report of the same
    /// event (同一事件) into an incident: the longest gap between two
    /// linked reports. Default 72, at most 720.
    pub incident_window_hours: Option<u32>,
    /// Days back an item looks for the same contact's earlier items of
    /// its topic: twice before within them makes it a repeat complaint
    /// (重复诉求). Default 30, at most 365.
    pub repeat_window_days: Option<u32>,
    /// The address people open minyi at (`https://minyi.example.gov.cn`,
    /// no path): the base of the explorer links alerts carry to robots.
    /// Default none: links are relative (`/explore?…`), which the walls
    /// and the API's clients resolve, a phone's robot message cannot.
    pub public_url: Option<String>,
}

/// One API token: who holds it, its role and the hex SHA-256 of the secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TokenConfig {
    /// Who holds it ("研判民警张某", "分局大屏"): the audit names every
    /// access by it. Without one the audit says the role and the first
    /// characters of the hash.
    pub name: Option<String>,
    pub role: Role,
    pub sha256: String,
    /// A district bureau's token (分县局): only the items, aggregates,
    /// alerts and live events of these districts (names of
    /// `pipelines/regions.toml`). Default: the whole city.
    #[serde(default)]
    pub districts: Vec<String>,
    /// A station's token (所队): only these units (with `districts`, the
    /// items of both: the units must lie in those districts). Default: any.
    #[serde(default)]
    pub units: Vec<String>,
}

/// A checked API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    /// The configured name, or `role:` and the hash's first 8 hex digits.
    pub name: String,
    pub role: Role,
    pub sha256: [u8; 32],
    /// The scope's districts and units as configured (checked against the
    /// gazetteer by the server, which knows it); both empty: the city.
    pub districts: Vec<String>,
    pub units: Vec<String>,
}

/// Days the access audit is kept when the config does not say.
pub const DEFAULT_AUDIT_RETENTION_DAYS: u32 = 180;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Wall screens: aggregates and the masked ticker.
    Viewer,
    /// The explorer: also item lists and CSV export.
    Analyst,
    /// Producers: POST feedback and work-order events.
    Ingest,
    /// Everything.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Analyst => "analyst",
            Role::Ingest => "ingest",
            Role::Admin => "admin",
        }
    }

    /// Whether a token of this role may do what `need` requires.
    pub fn allows(self, need: Role) -> bool {
        self == need || self == Role::Admin || (self == Role::Analyst && need == Role::Viewer)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Webhook,
    Wecom,
    Dingtalk,
    Feishu,
}

/// `[[target]]` in minyi.toml.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// What rules name in `targets`.
    pub name: String,
    pub kind: TargetKind,
    /// The robot's webhook address (with its access token).
    pub url: String,
    /// The signing secret (DingTalk "加签", Feishu "签名校验").
    pub secret: Option<String>,
    /// Messages per minute at most; default 20 for WeCom and DingTalk.
    pub per_minute: Option<u32>,
}

/// `[[route]]` in minyi.toml: the robots of a place's alerts.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RouteConfig {
    /// Alerts about these districts (names of `pipelines/regions.toml`) ...
    #[serde(default)]
    pub districts: Vec<String>,
    /// ... and/or these units. Neither: the default route, every alert.
    #[serde(default)]
    pub units: Vec<String>,
    /// `[[target]]` names that get the route's alerts.
    pub targets: Vec<String>,
    /// An alert not acknowledged this long after it fired ("30m") goes,
    /// once, to `escalate_to`. Default: no escalation.
    pub escalate_after: Option<String>,
    /// `[[target]]` names of the escalation (the city's duty group).
    #[serde(default)]
    pub escalate_to: Vec<String>,
}

/// `[[report]]` in minyi.toml: a report pushed once per period.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportConfig {
    /// `daily`, `weekly` (Monday to Sunday) or `monthly`.
    pub period: String,
    /// "HH:MM" on the centre's clock, on the first day after the period.
    /// Default "08:00".
    pub at: Option<String>,
    /// `[[target]]` names (robots).
    pub targets: Vec<String>,
}

/// A checked `[[report]]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportSchedule {
    /// `daily`, `weekly` or `monthly`.
    pub period: String,
    /// Minutes after midnight.
    pub at_minute: u32,
    pub targets: Vec<String>,
}

/// `[[mute]]` in minyi.toml: a recurring quiet window in the centre's zone.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MuteConfig {
    /// Days the window starts on: `mon` … `sun`. Default every day.
    #[serde(default)]
    pub days: Vec<String>,
    /// Start, "HH:MM" on the centre's wall clock.
    pub from: String,
    /// End, "HH:MM", exclusive; earlier than `from`: the next day (across
    /// midnight: "22:00" to "07:00").
    pub to: String,
    /// Only alerts about these districts and/or units. Default: every alert.
    #[serde(default)]
    pub districts: Vec<String>,
    #[serde(default)]
    pub units: Vec<String>,
}

/// A checked `[[mute]]`: the days (Monday first) and minutes of the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MuteWindow {
    pub days: [bool; 7],
    pub from: u32,
    pub to: u32,
    pub districts: Vec<String>,
    pub units: Vec<String>,
}

impl MuteWindow {
    /// Whether the window holds the instant `t` (unix seconds) on the wall
    /// clock of `tz`. A window across midnight belongs to the day it starts
    /// on: Friday 22:00–07:00 holds Saturday 06:59.
    pub fn holds(&self, t: i64, tz: FixedOffset) -> bool {
        let local = t + i64::from(tz.local_minus_utc());
        let minute = (local.rem_euclid(86_400) / 60) as u32;
        // 1970-01-01 was a Thursday (3, Monday being 0).
        let day = ((local.div_euclid(86_400) + 3).rem_euclid(7)) as usize;
        if self.from < self.to {
            self.days[day] && (self.from..self.to).contains(&minute)
        } else {
            (self.days[day] && minute >= self.from)
                || (self.days[(day + 6) % 7] && minute < self.to)
        }
    }
}

/// "HH:MM" → minutes of the day.
fn parse_clock(s: &str) -> Option<u32> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, m): (u32, u32) = (h.parse().ok()?, m.parse().ok()?);
    (h < 24 && m < 60 && s.trim().len() == 5).then_some(h * 60 + m)
}

const DAYS: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// "90s", "30m", "2h", "7d" → seconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let s = s.trim();
    let (n, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit())?);
    let n: i64 = n.parse().ok()?;
    let unit = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return None,
    };
    // A count too large for its unit is no duration (a typo, or a hostile
    // client's "9999999999999999d"), not an overflow.
    n.checked_mul(unit).filter(|secs| *secs > 0)
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
}

/// A config that passed validation.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The file the config came from (`(defaults)` without one): errors
    /// found later, against the pipeline files, name it.
    pub file: PathBuf,
    pub pipelines_dir: Option<PathBuf>,
    pub timezone: FixedOffset,
    pub hmac_key: Vec<u8>,
    /// True when the development key is in use (callers warn).
    pub dev_key: bool,
    pub sla_seconds: i64,
    /// `dispatch_hours` and `callback_hours`, in seconds.
    pub dispatch_seconds: i64,
    pub callback_seconds: i64,
    pub tick: std::time::Duration,
    pub demo_rate: f64,
    pub demo_backfill: bool,
    pub dashboards_dir: PathBuf,
    pub web_dir: Option<PathBuf>,
    pub allowed_hosts: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub clock_skew: i64,
    pub max_connections: usize,
    pub header_timeout: std::time::Duration,
    pub body_timeout: std::time::Duration,
    pub shutdown_deadline: std::time::Duration,
    pub tokens: Vec<ApiToken>,
    /// Items older than this many days lose their personal content; 0 keeps it.
    pub retention_days: u32,
    pub audit_retention_days: u32,
    /// The text of the alert rules file.
    pub alert_rules: String,
    pub alert_every: std::time::Duration,
    pub alert_group_wait: i64,
    pub targets: Vec<TargetConfig>,
    /// Alert routes in order (their place names are checked against the
    /// gazetteer by the server, which knows it).
    pub routes: Vec<RouteConfig>,
    pub mutes: Vec<MuteWindow>,
    pub reports: Vec<ReportSchedule>,
    pub kafka_partitions: u32,
    pub ingest_batch_rows: usize,
    pub ingest_batch_bytes: usize,
    pub ingest_batch_wait: std::time::Duration,
    pub incident_window_hours: u32,
    pub repeat_window_days: u32,
    /// Without a trailing slash; "" when none is configured.
    pub public_url: String,
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
        let positive = |key: &str, v: Option<f64>, default: f64, max: f64| match v {
            None => Ok(default),
            Some(x) if x > 0.0 && x <= max => Ok(x),
            Some(x) => Err(invalid(format!("{key}: {x} is not in (0, {max}]"))),
        };
        let sla_days = positive("sla_days", self.sla_days, DEFAULT_SLA_DAYS, 365.0)?;
        let dispatch_hours = positive(
            "dispatch_hours",
            self.dispatch_hours,
            DEFAULT_DISPATCH_HOURS,
            8760.0,
        )?;
        let callback_hours = positive(
            "callback_hours",
            self.callback_hours,
            DEFAULT_CALLBACK_HOURS,
            8760.0,
        )?;
        let tick = positive("tick_seconds", self.tick_seconds, 2.0, 3600.0)?;
        let demo_rate = positive("demo_rate", self.demo_rate, DEFAULT_DEMO_RATE, 10_000.0)?;
        let mut tokens = Vec::new();
        for (i, t) in self.token.iter().enumerate() {
            let mut hash = [0u8; 32];
            hex::decode_to_slice(t.sha256.trim(), &mut hash).map_err(|_| {
                invalid(format!(
                    "token[{i}].sha256: not 64 hex digits (minyi hash-token prints one)"
                ))
            })?;
            if t.sha256.trim().eq_ignore_ascii_case(EMPTY_TOKEN_SHA256) {
                return Err(invalid(format!(
                    "token[{i}].sha256: the hash of an empty token, which anyone could send; \
                     use a long random secret (minyi hash-token SECRET)"
                )));
            }
            let name = match &t.name {
                None => format!(
                    "{}:{}",
                    t.role.as_str(),
                    &t.sha256.trim()[..8].to_lowercase()
                ),
                Some(n) => {
                    let n = n.trim();
                    if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
                        return Err(invalid(format!(
                            "token[{i}].name: 1 to 64 characters, no control characters"
                        )));
                    }
                    if self.token[..i]
                        .iter()
                        .any(|o| o.name.as_deref().map(str::trim) == Some(n))
                    {
                        return Err(invalid(format!("token[{i}].name: {n:?} is taken")));
                    }
                    n.to_owned()
                }
            };
            let scoped = !(t.districts.is_empty() && t.units.is_empty());
            if scoped && !matches!(t.role, Role::Viewer | Role::Analyst) {
                return Err(invalid(format!(
                    "token[{i}].districts: a scope is for viewer and analyst tokens; a {} token \
                     acts on the whole city",
                    t.role.as_str()
                )));
            }
            tokens.push(ApiToken {
                name,
                role: t.role,
                sha256: hash,
                districts: t.districts.clone(),
                units: t.units.clone(),
            });
        }
        let audit_retention_days = self
            .audit_retention_days
            .unwrap_or(DEFAULT_AUDIT_RETENTION_DAYS);
        if audit_retention_days == 0 {
            return Err(invalid(
                "audit_retention_days: at least 1 (the audit cannot be switched off)".into(),
            ));
        }
        let alert_every = positive("alert_every_seconds", self.alert_every_seconds, 5.0, 3600.0)?;
        let alert_rules = match &self.alerts_file {
            None => include_str!("../pipelines/alerts.toml").to_owned(),
            Some(f) => std::fs::read_to_string(f)
                .map_err(|e| invalid(format!("alerts_file: cannot read {}: {e}", f.display())))?,
        };
        for (i, t) in self.target.iter().enumerate() {
            if !(t.url.starts_with("http://") || t.url.starts_with("https://")) {
                return Err(invalid(format!("target[{i}].url: not an http(s) address")));
            }
            if t.name == "wall" || self.target[..i].iter().any(|o| o.name == t.name) {
                return Err(invalid(format!("target[{i}].name: {:?} is taken", t.name)));
            }
        }
        let target_named = |key: String, name: &str| {
            if self.target.iter().any(|t| t.name == name) {
                Ok(())
            } else {
                Err(invalid(format!("{key}: no [[target]] named {name:?}")))
            }
        };
        for (i, r) in self.route.iter().enumerate() {
            if r.targets.is_empty() {
                return Err(invalid(format!(
                    "route[{i}].targets: name at least one [[target]]"
                )));
            }
            for t in &r.targets {
                target_named(format!("route[{i}].targets"), t)?;
            }
            for t in &r.escalate_to {
                target_named(format!("route[{i}].escalate_to"), t)?;
            }
            match (&r.escalate_after, r.escalate_to.is_empty()) {
                (Some(e), false) => {
                    parse_duration(e).ok_or_else(|| {
                        invalid(format!(
                            "route[{i}].escalate_after: {e:?} is not a duration like \"30m\""
                        ))
                    })?;
                }
                (None, true) => {}
                (Some(_), true) => {
                    return Err(invalid(format!(
                        "route[{i}].escalate_to: required with escalate_after"
                    )));
                }
                (None, false) => {
                    return Err(invalid(format!(
                        "route[{i}].escalate_after: required with escalate_to"
                    )));
                }
            }
            let default = r.districts.is_empty() && r.units.is_empty();
            if default && i + 1 != self.route.len() {
                return Err(invalid(format!(
                    "route[{i}]: a default route (no districts, no units) must be the last: \
                     it matches every alert, so no route after it would"
                )));
            }
        }
        let mut reports = Vec::new();
        for (i, r) in self.report.iter().enumerate() {
            if !matches!(r.period.as_str(), "daily" | "weekly" | "monthly") {
                return Err(invalid(format!(
                    "report[{i}].period: {:?} is not daily, weekly or monthly",
                    r.period
                )));
            }
            let at = r.at.as_deref().unwrap_or("08:00");
            let at_minute = parse_clock(at).ok_or_else(|| {
                invalid(format!(
                    "report[{i}].at: {at:?} is not a time like \"08:00\""
                ))
            })?;
            if r.targets.is_empty() {
                return Err(invalid(format!(
                    "report[{i}].targets: name at least one [[target]]"
                )));
            }
            for t in &r.targets {
                if !self.target.iter().any(|x| x.name == *t) {
                    return Err(invalid(format!(
                        "report[{i}].targets: {t:?} is not the name of a [[target]]"
                    )));
                }
            }
            reports.push(ReportSchedule {
                period: r.period.clone(),
                at_minute,
                targets: r.targets.clone(),
            });
        }
        let mut mutes = Vec::new();
        for (i, m) in self.mute.iter().enumerate() {
            let clock = |key: &str, v: &str| {
                parse_clock(v).ok_or_else(|| {
                    invalid(format!(
                        "mute[{i}].{key}: {v:?} is not a time like \"22:00\""
                    ))
                })
            };
            let (from, to) = (clock("from", &m.from)?, clock("to", &m.to)?);
            if from == to {
                return Err(invalid(format!("mute[{i}].to: the same as from")));
            }
            let mut days = [m.days.is_empty(); 7];
            for d in &m.days {
                let k = DAYS
                    .iter()
                    .position(|x| x.eq_ignore_ascii_case(d.trim()))
                    .ok_or_else(|| {
                        invalid(format!(
                            "mute[{i}].days: {d:?} is not one of mon tue wed thu fri sat sun"
                        ))
                    })?;
                days[k] = true;
            }
            mutes.push(MuteWindow {
                days,
                from,
                to,
                districts: m.districts.clone(),
                units: m.units.clone(),
            });
        }
        let partitions = positive(
            "kafka_partitions",
            self.kafka_partitions.map(f64::from),
            6.0,
            1024.0,
        )?;
        let batch_rows = positive(
            "ingest_batch_rows",
            self.ingest_batch_rows.map(|n| n as f64),
            20_000.0,
            500_000.0,
        )?;
        let batch_mib = positive(
            "ingest_batch_mib",
            self.ingest_batch_mib.map(|n| n as f64),
            32.0,
            1024.0,
        )?;
        let batch_wait = positive(
            "ingest_batch_seconds",
            self.ingest_batch_seconds,
            0.25,
            60.0,
        )?;
        let max_connections = positive(
            "max_connections",
            self.max_connections.map(|n| n as f64),
            2048.0,
            1_000_000.0,
        )?;
        let header_timeout = positive(
            "header_timeout_seconds",
            self.header_timeout_seconds,
            10.0,
            3600.0,
        )?;
        let body_timeout = positive(
            "body_timeout_seconds",
            self.body_timeout_seconds,
            30.0,
            3600.0,
        )?;
        let shutdown = positive("shutdown_seconds", self.shutdown_seconds, 10.0, 3600.0)?;
        let incident_window_hours = positive(
            "incident_window_hours",
            self.incident_window_hours.map(f64::from),
            f64::from(DEFAULT_INCIDENT_WINDOW_HOURS),
            720.0,
        )? as u32;
        let repeat_window_days = positive(
            "repeat_window_days",
            self.repeat_window_days.map(f64::from),
            30.0,
            365.0,
        )? as u32;
        let public_url = match self.public_url {
            None => String::new(),
            Some(u) => check_public_url(&u).map_err(|e| invalid(format!("public_url: {e}")))?,
        };
        Ok(Checked {
            public_url,
            file: file
                .map(Path::to_owned)
                .unwrap_or_else(|| "(defaults)".into()),
            incident_window_hours,
            repeat_window_days,
            clock_skew: self
                .max_clock_skew_seconds
                .map_or(DEFAULT_CLOCK_SKEW, i64::from),
            max_connections: max_connections as usize,
            header_timeout: std::time::Duration::from_secs_f64(header_timeout),
            body_timeout: std::time::Duration::from_secs_f64(body_timeout),
            shutdown_deadline: std::time::Duration::from_secs_f64(shutdown),
            kafka_partitions: partitions as u32,
            ingest_batch_rows: batch_rows as usize,
            ingest_batch_bytes: batch_mib as usize * 1024 * 1024,
            ingest_batch_wait: std::time::Duration::from_secs_f64(batch_wait),
            alert_rules,
            alert_every: std::time::Duration::from_secs_f64(alert_every),
            alert_group_wait: i64::from(self.alert_group_wait_seconds.unwrap_or(2)),
            targets: self.target,
            routes: self.route,
            mutes,
            reports,
            pipelines_dir: self.pipelines_dir,
            timezone,
            hmac_key,
            dev_key,
            sla_seconds: (sla_days * 86_400.0).round() as i64,
            dispatch_seconds: (dispatch_hours * 3600.0).round() as i64,
            callback_seconds: (callback_hours * 3600.0).round() as i64,
            tick: std::time::Duration::from_secs_f64(tick),
            demo_rate,
            demo_backfill: self.demo_backfill.unwrap_or(true),
            dashboards_dir: self
                .dashboards_dir
                .unwrap_or_else(|| PathBuf::from("dashboards")),
            web_dir: self.web_dir,
            allowed_hosts: self.allowed_hosts,
            allowed_origins: self.allowed_origins,
            tokens,
            retention_days: self.retention_days.unwrap_or(0),
            audit_retention_days,
        })
    }
}

/// `public_url` as links are built from it: http(s), a host, no query,
/// no fragment, no user info; a trailing slash dropped.
fn check_public_url(u: &str) -> Result<String, String> {
    let parsed = reqwest::Url::parse(u).map_err(|e| format!("{u:?} is not a URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(format!("{u:?} is not an http(s) address with a host"));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() || !parsed.username().is_empty() {
        return Err(format!("{u:?}: no query, fragment or user name, please"));
    }
    Ok(u.trim_end_matches('/').to_owned())
}

/// A UTC offset written `+08:00` / `-05:30` (the config's `timezone`,
/// `minyi import --timezone`).
pub fn parse_offset(s: &str) -> Option<FixedOffset> {
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
    fn durations() {
        assert_eq!(parse_duration("30m"), Some(1800));
        assert_eq!(parse_duration("7d"), Some(604_800));
        assert_eq!(parse_duration("0m"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("5 w"), None);
        assert_eq!(parse_duration("9999999999999999d"), None);
    }

    #[test]
    fn tokens_are_hashes_with_roles() {
        let c: Config = toml::from_str(
            "[[token]]\nrole = \"viewer\"\nsha256 = \"00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff\"",
        )
        .unwrap();
        let checked = c.validate(None).unwrap();
        assert_eq!(checked.tokens[0].role, Role::Viewer);
        assert_eq!(checked.tokens[0].name, "viewer:00ff00ff");
        let bad: Config =
            toml::from_str("[[token]]\nrole = \"viewer\"\nsha256 = \"secret\"").unwrap();
        assert!(
            bad.validate(None)
                .unwrap_err()
                .to_string()
                .contains("token[0].sha256")
        );
        assert!(toml::from_str::<Config>("[[token]]\nrole = \"root\"\nsha256 = \"\"").is_err());
        let empty: Config = toml::from_str(&format!(
            "[[token]]\nrole = \"admin\"\nsha256 = \"{}\"",
            EMPTY_TOKEN_SHA256.to_uppercase()
        ))
        .unwrap();
        let err = empty.validate(None).unwrap_err().to_string();
        assert!(
            err.contains("token[0].sha256") && err.contains("empty"),
            "{err}"
        );
        for (key, bad) in [
            (
                "dispatch_hours",
                Config {
                    dispatch_hours: Some(0.0),
                    ..Config::default()
                },
            ),
            (
                "callback_hours",
                Config {
                    callback_hours: Some(-2.0),
                    ..Config::default()
                },
            ),
        ] {
            let err = bad.validate(None).unwrap_err().to_string();
            assert!(err.contains(key), "{err}");
        }
        let hours: Config = toml::from_str("dispatch_hours = 12\ncallback_hours = 2.5").unwrap();
        let hours = hours.validate(None).unwrap();
        assert_eq!(
            (hours.dispatch_seconds, hours.callback_seconds),
            (43_200, 9_000)
        );
        let bad = Config {
            sla_days: Some(-1.0),
            ..Config::default()
        };
        assert!(
            bad.validate(None)
                .unwrap_err()
                .to_string()
                .contains("sla_days")
        );
    }

    #[test]
    fn routes_and_mutes_are_checked_naming_the_key() {
        let targets = "[[target]]\nname = \"hs\"\nkind = \"wecom\"\nurl = \"http://x\"\n\
                       [[target]]\nname = \"duty\"\nkind = \"dingtalk\"\nurl = \"http://y\"\n";
        let check = |extra: &str| {
            toml::from_str::<Config>(&format!("{targets}{extra}"))
                .unwrap()
                .validate(None)
        };
        let ok = check(
            "[[route]]\ndistricts = [\"邯山区\"]\ntargets = [\"hs\"]\nescalate_after = \"30m\"\nescalate_to = [\"duty\"]\n\
             [[route]]\ntargets = [\"duty\"]\n[[mute]]\ndays = [\"fri\"]\nfrom = \"22:00\"\nto = \"07:00\"\n",
        )
        .unwrap();
        assert_eq!((ok.routes.len(), ok.mutes.len()), (2, 1));
        let err = |extra: &str| check(extra).unwrap_err().to_string();
        assert!(err("[[route]]\ntargets = [\"pager\"]").contains("route[0].targets"));
        assert!(
            err("[[route]]\ntargets = [\"hs\"]\n[[route]]\ndistricts = [\"邯山区\"]\ntargets = [\"hs\"]")
                .contains("route[0]: a default route")
        );
        assert!(
            err("[[route]]\ntargets = [\"hs\"]\nescalate_after = \"30m\"")
                .contains("route[0].escalate_to")
        );
        assert!(err("[[mute]]\nfrom = \"25:00\"\nto = \"07:00\"").contains("mute[0].from"));
        assert!(
            err("[[mute]]\ndays = [\"fri\", \"fun\"]\nfrom = \"22:00\"\nto = \"07:00\"")
                .contains("mute[0].days")
        );
    }

    #[test]
    fn a_mute_across_midnight_belongs_to_the_day_it_starts() {
        let tz = default_timezone();
        let w = MuteWindow {
            days: [false, false, false, false, true, false, false],
            from: 22 * 60,
            to: 7 * 60,
            districts: Vec::new(),
            units: Vec::new(),
        };
        // Local times (+08:00) of the week of Monday 2025-06-02.
        let at = |day: i64, h: i64, m: i64| {
            1_748_793_600 + day * 86_400 + h * 3600 + m * 60 // 2025-06-02T00:00+08:00
        };
        assert!(!w.holds(at(4, 21, 59), tz), "Friday before 22:00");
        assert!(w.holds(at(4, 22, 0), tz), "Friday 22:00");
        assert!(w.holds(at(4, 23, 59), tz));
        assert!(w.holds(at(5, 0, 0), tz), "Saturday after midnight");
        assert!(w.holds(at(5, 6, 59), tz));
        assert!(!w.holds(at(5, 7, 0), tz), "the end is exclusive");
        assert!(!w.holds(at(5, 22, 30), tz), "Saturday is not a start day");
        assert!(!w.holds(at(3, 23, 0), tz), "nor Thursday");
        assert!(
            !w.holds(at(4, 3, 0), tz),
            "Friday early morning belongs to Thursday's window"
        );
        let day = MuteWindow {
            days: [true; 7],
            from: 12 * 60,
            to: 13 * 60,
            ..w
        };
        assert!(day.holds(at(2, 12, 30), tz) && !day.holds(at(2, 13, 0), tz));
    }

    #[test]
    fn scopes_are_for_viewers_and_analysts() {
        let hash = "00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff00ff";
        let c: Config = toml::from_str(&format!(
            "[[token]]\nrole = \"analyst\"\nsha256 = \"{hash}\"\ndistricts = [\"邯山区\"]\nunits = [\"火磨派出所\"]"
        ))
        .unwrap();
        let t = &c.validate(None).unwrap().tokens[0];
        assert_eq!((t.districts.len(), t.units.len()), (1, 1));
        let c: Config = toml::from_str(&format!(
            "[[token]]\nrole = \"admin\"\nsha256 = \"{hash}\"\ndistricts = [\"邯山区\"]"
        ))
        .unwrap();
        let e = c.validate(None).unwrap_err().to_string();
        assert!(
            e.contains("token[0].districts") && e.contains("admin"),
            "{e}"
        );
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
