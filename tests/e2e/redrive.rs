//! infra/scripts/redrive.sh, the dead letters' redrive, run as the operator runs it (the AWS
//! CLI) against moto server.
//!
//! moto (5.2) has no StartMessageMoveTask / ListMessageMoveTasks: an `aws` stand-in first on
//! the script's PATH does those two calls itself (receive from the source, send to the
//! destination, delete) and records every call; every other call goes to the real AWS CLI
//! with moto as its endpoint. So these tests check what the script decides and which queues it names, not
//! SQS's move task itself.
#![allow(clippy::unwrap_used)]

use std::path::{Path, PathBuf};
use std::process::Output;

use signin_aws::testing::{moto_endpoint, sdk_config};

const STAND_IN: &str = r#"#!/usr/bin/env python3
import json, os, sys
args = sys.argv[1:]
log = os.environ["STAND_IN_LOG"]
with open(log, "a") as f:
    f.write(json.dumps(args) + "\n")
if args[:2] == ["sqs", "start-message-move-task"]:
    import boto3
    opt = dict(zip(args[2::2], args[3::2]))
    sqs = boto3.client("sqs", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    url = lambda arn: sqs.get_queue_url(QueueName=arn.rsplit(":", 1)[1])["QueueUrl"]
    src, dst = url(opt["--source-arn"]), url(opt["--destination-arn"])
    moved = 0
    while True:
        got = sqs.receive_message(QueueUrl=src, MaxNumberOfMessages=10, VisibilityTimeout=60)
        if not got.get("Messages"):
            break
        for m in got["Messages"]:
            sqs.send_message(QueueUrl=dst, MessageBody=m["Body"])
            sqs.delete_message(QueueUrl=src, ReceiptHandle=m["ReceiptHandle"])
            moved += 1
    with open(log + ".moved", "w") as f:
        f.write(str(moved))
    print("stand-in-task")
elif args[:2] == ["sqs", "list-message-move-tasks"]:
    print("COMPLETED\t" + open(log + ".moved").read() + "\tNone")
else:
    real = os.environ["REAL_AWS"]
    os.execv(real, [real, "--endpoint-url", os.environ["AWS_ENDPOINT_URL"]] + args)
"#;

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../infra/scripts/redrive.sh")
}

fn real_aws() -> PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("aws"))
        .find(|p| p.is_file())
        .expect("the AWS CLI on PATH (pip install awscli)")
}

struct Queues {
    sqs: aws_sdk_sqs::Client,
    dlq: String,
    queue: String,
    dir: PathBuf,
}

impl Queues {
    async fn new() -> Queues {
        let sqs = aws_sdk_sqs::Client::new(&sdk_config().await);
        let name = signin_core::contract::unique("redrive");
        let url = |n: String| {
            let sqs = sqs.clone();
            async move {
                sqs.create_queue()
                    .queue_name(n)
                    .send()
                    .await
                    .unwrap()
                    .queue_url
                    .unwrap()
            }
        };
        let queue = url(format!("{name}-import")).await;
        let dlq = url(format!("{name}-dlq")).await;
        let dir = std::env::temp_dir().join(&name);
        std::fs::create_dir_all(&dir).unwrap();
        let aws = dir.join("aws");
        std::fs::write(&aws, STAND_IN).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&aws, std::fs::Permissions::from_mode(0o755)).unwrap();
        Queues {
            sqs,
            dlq,
            queue,
            dir,
        }
    }

    async fn dead_letters(&self, bodies: &[&str]) {
        for b in bodies {
            self.sqs
                .send_message()
                .queue_url(&self.dlq)
                .message_body(*b)
                .send()
                .await
                .unwrap();
        }
    }

    async fn bodies(&self, url: &str) -> Vec<String> {
        let mut out = vec![];
        loop {
            let got = self
                .sqs
                .receive_message()
                .queue_url(url)
                .max_number_of_messages(10)
                .visibility_timeout(60)
                .send()
                .await
                .unwrap()
                .messages
                .unwrap_or_default();
            if got.is_empty() {
                out.sort();
                return out;
            }
            out.extend(got.into_iter().filter_map(|m| m.body));
        }
    }

    async fn arn(&self, url: &str) -> String {
        self.sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .unwrap()
            .attributes
            .unwrap()[&aws_sdk_sqs::types::QueueAttributeName::QueueArn]
            .clone()
    }

    fn redrive(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let path = format!("{}:{}", self.dir.display(), std::env::var("PATH").unwrap());
        let mut cmd = std::process::Command::new("bash");
        cmd.arg(script())
            .args(args)
            .args(["--dlq", &self.dlq, "--queue", &self.queue])
            .env("PATH", path)
            .env("REAL_AWS", real_aws())
            .env("STAND_IN_LOG", self.dir.join("calls"))
            .env("AWS_ENDPOINT_URL", moto_endpoint())
            .env("AWS_DEFAULT_REGION", "eu-central-1")
            .env("AWS_REGION", "eu-central-1")
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.output().unwrap()
    }

    /// The move task calls the script made, as argument lists.
    fn move_tasks(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(self.dir.join("calls"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str::<Vec<String>>(l).unwrap())
            .filter(|a| a.get(1).is_some_and(|c| c == "start-message-move-task"))
            .collect()
    }
}

fn said(out: &Output) -> String {
    format!(
        "status {}\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test]
async fn dead_letters_within_the_window_go_back_to_the_import_queue() {
    let q = Queues::new().await;
    q.dead_letters(&["job-1", "job-2", "job-3"]).await;
    let out = q.redrive(&[], &[]);
    assert!(out.status.success(), "{}", said(&out));
    let tasks = q.move_tasks();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    let (dlq_arn, queue_arn) = (q.arn(&q.dlq).await, q.arn(&q.queue).await);
    let task = &tasks[0];
    let after = |flag: &str| task.iter().skip_while(|a| *a != flag).nth(1).cloned();
    assert_eq!(after("--source-arn"), Some(dlq_arn), "{task:?}");
    assert_eq!(after("--destination-arn"), Some(queue_arn), "{task:?}");
    assert_eq!(q.bodies(&q.queue).await, ["job-1", "job-2", "job-3"]);
    assert!(q.bodies(&q.dlq).await.is_empty());
}

/// Past the sign-in's window the redirections are gone: a redrive is refused, nothing moves.
#[tokio::test]
async fn dead_letters_past_the_window_are_not_redriven() {
    let q = Queues::new().await;
    q.dead_letters(&["old-job"]).await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let out = q.redrive(&[], &[("REDRIVE_WINDOW_SECONDS", "1")]);
    assert!(!out.status.success(), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("a redrive is pointless"),
        "{}",
        said(&out)
    );
    assert!(q.move_tasks().is_empty(), "{:?}", q.move_tasks());
    assert_eq!(q.bodies(&q.dlq).await, ["old-job"]);
    assert!(q.bodies(&q.queue).await.is_empty());
}

#[tokio::test]
async fn an_empty_dead_letter_queue_is_left_alone_and_a_dry_run_moves_nothing() {
    let q = Queues::new().await;
    let out = q.redrive(&[], &[]);
    assert!(out.status.success(), "{}", said(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing to redrive"),
        "{}",
        said(&out)
    );
    q.dead_letters(&["job"]).await;
    let dry = q.redrive(&["--dry-run"], &[]);
    assert!(dry.status.success(), "{}", said(&dry));
    assert!(q.move_tasks().is_empty());
    assert_eq!(q.bodies(&q.dlq).await, ["job"]);
}
