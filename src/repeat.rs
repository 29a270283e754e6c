//! Repeat complaints (重复诉求): an item is a repeat when the same contact
//! (its keyed hash: no phone number is ever compared) raised one of the
//! item's topics at least twice before, within the window
//! (`repeat_window_days`, default 30) before it. "Before" is by
//! `received_at`, ties broken by id, so the marks are a function of the
//! set of items, whatever the order they arrive in. `other` says nothing
//! of the matter and `praise` is no complaint: neither makes a repeat (a
//! citizen who thanks the police three times is not a repeat complainant).
//!
//! [`marks`] is the rule over one contact's items; [`Repeats`] keeps it
//! up to date as items arrive (the incident tracker runs it beside the
//! incidents and stores each item's mark), answering which marks changed:
//! an item arriving late can make later items of its contact repeats.

use std::collections::HashMap;

/// Items an item needs before it, of one of its topics, to be a repeat.
const BEFORE: usize = 2;

/// Topics that are not a matter one complains of again.
const NOT_MATTERS: [&str; 2] = ["other", "praise"];

/// One item of a contact, as the rule reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContactItem {
    pub id: String,
    /// `received_at`, milliseconds since the epoch.
    pub at: i64,
    pub topics: Vec<String>,
}

/// Whether each of one contact's items is a repeat, in their order (any).
pub fn marks(items: &[ContactItem], window_days: u32) -> Vec<bool> {
    let window = window_ms(window_days);
    items
        .iter()
        .map(|item| is_repeat(item, items.iter(), window))
        .collect()
}

fn window_ms(days: u32) -> i64 {
    i64::from(days) * 86_400_000
}

fn is_repeat<'a>(
    item: &ContactItem,
    others: impl Iterator<Item = &'a ContactItem> + Clone,
    window: i64,
) -> bool {
    item.topics
        .iter()
        .filter(|t| !NOT_MATTERS.contains(&t.as_str()))
        .any(|topic| {
            others
                .clone()
                .filter(|o| {
                    (o.at < item.at || (o.at == item.at && o.id < item.id))
                        && item.at - o.at <= window
                        && o.topics.contains(topic)
                })
                .take(BEFORE)
                .count()
                >= BEFORE
        })
}

/// A changed mark, to be stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub item_id: String,
    /// `received_at`, milliseconds since the epoch.
    pub at: i64,
    pub repeat: bool,
}

/// One contact's item as followed: its mark as stored.
struct Seen {
    item: ContactItem,
    stored: bool,
}

/// The recent items of every contact, with their stored marks.
pub struct Repeats {
    window: i64,
    contacts: HashMap<String, Vec<Seen>>,
}

impl Repeats {
    pub fn new(window_days: u32) -> Repeats {
        Repeats {
            window: window_ms(window_days),
            contacts: HashMap::new(),
        }
    }

    /// Adds one stored item of `contact` (`stored`: its mark in the store)
    /// and returns the marks that now differ from the stored ones — its own
    /// and those of the contact's later items within the window — counting
    /// them as stored. Marks of items received before `write_from` (ms) are
    /// left as they are: a replay reads them only as the context of later
    /// ones. An item already followed is not added again.
    pub fn add(
        &mut self,
        contact: &str,
        item: ContactItem,
        stored: bool,
        write_from: i64,
    ) -> Vec<Mark> {
        let list = self.contacts.entry(contact.to_owned()).or_default();
        if list.iter().any(|s| s.item.id == item.id) {
            return Vec::new();
        }
        let key = |i: &ContactItem| (i.at, i.id.clone());
        let place = list.partition_point(|s| key(&s.item) < key(&item));
        let until = item.at + self.window;
        list.insert(place, Seen { item, stored });
        let mut changed = Vec::new();
        for k in place..list.len() {
            if list[k].item.at > until {
                break;
            }
            let now = is_repeat(
                &list[k].item,
                list[..k].iter().map(|s| &s.item),
                self.window,
            );
            let seen = &mut list[k];
            if now != seen.stored && seen.item.at >= write_from {
                seen.stored = now;
                changed.push(Mark {
                    item_id: seen.item.id.clone(),
                    at: seen.item.at,
                    repeat: now,
                });
            }
        }
        changed
    }

