//! The pages' text, in each language we speak, one constant each (named after its English), by
//! room, so that a translator reads them in one place and a page cannot mix languages.
//! Languages other than Polish read English, as everywhere else.

mod account;
mod callback;
mod errors;
mod links;
mod start;

pub use account::*;
pub use callback::*;
pub use errors::*;
pub use links::*;
pub use start::*;

/// One text in every language we speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Text {
    pub en: &'static str,
    pub pl: &'static str,
}

impl Text {
    /// The text in the language whose tag is `lang` (`"pl"`, `"en"`, …).
    pub fn get(self, lang: &str) -> &'static str {
        if lang == "pl" {
            self.pl
        } else {
            self.en
        }
    }
}
