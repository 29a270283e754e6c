//! The web assets of the wall screens and the explorer, built into the
//! binary (`build.rs` embeds `dashboards/web`: pages, CSS, scripts, ECharts
//! and echarts-wordcloud). `web_dir` in the config serves a folder from
//! disk instead, for front-end development.

use std::path::Path;

use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tower_http::services::{ServeDir, ServeFile};

include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));

/// The embedded file at a URL path (`/js/wall.js`), if any.
pub fn embedded(path: &str) -> Option<&'static [u8]> {
    ASSETS
        .iter()
        .find(|(p, _)| *p == path)
        .map(|(_, bytes)| *bytes)
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, ext)| ext) {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("json") => "application/json",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

fn serve_embedded(path: &str) -> Response {
    match embedded(path) {
        Some(bytes) => ([(header::CONTENT_TYPE, content_type(path))], bytes).into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The pages (`/`, `/wall/{name}`, `/explore`, `/supervision`) and every other asset by
/// its path; from `web_dir` on disk when one is given.
pub fn routes<S: Clone + Send + Sync + 'static>(web_dir: Option<&Path>) -> Router<S> {
    match web_dir {
        Some(dir) => {
            let wall = ServeFile::new(dir.join("wall.html"));
            Router::new()
                .route_service("/", wall.clone())
                .route_service("/wall/{name}", wall)
                .route_service("/explore", ServeFile::new(dir.join("explore.html")))
                .route_service("/supervision", ServeFile::new(dir.join("supervision.html")))
                .fallback_service(ServeDir::new(dir))
        }
        None => Router::new()
            .route("/", get(|| async { serve_embedded("/wall.html") }))
            .route(
                "/wall/{name}",
                get(|| async { serve_embedded("/wall.html") }),
            )
            .route(
                "/explore",
                get(|| async { serve_embedded("/explore.html") }),
            )
            .route(
                "/supervision",
                get(|| async { serve_embedded("/supervision.html") }),
            )
            .fallback(|request: Request| async move { serve_embedded(request.uri().path()) }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_and_the_chart_library_are_built_in() {
        for path in [
            "/wall.html",
            "/explore.html",
            "/supervision.html",
            "/js/supervision.js",
            "/js/wall.js",
            "/css/wall.css",
            "/node_modules/echarts/dist/echarts.min.js",
            "/node_modules/echarts-wordcloud/dist/echarts-wordcloud.min.js",
        ] {
            let bytes = embedded(path).unwrap_or_else(|| panic!("{path} not embedded"));
            assert!(!bytes.is_empty(), "{path} is empty");
        }
        // Every script a page loads is embedded.
        for page in ["/wall.html", "/explore.html", "/supervision.html"] {
            let html = std::str::from_utf8(embedded(page).unwrap()).unwrap();
            for src in html.split("src=\"").skip(1) {
                let src = &src[..src.find('"').unwrap()];
                assert!(embedded(src).is_some(), "{page} loads {src}, not embedded");
            }
        }
        assert!(embedded("/package-lock.json").is_none());
        assert_eq!(
            content_type("/js/wall.js"),
            "text/javascript; charset=utf-8"
        );
    }
}
