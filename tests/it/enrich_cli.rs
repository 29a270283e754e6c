//! `minyi enrich` as a user runs it: the real binary, JSONL on stdin.

use std::io::Write;
use std::process::{Command, Stdio};

fn run_enrich(input: &[u8]) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .arg("enrich")
        .env("MINYI_HMAC_KEY", "cli-test-key-0123456789")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn sample_file_good_lines_out_bad_lines_named() {
    let sample = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sample.jsonl"
    ))
    .unwrap();
    let (code, out, err) = run_enrich(&sample);
    assert_eq!(code, 0, "{err}");
    let items: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(items.len(), 18);
    for field in [
        "id",
        "channel",
        "received_at",
        "text",
        "tokens",
        "keywords",
        "topics",
        "sentiment",
        "rating",
        "district",
        "unit",
        "pii",
    ] {
        assert!(
            items.iter().all(|i| i.get(field).is_some()),
            "field {field} missing"
        );
    }
    assert!(
        err.contains("line 13: rejected: unknown channel \"fax\""),
        "{err}"
    );
    assert!(
        err.contains("line 14: rejected: field `received_at` is not an RFC 3339 timestamp"),
        "{err}"
    );
    assert!(err.contains("line 15: rejected: malformed JSON"), "{err}");
    assert!(!out.contains("13812345678") && !err.contains("13812345678"));
    assert!(!out.contains("139 0310 1234"));
}

#[test]
fn large_input_keeps_input_order_across_chunks() {
    let mut input = Vec::new();
    for i in 0..5000 {
        if i % 997 == 0 {
            input.extend_from_slice(b"{not json}\n");
        }
        writeln!(
            input,
            r#"{{"id":"n{i}","channel":"hotline_12345","text":"第{i}条：出警太慢"}}"#
        )
        .unwrap();
    }
    let (code, out, err) = run_enrich(&input);
    assert_eq!(code, 0);
    let ids: Vec<String> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    let want: Vec<String> = (0..5000).map(|i| format!("n{i}")).collect();
    assert_eq!(ids, want);
    assert_eq!(err.matches("rejected: malformed JSON").count(), 6, "{err}");
}

#[test]
fn invalid_utf8_and_blank_lines() {
    let (code, out, err) = run_enrich(b"\n{\"channel\":\"wechat\",\"text\":\"\xff\xfe\"}\n\n{\"channel\":\"wechat\",\"text\":\"ok\"}\r\n");
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);
    assert!(err.contains("line 2: rejected: not valid UTF-8"), "{err}");
}

#[test]
fn identical_lines_without_id_or_time_get_distinct_ids() {
    let line = "{\"channel\":\"sms_revisit\",\"text\":\"1\"}\n";
    let (code, out, err) = run_enrich(line.repeat(3).as_bytes());
    assert_eq!(code, 0, "{err}");
    let ids: std::collections::BTreeSet<String> = out
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["id"].to_string())
        .collect();
    assert_eq!(ids.len(), 3, "{out}");
}

#[test]
fn bad_config_is_one_clear_error() {
    let dir = std::env::temp_dir().join(format!("minyi-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("minyi.toml");
    std::fs::write(&cfg, "timezone = \"Beijing\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .args(["enrich", "--config"])
        .arg(&cfg)
        // What an operator may have set: still no backtrace.
        .env("RUST_BACKTRACE", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains(" ERROR minyi enrich: ")
            && err.contains("minyi.toml")
            && err.contains("timezone"),
        "{err}"
    );
    // The same as one JSON object with `--log-format json`.
    let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .args(["enrich", "--log-format", "json", "--config"])
        .arg(&cfg)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(err.lines().count(), 1, "{err}");
    let line: serde_json::Value = serde_json::from_str(err.trim()).unwrap();
    assert_eq!(line["command"], "enrich", "{err}");
    assert_eq!(line["level"], "ERROR", "{err}");
    assert!(
        line["message"].as_str().unwrap().contains("timezone"),
        "{err}"
    );
}
