//! The callback Kontomatik sends the user back to (`/kontomatik-signin?redirectionId=ID`).

use signin_core::config::ApplicantLogin;
use signin_core::usecases::CallbackView;
use signin_core::App;

use crate::errors::*;
use crate::pages::{self, tr};
use crate::request::*;
use crate::routes::account;

pub(crate) async fn callback(
    app: &App,
    req: &WebRequest,
    binding: &str,
    l: &str,
    raw_id: Option<&str>,
) -> Page {
    let company = app.settings.company_name.clone();
    // The backend work (status, session, import) is done first, whoever is looking.
    let outcome = app
        .callback(raw_id)
        .await
        .map_err(|e| callback_error(app, l, e))?;
    let r = &outcome.redirection;
    let lang = r.language.as_str();
    // What the page shows depends on who is looking: the logged-in owner, or anyone else.
    let owner = account::current_applicant(app, req)
        .await
        .is_some_and(|viewer| viewer.key == r.user_key);
    if !owner && app.settings.applicant_login == ApplicantLogin::Required {
        return Ok(account::login_form(
            app,
            binding,
            lang,
            200,
            Some(&r.id),
            &[tr(
                lang,
                "You are back from your bank. Log in with the address you applied with to see this application; we remember it through the log-in.",
                "Wróciłeś z banku. Zaloguj się adresem, którym składałeś wniosek, aby zobaczyć ten wniosek; zapamiętamy go podczas logowania.",
            )],
            None,
        ));
    }
    let follow_href = if owner {
        format!("/me?redirectionId={}", r.id)
    } else {
        format!("/login?redirectionId={}&lang={lang}", r.id)
    };
    let follow = Some((
        if owner {
            tr(lang, "My applications", "Moje wnioski")
        } else {
            tr(
                lang,
                "Log in to follow your application",
                "Zaloguj się, aby śledzić wniosek",
            )
        },
        follow_href.as_str(),
    ));
    let pl = lang == "pl";
    let t = |en, pl_text| tr(lang, en, pl_text);
    let email = pages::mask_email(r.email.as_str());
    let restart = app.start_url(r.language);
    let page = |status: u16, title: &str, paras: &[&str], button: Option<(&str, &str)>| {
        WebResponse::html(status, pages::message(&company, lang, title, paras, button))
    };
    Ok(match outcome.view {
        CallbackView::Importing => page(
            200,
            t("Thank you – we are importing your data", "Dziękujemy – pobieramy Twoje dane"),
            &[
                t("Your bank connection worked. We are fetching your account history now.", "Połączenie z bankiem się udało. Właśnie pobieramy historię rachunku."),
                &if pl {
                    format!("Możesz zamknąć tę stronę: gdy skończymy, napiszemy na {email}.")
                } else {
                    format!("You can close this page: we will email {email} when it is done.")
                },
            ],
            follow,
        ),
        CallbackView::Imported => page(
            200,
            t("All done – we have your data", "Gotowe – mamy Twoje dane"),
            &[&if pl {
                format!("Otrzymaliśmy dane z banku i wysłaliśmy dalsze kroki na {email}.")
            } else {
                format!("We received your bank data and emailed the next steps to {email}.")
            }],
            follow,
        ),
        CallbackView::ImportFailed => page(
            200,
            t("We could not fetch your data", "Nie udało się pobrać danych"),
            &[t("The bank connection worked but fetching the data failed. Please sign in again to retry.", "Połączenie z bankiem się udało, ale pobranie danych nie. Zaloguj się ponownie, aby spróbować jeszcze raz.")],
            Some((t("Try again", "Spróbuj ponownie"), &restart)),
        ),
        CallbackView::SignInFailed(error) => {
            let reason = error.map(|e| e.message).unwrap_or_default();
            page(
                200,
                t("The bank sign-in did not finish", "Logowanie w banku nie zostało dokończone"),
                &[t("Nothing was shared.", "Nic nie zostało udostępnione."), &reason],
                Some((t("Try again", "Spróbuj ponownie"), &restart)),
            )
        }
        CallbackView::Expired => page(
            200,
            t("This sign-in link has expired", "Ten link do logowania wygasł"),
            &[t("Links work for one hour. Start a fresh one – it only takes a minute.", "Linki działają przez godzinę. Rozpocznij od nowa – to zajmie tylko minutę.")],
            Some((t("Start a new sign-in", "Rozpocznij nowe logowanie"), &restart)),
        ),
        CallbackView::StillOpen => page(
            200,
            t("Your bank sign-in is still in progress", "Logowanie w banku wciąż trwa"),
            &[&if pl {
                format!("Gdy tylko się zakończy, zajmiemy się resztą i napiszemy na {email}.")
            } else {
                format!("As soon as it finishes we will take it from here and email {email}.")
            }],
            follow,
        ),
        CallbackView::TryLater => page(
            503,
            t("We are still waiting for the bank connection service", "Wciąż czekamy na usługę łączenia z bankiem"),
            &[t("Nothing is lost: we will check again in a few minutes and email you. You can also reload this page shortly.", "Nic nie przepadło: sprawdzimy ponownie za kilka minut i napiszemy do Ciebie. Możesz też za chwilę odświeżyć tę stronę.")],
            None,
        )
        .with_header("retry-after", "120"),
    })
}
