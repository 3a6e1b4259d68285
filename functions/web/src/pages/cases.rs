//! Credit staff's pages: the case list and one case with its analysis and the decision form.

use maud::{html, Markup};
use signin_core::domain::case::{CaseFlag, CaseStatus, DecisionKind};
use signin_core::domain::credit::CreditAnalysis;
use signin_core::domain::Language;
use signin_core::notify::format_amount;
use signin_core::ports::{ImportRecord, ImportSource, SignInRecord};
use signin_core::usecases::CaseFile;

use super::layout_wide;

/// One line of the case list.
pub struct CaseRow {
    pub reference: String,
    pub name: String,
    pub email: String,
    pub updated: String,
    pub flags: Vec<CaseFlag>,
    pub external: Option<String>,
}

fn staff_bar(officer: &str) -> Markup {
    html! {
        p.muted style="display:flex;gap:12px;align-items:center;flex-wrap:wrap" {
            span { "Signed in as " strong { (officer) } }
            a href="/cases" { "Applications" }
            form method="post" action="/stats/logout" style="margin:0" {
                button type="submit" id="sign-out" style="margin:0;padding:4px 10px;width:auto" { "Sign out on every device" }
            }
        }
    }
}

fn time(t: signin_core::domain::Timestamp) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// The case list, filed by `status`, latest change first; `next` is the next page's cursor.
pub fn case_list(
    company: &str,
    officer: &str,
    status: CaseStatus,
    rows: &[CaseRow],
    next: Option<&str>,
) -> String {
    layout_wide(
        "Applications",
        company,
        html! {
            (staff_bar(officer))
            h1 { "Applications" }
            nav id="filters" style="display:flex;gap:14px;flex-wrap:wrap;margin-bottom:12px" {
                @for s in CaseStatus::ALL {
                    @if s == status { strong id={ "filter-" (s.as_str()) } { (s.label()) } }
                    @else { a id={ "filter-" (s.as_str()) } href={ "/cases?status=" (s.as_str()) } { (s.label()) } }
                }
            }
            @if rows.is_empty() {
                p id="no-cases" { "No applications here." }
            } @else {
                table id="cases" style="border-collapse:collapse;width:100%;font-size:.9rem" {
                    thead { tr { th style="text-align:left" { "Applicant" } th style="text-align:left" { "Flags" } th style="text-align:left" { "Application id" } th style="text-align:left" { "Last change" } } }
                    tbody {
                        @for r in rows {
                            tr.case style="border-top:1px solid #e3e8ef" {
                                td { a href={ "/cases/view?case=" (r.reference) } { (r.name) } br; span.muted { (r.email) } }
                                td { @for f in &r.flags { span.flag style="display:inline-block;background:#fdecea;color:#8a1c13;border-radius:6px;padding:1px 6px;margin:2px" { (f.label()) } } }
                                td { (r.external.as_deref().unwrap_or("–")) }
                                td style="white-space:nowrap" { (r.updated) }
                            }
                        }
                    }
                }
            }
            @if let Some(n) = next {
                p { a id="next-page" href={ "/cases?status=" (status.as_str()) "&after=" (n) } { "Next page →" } }
            }
        },
    )
}

fn outcome(record: &SignInRecord) -> &'static str {
    use signin_core::ports::SignInOutcome as O;
    match record.outcome {
        None => "under way",
        Some(O::Succeeded) => "signed in, import under way",
        Some(O::Imported) => "imported",
        Some(O::Failed) => "failed at the bank",
        Some(O::Expired) => "expired",
        Some(O::ImportFailed) => "import failed",
    }
}

fn analysis(a: &CreditAnalysis, record: &ImportRecord) -> Markup {
    let en = Language::FIRST;
    let cur = a.currency.clone().unwrap_or_default();
    let money = |v| format_amount(en, v, &cur);
    html! {
        section.analysis data-redirection=(record.redirection_id.as_str()) {
            h3 {
                @match record.source {
                    ImportSource::DefaultImport => { "Import of " }
                    ImportSource::OwnerData => { "Kontomatik's data as of " }
                    ImportSource::AccessImport => { "New import without the applicant, " }
                }
                (time(record.imported_at)) @if let Some(bank) = &record.summary.bank { " · " (bank) }
            }
            @if a.owner_mismatch {
                p.flag id="owner-mismatch" style="background:#fdecea;color:#8a1c13;border-radius:8px;padding:10px" {
                    strong { "Owner mismatch: " } "none of the " (a.accounts_total) " accounts belongs to the applicant."
                }
            }
            table.figures style="border-collapse:collapse;font-size:.9rem" {
                tr { th style="text-align:left;padding-right:16px" { "Accounts of the applicant" } td id="accounts-of-applicant" { (a.accounts_of_applicant) " of " (a.accounts_total) @if !a.owner_checked { " (name not checked)" } } }
                tr { th style="text-align:left" { "Period" } td id="period" {
                    (a.period_from.map(|d| d.to_string()).unwrap_or("–".into())) " – " (a.period_to.map(|d| d.to_string()).unwrap_or("–".into()))
                    @if a.shorter_than_asked { strong style="color:#8a1c13" { " shorter than asked" } }
                } }
                tr { th style="text-align:left" { "Income basis" } td { (a.income_basis) } }
                tr { th style="text-align:left" { "Months with income" } td id="months-with-income" { (a.months_with_income) " of " (a.full_months) " full months" } }
                tr { th style="text-align:left" { "Income variation" } td { (a.income_variation_percent.map(|v| format!("{} %", v.round_dp(1))).unwrap_or("–".into())) } }
                tr { th style="text-align:left" { "Own transfers left out" } td id="own-transfers" { (a.own_transfers) } }
                tr { th style="text-align:left" { "Days with a negative balance" } td id="negative-days" { (a.days_with_negative_balance) } }
                tr { th style="text-align:left" { "Returned or failed payments" } td id="returned" { (a.returned_or_failed_payments) } }
                tr { th style="text-align:left" { "Loan repayments" } td id="loans" { (a.loan_repayments) " · " (money(a.loan_repaid)) } }
                tr { th style="text-align:left" { "Debt collection payments" } td id="debt-collection" { (a.debt_collection_payments) " · " (money(a.debt_collection_paid)) } }
                tr { th style="text-align:left" { "Pending (not counted)" } td id="pending" { (a.pending_transactions) " · " (money(a.pending_amount)) } }
                @if a.other_currency_transactions > 0 {
                    tr { th style="text-align:left" { "Other currencies (not counted)" } td { (a.other_currency_transactions) } }
                }
            }
            h4 { "By month" }
            table.months style="border-collapse:collapse;font-size:.9rem;width:100%" {
                thead { tr { th style="text-align:left" { "Month" } th style="text-align:right" { "Income" } th style="text-align:right" { "Spending" } th style="text-align:right" { "Balance at month end" } } }
                tbody {
                    @for m in &a.months {
                        tr.month data-month=(m.month) {
                            td { (m.month) }
                            td.income style="text-align:right" { (money(m.income)) }
                            td style="text-align:right" { (money(m.spending)) }
                            td style="text-align:right" { (m.closing_balance.map(&money).unwrap_or("–".into())) }
                        }
                    }
                }
            }
            @if !a.spending_by_label.is_empty() {
                h4 { "Spending by label" }
                ul { @for (label, sum) in &a.spending_by_label { li { (label) ": " (money(*sum)) } } }
            }
        }
    }
}

