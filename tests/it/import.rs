//! `minyi import` as a centre adopting minyi runs it: the real binary on an
//! XLSX and a GB18030 CSV with Chinese headers and local times, into SQLite
//! and into ClickHouse (counts, masking, idempotence, refused rows by row
//! number); and history written in bulk — counted in one pass at the end —
//! answering every query shape exactly as the same items written live.

use crate::clickhouse_store::{demo_timeline, queries, schema};
use crate::common;

use std::path::Path;
use std::process::Command;

use minyi::model::EnrichedItem;
use minyi::query::{Answer, Filters, Query};
use minyi::store::clickhouse::ClickHouseStore;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use minyi::store::{Store, WriteBatch};
use minyi::workorder::WorkOrderEvent;

const SETTINGS: QuerySettings = QuerySettings {
    tz_offset: 8 * 3600,
    sla_seconds: 5 * 86_400,
    dispatch_seconds: 24 * 3600,
    callback_seconds: 48 * 3600,
};
const KEY: &str = "import-test-key-0123456789";

const HEADERS: [&str; 9] = [
    "工单编号",
    "来电时间",
    "诉求内容",
    "渠道",
    "满意度",
    "所属区县",
    "承办单位",
    "联系电话",
    "备注",
];

/// The archive: 7 good rows (one repeated: a re-exported sheet), then 3
/// bad ones — a time in words, an unknown channel, neither text nor
/// rating. Times are Beijing time without a zone.
fn rows() -> Vec<[&'static str; 9]> {
    vec![
        [
            "GD-001",
            "2025-06-01 08:05:00",
            "电动车在小区被偷了，报警后民警一直没来，我电话13812345678",
            "12345热线",
            "不满意",
            "丛台区",
            "",
            "13812345678",
            "x",
        ],
        [
            "GD-002",
            "2025/6/1 9:30",
            "感谢民警帮忙找回走失的孩子",
            "局长信箱",
            "满意",
            "邯山区",
            "",
            "",
            "",
        ],
        [
            "GD-003",
            "2025年6月2日 10时15分",
            "接到冒充公安的电话说我涉嫌洗钱，要我转账到安全账户",
            "12345热线",
            "",
            "复兴区",
            "",
            "13987654321",
            "",
        ],
        [
            "GD-004",
            "2025-06-02 11:00",
            "",
            "短信回访",
            "基本满意",
            "",
            "",
            "",
            "",
        ],
        [
            "GD-005",
            "2025-06-03 12:00:00",
            "办户口的窗口态度很差，让我跑了三趟",
            "民意热线",
            "不满意",
            "",
            "",
            "",
            "",
        ],
        [
            "GD-006",
            "2025-06-03 13:45:10",
            "夜里烧烤店太吵了，报警也没人管",
            "12345热线",
            "不满意",
            "峰峰矿区",
            "",
            "",
            "",
        ],
        [
            "GD-007",
            "2025-06-04 09:00",
            "身份证号130402199001011234办证进度查询",
            "12345热线",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "GD-001",
            "2025-06-01 08:05:00",
            "电动车在小区被偷了，报警后民警一直没来，我电话13812345678",
            "12345热线",
            "不满意",
            "丛台区",
            "",
            "13812345678",
            "x",
        ],
        [
            "GD-010",
            "2025-06-04 11:00",
            "",
            "12345热线",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "GD-008",
            "昨天下午",
            "出警慢",
            "12345热线",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "GD-009",
            "2025-06-04 10:00",
            "态度差",
            "微博",
            "",
            "",
            "",
            "",
            "",
        ],
    ]
}

/// Data rows start at spreadsheet row 2: the bad rows are 10 (no text:
/// refused by enrichment), 11 and 12 (refused while reading).
const BAD_ROWS: [u64; 3] = [10, 11, 12];
const GOOD: u64 = 7;

fn write_gb18030_csv(path: &Path) {
    let mut w = csv::Writer::from_writer(Vec::new());
    w.write_record(HEADERS).unwrap();
    for r in rows() {
        w.write_record(r).unwrap();
    }
    let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
    let (bytes, _, unmappable) = encoding_rs::GB18030.encode(&text);
    assert!(!unmappable);
    assert!(
        std::str::from_utf8(&bytes).is_err(),
        "really GB18030, not UTF-8"
    );
    std::fs::write(path, bytes).unwrap();
}

