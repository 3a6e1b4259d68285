//! What went wrong, and the pages every room shares (not found, forbidden, limits, links).

use super::Text;

pub const PLEASE_WAIT_A_LITTLE: Text = Text {
    en: "Please wait a little",
    pl: "Prosimy chwilę poczekać",
};

pub const NOTHING_WAS_SENT: Text = Text {
    en: "Nothing was sent.",
    pl: "Nic nie zostało wysłane.",
};

pub const SOMETHING_WENT_WRONG_ON_OUR_SIDE: Text = Text {
    en: "Something went wrong on our side",
    pl: "Coś poszło nie tak po naszej stronie",
};

pub const PLEASE_TRY_AGAIN_IN_A_MOMENT: Text = Text {
    en: "Please try again in a moment.",
    pl: "Spróbuj ponownie za chwilę.",
};

pub const PLEASE_TRY_AGAIN_IN_A_FEW: Text = Text {
    en: "Please try again in a few minutes",
    pl: "Spróbuj ponownie za kilka minut",
};

pub const START_AGAIN: Text = Text {
    en: "Start again",
    pl: "Zacznij od nowa",
};

pub const THIS_LINK_HAS_EXPIRED: Text = Text {
    en: "This link has expired",
    pl: "Ten link wygasł",
};

pub const YOU_CAN_START_A_NEW_SIGN: Text = Text {
    en: "You can start a new sign-in from our start page.",
    pl: "Nowe logowanie możesz rozpocząć na naszej stronie startowej.",
};

pub const THIS_LINK_IS_NOT_VALID: Text = Text {
    en: "This link is not valid",
    pl: "Ten link jest nieprawidłowy",
};

pub const IT_MAY_HAVE_BEEN_CUT_OFF: Text = Text {
    en: "It may have been cut off or changed. You can start a new sign-in from our start page.",
    pl: "Mógł zostać ucięty lub zmieniony. Nowe logowanie możesz rozpocząć na naszej stronie startowej.",
};

pub const PLEASE_TRY_AGAIN_IN_A_MINUTE: Text = Text {
    en: "Please try again in a minute",
    pl: "Spróbuj ponownie za minutę",
};

pub const THE_BANK_CONNECTION_SERVICE_IS_BUSY: Text = Text {
    en: "The bank connection service is busy right now.",
    pl: "Usługa łączenia z bankiem jest teraz zajęta.",
};

pub const FOR_YOUR_SAFETY_PLEASE_CHECK_THE: Text = Text {
    en: "For your safety, please check the form and send it again.",
    pl: "Dla bezpieczeństwa sprawdź formularz i wyślij go ponownie.",
};

pub const THIS_PAGE_WAS_OPEN_FOR_A: Text = Text {
    en: "This page was open for a long time, so for your safety the form has expired. Check it and send it again.",
    pl: "Strona była długo otwarta, więc dla bezpieczeństwa formularz wygasł. Sprawdź go i wyślij ponownie.",
};

pub const PLEASE_LOG_IN_FIRST_WE_START: Text = Text {
    en: "Please log in first: we start a bank connection only for a proven address.",
    pl: "Najpierw się zaloguj: połączenie z bankiem rozpoczynamy tylko dla potwierdzonego adresu.",
};

pub const THE_BANK_CONNECTION_SERVICE_IS_BUSY_2: Text = Text {
    en: "The bank connection service is busy right now. Please try again in a minute.",
    pl: "Usługa łączenia z bankiem jest teraz zajęta. Spróbuj ponownie za minutę.",
};

pub const SOMETHING_WENT_WRONG_ON_OUR_SIDE_2: Text = Text {
    en: "Something went wrong on our side. Please try again.",
    pl: "Coś poszło nie tak po naszej stronie. Spróbuj ponownie.",
};

pub const THE_ADDRESS_IS_MISSING_A_VALID: Text = Text {
    en: "The address is missing a valid sign-in reference. You can start a new sign-in.",
    pl: "W adresie brakuje prawidłowego identyfikatora logowania. Możesz rozpocząć nowe logowanie.",
};

