//! Work-order lifecycle events (docs/DESIGN.md): `{order_id, feedback_id, event,
//! unit, at, rating?}`, validated like feedback items, and the fold of an
//! order's events into its current state, from which the KPIs 办结率 and
//! 超期 and the revisit half of 不满意化解率 are computed.
//!
//! Events may arrive late or out of order and more than once: the state is
//! always recomputed from all events of the order, sorted by time, and an
//! event is identified by (order_id, event, at).

use chrono::{DateTime, FixedOffset};
use serde::Serialize;
use serde_json::Value;

use crate::enrich::Reject;
use crate::enrich::validate::{
    MAX_ID_LEN, breaks_an_id, echo, opt_rating, opt_str, short_field, type_name,
};
use crate::model::Rating;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum OrderEvent {
    Created,
    Dispatched,
    Responded,
    Resolved,
    /// The revisit SMS (回访短信) went out: its answer, if any, comes as
    /// `revisited` with a rating.
    RevisitSent,
    Revisited,
    Reopened,
    /// The centre closed the case without 化解 (结案未化解: the demand is
    /// outside police remit, the citizen cannot be reached …): it leaves
    /// the supervision queue, counted as closed unresolved.
    Closed,
}

impl OrderEvent {
    pub const ALL: [OrderEvent; 8] = [
        OrderEvent::Created,
        OrderEvent::Dispatched,
        OrderEvent::Responded,
        OrderEvent::Resolved,
        OrderEvent::RevisitSent,
        OrderEvent::Revisited,
        OrderEvent::Reopened,
        OrderEvent::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            OrderEvent::Created => "created",
            OrderEvent::Dispatched => "dispatched",
            OrderEvent::Responded => "responded",
            OrderEvent::Resolved => "resolved",
            OrderEvent::RevisitSent => "revisit_sent",
            OrderEvent::Revisited => "revisited",
            OrderEvent::Reopened => "reopened",
            OrderEvent::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<OrderEvent> {
        OrderEvent::ALL.into_iter().find(|e| e.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WorkOrderEvent {
    pub order_id: String,
    pub feedback_id: Option<String>,
    pub event: OrderEvent,
    pub unit: Option<String>,
    pub at: DateTime<FixedOffset>,
    /// The revisit's answer, on `revisited` events.
    pub rating: Option<Rating>,
}

fn id_field(
    obj: &serde_json::Map<String, Value>,
    field: &'static str,
) -> Result<Option<String>, Reject> {
    let id = match opt_str(obj, field) {
        Ok(v) => v.map(str::trim).map(str::to_owned),
        Err(_) if obj.get(field).is_some_and(Value::is_u64) => {
            obj[field].as_u64().map(|n| n.to_string())
        }
        Err(e) => return Err(e),
    };
    match id {
        Some(id) if id.is_empty() => Ok(None),
        Some(id) if id.len() > MAX_ID_LEN => Err(Reject::IdTooLong(field, id.len())),
        Some(id) if id.chars().any(breaks_an_id) => Err(Reject::ControlCharacter(field)),
        other => Ok(other),
    }
}

/// Checks one event. `at` absent means `now`; `at` more than the default
/// clock skew ahead of `now` is refused.
pub fn parse_event(value: &Value, now: DateTime<FixedOffset>) -> Result<WorkOrderEvent, Reject> {
    parse_event_within(value, now, crate::config::DEFAULT_CLOCK_SKEW)
}

/// [`parse_event`] with a configured skew (seconds).
pub fn parse_event_within(
    value: &Value,
    now: DateTime<FixedOffset>,
    skew: i64,
) -> Result<WorkOrderEvent, Reject> {
    let obj = match value {
        Value::Object(o) => o,
        other => return Err(Reject::NotAnObject(type_name(other))),
    };
    let order_id = id_field(obj, "order_id")?.ok_or(Reject::Missing("order_id"))?;
    let event = opt_str(obj, "event")?.ok_or(Reject::Missing("event"))?;
    let event = OrderEvent::parse(event.trim()).ok_or_else(|| Reject::UnknownEvent(echo(event)))?;
    let at = match opt_str(obj, "at")? {
        None => now,
        Some(s) => {
            DateTime::parse_from_rfc3339(s.trim()).map_err(|_| Reject::BadEventTime(echo(s)))?
        }
    };
    if (at - now).num_seconds() > skew {
        return Err(Reject::FutureTime("at", skew));
    }
    if at.timestamp() < 0 {
        return Err(Reject::AncientTime("at"));
    }
    Ok(WorkOrderEvent {
        order_id,
        feedback_id: id_field(obj, "feedback_id")?,
        event,
        unit: short_field(obj, "unit")?,
        at,
        rating: opt_rating(obj)?,
    })
}

/// An order's state after all its events so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderState {
    pub feedback_id: Option<String>,
    pub unit: Option<String>,
    /// Time of the first `created` (or of the first event when `created`
    /// has not arrived yet).
    pub created_at: i64,
    /// Time of the last `resolved` not followed by a `reopened`.
    pub resolved_at: Option<i64>,
    /// The last event, by time.
    pub state: Option<OrderEvent>,
    /// The answer of the last `revisited` event that carried one.
    pub revisit_rating: Option<Rating>,
    /// Time of the first `revisited` event answered satisfied or basically
    /// satisfied, if any (the order's item counts as 不满意化解 from then
    /// on).
    pub satisfied_at: Option<i64>,
}

/// One stored event of an order, as the fold reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredEvent {
    pub event: OrderEvent,
    /// Unix seconds.
    pub at: i64,
    pub feedback_id: Option<String>,
    pub unit: Option<String>,
    pub rating: Option<Rating>,
}

/// Folds the events of one order (any order, duplicates allowed).
pub fn fold(events: &[StoredEvent]) -> OrderState {
    let mut sorted: Vec<&StoredEvent> = events.iter().collect();
    // Same-second events fall back to lifecycle order.
    sorted.sort_by_key(|e| (e.at, e.event));
    let mut s = OrderState {
        created_at: sorted.first().map_or(0, |e| e.at),
        ..OrderState::default()
    };
    let mut created = None;
    for e in sorted {
        if e.feedback_id.is_some() {
            s.feedback_id.clone_from(&e.feedback_id);
        }
        if e.unit.is_some() {
            s.unit.clone_from(&e.unit);
        }
        match e.event {
            OrderEvent::Created => {
                created.get_or_insert(e.at);
            }
            OrderEvent::Resolved => s.resolved_at = Some(e.at),
            OrderEvent::Reopened => s.resolved_at = None,
            OrderEvent::Revisited => {
                if e.rating.is_some() {
                    s.revisit_rating = e.rating;
                }
                if e.rating.is_some_and(Rating::is_satisfied) {
                    s.satisfied_at.get_or_insert(e.at);
                }
            }
            OrderEvent::Dispatched
            | OrderEvent::Responded
            | OrderEvent::RevisitSent
            | OrderEvent::Closed => {}
        }
        s.state = Some(e.event);
    }
    if let Some(c) = created {
        s.created_at = c;
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn now() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2025-06-01T10:00:00+08:00").unwrap()
    }

    #[test]
    fn parses_the_contract() {
        let e = parse_event(
            &json!({"order_id": "WO-1", "feedback_id": "f-1", "event": "revisited", "unit": "丛台派出所", "at": "2025-06-02T09:00:00+08:00", "rating": 1}),
            now() + chrono::Duration::days(1),
        )
        .unwrap();
        assert_eq!(e.event, OrderEvent::Revisited);
        assert_eq!(e.rating, Some(Rating::Satisfied));
        assert_eq!(e.at.timestamp(), now().timestamp() + 23 * 3600);
        let e = parse_event(&json!({"order_id": 77, "event": "created"}), now()).unwrap();
        assert_eq!((e.order_id.as_str(), e.at), ("77", now()));
    }

    #[test]
    fn rejects_with_reasons() {
        let reason = |v: Value| parse_event(&v, now()).unwrap_err().to_string();
        // Beyond the clock skew; a control character; an over-long order id
        // is named as such.
        assert!(
            reason(json!({"order_id": "a", "event": "created", "at": "9999-12-31T00:00:00Z"}))
                .contains("`at` is more than 600 s ahead")
        );
        assert!(
            reason(json!({"order_id": "a", "event": "created", "at": "1960-01-01T00:00:00Z"}))
                .contains("`at` is before 1970")
        );
        assert!(
            reason(json!({"order_id": "a\u{0}b", "event": "created"}))
                .contains("`order_id` holds a control")
        );
        assert!(
            reason(json!({"order_id": "x".repeat(MAX_ID_LEN + 1), "event": "created"}))
                .starts_with("field `order_id` has")
        );
        assert_eq!(
            reason(json!({"event": "created"})),
            "field `order_id` is required"
        );
        assert!(
            reason(json!({"order_id": "a", "event": "cancelled"}))
                .contains("unknown work-order event")
        );
        assert!(
            reason(json!({"order_id": "a", "event": "created", "at": "soon"})).contains("`at`")
        );
        assert!(
            reason(json!({"order_id": "a", "event": "revisited", "rating": 5})).contains("rating")
        );
        assert!(reason(json!([1])).contains("JSON object"));
    }

    #[test]
    fn folds_out_of_order_and_reopened() {
        use OrderEvent::*;
        let ev = |event, at| StoredEvent {
            event,
            at,
            feedback_id: None,
            unit: None,
            rating: None,
        };
        let s = fold(&[ev(Resolved, 30), ev(Created, 10), ev(Dispatched, 20)]);
        assert_eq!(
            (s.created_at, s.resolved_at, s.state),
            (10, Some(30), Some(Resolved))
        );
        let s = fold(&[ev(Created, 10), ev(Resolved, 30), ev(Reopened, 40)]);
        assert_eq!(s.resolved_at, None);
        let s = fold(&[
            ev(Created, 10),
            ev(Resolved, 30),
            StoredEvent {
                rating: Some(Rating::BasicallySatisfied),
                ..ev(Revisited, 50)
            },
        ]);
        assert_eq!(s.revisit_rating, Some(Rating::BasicallySatisfied));
        assert_eq!(s.satisfied_at, Some(50));
        assert_eq!(s.resolved_at, Some(30));
    }
}
