//! Which column is which field, and what a cell says. In: a file's header
//! row, the `--map` overrides, and each row's cells. Out: a raw feedback
//! object of the data contract (the same one HTTP and Kafka carry), with
//! its time as RFC 3339, or the reason the row cannot be one. Guarantees:
//! a reason names the column and never quotes personal data; a time
//! without a zone is read in the import's zone; nothing here touches the
//! text (masking and validation are enrichment's, as for live intake).

use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, TimeZone};
use serde_json::{Map, Value};

use crate::enrich::validate::echo;

/// A field of the raw feedback contract that a column can fill.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Field {
    Id,
    ReceivedAt,
    Text,
    Channel,
    Rating,
    District,
    Unit,
    Contact,
    CaseRef,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::Id,
        Field::ReceivedAt,
        Field::Text,
        Field::Channel,
        Field::Rating,
        Field::District,
        Field::Unit,
        Field::Contact,
        Field::CaseRef,
    ];

    /// The wire name (`--map 列名=received_at`).
    pub fn name(self) -> &'static str {
        match self {
            Field::Id => "id",
            Field::ReceivedAt => "received_at",
            Field::Text => "text",
            Field::Channel => "channel",
            Field::Rating => "rating",
            Field::District => "district",
            Field::Unit => "unit",
            Field::Contact => "contact",
            Field::CaseRef => "case_ref",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Headers recognised without a `--map`: what the centre's other
    /// systems (12345 work-order sheets, SMS-revisit tables, mailbox
    /// exports) call the field, and the wire name itself.
    fn headers(self) -> &'static [&'static str] {
        match self {
            Field::Id => &["工单编号", "编号", "工单号", "信件编号", "受理编号"],
            Field::ReceivedAt => &[
                "来电时间",
                "受理时间",
                "反映时间",
                "登记时间",
                "来信时间",
                "提交时间",
                "回复时间",
            ],
            Field::Text => &[
                "诉求内容",
                "反映内容",
                "问题描述",
                "来电内容",
                "来信内容",
                "内容",
                "回复内容",
            ],
            Field::Channel => &["渠道", "来源", "渠道来源", "信息来源"],
            Field::Rating => &["满意度", "评价结果", "回访结果", "评价", "满意度评价"],
            Field::District => &["所属区县", "区县", "所属区域", "区域"],
            Field::Unit => &["承办单位", "处理单位", "责任单位", "办理单位"],
            Field::Contact => &["联系电话", "联系方式", "来电号码", "手机号码", "电话"],
            Field::CaseRef => &["关联工单", "关联工单号", "警情编号"],
        }
    }

    /// The field a header names by default, if any: the wire name or a
    /// known Chinese header, compared without spaces, a trailing colon or
    /// (for Latin) case.
    pub fn recognise(header: &str) -> Option<Field> {
        let h = clean_header(header);
        Field::ALL
            .into_iter()
            .find(|f| f.name().eq_ignore_ascii_case(&h) || f.headers().contains(&h.as_str()))
    }
}

/// A header as compared: no BOM, no white space (full-width included),
/// no trailing colon.
fn clean_header(h: &str) -> String {
    h.chars()
        .filter(|c| !c.is_whitespace() && *c != '\u{feff}')
        .collect::<String>()
        .trim_end_matches([':', '：'])
        .to_owned()
}

/// Whether two headers name the same column (as `--map` compares them).
pub fn same_header(a: &str, b: &str) -> bool {
    clean_header(a) == clean_header(b)
}

/// A `--map` argument: `列名=field`, or `列名=` to ignore a column that
/// would be recognised.
pub fn parse_map(arg: &str) -> Result<(String, Option<Field>), String> {
    let (column, field) = arg
        .rsplit_once('=')
        .ok_or_else(|| format!("--map {arg:?}: write it as 列名=field"))?;
    let column = clean_header(column);
    if column.is_empty() {
        return Err(format!("--map {arg:?}: the column name is empty"));
    }
    let field = field.trim();
    if field.is_empty() {
        return Ok((column, None));
    }
    match Field::parse(field) {
        Some(f) => Ok((column, Some(f))),
        None => Err(format!(
            "--map {arg:?}: {field:?} is not a field; fields: {}",
            Field::ALL.map(Field::name).join(", ")
        )),
    }
}

