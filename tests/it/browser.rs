//! The wall screen and the explorer in a real browser: `minyi serve`,
//! driven by `dashboards/web/tests/browser.mjs` (the walls, with the demo
//! feed), `explore.mjs` (the explorer, over items it posts itself) and
//! `supervision.mjs` (the supervision queue, over cases it posts), in
//! Debian's headless Chromium through playwright-core. `scripts/test`
//! installs Chromium and the npm packages; without them these tests fail,
//! they do not skip. Screenshots land in target/screenshots/.

use crate::common;

use std::path::Path;
use std::process::Command;

/// The npm packages and Chromium the browser tests need: (web folder, chromium).
pub(crate) fn browser_prerequisites() -> (std::path::PathBuf, String) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let web = root.join("dashboards/web");
    assert!(
        web.join("node_modules/playwright-core").exists()
            && web.join("node_modules/echarts").exists(),
        "npm packages missing: run `npm ci --prefix dashboards/web` (scripts/test does)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} missing: scripts/test installs Debian's chromium"
    );
    (web, chromium)
}

/// Runs `dashboards/web/tests/<script>` with node against `base` (then
/// `extra` arguments and the screenshots folder), prints what it said and
/// fails with its output unless it succeeded.
pub(crate) fn run_script(script: &str, base: &str, extra: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (web, chromium) = browser_prerequisites();
    let out = Command::new("node")
        .arg(web.join("tests").join(script))
        .arg(base)
        .args(extra)
        .arg(root.join("target/screenshots"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The explorer as an analyst uses it: a shared URL, Back and Forward, a
/// drill-down into one of two districts, today against the same window
/// yesterday, the export, errors and empty answers, checked against the
/// API (`dashboards/web/tests/explore.mjs`). No demo feed: the script posts
/// the items it counts.
#[test]
fn explorer_in_chromium() {
    let data = common::TempDir::new("explorer");
    let server = common::Server::start(&data.0.join("db"), &["--no-demo"]);
    run_script("explore.mjs", &server.base, &[]);
}

/// The supervision queue (督办台账) as a supervisor uses it: the counts
/// and the order of the cases against the API, a stage clicked, the
/// overdue view, Back, a shared URL with a district and its CSV, readable
/// at the centre's screen sizes (`dashboards/web/tests/supervision.mjs`).
/// No demo feed: the script posts the cases it counts.
#[test]
fn supervision_queue_in_chromium() {
    let data = common::TempDir::new("supervision-page");
    let server = common::Server::start(&data.0.join("db"), &["--no-demo"]);
    run_script("supervision.mjs", &server.base, &[]);
}

/// The main wall while the demo backfills its history on a first start:
/// a note in the header up to when history is loaded, no KPI change told
/// meanwhile, the ticker's lines of earlier days with their day; then the
/// changes back (`dashboards/web/tests/loading.mjs`).
#[test]
fn wall_while_history_loads_in_chromium() {
    let data = common::TempDir::new("loading-wall");
    let server = common::Server::start_configured(
        &data.0,
        "demo_rate = 0.08\ndemo_backfill = true\ntick_seconds = 0.5\n",
    );
    run_script("loading.mjs", &server.base, &[]);
}

#[test]
fn wall_screen_in_chromium() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let (web, chromium) = browser_prerequisites();

    let data = common::TempDir::new("browser");
    // The shipped dashboards and web assets, plus a map a centre would
    // configure: dashboards/geo/handan.json (a synthetic one: a square per
    // district), which the district wall names in its options.
    let dashboards = data.0.join("dashboards");
    std::fs::create_dir_all(dashboards.join("geo")).unwrap();
    for f in ["wall.json", "district.json", "web"] {
        std::os::unix::fs::symlink(root.join("dashboards").join(f), dashboards.join(f)).unwrap();
    }
    std::fs::write(
        dashboards.join("geo/handan.json"),
        synthetic_map().to_string(),
    )
    .unwrap();
    // One alert rule the test can trip on purpose: three items naming
    // "浏览器测试" within ten minutes (the banner stays up while the walls
    // are watched at each screen size).
    let rules = data.0.join("alerts.toml");
    std::fs::write(
        &rules,
        "[[rule]]\nname = \"browser_probe\"\ntitle = \"浏览器测试预警\"\nscope = { keyword = [\"浏览器测试\"] }\n\
         window = \"10m\"\ndetector = { kind = \"ratio\", spike_height = 2.0, min_current = 3, min_reference = 0 }\n",
    )
    .unwrap();
    let config = data.0.join("minyi.toml");
    std::fs::write(
        &config,
        format!(
            "demo_rate = 30\ndemo_backfill = false\ntick_seconds = 2\ndashboards_dir = {:?}\n\
             alerts_file = {:?}\nalert_every_seconds = 1\n",
            dashboards.display().to_string(),
            rules.display().to_string()
        ),
    )
    .unwrap();
    // A fixed port, so the page can reconnect to a restarted server.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let listen = format!("127.0.0.1:{port}");
    let db = data.0.join("db");
    let args = ["--config", config.to_str().unwrap()];
    let mut server = common::Server::start_on(&listen, &db, &args);
    let base = server.base.clone();

    let mut node = Command::new("node")
        .arg(web.join("tests/browser.mjs"))
        .arg(&base)
        .arg(root.join("target/screenshots"))
        .arg(server.child.id().to_string())
        .env("CHROMIUM", &chromium)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("node runs");
    // The script stops the server (SIGTERM) to see the wall survive it;
    // bring it back on the same port and data once, as an operator would.
    let mut restarted = false;
    while node.try_wait().unwrap().is_none() {
        if !restarted && server.child.try_wait().unwrap().is_some() {
            // Long enough for the wall's 10 s stale mark.
            std::thread::sleep(std::time::Duration::from_secs(13));
            server = common::Server::start_on(&listen, &db, &args);
            restarted = true;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let out = node.wait_with_output().unwrap();
    drop(server);
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A GeoJSON with one square per district of the built-in gazetteer.
fn synthetic_map() -> serde_json::Value {
    let enricher = minyi::enrich::Enricher::builtin(b"map-key-0123456789").unwrap();
    let features: Vec<serde_json::Value> = enricher
        .gazetteer()
        .districts()
        .iter()
        .enumerate()
        .map(|(i, name)| {
            let (x, y) = (114.0 + (i % 6) as f64 * 0.3, 37.0 - (i / 6) as f64 * 0.3);
            serde_json::json!({
                "type": "Feature",
                "properties": {"name": name},
                "geometry": {"type": "Polygon", "coordinates": [[
                    [x, y], [x + 0.28, y], [x + 0.28, y - 0.28], [x, y - 0.28], [x, y]
                ]]}
            })
        })
        .collect();
    serde_json::json!({"type": "FeatureCollection", "features": features})
}
