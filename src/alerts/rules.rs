//! Alert rules, `pipelines/alerts.toml` (or the file `alerts_file` names):
//! what to watch (a scope in the query API's filter terms, optionally "for
//! each value of" a dimension), over which window, with which detector,
//! how severe, and whom to tell. Parsed and checked before the server
//! starts; a bad rule is one error naming the rule and the key.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::detect::Detector;
use crate::config::parse_duration;
use crate::query::{Filters, Query, QueryError, Request, TopDim, Vocabulary};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RulesFile {
    #[serde(default)]
    pub rule: Vec<RuleDef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable name: part of every alert's identity.
    pub name: String,
    /// Headline; `{value}` is replaced by the series' value name.
    pub title: String,
    /// Filters in the API's terms: channel, topic, district, unit,
    /// sentiment, rating, and `keyword` (full-text).
    #[serde(default)]
    pub scope: BTreeMap<String, Vec<String>>,
    /// One series per value of: channel, topic, district, unit or keyword.
    pub for_each: Option<String>,
    /// The current window, e.g. "30m".
    pub window: String,
    /// History: the same window this many periods back (baseline,
    /// negative share, emerging). Default 4.
    #[serde(default = "four")]
    pub history: u32,
    /// Length of a period of the history, e.g. "7d" (same hour of the
    /// week) or "1d". Default 7d.
    #[serde(default = "week")]
    pub period: String,
    pub detector: Detector,
    /// info, warning or critical.
    #[serde(default = "warning")]
    pub severity: String,
    /// Where to deliver: "wall" (the wall screens' banner) and names of
    /// `[[target]]` webhooks in minyi.toml.
    #[serde(default = "wall")]
    pub targets: Vec<String>,
    /// After an alert resolves, the same series stays quiet this long.
    #[serde(default = "hour")]
    pub cooldown: String,
}

fn four() -> u32 {
    4
}
fn week() -> String {
    "7d".into()
}
fn warning() -> String {
    "warning".into()
}
fn wall() -> Vec<String> {
    vec!["wall".into()]
}
fn hour() -> String {
    "1h".into()
}

/// A rule that passed its checks.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub title: String,
    pub scope: Filters,
    pub for_each: Option<TopDim>,
    pub window: i64,
    pub history: u32,
    pub period: i64,
    pub detector: Detector,
    pub severity: String,
    pub targets: Vec<String>,
    pub cooldown: i64,
}

impl Rule {
    /// Checks a rule definition against the vocabulary and the known targets.
    pub fn check(def: RuleDef, vocab: &Vocabulary, targets: &[String]) -> Result<Rule, String> {
        let bad = |m: String| format!("rule {:?}: {m}", def.name);
        if def.name.is_empty()
            || !def
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(bad("name: use letters, digits, - and _".into()));
        }
        let duration = |key: &str, v: &str| {
            parse_duration(v)
                .ok_or_else(|| bad(format!("{key}: {v:?} is not a duration like \"30m\"")))
        };
        let window = duration("window", &def.window)?;
        let period = duration("period", &def.period)?;
        let cooldown = duration("cooldown", &def.cooldown)?;
        if window < 60 || window % 60 != 0 {
            return Err(bad("window: whole minutes, at least 1m".into()));
        }
        if window > period {
            return Err(bad("window: longer than the period".into()));
        }
        def.detector
            .validate()
            .map_err(|m| bad(format!("detector: {m}")))?;
        if !(1..=12).contains(&def.history) {
            return Err(bad("history: 1 to 12 periods".into()));
        }
        if !["info", "warning", "critical"].contains(&def.severity.as_str()) {
            return Err(bad(format!(
                "severity: {:?} is not info, warning or critical",
                def.severity
            )));
        }
        for t in &def.targets {
            if t != "wall" && !targets.contains(t) {
                return Err(bad(format!(
                    "targets: no [[target]] named {t:?} in the config"
                )));
            }
        }
        let for_each = match def.for_each.as_deref() {
            None => None,
            Some(d) => Some(
                serde_json::from_value::<TopDim>(serde_json::json!(d)).map_err(|_| {
                    bad(format!(
                        "for_each: {d:?} is not channel, topic, district, unit or keyword"
                    ))
                })?,
            ),
        };
        if matches!(def.detector, Detector::Emerging { .. }) && for_each != Some(TopDim::Keyword) {
            return Err(bad("detector emerging needs for_each = \"keyword\"".into()));
        }
        // The scope goes through the API's own parser: same names, same checks.
        let pairs: Vec<(String, String)> = def
            .scope
            .iter()
            .flat_map(|(k, vs)| {
                let k = if k == "keyword" {
                    "q".to_owned()
                } else {
                    k.clone()
                };
                vs.iter().map(move |v| (k.clone(), v.clone()))
            })
            .collect();
        if def.scope.get("keyword").is_some_and(|v| v.len() > 1) {
            return Err(bad("scope.keyword: one search text".into()));
        }
        let scope = match Request::Summary.parse(
            pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            vocab,
            0,
        ) {
            Ok(Query::Summary(f)) => f,
            Ok(_) => unreachable!("a summary request parses to a summary"),
            Err(QueryError { param, message }) => {
                return Err(bad(format!("scope.{param}: {message}")));
            }
        };
        if scope.from.is_some() || scope.to.is_some() {
            return Err(bad("scope: the window sets the time, not from/to".into()));
        }
        Ok(Rule {
            name: def.name,
            title: def.title,
            scope,
            for_each,
            window,
            history: def.history,
            period,
            detector: def.detector,
            severity: def.severity,
            targets: def.targets,
            cooldown,
        })
    }
}

