//! The real binary end to end: `minyi serve` on port 0 with a temp data
//! folder — ingest, queries, the live stream, oversize bodies, auth,
//! SIGTERM, restart with the data intact, idempotent re-post, the demo feed.

use crate::common;

use std::io::{BufRead, BufReader, Read};
use std::process::Command;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use common::{Server, TempDir};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

fn get(url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap();
    (
        resp.status().as_u16(),
        resp.body_mut().read_to_string().unwrap(),
    )
}

fn post(url: &str, content_type: &str, body: &str) -> (u16, Value) {
    let mut resp = agent()
        .post(url)
        .header("content-type", content_type)
        .send(body)
        .unwrap();
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(1 << 20)
        .read_to_string()
        .unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn received(server: &Server) -> u64 {
    let (s, body) = get(&server.url("/api/v1/stats/summary"), None);
    assert_eq!(s, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["received"]
        .as_u64()
        .unwrap()
}

/// Reads SSE events of one type on a thread: (event, data) pairs.
fn listen(url: String) -> mpsc::Receiver<(String, String)> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let Ok(resp) = agent.get(&url).call() else {
            return;
        };
        let reader = BufReader::new(resp.into_body().into_reader());
        let mut event = String::new();
        for line in reader.lines().map_while(Result::ok) {
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_owned();
            } else if let Some(d) = line.strip_prefix("data: ")
                && tx.send((event.clone(), d.to_owned())).is_err()
            {
                return;
            }
        }
    });
    rx
}

fn wait_for(rx: &mpsc::Receiver<(String, String)>, event: &str, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok((e, d)) if e == event => return d,
            Ok(_) => {}
            Err(_) => panic!("no `{event}` event within {within:?}"),
        }
    }
}

#[test]
fn serve_ingest_query_stream_restart() {
    let data = TempDir::new("e2e");
    let server = Server::start(&data.0, &["--no-demo"]);
    assert_eq!(get(&server.url("/healthz"), None).0, 200);
    assert_eq!(received(&server), 0);

    let live = listen(server.url("/api/v1/live"));
    wait_for(&live, "hello", Duration::from_secs(10));

    let batch = json!([
        {"id": "e1", "channel": "hotline_12345", "text": "出警太慢，打了三次110，电话13812345678"},
        {"id": "e2", "channel": "fax", "text": "?"},
        {"id": "e3", "channel": "scan_rate", "rating": 1, "text": "民警服务好"}
    ]);
    let (s, v) = post(
        &server.url("/api/v1/feedback"),
        "application/json",
        &batch.to_string(),
    );
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["accepted"], 2);
    assert_eq!(v["rejected"][0]["index"], 1);

    let item: Value =
        serde_json::from_str(&wait_for(&live, "item", Duration::from_secs(10))).unwrap();
    assert!(item["id"] == "e1" || item["id"] == "e3");
    assert!(!item.to_string().contains("13812345678"));
    let panels: Value =
        serde_json::from_str(&wait_for(&live, "panels", Duration::from_secs(10))).unwrap();
    assert!(panels["dashboards"]["wall"]["kpi"].is_object(), "{panels}");

    // Every query endpoint answers.
    for path in [
        "/api/v1/stats/timeseries?interval=5m&group_by=channel",
        "/api/v1/stats/top?dim=keyword",
        "/api/v1/stats/rank?dim=unit&metric=satisfaction_rate",
        "/api/v1/feedback?q=%E5%87%BA%E8%AD%A6",
        "/api/v1/feedback?format=csv",
        "/readyz",
        "/metrics",
    ] {
        let (s, body) = get(&server.url(path), None);
        assert_eq!(s, 200, "{path}: {body}");
    }
    let (_, found) = get(&server.url("/api/v1/feedback?q=%E5%87%BA%E8%AD%A6"), None);
    assert!(
        found.contains("\"e1\"") && found.contains("138****5678"),
        "{found}"
    );

    // Oversize: over 10 MB.
    let big = format!(
        "[{{\"channel\":\"wechat\",\"text\":\"{}\"}}]",
        "x".repeat(11 << 20)
    );
    // The server answers 413 after 10 MB and closes the connection; a client
    // still sending the rest may see the close (broken pipe, reset) before it
    // can read the answer. Either is a refusal; anything else fails.
    let oversize = agent()
        .post(&server.url("/api/v1/feedback"))
        .header("content-type", "application/json")
        .send(&big);
    match oversize {
        Ok(resp) => assert_eq!(resp.status().as_u16(), 413),
        Err(ureq::Error::Io(e)) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::ConnectionReset
            ),
            "{e}"
        ),
        Err(e) => panic!("oversize body: {e}"),
    }
    assert_eq!(
        post(&server.url("/api/v1/feedback"), "application/json", "[{").0,
        400
    );

    let stderr = server.stop();
    assert!(stderr.iter().any(|l| l.contains("stopped")), "{stderr:?}");
    assert!(
        stderr.iter().all(|l| !l.contains("13812345678")),
        "no PII in logs"
    );

    // Restart: the data is there; re-posting changes nothing.
    let server = Server::start(&data.0, &["--no-demo"]);
    assert_eq!(received(&server), 2);
    let (_, v) = post(
        &server.url("/api/v1/feedback"),
        "application/json",
        &batch.to_string(),
    );
    assert_eq!(v["duplicates"], 2);
    assert_eq!(received(&server), 2);
    server.stop();
}

