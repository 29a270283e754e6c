//! Exports of `GET /api/v1/feedback`: every item a filter matches, as CSV
//! (`format=csv`, streamed) or as an Excel workbook (`format=xlsx`). In:
//! the request's filters. Out: one file with the same sixteen Chinese
//! columns either way, named after its filters. Both walk the items a page
//! at a time by the list's cursor ([`pages`]), so memory stays bounded by a
//! page (the workbook is written to a temporary file, in the writer's
//! constant-memory mode) and the cost is linear in the rows.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use axum::body::{Body, Bytes};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::{Stream, StreamExt as _, stream};

use super::AppState;
use super::api::ApiError;
use super::audit::ItemCount;
use crate::query::{Answer, Cursor, Dim, FeedbackRow, Filters, Query, Scope, WorkOrderRef};

/// Rows of one page of an export; an export walks all pages. Large: each
/// page is a query (on ClickHouse one that reads whole granules of the
/// page's time window), so fewer pages cost less; memory stays ~10 MB.
const PAGE: usize = 10_000;
/// Most rows one export holds (an Excel sheet holds 1,048,576 with its header).
pub(super) const MAX_ROWS: usize = 1_000_000;

/// The columns of an export, CSV and XLSX alike.
const COLUMNS: [&str; 16] = [
    "编号",
    "受理时间",
    "渠道",
    "地区",
    "单位",
    "类别",
    "情感",
    "情感分值",
    "评价",
    "关键词",
    "内容",
    "内容状态",
    "关联案件",
    "工单号",
    "工单状态",
    "事件编号",
];

/// Every item of `scope` that `filters` match, newest first, a batch at a
/// time (at most [`MAX_ROWS`]): in one read where the store has one
/// ([`crate::store::Store::export`]), else a page at a time by the list's
/// cursor. Each batch read is added to `sent`, for the audit.
fn pages(
    state: Arc<AppState>,
    scope: Arc<Scope>,
    filters: Filters,
    sent: Arc<AtomicU64>,
) -> futures_util::stream::BoxStream<'static, Result<Vec<FeedbackRow>, ApiError>> {
    let whole = Query::Feedback {
        filters: filters.clone(),
        limit: MAX_ROWS,
        cursor: None,
    };
    let scoped = match scope.restrict_query(whole) {
        Ok(Query::Feedback { filters, .. }) => filters,
        Ok(_) => unreachable!("restricting keeps the query's kind"),
        Err(e) => return stream::once(async move { Err(ApiError::from(e)) }).boxed(),
    };
    if let Some(batches) = state.store.export(scoped, MAX_ROWS) {
        return batches
            .map(move |batch| {
                let batch = batch.map_err(ApiError::from)?;
                sent.fetch_add(batch.len() as u64, Relaxed);
                Ok(batch)
            })
            .boxed();
    }
    walk(state, scope, filters, sent).boxed()
}

/// [`pages`] by the list's cursor.
fn walk(
    state: Arc<AppState>,
    scope: Arc<Scope>,
    filters: Filters,
    sent: Arc<AtomicU64>,
) -> impl Stream<Item = Result<Vec<FeedbackRow>, ApiError>> {
    struct Walk {
        state: Arc<AppState>,
        scope: Arc<Scope>,
        filters: Filters,
        cursor: Option<Cursor>,
        rows: usize,
        done: bool,
        sent: Arc<AtomicU64>,
    }
    let walk = Walk {
        state,
        scope,
        filters,
        cursor: None,
        rows: 0,
        done: false,
        sent,
    };
    stream::unfold(walk, |mut w| async move {
        if w.done || w.rows >= MAX_ROWS {
            return None;
        }
        let query = Query::Feedback {
            filters: w.filters.clone(),
            limit: PAGE.min(MAX_ROWS - w.rows),
            cursor: w.cursor,
        };
        let page = match w.state.query(&w.scope, query).await {
            Ok(Answer::Feedback { items, next }) => {
                w.rows += items.len();
                w.sent.fetch_add(items.len() as u64, Relaxed);
                w.cursor = next;
                w.done = next.is_none();
                Ok(items)
            }
            Ok(_) => {
                w.done = true;
                Ok(Vec::new())
            }
            Err(e) => {
                w.done = true;
                Err(e)
            }
        };
        Some((page, w))
    })
}