pub const WE_DON_T_KNOW_THIS_SIGN: Text = Text {
    en: "We don't know this sign-in",
    pl: "Nie znamy tego logowania",
};

pub const IT_MAY_BE_MORE_THAN_A: Text = Text {
    en: "It may be more than a day old. You can start a new one.",
    pl: "Mogło minąć ponad 24 godziny. Możesz rozpocząć nowe.",
};

pub const YOUR_SIGN_IN_IS_NOT_LOST: Text = Text {
    en: "Your sign-in is not lost. Please reload this page in a moment.",
    pl: "Twoje logowanie nie przepadło. Odśwież tę stronę za chwilę.",
};

pub const THIS_PAGE_WAS_OPEN_TOO_LONG: Text = Text {
    en: "This page was open too long",
    pl: "Strona była zbyt długo otwarta",
};

pub const FOR_YOUR_SAFETY_THE_BUTTON_HAS: Text = Text {
    en: "For your safety the button has expired. Open the link from your email again.",
    pl: "Dla bezpieczeństwa przycisk wygasł. Otwórz ponownie link z wiadomości e-mail.",
};

pub const WE_COULD_NOT_REACH_THE_BANK: Text = Text {
    en: "We could not reach the bank connection service to delete your data there too, so nothing was deleted yet. Please open the link from your email again shortly.",
    pl: "Nie udało się połączyć z usługą łączenia z bankiem, by usunąć dane także tam, więc niczego jeszcze nie usunięto. Otwórz ponownie link z wiadomości za chwilę.",
};

pub const WE_COULD_NOT_FINISH_DELETING_YOUR: Text = Text {
    en: "We could not finish deleting your data just now. Please open the link from your email again shortly.",
    pl: "Nie udało się teraz dokończyć usuwania Twoich danych. Otwórz ponownie link z wiadomości za chwilę.",
};

pub const PAGE_NOT_FOUND: Text = Text {
    en: "Page not found",
    pl: "Nie ma takiej strony",
};

pub const THERE_IS_NO_PAGE_AT_THIS: Text = Text {
    en: "There is no page at this address.",
    pl: "Pod tym adresem nie ma strony.",
};

pub const START: Text = Text {
    en: "Start",
    pl: "Start",
};

pub const THIS_FORM_DID_NOT_COME_FROM: Text = Text {
    en: "This form did not come from our page",
    pl: "Ten formularz nie pochodzi z naszej strony",
};

pub const FOR_YOUR_SAFETY_WE_ONLY_ACCEPT: Text = Text {
    en: "For your safety we only accept forms filled in on our own pages. Nothing was sent or saved. Please open the page and fill it in there.",
    pl: "Dla Twojego bezpieczeństwa przyjmujemy tylko formularze wypełnione na naszych stronach. Nic nie zostało wysłane ani zapisane. Otwórz stronę i wypełnij formularz na niej.",
};

pub const OPEN_THE_START_PAGE: Text = Text {
    en: "Open the start page",
    pl: "Otwórz stronę startową",
};

pub const THIS_FORM_WAS_ALREADY_SENT: Text = Text {
    en: "This form was already sent",
    pl: "Ten formularz został już wysłany",
};

pub const WE_RECEIVED_IT_THE_FIRST_TIME: Text = Text {
    en: "We received it the first time. If you were not taken to your bank, start again from the start page.",
    pl: "Otrzymaliśmy go za pierwszym razem. Jeśli nie nastąpiło przejście do banku, zacznij od nowa na stronie startowej.",
};

pub const NOT_ALLOWED: Text = Text {
    en: "Not allowed",
    pl: "Niedozwolone",
};

pub const THIS_PAGE_DOES_NOT_TAKE_THAT: Text = Text {
    en: "This page does not take that kind of request.",
    pl: "Ta strona nie przyjmuje takiego żądania.",
};
