//! The web UI's static files, compiled into the binary so the server needs no asset
//! directory: one HTML page, its script and its stylesheet.

/// The single page of the UI (graph, tag explorer and dashboards are views of it).
pub fn index_html() -> &'static str {
    include_str!("../assets/index.html")
}

/// The page's script.
pub fn app_js() -> &'static str {
    include_str!("../assets/app.js")
}

/// The page's stylesheet.
pub fn style_css() -> &'static str {
    include_str!("../assets/style.css")
}
