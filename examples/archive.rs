//! Writes an archive as the centre's other systems export it, for
//! `minyi import` benches and trials: demo items received at random times
//! over the year before yesterday (random time order), with Chinese
//! headers, local times, channel names and ratings in words.
//!
//! `cargo run --release --example archive -- ROWS OUT [SEED]`; the format
//! follows OUT's extension: `.csv` GB18030 (as Excel in China writes it;
//! `ENCODING=utf8` for UTF-8 with a BOM), `.xlsx` (times as Excel
//! date-times), `.jsonl` the raw contract (RFC 3339 times: what
//! `minyi enrich` reads, the bench's baseline).

use std::io::Write;

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

const HEADERS: [&str; 9] = [
    "工单编号",
    "来电时间",
    "诉求内容",
    "渠道",
    "满意度",
    "所属区县",
    "承办单位",
    "联系电话",
    "关联工单",
];

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .expect("usage: archive ROWS OUT [SEED]");
    let out = std::path::PathBuf::from(args.next().expect("usage: archive ROWS OUT [SEED]"));
    let seed: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(26);
    let enricher = minyi::enrich::Enricher::builtin(b"archive-key-0123456789").unwrap();
    let tz = enricher.timezone();
    let end = chrono::Utc::now().timestamp() - 2 * 86_400;
    let values = minyi::demo::sample_values(enricher.gazetteer(), rows, end, 365 * 86_400, seed);
    let names: std::collections::HashMap<String, String> = enricher
        .channels()
        .map(|c| (c.code.clone(), c.name.clone()))
        .collect();
    let cells = |v: &Value| -> [String; 9] {
        let s = |k: &str| v.get(k).and_then(Value::as_str).unwrap_or("").to_owned();
        let at = DateTime::parse_from_rfc3339(&s("received_at")).expect("demo times are RFC 3339");
        [
            s("id"),
            local(at, tz),
            s("text"),
            names.get(&s("channel")).cloned().unwrap_or_default(),
            match v.get("rating").and_then(Value::as_u64) {
                Some(1) => "满意",
                Some(2) => "基本满意",
                Some(3) => "不满意",
                _ => "",
            }
            .to_owned(),
            s("district"),
            s("unit"),
            s("contact"),
            s("case_ref"),
        ]
    };
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or_default()
        .to_owned();
    match ext.as_str() {
        "jsonl" => {
            let mut f = std::io::BufWriter::new(std::fs::File::create(&out).unwrap());
            for v in &values {
                serde_json::to_writer(&mut f, v).unwrap();
                f.write_all(b"\n").unwrap();
            }
        }
        "csv" => {
            let mut w = csv::Writer::from_writer(Vec::new());
            w.write_record(HEADERS).unwrap();
            for v in &values {
                w.write_record(cells(v)).unwrap();
            }
            let text = String::from_utf8(w.into_inner().unwrap()).unwrap();
            let bytes = if std::env::var("ENCODING").as_deref() == Ok("utf8") {
                let mut b = b"\xef\xbb\xbf".to_vec();
                b.extend_from_slice(text.as_bytes());
                b
            } else {
                encoding_rs::GB18030.encode(&text).0.into_owned()
            };
            std::fs::write(&out, bytes).unwrap();
        }
        "xlsx" => {
            use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
            let mut book = Workbook::new();
            let sheet = book.add_worksheet_with_constant_memory().unwrap();
            let date = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
            for (c, h) in HEADERS.iter().enumerate() {
                sheet.write_string(0, c as u16, *h).unwrap();
            }
            for (r, v) in values.iter().enumerate() {
                let row = r as u32 + 1;
                for (c, cell) in cells(v).iter().enumerate() {
                    if c == 1 {
                        let t = ExcelDateTime::parse_from_str(cell).unwrap();
                        sheet.write_datetime_with_format(row, 1, &t, &date).unwrap();
                    } else if !cell.is_empty() {
                        sheet.write_string(row, c as u16, cell).unwrap();
                    }
                }
            }
            book.save(&out).unwrap();
        }
        other => panic!("{other:?}: write .csv, .xlsx or .jsonl"),
    }
    eprintln!("{} rows written to {}", values.len(), out.display());
}

/// A time as the exports write it: local, no zone.
fn local(t: DateTime<FixedOffset>, tz: FixedOffset) -> String {
    t.with_timezone(&tz).format("%Y-%m-%d %H:%M:%S").to_string()
}
