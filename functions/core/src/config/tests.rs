use super::*;
use std::collections::HashMap;

fn env() -> HashMap<&'static str, String> {
    HashMap::from([
        (
            "KONTOMATIK_BASE_URL",
            "https://test.api.kontomatik.com/".to_owned(),
        ),
        ("KONTOMATIK_API_KEY", "k-123".to_owned()),
        ("TABLE_NAME", "signin".to_owned()),
        (
            "IMPORT_QUEUE_URL",
            "https://sqs.eu-central-1.amazonaws.com/1/imports".to_owned(),
        ),
        ("SENDER_EMAIL", "no-reply@lender.example".to_owned()),
        (
            "PUBLIC_BASE_URL",
            "https://signin.lender.example/".to_owned(),
        ),
        ("LINK_SIGNING_KEY", "x".repeat(40)),
        ("DEFAULT_LANGUAGE", "pl".to_owned()),
        ("DEFAULT_COUNTRY", "PL".to_owned()),
        ("ACCESS_MODE", "single".to_owned()),
    ])
}

fn every_name() -> Vec<&'static str> {
    vars::ALL.iter().map(|v| v.name).collect()
}

fn load(e: &HashMap<&'static str, String>) -> Result<Config, ConfigError> {
    Config::from_lookup(&|k| e.get(k).cloned(), &every_name())
}

#[test]
fn a_complete_environment_loads() {
    let c = load(&env()).expect("valid");
    assert_eq!(
        c.kontomatik.as_ref().expect("read").base_url,
        "https://test.api.kontomatik.com"
    );
    assert_eq!(
        c.settings.redirect_uri(),
        "https://signin.lender.example/kontomatik-signin"
    );
    assert_eq!(c.settings.default_country.as_str(), "pl");
    assert!(
        !format!("{c:?}").contains("k-123"),
        "the key is not in Debug"
    );
}

#[test]
fn default_import_history_is_twelve_months_and_configurable() {
    let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 26).expect("day");
    let c = load(&env()).expect("valid");
    assert_eq!(
        c.settings.import_since(today),
        chrono::NaiveDate::from_ymd_opt(2025, 11, 26).expect("day")
    );
    let mut e = env();
    e.insert("IMPORT_HISTORY_MONTHS", "3".into());
    e.insert("FOLLOW_UP_WINDOW_DAYS", "2".into());
    let c = load(&e).expect("valid");
    assert_eq!(
        c.settings.import_since(today),
        chrono::NaiveDate::from_ymd_opt(2026, 8, 26).expect("day")
    );
    assert_eq!(c.settings.follow_up_window, Duration::days(2));
}

fn countries(c: &Config) -> Vec<&'static str> {
    c.settings
        .allowed_countries
        .iter()
        .map(|c| c.as_str())
        .collect()
}

