//! The SNS notifier against moto: what an SQS queue subscribed to the topic receives.

use clawkeeper_aws::sns::SnsNotifier;
use clawkeeper_core::notifier::{MAX_SUBJECT_CHARS, Publication};
use clawkeeper_core::ports::Notifier;
use clawkeeper_tests::Moto;
use clawkeeper_tests::aws_setup::Inbox;

/// A topic with a queue subscribed to it (raw delivery off: the queue gets SNS's JSON envelope).
async fn inbox(moto: &Moto) -> Inbox {
    Inbox::create(&moto.sdk_config().await, "clawkeeper-owner").await
}

fn publication(subject: &str, message: &str) -> Publication {
    Publication {
        subject: subject.to_string(),
        message: message.to_string(),
        gateway: "home".to_string(),
        kind: "gateway_down".to_string(),
        severity: "critical".to_string(),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn publishes_subject_message_and_filter_attributes() {
    let moto = Moto::start();
    let inbox = inbox(&moto).await;
    let topic_arn = &inbox.topic_arn;
    let notifier = SnsNotifier::new(&moto.sdk_config().await, topic_arn);
    assert_eq!(notifier.topic_arn(), topic_arn);

    let body = "home is down since 10:42 UTC.\n\nWhat clawkeeper did: nothing yet.\nNext: clawkeeper status home";
    let message_id = notifier
        .publish(&publication("[clawkeeper] home is down", body))
        .await
        .expect("publish");
    assert!(!message_id.is_empty());

    let envelopes = inbox.drain_envelopes(1).await;
    assert_eq!(envelopes.len(), 1, "{envelopes:#?}");
    let envelope = &envelopes[0];
    assert_eq!(envelope["MessageId"], message_id.as_str());
    assert_eq!(envelope["TopicArn"], topic_arn.as_str());
    assert_eq!(envelope["Subject"], "[clawkeeper] home is down");
    assert_eq!(envelope["Message"], body);
    let attributes = &envelope["MessageAttributes"];
    for (name, value) in [("gateway", "home"), ("kind", "gateway_down"), ("severity", "critical")] {
        assert_eq!(attributes[name]["Type"], "String", "{envelope:#}");
        assert_eq!(attributes[name]["Value"], value, "{envelope:#}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn long_or_multiline_subjects_are_made_acceptable() {
    let moto = Moto::start();
    let inbox = inbox(&moto).await;
    let notifier = SnsNotifier::new(&moto.sdk_config().await, &inbox.topic_arn);

    let long = format!(
        "[clawkeeper] home crash loop: {}",
        "OutOfMemoryError exit 137 ".repeat(10)
    );
    notifier
        .publish(&publication(&long, "body"))
        .await
        .expect("publish long subject");
    notifier
        .publish(&publication("home\r\nis down", "body"))
        .await
        .expect("publish multi-line subject");

    let mut subjects: Vec<String> = inbox
        .drain_envelopes(1)
        .await
        .iter()
        .map(|e| e["Subject"].as_str().expect("subject").to_string())
        .collect();
    subjects.sort();
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    let cut = &subjects[0];
    assert!(
        cut.starts_with("[clawkeeper] home crash loop: OutOfMemoryError"),
        "{cut}"
    );
    assert!(cut.ends_with("..."), "{cut}");
    assert!(
        cut.chars().count() <= MAX_SUBJECT_CHARS,
        "{} chars: {cut}",
        cut.chars().count()
    );
    assert_eq!(subjects[1], "home is down");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missing_topic_is_a_permanent_error() {
    let moto = Moto::start();
    let notifier = SnsNotifier::new(
        &moto.sdk_config().await,
        "arn:aws:sns:us-east-1:123456789012:no-such-topic",
    );
    let err = notifier
        .publish(&publication("subject", "body"))
        .await
        .expect_err("publish to a missing topic");
    assert_eq!(err.operation, "Publish");
    assert!(err.code.is_some(), "{err:?}");
    assert!(!err.is_transient(), "{err:?}");
}
