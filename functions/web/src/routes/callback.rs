//! The callback Kontomatik sends the user back to (`/kontomatik-signin?redirectionId=ID`).

use signin_core::config::ApplicantLogin;
use signin_core::copy::{self, Text};
use signin_core::usecases::CallbackView;
use signin_core::App;

use crate::errors::*;
use crate::pages::{self};
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
            &[copy::YOU_ARE_BACK_FROM_YOUR_BANK.get(lang)],
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
            copy::MY_APPLICATIONS.get(lang)
        } else {
            copy::LOG_IN_TO_FOLLOW_YOUR_APPLICATION.get(lang)
        },
        follow_href.as_str(),
    ));
    let pl = lang == "pl";
    let t = |text: Text| text.get(lang);
    let email = pages::mask_email(r.email.as_str());
    let restart = app.start_url(r.language);
    let page = |status: u16, title: &str, paras: &[&str], button: Option<(&str, &str)>| {
        WebResponse::html(status, pages::message(&company, lang, title, paras, button))
    };
    Ok(match outcome.view {
        CallbackView::Importing => page(
            200,
            t(copy::THANK_YOU_WE_ARE_IMPORTING_YOUR),
            &[
                t(copy::YOUR_BANK_CONNECTION_WORKED_WE_ARE_2),
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
            t(copy::ALL_DONE_WE_HAVE_YOUR_DATA),
            &[&if pl {
                format!("Otrzymaliśmy dane z banku i wysłaliśmy dalsze kroki na {email}.")
            } else {
                format!("We received your bank data and emailed the next steps to {email}.")
            }],
            follow,
        ),
        CallbackView::ImportFailed => page(
            200,
            t(copy::WE_COULD_NOT_FETCH_YOUR_DATA),
            &[t(copy::THE_BANK_CONNECTION_WORKED_BUT_FETCHING_2)],
            Some((t(copy::TRY_AGAIN), &restart)),
        ),
        CallbackView::SignInFailed(error) => {
            let reason = error.map(|e| e.message).unwrap_or_default();
            page(
                200,
                t(copy::THE_BANK_SIGN_IN_DID_NOT),
                &[t(copy::NOTHING_WAS_SHARED), &reason],
                Some((t(copy::TRY_AGAIN), &restart)),
            )
        }
        CallbackView::Expired => page(
            200,
            t(copy::THIS_SIGN_IN_LINK_HAS_EXPIRED),
            &[t(copy::LINKS_WORK_FOR_ONE_HOUR_START)],
            Some((t(copy::START_A_NEW_SIGN_IN), &restart)),
        ),
        CallbackView::StillOpen => page(
            200,
            t(copy::YOUR_BANK_SIGN_IN_IS_STILL),
            &[&if pl {
                format!("Gdy tylko się zakończy, zajmiemy się resztą i napiszemy na {email}.")
            } else {
                format!("As soon as it finishes we will take it from here and email {email}.")
            }],
            follow,
        ),
        CallbackView::TryLater => page(
            503,
            t(copy::WE_ARE_STILL_WAITING_FOR_THE),
            &[t(copy::NOTHING_IS_LOST_WE_WILL_CHECK)],
            None,
        )
        .with_header("retry-after", "120"),
    })
}
