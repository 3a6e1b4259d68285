//! Who may do what: cross-site posts, the browser binding cookie that form tokens are bound to,
//! the one-click unsubscribe, the staff session cookie and the stats bearer token.

use signin_core::usecases::Requester;
use signin_core::App;

use crate::request::*;
use crate::routes::Route;

/// A browser says this request comes from another site: `Sec-Fetch-Site` (set by the browser,
/// never by a page) is `cross-site` or `same-site` (a sibling subdomain is not us), or `Origin`
/// is not ours. `Origin: null` is what browsers send under our `Referrer-Policy: no-referrer`,
/// so it decides nothing; neither does a missing header (an older browser): there the form
/// token, bound to this browser's cookie, does.
pub(crate) fn cross_site(app: &App, req: &WebRequest) -> bool {
    let fetch_site = req.header("sec-fetch-site").map(str::to_ascii_lowercase);
    let foreign_site = fetch_site
        .as_deref()
        .is_some_and(|site| !matches!(site, "same-origin" | "none"));
    let foreign_origin = match req.header("origin") {
        None | Some("null") => false,
        Some(origin) => !same_origin(origin, &app.settings.public_base_url),
    };
    foreign_site || foreign_origin
}

/// Whether two URLs have the same origin (scheme, host and port, default ports included).
pub(crate) fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin() && a.origin().is_tuple(),
        _ => false,
    }
}

/// The cookie a browser's form tokens are bound to (double submit, no server state): HttpOnly,
/// SameSite=Lax (never sent with a cross-site POST, but kept on a link from an email, so that
/// arriving from one does not replace it under the user's other open tabs), and over https
/// `__Host-` (Secure, this host only, so a sibling subdomain cannot plant one).
pub(crate) fn binding_cookie(app: &App) -> &'static str {
    if app.settings.public_base_url.starts_with("https://") {
        "__Host-signin-form"
    } else {
        "signin-form"
    }
}

/// Who is asking, for the abuse limits and the form token's binding.
pub(crate) fn requester(
    req: &WebRequest,
    binding: &str,
    applicant: Option<signin_core::ports::UserProfile>,
) -> Requester {
    Requester {
        client: req.client_ip.clone(),
        form_binding: binding.to_owned(),
        applicant,
    }
}

/// The attributes of our cookies: never readable by scripts, sent only to this path, and over
/// https `Secure` (which the `__Host-` names require).
pub(crate) fn cookie_attributes(app: &App, same_site: &str) -> String {
    let secure = if app.settings.public_base_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    format!("Path=/; HttpOnly; SameSite={same_site}{secure}")
}

/// The browser's form binding: its cookie's value, or a fresh one to set.
pub(crate) fn form_binding(app: &App, req: &WebRequest) -> (String, Option<String>) {
    let name = binding_cookie(app);
    let existing = cookie_value(req, name)
        .filter(|v| v.len() == 32 && v.bytes().all(|b| b.is_ascii_hexdigit()));
    match existing {
        Some(v) => (v.to_owned(), None),
        None => {
            let v = uuid::Uuid::new_v4().simple().to_string();
            let cookie = format!("{name}={v}; {}", cookie_attributes(app, "Lax"));
            (v, Some(cookie))
        }
    }
}

/// RFC 8058: a mail client's one-click unsubscribe (a POST from the mail provider, with the
/// token in the URL): neither from our page nor from a browser, so it carries no form token.
pub(crate) fn is_one_click(route: Route, req: &WebRequest) -> bool {
    route == Route::UnsubscribeSubmit
        && req.query.as_deref().is_some_and(|q| q.contains("t="))
        && serde_urlencoded::from_bytes::<TokenForm>(&req.body)
            .ok()
            .and_then(|f| f.list_unsubscribe)
            .as_deref()
            == Some("One-Click")
}

/// The staff session cookie (over https `__Host-`: Secure, this host only).
pub(crate) fn staff_cookie(app: &App) -> &'static str {
    if app.settings.public_base_url.starts_with("https://") {
        "__Host-signin-staff"
    } else {
        "signin-staff"
    }
}

/// A signed-in staff member (the session cookie).
pub(crate) async fn is_staff_session(app: &App, req: &WebRequest) -> bool {
    match cookie_value(req, staff_cookie(app)) {
        Some(session) => {
            app.staff_session_may(session, signin_core::config::StaffRole::Marketing)
                .await
        }
        None => false,
    }
}

/// The staff member signed in on this browser, if any (any role).
pub(crate) async fn staff_of(
    app: &App,
    req: &WebRequest,
) -> Option<signin_core::config::StaffMember> {
    app.staff_member(cookie_value(req, staff_cookie(app))?)
        .await
}

/// A script with the stats token.
pub(crate) fn has_bearer(app: &App, req: &WebRequest) -> Option<bool> {
    let expected = app.settings.stats_token.as_ref()?;
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))?;
    Some(constant_time_eq(
        given.as_bytes(),
        expected.expose().as_bytes(),
    ))
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What became of a request behind CloudFront (`EDGE_ORIGIN_SECRET` set).
pub(crate) enum Edge {
    /// Served: it passed the edge (its client's address now the viewer's, as CloudFront saw
    /// it; API Gateway saw CloudFront's), or it may come another way (`trust`, or no edge).
    Served,
    /// It went around the edge (`require`): a page asked for is sent on to the domain.
    SendOn,
    /// It went around the edge (`require`) and is not a page: refused.
    Refused,
}

pub(crate) fn through_edge(app: &App, req: &mut WebRequest) -> Edge {
    use signin_core::config::{EdgeOriginCheck, EDGE_ORIGIN_HEADER, EDGE_VIEWER_ADDRESS_HEADER};
    let Some(secret) = &app.settings.edge_origin_secret else {
        return Edge::Served;
    };
    let given = req.header(EDGE_ORIGIN_HEADER).unwrap_or("");
    if constant_time_eq(given.as_bytes(), secret.expose().as_bytes()) {
        req.client_ip = req
            .header(EDGE_VIEWER_ADDRESS_HEADER)
            .and_then(|a| a.trim().parse::<std::net::IpAddr>().ok())
            .map(|ip| ip.to_string());
        if req.client_ip.is_none() {
            // The edge's function always sets it: without it every user would share one
            // allowance. Said loudly; the request is still served.
            tracing::error!("a request through the edge came without the viewer's address");
        }
        return Edge::Served;
    }
    match app.settings.edge_origin_check {
        EdgeOriginCheck::Trust => Edge::Served,
        EdgeOriginCheck::Require if matches!(req.method.as_str(), "GET" | "HEAD") => Edge::SendOn,
        EdgeOriginCheck::Require => Edge::Refused,
    }
}
