//! Helpers shared by the server tests: a fresh store in a temp folder per
//! test, and an app over it.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;

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

/// An app on a fresh store; `tokens` as (role, secret).
pub fn test_app(tokens: &[(Role, &str)]) -> TestApp {
    let dir = TempDir::new("app");
    let config = Config {
        hmac_key: Some("test-key-0123456789".into()),
        ..Config::default()
    };
    let mut checked = config.validate(None).unwrap();
    checked.tokens = tokens
        .iter()
        .map(|(r, t)| {
            let mut h = [0u8; 32];
            hex::decode_to_slice(minyi::server::auth::hash_token(t), &mut h).unwrap();
            (*r, h)
        })
        .collect();
    let enricher = Arc::new(checked.enricher().unwrap());
    let store: Arc<dyn Store> = Arc::new(
        SqliteStore::open(
            &dir.0,
            QuerySettings {
                tz_offset: 8 * 3600,
                sla_seconds: checked.sla_seconds,
            },
        )
        .unwrap(),
    );
    let listen = if tokens.is_empty() {
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
    let router = app(state.clone(), &dir.0);
    TestApp {
        state,
        router,
        store,
        _dir: dir,
    }
}