/// One item's cells, in [`COLUMNS`] order: names, not codes.
fn cells(state: &AppState, i: &FeedbackRow) -> [String; 16] {
    let vocab = &state.vocab;
    let topics: Vec<String> = i.topics.iter().map(|t| vocab.name(Dim::Topic, t)).collect();
    let orders = |each: fn(&WorkOrderRef) -> String| {
        i.work_orders
            .iter()
            .map(each)
            .collect::<Vec<_>>()
            .join("、")
    };
    [
        i.id.clone(),
        i.received_at.clone(),
        vocab.name(Dim::Channel, &i.channel),
        i.district.clone().unwrap_or_default(),
        i.unit.clone().unwrap_or_default(),
        topics.join("、"),
        vocab.name(Dim::Sentiment, &i.sentiment),
        format!("{:.2}", i.score),
        i.rating
            .map(|r| rating_name(r).to_owned())
            .unwrap_or_default(),
        i.keywords.join(" "),
        i.text.clone(),
        match i.redacted.as_deref() {
            Some("expired") => "已过期".to_owned(),
            Some("erased") => "已删除".to_owned(),
            other => other.unwrap_or_default().to_owned(),
        },
        i.case_ref.clone().unwrap_or_default(),
        orders(|o| o.order_id.clone()),
        orders(|o| if o.resolved { "已办结" } else { "在办" }.to_owned()),
        // The incident (同一事件) the item belongs to; empty when alone.
        i.incident_id.clone().unwrap_or_default(),
    ]
}

/// Streams every matching item as CSV (UTF-8 with a BOM, so Excel reads
/// the Chinese right).
pub(super) fn csv(state: Arc<AppState>, scope: Arc<Scope>, filters: Filters) -> Response {
    let name = file_name(&state, &filters, "csv");
    let sent = Arc::new(AtomicU64::new(0));
    let header = format!("\u{feff}{}\r\n", COLUMNS.join(","));
    let rows = pages(state.clone(), scope, filters, sent.clone()).map(move |page| {
        match page {
            Ok(items) => {
                let mut out = String::with_capacity(items.len() * 256);
                for i in &items {
                    let line: Vec<String> = cells(&state, i).iter().map(|c| csv_cell(c)).collect();
                    out.push_str(&line.join(","));
                    out.push_str("\r\n");
                }
                Ok(Bytes::from(out))
            }
            Err(e) => {
                // The status is sent already: the client sees the body cut.
                tracing::warn!("CSV export stopped: {e}");
                Err(std::io::Error::other("export failed"))
            }
        }
    });
    let body = Body::from_stream(stream::once(async move { Ok(Bytes::from(header)) }).chain(rows));
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, attachment(&name, "csv"))
        .body(body)
        .expect("the headers are ASCII");
    response.extensions_mut().insert(ItemCount::Streaming(sent));
    response
}

/// Every matching item as an Excel workbook: one sheet, the header row
/// frozen and bold, text cells only (nothing a citizen wrote is ever a
/// formula). The workbook is finished before the first byte is sent (a
/// ZIP's directory comes last), in a temporary file: a failure is a 500,
/// never a cut file.
pub(super) async fn xlsx(state: Arc<AppState>, scope: Arc<Scope>, filters: Filters) -> Response {
    let name = file_name(&state, &filters, "xlsx");
    let sent = Arc::new(AtomicU64::new(0));
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<[String; 16]>>(2);
    let reader = {
        let state = state.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut pages = std::pin::pin!(pages(state.clone(), scope, filters, sent));
            while let Some(page) = pages.next().await {
                let rows = page?.iter().map(|i| cells(&state, i)).collect();
                // The writer has gone (it failed): stop reading.
                if tx.send(rows).is_err() {
                    break;
                }
            }
            Ok::<(), ApiError>(())
        })
    };
    let writer = tokio::task::spawn_blocking(move || write_workbook(rx));
    let (read, written) = tokio::join!(reader, writer);
    let file = match (read, written) {
        (Ok(Ok(())), Ok(Ok(file))) => file,
        (Ok(Err(e)), _) => return export_failed("reading the items", &e),
        (_, Ok(Err(e))) => return export_failed("writing the workbook", &e),
        (Err(e), _) | (_, Err(e)) => return export_failed("the export task", &e),
    };
    let file = match tokio::fs::File::open(file.path()).await {
        // Open: the name can go now (the open file stays readable).
        Ok(open) => {
            drop(file);
            open
        }
        Err(e) => return export_failed("reading the workbook back", &e),
    };
    let mut response = Response::builder()
        .header(
            header::CONTENT_TYPE,
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        .header(header::CONTENT_DISPOSITION, attachment(&name, "xlsx"))
        .body(Body::from_stream(tokio_util::io::ReaderStream::new(file)))
        .expect("the headers are ASCII");
    response
        .extensions_mut()
        .insert(ItemCount::Known(sent.load(Relaxed)));
    response
}

