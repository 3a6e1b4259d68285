//! Fault injection: the faults an API call can get ([`Fault`], [`FaultConfig`]), drawn from a
//! seeded generator or taken from a list, and the middleware that injects them.

use std::collections::VecDeque;
use std::time::Duration as StdDuration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{lock, Shr};
use crate::wire;

/// A fault the sandbox can inject into an API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Fault {
    /// Answer 503.
    ServerError,
    /// Answer after `slow_ms`.
    Slow,
    /// Send the headers, then break the connection.
    Drop,
    /// Answer 429 with `Retry-After`.
    RateLimit,
    /// Handle the request for real, then break the connection before the answer: the caller
    /// cannot tell whether it happened (a Default Import that started, unknown to us).
    LostReply,
}

/// Faults to inject: shares of calls (0.0–1.0, drawn from a seeded generator) and a list of
/// faults for the very next calls, in order (deterministic, for tests).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct FaultConfig {
    pub server_error_rate: f64,
    pub slow_rate: f64,
    pub slow_ms: u64,
    pub drop_rate: f64,
    pub rate_limit_rate: f64,
    /// Share of calls handled whose answer is then lost ([`Fault::LostReply`]).
    pub lost_reply_rate: f64,
    /// The `Retry-After` of an injected 429, in seconds (30 when 0).
    pub retry_after_secs: u64,
    /// Every API answer is held this long (real time), as a distant Kontomatik would be:
    /// what benchmarks of our concurrency need. Not a fault: not counted.
    pub latency_ms: u64,
    pub next: Vec<Fault>,
}

pub(super) struct Faults {
    pub(super) config: FaultConfig,
    pub(super) next: VecDeque<Fault>,
    pub(super) rng: ChaCha8Rng,
}

impl Faults {
    fn draw(&mut self) -> Option<Fault> {
        if let Some(f) = self.next.pop_front() {
            return Some(f);
        }
        let c = &self.config;
        let x: f64 = self.rng.gen();
        let mut edge = 0.0;
        for (rate, fault) in [
            (c.server_error_rate, Fault::ServerError),
            (c.slow_rate, Fault::Slow),
            (c.drop_rate, Fault::Drop),
            (c.rate_limit_rate, Fault::RateLimit),
            (c.lost_reply_rate, Fault::LostReply),
        ] {
            edge += rate.clamp(0.0, 1.0);
            if x < edge {
                return Some(fault);
            }
        }
        None
    }
}

pub(super) async fn inject_faults(State(s): Shr, req: Request, next: Next) -> Response {
    let (fault, slow_ms, retry_after_secs, latency_ms) = {
        let mut f = lock(&s.faults);
        (
            f.draw(),
            f.config.slow_ms,
            f.config.retry_after_secs,
            f.config.latency_ms,
        )
    };
    if latency_ms > 0 {
        tokio::time::sleep(StdDuration::from_millis(latency_ms)).await;
    }
    if fault.is_some() {
        lock(&s.sim).counters.faults_injected += 1;
    }
    match fault {
        None => next.run(req).await,
        Some(Fault::ServerError) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "injected fault: service unavailable",
        )
            .into_response(),
        Some(Fault::RateLimit) => {
            {
                let mut sim = lock(&s.sim);
                sim.counters.rate_limited += 1;
                sim.counters.injected_rate_limits += 1;
            }
            let mut r =
                (StatusCode::TOO_MANY_REQUESTS, "injected fault: slow down").into_response();
            let secs = match retry_after_secs {
                0 => 30,
                n => n,
            };
            if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            r
        }
        Some(Fault::Slow) => {
            tokio::time::sleep(StdDuration::from_millis(slow_ms)).await;
            next.run(req).await
        }
        Some(Fault::Drop) => broken_answer(),
        Some(Fault::LostReply) => {
            let status_of = req
                .uri()
                .path()
                .strip_prefix(wire::REDIRECTION_STATUS.trim_end_matches("{id}"))
                .map(str::to_owned);
            let handled = next.run(req).await;
            {
                let mut sim = lock(&s.sim);
                sim.counters.lost_replies += 1;
                if let Some(id) = status_of {
                    sim.status_answer_lost(&id);
                }
            }
            drop(handled);
            broken_answer()
        }
    }
}

/// Headers, then a broken connection instead of the body.
fn broken_answer() -> Response {
    let broken = futures::stream::once(async {
        Err::<Bytes, std::io::Error>(std::io::Error::other("injected fault: dropped"))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from_stream(broken))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}
