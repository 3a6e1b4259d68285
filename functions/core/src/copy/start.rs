//! The start form and what follows it (the redirect, the emailed link).

use super::Text;

pub const CONNECT_YOUR_BANK: Text = Text {
    en: "Connect your bank",
    pl: "Połącz konto bankowe",
};

pub const SHARE_YOUR_BANK_DATA_SECURELY: Text = Text {
    en: "Share your bank data securely",
    pl: "Bezpiecznie udostępnij dane z banku",
};

pub const WE_USE_KONTOMATIK_TO_READ_YOUR: Text = Text {
    en: "We use Kontomatik to read your account history once, with your consent at your bank. We never see your bank password.",
    pl: "Korzystamy z Kontomatik, aby jednorazowo odczytać historię rachunku, za Twoją zgodą wyrażoną w banku. Nigdy nie widzimy Twojego hasła do banku.",
};

pub const EMAIL: Text = Text {
    en: "Email",
    pl: "E-mail",
};

pub const YOU_ARE_LOGGED_IN_WITH_THIS: Text = Text {
    en: "You are logged in with this address. ",
    pl: "Jesteś zalogowany tym adresem. ",
};

pub const MY_APPLICATIONS: Text = Text {
    en: "My applications",
    pl: "Moje wnioski",
};

pub const NAME: Text = Text {
    en: "Name",
    pl: "Imię i nazwisko",
};

pub const LANGUAGE: Text = Text {
    en: "Language",
    pl: "Język",
};

pub const BANK_COUNTRY: Text = Text {
    en: "Bank country",
    pl: "Kraj banku",
};

pub const IF_I_DON_T_FINISH_YOU: Text = Text {
    en: "If I don't finish, you may email me once with a link to continue.",
    pl: "Jeśli nie dokończę, możecie raz wysłać mi e-mail z linkiem, by kontynuować.",
};

pub const CONTINUE_TO_MY_BANK: Text = Text {
    en: "Continue to my bank",
    pl: "Przejdź do banku",
};

pub const EMAIL_ME_THE_LINK_INSTEAD: Text = Text {
    en: "Email me the link instead",
    pl: "Wyślij mi link e-mailem",
};

pub const TAKING_YOU_TO_YOUR_BANK: Text = Text {
    en: "Taking you to your bank",
    pl: "Przekierowanie do banku",
};

pub const TAKING_YOU_TO_YOUR_BANK_2: Text = Text {
    en: "Taking you to your bank…",
    pl: "Przekierowujemy do banku…",
};

pub const IF_NOTHING_HAPPENS_USE_THE_BUTTON: Text = Text {
    en: "If nothing happens, use the button.",
    pl: "Jeśli nic się nie dzieje, użyj przycisku.",
};

pub const CONTINUE_TO_KONTOMATIK: Text = Text {
    en: "Continue to Kontomatik",
    pl: "Przejdź do Kontomatik",
};

pub const CHECK_YOUR_INBOX: Text = Text {
    en: "Check your inbox",
    pl: "Sprawdź skrzynkę",
};

pub const WE_SENT_A_LINK_TO: Text = Text {
    en: "We sent a link to ",
    pl: "Wysłaliśmy link na adres ",
};

pub const IT_WORKS_FOR_ONE_HOUR_IN: Text = Text {
    en: ". It works for one hour, in any browser.",
    pl: ". Działa przez godzinę, w dowolnej przeglądarce.",
};

pub const TOO_MUCH_DATA: Text = Text {
    en: "Too much data",
    pl: "Za dużo danych",
};

pub const THE_FORM_SENT_MORE_DATA_THAN: Text = Text {
    en: "The form sent more data than it can hold.",
    pl: "Formularz wysłał więcej danych, niż może pomieścić.",
};

pub const BACK: Text = Text {
    en: "Back",
    pl: "Wróć",
};

pub const THE_FORM_COULD_NOT_BE_READ: Text = Text {
    en: "The form could not be read. Please fill it in again.",
    pl: "Nie udało się odczytać formularza. Wypełnij go ponownie.",
};
