//! The supervision queue (督办台账): every dissatisfied item is a case until
//! it is 化解, and each open case is at one stage with a deadline. A pure
//! function of the case items, the events of their work orders, the rated
//! items on their cases, the deadlines of the config and `now`, so both
//! stores read the same three lists and answer alike ([`queue`]).
//!
//! - **A case** is an item rated 不满意 (3), or an unrated negative item a
//!   work order was opened for (a complaint, `feedback_id`). One row per
//!   item: a 不满意 reply about an order is a case beside the complaint the
//!   order was opened for; both name the order.
//! - **Its orders**: those opened for it (the events' `feedback_id` is the
//!   item's id) and the one its `case_ref` names (a revisit reply about an
//!   order). The order shown is the newest opened for it, else the named one.
//! - **化解** as 不满意化解率 counts it: a work order opened for it revisited
//!   满意 or 基本满意, or a later item on its case (`case_ref`, same second
//!   or later) rated so; beside that, a satisfied revisit of the order its
//!   `case_ref` names, at or after it (the KPI does not see that one when
//!   no item of the revisit is stored). The store's own mark (an erased
//!   case reference keeps it) counts too.
//! - **Stages** of an open case, each with its deadline:
//!   待派发 no order, or one not dispatched — received + `dispatch_hours`;
//!   待联系 dispatched, the unit has not contacted the citizen (`responded`)
//!   — dispatched + `callback_hours`; 整改中 contacted, not resolved (or
//!   reopened) — the order's creation + `sla_days`; 待回访 resolved, no
//!   answer since — no deadline (the revisit is the centre's step, not the
//!   unit's); 未化解 answered 不满意 again (escalated), or resolved and
//!   answered 不满意 since (a `revisited` event, a rated item on the case,
//!   the case's own rating) — the order's creation + `sla_days`, as a
//!   resolution that did not satisfy is none (no order: received +
//!   `dispatch_hours`). 已化解 (only with `status=all`) has no deadline; nor
//!   has 已关闭 (with `status=all`): the centre closed the case unresolved
//!   (a `closed` event on its order, not reopened since).
//! - **Escalation** (`escalate`): a 不满意 answer came after the case was
//!   opened (strictly later than the item) — the case was revisited 不满意
//!   again. A case opened by a 不满意 answer (an SMS reply "3", a rating
//!   device's 不满意) is not escalated by the same answer recorded twice:
//!   the order's `revisited` event for that reply, stamped by another
//!   system up to [`SAME_ANSWER`] later. It stays 未化解 until 化解,
//!   whatever its order does meanwhile.

use std::collections::{BTreeMap, HashMap};

use chrono::FixedOffset;
use serde::{Deserialize, Serialize};

use super::rfc3339;
use crate::model::Rating;
use crate::workorder::{OrderEvent, OrderState, StoredEvent, fold};

/// Seconds within which a 不满意 answer after a case opened by a 不满意
/// answer is that answer recorded again (the SMS reply and its order's
/// `revisited` event come from two systems), not a second one. A real
/// second revisit comes days later.
pub const SAME_ANSWER: i64 = 3600;

/// Most case items a store reads for one queue (the newest of the
/// filters): beyond, the oldest are left out and the answer says so.
pub const MAX_CASES: usize = 100_000;
/// Most cases one answer lists (`limit`); the counts cover them all.
pub const MAX_LIMIT: usize = 10_000;
/// Cases listed when `limit` is not given.
pub const DEFAULT_LIMIT: usize = 500;

/// Which cases a queue lists (`status`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Not 化解 (the default).
    #[default]
    Open,
    /// Open and past its stage's deadline.
    Overdue,
    /// Open and 化解 alike.
    All,
}

impl Status {
    pub fn parse(s: &str) -> Option<Status> {
        match s {
            "open" => Some(Status::Open),
            "overdue" => Some(Status::Overdue),
            "all" => Some(Status::All),
            _ => None,
        }
    }
}

