//! The web UI: the page at `/` and its script and stylesheet, all compiled into the
//! binary by `sextant-ui`.

use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;

use super::AppState;

/// Routes of the web UI.
pub fn web_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(index_show))
        .route("/ui/app.js", get(script_show))
        .route("/ui/style.css", get(style_show))
}

/// The single page; its views are chosen by the query string, in the browser.
pub async fn index_show() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        sextant_ui::web::index_html(),
    )
}

/// The page's script.
pub async fn script_show() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        sextant_ui::web::app_js(),
    )
}

/// The page's stylesheet.
pub async fn style_show() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        sextant_ui::web::style_css(),
    )
}
