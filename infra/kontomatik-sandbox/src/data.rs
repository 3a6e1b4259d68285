//! A deterministic, seeded bank data set, rendered as Kontomatik's XML import result in chunks
//! (a few hundred transactions each), so the sandbox can stream 100 000 transactions without
//! building the whole document.

use chrono::{Duration, NaiveDate};
use quick_xml::escape::escape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::wire::xml as n;

/// How big the generated data set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataShape {
    pub accounts: u32,
    pub transactions_per_account: u32,
}

impl DataShape {
    /// The most transactions the sandbox will generate for one import.
    pub const MAX_TRANSACTIONS: u64 = 100_000;

    pub fn total_transactions(&self) -> u64 {
        u64::from(self.accounts) * u64::from(self.transactions_per_account)
    }

    /// Refuses shapes above [`Self::MAX_TRANSACTIONS`] or without an account.
    pub fn checked(self) -> Result<Self, String> {
        if self.accounts == 0 {
            return Err("at least one account is needed".into());
        }
        if self.total_transactions() > Self::MAX_TRANSACTIONS {
            return Err(format!(
                "{} transactions requested; at most {} are generated",
                self.total_transactions(),
                Self::MAX_TRANSACTIONS
            ));
        }
        Ok(self)
    }
}

impl Default for DataShape {
    fn default() -> Self {
        DataShape {
            accounts: 2,
            transactions_per_account: 40,
        }
    }
}

const TX_PER_CHUNK: u32 = 400;

const FIRST: &[&str] = &["Jan", "Anna", "Piotr", "Maria", "Tomasz", "Ewa"];
const LAST: &[&str] = &["Kowalski", "Nowak", "Wiśniewski", "Wójcik", "Lewandowski"];
const SHOPS: &[&str] = &[
    "Biedronka",
    "Żabka",
    "M&S Food",
    "Orlen",
    "Allegro <online>",
    "Rossmann",
];
const ACCOUNT_NAMES: &[&str] = &["Konto osobiste", "Konto oszczędnościowe", "Konto walutowe"];

/// Formats cents as a decimal amount: `-120.50`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn el(out: &mut String, name: &[u8], text: &str) {
    let name = String::from_utf8_lossy(name);
    out.push('<');
    out.push_str(&name);
    out.push('>');
    out.push_str(&escape(text));
    out.push_str("</");
    out.push_str(&name);
    out.push('>');
}

/// The chunks of one successful command reply.
pub struct ResultChunks {
    rng: ChaCha8Rng,
    command_id: u64,
    bank_id: &'static str,
    bank_name: &'static str,
    shape: DataShape,
    as_of: NaiveDate,
    started: bool,
    account: u32,
    tx: u32,
    balance_cents: i64,
    done: bool,
}

impl ResultChunks {
    pub fn new(
        command_id: u64,
        seed: u64,
        bank_id: &'static str,
        bank_name: &'static str,
        shape: DataShape,
        as_of: NaiveDate,
    ) -> Self {
        ResultChunks {
            rng: ChaCha8Rng::seed_from_u64(seed),
            command_id,
            bank_id,
            bank_name,
            shape,
            as_of,
            started: false,
            account: 0,
            tx: 0,
            balance_cents: 0,
            done: false,
        }
    }

    fn header(&mut self) -> String {
        let mut s = String::with_capacity(1024);
        s.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
        s.push_str(&format!(
            r#"<reply><command id="{}" state="successful"><progress><value>100</value></progress><result>"#,
            self.command_id
        ));
        s.push_str(&format!(
            r#"<target name="{}" officialName="{}"/>"#,
            escape(self.bank_id),
            escape(self.bank_name)
        ));
        let first = FIRST[self.rng.gen_range(0..FIRST.len())];
        let last = LAST[self.rng.gen_range(0..LAST.len())];
        s.push_str("<owners><owner>");
        el(&mut s, n::OWNER_NAME, &format!("{first} {last}"));
        el(
            &mut s,
            n::OWNER_ADDRESS,
            &format!(
                "ul. Polna {}, 00-{:03} Warszawa",
                self.rng.gen_range(1..200),
                self.rng.gen_range(0..999)
            ),
        );
        el(&mut s, n::OWNER_KIND, "OWNER");
        s.push_str("</owner></owners><accounts>");
        s
    }

    fn account_open(&mut self) -> String {
        let mut s = String::with_capacity(512);
        let currency = if self.account % 3 == 2 { "EUR" } else { "PLN" };
        let iban: String = (0..26)
            .map(|_| char::from(b'0' + self.rng.gen_range(0..10u8)))
            .collect();
        self.balance_cents = self.rng.gen_range(10_000..2_000_000);
        s.push_str("<account>");
        el(
            &mut s,
            n::ACCOUNT_NAME,
            ACCOUNT_NAMES[self.account as usize % ACCOUNT_NAMES.len()],
        );
        el(&mut s, n::ACCOUNT_NUMBER, &format!("PL{iban}"));
        el(&mut s, n::ACCOUNT_CURRENCY, currency);
        el(&mut s, n::ACCOUNT_BALANCE, &money(self.balance_cents));
        el(
            &mut s,
            n::ACCOUNT_AVAILABLE_FUNDS,
            &money(self.balance_cents - self.rng.gen_range(0..5_000)),
        );
        s.push_str("<moneyTransactions>");
        s
    }

