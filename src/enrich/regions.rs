//! District and unit inference from the gazetteer in `pipelines/regions.toml`
//! (default: Handan's 18 county-level divisions and their police stations).
//! Used only for what the producer did not send. A named unit implies its
//! district; the first district or unit named in the text wins.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::pipelines::{PipelineError, PipelineFiles, RegionsFile};

#[derive(Debug, Clone, Copy)]
enum Place {
    District(usize),
    /// A unit and, for a station, its district.
    Unit(usize, Option<usize>),
}

#[derive(Debug)]
pub struct Gazetteer {
    districts: Vec<String>,
    units: Vec<String>,
    /// The district of each unit (None for city-level units).
    unit_district: Vec<Option<usize>>,
    automaton: AhoCorasick,
    /// Every name the automaton finds (aliases too), and what it names.
    names: Vec<String>,
    places: Vec<Place>,
}

impl Gazetteer {
    pub fn from_files(files: &PipelineFiles) -> Result<Gazetteer, PipelineError> {
        let file: RegionsFile = files.toml("regions.toml")?;
        let mut patterns = Vec::new();
        let mut places = Vec::new();
        let mut districts = Vec::new();
        let mut units = Vec::new();
        let mut unit_district = Vec::new();
        for (d, def) in file.district.iter().enumerate() {
            districts.push(def.name.clone());
            for name in std::iter::once(&def.name).chain(&def.aliases) {
                patterns.push(name.clone());
                places.push(Place::District(d));
            }
            for unit in &def.units {
                patterns.push(unit.clone());
                places.push(Place::Unit(units.len(), Some(d)));
                units.push(unit.clone());
                unit_district.push(Some(d));
            }
        }
        for def in &file.unit {
            for name in std::iter::once(&def.name).chain(&def.aliases) {
                patterns.push(name.clone());
                places.push(Place::Unit(units.len(), None));
            }
            units.push(def.name.clone());
            unit_district.push(None);
        }
        let invalid = |message: String| PipelineError::Invalid {
            file: "regions.toml".into(),
            message,
        };
        if patterns.len() > usize::from(u16::MAX) {
            return Err(invalid(format!("{} names, at most 65,535", patterns.len())));
        }
        // The organisation is a tree: each district once, each unit under
        // one district bureau or at the city level, never both.
        for (i, d) in districts.iter().enumerate() {
            if districts[..i].contains(d) {
                return Err(invalid(format!("district {d:?} is listed twice")));
            }
        }
        for (i, u) in units.iter().enumerate() {
            if let Some(j) = units[..i].iter().position(|x| x == u) {
                let home = |k: usize| {
                    unit_district[k].map_or("the city level", |d: usize| districts[d].as_str())
                };
                return Err(invalid(format!(
                    "unit {u:?} is listed twice ({} and {}): every unit belongs to one district \
                     bureau or to the city level",
                    home(j),
                    home(i)
                )));
            }
        }
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .build(&patterns)
            .map_err(|e| invalid(e.to_string()))?;
        Ok(Gazetteer {
            names: patterns,
            districts,
            units,
            unit_district,
            automaton,
            places,
        })
    }

    pub fn districts(&self) -> &[String] {
        &self.districts
    }

