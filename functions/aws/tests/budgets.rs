//! The adapters on a page's path give up within their budgets when AWS accepts the connection
//! and never answers (on tokio's paused clock: no real waiting).

use std::sync::Arc;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use signin_aws::{EventBridgeBus, SesMailer, SqsQueue};
use signin_core::clock::SimClock;
use signin_core::domain::events::{DetailType, LifecycleEvent};
use signin_core::domain::{Email, RedirectionId};
use signin_core::ports::EventBus;
use signin_core::ports::{ImportJob, ImportQueue, Mailer, OutgoingEmail};

/// An endpoint that accepts every connection and never says a word.
async fn silent_endpoint() -> (SdkConfig, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a local port");
    let addr = listener.local_addr().expect("its address");
    let held = tokio::spawn(async move {
        let mut open = vec![];
        while let Ok((socket, _)) = listener.accept().await {
            open.push(socket);
        }
    });
    let aws = aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(format!("http://{addr}"))
        .region(Region::new("eu-central-1"))
        .test_credentials()
        .load()
        .await;
    (aws, held)
}

/// How long `call` took on the (paused) clock, and that it failed on a timeout.
async fn gives_up<T: std::fmt::Debug, E: std::fmt::Display>(
    call: impl std::future::Future<Output = Result<T, E>>,
) -> Duration {
    let started = tokio::time::Instant::now();
    // Far past any budget: without one, the call would still be waiting here.
    let outcome = tokio::time::timeout(Duration::from_secs(600), call)
        .await
        .expect("the call never gave up");
    let error = match outcome {
        Ok(answer) => panic!("a silent endpoint answered: {answer:?}"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains("timeout"), "not a timeout: {error}");
    started.elapsed()
}

/// Gave up at the budget: not before (an error other than the silence), not after.
fn at(took: Duration, budget: Duration) -> bool {
    // The scheduler's last tick.
    took >= budget && took <= budget + Duration::from_millis(50)
}

#[tokio::test(start_paused = true)]
async fn ses_gives_up_on_a_silent_endpoint_within_its_budget() {
    let (aws, _held) = silent_endpoint().await;
    let mailer = SesMailer::on(
        &aws,
        "no-reply@lender.example",
        None,
        Arc::new(SimClock::at_default_start()),
    );
    let mail = OutgoingEmail {
        to: Email::parse("user@example.com").unwrap(),
        subject: "Hello".into(),
        text: "Hello".into(),
        html: "<p>Hello</p>".into(),
        headers: vec![],
        category: signin_core::ports::MailCategory::Transactional,
        tag: "link".into(),
    };
    let took = gives_up(mailer.send(&mail)).await;
    assert!(
        at(took, signin_aws::ses::SEND_BUDGET),
        "SES held a page {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn sqs_gives_up_on_a_silent_endpoint_within_its_budget() {
    let (aws, _held) = silent_endpoint().await;
    let queue = SqsQueue::on(&aws, "http://sqs.example/000000000000/imports");
    let job = ImportJob {
        redirection_id: RedirectionId::parse(&format!("{:032x}", 1)).unwrap(),
        continuation: 0,
    };
    let took = gives_up(queue.enqueue(&job, Duration::ZERO)).await;
    assert!(
        at(took, signin_aws::sqs::ENQUEUE_BUDGET),
        "SQS held a page {took:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn eventbridge_gives_up_on_a_silent_endpoint_within_its_budget() {
    let (aws, _held) = silent_endpoint().await;
    let bus = EventBridgeBus::on(&aws, "signin");
    let owner = signin_core::domain::OwnerExternalId::parse("own-1").unwrap();
    let event = LifecycleEvent::erased(&owner, chrono::Utc::now());
    assert_eq!(event.kind, DetailType::OwnerErased);
    let took = gives_up(bus.publish(&[event])).await;
    assert!(
        // Two attempts of 1 s each: at least one attempt's timeout.
        took >= Duration::from_secs(1)
            && took <= signin_aws::events::PUBLISH_BUDGET + Duration::from_millis(50),
        "EventBridge held a page {took:?}"
    );
}