/// Which column fills which field, for one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapping {
    /// Per column: the field it fills.
    pub columns: Vec<Option<Field>>,
    /// The file's headers, as written.
    pub headers: Vec<String>,
}

impl Mapping {
    /// The mapping of a file with these headers: `--map` first, then the
    /// recognised names. Two columns for one field is an error (which one
    /// holds the time?), as is a header row without a column for text or
    /// rating.
    pub fn new(
        headers: &[String],
        overrides: &[(String, Option<Field>)],
    ) -> Result<Mapping, String> {
        let mut columns = Vec::with_capacity(headers.len());
        for h in headers {
            let clean = clean_header(h);
            let field = match overrides.iter().find(|(c, _)| *c == clean) {
                Some((_, f)) => *f,
                None => Field::recognise(h),
            };
            if let Some(f) = field
                && let Some(other) = columns.iter().position(|c: &Option<Field>| *c == Some(f))
            {
                return Err(format!(
                    "columns {:?} and {h:?} both give `{}`: name one with --map 列名=field \
                     and the other with --map 列名=",
                    headers[other],
                    f.name()
                ));
            }
            columns.push(field);
        }
        let mapping = Mapping {
            columns,
            headers: headers.to_vec(),
        };
        if !mapping.has(Field::Text) && !mapping.has(Field::Rating) {
            return Err(format!(
                "no column gives the text (诉求内容, 反映内容, 问题描述, …) or the rating \
                 (满意度, 评价结果, …); the columns are {:?}: use --map 列名=text",
                headers
            ));
        }
        Ok(mapping)
    }

    pub fn has(&self, field: Field) -> bool {
        self.columns.contains(&Some(field))
    }

    /// The headers no field takes (shown by `--dry-run`).
    pub fn ignored(&self) -> impl Iterator<Item = &str> {
        self.headers
            .iter()
            .zip(&self.columns)
            .filter(|(_, f)| f.is_none())
            .map(|(h, _)| h.as_str())
    }
}

/// What reading a row needs besides its cells.
pub struct RowRules<'a> {
    /// Channel codes and display names → code.
    pub channels: &'a [(String, String)],
    /// `--channel`: for files without a channel column, and empty cells.
    pub default_channel: Option<&'a str>,
    /// The zone of times written without one.
    pub timezone: FixedOffset,
}

impl RowRules<'_> {
    fn channel(&self, cell: &str) -> Result<String, String> {
        let cell = cell.trim();
        if cell.is_empty() {
            return self
                .default_channel
                .map(str::to_owned)
                .ok_or_else(|| "the channel is empty and no --channel is given".to_owned());
        }
        channel_code(self.channels, cell).ok_or_else(|| {
            format!(
                "channel {}: neither a code nor a name of channels.toml",
                echo(cell)
            )
        })
    }
}

/// The code of a channel given by its code or its display name, among
/// (code, name) pairs: a cell of the channel column, or `--channel`.
pub fn channel_code(channels: &[(String, String)], given: &str) -> Option<String> {
    channels
        .iter()
        .find(|(code, name)| code == given || name == given)
        .map(|(code, _)| code.clone())
}

