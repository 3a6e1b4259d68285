//! The hosted sign-in page: where a person (or a browser test) plays the bank customer. Plain
//! HTML forms, no JavaScript, escaped output, readable on a phone.

use maud::{html, Markup, DOCTYPE};

use crate::sim::{Redirection, BANKS};

const STYLE: &str = r#"
*{box-sizing:border-box}
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;background:#eef1f5;color:#1c2330}
header{background:#20324f;color:#fff;padding:14px 20px;font-weight:600;letter-spacing:.02em}
header small{font-weight:400;opacity:.75;margin-left:.5em}
main{max-width:480px;margin:24px auto;padding:0 16px}
.card{background:#fff;border-radius:12px;padding:20px;box-shadow:0 1px 3px rgba(0,0,0,.12)}
h1{font-size:1.3rem;margin:0 0 .6em}
p{line-height:1.45}
fieldset{border:0;padding:0;margin:0 0 16px}
legend{font-weight:600;margin-bottom:8px}
label.bank{display:flex;gap:10px;align-items:center;padding:12px;border:1px solid #cfd6e0;border-radius:8px;margin-bottom:8px;cursor:pointer}
label.bank:has(input:checked){border-color:#2b6cb0;background:#f0f6ff}
.actions{display:flex;flex-direction:column;gap:10px}
button,.button{display:block;width:100%;padding:14px;font-size:1rem;border-radius:8px;border:0;cursor:pointer;text-align:center;text-decoration:none}
.primary{background:#2b6cb0;color:#fff}
.secondary{background:#e3e8ef;color:#1c2330}
.danger{background:#fff;color:#b42318;border:1px solid #f1b3ad}
.meta{font-size:.85rem;color:#5b6576}
code{font-size:.85rem;word-break:break-all}
"#;

fn layout(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " – Kontomatik sandbox" }
                style { (maud::PreEscaped(STYLE)) }
            }
            body {
                header { "Kontomatik" small { "sandbox" } }
                main { div.card { (body) } }
            }
        }
    }
}

/// The bank choice and the outcome buttons.
pub fn signin(r: &Redirection) -> Markup {
    layout(
        "Connect your bank",
        html! {
            h1 { "Connect your bank account" }
            p.meta {
                "Country: " strong { (r.country.to_uppercase()) }
                " · language: " strong { (r.language) }
                " · access: " strong { (r.access_mode) }
            }
            form method="post" action={ "/signin/" (r.id) } {
                fieldset {
                    legend { "Choose your bank" }
                    @for (i, b) in BANKS.iter().enumerate() {
                        label.bank {
                            input type="radio" name="bank" value=(b.id) checked[i == 0];
                            span { (b.name) }
                        }
                    }
                }
                div.actions {
                    button.primary type="submit" name="outcome" value="success" id="sign-in-success" {
                        "Sign in at the bank (succeeds)"
                    }
                    button.secondary type="submit" name="outcome" value="fail_login" id="sign-in-fail" {
                        "Enter a wrong password (fails)"
                    }
                    button.danger type="submit" name="outcome" value="cancel" id="sign-in-cancel" {
                        "Cancel"
                    }
                    a.button.secondary href={ "/signin/" (r.id) "/left" } id="walk-away" {
                        "Walk away (close without finishing)"
                    }
                }
            }
        },
    )
}

/// A page with a message and an optional button.
pub fn message(title: &str, text: &str, button: Option<(&str, &str)>) -> Markup {
    layout(
        title,
        html! {
            h1 { (title) }
            p { (text) }
            @if let Some((label, href)) = button {
                div.actions { a.button.primary href=(href) id="continue" { (label) } }
            }
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sim::Status;
    use chrono::Utc;

    #[test]
    fn pages_escape_what_they_show() {
        let r = Redirection {
            id: "abc".into(),
            redirect_uri: "https://x".into(),
            owner_external_id: None,
            language: "<b>en</b>".into(),
            country: "pl".into(),
            access_mode: "single".into(),
            created_at: Utc::now(),
            status: Status::InProgress,
            status_changed_at: Utc::now(),
            changes: 1,
            last_read_at: None,
            changes_at_last_read: 0,
        };
        let page = signin(&r).into_string();
        assert!(page.contains("&lt;b&gt;en&lt;/b&gt;"));
        assert!(page.contains(r#"action="/signin/abc""#));
        assert!(page.contains("FlakyBank"));
        let m = message("<x>", "a & b", Some(("Back", "https://x/?a=1&b=2"))).into_string();
        assert!(m.contains("&lt;x&gt;") && m.contains("a &amp; b"));
        assert!(m.contains(r#"href="https://x/?a=1&amp;b=2""#));
    }
}
