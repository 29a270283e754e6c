//! The wall screen and the explorer in a real browser: `minyi serve` with
//! the demo feed, driven by `dashboards/web/tests/browser.mjs` (Debian's
//! headless Chromium through playwright-core). `scripts/test` installs
//! Chromium and the npm packages; without them this test fails, it does not
//! skip. Screenshots land in target/screenshots/.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

#[test]
fn wall_screen_and_explorer_in_chromium() {
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

    let data = common::TempDir::new("browser");
    let config = data.0.join("minyi.toml");
    std::fs::write(
        &config,
        "demo_rate = 30\ndemo_backfill = false\ntick_seconds = 1\n",
    )
    .unwrap();
    let mut server = Command::new(env!("CARGO_BIN_EXE_minyi"))
        .current_dir(root)
        .args(["serve", "--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .arg("--data")
        .arg(data.0.join("db"))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(server.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    // Keep reading: a closed pipe would kill the server at its next line.
    std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    let base = first
        .trim()
        .trim_start_matches("minyi serve: listening on ")
        .to_owned();

    let out = Command::new("node")
        .arg(web.join("tests/browser.mjs"))
        .arg(&base)
        .arg(root.join("target/screenshots"))
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs");
    let _ = server.kill();
    let _ = server.wait();
    println!("{}", String::from_utf8_lossy(&out.stdout));
    assert!(
        out.status.success(),
        "browser test failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
