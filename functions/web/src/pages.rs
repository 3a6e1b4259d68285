//! Server-rendered pages: escaped templates (maud), no JavaScript, usable on a phone.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use signin_core::copy::{self, Text};
use signin_core::domain::Language;

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#f4f6f9;color:#1c2330;line-height:1.45}
header{background:#ffffff;border-bottom:1px solid #e3e8ef;padding:14px 20px;font-weight:700;color:#20324f}
main{max-width:520px;margin:24px auto;padding:0 16px}
.card{background:#fff;border-radius:12px;padding:22px;box-shadow:0 1px 3px rgba(0,0,0,.1)}
h1{font-size:1.35rem;margin:0 0 .5em}
label{display:block;font-weight:600;margin:14px 0 6px}
input[type=text],input[type=email],select{width:100%;padding:12px;font-size:1rem;border:1px solid #cfd6e0;border-radius:8px;background:#fff}
.check{display:flex;gap:10px;align-items:flex-start;font-weight:400;margin-top:16px}
.check input{margin-top:4px}
.row{display:flex;gap:12px}.row>div{flex:1}
button,.button{display:block;width:100%;margin-top:20px;padding:14px;font-size:1rem;border-radius:8px;border:0;cursor:pointer;text-align:center;text-decoration:none;font-weight:600}
.primary{background:#2b6cb0;color:#fff}
.secondary{background:#e3e8ef;color:#1c2330}
.error{background:#fdecea;color:#8a1c13;border-radius:8px;padding:12px;margin-bottom:12px}
.ok{color:#1e6b3a}
.muted{color:#5b6576;font-size:.9rem}
fieldset{border:0;padding:0;margin:0}
"#;

/// Security headers every page carries.
pub const SECURITY_HEADERS: &[(&str, &str)] = &[
    (
        "content-security-policy",
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; base-uri 'none'; frame-ancestors 'none'",
    ),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "no-referrer"),
    ("cache-control", "no-store"),
];

mod cases;
pub use cases::{case_list, case_page, CaseRow};

pub fn layout(title: &str, company: &str, lang: &str, body: Markup) -> String {
    layout_in("", title, company, lang, body)
}

/// A staff page (English), wide enough for tables.
pub fn layout_wide(title: &str, company: &str, body: Markup) -> String {
    layout_in("max-width:980px", title, company, "en", body)
}

fn layout_in(width: &str, title: &str, company: &str, lang: &str, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang=(lang) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – " (company) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header { (company) }
                main style=[(!width.is_empty()).then_some(width)] { div.card { (body) } }
            }
        }
    }
    .into_string()
}

/// The values a start form is redisplayed with.
#[derive(Debug, Clone, Default)]
pub struct StartValues {
    pub email: String,
    pub name: String,
    pub consent: bool,
    pub language: String,
    pub country: String,
    /// The countries the form offers (`ALLOWED_COUNTRIES`).
    pub countries: Vec<&'static str>,
    /// The logged-in person's verified address: shown, not editable.
    pub email_locked: bool,
}

pub fn start(company: &str, values: &StartValues, error: Option<&str>, form_token: &str) -> String {
    let lang = if values.language.is_empty() {
        "en"
    } else {
        values.language.as_str()
    };
    let t = |text: Text| text.get(lang);
    layout(
        t(copy::CONNECT_YOUR_BANK),
        company,
        lang,
        html! {
            h1 { (t(copy::SHARE_YOUR_BANK_DATA_SECURELY)) }
            p.muted { (t(copy::WE_USE_KONTOMATIK_TO_READ_YOUR)) }
            @if let Some(e) = error { div.error role="alert" id="form-error" { (e) } }
            form method="post" action="/start" {
                input type="hidden" name="formToken" value=(form_token);
                label for="email" { (t(copy::EMAIL)) }
                input type="email" id="email" name="email" required autocomplete="email" maxlength="254" value=(values.email) readonly[values.email_locked];
                @if values.email_locked {
                    p.muted { (t(copy::YOU_ARE_LOGGED_IN_WITH_THIS)) a href="/me" { (t(copy::MY_APPLICATIONS)) } }
                }
                label for="name" { (t(copy::NAME)) }
                input type="text" id="name" name="name" required autocomplete="name" maxlength="100" value=(values.name);
                div.row {
                    div {
                        label for="language" { (t(copy::LANGUAGE)) }
                        select id="language" name="language" {
                            @for l in Language::SUPPORTED {
                                option value=(l) selected[*l == values.language] { (l) }
                            }
                        }
                    }
                    div {
                        label for="country" { (t(copy::BANK_COUNTRY)) }
                        select id="country" name="country" {
                            @for c in &values.countries {
                                option value=(c) selected[*c == values.country] { (c.to_uppercase()) }
                            }
                        }
                    }
                }
                label.check {
                    input type="checkbox" name="followUpConsent" value="yes" checked[values.consent];
                    span { (t(copy::IF_I_DON_T_FINISH_YOU)) }
                }
                button.primary type="submit" name="delivery" value="redirect" id="start" { (t(copy::CONTINUE_TO_MY_BANK)) }
                button.secondary type="submit" name="delivery" value="email" id="email-link" { (t(copy::EMAIL_ME_THE_LINK_INSTEAD)) }
            }
        },
    )
}

/// The fallback body of the 303 to Kontomatik (for clients that do not follow it).
pub fn redirecting(company: &str, lang: &str, link: &str) -> String {
    let t = |text: Text| text.get(lang);
    layout(
        t(copy::TAKING_YOU_TO_YOUR_BANK),
        company,
        lang,
        html! {
            h1 { (t(copy::TAKING_YOU_TO_YOUR_BANK_2)) }
            p { (t(copy::IF_NOTHING_HAPPENS_USE_THE_BUTTON)) }
            a.button.primary href=(link) id="go" { (t(copy::CONTINUE_TO_KONTOMATIK)) }
        },
    )
}

pub fn link_emailed(company: &str, lang: &str, masked_email: &str) -> String {
    let t = |text: Text| text.get(lang);
    layout(
        t(copy::CHECK_YOUR_INBOX),
        company,
        lang,
        html! {
            h1 { (t(copy::CHECK_YOUR_INBOX)) }
            p {
                (t(copy::WE_SENT_A_LINK_TO))
                strong { (masked_email) }
                (t(copy::IT_WORKS_FOR_ONE_HOUR_IN))
            }
        },
    )
}

/// The page AWS WAF answers (429) to a client over its rate at the edge (`infra/edge-waf.yaml`
/// embeds these very bytes; a test checks). Self-contained, both languages, under WAF's 4 KB:
/// it says that a sign-in at the bank is not lost and that reloading the same address (which
/// still holds the callback's `redirectionId`) finishes it.
pub fn throttled_page() -> String {
    let style = "font-family:system-ui,sans-serif;max-width:36em;margin:3em auto;padding:0 1em;line-height:1.5";
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { "Too many requests" }
            }
            body style=(style) {
                h1 { "Too many requests" }
                p { "Too many requests came from your network in the last few minutes. Nothing is lost: if you were coming back from your bank, your sign-in is saved there." }
                p { "Wait a minute, then reload this page (keep its address as it is)." }
                hr;
                h1 lang="pl" { "Zbyt wiele żądań" }
                p lang="pl" { "Z Twojej sieci przyszło w ostatnich minutach zbyt wiele żądań. Nic nie przepadło: jeśli wracasz z banku, Twoje logowanie jest tam zapisane." }
                p lang="pl" { "Odczekaj minutę i odśwież tę stronę (bez zmiany jej adresu)." }
            }
        }
    }
    .into_string()
}

/// A page with a message and an optional button.
pub fn message(
    company: &str,
    lang: &str,
    title: &str,
    paragraphs: &[&str],
    button: Option<(&str, &str)>,
) -> String {
    layout(
        title,
        company,
        lang,
        html! {
            h1 id="outcome" { (title) }
            @for p in paragraphs { p { (p) } }
            @if let Some((label, href)) = button {
                a.button.primary href=(href) id="next" { (label) }
            }
        },
    )
}

/// A confirmation page whose button POSTs the link's token back, with the page's form token.
#[allow(clippy::too_many_arguments)]
pub fn confirm(
    company: &str,
    lang: &str,
    title: &str,
    text: &str,
    action: &str,
    token: &str,
    form_token: &str,
    button: &str,
) -> String {
    layout(
        title,
        company,
        lang,
        html! {
            h1 { (title) }
            p { (text) }
            form method="post" action=(action) {
                input type="hidden" name="t" value=(token);
                input type="hidden" name="formToken" value=(form_token);
                button.primary type="submit" id="confirm" { (button) }
            }
        },
    )
}

/// Marketing's sign-in: an email field; a link comes by email.
pub fn staff_login(company: &str, form_token: &str, note: Option<&str>) -> String {
    layout(
        "Staff sign-in",
        company,
        "en",
        html! {
            h1 { "Staff sign-in" }
            @if let Some(n) = note { p.ok role="status" id="login-note" { (n) } }
            p.muted { "The funnel (marketing) and the applications (credit). Enter your work address; if it is on the staff list, a one-time sign-in link arrives by email (valid 15 minutes)." }
            form method="post" action="/stats/login" {
                input type="hidden" name="formToken" value=(form_token);
                label for="email" { "Work email" }
                input type="email" id="email" name="email" required autocomplete="email" maxlength="254";
                button.primary type="submit" id="send-link" { "Email me a sign-in link" }
            }
        },
    )
}

/// One row of the funnel page.
pub struct FunnelRow {
    pub day: String,
    /// Counts in the order of [`FUNNEL_COLUMNS`].
    pub counts: Vec<u64>,
}

/// The funnel's columns, as shown.
pub const FUNNEL_COLUMNS: &[&str] = &[
    "started",
    "returned",
    "success",
    "error",
    "expired",
    "imported",
    "follow-ups",
    "recovered",
    "decided",
];

/// `imported / started` in percent; none without starts.
pub fn conversion_percent(started: u64, imported: u64) -> Option<f64> {
    (started > 0).then(|| imported as f64 * 100.0 / started as f64)
}

/// [`conversion_percent`] as shown: one decimal, `–` without starts.
pub fn conversion(started: u64, imported: u64) -> String {
    conversion_percent(started, imported).map_or("–".into(), |p| format!("{p:.1} %"))
}

/// The funnel page: a chart (started and imported per day, inline SVG: no script), the table,
/// the totals and a CSV download.
pub fn funnel(company: &str, days: u32, rows: &[FunnelRow], totals: &[u64]) -> String {
    layout(
        "Sign-in funnel",
        company,
        "en",
        html! {
            h1 { "Sign-in funnel" }
            p {
                "Last " (days) " days · "
                @for d in [7u32, 30, 90] {
                    @if d == days { strong { (d) " days" } " " } @else { a href={ "/stats?days=" (d) } { (d) " days" } " " }
                }
                "· " a href={ "/stats.csv?days=" (days) } id="csv" { "Download CSV" }
            }
            (funnel_section(rows, totals))
            form method="post" action="/stats/logout" {
                button type="submit" id="sign-out" { "Sign out on every device" }
            }
        },
    )
}

/// The funnel's conversion line, chart and table (the marketing page and the operator view).
pub fn funnel_section(rows: &[FunnelRow], totals: &[u64]) -> Markup {
    let max = rows
        .iter()
        .map(|r| r.counts[0].max(r.counts[5]))
        .max()
        .unwrap_or(0)
        .max(1);
    let (w, h) = (480.0_f64, 160.0_f64);
    let n = rows.len().max(1) as f64;
    let slot = w / n;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let y = |v: u64| h - (v as f64 / max as f64) * (h - 10.0);
    html! {
        p id="conversion" {
            "Started → imported: " strong { (conversion(totals[0], totals[5])) }
            " · recovered by follow-ups: " strong { (totals[7]) }
        }
        svg id="chart" width="100%" viewBox={ "0 0 " (w) " " (h + 20.0) } role="img" aria-label="Started and imported per day" {
            @for (i, r) in rows.iter().enumerate() {
                rect x=(i as f64 * slot) y=(y(r.counts[0])) width=(bar) height=(h - y(r.counts[0])) fill="#9bb7d8" {}
                rect x=(i as f64 * slot + bar + 1.0) y=(y(r.counts[5])) width=(bar) height=(h - y(r.counts[5])) fill="#2b6cb0" {}
            }
            text x="0" y=(h + 16.0) font-size="11" fill="#5b6576" { "light: started · dark: imported · highest day " (max) }
        }
        div style="overflow-x:auto" {
            table id="funnel" style="border-collapse:collapse;font-size:.85rem;width:100%" {
                thead { tr {
                    th style="text-align:left" { "day" }
                    @for c in FUNNEL_COLUMNS { th style="text-align:right;padding:0 4px" { (c) } }
                    th style="text-align:right" { "conversion" }
                } }
                tbody {
                    @for r in rows.iter().rev() {
                        tr {
                            td style="white-space:nowrap" { (r.day) }
                            @for v in &r.counts { td style="text-align:right;padding:0 4px" { (v) } }
                            td style="text-align:right" { (conversion(r.counts[0], r.counts[5])) }
                        }
                    }
                    tr style="font-weight:700" {
                        td { "total" }
                        @for v in totals { td style="text-align:right;padding:0 4px" { (v) } }
                        td style="text-align:right" { (conversion(totals[0], totals[5])) }
                    }
                }
            }
        }
    }
}

/// `ann@example.com` → `a***@example.com`.
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => "***".into(),
    }
}

