//! Credit staff's pages: `GET /cases` (the list, by status), `GET /cases/view?case=` (one case,
//! each look recorded) and `POST /cases/decide` (the next step, sent to the applicant). Behind
//! the staff sign-in, for members with the `credit` role. Only a case's random reference is
//! ever in a URL.

use serde::Deserialize;
use signin_core::config::StaffMember;
use signin_core::domain::case::{CaseStatus, DecisionKind};
use signin_core::domain::links::Form;
use signin_core::usecases::CaseError;
use signin_core::App;

use crate::errors::*;
use crate::guard::*;
use crate::pages::{self};
use crate::request::*;

fn staff_page(app: &App, status: u16, title: &str, text: &str, link: (&str, &str)) -> WebResponse {
    WebResponse::html(
        status,
        pages::message(&app.settings.company_name, "en", title, &[text], Some(link)),
    )
}

/// The credit officer of this browser, else the page to show instead: the staff sign-in form
/// when nobody is signed in, a refusal for a member without the `credit` role.
async fn officer(app: &App, req: &WebRequest, binding: &str) -> Result<StaffMember, WebResponse> {
    if app.settings.staff.is_empty() {
        return Err(not_found_en(app));
    }
    match staff_of(app, req).await {
        Some(m) if m.may(signin_core::config::StaffRole::Credit) => Ok(m),
        Some(_) => Err(staff_page(
            app,
            403,
            "Not for this address",
            "Your address may not see applications (it has no credit role on STAFF_EMAILS).",
            ("Open the funnel", "/stats"),
        )),
        None => match app.form_token(Form::StaffLogin, binding) {
            Ok(token) => Err(WebResponse::html(
                200,
                pages::staff_login(&app.settings.company_name, &token, None),
            )),
            Err(e) => Err(internal_error(app, "en", &e)),
        },
    }
}

fn case_error(app: &App, e: CaseError) -> WebResponse {
    match e {
        CaseError::NotAllowed => staff_page(
            app,
            403,
            "Not for this address",
            "Your address may not see applications.",
            ("Applications", "/cases"),
        ),
        CaseError::NotFound => staff_page(
            app,
            404,
            "No such application",
            "There is no such application (it may have been erased, or its data kept no longer).",
            ("Applications", "/cases"),
        ),
        CaseError::Invalid(why) => {
            staff_page(app, 400, "Not sent", why, ("Applications", "/cases"))
        }
        CaseError::Internal(e) => internal_error(app, "en", &e),
    }
}

/// `GET /cases?status=&after=`: one page of the cases filed under a status (needs review
/// first).
pub(crate) async fn cases(app: &App, req: &WebRequest, query: &Query, binding: &str) -> Page {
    let officer = officer(app, req, binding).await?;
    let status = match query.status.as_deref() {
        None | Some("") => CaseStatus::NeedsReview,
        Some(raw) => CaseStatus::parse(raw).ok_or_else(|| {
            staff_page(
                app,
                400,
                "Unknown filter",
                "Choose one of the filters above the list.",
                ("Applications", "/cases"),
            )
        })?,
    };
    let page = app
        .case_list(status, query.after.as_deref())
        .await
        .map_err(|e| internal_error(app, "en", &e))?;
    let rows: Vec<pages::CaseRow> = page
        .cases
        .iter()
        .map(|c| pages::CaseRow {
            reference: c.reference.clone(),
            name: c.name.clone(),
            email: c.email.as_str().to_owned(),
            updated: c.updated_at.format("%Y-%m-%d %H:%M UTC").to_string(),
            flags: c.flags.clone(),
            external: c.external_application_id.clone(),
        })
        .collect();
    let next = page.next.map(|c| {
        serde_urlencoded::to_string([("x", c.0)])
            .map(|s| s.trim_start_matches("x=").to_owned())
            .unwrap_or_default()
    });
    Ok(WebResponse::html(
        200,
        pages::case_list(
            &app.settings.company_name,
            officer.email.as_str(),
            status,
            &rows,
            next.as_deref(),
        ),
    ))
}

