//! Helpers shared by the server tests: a fresh store in a temp folder per
//! test, and an app over it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;

use minyi::config::{Config, Role};
use minyi::server::{AppState, app};
use minyi::store::Store;
use minyi::store::sqlite::{QuerySettings, SqliteStore};
use tokio_util::sync::CancellationToken;

/// A folder removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!(
            "minyi-test-{name}-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestApp {
    pub state: Arc<AppState>,
    pub router: axum::Router,
    pub store: Arc<dyn Store>,
    pub _dir: TempDir,
}

/// A fresh SQLite store on the centre's clock (+08:00), in its folder.
fn fresh_store() -> (Arc<dyn Store>, TempDir) {
    let dir = TempDir::new("app");
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(
            &dir.0,
            QuerySettings {
                tz_offset: 8 * 3600,
                ..QuerySettings::from_config(&Config::default().validate(None).unwrap())
            },
        )
        .unwrap(),
    );
    (store, dir)
}

/// An app on a fresh store; `tokens` as (role, secret).
pub fn test_app(tokens: &[(Role, &str)]) -> TestApp {
    let (store, dir) = fresh_store();
    test_app_over(store, dir, tokens)
}

/// An app on `store` (its folder, if any, kept as long as the app).
pub fn test_app_over(store: Arc<dyn Store>, dir: TempDir, tokens: &[(Role, &str)]) -> TestApp {
    let tokens = tokens
        .iter()
        .map(|(r, t)| api_token(*r, t, &[], &[]))
        .collect();
    test_app_tokens(store, dir, tokens)
}

/// A configured token: its role, secret and scope (districts, units).
pub fn api_token(
    role: Role,
    secret: &str,
    districts: &[&str],
    units: &[&str],
) -> minyi::config::ApiToken {
    let mut h = [0u8; 32];
    hex::decode_to_slice(minyi::server::auth::hash_token(secret), &mut h).unwrap();
    minyi::config::ApiToken {
        name: format!("holder of {secret}"),
        role,
        sha256: h,
        districts: districts.iter().map(|d| (*d).to_owned()).collect(),
        units: units.iter().map(|u| (*u).to_owned()).collect(),
    }
}

/// An app on a fresh SQLite store with these tokens.
pub fn test_app_scoped(tokens: Vec<minyi::config::ApiToken>) -> TestApp {
    let (store, dir) = fresh_store();
    test_app_tokens(store, dir, tokens)
}

/// An app on `store` with configured tokens.
pub fn test_app_tokens(
    store: Arc<dyn Store>,
    dir: TempDir,
    tokens: Vec<minyi::config::ApiToken>,
) -> TestApp {
    let config = Config {
        hmac_key: Some("test-key-0123456789".into()),
        ..Config::default()
    };
    let mut checked = config.validate(None).unwrap();
    checked.tokens = tokens;
    let enricher = Arc::new(minyi::enrich::Enricher::from_config(&checked).unwrap());
    let listen = if checked.tokens.is_empty() {
        "127.0.0.1:0"
    } else {
        "0.0.0.0:0"
    };
    let state = Arc::new(
        AppState::new(
            &checked,
            enricher,
            store.clone(),
            listen.parse().unwrap(),
            CancellationToken::new(),
        )
        .unwrap(),
    );
    let router = app(state.clone());
    TestApp {
        state,
        router,
        store,
        _dir: dir,
    }
}

/// Sends one request through the app; the status and the whole body.
pub async fn call(
    app: &TestApp,
    req: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let resp = app.router.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let body = resp
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec();
    (status, body)
}

/// `minyi serve` on port 0 (the real binary), killed when dropped.
pub struct Server {
    pub child: Child,
    pub base: String,
    pub stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts it on a data folder with extra arguments; returns once it
    /// printed its address.
    pub fn start(data: &std::path::Path, extra: &[&str]) -> Server {
        Server::start_on("127.0.0.1:0", data, extra)
    }

    /// `minyi serve` on `data/db` with `config` as `data/minyi.toml`.
    pub fn start_configured(data: &std::path::Path, config: &str) -> Server {
        let path = data.join("minyi.toml");
        std::fs::write(&path, config).unwrap();
        Server::start(&data.join("db"), &["--config", path.to_str().unwrap()])
    }

    /// The same on a given address (a restart that keeps its port).
    pub fn start_on(listen: &str, data: &std::path::Path, extra: &[&str]) -> Server {
        let mut command = Command::new(env!("CARGO_BIN_EXE_minyi"));
        command
            .args(["serve", "--listen", listen, "--data"])
            .arg(data)
            .args(extra);
        Server::spawn(command)
    }

