use super::*;
use crate::domain::*;

#[test]
fn poll_shards_are_stable_and_all_used() {
    let mut seen = [0u32; POLL_SHARDS as usize];
    for i in 0..400 {
        let id = RedirectionId::parse(&format!("r-{i}")).expect("id");
        let s = poll_shard(&id);
        assert_eq!(s, poll_shard(&id));
        seen[s as usize] += 1;
    }
    assert!(seen.iter().all(|n| *n > 50), "{seen:?}");
}

#[test]
fn import_job_wire_format_is_stable() {
    let job = ImportJob {
        redirection_id: RedirectionId::parse("r1").expect("id"),
        continuation: 0,
    };
    let json = serde_json::to_string(&job).expect("json");
    assert_eq!(json, r#"{"redirectionId":"r1","continuation":0}"#);
    let old: ImportJob = serde_json::from_str(r#"{"redirectionId":"r1"}"#).expect("json");
    assert_eq!(old, job);
    assert!(serde_json::from_str::<ImportJob>(r#"{"redirectionId":"a b"}"#).is_err());
}

#[test]
fn only_rate_limits_and_outages_are_transient() {
    assert!(KontomatikError::Transient("x".into()).is_transient());
    assert!(KontomatikError::RateLimited { retry_after: None }.is_transient());
    assert!(!KontomatikError::AlreadyImported.is_transient());
    assert!(!KontomatikError::NotFound.is_transient());
}
