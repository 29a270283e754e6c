//! Alert routing by place (`[[route]]` and `[[mute]]` of minyi.toml): a
//! district bureau's alerts go to its own robot, the others to the default
//! route; quiet hours keep alerts from being sent (they are recorded and
//! shown); an alert nobody acknowledges is escalated once.
//!
//! An alert's place ([`super::engine::Alert::place`]) is matched against
//! each route's scope in order, first match; the default route (no
//! districts, no units) is the last and matches every alert. The route's
//! targets are added to the rule's own `targets`.

use chrono::FixedOffset;

use crate::config::{MuteWindow, RouteConfig, parse_duration};
use crate::query::{Scope, Vocabulary};

/// A checked route.
#[derive(Debug, Clone)]
pub struct Route {
    pub scope: Scope,
    pub targets: Vec<String>,
    /// Seconds after firing an unacknowledged alert is escalated.
    pub escalate_after: Option<i64>,
    pub escalate_to: Vec<String>,
}

/// A checked quiet window and the places it mutes.
#[derive(Debug, Clone)]
pub struct Mute {
    pub window: MuteWindow,
    pub scope: Scope,
}

/// The routes and mutes of a deployment, in config order.
#[derive(Debug, Clone, Default)]
pub struct Routing {
    pub routes: Vec<Route>,
    pub mutes: Vec<Mute>,
}

impl Routing {
    /// Checks the places the config names against the gazetteer; an
    /// unknown one is an error naming the key (`route[1].districts: …`).
    pub fn new(
        routes: &[RouteConfig],
        mutes: &[MuteWindow],
        vocab: &Vocabulary,
    ) -> Result<Routing, String> {
        let routes = routes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                Ok(Route {
                    scope: Scope::new(&r.districts, &r.units, vocab)
                        .map_err(|(key, m)| format!("route[{i}].{key}: {m}"))?,
                    targets: r.targets.clone(),
                    escalate_after: r.escalate_after.as_deref().and_then(parse_duration),
                    escalate_to: r.escalate_to.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        let mutes = mutes
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok(Mute {
                    scope: Scope::new(&m.districts, &m.units, vocab)
                        .map_err(|(key, msg)| format!("mute[{i}].{key}: {msg}"))?,
                    window: m.clone(),
                })
            })
            .collect::<Result<_, String>>()?;
        Ok(Routing { routes, mutes })
    }

    /// The first route whose scope covers the place.
    pub fn route(&self, place: &Scope) -> Option<&Route> {
        self.routes.iter().find(|r| r.scope.covers(place))
    }

    /// Whether an alert about `place` firing at `t` falls in quiet hours.
    pub fn muted(&self, place: &Scope, t: i64, tz: FixedOffset) -> bool {
        self.mutes
            .iter()
            .any(|m| m.scope.covers(place) && m.window.holds(t, tz))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;
    use std::sync::Arc;

    #[test]
    fn first_match_then_the_default_and_unknown_places_are_named() {
        let vocab = Vocabulary::from_enricher(&Arc::new(Enricher::builtin(b"k").unwrap()));
        let route = |d: &[&str], t: &str| RouteConfig {
            districts: d.iter().map(|x| (*x).to_owned()).collect(),
            targets: vec![t.to_owned()],
            ..RouteConfig::default()
        };
        let routing = Routing::new(
            &[
                route(&["邯山区"], "hs"),
                route(&["邯山区", "丛台区"], "south"),
                route(&[], "duty"),
            ],
            &[],
            &vocab,
        )
        .unwrap();
        let at = |d: &[&str]| {
            let place = Scope::place(
                &d.iter().map(|x| (*x).to_owned()).collect::<Vec<_>>(),
                &[],
                &vocab,
            );
            routing.route(&place).unwrap().targets[0].clone()
        };
        assert_eq!(at(&["邯山区"]), "hs");
        assert_eq!(at(&["丛台区"]), "south");
        assert_eq!(at(&["磁县"]), "duty");
        assert_eq!(at(&[]), "duty", "a city-wide alert takes the default");
        let e = Routing::new(&[route(&["火星区"], "x")], &[], &vocab).unwrap_err();
        assert!(
            e.starts_with("route[0].districts:") && e.contains("火星区"),
            "{e}"
        );
    }
}
