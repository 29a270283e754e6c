//! Every dev-set text (as written, and with personal data appended), one
//! long text and the sample file, enriched at a fixed clock, one JSON line
//! each (`reject <reason>` for a rejected line), without `model_version`
//! (it changes with every pipeline file). Run it before and after a change
//! to the enrichment and diff the two outputs to see what the change does:
//! `cargo run --release --example enrich_dump > before.jsonl`.

use minyi::enrich::Enricher;

fn main() {
    let root = env!("CARGO_MANIFEST_DIR");
    let e = Enricher::builtin(b"dump-key-0123456789").unwrap();
    let now = chrono::DateTime::parse_from_rfc3339("2025-06-01T10:00:00.123+08:00").unwrap();
    let mut texts: Vec<(String, String)> = Vec::new();
    for part in 1..=4 {
        let file =
            std::fs::read_to_string(format!("{root}/tests/data/dev/part{part}.tsv")).unwrap();
        for line in file.lines().filter(|l| !l.starts_with('#')) {
            let cols: Vec<&str> = line.splitn(4, '\t').collect();
            if cols.len() == 4 {
                texts.push((cols[0].to_owned(), cols[3].to_owned()));
            }
        }
    }
    let mut lines: Vec<String> = Vec::new();
    for (channel, text) in &texts {
        lines.push(serde_json::json!({"channel": channel, "text": text}).to_string());
        let with_pii = format!("{text}联系电话13812345678，身份证110101199003074514");
        lines.push(
            serde_json::json!({"channel": channel, "text": with_pii, "contact": "13900001111"})
                .to_string(),
        );
    }
    let long: Vec<&str> = texts.iter().take(200).map(|(_, t)| t.as_str()).collect();
    lines
        .push(serde_json::json!({"channel": "hotline_12345", "text": long.join("。")}).to_string());
    let sample = std::fs::read_to_string(format!("{root}/tests/data/sample.jsonl")).unwrap();
    lines.extend(sample.lines().map(str::to_owned));
    for line in &lines {
        match e.enrich_bytes(line.as_bytes(), now) {
            Ok(item) => {
                let mut v = serde_json::to_value(&item).unwrap();
                v.as_object_mut().unwrap().remove("model_version");
                println!("{v}");
            }
            Err(reason) => println!("reject {reason}"),
        }
    }
}
