//! The applicant's log-in, their page of applications and their choices.

use super::Text;

pub const PLEASE_ENTER_A_VALID_EMAIL_ADDRESS: Text = Text {
    en: "Please enter a valid email address.",
    pl: "Podaj prawidłowy adres e-mail.",
};

pub const WE_COULD_NOT_SEND_THE_EMAIL: Text = Text {
    en: "We could not send the email",
    pl: "Nie udało się wysłać wiadomości",
};

pub const PLEASE_TRY_AGAIN_IN_A_FEW_2: Text = Text {
    en: "Please try again in a few minutes.",
    pl: "Spróbuj ponownie za kilka minut.",
};

pub const LOG_IN: Text = Text {
    en: "Log in",
    pl: "Zaloguj się",
};

pub const LOGGED_IN: Text = Text {
    en: "Logged in",
    pl: "Zalogowano",
};

pub const LOGGED_OUT: Text = Text {
    en: "Logged out",
    pl: "Wylogowano",
};

pub const YOU_ARE_LOGGED_OUT_ON_EVERY: Text = Text {
    en: "You are logged out on every device.",
    pl: "Wylogowano Cię na wszystkich urządzeniach.",
};

pub const LOG_IN_TO_SEE_YOUR_APPLICATIONS: Text = Text {
    en: "Log in to see your applications",
    pl: "Zaloguj się, aby zobaczyć swoje wnioski",
};

pub const YOUR_EMAIL: Text = Text {
    en: "Your email",
    pl: "Twój e-mail",
};

pub const EMAIL_ME_A_LOG_IN_LINK: Text = Text {
    en: "Email me a log-in link",
    pl: "Wyślij mi link do logowania",
};

pub const NO_PASSWORD_WE_EMAIL_YOU_A: Text = Text {
    en: "No password: we email you a link that works once, for 15 minutes. Following it proves the address is yours.",
    pl: "Bez hasła: wyślemy Ci link, który działa raz, przez 15 minut. Otwarcie go potwierdza, że adres należy do Ciebie.",
};

pub const IF_THE_ADDRESS_IS_RIGHT_A: Text = Text {
    en: "If the address is right, a log-in link is on its way. It works once, for 15 minutes, in any browser.",
    pl: "Jeśli adres jest poprawny, link do logowania jest już w drodze. Działa raz, przez 15 minut, w dowolnej przeglądarce.",
};

pub const WAITING_FOR_YOUR_BANK_SIGN_IN: Text = Text {
    en: "Waiting for your bank sign-in",
    pl: "Czekamy na logowanie w banku",
};

pub const IF_YOU_DID_NOT_FINISH_AT: Text = Text {
    en: "If you did not finish at your bank, the link works for one hour; after that, start a new one.",
    pl: "Jeśli nie dokończyłeś logowania w banku, link działa przez godzinę; potem rozpocznij nowe.",
};

pub const IMPORTING_YOUR_DATA: Text = Text {
    en: "Importing your data",
    pl: "Pobieramy Twoje dane",
};

pub const YOUR_BANK_CONNECTION_WORKED_WE_ARE: Text = Text {
    en: "Your bank connection worked; we are fetching the data. We will email you when it is done.",
    pl: "Połączenie z bankiem się udało; pobieramy dane. Napiszemy, gdy skończymy.",
};

pub const DATA_RECEIVED: Text = Text {
    en: "Data received",
    pl: "Dane otrzymane",
};

pub const WE_HAVE_YOUR_BANK_DATA_AND: Text = Text {
    en: "We have your bank data and are reviewing it. Our decision or the next step will appear here, and we will email you.",
    pl: "Mamy dane z Twojego banku i je analizujemy. Decyzja lub kolejny krok pojawi się tutaj; wyślemy też e-mail.",
};

pub const THE_BANK_SIGN_IN_DID_NOT: Text = Text {
    en: "The bank sign-in did not finish",
    pl: "Logowanie w banku nie zostało dokończone",
};

pub const NOTHING_WAS_SHARED_YOU_CAN_TRY: Text = Text {
    en: "Nothing was shared. You can try again.",
    pl: "Nic nie zostało udostępnione. Możesz spróbować ponownie.",
};

pub const TRY_AGAIN: Text = Text {
    en: "Try again",
    pl: "Spróbuj ponownie",
};

pub const WE_COULD_NOT_FETCH_YOUR_DATA: Text = Text {
    en: "We could not fetch your data",
    pl: "Nie udało się pobrać danych",
};

pub const THE_BANK_CONNECTION_WORKED_BUT_FETCHING: Text = Text {
    en: "The bank connection worked but fetching the data failed. Please connect again.",
    pl: "Połączenie z bankiem się udało, ale pobranie danych nie. Połącz się ponownie.",
};

pub const THE_SIGN_IN_LINK_EXPIRED: Text = Text {
    en: "The sign-in link expired",
    pl: "Link do logowania wygasł",
};

pub const THE_BANK_SIGN_IN_WAS_NOT: Text = Text {
    en: "The bank sign-in was not finished in time. Start a fresh one – it only takes a minute.",
    pl: "Logowanie w banku nie zostało dokończone na czas. Rozpocznij nowe – to zajmie minutę.",
};

pub const START_A_NEW_SIGN_IN: Text = Text {
    en: "Start a new sign-in",
    pl: "Rozpocznij nowe logowanie",
};

pub const LOGGED_IN_AS: Text = Text {
    en: "Logged in as ",
    pl: "Zalogowano jako ",
};

pub const YOU_HAVE_NO_BANK_CONNECTIONS_YET: Text = Text {
    en: "You have no bank connections yet.",
    pl: "Nie masz jeszcze połączeń z bankiem.",
};

pub const BANK_CONNECTION_STARTED: Text = Text {
    en: "Bank connection started ",
    pl: "Połączenie z bankiem rozpoczęte ",
};

pub const CONNECT_ANOTHER_BANK: Text = Text {
    en: "Connect another bank",
    pl: "Połącz kolejny bank",
};

pub const WE_MAY_EMAIL_YOU_ONCE_IF: Text = Text {
    en: "We may email you once if a sign-in is not finished.",
    pl: "Możemy raz napisać, jeśli logowanie nie zostanie dokończone.",
};

pub const NO_FOLLOW_UP_EMAILS: Text = Text {
    en: "No follow-up emails",
    pl: "Bez przypomnień e-mail",
};

pub const WE_SEND_YOU_NO_FOLLOW_UP: Text = Text {
    en: "We send you no follow-up emails.",
    pl: "Nie wysyłamy Ci przypomnień e-mail.",
};

pub const EMAIL_ME_ONCE_IF_I_DON: Text = Text {
    en: "Email me once if I don't finish",
    pl: "Przypomnij mi raz, jeśli nie dokończę",
};

pub const LOG_OUT_ON_EVERY_DEVICE: Text = Text {
    en: "Log out on every device",
    pl: "Wyloguj na wszystkich urządzeniach",
};

pub const DELETE_MY_DATA: Text = Text {
    en: "Delete my data",
    pl: "Usuń moje dane",
};

pub const OUR_NEXT_STEP: Text = Text {
    en: "Our next step",
    pl: "Nasz kolejny krok",
};