/// An XLSX as Excel saves it: times as date-time cells, phone numbers as
/// numbers, and a cell of one space in the sheet's last row and column
/// (read as a grid to that corner, 17 billion cells, a sheet like this took
/// all the machine's memory).
fn write_xlsx(path: &Path) {
    use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
    let mut book = Workbook::new();
    let sheet = book.add_worksheet();
    let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
    for (c, h) in HEADERS.iter().enumerate() {
        sheet.write_string(0, c as u16, *h).unwrap();
    }
    for (r, row) in rows().iter().enumerate() {
        let r = r as u32 + 1;
        for (c, cell) in row.iter().enumerate() {
            let c = c as u16;
            let as_time = (c == 1)
                .then(|| ExcelDateTime::parse_from_str(&cell.replace('/', "-")).ok())
                .flatten();
            if let Some(t) = as_time.filter(|_| cell.contains(':') && cell.len() == 19) {
                sheet.write_datetime_with_format(r, c, &t, &date).unwrap();
            } else if c == 7 && !cell.is_empty() {
                sheet
                    .write_number(r, c, cell.parse::<f64>().unwrap())
                    .unwrap();
            } else if !cell.is_empty() {
                sheet.write_string(r, c, *cell).unwrap();
            }
        }
    }
    sheet.write_string(1_048_575, 16_383, " ").unwrap();
    book.save(path).unwrap();
}

