//! The follower query of the live ticker (`minyi api`). In: where the
//! follower got to — (ingested_us, id) of the last item seen — and the
//! oldest item time it shows. Out: the items stored since, in the order
//! they were stored. Guarantees: the items come in (ingested_us, id) order,
//! each after the one passed in (rows of one batch share their
//! `ingested_us`, the id breaks the tie), so a follower passing back the
//! last one it got sees none twice.

use clickhouse::Row;
use serde::Deserialize;

use super::{ClickHouseStore, ch, datetime};
use crate::store::Result;

impl ClickHouseStore {
    /// Items stored after `after` — (ingested_us, id) of the last one seen;
    /// rows of one batch share their `ingested_us` — whose time is at or
    /// after `since`: what the live ticker of `minyi api` pushes.
    pub async fn recent(
        &self,
        since: i64,
        after: (u64, &str),
        limit: usize,
    ) -> Result<Vec<RecentItem>> {
        self.client
            .query(
                "SELECT ingested_us, id, toString(channel), received_at, text, rating,
                        toString(district), toString(unit), topics, toString(sentiment), score
                 FROM feedback
                 WHERE ts >= ? AND (ingested_us > ? OR (ingested_us = ? AND id > ?))
                 ORDER BY ingested_us, id LIMIT ?",
            )
            .bind(datetime(since))
            .bind(after.0)
            .bind(after.0)
            .bind(after.1)
            .bind(limit as u64)
            .fetch_all()
            .await
            .map_err(ch)
    }
}

/// A newly stored item, as the live ticker shows it.
#[derive(Debug, Clone, Row, Deserialize)]
pub struct RecentItem {
    pub ingested_us: u64,
    pub id: String,
    pub channel: String,
    pub received_at: String,
    pub text: String,
    pub rating: u8,
    pub district: String,
    pub unit: String,
    pub topics: Vec<String>,
    pub sentiment: String,
    pub score: f32,
}