    /// Runs a prepared `minyi serve` command (another binary, folder or
    /// environment) and waits for its address.
    pub fn spawn(mut command: Command) -> Server {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut first = String::new();
        stdout.read_line(&mut first).unwrap();
        let base = first
            .trim()
            .strip_prefix("minyi serve: listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"))
            .to_owned();
        std::thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Server {
            child,
            base,
            stderr: rx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM and waits for a clean exit; returns the stderr lines.
    pub fn stop(mut self) -> Vec<String> {
        let pid = self.child.id().to_string();
        assert!(
            Command::new("kill")
                .args(["-TERM", &pid])
                .status()
                .unwrap()
                .success()
        );
        let status = self.child.wait().unwrap();
        assert!(status.success(), "exit status {status}");
        lines_to_the_end(&self.stderr)
    }
}

/// Every line a stopped process wrote: those its reader thread has yet to
/// hand on too (its last line could come after the exit was seen, and a
/// test that looked for it failed now and then), until the pipe closes.
pub fn lines_to_the_end(lines: &mpsc::Receiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(line) = lines.recv_timeout(std::time::Duration::from_secs(10)) {
        out.push(line);
    }
    out
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Districts of the steady traffic of the alert tests.
pub const DISTRICTS: [&str; 3] = ["丛台区", "磁县", "武安市"];

/// Items per district per 10-minute slot of steady traffic: a daily
/// rhythm (+08:00), the same every day.
pub fn per_slot(t: i64) -> usize {
    match ((t + 8 * 3600).rem_euclid(86_400)) / 3600 {
        0..=6 => 0,
        7..=8 | 18..=23 => 1,
        _ => 2,
    }
}

/// A ClickHouse server of the tests' own (Debian's clickhouse-server via
/// `scripts/clickhouse-server`), in a temp folder on a free port, stopped
/// when dropped. Not installed is a failure, not a skip: `.ci/run`
/// installs it.
pub struct ClickHouse {
    pub url: String,
    pub port: u16,
    dir: TempDir,
    log_queries: bool,
}

impl ClickHouse {
    pub fn start() -> ClickHouse {
        ClickHouse::start_with(false)
    }

    /// A server that keeps every query in `system.query_log` (for
    /// [`ClickHouse::replay_on_current_release`]).
    pub fn start_logging_queries() -> ClickHouse {
        ClickHouse::start_with(true)
    }

    fn start_with(log_queries: bool) -> ClickHouse {
        let dir = TempDir::new("clickhouse");
        let port = free_port();
        let ch = ClickHouse {
            url: format!("http://127.0.0.1:{port}"),
            port,
            dir,
            log_queries,
        };
        ch.resume();
        ch
    }

    /// Runs every SELECT this server answered in `db` again on a current
    /// ClickHouse release (chdb, installed by scripts/test) over the same
    /// items and events, and panics unless each works and answers alike.
    pub fn replay_on_current_release(&self, db: &str) {
        let python = std::env::var("MINYI_CHDB_PYTHON").unwrap_or_else(|_| {
            panic!("MINYI_CHDB_PYTHON is not set: scripts/test installs chdb (a current ClickHouse) and sets it")
        });
        let out = Command::new(python)
            .arg(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/replay-on-current-clickhouse.py"
            ))
            .args([&self.url, db])
            .output()
            .expect("running scripts/replay-on-current-clickhouse.py");
        let report = String::from_utf8_lossy(&out.stdout);
        eprintln!("{report}");
        assert!(
            out.status.success(),
            "{report}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts it again on the same folder and port (after `pause`).
    pub fn resume(&self) {
        let out = Command::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/clickhouse-server"
        ))
        .arg(&self.dir.0)
        .arg(self.port.to_string())
        .args(self.log_queries.then_some("--log-queries"))
        .output()
        .expect("running scripts/clickhouse-server");
        assert!(
            out.status.success(),
            "clickhouse-server did not start (is Debian's clickhouse-server installed? .ci/run installs it): {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the server (SIGTERM) and waits until it is gone.
    pub fn pause(&self) {
        let pid = std::fs::read_to_string(self.dir.0.join("pid")).unwrap();
        let pid = pid.trim();
        let _ = Command::new("kill").args(["-TERM", pid]).status();
        for _ in 0..300 {
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", pid]).status();
    }

    /// Runs one statement over HTTP; returns the body.
    pub fn sql(&self, sql: &str) -> String {
        let mut resp = ureq::post(&format!("{}/", self.url))
            .config()
            .http_status_as_error(false)
            .build()
            .send(sql)
            .unwrap();
        let body = resp.body_mut().read_to_string().unwrap();
        assert_eq!(resp.status(), 200, "{sql}: {body}");
        body
    }

    /// A fresh database for one test.
    pub fn database(&self, name: &str) -> String {
        let db = format!("{name}_{}", fastrand::u32(..));
        self.sql(&format!("CREATE DATABASE {db}"));
        db
    }
}

impl Drop for ClickHouse {
    fn drop(&mut self) {
        self.pause();
    }
}

/// A TCP port free right now (and its neighbour, ClickHouse's native port).
pub fn free_port() -> u16 {
    loop {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if port < 65_000 && std::net::TcpListener::bind(("127.0.0.1", port + 1)).is_ok() {
            return port;
        }
    }
}

/// Polls `ready` (every 100 ms) until it holds; after `secs` seconds fails
/// with `what()`, which may say what was seen last.
pub fn wait_until(secs: u64, what: impl Fn() -> String, mut ready: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !ready() {
        assert!(std::time::Instant::now() < deadline, "{}", what());
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
