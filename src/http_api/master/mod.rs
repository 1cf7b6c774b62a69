//! The master's HTTP endpoints, on the same port as its libprocess messages:
//! `/master/state` (and `/state`, `/state.json`, `/master/state.json`),
//! `frameworks`, `slaves`, `tasks`, `roles`, `state-summary`, `health`,
//! `redirect`, `flags` (each with and without the `/master` prefix, as
//! libprocess delegates bare paths to the master), `/version` and
//! `/metrics/snapshot`. `?jsonp=<callback>` wraps the JSON, as Mesos does.
//!
//! Each handler reads the master through [`MasterHandle::query`], on the
//! master's own loop; the JSON models are in [`model`].

pub mod model;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::{StatusCode, Uri};
use serde_json::Value;

use crate::master::runtime::MasterHandle;
pub use model::Context;
/// `/api/v1/scheduler` (the v1 scheduler API).
pub mod scheduler;

struct Shared {
    master: MasterHandle,
    context: Context,
}

type Ctx = State<Arc<Shared>>;

/// Decodes `a=b&c=d` (percent-escapes and `+` included).
pub fn parse_query(query: Option<&str>) -> HashMap<String, String> {
    crate::http_api::files::query_pairs(query).into_iter().collect()
}

/// `OK(json, jsonp)`.
fn json_response(value: Value, query: &HashMap<String, String>) -> Response {
    let body = value.to_string();
    let (body, content_type) = match query.get("jsonp") {
        Some(callback) => (format!("{callback}({body});"), "text/javascript"),
        None => (body, "application/json"),
    };
    Response::builder()
        .status(StatusCode::OK)
        .header(http::header::CONTENT_TYPE, content_type)
        .body(Body::from(body))
        .expect("a valid response")
}

fn unavailable() -> Response {
    Response::builder()
        .status(StatusCode::SERVICE_UNAVAILABLE)
        .body(Body::from("Master is shutting down"))
        .expect("a valid response")
}

async fn read(ctx: &Arc<Shared>, uri: &Uri, f: impl FnOnce(&crate::master::Master, crate::master::Now, &Context, &HashMap<String, String>) -> Value + Send + 'static) -> Response {
    let query = parse_query(uri.query());
    let context = ctx.context.clone();
    let q = query.clone();
    match ctx.master.query(move |m, now| f(m, now, &context, &q)).await {
        Some(value) => json_response(value, &query),
        None => unavailable(),
    }
}

async fn state(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, _, c, _| model::state(m, c)).await
}

async fn state_summary(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, _, _, _| model::state_summary(m)).await
}

async fn frameworks(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, _, _, q| model::frameworks(m, q.get("framework_id").map(String::as_str))).await
}

async fn slaves(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, _, _, q| model::slaves(m, q.get("slave_id").map(String::as_str))).await
}

async fn tasks(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, _, _, q| model::tasks(m, q)).await
}

async fn roles(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, _, _, _| model::roles(m)).await
}

async fn flags(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |_, _, c, _| serde_json::json!({ "flags": c.flags })).await
}

async fn metrics(State(ctx): Ctx, uri: Uri) -> Response {
    read(&ctx, &uri, |m, now, _, _| model::metrics(m, now)).await
}

async fn version(uri: Uri) -> Response {
    json_response(model::version(), &parse_query(uri.query()))
}

async fn health() -> Response {
    Response::builder().status(StatusCode::OK).body(Body::empty()).expect("a valid response")
}

/// `/master/redirect`: a temporary redirect to the leading master (a
/// protocol-relative URL), as Mesos answers.
async fn redirect(State(ctx): Ctx, uri: Uri) -> Response {
    let leader = ctx.master.query(|m, _| m.leader().cloned()).await.flatten();
    let Some(leader) = leader else {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from("No leader elected"))
            .expect("a valid response");
    };
    let hostname = leader.hostname.clone().unwrap_or_else(|| leader.address.as_ref().and_then(|a| a.ip.clone()).unwrap_or_default());
    let base = format!("//{}:{}", hostname, leader.port);
    let path = uri.path();
    let location = if path == "/redirect" || path == "/master/redirect" {
        base
    } else if path.starts_with("/redirect/") || path.starts_with("/master/redirect/") {
        return Response::builder().status(StatusCode::NOT_FOUND).body(Body::empty()).expect("a valid response");
    } else {
        format!("{base}{}", uri.path_and_query().map(|p| p.as_str()).unwrap_or(""))
    };
    Response::builder()
        .status(StatusCode::TEMPORARY_REDIRECT)
        .header(http::header::LOCATION, location)
        .body(Body::empty())
        .expect("a valid response")
}

async fn api_v1_scheduler(State(ctx): Ctx, request: axum::extract::Request) -> Response {
    scheduler::serve(ctx.master.clone(), request).await
}

/// The master's endpoints.
pub fn router(master: MasterHandle, context: Context) -> Router {
    let shared = Arc::new(Shared { master, context });
    let mut router = Router::new();
    let endpoints: Vec<(&str, axum::routing::MethodRouter<Arc<Shared>>)> = vec![
        ("state", get(state)),
        ("state-summary", get(state_summary)),
        ("frameworks", get(frameworks)),
        ("slaves", get(slaves)),
        ("tasks", get(tasks)),
        ("roles", get(roles)),
        ("flags", get(flags)),
        ("health", get(health)),
        ("redirect", get(redirect)),
    ];
    for (name, handler) in endpoints {
        for path in [format!("/master/{name}"), format!("/{name}"), format!("/master/{name}.json"), format!("/{name}.json")] {
            router = router.route(&path, handler.clone());
        }
    }
    router
        .route("/api/v1/scheduler", axum::routing::any(api_v1_scheduler))
        .route("/master/api/v1/scheduler", axum::routing::any(api_v1_scheduler))
        .route("/version", get(version))
        .route("/metrics/snapshot", get(metrics))
        .with_state(shared)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_decoded() {
        let q = parse_query(Some("jsonp=cb&framework_id=a%2Db&x=1+2&flag"));
        assert_eq!(q["jsonp"], "cb");
        assert_eq!(q["framework_id"], "a-b");
        assert_eq!(q["x"], "1 2");
        assert_eq!(q["flag"], "");
        assert_eq!(parse_query(Some("p=100%"))["p"], "100%");
    }
}
