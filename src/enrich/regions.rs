//! District and unit inference from the gazetteer in `pipelines/regions.toml`
//! (default: Handan's 18 county-level divisions and their police stations).
//! Used only for what the producer did not send. A named unit implies its
//! district; the first district or unit named in the text wins.
//!
//! Below the gazetteer's grain, [`street_places`] finds the roads, junctions,
//! estates, stations and other named spots a text mentions (人民路, 中华大街,
//! 阳光小区, 东站): no list can hold them, so they are read from the shape of
//! the name (a place word such as 路, 大街, 小区 after a short run of name
//! characters). Incidents use them to tell one spot from another.

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

    /// A street-level place without the district or unit name it starts
    /// with (武安市新华小区 → 新华小区, 峰峰太中路 → 太中路), when what is
    /// left is still a name (three characters or more).
    pub fn without_district<'a>(&self, place: &'a str) -> &'a str {
        match self.automaton.find(place) {
            Some(m) if m.start() == 0 && place[m.end()..].chars().count() >= 3 => &place[m.end()..],
            _ => place,
        }
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

/// Place words that end a street-level name, longest first where one ends
/// another (大街 before 街). A name is at most [`MAX_NAME`] characters
/// before its place word.
const PLACE_WORDS: &[&str] = &[
    "十字路口",
    "交叉口",
    "路口",
    "街口",
    "大街",
    "大道",
    "国道",
    "省道",
    "高速",
    "街道",
    "胡同",
    "小区",
    "花园",
    "家园",
    "公寓",
    "新村",
    "新城",
    "社区",
    "广场",
    "公园",
    "商场",
    "市场",
    "超市",
    "医院",
    "中学",
    "小学",
    "学校",
    "幼儿园",
    "大学",
    "火车站",
    "高铁站",
    "汽车站",
    "客运站",
    "地铁站",
    "公交站",
    "加油站",
    "收费站",
    "服务区",
    "大厦",
    "酒店",
    "宾馆",
    "商城",
    "古城",
    "景区",
    "村",
    "苑",
    "路",
    "街",
    "巷",
    "桥",
    "站",
];

/// Words that end a unit's name (天台山派出所): a unit is the gazetteer's,
/// and its name is passed over whole, so 光明桥派出所 names no 光明桥.
const UNIT_WORDS: &[&str] = &["派出所", "大队", "中队", "支队", "分局", "公安局", "警务站"];

/// Characters that cannot be part of a name: they end the run of name
/// characters before a place word (在人民路 → 人民路).
const NOT_NAME: &str = "在的了是到从往向去把被让给对和与及跟或这那个条家边近旁里附经过沿走住位于我你他她们有就都也还又再说要没不很说那此该其每各某些";

/// Names that are ordinary words, not places (马路, 道路, 公路 …).
const NOT_PLACES: &[&str] = &[
    "马路",
    "道路",
    "公路",
    "铁路",
    "走路",
    "思路",
    "出路",
    "一路",
    "半路",
    "上路",
    "网路",
    "线路",
    "小路",
    "大路",
    "过马路",
    "街上",
    "农村",
    "乡村",
    "全村",
    "本村",
    "我村",
    "进村",
    "回家",
    "城里",
    "县城",
    "进城",
    "车站",
    "该站",
    "本站",
    "此站",
    "附近小区",
    "本小区",
    "整个小区",
    "全小区",
    "这个小区",
    "那个小区",
    "老小区",
    "新小区",
    "各小区",
    "学校",
    "医院",
    "市场",
    "超市",
    "公园",
    "广场",
    "政府",
    "市政府",
    "区政府",
    "县政府",
];

/// Words that make a place word part of a verb or a common noun (跑路,
/// 炸街, 封路, 逛街): a name ending so is no place.
const NOT_PLACE_ENDINGS: &[&str] = &[
    "跑路",
    "炸街",
    "封路",
    "修路",
    "让路",
    "带路",
    "开路",
    "挡路",
    "堵路",
    "占路",
    "逛街",
    "上街",
    "过街",
    "沿街",
    "临街",
    "满街",
    "整条街",
    "扫街",
    "赶路",
    "拦路",
    "问路",
    "迷路",
    "走路",
    "马路",
    "道路",
    "公路",
    "铁路",
    "进站",
    "出站",
    "到站",
    "过站",
    "车站",
    "上桥",
    "过桥",
    "下桥",
];

/// Words a name cannot run back over: what is before them (反映, 昨晚,
/// 路过 …) is the sentence, not the name (昨晚滏东北大街 → 滏东北大街).
const NAME_STARTS_AFTER: &[&str] = &[
    "反映",
    "举报",
    "投诉",
    "昨晚",
    "昨天",
    "今天",
    "今晚",
    "明天",
    "刚才",
    "早上",
    "晚上",
    "夜里",
    "凌晨",
    "下午",
    "上午",
    "中午",
    "暴雨后",
    "路过",
    "每天",
    "门口",
    "旁边",
    "附近",
    "对面",
    "位于",
    "所在",
    "前往",
    "来到",
    "经过",
    "途经",
    "点",
    "半夜",
];

