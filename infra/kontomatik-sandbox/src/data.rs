//! A deterministic, seeded bank data set, rendered as Kontomatik's XML import result in chunks
//! (a few hundred transactions each), so the sandbox can stream 100 000 transactions without
//! building the whole document.

use chrono::{Duration, NaiveDate};
use quick_xml::escape::escape;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::sim::Bank;
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
/// Shops and the label Kontomatik would give their payments.
const SHOPS: &[(&str, &str)] = &[
    ("Biedronka", "groceries"),
    ("Żabka", "groceries"),
    ("M&S Food", "groceries"),
    ("Orlen", "fuel"),
    ("Allegro <online>", "shopping"),
    ("Rossmann", "shopping"),
];
const ACCOUNT_NAMES: &[(&str, &str)] = &[
    ("Konto osobiste 360", "Konto"),
    ("Konto oszczędnościowe", ""),
    ("Konto walutowe EUR", "Euro"),
];

/// The IBAN of one account of a data set: from the seed and the account's number alone, so that
/// a transfer to another account of the same person names it before that account is rendered.
fn account_iban(seed: u64, account: u32) -> String {
    let mut rng = ChaCha8Rng::seed_from_u64(seed ^ (0x1ba7_0000_0000 + u64::from(account)));
    let digits: String = (0..26)
        .map(|_| char::from(b'0' + rng.gen_range(0..10u8)))
        .collect();
    format!("PL{digits}")
}

