//! The production adapters of the core's ports: [`DynamoStore`] (DynamoDB), [`SqsQueue`] (SQS)
//! and [`SesMailer`] (SESv2) and
//! [`EventBridgeBus`] (EventBridge). The same contract tests that hold the embedded adapters run against
//! these on moto server.

pub mod dynamo;
pub mod events;
pub mod schema;
pub mod ses;
pub mod sqs;
#[cfg(feature = "testing")]
pub mod testing;

pub use dynamo::DynamoStore;
pub use events::EventBridgeBus;
pub use ses::SesMailer;
pub use sqs::SqsQueue;

/// Loads the AWS configuration from the environment (region, credentials, and
/// `AWS_ENDPOINT_URL` to point every client at moto server in tests).
pub async fn load_aws_config() -> aws_config::SdkConfig {
    aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await
}