/// Where a case stands.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
pub enum Stage {
    #[serde(rename = "待派发")]
    Dispatch,
    #[serde(rename = "待联系")]
    Contact,
    #[serde(rename = "整改中")]
    Rectify,
    #[serde(rename = "待回访")]
    Revisit,
    #[serde(rename = "未化解")]
    Unresolved,
    #[serde(rename = "已化解")]
    Resolved,
    /// Closed by the centre without 化解 (a `closed` event, not reopened
    /// since): out of the open queue, listed with `status=all`.
    #[serde(rename = "已关闭")]
    Closed,
}

impl Stage {
    pub const ALL: [Stage; 7] = [
        Stage::Dispatch,
        Stage::Contact,
        Stage::Rectify,
        Stage::Revisit,
        Stage::Unresolved,
        Stage::Resolved,
        Stage::Closed,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stage::Dispatch => "待派发",
            Stage::Contact => "待联系",
            Stage::Rectify => "整改中",
            Stage::Revisit => "待回访",
            Stage::Unresolved => "未化解",
            Stage::Resolved => "已化解",
            Stage::Closed => "已关闭",
        }
    }
}

/// The deadlines, in seconds (`dispatch_hours`, `callback_hours`, `sla_days`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    pub dispatch: i64,
    pub callback: i64,
    pub sla: i64,
}

/// A case item as a store reads it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CaseItem {
    pub id: String,
    /// `received_at`, unix seconds.
    pub ts: i64,
    /// As stored (RFC 3339, the producer's zone).
    pub received_at: String,
    pub channel: String,
    pub district: Option<String>,
    pub unit: Option<String>,
    /// 3, or None (an unrated complaint a work order was opened for).
    pub rating: Option<u8>,
    /// The stored, masked text.
    pub text: String,
    pub case_ref: Option<String>,
    /// The store's mark of 不满意化解 (SQLite's `items.resolved`,
    /// ClickHouse's `feedback.resolved`).
    pub resolved: bool,
}

/// One stored event of an order of the cases.
#[derive(Debug, Clone, PartialEq)]
pub struct CaseEvent {
    pub order_id: String,
    pub event: StoredEvent,
}

/// A rated item on one of the cases' `case_ref`: an answer about the case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseAnswer {
    pub case_ref: String,
    pub ts: i64,
    pub rating: u8,
}

/// What a store reads for a queue: the case items matching the filters
/// (at most [`MAX_CASES`], the newest), every event of their orders, and
/// the rated items on their cases.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseInput {
    pub items: Vec<CaseItem>,
    pub events: Vec<CaseEvent>,
    pub answers: Vec<CaseAnswer>,
    /// More case items matched than [`MAX_CASES`].
    pub truncated: bool,
}

/// One case of the queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Case {
    /// The item's id.
    pub id: String,
    pub received_at: String,
    pub channel: String,
    pub district: Option<String>,
    /// The unit of its work order, else the item's.
    pub unit: Option<String>,
    /// 3 (不满意), or null for a negative complaint opened as a work order.
    pub rating: Option<u8>,
    /// The stored text (personal data masked).
    pub text: String,
    /// The work order shown (null: none yet).
    pub order_id: Option<String>,
    pub stage: Stage,
    /// RFC 3339 in the centre's zone; null for 待回访 and 已化解.
    pub deadline: Option<String>,
    /// Past the deadline.
    pub overdue: bool,
    /// Hours since the item was received (one decimal).
    pub age_hours: f64,
    /// Revisited 不满意 again after the case was opened: to escalate.
    pub escalate: bool,
}

/// Cases of one stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StageCount {
    pub stage: Stage,
    pub count: u64,
    pub overdue: u64,
}

/// Cases of one unit, by stage.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct UnitCount {
    /// Null: neither the order nor the item names a unit.
    pub unit: Option<String>,
    pub count: u64,
    pub overdue: u64,
    pub escalate: u64,
    /// Cases per stage name (only stages with cases).
    pub stages: BTreeMap<String, u64>,
}