fn export_failed(what: &str, e: &dyn std::fmt::Display) -> Response {
    tracing::warn!("XLSX export failed, {what}: {e}");
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        axum::Json(serde_json::json!({ "error": format!("the export failed ({what}); try a smaller range") })),
    )
        .into_response()
}

/// Writes the rows that arrive on `rx` into a new workbook in a temporary
/// file (the sheet's rows spill to temporary files as they are written).
fn write_workbook(
    rx: std::sync::mpsc::Receiver<Vec<[String; 16]>>,
) -> Result<tempfile::NamedTempFile, rust_xlsxwriter::XlsxError> {
    use rust_xlsxwriter::{Format, Workbook};
    let mut workbook = Workbook::new();
    let sheet = workbook.add_worksheet_with_constant_memory()?;
    sheet.set_name("民意")?;
    let bold = Format::new().set_bold();
    for (c, title) in COLUMNS.iter().enumerate() {
        sheet.write_string_with_format(0, c as u16, *title, &bold)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (c, width) in [(0, 22), (1, 26), (10, 60)] {
        sheet.set_column_width(c, width)?;
    }
    let mut row = 1u32;
    for page in rx {
        for cells in page {
            for (c, text) in cells.iter().enumerate() {
                if !text.is_empty() {
                    sheet.write_string(row, c as u16, text)?;
                }
            }
            row += 1;
        }
    }
    let file = tempfile::NamedTempFile::new()?;
    workbook.save(file.path())?;
    Ok(file)
}

/// The file name of an export, from its filters: `民意-邯山区-负面-20261201-20261202.csv`
/// — the values of each filter (names, not codes; three at most, then
/// 等N项), the search, and the first and last day of the range on the
/// centre's clock (one date for a range within a day). Only letters,
/// digits and CJK survive from the search.
fn file_name(state: &AppState, f: &Filters, ext: &str) -> String {
    let vocab = &state.vocab;
    let mut parts = vec!["民意".to_owned()];
    let mut add = |names: Vec<String>| {
        if names.len() > 3 {
            parts.push(format!("{}等{}项", names[..3].join("、"), names.len()));
        } else if !names.is_empty() {
            parts.push(names.join("、"));
        }
    };
    add(f.district.clone());
    add(f.unit.clone());
    add(f
        .channel
        .iter()
        .map(|c| vocab.name(Dim::Channel, c))
        .collect());
    add(f.topic.iter().map(|t| vocab.name(Dim::Topic, t)).collect());
    add(f
        .sentiment
        .iter()
        .map(|s| crate::query::sentiment_name(*s).to_owned())
        .collect());
    add(f
        .rating
        .iter()
        .map(|r| rating_name(r.number()).to_owned())
        .collect());
    let words: Vec<String> = f.q.iter().map(|group| group.join("或")).collect();
    // Masked as the audit masks it: a searched phone number must not
    // travel in a file's name (`*` as `＊`, which file systems take).
    let q: String = crate::enrich::pii::mask(words.join(" "))
        .text
        .chars()
        .filter_map(|c| match c {
            '*' => Some('＊'),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .take(16)
        .collect();
    if !q.is_empty() {
        parts.push(format!("搜{q}"));
    }
    let day = |t: i64| {
        chrono::DateTime::from_timestamp(t, 0)
            .unwrap_or_default()
            .with_timezone(&state.tz)
            .format("%Y%m%d")
            .to_string()
    };
    match (f.from, f.to) {
        (Some(from), Some(to)) if day(from) == day(to - 1) => parts.push(day(from)),
        (Some(from), Some(to)) => parts.push(format!("{}-{}", day(from), day(to - 1))),
        (Some(from), None) => parts.push(format!("{}起", day(from))),
        (None, Some(to)) => parts.push(format!("至{}", day(to - 1))),
        (None, None) => parts.push("全部".to_owned()),
    }
    format!("{}.{ext}", parts.join("-"))
}

/// The columns of the supervision queue's CSV (督办台账).
const QUEUE_COLUMNS: [&str; 13] = [
    "编号",
    "受理时间",
    "渠道",
    "地区",
    "单位",
    "评价",
    "内容",
    "工单号",
    "环节",
    "期限",
    "是否超期",
    "已用时长(小时)",
    "需升级",
];

/// The supervision queue as CSV (UTF-8 with a BOM), its cases in the
/// queue's order (overdue first, then the oldest), named like an export
/// (`督办台账-邯山区-全部.csv`).
pub(super) fn queue_csv(
    state: &AppState,
    filters: &Filters,
    status: crate::query::supervision::Status,
    queue: &crate::query::supervision::Queue,
) -> Response {
    use crate::query::supervision::Status;
    let which = match status {
        Status::Open => "督办台账",
        Status::Overdue => "督办台账-超期",
        Status::All => "督办台账-含已化解",
    };
    let name = file_name(state, filters, "csv").replacen("民意", which, 1);
    let mut out = format!("\u{feff}{}\r\n", QUEUE_COLUMNS.join(","));
    for c in &queue.items {
        let yes = |b: bool| if b { "是" } else { "否" }.to_owned();
        let cells = [
            c.id.clone(),
            c.received_at.clone(),
            state.vocab.name(Dim::Channel, &c.channel),
            c.district.clone().unwrap_or_default(),
            c.unit.clone().unwrap_or_default(),
            c.rating
                .map(|r| rating_name(r).to_owned())
                .unwrap_or_default(),
            c.text.clone(),
            c.order_id.clone().unwrap_or_default(),
            c.stage.name().to_owned(),
            c.deadline.clone().unwrap_or_default(),
            yes(c.overdue),
            format!("{:.1}", c.age_hours),
            yes(c.escalate),
        ];
        let line: Vec<String> = cells.iter().map(|c| csv_cell(c)).collect();
        out.push_str(&line.join(","));
        out.push_str("\r\n");
    }
    let mut response = Response::builder()
        .header(header::CONTENT_TYPE, "text/csv; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, attachment(&name, "csv"))
        .body(Body::from(out))
        .expect("the headers are ASCII");
    response
        .extensions_mut()
        .insert(ItemCount::Known(queue.items.len() as u64));
    response
}

/// 满意, 基本满意, 不满意 for a rating 1–3.
fn rating_name(r: u8) -> &'static str {
    match r {
        1 => "满意",
        2 => "基本满意",
        3 => "不满意",
        _ => "",
    }
}

/// `Content-Disposition` of a download named `name` (UTF-8, RFC 6266
/// `filename*`, with an ASCII fallback for old clients).
fn attachment(name: &str, ext: &str) -> String {
    let encoded: String = form_urlencoded::byte_serialize(name.as_bytes())
        .collect::<String>()
        .replace('+', "%20");
    format!("attachment; filename=\"minyi-export.{ext}\"; filename*=UTF-8''{encoded}")
}

/// One CSV cell: quoted when needed; a leading `= + - @`, also after white
/// space (a tab, a line break: a spreadsheet may skip it), is defused so a
/// spreadsheet never runs a citizen's text as a formula.
fn csv_cell(s: &str) -> String {
    let risky = s.starts_with(['\t', '\r']) || s.trim_start().starts_with(['=', '+', '-', '@']);
    let defused = if risky && s.trim().parse::<f64>().is_err() {
        format!("'{s}")
    } else {
        s.to_owned()
    };
    if defused.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", defused.replace('"', "\"\""))
    } else {
        defused
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_cells_are_quoted_and_defused() {
        assert_eq!(csv_cell("出警慢"), "出警慢");
        assert_eq!(csv_cell("a,b"), "\"a,b\"");
        assert_eq!(csv_cell("说\"好\""), "\"说\"\"好\"\"\"");
        assert_eq!(csv_cell("=HYPERLINK(1)"), "'=HYPERLINK(1)");
        assert_eq!(csv_cell("-0.5"), "-0.5");
        assert_eq!(csv_cell("\t=3+3"), "'\t=3+3");
        assert_eq!(csv_cell("\n=1+1"), "\"'\n=1+1\"");
        assert_eq!(csv_cell("  @SUM(A1)"), "'  @SUM(A1)");
        assert_eq!(csv_cell("\u{3000}=1+1"), "'\u{3000}=1+1");
        assert_eq!(csv_cell(" 出警慢"), " 出警慢");
        assert_eq!(csv_cell(" -0.5"), " -0.5");
    }
}