/// Runs `minyi import ARGS…`; (exit code, stdout, stderr).
fn import(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .arg("import")
        .args(args)
        .env("MINYI_HMAC_KEY", KEY)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

/// The stderr line of the import's outcome.
fn outcome_line(stderr: &str) -> &str {
    stderr
        .lines()
        .find(|l| l.contains("imported "))
        .unwrap_or_else(|| panic!("no outcome line in {stderr}"))
}

/// What an import into any store must have done, read back through it.
async fn check_stored(store: &dyn Store, file: &str) {
    let now = chrono::Utc::now().timestamp();
    let Answer::Summary(s) = store
        .query(Query::Summary(Filters::default()), now)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(s.received, GOOD, "{file}");
    assert_eq!(s.rated, 5, "{file}");
    assert_eq!(s.dissatisfied, 3, "{file}");
    let Answer::Feedback { items, .. } = store
        .query(
            Query::Feedback {
                filters: Filters::default(),
                limit: 100,
                cursor: None,
            },
            now,
        )
        .await
        .unwrap()
    else {
        panic!()
    };
    let all = serde_json::to_string(&items).unwrap();
    for secret in ["13812345678", "13987654321", "130402199001011234"] {
        assert!(!all.contains(secret), "{file}: {secret} stored unmasked");
    }
    let first = items.iter().find(|i| i.id == "GD-001").unwrap();
    // 08:05 in Beijing.
    let at = chrono::DateTime::parse_from_rfc3339(&first.received_at).unwrap();
    assert_eq!(
        at.timestamp(),
        1_748_736_300,
        "{file}: {}",
        first.received_at
    );
    assert_eq!(first.district.as_deref(), Some("丛台区"));
    assert!(first.text.contains("138****5678"), "{}", first.text);
    // The contact became its keyed hash, the same as live intake makes.
    let hash = minyi::enrich::pii::contact_hash(KEY.as_bytes(), "13812345678");
    assert!(
        first.detail.to_string().contains(&hash),
        "{file}: {}",
        first.detail
    );
    let revisit = items.iter().find(|i| i.id == "GD-004").unwrap();
    assert_eq!(revisit.channel, "sms_revisit");
    assert_eq!(revisit.rating, Some(2));
}

fn check_run(code: i32, stderr: &str, file: &str, new: u64) {
    assert_eq!(code, 0, "{file}: {stderr}");
    let line = outcome_line(stderr);
    assert!(
        line.contains(&format!("{new} new"))
            && line.contains(&format!("{} stored before", GOOD + 1 - new))
            && line.contains("3 refused"),
        "{file}: {line}"
    );
    // Each bad row once, in row order, whether reading or enrichment refused it.
    let reported: Vec<u64> = stderr
        .lines()
        .filter_map(|l| l.split(&format!("{file} row ")).nth(1))
        .filter_map(|rest| rest.split_once(": refused")?.0.parse().ok())
        .collect();
    assert_eq!(reported, BAD_ROWS, "{file}: {stderr}");
    // Reasons name the column and never quote personal data.
    assert!(
        stderr.contains("来电时间") && stderr.contains("微博"),
        "{stderr}"
    );
    assert!(!stderr.contains("13812345678"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread")]
async fn archives_with_chinese_headers_into_sqlite() {
    let dir = common::TempDir::new("import-sqlite");
    for (name, write) in [
        ("工单.csv", write_gb18030_csv as fn(&Path)),
        ("工单.xlsx", write_xlsx as fn(&Path)),
    ] {
        let file = dir.0.join(name);
        write(&file);
        let data = dir.0.join(format!("data-{name}"));
        let f = file.to_str().unwrap();
        let d = data.to_str().unwrap();

        // A dry run shows the mapping and writes nothing.
        let (code, stdout, stderr) = import(&[f, "--data", d, "--dry-run"]);
        assert_eq!(code, 0, "{stderr}");
        assert!(
            stderr.contains("来电时间→received_at") && stderr.contains("ignored 备注"),
            "{stderr}"
        );
        assert!(
            stdout.contains("\"GD-001\"") && stdout.contains("nothing written"),
            "{stdout}"
        );
        assert!(
            !data.join("minyi.db").exists(),
            "a dry run created the store"
        );

        // The repeated row is stored once.
        let (code, _, stderr) = import(&[f, "--data", d]);
        check_run(code, &stderr, f, GOOD);
        // Again: nothing new.
        let (code, _, stderr) = import(&[f, "--data", d]);
        check_run(code, &stderr, f, 0);

        let store = SqliteStore::open(&data, SETTINGS).unwrap();
        check_stored(&store, f).await;
        store.close().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn archives_with_chinese_headers_into_clickhouse() {
    let server = common::ClickHouse::start();
    let dir = common::TempDir::new("import-clickhouse");
    for (name, write) in [
        ("工单.csv", write_gb18030_csv as fn(&Path)),
        ("工单.xlsx", write_xlsx as fn(&Path)),
    ] {
        let db = server.database("import");
        let store = ClickHouseStore::connect_db(&server.url, &db, SETTINGS)
            .await
            .unwrap();
        store.migrate(&schema()).await.unwrap();
        let file = dir.0.join(name);
        write(&file);
        let f = file.to_str().unwrap();
        let args = [f, "--clickhouse", &server.url, "--database", &db];
        let (code, _, stderr) = import(&args);
        check_run(code, &stderr, f, GOOD);
        let (code, _, stderr) = import(&args);
        check_run(code, &stderr, f, 0);
        check_stored(&store, f).await;
    }
}

#[test]
fn unusable_archives_are_refused_whole_with_the_reason() {
    let dir = common::TempDir::new("import-refused");
    let file = dir.0.join("a.csv");
    std::fs::write(&file, "来电时间,备注\n2025-06-01 10:00,x\n").unwrap();
    let f = file.to_str().unwrap();
    let d = dir.0.join("data");
    let d = d.to_str().unwrap();
    let (code, _, stderr) = import(&[f, "--data", d]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--map 列名=text"), "{stderr}");
    // --map names a column.
    let (code, _, stderr) = import(&[f, "--data", d, "--map", "备注=text"]);
    assert_eq!(code, 1, "no channel: {stderr}");
    assert!(stderr.contains("--channel"), "{stderr}");
    let (code, _, stderr) = import(&[
        f,
        "--data",
        d,
        "--map",
        "备注=text",
        "--channel",
        "12345热线",
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert!(outcome_line(&stderr).contains("1 new"), "{stderr}");
    let (code, _, stderr) = import(&[f, "--data", d, "--map", "说明=text", "--channel", "x"]);
    assert_eq!(code, 1);
    assert!(stderr.contains("--channel \"x\""), "{stderr}");
    let (code, _, stderr) = import(&[
        f,
        "--data",
        d,
        "--map",
        "说明=text",
        "--channel",
        "hotline_12345",
    ]);
    assert_eq!(code, 1);
    assert!(stderr.contains("no file has a column \"说明\""), "{stderr}");
}

async fn write_all(
    store: &dyn Store,
    items: &[EnrichedItem],
    events: &[WorkOrderEvent],
    history: bool,
) {
    for chunk in items.chunks(500) {
        let batch = WriteBatch {
            items: chunk.to_vec(),
            events: Vec::new(),
        };
        if history {
            store.write_history(batch).await.unwrap();
        } else {
            store.write(batch).await.unwrap();
        }
    }
    for chunk in events.chunks(300) {
        let batch = WriteBatch {
            items: Vec::new(),
            events: chunk.to_vec(),
        };
        if history {
            store.write_history(batch).await.unwrap();
        } else {
            store.write(batch).await.unwrap();
        }
    }
}

/// Live: every item counted as it is written. Bulk: part of the same
/// items written live, the rest (in random order) and every work-order
/// event as history, counted at the end — resolutions of items stored
/// before and of items of the import alike. Same answers, every query.
#[tokio::test(flavor = "multi_thread")]
async fn history_counted_in_bulk_answers_like_items_written_live() {
    // Hours before and after the last folded one: the end is now.
    let end = chrono::Utc::now().timestamp() / 60 * 60;
    let start = end - 2 * 86_400;
    let (items, events) = demo_timeline(0.04, start, end, 11);
    assert!(items.len() > 2000, "{}", items.len());
    let dir = common::TempDir::new("import-bulk");
    let live = SqliteStore::open(&dir.0.join("live"), SETTINGS).unwrap();
    let bulk = SqliteStore::open(&dir.0.join("bulk"), SETTINGS).unwrap();
    let (before, history) = items.split_at(items.len() * 2 / 5);
    write_all(&live, &items, &events, false).await;
    write_all(&bulk, before, &[], false).await;
    let mut shuffled = history.to_vec();
    fastrand::Rng::with_seed(3).shuffle(&mut shuffled);
    write_all(&bulk, &shuffled, &events, true).await;
    // Until settled, the import is stored but not counted.
    let total = |a: Answer| match a {
        Answer::Summary(s) => s.received,
        _ => panic!(),
    };
    let q = Query::Summary(Filters::default());
    assert_eq!(
        total(bulk.query(q.clone(), end).await.unwrap()),
        before.len() as u64
    );
    assert_eq!(bulk.settle_history().await.unwrap(), history.len() as u64);
    assert_eq!(bulk.settle_history().await.unwrap(), 0, "settled once");
    assert_eq!(total(bulk.query(q, end).await.unwrap()), items.len() as u64);

    let mut units: Vec<&str> = events.iter().filter_map(|e| e.unit.as_deref()).collect();
    units.sort();
    let unit = units[units.len() / 2];
    let mut asked = 0;
    let mut resolved = false;
    for q in queries(start, end, unit) {
        let a = live.query(q.clone(), end).await.unwrap();
        let b = bulk.query(q.clone(), end).await.unwrap();
        if let Answer::Summary(s) = &a {
            resolved |= s.dissatisfied_resolved > 0;
        }
        assert_eq!(a, b, "{q:?}");
        asked += 1;
    }
    assert!(resolved, "some answer counted resolved dissatisfied items");
    eprintln!("{asked} queries answered alike");
}

/// An import that stops halfway leaves its items uncounted; the store
/// counts them when it opens next.
#[tokio::test(flavor = "multi_thread")]
async fn an_import_stopped_halfway_is_counted_when_the_store_opens() {
    let end = chrono::Utc::now().timestamp() / 60 * 60;
    let (items, _) = demo_timeline(0.02, end - 86_400, end, 5);
    let dir = common::TempDir::new("import-halfway");
    let store = SqliteStore::open(&dir.0, SETTINGS).unwrap();
    write_all(&store, &items, &[], true).await;
    store.close().await.unwrap();
    drop(store);
    let store = SqliteStore::open(&dir.0, SETTINGS).unwrap();
    // The writer settles before it takes any job: a write waits for it.
    store.write(WriteBatch::default()).await.unwrap();
    let Answer::Summary(s) = store
        .query(Query::Summary(Filters::default()), end)
        .await
        .unwrap()
    else {
        panic!()
    };
    assert_eq!(s.received, items.len() as u64);
    assert_eq!(store.settle_history().await.unwrap(), 0);
}
