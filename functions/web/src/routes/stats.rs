//! The funnel: `GET /stats` (JSON for a script, a page for staff) and `GET /stats.csv`.

use signin_core::domain::links::Form;
use signin_core::App;

use crate::errors::*;
use crate::guard::*;
use crate::pages::{self};
use crate::request::*;

/// The funnel page's range.
pub(crate) fn page_days(query: &Query) -> u32 {
    match query.days.as_deref() {
        Some("7") => 7,
        Some("90") => 90,
        _ => 30,
    }
}

pub(crate) async fn page_report(
    app: &App,
    days: u32,
) -> Result<signin_core::usecases::FunnelReport, signin_core::usecases::FlowError> {
    let today = app.now().date_naive();
    app.funnel_report(today - chrono_days(u64::from(days) - 1), today)
        .await
}

/// A funnel report as the funnel page's rows (one per day) and totals.
pub fn rows_of(report: &signin_core::usecases::FunnelReport) -> (Vec<pages::FunnelRow>, Vec<u64>) {
    use signin_core::ports::FunnelStep;
    let rows = report
        .days
        .iter()
        .map(|d| pages::FunnelRow {
            day: d.day.map(|x| x.to_string()).unwrap_or_default(),
            counts: FunnelStep::ALL.iter().map(|s| d.get(*s)).collect(),
        })
        .collect();
    let totals = FunnelStep::ALL
        .iter()
        .map(|s| report.totals.get(s).copied().unwrap_or(0))
        .collect();
    (rows, totals)
}

/// `GET /stats`: JSON for a script with `Authorization: Bearer <STATS_TOKEN>`; for a browser,
/// the funnel page once a staff member signed in, else the sign-in page.
pub(crate) async fn stats(
    app: &App,
    req: &WebRequest,
    query: &Query,
    binding: &str,
) -> WebResponse {
    let browser = req.header("authorization").is_none()
        && req
            .header("accept")
            .is_some_and(|a| a.contains("text/html"));
    if browser && !app.settings.staff.is_empty() {
        if !is_staff_session(app, req).await {
            if staff_of(app, req).await.is_some() {
                return WebResponse::html(
                    403,
                    pages::message(
                        &app.settings.company_name,
                        "en",
                        "Not for this address",
                        &["Your address may not see the funnel (it has no marketing role on STAFF_EMAILS)."],
                        Some(("Open the applications", "/cases")),
                    ),
                );
            }
            return match app.form_token(Form::StaffLogin, binding) {
                Ok(token) => WebResponse::html(
                    200,
                    pages::staff_login(&app.settings.company_name, &token, None),
                ),
                Err(e) => internal_error(app, "en", &e),
            };
        }
        let days = page_days(query);
        return match page_report(app, days).await {
            Ok(report) => {
                let (rows, totals) = rows_of(&report);
                WebResponse::html(
                    200,
                    pages::funnel(&app.settings.company_name, days, &rows, &totals),
                )
            }
            Err(e) => internal_error(app, "en", &e),
        };
    }
    match has_bearer(app, req) {
        None if app.settings.stats_token.is_none() => return not_found_en(app),
        Some(true) => {}
        _ => {
            return json(
                401,
                r#"{"error":"a valid bearer token is required"}"#.into(),
            )
            .with_header("www-authenticate", "Bearer")
        }
    }
    let today = app.now().date_naive();
    let day = |raw: Option<&str>, default| match raw {
        None | Some("") => Ok(default),
        Some(d) => chrono_day(d),
    };
    let (from, to) = match (day(query.since.as_deref(), today - chrono_days(6)), day(query.until.as_deref(), today)) {
        (Ok(f), Ok(t)) if f <= t && (t - f).num_days() <= 366 => (f, t),
        _ => return json(400, r#"{"error":"since and until must be YYYY-MM-DD, since <= until, at most 366 days apart"}"#.into()),
    };
    match app.funnel_report(from, to).await {
        Ok(report) => match serde_json::to_string(&report) {
            Ok(body) => json(200, body),
            Err(_) => json(500, r#"{"error":"could not encode the report"}"#.into()),
        },
        Err(e) => {
            tracing::error!(error = %e, "stats failed");
            json(
                503,
                r#"{"error":"statistics are unavailable right now"}"#.into(),
            )
        }
    }
}

/// `GET /stats.csv`: the funnel page's table, for a signed-in staff member or a script.
pub(crate) async fn stats_csv(app: &App, req: &WebRequest, query: &Query) -> WebResponse {
    if !(is_staff_session(app, req).await || has_bearer(app, req) == Some(true)) {
        return not_found_en(app);
    }
    let days = page_days(query);
    let report = match page_report(app, days).await {
        Ok(r) => r,
        Err(e) => return internal_error(app, "en", &e),
    };
    let (rows, totals) = rows_of(&report);
    let mut csv = format!(
        "day,{},conversion_percent\n",
        pages::FUNNEL_COLUMNS.join(",")
    );
    let percent = |c: &[u64]| {
        pages::conversion_percent(c[0], c[5]).map_or(String::new(), |p| format!("{p:.1}"))
    };
    for r in &rows {
        let counts: Vec<String> = r.counts.iter().map(u64::to_string).collect();
        csv.push_str(&format!(
            "{},{},{}\n",
            r.day,
            counts.join(","),
            percent(&r.counts)
        ));
    }
    let counts: Vec<String> = totals.iter().map(u64::to_string).collect();
    csv.push_str(&format!(
        "total,{},{}\n",
        counts.join(","),
        percent(&totals)
    ));
    WebResponse {
        status: 200,
        headers: vec![
            ("content-type".into(), "text/csv; charset=utf-8".into()),
            (
                "content-disposition".into(),
                format!("attachment; filename=\"funnel-{days}-days.csv\""),
            ),
            ("cache-control".into(), "no-store".into()),
            ("x-content-type-options".into(), "nosniff".into()),
        ],
        body: csv,
    }
}

pub(crate) fn chrono_day(raw: &str) -> Result<chrono::NaiveDate, ()> {
    chrono::NaiveDate::parse_from_str(raw, "%Y-%m-%d").map_err(|_| ())
}

pub(crate) fn chrono_days(n: u64) -> chrono::Days {
    chrono::Days::new(n)
}