/// One row as a raw feedback object, and its time (unix seconds), or the
/// reason it is refused. `cell(i)` is the text of column `i` ("" beyond
/// the row's end).
pub fn raw_item<'c>(
    mapping: &Mapping,
    rules: &RowRules,
    cell: impl Fn(usize) -> &'c str,
) -> Result<(i64, Value), String> {
    let mut obj = Map::new();
    let mut at = None;
    for (i, field) in mapping.columns.iter().enumerate() {
        let Some(field) = *field else { continue };
        let value = cell(i);
        let column = &mapping.headers[i];
        match field {
            Field::Channel => {
                let code = rules
                    .channel(value)
                    .map_err(|e| format!("column {column:?}: {e}"))?;
                obj.insert("channel".into(), Value::String(code));
            }
            Field::ReceivedAt => {
                if value.trim().is_empty() {
                    return Err(format!(
                        "column {column:?} is empty: every row needs the time it was received"
                    ));
                }
                let t = parse_time(value, rules.timezone).ok_or_else(|| {
                    format!(
                        "column {column:?}: {} is not a time (2025-06-01 10:00:00, \
                         2025/6/1 10:00, 2025年6月1日 10时00分, RFC 3339)",
                        echo(value.trim())
                    )
                })?;
                at = Some(t.timestamp());
                obj.insert("received_at".into(), Value::String(t.to_rfc3339()));
            }
            Field::Rating => {
                let r = parse_rating(value).ok_or_else(|| {
                    format!(
                        "column {column:?}: {} is not a rating (满意, 基本满意, 不满意, 1–3, or empty)",
                        echo(value.trim())
                    )
                })?;
                if let Some(r) = r {
                    obj.insert("rating".into(), Value::from(r));
                }
            }
            other => {
                let v = value.trim();
                if !v.is_empty() {
                    obj.insert(other.name().into(), Value::String(v.to_owned()));
                }
            }
        }
    }
    if !obj.contains_key("channel") {
        let code = rules
            .default_channel
            .ok_or("no channel column and no --channel")?;
        obj.insert("channel".into(), Value::String(code.to_owned()));
    }
    let at = at.ok_or_else(|| {
        if mapping.has(Field::ReceivedAt) {
            "the time is empty: an archived item needs the time it was received".to_owned()
        } else {
            "no column gives the time (来电时间, 受理时间, 反映时间, …): use --map 列名=received_at"
                .to_owned()
        }
    })?;
    Ok((at, Value::Object(obj)))
}

/// A rating as exports write it: 满意 / 基本满意 / 不满意 (and their common
/// variants) or 1–3; `Some(None)` for none given (empty, 未评价, 未回访).
pub fn parse_rating(cell: &str) -> Option<Option<u8>> {
    let c = cell.trim();
    Some(match c {
        "" | "无" | "未评价" | "未回访" | "未回复" | "-" | "—" => None,
        "1" | "满意" | "非常满意" | "很满意" => Some(1),
        "2" | "基本满意" | "比较满意" | "较满意" | "一般" => Some(2),
        "3" | "不满意" | "非常不满意" | "很不满意" => Some(3),
        _ => return None,
    })
}

/// A time as exports write it, read in `tz` when it names no zone:
/// `2025-06-01 10:00:00`, `2025/6/1 10:00`, `2025.06.01`, `2025年6月1日
/// 10时30分`, `2025-06-01T10:00:00` (seconds and fractions optional; a
/// date alone is its midnight), RFC 3339 with its own zone, unix seconds
/// (10 digits) or milliseconds (13 digits).
pub fn parse_time(cell: &str, tz: FixedOffset) -> Option<DateTime<FixedOffset>> {
    let s = cell.trim();
    if s.is_empty() {
        return None;
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t);
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        let n: i64 = s.parse().ok()?;
        let secs = match s.len() {
            10 => n,
            13 => n / 1000,
            _ => return None,
        };
        return DateTime::from_timestamp(secs, 0).map(|t| t.with_timezone(&tz));
    }
    let local = parse_local(s)?;
    tz.from_local_datetime(&local).single()
}