    fn transaction(&mut self, s: &mut String) {
        let per = self.shape.transactions_per_account.max(1);
        // Newest first, spread over the last 180 days.
        let days_back = i64::from(self.tx) * 180 / i64::from(per);
        let day = self.as_of - Duration::days(days_back);
        let salary = self.tx % 15 == 7;
        let cents = if salary {
            self.rng.gen_range(400_000..900_000)
        } else {
            -self.rng.gen_range(100..60_000)
        };
        let balance_after = self.balance_cents;
        self.balance_cents -= cents;
        s.push_str("<moneyTransaction>");
        el(s, n::TX_TRANSACTION_ON, &day.format("%Y-%m-%d").to_string());
        el(
            s,
            n::TX_BOOKED_ON,
            &(day + Duration::days(1)).format("%Y-%m-%d").to_string(),
        );
        el(s, n::TX_CURRENCY_AMOUNT, &money(cents));
        el(s, n::TX_CURRENCY_BALANCE, &money(balance_after));
        if salary {
            el(s, n::TX_TITLE, "Wynagrodzenie / Salary");
            el(s, n::TX_PARTY, "ACME Sp. z o.o.");
            el(s, n::TX_PARTY_IBAN, "PL10105000997603123456789123");
            el(s, n::TX_KIND, "TRANSFER");
        } else {
            let shop = SHOPS[self.rng.gen_range(0..SHOPS.len())];
            el(s, n::TX_TITLE, &format!("Zakup kartą {shop}"));
            el(s, n::TX_PARTY, shop);
            el(s, n::TX_PARTY_IBAN, "");
            el(s, n::TX_KIND, "CARD_PAYMENT");
        }
        s.push_str("</moneyTransaction>");
    }
}

impl Iterator for ResultChunks {
    type Item = String;

    fn next(&mut self) -> Option<String> {
        if self.done {
            return None;
        }
        if !self.started {
            self.started = true;
            return Some(self.header());
        }
        if self.account >= self.shape.accounts {
            self.done = true;
            return Some("</accounts></result></command></reply>".into());
        }
        let mut s = if self.tx == 0 {
            self.account_open()
        } else {
            String::new()
        };
        let end = (self.tx + TX_PER_CHUNK).min(self.shape.transactions_per_account);
        s.reserve((end - self.tx) as usize * 420);
        while self.tx < end {
            self.transaction(&mut s);
            self.tx += 1;
        }
        if self.tx >= self.shape.transactions_per_account {
            s.push_str("</moneyTransactions></account>");
            self.account += 1;
            self.tx = 0;
        }
        Some(s)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use quick_xml::events::Event;

    fn render(seed: u64, shape: DataShape) -> String {
        ResultChunks::new(
            42,
            seed,
            "DemoBank",
            "Demo Bank",
            shape,
            NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
        )
        .collect()
    }

    fn count(xml: &str, element: &[u8]) -> usize {
        let mut r = quick_xml::Reader::from_str(xml);
        let mut n = 0;
        loop {
            match r.read_event().unwrap() {
                Event::Start(e) if e.local_name().as_ref() == element => n += 1,
                Event::Eof => break,
                _ => {}
            }
        }
        n
    }

    #[test]
    fn same_seed_same_data_and_the_shape_is_respected() {
        let shape = DataShape {
            accounts: 3,
            transactions_per_account: 1001,
        };
        let a = render(7, shape);
        assert_eq!(a, render(7, shape), "deterministic");
        assert_ne!(a, render(8, shape), "seeded");
        assert_eq!(count(&a, b"account"), 3);
        assert_eq!(count(&a, b"moneyTransaction"), 3003);
        assert!(a.contains("M&amp;S Food") || a.contains("Allegro &lt;online&gt;"));
    }

    #[test]
    fn shapes_are_bounded() {
        assert!(DataShape {
            accounts: 10,
            transactions_per_account: 10_000
        }
        .checked()
        .is_ok());
        assert!(DataShape {
            accounts: 10,
            transactions_per_account: 10_001
        }
        .checked()
        .is_err());
        assert!(DataShape {
            accounts: 0,
            transactions_per_account: 1
        }
        .checked()
        .is_err());
    }

    #[test]
    fn money_formats_cents() {
        assert_eq!(money(-12050), "-120.50");
        assert_eq!(money(5), "0.05");
        assert_eq!(money(0), "0.00");
    }
}
