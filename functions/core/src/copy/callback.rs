//! The page a person sees back from the bank, by where their sign-in stands.

use super::Text;

pub const YOU_ARE_BACK_FROM_YOUR_BANK: Text = Text {
    en: "You are back from your bank. Log in with the address you applied with to see this application; we remember it through the log-in.",
    pl: "Wróciłeś z banku. Zaloguj się adresem, którym składałeś wniosek, aby zobaczyć ten wniosek; zapamiętamy go podczas logowania.",
};

pub const LOG_IN_TO_FOLLOW_YOUR_APPLICATION: Text = Text {
    en: "Log in to follow your application",
    pl: "Zaloguj się, aby śledzić wniosek",
};

pub const THANK_YOU_WE_ARE_IMPORTING_YOUR: Text = Text {
    en: "Thank you – we are importing your data",
    pl: "Dziękujemy – pobieramy Twoje dane",
};

pub const YOUR_BANK_CONNECTION_WORKED_WE_ARE_2: Text = Text {
    en: "Your bank connection worked. We are fetching your account history now.",
    pl: "Połączenie z bankiem się udało. Właśnie pobieramy historię rachunku.",
};

pub const ALL_DONE_WE_HAVE_YOUR_DATA: Text = Text {
    en: "All done – we have your data",
    pl: "Gotowe – mamy Twoje dane",
};

pub const THE_BANK_CONNECTION_WORKED_BUT_FETCHING_2: Text = Text {
    en: "The bank connection worked but fetching the data failed. Please sign in again to retry.",
    pl: "Połączenie z bankiem się udało, ale pobranie danych nie. Zaloguj się ponownie, aby spróbować jeszcze raz.",
};

pub const NOTHING_WAS_SHARED: Text = Text {
    en: "Nothing was shared.",
    pl: "Nic nie zostało udostępnione.",
};

pub const THIS_SIGN_IN_LINK_HAS_EXPIRED: Text = Text {
    en: "This sign-in link has expired",
    pl: "Ten link do logowania wygasł",
};

pub const LINKS_WORK_FOR_ONE_HOUR_START: Text = Text {
    en: "Links work for one hour. Start a fresh one – it only takes a minute.",
    pl: "Linki działają przez godzinę. Rozpocznij od nowa – to zajmie tylko minutę.",
};

pub const YOUR_BANK_SIGN_IN_IS_STILL: Text = Text {
    en: "Your bank sign-in is still in progress",
    pl: "Logowanie w banku wciąż trwa",
};

pub const WE_ARE_STILL_WAITING_FOR_THE: Text = Text {
    en: "We are still waiting for the bank connection service",
    pl: "Wciąż czekamy na usługę łączenia z bankiem",
};

pub const NOTHING_IS_LOST_WE_WILL_CHECK: Text = Text {
    en: "Nothing is lost: we will check again in a few minutes and email you. You can also reload this page shortly.",
    pl: "Nic nie przepadło: sprawdzimy ponownie za kilka minut i napiszemy do Ciebie. Możesz też za chwilę odświeżyć tę stronę.",
};
