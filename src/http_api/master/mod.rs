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
pub mod operator;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use http::{StatusCode, Uri};
use serde_json::Value;

use crate::master::runtime::MasterHandle;
use crate::proto::mesos::MasterInfo;
pub use model::Context;
/// `/api/v1/scheduler` (the v1 scheduler API).
pub mod scheduler;

pub(crate) struct Shared {
    pub(crate) master: MasterHandle,
    pub(crate) context: Context,
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

async fn read(
    ctx: &Arc<Shared>,
    uri: &Uri,
    f: impl FnOnce(&crate::master::Master, crate::master::Now, &Context, &HashMap<String, String>) -> Value + Send + 'static,
) -> Response {
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

/// `/api/v1`: the operator API.
async fn api(State(ctx): Ctx, method: http::Method, headers: http::HeaderMap, body: axum::body::Bytes) -> Response {
    operator::serve(&ctx, method, headers, body).await
}

/// Mesos's `Master::Http::redirect`: a temporary redirect to the leading
/// master (a protocol-relative URL), `/redirect` itself to the leader's base
/// URL, and 503 "No leader elected" when none is known.
pub fn redirect_to(leader: Option<&MasterInfo>, uri: &Uri) -> Response {
    let Some(leader) = leader else {
        tracing::warn!(
            "Current master is not elected as leader, and leader information is unavailable. Failed to redirect \
             the request url: {uri}"
        );
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from("No leader elected"))
            .expect("a valid response");
    };
    let hostname = leader.hostname.clone().unwrap_or_else(|| {
        leader
            .address
            .as_ref()
            .and_then(|a| a.ip.clone())
            .unwrap_or_else(|| crate::zookeeper::master_info::ip_from_field(leader.ip).to_string())
    });
    tracing::info!("Redirecting request for {uri} to the leading master {hostname}");
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

/// `/master/redirect`.
async fn redirect(State(ctx): Ctx, uri: Uri) -> Response {
    let leader = ctx.master.query(|m, _| m.leader().cloned()).await.flatten();
    redirect_to(leader.as_ref(), &uri)
}

/// How a path is guarded by [`leader_guard`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Guard {
    /// Served by any master.
    None,
    /// Redirected to the leader when this master does not lead.
    Leader,
    /// Redirected to the leader, and 503 until this leader has recovered
    /// (`/api/v1`, `/api/v1/scheduler`).
    LeaderRecovered,
}

/// Which endpoints only the leader serves (Mesos's handlers that start with
/// `if (!master->elected()) return redirect(request);`), with or without
/// the `/master` prefix and the `.json` suffix.
pub fn guard_of(path: &str) -> Guard {
    let name = path.strip_prefix("/master").filter(|rest| rest.starts_with('/')).unwrap_or(path);
    let name = name.trim_start_matches('/');
    let name = name.strip_suffix(".json").unwrap_or(name);
    match name {
        "api/v1" | "api/v1/scheduler" => Guard::LeaderRecovered,
        "state"
        | "state-summary"
        | "frameworks"
        | "slaves"
        | "tasks"
        | "roles"
        | "teardown"
        | "quota"
        | "weights"
        | "reserve"
        | "unreserve"
        | "create-volumes"
        | "destroy-volumes"
        | "maintenance/schedule"
        | "maintenance/status"
        | "machine/down"
        | "machine/up" => Guard::Leader,
        _ => Guard::None,
    }
}

async fn leader_check(State(master): State<MasterHandle>, request: Request, next: Next) -> Response {
    let guard = guard_of(request.uri().path());
    if guard == Guard::None {
        return next.run(request).await;
    }
    let Some((elected, recovered, leader)) =
        master.query(|m, _| (m.is_elected(), m.is_recovered(), m.leader().cloned())).await
    else {
        return unavailable();
    };
    if !elected {
        return redirect_to(leader.as_ref(), request.uri());
    }
    if guard == Guard::LeaderRecovered && !recovered {
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .body(Body::from("Master has not finished recovery"))
            .expect("a valid response");
    }
    next.run(request).await
}

/// Wraps every route of `router` (apply it last, over all the master's
/// routes, whichever module added them) with Mesos's leader check: on a
/// master that does not lead, the endpoints of [`guard_of`] answer 307 to
/// the leader (503 "No leader elected" when none is known), and
/// `/api/v1` and `/api/v1/scheduler` answer 503 "Master has not finished
/// recovery" until the leader has recovered.
pub fn leader_guard(router: Router, master: MasterHandle) -> Router {
    router.layer(axum::middleware::from_fn_with_state(master, leader_check))
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
        for path in
            [format!("/master/{name}"), format!("/{name}"), format!("/master/{name}.json"), format!("/{name}.json")]
        {
            router = router.route(&path, handler.clone());
        }
    }
    router
        .route("/api/v1/scheduler", axum::routing::any(api_v1_scheduler))
        .route("/master/api/v1/scheduler", axum::routing::any(api_v1_scheduler))
        .route("/version", get(version))
        .route("/metrics/snapshot", get(metrics))
        .route("/api/v1", axum::routing::any(api))
        .route("/master/api/v1", axum::routing::any(api))
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

    #[test]
    fn leader_only_endpoints() {
        assert_eq!(guard_of("/master/state.json"), Guard::Leader);
        assert_eq!(guard_of("/state"), Guard::Leader);
        assert_eq!(guard_of("/master/machine/down"), Guard::Leader);
        assert_eq!(guard_of("/api/v1/scheduler"), Guard::LeaderRecovered);
        assert_eq!(guard_of("/master/api/v1"), Guard::LeaderRecovered);
        assert_eq!(guard_of("/master/redirect"), Guard::None);
        assert_eq!(guard_of("/version"), Guard::None);
        assert_eq!(guard_of("/metrics/snapshot"), Guard::None);
        assert_eq!(guard_of("/master/health"), Guard::None);
        assert_eq!(guard_of("/masterstate"), Guard::None);
    }

    #[test]
    fn redirects_go_to_the_leader_as_in_mesos() {
        let leader = MasterInfo { hostname: Some("m2".into()), port: 5051, ..Default::default() };
        let r = redirect_to(Some(&leader), &"/master/state?jsonp=x".parse().unwrap());
        assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
        assert_eq!(r.headers()[http::header::LOCATION], "//m2:5051/master/state?jsonp=x");
        let r = redirect_to(Some(&leader), &"/master/redirect".parse().unwrap());
        assert_eq!(r.headers()[http::header::LOCATION], "//m2:5051");
        assert_eq!(redirect_to(Some(&leader), &"/redirect/x".parse().unwrap()).status(), StatusCode::NOT_FOUND);
        assert_eq!(redirect_to(None, &"/state".parse().unwrap()).status(), StatusCode::SERVICE_UNAVAILABLE);
    }
}
