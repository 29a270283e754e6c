//! Validation of a raw feedback item against the contract in docs/DESIGN.md.
//!
//! Input is any JSON value; output is a [`RawFeedback`] or a [`Reject`]
//! whose message names the field and what was wrong, for the producer to fix
//! (it becomes the HTTP `reason`, the dead-letter reason, the stderr line).
//! Fields outside the contract are ignored so producers can add their own.

use chrono::{DateTime, FixedOffset};
use serde_json::{Map, Value};

use crate::model::{Rating, RawFeedback};

/// Longest accepted `id`, in bytes.
pub const MAX_ID_LEN: usize = 128;
/// Longest accepted `text`, in characters.
pub const MAX_TEXT_CHARS: usize = 20_000;
/// Longest accepted `district`, `unit`, `case_ref`, `contact`, in characters.
pub const MAX_SHORT_CHARS: usize = 256;

/// Why an item was rejected. The `Display` text is the reason clients see.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Reject {
    #[error("malformed JSON: {0}")]
    Json(String),
    #[error("not valid UTF-8 at byte {0}")]
    Utf8(usize),
    #[error("item must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("field `{field}` must be {expected}, got {got}")]
    WrongType {
        field: &'static str,
        expected: &'static str,
        got: &'static str,
    },
    #[error("field `channel` is required")]
    MissingChannel,
    #[error("unknown channel {0:?} (see pipelines/channels.toml)")]
    UnknownChannel(String),
    #[error("item has neither `text` nor `rating`")]
    Empty,
    #[error("field `received_at` is not an RFC 3339 timestamp: {0:?}")]
    BadTimestamp(String),
    #[error("field `text` has {0} characters, more than the limit of {MAX_TEXT_CHARS}")]
    TextTooLong(usize),
    #[error("field `id` is empty")]
    EmptyId,
    #[error("field `{0}` has {1} bytes, more than the limit of {MAX_ID_LEN}")]
    IdTooLong(&'static str, usize),
    #[error("field `{0}` has more than {MAX_SHORT_CHARS} characters")]
    FieldTooLong(&'static str),
    #[error("field `rating` must be 1, 2, 3 or null, got {0}")]
    BadRating(String),
    #[error("field `{0}` is required")]
    Missing(&'static str),
    #[error(
        "unknown work-order event {0:?} (created, dispatched, responded, resolved, revisit_sent, revisited, reopened, closed)"
    )]
    UnknownEvent(String),
    #[error("field `at` is not an RFC 3339 timestamp: {0:?}")]
    BadEventTime(String),
    #[error("field `{0}` is more than {1} s ahead of the server's clock (max_clock_skew_seconds)")]
    FutureTime(&'static str, i64),
    /// Before 1970: no query may ask for it, and ClickHouse would store it
    /// as 1970-01-01 00:00 where SQLite keeps it.
    #[error("field `{0}` is before 1970-01-01")]
    AncientTime(&'static str),
    #[error("field `{0}` holds a control character")]
    ControlCharacter(&'static str),
}

/// Control characters other than tab and line breaks, and invisible ones
/// (zero-width spaces and joiners, the soft hyphen, a BOM inside a text):
/// never in an id, and removed from texts — an escaped `\u0000` arrives as
/// one, and an invisible character inside a phone number (`138\u{200b}1234
/// 5678`) would hide it from masking and cut a word in two.
pub(crate) fn is_stray_control(c: char) -> bool {
    (c.is_control() && !matches!(c, '\t' | '\n' | '\r'))
        || matches!(
            c,
            '\u{200b}'..='\u{200f}'
                | '\u{2060}'..='\u{2064}'
                | '\u{feff}'
                | '\u{00ad}'
                | '\u{180e}'
                // Bidirectional embeddings, overrides and isolates: a
                // U+202E turns the rest of a line around on the wall.
                | '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
        )
}

/// What may never stand in an id: a stray control character, and any
/// other control (a tab, a line break) or line separator, which an id
/// needs none of and which turn an export's cell or a report's line
/// around (`\t=3+3` passes a spreadsheet's formula guard).
pub(crate) fn breaks_an_id(c: char) -> bool {
    is_stray_control(c) || c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')
}

/// `s` without stray control characters (borrowed when it has none).
pub(crate) fn strip_controls(s: &str) -> std::borrow::Cow<'_, str> {
    if s.chars().any(is_stray_control) {
        s.chars()
            .filter(|c| !is_stray_control(*c))
            .collect::<String>()
            .into()
    } else {
        s.into()
    }
}

/// A value of the input quoted in a reason: at most 64 characters, with
/// personal data masked, since reasons reach logs, the dead-letter topic's
/// headers and HTTP answers (a phone number sent as `received_at` is not
/// echoed).
pub fn echo(value: &str) -> String {
    crate::enrich::pii::mask(value.chars().take(64).collect::<String>()).text
}

pub(crate) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// An optional string field: absent or null → `None`.
pub(crate) fn opt_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<Option<&'a str>, Reject> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.as_str())),
        Some(other) => Err(Reject::WrongType {
            field,
            expected: "a string",
            got: type_name(other),
        }),
    }
}

