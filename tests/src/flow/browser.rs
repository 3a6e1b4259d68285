//! The browser's side of a flow: HTTP requests through the real handlers as API Gateway
//! events, the browser's cookies, the sign-in steps at our pages and the bank's, and the mails.

use signin_aws::testing::recorded_raw_mail;
use signin_core::domain::machine::Redirection;
use signin_core::domain::RedirectionId;
use signin_core::ports::RedirectionStore;

use super::{unique, Flow, Mail, Page, DEFAULT_CLIENT_IP, PUBLIC_BASE};

impl Flow {
    /// A unique address of this flow's users.
    pub fn email(&self, local: &str) -> String {
        format!("{local}@{}", self.recipient_domain)
    }

    pub fn advance(&self, d: chrono::Duration) {
        self.clock.advance(d);
    }

    /// A GET with an `Authorization` header.
    pub async fn http_with_auth(&self, path_and_query: &str, authorization: &str) -> Page {
        self.request(
            "GET",
            path_and_query,
            None,
            &[("authorization", authorization)],
            DEFAULT_CLIENT_IP,
        )
        .await
    }

    /// Sends one HTTP request through the real Lambda handler as an API Gateway v2 event.
    pub async fn http(&self, method: &str, path_and_query: &str, form: Option<&str>) -> Page {
        self.request(method, path_and_query, form, &[], DEFAULT_CLIENT_IP)
            .await
    }

    /// A GET as a browser asks for a page (`Accept: text/html`), with this browser's cookies.
    pub async fn get_html(&self, path_and_query: &str) -> Page {
        self.request(
            "GET",
            path_and_query,
            None,
            &[("accept", "text/html,application/xhtml+xml")],
            DEFAULT_CLIENT_IP,
        )
        .await
    }

