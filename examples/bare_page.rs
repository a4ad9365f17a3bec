//! The ceiling for `scripts/bench-pages`: a bare axum handler that answers every request with
//! one file's bytes as `application/json`, on the same axum and hyper as the emulator. What
//! the emulator does beyond this (authentication, routing, the store, rendering) is what the
//! bench measures.
//!
//!   cargo run --release --example bare_page -- FILE [PORT]   (PORT 0 picks a free one)
//!
//! Prints `bare page listening on http://ADDR` once it listens.

use anyhow::Context;
use axum::body::Bytes;
use axum::http::header;
use axum::response::IntoResponse;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let file = args
        .next()
        .context("usage: bare_page FILE [PORT]: missing FILE")?;
    let port: u16 = match args.next() {
        Some(p) => p
            .parse()
            .with_context(|| format!("invalid port `{p}`: expected 0 to 65535"))?,
        None => 0,
    };
    let page = Bytes::from(std::fs::read(&file).with_context(|| format!("cannot read `{file}`"))?);
    let app = axum::Router::new().fallback(move || {
        let page = page.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], page).into_response() }
    });
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .with_context(|| format!("cannot listen on `127.0.0.1:{port}`"))?;
    println!("bare page listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app)
        .await
        .context("the server failed")
}
