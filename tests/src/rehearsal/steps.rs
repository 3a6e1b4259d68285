//! A user's steps through a rehearsal stack, shared by the rehearsal tests and the cost model's
//! CloudWatch count: the start form as a browser fills it, the bank, and the way back.

use signin_core::domain::RedirectionId;
use signin_core::ports::{ConditionalWrite, RedirectionStore};

use super::{HttpAnswer, HttpRequest, Rehearsal};

/// The user's browser at the sandbox's hosted sign-in page; returns where it sends them back.
pub async fn sign_in_at_bank(link: &str, outcome: &str) -> String {
    let http = crate::browser();
    let page = http.get(link).send().await.unwrap();
    assert_eq!(page.status(), 200, "the hosted page opens");
    let back = http
        .post(link)
        .form(&[("bank", "DemoBank"), ("outcome", outcome)])
        .send()
        .await
        .unwrap();
    assert_eq!(back.status(), 303);
    back.headers()["location"].to_str().unwrap().to_owned()
}

/// The redirection id a Kontomatik link ends with.
pub fn id_of(link: &str) -> RedirectionId {
    RedirectionId::parse(link.rsplit('/').next().unwrap()).unwrap()
}

pub fn start_form(email: &str) -> String {
    format!(
        "email={}&name=Ann+Smith&language=en&country=pl&delivery=redirect&followUpConsent=yes",
        email.replace('@', "%40")
    )
}

/// The start form as a browser sends it: with the token of the page it was filled on, and the
/// cookie that page set (returned as the `Cookie` to send).
pub async fn start_form_from_page(r: &Rehearsal, email: &str) -> (String, String) {
    let page = r
        .http(HttpRequest {
            method: "GET",
            path: "/start",
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    (
        format!(
            "{}&formToken={}",
            start_form(email),
            crate::form_token_in(&page.body)
        ),
        cookie_of(&page),
    )
}

/// The start page and its form, sent: the Kontomatik link it redirects to.
pub async fn start(r: &Rehearsal, email: &str) -> String {
    let (form, cookie) = start_form_from_page(r, email).await;
    let started = r
        .http(HttpRequest {
            method: "POST",
            path: "/start",
            form: Some(&form),
            cookies: &[&cookie],
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(started.status, 303, "{}", started.body);
    started.headers["location"].clone()
}

/// The user at the bank, then back through the callback (in another browser: no cookies).
pub async fn at_bank_and_back(r: &Rehearsal, link: &str, outcome: &str) -> HttpAnswer {
    let back = url::Url::parse(&sign_in_at_bank(link, outcome).await).unwrap();
    r.http(HttpRequest {
        method: "GET",
        path: back.path(),
        query: back.query().unwrap_or(""),
        ..HttpRequest::default()
    })
    .await
}

/// The cookie an answer set, as the browser sends it back.
pub fn cookie_of(page: &HttpAnswer) -> String {
    let set = page
        .headers
        .get("set-cookie")
        .unwrap_or_else(|| panic!("no cookie set: {:?}", page.headers));
    assert!(set.contains("HttpOnly") && set.contains("SameSite=Lax") && set.contains("Secure"));
    set.split(';').next().unwrap().to_owned()
}

/// Moves a redirection's next status check to now (an operator's step in place of waiting
/// the five minutes of pacing; the poller itself runs unchanged).
pub async fn make_due(r: &Rehearsal, id: &RedirectionId) {
    let store = r.store();
    let mut red = store.get_redirection(id).await.unwrap().unwrap();
    let expected = red.expected();
    red.next_poll_at = Some(chrono::Utc::now() - chrono::Duration::seconds(1));
    assert!(matches!(
        store.save_redirection(&red, expected).await.unwrap(),
        ConditionalWrite::Applied
    ));
}

/// Where a sign-in by emailed link goes: the page with the address form, where the form
/// posts (with `extra` fields), the path of the mailed link, and where its page's button posts.
pub struct EmailedSignIn<'a> {
    pub page: &'a str,
    pub ask: &'a str,
    pub extra: &'a str,
    pub link: &'a str,
    pub confirm: &'a str,
}

/// An applicant's log-in (`/login`, in English).
pub const APPLICANT_LOG_IN: EmailedSignIn<'static> = EmailedSignIn {
    page: "/login",
    ask: "/login",
    extra: "&language=en",
    link: "/login/link",
    confirm: "/login/session",
};

/// What a sign-in by emailed link left: the address form's page, the button's answer (a 303
/// with the session cookie), and the cookies to send from then on (the form binding, if the
/// page set one, and the session).
pub struct SignedIn {
    pub form_page: HttpAnswer,
    pub signed_in: HttpAnswer,
    pub cookies: Vec<String>,
}

/// A sign-in by emailed link as a browser does it: the address form, the mail, the link's
/// page and its button.
pub async fn signs_in_by_emailed_link(
    r: &Rehearsal,
    at: &EmailedSignIn<'_>,
    email: &str,
) -> SignedIn {
    let html = [("accept", "text/html")];
    let form_page = r
        .http(HttpRequest {
            method: "GET",
            path: at.page,
            headers: &html,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(form_page.status, 200, "{}", form_page.body);
    let mut cookies: Vec<String> = form_page
        .headers
        .get("set-cookie")
        .map(|c| c.split(';').next().unwrap().to_owned())
        .into_iter()
        .filter(|c| !c.is_empty())
        .collect();
    let sent: Vec<&str> = cookies.iter().map(String::as_str).collect();
    let form = format!(
        "email={}{}&formToken={}",
        email.replace('@', "%40"),
        at.extra,
        crate::form_token_in(&form_page.body)
    );
    let asked = r
        .http(HttpRequest {
            method: "POST",
            path: at.ask,
            form: Some(&form),
            cookies: &sent,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(asked.status, 200, "{}", asked.body);
    let marker = format!("{}?t=", at.link);
    let mails = r.moto.mails().await;
    let t = mails
        .iter()
        .rev()
        .filter(|m| m.to == email)
        .find_map(|m| {
            m.text
                .split_whitespace()
                .find_map(|w| w.split_once(marker.as_str()))
                .map(|(_, t)| t.to_owned())
        })
        .unwrap_or_else(|| panic!("no sign-in link mailed to {email}: {mails:?}"));
    let confirm = r
        .http(HttpRequest {
            method: "GET",
            path: at.link,
            query: &format!("t={t}"),
            cookies: &sent,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(confirm.status, 200, "{}", confirm.body);
    let form = format!("t={t}&formToken={}", crate::form_token_in(&confirm.body));
    let signed_in = r
        .http(HttpRequest {
            method: "POST",
            path: at.confirm,
            form: Some(&form),
            cookies: &sent,
            ..HttpRequest::default()
        })
        .await;
    assert_eq!(signed_in.status, 303, "{}", signed_in.body);
    cookies.push(
        signed_in.headers["set-cookie"]
            .split(';')
            .next()
            .unwrap()
            .to_owned(),
    );
    SignedIn {
        form_page,
        signed_in,
        cookies,
    }
}

/// A staff member's sign-in from `page` (the funnel's or the applications'): see
/// [`signs_in_by_emailed_link`].
pub async fn staff_sign_in(r: &Rehearsal, staff: &str, page: &str) -> (HttpAnswer, Vec<String>) {
    let at = EmailedSignIn {
        page,
        ask: "/stats/login",
        extra: "",
        link: "/stats/login",
        confirm: "/stats/session",
    };
    let done = signs_in_by_emailed_link(r, &at, staff).await;
    (done.signed_in, done.cookies)
}
