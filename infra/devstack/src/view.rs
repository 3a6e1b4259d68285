//! `/_dev`: the local operator view — redirections and their states, the queue, the outbox
//! (rendered emails with working links), the funnel, the sandbox's call counters, and a way to
//! skip time ahead.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use serde::Deserialize;

use crate::Dev;

const STYLE: &str = r#"
body{font-family:system-ui,sans-serif;margin:0;background:#f4f6f9;color:#1c2330}
header{background:#20324f;color:#fff;padding:12px 20px;display:flex;gap:16px;align-items:center;flex-wrap:wrap}
header a{color:#cfe0ff}
main{padding:16px;max-width:1100px;margin:auto}
section{background:#fff;border-radius:10px;padding:14px 16px;margin-bottom:16px;box-shadow:0 1px 2px rgba(0,0,0,.08);overflow-x:auto}
h2{font-size:1.05rem;margin:0 0 10px}
table{border-collapse:collapse;width:100%;font-size:.9rem}
th,td{text-align:left;padding:6px 8px;border-bottom:1px solid #e8ecf2;white-space:nowrap}
code{font-size:.85rem}
form.inline{display:inline}
button{padding:6px 10px;border-radius:6px;border:1px solid #9fb3d1;background:#eef3fb;cursor:pointer}
.muted{color:#5b6576}
pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fb;padding:10px;border-radius:8px}
tr.detail td{white-space:normal;border-bottom:1px solid #d5dbe5;padding-top:0}
"#;

fn page(title: &str, body: Markup) -> Html<String> {
    Html(
        html! {
            (DOCTYPE)
            html lang="en" {
                head {
                    meta charset="utf-8";
                    meta name="viewport" content="width=device-width, initial-scale=1";
                    title { (title) " – local operator view" }
                    style { (PreEscaped(STYLE)) }
                }
                body {
                    header {
                        strong { "Local operator view" }
                        a href="/" { "start page" }
                        a href="/_dev" { "refresh" }
                    }
                    main { (body) }
                }
            }
        }
        .into_string(),
    )
}

fn short(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%m-%d %H:%M:%S").to_string()
}

pub async fn overview(State(dev): State<Arc<Dev>>) -> Html<String> {
    let now = dev.app.now();
    let today = now.date_naive();
    let funnel = dev
        .app
        .funnel_report(today - chrono::Days::new(29), today)
        .await
        .ok();
    let counters = dev.sandbox.as_ref().map(|s| s.counters());
    page(
        "Overview",
        html! {
            section id="clock" {
                h2 { "Clock" }
                p { "Now (simulated): " strong { (now.format("%Y-%m-%d %H:%M:%S UTC")) } }
                @for (label, minutes) in [("+5 min", 5), ("+1 h", 60), ("+1 h 5 min", 65), ("+1 day", 1440)] {
                    form.inline method="post" action="/_dev/advance" {
                        input type="hidden" name="minutes" value=(minutes);
                        button type="submit" { "Skip " (label) }
                    }
                    " "
                }
            }
            @if let Some(e) = &dev.embedded {
                section id="redirections" {
                    h2 { "Redirections" }
                    table {
                        tr { th { "id" } th { "email" } th { "state" } th { "last status" } th { "created" } th { "next poll" } th { "checks" } th { "Kontomatik's data" } }
                        @for r in e.store.redirections() {
                            tr {
                                td { code { (r.id.as_str().chars().take(12).collect::<String>()) "…" } }
                                td { (r.email) }
                                td { strong { (r.state.as_str()) } }
                                td { (r.last_status.map(|s| s.as_str()).unwrap_or("-")) }
                                td { (short(r.created_at)) }
                                td { (r.next_poll_at.map(short).unwrap_or_else(|| "-".into())) }
                                td { (r.status_checks) }
                                td { a href={ "/_dev/owner/" (r.owner.as_str()) } class="owner-data" { "latest" } }
                            }
                        }
                    }
                }
                section id="queue" {
                    h2 { "Import queue" }
                    @let pending = e.queue.pending();
                    @if pending.is_empty() { p.muted { "empty" } }
                    @for (job, visible_at, receives) in pending {
                        p { code { (job.redirection_id) } " visible at " (short(visible_at)) ", received " (receives) "×" }
                    }
                    @let dead = e.queue.dead_letters();
                    @if !dead.is_empty() { p { "Dead letters: " (dead.len()) } }
                }
                section id="outbox" {
                    h2 { "Outbox" }
                    table {
                        tr { th { "sent" } th { "to" } th { "subject" } th { "kind" } th {} }
                        @for (i, m) in e.outbox.sent().iter().enumerate().rev() {
                            tr {
                                td { (short(m.sent_at)) }
                                td { (m.mail.to) }
                                td { (m.mail.subject) }
                                td { (m.mail.tag) }
                                td { a href={ "/_dev/mail/" (i) } class="open-mail" { "open" } }
                            }
                        }
                    }
                }
                section id="events" {
                    h2 { "Events for other systems (EventBridge in AWS, source " code { (signin_core::domain::events::SOURCE) } ")" }
                    @let events = e.events.events();
                    @if events.is_empty() { p.muted { "none yet" } }
                    @else {
                        table {
                            tr { th { "at" } th { "detail-type" } th { "redirection" } th { "reason" } }
                            @for ev in events.iter().rev() {
                                tr {
                                    td { (short(ev.detail.occurred_at)) }
                                    td { strong { (ev.kind.detail_type()) } }
                                    td { code { (ev.detail.redirection_id.as_deref().map(|id| format!("{}…", id.chars().take(12).collect::<String>())).unwrap_or_else(|| "-".into())) } }
                                    td { (ev.detail.reason.as_deref().unwrap_or("-")) }
                                }
                                tr.detail { td colspan="4" { details { summary { "detail" } pre { (ev.detail_json()) } } } }
                            }
                        }
                    }
                }
            } @else {
                section { p.muted { "On the AWS adapters: redirections are in DynamoDB, emails go to SES (read them from moto's /moto-api/)." } }
            }
            @if let Some(f) = funnel {
                section id="funnel-local" {
                    h2 { "Funnel, last 30 days (as marketing sees it at /stats)" }
                    @let (rows, totals) = signin_web::rows_of(&f);
                    (signin_web::pages::funnel_section(&rows, &totals))
                }
            }
            @if let Some(c) = counters {
                section id="sandbox" {
                    h2 { "Kontomatik sandbox calls" }
                    p { @for (endpoint, n) in &c.calls { (endpoint) ": " strong { (n) } " · " } }
                    p { "429s: " (c.rate_limited) " · imports started: " (c.imports_started) " · duplicate import attempts: " (c.duplicate_imports) }
                }
            }
        },
    )
}

/// An owner's latest data, read from Kontomatik (`GET /v1/data.xml`) — no new import.
pub async fn owner_data(State(dev): State<Arc<Dev>>, Path(owner): Path<String>) -> Response {
    let Ok(owner) = signin_core::domain::OwnerExternalId::parse(&owner) else {
        return (StatusCode::BAD_REQUEST, "not an owner id").into_response();
    };
    let lang = signin_core::domain::Language::FIRST;
    let body = match dev.app.owner_data_summary(&owner).await {
        Ok(Some(summary)) => html! {
            p { "Read from Kontomatik's owner data (" code { "GET /v1/data.xml" } "), not a new import." }
            @for line in signin_core::notify::import_analysis_lines(lang, &summary) { p { (line) } }
        },
        Ok(None) => {
            html! { p { "Kontomatik holds no data for this owner (no finished import, or it was deleted)." } }
        }
        Err(e) => html! { p { "Kontomatik could not be asked: " (e.to_string()) } },
    };
    page(&format!("Owner {}", owner.as_str()), body).into_response()
}

#[derive(Deserialize)]
pub struct MailQuery {
    part: Option<String>,
}

pub async fn mail(
    State(dev): State<Arc<Dev>>,
    Path(index): Path<usize>,
    Query(q): Query<MailQuery>,
) -> Response {
    let Some(m) = dev
        .embedded
        .as_ref()
        .and_then(|e| e.outbox.sent().get(index).cloned())
    else {
        return (StatusCode::NOT_FOUND, "no such email").into_response();
    };
    if q.part.as_deref() == Some("html") {
        // The email's own HTML, as a mail client would show it.
        return Html(m.mail.html).into_response();
    }
    page(
        &m.mail.subject,
        html! {
            section {
                h2 { (m.mail.subject) }
                p { "To: " (m.mail.to) " · kind: " (m.mail.tag) " · " a href={ "/_dev/mail/" (index) "?part=html" } id="html-part" { "HTML part" } }
                @for (k, v) in &m.mail.headers { p { code { (k) ": " (v) } } }
                pre id="text-part" { (m.mail.text) }
            }
        },
    )
    .into_response()
}

#[derive(Deserialize)]
pub struct AdvanceForm {
    minutes: i64,
}

pub async fn advance(State(dev): State<Arc<Dev>>, Form(f): Form<AdvanceForm>) -> Response {
    if !(1..=7 * 24 * 60).contains(&f.minutes) {
        return (StatusCode::BAD_REQUEST, "minutes must be 1..=10080").into_response();
    }
    dev.clock.advance(chrono::Duration::minutes(f.minutes));
    Redirect::to("/_dev").into_response()
}

#[derive(Deserialize)]
pub struct StatsQuery {
    since: Option<String>,
    until: Option<String>,
}

pub async fn stats_json(State(dev): State<Arc<Dev>>, Query(q): Query<StatsQuery>) -> Response {
    let today = dev.app.now().date_naive();
    let parse = |s: Option<&str>, d| match s {
        None => Some(d),
        Some(s) => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok(),
    };
    let (Some(from), Some(to)) = (
        parse(q.since.as_deref(), today - chrono::Days::new(6)),
        parse(q.until.as_deref(), today),
    ) else {
        return (StatusCode::BAD_REQUEST, "since/until: YYYY-MM-DD").into_response();
    };
    match dev.app.funnel_report(from, to).await {
        Ok(r) => axum::Json(r).into_response(),
        Err(e) => (StatusCode::SERVICE_UNAVAILABLE, e.to_string()).into_response(),
    }
}