/// The answer: the cases of the status, overdue first, then the oldest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Queue {
    /// At most `limit`.
    pub items: Vec<Case>,
    /// Cases of the status (all of them, not only those listed).
    pub total: u64,
    pub overdue: u64,
    pub escalate: u64,
    /// Every stage of the status, in the order of the lifecycle.
    pub by_stage: Vec<StageCount>,
    /// The most overdue units first, then the most cases.
    pub by_unit: Vec<UnitCount>,
    /// More case items matched than a queue reads (100,000, the newest):
    /// the oldest are left out.
    pub truncated: bool,
    /// When `truncated`: the receipt of the oldest case read (RFC 3339 in
    /// the centre's zone). Cases received before it are not counted, so a
    /// screen says "since" rather than showing a partial count as whole.
    pub since: Option<String>,
}

/// How one case stands at `now`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Assessment {
    pub stage: Stage,
    pub order_id: Option<String>,
    pub order_unit: Option<String>,
    /// Unix seconds.
    pub deadline: Option<i64>,
    pub escalate: bool,
}

/// One work order as the queue reads it: its events sorted by time (same
/// second: lifecycle order), each once, and their fold.
#[derive(Debug, Clone)]
pub struct Order<'a> {
    pub id: &'a str,
    pub events: Vec<&'a StoredEvent>,
    pub state: OrderState,
}

/// The orders of `events`, each folded once.
pub fn orders(events: &[CaseEvent]) -> HashMap<&str, Order<'_>> {
    let mut by_order: HashMap<&str, Vec<&StoredEvent>> = HashMap::new();
    for e in events {
        by_order.entry(&e.order_id).or_default().push(&e.event);
    }
    by_order
        .into_iter()
        .map(|(id, mut evs)| {
            evs.sort_by_key(|e| (e.at, e.event));
            evs.dedup_by(|a, b| a.at == b.at && a.event == b.event);
            let owned: Vec<StoredEvent> = evs.iter().map(|e| (*e).clone()).collect();
            let state = fold(&owned);
            (
                id,
                Order {
                    id,
                    events: evs,
                    state,
                },
            )
        })
        .collect()
}

/// One case's stage, deadline and escalation, from the events of the
/// orders linked to it (any others are ignored) and the answers on its
/// case. Events may repeat and be in any order.
pub fn assess(
    item: &CaseItem,
    events: &[CaseEvent],
    answers: &[CaseAnswer],
    d: Deadlines,
) -> Assessment {
    let orders = orders(events);
    let all: Vec<&Order> = orders.values().collect();
    let answers: Vec<&CaseAnswer> = answers.iter().collect();
    assess_orders(item, &all, &answers, d)
}