/// Parses and checks a rules file's text.
pub fn parse(text: &str, vocab: &Vocabulary, targets: &[String]) -> Result<Vec<Rule>, String> {
    let file: RulesFile = toml::from_str(text).map_err(|e| e.to_string())?;
    let mut rules: Vec<Rule> = Vec::new();
    for def in file.rule {
        let rule = Rule::check(def, vocab, targets)?;
        if rules.iter().any(|r| r.name == rule.name) {
            return Err(format!("rule {:?} is defined twice", rule.name));
        }
        rules.push(rule);
    }
    Ok(rules)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;
    use std::sync::Arc;

    fn vocab() -> Vocabulary {
        Vocabulary::from_enricher(&Arc::new(Enricher::builtin(b"k").unwrap()))
    }

    #[test]
    fn the_shipped_rules_parse() {
        let rules = parse(include_str!("../../pipelines/alerts.toml"), &vocab(), &[]).unwrap();
        assert!(rules.len() >= 4);
        assert!(
            rules
                .iter()
                .any(|r| matches!(r.detector, Detector::Emerging { .. }))
        );
    }

    #[test]
    fn bad_rules_name_the_key() {
        let base = |extra: &str| {
            format!(
                "[[rule]]\nname = \"r\"\ntitle = \"t\"\nwindow = \"30m\"\ndetector = {{ kind = \"baseline\" }}\n{extra}"
            )
        };
        assert!(parse(&base(""), &vocab(), &[]).is_ok());
        let err = |extra: &str| parse(&base(extra), &vocab(), &[]).unwrap_err();
        assert!(err("for_each = \"weather\"").contains("for_each"));
        assert!(err("scope = { district = [\"北京\"] }").contains("scope.district"));
        assert!(err("targets = [\"pager\"]").contains("targets"));
        assert!(err("severity = \"doom\"").contains("severity"));
        assert!(err("period = \"10m\"").contains("window"));
        assert!(
            parse(&base("").replace("baseline", "emerging"), &vocab(), &[])
                .unwrap_err()
                .contains("keyword")
        );
        assert!(
            parse(&format!("{}{}", base(""), base("")), &vocab(), &[])
                .unwrap_err()
                .contains("twice")
        );
        let ok = parse(&base("scope = { keyword = [\"出警\"], sentiment = [\"negative\"] }\nfor_each = \"district\"\ntargets = [\"wall\", \"ops\"]"), &vocab(), &["ops".into()]).unwrap();
        assert_eq!(ok[0].scope.q, [["出警"]]);
        assert_eq!(ok[0].for_each, Some(TopDim::District));
    }
}