    /// The place a name (or alias) of the gazetteer names, matched whole.
    fn place_named(&self, name: &str) -> Option<Place> {
        let name = name.trim();
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| self.places[i])
    }

    /// The canonical name of a district given by a producer, if the
    /// gazetteer knows it (by name or alias).
    pub fn district_named(&self, name: &str) -> Option<&str> {
        match self.place_named(name)? {
            Place::District(d) => Some(&self.districts[d]),
            Place::Unit(..) => None,
        }
    }

    /// The canonical name of a unit given by a producer, and its district,
    /// if the gazetteer knows it.
    pub fn unit_named(&self, name: &str) -> Option<(&str, Option<&str>)> {
        match self.place_named(name)? {
            Place::Unit(u, d) => Some((&self.units[u], d.map(|d| self.districts[d].as_str()))),
            Place::District(_) => None,
        }
    }

    pub fn units(&self) -> &[String] {
        &self.units
    }

    /// The district of each unit of [`Gazetteer::units`], in that order
    /// (None: a city-level unit).
    pub fn unit_districts(&self) -> impl Iterator<Item = Option<&str>> {
        self.unit_district
            .iter()
            .map(|d| d.map(|d| self.districts[d].as_str()))
    }

    /// The units of a district, in file order.
    pub fn units_of(&self, district: &str) -> Vec<&str> {
        let Some(d) = self.districts.iter().position(|x| x == district) else {
            return Vec::new();
        };
        self.units
            .iter()
            .zip(&self.unit_district)
            .filter(|(_, ud)| **ud == Some(d))
            .map(|(u, _)| u.as_str())
            .collect()
    }

    /// Every place name in the gazetteer, aliases too, for the tokenizer's
    /// dictionary and the enricher's lexicon.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The place names inside one token, leftmost-longest, as place ids.
    pub fn places_in(&self, token: &str) -> Box<[u16]> {
        super::lexicon::patterns_in(&self.automaton, token)
    }

    /// (district, unit) named by the place ids of an item's tokens, in text
    /// order: the first district and the first unit win, and a station
    /// names its district.
    pub fn locate(
        &self,
        places: impl IntoIterator<Item = u16>,
    ) -> (Option<String>, Option<String>) {
        let mut district = None;
        let mut unit = None;
        for p in places {
            match self.places[usize::from(p)] {
                Place::District(d) => {
                    district.get_or_insert(d);
                }
                Place::Unit(u, d) => {
                    if unit.is_none() {
                        unit = Some(u);
                        if let Some(d) = d {
                            district.get_or_insert(d);
                        }
                    }
                }
            }
            if district.is_some() && unit.is_some() {
                break;
            }
        }
        (
            district.map(|d| self.districts[d].clone()),
            unit.map(|u| self.units[u].clone()),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn g() -> Gazetteer {
        Gazetteer::from_files(&PipelineFiles::builtin()).unwrap()
    }

    /// Located through the enricher, which cuts the text into tokens.
    fn locate(text: &str) -> (Option<String>, Option<String>) {
        let e = crate::enrich::tests::enricher();
        let tokens = e.analyze(text);
        e.gazetteer()
            .locate(tokens.iter().flat_map(|t| t.info.places.iter().copied()))
    }

    #[test]
    fn eighteen_divisions() {
        assert_eq!(g().districts().len(), 18);
    }

    #[test]
    fn station_implies_district() {
        assert_eq!(
            locate("到天台山派出所办理户籍"),
            (Some("肥乡区".into()), Some("天台山派出所".into()))
        );
    }

    #[test]
    fn aliases() {
        assert_eq!(
            locate("峰峰太中路与煤城大街红绿灯").0,
            Some("峰峰矿区".into())
        );
        assert_eq!(locate("武安这边").0, Some("武安市".into()));
        assert_eq!(locate("没有地名"), (None, None));
    }

    #[test]
    fn a_unit_under_two_districts_is_an_error_naming_it() {
        let files = PipelineFiles::builtin().with_file(
            "regions.toml",
            "[[district]]\nname = \"甲区\"\nunits = [\"一所\"]\n[[district]]\nname = \"乙区\"\nunits = [\"一所\"]\n",
        );
        let e = Gazetteer::from_files(&files).unwrap_err().to_string();
        assert!(
            e.contains("一所") && e.contains("甲区") && e.contains("乙区"),
            "{e}"
        );
        let g = g();
        let homes: Vec<Option<&str>> = g.unit_districts().collect();
        assert_eq!(homes.len(), g.units().len());
        assert!(homes.contains(&None) && homes.contains(&Some("肥乡区")));
    }

    #[test]
    fn city_units_have_no_district() {
        assert_eq!(locate("交巡警支队的民警").1, Some("交巡警支队".into()));
    }
}
