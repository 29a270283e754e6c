//! Personal data over its lifetime, in SQLite: the access audit (appended,
//! read, pruned), erasure on request and retention. In: the writer's
//! connection (a reader's for the audit). Out: counts. Guarantees: an
//! erased or expired item keeps its row and every count it adds to (the
//! rollups, the KPIs: its `resolved` mark was set when it happened) but
//! loses text, keywords, evidence, contact hash and case reference, and
//! its tokens leave the search index (`contentless_delete`, with the
//! index's `secure-delete`, then the index is compacted so no term of it
//! is left as a key); the writer connection runs with `PRAGMA
//! secure_delete`, so freed space is zeroed, and an erasure ends with a
//! TRUNCATE checkpoint, so the text is in neither the database's free
//! pages nor the WAL once it returns.

use rusqlite::{Connection, params};

use crate::store::{AuditEntry, AuditQuery, Erase, Redaction, Result, redacted_detail};

/// Items one retention transaction redacts.
pub(super) const EXPIRE_CHUNK: u64 = 2000;

pub(super) fn audit_append(conn: &mut Connection, entries: &[AuditEntry]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut insert =
            tx.prepare_cached("INSERT INTO audit VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)")?;
        for e in entries {
            insert.execute(params![
                e.at,
                e.token,
                e.role,
                e.method,
                e.path,
                e.query,
                e.status,
                e.items.map(|n| n as i64),
            ])?;
        }
    }
    tx.commit()?;
    Ok(())
}

pub(super) fn audit_read(conn: &Connection, q: &AuditQuery) -> Result<Vec<AuditEntry>> {
    let rows = conn
        .prepare_cached(
            "SELECT at, token, role, method, path, query, status, items FROM audit
             WHERE at >= ?1 AND at < ?2 AND (?3 IS NULL OR token = ?3)
             ORDER BY at, rowid LIMIT ?4",
        )?
        .query_map(params![q.from, q.to, q.token, q.limit as i64], |r| {
            let items: Option<i64> = r.get(7)?;
            Ok(AuditEntry {
                at: r.get(0)?,
                token: r.get(1)?,
                role: r.get(2)?,
                method: r.get(3)?,
                path: r.get(4)?,
                query: r.get(5)?,
                status: r.get(6)?,
                items: items.map(|n| n.max(0) as u64),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(rows)
}

/// Erases the items `target` names (those not erased before) and
/// checkpoints the WAL away.
pub(super) fn erase(conn: &mut Connection, target: &Erase) -> Result<u64> {
    let (condition, value) = match target {
        Erase::Item(id) => ("id = ?1", id),
        Erase::Contact(hash) => ("json_extract(detail, '$.contact_hash') = ?1", hash),
    };
    let tx = conn.transaction()?;
    let seqs: Vec<i64> = tx
        .prepare(&format!(
            "SELECT seq FROM items WHERE {condition} AND coalesce(redacted, '') != 'erased'"
        ))?
        .query_map([value], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in &seqs {
        forget_keywords(&tx, *seq)?;
        redact(&tx, *seq, Redaction::Erased)?;
    }
    tx.commit()?;
    if !seqs.is_empty() {
        compact_index(conn)?;
        checkpoint_away(conn);
    }
    Ok(seqs.len() as u64)
}

/// Rewrites the search index into one segment. Deleting a row takes its
/// entries out of the index (`secure-delete`), but a term no row has any
/// more keeps its key in its segment until that segment is merged: a
/// name's characters would stay readable in the file. 0.4 s for the index
/// of 300,000 items.
pub(super) fn compact_index(conn: &Connection) -> Result<()> {
    conn.execute(
        "INSERT INTO items_search (items_search) VALUES ('optimize')",
        [],
    )?;
    Ok(())
}

/// Redacts up to [`EXPIRE_CHUNK`] items received before `before` that
/// still have their content; returns how many.
pub(super) fn expire_items(conn: &mut Connection, before: i64) -> Result<u64> {
    let tx = conn.transaction()?;
    let seqs: Vec<i64> = tx
        .prepare_cached("SELECT seq FROM items WHERE ts < ?1 AND redacted IS NULL LIMIT ?2")?
        .query_map(params![before, EXPIRE_CHUNK as i64], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for seq in &seqs {
        redact(&tx, *seq, Redaction::Expired)?;
    }
    tx.commit()?;
    Ok(seqs.len() as u64)
}

pub(super) fn expire_audit(conn: &mut Connection, before: i64) -> Result<u64> {
    Ok(conn
        .prepare_cached("DELETE FROM audit WHERE at < ?1")?
        .execute([before])? as u64)
}

/// Takes one item's content out of its row and the search index.
fn redact(tx: &Connection, seq: i64, why: Redaction) -> Result<()> {
    tx.prepare_cached("DELETE FROM items_search WHERE rowid = ?1")?
        .execute([seq])?;
    tx.prepare_cached(
        "UPDATE items SET text = '', keywords = '[]', case_ref = NULL, detail = ?2, redacted = ?3
         WHERE seq = ?1",
    )?
    .execute(params![seq, redacted_detail(why), why.as_str()])?;
    Ok(())
}

/// Takes an item's keywords out of the hot-word counts (minute, and hour
/// when that minute is folded), dropping rows that reach zero.
fn forget_keywords(tx: &Connection, seq: i64) -> Result<()> {
    let (ts, district, sentiment, keywords): (i64, String, String, String) = tx
        .prepare_cached("SELECT ts, district, sentiment, keywords FROM items WHERE seq = ?1")?
        .query_row([seq], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?;
    let keywords: Vec<String> = serde_json::from_str(&keywords).unwrap_or_default();
    let minute = ts.div_euclid(60) * 60;
    let hour = ts.div_euclid(3600) * 3600;
    let mut tables = vec![("rollup_keyword", "minute", minute)];
    if minute < super::rollups::fold_cursor(tx)? {
        tables.push(("rollup_keyword_hour", "hour", hour));
    }
    for (table, column, t) in tables {
        let key = format!("{column} = ?1 AND keyword = ?2 AND district = ?3 AND sentiment = ?4");
        let mut less = tx.prepare_cached(&format!("UPDATE {table} SET n = n - 1 WHERE {key}"))?;
        let mut drop = tx.prepare_cached(&format!("DELETE FROM {table} WHERE {key} AND n <= 0"))?;
        for k in &keywords {
            less.execute(params![t, k, district, sentiment])?;
            drop.execute(params![t, k, district, sentiment])?;
        }
    }
    Ok(())
}

/// Copies the WAL into the database and truncates it, retrying while
/// readers hold old snapshots (a few seconds at most): until then the
/// erased text is still in the WAL.
fn checkpoint_away(conn: &Connection) {
    for _ in 0..50 {
        let busy: rusqlite::Result<i64> =
            conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0));
        match busy {
            Ok(0) => return,
            Ok(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
            Err(e) => {
                tracing::warn!("sqlite checkpoint after an erasure: {e}");
                return;
            }
        }
    }
    tracing::warn!(
        "sqlite checkpoint after an erasure: readers kept the WAL for 5 s; the next checkpoint truncates it"
    );
}
