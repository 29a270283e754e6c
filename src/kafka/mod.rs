//! The distributed transport: Kafka topics (rdkafka, librdkafka built from
//! the crate), the consumer group of `minyi ingest` ([`ingest`]) and the
//! producer of `minyi produce`.
//!
//! Settings that matter on every broker, tansu included: a short session
//! timeout (6 s) and frequent heartbeats, so a group forms within seconds;
//! no auto-commit — progress lives in ClickHouse (see [`ingest`]).

pub mod ingest;

use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};

/// Raw feedback, one JSON object per message.
pub const FEEDBACK_TOPIC: &str = "minyi.feedback.raw";
/// Work-order lifecycle events, one JSON object per message.
pub const EVENTS_TOPIC: &str = "minyi.workorder.events";
/// Rejected messages: the original bytes, the reason in the headers.
pub const DLQ_TOPIC: &str = "minyi.feedback.dlq";

#[derive(Debug, thiserror::Error)]
pub enum KafkaError {
    #[error("kafka: {0}")]
    Client(#[from] rdkafka::error::KafkaError),
    #[error("kafka: creating topic {topic}: {code}")]
    CreateTopic {
        topic: String,
        code: RDKafkaErrorCode,
    },
    #[error("reading stdin: {0}")]
    Io(#[from] std::io::Error),
}

pub fn client_config(brokers: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", brokers)
        .set("socket.keepalive.enable", "true");
    c
}

/// Creates minyi's topics that are missing: the two inputs with
/// `partitions` partitions, the dead-letter topic with one.
pub async fn ensure_topics(brokers: &str, partitions: u32) -> Result<(), KafkaError> {
    let admin: AdminClient<DefaultClientContext> = client_config(brokers).create()?;
    let topics = [
        NewTopic::new(
            FEEDBACK_TOPIC,
            partitions as i32,
            TopicReplication::Fixed(1),
        ),
        NewTopic::new(EVENTS_TOPIC, partitions as i32, TopicReplication::Fixed(1)),
        NewTopic::new(DLQ_TOPIC, 1, TopicReplication::Fixed(1)),
    ];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => return Err(KafkaError::CreateTopic { topic, code }),
        }
    }
    Ok(())
}

/// A producer tuned for throughput with prompt delivery.
pub fn producer(brokers: &str) -> Result<FutureProducer, KafkaError> {
    Ok(client_config(brokers)
        // One request in flight per broker: retries cannot reorder a
        // partition (an order's events stay in order), and brokers that
        // make concurrent appends visible out of order (tansu, seen here)
        // never show a consumer a gap.
        .set("max.in.flight.requests.per.connection", "1")
        .set("linger.ms", "5")
        .set("batch.num.messages", "10000")
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576")
        .set("message.timeout.ms", "120000")
        .create()?)
}

/// The key a raw message is produced with: its `id` when it has one, so
/// re-sends of an item land on the same partition (and the same consumer).
pub fn message_key(line: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Id {
        id: Option<serde_json::Value>,
        order_id: Option<serde_json::Value>,
    }
    let id: Id = serde_json::from_slice(line).ok()?;
    match id.order_id.or(id.id)? {
        serde_json::Value::String(s) => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// `minyi produce`: each non-blank line of `input` becomes one message of
/// `topic`; returns the number delivered once the broker acknowledged all.
pub async fn produce_lines(
    brokers: &str,
    topic: &str,
    input: impl std::io::BufRead,
) -> Result<u64, KafkaError> {
    let producer = producer(brokers)?;
    let mut inflight = Vec::new();
    let mut delivered = 0u64;
    for line in input.split(b'\n') {
        let line = line?;
        let line = line.strip_suffix(b"\r").unwrap_or(&line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let key = message_key(line);
        let mut record = FutureRecord::<String, [u8]>::to(topic).payload(line);
        if let Some(k) = &key {
            record = record.key(k);
        }
        inflight.push(enqueue(&producer, record).await?);
        if inflight.len() >= 20_000 {
            delivered += settle(&mut inflight).await?;
        }
    }
    delivered += settle(&mut inflight).await?;
    Ok(delivered)
}

/// Queues one message, waiting while the local queue is full.
pub async fn enqueue(
    producer: &FutureProducer,
    mut record: FutureRecord<'_, String, [u8]>,
) -> Result<DeliveryFuture, KafkaError> {
    loop {
        match producer.send_result(record) {
            Ok(delivery) => return Ok(delivery),
            Err((
                rdkafka::error::KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull),
                r,
            )) => {
                record = r;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            Err((e, _)) => return Err(KafkaError::Client(e)),
        }
    }
}

/// Waits until the broker acknowledged every queued message.
pub async fn settle(inflight: &mut Vec<DeliveryFuture>) -> Result<u64, KafkaError> {
    let n = inflight.len() as u64;
    for r in futures_util::future::join_all(inflight.drain(..)).await {
        match r {
            Ok(Ok(_)) => {}
            Ok(Err((e, _))) => return Err(KafkaError::Client(e)),
            Err(_) => return Err(KafkaError::Client(rdkafka::error::KafkaError::Canceled)),
        }
    }
    Ok(n)
}

/// `minyi produce --demo RATE`: the demo feed into Kafka (items to the
/// feedback topic, work-order events to theirs), in real time, until
/// `shutdown`; returns the number of messages acknowledged.
pub async fn produce_demo(
    brokers: &str,
    enricher: &crate::enrich::Enricher,
    rate: f64,
    shutdown: tokio_util::sync::CancellationToken,
) -> Result<u64, KafkaError> {
    let producer = producer(brokers)?;
    let now = enricher.now();
    let mut generator = crate::demo::Generator::standalone(
        enricher.gazetteer(),
        *now.offset(),
        rate,
        &format!("produce-{:x}", now.timestamp()),
        now.timestamp() as u64,
    );
    let mut delivered = 0;
    let mut last = now.timestamp();
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(delivered),
            _ = every.tick() => {}
        }
        let t = enricher.now().timestamp();
        if t <= last {
            continue;
        }
        let step = generator.step(last, t, 1.0);
        last = t;
        let mut inflight = Vec::new();
        for (topic, values) in [(FEEDBACK_TOPIC, &step.items), (EVENTS_TOPIC, &step.events)] {
            for v in values {
                let bytes = serde_json::to_vec(v).expect("JSON values serialize");
                let key = message_key(&bytes);
                let mut record = FutureRecord::<String, [u8]>::to(topic).payload(&bytes);
                if let Some(k) = &key {
                    record = record.key(k);
                }
                inflight.push(enqueue(&producer, record).await?);
            }
        }
        delivered += settle(&mut inflight).await?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_id() {
        assert_eq!(
            message_key(br#"{"id":"a-1","text":"x"}"#).as_deref(),
            Some("a-1")
        );
        assert_eq!(
            message_key(br#"{"order_id":7,"event":"created"}"#).as_deref(),
            Some("7")
        );
        assert_eq!(message_key(b"not json"), None);
        assert_eq!(message_key(br#"{"text":"x"}"#), None);
    }
}