/// [`assess`] over orders folded once ([`orders`]), for a queue of many
/// cases that share orders.
pub fn assess_orders(
    item: &CaseItem,
    orders: &[&Order],
    answers: &[&CaseAnswer],
    d: Deadlines,
) -> Assessment {
    // Linked orders: (own?, state, order id, events sorted).
    let mut linked = Vec::new();
    for o in orders {
        let own = o.state.feedback_id.as_deref() == Some(item.id.as_str());
        let named = item.case_ref.as_deref() == Some(o.id);
        if own || named {
            linked.push((own, &o.state, o.id, &o.events));
        }
    }
    let answers: Vec<&CaseAnswer> = answers
        .iter()
        .copied()
        .filter(|a| item.case_ref.as_deref() == Some(a.case_ref.as_str()))
        .collect();

    // 化解: as the KPI counts it, and a satisfied revisit of the named
    // order at or after the case.
    let satisfied = |e: &StoredEvent| {
        e.event == OrderEvent::Revisited && e.rating.is_some_and(Rating::is_satisfied)
    };
    let resolved = item.resolved
        || linked.iter().any(|(own, _, _, evs)| {
            evs.iter()
                .any(|e| satisfied(e) && (*own || e.at >= item.ts))
        })
        || answers
            .iter()
            .any(|a| matches!(a.rating, 1 | 2) && a.ts >= item.ts);

    // Every 不满意 answer about the case: revisits of its orders, rated
    // items on its case, the item itself.
    let mut dissatisfied: Vec<i64> = linked
        .iter()
        .flat_map(|(_, _, _, evs)| evs.iter())
        .filter(|e| e.event == OrderEvent::Revisited && e.rating == Some(Rating::Dissatisfied))
        .map(|e| e.at)
        .chain(answers.iter().filter(|a| a.rating == 3).map(|a| a.ts))
        .collect();
    if item.rating == Some(3) {
        dissatisfied.push(item.ts);
    }
    let own = if item.rating == Some(3) {
        SAME_ANSWER
    } else {
        0
    };
    let escalate = dissatisfied.iter().any(|&t| t > item.ts + own);

    // The order shown: the newest opened for the item, else the named one.
    linked.sort_by(|a, b| (a.0, a.1.created_at, a.2).cmp(&(b.0, b.1.created_at, b.2)));
    let main = linked.last();
    let order_id = main.map(|m| m.2.to_owned());
    let order_unit = main
        .and_then(|m| m.1.unit.clone())
        .filter(|u| !u.is_empty());
    // Closed unresolved: a `closed` event on a linked order, not reopened
    // (nor answered) since.
    let closed = linked.iter().any(|(_, _, _, evs)| {
        evs.iter()
            .filter(|e| e.event == OrderEvent::Closed)
            .any(|c| {
                !evs.iter()
                    .any(|e| e.event == OrderEvent::Reopened && e.at > c.at)
            })
    });
    let (stage, deadline) = if resolved {
        (Stage::Resolved, None)
    } else if closed {
        (Stage::Closed, None)
    } else {
        match main {
            // Answered 不满意 again and still no order: the 督办工单 is late.
            None if escalate => (Stage::Unresolved, Some(item.ts + d.dispatch)),
            None => (Stage::Dispatch, Some(item.ts + d.dispatch)),
            Some((_, state, _, evs)) => {
                let dispatched = evs
                    .iter()
                    .find(|e| e.event == OrderEvent::Dispatched)
                    .map(|e| e.at);
                let responded = evs.iter().any(|e| e.event == OrderEvent::Responded);
                let due = state.created_at + d.sla;
                match (dispatched, state.resolved_at) {
                    // Answered 不满意 again: 未化解 until 化解, whatever
                    // the order does meanwhile (reopened, resolved again).
                    _ if escalate => (Stage::Unresolved, Some(due)),
                    (_, Some(resolved_at)) => {
                        // An answer since the resolution (a satisfied one
                        // resolved it): the case's own 不满意 included.
                        if dissatisfied.iter().any(|&t| t >= resolved_at) {
                            (Stage::Unresolved, Some(due))
                        } else {
                            (Stage::Revisit, None)
                        }
                    }
                    (None, None) => (Stage::Dispatch, Some(item.ts + d.dispatch)),
                    (Some(_), None) if responded => (Stage::Rectify, Some(due)),
                    (Some(at), None) => (Stage::Contact, Some(at + d.callback)),
                }
            }
        }
    };
    Assessment {
        stage,
        order_id,
        order_unit,
        deadline,
        escalate,
    }
}

