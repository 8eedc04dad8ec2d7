//! The embedded dashboard as the server serves it: content types, caching,
//! compression, revalidation and the Content-Security-Policy.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use monitor_server::api::{AppState, router};
use monitor_server::auth::Token;
use monitor_store::{SqlStore, StoreOptions};
use tower::ServiceExt;

async fn app() -> (axum::Router, std::path::PathBuf) {
    let dir = std::env::temp_dir().join(format!(
        "monitor-dashboard-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let store = SqlStore::open(StoreOptions::sqlite(dir.join("db")))
        .await
        .unwrap();
    let admin = Token::from_secret("smk_adm_test_admin_token_0123456789").unwrap();
    (router(AppState::new(Arc::new(store), &admin, None)), dir)
}

async fn get(app: &axum::Router, path: &str, headers: &[(&str, &str)]) -> axum::response::Response {
    let mut request = Request::get(path);
    for (k, v) in headers {
        request = request.header(*k, *v);
    }
    app.clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap()
}

async fn body(response: axum::response::Response) -> Vec<u8> {
    response
        .into_body()
        .collect()
        .await
        .unwrap()
        .to_bytes()
        .to_vec()
}

#[tokio::test]
async fn the_page_its_assets_caching_compression_and_policy() {
    if !monitor_server::dashboard::embedded() {
        eprintln!("skipped: built without the dashboard feature");
        return;
    }
    let (app, dir) = app().await;
    let page = get(&app, "/", &[]).await;
    assert_eq!(page.status(), StatusCode::OK);
    let h = page.headers().clone();
    assert_eq!(h["content-type"], "text/html; charset=utf-8");
    assert_eq!(h["cache-control"], "no-cache");
    assert_eq!(h["x-content-type-options"], "nosniff");
    let csp = h["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    let html = String::from_utf8(body(page).await).unwrap();
    // No inline script: every script tag loads a file.
    for tag in html.split("<script").skip(1) {
        let tag = tag.split('>').next().unwrap();
        assert!(tag.contains("src="), "an inline script in {html}");
    }
    // Nothing from another host.
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "{html}"
    );

    // Revalidation of the page.
    let etag = h["etag"].to_str().unwrap().to_owned();
    let again = get(&app, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert!(body(again).await.is_empty());

    // The script it loads: hashed name, cached for a year, gzip on request.
    let script = html
        .split("src=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .trim_start_matches("./");
    let path = format!("/{script}");
    assert!(
        path.starts_with("/assets/") && path.ends_with(".js"),
        "{path}"
    );
    let plain = get(&app, &path, &[]).await;
    assert_eq!(plain.status(), StatusCode::OK);
    assert_eq!(
        plain.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert_eq!(
        plain.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = body(plain).await;
    let zipped = get(&app, &path, &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    assert_eq!(zipped.headers()["vary"], "Accept-Encoding");
    let zipped = body(zipped).await;
    assert!(
        zipped.len() * 2 < plain.len(),
        "{} of {}",
        zipped.len(),
        plain.len()
    );
    let mut inflated = Vec::new();
    use std::io::Read;
    flate2::read::GzDecoder::new(zipped.as_slice())
        .read_to_end(&mut inflated)
        .unwrap();
    assert_eq!(inflated, plain);
    let refused = get(&app, &path, &[("accept-encoding", "gzip;q=0")]).await;
    assert!(refused.headers().get("content-encoding").is_none());

    // A file that is not there is a JSON 404, and the API is untouched.
    let missing = get(&app, "/assets/nope.js", &[]).await;
    assert_eq!(missing.status(), StatusCode::NOT_FOUND);
    assert!(
        String::from_utf8(body(missing).await)
            .unwrap()
            .contains("\"no_such_file\"")
    );
    let health = get(&app, "/api/health", &[]).await;
    assert_eq!(health.status(), StatusCode::OK);
    let _ = std::fs::remove_dir_all(&dir);
}