/// `GET /cases/view?case=`: one case; the look is recorded before anything is shown.
pub(crate) async fn case_view(app: &App, req: &WebRequest, query: &Query, binding: &str) -> Page {
    let officer = officer(app, req, binding).await?;
    let file = app
        .open_case(&officer, query.case.as_deref().unwrap_or(""))
        .await
        .map_err(|e| case_error(app, e))?;
    let (token, refresh_token) = match (
        app.form_token(Form::CaseDecision, binding),
        app.form_token(Form::CaseRefresh, binding),
    ) {
        (Ok(d), Ok(r)) => (d, r),
        (Err(e), _) | (_, Err(e)) => return Err(internal_error(app, "en", &e)),
    };
    let notice = match (query.sent.as_deref(), query.refreshed.as_deref()) {
        (Some("1"), _) => Some("Sent: the applicant was emailed, and their page shows it."),
        (Some("0"), _) => Some(
            "Saved and shown on the applicant's page, but the email could not be sent; it was not retried.",
        ),
        (_, Some("0")) => Some(
            "Kontomatik holds no data for this applicant now (erased there, or never imported).",
        ),
        (_, Some(_)) => Some("Refreshed: the latest data Kontomatik holds is analysed below."),
        _ => None,
    };
    Ok(WebResponse::html(
        200,
        pages::case_page(
            &app.settings.company_name,
            officer.email.as_str(),
            &file,
            &token,
            &refresh_token,
            notice,
        ),
    ))
}

/// `POST /cases/refresh`: the case's latest data from Kontomatik (a new import with a kept
/// multiple access, else the owner's data as kept), then shows the case again.
pub(crate) async fn case_refresh(app: &App, req: &WebRequest, binding: &str) -> Page {
    let officer = officer(app, req, binding).await?;
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct RefreshForm {
        form_token: Option<String>,
        case: Option<String>,
    }
    let form: RefreshForm = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    app.use_form_token(Form::CaseRefresh, form.form_token.as_deref(), binding)
        .await
        .map_err(|e| form_refused(app, "en", e))?;
    let reference = form.case.unwrap_or_default();
    let refreshed = app
        .refresh_case(&officer, &reference)
        .await
        .map_err(|e| case_error(app, e))?;
    let location = format!(
        "/cases/view?case={reference}&refreshed={}",
        refreshed.min(9)
    );
    Ok(staff_page(
        app,
        303,
        "Refreshed",
        "Opening the application…",
        ("Open it", &location),
    )
    .with_header("location", &location))
}

/// `POST /cases/decide`: sends the applicant the next step, then shows the case again.
pub(crate) async fn case_decide(app: &App, req: &WebRequest, binding: &str) -> Page {
    let officer = officer(app, req, binding).await?;
    #[derive(Deserialize, Default)]
    #[serde(rename_all = "camelCase")]
    struct DecisionForm {
        form_token: Option<String>,
        case: Option<String>,
        kind: Option<String>,
        message: Option<String>,
    }
    let form: DecisionForm = serde_urlencoded::from_bytes(&req.body).unwrap_or_default();
    let kind = form
        .kind
        .as_deref()
        .and_then(DecisionKind::parse)
        .ok_or_else(|| case_error(app, CaseError::Invalid("choose the next step to send")))?;
    // A bad message is refused before the form's token is spent (nothing is written).
    let message =
        signin_core::usecases::decision_message(kind, form.message.as_deref().unwrap_or(""))
            .map_err(|e| case_error(app, e))?;
    app.use_form_token(Form::CaseDecision, form.form_token.as_deref(), binding)
        .await
        .map_err(|e| form_refused(app, "en", e))?;
    let reference = form.case.unwrap_or_default();
    let decided = app
        .decide(&officer, &reference, kind, &message)
        .await
        .map_err(|e| case_error(app, e))?;
    let location = format!(
        "/cases/view?case={}&sent={}",
        decided.case.reference,
        u8::from(decided.emailed)
    );
    Ok(staff_page(
        app,
        303,
        "Sent",
        "Opening the application…",
        ("Open it", &location),
    )
    .with_header("location", &location))
}
