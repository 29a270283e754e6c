//! Scopes: the part of the organisation a token, a wall, an alert or an
//! alert route stands for — 市局 (the whole city), a 分县局 (its districts)
//! or a 所队 (its units). The tree is `pipelines/regions.toml`: every unit
//! belongs to one district bureau or to the city level.
//!
//! A scope is the items whose district is one of `districts` (when it
//! lists any) *and* whose unit is one of `units` (when it lists any); the
//! empty scope is the city. It is applied in one place per path:
//! [`Scope::restrict`] intersects a query's filters with it before the
//! query reaches a store (so every answer — counts, rates, rankings, hot
//! words, lists, exports — is of the scope's items only), and
//! [`Scope::admits`] / [`Scope::covers`] decide which live items and
//! alerts a subscriber receives. Items without a recognised district or
//! unit belong to the city alone.

use serde::{Deserialize, Serialize};

use super::{Filters, Query, Vocabulary};

/// A part of the organisation. Both lists sorted, without duplicates, so
/// that equal scopes are equal values (the ticker computes panels once
/// per distinct scope).
#[derive(
    Debug,
    Clone,
    Default,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub struct Scope {
    /// District names of the gazetteer; empty: any district.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub districts: Vec<String>,
    /// Unit names of the gazetteer; empty: any unit.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub units: Vec<String>,
}

/// A filter that names a value outside the caller's scope: a 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("parameter `{param}`: {value:?} is outside this token's scope")]
pub struct OutOfScope {
    pub param: &'static str,
    pub value: String,
}

impl Scope {
    /// The whole city: no restriction.
    pub fn city() -> Scope {
        Scope::default()
    }

    pub fn is_city(&self) -> bool {
        self.districts.is_empty() && self.units.is_empty()
    }

    /// A scope of gazetteer names, checked: an unknown district or unit is
    /// an error naming it, as is a unit of a district the scope leaves out
    /// (the lists combine with AND: such a unit would show nothing). The
    /// error is `(key, message)`, the key `districts` or `units`.
    pub fn new(
        districts: &[String],
        units: &[String],
        vocab: &Vocabulary,
    ) -> Result<Scope, (&'static str, String)> {
        let mut scope = Scope::default();
        for d in districts {
            let d = d.trim();
            if !vocab.districts.iter().any(|x| x == d) {
                return Err((
                    "districts",
                    format!("{d:?} is no district of pipelines/regions.toml"),
                ));
            }
            scope.districts.push(d.to_owned());
        }
        for u in units {
            let u = u.trim();
            if !vocab.units.iter().any(|x| x == u) {
                return Err((
                    "units",
                    format!("{u:?} is no unit of pipelines/regions.toml"),
                ));
            }
            if !scope.districts.is_empty() {
                let home = vocab.district_of(u);
                if !home.is_some_and(|h| scope.districts.iter().any(|d| d == h)) {
                    return Err((
                        "units",
                        format!(
                            "{u:?} belongs to {}, which `districts` does not list \
                             (a scope is its districts' items AND its units' items)",
                            home.unwrap_or("the city level")
                        ),
                    ));
                }
            }
            scope.units.push(u.to_owned());
        }
        Ok(scope.normalized())
    }

    fn normalized(mut self) -> Scope {
        self.districts.sort();
        self.districts.dedup();
        self.units.sort();
        self.units.dedup();
        self
    }

    /// The place an alert or a panel query concerns: its districts and
    /// units (from a rule's filters and its series value). A place of units
    /// all in districts names those districts too, so a district's scope
    /// covers its stations' alerts.
    pub fn place(districts: &[String], units: &[String], vocab: &Vocabulary) -> Scope {
        let mut place = Scope {
            districts: districts.to_vec(),
            units: units.to_vec(),
        };
        if place.districts.is_empty() && !place.units.is_empty() {
            let homes: Option<Vec<String>> = units
                .iter()
                .map(|u| vocab.district_of(u).map(str::to_owned))
                .collect();
            place.districts = homes.unwrap_or_default();
        }
        place.normalized()
    }

