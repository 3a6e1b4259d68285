//! The pages of the signed links in emails: resume, unsubscribe, erase.

use super::Text;

pub const YOU_ARE_UNSUBSCRIBED: Text = Text {
    en: "You are unsubscribed",
    pl: "Wypisano Cię",
};

pub const YOU_WILL_NOT_GET_REMINDER_EMAILS: Text = Text {
    en: "You will not get reminder emails from us any more. To change your mind, log in and turn reminders on in My applications.",
    pl: "Nie będziesz już dostawać od nas przypomnień. Aby zmienić zdanie, zaloguj się i włącz przypomnienia w Moich wnioskach.",
};

pub const WE_HOLD_NO_DATA_ABOUT_YOU: Text = Text {
    en: "We hold no data about you (it may have been deleted already).",
    pl: "Nie przechowujemy żadnych Twoich danych (mogły już zostać usunięte).",
};

pub const WE_DELETED_YOUR_DETAILS_YOUR_SIGN: Text = Text {
    en: "We deleted your details, your sign-ins and the bank data you shared, and Kontomatik was asked to delete theirs.",
    pl: "Usunęliśmy Twoje dane, logowania i udostępnione dane z banku, a Kontomatik otrzymał prośbę o usunięcie swoich.",
};

pub const YOUR_DATA_IS_DELETED: Text = Text {
    en: "Your data is deleted",
    pl: "Twoje dane zostały usunięte",
};

pub const CONTINUE_CONNECTING_YOUR_BANK: Text = Text {
    en: "Continue connecting your bank",
    pl: "Kontynuuj łączenie z bankiem",
};

pub const RESUME_CONFIRM_TEXT: Text = Text {
    en: "You will get a fresh, secure sign-in link and go straight to your bank.",
    pl: "Otrzymasz nowy, bezpieczny link i przejdziesz prosto do banku.",
};

pub const UNSUBSCRIBE_FROM_REMINDERS: Text = Text {
    en: "Unsubscribe from reminders",
    pl: "Wypisz się z przypomnień",
};

pub const UNSUBSCRIBE_CONFIRM_TEXT: Text = Text {
    en: "We will not email you reminders about unfinished bank connections any more. Emails about data you shared are not affected.",
    pl: "Nie będziemy już wysyłać przypomnień o niedokończonym łączeniu z bankiem. Nie dotyczy to wiadomości o udostępnionych danych.",
};

pub const UNSUBSCRIBE: Text = Text {
    en: "Unsubscribe",
    pl: "Wypisz mnie",
};

pub const DELETE_YOUR_DATA: Text = Text {
    en: "Delete your data",
    pl: "Usuń swoje dane",
};

pub const ERASE_CONFIRM_TEXT: Text = Text {
    en: "We will delete everything we hold about you: your details, your sign-ins and the bank data you shared, and ask Kontomatik to delete it too. This cannot be undone.",
    pl: "Usuniemy wszystko, co o Tobie przechowujemy: Twoje dane, logowania i udostępnione dane z banku, oraz poprosimy Kontomatik o ich usunięcie. Tego nie można cofnąć.",
};
