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
/// its path; from `web_dir` on disk when one is given. `walls`: the names
/// of the configured wall screens. A wall not among them is a 404 that
/// names those there are: a typo in a bureau's screen address must not
/// show the city's wall as if it were the bureau's. `/wall` is the main
/// wall, at `/`.
pub fn routes<S: Clone + Send + Sync + 'static>(
    web_dir: Option<&Path>,
    walls: Vec<String>,
) -> Router<S> {
    let walls = std::sync::Arc::new(walls);
    let wall_page = {
        let dir = web_dir.map(Path::to_path_buf);
        move |axum::extract::Path(name): axum::extract::Path<String>| {
            let (walls, dir) = (walls.clone(), dir.clone());
            async move {
                if !walls.contains(&name) {
                    return (
                        StatusCode::NOT_FOUND,
                        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                        format!(
                            "没有名为“{name}”的大屏。已配置的大屏：{}\n",
                            walls
                                .iter()
                                .map(|w| format!("/wall/{w}"))
                                .collect::<Vec<_>>()
                                .join("  ")
                        ),
                    )
                        .into_response();
                }
                match dir {
                    Some(dir) => match tokio::fs::read(dir.join("wall.html")).await {
                        Ok(bytes) => ([(header::CONTENT_TYPE, content_type("/wall.html"))], bytes)
                            .into_response(),
                        Err(_) => (StatusCode::NOT_FOUND, "not found\n").into_response(),
                    },
                    None => serve_embedded("/wall.html"),
                }
            }
        }
    };
    let main_wall = || async { axum::response::Redirect::permanent("/") };
    let pages = Router::new()
        .route("/wall/{name}", get(wall_page))
        .route("/wall", get(main_wall))
        .route("/wall/", get(main_wall));
    match web_dir {
        Some(dir) => pages
            .route_service("/", ServeFile::new(dir.join("wall.html")))
            .route_service("/explore", ServeFile::new(dir.join("explore.html")))
            .route_service("/supervision", ServeFile::new(dir.join("supervision.html")))
            .fallback_service(ServeDir::new(dir)),
        None => pages
            .route("/", get(|| async { serve_embedded("/wall.html") }))
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