    /// Forgets the items received before `before` (ms). The tracker keeps
    /// two windows: an item up to a window late still finds the window of
    /// items before it.
    pub fn forget_before(&mut self, before: i64) {
        self.contacts.retain(|_, list| {
            list.retain(|s| s.item.at >= before);
            !list.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000;

    fn item(id: &str, day: i64, topics: &[&str]) -> ContactItem {
        ContactItem {
            id: id.into(),
            at: day * DAY,
            topics: topics.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    #[test]
    fn the_third_of_a_topic_within_the_window_is_a_repeat() {
        let items = [
            item("a", 0, &["traffic"]),
            item("b", 5, &["traffic", "attitude"]),
            item("c", 9, &["attitude"]),
            item("d", 10, &["traffic"]),
            item("e", 41, &["traffic"]),
            item("f", 42, &["other"]),
            item("g", 43, &["other", "praise"]),
            item("h", 44, &["other", "praise"]),
            item("i", 45, &["praise"]),
        ];
        // d: a and b before it within 30 days; e: only d within 30 days
        // (a, b are 36+ days back); `other` and thanks never repeat.
        assert_eq!(
            marks(&items, 30),
            [false, false, false, true, false, false, false, false, false]
        );
        // A longer window reaches back further.
        assert_eq!(
            marks(&items, 40),
            [false, false, false, true, true, false, false, false, false]
        );
        // Ties in time go by id.
        let tied = [
            item("x2", 1, &["fraud"]),
            item("x1", 1, &["fraud"]),
            item("x3", 1, &["fraud"]),
        ];
        assert_eq!(marks(&tied, 30), [false, false, true]);
    }

    #[test]
    fn marks_do_not_depend_on_the_order_items_arrive_in() {
        let items: Vec<ContactItem> = (0..12)
            .map(|k| {
                let topic = if k % 3 == 0 { "fraud" } else { "traffic" };
                item(&format!("i{k:02}"), k * 4, &[topic])
            })
            .collect();
        let expected = marks(&items, 30);
        assert!(expected.iter().any(|m| *m) && !expected.iter().all(|m| *m));
        for seed in 0..20 {
            let mut order = items.clone();
            fastrand::Rng::with_seed(seed).shuffle(&mut order);
            let mut r = Repeats::new(30);
            let mut stored: HashMap<String, bool> = HashMap::new();
            for i in order {
                for m in r.add("c", i, false, i64::MIN) {
                    stored.insert(m.item_id, m.repeat);
                }
            }
            let got: Vec<bool> = items
                .iter()
                .map(|i| stored.get(&i.id).copied().unwrap_or(false))
                .collect();
            assert_eq!(got, expected, "seed {seed}");
        }
    }

    #[test]
    fn a_replay_writes_only_what_differs_from_its_window_on() {
        let mut r = Repeats::new(30);
        // Stored before: a, b (context, before write_from), c stored as a
        // repeat already; d stored wrongly as none.
        assert!(
            r.add("c", item("a", 0, &["fraud"]), false, 20 * DAY)
                .is_empty()
        );
        assert!(
            r.add("c", item("b", 1, &["fraud"]), false, 20 * DAY)
                .is_empty()
        );
        assert!(
            r.add("c", item("c", 25, &["fraud"]), true, 20 * DAY)
                .is_empty()
        );
        let fixed = r.add("c", item("d", 26, &["fraud"]), false, 20 * DAY);
        assert_eq!(
            fixed,
            [Mark {
                item_id: "d".into(),
                at: 26 * DAY,
                repeat: true
            }]
        );
        // The same item again changes nothing; another contact is apart.
        assert!(r.add("c", item("d", 26, &["fraud"]), true, 0).is_empty());
        assert!(r.add("z", item("z1", 26, &["fraud"]), false, 0).is_empty());
        r.forget_before(25 * DAY);
        // a and b forgotten: a new item sees c and d only (still two).
        let late = r.add("c", item("e", 27, &["fraud"]), false, 0);
        assert_eq!(late.len(), 1);
    }
}