/// A one-character place word followed by one of these characters starts
/// another word (路灯, 路边, 站岗, 村民), not a place.
const NOT_AFTER_PLACE_WORD: &[(char, &str)] = &[
    ('路', "灯边面况过段人线费牌障旁基"),
    ('街', "头坊"),
    ('站', "岗着在起台"),
    ('村', "民委干里"),
    ('桥', "洞"),
];

const MAX_NAME: usize = 6;

/// The street-level places a text names, in text order, each once: a
/// place word after two to six name characters (`人民路`, `滏东北大街`,
/// `阳光小区`). A junction is its roads (人民路口 → 人民路); a generic
/// word (马路, 小区 alone) names nothing; a unit's name is passed over.
/// Masked spans (`*`) and punctuation end a name.
pub fn street_places(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    let mut out: Vec<String> = Vec::new();
    // Characters before this index belong to a name already found.
    let mut taken = 0;
    let mut i = 0;
    while i < chars.len() {
        if !FIRST_CHARS.contains(&chars[i]) {
            i += 1;
            continue;
        }
        if let Some(n) = starts_with_any(&chars[i..], UNIT_WORDS) {
            i += n;
            taken = i;
            continue;
        }
        let Some(n) = starts_with_any(&chars[i..], PLACE_WORDS) else {
            i += 1;
            continue;
        };
        let mut start = i;
        while start > taken && i - start < MAX_NAME && is_name_char(chars[start - 1]) {
            start -= 1;
        }
        // 光明桥派出所: the place word is inside a unit's name.
        if let Some(u) = starts_with_any(&chars[i + n..], UNIT_WORDS) {
            i += n + u;
            taken = i;
            continue;
        }
        let word: String = chars[i..i + n].iter().collect();
        // 路灯, 路边, 站岗, 村民: the place word starts another word.
        if n == 1
            && let Some(next) = chars.get(i + 1)
            && NOT_AFTER_PLACE_WORD
                .iter()
                .any(|(w, after)| word.starts_with(*w) && after.contains(*next))
        {
            i += 1;
            continue;
        }
        if i - start < 2 {
            // 大街 of 中华大街 is found once, at its start; a junction word
            // after a road (中华大街交叉口) adds nothing.
            i += 1;
            continue;
        }
        let mut name: String = chars[start..i].iter().collect();
        if let Some(cut) = NAME_STARTS_AFTER
            .iter()
            .filter_map(|w| name.rfind(w).map(|at| at + w.len()))
            .max()
        {
            name.drain(..cut);
        }
        // A junction is named by its road: 人民路口 and 人民路 are one spot.
        match word.as_str() {
            "路口" => name.push('路'),
            "街口" => name.push('街'),
            "十字路口" | "交叉口" => {}
            _ => name.push_str(&word),
        }
        let generic = NOT_PLACES
            .iter()
            .any(|g| name.ends_with(g) && name.chars().count() <= g.chars().count() + 1)
            || NOT_PLACE_ENDINGS.iter().any(|g| name.ends_with(g));
        if !generic && name.chars().count() >= 3 && !out.contains(&name) {
            out.push(name);
        }
        i += n;
        taken = i;
    }
    out
}

/// The characters a place or unit word starts with: most of a text's
/// characters are none, and are passed at the cost of one lookup.
static FIRST_CHARS: std::sync::LazyLock<rustc_hash::FxHashSet<char>> =
    std::sync::LazyLock::new(|| {
        PLACE_WORDS
            .iter()
            .chain(UNIT_WORDS)
            .filter_map(|w| w.chars().next())
            .collect()
    });

fn starts_with_any(chars: &[char], words: &[&str]) -> Option<usize> {
    words.iter().find_map(|w| {
        let mut n = 0;
        for (a, b) in w.chars().zip(chars) {
            if a != *b {
                return None;
            }
            n += 1;
        }
        (n == w.chars().count()).then_some(n)
    })
}

fn is_name_char(c: char) -> bool {
    (('\u{4e00}'..='\u{9fff}').contains(&c) && !NOT_NAME.contains(c)) || c.is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn street_places_are_roads_estates_and_stations() {
        assert_eq!(
            street_places("人民路与中华大街交叉口的红绿灯坏了"),
            ["人民路", "中华大街"]
        );
        assert_eq!(street_places("在人民路口等了半天"), ["人民路"]);
        assert_eq!(street_places("我住在阳光小区3号楼，东站附近"), ["阳光小区"]);
        assert_eq!(street_places("邯郸东站出站口有黑车拉客"), ["邯郸东站"]);
        assert_eq!(
            street_places("过马路的时候，小区门口，学校旁边"),
            Vec::<String>::new()
        );
        assert_eq!(
            street_places("光明桥派出所民警态度好"),
            Vec::<String>::new()
        );
        assert_eq!(street_places("滏东北大街138****5678号"), ["滏东北大街"]);
        assert_eq!(street_places("昨晚滏东北大街饭店门口"), ["滏东北大街"]);
        assert_eq!(street_places("反映丛台公园东门外乱停车"), ["丛台公园"]);
        assert_eq!(
            street_places("骑改装摩托炸街，老板跑路了，需要有人封路"),
            Vec::<String>::new()
        );
    }

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