/// The date-time of a zone-less text: a date of year, month, day (any of
/// `-`, `/`, `.`, 年月日 between them), then optionally a time of hours,
/// minutes, seconds and a fraction (`:` or 时分秒; `T` or spaces before).
fn parse_local(s: &str) -> Option<NaiveDateTime> {
    let mut numbers: Vec<(u32, usize)> = Vec::with_capacity(7);
    let mut current: Option<(u32, usize)> = None;
    let mut fraction = false;
    for c in s.chars() {
        if let Some(d) = c.to_digit(10) {
            let (n, len) = current.unwrap_or((0, 0));
            if len >= 9 {
                return None;
            }
            current = Some((n * 10 + d, len + 1));
            continue;
        }
        if let Some(n) = current.take()
            && !fraction
        {
            numbers.push(n);
        }
        match c {
            '-' | '/' | '.' if numbers.len() < 3 => {}
            '.' if numbers.len() == 6 => fraction = true,
            ':' | '时' | '分' | '年' | '月' | '日' | '秒' | 'T' | ' ' | '\u{3000}' => {}
            _ => return None,
        }
    }
    if let Some(n) = current
        && !fraction
    {
        numbers.push(n);
    }
    let (y, mo, d) = match numbers[..] {
        [(y, 4), (mo, 1..=2), (d, 1..=2), ..] => (y, mo, d),
        _ => return None,
    };
    let date = NaiveDate::from_ymd_opt(i32::try_from(y).ok()?, mo, d)?;
    let time = match numbers[3..] {
        [] => NaiveTime::MIN,
        [(h, 1..=2), (m, 1..=2)] => NaiveTime::from_hms_opt(h, m, 0)?,
        [(h, 1..=2), (m, 1..=2), (sec, 1..=2)] => NaiveTime::from_hms_opt(h, m, sec)?,
        _ => return None,
    };
    Some(date.and_time(time))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tz() -> FixedOffset {
        FixedOffset::east_opt(8 * 3600).unwrap()
    }

    fn at(s: &str) -> Option<String> {
        parse_time(s, tz()).map(|t| t.to_rfc3339())
    }

    #[test]
    fn times_as_exports_write_them_are_read_in_the_zone() {
        let ten = Some("2025-06-01T10:00:00+08:00".to_owned());
        for s in [
            "2025-06-01 10:00:00",
            "2025-06-01 10:00",
            "2025/6/1 10:00",
            "2025/06/01 10:00:00",
            "2025.06.01 10:00",
            "2025年6月1日 10时00分",
            "2025年6月1日10:00:00",
            "2025-06-01T10:00:00",
            " 2025-06-01 10:00:00.250 ",
            "2025-06-01T02:00:00Z",
            "1748743200",
            "1748743200000",
        ] {
            let got = at(s).map(|t| {
                DateTime::parse_from_rfc3339(&t)
                    .unwrap()
                    .with_timezone(&tz())
                    .to_rfc3339()
            });
            assert_eq!(got, ten, "{s}");
        }
        assert_eq!(at("2025-06-01"), Some("2025-06-01T00:00:00+08:00".into()));
        // The zone a text names is kept.
        assert_eq!(
            at("2025-06-01T10:00:00+09:00"),
            Some("2025-06-01T10:00:00+09:00".into())
        );
    }

    #[test]
    fn what_is_not_a_time_is_refused() {
        for s in [
            "",
            "昨天下午",
            "2025-13-01 10:00",
            "2025-02-30",
            "25-06-01 10:00",
            "2025-06-01 25:00",
            "2025-06-01 10",
            "12345",
            "13812345678",
            "2025-06-01 10:00:00 下午",
        ] {
            assert_eq!(at(s), None, "{s}");
        }
    }

    #[test]
    fn ratings_in_words_and_numbers() {
        assert_eq!(parse_rating("满意"), Some(Some(1)));
        assert_eq!(parse_rating(" 基本满意 "), Some(Some(2)));
        assert_eq!(parse_rating("不满意"), Some(Some(3)));
        assert_eq!(parse_rating("3"), Some(Some(3)));
        assert_eq!(parse_rating(""), Some(None));
        assert_eq!(parse_rating("未回访"), Some(None));
        assert_eq!(parse_rating("还行吧"), None);
        assert_eq!(parse_rating("4"), None);
    }

    fn headers(h: &[&str]) -> Vec<String> {
        h.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn common_headers_are_recognised_and_map_overrides_them() {
        let h = headers(&[
            "\u{feff}工单编号",
            "来电时间",
            "诉求内容 ",
            "渠道",
            "满意度",
            "所属区县",
            "承办单位",
            "联系电话",
            "关联工单",
            "备注",
        ]);
        let m = Mapping::new(&h, &[]).unwrap();
        assert_eq!(
            m.columns,
            vec![
                Some(Field::Id),
                Some(Field::ReceivedAt),
                Some(Field::Text),
                Some(Field::Channel),
                Some(Field::Rating),
                Some(Field::District),
                Some(Field::Unit),
                Some(Field::Contact),
                Some(Field::CaseRef),
                None
            ]
        );
        assert_eq!(m.ignored().collect::<Vec<_>>(), ["备注"]);
        let over = [
            parse_map("备注=text").unwrap(),
            parse_map("诉求内容=").unwrap(),
        ];
        let m = Mapping::new(&h, &over).unwrap();
        assert_eq!(m.columns[2], None);
        assert_eq!(m.columns[9], Some(Field::Text));
    }

    #[test]
    fn ambiguous_or_useless_header_rows_are_refused() {
        let e = Mapping::new(&headers(&["来电时间", "受理时间", "内容"]), &[]).unwrap_err();
        assert!(e.contains("来电时间") && e.contains("受理时间"), "{e}");
        let e = Mapping::new(&headers(&["来电时间", "备注"]), &[]).unwrap_err();
        assert!(e.contains("--map"), "{e}");
        assert!(parse_map("内容=texte").unwrap_err().contains("received_at"));
        assert!(parse_map("内容").is_err());
    }

    #[test]
    fn a_row_becomes_a_raw_item_or_a_reason_without_personal_data() {
        let h = headers(&["来电时间", "诉求内容", "渠道", "满意度", "联系电话"]);
        let m = Mapping::new(&h, &[]).unwrap();
        let channels = vec![("hotline_12345".to_owned(), "12345热线".to_owned())];
        let rules = RowRules {
            channels: &channels,
            default_channel: None,
            timezone: tz(),
        };
        let row = [
            "2025-06-01 10:00:00",
            "出警慢",
            "12345热线",
            "不满意",
            "13812345678",
        ];
        let (ts, v) = raw_item(&m, &rules, |i| row[i]).unwrap();
        assert_eq!(ts, 1_748_743_200);
        assert_eq!(v["channel"], "hotline_12345");
        assert_eq!(v["rating"], 3);
        assert_eq!(v["received_at"], "2025-06-01T10:00:00+08:00");
        assert_eq!(v["contact"], "13812345678");

        let bad = ["13812345678", "出警慢", "12345热线", "", ""];
        let e = raw_item(&m, &rules, |i| bad[i]).unwrap_err();
        assert!(e.contains("来电时间") && !e.contains("12345678"), "{e}");
        // An empty time says so (it read `column "来电时间":  is not a time`).
        let bad = ["  ", "出警慢", "12345热线", "", ""];
        let e = raw_item(&m, &rules, |i| bad[i]).unwrap_err();
        assert!(e.contains("\"来电时间\" is empty"), "{e}");
        let bad = ["2025-06-01 10:00", "x", "微博", "", ""];
        let e = raw_item(&m, &rules, |i| bad[i]).unwrap_err();
        assert!(e.contains("channels.toml"), "{e}");
        let bad = ["2025-06-01 10:00", "x", "", "", ""];
        assert!(
            raw_item(&m, &rules, |i| bad[i])
                .unwrap_err()
                .contains("--channel")
        );
        let with_default = RowRules {
            default_channel: Some("hotline_12345"),
            ..rules
        };
        let (_, v) = raw_item(&m, &with_default, |i| bad[i]).unwrap();
        assert_eq!(v["channel"], "hotline_12345");
        assert!(v.get("rating").is_none());
    }
}