#[test]
fn the_default_country_is_one_of_the_countries_of_operation() {
    let mut e = env();
    e.insert("ALLOWED_COUNTRIES", "pl, cz,pl".into());
    let c = load(&e).expect("valid");
    assert_eq!(countries(&c), ["pl", "cz"]);
    // Unset: the default country alone (a stack deployed before the variable keeps working).
    let mut unset = env();
    unset.insert("DEFAULT_COUNTRY", "cz".into());
    let c = load(&unset).expect("valid");
    assert_eq!(countries(&c), ["cz"]);
    e.insert("ALLOWED_COUNTRIES", "cz".into());
    let err = load(&e).unwrap_err();
    assert!(
        matches!(
            err,
            ConfigError::Invalid {
                name: "DEFAULT_COUNTRY",
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("ALLOWED_COUNTRIES"), "{err}");
}

#[test]
fn a_function_reads_only_its_own_variables() {
    let mut e = env();
    e.insert("ACCESS_MODE", "sometimes".into());
    let get = |k: &str| e.get(k).cloned();
    let c = Config::from_lookup(&get, &["TABLE_NAME", "LINK_SIGNING_KEY", "PUBLIC_BASE_URL"])
        .expect("a bad variable the function does not read is ignored");
    assert!(c.kontomatik.is_none() && c.mail.is_none() && c.import_queue_url.is_none());
    assert!(c.settings.link_signing_key.is_some());
    assert_eq!(c.settings.access_mode, AccessMode::Single);
    let c = Config::from_lookup(&get, &["TABLE_NAME", "PUBLIC_BASE_URL"]).expect("valid");
    assert!(c.settings.link_signing_key.is_none(), "not read, not kept");
    let none = |_: &str| None;
    assert_eq!(
        Config::from_lookup(&none, &["TABLE_NAME"]).unwrap_err(),
        ConfigError::Missing("TABLE_NAME")
    );
    let only_table = |k: &str| (k == "TABLE_NAME").then(|| "t".to_owned());
    assert_eq!(
        Config::from_lookup(&only_table, &["TABLE_NAME", "SENDER_EMAIL"]).unwrap_err(),
        ConfigError::Missing("SENDER_EMAIL")
    );
}

#[test]
fn every_missing_variable_is_named() {
    for name in vars::required().map(|v| v.name) {
        let mut e = env();
        e.remove(name);
        assert_eq!(load(&e).unwrap_err(), ConfigError::Missing(name), "{name}");
        e.insert(name, "   ".into());
        assert_eq!(
            load(&e).unwrap_err(),
            ConfigError::Missing(name),
            "{name} blank"
        );
    }
}

#[test]
fn bad_values_are_named_with_the_reason() {
    for (name, value) in [
        ("PUBLIC_BASE_URL", "signin.lender.example"),
        ("KONTOMATIK_BASE_URL", "ftp://x"),
        ("LINK_SIGNING_KEY", "short"),
        ("DEFAULT_LANGUAGE", "xx"),
        ("DEFAULT_COUNTRY", "atlantis"),
        ("ACCESS_MODE", "sometimes"),
        ("SENDER_EMAIL", "nobody"),
        ("IMPORT_HISTORY_MONTHS", "0"),
        ("IMPORT_HISTORY_MONTHS", "twelve"),
        ("FOLLOW_UP_WINDOW_DAYS", "-1"),
        ("START_LIMIT_PER_CLIENT_PER_HOUR", "0"),
        ("LINK_EMAIL_LIMIT_PER_RECIPIENT_PER_DAY", "many"),
        ("USER_RETENTION_DAYS", "0"),
        ("IMPORT_RETENTION_DAYS", "-5"),
        ("KONTOMATIK_LINK_HOSTS", "http://evil.example"),
        ("KONTOMATIK_LINK_HOSTS", "evil/path"),
        ("KONTOMATIK_LINK_HOSTS", " , "),
        ("ALLOWED_COUNTRIES", "pl,atlantis"),
        ("ALLOWED_COUNTRIES", " , "),
        ("KONTOMATIK_JOBS_QUOTA", "501"),
        ("EDGE_ORIGIN_SECRET", "too-short"),
        ("EDGE_ORIGIN_CHECK", "sometimes"),
    ] {
        let mut e = env();
        e.insert(name, value.into());
        let err = load(&e).unwrap_err();
        assert!(
            matches!(err, ConfigError::Invalid { name: n, .. } if n == name),
            "{name}: {err}"
        );
        assert!(err.to_string().contains(name));
    }
}

#[test]
fn kontomatik_links_go_only_to_allowed_https_hosts() {
    let default = LinkOrigins::default();
    for ok in [
        "https://signin.kontomatik.com/r/abc",
        "https://kontomatik.com/x",
        "https://test.signin.kontomatik.com/x?y=1",
    ] {
        assert!(default.allows(ok), "{ok}");
    }
    for bad in [
        "http://signin.kontomatik.com/r/abc",
        "https://kontomatik.com.evil.example/x",
        "https://evilkontomatik.com/x",
        "https://signin.kontomatik.com@evil.example/x",
        "https://user@signin.kontomatik.com/x",
        "https://signin.kontomatik.com:8443/x",
        "javascript:alert(1)",
        "//signin.kontomatik.com/x",
        "not a url",
        "http://127.0.0.1:8090/signin/1",
    ] {
        assert!(!default.allows(bad), "{bad}");
    }
    let local = LinkOrigins::parse("kontomatik.com, http://127.0.0.1:8090").expect("valid");
    assert!(local.allows("http://127.0.0.1:8090/signin/1"));
    assert!(!local.allows("http://127.0.0.1:8091/signin/1"));
    assert!(
        !local.allows("https://signin.kontomatik.com/x"),
        "no wildcard given"
    );
    assert!(LinkOrigins::parse("http://10.0.0.5:8090").is_err());

    // The local sandbox is allowed because Kontomatik itself is on the loopback interface.
    let mut e = env();
    e.insert("KONTOMATIK_BASE_URL", "http://127.0.0.1:8090".into());
    let c = load(&e).expect("valid");
    assert!(c
        .settings
        .link_origins
        .allows("http://127.0.0.1:8090/signin/1"));
    assert!(c
        .settings
        .link_origins
        .allows("https://signin.kontomatik.com/r"));
    let c = load(&env()).expect("valid");
    assert!(!c
        .settings
        .link_origins
        .allows("http://127.0.0.1:8090/signin/1"));
}

#[test]
fn staff_roles_are_read_from_the_list() {
    use super::{StaffMember, StaffRole};
    let list = StaffMember::parse_list(
        " ann@lender.example=credit, bo@lender.example , cy@lender.example=credit+marketing, Ann@lender.example=marketing",
    )
    .unwrap();
    assert_eq!(list.len(), 3, "{list:?}");
    assert!(
        list[0].may(StaffRole::Credit) && list[0].may(StaffRole::Marketing),
        "an address twice has both"
    );
    assert!(
        list[1].may(StaffRole::Marketing) && !list[1].may(StaffRole::Credit),
        "a bare address is marketing"
    );
    assert!(list[2].may(StaffRole::Credit) && list[2].may(StaffRole::Marketing));
    assert!(StaffMember::parse_list("ann@lender.example=admin")
        .unwrap_err()
        .contains("unknown role"));
    assert!(StaffMember::parse_list("not-an-address=credit").is_err());
    assert!(StaffMember::parse_list("").unwrap().is_empty());
}

#[test]
fn only_sessions_of_the_lender_api_role_may_call_when_it_is_set() {
    let mut s = super::Settings::with_defaults("https://signin.lender.example");
    let lender = "arn:aws:sts::123456789012:assumed-role/signin-lender-api/lender-app";
    let admin = "arn:aws:iam::123456789012:user/admin";
    assert!(
        s.lender_api_caller_allowed(admin),
        "unset: any verified caller"
    );
    s.lender_api_role = Some("signin-lender-api".into());
    assert!(s.lender_api_caller_allowed(lender));
    for refused in [
        admin,
        "arn:aws:sts::123456789012:assumed-role/signin-lender-api-other/x",
        "arn:aws:sts::123456789012:assumed-role/other/signin-lender-api",
        "arn:aws:sts::123456789012:assumed-role/signin-lender-api/",
        "arn:aws:iam::123456789012:role/signin-lender-api",
        "AROAEXAMPLE:lender-app",
        "",
    ] {
        assert!(!s.lender_api_caller_allowed(refused), "{refused}");
    }
}