    /// A request from another browser (none of this browser's cookies), e.g. an attacker's
    /// page posting a form it filled in itself.
    pub async fn http_as_stranger(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Page {
        let saved = std::mem::take(&mut *self.cookies.lock().unwrap());
        let page = self
            .request(method, path_and_query, form, headers, "192.0.2.66")
            .await;
        *self.cookies.lock().unwrap() = saved;
        page
    }

    /// This browser's form binding (the cookie its form tokens are bound to), once a page with
    /// a form was opened.
    pub fn form_binding(&self) -> Option<String> {
        self.cookies
            .lock()
            .unwrap()
            .get("__Host-signin-form")
            .cloned()
    }

    /// [`Flow::http`] with request headers, from the client address `client_ip`.
    pub async fn http_from(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
        client_ip: &str,
    ) -> Page {
        self.request(method, path_and_query, form, headers, client_ip)
            .await
    }

    /// Follows a signed link from an email as a person does: opens its confirm page, then
    /// presses the button (a POST with the link's token and the page's form token).
    pub async fn confirm_link(&self, link: &str) -> Page {
        let path_and_query = link
            .strip_prefix(PUBLIC_BASE)
            .unwrap_or_else(|| panic!("not one of our links: {link}"));
        let page = self.http("GET", path_and_query, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        let (_, query) = path_and_query.split_once('?').unwrap();
        let t = query.strip_prefix("t=").unwrap();
        let form = format!("t={t}&formToken={}", crate::form_token_in(&page.body));
        // Where the page's button posts to.
        let marker = r#"<form method="post" action=""#;
        let at = page.body.find(marker).unwrap() + marker.len();
        let action = &page.body[at..at + page.body[at..].find('"').unwrap()];
        self.http("POST", action, Some(&form)).await
    }

    /// The form token of the page at `path_and_query` (a GET), as a browser sends it back.
    pub async fn form_token(&self, path_and_query: &str) -> String {
        let page = self.http("GET", path_and_query, None).await;
        assert_eq!(page.status, 200, "{}", page.body);
        crate::form_token_in(&page.body)
    }

    async fn request(
        &self,
        method: &str,
        path_and_query: &str,
        form: Option<&str>,
        headers: &[(&str, &str)],
        client_ip: &str,
    ) -> Page {
        let (path, query) = path_and_query
            .split_once('?')
            .unwrap_or((path_and_query, ""));
        let mut event = api_gateway_event(method, path, query, client_ip);
        for (name, value) in headers {
            event["headers"][*name] = serde_json::Value::String((*value).to_owned());
        }
        let cookies: Vec<String> = self
            .cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        if !cookies.is_empty() {
            event["cookies"] = serde_json::json!(cookies);
        }
        if let Some(body) = form {
            event["body"] = serde_json::Value::String(body.to_owned());
            event["headers"]["content-type"] =
                serde_json::Value::String("application/x-www-form-urlencoded".into());
        }
        let request = lambda_http::request::from_str(&event.to_string()).unwrap();
        // API Gateway sends each route to the function that serves it (template.yaml, checked
        // against the functions table); an unknown path reaches none and answers 404 there.
        let function = signin_web::Route::of(method, path)
            .and_then(|route| {
                self.functions
                    .iter()
                    .find(|f| f.function.routes().contains(&route))
            })
            .unwrap_or_else(|| self.function("create-redirection"));
        let response = signin_runtime::http::handle_request(
            &function.app,
            function.function.routes(),
            request,
        )
        .await
        .unwrap();
        let status = response.status().as_u16();
        let headers: Vec<(String, String)> = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").to_owned()))
            .collect();
        let location = response
            .headers()
            .get("location")
            .map(|v| v.to_str().unwrap().to_owned());
        for set in response.headers().get_all("set-cookie") {
            let set = set.to_str().unwrap();
            assert!(
                set.contains("HttpOnly") && set.contains("SameSite=") && set.contains("Secure"),
                "{set}"
            );
            if let Some((k, v)) = set.split(';').next().and_then(|c| c.split_once('=')) {
                self.cookies
                    .lock()
                    .unwrap()
                    .insert(k.to_owned(), v.to_owned());
            }
        }
        let body = String::from_utf8_lossy(response.body().as_ref()).into_owned();
        Page {
            status,
            location,
            headers,
            body,
        }
    }

    /// Fills and submits the start form; returns the answer.
    pub async fn start_sign_in(&self, email: &str, consent: bool) -> Page {
        self.start_sign_in_in(email, consent, "en").await
    }

    /// Opens the start page, fills and submits its form in `language`; returns the answer.
    /// Each user comes from an address of their own.
    pub async fn start_sign_in_in(&self, email: &str, consent: bool, language: &str) -> Page {
        let token = self.form_token(&format!("/start?lang={language}")).await;
        let mut form = format!(
            "email={}&name=Ann+Smith&language={language}&country=pl&delivery=redirect&formToken={token}",
            email.replace('+', "%2B").replace('@', "%40")
        );
        if consent {
            form.push_str("&followUpConsent=yes");
        }
        let n = self
            .next_client
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let ip = format!("198.51.{}.{}", (n / 250) % 250, n % 250 + 1);
        self.request("POST", "/start", Some(&form), &[], &ip).await
    }

    /// The redirection id in a Kontomatik link (`…/signin/ID`).
    pub fn id_of(link: &str) -> RedirectionId {
        RedirectionId::parse(link.rsplit('/').next().unwrap()).unwrap()
    }

    pub async fn redirection(&self, id: &RedirectionId) -> Option<Redirection> {
        self.store.get_redirection(id).await.unwrap()
    }

    /// The user signs in on the sandbox's hosted page and is sent back; returns where to.
    pub async fn sign_in_at_bank(&self, link: &str, outcome: &str, bank: &str) -> String {
        let http = crate::browser();
        let page = http.get(link).send().await.unwrap();
        assert_eq!(page.status(), 200, "the hosted page opens");
        let back = http
            .post(link)
            .form(&[("bank", bank), ("outcome", outcome)])
            .send()
            .await
            .unwrap();
        assert_eq!(back.status(), 303);
        back.headers()["location"].to_str().unwrap().to_owned()
    }

    /// Follows Kontomatik's redirect to our callback (path and query only).
    pub async fn come_back(&self, back_url: &str) -> Page {
        let path = back_url
            .strip_prefix(PUBLIC_BASE)
            .expect("the user is sent back to our callback");
        self.http("GET", path, None).await
    }

    /// This browser's cookie `name`, if set.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.cookies.lock().unwrap().get(name).cloned()
    }

    /// Puts a cookie in this browser (e.g. one kept from an earlier session).
    pub fn set_cookie(&self, name: &str, value: &str) {
        self.cookies
            .lock()
            .unwrap()
            .insert(name.to_owned(), value.to_owned());
    }

    /// A fresh browser from here on: none of this browser's cookies (its session, its form
    /// binding), as when a person comes back from the bank in another browser.
    pub fn fresh_browser(&self) {
        self.cookies.lock().unwrap().clear();
    }

    /// Logs in as `email` in this browser through the emailed link: the log-in form (keeping
    /// `redirection`, as the callback's form does), the mail, the link's page and its button.
    /// Returns the button's answer (a 303 to the person's page).
    pub async fn log_in(&self, email: &str, redirection: Option<&str>) -> Page {
        let path = match redirection {
            Some(id) => format!("/login?redirectionId={id}"),
            None => "/login".to_owned(),
        };
        let token = self.form_token(&path).await;
        let mut form = format!(
            "email={}&language=en&formToken={token}",
            email.replace('@', "%40")
        );
        if let Some(id) = redirection {
            form.push_str(&format!("&redirectionId={id}"));
        }
        let before = self.mails().await.len();
        let sent = self.http("POST", "/login", Some(&form)).await;
        assert_eq!(sent.status, 200, "{}", sent.body);
        let mails = self.mails().await;
        let mail = mails[before..]
            .iter()
            .rev()
            .find(|m| m.to == email)
            .unwrap_or_else(|| panic!("no log-in mail to {email}"));
        let link = mail
            .text
            .split_whitespace()
            .find(|w| w.starts_with(&format!("{PUBLIC_BASE}/login/link?")))
            .unwrap_or_else(|| panic!("no log-in link in {}", mail.text))
            .to_owned();
        self.confirm_link(&link).await
    }

    /// The emails sent to this flow's users.
    pub async fn mails(&self) -> Vec<Mail> {
        recorded_raw_mail()
            .await
            .into_iter()
            .filter_map(|(_, raw)| Mail::parse(&raw))
            .filter(|m| m.to.ends_with(&self.recipient_domain))
            .collect()
    }
}

/// The API Gateway HTTP API (v2) event of one request from `client_ip`, as Lambda hands it to
/// an HTTP function (headers: host and user agent; add more, cookies and a body as needed).
pub fn api_gateway_event(
    method: &str,
    path: &str,
    query: &str,
    client_ip: &str,
) -> serde_json::Value {
    serde_json::json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {
            "host": "signin.lender.example",
            "user-agent": "e2e-test",
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "signin.lender.example",
            "domainPrefix": "signin",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": client_ip,
                "userAgent": "e2e-test"
            },
            "requestId": unique("req"),
            "routeKey": "$default",
            "stage": "$default",
            "time": "02/Nov/2026:09:00:00 +0000",
            "timeEpoch": 1_793_610_000_000u64
        },
        "isBase64Encoded": false
    })
}
