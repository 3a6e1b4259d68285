//! Moto with IAM enforced: a moto server of its own, its administrator, and the roles the
//! functions assume (the template's statements, resources widened to `*`).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use serde_json::{json, Value as Json};

use super::processes::run_dir;
use crate::template::{ACCOUNT, REGION};

/// A moto server of its own, with IAM authorisation on, and its administrator.
pub struct Moto {
    pub endpoint: String,
    pub admin: SdkConfig,
    child: Child,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Requests moto lets through unchecked: exactly the three that create the administrator.
const UNCHECKED_REQUESTS: &str = "3";

pub(super) fn sdk(endpoint: &str, credentials: Credentials) -> SdkConfig {
    SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            credentials,
        ))
        .build()
}

impl Moto {
    pub async fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(run_dir().join(format!("moto-{port}.log"))).unwrap();
        let child = Command::new("python3")
            .args([
                "-m",
                "moto.server",
                "-H",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .env("INITIAL_NO_AUTH_ACTION_COUNT", UNCHECKED_REQUESTS)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .expect("python3 -m moto.server (pip install 'moto[server]')");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let endpoint = format!("http://127.0.0.1:{port}");
        let bootstrap = sdk(
            &endpoint,
            Credentials::new("bootstrap", "bootstrap", None, None, "rehearsal"),
        );
        let iam = aws_sdk_iam::Client::new(&bootstrap);
        iam.create_user().user_name("admin").send().await.unwrap();
        iam.put_user_policy()
            .user_name("admin")
            .policy_name("everything")
            .policy_document(
                json!({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})
                    .to_string(),
            )
            .send()
            .await
            .unwrap();
        let key = iam
            .create_access_key()
            .user_name("admin")
            .send()
            .await
            .unwrap()
            .access_key
            .unwrap();
        let admin = sdk(
            &endpoint,
            Credentials::new(
                key.access_key_id,
                key.secret_access_key,
                None,
                None,
                "rehearsal-admin",
            ),
        );
        Moto {
            endpoint,
            admin,
            child,
        }
    }

    /// Proves enforcement is on: credentials moto does not know are refused.
    pub async fn assert_enforcing(&self) {
        let stranger = sdk(
            &self.endpoint,
            Credentials::new("AKIASTRANGER00000000", "nope", None, None, "stranger"),
        );
        let err = aws_sdk_sqs::Client::new(&stranger)
            .list_queues()
            .send()
            .await
            .expect_err("moto must refuse unknown credentials (IAM enforcement on)");
        let shown = aws_sdk_sqs::error::DisplayErrorContext(err).to_string();
        assert!(
            shown.contains("InvalidClientTokenId") || shown.contains("403"),
            "{shown}"
        );
    }

    /// A role with the template's statements (actions as given, resources widened to `*`),
    /// assumed through STS.
    pub async fn role(&self, name: &str, statements: &[Json]) -> Credentials {
        let iam = aws_sdk_iam::Client::new(&self.admin);
        let trust = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": format!("arn:aws:iam::{ACCOUNT}:user/admin")},
            "Action": "sts:AssumeRole"
        }]});
        iam.create_role()
            .role_name(name)
            .assume_role_policy_document(trust.to_string())
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(name)
            .policy_name("template")
            .policy_document(json!({"Version": "2012-10-17", "Statement": statements}).to_string())
            .send()
            .await
            .unwrap();
        let c = aws_sdk_sts::Client::new(&self.admin)
            .assume_role()
            .role_arn(format!("arn:aws:iam::{ACCOUNT}:role/{name}"))
            .role_session_name(name)
            .send()
            .await
            .unwrap()
            .credentials
            .unwrap();
        Credentials::new(
            c.access_key_id,
            c.secret_access_key,
            Some(c.session_token),
            None,
            "assumed-role",
        )
    }

    /// The emails moto's SES accepted, parsed.
    pub async fn mails(&self) -> Vec<crate::flow::Mail> {
        signin_aws::testing::recorded_raw_mail_at(&self.endpoint)
            .await
            .into_iter()
            .filter_map(|(_, raw)| crate::flow::Mail::parse(&raw))
            .collect()
    }
}
