//! The classroom's web server (axum): the page and its assets from the binary, a
//! join endpoint, one server-sent event stream per browser carrying the views of the
//! seats it holds, and one endpoint for every action.
//!
//! Nothing is fetched from the network; requests are size-limited; every response
//! carries a content security policy that allows only this server's own script.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, DefaultBodyLimit, Query, State};
use axum::http::{StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use futures_util::Stream;
use serde::Deserialize;
use serde_json::json;

use super::Class;
use super::access::Refused;
use super::actions::{Request, act};
use super::view::Role;

const PAGE: &str = include_str!("page.html");
const SCRIPT: &str = include_str!("page.js");
const STYLE: &str = include_str!("page.css");

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024;
/// Views are sent at most this often (heartbeats change the log every second).
const THROTTLE: Duration = Duration::from_millis(250);
/// How long a wrong join code is answered late (slows guessing).
const WRONG_CODE_DELAY: Duration = Duration::from_millis(400);

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The routes.
pub fn router(class: Arc<Class>) -> Router {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/classroom.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/classroom.css",
            get(|| async {
                // The timeline's own style first, so the drawing looks as it does in
                // `demo --timeline`; the classroom's rules after it.
                let css = format!("{}\n{STYLE}", backchannel_show::timeline::page_style());
                asset("text/css; charset=utf-8", &css)
            }),
        )
        .route("/api/class", get(about))
        .route("/api/join", post(join))
        .route("/api/stream", get(stream))
        .route("/api/act", post(action))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(class)
}

fn asset(kind: &'static str, body: &str) -> Response {
    (
        [
            (header::CONTENT_TYPE, kind),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_owned(),
    )
        .into_response()
}

fn answer(status: u16, body: serde_json::Value) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    (status, Json(body)).into_response()
}

/// What the join page shows before anyone joins: the names the seats are played
/// under (nothing secret).
async fn about(State(class): State<Arc<Class>>) -> Response {
    answer(
        200,
        json!({
            "names": {"alpha": class.names.alpha, "bravo": class.names.bravo, "third": class.names.third},
            "broker": class.scenario.as_ref().map_or("broker", |s| s.broker.as_str()),
            "scenario": class.scenario.as_ref().map(|s| s.title.as_str()),
        }),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JoinRequest {
    code: String,
    roles: Vec<String>,
}

async fn join(
    State(class): State<Arc<Class>>,
    ConnectInfo(from): ConnectInfo<std::net::SocketAddr>,
    body: axum::body::Bytes,
) -> Response {
    if !class
        .sessions
        .admit_join(from.ip(), std::time::Instant::now())
    {
        return answer(
            429,
            json!({"error": "too many joins from this address: wait a few seconds"}),
        );
    }
    let Ok(req) = serde_json::from_slice::<JoinRequest>(&body) else {
        return answer(
            400,
            json!({"error": "expected {\"code\": ..., \"roles\": [...]}"}),
        );
    };
    let mut roles = Vec::new();
    for name in req.roles.iter().take(Role::ALL.len()) {
        match Role::parse(name) {
            Some(r) if !roles.contains(&r) => roles.push(r),
            Some(_) => {}
            None => return answer(400, json!({"error": "no such seat"})),
        }
    }
    if roles.is_empty() {
        return answer(400, json!({"error": "choose at least one seat"}));
    }
    match class.join(&req.code, roles.clone()) {
        Ok(token) => answer(
            200,
            json!({"token": token, "roles": roles.iter().map(|r| r.as_str()).collect::<Vec<_>>()}),
        ),
        Err(Refused::NotThisSeat(why)) => answer(403, json!({"error": why})),
        Err(Refused::WrongCode) => {
            tokio::time::sleep(WRONG_CODE_DELAY).await;
            answer(403, json!({"error": "wrong join code"}))
        }
    }
}

async fn action(State(class): State<Arc<Class>>, body: axum::body::Bytes) -> Response {
    let request: Request = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => {
            return answer(
                400,
                json!({"error": format!("not a request this page sends: {e}")}),
            );
        }
    };
    match act(&class, request).await {
        Ok(done) => answer(200, json!({"ok": done})),
        Err((status, why)) => answer(status, json!({"error": why})),
    }
}

#[derive(Deserialize)]
struct StreamQuery {
    token: String,
}

/// The views of the session's seats: one event now, then one whenever they change.
async fn stream(State(class): State<Arc<Class>>, Query(q): Query<StreamQuery>) -> Response {
    let Some(roles) = class.roles(&q.token) else {
        return answer(
            403,
            json!({"error": "not joined: enter the join code again"}),
        );
    };
    let Some(guard) = class.sessions.open_stream(&q.token) else {
        return answer(
            429,
            json!({"error": "too many open views: close another tab of this seat"}),
        );
    };
    Sse::new(views(class, roles, guard))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The views, for as long as the stream is open (`guard` counts it until then).
fn views(
    class: Arc<Class>,
    roles: Vec<Role>,
    guard: super::access::StreamGuard,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let changed = class.changed.subscribe();
    futures_util::stream::unfold(
        (class, roles, changed, String::new(), true, guard),
        |(class, roles, mut changed, last, first, guard)| async move {
            loop {
                if !first {
                    tokio::time::sleep(THROTTLE).await;
                    // Wakes on a change, or every second anyway (the desk's cards
                    // arrive from the broker's task, which does not bump).
                    let _ = tokio::time::timeout(Duration::from_secs(1), changed.changed()).await;
                }
                let view = class.view(&roles).await.to_string();
                if view != last {
                    let event = Event::default().event("view").data(view.clone());
                    return Some((Ok(event), (class, roles, changed, view, false, guard)));
                }
            }
        },
    )
}