#[cfg(test)]
mod tests {

    /// The page WAF serves is this one, byte for byte (YAML's single-quoted `''` is one `'`),
    /// and within WAF's limit for a custom response body (4 KB).
    #[test]
    fn the_edge_serves_this_throttled_page() {
        let template = include_str!("../../../infra/edge-waf.yaml");
        let line = template
            .lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix("Content: '"))
            .expect("the throttled page in infra/edge-waf.yaml");
        let served = line.strip_suffix('\'').unwrap().replace("''", "'");
        let page = throttled_page();
        assert_eq!(
            served,
            page,
            "infra/edge-waf.yaml must embed:\n{}",
            page.replace('\'', "''")
        );
        assert!(page.len() <= 4096, "{} bytes", page.len());
        assert!(
            !page.contains("src=") && !page.contains("href="),
            "self-contained"
        );
    }
    use super::*;

    #[test]
    fn forms_escape_user_values() {
        let v = StartValues {
            email: "\"><script>alert(1)</script>".into(),
            name: "<b>Ann</b>".into(),
            consent: true,
            language: "pl".into(),
            country: "de".into(),
            countries: vec!["pl", "de"],
            email_locked: false,
        };
        let page = start("Lender & Co", &v, Some("<oops>"), "tok\"en");
        assert!(page.contains(r#"name="formToken" value="tok&quot;en""#));
        assert!(!page.contains("<script>alert"));
        assert!(page.contains("&lt;b&gt;Ann&lt;/b&gt;"));
        assert!(page.contains("&lt;oops&gt;"));
        assert!(page.contains("Lender &amp; Co"));
        assert!(page.contains(r#"<option value="pl" selected>"#));
        assert!(page.contains(r#"<option value="de" selected>"#));
        assert!(
            !page.contains(r#"<option value="cz""#),
            "only the countries of operation are offered"
        );
        assert!(page.contains("checked"));
    }

    #[test]
    fn emails_are_masked() {
        assert_eq!(mask_email("ann@example.com"), "a***@example.com");
        assert_eq!(mask_email("x"), "***");
    }
}