#[test]
fn tokens_and_open_listening() {
    let data = TempDir::new("auth");
    // No tokens beyond loopback: refuse to start, saying why.
    let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .args(["serve", "--no-demo", "--listen", "0.0.0.0:0", "--data"])
        .arg(&data.0)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without API tokens"));

    let hash = |t: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
            .args(["hash-token", t])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    // No empty token: hash-token refuses one.
    let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .args(["hash-token", ""])
        .output()
        .unwrap();
    assert!(!out.status.success() && out.stdout.is_empty());
    let config = data.0.join("minyi.toml");
    std::fs::write(
        &config,
        format!(
            "[[token]]\nrole = \"viewer\"\nsha256 = \"{}\"\n[[token]]\nrole = \"ingest\"\nsha256 = \"{}\"\n",
            hash("wall"),
            hash("feed")
        ),
    )
    .unwrap();
    // Tokens, but the development contact key beyond loopback: refused.
    let out = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .args(["serve", "--no-demo", "--listen", "0.0.0.0:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(&data.0)
        .env_remove("MINYI_HMAC_KEY")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("development contact key"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let server = Server::start(
        &data.0.join("db"),
        &["--no-demo", "--config", config.to_str().unwrap()],
    );
    let summary = server.url("/api/v1/stats/summary");
    assert_eq!(get(&summary, None).0, 401);
    assert_eq!(get(&summary, Some("nope")).0, 401);
    assert_eq!(get(&summary, Some("wall")).0, 200);
    let lower = agent()
        .get(&summary)
        .header("authorization", "bearer wall")
        .call()
        .unwrap();
    assert_eq!(
        lower.status().as_u16(),
        200,
        "the scheme is case-insensitive"
    );
    assert_eq!(get(&format!("{summary}?access_token="), None).0, 401);
    assert_eq!(get(&summary, Some("feed")).0, 403);
    assert_eq!(get(&server.url("/api/v1/feedback"), Some("wall")).0, 403);
    server.stop();
}

#[test]
fn the_demo_feed_fills_the_screen() {
    let data = TempDir::new("demo");
    let server = Server::start_configured(
        &data.0,
        "demo_rate = 40\ndemo_backfill = false\ntick_seconds = 0.5\n",
    );
    let live = listen(server.url("/api/v1/live"));
    wait_for(&live, "item", Duration::from_secs(20));
    common::wait_until(
        30,
        || "the demo feed is too slow".into(),
        || received(&server) >= 20,
    );
    let (_, top) = get(&server.url("/api/v1/stats/top?dim=channel&limit=16"), None);
    let top: Value = serde_json::from_str(&top).unwrap();
    assert!(top["rows"].as_array().unwrap().len() >= 3, "{top}");
    let mut body = String::new();
    let mut resp = agent()
        .get(&server.url("/api/v1/feedback?limit=100"))
        .call()
        .unwrap();
    resp.body_mut()
        .as_reader()
        .read_to_string(&mut body)
        .unwrap();
    // The templates carry phone numbers; none is stored in the clear.
    let v: Value = serde_json::from_str(&body).unwrap();
    for item in v["items"].as_array().unwrap() {
        let text = item["text"].as_str().unwrap();
        assert!(
            !text
                .chars()
                .collect::<Vec<_>>()
                .windows(11)
                .any(|w| w.iter().all(char::is_ascii_digit)),
            "{text}"
        );
    }
    server.stop();
}

#[test]
fn the_screen_says_while_the_demo_loads_history() {
    // A first start backfills seven days and today: until it is done, today's figures
    // and their comparisons are partial (今日受理 1 ▼271,992 read a commander
    // the first minute), and each `panels` event says up to when history
    // has been loaded; after, no event says so.
    let data = TempDir::new("backfill");
    let server = Server::start_configured(
        &data.0,
        "demo_rate = 0.08\ndemo_backfill = true\ntick_seconds = 0.3\n",
    );
    let live = listen(server.url("/api/v1/live"));
    let started = chrono::Utc::now();
    let mut loading = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    let done = loop {
        assert!(
            Instant::now() < deadline,
            "no event said history was loading, or the backfill never ended: {loading:?}"
        );
        let data = wait_for(&live, "panels", Duration::from_secs(30));
        let v: Value = serde_json::from_str(&data).unwrap();
        match v["loading_until"].as_str() {
            Some(t) => loading.push(chrono::DateTime::parse_from_rfc3339(t).unwrap()),
            // (A tick before the feed found the store empty says nothing.)
            None if !loading.is_empty() => break v,
            None => {}
        }
    };
    assert!(
        loading.windows(2).all(|w| w[0] <= w[1]),
        "loaded history goes back: {loading:?}"
    );
    let first = loading[0];
    assert!(
        first < started && first > started - chrono::Duration::days(10),
        "the first event's time {first} is not within the days backfilled"
    );
    // Done: the history is stored, and today's count is whole.
    assert!(done["dashboards"].is_object(), "{done}");
    assert!(received(&server) > 1000);
    server.stop();
}

#[test]
fn a_copied_binary_serves_its_pages_from_any_folder_and_logs_json() {
    // The binary alone in an empty folder, started there: the wall, the
    // explorer and ECharts come from inside it.
    let dir = TempDir::new("copied");
    let bin = dir.0.join("minyi");
    std::fs::copy(env!("CARGO_BIN_EXE_minyi"), &bin).unwrap();
    let mut command = Command::new(&bin);
    command
        .current_dir(&dir.0)
        .env("RUST_LOG", "debug")
        .env("MINYI_HMAC_KEY", "copied-binary-key-0123")
        .args([
            "serve",
            "--no-demo",
            "--listen",
            "127.0.0.1:0",
            "--data",
            "db",
        ])
        .args(["--log-format", "json"]);
    let server = Server::spawn(command);
    for (path, needle) in [
        ("/", "echarts.min.js"),
        ("/wall/district", "echarts.min.js"),
        ("/explore", "explore.js"),
        ("/node_modules/echarts/dist/echarts.min.js", "echarts"),
        (
            "/node_modules/echarts-wordcloud/dist/echarts-wordcloud.min.js",
            "wordCloud",
        ),
    ] {
        let (status, body) = get(&server.url(path), None);
        assert_eq!(status, 200, "{path}");
        assert!(body.contains(needle), "{path} lacks {needle}");
    }
    // An item with a phone number in its text, then a query with a search
    // term: neither may reach the log.
    let (status, _) = post(
        &server.url("/api/v1/feedback"),
        "application/json",
        r#"{"channel": "hotline_12345", "text": "我的电话13812345678，出警太慢", "contact": "13912345678"}"#,
    );
    assert_eq!(status, 200);
    let (status, _) = get(&server.url("/api/v1/feedback?q=出警"), None);
    assert_eq!(status, 200);
    let lines = server.stop();
    assert!(!lines.is_empty());
    let mut access = 0;
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not one JSON object ({e}): {line}"));
        assert_eq!(v["command"], "serve", "{line}");
        assert!(v["level"].is_string() && v["time"].is_string(), "{line}");
        assert!(
            !line.contains("12345678") && !line.contains("出警"),
            "personal data or a search term in the log: {line}"
        );
        if v["message"] == "request" {
            access += 1;
            assert!(
                v["status"].is_u64() && v["latency_ms"].is_number(),
                "{line}"
            );
        }
    }
    assert!(
        lines
            .iter()
            .any(|l| l.contains("\"route\":\"/api/v1/feedback\"")),
        "no access log line for /api/v1/feedback: {lines:?}"
    );
    assert!(access >= 7, "{access} access log lines: {lines:?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("all acknowledged data is stored")),
        "{lines:?}"
    );
}

#[test]
fn pages_of_other_sites_cannot_write_or_rebind() {
    // Open mode on loopback: what a page on any site could try.
    let data = TempDir::new("cross-site");
    let server = Server::start(&data.0, &["--no-demo"]);
    let send = |path: &str, headers: &[(&str, &str)], body: &str| -> u16 {
        let mut req = agent().post(&server.url(path));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send(body).unwrap().status().as_u16()
    };
    let silence = r#"{"for": "2h", "comment": "x"}"#;
    let item = r#"{"channel": "wechat", "text": "好"}"#;
    assert_eq!(
        send(
            "/api/v1/silences",
            &[("content-type", "text/plain")],
            silence
        ),
        415
    );
    assert_eq!(
        send(
            "/api/v1/feedback",
            &[("content-type", "application/x-www-form-urlencoded")],
            "channel=wechat&text=x"
        ),
        415
    );
    assert_eq!(
        send("/api/v1/feedback", &[("content-type", "text/plain")], item),
        415
    );
    assert_eq!(
        send(
            "/api/v1/feedback",
            &[
                ("content-type", "application/json"),
                ("origin", "https://evil.example")
            ],
            item
        ),
        403
    );
    assert_eq!(
        send(
            "/api/v1/feedback",
            &[
                ("content-type", "application/json"),
                ("host", "rebound.evil.example")
            ],
            item
        ),
        421
    );
    let (status, _) = get(&server.url("/api/v1/silences"), None);
    assert_eq!(status, 200);
    let rebound = agent()
        .get(&server.url("/api/v1/feedback"))
        .header("host", "rebound.evil.example")
        .call()
        .unwrap();
    assert_eq!(
        rebound.status().as_u16(),
        421,
        "a rebinding page reads nothing"
    );
    // Nothing of the above was stored or created; the same origin writes.
    assert_eq!(received(&server), 0);
    let (_, silences) = get(&server.url("/api/v1/silences"), None);
    assert_eq!(
        serde_json::from_str::<Value>(&silences).unwrap()["silences"],
        json!([])
    );
    let own = server.base.clone();
    assert_eq!(
        send(
            "/api/v1/feedback",
            &[
                ("content-type", "application/json"),
                ("origin", own.as_str())
            ],
            item
        ),
        200
    );
    assert_eq!(received(&server), 1);
    server.stop();
}

/// Reads until the peer closes (or resets), at most `within`; true if it did.
fn closed_within(stream: &mut std::net::TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 4096];
    let deadline = Instant::now() + within;
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {
                if Instant::now() > deadline {
                    return false;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return true,
            Err(_) => return false,
        }
    }
}

#[test]
fn stalled_clients_are_bounded_and_shutdown_has_a_deadline() {
    use std::io::Write;
    use std::net::TcpStream;
    let data = TempDir::new("stalled");
    let config = data.0.join("minyi.toml");
    std::fs::write(
        &config,
        "max_connections = 8\nheader_timeout_seconds = 5\nbody_timeout_seconds = 3\nshutdown_seconds = 2\n",
    )
    .unwrap();
    let server = Server::start(
        &data.0.join("db"),
        &["--no-demo", "--config", config.to_str().unwrap()],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let connect = || TcpStream::connect(&addr).unwrap();

    // Headers that never end: closed after the header timeout.
    let mut slow_headers = connect();
    slow_headers
        .write_all(b"POST /api/v1/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    assert!(closed_within(&mut slow_headers, Duration::from_secs(15)));

    // A body that never ends: 408 after the body deadline.
    let mut slow_body = connect();
    slow_body
        .write_all(
            b"POST /api/v1/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{\"chan",
        )
        .unwrap();
    slow_body
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let mut answer = [0u8; 64];
    let n = slow_body.read(&mut answer).unwrap();
    assert!(
        String::from_utf8_lossy(&answer[..n]).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&answer[..n])
    );

    // The connection limit: of nine clients at once, at most eight are
    // served; the others are closed unanswered. Each asks for /healthz and
    // keeps its connection (its place is held until the 5 s header
    // timeout), so the bound holds whatever order a loaded machine accepts
    // them in (waiting for "the ninth" to be closed failed in CI twice).
    let mut held: Vec<TcpStream> = (0..9).map(|_| connect()).collect();
    for c in &mut held {
        let _ = c.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
        c.set_read_timeout(Some(Duration::from_secs(4))).unwrap();
    }
    let served = held
        .iter_mut()
        .map(|c| {
            let mut answer = [0u8; 12];
            matches!(c.read(&mut answer), Ok(n) if answer[..n].starts_with(b"HTTP/1.1 200"))
        })
        .filter(|served| *served)
        .count();
    assert!(
        (6..=8).contains(&served),
        "{served} of nine connections served at once, with a limit of eight"
    );
    drop(held);
    // Once they are gone (header timeout or close), the server answers again.
    let healthz = server.url("/healthz");
    common::wait_until(
        20,
        || format!("{healthz} never answered"),
        || {
            agent()
                .get(&healthz)
                .call()
                .is_ok_and(|r| r.status().as_u16() == 200)
        },
    );

    server.stop();

    // Shutdown with a client mid-body whose own deadline is far away (and
    // one that sent half its headers): the process exits anyway, after
    // about the shutdown deadline (it waited for such clients forever).
    std::fs::write(
        &config,
        "header_timeout_seconds = 120\nbody_timeout_seconds = 120\nshutdown_seconds = 2\n",
    )
    .unwrap();
    let server = Server::start(
        &data.0.join("db2"),
        &["--no-demo", "--config", config.to_str().unwrap()],
    );
    let addr = server.base.trim_start_matches("http://").to_owned();
    let mut half = TcpStream::connect(&addr).unwrap();
    half.write_all(b"GET /api/v1/meta HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let mut stuck = TcpStream::connect(&addr).unwrap();
    stuck
        .write_all(
            b"POST /api/v1/feedback HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[",
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let started = Instant::now();
    let lines = server.stop();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(30), "shutdown took {took:?}");
    assert!(lines.iter().any(|l| l.contains("stored")), "{lines:?}");
}