/// One case: the applicant, their sign-ins, each import's analysis, the decisions sent and the
/// form for the next, and who looked.
pub fn case_page(
    company: &str,
    officer: &str,
    file: &CaseFile,
    form_token: &str,
    refresh_token: &str,
    notice: Option<&str>,
) -> String {
    let c = &file.case;
    layout_wide(
        "Application",
        company,
        html! {
            (staff_bar(officer))
            @if let Some(n) = notice { p.ok id="notice" role="status" { (n) } }
            h1 id="applicant" { (c.name) }
            p { (c.email.as_str()) " · " strong id="case-status" data-status=(file.status.as_str()) { (file.status.label()) }
                @if let Some(x) = &c.external_application_id { " · application " span id="external-id" { (x) } }
            }
            p.muted { "Opened " (time(c.created_at)) " · last change " (time(c.updated_at)) " · kept until " (time(c.expires_at)) }
            @if !c.flags.is_empty() {
                ul id="flags" { @for f in &c.flags { li.flag style="color:#8a1c13" data-flag=(format!("{f:?}")) { (f.label()) } } }
            }
            h2 { "Sign-ins" }
            table id="sign-ins" style="border-collapse:collapse;font-size:.9rem" {
                @for s in &file.sign_ins {
                    tr { td style="padding-right:16px" { (time(s.created_at)) } td { (outcome(s)) } }
                }
            }
            h2 { "Analysis" }
            form method="post" action="/cases/refresh" id="refresh" {
                input type="hidden" name="formToken" value=(refresh_token);
                input type="hidden" name="case" value=(c.reference);
                button.secondary type="submit" id="refresh-case" style="width:auto;margin-top:0" { "Read the latest from Kontomatik" }
                p.muted { "Without the applicant: the data Kontomatik keeps for their accounts now, analysed again (once an hour at most)." }
            }
            @if file.imports.is_empty() { p id="no-analysis" { "No data imported yet." } }
            @for (i, r) in file.imports.iter().enumerate() {
                @if let Some(a) = &r.credit {
                    @if i == 0 { (analysis(a, r)) }
                    @else { details { summary { "Earlier: " (time(r.imported_at)) } (analysis(a, r)) } }
                } @else {
                    p.muted { "The import of " (time(r.imported_at)) " was made before the analysis existed." }
                }
            }
            h2 { "Next step" }
            @if !c.decisions.is_empty() {
                ol id="decisions" {
                    @for d in &c.decisions {
                        li data-kind=(d.kind.as_str()) { strong { (d.kind.label()) } " · " (time(d.at)) " · " (d.by) @if !d.message.is_empty() { br; span style="white-space:pre-wrap" { (d.message) } } }
                    }
                }
            }
            form method="post" action="/cases/decide" id="decide" {
                input type="hidden" name="formToken" value=(form_token);
                input type="hidden" name="case" value=(c.reference);
                fieldset {
                    @for k in DecisionKind::ALL {
                        label.check { input type="radio" name="kind" value=(k.as_str()) id={ "kind-" (k.as_str()) } required; span { (k.label()) } }
                    }
                }
                label for="message" { "Message to the applicant (optional but for “Message only”)" }
                textarea id="message" name="message" maxlength="2000" rows="4" style="width:100%;padding:10px;border:1px solid #cfd6e0;border-radius:8px" {}
                p.muted { "The applicant is emailed in their language (" (c.language.as_str()) ") with a link to their page, which shows it too." }
                button.primary type="submit" id="send-decision" { "Send to the applicant" }
            }
            h2 { "Who looked" }
            ul id="views" { @for v in file.views.iter().take(20) { li { (v.by) " · " (time(v.at)) } } }
        },
    )
}