/// The queue of `input` at `now`: each case assessed, those of `status`
/// counted, overdue first then the oldest, at most `limit` listed. One
/// function for both stores.
pub fn queue(
    input: CaseInput,
    d: Deadlines,
    now: i64,
    status: Status,
    limit: usize,
    tz: FixedOffset,
) -> Queue {
    let orders = orders(&input.events);
    // The orders opened for each item (by any event's `feedback_id`).
    let mut orders_of_item: HashMap<&str, Vec<&str>> = HashMap::new();
    for e in &input.events {
        if let Some(f) = &e.event.feedback_id {
            let list = orders_of_item.entry(f).or_default();
            if !list.contains(&e.order_id.as_str()) {
                list.push(&e.order_id);
            }
        }
    }
    let mut answers: HashMap<&str, Vec<&CaseAnswer>> = HashMap::new();
    for a in &input.answers {
        answers.entry(&a.case_ref).or_default().push(a);
    }
    let mut cases: Vec<(i64, Case)> = Vec::new();
    for item in &input.items {
        let mut linked: Vec<&Order> = orders_of_item
            .get(item.id.as_str())
            .into_iter()
            .flatten()
            .filter_map(|o| orders.get(o))
            .collect();
        if let Some(o) = item.case_ref.as_deref().and_then(|c| orders.get(c))
            && !linked.iter().any(|l| l.id == o.id)
        {
            linked.push(o);
        }
        let on_case = item
            .case_ref
            .as_deref()
            .and_then(|c| answers.get(c))
            .map_or(&[][..], Vec::as_slice);
        let a = assess_orders(item, &linked, on_case, d);
        let overdue = a.deadline.is_some_and(|t| now > t);
        let keep = match status {
            Status::Open => !matches!(a.stage, Stage::Resolved | Stage::Closed),
            Status::Overdue => overdue,
            Status::All => true,
        };
        if !keep {
            continue;
        }
        let age = (now - item.ts).max(0) as f64 / 3600.0;
        cases.push((
            item.ts,
            Case {
                id: item.id.clone(),
                received_at: if item.received_at.is_empty() {
                    rfc3339(item.ts, tz)
                } else {
                    item.received_at.clone()
                },
                channel: item.channel.clone(),
                district: item.district.clone().filter(|d| !d.is_empty()),
                unit: a
                    .order_unit
                    .or_else(|| item.unit.clone())
                    .filter(|u| !u.is_empty()),
                rating: item.rating,
                text: item.text.clone(),
                order_id: a.order_id,
                stage: a.stage,
                deadline: a.deadline.map(|t| rfc3339(t, tz)),
                overdue,
                age_hours: (age * 10.0).round() / 10.0,
                escalate: a.escalate,
            },
        ));
    }
    cases.sort_by(|(ta, a), (tb, b)| {
        b.overdue
            .cmp(&a.overdue)
            .then(ta.cmp(tb))
            .then_with(|| a.id.cmp(&b.id))
    });

    let stages: &[Stage] = if status == Status::All {
        &Stage::ALL
    } else {
        &Stage::ALL[..5]
    };
    let mut by_stage: Vec<StageCount> = stages
        .iter()
        .map(|&stage| StageCount {
            stage,
            count: 0,
            overdue: 0,
        })
        .collect();
    let mut units: BTreeMap<Option<String>, UnitCount> = BTreeMap::new();
    for (_, c) in &cases {
        if let Some(s) = by_stage.iter_mut().find(|s| s.stage == c.stage) {
            s.count += 1;
            s.overdue += u64::from(c.overdue);
        }
        let u = units.entry(c.unit.clone()).or_insert_with(|| UnitCount {
            unit: c.unit.clone(),
            count: 0,
            overdue: 0,
            escalate: 0,
            stages: BTreeMap::new(),
        });
        u.count += 1;
        u.overdue += u64::from(c.overdue);
        u.escalate += u64::from(c.escalate);
        *u.stages.entry(c.stage.name().to_owned()).or_default() += 1;
    }
    let mut by_unit: Vec<UnitCount> = units.into_values().collect();
    by_unit.sort_by(|a, b| {
        b.overdue
            .cmp(&a.overdue)
            .then(b.count.cmp(&a.count))
            .then_with(|| a.unit.cmp(&b.unit))
    });
    let since = input
        .truncated
        .then(|| input.items.iter().map(|i| i.ts).min())
        .flatten()
        .map(|t| rfc3339(t, tz));
    let total = cases.len() as u64;
    let overdue = cases.iter().filter(|(_, c)| c.overdue).count() as u64;
    let escalate = cases.iter().filter(|(_, c)| c.escalate).count() as u64;
    cases.truncate(limit);
    Queue {
        items: cases.into_iter().map(|(_, c)| c).collect(),
        total,
        overdue,
        escalate,
        by_stage,
        by_unit,
        truncated: input.truncated,
        since,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3600;
    const D: Deadlines = Deadlines {
        dispatch: 24 * H,
        callback: 48 * H,
        sla: 5 * 24 * H,
    };
    /// 2025-06-01T00:00:00+08:00.
    const T0: i64 = 1_748_707_200;

    fn item(id: &str, ts: i64, rating: Option<u8>, case: Option<&str>) -> CaseItem {
        CaseItem {
            id: id.into(),
            ts,
            channel: "sms_revisit".into(),
            unit: Some("丛台派出所".into()),
            rating,
            text: "不满意".into(),
            case_ref: case.map(Into::into),
            ..CaseItem::default()
        }
    }

    fn ev(order: &str, feedback: Option<&str>, event: OrderEvent, at: i64) -> CaseEvent {
        CaseEvent {
            order_id: order.into(),
            event: StoredEvent {
                event,
                at,
                feedback_id: feedback.map(Into::into),
                unit: Some("光明派出所".into()),
                rating: None,
            },
        }
    }

    fn revisit(order: &str, at: i64, rating: u8) -> CaseEvent {
        let mut e = ev(order, None, OrderEvent::Revisited, at);
        e.event.rating = Rating::from_number(rating);
        e
    }

    fn stage(a: &Assessment) -> (Stage, Option<i64>, bool) {
        (a.stage, a.deadline, a.escalate)
    }

    #[test]
    fn every_stage_and_its_deadline() {
        use OrderEvent::*;
        let i = item("f1", T0, Some(3), None);
        // No order: 待派发, a day after receipt; the item's unit.
        let a = assess(&i, &[], &[], D);
        assert_eq!(stage(&a), (Stage::Dispatch, Some(T0 + 24 * H), false));
        assert_eq!((a.order_id, a.order_unit), (None, None));
        // Created, not dispatched: still 待派发, from receipt.
        let mut evs = vec![ev("wo1", Some("f1"), Created, T0 + H)];
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Dispatch, Some(T0 + 24 * H), false));
        assert_eq!(a.order_id.as_deref(), Some("wo1"));
        assert_eq!(a.order_unit.as_deref(), Some("光明派出所"));
        // Dispatched: 待联系, 48 h after dispatch.
        evs.push(ev("wo1", Some("f1"), Dispatched, T0 + 2 * H));
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Contact, Some(T0 + 50 * H), false));
        // Responded: 整改中, the SLA from the order's creation.
        evs.push(ev("wo1", Some("f1"), Responded, T0 + 10 * H));
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Rectify, Some(T0 + H + 120 * H), false));
        // Resolved: 待回访, no deadline.
        evs.push(ev("wo1", Some("f1"), Resolved, T0 + 30 * H));
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Revisit, None, false));
        // Revisited 不满意: 未化解, escalated, the SLA's deadline.
        evs.push(revisit("wo1", T0 + 40 * H, 3));
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Unresolved, Some(T0 + 121 * H), true));
        // Reopened, resolved again: 未化解 still (answered 不满意 again),
        // the SLA's deadline; then revisited 满意: 已化解.
        evs.push(ev("wo1", Some("f1"), Reopened, T0 + 41 * H));
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Unresolved, Some(T0 + 121 * H), true));
        evs.push(ev("wo1", Some("f1"), Resolved, T0 + 60 * H));
        assert_eq!(assess(&i, &evs, &[], D).stage, Stage::Unresolved);
        // Closed by the centre unresolved: out of the queue; reopened: back.
        let mut closed = evs.clone();
        closed.push(ev("wo1", Some("f1"), Closed, T0 + 65 * H));
        assert_eq!(
            stage(&assess(&i, &closed, &[], D)),
            (Stage::Closed, None, true)
        );
        closed.push(ev("wo1", Some("f1"), Reopened, T0 + 66 * H));
        assert_eq!(assess(&i, &closed, &[], D).stage, Stage::Unresolved);
        evs.push(revisit("wo1", T0 + 70 * H, 2));
        let a = assess(&i, &evs, &[], D);
        assert_eq!(stage(&a), (Stage::Resolved, None, true));
        // Events in any order, repeated: the same answer.
        let mut shuffled: Vec<CaseEvent> = evs.iter().rev().cloned().collect();
        shuffled.extend(evs.iter().cloned());
        assert_eq!(assess(&i, &shuffled, &[], D), a);
    }

    #[test]
    fn a_reply_about_an_order_and_answers_on_a_case() {
        use OrderEvent::*;
        // The complaint's order, resolved; the SMS reply "3" names it.
        let evs = vec![
            ev("wo2", Some("c2"), Created, T0),
            ev("wo2", Some("c2"), Dispatched, T0 + H),
            ev("wo2", Some("c2"), Responded, T0 + 2 * H),
            ev("wo2", Some("c2"), Resolved, T0 + 20 * H),
            revisit("wo2", T0 + 30 * H, 3),
        ];
        let reply = item("r2", T0 + 30 * H, Some(3), Some("wo2"));
        let a = assess(&reply, &evs, &[], D);
        // Its own answer opened it: 未化解, not escalated.
        assert_eq!(stage(&a), (Stage::Unresolved, Some(T0 + 120 * H), false));
        assert_eq!(a.order_id.as_deref(), Some("wo2"));
        // The order's record of that answer, stamped a little after the
        // reply by the order system, is the same answer; one the next day
        // is a second.
        for (late, again) in [(1, false), (SAME_ANSWER, false), (SAME_ANSWER + 1, true)] {
            let mut evs = evs[..4].to_vec();
            evs.push(revisit("wo2", T0 + 30 * H + late, 3));
            assert_eq!(
                assess(&reply, &evs, &[], D).escalate,
                again,
                "{late} s later"
            );
        }
        // The complaint: unrated, its order revisited 不满意 after it.
        let complaint = item("c2", T0 - 60, None, Some("wo2"));
        assert_eq!(
            stage(&assess(&complaint, &evs, &[], D)),
            (Stage::Unresolved, Some(T0 + 120 * H), true)
        );
        // Reopened: the reply's case is 整改中, the complaint's 未化解 (it
        // was answered 不满意 again); resolved again, the reply waits for
        // its revisit; answered 不满意 once more, it is escalated too.
        let mut reopened = evs.clone();
        reopened.push(ev("wo2", Some("c2"), Reopened, T0 + 31 * H));
        assert_eq!(
            stage(&assess(&reply, &reopened, &[], D)),
            (Stage::Rectify, Some(T0 + 120 * H), false)
        );
        assert_eq!(
            assess(&complaint, &reopened, &[], D).stage,
            Stage::Unresolved
        );
        reopened.push(ev("wo2", Some("c2"), Resolved, T0 + 40 * H));
        assert_eq!(assess(&reply, &reopened, &[], D).stage, Stage::Revisit);
        reopened.push(revisit("wo2", T0 + 50 * H, 3));
        assert_eq!(
            stage(&assess(&reply, &reopened, &[], D)),
            (Stage::Unresolved, Some(T0 + 120 * H), true)
        );
        // A satisfied revisit of the named order before the reply does not
        // resolve it; one after does.
        let mut early = evs.clone();
        early.push(revisit("wo2", T0 + 25 * H, 1));
        assert_eq!(assess(&reply, &early, &[], D).stage, Stage::Unresolved);
        assert_eq!(assess(&complaint, &early, &[], D).stage, Stage::Resolved);
        let mut later = evs.clone();
        later.push(revisit("wo2", T0 + 35 * H, 1));
        assert_eq!(assess(&reply, &later, &[], D).stage, Stage::Resolved);

        // A rating device's 不满意 with a call-back case and no order.
        let rated = item("s3", T0, Some(3), Some("cb3"));
        let answer = |ts, rating| CaseAnswer {
            case_ref: "cb3".into(),
            ts,
            rating,
        };
        // The call-back said 不满意 again: 未化解, escalated, the order due
        // a day after the case.
        let a = assess(&rated, &[], &[answer(T0 + 5 * H, 3)], D);
        assert_eq!(stage(&a), (Stage::Unresolved, Some(T0 + 24 * H), true));
        // A satisfied answer on the case in the same second or later is 化解;
        // an earlier one is not; answers on another case are ignored.
        assert_eq!(
            assess(&rated, &[], &[answer(T0, 1)], D).stage,
            Stage::Resolved
        );
        assert_eq!(
            assess(&rated, &[], &[answer(T0 - 1, 2)], D).stage,
            Stage::Dispatch
        );
        let other = CaseAnswer {
            case_ref: "cb4".into(),
            ts: T0 + H,
            rating: 1,
        };
        assert_eq!(assess(&rated, &[], &[other], D).stage, Stage::Dispatch);
        // The store's mark resolves it.
        let marked = CaseItem {
            resolved: true,
            ..rated.clone()
        };
        assert_eq!(assess(&marked, &[], &[], D).stage, Stage::Resolved);
        // An order of another item is not this case's.
        let foreign = vec![
            ev("wo9", Some("zz"), Created, T0),
            ev("wo9", None, Dispatched, T0),
        ];
        assert_eq!(assess(&rated, &foreign, &[], D).order_id, None);
    }

    #[test]
    fn the_queue_lists_overdue_first_then_the_oldest_and_counts() {
        use OrderEvent::*;
        let tz = FixedOffset::east_opt(8 * 3600).unwrap();
        let now = T0 + 100 * H;
        let input = CaseInput {
            items: vec![
                // 待派发, received 10 h ago: not overdue.
                item("a", now - 10 * H, Some(3), None),
                // 待派发, received 30 h ago: overdue.
                item("b", now - 30 * H, Some(3), None),
                // 待联系, dispatched 49 h ago: overdue.
                item("c", now - 60 * H, Some(3), None),
                // 已化解 through a later satisfied answer on its case.
                item("d", now - 90 * H, Some(3), Some("cb-d")),
            ],
            events: vec![
                ev("wo-c", Some("c"), Created, now - 50 * H),
                ev("wo-c", Some("c"), Dispatched, now - 49 * H),
            ],
            answers: vec![CaseAnswer {
                case_ref: "cb-d".into(),
                ts: now - 80 * H,
                rating: 1,
            }],
            truncated: false,
        };
        let q = queue(input.clone(), D, now, Status::Open, 10, tz);
        let ids: Vec<&str> = q.items.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c", "b", "a"]);
        assert_eq!((q.total, q.overdue, q.escalate), (3, 2, 0));
        assert_eq!(q.items[0].stage, Stage::Contact);
        assert_eq!(q.items[0].unit.as_deref(), Some("光明派出所"));
        assert_eq!(
            q.items[0].deadline.as_deref(),
            Some(rfc3339(now - H, tz).as_str())
        );
        assert_eq!(q.items[2].age_hours, 10.0);
        assert_eq!(q.by_stage.len(), 5);
        assert_eq!((q.by_stage[0].count, q.by_stage[0].overdue), (2, 1));
        // 光明派出所 has one overdue case, 丛台派出所 one of two.
        let units: Vec<(Option<&str>, u64, u64)> = q
            .by_unit
            .iter()
            .map(|u| (u.unit.as_deref(), u.count, u.overdue))
            .collect();
        assert_eq!(
            units,
            [(Some("丛台派出所"), 2, 1), (Some("光明派出所"), 1, 1)]
        );
        assert_eq!(q.by_unit[0].stages["待派发"], 2);

        let overdue = queue(input.clone(), D, now, Status::Overdue, 10, tz);
        assert_eq!(overdue.total, 2);
        assert!(overdue.items.iter().all(|c| c.overdue));
        let all = queue(input.clone(), D, now, Status::All, 1, tz);
        assert_eq!((all.total, all.items.len()), (4, 1));
        assert_eq!(all.by_stage[5].stage, Stage::Resolved);
        assert_eq!(all.by_stage[5].count, 1);
        assert_eq!(q.since, None, "all cases read");
        // A deadline is overdue only once passed.
        let at_deadline = queue(input.clone(), D, T0 + 100 * H, Status::Overdue, 10, tz);
        assert!(!at_deadline.items.iter().any(|c| c.id == "a"));

        // A store that read only the newest cases: the answer says from
        // when it counts, the oldest case read (a resolved one too).
        let partial = queue(
            CaseInput {
                truncated: true,
                ..input
            },
            D,
            now,
            Status::Overdue,
            10,
            tz,
        );
        assert!(partial.truncated);
        assert_eq!(partial.since, Some(rfc3339(now - 90 * H, tz)));
    }
}