/// Formats cents as a decimal amount: `-120.50`.
fn money(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    let abs = cents.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

fn day(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

/// What wraps the data: a successful command's reply, or an owner's aggregated data.
#[derive(Debug, Clone)]
pub enum Envelope {
    /// `reply/command/result`
    Command {
        id: u64,
        owner_external_id: Option<String>,
    },
    /// `reply/owner/target` (`GET /v1/data.xml`)
    OwnerData {
        owner_external_id: String,
        created_at: String,
        updated_at: String,
    },
}

/// Everything one rendering needs.
#[derive(Debug, Clone)]
pub struct Rendering {
    pub envelope: Envelope,
    pub seed: u64,
    pub bank: &'static Bank,
    pub shape: DataShape,
    /// The day the data was taken.
    pub as_of: NaiveDate,
    /// The first day of history asked for (Default Import's `since`).
    pub since: NaiveDate,
    /// `responseTimestamp`.
    pub timestamp: String,
}

/// The chunks of one reply carrying bank data.
pub struct ResultChunks {
    rng: ChaCha8Rng,
    r: Rendering,
    owner_name: String,
    started: bool,
    account: u32,
    tx: u32,
    balance_cents: i64,
    done: bool,
}

impl ResultChunks {
    pub fn new(r: Rendering) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(r.seed);
        let first = FIRST[rng.gen_range(0..FIRST.len())];
        let last = LAST[rng.gen_range(0..LAST.len())];
        ResultChunks {
            rng,
            r,
            owner_name: format!("{first} {last}"),
            started: false,
            account: 0,
            tx: 0,
            balance_cents: 0,
            done: false,
        }
    }

    fn header(&mut self) -> String {
        let mut s = String::with_capacity(1024);
        match &self.r.envelope {
            Envelope::Command {
                id,
                owner_external_id,
            } => {
                s.push_str(&n::reply_open(
                    "200 OK",
                    owner_external_id.as_deref(),
                    &self.r.timestamp,
                ));
                s.push_str(&n::command_open(
                    *id,
                    "successful",
                    n::COMMAND_DEFAULT_IMPORT,
                    Some((self.r.bank.id, self.r.bank.name)),
                ));
                // Recorded: the progress of a successful command says 0.
                s.push_str(&n::progress(0));
                s.push_str("<result>");
            }
            Envelope::OwnerData {
                owner_external_id,
                created_at,
                updated_at,
            } => {
                s.push_str(&n::reply_open("200 OK", None, &self.r.timestamp));
                s.push_str(&format!(
                    r#"<owner externalId="{}" createdAt="{}" updatedAt="{}" origin="API" lastChange="{}">"#,
                    escape(owner_external_id.as_str()),
                    escape(created_at.as_str()),
                    escape(updated_at.as_str()),
                    escape(updated_at.as_str()),
                ));
                s.push_str(&format!(
                    r#"<target name="{}" officialName="{}" institution="{}">"#,
                    escape(self.r.bank.id),
                    escape(self.r.bank.name),
                    escape(self.r.bank.name)
                ));
            }
        }
        s.push_str("<owners><owner>");
        n::el(&mut s, n::OWNER_NAME, &self.owner_name);
        let address = format!(
            "ul. Polna {}, 00-{:03} Warszawa",
            self.rng.gen_range(1..200),
            self.rng.gen_range(0..999)
        );
        n::el(&mut s, n::OWNER_ADDRESS, &address);
        n::el(&mut s, n::OWNER_KIND, "OWNER");
        s.push_str("</owner></owners><accounts>");
        s
    }

    fn footer(&self) -> String {
        let mut s = String::from("</accounts>");
        if self.r.bank.credit_card {
            s.push_str("<creditCards><creditCard>");
            n::el(&mut s, "name", "Karta kredytowa");
            n::el(&mut s, "number", "5375 **** **** 1234");
            n::el(&mut s, "currencyBalance", "-312.40");
            n::el(&mut s, "currencyName", "PLN");
            s.push_str("</creditCard></creditCards>");
        }
        match self.r.envelope {
            Envelope::Command { .. } => s.push_str("</result></command>"),
            Envelope::OwnerData { .. } => s.push_str("</target></owner>"),
        }
        s.push_str(n::REPLY_CLOSE);
        s
    }

    fn account_open(&mut self) -> String {
        let mut s = String::with_capacity(512);
        let (name, friendly) = ACCOUNT_NAMES[self.account as usize % ACCOUNT_NAMES.len()];
        let currency = if self.account % 3 == 2 { "EUR" } else { "PLN" };
        // The draws the number once took, so that the rest of the data stays as it was.
        for _ in 0..26 {
            self.rng.gen_range(0..10u8);
        }
        let iban = account_iban(self.r.seed, self.account);
        self.balance_cents = self.rng.gen_range(10_000..2_000_000);
        let opened = self.r.as_of - Duration::days(self.rng.gen_range(200..4000));
        s.push_str("<account>");
        n::el(&mut s, n::ACCOUNT_NAME, name);
        if !friendly.is_empty() {
            n::el(&mut s, n::ACCOUNT_FRIENDLY_NAME, friendly);
        }
        n::el(&mut s, n::ACCOUNT_IBAN, &iban);
        n::el(&mut s, n::ACCOUNT_BALANCE, &money(self.balance_cents));
        n::el(
            &mut s,
            n::ACCOUNT_FUNDS_AVAILABLE,
            &money(self.balance_cents - self.rng.gen_range(0..5_000)),
        );
        n::el(&mut s, n::ACCOUNT_CURRENCY, currency);
        n::el(&mut s, n::ACCOUNT_ACTIVE_SINCE, &day(opened));
        s.push_str(&format!(
            r#"<directDebit available="{}"/>"#,
            currency == "PLN"
        ));
        s.push_str("<moneyTransactions>");
        s
    }

    fn account_close(&self) -> String {
        let mut s = String::from("</moneyTransactions><owners><owner>");
        n::el(&mut s, n::OWNER_NAME, &self.owner_name);
        n::el(&mut s, n::OWNER_KIND, "OWNER");
        s.push_str("</owner></owners></account>");
        s
    }

    fn transaction(&mut self, s: &mut String) {
        let per = i64::from(self.r.shape.transactions_per_account.max(1));
        let span = (self.r.as_of - self.r.since).num_days().clamp(1, 3650);
        // Newest first, spread from `as_of` back to `since`.
        let days_back = i64::from(self.tx) * span / per;
        let on = self.r.as_of - Duration::days(days_back);
        let salary = self.tx % 15 == 7;
        let bill = self.tx % 15 == 3;
        let cents = if salary {
            self.rng.gen_range(400_000..900_000)
        } else if bill {
            -self.rng.gen_range(10_000..40_000)
        } else {
            -self.rng.gen_range(100..60_000)
        };
        let balance_after = self.balance_cents;
        self.balance_cents -= cents;
        s.push_str("<moneyTransaction>");
        n::el(s, n::TX_TRANSACTION_ON, &day(on));
        n::el(s, n::TX_BOOKED_ON, &day(on + Duration::days(1)));
        n::el(s, n::TX_CURRENCY_AMOUNT, &money(cents));
        n::el(s, n::TX_CURRENCY_BALANCE, &money(balance_after));
        let labels: &[&str] = if salary {
            n::el(s, n::TX_TITLE, "Wynagrodzenie za pracę");
            // Recorded: line breaks occur inside elements.
            n::el(s, n::TX_PARTY, "ACME\n            Sp. z o.o.");
            n::el(s, n::TX_PARTY_IBAN, "PL10105000997603123456789123");
            n::el(s, n::TX_KIND, "PRZELEW PRZYCHODZĄCY");
            &["salary"]
        } else if bill {
            n::el(s, n::TX_TITLE, "Rachunek za prąd");
            n::el(s, n::TX_PARTY, "Energa Obrót S.A.");
            n::el(s, n::TX_PARTY_IBAN, "PL27114020040000300201355387");
            n::el(s, n::TX_KIND, "PRZELEW ZEWNĘTRZNY");
            &["utilities", "monthly"]
        } else if self.tx % 15 == 11 && self.r.shape.accounts > 1 {
            // Savings moved to the person's next account (the draw a shop took stays).
            self.rng.gen_range(0..SHOPS.len());
            let to = (self.account + 1) % self.r.shape.accounts;
            n::el(s, n::TX_TITLE, "Przelew własny");
            n::el(s, n::TX_PARTY, &self.owner_name);
            n::el(s, n::TX_PARTY_IBAN, &account_iban(self.r.seed, to));
            n::el(s, n::TX_KIND, "PRZELEW WŁASNY");
            &["transfer"]
        } else {
            let (shop, label) = SHOPS[self.rng.gen_range(0..SHOPS.len())];
            n::el(s, n::TX_TITLE, &format!("Zakup kartą {shop}"));
            n::el(s, n::TX_PARTY, shop);
            n::el(s, n::TX_KIND, "PŁATNOŚĆ KARTĄ");
            match label {
                "groceries" => &["groceries"],
                "fuel" => &["fuel"],
                _ => &["shopping"],
            }
        };
        n::el(
            s,
            n::TX_STATUS,
            if days_back == 0 { "PENDING" } else { "DONE" },
        );
        s.push_str("<labels>");
        for l in labels {
            n::el(s, "label", l);
        }
        s.push_str("</labels></moneyTransaction>");
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
        if self.account >= self.r.shape.accounts {
            self.done = true;
            return Some(self.footer());
        }
        let mut s = if self.tx == 0 {
            self.account_open()
        } else {
            String::new()
        };
        let end = (self.tx + TX_PER_CHUNK).min(self.r.shape.transactions_per_account);
        s.reserve((end - self.tx) as usize * 520);
        while self.tx < end {
            self.transaction(&mut s);
            self.tx += 1;
        }
        if self.tx >= self.r.shape.transactions_per_account {
            s.push_str(&self.account_close());
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
        ResultChunks::new(Rendering {
            envelope: Envelope::Command {
                id: 42,
                owner_external_id: Some("own-1".into()),
            },
            seed,
            bank: crate::sim::bank("DemoBank").unwrap(),
            shape,
            as_of: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            since: NaiveDate::from_ymd_opt(2025, 11, 2).unwrap(),
            timestamp: "2026-11-02T09:00:00Z".into(),
        })
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
        assert_eq!(count(&a, b"creditCard"), 1);
        assert!(a.contains("<label>salary</label>"));
        assert!(
            a.contains("<transactionOn>2025-11-"),
            "history reaches back to since"
        );
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