    /// Narrows the filters to the scope: a list the scope restricts becomes
    /// the scope's values when the filters leave it open, or its
    /// intersection with them; a filter that names only values outside the
    /// scope is refused (403), never widened.
    pub fn restrict(&self, f: &mut Filters) -> Result<(), OutOfScope> {
        fn one(
            allowed: &[String],
            asked: &mut Vec<String>,
            param: &'static str,
        ) -> Result<(), OutOfScope> {
            if allowed.is_empty() {
                return Ok(());
            }
            if asked.is_empty() {
                *asked = allowed.to_vec();
                return Ok(());
            }
            if let Some(outside) = asked.iter().find(|v| !allowed.contains(v)) {
                return Err(OutOfScope {
                    param,
                    value: outside.clone(),
                });
            }
            Ok(())
        }
        one(&self.districts, &mut f.district, "district")?;
        one(&self.units, &mut f.unit, "unit")
    }

    /// The query with its filters restricted to the scope ([`Scope::restrict`]).
    /// `Extent` (the oldest and newest stored item) is not scoped: it is
    /// no data of any item.
    pub fn restrict_query(&self, mut q: Query) -> Result<Query, OutOfScope> {
        if self.is_city() {
            return Ok(q);
        }
        match &mut q {
            Query::Summary(f) | Query::Orders(f) | Query::Revisits(f) => self.restrict(f)?,
            Query::Timeseries { filters, .. }
            | Query::Top { filters, .. }
            | Query::Feedback { filters, .. }
            | Query::Incidents { filters, .. }
            | Query::Supervision { filters, .. } => self.restrict(filters)?,
            Query::Rank(r) => self.restrict(&mut r.filters)?,
            Query::Extent => {}
        }
        Ok(q)
    }

    /// Whether an item of this district and unit is in the scope.
    pub fn admits(&self, district: Option<&str>, unit: Option<&str>) -> bool {
        let within = |allowed: &[String], v: Option<&str>| {
            allowed.is_empty() || v.is_some_and(|v| allowed.iter().any(|a| a == v))
        };
        within(&self.districts, district) && within(&self.units, unit)
    }

    /// Whether everything of `place` (an alert's place, a narrower scope)
    /// lies inside this scope: each list this scope restricts is, in the
    /// place, restricted to values of it. The city covers every place; a
    /// place of the whole city is covered by the city alone.
    pub fn covers(&self, place: &Scope) -> bool {
        let within = |allowed: &[String], asked: &[String]| {
            allowed.is_empty() || (!asked.is_empty() && asked.iter().all(|v| allowed.contains(v)))
        };
        within(&self.districts, &place.districts) && within(&self.units, &place.units)
    }

    /// This scope narrowed by a request's `district` and `unit` (a wall of
    /// one bureau): the request's values must lie inside the scope.
    pub fn narrow(&self, districts: &[String], units: &[String]) -> Result<Scope, OutOfScope> {
        let mut f = Filters {
            district: districts.to_vec(),
            unit: units.to_vec(),
            ..Filters::default()
        };
        self.restrict(&mut f)?;
        Ok(Scope {
            districts: f.district,
            units: f.unit,
        }
        .normalized())
    }

    /// Refuses a place that can hold no item by the gazetteer: a station of
    /// another district beside its districts (邯山区 with 丛台派出所), or a
    /// district none of its stations belongs to. Such a place is an empty
    /// wall that would still take a scope's slot on the live tick; a
    /// city-level unit (支队, 大队) may go with any district.
    pub fn check_place(&self, vocab: &Vocabulary) -> Result<(), OutOfScope> {
        if self.districts.is_empty() || self.units.is_empty() {
            return Ok(());
        }
        let homes: Vec<Option<&str>> = self.units.iter().map(|u| vocab.district_of(u)).collect();
        for (unit, home) in self.units.iter().zip(&homes) {
            if home.is_some_and(|h| !self.districts.iter().any(|d| d == h)) {
                return Err(OutOfScope {
                    param: "unit",
                    value: unit.clone(),
                });
            }
        }
        if homes.iter().any(Option::is_none) {
            return Ok(());
        }
        match self
            .districts
            .iter()
            .find(|d| !homes.contains(&Some(d.as_str())))
        {
            Some(d) => Err(OutOfScope {
                param: "district",
                value: d.clone(),
            }),
            None => Ok(()),
        }
    }