pub(crate) fn short_field(
    obj: &Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, Reject> {
    let Some(s) = opt_str(obj, field)? else {
        return Ok(None);
    };
    let s = strip_controls(s);
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > MAX_SHORT_CHARS {
        return Err(Reject::FieldTooLong(field));
    }
    Ok(Some(s.to_owned()))
}

/// The optional `rating` field: 1, 2, 3 or null.
pub(crate) fn opt_rating(obj: &Map<String, Value>) -> Result<Option<Rating>, Reject> {
    match obj.get("rating") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => {
            let r = n
                .as_u64()
                .and_then(|n| u8::try_from(n).ok())
                .and_then(Rating::from_number);
            Ok(Some(
                r.ok_or_else(|| Reject::BadRating(echo(&n.to_string())))?,
            ))
        }
        Some(other) => Err(Reject::WrongType {
            field: "rating",
            expected: "1, 2, 3 or null",
            got: type_name(other),
        }),
    }
}

/// Checks one raw item. `known_channel` answers whether a channel code is
/// configured.
pub fn parse_raw(
    value: &Value,
    known_channel: impl Fn(&str) -> bool,
) -> Result<RawFeedback, Reject> {
    let obj = match value {
        Value::Object(o) => o,
        other => return Err(Reject::NotAnObject(type_name(other))),
    };

    let channel = opt_str(obj, "channel")?.ok_or(Reject::MissingChannel)?;
    if !known_channel(channel) {
        return Err(Reject::UnknownChannel(echo(channel)));
    }

    let id = match opt_str(obj, "id") {
        Ok(v) => v.map(str::to_owned),
        // Numeric ids are common in exports from ticket systems.
        Err(_) if obj.get("id").is_some_and(Value::is_u64) => {
            obj["id"].as_u64().map(|n| n.to_string())
        }
        Err(e) => return Err(e),
    };
    if let Some(id) = &id {
        if id.trim().is_empty() {
            return Err(Reject::EmptyId);
        }
        if id.len() > MAX_ID_LEN {
            return Err(Reject::IdTooLong("id", id.len()));
        }
        if id.chars().any(breaks_an_id) {
            return Err(Reject::ControlCharacter("id"));
        }
    }

    let received_at = match opt_str(obj, "received_at")? {
        None => None,
        Some(s) => Some(
            DateTime::<FixedOffset>::parse_from_rfc3339(s.trim())
                .map_err(|_| Reject::BadTimestamp(echo(s)))?,
        ),
    };

    let text = opt_str(obj, "text")?.unwrap_or_default();
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(Reject::TextTooLong(chars));
    }

    let rating = opt_rating(obj)?;

    Ok(RawFeedback {
        id,
        channel: channel.to_owned(),
        received_at,
        text: strip_controls(text).into_owned(),
        rating,
        district: short_field(obj, "district")?,
        unit: short_field(obj, "unit")?,
        case_ref: short_field(obj, "case_ref")?,
        contact: short_field(obj, "contact")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(v: Value) -> Result<RawFeedback, Reject> {
        parse_raw(&v, |c| c == "hotline_12345" || c == "sms_revisit")
    }

    #[test]
    fn control_characters_are_refused_in_ids_and_dropped_from_texts() {
        let r = parse(
            json!({"channel": "hotline_12345", "text": "出警\u{0}慢\u{7}\n谢谢\t", "id": "a"}),
        )
        .unwrap();
        assert_eq!(r.text, "出警慢\n谢谢\t");
        for id in ["a\u{0}b", "\t=3+3", "a\nb", "probe\u{2028}ls"] {
            let r = parse(json!({"channel": "hotline_12345", "text": "x", "id": id}));
            assert_eq!(r.unwrap_err(), Reject::ControlCharacter("id"), "{id:?}");
        }
        let r = parse(json!({"channel": "hotline_12345", "text": "x", "district": "丛台\u{0}区"}))
            .unwrap();
        assert_eq!(r.district.as_deref(), Some("丛台区"));
    }

    #[test]
    fn reasons_never_quote_personal_data() {
        let r =
            parse(json!({"channel": "hotline_12345", "text": "x", "received_at": "13812345678"}));
        let reason = r.unwrap_err().to_string();
        assert!(
            reason.contains("received_at") && !reason.contains("12345678"),
            "{reason}"
        );
        let r = parse(json!({"channel": "call 13812345678", "text": "x"}));
        let reason = r.unwrap_err().to_string();
        assert!(
            reason.contains("unknown channel") && !reason.contains("12345678"),
            "{reason}"
        );
    }

    #[test]
    fn accepts_a_minimal_item() {
        let r = parse(json!({"channel": "hotline_12345", "text": "出警太慢"})).unwrap();
        assert_eq!(r.text, "出警太慢");
        assert_eq!(r.id, None);
        assert_eq!(r.received_at, None);
    }

    #[test]
    fn keeps_the_zone_of_received_at() {
        let r = parse(json!({"channel": "hotline_12345", "text": "x", "received_at": "2025-05-20T09:30:00+08:00"}))
            .unwrap();
        assert_eq!(r.received_at.unwrap().offset().local_minus_utc(), 8 * 3600);
    }

    #[test]
    fn rejects_unknown_channel() {
        let e = parse(json!({"channel": "fax", "text": "x"})).unwrap_err();
        assert_eq!(e, Reject::UnknownChannel("fax".into()));
        assert!(e.to_string().contains("unknown channel \"fax\""));
    }

    #[test]
    fn rejects_missing_channel() {
        assert_eq!(
            parse(json!({"text": "x"})).unwrap_err(),
            Reject::MissingChannel
        );
    }

    #[test]
    fn rejects_neither_text_nor_rating_downstream_but_accepts_rating_only() {
        // Emptiness is judged after reply parsing (in the enricher); here a
        // rating-only item is fine.
        let r = parse(json!({"channel": "sms_revisit", "rating": 3})).unwrap();
        assert_eq!(r.rating, Some(Rating::Dissatisfied));
    }

    #[test]
    fn rejects_bad_timestamp() {
        let e = parse(json!({"channel": "hotline_12345", "text": "x", "received_at": "yesterday"}))
            .unwrap_err();
        assert_eq!(e, Reject::BadTimestamp("yesterday".into()));
    }

    #[test]
    fn rejects_overlong_text() {
        let text = "警".repeat(MAX_TEXT_CHARS + 1);
        let e = parse(json!({"channel": "hotline_12345", "text": text})).unwrap_err();
        assert_eq!(e, Reject::TextTooLong(MAX_TEXT_CHARS + 1));
        let ok = "警".repeat(MAX_TEXT_CHARS);
        assert!(parse(json!({"channel": "hotline_12345", "text": ok})).is_ok());
    }

    #[test]
    fn rejects_wrong_types() {
        let cases = [
            (json!({"channel": 5, "text": "x"}), "channel"),
            (json!({"channel": "hotline_12345", "text": ["x"]}), "text"),
            (
                json!({"channel": "hotline_12345", "text": "x", "rating": "1"}),
                "rating",
            ),
            (
                json!({"channel": "hotline_12345", "text": "x", "district": 1}),
                "district",
            ),
            (
                json!({"channel": "hotline_12345", "text": "x", "received_at": 17}),
                "received_at",
            ),
            (
                json!({"channel": "hotline_12345", "text": "x", "id": {"a": 1}}),
                "id",
            ),
        ];
        for (v, field) in cases {
            let e = parse(v).unwrap_err();
            assert!(
                matches!(e, Reject::WrongType { field: f, .. } if f == field),
                "{field}: {e}"
            );
        }
    }

    #[test]
    fn rejects_bad_ratings() {
        for r in [json!(0), json!(4), json!(-1), json!(1.5)] {
            let e = parse(json!({"channel": "sms_revisit", "rating": r})).unwrap_err();
            assert!(matches!(e, Reject::BadRating(_)), "{e}");
        }
    }

    #[test]
    fn rejects_non_objects() {
        assert_eq!(
            parse(json!([1])).unwrap_err(),
            Reject::NotAnObject("an array")
        );
        assert_eq!(
            parse(json!("x")).unwrap_err(),
            Reject::NotAnObject("a string")
        );
    }

    #[test]
    fn id_bounds() {
        assert_eq!(
            parse(json!({"channel": "hotline_12345", "text": "x", "id": ""})).unwrap_err(),
            Reject::EmptyId
        );
        let long = "a".repeat(MAX_ID_LEN + 1);
        assert_eq!(
            parse(json!({"channel": "hotline_12345", "text": "x", "id": long})).unwrap_err(),
            Reject::IdTooLong("id", MAX_ID_LEN + 1)
        );
        let r = parse(json!({"channel": "hotline_12345", "text": "x", "id": 12345})).unwrap();
        assert_eq!(r.id.as_deref(), Some("12345"));
    }
}