    /// A short label for logs and the audit: `全市`, or the names joined.
    pub fn label(&self) -> String {
        if self.is_city() {
            return "全市".to_owned();
        }
        self.districts
            .iter()
            .chain(&self.units)
            .cloned()
            .collect::<Vec<_>>()
            .join("、")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::enrich::Enricher;
    use std::sync::Arc;

    fn vocab() -> Vocabulary {
        Vocabulary::from_enricher(&Arc::new(Enricher::builtin(b"k").unwrap()))
    }

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| (*x).to_owned()).collect()
    }

    #[test]
    fn unknown_names_and_units_of_other_districts_are_errors_naming_them() {
        let v = vocab();
        let e = Scope::new(&s(&["邯山区", "火星区"]), &[], &v).unwrap_err();
        assert_eq!(e.0, "districts");
        assert!(e.1.contains("火星区"), "{}", e.1);
        let e = Scope::new(&[], &s(&["无名派出所"]), &v).unwrap_err();
        assert_eq!(e.0, "units");
        let e = Scope::new(&s(&["邯山区"]), &s(&["丛台派出所"]), &v).unwrap_err();
        assert!(e.1.contains("丛台区"), "{}", e.1);
        let ok = Scope::new(&s(&["邯山区", "丛台区", "邯山区"]), &s(&["火磨派出所"]), &v).unwrap();
        assert_eq!(ok.districts, s(&["丛台区", "邯山区"]));
    }

    #[test]
    fn filters_are_narrowed_never_widened() {
        let scope = Scope::new(&s(&["邯山区"]), &[], &vocab()).unwrap();
        let mut f = Filters::default();
        scope.restrict(&mut f).unwrap();
        assert_eq!(f.district, s(&["邯山区"]));
        let mut f = Filters {
            district: s(&["丛台区"]),
            ..Filters::default()
        };
        let e = scope.restrict(&mut f).unwrap_err();
        assert_eq!((e.param, e.value.as_str()), ("district", "丛台区"));
        let mut f = Filters {
            district: s(&["邯山区", "丛台区"]),
            ..Filters::default()
        };
        assert!(
            scope.restrict(&mut f).is_err(),
            "one value outside is refused"
        );
        // A unit filter stays: it combines with the scope's district.
        let mut f = Filters {
            unit: s(&["丛台派出所"]),
            ..Filters::default()
        };
        scope.restrict(&mut f).unwrap();
        assert_eq!((f.district.len(), f.unit.len()), (1, 1));
        assert!(Scope::city().restrict(&mut Filters::default()).is_ok());
    }

    #[test]
    fn items_and_places() {
        let v = vocab();
        let bureau = Scope::new(&s(&["邯山区"]), &[], &v).unwrap();
        let station = Scope::new(&[], &s(&["火磨派出所"]), &v).unwrap();
        assert!(bureau.admits(Some("邯山区"), None));
        assert!(!bureau.admits(None, None));
        assert!(!bureau.admits(Some("丛台区"), Some("火磨派出所")));
        assert!(station.admits(Some("邯山区"), Some("火磨派出所")));
        assert!(!station.admits(Some("邯山区"), None));
        let city_alert = Scope::city();
        let unit_alert = Scope::place(&[], &s(&["火磨派出所"]), &v);
        assert_eq!(unit_alert.districts, s(&["邯山区"]));
        assert!(bureau.covers(&unit_alert) && station.covers(&unit_alert));
        assert!(!bureau.covers(&city_alert) && Scope::city().covers(&city_alert));
        let district_alert = Scope::place(&s(&["邯山区"]), &[], &v);
        assert!(bureau.covers(&district_alert) && !station.covers(&district_alert));
        assert!(!bureau.covers(&Scope::place(&s(&["丛台区"]), &[], &v)));
        assert_eq!(
            bureau.narrow(&[], &s(&["火磨派出所"])).unwrap().units,
            s(&["火磨派出所"])
        );
        assert!(bureau.narrow(&s(&["丛台区"]), &[]).is_err());
        // Places that can hold no item: another district's station beside
        // a district, a district beside a station of another.
        let station_elsewhere = bureau.narrow(&[], &s(&["丛台派出所"])).unwrap();
        assert!(station_elsewhere.check_place(&v).is_err());
        let district_elsewhere = station.narrow(&s(&["丛台区"]), &[]).unwrap();
        assert!(district_elsewhere.check_place(&v).is_err());
        assert!(
            bureau
                .narrow(&[], &s(&["火磨派出所"]))
                .unwrap()
                .check_place(&v)
                .is_ok()
        );
        assert!(Scope::city().check_place(&v).is_ok());
    }
}
